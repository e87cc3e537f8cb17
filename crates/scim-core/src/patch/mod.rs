//! PATCH (RFC 7644 §3.5.2) as a pure function: `apply(resource, ops)` returns
//! the new resource or an error, never a half-patched one.
//!
//! Identity-provider forms are named normalisation steps (see
//! `shared/idp-requests.md`):
//! - [`parse`]: `op` in any case (`Replace`, Entra);
//! - [`apply`] on a path-less value object: dotted (`name.givenName`) and
//!   URN-qualified keys (Entra `aadOptscim062020`), and a repeated read-only
//!   `id` equal to the current one (Okta's group rename);
//! - `remove` on a multi-valued attribute with a value list removes only the
//!   listed values (Entra's member removal);
//! - a value-path `add` whose filter matches nothing adds an element built
//!   from the filter's `eq` terms; a `replace` does so only in Entra's form, a
//!   filter that is exactly `type eq` one of the attribute's canonical types,
//!   followed by a sub-attribute (`emails[type eq "work"].value`). Any other
//!   unmatched `replace` is `noTarget` (RFC 7644 §3.5.2.3);
//! - an unquoted filter value is a string (`emails[type eq work].value`, a
//!   Keycloak SCIM client), in [`crate::filter::parser`];
//! - re-adding an existing member does not duplicate it; booleans as strings
//!   and a bare-string manager are coerced in [`crate::resource::coerce`].
//!
//! The parts: `request` (the operation types and [`parse`]), `document`
//! ([`apply`], and one operation dispatched by its path), `attribute`
//! (writing and removing a whole attribute), `value_path` (an operation whose
//! path has a value filter, `emails[type eq "work"]`), `elements` (what those
//! share: an element's identity, `primary`, the object that holds an
//! attribute, pruning what became empty) and `members` ([`split_members`]).

mod attribute;
mod document;
mod elements;
mod members;
mod request;
mod value_path;

pub use document::apply;
pub use members::{MemberChange, coalesce, split_members};
pub use request::{OpKind, PATCH_SCHEMA, PatchOp, parse};
