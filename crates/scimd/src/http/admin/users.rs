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
use scim_core::{patch, resource};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use views::Named;

// ---------------------------------------------------------------- users

fn user_json(r: &StoredResource, deleted: bool) -> Value {
    render::admin_view(&r.meta(), &r.doc, r.scim_managed, deleted)
}

/// A user as the admin API shows it: its SCIM attributes (those below and
/// any other of the User schema and its extensions), with `id`, `meta`,
/// whether the identity provider manages it, and whether it is deleted.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct AdminUser {
    id: String,
    schemas: Vec<String>,
    #[schema(rename = "userName")]
    user_name: String,
    meta: UserMeta,
    /// Written by the identity provider (the admin API cannot change it).
    scim_managed: bool,
    /// Soft-deleted (listed with `?deleted=true`; restorable).
    deleted: bool,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct UserMeta {
    created: String,
    #[schema(rename = "lastModified")]
    last_modified: String,
    /// The ETag, `W/"<n>"`.
    version: String,
}

/// A hand-managed user: SCIM User attributes (`userName` needed; `schemas` may be left out).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct NewUser {
    #[schema(rename = "userName", example = "ada@acme.com")]
    user_name: String,
    #[schema(rename = "displayName")]
    display_name: Option<String>,
    active: Option<bool>,
}

/// The attributes to change, as SCIM names them: each replaces the user's.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct UserChanges {
    #[schema(rename = "displayName")]
    display_name: Option<String>,
    active: Option<bool>,
}

/// A page of users, in stored order.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct UserList {
    data: Vec<AdminUser>,
    /// The cursor to pass as `after` for the next page; `null` on the last.
    #[schema(required)]
    next: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct ListParams {
    /// The soft-deleted users instead.
    deleted: Option<bool>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// 1 to 1,000; 100 unless given.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only users holding a role in this workspace (id or name)…
    workspace: Option<String>,
    /// …or this role (id or name).
    role: Option<String>,
}

/// Users in stored order, a page at a time: `{"data": [...], "next": cursor or null}`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users", tag = "users", params(ListParams),
    responses((status = 200, description = "A page of users", body = UserList)))]
pub(super) async fn list_users(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(p): Query<HashMap<String, String>>,
) -> AdminResult {
    let text = |key: &str| p.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let (after, limit) = (views::cursor(text("after"))?, views::limit_of(&p)?);
    let c = s.svc.tenant_config(t.id).await?;
    let page = UserPage {
        deleted: views::flag(&p, "deleted")?.unwrap_or(false),
        after,
        limit: limit + 1,
        workspace_id: text("workspace").map(|w| workspace_id(&c, w)).transpose()?,
        role_id: text("role").map(|r| role_id(&c, r)).transpose()?,
    };
    let users = s.svc.users_page(t.id, &page).await?;
    let more = users.len() as i64 > limit;
    let shown = &users[..users.len().min(limit as usize)];
    let data: Vec<Value> = shown.iter().map(|(_, u)| user_json(u, page.deleted)).collect();
    let next = if more { shown.last().map(|(seq, _)| seq.to_string()) } else { None };
    Ok(ok(StatusCode::OK, json!({"data": data, "next": next})))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users/{id}", tag = "users",
    responses((status = 200, description = "The user", body = AdminUser)))]
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
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "The user", body = AdminUser),
        (status = 403, description = "its e-mail domain is not one the policy allows"),
        (status = 409, description = "the userName is taken, or no seat is free")))]
pub(super) async fn create_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let mut input: Value = body(&bytes)?;
    let rt = scim_core::extension::resource_types(&s.svc.tenant_config(t.id).await?.extensions).0;
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
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/users/{id}", tag = "users", request_body = UserChanges,
    responses((status = 200, description = "The user", body = AdminUser),
        (status = 409, description = "the identity provider manages the user, or the userName is taken")))]
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
    let rt = scim_core::extension::resource_types(&s.svc.tenant_config(t.id).await?.extensions).0;
    let limits = s.config.limits;
    let decide = Arc::new(move |current: &StoredResource| -> Result<Update, Error> {
        let ops = vec![patch::PatchOp { kind: patch::OpKind::Replace, path: None, value: Some(changes.clone()) }];
        let doc = patch::apply(&current.doc, &ops, &rt, &limits)?;
        Ok(Update { doc: Some(Doc::new(doc, Kind::User)), member_changes: Vec::new(), based_on: Some(current.version) })
    });
    let stored = s.svc.update(t.id, Actor::Admin, Kind::User, &id, false, decide).await?;
    Ok(ok(StatusCode::OK, user_json(&stored, false)))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/users/{id}", tag = "users",
    responses((status = 204, description = "Deleted (or soft-deleted, as the policy's `on_delete` says)"),
        (status = 409, description = "the identity provider manages the user")))]
