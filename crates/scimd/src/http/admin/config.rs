//! The admin API's configuration endpoints: workspaces, roles, licence
//! types, group mappings and the policy.

use super::views::{MappingOut, Named, WorkspaceOut};
use super::{AdminError, AdminResult, body, change, licence_id, new_id, ok, role_id, workspace_id};
use crate::http::AppState;
use crate::service::Error;
use crate::store::Tenant;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use scim_core::ScimError;
use scim_core::policy::{
    GroupMapping, HostActions, LicenceType, Lifecycle, OnCreate, OnDeactivate, OnDelete, RateLimit, Role,
    SeatsExhausted, TenantConfig, UnknownAttributes, Workspace,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A tenant's whole configuration at once.
#[derive(Serialize, ToSchema)]
pub(super) struct ConfigOut<'a> {
    workspaces: Vec<WorkspaceOut<'a>>,
    roles: &'a [Role],
    licence_types: &'a [LicenceType],
    group_mappings: Vec<MappingOut<'a>>,
    policy: PolicyOut,
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/config", tag = "configuration",
    responses((status = 200, description = "Workspaces, roles, licence types, group mappings and the policy", body = ConfigOut)))]
pub(super) async fn get_config(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    let out = ConfigOut {
        workspaces: WorkspaceOut::all(&c),
        roles: &c.roles,
        licence_types: &c.licence_types,
        group_mappings: MappingOut::all(&c),
        policy: policy_json(&c, &t, s.svc.reconciling(t.id)),
    };
    Ok(ok(StatusCode::OK, json!(out)))
}

// ---------------------------------------------------------------- workspaces

/// A workspace to make (`name` needed) or change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkspaceBody {
    #[schema(example = "Engineering")]
    name: Option<String>,
    /// The workspace's own lifecycle choices: each field sent is set (`null`
    /// clears it, so the tenant's choice applies); fields not sent stay.
    lifecycle: Option<LifecycleBody>,
}

/// A workspace to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct NewWorkspace {
    #[schema(example = "Engineering", min_length = 1, pattern = "\\S")]
    name: String,
    lifecycle: Option<LifecycleBody>,
}

/// A workspace's lifecycle as an admin writes it: roles by name or id;
/// `null` clears a choice (the tenant's applies), a field left out stays.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LifecycleBody {
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<OnCreate>)]
    on_create: Option<Option<OnCreate>>,
    /// The role (id or name) a new user gets here when `on_create` is `grant_default`.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    default_role: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    max_default_rank: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<OnDeactivate>)]
    on_deactivate: Option<Option<OnDeactivate>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<HostActions>)]
    host_actions: Option<Option<HostActions>>,
}

impl LifecycleBody {
    /// `base` with what the body sends over it.
    fn over(&self, base: &Lifecycle, c: &TenantConfig) -> Result<Lifecycle, ScimError> {
        fn pick<T: Clone>(sent: &Option<Option<T>>, kept: &Option<T>) -> Option<T> {
            match sent {
                Some(value) => value.clone(),
                None => kept.clone(),
            }
        }
        let default_role_id = match &self.default_role {
            Some(Some(role)) => Some(role_id(c, role)?),
            Some(None) => None,
            None => base.default_role_id.clone(),
        };
        Ok(Lifecycle {
            on_create: pick(&self.on_create, &base.on_create),
            default_role_id,
            max_default_rank: pick(&self.max_default_rank, &base.max_default_rank),
            on_deactivate: pick(&self.on_deactivate, &base.on_deactivate),
            host_actions: match &self.host_actions {
                Some(actions) => actions.clone().unwrap_or_default(),
                None => base.host_actions.clone(),
            },
        })
    }
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/workspaces", tag = "configuration",
    responses((status = 200, description = "The workspaces", body = Vec<WorkspaceOut>)))]
