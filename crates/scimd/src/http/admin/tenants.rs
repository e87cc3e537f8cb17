//! The admin API's tenants and credentials: tenants made, listed, switched
//! on or off and deleted (operators), a tenant's SCIM tokens (made with an
//! expiry and shown once, listed with their use, revoked), and admin tokens
//! for operators or for one tenant's admins.

use super::{AdminCaller, AdminError, AdminResult, body, ok, views};
use crate::http::AppState;
use crate::service::tenants::{Expiry, token_status};
use crate::store::{AdminToken, Tenant, TokenInfo};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

fn tenant_json(s: &AppState, headers: &HeaderMap, t: &Tenant) -> Value {
    json!({
        "name": t.name,
        "scim_enabled": t.enabled,
        "created_at": t.created_at,
        "scim_base_url": crate::http::base_url(&s.config, headers, &t.name),
    })
}

#[derive(Deserialize)]
pub(super) struct PageParams {
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET /admin/v1/tenants`: by name, a page at a time (`{"data", "next"}`);
/// a tenant admin sees its own tenant alone.
pub(super) async fn list_tenants(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
    headers: HeaderMap,
    Query(p): Query<PageParams>,
) -> AdminResult {
    let limit = views::page_size(p.limit)?;
    let after = p.after.unwrap_or_default();
    let mut tenants = match &caller.tenant {
        Some((_, own)) => s.svc.tenant_by_name(own).await?.into_iter().filter(|t| t.name > after).collect(),
        None => s.svc.tenants_page(&after, limit + 1).await?,
    };
    let more = tenants.len() as i64 > limit;
    tenants.truncate(limit as usize);
    let next = if more { tenants.last().map(|t| t.name.clone()) } else { None };
    let data: Vec<Value> = tenants.iter().map(|t| tenant_json(&s, &headers, t)).collect();
    Ok(ok(StatusCode::OK, json!({"data": data, "next": next})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
}

/// `POST /admin/v1/tenants {"name"}` (operators): 201 with the tenant and its SCIM base URL.
pub(super) async fn create_tenant(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult {
    caller.operator_only("create tenants")?;
    let new: NewTenant = body(&bytes)?;
    crate::service::tenants::valid_tenant_name(&new.name).map_err(AdminError::bad)?;
    let tenant = s.svc.create_tenant(&new.name).await?;
    s.auth_cache.clear();
    Ok(ok(StatusCode::CREATED, tenant_json(&s, &headers, &tenant)))
}

/// `GET /admin/v1/tenants/{tenant}`: the tenant, with how many users,
/// groups and working SCIM tokens it has.
pub(super) async fn get_tenant(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
) -> AdminResult {
    let counts = s.svc.tenant_counts(t.id).await?;
    let mut v = tenant_json(&s, &headers, &t);
    v["users"] = json!(counts.users);
    v["groups"] = json!(counts.groups);
    v["active_tokens"] = json!(counts.active_tokens);
    Ok(ok(StatusCode::OK, v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantChange {
    scim_enabled: Option<bool>,
}

/// `PATCH /admin/v1/tenants/{tenant} {"scim_enabled"}`: switch SCIM on or off.
pub(super) async fn patch_tenant(
    State(s): State<AppState>,
    Extension(mut t): Extension<Tenant>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult {
    let change: TenantChange = body(&bytes)?;
    if let Some(enabled) = change.scim_enabled {
        s.svc.set_tenant_enabled(&t.name, enabled).await?;
        s.auth_cache.clear();
        t.enabled = enabled;
    }
    Ok(ok(StatusCode::OK, tenant_json(&s, &headers, &t)))
}

#[derive(Deserialize)]
struct Confirmation {
    name: Option<String>,
}

/// `DELETE /admin/v1/tenants/{tenant} {"name": "<the tenant's name>"}`
/// (operators): the tenant and everything it holds. The name is asked for
/// again so that no mistyped URL deletes a customer.
pub(super) async fn delete_tenant(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    caller.operator_only("delete tenants")?;
    let confirm: Confirmation = if bytes.is_empty() { Confirmation { name: None } } else { body(&bytes)? };
    if confirm.name.as_deref() != Some(t.name.as_str()) {
        return Err(AdminError::bad(format!(
            "deleting tenant '{0}' removes its users, groups, tokens, configuration, events, webhooks and audit \
             trail for good: send its name again in the body to confirm, {{\"name\": \"{0}\"}}",
            t.name
        )));
    }
    s.svc.delete_tenant(&t.name).await?;
    s.auth_cache.clear();
    s.forget_tenant_rate(t.id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- SCIM tokens

fn token_json(t: &TokenInfo, now: &str) -> Value {
    json!({
        "name": t.name,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
        "status": token_status(t.revoked_at.as_deref(), t.expires_at.as_deref(), now),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// The last day it works (`2027-06-30`) or the time it stops (ISO 8601).
    expires_at: Option<String>,
    expires_in_days: Option<u32>,
    /// Admin tokens only: the tenant it is limited to.
    tenant: Option<String>,
}

impl NewToken {
    fn expiry(&self) -> Result<Expiry, AdminError> {
        match (&self.expires_at, self.expires_in_days) {
            (Some(_), Some(_)) => Err(AdminError::bad("give 'expires_at' or 'expires_in_days', not both")),
            (Some(at), None) => Ok(Expiry::At(at.clone())),
            (None, Some(days)) => Ok(Expiry::InDays(days)),
            (None, None) => Ok(Expiry::Never),
        }
    }
}

/// `GET …/tokens`: the tenant's SCIM tokens with their use; never a token itself.
pub(super) async fn list_tokens(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    // Uses this process has not written yet are written first, so "last used" is current.
    s.token_uses.flush(&s.svc).await;
    let now = s.svc.now();
    let tokens = s.svc.tokens(t.id).await?;
    let data: Vec<Value> = tokens.iter().map(|k| token_json(k, &now)).collect();
    Ok(ok(StatusCode::OK, json!({"data": data})))
}

/// `POST …/tokens {"name", "expires_at"?}`: 201 with the token, shown this once.
pub(super) async fn create_token(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult {
    let new: NewToken = body(&bytes)?;
    if new.tenant.is_some() {
        return Err(AdminError::bad("there is no setting 'tenant' here: the tenant is the one in the URL"));
    }
    let (token, expires_at) = s.svc.create_token(&t.name, &new.name, &new.expiry()?).await?;
    s.auth_cache.clear();
    Ok(ok(
        StatusCode::CREATED,
        json!({
            "name": new.name,
            "token": token,
            "expires_at": expires_at,
            "scim_base_url": crate::http::base_url(&s.config, &headers, &t.name),
            "shown_once": true,
        }),
    ))
}

/// `DELETE …/tokens/{name}`: revoke it (it stays listed, as revoked; its name may be given again).
pub(super) async fn revoke_token(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, name)): Path<(String, String)>,
) -> AdminResult {
    s.svc.revoke_token(&t.name, &name).await.map_err(|e| match e {
        crate::service::Error::NotFound(_) => {
            AdminError::not_found(format!("tenant '{}' has no SCIM token named '{name}'", t.name))
        }
        other => other.into(),
    })?;
    s.auth_cache.clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- OAuth clients

fn client_json(c: &crate::store::OAuthClient) -> Value {
    json!({
        "name": c.name,
        "client_id": c.client_id,
        "created_at": c.created_at,
        "last_issued_at": c.last_issued_at,
        "last_used_at": c.last_used_at,
        "revoked_at": c.revoked_at,
        "status": if c.revoked_at.is_some() { "revoked" } else { "active" },
    })
}

/// The token endpoint as the identity provider reaches it.
fn token_endpoint(s: &AppState, headers: &HeaderMap) -> String {
    format!("{}/oauth/token", crate::http::public_root(&s.config, headers))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
}

/// `POST …/oauth-clients {"name"}`: 201 with `client_id` and `client_secret` (shown this once).
pub(super) async fn create_oauth_client(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult {
    let new: NewClient = body(&bytes)?;
    let made = s.svc.create_oauth_client(&t.name, &new.name).await?;
    Ok(ok(
        StatusCode::CREATED,
        json!({
            "name": new.name,
            "client_id": made.client_id,
            "client_secret": made.client_secret,
            "token_endpoint": token_endpoint(&s, &headers),
            "scim_base_url": crate::http::base_url(&s.config, &headers, &t.name),
            "access_token_lifetime_secs": s.config.oauth_token_lifetime.as_secs(),
            "shown_once": true,
        }),
    ))
}

/// `GET …/oauth-clients`: the tenant's clients with their use; never a secret.
pub(super) async fn list_oauth_clients(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
) -> AdminResult {
    s.token_uses.flush(&s.svc).await;
    let clients = s.svc.oauth_clients(t.id).await?;
    let data: Vec<Value> = clients.iter().map(client_json).collect();
    Ok(ok(StatusCode::OK, json!({"data": data, "token_endpoint": token_endpoint(&s, &headers)})))
}

/// `DELETE …/oauth-clients/{name or client_id}`: revoke it and every access token it was given.
pub(super) async fn revoke_oauth_client(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, key)): Path<(String, String)>,
) -> AdminResult {
    s.svc.revoke_oauth_client(&t.name, &key).await?;
    s.auth_cache.clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- admin tokens

fn admin_token_json(t: &AdminToken, now: &str) -> Value {
    json!({
        "name": t.name,
        "tenant": t.tenant.as_ref().map(|(_, name)| name),
        "kind": if t.tenant.is_some() { "tenant_admin" } else { "operator" },
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
        "status": token_status(t.revoked_at.as_deref(), t.expires_at.as_deref(), now),
    })
}

/// `GET /admin/v1/admin-tokens`: every admin token for an operator; a
/// tenant admin's own tenant's for a tenant admin.
pub(super) async fn list_admin_tokens(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
) -> AdminResult {
    s.admin_token_uses.flush(&s.svc).await;
    let now = s.svc.now();
    let tokens = s.svc.admin_tokens(caller.tenant.as_ref().map(|(id, _)| *id)).await?;
    let data: Vec<Value> = tokens.iter().map(|k| admin_token_json(k, &now)).collect();
    Ok(ok(StatusCode::OK, json!({"data": data})))
}

/// `POST /admin/v1/admin-tokens {"name", "tenant"?, "expires_at"?}`: an
/// operator token (operators alone make them) or a tenant admin's; shown once.
pub(super) async fn create_admin_token(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
    bytes: Bytes,
) -> AdminResult {
    let new: NewToken = body(&bytes)?;
    let tenant = match (&caller.tenant, &new.tenant) {
        (None, t) => t.clone(),
        (Some((_, own)), None) => Some(own.clone()),
        (Some((_, own)), Some(asked)) if asked == own => Some(own.clone()),
        (Some((_, own)), Some(_)) => {
            return Err(AdminError::new(
                403,
                "forbidden",
                format!("this token reaches tenant '{own}' only: it can make admin tokens for '{own}' alone"),
            ));
        }
    };
    let (token, expires_at) = s.svc.create_admin_token(&new.name, tenant.as_deref(), &new.expiry()?).await?;
    Ok(ok(
        StatusCode::CREATED,
        json!({
            "name": new.name,
            "tenant": tenant,
            "kind": if tenant.is_some() { "tenant_admin" } else { "operator" },
            "token": token,
            "expires_at": expires_at,
            "shown_once": true,
        }),
    ))
}

#[derive(Deserialize)]
pub(super) struct RevokeParams {
    tenant: Option<String>,
}

/// `DELETE /admin/v1/admin-tokens/{name}[?tenant=T]`: revoke an operator
/// token, or with `tenant` a tenant admin's (a tenant admin's own tenant is implied).
pub(super) async fn revoke_admin_token(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
    Path(name): Path<String>,
    Query(p): Query<RevokeParams>,
) -> AdminResult {
    let tenant = match (&caller.tenant, p.tenant) {
        (None, t) => t,
        (Some((_, own)), None) => Some(own.clone()),
        (Some((_, own)), Some(asked)) if &asked == own => Some(asked),
        // Another tenant's tokens are not there for this caller.
        (Some((_, _)), Some(asked)) => return Err(AdminError::not_found(format!("there is no tenant '{asked}'"))),
    };
    s.svc.revoke_admin_token(&name, tenant.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- portal links

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortalLinkBody {
    /// Where the console's "back" link takes the customer's admin (the product's settings page).
    return_url: Option<String>,
}

/// `POST …/portal-links {"return_url"?}` (operators: the product's
/// backend): a single-use console link for this tenant, valid five minutes.
pub(super) async fn create_portal_link(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult {
    caller.operator_only("make portal links")?;
    let b: PortalLinkBody = if bytes.is_empty() { PortalLinkBody { return_url: None } } else { body(&bytes)? };
    if let Some(url) = &b.return_url {
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !web || url.len() > 2000 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(AdminError::bad(format!(
                "'return_url' must be an http or https URL (the product page the console links back to), not '{url}'"
            )));
        }
    }
    let (code, expires_at) = s.svc.create_portal_link(&t.name, b.return_url.as_deref()).await?;
    let url = format!("{}/console/portal/{code}", crate::http::public_root(&s.config, &headers));
    Ok(ok(StatusCode::CREATED, json!({"url": url, "expires_at": expires_at, "tenant": t.name})))
}
