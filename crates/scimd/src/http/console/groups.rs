//! Pushed groups (Conveyor's "SCIM Groups" panel): each with its member count
//! and what its mappings give, unmapped ones first, mapped in place.

use super::{Form, Here, Layout, done, failure, html};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use scim_core::policy::{GroupMapping, TenantConfig};
use std::collections::HashMap;
use std::sync::Arc;

const PAGE: i64 = 200;

struct GroupRow {
    id: String,
    name: String,
    members: i64,
    /// (mapping id, what it gives in words).
    mappings: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct GroupsPage {
    l: Layout,
    tenant: String,
    groups: Vec<GroupRow>,
    workspaces: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    next: Option<String>,
}

fn gives(c: &TenantConfig, m: &GroupMapping) -> String {
    let role = m.role_id.as_deref().and_then(|r| c.role(r)).map(|r| r.name.as_str());
    let ws = m.workspace_id.as_deref().and_then(|w| c.workspace(w)).map(|w| w.name.as_str());
    let licence = m.licence_type_id.as_deref().and_then(|l| c.licence_type(l)).map(|l| l.name.as_str());
    let mut words = match (role, ws) {
        (Some(r), Some(w)) => format!("{r} in {w}"),
        (Some(r), None) => r.to_string(),
        (None, Some(w)) => format!("access to {w}"),
        (None, None) => String::new(),
    };
    if let Some(l) = licence {
        words = if words.is_empty() { format!("a {l} licence") } else { format!("{words}, a {l} licence") };
    }
    words
}

pub(super) async fn page(Here { s, caller, t }: Here, Query(q): Query<HashMap<String, String>>) -> Response {
    let after = q.get("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let (mut groups, c) = match tokio::try_join!(s.svc.groups_page(t.id, after, PAGE + 1), s.svc.tenant_config(t.id)) {
        Ok(both) => both,
        Err(e) => return failure(e),
    };
    let more = groups.len() as i64 > PAGE;
    groups.truncate(PAGE as usize);
    let next = if more { groups.last().map(|g| g.seq.to_string()) } else { None };
    let mut rows: Vec<GroupRow> = groups
        .into_iter()
        .map(|g| {
            let name = g.display_name.clone().unwrap_or_else(|| g.id.clone());
            let mappings = c
                .mappings
                .iter()
                .filter(|m| m.group == g.id || m.group.eq_ignore_ascii_case(&name))
                .map(|m| (m.id.clone(), gives(&c, m)))
                .collect();
            GroupRow { id: g.id, name, members: g.members, mappings }
        })
        .collect();
    // Unmapped first (a stable sort keeps the stored order within each part).
    rows.sort_by_key(|g| !g.mappings.is_empty());
    let page = GroupsPage {
        l: caller.layout("Pushed groups", Some(&t), "groups"),
        tenant: t.name.clone(),
        groups: rows,
        workspaces: c.workspaces.iter().map(|w| (w.id.clone(), w.name.clone())).collect(),
        roles: c.roles.iter().filter(|r| r.provisionable).map(|r| (r.id.clone(), r.name.clone())).collect(),
        next,
    };
    html(StatusCode::OK, &page)
}

/// Map a group to a role in a workspace.
pub(super) async fn map(Here { s, caller, t }: Here, form: Form) -> Response {
    let group = form.get("group").unwrap_or_default().to_string();
    let workspace = form.get("workspace").map(str::to_string);
    let role = form.get("role").map(str::to_string);
    let id = uuid::Uuid::now_v7().to_string();
    let change = Arc::new(move |c: &mut TenantConfig| -> Result<(), crate::service::Error> {
        c.mappings.push(GroupMapping {
            id: id.clone(),
            group: group.clone(),
            workspace_id: workspace.clone(),
            role_id: role.clone(),
            licence_type_id: None,
        });
        Ok(())
    });
    match s.svc.change_config(t.id, change, Default::default()).await {
        Ok(changed) => {
            let words = changed.config.mappings.last().map(|m| gives(&changed.config, m)).unwrap_or_default();
            done(&caller, &format!("/console/t/{}/groups", t.name), &format!("Mapped: its members get {words}."), None)
        }
        Err(e) => failure(e),
    }
}

pub(super) async fn unmap(Here { s, caller, t }: Here, Path((_, id)): Path<(String, String)>, _form: Form) -> Response {
    let change = Arc::new(move |c: &mut TenantConfig| -> Result<(), crate::service::Error> {
        let before = c.mappings.len();
        c.mappings.retain(|m| m.id != id);
        if c.mappings.len() == before {
            return Err(crate::service::Error::NotFound("that mapping no longer exists".into()));
        }
        Ok(())
    });
    match s.svc.change_config(t.id, change, Default::default()).await {
        Ok(_) => done(&caller, &format!("/console/t/{}/groups", t.name), "Mapping removed.", None),
        Err(e) => failure(e),
    }
}
