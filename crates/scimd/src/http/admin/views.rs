//! The admin API's read views that people look at: one configuration item
//! by id or name, pushed groups with their member counts and mappings, and
//! licence types with their seat usage.

use super::{AdminError, AdminResult, find, ok};
use crate::http::AppState;
use crate::store::Tenant;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use scim_core::policy::TenantConfig;
use scim_core::policy::{GroupMapping, LicenceType, Role, Workspace};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// `{"id", "name"}` of a configuration item (or group), for answers that name it;
/// `name` is `null` when the item is gone.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(super) struct Named {
    id: String,
    #[schema(required)]
    name: Option<String>,
}

impl Named {
    pub(super) fn new(id: &str, name: Option<&str>) -> Named {
        Named { id: id.to_string(), name: name.map(str::to_string) }
    }
}

/// A group mapping with the names of what it gives beside their ids.
#[derive(Serialize, ToSchema)]
pub(super) struct MappingOut<'a> {
    #[serde(flatten)]
    mapping: &'a GroupMapping,
    #[schema(required)]
    workspace: Option<Named>,
    #[schema(required)]
    role: Option<Named>,
    #[schema(required)]
    licence_type: Option<Named>,
}

impl<'a> MappingOut<'a> {
    pub(super) fn of(c: &TenantConfig, m: &'a GroupMapping) -> MappingOut<'a> {
        MappingOut {
            mapping: m,
            workspace: m.workspace_id.as_deref().map(|w| Named::new(w, c.workspace(w).map(|x| x.name.as_str()))),
            role: m.role_id.as_deref().map(|r| Named::new(r, c.role(r).map(|x| x.name.as_str()))),
            licence_type: m
                .licence_type_id
                .as_deref()
                .map(|l| Named::new(l, c.licence_type(l).map(|x| x.name.as_str()))),
        }
    }
    pub(super) fn all(c: &'a TenantConfig) -> Vec<MappingOut<'a>> {
        c.mappings.iter().map(|m| MappingOut::of(c, m)).collect()
    }
}

/// A workspace with the name of its own default role beside the role's id.
#[derive(Serialize, ToSchema)]
pub(super) struct WorkspaceOut<'a> {
    #[serde(flatten)]
    workspace: &'a Workspace,
    /// The workspace's own default role (`lifecycle.default_role_id`), named; `null` when it has none.
    #[schema(required)]
    default_role: Option<Named>,
}

impl<'a> WorkspaceOut<'a> {
    pub(super) fn of(c: &TenantConfig, w: &'a Workspace) -> WorkspaceOut<'a> {
        let role = w.lifecycle.default_role_id.as_deref();
        WorkspaceOut { workspace: w, default_role: role.map(|r| Named::new(r, c.role(r).map(|x| x.name.as_str()))) }
    }
    pub(super) fn all(c: &'a TenantConfig) -> Vec<WorkspaceOut<'a>> {
        c.workspaces.iter().map(|w| WorkspaceOut::of(c, w)).collect()
    }
}

/// Which kind of configuration item a single-item GET is for.
fn item(c: &TenantConfig, kind: &str, key: &str) -> Option<Value> {
    match kind {
        "workspaces" => find(&c.workspaces, key, |w| &w.id, |w| &w.name).map(|w| json!(WorkspaceOut::of(c, w))),
        "roles" => find(&c.roles, key, |r| &r.id, |r| &r.name).map(|r| json!(r)),
        "licence-types" => find(&c.licence_types, key, |l| &l.id, |l| &l.name).map(|l| json!(l)),
        "group-mappings" => c.mappings.iter().find(|m| m.id == key).map(|m| json!(MappingOut::of(c, m))),
        _ => None,
    }
}

/// GET of one workspace, role, licence type or group mapping (`kind`, as in its path), by id (or name).
async fn get_item(s: &AppState, t: &Tenant, kind: &str, id: &str) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    let what = kind.trim_end_matches('s').replace('-', " ");
    item(&c, kind, id)
        .map(|v| ok(StatusCode::OK, v))
        .ok_or_else(|| AdminError::not_found(format!("there is no {what} '{id}'")))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/workspaces/{id}", tag = "configuration",
    responses((status = 200, description = "The workspace", body = WorkspaceOut)))]
pub(super) async fn get_workspace(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    get_item(&s, &t, "workspaces", &id).await
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/roles/{id}", tag = "configuration",
    responses((status = 200, description = "The role", body = Role)))]
pub(super) async fn get_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    get_item(&s, &t, "roles", &id).await
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/licence-types/{id}", tag = "configuration",
    responses((status = 200, description = "The licence type", body = LicenceType)))]
pub(super) async fn get_licence_type(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    get_item(&s, &t, "licence-types", &id).await
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/group-mappings/{id}", tag = "configuration",
    responses((status = 200, description = "The group mapping", body = MappingOut)))]
