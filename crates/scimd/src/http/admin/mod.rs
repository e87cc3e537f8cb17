//! The admin API (`/admin/v1`): a tenant's provisioning configuration
//! ([`config`]: workspaces, roles, licence types, group mappings, policy),
//! and users ([`users`]: managed by hand, manual roles, what a user may do);
//! what happened: the event feed (`events`) and the audit trail of SCIM requests (`audit`);
//! tenants and credentials ([`tenants`]).
//! Authenticated by an admin token (`scimd admin-token create`): an
//! operator's reaches every tenant, a tenant admin's one tenant only (any
//! other tenant's path is 404 to it). JSON in and out; every error is
//! `{"error": {"status", "code", "detail"}}`. Every change is an operation of
//! [`crate::service`].

mod audit;
mod config;
mod events;
pub(crate) mod openapi;
mod schemas;
mod tenants;
mod transfer;
mod users;
mod views;
mod webhooks;

use super::AppState;
use crate::auth::hash_token;
use crate::service::{Error, Refusal};
use crate::store::Tenant;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use scim_core::ScimError;
use scim_core::policy::TenantConfig;
use serde_json::Value;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// An admin API error: `{"error": {"status": 409, "code": "conflict", "detail": "…"}}`.
#[derive(Debug)]
pub(crate) struct AdminError {
    status: StatusCode,
    code: Code,
    detail: String,
}

/// What kind of error it is, for a program to branch on (`detail` is for people).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Code {
    /// 400: the request cannot be understood or the setting cannot work; `detail` says why.
    InvalidRequest,
    /// 401: no admin token, or one that is not valid, revoked or expired.
    Unauthorized,
    /// 403: the token may not do this (tenant admins manage neither tenants nor operator tokens).
    Forbidden,
    /// 404: nothing of that name or id (another tenant's path, for a tenant admin).
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: the change conflicts with what is there (a name taken, a SCIM-managed user).
    Conflict,
    /// 409: no seat is free for the licence type.
    NoSeats,
    /// 409: a group's display name is shared by several groups.
    AmbiguousGroup,
    /// 409: a seat limit below the seats in use, without `force`.
    SeatsInUse,
    /// 409: a manual role the policy would not let the user hold.
    NotGranted,
    /// 413: the request body is larger than the server takes.
    TooLarge,
    /// 503: the database was busy; nothing was changed: retry.
    Busy,
    /// 500: the server failed; the cause is in its log.
    Internal,
    /// Any other status.
    Error,
}

impl AdminError {
    fn new(status: u16, code: Code, detail: impl Into<String>) -> Self {
        AdminError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            detail: detail.into(),
        }
    }
    fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, Code::NotFound, detail)
    }
    fn bad(detail: impl Into<String>) -> Self {
        Self::new(400, Code::InvalidRequest, detail)
    }
    /// An error the framework answered in plain text (a body too large, a
    /// path that is not UTF-8), in the admin API's shape.
    pub(crate) fn from_status(status: StatusCode, detail: String) -> Self {
        let code = match status.as_u16() {
            400 => Code::InvalidRequest,
            404 => Code::NotFound,
            405 => Code::MethodNotAllowed,
            413 => Code::TooLarge,
            500 => Code::Internal,
            _ => Code::Error,
        };
        AdminError { status, code, detail }
    }
}

impl From<ScimError> for AdminError {
    fn from(e: ScimError) -> Self {
        let code = match e.status {
            400 => Code::InvalidRequest,
            403 => Code::Forbidden,
            404 => Code::NotFound,
            409 => Code::Conflict,
            413 => Code::TooLarge,
            500 => Code::Internal,
            503 => Code::Busy,
            _ => Code::Error,
        };
        AdminError::new(e.status, code, e.detail)
    }
}

