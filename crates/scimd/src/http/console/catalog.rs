//! What a tenant's product offers: workspaces and roles (rank, whether SCIM
//! may give or remove them, the default ceiling), and licence types with
//! their seats in use and waiting.

use super::{Caller, Form, Here, Layout, done, failure, html};
use crate::http::AppState;
use crate::store::Tenant;
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use scim_core::ScimError;
use scim_core::policy::{LicenceType, Role, TenantConfig, Workspace};
use std::sync::Arc;

type Change = Arc<dyn Fn(&mut TenantConfig) -> Result<(), crate::service::Error> + Send + Sync>;

/// Change the configuration, then back to `page` with `notice`.
async fn change(s: &AppState, caller: &Caller, t: &Tenant, page: &str, notice: String, f: Change) -> Response {
    match s.svc.change_config(t.id, f, Default::default()).await {
        Ok(_) => done(caller, &format!("/console/t/{}/{page}", t.name), &notice, None),
        Err(e) => failure(e),
    }
}

fn refused(detail: String) -> crate::service::Error {
    ScimError::new(400, None, detail).into()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage {
    l: Layout,
    tenant: String,
    /// (name, id, its own choices in words).
    workspaces: Vec<(String, String, String)>,
    roles: Vec<Role>,
    ceiling: Option<i64>,
}

pub(super) async fn roles(Here { s, caller, t }: Here) -> Response {
    let c = match s.svc.tenant_config(t.id).await {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let own = |w: &Workspace| {
        let l = &w.lifecycle;
        let set = [l.on_create.is_some(), l.default_role_id.is_some(), l.on_deactivate.is_some()];
        if set.iter().any(|x| *x) { "its own (see Policy)".to_string() } else { "as the tenant".to_string() }
    };
    let mut roles = c.roles.clone();
    roles.sort_by_key(|r| r.rank);
    let page = RolesPage {
        l: caller.layout("Workspaces and roles", Some(&t), "roles"),
        tenant: t.name.clone(),
        workspaces: c.workspaces.iter().map(|w| (w.name.clone(), w.id.clone(), own(w))).collect(),
        roles,
        ceiling: c.policy.max_default_rank,
    };
    html(StatusCode::OK, &page)
}

pub(super) async fn create_workspace(Here { s, caller, t }: Here, form: Form) -> Response {
    let name = form.get("name").unwrap_or_default().to_string();
    let notice = format!("Workspace '{name}' added.");
    let f: Change = Arc::new(move |c| {
        c.workspaces.push(Workspace { id: new_id(), name: name.clone(), lifecycle: Default::default() });
        Ok(())
    });
    change(&s, &caller, &t, "roles", notice, f).await
}

pub(super) async fn delete_workspace(
    Here { s, caller, t }: Here,
    Path((_, id)): Path<(String, String)>,
    _form: Form,
) -> Response {
    let f: Change = Arc::new(move |c| {
        let name = c
            .workspace(&id)
            .map(|w| w.name.clone())
            .ok_or_else(|| refused("that workspace no longer exists".into()))?;
        if let Some(why) = c.workspace_in_use(&id) {
            return Err(refused(format!("workspace '{name}' cannot be deleted: {why}")));
        }
        c.workspaces.retain(|w| w.id != id);
        Ok(())
    });
    change(&s, &caller, &t, "roles", "Workspace deleted.".into(), f).await
}

pub(super) async fn create_role(Here { s, caller, t }: Here, form: Form) -> Response {
    let name = form.get("name").unwrap_or_default().to_string();
    let rank = form.get("rank").and_then(|r| r.parse::<i64>().ok());
    let provisionable = form.get("provisionable") != Some("no");
    let protected = form.get("protected") == Some("yes");
    let notice = format!("Role '{name}' added.");
    let f: Change = Arc::new(move |c| {
        let rank = rank.ok_or_else(|| refused("a role's rank is a whole number".into()))?;
        c.roles.push(Role { id: new_id(), name: name.clone(), rank, provisionable, protected });
        Ok(())
    });
    change(&s, &caller, &t, "roles", notice, f).await
}

pub(super) async fn delete_role(
    Here { s, caller, t }: Here,
    Path((_, id)): Path<(String, String)>,
    _form: Form,
) -> Response {
    let f: Change = Arc::new(move |c| {
        let name = c.role(&id).map(|r| r.name.clone()).ok_or_else(|| refused("that role no longer exists".into()))?;
        if let Some(why) = c.role_in_use(&id) {
            return Err(refused(format!("role '{name}' cannot be deleted: {why}")));
        }
        c.roles.retain(|r| r.id != id);
        Ok(())
    });
    change(&s, &caller, &t, "roles", "Role deleted.".into(), f).await
}

struct LicenceRow {
    id: String,
    name: String,
    limit: Option<i64>,
    used: i64,
    waiting: i64,
    default: bool,
}

#[derive(Template)]
#[template(path = "console/licences.html")]
struct LicencesPage {
    l: Layout,
    tenant: String,
    types: Vec<LicenceRow>,
}

pub(super) async fn licences(Here { s, caller, t }: Here) -> Response {
    let (c, usage) = match tokio::try_join!(s.svc.tenant_config(t.id), s.svc.seat_usage(t.id)) {
        Ok(both) => both,
        Err(e) => return failure(e),
    };
    let types = c
        .licence_types
        .iter()
        .map(|l| {
            let (used, waiting) = usage.get(&l.id).copied().unwrap_or_default();
            LicenceRow {
                id: l.id.clone(),
                name: l.name.clone(),
                limit: l.seat_limit,
                used,
                waiting,
                default: l.is_default,
            }
        })
        .collect();
    html(
        StatusCode::OK,
        &LicencesPage { l: caller.layout("Licence types", Some(&t), "licences"), tenant: t.name.clone(), types },
    )
}

pub(super) async fn create_licence(Here { s, caller, t }: Here, form: Form) -> Response {
    let name = form.get("name").unwrap_or_default().to_string();
    let limit = form.get("seat_limit").map(|v| v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(v.to_string()));
    let is_default = form.get("default") == Some("yes");
    let notice = format!("Licence type '{name}' added.");
    let f: Change = Arc::new(move |c| {
        let seat_limit = match &limit {
            None => None,
            Some(Ok(n)) => Some(*n),
            Some(Err(text)) => {
                return Err(refused(format!("'{text}' is not a number of seats: write 0 or more, or leave it empty")));
            }
        };
        if is_default {
            for other in &mut c.licence_types {
                other.is_default = false;
            }
        }
        c.licence_types.push(LicenceType { id: new_id(), name: name.clone(), seat_limit, is_default });
        Ok(())
    });
    change(&s, &caller, &t, "licences", notice, f).await
}

pub(super) async fn delete_licence(
    Here { s, caller, t }: Here,
    Path((_, id)): Path<(String, String)>,
    _form: Form,
) -> Response {
    let f: Change = Arc::new(move |c| {
        let before = c.licence_types.len();
        c.licence_types.retain(|l| l.id != id);
        if c.licence_types.len() == before {
            return Err(refused("that licence type no longer exists".into()));
        }
        Ok(())
    });
    change(&s, &caller, &t, "licences", "Licence type deleted.".into(), f).await
}
