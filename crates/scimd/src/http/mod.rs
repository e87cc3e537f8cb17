//! HTTP, the thin surfaces over [`crate::service`]: the router, shared state,
//! authentication, rate limits and request logging. SCIM handlers live in
//! [`resources`], `bulk` and [`discovery`], the base URLs they are served at
//! in [`base`], the admin API in [`admin`], the OAuth
//! token endpoint in `oauth`, the web console in `console`, request extractors (bodies, path parameters,
//! query parameters) in `extract`.

pub(crate) mod admin;
pub mod base;
mod bulk;
mod console;
mod cursor;
pub(crate) mod discovery;
pub(crate) mod error;
mod extract;
mod oauth;
pub(crate) mod resources;

use crate::auth::{self, Caller, TokenUses};
pub use crate::config::{Config, DEFAULT_TENANT_BURST, DEFAULT_TENANT_RATE};
use crate::ratelimit::{Buckets, Rate, retry_after_secs};
use crate::service::{Service, context};
use crate::store::Kind;
pub use admin::ROUTES as ADMIN_ROUTES;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
pub use error::{ApiError, SCIM_JSON};
pub use extract::{BodySize, BulkJson, Params, PathParams, ResourceId, ScimJson};
use scim_core::ResourceType;
use scim_core::policy::UnknownAttributes;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Largest number of resources one list response carries (`filter.maxResults`).
pub const MAX_RESULTS: i64 = 1000;

/// How long a tenant's own rate (from its policy) is used before it is read again.
const TENANT_RATE_TTL: Duration = Duration::from_secs(10);

pub struct Inner {
    pub svc: Service,
    pub users: Arc<ResourceType>,
    pub groups: Arc<ResourceType>,
    pub token_uses: TokenUses,
    pub admin_token_uses: TokenUses,
    /// Audit rows of finished SCIM requests, waiting for the flusher.
    pub audit: crate::audit::Queue,
    pub auth_cache: auth::AuthCache,
    pub config: Config,
    tenant_buckets: Buckets<i64>,
    /// What requests need of each tenant's policy, and when it was read.
    tenant_views: Mutex<HashMap<i64, (Instant, TenantView)>>,
    address_buckets: Buckets<IpAddr>,
    /// Request bodies in flight, in KiB.
    body_budget: Arc<Semaphore>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(svc: Service, config: Config) -> Self {
        // Metrics recorded before the recorder exists are lost.
        let _ = crate::telemetry::handle();
        AppState(Arc::new(Inner {
            svc,
            users: Arc::new(ResourceType::user()),
            groups: Arc::new(ResourceType::group()),
            token_uses: TokenUses::default(),
            admin_token_uses: TokenUses::for_admin_tokens(),
            audit: crate::audit::Queue::new(config.audit.enabled),
            auth_cache: auth::AuthCache::new(config.auth_cache_ttl),
            tenant_buckets: Buckets::new(100_000),
            tenant_views: Mutex::default(),
            address_buckets: Buckets::new(100_000),
            body_budget: Arc::new(Semaphore::new(kib(config.max_inflight_body_bytes).max(1) as usize)),
            config,
        }))
    }