/// The one mapping of an operation's error to what an admin is told.
impl From<Error> for AdminError {
    fn from(e: Error) -> Self {
        match e {
            Error::Protocol(e) => e.into(),
            Error::NotFound(detail) => AdminError::not_found(detail),
            Error::Taken { detail, .. } => AdminError::new(409, Code::Conflict, detail),
            Error::Refused(r @ Refusal::DomainNotAllowed { .. }) => {
                AdminError::new(403, Code::Forbidden, r.to_string())
            }
            Error::Refused(r @ Refusal::Configuration(_)) => AdminError::bad(r.to_string()),
            Error::Refused(r @ Refusal::NoSeats { .. }) => AdminError::new(409, Code::NoSeats, r.to_string()),
            Error::Refused(r @ Refusal::ScimManaged { .. }) => AdminError::new(409, Code::Conflict, r.to_string()),
            Error::Refused(r @ Refusal::AmbiguousGroup { .. }) => {
                AdminError::new(409, Code::AmbiguousGroup, r.to_string())
            }
            Error::Refused(r @ Refusal::SeatsInUse { .. }) => AdminError::new(409, Code::SeatsInUse, r.to_string()),
            Error::Refused(r @ Refusal::GrantWithoutEffect { .. }) => {
                AdminError::new(409, Code::NotGranted, r.to_string())
            }
            Error::Contended(detail) => AdminError::new(409, Code::Conflict, detail),
            Error::Busy(cause) => {
                tracing::warn!(error = %cause, "the database gave up waiting on an admin API operation");
                AdminError::new(
                    503,
                    Code::Busy,
                    "the server is busy with other writes to the same data; nothing was changed: retry shortly",
                )
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "admin API operation failed");
                AdminError::new(
                    500,
                    Code::Internal,
                    "the server failed to finish the request; the error has been logged",
                )
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        // What the client was shown, for the request's log line and audit row.
        let shown = crate::http::error::ShownError { scim_type: None, detail: self.detail.clone() };
        let body = openapi::ErrorBody {
            error: openapi::ErrorDetail { status: self.status.as_u16(), code: self.code, detail: self.detail },
        };
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut().insert(shown);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        resp
    }
}

impl AdminError {
    /// The status and the words, for pages that show the same refusal (the console).
    pub(crate) fn parts(&self) -> (StatusCode, String) {
        (self.status, self.detail.clone())
    }
}

pub(crate) use audit::status_range;

type AdminResult = Result<Response, AdminError>;

/// Every admin route as `path => method handler, …;`: the router is built
/// from this table and [`ROUTES`] lists it, so that a test can check that
/// the OpenAPI document covers each one (a route added here without its
/// `#[utoipa::path]` fails it).
macro_rules! admin_routes {
    ($($path:literal => $($method:ident $handler:path),+;)+) => {
        /// `(method, path)` of every authenticated admin route.
        pub const ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),+];

        fn routes() -> Router<AppState> {
            Router::new()$(.route($path, axum::routing::MethodRouter::new()$(.$method($handler))+))+
        }
    };
}

