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
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// A tenant.
#[derive(Serialize, ToSchema)]
pub(super) struct TenantOut {
    #[schema(example = "acme")]
    name: String,
    /// Whether its SCIM endpoint takes requests.
    scim_enabled: bool,
    created_at: String,
    /// The SCIM base URL to paste into the identity provider.
    scim_base_url: String,
    /// Every base URL the server serves this tenant at (`scim_base_url`
    /// first): the forms `--scim-path-prefix` and `--tenant-from-host` add.
    scim_base_urls: Vec<crate::http::base::BaseUrlForm>,
}

fn tenant_json(s: &AppState, headers: &HeaderMap, t: &Tenant) -> TenantOut {
    TenantOut {
        name: t.name.clone(),
        scim_enabled: t.enabled,
        created_at: t.created_at.clone(),
        scim_base_url: crate::http::base_url(&s.config, headers, &t.name),
        scim_base_urls: crate::http::base::base_urls(&s.config, headers, &t.name),
    }
}

/// A tenant with what it holds.
#[derive(Serialize, ToSchema)]
pub(super) struct TenantDetail {
    #[serde(flatten)]
    tenant: TenantOut,
    users: i64,
    groups: i64,
    /// SCIM tokens neither revoked nor expired.
    active_tokens: i64,
}

/// A page of tenants, by name.
#[derive(Serialize, ToSchema)]
pub(super) struct TenantPage {
    data: Vec<TenantOut>,
    /// The name to pass as `after` for the next page; `null` on the last.
    #[schema(required)]
    next: Option<String>,
}

/// `?after=&limit=` of a page of tenants.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct PageParams {
    /// The `next` of the previous page (a tenant's name).
    after: Option<String>,
    /// 1 to 1,000; 100 unless given.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// `GET /admin/v1/tenants`: by name, a page at a time (`{"data", "next"}`);
/// a tenant admin sees its own tenant alone.
#[utoipa::path(get, path = "/admin/v1/tenants", tag = "tenants", params(PageParams),
    responses((status = 200, description = "Tenants by name (a tenant admin: its own)", body = TenantPage)))]
pub(super) async fn list_tenants(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> AdminResult {
    let limit = views::limit_of(&p)?;
    let after = p.get("after").cloned().unwrap_or_default();
    let mut tenants = match &caller.tenant {
        Some((_, own)) => s.svc.tenant_by_name(own).await?.into_iter().filter(|t| t.name > after).collect(),
        None => s.svc.tenants_page(&after, limit + 1).await?,
    };
    let more = tenants.len() as i64 > limit;
    tenants.truncate(limit as usize);
    let next = if more { tenants.last().map(|t| t.name.clone()) } else { None };
    let data = tenants.iter().map(|t| tenant_json(&s, &headers, t)).collect();
    Ok(ok(StatusCode::OK, json!(TenantPage { data, next })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTenant {
    /// 1 to 63 lower-case letters, digits and `-` (not first): it is part of the SCIM base URL.
    #[schema(example = "globex", pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    name: String,
}

/// `POST /admin/v1/tenants {"name"}` (operators): 201 with the tenant and its SCIM base URL.
#[utoipa::path(post, path = "/admin/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, description = "The tenant", body = TenantOut),
        (status = 403, description = "not an operator token"), (status = 409, description = "the name is taken")))]
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
    Ok(ok(StatusCode::CREATED, json!(tenant_json(&s, &headers, &tenant))))
}

/// `GET /admin/v1/tenants/{tenant}`: the tenant, with how many users,
/// groups and working SCIM tokens it has.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}", tag = "tenants",
    responses((status = 200, description = "The tenant and its counts", body = TenantDetail)))]
pub(super) async fn get_tenant(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
) -> AdminResult {
    let counts = s.svc.tenant_counts(t.id).await?;
    let detail = TenantDetail {
        tenant: tenant_json(&s, &headers, &t),
        users: counts.users,
        groups: counts.groups,
        active_tokens: counts.active_tokens,
    };
    Ok(ok(StatusCode::OK, json!(detail)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantChange {
    /// Off: every SCIM request is refused with 403 (and told to the product).
    scim_enabled: Option<bool>,
}

/// `PATCH /admin/v1/tenants/{tenant} {"scim_enabled"}`: switch SCIM on or off.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}", tag = "tenants", request_body = TenantChange,
    responses((status = 200, description = "The tenant", body = TenantOut)))]
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
    Ok(ok(StatusCode::OK, json!(tenant_json(&s, &headers, &t))))
}