pub(super) async fn list_workspaces(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    Ok(ok(StatusCode::OK, json!(WorkspaceOut::all(&c))))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/workspaces", tag = "configuration", request_body = NewWorkspace,
    responses((status = 201, description = "The workspace", body = WorkspaceOut)))]
pub(super) async fn create_workspace(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let b: WorkspaceBody = body(&bytes)?;
    let Some(name) = b.name.filter(|n| !n.trim().is_empty()) else {
        return Err(AdminError::bad("a workspace needs a name"));
    };
    let id = new_id();
    let wanted = id.clone();
    let c = change(&s, &t, move |c| {
        let lifecycle = b.lifecycle.as_ref().map(|l| l.over(&Lifecycle::default(), c)).transpose()?.unwrap_or_default();
        c.workspaces.push(Workspace { id: id.clone(), name: name.clone(), lifecycle });
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::CREATED, json!(c.workspaces.iter().find(|w| w.id == wanted).map(|w| WorkspaceOut::of(&c, w)))))
}

/// Rename a workspace, or give it its own lifecycle choices.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/workspaces/{id}", tag = "configuration",
    request_body = WorkspaceBody, responses((status = 200, description = "The workspace", body = WorkspaceOut)))]
pub(super) async fn update_workspace(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, key)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: WorkspaceBody = body(&bytes)?;
    let id = workspace_id(&s.svc.tenant_config(t.id).await?, &key).map_err(|e| AdminError::not_found(e.detail))?;
    let wanted = id.clone();
    let c = change(&s, &t, move |c| {
        let current = c
            .workspaces
            .iter()
            .find(|w| w.id == wanted)
            .ok_or_else(|| ScimError::not_found(format!("there is no workspace '{wanted}'")))?;
        let lifecycle = b.lifecycle.as_ref().map(|l| l.over(&current.lifecycle, c)).transpose()?;
        let Some(w) = c.workspaces.iter_mut().find(|w| w.id == wanted) else { return Ok(()) };
        if let Some(n) = b.name.as_ref().filter(|n| !n.trim().is_empty()) {
            w.name = n.clone();
        }
        if let Some(l) = lifecycle {
            w.lifecycle = l;
        }
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::OK, json!(c.workspaces.iter().find(|w| w.id == id).map(|w| WorkspaceOut::of(&c, w)))))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/workspaces/{id}", tag = "configuration",
    responses((status = 204, description = "Deleted"), (status = 400, description = "still in use: `detail` says by what")))]
pub(super) async fn delete_workspace(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    change(&s, &t, move |c| {
        let id = workspace_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        if let Some(why) = c.workspace_in_use(&id) {
            let name = c.workspace(&id).map_or(id.as_str(), |w| w.name.as_str());
            return Err(ScimError::new(400, None, format!("workspace '{name}' cannot be deleted: {why}")));
        }
        c.workspaces.retain(|w| w.id != id);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- roles

/// A role to make (`name` and `rank` needed) or change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleBody {
    #[schema(example = "Member")]
    name: Option<String>,
    /// Least privileged first: a higher rank wins when several groups map roles in one workspace.
    rank: Option<i64>,
    /// SCIM may grant it (default `true`).
    provisionable: Option<bool>,
    /// SCIM never removes it (default `false`).
    protected: Option<bool>,
}

/// A role to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct NewRole {
    #[schema(example = "Member", min_length = 1, pattern = "\\S")]
    name: String,
    /// Least privileged first: a higher rank wins when several groups map roles in one workspace.
    rank: i64,
    /// SCIM may grant it (default `true`).
    provisionable: Option<bool>,
    /// SCIM never removes it (default `false`).
    protected: Option<bool>,
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/roles", tag = "configuration",
    responses((status = 200, description = "The roles, least privileged first", body = Vec<Role>)))]
pub(super) async fn list_roles(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let mut roles = s.svc.tenant_config(t.id).await?.roles;
    roles.sort_by_key(|r| r.rank);
    Ok(ok(StatusCode::OK, json!(roles)))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/roles", tag = "configuration", request_body = NewRole,
    responses((status = 201, description = "The role", body = Role)))]