admin_routes! {
    "/admin/v1/tenants" => get tenants::list_tenants, post tenants::create_tenant;
    "/admin/v1/tenants/{tenant}" => get tenants::get_tenant, patch tenants::patch_tenant, delete tenants::delete_tenant;
    "/admin/v1/tenants/{tenant}/tokens" => get tenants::list_tokens, post tenants::create_token;
    "/admin/v1/tenants/{tenant}/tokens/{name}" => delete tenants::revoke_token;
    "/admin/v1/tenants/{tenant}/oauth-clients" => get tenants::list_oauth_clients, post tenants::create_oauth_client;
    "/admin/v1/tenants/{tenant}/oauth-clients/{client}" => delete tenants::revoke_oauth_client;
    "/admin/v1/tenants/{tenant}/portal-links" => post tenants::create_portal_link;
    "/admin/v1/tenants/{tenant}/import" => post transfer::import;
    "/admin/v1/tenants/{tenant}/export" => get transfer::export;
    "/admin/v1/admin-tokens" => get tenants::list_admin_tokens, post tenants::create_admin_token;
    "/admin/v1/admin-tokens/{name}" => delete tenants::revoke_admin_token;
    "/admin/v1/tenants/{tenant}/config" => get config::get_config;
    "/admin/v1/tenants/{tenant}/workspaces" => get config::list_workspaces, post config::create_workspace;
    "/admin/v1/tenants/{tenant}/workspaces/{id}" =>
        get views::get_workspace, patch config::update_workspace, delete config::delete_workspace;
    "/admin/v1/tenants/{tenant}/roles" => get config::list_roles, post config::create_role;
    "/admin/v1/tenants/{tenant}/roles/{id}" => get views::get_role, patch config::update_role, delete config::delete_role;
    "/admin/v1/tenants/{tenant}/licence-types" => get views::list_licence_types, post config::create_licence_type;
    "/admin/v1/tenants/{tenant}/licence-types/{id}" =>
        get views::get_licence_type, patch config::update_licence_type, delete config::delete_licence_type;
    "/admin/v1/tenants/{tenant}/group-mappings" => get config::list_mappings, post config::create_mapping;
    "/admin/v1/tenants/{tenant}/group-mappings/{id}" =>
        get views::get_mapping, put config::replace_mapping, delete config::delete_mapping;
    "/admin/v1/tenants/{tenant}/groups" => get views::list_groups;
    "/admin/v1/tenants/{tenant}/schemas" => get schemas::list_schemas, post schemas::create_schema;
    "/admin/v1/tenants/{tenant}/schemas/{urn}" => get schemas::get_schema, delete schemas::delete_schema;
    "/admin/v1/tenants/{tenant}/policy" => get config::get_policy, put config::put_policy;
    "/admin/v1/tenants/{tenant}/policy/reapply" => post config::reapply_policy;
    "/admin/v1/tenants/{tenant}/users" => get users::list_users, post users::create_user;
    "/admin/v1/tenants/{tenant}/users/{id}" => get users::get_user, patch users::patch_user, delete users::delete_user;
    "/admin/v1/tenants/{tenant}/users/{id}/restore" => post users::restore_user;
    "/admin/v1/tenants/{tenant}/users/{id}/access" => get users::user_access;
    "/admin/v1/tenants/{tenant}/users/{id}/roles" => post users::grant_role;
    "/admin/v1/tenants/{tenant}/users/{id}/roles/{workspace}/{role}" => delete users::withdraw_role;
    "/admin/v1/tenants/{tenant}/events" => get events::list_events;
    "/admin/v1/tenants/{tenant}/webhooks" => get webhooks::list_webhooks, post webhooks::create_webhook;
    "/admin/v1/tenants/{tenant}/webhooks/{id}" =>
        get webhooks::get_webhook, patch webhooks::patch_webhook, delete webhooks::delete_webhook;
    "/admin/v1/tenants/{tenant}/webhooks/{id}/test" => post webhooks::test_webhook;
    "/admin/v1/tenants/{tenant}/webhooks/{id}/replay" => post webhooks::replay_webhook;
    "/admin/v1/tenants/{tenant}/webhooks/{id}/rotate-secret" => post webhooks::rotate_secret;
    "/admin/v1/tenants/{tenant}/webhooks/{id}/enable" => post webhooks::enable_webhook;
    "/admin/v1/tenants/{tenant}/webhooks/{id}/deliveries" => get webhooks::list_deliveries;
    "/admin/v1/tenants/{tenant}/webhooks/{id}/deliveries/{delivery}" => get webhooks::get_webhook_delivery;
    "/admin/v1/tenants/{tenant}/webhooks/{id}/deliveries/{delivery}/retry" => post webhooks::retry_webhook_delivery;
    "/admin/v1/tenants/{tenant}/deliveries/{delivery}" => get webhooks::get_delivery;
    "/admin/v1/tenants/{tenant}/deliveries/{delivery}/retry" => post webhooks::retry_delivery;
    "/admin/v1/tenants/{tenant}/audit" => get audit::list_audit;
    "/admin/v1/tenants/{tenant}/audit/reads" => get audit::list_reads;
}

pub(crate) fn router(state: AppState) -> Router<AppState> {
    routes()
        .method_not_allowed_fallback(|| async {
            AdminError::new(405, Code::MethodNotAllowed, "method not allowed here")
        })
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate))
        // The document describes the API, not a tenant: it needs no token.
        .route(openapi::PATH, get(openapi::document))
}

/// Who an admin request is from: how far its admin token reaches.
#[derive(Clone, Debug)]
pub(crate) struct AdminCaller {
    /// `None`: an operator (every tenant); else the one tenant (id, name) this caller reaches.
    pub(crate) tenant: Option<(i64, String)>,
}

