//! Policy: the tenant's lifecycle choices, domains, seats behaviour and SCIM
//! switch; each workspace's own choices; re-apply, with its dry run shown first.

use super::{Caller, Form, Here, Layout, done, failure, html, message};
use crate::http::AppState;
use crate::service::admin::ConfigOptions;
use crate::store::Tenant;
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use scim_core::policy::{
    OnCreate, OnDeactivate, OnDelete, Role, SeatsExhausted, TenantConfig, UnknownAttributes, Workspace,
};
use std::sync::Arc;

struct WorkspaceRow {
    id: String,
    name: String,
    on_create: String,
    default_role: String,
    on_deactivate: String,
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    l: Layout,
    tenant: String,
    scim_enabled: bool,
    on_create: String,
    default_role: Option<String>,
    default_workspace: Option<String>,
    max_default_rank: String,
    on_deactivate: String,
    on_delete: String,
    seats_exhausted: String,
    unknown_attributes: String,
    allowed_domains: String,
    roles: Vec<Role>,
    workspaces: Vec<Workspace>,
    workspace_rows: Vec<WorkspaceRow>,
    reconciling: Option<(usize, usize)>,
    preview: Option<Vec<String>>,
}

/// An enum's name as the configuration writes it (`grant_default`).
fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn choice<T: serde::de::DeserializeOwned>(form: &Form, key: &str) -> Option<T> {
    form.get(key).and_then(|v| serde_json::from_value(serde_json::Value::String(v.to_string())).ok())
}

fn render(s: &AppState, caller: &Caller, t: &Tenant, c: &TenantConfig, preview: Option<Vec<String>>) -> Response {
    let p = &c.policy;
    let page = PolicyPage {
        l: caller.layout("Policy", Some(t), "policy"),
        tenant: t.name.clone(),
        scim_enabled: t.enabled,
        on_create: word(&p.on_create),
        default_role: p.default_role_id.clone(),
        default_workspace: p.default_workspace_id.clone(),
        max_default_rank: p.max_default_rank.map(|r| r.to_string()).unwrap_or_default(),
        on_deactivate: word(&p.on_deactivate),
        on_delete: word(&p.on_delete),
        seats_exhausted: word(&p.seats_exhausted),
        unknown_attributes: word(&p.unknown_attributes),
        allowed_domains: p.allowed_domains.join("\n"),
        roles: c.roles.iter().filter(|r| r.provisionable).cloned().collect(),
        workspaces: c.workspaces.clone(),
        workspace_rows: c
            .workspaces
            .iter()
            .map(|w| WorkspaceRow {
                id: w.id.clone(),
                name: w.name.clone(),
                on_create: w.lifecycle.on_create.as_ref().map(word).unwrap_or_default(),
                default_role: w.lifecycle.default_role_id.clone().unwrap_or_default(),
                on_deactivate: w.lifecycle.on_deactivate.as_ref().map(word).unwrap_or_default(),
            })
            .collect(),
        reconciling: s.svc.reconciling(t.id),
        preview,
    };
    html(StatusCode::OK, &page)
}

pub(super) async fn page(Here { s, caller, t }: Here) -> Response {
    match s.svc.tenant_config(t.id).await {
        Ok(c) => render(&s, &caller, &t, &c, None),
        Err(e) => failure(e),
    }
}

