//! The admin API (`/admin/v1`): a tenant's provisioning configuration
//! (workspaces, roles, licence types, group mappings, policy), users managed
//! by hand, manual roles, and what a user may do (`/access`). Authenticated by
//! an admin token (`scimd admin-token create`). JSON in and out; every error
//! is `{"error": {"status", "code", "detail"}}`.

use super::AppState;
use crate::auth::hash_token;
use crate::clock;
use crate::store::{Doc, Kind, NewResource, RawResource, StoreError, Tenant, Update, update_from_current};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use scim_core::policy::{
    GroupMapping, LicenceType, OnCreate, OnDeactivate, OnDelete, RateLimit, Role, SeatsExhausted, TenantConfig,
    Workspace,
};
use scim_core::{ResourceType, ScimError, patch, resource};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// An admin API error: `{"error": {"status": 409, "code": "scim_managed", "detail": "…"}}`.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl AdminError {
    fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        AdminError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            detail: detail.into(),
        }
    }
    fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not_found", detail)
    }
    fn bad(detail: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", detail)
    }
}

impl From<ScimError> for AdminError {
    fn from(e: ScimError) -> Self {
        let code = match e.status {
            400 => "invalid_request",
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            _ => "error",
        };
        AdminError::new(e.status, code, e.detail)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AdminError::not_found("not found"),
            StoreError::Conflict(what) => AdminError::new(409, "conflict", format!("{what} is already taken")),
            StoreError::Rejected(e) => e.into(),
            other => {
                tracing::error!(error = %other, "admin API store error");
                AdminError::new(500, "internal", "the server failed to access the database; the error has been logged")
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "code": self.code, "detail": self.detail}});
        (self.status, Json(body)).into_response()
    }
}

type AdminResult = Result<Response, AdminError>;

pub fn router(state: AppState) -> Router<AppState> {
    let t = "/admin/v1/tenants/{tenant}";
    Router::new()
        .route(&format!("{t}/config"), get(get_config))
        .route(&format!("{t}/workspaces"), get(list_workspaces).post(create_workspace))
        .route(&format!("{t}/workspaces/{{id}}"), delete(delete_workspace))
        .route(&format!("{t}/roles"), get(list_roles).post(create_role))
        .route(&format!("{t}/roles/{{id}}"), delete(delete_role).patch(update_role))
        .route(&format!("{t}/licence-types"), get(list_licence_types).post(create_licence_type))
        .route(&format!("{t}/licence-types/{{id}}"), delete(delete_licence_type).patch(update_licence_type))
        .route(&format!("{t}/group-mappings"), get(list_mappings).post(create_mapping))
        .route(&format!("{t}/group-mappings/{{id}}"), delete(delete_mapping).put(replace_mapping))
        .route(&format!("{t}/policy"), get(get_policy).put(put_policy))
        .route(&format!("{t}/users"), get(list_users).post(create_user))
        .route(&format!("{t}/users/{{id}}"), get(get_user).patch(patch_user).delete(delete_user))
        .route(&format!("{t}/users/{{id}}/restore"), post(restore_user))
        .route(&format!("{t}/users/{{id}}/access"), get(user_access))
        .route(&format!("{t}/users/{{id}}/roles"), post(grant_role))
        .route(&format!("{t}/users/{{id}}/roles/{{workspace}}/{{role}}"), delete(withdraw_role))
        .method_not_allowed_fallback(|| async { AdminError::new(405, "method_not_allowed", "method not allowed here") })
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate))
}

async fn authenticate(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let Some(token) = header.and_then(crate::auth::credential) else {
        return AdminError::new(401, "unauthorized", "send 'Authorization: Bearer <admin token>'").into_response();
    };
    let hash = hash_token(token);
    let found = match state.store.admin_token_by_hash(&hash).await {
        Ok(t) => t.filter(|t| bool::from(t.hash.as_slice().ct_eq(hash.as_slice()))),
        Err(e) => return AdminError::from(e).into_response(),
    };
    match found {
        None => return AdminError::new(401, "unauthorized", "the admin token is not valid").into_response(),
        Some(t) if t.revoked_at.is_some() => {
            return AdminError::new(401, "unauthorized", "the admin token has been revoked").into_response();
        }
        Some(_) => {}
    }
    let Some(name) = params.get("tenant") else {
        return AdminError::not_found("no tenant in the URL").into_response();
    };
    if name.contains('\0') {
        return AdminError::not_found("there is no tenant with a NUL character in its name").into_response();
    }
    match state.store.tenant_by_name(name).await {
        Ok(Some(tenant)) => {
            req.extensions_mut().insert(tenant);
            next.run(req).await
        }
        Ok(None) => AdminError::not_found(format!("there is no tenant '{name}'")).into_response(),
        Err(e) => AdminError::from(e).into_response(),
    }
}

