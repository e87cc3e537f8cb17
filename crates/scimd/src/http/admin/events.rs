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
use utoipa::{IntoParams, ToSchema};

/// An event's envelope.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct EventOut {
    #[schema(example = "evt_01a23255a8a07268b55d558c1eba9419")]
    id: String,
    /// `user.created`, `access.role_granted`, … (the README lists them).
    #[schema(rename = "type")]
    event_type: String,
    timestamp: String,
    /// The tenant's name.
    tenant: String,
    subject: EventSubject,
    /// The resource as SCIM shows it, or what the policy decided.
    #[schema(value_type = Object)]
    data: (),
    cause: EventCause,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct EventSubject {
    /// `user` or `group`.
    #[schema(rename = "type")]
    subject_type: String,
    id: String,
}

/// Why it happened: the request (its `x-request-id`) and who sent it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct EventCause {
    #[schema(required)]
    request_id: Option<String>,
    actor: EventActor,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct EventActor {
    /// `identity_provider`, `admin` or `system`.
    #[schema(rename = "type")]
    actor_type: String,
    /// The token's name.
    name: Option<String>,
}

/// A page of the feed, in commit order.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct EventPage {
    data: Vec<EventOut>,
    /// Where the page ended, to pass as `after`; `null` when nothing came after `after`.
    #[schema(required)]
    next: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct EventParams {
    /// The `next` of the previous page.
    after: Option<String>,
    /// 1 to 1,000; 100 unless given.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only these types: repeated or comma-separated, each a type
    /// (`user.created`) or a prefix ending in `.` (`user.`), as webhooks take them.
    #[param(rename = "type")]
    event_type: Option<Vec<String>>,
}

/// The event types a query asks for: `type` repeated or comma-separated,
/// each a type or a prefix ending in `.`; an unknown one is refused by name.
pub(super) fn types_asked(pairs: &[(String, String)]) -> Result<Vec<String>, AdminError> {
    let types: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "type")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(unknown) = types.iter().find(|t| !crate::events::is_type_or_prefix(t)) {
        return Err(AdminError::bad(format!(
            "'{unknown}' is not an event type or a prefix of one (ending in '.'): the types are {}",
            EVENT_TYPES.join(", ")
        )));
    }
    Ok(types)
}

/// `GET …/events?after=CURSOR&limit=N&type=TYPE&type=PREFIX.` (or `type=A,B`).
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/events", tag = "events", params(EventParams),
    responses((status = 200, description = "A page of the event feed", body = EventPage)))]
pub(super) async fn list_events(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AdminResult {
    let types = types_asked(&pairs)?;
    // Every other parameter once (a repeated one keeps its last value, as before).
    let params: HashMap<String, String> = pairs.into_iter().filter(|(k, _)| k != "type").collect();
    let limit = views::limit_of(&params)?;
    let after = match params.get("after").map(String::as_str) {
        None | Some("") => Position::default(),
        Some(text) => Position::parse(text).ok_or_else(|| {
            AdminError::bad(format!("'{text}' is not an event cursor: pass the 'next' value of the previous page"))
        })?,
    };
    let events = s.svc.events_page(t.id, after, limit, &types).await?;
    let next = events.last().and_then(|e| e.position).map(|p| p.cursor());
    let data: Vec<Value> = events.iter().map(event_json).collect();
    Ok(ok(StatusCode::OK, json!({"data": data, "next": next})))
}

/// An event's envelope as a tree (it is stored as text that is JSON).
pub(super) fn event_json(e: &Event) -> Value {
    serde_json::from_str(&e.to_json()).unwrap_or(Value::Null)
}
