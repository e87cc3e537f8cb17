//! Users: found by userName, state, workspace or role; a user's access with
//! where each part comes from, and its history (the identity provider's
//! requests about it, from the audit trail).

use super::{Here, Layout, failure, html, message};
use crate::store::audit::AuditQuery;
use crate::store::{Kind, ListQuery, UserPage};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use scim_core::policy::Source;
use serde_json::Value;
use std::collections::HashMap;

const PAGE: i64 = 50;

struct UserRow {
    id: String,
    user_name: String,
    name: String,
    state: &'static str,
    managed: &'static str,
    /// Deleted users have no page of their own (they are restored through the admin API).
    linked: bool,
}

fn row(id: String, doc: &Value, scim_managed: bool, deleted: bool) -> UserRow {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let name = doc
        .get("name")
        .and_then(|n| n.get("formatted").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text("displayName"));
    let active = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
    UserRow {
        id,
        user_name: text("userName"),
        name,
        state: if deleted {
            "deleted"
        } else if active {
            "active"
        } else {
            "deactivated"
        },
        managed: if scim_managed { "the identity provider" } else { "hand" },
        linked: !deleted,
    }
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    l: Layout,
    tenant: String,
    q: String,
    state: String,
    workspace: String,
    role: String,
    workspaces: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    users: Vec<UserRow>,
    total: Option<i64>,
    next: Option<String>,
    refused: Option<String>,
}

/// A SCIM filter's string literal.
fn literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