impl AdminCaller {
    /// 403 unless an operator asks: tenants and operator tokens are theirs alone.
    fn operator_only(&self, what: &str) -> Result<(), AdminError> {
        match &self.tenant {
            None => Ok(()),
            Some((_, own)) => Err(AdminError::new(
                403,
                Code::Forbidden,
                format!("only an operator token may {what}; this token is tenant '{own}''s admin token"),
            )),
        }
    }
}

async fn authenticate(
    State(state): State<AppState>,
    params: Result<Path<HashMap<String, String>>, axum::extract::rejection::PathRejection>,
    mut req: Request,
    next: Next,
) -> Response {
    // A percent-encoded path segment that is not UTF-8 text names nothing.
    let Ok(Path(params)) = params else {
        return AdminError::bad("the URL is not valid: a part of its path is not UTF-8 text once percent-decoded")
            .into_response();
    };
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let Some(token) = header.and_then(crate::auth::credential) else {
        return AdminError::new(401, Code::Unauthorized, "send 'Authorization: Bearer <admin token>'").into_response();
    };
    let hash = hash_token(token);
    let found = match state.svc.admin_token_by_hash(&hash).await {
        Ok(t) => t.filter(|t| bool::from(t.hash.as_slice().ct_eq(hash.as_slice()))),
        Err(e) => return AdminError::from(e).into_response(),
    };
    let now = state.svc.now();
    let found = match found {
        None => return AdminError::new(401, Code::Unauthorized, "the admin token is not valid").into_response(),
        Some(t) if t.revoked_at.is_some() => {
            return AdminError::new(401, Code::Unauthorized, "the admin token has been revoked").into_response();
        }
        Some(t) if t.expires_at.as_deref().is_some_and(|at| at <= now.as_str()) => {
            let detail = format!(
                "the admin token '{}' expired at {}; sign in with another, or ask whoever gave it for a new one",
                t.name,
                t.expires_at.as_deref().unwrap_or_default()
            );
            return AdminError::new(401, Code::Unauthorized, detail).into_response();
        }
        Some(t) => t,
    };
    // No id holds a NUL (PostgreSQL could not even compare one): every path id names nothing.
    if params.values().any(|v| v.contains('\0')) {
        return AdminError::not_found("nothing here has a NUL character in its id").into_response();
    }
    state.admin_token_uses.record(found.id, &now);
    if let Some(ctx) = crate::service::context::current() {
        ctx.set_actor(crate::events::ActorKind::Admin, &found.name);
    }
    let caller = AdminCaller { tenant: found.tenant };
    let Some(name) = params.get("tenant") else {
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    };
    // A tenant admin's token finds no other tenant, as if there were none.
    if caller.tenant.as_ref().is_some_and(|(_, own)| own != name) {
        return AdminError::not_found(format!("there is no tenant '{name}'")).into_response();
    }
    match state.svc.tenant_by_name(name).await {
        Ok(Some(tenant)) => {
            let logged = super::LoggedTenant { id: tenant.id, name: tenant.name.clone() };
            req.extensions_mut().insert(tenant);
            req.extensions_mut().insert(caller);
            let mut resp = next.run(req).await;
            // The request's log line and metrics name the tenant, as SCIM requests' do.
            resp.extensions_mut().insert(logged);
            resp
        }
        Ok(None) => AdminError::not_found(format!("there is no tenant '{name}'")).into_response(),
        Err(e) => AdminError::from(e).into_response(),
    }
}