/// A JSON body, with our error shape when it is not JSON.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, AdminError> {
    // The same scan as SCIM bodies: a NUL character (PostgreSQL cannot store
    // one) or an absurdly long array is refused before parsing.
    scim_core::Limits::default().check_json_body(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| AdminError::bad(format!("the request body is not valid: {e}")))
}

fn ok(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Find a configuration item by id or by name (ignoring case).
fn find<'a, T>(items: &'a [T], key: &str, id: impl Fn(&T) -> &str, name: impl Fn(&T) -> &str) -> Option<&'a T> {
    items.iter().find(|i| id(i) == key).or_else(|| items.iter().find(|i| name(i).eq_ignore_ascii_case(key)))
}

fn workspace_id(c: &TenantConfig, key: &str) -> Result<String, ScimError> {
    find(&c.workspaces, key, |w| &w.id, |w| &w.name)
        .map(|w| w.id.clone())
        .ok_or_else(|| ScimError::new(400, None, format!("there is no workspace '{key}'")))
}

fn role_id(c: &TenantConfig, key: &str) -> Result<String, ScimError> {
    find(&c.roles, key, |r| &r.id, |r| &r.name)
        .map(|r| r.id.clone())
        .ok_or_else(|| ScimError::new(400, None, format!("there is no role '{key}'")))
}

fn licence_id(c: &TenantConfig, key: &str) -> Result<String, ScimError> {
    find(&c.licence_types, key, |l| &l.id, |l| &l.name)
        .map(|l| l.id.clone())
        .ok_or_else(|| ScimError::new(400, None, format!("there is no licence type '{key}'")))
}

async fn change(
    state: &AppState,
    tenant: &Tenant,
    f: impl FnOnce(&mut TenantConfig) -> Result<(), ScimError> + Send + 'static,
) -> Result<TenantConfig, AdminError> {
    Ok(state.store.change_tenant_config(tenant.id, Box::new(f)).await?)
}

async fn get_config(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.store.tenant_config(t.id).await?;
    Ok(ok(StatusCode::OK, config_json(&c, &t)))
}

fn config_json(c: &TenantConfig, t: &Tenant) -> Value {
    json!({
        "workspaces": c.workspaces,
        "roles": c.roles,
        "licence_types": c.licence_types,
        "group_mappings": c.mappings,
        "policy": policy_json(c, t),
    })
}

// ---------------------------------------------------------------- workspaces

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceBody {
    name: String,
}

async fn list_workspaces(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    Ok(ok(StatusCode::OK, json!(s.store.tenant_config(t.id).await?.workspaces)))
}

async fn create_workspace(State(s): State<AppState>, Extension(t): Extension<Tenant>, bytes: Bytes) -> AdminResult {
    let b: WorkspaceBody = body(&bytes)?;
    if b.name.trim().is_empty() {
        return Err(AdminError::bad("a workspace needs a name"));
    }
    let w = Workspace { id: new_id(), name: b.name };
    let created = w.clone();
    change(&s, &t, move |c| {
        c.workspaces.push(w);
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::CREATED, json!(created)))
}

async fn delete_workspace(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    change(&s, &t, move |c| {
        let id = workspace_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        c.workspaces.retain(|w| w.id != id);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- roles

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    name: Option<String>,
    rank: Option<i64>,
    provisionable: Option<bool>,
    protected: Option<bool>,
}

async fn list_roles(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let mut roles = s.store.tenant_config(t.id).await?.roles;
    roles.sort_by_key(|r| r.rank);
    Ok(ok(StatusCode::OK, json!(roles)))
}

async fn create_role(State(s): State<AppState>, Extension(t): Extension<Tenant>, bytes: Bytes) -> AdminResult {
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
        c.roles.push(role);
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::CREATED, json!(created)))
}

