//! The OAuth 2.0 token endpoint, `POST /oauth/token`: the client credentials
//! grant (RFC 6749 §4.4) for identity providers that authenticate that way
//! (Entra's "OAuth2 Client Credentials Grant"). The client authenticates by
//! HTTP Basic or by `client_id` and `client_secret` in the form body (§2.3.1);
//! it gets a Bearer access token that its tenant's SCIM endpoint accepts as
//! any token until it expires. Errors are §5.2's. Failed attempts are counted
//! against the client's address like unknown SCIM tokens.

use super::AppState;
use crate::service::oauth::Refused;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A §5.2 error: `{"error", "error_description"}`, never cached.
fn error(status: u16, code: &str, description: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, axum::Json(json!({"error": code, "error_description": description}))).into_response();
    no_store(&mut resp);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"scimd\""));
    }
    resp
}

fn no_store(resp: &mut Response) {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn invalid_request(description: &str) -> Response {
    error(400, "invalid_request", description)
}

/// The client's credentials from an `Authorization: Basic` header, each
/// part form-decoded as §2.3.1 asks.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((decode(id)?, decode(secret)?))
}

pub(super) async fn token(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let address = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| crate::ratelimit::client_key(c.0.ip()));
    let rate = state.config.unknown_token_rate;
    if let Some(ip) = address
        && !state.address_buckets.has_token(&ip, rate, Instant::now())
    {
        let mut resp = error(
            429,
            "invalid_request",
            "too many failed token requests came from this address; wait before retrying, and check the client id and secret",
        );
        let wait = Duration::from_secs_f64(1.0 / rate.per_second.max(0.001)).as_secs().max(1);
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let failed = |resp: Response| {
        if let Some(ip) = address {
            let _ = state.address_buckets.take(&ip, rate, Instant::now());
        }
        resp
    };
    let form_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !form_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    {
        return failed(invalid_request(
            "send the token request as a form: Content-Type: application/x-www-form-urlencoded",
        ));
    }
    let mut form: HashMap<String, String> = HashMap::new();
    for (key, value) in form_urlencoded::parse(&body) {
        if form.insert(key.to_string(), value.into_owned()).is_some() {
            return failed(invalid_request(&format!("the parameter '{key}' is sent more than once")));
        }
    }
    // An empty header is no header (some HTTP clients send one).
    let from_header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty());
    let credentials = match (from_header, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => {
            return failed(invalid_request(
                "authenticate the client one way: HTTP Basic or client_id and client_secret in the body, not both",
            ));
        }
        (Some(value), _, None) => match basic_credentials(value) {
            Some(c) => c,
            None => {
                return failed(error(
                    401,
                    "invalid_client",
                    "the Authorization header must be 'Basic ' and base64 of client_id:client_secret",
                ));
            }
        },
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        (None, _, _) => {
            return failed(error(
                401,
                "invalid_client",
                "no client credentials: send HTTP Basic, or client_id and client_secret in the body",
            ));
        }
    };
    match form.get("grant_type").map(String::as_str) {
        None => {
            return failed(invalid_request(
                "the parameter 'grant_type' is missing: send grant_type=client_credentials",
            ));
        }
        Some("client_credentials") => {}
        Some(other) => {
            return failed(error(
                400,
                "unsupported_grant_type",
                &format!("this server gives tokens for grant_type=client_credentials only, not '{other}'"),
            ));
        }
    }
    let lifetime = state.config.oauth_token_lifetime.as_secs().max(1);
    match state.svc.issue_access_token(&credentials.0, &credentials.1, lifetime).await {
        Ok(token) => {
            let mut resp = (
                StatusCode::OK,
                axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime})),
            )
                .into_response();
            no_store(&mut resp);
            resp
        }
        Err(Refused::InvalidClient(why)) => failed(error(401, "invalid_client", why)),
        Err(Refused::Failed(e)) => {
            tracing::error!(error = %e, "an OAuth token could not be issued");
            let mut resp = error(503, "temporarily_unavailable", "the server could not issue a token; retry shortly");
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            resp
        }
    }
}
