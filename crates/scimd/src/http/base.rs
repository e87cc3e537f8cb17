//! The base URLs SCIM is served at, and the one a request used.
//!
//! The SCIM router is mounted at `/scim/v2/{tenant}` and `/scim/v2`, and
//! with `--scim-path-prefix PATH` at `PATH/{tenant}` and `PATH` too. A
//! request's tenant is the one its URL names (the path's tenant segment, or
//! with `--tenant-from-host` the host's first label), else its token's. A
//! token reaches its own tenant alone: one naming another is 404 (see
//! [`crate::auth::not_this_tenant`]). `Location`, `meta.location` and every
//! URL an answer prints are built from the form the request used
//! ([`ScimBase`], put in the request by `authenticate`).

use super::{Config, public_root};
use crate::config::host_name;
use axum::http::{HeaderMap, Uri, header};
use serde::Serialize;
use std::sync::Arc;

/// The path the SCIM router has always been served under.
pub(crate) const SCIM_V2: &str = "/scim/v2";

/// One place the SCIM router is mounted: the path before its endpoints, and
/// whether a tenant segment follows that path. Each mount's routes carry
/// theirs as a request extension.
#[derive(Clone, Debug)]
pub(crate) struct Mount {
    pub(crate) prefix: Arc<str>,
    pub(crate) tenant_in_path: bool,
}

impl Mount {
    /// `/scim/v2/{tenant}`.
    pub(crate) fn canonical() -> Mount {
        Mount { prefix: SCIM_V2.into(), tenant_in_path: true }
    }

    /// The path the router is nested at.
    pub(crate) fn nest_path(&self) -> String {
        if self.tenant_in_path { format!("{}/{{tenant}}", self.prefix) } else { self.prefix.to_string() }
    }
}

/// Every mount of a configuration: the ones with a tenant segment first
/// (a route template is matched against them in this order).
pub(crate) fn mounts(config: &Config) -> Vec<Mount> {
    let mut prefixes: Vec<Arc<str>> = vec![SCIM_V2.into()];
    if let Some(prefix) = &config.scim_path_prefix {
        prefixes.push(prefix.as_str().into());
    }
    let with = prefixes.iter().map(|p| Mount { prefix: p.clone(), tenant_in_path: true });
    let without = prefixes.iter().map(|p| Mount { prefix: p.clone(), tenant_in_path: false });
    with.chain(without).collect()
}

/// The base URL of the request being answered (`http://h/scim/v2/acme`,
/// `https://acme.scim.example.com/scim/v2`, ...), without a trailing `/`.
#[derive(Clone, Debug)]
pub(crate) struct ScimBase(pub(crate) Arc<str>);

/// The host a request was sent to: its `Host` header, or the URI's
/// authority (HTTP/2 may send no `Host`). `X-Forwarded-Host` is not read,
/// as [`public_root`] does not read it: a proxy in front passes `Host` on.
fn request_host<'r>(headers: &'r HeaderMap, uri: &'r Uri) -> Option<&'r str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()))
}

/// The tenant the request's host names under `--tenant-from-host`, if any.
pub(crate) fn host_tenant(config: &Config, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let suffix = config.tenant_from_host.as_ref()?;
    suffix.tenant_of(request_host(headers, uri)?)
}

/// Where tenant `tenant` is reached by its host name: the public root (its
/// scheme, port and any path of `--public-url`) with `tenant.SUFFIX` as its
/// host. Built from the tenant's name, never from the client's `Host`.
pub(crate) fn host_root(config: &Config, headers: &HeaderMap, tenant: &str) -> Option<String> {
    let suffix = config.tenant_from_host.as_ref()?;
    let root = public_root(config, headers);
    let (scheme, rest) = root.split_once("://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = &authority[host_name(authority).len()..];
    Some(format!("{scheme}://{tenant}.{suffix}{port}{path}"))
}

/// The base URL a request reached tenant `tenant` by: the root it used (the
/// tenant's host name when the host named the tenant), the mount's path,
/// and the tenant segment when the path had one.
pub(crate) fn base_of(config: &Config, headers: &HeaderMap, mount: &Mount, tenant: &str, by_host: bool) -> String {
    let root = by_host.then(|| host_root(config, headers, tenant)).flatten();
    let root = root.unwrap_or_else(|| public_root(config, headers));
    if mount.tenant_in_path { format!("{root}{}/{tenant}", mount.prefix) } else { format!("{root}{}", mount.prefix) }
}

/// A base URL of a tenant, and where it takes the tenant from.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BaseUrlForm {
    #[schema(example = "https://scim.example.com/scim/v2/acme")]
    pub url: String,
    pub tenant_from: TenantFrom,
}

/// Where a base URL takes its tenant from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantFrom {
    /// The URL's path names the tenant (`/scim/v2/acme`).
    Path,
    /// The tenant is the token's: one URL for every tenant (`/scim/v2`).
    Token,
    /// The host name names the tenant (`acme.scim.example.com`, `--tenant-from-host`).
    Host,
}

impl TenantFrom {
    /// In words, for the console.
    pub fn describe(self) -> &'static str {
        match self {
            TenantFrom::Path => "the tenant in the path",
            TenantFrom::Token => "the same URL for every tenant: the tenant is the token's",
            TenantFrom::Host => "the tenant in the host name",
        }
    }
}