pub(super) async fn save(Here { s, caller, t }: Here, form: Form) -> Response {
    let on_create: Option<OnCreate> = choice(&form, "on_create");
    let on_deactivate: Option<OnDeactivate> = choice(&form, "on_deactivate");
    let on_delete: Option<OnDelete> = choice(&form, "on_delete");
    let seats: Option<SeatsExhausted> = choice(&form, "seats_exhausted");
    let unknown: Option<UnknownAttributes> = choice(&form, "unknown_attributes");
    let max_rank = match form.get("max_default_rank").map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => {
            let back = format!("/console/t/{}/policy", t.name);
            return message(
                StatusCode::BAD_REQUEST,
                "Not saved",
                "The highest default rank is a whole number of 0 or more, or empty.",
                Some((&back, "Back to the policy")),
            );
        }
    };
    let default_role = form.get("default_role").map(str::to_string);
    let default_workspace = form.get("default_workspace").map(str::to_string);
    let domains: Vec<String> = form
        .get("allowed_domains")
        .unwrap_or_default()
        .split(['\n', ',', ' '])
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    let scim_enabled = form.get("scim_enabled").map(|v| v == "on");
    let change = Arc::new(move |c: &mut TenantConfig| -> Result<(), crate::service::Error> {
        let p = &mut c.policy;
        if let Some(v) = on_create {
            p.on_create = v;
        }
        if let Some(v) = on_deactivate {
            p.on_deactivate = v;
        }
        if let Some(v) = on_delete {
            p.on_delete = v;
        }
        if let Some(v) = seats {
            p.seats_exhausted = v;
        }
        if let Some(v) = unknown {
            p.unknown_attributes = v;
        }
        p.max_default_rank = max_rank;
        p.default_role_id = default_role.clone();
        p.default_workspace_id = default_workspace.clone();
        p.allowed_domains = domains.clone();
        Ok(())
    });
    let options = ConfigOptions { scim_enabled, ..Default::default() };
    match s.svc.change_config(t.id, change, options).await {
        Ok(changed) => {
            if changed.scim_enabled.is_some() {
                s.auth_cache.clear();
            }
            s.forget_tenant_rate(t.id);
            done(&caller, &format!("/console/t/{}/policy", t.name), "Policy saved.", None)
        }
        Err(e) => failure(e),
    }
}

pub(super) async fn save_workspace(
    Here { s, caller, t }: Here,
    Path((_, id)): Path<(String, String)>,
    form: Form,
) -> Response {
    let on_create: Option<OnCreate> = choice(&form, "on_create");
    let on_deactivate: Option<OnDeactivate> = choice(&form, "on_deactivate");
    let default_role = form.get("default_role").map(str::to_string);
    let change = Arc::new(move |c: &mut TenantConfig| -> Result<(), crate::service::Error> {
        let w = c
            .workspaces
            .iter_mut()
            .find(|w| w.id == id)
            .ok_or_else(|| crate::service::Error::NotFound("that workspace no longer exists".into()))?;
        w.lifecycle.on_create = on_create;
        w.lifecycle.on_deactivate = on_deactivate;
        w.lifecycle.default_role_id = default_role.clone();
        Ok(())
    });
    match s.svc.change_config(t.id, change, Default::default()).await {
        Ok(_) => done(&caller, &format!("/console/t/{}/policy", t.name), "Workspace choices saved.", None),
        Err(e) => failure(e),
    }
}

/// Re-apply: with `dry_run`, the page again with who would change; without, done.
pub(super) async fn reapply(Here { s, caller, t }: Here, form: Form) -> Response {
    let dry_run = form.get("dry_run").is_some();
    let changed = match s.svc.reapply_policy(t.id, dry_run).await {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let c = match s.svc.tenant_config(t.id).await {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    if !dry_run {
        let to = format!("/console/t/{}/policy", t.name);
        return done(&caller, &to, &format!("Re-applied: {} user(s) changed.", changed.len()), None);
    }
    let name = |a: &scim_core::policy::RoleAssignment| {
        let role = c.role(&a.role_id).map_or(a.role_id.as_str(), |r| r.name.as_str());
        let ws = c.workspace(&a.workspace_id).map_or(a.workspace_id.as_str(), |w| w.name.as_str());
        format!("{role} in {ws}")
    };
    let lines = changed
        .iter()
        .map(|u| {
            let gains: Vec<String> = u.granted.iter().map(name).collect();
            let losses: Vec<String> = u.revoked.iter().map(name).collect();
            let mut line = format!("user {}", u.user_id);
            if !gains.is_empty() {
                line.push_str(&format!(" gains {}", gains.join(", ")));
            }
            if !losses.is_empty() {
                line.push_str(&format!(" loses {}", losses.join(", ")));
            }
            line
        })
        .collect();
    render(&s, &caller, &t, &c, Some(lines))
}
