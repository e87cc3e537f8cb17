//! The SCIM 2.0 protocol (RFC 7643, RFC 7644) without I/O: schemas, resource
//! validation, filters, attribute paths, PATCH, projections, ETags, list
//! requests and responses, Bulk requests and responses, and the rendering of
//! resources, and tenants' extension schemas. No async, no HTTP, no database and no clock: everything here is
//! data in, data out.

pub mod bulk;
pub mod datetime;
pub mod error;
pub mod etag;
pub mod extension;
pub mod filter;
pub mod json;
pub mod limits;
pub mod list;
pub mod patch;
pub mod path;
pub mod policy;
pub mod projection;
pub mod render;
pub mod resource;
pub mod schema;

pub use error::{Result, ScimError, ScimType};
pub use filter::{CompValue, CompareOp, Filter, parse_filter};
pub use limits::Limits;
pub use list::ListRequest;
pub use path::{AttrPath, PatchPath};
pub use projection::Projection;
pub use render::{Member, Meta, Shown};
pub use schema::{Attribute, ResourceType, Schema};
