//! HTTP: the router, shared state, request parsing, authentication and
//! request logging. Handlers live in [`resources`] and [`discovery`].

pub mod admin;
pub mod discovery;
pub mod error;
pub mod resources;

use crate::auth::{self, Caller, TokenUses};
use crate::store::Store;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
pub use error::{ApiError, SCIM_JSON};
use scim_core::{ResourceType, ScimError};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Largest number of resources one list response carries (`filter.maxResults`).
pub const MAX_RESULTS: i64 = 1000;

pub struct Config {
    /// Request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// How long a token or tenant read from the database is trusted.
    pub auth_cache_ttl: std::time::Duration,
    /// A group PATCH without `attributes`/`excludedAttributes` answers 204.
    pub group_patch_no_content: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_bytes: 10 * 1024 * 1024,
            auth_cache_ttl: std::time::Duration::from_secs(2),
            group_patch_no_content: false,
        }
    }
}

pub struct Inner {
    pub store: Store,
    pub users: Arc<ResourceType>,
    pub groups: Arc<ResourceType>,
    pub token_uses: TokenUses,
    pub auth_cache: auth::AuthCache,
    pub config: Config,
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
    pub fn new(store: Store, config: Config) -> Self {
        AppState(Arc::new(Inner {
            store,
            users: Arc::new(ResourceType::user()),
            groups: Arc::new(ResourceType::group()),
            token_uses: TokenUses::default(),
            auth_cache: auth::AuthCache::new(config.auth_cache_ttl),
            config,
        }))
    }
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
        .route("/Bulk", post(discovery::bulk))
        .route(
            "/Me",
            get(discovery::me).post(discovery::me).put(discovery::me).patch(discovery::me).delete(discovery::me),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/scim/v2/{tenant}", scim)
        .merge(admin::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn(scim_errors_only))
        .layer(middleware::from_fn(log_requests))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::status(503, "the database does not answer").into_response()
        }
    }
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
    Path(params): Path<std::collections::HashMap<String, String>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(tenant) = params.get("tenant") else {
        return ApiError::status(404, "no tenant in the URL").into_response();
    };
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let now = crate::clock::now();
    match auth::authenticate(&state.store, &state.auth_cache, &state.token_uses, tenant, header, &now).await {
        Ok(caller) => {
            let tenant_name = caller.tenant.name.clone();
            req.extensions_mut().insert(caller);
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(LoggedTenant(tenant_name));
            resp
        }
        Err(e) => {
            let mut resp = ApiError(e).into_response();
            if resp.status() == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scimd\""));
            }
            resp
        }
    }
}

/// The last guard that every error leaves as a SCIM error: a rejection the
/// framework answered in plain text (a path that is not valid UTF-8, say) is
/// rewritten with its status and text as the `detail`.
async fn scim_errors_only(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    // Our own errors are JSON already (SCIM errors, or the admin API's shape).
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == SCIM_JSON.as_bytes() || v.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let detail = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    ApiError::status(status.as_u16(), detail).into_response()
}

#[derive(Clone)]
struct LoggedTenant(String);

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(1);

/// One structured log line per request: id, method, path, status, latency,
/// tenant. Never headers (they carry the token) and never the query string
/// (filters carry personal data).
async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = format!("{:x}", REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = next.run(req).await;
    let tenant = resp.extensions().get::<LoggedTenant>().map(|t| t.0.clone()).unwrap_or_default();
    let status = resp.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    tracing::info!(request_id, %method, path, status, latency_us, tenant, "request");
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A JSON request body: `application/scim+json` or `application/json` (or no
/// content type: Entra does not always send one). Anything else is 415; a body
/// over the limit is 413; malformed JSON is 400 `invalidSyntax`.
pub struct ScimJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            let mime = ct.split(';').next().unwrap_or("").trim();
            if !(mime == "application/scim+json" || mime == "application/json" || mime.is_empty()) {
                return Err(ApiError::status(
                    415,
                    format!("Content-Type '{mime}' is not supported: send application/scim+json or application/json"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status().as_u16();
            if status == 413 {
                ApiError::status(413, "the request body is larger than the server accepts")
            } else {
                ApiError(ScimError::invalid_syntax(format!("the request body could not be read: {rejection}")))
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError(ScimError::invalid_syntax("the request body is empty; send a JSON object")));
        }
        serde_json::from_slice(&bytes)
            .map(ScimJson)
            .map_err(|e| ApiError(ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))))
    }
}

/// Query parameters, matched ignoring case (`startindex` = `startIndex`).
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_query(query: Option<&str>) -> Params {
        Params(form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect())
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Params::from_query(parts.uri.query()))
    }
}

/// The base URL of a tenant as the client reached it (for `meta.location`).
pub fn base_url(headers: &HeaderMap, tenant: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}/scim/v2/{tenant}")
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