/// The tenant's name again, so that no mistyped URL deletes a customer.
#[derive(Deserialize, ToSchema)]
pub(super) struct Confirmation {
    name: Option<String>,
}

/// `DELETE /admin/v1/tenants/{tenant} {"name": "<the tenant's name>"}`
/// (operators): the tenant and everything it holds. The name is asked for
/// again so that no mistyped URL deletes a customer.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}", tag = "tenants", request_body = Confirmation,
    responses((status = 204, description = "The tenant and everything it held are gone"),
        (status = 403, description = "not an operator token")))]
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

/// A SCIM token as listed: never the token itself.
#[derive(Serialize, ToSchema)]
pub(super) struct TokenOut {
    name: String,
    created_at: String,
    #[schema(required)]
    expires_at: Option<String>,
    #[schema(required)]
    last_used_at: Option<String>,
    #[schema(required)]
    revoked_at: Option<String>,
    status: TokenStatus,
}

/// Whether a token works.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

fn status_of(revoked_at: Option<&str>, expires_at: Option<&str>, now: &str) -> TokenStatus {
    match token_status(revoked_at, expires_at, now) {
        "revoked" => TokenStatus::Revoked,
        "expired" => TokenStatus::Expired,
        _ => TokenStatus::Active,
    }
}

fn token_json(t: &TokenInfo, now: &str) -> TokenOut {
    TokenOut {
        name: t.name.clone(),
        created_at: t.created_at.clone(),
        expires_at: t.expires_at.clone(),
        last_used_at: t.last_used_at.clone(),
        revoked_at: t.revoked_at.clone(),
        status: status_of(t.revoked_at.as_deref(), t.expires_at.as_deref(), now),
    }
}

/// A tenant's SCIM tokens.
#[derive(Serialize, ToSchema)]
pub(super) struct TokenList {
    data: Vec<TokenOut>,
}

/// A SCIM token to make: `expires_at` or `expires_in_days` (at most ten years), or neither (it never expires).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct NewScimToken {
    /// Shown in lists and in the audit trail; unique among the tenant's working tokens.
    #[schema(min_length = 1, max_length = 64, example = "okta")]
    name: String,
    /// The last day it works (`2027-06-30`) or the time it stops (ISO 8601).
    expires_at: Option<String>,
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
}

/// An admin token to make: an operator's (no `tenant`) or one tenant's admin's.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewAdminToken)]
pub(super) struct NewToken {
    #[schema(min_length = 1, max_length = 64, example = "console")]
    name: String,
    /// The last day it works (`2027-06-30`) or the time it stops (ISO 8601).
    expires_at: Option<String>,
    /// Days from now it works (at most ten years).
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
    /// The tenant it is limited to; none: an operator token (operators alone make them).
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
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/tokens", tag = "credentials",
    responses((status = 200, description = "The tenant's SCIM tokens", body = TokenList)))]
pub(super) async fn list_tokens(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    // Uses this process has not written yet are written first, so "last used" is current.
    s.token_uses.flush(&s.svc).await;
    let now = s.svc.now();
    let tokens = s.svc.tokens(t.id).await?;
    let data = tokens.iter().map(|k| token_json(k, &now)).collect();
    Ok(ok(StatusCode::OK, json!(TokenList { data })))
}

/// A token just made: `token` is shown this once.
#[derive(Serialize, ToSchema)]
pub(super) struct CreatedToken {
    name: String,
    token: String,
    #[schema(required)]
    expires_at: Option<String>,
    scim_base_url: String,
    /// Every base URL the token works at (`scim_base_url` first).
    scim_base_urls: Vec<crate::http::base::BaseUrlForm>,
    shown_once: bool,
}

/// `POST …/tokens {"name", "expires_at"?}`: 201 with the token, shown this once.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/tokens", tag = "credentials", request_body = NewScimToken,
    responses((status = 201, description = "The token, shown this once", body = CreatedToken),
        (status = 409, description = "a working token has that name")))]
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
    let created = CreatedToken {
        name: new.name,
        token,
        expires_at,
        scim_base_url: crate::http::base_url(&s.config, &headers, &t.name),
        scim_base_urls: crate::http::base::base_urls(&s.config, &headers, &t.name),
        shown_once: true,
    };
    Ok(ok(StatusCode::CREATED, json!(created)))
}

/// `DELETE …/tokens/{name}`: revoke it (it stays listed, as revoked; its name may be given again).
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/tokens/{name}", tag = "credentials",
    responses((status = 204, description = "Revoked")))]
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