pub(super) async fn create_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let b: RoleBody = body(&bytes)?;
    let (Some(name), Some(rank)) = (b.name.filter(|n| !n.trim().is_empty()), b.rank) else {
        return Err(AdminError::bad("a role needs a name and a rank (least privileged first)"));
    };
    let role = Role {
        id: new_id(),
        name,
        rank,
        provisionable: b.provisionable.unwrap_or(true),
        protected: b.protected.unwrap_or(false),
    };
    let created = role.clone();
    change(&s, &t, move |c| {
        c.roles.push(role.clone());
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::CREATED, json!(created)))
}

#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/roles/{id}", tag = "configuration", request_body = RoleBody,
    responses((status = 200, description = "Every role of the tenant, the changed one among them", body = Vec<Role>)))]
pub(super) async fn update_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: RoleBody = body(&bytes)?;
    let c = change(&s, &t, move |c| {
        let id = role_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        if let Some(r) = c.roles.iter_mut().find(|r| r.id == id) {
            if let Some(n) = &b.name {
                r.name = n.clone();
            }
            if let Some(rank) = b.rank {
                r.rank = rank;
            }
            if let Some(p) = b.provisionable {
                r.provisionable = p;
            }
            if let Some(p) = b.protected {
                r.protected = p;
            }
        }
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::OK, json!(c.roles)))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/roles/{id}", tag = "configuration",
    responses((status = 204, description = "Deleted"), (status = 400, description = "still in use: `detail` says by what")))]
pub(super) async fn delete_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    change(&s, &t, move |c| {
        let id = role_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        if let Some(why) = c.role_in_use(&id) {
            let name = c.role(&id).map_or(id.as_str(), |r| r.name.as_str());
            return Err(ScimError::new(400, None, format!("role '{name}' cannot be deleted: {why}")));
        }
        c.roles.retain(|r| r.id != id);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- licence types

/// A licence type to make (`name` needed) or change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LicenceBody {
    #[schema(example = "Basic")]
    name: Option<String>,
    /// `null` for unlimited.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    seat_limit: Option<Option<i64>>,
    /// Becoming the default makes the former default an ordinary type (one call).
    default: Option<bool>,
    /// A limit below the seats in use: the newest holders wait.
    force: Option<bool>,
}

/// A licence type to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct NewLicenceType {
    #[schema(example = "Basic", min_length = 1, pattern = "\\S")]
    name: String,
    /// `null` or left out for unlimited.
    seat_limit: Option<i64>,
    /// Becoming the default makes the former default an ordinary type.
    default: Option<bool>,
    force: Option<bool>,
}

/// Tell "absent" (`None`) from "null" (`Some(None)`: unlimited seats, or a
/// lifecycle choice cleared).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/licence-types", tag = "configuration", request_body = NewLicenceType,
    responses((status = 201, description = "The licence type", body = LicenceType)))]
pub(super) async fn create_licence_type(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let b: LicenceBody = body(&bytes)?;
    let Some(name) = b.name.filter(|n| !n.trim().is_empty()) else {
        return Err(AdminError::bad("a licence type needs a name"));
    };
    let lt =
        LicenceType { id: new_id(), name, seat_limit: b.seat_limit.flatten(), is_default: b.default.unwrap_or(false) };
    let created = lt.clone();
    change(&s, &t, move |c| {
        if lt.is_default {
            c.licence_types.iter_mut().for_each(|l| l.is_default = false);
        }
        c.licence_types.push(lt.clone());
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::CREATED, json!(created)))
}

#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/licence-types/{id}", tag = "configuration",
    request_body = LicenceBody, responses(
        (status = 200, description = "Every licence type of the tenant with its seats, the changed one among them", body = Vec<super::views::LicenceUsage>),
        (status = 409, description = "a limit below the seats in use, without `force`")))]
