//! scimd: a multi-tenant SCIM 2.0 provisioning server on top of scim-core.

pub mod audit;
pub(crate) mod auth;
pub(crate) mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod events;
pub mod http;
pub mod ratelimit;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub(crate) mod webhooks;
