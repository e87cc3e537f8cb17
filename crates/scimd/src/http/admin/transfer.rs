//! The admin API's import and export of a tenant's users (the CLI's
//! `scimd import` and `scimd export` over HTTP): `POST …/import` with a
//! JSONL or CSV body answers the summary; `GET …/export` answers the file.

use super::{AdminError, AdminResult, ok};
use crate::http::AppState;
use crate::service::transfer::{CSV_COLUMNS, Format, csv_line, csv_record, read_rows};
use crate::store::Tenant;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use std::collections::HashMap;

/// The format a request names (`?format=`), or its body's type.
fn format_of(params: &HashMap<String, String>, headers: &HeaderMap) -> Result<Format, AdminError> {
    if let Some(f) = params.get("format") {
        return Format::parse(f).map_err(AdminError::bad);
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok(if ct.starts_with("text/csv") { Format::Csv } else { Format::Jsonl })
}

/// `POST …/import[?format=csv|jsonl]`: 200 with `{created, updated, unchanged, failed: [{line, userName, reason}]}`.
pub(super) async fn import(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> AdminResult {
    let format = format_of(&params, &headers)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| AdminError::bad("the file is not UTF-8 text"))?;
    let rows = read_rows(text, format).map_err(AdminError::bad)?;
    let summary = s.svc.import_users(&t.name, rows, std::sync::Arc::new(|_| {})).await?;
    Ok(ok(StatusCode::OK, json!(summary)))
}

/// `GET …/export[?format=csv|jsonl]`: the tenant's live users as a file.
pub(super) async fn export(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult {
    let format = match params.get("format") {
        Some(f) => Format::parse(f).map_err(AdminError::bad)?,
        None => Format::Jsonl,
    };
    let mut out = Vec::new();
    if format == Format::Csv {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
        out.extend(csv_line(&header).map_err(AdminError::bad)?);
    }
    s.svc
        .export_users(&t.name, |page| {
            for user in page {
                match format {
                    Format::Csv => out.extend(csv_line(&csv_record(&user))?),
                    Format::Jsonl => {
                        out.extend(user.to_string().into_bytes());
                        out.push(b'\n');
                    }
                }
            }
            Ok(())
        })
        .await?;
    let kind = if format == Format::Csv { "text/csv; charset=utf-8" } else { "application/x-ndjson" };
    let mut resp = (StatusCode::OK, out).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    Ok(resp)
}
