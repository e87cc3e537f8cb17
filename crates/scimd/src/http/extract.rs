//! What handlers take from a request: a JSON body read within the server's
//! limits and memory budget ([`ScimJson`]), path parameters with our errors
//! ([`PathParams`], [`ResourceId`]) and query parameters matched ignoring
//! case ([`Params`]).

use super::{ApiError, AppState, kib};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use scim_core::ScimError;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A JSON request body: `application/scim+json` or `application/json` (or no
/// content type: Entra does not always send one). Anything else is 415; a body
/// over the limit is 413; malformed JSON is 400 `invalidSyntax`. The second
/// field holds the body's share of the server's body budget for as long as
/// the handler keeps it, and says whether the body was large.
pub struct ScimJson(pub Value, pub BodySize);

pub struct BodySize {
    large: bool,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

impl BodySize {
    /// Past [`crate::store::LARGE_BYTES`]: its work runs on a blocking thread.
    pub fn is_large(&self) -> bool {
        self.large
    }

    /// Run CPU work on request-sized input where it cannot block other requests.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        off_thread_if(self.large, work).await
    }
}

/// Run `work` on a blocking thread when it is `large` (so it cannot hold up
/// other requests), at once otherwise.
pub(crate) async fn off_thread_if<T: Send + 'static>(
    large: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if !large {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::internal("finish the request", &e))
}

impl FromRequest<AppState> for ScimJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let max = state.config.max_body_bytes;
        let too_large = move || {
            ApiError::status(
                413,
                format!("the request body is larger than the server accepts ({max} bytes, --max-body-bytes)"),
            )
        };
        let (value, size) = read_json(req, state, max, None, too_large).await?;
        Ok(ScimJson(value, size))
    }
}

/// A Bulk request's body (RFC 7644 §3.7): read as [`ScimJson`] reads a body,
/// within `maxPayloadSize` (`--bulk-max-payload-bytes`) instead of
/// `--max-body-bytes`, its `Operations` array allowed up to `maxOperations`.
pub struct BulkJson(pub Value, pub BodySize);

impl FromRequest<AppState> for BulkJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let max = state.config.bulk.max_payload_bytes;
        // RFC 7644 §3.7.4: 413, naming the limit.
        let too_large = move || {
            ApiError::status(
                413,
                format!(
                    "the Bulk request is larger than this server accepts: maxPayloadSize is {max} bytes \
                     (--bulk-max-payload-bytes)"
                ),
            )
        };
        let operations = (state.config.bulk.max_operations, "--bulk-max-operations");
        let (value, size) = read_json(req, state, max, Some(operations), too_large).await?;
        Ok(BulkJson(value, size))
    }
}

/// Read a JSON body of at most `max` bytes (`too_large` says why past it)
/// within the body budget and the server's limits (its arrays may also be as
/// long as `longer_arrays` allows), and parse it strictly.
async fn read_json(
    req: Request,
    state: &AppState,
    max: usize,
    longer_arrays: Option<(usize, &'static str)>,
    too_large: impl Fn() -> ApiError,
) -> Result<(Value, BodySize), ApiError> {
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
    let declared = declared_length(req.headers());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let busy = || {
        metrics::counter!("scimd_body_budget_refusals_total").increment(1);
        ApiError::status(
            503,
            "the server is reading as many request bodies as its memory budget allows \
             (--max-inflight-body-mb); retry shortly",
        )
    };
    // A declared length is held at once; a chunked body's share grows as it arrives.
    let mut budget = Budget::new(state.body_budget.clone(), declared.unwrap_or(0)).ok_or_else(busy)?;
    let timeout = state.config.net.body_read_timeout;
    let bytes = match tokio::time::timeout(timeout, read_body(req, declared, max, &mut budget)).await {
        Err(_) => {
            return Err(ApiError::status(
                408,
                format!("the request body did not arrive within {} s", timeout.as_secs_f64()),
            ));
        }
        Ok(Err(BodyReadError::TooLarge)) => return Err(too_large()),
        Ok(Err(BodyReadError::OverBudget)) => return Err(busy()),
        Ok(Err(BodyReadError::Broken(why))) => {
            return Err(ApiError(ScimError::invalid_syntax(format!("the request body could not be read: {why}"))));
        }
        Ok(Ok(bytes)) => bytes,
    };
    if bytes.is_empty() {
        return Err(ApiError(ScimError::invalid_syntax("the request body is empty; send a JSON object")));
    }
    let size = BodySize { large: bytes.len() > crate::store::LARGE_BYTES, _budget: budget.held };
    let limits = state.config.limits;
    let parsed = size
        .run(move || {
            limits.check_json_body_allowing(&bytes, longer_arrays)?;
            scim_core::json::parse_strict(&bytes).map_err(|e| match e {
                scim_core::json::JsonError::Syntax(e) => {
                    ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
                }
                duplicate => ScimError::invalid_syntax(format!("the request body is ambiguous: {duplicate}")),
            })
        })
        .await?;
    Ok((parsed?, size))
}

/// The length a request declares in `Content-Length`, if any.
pub(super) fn declared_length(headers: &axum::http::HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok())
}

/// A body's share of the server's body budget, in KiB.
struct Budget {
    pool: Arc<Semaphore>,
    held: OwnedSemaphorePermit,
}