/// Every base URL the server offers tenant `tenant`, `/scim/v2/{tenant}`
/// first: what a connect screen shows its admin.
pub fn base_urls(config: &Config, headers: &HeaderMap, tenant: &str) -> Vec<BaseUrlForm> {
    let root = public_root(config, headers);
    let mut out = Vec::new();
    let mut prefixes = vec![SCIM_V2];
    if let Some(prefix) = &config.scim_path_prefix {
        prefixes.push(prefix.as_str());
    }
    for prefix in &prefixes {
        out.push(BaseUrlForm { url: format!("{root}{prefix}/{tenant}"), tenant_from: TenantFrom::Path });
        out.push(BaseUrlForm { url: format!("{root}{prefix}"), tenant_from: TenantFrom::Token });
    }
    if let Some(host) = host_root(config, headers, tenant) {
        for prefix in &prefixes {
            out.push(BaseUrlForm { url: format!("{host}{prefix}"), tenant_from: TenantFrom::Host });
        }
    }
    out
}

/// A SCIM route template as the audit trail and metrics name it, whatever
/// form the request used: `/scim/v2/{tenant}/Users/{id}` for
/// `/api/v1/SCIM/SCIMOkta/Users/{id}` (one vocabulary for every query of
/// the trail); other routes as they are.
pub(crate) fn canonical_route(config: &Config, route: &str) -> String {
    for mount in mounts(config) {
        if let Some(rest) = route.strip_prefix(mount.nest_path().as_str())
            && rest.starts_with('/')
        {
            return format!("{SCIM_V2}/{{tenant}}{rest}");
        }
    }
    route.to_string()
}

/// What follows a SCIM mount's path in `path` (`acme/Users`, `Users`), or
/// `None` when the path is not a SCIM one.
pub(crate) fn scim_rest<'p>(config: &Config, path: &'p str) -> Option<&'p str> {
    let prefix = config.scim_path_prefix.as_ref().map(|p| p.as_str());
    [Some(SCIM_V2), prefix].into_iter().flatten().find_map(|p| path.strip_prefix(p)?.strip_prefix('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostSuffix, ScimPathPrefix};

    fn config(public_url: Option<&str>) -> Config {
        Config {
            public_url: public_url.map(str::to_string),
            scim_path_prefix: ScimPathPrefix::parse("/api/v1/SCIM/SCIMOkta").ok(),
            tenant_from_host: HostSuffix::parse("scim.test").ok(),
            ..Config::default()
        }
    }

    fn host(h: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(v) = h.parse() {
            headers.insert(header::HOST, v);
        }
        headers
    }

    #[test]
    fn routes_of_every_form_are_named_as_the_canonical_one() {
        let c = config(None);
        for route in [
            "/scim/v2/{tenant}/Users/{id}",
            "/scim/v2/Users/{id}",
            "/api/v1/SCIM/SCIMOkta/{tenant}/Users/{id}",
            "/api/v1/SCIM/SCIMOkta/Users/{id}",
        ] {
            assert_eq!(canonical_route(&c, route), "/scim/v2/{tenant}/Users/{id}", "{route}");
        }
        assert_eq!(canonical_route(&c, "/admin/v1/tenants/{tenant}"), "/admin/v1/tenants/{tenant}");
        assert_eq!(scim_rest(&c, "/api/v1/SCIM/SCIMOkta/Users"), Some("Users"));
        assert_eq!(scim_rest(&c, "/scim/v2/acme/Users"), Some("acme/Users"));
        assert_eq!(scim_rest(&c, "/api/v1/SCIM/SCIMOktaX/Users"), None);
        assert_eq!(scim_rest(&c, "/admin/v1/tenants"), None);
    }

    #[test]
    fn a_host_tenants_root_is_its_own_host_with_the_public_scheme_port_and_path() {
        let c = config(None);
        assert_eq!(host_root(&c, &host("acme.scim.test:8080"), "acme").as_deref(), Some("http://acme.scim.test:8080"));
        assert_eq!(host_root(&c, &host("127.0.0.1:8080"), "acme").as_deref(), Some("http://acme.scim.test:8080"));
        assert_eq!(host_root(&c, &host("[::1]:81"), "acme").as_deref(), Some("http://acme.scim.test:81"));
        let c = config(Some("https://scim.example.com/base"));
        assert_eq!(host_root(&c, &host("x"), "acme").as_deref(), Some("https://acme.scim.test/base"));
        let urls: Vec<_> = base_urls(&c, &host("x"), "acme").into_iter().map(|f| (f.url, f.tenant_from)).collect();
        let root = "https://scim.example.com/base";
        assert_eq!(
            urls,
            [
                (format!("{root}/scim/v2/acme"), TenantFrom::Path),
                (format!("{root}/scim/v2"), TenantFrom::Token),
                (format!("{root}/api/v1/SCIM/SCIMOkta/acme"), TenantFrom::Path),
                (format!("{root}/api/v1/SCIM/SCIMOkta"), TenantFrom::Token),
                ("https://acme.scim.test/base/scim/v2".to_string(), TenantFrom::Host),
                ("https://acme.scim.test/base/api/v1/SCIM/SCIMOkta".to_string(), TenantFrom::Host),
            ]
        );
        assert!(host_root(&Config::default(), &host("x"), "acme").is_none());
    }
}
