//! Activity: the tenant's audit trail, newest first, filtered by status and
//! by user or group, showing the exact detail each identity provider was shown.

use super::{Here, Layout, failure, html, message};
use crate::store::audit::AuditQuery;
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;

const PAGE: i64 = 100;

struct Row {
    time: String,
    token: String,
    method: String,
    route: String,
    target: String,
    status: u16,
    scim_type: Option<String>,
    detail: Option<String>,
    summary: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/activity.html")]
struct ActivityPage {
    l: Layout,
    tenant: String,
    status: String,
    target: String,
    rows: Vec<Row>,
    next: Option<String>,
}

pub(super) async fn page(Here { s, caller, t }: Here, Query(q): Query<HashMap<String, String>>) -> Response {
    let text = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (status, target) = (text("status"), text("target"));
    let range = match status.as_str() {
        "" => None,
        s => match crate::http::admin::status_range(s) {
            Ok(r) => Some(r),
            Err(_) => {
                let back = format!("/console/t/{}/activity", t.name);
                return message(
                    StatusCode::BAD_REQUEST,
                    "Not a status",
                    &format!("'{s}' is not an HTTP status such as 409 or a class such as 4xx."),
                    Some((&back, "Back to activity")),
                );
            }
        },
    };
    let query = AuditQuery {
        before: q.get("after").and_then(|a| a.parse::<i64>().ok()).filter(|n| *n > 0),
        limit: PAGE,
        status: range,
        target: Some(target.clone()).filter(|t| !t.is_empty() && !t.contains('\0')),
    };
    let found = match s.svc.audit_page(t.id, &query).await {
        Ok(rows) => rows,
        Err(e) => return failure(e),
    };
    let next = found.last().filter(|_| found.len() as i64 == PAGE).map(|r| r.seq.to_string());
    let rows = found
        .into_iter()
        .map(|r| {
            let a = r.row;
            let target = a.target_name.or(a.target_id).unwrap_or_default();
            Row {
                time: a.at,
                token: a.token_name.unwrap_or_else(|| "(no valid token)".to_string()),
                method: a.method,
                // Every row is of this tenant: its SCIM path reads shorter without the prefix.
                route: match a.route.strip_prefix("/scim/v2/{tenant}") {
                    Some("") => "/".to_string(),
                    Some(rest) => rest.to_string(),
                    None => a.route,
                },
                target,
                status: a.status,
                scim_type: a.scim_type,
                detail: a.detail,
                summary: a.summary,
            }
        })
        .collect();
    let page = ActivityPage {
        l: caller.layout("Activity", Some(&t), "activity"),
        tenant: t.name.clone(),
        status,
        target,
        rows,
        next,
    };
    html(StatusCode::OK, &page)
}