    /// What requests need of a tenant's policy: its rate and the domains
    /// SCIM sees hand-made users in. Read again every few seconds, and at once
    /// after a change through this process.
    async fn tenant_view(&self, tenant_id: i64) -> TenantView {
        if let Ok(views) = self.tenant_views.lock()
            && let Some((at, view)) = views.get(&tenant_id)
            && at.elapsed() < TENANT_RATE_TTL
        {
            return view.clone();
        }
        let view = match self.svc.tenant_config(tenant_id).await {
            Ok(config) => {
                let (users, groups) = if config.extensions.is_empty() {
                    (self.users.clone(), self.groups.clone())
                } else {
                    let (users, groups) = scim_core::extension::resource_types(&config.extensions);
                    (Arc::new(users), Arc::new(groups))
                };
                TenantView {
                    rate: match config.policy.rate_limit {
                        Some(own) => Rate::new(own.requests_per_second, own.burst),
                        None => self.config.tenant_rate,
                    },
                    allowed_domains: Arc::new(config.policy.allowed_domains),
                    users,
                    groups,
                    unknown_attributes: config.policy.unknown_attributes,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read a tenant's policy; using the server's rate");
                TenantView {
                    rate: self.config.tenant_rate,
                    allowed_domains: Arc::default(),
                    users: self.users.clone(),
                    groups: self.groups.clone(),
                    unknown_attributes: UnknownAttributes::default(),
                }
            }
        };
        if let Ok(mut views) = self.tenant_views.lock() {
            crate::cache::insert_bounded(
                &mut views,
                tenant_id,
                (Instant::now(), view.clone()),
                crate::cache::TENANTS_CACHED,
            );
        }
        view
    }

    /// A tenant's policy changed here: it is read again on its next request.
    pub fn forget_tenant_rate(&self, tenant_id: i64) {
        if let Ok(mut views) = self.tenant_views.lock() {
            views.remove(&tenant_id);
        }
        self.tenant_buckets.forget(&tenant_id);
    }
}

/// What a request needs of its tenant's policy.
#[derive(Clone)]
pub struct TenantView {
    pub rate: Rate,
    /// Hand-made users outside these domains are invisible to SCIM (empty: none is).
    pub allowed_domains: Arc<Vec<String>>,
    /// The tenant's resource types: the built-in schemas and its extensions.
    pub users: Arc<ResourceType>,
    pub groups: Arc<ResourceType>,
    pub unknown_attributes: UnknownAttributes,
}

impl TenantView {
    pub fn resource_type(&self, kind: Kind) -> &Arc<ResourceType> {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

pub fn app(state: AppState) -> Router {
    let one = || {
        get(resources::get_one).put(resources::replace_one).patch(resources::patch_one).delete(resources::delete_one)
    };
    let scim = Router::new()
        .route("/Users", get(resources::list_all).post(resources::create_one))
        .route("/Users/.search", post(resources::search))
        .route("/Users/{id}", one())
        .route("/Groups", get(resources::list_all).post(resources::create_one))
        .route("/Groups/.search", post(resources::search))
        .route("/Groups/{id}", one())
        .route("/.search", post(resources::search_root))
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/Bulk", if state.config.bulk.max_operations == 0 { post(bulk::switched_off) } else { post(bulk::bulk) })
        .route(
            "/Me",
            get(discovery::me).post(discovery::me).put(discovery::me).patch(discovery::me).delete(discovery::me),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/oauth/token", post(oauth::token));
    // The same endpoints at every base URL form; each knows its mount, so
    // `authenticate` knows where the tenant comes from. The prefix was
    // checked when it was made (`ScimPathPrefix`): nesting cannot panic.
    for mount in base::mounts(&state.config) {
        let path = mount.nest_path();
        router = router.nest(&path, scim.clone().layer(Extension(mount)));
    }
    router
        .merge(admin::router(state.clone()))
        .merge(console::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn(scim_errors_only))
        .layer(middleware::from_fn(extract::drain_unread_body))
        .layer(middleware::from_fn_with_state(state.clone(), log_requests))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.svc.ping().await {
        // Ready for SCIM; an operator reading the probe learns why webhooks are off.
        Ok(()) => match &state.svc.webhook_options().off_because {
            Some(why) => format!("ready; webhooks are off: {why}").into_response(),
            None => "ready".into_response(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::status(503, "the database does not answer").into_response()
        }
    }
}

/// Prometheus text. It names tenants: keep it on an internal network.
async fn metrics_text(State(state): State<AppState>) -> Response {
    let (open, idle) = state.svc.pool_use();
    metrics::gauge!("scimd_db_connections_open").set(f64::from(open));
    metrics::gauge!("scimd_db_connections_idle").set(idle as f64);
    if let Err(e) = state.svc.refresh_event_gauges().await {
        tracing::warn!(error = %e, "the event feed and webhook backlog gauges could not be read");
    }
    let mut resp = crate::telemetry::render().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    resp
}

async fn not_found(req: Request) -> Response {
    let detail = format!("there is no endpoint at {} {}", req.method(), req.uri().path());
    if req.uri().path().starts_with("/admin/") {
        let body = serde_json::json!({"error": {"status": 404, "code": "not_found", "detail": detail}});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    ApiError::status(404, detail).into_response()
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::status(405, format!("{} is not supported on {}", req.method(), req.uri().path()))
}

async fn authenticate(
    State(state): State<AppState>,
    PathParams(params): PathParams,
    mut req: Request,
    next: Next,
) -> Response {
    let mount = req.extensions().get::<base::Mount>().cloned().unwrap_or_else(base::Mount::canonical);
    let path_tenant = match params.get("tenant") {
        _ if !mount.tenant_in_path => None,
        Some(t) if !t.contains('\0') => Some(t.as_str()),
        _ => return ApiError::status(404, "no such tenant in the URL").into_response(),
    };
    let host_tenant = base::host_tenant(&state.config, req.headers(), req.uri());
    // The path's tenant, else the host's, else (neither) the token's. A
    // host naming another tenant than the path is refused below.
    let named = path_tenant.or(host_tenant.as_deref());
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let now = state.svc.now();
    let address = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| crate::ratelimit::client_key(c.0.ip()));
    let unknown_rate = state.config.unknown_token_rate;
    let may_look_up = address.is_none_or(|ip| state.address_buckets.has_token(&ip, unknown_rate, Instant::now()));
    let result =
        auth::authenticate(&state.svc, &state.auth_cache, &state.token_uses, named, header, &now, may_look_up).await;
    let other_host = |caller: &Caller| host_tenant.as_deref().is_some_and(|h| h != caller.tenant.name);
    let caller = match result {
        Ok(caller) if other_host(&caller) => return not_this_host(host_tenant.as_deref()),
        Ok(caller) => caller,
        Err(auth::Denied::SwitchedOff(caller)) if other_host(&caller) => return not_this_host(host_tenant.as_deref()),
        Err(auth::Denied::SwitchedOff(caller)) => {
            // What the request was about, as far as its URL says.
            let kind = if req.uri().path().contains("/Groups") { Kind::Group } else { Kind::User };
            let target = crate::service::Target { kind, id: params.get("id").cloned(), name: None };
            return refuse_switched_off(&state, caller, target).await;
        }
        Err(auth::Denied::Error(e)) => {
            if e.status == 401
                && let Some(ip) = address
            {
                let _ = state.address_buckets.take(&ip, unknown_rate, Instant::now());
            }
            let mut resp = ApiError(e).into_response();
            match resp.status() {
                StatusCode::UNAUTHORIZED => {
                    resp.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scimd\""));
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = Duration::from_secs_f64(1.0 / unknown_rate.per_second.max(0.001));
                    set_retry_after(&mut resp, wait);
                }
                _ => {}
            }
            return resp;
        }
    };
    if let Some(ctx) = context::current() {
        ctx.set_actor(crate::events::ActorKind::IdentityProvider, &caller.token_name);
        ctx.name_tenant(&caller.tenant.name);
    }
    let view = state.tenant_view(caller.tenant.id).await;
    let rate = view.rate;
    if let Err(wait) = state.tenant_buckets.take(&caller.tenant.id, rate, Instant::now()) {
        let detail = format!(
            "tenant '{}' may send {} requests a second (bursts of {}); retry after {} s",
            caller.tenant.name,
            rate.per_second,
            rate.burst,
            retry_after_secs(wait)
        );
        let mut resp = ApiError::status(429, detail).into_response();
        set_retry_after(&mut resp, wait);
        resp.extensions_mut().insert(LoggedTenant { id: caller.tenant.id, name: caller.tenant.name.clone() });
        return resp;
    }
    let logged = LoggedTenant { id: caller.tenant.id, name: caller.tenant.name.clone() };
    let by_host = host_tenant.is_some();
    let base = base::base_of(&state.config, req.headers(), &mount, &caller.tenant.name, by_host);
    req.extensions_mut().insert(base::ScimBase(base.into()));
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(view);
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(logged);
    resp
}

/// A host naming another tenant than the path and the token do.
fn not_this_host(host_tenant: Option<&str>) -> Response {
    ApiError(auth::not_this_tenant(host_tenant.unwrap_or_default())).into_response()
}

/// 403 for a tenant switched off, told to the product as `provisioning.refused`
/// (as often as the tenant's rate allows: past it the request is refused alone).
async fn refuse_switched_off(state: &AppState, caller: Caller, target: crate::service::Target) -> Response {
    if let Some(ctx) = context::current() {
        ctx.set_actor(crate::events::ActorKind::IdentityProvider, &caller.token_name);
        ctx.name_tenant(&caller.tenant.name);
    }
    let tenant_id = caller.tenant.id;
    let mut resp = ApiError(auth::Denied::SwitchedOff(caller.clone()).into_error()).into_response();
    let rate = state.config.tenant_rate;
    if state.tenant_buckets.take(&tenant_id, rate, Instant::now()).is_ok()
        && let Some(shown) = resp.extensions().get::<error::ShownError>()
    {
        state.svc.record_refusal(tenant_id, target, "tenant_disabled", 403, &shown.detail).await;
    }
    resp.extensions_mut().insert(LoggedTenant { id: caller.tenant.id, name: caller.tenant.name });
    resp
}

fn set_retry_after(resp: &mut Response, wait: Duration) {
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs(wait).to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

/// The last guard that every error leaves as a SCIM error: a rejection the
/// framework answered in plain text (a path that is not valid UTF-8, say) is
/// rewritten with its status and text as the `detail`.
async fn scim_errors_only(req: Request, next: Next) -> Response {
    let admin_path = req.uri().path().starts_with("/admin/");
    let resp = next.run(req).await;
    let status = resp.status();
    // Our own errors are JSON already (SCIM errors, or the admin API's
    // shape), or a console page that says what went wrong.
    let ours = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes() == SCIM_JSON.as_bytes()
            || v.as_bytes().starts_with(b"application/json")
            || v.as_bytes().starts_with(b"text/html")
    });
    if status.as_u16() < 400 || ours {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let detail = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    // The admin API's own shape on its paths, as its document promises.
    if admin_path {
        return admin::AdminError::from_status(status, detail).into_response();
    }
    ApiError::status(status.as_u16(), detail).into_response()
}

/// The tenant a request was authenticated for, for its log line and audit row.
#[derive(Clone)]
struct LoggedTenant {
    id: i64,
    name: String,
}

/// One structured log line per request: id, method, path, status, latency,
/// tenant, and for a client error the `scimType` and `detail` the client was
/// shown. Never headers (they carry the token), bodies, or the query string
/// (filters carry personal data). Metrics count requests by route template
/// (never a raw path: ids would make a series each). A SCIM request also
/// leaves its audit row in the audit queue (written off the request path).
async fn log_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Unique across restarts and replicas: events and audit rows name it.
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // Every base URL form's route under the one name `/scim/v2/{tenant}/…`.
    let route = req.extensions().get::<MatchedPath>().map(|m| base::canonical_route(&state.config, m.as_str()));
    // SCIM requests are audited, and the admin API's changes to a tenant
    // (who changed which setting, rotated or deleted what); not its reads,
    // health or metrics.
    // (A tenant's own deletion is not: its trail goes with it, and a row naming it would not store.)
    let admin_change = path.starts_with("/admin/v1/tenants/")
        && method != axum::http::Method::GET
        && !(method == axum::http::Method::DELETE && route.as_deref() == Some("/admin/v1/tenants/{tenant}"));
    let scim = base::scim_rest(&state.config, &path).is_some();
    let (req, audit) = if state.audit.is_on() && (scim || admin_change) {
        let (req, start) = audit_start(&state, req, &path, route.is_some()).await;
        (req, Some(start))
    } else {
        (req, None)
    };
    let ctx = context::RequestContext::new(request_id.clone(), audit.is_some());
    // A write's row is added by its first write, in its transaction.
    if let Some(start) = &audit
        && !is_read(method.as_str(), route.as_deref().unwrap_or(&path))
    {
        let route = route.clone().unwrap_or_else(|| crate::audit::clean(&path));
        ctx.expect_writes(start.draft(&request_id, &method, route), started);
    }
    let mut resp = context::in_request(ctx.clone(), next.run(req)).await;
    // A request no credential tied to a tenant (unauthenticated, health, an
    // operator's server-wide call) is labelled so: its URL's tenant name is
    // the client's choice, and would make a series of each guess.
    let tenant = resp.extensions().get::<LoggedTenant>().map_or_else(|| "-".to_string(), |t| t.name.clone());
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let latency_us = elapsed.as_micros() as u64;
    match resp.extensions().get::<error::ShownError>() {
        Some(shown) if (400..500).contains(&status) => {
            let scim_type = shown.scim_type.unwrap_or("");
            let detail = shown.detail.as_str();
            tracing::info!(request_id, %method, path, status, latency_us, tenant, scim_type, detail, "request");
        }
        _ => tracing::info!(request_id, %method, path, status, latency_us, tenant, "request"),
    }
    if let Some(start) = audit {
        let route = route.clone().unwrap_or_else(|| crate::audit::clean(&path));
        let latency_us = i64::try_from(latency_us).unwrap_or(i64::MAX);
        let slot = ctx.take_audit_slot();
        let row = audit_row(start, &request_id, &method, route, &ctx, &resp, latency_us);
        match (slot.and_then(|s| s.written.map(|w| (w, s.writes))), kept_as(&row)) {
            // Added with its write: rewritten only where the answer says more.
            (Some(((seq, written), writes)), kept) => {
                if written.status != row.status && matches!(kept, Kept::Durable) {
                    state.audit.amend_durable(seq, row).await;
                } else if writes > 1 || !same_answer(&written, &row) {
                    state.audit.amend(seq, row);
                }
            }
            (None, Kept::Durable) => state.audit.push_durable(row).await,
            (None, Kept::Batched) => state.audit.push(row),
            (None, Kept::Counted) => state.audit.count_read(&row),
        }
    }
    crate::telemetry::record_request(route, &method, status, &tenant, elapsed);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// How a request's audit row is kept.
enum Kept {
    /// Committed before the answer: every write, and every refusal of a
    /// client whose token named its tenant.
    Durable,
    /// Written within a second, without the request waiting: requests
    /// without a valid token (nobody without one can make the server
    /// commit per request) and overload answers (429, 503: waiting on the
    /// database would add to the load). A crash may lose the last second.
    Batched,
    /// A successful read of a tenant: counted, not kept as a row.
    Counted,
}

fn is_read(method: &str, route: &str) -> bool {
    matches!(method, "GET" | "HEAD") || route.ends_with("/.search")
}

/// Whether the row a write added says what the answer said (its latency
/// aside: the row keeps the time to the write).
fn same_answer(written: &crate::store::audit::NewAudit, answered: &crate::store::audit::NewAudit) -> bool {
    (written.status, &written.scim_type, &written.detail, &written.target_id, &written.target_name)
        == (answered.status, &answered.scim_type, &answered.detail, &answered.target_id, &answered.target_name)
        && (&written.summary, &written.event_ids) == (&answered.summary, &answered.event_ids)
}

fn kept_as(row: &crate::store::audit::NewAudit) -> Kept {
    let read = is_read(&row.method, &row.route);
    match (row.tenant_id, row.status) {
        (None, _) | (Some(_), 429 | 503) => Kept::Batched,
        (Some(_), status) if read && status < 400 => Kept::Counted,
        _ => Kept::Durable,
    }
}

/// What an audit row needs from a request before it runs.
struct AuditStart {
    /// When the request arrived, by the service's clock.
    at: String,
    /// The tenant as the URL names it (its path, else its host), or "" for
    /// a URL that names none (the token would have said).
    tenant: String,
    /// The `{id}` (or `{name}`) of the URL, percent-decoded.
    id: Option<String>,
    client_addr: Option<String>,
    user_agent: Option<String>,
}

impl AuditStart {
    /// The row of a write as known before it runs, with the status its
    /// success answers with (a POST creates; a DELETE answers 204).
    fn draft(&self, request_id: &str, method: &axum::http::Method, route: String) -> crate::store::audit::NewAudit {
        let status = match method.as_str() {
            "POST" => 201,
            "DELETE" => 204,
            _ => 200,
        };
        crate::store::audit::NewAudit {
            at: self.at.clone(),
            tenant_name: self.tenant.clone(),
            request_id: request_id.to_string(),
            method: method.as_str().to_string(),
            route,
            target_id: self.id.clone(),
            status,
            client_addr: self.client_addr.clone(),
            user_agent: self.user_agent.clone(),
            ..Default::default()
        }
    }
}

async fn audit_start(state: &AppState, req: Request, path: &str, matched: bool) -> (Request, AuditStart) {
    let at = state.svc.now();
    let (mut parts, body) = req.into_parts();
    let (mut tenant, mut id) = (None, None);
    // A path that is not UTF-8 once decoded has no parameters here (its answer says why).
    if let Ok(params) = axum::extract::RawPathParams::from_request_parts(&mut parts, &()).await {
        for (key, value) in &params {
            match key {
                "tenant" => tenant = Some(crate::audit::clean(value)),
                "id" | "name" => id = Some(crate::audit::clean(value)),
                _ => {}
            }
        }
    }
    // No route matched: the tenant is the path's first segment after the
    // prefix, when that can be a tenant's name (`/scim/v2/Nope` names none).
    let unmatched = || {
        let rest = base::scim_rest(&state.config, path).or_else(|| path.strip_prefix("/admin/v1/tenants/"))?;
        let first = rest.split('/').next().unwrap_or_default();
        crate::service::tenants::valid_tenant_name(first).is_ok().then(|| first.to_string())
    };
    let tenant = tenant
        .or_else(|| if matched { None } else { unmatched() })
        .or_else(|| {
            let scim = base::scim_rest(&state.config, path).is_some();
            scim.then(|| base::host_tenant(&state.config, &parts.headers, &parts.uri)).flatten()
        })
        .map(|t| crate::audit::clean(&t))
        .unwrap_or_default();
    let client_addr =
        parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| crate::audit::clean(&ua.chars().take(256).collect::<String>()));
    (Request::from_parts(parts, body), AuditStart { at, tenant, id, client_addr, user_agent })
}

/// A finished SCIM request's audit row.
fn audit_row(
    start: AuditStart,
    request_id: &str,
    method: &axum::http::Method,
    route: String,
    ctx: &context::RequestContext,
    resp: &Response,
    latency_us: i64,
) -> crate::store::audit::NewAudit {
    let status = resp.status().as_u16();
    let logged = resp.extensions().get::<LoggedTenant>();
    let shown = resp.extensions().get::<error::ShownError>();
    // A created resource's id is the last segment of its Location.
    let created = || {
        let location = resp.headers().get(header::LOCATION)?.to_str().ok()?;
        location.rsplit('/').next().filter(|id| !id.is_empty()).map(crate::audit::clean)
    };
    let target_id = start.id.or_else(|| if status == 201 { created() } else { None });
    let (summary, event_ids) = crate::audit::kept_outcome(ctx.take_outcome());
    crate::store::audit::NewAudit {
        at: start.at,
        tenant_id: logged.map(|t| t.id),
        tenant_name: logged.map_or(start.tenant, |t| t.name.clone()),
        token_name: ctx.cause().actor_name,
        request_id: request_id.to_string(),
        method: method.as_str().to_string(),
        route,
        target_id,
        target_name: resp.extensions().get::<crate::audit::TargetName>().map(|n| crate::audit::clean(&n.0)),
        status,
        scim_type: shown.and_then(|s| s.scim_type).map(str::to_string),
        detail: shown.map(|s| crate::audit::clean(&s.detail)),
        latency_us,
        summary,
        event_ids,
        client_addr: start.client_addr,
        user_agent: start.user_agent,
    }
}

/// The base URL of a tenant in its first form, `/scim/v2/{tenant}`: from
/// `--public-url` when it is set, otherwise as the client reached it
/// (`Host` and `X-Forwarded-Proto`). A SCIM answer's URLs follow the form
/// its request used ([`base::ScimBase`]); [`base::base_urls`] lists every form.
pub fn base_url(config: &Config, headers: &HeaderMap, tenant: &str) -> String {
    format!("{}/scim/v2/{tenant}", public_root(config, headers))
}

/// Where clients reach the server: `--public-url`, or as this client reached
/// it (`Host`, `X-Forwarded-Proto`); no trailing `/`.
pub fn public_root(config: &Config, headers: &HeaderMap) -> String {
    if let Some(public) = &config.public_url {
        return public.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// A SCIM JSON response.
pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    scim_bytes_response(status, Bytes::from(body.to_string()))
}

/// A SCIM JSON response from JSON text.
pub fn scim_bytes_response(status: StatusCode, body: Bytes) -> Response {
    let mut resp = (status, Body::from(body)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

pub type CallerExt = Extension<Caller>;