impl Budget {
    fn new(pool: Arc<Semaphore>, bytes: usize) -> Option<Budget> {
        let held = pool.clone().try_acquire_many_owned(kib(bytes)).ok()?;
        Some(Budget { pool, held })
    }

    /// Hold enough for `bytes`; false when the budget has no room.
    fn cover(&mut self, bytes: usize) -> bool {
        let (want, have) = (kib(bytes) as usize, self.held.num_permits());
        if want <= have {
            return true;
        }
        let more = u32::try_from(want - have).unwrap_or(u32::MAX);
        match self.pool.clone().try_acquire_many_owned(more) {
            Ok(permit) => {
                self.held.merge(permit);
                true
            }
            Err(_) => false,
        }
    }
}

/// A request body in one buffer (of the declared size when there is one:
/// collecting frames and joining them would hold the body twice), counted
/// as it arrives against `max` and the body budget, so a chunked body or one
/// that sends more than it declared is refused the moment it passes either.
async fn read_body(
    req: Request,
    declared: Option<usize>,
    max: usize,
    budget: &mut Budget,
) -> Result<Bytes, BodyReadError> {
    use http_body_util::BodyExt;
    let mut body = req.into_body();
    let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyReadError::Broken(e.into_inner().to_string()))?;
        if let Ok(data) = frame.into_data() {
            let len = buf.len().saturating_add(data.len());
            if len > max {
                return Err(BodyReadError::TooLarge);
            }
            if !budget.cover(len) {
                return Err(BodyReadError::OverBudget);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

enum BodyReadError {
    TooLarge,
    OverBudget,
    Broken(String),
}

/// The parameters of a URL path (`{tenant}`, `{id}`), with our error for a
/// segment that is not UTF-8 once percent-decoded (axum's would be its own text).
pub struct PathParams(pub HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParams {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::{ErrorKind, Path};
        use axum::extract::rejection::PathRejection;
        match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Path(params)) => Ok(PathParams(params)),
            Err(PathRejection::FailedToDeserializePathParams(e))
                if matches!(e.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) =>
            {
                Err(ApiError::status(400, "the URL path is not valid UTF-8 once percent-decoded"))
            }
            Err(other) => Err(ApiError::status(other.status().as_u16(), other.body_text())),
        }
    }
}

/// The `{id}` of a resource's URL. An id with a NUL character names nothing
/// (and PostgreSQL could not even compare it): 404.
pub struct ResourceId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let PathParams(mut params) = PathParams::from_request_parts(parts, state).await?;
        match params.remove("id") {
            Some(id) if id.contains('\0') => {
                Err(ApiError(ScimError::not_found("nothing here has an id with a NUL character in it")))
            }
            Some(id) => Ok(ResourceId(id)),
            None => Err(ApiError::status(404, format!("there is no endpoint at {}", parts.uri.path()))),
        }
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
        let params = Params::from_query(parts.uri.query());
        if let Some((name, _)) = params.0.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError(ScimError::invalid_value(format!(
                "the query parameter '{}' contains a NUL character (%00), which no attribute can hold",
                name.replace('\0', "\\0")
            ))));
        }
        Ok(params)
    }
}

/// Bodies up to this size that a request was answered without reading (a
/// 401, a 413 for a declared length, a 503 for the budget) are read and
/// thrown away while the answer is sent, so a client that writes its whole
/// body first reads the answer and keeps its connection, instead of a reset.
/// Past it, or when the rest is slow to come, the connection closes as before.
const DRAIN_MAX_BYTES: usize = 1024 * 1024;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Middleware: keep a handle on a small request body, and drain what the
/// handler left unread.
pub(super) async fn drain_unread_body(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let small = declared_length(req.headers()).is_some_and(|n| n > 0 && n <= DRAIN_MAX_BYTES);
    if !small {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let shared = SharedBody(Arc::new(std::sync::Mutex::new(body)));
    let mut resp = next.run(Request::from_parts(parts, axum::body::Body::new(shared.clone()))).await;
    if resp.status() == axum::http::StatusCode::REQUEST_TIMEOUT {
        return resp;
    }
    if !axum::body::HttpBody::is_end_stream(&shared) {
        // hyper writes the answer while this reads the rest; dropping the
        // body unread (at the timeout) closes the connection after it.
        tokio::spawn(tokio::time::timeout(DRAIN_TIMEOUT, async move {
            use http_body_util::BodyExt;
            let mut body = shared;
            while let Some(Ok(_)) = body.frame().await {}
        }));
    }
    // The body is read or being read: the connection can carry the next
    // request, whatever an early refusal assumed.
    resp.headers_mut().remove(header::CONNECTION);
    resp
}

/// A request body two owners can read: the handler, then the drain.
#[derive(Clone)]
struct SharedBody(Arc<std::sync::Mutex<axum::body::Body>>);

impl axum::body::HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        match self.0.lock() {
            Ok(mut body) => std::pin::Pin::new(&mut *body).poll_frame(cx),
            Err(_) => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().map_or(true, |body| body.is_end_stream())
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.lock().map_or_else(|_| hyper::body::SizeHint::default(), |body| body.size_hint())
    }
}
