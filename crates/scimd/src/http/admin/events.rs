//! The admin API's event feed: a tenant's events in commit order, a page
//! at a time, `{"data": [...], "next": cursor}`. `next` is where the page
//! ended; it is `null` when nothing came after `after`, and a consumer asks
//! again with the same `after` later.

use super::{AdminError, AdminResult, ok, views};
use crate::events::{EVENT_TYPES, Event};
use crate::http::AppState;
use crate::store::Tenant;
use crate::store::events::Position;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

/// `GET …/events?after=CURSOR&limit=N&type=PREFIX`.
pub(super) async fn list_events(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult {
    let limit = views::limit_of(&params)?;
    let after = match params.get("after").map(String::as_str) {
        None | Some("") => Position::default(),
        Some(text) => Position::parse(text).ok_or_else(|| {
            AdminError::bad(format!("'{text}' is not an event cursor: pass the 'next' value of the previous page"))
        })?,
    };
    let prefix = params.get("type").map(String::as_str).filter(|p| !p.is_empty());
    if let Some(prefix) = prefix
        && !EVENT_TYPES.iter().any(|known| known.starts_with(prefix))
    {
        return Err(AdminError::bad(format!(
            "no event type starts with '{prefix}': the types are {}",
            EVENT_TYPES.join(", ")
        )));
    }
    let events = s.svc.events_page(t.id, after, limit, prefix).await?;
    let next = events.last().and_then(|e| e.position).map(|p| p.cursor());
    let data: Vec<Value> = events.iter().map(event_json).collect();
    Ok(ok(StatusCode::OK, json!({"data": data, "next": next})))
}

/// An event's envelope as a tree (it is stored as text that is JSON).
pub(super) fn event_json(e: &Event) -> Value {
    serde_json::from_str(&e.to_json()).unwrap_or(Value::Null)
}
