//! The admin API's webhooks: endpoints of a tenant (created with a secret
//! shown once), their secret rotated, switched back on after they were
//! disabled, and their deliveries listed (`?status=failed`: the dead
//! letters) and retried.

use super::{AdminError, AdminResult, body, ok, views};
use crate::http::AppState;
use crate::store::Tenant;
use crate::store::webhooks::{Delivery, Webhook};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

fn webhook_json(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.event_types,
        "created_at": w.created_at,
        "enabled": w.disabled_at.is_none(),
        "disabled_at": w.disabled_at,
        "disabled_reason": w.disabled_reason,
        "failing_since": w.failing_since,
        "previous_secret_signs_until": w.old_secret_until,
    })
}

/// Epoch milliseconds as the API's timestamps are written.
fn at_millis(ms: i64) -> String {
    let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
    scim_core::datetime::format_millis(ms.div_euclid(1000), nanos)
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event": {"id": d.event_id, "type": d.event_type},
        "subject": d.subject,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": (d.status == "pending").then(|| at_millis(d.next_at)),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "last_attempt_at": d.last_attempt_at,
        "delivered_at": d.delivered_at,
        "created_at": d.created_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    /// Event types or prefixes ending in '.'; missing or empty: every event.
    #[serde(default)]
    events: Vec<String>,
}

pub(super) async fn create_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let new: NewWebhook = body(&bytes)?;
    let (hook, secret) = s.svc.create_webhook(t.id, &new.url, new.events).await?;
    let mut v = webhook_json(&hook);
    if let Some(o) = v.as_object_mut() {
        o.insert("secret".into(), secret.into());
    }
    Ok(ok(StatusCode::CREATED, v))
}

pub(super) async fn list_webhooks(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let hooks = s.svc.webhooks(t.id).await?;
    Ok(ok(StatusCode::OK, json!({"data": hooks.iter().map(webhook_json).collect::<Vec<_>>()})))
}

pub(super) async fn get_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    Ok(ok(StatusCode::OK, webhook_json(&s.svc.webhook(t.id, &id).await?)))
}

pub(super) async fn delete_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    s.svc.delete_webhook(t.id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn rotate_secret(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let (secret, until) = s.svc.rotate_webhook_secret(t.id, &id).await?;
    let mut v = webhook_json(&s.svc.webhook(t.id, &id).await?);
    if let Some(o) = v.as_object_mut() {
        o.insert("secret".into(), secret.into());
        o.insert("previous_secret_signs_until".into(), until.into());
    }
    Ok(ok(StatusCode::OK, v))
}

pub(super) async fn enable_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    s.svc.enable_webhook(t.id, &id).await?;
    Ok(ok(StatusCode::OK, webhook_json(&s.svc.webhook(t.id, &id).await?)))
}

/// `GET …/webhooks/{id}/deliveries?status=pending|delivered|failed&after=&limit=`.
pub(super) async fn list_deliveries(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> AdminResult {
    let status = params.get("status").map(String::as_str).filter(|s| !s.is_empty());
    if let Some(status) = status
        && !matches!(status, "pending" | "delivered" | "failed")
    {
        return Err(AdminError::bad(format!("status '{status}' is not one of pending, delivered, failed")));
    }
    let after = views::cursor(params.get("after").map(String::as_str))?;
    let limit = views::limit_of(&params)?;
    let page = s.svc.deliveries(t.id, &id, status, after, limit + 1).await?;
    let more = page.len() as i64 > limit;
    let shown = &page[..page.len().min(limit as usize)];
    let next = if more { shown.last().map(|d| d.seq.to_string()) } else { None };
    Ok(ok(StatusCode::OK, json!({"data": shown.iter().map(delivery_json).collect::<Vec<_>>(), "next": next})))
}

/// `POST …/deliveries/{id}/retry` (also under its webhook).
pub(super) async fn retry_delivery(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path(params): Path<HashMap<String, String>>,
) -> AdminResult {
    let id = params.get("delivery").cloned().unwrap_or_default();
    let d = s.svc.retry_delivery(t.id, &id).await?;
    Ok(ok(StatusCode::ACCEPTED, delivery_json(&d)))
}
