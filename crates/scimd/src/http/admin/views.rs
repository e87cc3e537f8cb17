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
use serde::Deserialize;
use serde_json::{Value, json};

/// `{"id", "name"}` of a configuration item, for answers that name it.
pub(super) fn named(id: &str, name: Option<&str>) -> Value {
    json!({"id": id, "name": name})
}

/// Which kind of configuration item a single-item GET is for.
fn item(c: &TenantConfig, kind: &str, key: &str) -> Option<Value> {
    match kind {
        "workspaces" => find(&c.workspaces, key, |w| &w.id, |w| &w.name).map(|w| json!(w)),
        "roles" => find(&c.roles, key, |r| &r.id, |r| &r.name).map(|r| json!(r)),
        "licence-types" => find(&c.licence_types, key, |l| &l.id, |l| &l.name).map(|l| json!(l)),
        "group-mappings" => c.mappings.iter().find(|m| m.id == key).map(|m| json!(m)),
        _ => None,
    }
}

/// GET of one workspace, role, licence type or group mapping, by id (or name).
pub(super) async fn get_item(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> AdminResult {
    let kind = uri.path().trim_end_matches('/').rsplit('/').nth(1).unwrap_or_default().to_string();
    let c = s.svc.tenant_config(t.id).await?;
    let what = kind.trim_end_matches('s').replace('-', " ");
    item(&c, &kind, &id)
        .map(|v| ok(StatusCode::OK, v))
        .ok_or_else(|| AdminError::not_found(format!("there is no {what} '{id}'")))
}

/// Licence types with their seats: limit, used, waiting.
pub(super) async fn list_licence_types(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let c = s.svc.tenant_config(t.id).await?;
    let usage = s.svc.seat_usage(t.id).await?;
    let types: Vec<Value> = c
        .licence_types
        .iter()
        .map(|l| {
            let (used, waiting) = usage.get(&l.id).copied().unwrap_or_default();
            let mut v = json!(l);
            if let Some(o) = v.as_object_mut() {
                o.insert("used".into(), used.into());
                o.insert("waiting".into(), waiting.into());
            }
            v
        })
        .collect();
    Ok(ok(StatusCode::OK, json!(types)))
}

#[derive(Deserialize)]
pub(super) struct PageParams {
    after: Option<String>,
    limit: Option<i64>,
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

/// Pushed groups (Conveyor's "SCIM Groups" panel): each with its member
/// count and the mappings that name it; `mapped: false` for the others.
pub(super) async fn list_groups(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(p): Query<PageParams>,
) -> AdminResult {
    let (after, limit) = (cursor(p.after.as_deref())?, page_size(p.limit)?);
    let groups = s.svc.groups_page(t.id, after, limit + 1).await?;
    let c = s.svc.tenant_config(t.id).await?;
    let more = groups.len() as i64 > limit;
    let page = &groups[..groups.len().min(limit as usize)];
    let data: Vec<Value> = page
        .iter()
        .map(|g| {
            let name = g.display_name.as_deref().unwrap_or_default();
            let mappings: Vec<Value> = c
                .mappings
                .iter()
                .filter(|m| m.group == g.id || m.group.eq_ignore_ascii_case(name))
                .map(|m| {
                    let ws = m.workspace_id.as_deref().map(|w| named(w, c.workspace(w).map(|x| x.name.as_str())));
                    let role = m.role_id.as_deref().map(|r| named(r, c.role(r).map(|x| x.name.as_str())));
                    let licence =
                        m.licence_type_id.as_deref().map(|l| named(l, c.licence_type(l).map(|x| x.name.as_str())));
                    json!({"id": m.id, "workspace": ws, "role": role, "licence_type": licence})
                })
                .collect();
            json!({"id": g.id, "displayName": g.display_name, "members": g.members, "mapped": !mappings.is_empty(),
                   "mappings": mappings})
        })
        .collect();
    let next = if more { page.last().map(|g| g.seq.to_string()) } else { None };
    Ok(ok(StatusCode::OK, json!({"data": data, "next": next})))
}
