//! The admin API's audit trail: a tenant's SCIM requests, refused and
//! unauthenticated ones too, a page at a time, `{"data": [...], "next":
//! cursor}`. Newest first, unlike the event feed: a support person (and
//! the console's activity view) looks at what just happened, and the first
//! page is the latest 100 requests, not the oldest of 90 days. `next` is
//! the cursor of a page's last (oldest) row, to pass as `after` for the
//! rows before it; it is `null` once nothing older is left. A consumer
//! following new rows asks for the first page again and stops at an id it
//! has seen.
//!
//! Writes and refusals have their rows before they are answered; reads
//! are counted per minute instead, listed by `…/audit/reads` (see
//! [`crate::audit`]).

use super::{AdminError, AdminResult, ok, views};
use crate::http::AppState;
use crate::store::Tenant;
use crate::store::audit::{AuditQuery, StoredAudit, StoredReads};
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct AuditParams {
    /// The `next` of the previous page: rows before it.
    after: Option<String>,
    /// 1 to 1,000; 100 unless given.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// An HTTP status (`404`) or a class (`4xx`).
    #[param(pattern = "^([1-5][0-9][0-9]|[1-5][xX][xX])$")]
    status: Option<String>,
    /// A target's id or name, exactly.
    target: Option<String>,
}

/// A page of the audit trail, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditPage {
    data: Vec<AuditRow>,
    /// The cursor of the page's last (oldest) row, to pass as `after`; `null` once nothing older is left.
    #[schema(required)]
    next: Option<String>,
}

/// One SCIM request, or one change through the admin API, as support reads it.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditRow {
    id: String,
    /// When the request arrived.
    time: String,
    tenant: String,
    /// The token's name; `null` when the token was not valid.
    #[schema(required)]
    token: Option<String>,
    request_id: String,
    method: String,
    /// The route template (the path when no route matched).
    route: String,
    target: AuditTarget,
    status: u16,
    #[serde(rename = "scimType")]
    #[schema(required)]
    scim_type: Option<String>,
    /// What the client was shown.
    #[schema(required)]
    detail: Option<String>,
    latency_ms: f64,
    /// What the request changed, in plain words.
    changes: Vec<String>,
    event_ids: Vec<String>,
    /// The address the request came from.
    #[schema(required)]
    client: Option<String>,
    #[schema(required)]
    user_agent: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct AuditTarget {
    #[schema(required)]
    id: Option<String>,
    #[schema(required)]
    name: Option<String>,
}

/// `GET …/audit?after=CURSOR&limit=N&status=S&target=T`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "A page of the audit trail, newest first", body = AuditPage)))]
pub(super) async fn list_audit(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult {
    let query = query_of(&params)?;
    let rows = s.svc.audit_page(t.id, &query).await?;
    let full = i64::try_from(rows.len()).is_ok_and(|n| n == query.limit);
    let next = rows.last().filter(|_| full).map(|r| r.seq.to_string());
    let data = rows.iter().map(row_json).collect();
    Ok(ok(StatusCode::OK, json!(AuditPage { data, next })))
}

/// A page of counts of reads, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct ReadsPage {
    data: Vec<ReadsRow>,
    /// The cursor of the page's last (oldest) count, to pass as `after`; `null` once nothing older is left.
    #[schema(required)]
    next: Option<String>,
}

/// The reads of one minute by one token of one route, answered with one status.
#[derive(Serialize, ToSchema)]
pub(super) struct ReadsRow {
    id: String,
    /// `YYYY-MM-DDTHH:MM`, UTC.
    minute: String,
    /// The token's name.
    token: String,
    method: String,
    /// The route template.
    route: String,
    status: u16,
    requests: i64,
    latency_ms_mean: f64,
    latency_ms_max: f64,
}