pub(super) async fn delete_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    s.svc.delete(t.id, Actor::Admin, Kind::User, &id, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/users/{id}/restore", tag = "users",
    responses((status = 200, description = "The user, restored", body = AdminUser)))]
pub(super) async fn restore_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let user = s.svc.restore_user(t.id, &id).await?;
    Ok(ok(StatusCode::OK, user_json(&user, false)))
}

/// What a user may do: its roles with their sources, its licence.
#[derive(Serialize, ToSchema)]
pub(super) struct AccessOut {
    user_id: String,
    active: bool,
    deleted: bool,
    scim_managed: bool,
    roles: Vec<AccessRole>,
    /// The licence held (`type`, `source`), or the one wanted when no seat was free (`wanted`, `reason`); `null`: none.
    #[schema(required)]
    licence: Option<Licence>,
    licence_status: LicenceStatus,
    /// Since when the user waits for a seat; `null` when it does not.
    #[schema(required)]
    waiting: Option<Waiting>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct AccessRole {
    workspace: Named,
    role: Named,
    /// `default`, `group:<id>` or `manual`.
    source: String,
    /// The source with names: `{"group": {id, name}}`, or `default` or `manual`.
    from: RoleFrom,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum RoleFrom {
    Group { group: Named },
    Other(String),
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum Licence {
    Held {
        #[serde(rename = "type")]
        licence_type: Named,
        source: String,
    },
    Wanted {
        wanted: Named,
        reason: String,
    },
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum LicenceStatus {
    Licensed,
    UnlicensedNoSeats,
    Unlicensed,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Waiting {
    #[serde(rename = "for")]
    wanted: Named,
    since: String,
    reason: String,
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users/{id}/access", tag = "users",
    responses((status = 200, description = "The user's roles and licence, with their sources", body = AccessOut)))]
pub(super) async fn user_access(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let access = s.svc.access(t.id, &id).await?.ok_or_else(|| AdminError::not_found(format!("no user '{id}'")))?;
    let c = s.svc.tenant_config(t.id).await?;
    let named = Named::new;
    // The names of the groups roles come from (a user's own groups).
    let groups: HashMap<String, Option<String>> =
        s.svc.groups_of(t.id, std::slice::from_ref(&id)).await?.remove(&id).unwrap_or_default().into_iter().collect();
    let from = |source: &Source| match source {
        Source::Group(g) => RoleFrom::Group { group: named(g, groups.get(g).and_then(|n| n.as_deref())) },
        other => RoleFrom::Other(other.to_string()),
    };
    let roles: Vec<AccessRole> = access
        .roles
        .iter()
        .map(|a| AccessRole {
            workspace: named(&a.workspace_id, c.workspace(&a.workspace_id).map(|w| w.name.as_str())),
            role: named(&a.role_id, c.role(&a.role_id).map(|r| r.name.as_str())),
            source: a.source.to_string(),
            from: from(&a.source),
        })
        .collect();
    let waiting = access.unlicensed_wanted.as_ref().map(|wanted| {
        let name = c.licence_type(wanted).map(|l| l.name.as_str());
        let since = access.waiting_since.as_deref().unwrap_or("");
        Waiting {
            wanted: named(wanted, name),
            since: since.to_string(),
            reason: format!("waiting for a seat of {} since {since}: its seats are all in use", name.unwrap_or(wanted)),
        }
    });
    let (licence, licence_status) = match (&access.licence, &access.unlicensed_wanted) {
        (Some((ty, source)), _) => (
            Some(Licence::Held {
                licence_type: named(ty, c.licence_type(ty).map(|l| l.name.as_str())),
                source: source.to_string(),
            }),
            LicenceStatus::Licensed,
        ),
        (None, Some(wanted)) => (
            Some(Licence::Wanted {
                wanted: named(wanted, c.licence_type(wanted).map(|l| l.name.as_str())),
                reason: "no seat was free: the user waits for one and gets the next one freed".into(),
            }),
            LicenceStatus::UnlicensedNoSeats,
        ),
        (None, None) => (None, LicenceStatus::Unlicensed),
    };
    let out = AccessOut {
        user_id: id,
        active: access.active && !access.deleted,
        deleted: access.deleted,
        scim_managed: access.scim_managed,
        roles,
        licence,
        licence_status,
        waiting,
    };
    Ok(ok(StatusCode::OK, json!(out)))
}

/// A manual role: the workspace and role by id or name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantBody {
    workspace: String,
    role: String,
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/users/{id}/roles", tag = "users", request_body = GrantBody,
    responses((status = 204, description = "Granted"),
        (status = 409, description = "the policy would not let the user hold it")))]
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

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/users/{id}/roles/{workspace}/{role}", tag = "users",
    responses((status = 204, description = "Withdrawn")))]
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
