//! The HTTP edge of errors: every failure, ours or the framework's, leaves as
//! a SCIM error body (RFC 7644 §3.12) with `application/scim+json`.

use crate::service::{Error, Refusal};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::ScimError;

pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        ApiError(ScimError::new(status, None, detail))
    }
    pub fn internal(what: &str, e: &dyn std::fmt::Display) -> Self {
        // The cause goes to the log, never to the client.
        tracing::error!(error = %e, "{what}");
        ApiError::status(500, format!("the server failed to {what}; the error has been logged"))
    }
}

/// The one mapping of an operation's error to what a SCIM client is told.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Protocol(e) => ApiError(e),
            Error::NotFound(detail) => ApiError(ScimError::not_found(detail)),
            Error::Taken { detail, .. } => ApiError(ScimError::uniqueness(detail)),
            Error::Refused(r @ Refusal::Configuration(_)) => ApiError(ScimError::invalid_value(r.to_string())),
            Error::Refused(r) => ApiError::status(r.status(), r.to_string()),
            Error::Contended(detail) => ApiError::status(409, detail),
            Error::Busy(cause) => {
                tracing::warn!(error = %cause, "the database gave up waiting; the client is told to retry");
                ApiError::status(
                    503,
                    "the server is busy with other writes to the same data; nothing was changed: retry shortly",
                )
            }
            Error::Internal(cause) => ApiError::internal("finish the request", &cause),
        }
    }
}

/// What a client was told, for the request's log line.
#[derive(Clone, Debug)]
pub(crate) struct ShownError {
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, self.0.to_json().to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            // Okta and Entra back off on these; tell them for how long.
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(status.as_u16(), 408 | 413 | 503) {
            // The request body may be unread: this connection cannot carry another request.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp.extensions_mut()
            .insert(ShownError { scim_type: self.0.scim_type.map(|t| t.as_str()), detail: self.0.detail });
        resp
    }
}