async fn update_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: RoleBody = body(&bytes)?;
    let c = change(&s, &t, move |c| {
        let id = role_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        if let Some(r) = c.roles.iter_mut().find(|r| r.id == id) {
            if let Some(n) = b.name {
                r.name = n;
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

async fn delete_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    change(&s, &t, move |c| {
        let id = role_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        c.roles.retain(|r| r.id != id);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- licence types

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenceBody {
    name: Option<String>,
    /// `null` for unlimited.
    #[serde(default, with = "double_option")]
    seat_limit: Option<Option<i64>>,
    default: Option<bool>,
}

/// Tell "absent" from "null" (unlimited seats).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

async fn list_licence_types(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    Ok(ok(StatusCode::OK, json!(s.store.tenant_config(t.id).await?.licence_types)))
}

async fn create_licence_type(State(s): State<AppState>, Extension(t): Extension<Tenant>, bytes: Bytes) -> AdminResult {
    let b: LicenceBody = body(&bytes)?;
    let Some(name) = b.name.filter(|n| !n.trim().is_empty()) else {
        return Err(AdminError::bad("a licence type needs a name"));
    };
    let lt =
        LicenceType { id: new_id(), name, seat_limit: b.seat_limit.flatten(), is_default: b.default.unwrap_or(false) };
    let created = lt.clone();
    change(&s, &t, move |c| {
        c.licence_types.push(lt);
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::CREATED, json!(created)))
}

async fn update_licence_type(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: LicenceBody = body(&bytes)?;
    let c = change(&s, &t, move |c| {
        let id = licence_id(c, &id).map_err(|e| ScimError::not_found(e.detail))?;
        if let Some(l) = c.licence_types.iter_mut().find(|l| l.id == id) {
            if let Some(n) = b.name {
                l.name = n;
            }
            if let Some(limit) = b.seat_limit {
                l.seat_limit = limit;
            }
            if let Some(d) = b.default {
                l.is_default = d;
            }
        }
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::OK, json!(c.licence_types)))
}

async fn delete_licence_type(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingBody {
    /// The SCIM group's id or displayName.
    group: String,
    workspace: Option<String>,
    role: Option<String>,
    licence_type: Option<String>,
}

fn mapping_from(c: &TenantConfig, id: String, b: MappingBody) -> Result<GroupMapping, ScimError> {
    Ok(GroupMapping {
        id,
        group: b.group,
        workspace_id: b.workspace.map(|w| workspace_id(c, &w)).transpose()?,
        role_id: b.role.map(|r| role_id(c, &r)).transpose()?,
        licence_type_id: b.licence_type.map(|l| licence_id(c, &l)).transpose()?,
    })
}

async fn list_mappings(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    Ok(ok(StatusCode::OK, json!(s.store.tenant_config(t.id).await?.mappings)))
}

async fn create_mapping(State(s): State<AppState>, Extension(t): Extension<Tenant>, bytes: Bytes) -> AdminResult {
    let b: MappingBody = body(&bytes)?;
    let id = new_id();
    let wanted = id.clone();
    let c = change(&s, &t, move |c| {
        let m = mapping_from(c, id, b)?;
        c.mappings.push(m);
        Ok(())
    })
    .await?;
    let created = c.mappings.iter().find(|m| m.id == wanted);
    Ok(ok(StatusCode::CREATED, json!(created)))
}

async fn replace_mapping(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: MappingBody = body(&bytes)?;
    let wanted = id.clone();
    let c = change(&s, &t, move |c| {
        let m = mapping_from(c, id.clone(), b)?;
        let slot = c
            .mappings
            .iter_mut()
            .find(|x| x.id == id)
            .ok_or_else(|| ScimError::not_found(format!("there is no group mapping '{id}'")))?;
        *slot = m;
        Ok(())
    })
    .await?;
    Ok(ok(StatusCode::OK, json!(c.mappings.iter().find(|m| m.id == wanted))))
}

async fn delete_mapping(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    on_create: Option<OnCreate>,
    default_role: Option<String>,
    default_workspace: Option<String>,
    on_deactivate: Option<OnDeactivate>,
    on_delete: Option<OnDelete>,
    allowed_domains: Option<Vec<String>>,
    seats_exhausted: Option<SeatsExhausted>,
    scim_enabled: Option<bool>,
    /// `{"requests_per_second": N, "burst": N}`, or `null` for the server's default.
    #[serde(default, deserialize_with = "present")]
    rate_limit: Option<Option<RateLimit>>,
}

/// A field that may be sent as `null` (clear it) or left out (keep it).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn policy_json(c: &TenantConfig, t: &Tenant) -> Value {
    let p = &c.policy;
    json!({
        "on_create": p.on_create,
        "default_role": p.default_role_id,
        "default_workspace": p.default_workspace_id,
        "on_deactivate": p.on_deactivate,
        "on_delete": p.on_delete,
        "allowed_domains": p.allowed_domains,
        "seats_exhausted": p.seats_exhausted,
        "scim_enabled": t.enabled,
        "rate_limit": p.rate_limit,
    })
}

async fn get_policy(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.store.tenant_config(t.id).await?;
    Ok(ok(StatusCode::OK, policy_json(&c, &t)))
}

async fn put_policy(State(s): State<AppState>, Extension(mut t): Extension<Tenant>, bytes: Bytes) -> AdminResult {
    let b: PolicyBody = body(&bytes)?;
    let scim_enabled = b.scim_enabled;
    let c = change(&s, &t, move |c| {
        let p = &mut c.policy;
        if let Some(v) = b.rate_limit {
            p.rate_limit = v;
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
        if let Some(v) = b.allowed_domains {
            p.allowed_domains = v.into_iter().map(|d| d.trim().to_lowercase()).collect();
        }
        if let Some(r) = b.default_role {
            let id = role_id(c, &r)?;
            c.policy.default_role_id = Some(id);
        }
        if let Some(w) = b.default_workspace {
            let id = workspace_id(c, &w)?;
            c.policy.default_workspace_id = Some(id);
        }
        Ok(())
    })
    .await?;
    if let Some(enabled) = scim_enabled {
        s.store.set_tenant_enabled(&t.name, enabled).await?;
        s.auth_cache.clear();
        t.enabled = enabled;
    }
    s.forget_tenant_rate(t.id);
    Ok(ok(StatusCode::OK, policy_json(&c, &t)))
}

// ---------------------------------------------------------------- users

fn user_json(r: &crate::store::StoredResource, deleted: bool) -> Value {
    let mut v = r.doc.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), r.id.clone().into());
        o.insert(
            "meta".into(),
            json!({"created": r.created_at, "lastModified": r.updated_at, "version": format!("W/\"{}\"", r.version)}),
        );
        o.insert("scim_managed".into(), r.scim_managed.into());
        o.insert("deleted".into(), deleted.into());
    }
    v
}

fn scim_managed_error(id: &str, what: &str) -> ScimError {
    ScimError::new(
        409,
        None,
        format!(
            "user '{id}' is managed by the identity provider through SCIM: {what} it there, so the identity provider \
             stays the source of truth"
        ),
    )
}

#[derive(Deserialize)]
struct ListParams {
    deleted: Option<bool>,
}

async fn list_users(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(p): Query<ListParams>,
) -> AdminResult {
    if p.deleted.unwrap_or(false) {
        let users = s.store.list_deleted_users(t.id).await?;
        return Ok(ok(StatusCode::OK, json!(users.iter().map(|u| user_json(u, true)).collect::<Vec<_>>())));
    }
    let rt = ResourceType::user();
    let query = crate::store::ListQuery { limit: 1000, ..Default::default() };
    let (_, rows) = s.store.list(t.id, Kind::User, &query, &rt).await?;
    let users = rows.into_iter().map(RawResource::parse).collect::<Result<Vec<_>, _>>()?;
    Ok(ok(StatusCode::OK, json!(users.iter().map(|u| user_json(u, false)).collect::<Vec<_>>())))
}

async fn get_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let user =
        s.store.get(t.id, Kind::User, &id).await?.ok_or_else(|| AdminError::not_found(format!("no user '{id}'")))?;
    Ok(ok(StatusCode::OK, user_json(&user, false)))
}

/// A user created by hand (an external collaborator, say): not SCIM-managed,
/// but visible in SCIM lists so an identity provider's import can match it.
async fn create_user(State(s): State<AppState>, Extension(t): Extension<Tenant>, bytes: Bytes) -> AdminResult {
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
        now: clock::now(),
        members: Vec::new(),
        scim_managed: false,
    };
    let stored = s.store.insert(t.id, new).await.map_err(|e| match e {
        StoreError::Conflict(_) => AdminError::new(409, "conflict", "a user with that userName already exists"),
        other => other.into(),
    })?;
    Ok(ok(StatusCode::CREATED, user_json(&stored, false)))
}

/// Change a hand-managed user's attributes: the body's attributes replace
/// the user's (like a SCIM PATCH `replace` without a path).
async fn patch_user(
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
    let uid = id.clone();
    let limits = s.config.limits;
    let f = Arc::new(move |current: &crate::store::StoredResource| -> Result<Update, ScimError> {
        if current.scim_managed {
            return Err(scim_managed_error(&uid, "change"));
        }
        let ops = vec![patch::PatchOp { kind: patch::OpKind::Replace, path: None, value: Some(changes.clone()) }];
        let doc = patch::apply(&current.doc, &ops, &rt, &limits)?;
        Ok(Update {
            doc: Some(Doc::new(doc, Kind::User)),
            member_changes: Vec::new(),
            now: clock::now(),
            scim_managed: false,
            based_on: Some(current.version),
        })
    });
    let stored = update_from_current(&s.store, t.id, Kind::User, &id, false, f).await?;
    Ok(ok(StatusCode::OK, user_json(&stored, false)))
}

async fn delete_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let uid = id.clone();
    let check = Arc::new(
        move |current: &crate::store::StoredResource| {
            if current.scim_managed { Err(scim_managed_error(&uid, "deprovision")) } else { Ok(()) }
        },
    );
    s.store.delete(t.id, Kind::User, &id, check).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore_user(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let user = s.store.restore_user(t.id, &id, &clock::now()).await.map_err(|e| match e {
        StoreError::NotFound => AdminError::not_found(format!("there is no deleted user '{id}'")),
        other => other.into(),
    })?;
    Ok(ok(StatusCode::OK, user_json(&user, false)))
}

async fn user_access(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let access = s.store.access(t.id, &id).await?.ok_or_else(|| AdminError::not_found(format!("no user '{id}'")))?;
    let c = s.store.tenant_config(t.id).await?;
    let named = |id: &str, name: Option<&str>| json!({"id": id, "name": name});
    let roles: Vec<Value> = access
        .roles
        .iter()
        .map(|a| {
            json!({
                "workspace": named(&a.workspace_id, c.workspace(&a.workspace_id).map(|w| w.name.as_str())),
                "role": named(&a.role_id, c.role(&a.role_id).map(|r| r.name.as_str())),
                "source": a.source.to_string(),
            })
        })
        .collect();
    let (licence, status) = match (&access.licence, &access.unlicensed_wanted) {
        (Some((ty, source)), _) => (
            json!({"type": named(ty, c.licence_type(ty).map(|l| l.name.as_str())), "source": source.to_string()}),
            "licensed",
        ),
        (None, Some(wanted)) => (
            json!({"wanted": named(wanted, c.licence_type(wanted).map(|l| l.name.as_str())),
                   "reason": "no seats left when it was assigned: the user was created without a licence"}),
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
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    workspace: String,
    role: String,
}

async fn grant_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let b: GrantBody = body(&bytes)?;
    let c = s.store.tenant_config(t.id).await?;
    let (ws, role) = (workspace_id(&c, &b.workspace)?, role_id(&c, &b.role)?);
    s.store.set_manual_role(t.id, &id, &ws, &role, true).await.map_err(|e| match e {
        StoreError::NotFound => AdminError::not_found(format!("no user '{id}'")),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn withdraw_role(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id, workspace, role)): Path<(String, String, String, String)>,
) -> AdminResult {
    let c = s.store.tenant_config(t.id).await?;
    let (ws, role) = (workspace_id(&c, &workspace)?, role_id(&c, &role)?);
    s.store.set_manual_role(t.id, &id, &ws, &role, false).await.map_err(|e| match e {
        StoreError::NotFound => AdminError::not_found(format!("no user '{id}'")),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