fn reads_json(r: &StoredReads) -> ReadsRow {
    let t = &r.tally;
    ReadsRow {
        id: r.seq.to_string(),
        minute: r.key.minute.clone(),
        token: r.key.token_name.clone(),
        method: r.key.method.clone(),
        route: r.key.route.clone(),
        status: r.key.status,
        requests: t.requests,
        latency_ms_mean: if t.requests > 0 { t.latency_us_total as f64 / t.requests as f64 / 1000.0 } else { 0.0 },
        latency_ms_max: t.latency_us_max as f64 / 1000.0,
    }
}

/// `GET …/audit/reads?after=&limit=`: reads, counted per minute, token, route and status.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit/reads", tag = "audit", params(AuditPageParams),
    responses((status = 200, description = "Counts of the tenant's reads, newest first", body = ReadsPage)))]
pub(super) async fn list_reads(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult {
    let query = query_of(&params)?;
    let rows = s.svc.audit_reads(t.id, query.before, query.limit).await?;
    let full = i64::try_from(rows.len()).is_ok_and(|n| n == query.limit);
    let next = rows.last().filter(|_| full).map(|r| r.seq.to_string());
    let data = rows.iter().map(reads_json).collect();
    Ok(ok(StatusCode::OK, json!(ReadsPage { data, next })))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct AuditPageParams {
    /// The `next` of the previous page: counts before it.
    after: Option<String>,
    /// 1 to 1,000; 100 unless given.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

fn query_of(params: &HashMap<String, String>) -> Result<AuditQuery, AdminError> {
    let text = |key: &str| params.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let before = text("after")
        .map(|a| {
            a.parse::<i64>().ok().filter(|seq| *seq > 0).ok_or_else(|| {
                AdminError::bad(format!("'{a}' is not an audit cursor: pass the 'next' value of the previous page"))
            })
        })
        .transpose()?;
    let status = text("status").map(status_range).transpose()?;
    let target = text("target")
        .map(|t| {
            if t.contains('\0') {
                Err(AdminError::bad("target cannot contain a NUL character"))
            } else {
                Ok(t.to_string())
            }
        })
        .transpose()?;
    Ok(AuditQuery { before, limit: views::limit_of(params)?, status, target })
}

/// `404` is that status alone; `4xx` the class.
pub(crate) fn status_range(text: &str) -> Result<(u16, u16), AdminError> {
    let wrong =
        || AdminError::bad(format!("status must be an HTTP status such as 404, or a class such as 4xx; not '{text}'"));
    if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
        let digit: u16 = class.parse().map_err(|_| wrong())?;
        return if (1..=5).contains(&digit) { Ok((digit * 100, digit * 100 + 99)) } else { Err(wrong()) };
    }
    match text.parse::<u16>() {
        Ok(code) if (100..=599).contains(&code) => Ok((code, code)),
        _ => Err(wrong()),
    }
}

/// One row as an admin (and support) reads it.
fn row_json(r: &StoredAudit) -> AuditRow {
    let a = &r.row;
    AuditRow {
        id: r.seq.to_string(),
        time: a.at.clone(),
        tenant: a.tenant_name.clone(),
        token: a.token_name.clone(),
        request_id: a.request_id.clone(),
        method: a.method.clone(),
        route: a.route.clone(),
        target: AuditTarget { id: a.target_id.clone(), name: a.target_name.clone() },
        status: a.status,
        scim_type: a.scim_type.clone(),
        detail: a.detail.clone(),
        latency_ms: a.latency_us as f64 / 1000.0,
        changes: a.summary.clone(),
        event_ids: a.event_ids.clone(),
        client: a.client_addr.clone(),
        user_agent: a.user_agent.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_codes_or_classes() {
        assert_eq!(status_range("404").ok(), Some((404, 404)));
        assert_eq!(status_range("4xx").ok(), Some((400, 499)));
        assert_eq!(status_range("5XX").ok(), Some((500, 599)));
        for bad in ["4", "6xx", "0xx", "x", "99", "600", "-1", "4x"] {
            assert!(status_range(bad).is_err(), "{bad}");
        }
    }
}