pub(super) async fn update_licence_type(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: LicenceBody = body(&bytes)?;
    let options =
        crate::service::admin::ConfigOptions { force_seat_limits: b.force.unwrap_or(false), ..Default::default() };
    let c = super::change_with(
        &s,
        &t,
        move |c| {
            let id = licence_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
            if b.default == Some(true) {
                c.licence_types.iter_mut().for_each(|l| l.is_default = false);
            }
            if let Some(l) = c.licence_types.iter_mut().find(|l| l.id == id) {
                if let Some(n) = &b.name {
                    l.name = n.clone();
                }
                if let Some(limit) = b.seat_limit {
                    l.seat_limit = limit;
                }
                if let Some(d) = b.default {
                    l.is_default = d;
                }
            }
            Ok(())
        },
        options,
    )
    .await?;
    // With each type's seats, as the list answers: a lowered limit shows who now waits.
    let usage = s.svc.seat_usage(t.id).await?;
    Ok(ok(StatusCode::OK, json!(super::views::LicenceUsage::all(&c, &usage))))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/licence-types/{id}", tag = "configuration",
    responses((status = 204, description = "Deleted"), (status = 400, description = "still in use: `detail` says by what"),
        (status = 409, description = "its seats are in use")))]
pub(super) async fn delete_licence_type(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    change(&s, &t, move |c| {
        let id = licence_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        c.licence_types.retain(|l| l.id != id);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- group mappings

/// A group mapping: the group's members get the role in the workspace, and/or the licence type.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MappingBody {
    /// The SCIM group's id or displayName.
    #[schema(example = "Engineering")]
    group: String,
    /// The workspace's id or name.
    workspace: Option<String>,
    /// The role's id or name.
    role: Option<String>,
    /// The licence type's id or name.
    licence_type: Option<String>,
}

fn mapping_from(c: &TenantConfig, id: String, b: &MappingBody) -> Result<GroupMapping, ScimError> {
    Ok(GroupMapping {
        id,
        group: b.group.clone(),
        workspace_id: b.workspace.as_deref().map(|w| workspace_id(c, w)).transpose()?,
        role_id: b.role.as_deref().map(|r| role_id(c, r)).transpose()?,
        licence_type_id: b.licence_type.as_deref().map(|l| licence_id(c, l)).transpose()?,
    })
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/group-mappings", tag = "configuration",
    responses((status = 200, description = "The group mappings", body = Vec<MappingOut>)))]
pub(super) async fn list_mappings(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    Ok(ok(StatusCode::OK, json!(MappingOut::all(&c))))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/group-mappings", tag = "configuration", request_body = MappingBody,
    responses((status = 201, description = "The mapping", body = MappingOut),
        (status = 409, description = "the group's name is shared by several groups")))]
pub(super) async fn create_mapping(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let b: MappingBody = body(&bytes)?;
    let id = new_id();
    let wanted = id.clone();
    let c = change(&s, &t, move |c| {
        let m = mapping_from(c, id.clone(), &b)?;
        c.mappings.push(m);
        Ok(())
    })
    .await?;
    let created = c.mappings.iter().find(|m| m.id == wanted).map(|m| MappingOut::of(&c, m));
    Ok(ok(StatusCode::CREATED, json!(created)))
}

#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/group-mappings/{id}", tag = "configuration",
    request_body = MappingBody, responses((status = 200, description = "The mapping", body = MappingOut),
        (status = 409, description = "the group's name is shared by several groups")))]