/// An OAuth client as listed: never its secret.
#[derive(Serialize, ToSchema)]
pub(super) struct ClientOut {
    name: String,
    client_id: String,
    created_at: String,
    /// When it was last given an access token.
    #[schema(required)]
    last_issued_at: Option<String>,
    /// When one of its access tokens was last used.
    #[schema(required)]
    last_used_at: Option<String>,
    #[schema(required)]
    revoked_at: Option<String>,
    status: ClientStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ClientStatus {
    Active,
    Revoked,
}

fn client_json(c: &crate::store::OAuthClient) -> ClientOut {
    ClientOut {
        name: c.name.clone(),
        client_id: c.client_id.clone(),
        created_at: c.created_at.clone(),
        last_issued_at: c.last_issued_at.clone(),
        last_used_at: c.last_used_at.clone(),
        revoked_at: c.revoked_at.clone(),
        status: if c.revoked_at.is_some() { ClientStatus::Revoked } else { ClientStatus::Active },
    }
}

/// A tenant's OAuth clients, and where they get access tokens.
#[derive(Serialize, ToSchema)]
pub(super) struct ClientList {
    data: Vec<ClientOut>,
    token_endpoint: String,
}

/// A client just made: `client_secret` is shown this once.
#[derive(Serialize, ToSchema)]
pub(super) struct CreatedClient {
    name: String,
    client_id: String,
    client_secret: String,
    token_endpoint: String,
    scim_base_url: String,
    /// Every base URL its access tokens work at (`scim_base_url` first).
    scim_base_urls: Vec<crate::http::base::BaseUrlForm>,
    access_token_lifetime_secs: u64,
    shown_once: bool,
}

/// The token endpoint as the identity provider reaches it.
fn token_endpoint(s: &AppState, headers: &HeaderMap) -> String {
    format!("{}/oauth/token", crate::http::public_root(&s.config, headers))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewClient {
    #[schema(example = "entra")]
    name: String,
}

/// `POST …/oauth-clients {"name"}`: 201 with `client_id` and `client_secret` (shown this once).
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/oauth-clients", tag = "credentials", request_body = NewClient,
    responses((status = 201, description = "The client, its secret shown this once", body = CreatedClient),
        (status = 409, description = "a working client has that name")))]
pub(super) async fn create_oauth_client(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult {
    let new: NewClient = body(&bytes)?;
    let made = s.svc.create_oauth_client(&t.name, &new.name).await?;
    let created = CreatedClient {
        name: new.name,
        client_id: made.client_id,
        client_secret: made.client_secret,
        token_endpoint: token_endpoint(&s, &headers),
        scim_base_url: crate::http::base_url(&s.config, &headers, &t.name),
        scim_base_urls: crate::http::base::base_urls(&s.config, &headers, &t.name),
        access_token_lifetime_secs: s.config.oauth_token_lifetime.as_secs(),
        shown_once: true,
    };
    Ok(ok(StatusCode::CREATED, json!(created)))
}

/// `GET …/oauth-clients`: the tenant's clients with their use; never a secret.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/oauth-clients", tag = "credentials",
    responses((status = 200, description = "The tenant's OAuth clients", body = ClientList)))]
pub(super) async fn list_oauth_clients(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    headers: HeaderMap,
) -> AdminResult {
    s.token_uses.flush(&s.svc).await;
    let clients = s.svc.oauth_clients(t.id).await?;
    let data = clients.iter().map(client_json).collect();
    Ok(ok(StatusCode::OK, json!(ClientList { data, token_endpoint: token_endpoint(&s, &headers) })))
}

/// `DELETE …/oauth-clients/{name or client_id}`: revoke it and every access token it was given.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/oauth-clients/{client}", tag = "credentials",
    responses((status = 204, description = "Revoked, with every access token it was given")))]
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

/// Whom an admin token is for.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum TokenKind {
    /// Every tenant.
    Operator,
    /// One tenant.
    TenantAdmin,
}

fn kind_of(tenant: Option<&str>) -> TokenKind {
    if tenant.is_some() { TokenKind::TenantAdmin } else { TokenKind::Operator }
}

/// An admin token as listed: never the token itself.
#[derive(Serialize, ToSchema)]
pub(super) struct AdminTokenOut {
    name: String,
    /// The tenant it is limited to; `null`: an operator token.
    #[schema(required)]
    tenant: Option<String>,
    kind: TokenKind,
    created_at: String,
    #[schema(required)]
    expires_at: Option<String>,
    #[schema(required)]
    last_used_at: Option<String>,
    #[schema(required)]
    revoked_at: Option<String>,
    status: TokenStatus,
}