/// A JSON body, with our error shape when it is not JSON, and errors that
/// name the setting at fault and its allowed values (not the parser's text).
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, AdminError> {
    // The same scan as SCIM bodies: a NUL character (PostgreSQL cannot store
    // one) or an absurdly long array is refused before parsing.
    scim_core::Limits::default().check_json_body(bytes)?;
    let value: Value = scim_core::json::parse_strict(bytes).map_err(|e| match e {
        scim_core::json::JsonError::Syntax(e) => {
            AdminError::bad(format!("the request body is not JSON (line {}, column {})", e.line(), e.column()))
        }
        duplicate => AdminError::bad(format!("the request body is ambiguous: {duplicate}")),
    })?;
    serde_json::from_value::<T>(value.clone()).map_err(|whole| {
        // Every setting of a body is optional or has its own check: tried
        // alone, the one at fault fails with more than a missing field.
        let culprit = value.as_object().and_then(|obj| {
            obj.iter().find_map(|(key, v)| {
                let alone = Value::Object([(key.clone(), v.clone())].into_iter().collect());
                match serde_json::from_value::<T>(alone) {
                    Err(e) if !e.to_string().starts_with("missing field") => Some((key.clone(), e)),
                    _ => None,
                }
            })
        });
        match culprit {
            Some((key, e)) if e.to_string().starts_with("unknown field") => {
                AdminError::bad(format!("there is no setting '{key}' here: {}", in_words(&e)))
            }
            Some((key, e)) => AdminError::bad(format!("'{key}': {}", in_words(&e))),
            None => AdminError::bad(format!("the request body is not valid: {}", in_words(&whole))),
        }
    })
}

/// A serde error as a person reads it: no line and column, backticks as
/// quotes, and "expected one of" as the choice it is.
fn in_words(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let text = text.replace('`', "'");
    if let Some(rest) = text.strip_prefix("unknown variant ")
        && let Some((got, allowed)) = rest.split_once(", expected ")
    {
        let allowed = allowed.trim_start_matches("one of ");
        return format!("{got} is not one of the allowed values: {allowed}");
    }
    if let Some(rest) = text.strip_prefix("unknown field ")
        && let Some((_, allowed)) = rest.split_once(", expected ")
    {
        return format!("the known settings are {}", allowed.trim_start_matches("one of "));
    }
    let text = text.replace("invalid type: ", "").replace(", expected ", " where the setting takes ");
    // Rust's names for what a setting takes, in words.
    [
        ("u32", "a whole number"),
        ("u64", "a whole number"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("a sequence", "a list"),
        ("a boolean", "true or false"),
        ("string or map", "one of its named values, as text"),
        ("struct ", "an object "),
    ]
    .iter()
    .fold(text, |t, (rust, words)| t.replace(rust, words))
}

fn ok(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Find a configuration item by id or by name (ignoring case).
fn find<'a, T>(items: &'a [T], key: &str, id: impl Fn(&T) -> &str, name: impl Fn(&T) -> &str) -> Option<&'a T> {
    items.iter().find(|i| id(i) == key).or_else(|| items.iter().find(|i| name(i).eq_ignore_ascii_case(key)))
}

fn workspace_id(c: &TenantConfig, key: &str) -> Result<String, ScimError> {
    find(&c.workspaces, key, |w| &w.id, |w| &w.name)
        .map(|w| w.id.clone())
        .ok_or_else(|| ScimError::new(400, None, format!("there is no workspace '{key}'")))
}

fn role_id(c: &TenantConfig, key: &str) -> Result<String, ScimError> {
    find(&c.roles, key, |r| &r.id, |r| &r.name)
        .map(|r| r.id.clone())
        .ok_or_else(|| ScimError::new(400, None, format!("there is no role '{key}'")))
}

fn licence_id(c: &TenantConfig, key: &str) -> Result<String, ScimError> {
    find(&c.licence_types, key, |l| &l.id, |l| &l.name)
        .map(|l| l.id.clone())
        .ok_or_else(|| ScimError::new(400, None, format!("there is no licence type '{key}'")))
}

/// Change the tenant's configuration in one operation (see [`crate::service::admin`]).
async fn change(
    state: &AppState,
    tenant: &Tenant,
    f: impl Fn(&mut TenantConfig) -> Result<(), ScimError> + Send + Sync + 'static,
) -> Result<TenantConfig, AdminError> {
    change_with(state, tenant, f, Default::default()).await
}

/// [`change`], with options (a SCIM switch, forced seat limits).
async fn change_with(
    state: &AppState,
    tenant: &Tenant,
    f: impl Fn(&mut TenantConfig) -> Result<(), ScimError> + Send + Sync + 'static,
    options: crate::service::admin::ConfigOptions,
) -> Result<TenantConfig, AdminError> {
    let change = std::sync::Arc::new(move |c: &mut TenantConfig| f(c).map_err(Error::from));
    Ok(state.svc.change_config(tenant.id, change, options).await?.config)
}
