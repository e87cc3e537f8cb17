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
//! Rows are written off the request path, about a second after their
//! request ends (see [`crate::audit`]).

use super::{AdminError, AdminResult, ok, views};
use crate::http::AppState;
use crate::store::Tenant;
use crate::store::audit::{AuditQuery, StoredAudit};
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

/// `GET …/audit?after=CURSOR&limit=N&status=S&target=T`.
pub(super) async fn list_audit(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult {
    let query = query_of(&params)?;
    let rows = s.svc.audit_page(t.id, &query).await?;
    let full = i64::try_from(rows.len()).is_ok_and(|n| n == query.limit);
    let next = rows.last().filter(|_| full).map(|r| r.seq.to_string());
    let data: Vec<Value> = rows.iter().map(row_json).collect();
    Ok(ok(StatusCode::OK, json!({"data": data, "next": next})))
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
fn row_json(r: &StoredAudit) -> Value {
    let a = &r.row;
    json!({
        "id": r.seq.to_string(),
        "time": a.at,
        "tenant": a.tenant_name,
        "token": a.token_name,
        "request_id": a.request_id,
        "method": a.method,
        "route": a.route,
        "target": {"id": a.target_id, "name": a.target_name},
        "status": a.status,
        "scimType": a.scim_type,
        "detail": a.detail,
        "latency_ms": a.latency_us as f64 / 1000.0,
        "changes": a.summary,
        "event_ids": a.event_ids,
    })
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