fn admin_token_json(t: &AdminToken, now: &str) -> AdminTokenOut {
    let tenant = t.tenant.as_ref().map(|(_, name)| name.clone());
    AdminTokenOut {
        name: t.name.clone(),
        kind: kind_of(tenant.as_deref()),
        tenant,
        created_at: t.created_at.clone(),
        expires_at: t.expires_at.clone(),
        last_used_at: t.last_used_at.clone(),
        revoked_at: t.revoked_at.clone(),
        status: status_of(t.revoked_at.as_deref(), t.expires_at.as_deref(), now),
    }
}

/// Admin tokens.
#[derive(Serialize, ToSchema)]
pub(super) struct AdminTokenList {
    data: Vec<AdminTokenOut>,
}

/// An admin token just made: `token` is shown this once.
#[derive(Serialize, ToSchema)]
pub(super) struct CreatedAdminToken {
    name: String,
    #[schema(required)]
    tenant: Option<String>,
    kind: TokenKind,
    token: String,
    #[schema(required)]
    expires_at: Option<String>,
    shown_once: bool,
}

/// `GET /admin/v1/admin-tokens`: every admin token for an operator; a
/// tenant admin's own tenant's for a tenant admin.
#[utoipa::path(get, path = "/admin/v1/admin-tokens", tag = "credentials",
    responses((status = 200, description = "Admin tokens (a tenant admin: its tenant's)", body = AdminTokenList)))]
pub(super) async fn list_admin_tokens(
    State(s): State<AppState>,
    Extension(caller): Extension<AdminCaller>,
) -> AdminResult {
    s.admin_token_uses.flush(&s.svc).await;
    let now = s.svc.now();
    let tokens = s.svc.admin_tokens(caller.tenant.as_ref().map(|(id, _)| *id)).await?;
    let data = tokens.iter().map(|k| admin_token_json(k, &now)).collect();
    Ok(ok(StatusCode::OK, json!(AdminTokenList { data })))
}

/// `POST /admin/v1/admin-tokens {"name", "tenant"?, "expires_at"?}`: an
/// operator token (operators alone make them) or a tenant admin's; shown once.
#[utoipa::path(post, path = "/admin/v1/admin-tokens", tag = "credentials", request_body = NewToken,
    responses((status = 201, description = "The token, shown this once", body = CreatedAdminToken),
        (status = 403, description = "a tenant admin asked for an operator token or another tenant's"),
        (status = 404, description = "no such tenant"), (status = 409, description = "a working token has that name")))]
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
                super::Code::Forbidden,
                format!("this token reaches tenant '{own}' only: it can make admin tokens for '{own}' alone"),
            ));
        }
    };
    let (token, expires_at) = s.svc.create_admin_token(&new.name, tenant.as_deref(), &new.expiry()?).await?;
    let created = CreatedAdminToken {
        name: new.name,
        kind: kind_of(tenant.as_deref()),
        tenant,
        token,
        expires_at,
        shown_once: true,
    };
    Ok(ok(StatusCode::CREATED, json!(created)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RevokeParams {
    /// The tenant of a tenant admin's token; none: an operator token (a tenant admin's own tenant is implied).
    tenant: Option<String>,
}

/// `DELETE /admin/v1/admin-tokens/{name}[?tenant=T]`: revoke an operator
/// token, or with `tenant` a tenant admin's (a tenant admin's own tenant is implied).
#[utoipa::path(delete, path = "/admin/v1/admin-tokens/{name}", tag = "credentials", params(RevokeParams),
    responses((status = 204, description = "Revoked")))]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PortalLinkBody {
    /// Where the console's "back" link takes the customer's admin (the product's settings page).
    return_url: Option<String>,
}

/// `POST …/portal-links {"return_url"?}` (operators: the product's
/// backend): a single-use console link for this tenant, valid five minutes.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/portal-links", tag = "tenants", request_body = PortalLinkBody,
    responses((status = 201, description = "A console link for this tenant, single use, valid five minutes",
        body = PortalLink), (status = 403, description = "not an operator token")))]
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
    Ok(ok(StatusCode::CREATED, json!(PortalLink { url, expires_at, tenant: t.name })))
}

/// A portal link: open `url` to start a console session scoped to the tenant.
#[derive(Serialize, ToSchema)]
pub(super) struct PortalLink {
    url: String,
    expires_at: String,
    tenant: String,
}
