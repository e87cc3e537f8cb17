//! The server's configuration as the HTTP edge and the accept loop use it:
//! limits, timeouts, connection caps and rates, with their documented
//! defaults. The CLI fills it from flags; an embedding host builds its own.

use crate::ratelimit::Rate;
use scim_core::Limits;
use std::time::Duration;

/// What requests are held to: body and value limits, rates, the public URL, connections.
pub struct Config {
    /// Request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// Bytes of request bodies read and parsed at once, over all requests;
    /// past it a request gets 503 with `Retry-After`.
    pub max_inflight_body_bytes: usize,
    /// How long a token or tenant read from the database is trusted.
    pub auth_cache_ttl: Duration,
    /// A group PATCH without `attributes`/`excludedAttributes` answers 204.
    pub group_patch_no_content: bool,
    /// Connections, timeouts and the shutdown deadline.
    pub net: NetConfig,
    /// `scheme://host[:port][/prefix]` that `Location` and `meta.location`
    /// are built from; without it, the request's `Host` and `X-Forwarded-Proto`.
    pub public_url: Option<String>,
    /// Requests a tenant may send, unless its policy says otherwise.
    pub tenant_rate: Rate,
    /// Requests with a token the server does not know, per client address.
    pub unknown_token_rate: Rate,
    /// Values per attribute, members per request, operations per PATCH.
    pub limits: Limits,
    /// Whether SCIM requests are audited, and for how long rows are kept.
    pub audit: crate::audit::Settings,
    /// How long an OAuth access token (client credentials) works.
    pub oauth_token_lifetime: Duration,
    /// What one Bulk request may carry.
    pub bulk: BulkLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_bytes: 10 * 1024 * 1024,
            max_inflight_body_bytes: 64 * 1024 * 1024,
            auth_cache_ttl: Duration::from_secs(2),
            group_patch_no_content: false,
            net: NetConfig::default(),
            public_url: None,
            tenant_rate: Rate::new(DEFAULT_TENANT_RATE, DEFAULT_TENANT_BURST),
            unknown_token_rate: Rate::new(10, 20),
            limits: Limits::default(),
            audit: crate::audit::Settings::default(),
            oauth_token_lifetime: Duration::from_secs(3600),
            bulk: BulkLimits::default(),
        }
    }
}

/// What one Bulk request (RFC 7644 §3.7) may carry: ServiceProviderConfig
/// advertises both, and past either a request is 413 (§3.7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkLimits {
    /// Operations in one request (`maxOperations`); 0 switches Bulk off
    /// (ServiceProviderConfig says unsupported, `/Bulk` answers 501). A
    /// tenant whose rate limit has a smaller burst is held to its burst: each
    /// operation counts as one request.
    pub max_operations: usize,
    /// Bytes of one request's body (`maxPayloadSize`), in place of `max_body_bytes`.
    pub max_payload_bytes: usize,
}

impl Default for BulkLimits {
    /// 1,000 operations in 1 MiB, the figures of RFC 7644's own example:
    /// room for a first import's users a thousand at a time, while one
    /// request's work stays a few seconds.
    fn default() -> Self {
        BulkLimits { max_operations: 1000, max_payload_bytes: 1 << 20 }
    }
}

/// Requests per second a tenant may send by default, and its burst. An
/// identity provider sends one tenant's changes a request at a time or a few
/// at once (tens a second; an import or a first full sync a few hundred),
/// and conformance checkers send as fast as the server answers, without
/// backing off: neither is slowed by these. What they stop is one tenant's
/// token taking most of a 2-core server (thousands of writes, tens of
/// thousands of reads a second) from the other tenants.
pub const DEFAULT_TENANT_RATE: u32 = 1000;
pub const DEFAULT_TENANT_BURST: u32 = 5000;

/// Unless told otherwise, one address may hold this fraction of the connection cap.
pub const PER_ADDRESS_SHARE: usize = 8;

/// Connection settings of the HTTP edge.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Connections open at once; past it a new one is answered 503 and closed.
    pub max_connections: usize,
    /// Connections one client address (IPv6: its /64) may hold open; 0: no
    /// cap of its own (behind a proxy that is the only address).
    pub max_connections_per_address: usize,
    /// A client has this long to send a request's headers. It also closes a
    /// kept-alive connection that sends no next request for this long.
    pub header_read_timeout: Duration,
    /// A client has this long to send a request's body.
    pub body_read_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_connections: 4096,
            max_connections_per_address: 4096 / PER_ADDRESS_SHARE,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