pub(super) async fn replace_mapping(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: MappingBody = body(&bytes)?;
    let wanted = id.clone();
    let c = change(&s, &t, move |c| {
        let m = mapping_from(c, id.clone(), &b)?;
        let slot = c
            .mappings
            .iter_mut()
            .find(|x| x.id == id)
            .ok_or_else(|| ScimError::not_found(format!("there is no group mapping '{id}'")))?;
        *slot = m;
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::OK, json!(c.mappings.iter().find(|m| m.id == wanted).map(|m| MappingOut::of(&c, m)))))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/group-mappings/{id}", tag = "configuration",
    responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_mapping(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    change(&s, &t, move |c| {
        if !c.mappings.iter().any(|m| m.id == id) {
            return Err(ScimError::not_found(format!("there is no group mapping '{id}'")));
        }
        c.mappings.retain(|m| m.id != id);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- policy

/// Any subset of the tenant's policy: what is sent is set, the rest stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyBody {
    on_create: Option<OnCreate>,
    /// The role (id or name) a new user gets when `on_create` is `grant_default`.
    default_role: Option<String>,
    /// The workspace (id or name) of the default role.
    default_workspace: Option<String>,
    on_deactivate: Option<OnDeactivate>,
    on_delete: Option<OnDelete>,
    allowed_domains: Option<Vec<String>>,
    seats_exhausted: Option<SeatsExhausted>,
    /// Attributes of a SCIM write that no schema defines: `ignore` (the write succeeds and
    /// its audit row names them) or `reject` (400 naming them).
    unknown_attributes: Option<UnknownAttributes>,
    scim_enabled: Option<bool>,
    /// The highest rank a default role may have, or `null` for no ceiling.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    max_default_rank: Option<Option<i64>>,
    /// `{"requests_per_second": N, "burst": N}`, or `null` for the server's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<Option<RateLimit>>,
}

/// A field that may be sent as `null` (clear it) or left out (keep it).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The tenant's policy as an admin reads it.
#[derive(Serialize, ToSchema)]
pub(super) struct PolicyOut {
    on_create: OnCreate,
    #[schema(required)]
    default_role: Option<Named>,
    #[schema(required)]
    default_workspace: Option<Named>,
    on_deactivate: OnDeactivate,
    on_delete: OnDelete,
    /// The highest rank the default role may have; `null`: no ceiling.
    #[schema(required)]
    max_default_rank: Option<i64>,
    /// E-mail domains SCIM may create users in; empty: any.
    allowed_domains: Vec<String>,
    seats_exhausted: SeatsExhausted,
    unknown_attributes: UnknownAttributes,
    scim_enabled: bool,
    /// The tenant's own request rate; `null`: the server's.
    #[schema(required)]
    rate_limit: Option<RateLimit>,
    /// Users moved so far by the last change, while that work still runs; `null` when none does.
    #[schema(required)]
    reconciling: Option<Progress>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Progress {
    done: usize,
    total: usize,
}

fn policy_json(c: &TenantConfig, t: &Tenant, reconciling: Option<(usize, usize)>) -> PolicyOut {
    let p = &c.policy;
    PolicyOut {
        on_create: p.on_create,
        default_role: p.default_role_id.as_deref().map(|r| Named::new(r, c.role(r).map(|x| x.name.as_str()))),
        default_workspace: p
            .default_workspace_id
            .as_deref()
            .map(|w| Named::new(w, c.workspace(w).map(|x| x.name.as_str()))),
        on_deactivate: p.on_deactivate,
        on_delete: p.on_delete,
        max_default_rank: p.max_default_rank,
        allowed_domains: p.allowed_domains.clone(),
        seats_exhausted: p.seats_exhausted,
        unknown_attributes: p.unknown_attributes,
        scim_enabled: t.enabled,
        rate_limit: p.rate_limit,
        reconciling: reconciling.map(|(done, total)| Progress { done, total }),
    }
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/policy", tag = "configuration",
    responses((status = 200, description = "The policy", body = PolicyOut)))]
pub(super) async fn get_policy(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    Ok(ok(StatusCode::OK, json!(policy_json(&c, &t, s.svc.reconciling(t.id)))))
}

#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/policy", tag = "configuration", request_body = PolicyBody,
    responses((status = 200, description = "The policy", body = PolicyOut)))]
pub(super) async fn put_policy(
    State(s): State<AppState>,
    Extension(mut t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let b: PolicyBody = body(&bytes)?;
    let scim_enabled = b.scim_enabled;
    let change = Arc::new(move |c: &mut TenantConfig| -> Result<(), Error> {
        let p = &mut c.policy;
        if let Some(v) = b.rate_limit {
            p.rate_limit = v;
        }
        if let Some(v) = b.max_default_rank {
            p.max_default_rank = v;
        }
        if let Some(v) = b.on_create {
            p.on_create = v;
        }
        if let Some(v) = b.on_deactivate {
            p.on_deactivate = v;
        }
        if let Some(v) = b.on_delete {
            p.on_delete = v;
        }
        if let Some(v) = b.seats_exhausted {
            p.seats_exhausted = v;
        }
        if let Some(v) = b.unknown_attributes {
            p.unknown_attributes = v;
        }
        if let Some(v) = &b.allowed_domains {
            p.allowed_domains = v.iter().map(|d| d.trim().to_lowercase()).collect();
        }
        if let Some(r) = &b.default_role {
            c.policy.default_role_id = Some(role_id(c, r)?);
        }
        if let Some(w) = &b.default_workspace {
            c.policy.default_workspace_id = Some(workspace_id(c, w)?);
        }
        Ok(())
    });
    // The switch is written in the same transaction as the policy.
    let options = crate::service::admin::ConfigOptions { scim_enabled, ..Default::default() };
    let changed = s.svc.change_config(t.id, change, options).await?;
    if let Some(enabled) = changed.scim_enabled {
        s.auth_cache.clear();
        t.enabled = enabled;
    }
    s.forget_tenant_rate(t.id);
    Ok(ok(StatusCode::OK, json!(policy_json(&changed.config, &t, s.svc.reconciling(t.id)))))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct ReapplyParams {
    /// Only say who would gain or lose which role; change nothing.
    dry_run: Option<bool>,
}

/// What a re-application changed (or would change).
#[derive(Serialize, ToSchema)]
pub(super) struct ReapplyOut {
    dry_run: bool,
    /// How many users' roles change.
    changed: usize,
    users: Vec<UserChange>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct UserChange {
    id: String,
    granted: Vec<Assignment>,
    revoked: Vec<Assignment>,
}

/// A role in a workspace, and why the user holds it (`default`, `group:<id>`, `manual`).
#[derive(Serialize, ToSchema)]
pub(super) struct Assignment {
    workspace: Named,
    role: Named,
    source: String,
}

/// `POST …/policy/reapply[?dry_run=true]`: give every existing user the
/// default role a user created now would get, and reconcile; with
/// `dry_run`, only say who would gain or lose which role.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/policy/reapply", tag = "configuration", params(ReapplyParams),
    responses((status = 200, description = "Each user whose roles change", body = ReapplyOut)))]
pub(super) async fn reapply_policy(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(p): Query<HashMap<String, String>>,
) -> AdminResult {
    let dry_run = super::views::flag(&p, "dry_run")?.unwrap_or(false);
    let changed = s.svc.reapply_policy(t.id, dry_run).await?;
    let c = s.svc.tenant_config(t.id).await?;
    let named = |a: &scim_core::policy::RoleAssignment| Assignment {
        workspace: Named::new(&a.workspace_id, c.workspace(&a.workspace_id).map(|w| w.name.as_str())),
        role: Named::new(&a.role_id, c.role(&a.role_id).map(|r| r.name.as_str())),
        source: a.source.to_string(),
    };
    let users: Vec<UserChange> = changed
        .iter()
        .map(|u| UserChange {
            id: u.user_id.clone(),
            granted: u.granted.iter().map(named).collect(),
            revoked: u.revoked.iter().map(named).collect(),
        })
        .collect();
    Ok(ok(StatusCode::OK, json!(ReapplyOut { dry_run, changed: users.len(), users })))
}