pub(super) async fn get_mapping(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    get_item(&s, &t, "group-mappings", &id).await
}

/// A licence type with its seats.
#[derive(Serialize, ToSchema)]
pub(super) struct LicenceUsage<'a> {
    #[serde(flatten)]
    licence_type: &'a LicenceType,
    /// Seats held.
    used: i64,
    /// Users waiting for a seat.
    waiting: i64,
}

impl<'a> LicenceUsage<'a> {
    /// Every licence type of `c` with its seats as `usage` counts them.
    pub(super) fn all(c: &'a TenantConfig, usage: &HashMap<String, (i64, i64)>) -> Vec<LicenceUsage<'a>> {
        c.licence_types
            .iter()
            .map(|l| {
                let (used, waiting) = usage.get(&l.id).copied().unwrap_or_default();
                LicenceUsage { licence_type: l, used, waiting }
            })
            .collect()
    }
}

/// Licence types with their seats: limit, used, waiting.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/licence-types", tag = "configuration",
    responses((status = 200, description = "The licence types with their seat usage", body = Vec<LicenceUsage>)))]
pub(super) async fn list_licence_types(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    let usage = s.svc.seat_usage(t.id).await?;
    Ok(ok(StatusCode::OK, json!(LicenceUsage::all(&c, &usage))))
}

/// `?after=&limit=` of a page.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct PageParams {
    /// The `next` of the previous page.
    after: Option<String>,
    /// 1 to 1,000; 100 unless given.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A query parameter that is `true` or `false`.
pub(super) fn flag(params: &HashMap<String, String>, key: &str) -> Result<Option<bool>, AdminError> {
    match params.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(AdminError::bad(format!("{key} must be true or false, not '{other}'"))),
    }
}

/// A cursor as the API hands it out: a stored position, opaque to clients.
pub(super) fn cursor(after: Option<&str>) -> Result<i64, AdminError> {
    match after {
        None | Some("") => Ok(0),
        Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            AdminError::bad(format!("'{text}' is not a cursor: pass the 'next' value of the previous page"))
        }),
    }
}

/// A page's `limit` among a query's parameters, as [`page_size`] takes it.
pub(super) fn limit_of(params: &std::collections::HashMap<String, String>) -> Result<i64, AdminError> {
    let limit = params
        .get("limit")
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<i64>().map_err(|_| AdminError::bad(format!("limit must be a whole number, not '{l}'"))))
        .transpose()?;
    page_size(limit)
}

/// Page sizes: 100 unless asked, at most 1,000.
pub(super) fn page_size(limit: Option<i64>) -> Result<i64, AdminError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(AdminError::bad(format!("limit must be between 1 and 1000, not {n}"))),
    }
}

/// A pushed group with its member count and the mappings that name it.
#[derive(Serialize, ToSchema)]
pub(super) struct GroupOut<'a> {
    id: String,
    #[serde(rename = "displayName")]
    #[schema(required)]
    display_name: Option<String>,
    members: i64,
    mapped: bool,
    mappings: Vec<MappingOut<'a>>,
}

/// A page of pushed groups.
#[derive(Serialize, ToSchema)]
pub(super) struct GroupPage<'a> {
    data: Vec<GroupOut<'a>>,
    /// The cursor to pass as `after` for the next page; `null` on the last.
    #[schema(required)]
    next: Option<String>,
}

/// Pushed groups (Conveyor's "SCIM Groups" panel): each with its member
/// count and the mappings that name it; `mapped: false` for the others.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/groups", tag = "configuration", params(PageParams),
    responses((status = 200, description = "A page of pushed groups", body = GroupPage)))]
pub(super) async fn list_groups(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(p): Query<HashMap<String, String>>,
) -> AdminResult {
    let (after, limit) = (cursor(p.get("after").map(String::as_str))?, limit_of(&p)?);
    let groups = s.svc.groups_page(t.id, after, limit + 1).await?;
    let c = s.svc.tenant_config(t.id).await?;
    let more = groups.len() as i64 > limit;
    let page = &groups[..groups.len().min(limit as usize)];
    let data: Vec<GroupOut> = page
        .iter()
        .map(|g| {
            let name = g.display_name.as_deref().unwrap_or_default();
            let mappings: Vec<MappingOut> = c
                .mappings
                .iter()
                .filter(|m| m.group == g.id || m.group.eq_ignore_ascii_case(name))
                .map(|m| MappingOut::of(&c, m))
                .collect();
            GroupOut {
                id: g.id.clone(),
                display_name: g.display_name.clone(),
                members: g.members,
                mapped: !mappings.is_empty(),
                mappings,
            }
        })
        .collect();
    let next = if more { page.last().map(|g| g.seq.to_string()) } else { None };
    Ok(ok(StatusCode::OK, json!(GroupPage { data, next })))
}
