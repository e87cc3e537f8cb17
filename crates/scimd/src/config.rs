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
    /// A path SCIM is served under besides `/scim/v2` (`--scim-path-prefix`),
    /// with and without a tenant segment.
    pub scim_path_prefix: Option<ScimPathPrefix>,
    /// Tenants by host name (`--tenant-from-host`): `TENANT.SUFFIX`.
    pub tenant_from_host: Option<HostSuffix>,
    /// How long a list's cursor (RFC 9865) works after the page that gave it
    /// (`cursorTimeout`); past it a request with it is 400 `expiredCursor`.
    pub cursor_timeout: Duration,
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
            scim_path_prefix: None,
            tenant_from_host: None,
            cursor_timeout: Duration::from_secs(DEFAULT_CURSOR_TIMEOUT_SECS),
        }
    }
}

/// A cursor needs nothing kept on the server (it carries its place), so its
/// lifetime only bounds how stale a walk may get: an hour between pages.
pub const DEFAULT_CURSOR_TIMEOUT_SECS: u64 = 3600;

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

/// The paths the server answers besides SCIM: a prefix may not start with one.
const RESERVED_ROOTS: [&str; 6] = ["admin", "console", "oauth", "healthz", "readyz", "metrics"];

/// A path SCIM is also served under (`--scim-path-prefix`), as `/scim/v2`
/// is: `PATH/{tenant}/Users` and `PATH/Users`. Checked when made, so the
/// router can be built from it without a doubt: `/` and segments of
/// letters, digits and `-._~`, no trailing `/`, nothing the server already
/// answers at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimPathPrefix(String);

impl ScimPathPrefix {
    /// A prefix such as `/api/v1/SCIM/SCIMOkta`, or why it cannot be one.
    pub fn parse(text: &str) -> Result<ScimPathPrefix, String> {
        let example = "such as /api/v1/SCIM/SCIMOkta";
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("'{text}' does not start with '/': give a path {example}"));
        };
        if rest.is_empty() {
            return Err(format!("'/' is not a path prefix: give a path {example}"));
        }
        if rest.ends_with('/') {
            return Err(format!("'{text}' ends with '/': give it without, {example}"));
        }
        if text.contains(['{', '}', '*', ':']) {
            return Err(format!("'{text}' has '{{', '}}', '*' or ':': a prefix is a plain path, {example}"));
        }
        if text.len() > 512 {
            return Err("a path prefix is at most 512 characters".to_string());
        }
        for segment in rest.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(format!("'{text}' has an empty, '.' or '..' segment: give a path {example}"));
            }
            if !segment.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)) {
                return Err(format!(
                    "'{text}' has characters a URL path would need to escape: use letters, digits and '-', '.', \
                     '_', '~' between the '/'s"
                ));
            }
        }
        let first = rest.split('/').next().unwrap_or_default();
        // Ignoring case, though paths are case-sensitive: `/Admin/scim` beside `/admin` would only confuse.
        if let Some(root) = RESERVED_ROOTS.iter().find(|r| r.eq_ignore_ascii_case(first)) {
            return Err(format!("'{text}' is under /{root}, which the server answers itself: choose another path"));
        }
        // `/scim` would read `/scim/v2/Users` as tenant `v2`'s, and
        // `/scim/v2/x` as tenant `x`'s: both are /scim/v2's already.
        let scim_v2 = ["scim", "v2"];
        let segments: Vec<&str> = rest.split('/').collect();
        // (Paths are case-sensitive: a vendor's `/SCIM/V2` is another path.)
        let shared = segments.iter().zip(scim_v2).take_while(|(a, b)| **a == *b).count();
        if shared == segments.len().min(scim_v2.len()) {
            return Err(format!(
                "'{text}' overlaps /scim/v2, which is always served (with and without the tenant segment): \
                 the prefix is for another path"
            ));
        }
        Ok(ScimPathPrefix(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ScimPathPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host name a tenant's sub-domain is under (`--tenant-from-host`):
/// with `scim.example.com`, a request to `acme.scim.example.com` is tenant
/// `acme`'s. Kept lower-case, without a leading or trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSuffix(String);

impl HostSuffix {
    /// A suffix such as `scim.example.com`, or why it cannot be one.
    pub fn parse(text: &str) -> Result<HostSuffix, String> {
        let name = text.trim().to_ascii_lowercase();
        let name = name.strip_prefix('.').unwrap_or(&name);
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.contains("://") || name.contains(['/', ':']) {
            return Err(format!("'{text}' is not a host name: give the name alone, such as scim.example.com"));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if name.is_empty() || name.len() > 200 || !name.split('.').all(label_ok) {
            return Err(format!(
                "'{text}' is not a host name: give the name the tenants' sub-domains are under, such as \
                 scim.example.com"
            ));
        }
        Ok(HostSuffix(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant a `Host` header names: `acme` for `acme.scim.example.com`
    /// (any case, any port, a trailing dot), `None` for a host that is not
    /// one label under the suffix (the suffix itself, `a.b.scim.example.com`,
    /// another name, an address).
    pub fn tenant_of(&self, host: &str) -> Option<String> {
        let name = host_name(host).to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name);
        let label = name.strip_suffix(self.0.as_str())?.strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then(|| label.to_string())
    }
}

impl std::fmt::Display for HostSuffix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `Host` header's name without its port (`[::1]:8080` → `[::1]`).
pub(crate) fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(name, _)| &host[..=name.len()]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefixes_are_plain_paths_beside_the_servers_own() {
        for good in [
            "/api/v1/SCIM/SCIMOkta",
            "/scim/api/V1",
            "/x",
            "/scim2",
            "/v2/scim",
            "/api/scim/v2",
            "/a-b_c.d~e",
            "/SCIM/V2",
        ] {
            assert_eq!(ScimPathPrefix::parse(good).map(|p| p.as_str().to_string()), Ok(good.to_string()), "{good}");
        }
        for bad in [
            "",
            "/",
            "api/v1",
            "/api/",
            "/api//v1",
            "/api/{tenant}",
            "/api/*",
            "/a:b",
            "/a/./b",
            "/a/../b",
            "/a b",
            "/a%20b",
            "/admin",
            "/admin/scim",
            "/Console",
            "/oauth/x",
            "/healthz",
            "/readyz",
            "/metrics",
            "/scim",
            "/scim/v2",
            "/scim/v2/acme",
        ] {
            assert!(ScimPathPrefix::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_tenant_is_one_label_under_the_host_suffix() {
        let suffix = HostSuffix::parse("Scim.Example.com.").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(suffix.as_str(), "scim.example.com");
        assert_eq!(HostSuffix::parse(".scim.test").map(|s| s.as_str().to_string()), Ok("scim.test".to_string()));
        for bad in ["", ".", "https://scim.test", "scim.test:8080", "scim..test", "-a.test", "a_b.test", "a/b"] {
            assert!(HostSuffix::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let of = |host: &str| suffix.tenant_of(host);
        assert_eq!(of("acme.scim.example.com").as_deref(), Some("acme"));
        assert_eq!(of("ACME.Scim.Example.COM:8443").as_deref(), Some("acme"));
        assert_eq!(of("acme.scim.example.com.").as_deref(), Some("acme"));
        for none in [
            "scim.example.com",
            "a.b.scim.example.com",
            ".scim.example.com",
            "acmescim.example.com",
            "example.com",
            "127.0.0.1:8080",
            "[::1]:8080",
            "acme.scim.example.com.evil.test",
        ] {
            assert_eq!(of(none), None, "{none}");
        }
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("h:80"), "h");
        assert_eq!(host_name("h"), "h");
    }
}
