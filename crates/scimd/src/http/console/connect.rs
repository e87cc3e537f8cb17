//! Connecting an identity provider (the tenant's first screen): the provider,
//! the base URL to paste, the default access chosen before the first token,
//! a token or OAuth client shown once, that provider's steps, and whether
//! requests have arrived; and the tenant's credentials with their use.

use super::{Form, Here, Layout, done, failure, html};
use crate::service::tenants::{Expiry, token_status};
use crate::store::audit::AuditQuery;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use scim_core::policy::{OnCreate, TenantConfig};
use std::collections::HashMap;
use std::sync::Arc;

/// The last SCIM request, as the status line shows it.
struct LastRequest {
    time: String,
    method: String,
    route: String,
    status: u16,
    detail: Option<String>,
}

#[derive(Template)]
#[template(path = "console/connect.html")]
struct ConnectPage {
    l: Layout,
    tenant: String,
    idp: String,
    base_url: String,
    /// The other base URLs of the tenant, and what each takes the tenant from.
    other_urls: Vec<(String, &'static str)>,
    token_endpoint: String,
    scim_enabled: bool,
    last: Option<LastRequest>,
    shown: Option<(String, String)>,
    /// Roles a new user may get by default: (id, name).
    roles: Vec<(String, String)>,
    workspace: Option<String>,
    default_role: Option<String>,
    active_tokens: i64,
    today: String,
    latest: String,
}

/// The workspace a default role is given in: the policy's, or the first.
fn default_workspace(c: &TenantConfig) -> Option<(String, String)> {
    let id = c.policy.default_workspace_id.clone().or_else(|| c.workspaces.first().map(|w| w.id.clone()))?;
    c.workspace(&id).map(|w| (w.id.clone(), w.name.clone()))
}

/// The newest request the trail knows of: a row, or a minute's count of
/// reads (an identity provider's connection test is often a GET alone).
fn last_request(
    row: Option<crate::store::audit::StoredAudit>,
    read: Option<crate::store::audit::StoredReads>,
) -> Option<LastRequest> {
    let row_minute = row.as_ref().map(|r| r.row.at.get(..16).unwrap_or(&r.row.at).to_string());
    match read {
        Some(read) if row_minute.is_none_or(|minute| read.key.minute > minute) => Some(LastRequest {
            time: format!("{} (minute)", read.key.minute),
            method: read.key.method,
            route: read.key.route,
            status: read.key.status,
            detail: None,
        }),
        _ => row.map(|r| LastRequest {
            time: r.row.at,
            method: r.row.method,
            route: r.row.route,
            status: r.row.status,
            detail: r.row.detail,
        }),
    }
}

pub(super) async fn page(
    Here { s, caller, t }: Here,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let idp = match q.get("idp").map(String::as_str) {
        Some("entra") => "entra",
        Some("other") => "other",
        _ => "okta",
    };
    let latest = AuditQuery { limit: 1, ..Default::default() };
    let (config, counts, last, last_read) = match tokio::try_join!(
        s.svc.tenant_config(t.id),
        s.svc.tenant_counts(t.id),
        s.svc.audit_page(t.id, &latest),
        s.svc.audit_reads(t.id, None, 1),
    ) {
        Ok(all) => all,
        Err(e) => return failure(e),
    };
    let ceiling = config.policy.max_default_rank;
    let roles = config
        .roles
        .iter()
        .filter(|r| r.provisionable && ceiling.is_none_or(|max| r.rank <= max))
        .map(|r| (r.id.clone(), r.name.clone()))
        .collect();
    let granting = config.policy.on_create == OnCreate::GrantDefault;
    let secs = s.svc.clock().since_epoch().as_secs();
    let day = |offset: u64| {
        scim_core::datetime::format_millis(i64::try_from(secs + offset).unwrap_or(0), 0)[..10].to_string()
    };
    let page = ConnectPage {
        l: caller.layout("Connect an identity provider", Some(&t), "connect"),
        tenant: t.name.clone(),
        idp: idp.to_string(),
        base_url: crate::http::base_url(&s.config, &headers, &t.name),
        other_urls: crate::http::base::base_urls(&s.config, &headers, &t.name)
            .into_iter()
            .skip(1)
            .map(|f| (f.url, f.tenant_from.describe()))
            .collect(),
        token_endpoint: format!("{}/oauth/token", crate::http::public_root(&s.config, &headers)),
        scim_enabled: t.enabled,
        last: last_request(last.into_iter().next(), last_read.into_iter().next()),
        shown: caller.shown_once(),
        roles,
        workspace: default_workspace(&config).map(|(_, name)| name),
        default_role: config.policy.default_role_id.clone().filter(|_| granting),
        active_tokens: counts.active_tokens,
        today: day(86_400),
        latest: day(u64::from(crate::service::tenants::MAX_TOKEN_DAYS) * 86_400),
    };
    html(StatusCode::OK, &page)
}

/// Generate a token, after saving what a new user gets by default.
pub(super) async fn create_token(Here { s, caller, t }: Here, form: Form) -> Response {
    let name = form.get("name").unwrap_or("okta").to_string();
    let expiry = form.get("expires_at").map_or(Expiry::Never, |d| Expiry::At(d.to_string()));
    if let Some(choice) = form.get("default_access") {
        let choice = choice.to_string();
        let change = Arc::new(move |c: &mut TenantConfig| -> Result<(), crate::service::Error> {
            if choice == "none" {
                c.policy.on_create = OnCreate::NoAccess;
                return Ok(());
            }
            let Some((workspace, _)) = default_workspace(c) else {
                return Err(
                    scim_core::ScimError::new(400, None, "the tenant has no workspace to give a role in").into()
                );
            };
            if c.role(&choice).is_none() {
                return Err(scim_core::ScimError::new(400, None, "that role no longer exists").into());
            }
            c.policy.on_create = OnCreate::GrantDefault;
            c.policy.default_role_id = Some(choice.clone());
            c.policy.default_workspace_id = Some(workspace);
            Ok(())
        });
        if let Err(e) = s.svc.change_config(t.id, change, Default::default()).await {
            return failure(e);
        }
    }
    match s.svc.create_token(&t.name, &name, &expiry).await {
        Ok((token, expires_at)) => {
            s.auth_cache.clear();
            let until = expires_at.map_or("it does not expire".to_string(), |at| format!("it expires at {at}"));
            let idp = form.get("idp").unwrap_or("okta").to_string();
            done(
                &caller,
                &format!("/console/t/{}?idp={idp}", t.name),
                &format!("Token '{name}' generated; {until}."),
                Some((&format!("The new token '{name}'"), &token)),
            )
        }
        Err(e) => failure(e),
    }
}

pub(super) async fn create_client(Here { s, caller, t }: Here, form: Form) -> Response {
    let name = form.get("name").unwrap_or("oauth").to_string();
    match s.svc.create_oauth_client(&t.name, &name).await {
        Ok(made) => done(
            &caller,
            &format!("/console/t/{}/credentials", t.name),
            &format!("OAuth client '{name}' created: its client id is {}.", made.client_id),
            Some((&format!("The client secret of '{name}' ({})", made.client_id), &made.client_secret)),
        ),
        Err(e) => failure(e),
    }
}

pub(super) async fn revoke_token(
    Here { s, caller, t }: Here,
    Path((_, name)): Path<(String, String)>,
    _form: Form,
) -> Response {
    if let Err(e) = s.svc.revoke_token(&t.name, &name).await {
        return failure(e);
    }
    s.auth_cache.clear();
    done(&caller, &format!("/console/t/{}/credentials", t.name), &format!("Token '{name}' revoked."), None)
}

pub(super) async fn revoke_client(
    Here { s, caller, t }: Here,
    Path((_, name)): Path<(String, String)>,
    _form: Form,
) -> Response {
    if let Err(e) = s.svc.revoke_oauth_client(&t.name, &name).await {
        return failure(e);
    }
    s.auth_cache.clear();
    done(&caller, &format!("/console/t/{}/credentials", t.name), &format!("OAuth client '{name}' revoked."), None)
}

struct TokenRow {
    name: String,
    status: &'static str,
    created_at: String,
    expires_at: String,
    last_used_at: String,
}

struct ClientRow {
    name: String,
    client_id: String,
    status: &'static str,
    last_issued_at: String,
    last_used_at: String,
}

#[derive(Template)]
#[template(path = "console/credentials.html")]
struct CredentialsPage {
    l: Layout,
    tenant: String,
    shown: Option<(String, String)>,
    tokens: Vec<TokenRow>,
    clients: Vec<ClientRow>,
}

pub(super) async fn credentials(Here { s, caller, t }: Here) -> Response {
    s.token_uses.flush(&s.svc).await;
    let (tokens, clients) = match tokio::try_join!(s.svc.tokens(t.id), s.svc.oauth_clients(t.id)) {
        Ok(both) => both,
        Err(e) => return failure(e),
    };
    let now = s.svc.now();
    let never = |v: Option<String>| v.unwrap_or_else(|| "never".to_string());
    let page = CredentialsPage {
        l: caller.layout("Credentials", Some(&t), "credentials"),
        tenant: t.name.clone(),
        shown: caller.shown_once(),
        tokens: tokens
            .into_iter()
            .map(|k| TokenRow {
                status: token_status(k.revoked_at.as_deref(), k.expires_at.as_deref(), &now),
                name: k.name,
                created_at: k.created_at,
                expires_at: never(k.expires_at),
                last_used_at: never(k.last_used_at),
            })
            .collect(),
        clients: clients
            .into_iter()
            .map(|c| ClientRow {
                status: if c.revoked_at.is_some() { "revoked" } else { "active" },
                name: c.name,
                client_id: c.client_id,
                last_issued_at: never(c.last_issued_at),
                last_used_at: never(c.last_used_at),
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}
