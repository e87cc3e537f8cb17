//! The admin API's users: listed, read, created and changed by hand (never
//! those the identity provider manages), restored after a soft delete,
//! their access, and manual roles.

use super::{AdminError, AdminResult, body, new_id, ok, role_id, views, workspace_id};
use crate::http::AppState;
use crate::service::{Actor, Error, Update};
use crate::store::{Doc, Kind, NewResource, StoredResource, Tenant, UserPage};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use scim_core::policy::Source;
use scim_core::render;
use scim_core::{ResourceType, patch, resource};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------- users

fn user_json(r: &StoredResource, deleted: bool) -> Value {
    render::admin_view(&r.meta(), &r.doc, r.scim_managed, deleted)
}

#[derive(Deserialize)]
pub(super) struct ListParams {
    deleted: Option<bool>,
    after: Option<String>,
    limit: Option<i64>,
    /// Only users holding a role in this workspace (id or name)…
    workspace: Option<String>,
    /// …or this role (id or name).
    role: Option<String>,
}

/// Users in stored order, a page at a time: `{"data": [...], "next": cursor or null}`.
pub(super) async fn list_users(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(p): Query<ListParams>,
) -> AdminResult {
    let (after, limit) = (views::cursor(p.after.as_deref())?, views::page_size(p.limit)?);
    let c = s.svc.tenant_config(t.id).await?;
    let page = UserPage {
        deleted: p.deleted.unwrap_or(false),
        after,
        limit: limit + 1,
        workspace_id: p.workspace.as_deref().map(|w| workspace_id(&c, w)).transpose()?,
        role_id: p.role.as_deref().map(|r| role_id(&c, r)).transpose()?,
    };
    let users = s.svc.users_page(t.id, &page).await?;
    let more = users.len() as i64 > limit;
    let shown = &users[..users.len().min(limit as usize)];
    let data: Vec<Value> = shown.iter().map(|(_, u)| user_json(u, page.deleted)).collect();
    let next = if more { shown.last().map(|(seq, _)| seq.to_string()) } else { None };
    Ok(ok(StatusCode::OK, json!({"data": data, "next": next})))
}

pub(super) async fn get_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let user =
        s.svc.get(t.id, Kind::User, &id).await?.ok_or_else(|| AdminError::not_found(format!("no user '{id}'")))?;
    Ok(ok(StatusCode::OK, user_json(&user, false)))
}

/// A user created by hand (an external collaborator, say): not SCIM-managed,
/// but visible in SCIM lists so an identity provider's import can match it.
pub(super) async fn create_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let mut input: Value = body(&bytes)?;
    let rt = ResourceType::user();
    // The admin API speaks plain JSON: the SCIM envelope is ours to add.
    if let Some(obj) = input.as_object_mut()
        && !obj.keys().any(|k| k.eq_ignore_ascii_case("schemas"))
    {
        obj.insert("schemas".into(), json!([rt.core.id]));
    }
    let doc = resource::prepare(&input, &rt, None, &s.config.limits)?;
    let new = NewResource {
        kind: Kind::User,
        id: new_id(),
        doc: Doc::new(doc, Kind::User),
        now: s.svc.now(),
        members: Vec::new(),
        scim_managed: false,
    };
    let stored = s.svc.create(t.id, Actor::Admin, new).await?;
    Ok(ok(StatusCode::CREATED, user_json(&stored, false)))
}

/// Change a hand-managed user's attributes: the body's attributes replace
/// the user's (like a SCIM PATCH `replace` without a path).
pub(super) async fn patch_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let changes: Value = body(&bytes)?;
    if !changes.is_object() {
        return Err(AdminError::bad("send an object of the attributes to change"));
    }
    let rt = ResourceType::user();
    let limits = s.config.limits;
    let decide = Arc::new(move |current: &StoredResource| -> Result<Update, Error> {
        let ops = vec![patch::PatchOp { kind: patch::OpKind::Replace, path: None, value: Some(changes.clone()) }];
        let doc = patch::apply(&current.doc, &ops, &rt, &limits)?;
        Ok(Update { doc: Some(Doc::new(doc, Kind::User)), member_changes: Vec::new(), based_on: Some(current.version) })
    });
    let stored = s.svc.update(t.id, Actor::Admin, Kind::User, &id, false, decide).await?;
    Ok(ok(StatusCode::OK, user_json(&stored, false)))
}

pub(super) async fn delete_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    s.svc.delete(t.id, Actor::Admin, Kind::User, &id, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn restore_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let user = s.svc.restore_user(t.id, &id).await?;
    Ok(ok(StatusCode::OK, user_json(&user, false)))
}

pub(super) async fn user_access(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let access = s.svc.access(t.id, &id).await?.ok_or_else(|| AdminError::not_found(format!("no user '{id}'")))?;
    let c = s.svc.tenant_config(t.id).await?;
    let named = views::named;
    // The names of the groups roles come from (a user's own groups).
    let groups: HashMap<String, Option<String>> =
        s.svc.groups_of(t.id, std::slice::from_ref(&id)).await?.remove(&id).unwrap_or_default().into_iter().collect();
    let from = |source: &Source| match source {
        Source::Group(g) => json!({"group": named(g, groups.get(g).and_then(|n| n.as_deref()))}),
        other => json!(other.to_string()),
    };
    let roles: Vec<Value> = access
        .roles
        .iter()
        .map(|a| {
            json!({
                "workspace": named(&a.workspace_id, c.workspace(&a.workspace_id).map(|w| w.name.as_str())),
                "role": named(&a.role_id, c.role(&a.role_id).map(|r| r.name.as_str())),
                "source": a.source.to_string(),
                "from": from(&a.source),
            })
        })
        .collect();
    let waiting = access.unlicensed_wanted.as_ref().map(|wanted| {
        let name = c.licence_type(wanted).map(|l| l.name.as_str());
        let since = access.waiting_since.as_deref().unwrap_or("");
        json!({
            "for": named(wanted, name),
            "since": since,
            "reason": format!("waiting for a seat of {} since {since}: its seats are all in use", name.unwrap_or(wanted)),
        })
    });
    let (licence, status) = match (&access.licence, &access.unlicensed_wanted) {
        (Some((ty, source)), _) => (
            json!({"type": named(ty, c.licence_type(ty).map(|l| l.name.as_str())), "source": source.to_string()}),
            "licensed",
        ),
        (None, Some(wanted)) => (
            json!({"wanted": named(wanted, c.licence_type(wanted).map(|l| l.name.as_str())),
                   "reason": "no seat was free: the user waits for one and gets the next one freed"}),
            "unlicensed_no_seats",
        ),
        (None, None) => (Value::Null, "unlicensed"),
    };
    Ok(ok(
        StatusCode::OK,
        json!({
            "user_id": id,
            "active": access.active && !access.deleted,
            "deleted": access.deleted,
            "scim_managed": access.scim_managed,
            "roles": roles,
            "licence": licence,
            "licence_status": status,
            "waiting": waiting,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    workspace: String,
    role: String,
}

pub(super) async fn grant_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: GrantBody = body(&bytes)?;
    let c = s.svc.tenant_config(t.id).await?;
    let (ws, role) = (workspace_id(&c, &b.workspace)?, role_id(&c, &b.role)?);
    s.svc.set_manual_role(t.id, &id, &ws, &role, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn withdraw_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id, workspace, role)): Path<(String, String, String, String)>,
) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    let (ws, role) = (workspace_id(&c, &workspace)?, role_id(&c, &role)?);
    s.svc.set_manual_role(t.id, &id, &ws, &role, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
