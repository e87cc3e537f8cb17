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
use utoipa::IntoParams;

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct FormatParams {
    /// An import without it reads its body's type (`text/csv`, else JSON lines); an export is JSON lines.
    #[param(inline)]
    format: Option<FileFormat>,
}

/// JSON lines of SCIM users (`jsonl`, also `ndjson` or `json`), or CSV.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(super) enum FileFormat {
    Jsonl,
    Ndjson,
    Json,
    Csv,
}

/// The format a request names (`?format=`), or its body's type.
fn format_of(params: &HashMap<String, String>, headers: &HeaderMap) -> Result<Format, AdminError> {
    if let Some(f) = params.get("format") {
        return Format::parse(f).map_err(AdminError::bad);
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok(if ct.starts_with("text/csv") { Format::Csv } else { Format::Jsonl })
}

/// `POST …/import[?format=csv|jsonl]`: 200 with `{created, updated, unchanged, failed: [{line, userName, reason}]}`.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/import", tag = "users", params(FormatParams),
    request_body(description = "JSON lines of SCIM users, or CSV whose header names each column's attribute; \
                                matched on userName", content(
        (String = "application/x-ndjson"), (String = "text/csv"))),
    responses((status = 200, description = "What the import did, with each failed row's line and reason",
        body = crate::service::transfer::Summary)))]
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
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/export", tag = "users", params(FormatParams),
    responses((status = 200, description = "The tenant's live users: one SCIM user a line, or CSV with a header",
        content((String = "application/x-ndjson"), (String = "text/csv")))))]
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