pub(super) async fn list(Here { s, caller, t }: Here, Query(params): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| params.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (q, state, workspace, role) = (get("q"), get("state"), get("workspace"), get("role"));
    let c = match s.svc.tenant_config(t.id).await {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let mut page = UsersPage {
        l: caller.layout("Users", Some(&t), "users"),
        tenant: t.name.clone(),
        workspaces: c.workspaces.iter().map(|w| (w.id.clone(), w.name.clone())).collect(),
        roles: c.roles.iter().map(|r| (r.id.clone(), r.name.clone())).collect(),
        q: q.clone(),
        state: state.clone(),
        workspace: workspace.clone(),
        role: role.clone(),
        users: Vec::new(),
        total: None,
        next: None,
        refused: None,
    };
    let by_name_or_state = !q.is_empty() || state == "active" || state == "inactive";
    if by_name_or_state && (!workspace.is_empty() || !role.is_empty()) {
        page.refused = Some("Filter by userName and state, or by workspace and role: one of the two at a time.".into());
        return html(StatusCode::BAD_REQUEST, &page);
    }
    if by_name_or_state {
        // Through the same filters SCIM lists use (indexed userName, paged by offset).
        let mut parts = Vec::new();
        if !q.is_empty() {
            parts.push(format!("userName sw {}", literal(&q)));
        }
        match state.as_str() {
            "active" => parts.push("active eq true".into()),
            "inactive" => parts.push("active eq false".into()),
            _ => {}
        }
        let filter = match scim_core::filter::parse_filter(&parts.join(" and ")) {
            Ok(f) => f,
            Err(_) => {
                page.refused = Some("That userName cannot be searched for.".into());
                return html(StatusCode::BAD_REQUEST, &page);
            }
        };
        let offset = params.get("offset").and_then(|o| o.parse::<i64>().ok()).unwrap_or(0).max(0);
        let query = ListQuery { filter: Some(filter), offset, limit: PAGE, ..Default::default() };
        let (total, found) = match s.svc.list(t.id, Kind::User, &query, &s.users).await {
            Ok(r) => r,
            Err(e) => return failure(e),
        };
        page.users = found
            .into_iter()
            .map(|r| {
                let doc: Value = serde_json::from_str(&r.doc_text).unwrap_or(Value::Null);
                row(r.id, &doc, r.scim_managed, false)
            })
            .collect();
        page.total = Some(total);
        if offset + PAGE < total {
            let mut next = form_urlencoded::Serializer::new(String::new());
            next.append_pair("q", &q).append_pair("state", &state).append_pair("offset", &(offset + PAGE).to_string());
            page.next = Some(next.finish());
        }
        return html(StatusCode::OK, &page);
    }
    let after = params.get("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0).max(0);
    let deleted = state == "deleted";
    let query = UserPage {
        deleted,
        after,
        limit: PAGE + 1,
        workspace_id: Some(workspace.clone()).filter(|w| !w.is_empty()),
        role_id: Some(role.clone()).filter(|r| !r.is_empty()),
    };
    let mut found = match s.svc.users_page(t.id, &query).await {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    let more = found.len() as i64 > PAGE;
    found.truncate(PAGE as usize);
    if more && let Some((seq, _)) = found.last() {
        let mut next = form_urlencoded::Serializer::new(String::new());
        next.append_pair("state", &state)
            .append_pair("workspace", &workspace)
            .append_pair("role", &role)
            .append_pair("after", &seq.to_string());
        page.next = Some(next.finish());
    }
    page.users = found.into_iter().map(|(_, u)| row(u.id.clone(), &u.doc, u.scim_managed, deleted)).collect();
    html(StatusCode::OK, &page)
}

struct HistoryRow {
    time: String,
    request: String,
    status: u16,
    detail: Option<String>,
    summary: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserDetail {
    l: Layout,
    user_name: String,
    name: String,
    state: &'static str,
    managed: &'static str,
    groups: Vec<String>,
    /// (workspace, role, where it comes from).
    roles: Vec<(String, String, String)>,
    licence: String,
    history: Vec<HistoryRow>,
}

pub(super) async fn show(Here { s, caller, t }: Here, Path((_, id)): Path<(String, String)>) -> Response {
    let history_query = AuditQuery { limit: 50, target: Some(id.clone()), ..Default::default() };
    let found = tokio::try_join!(
        s.svc.get(t.id, Kind::User, &id),
        s.svc.access(t.id, &id),
        s.svc.tenant_config(t.id),
        s.svc.groups_of(t.id, std::slice::from_ref(&id)),
        s.svc.audit_page(t.id, &history_query),
    );
    let (user, access, c, mut groups, history) = match found {
        Ok(all) => all,
        Err(e) => return failure(e),
    };
    let (Some(user), Some(access)) = (user, access) else {
        let back = format!("/console/t/{}/users", t.name);
        return message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such user (it may have been deleted).",
            Some((&back, "Back to users")),
        );
    };
    let groups: HashMap<String, Option<String>> = groups.remove(&id).unwrap_or_default().into_iter().collect();
    let group_name = |g: &str| groups.get(g).cloned().flatten().unwrap_or_else(|| g.to_string());
    let source = |src: &Source| match src {
        Source::Group(g) => format!("the group {}", group_name(g)),
        Source::Default => "the default role".to_string(),
        Source::Manual => "given by hand".to_string(),
    };
    let user_row = row(user.id.clone(), &user.doc, user.scim_managed, false);
    let licence = match (&access.licence, &access.unlicensed_wanted) {
        (Some((ty, src)), _) => {
            format!("{} ({})", c.licence_type(ty).map_or(ty.as_str(), |l| l.name.as_str()), source(src))
        }
        (None, Some(wanted)) => format!(
            "none: waiting for a seat of {} since {}",
            c.licence_type(wanted).map_or(wanted.as_str(), |l| l.name.as_str()),
            access.waiting_since.as_deref().unwrap_or("?")
        ),
        (None, None) => "none".to_string(),
    };
    let page = UserDetail {
        l: caller.layout(&format!("User {}", user_row.user_name), Some(&t), "users"),
        groups: groups.values().map(|n| n.clone().unwrap_or_default()).collect(),
        roles: access
            .roles
            .iter()
            .map(|a| {
                (
                    c.workspace(&a.workspace_id).map_or(a.workspace_id.clone(), |w| w.name.clone()),
                    c.role(&a.role_id).map_or(a.role_id.clone(), |r| r.name.clone()),
                    source(&a.source),
                )
            })
            .collect(),
        licence,
        history: history
            .into_iter()
            .map(|h| {
                let a = h.row;
                let route = a.route.strip_prefix("/scim/v2/{tenant}").unwrap_or(&a.route).to_string();
                HistoryRow {
                    time: a.at,
                    request: format!("{} {route}", a.method),
                    status: a.status,
                    detail: a.detail,
                    summary: a.summary,
                }
            })
            .collect(),
        user_name: user_row.user_name,
        name: user_row.name,
        state: user_row.state,
        managed: if user_row.managed == "hand" { "made by hand" } else { "managed by the identity provider" },
    };
    html(StatusCode::OK, &page)
}
