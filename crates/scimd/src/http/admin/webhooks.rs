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
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// A webhook endpoint.
#[derive(Serialize, ToSchema)]
pub(super) struct WebhookOut {
    id: String,
    url: String,
    /// Event types or prefixes ending in `.`; empty: every event.
    events: Vec<String>,
    created_at: String,
    enabled: bool,
    #[schema(required)]
    disabled_at: Option<String>,
    /// Why it was switched off (a 410, or 5 days of failures).
    #[schema(required)]
    disabled_reason: Option<String>,
    #[schema(required)]
    failing_since: Option<String>,
    /// Until when the secret before the last rotation signs beside the new one.
    #[schema(required)]
    previous_secret_signs_until: Option<String>,
}

/// A webhook with its secret (`whsec_…`), shown only here.
#[derive(Serialize, ToSchema)]
pub(super) struct WebhookWithSecret {
    #[serde(flatten)]
    webhook: WebhookOut,
    secret: String,
}

fn webhook_json(w: &Webhook) -> WebhookOut {
    WebhookOut {
        id: w.id.clone(),
        url: w.url.clone(),
        events: w.event_types.clone(),
        created_at: w.created_at.clone(),
        enabled: w.disabled_at.is_none(),
        disabled_at: w.disabled_at.clone(),
        disabled_reason: w.disabled_reason.clone(),
        failing_since: w.failing_since.clone(),
        previous_secret_signs_until: w.old_secret_until.clone(),
    }
}

/// Epoch milliseconds as the API's timestamps are written.
fn at_millis(ms: i64) -> String {
    let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
    scim_core::datetime::format_millis(ms.div_euclid(1000), nanos)
}

/// One event's delivery to one endpoint.
#[derive(Serialize, ToSchema)]
pub(super) struct DeliveryOut {
    id: String,
    webhook_id: String,
    event: DeliveredEvent,
    subject: String,
    /// `pending`, `delivered` or `failed` (a dead letter).
    status: String,
    attempts: i64,
    /// When it is tried next (pending only).
    #[schema(required)]
    next_attempt_at: Option<String>,
    /// The receiver's last HTTP status.
    #[schema(required)]
    last_status: Option<i64>,
    #[schema(required)]
    last_error: Option<String>,
    #[schema(required)]
    last_attempt_at: Option<String>,
    #[schema(required)]
    delivered_at: Option<String>,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct DeliveredEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
}

fn delivery_json(d: &Delivery) -> DeliveryOut {
    DeliveryOut {
        id: d.id.clone(),
        webhook_id: d.webhook_id.clone(),
        event: DeliveredEvent { id: d.event_id.clone(), event_type: d.event_type.clone() },
        subject: d.subject.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        next_attempt_at: (d.status == "pending").then(|| at_millis(d.next_at)),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        last_attempt_at: d.last_attempt_at.clone(),
        delivered_at: d.delivered_at.clone(),
        created_at: d.created_at.clone(),
    }
}

/// A webhook endpoint to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    /// An `https://` (or `http://`) URL; special-use addresses are refused.
    #[schema(example = "https://hooks.example.com/scimd")]
    url: String,
    /// Event types or prefixes ending in '.'; missing or empty: every event.
    #[serde(default)]
    events: Vec<String>,
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, description = "The webhook and its secret, shown only here", body = WebhookWithSecret)))]
pub(super) async fn create_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let new: NewWebhook = body(&bytes)?;
    let (hook, secret) = s.svc.create_webhook(t.id, &new.url, new.events).await?;
    Ok(ok(StatusCode::CREATED, json!(WebhookWithSecret { webhook: webhook_json(&hook), secret })))
}

/// A tenant's webhooks.
#[derive(Serialize, ToSchema)]
pub(super) struct WebhookList {
    data: Vec<WebhookOut>,
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/webhooks", tag = "webhooks",
    responses((status = 200, description = "The tenant's webhooks", body = WebhookList)))]
pub(super) async fn list_webhooks(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let hooks = s.svc.webhooks(t.id).await?;
    Ok(ok(StatusCode::OK, json!(WebhookList { data: hooks.iter().map(webhook_json).collect() })))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/webhooks/{id}", tag = "webhooks",
    responses((status = 200, description = "The webhook", body = WebhookOut)))]
pub(super) async fn get_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    Ok(ok(StatusCode::OK, json!(webhook_json(&s.svc.webhook(t.id, &id).await?))))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/webhooks/{id}", tag = "webhooks",
    responses((status = 204, description = "Deleted, with its deliveries")))]
pub(super) async fn delete_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    s.svc.delete_webhook(t.id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/rotate-secret", tag = "webhooks",
    responses((status = 200, description = "The webhook and its new secret; the old one signs beside it for 24 h",
        body = WebhookWithSecret)))]
pub(super) async fn rotate_secret(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let (secret, until) = s.svc.rotate_webhook_secret(t.id, &id).await?;
    let mut webhook = webhook_json(&s.svc.webhook(t.id, &id).await?);
    webhook.previous_secret_signs_until = Some(until);
    Ok(ok(StatusCode::OK, json!(WebhookWithSecret { webhook, secret })))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/enable", tag = "webhooks",
    responses((status = 200, description = "The webhook, on again", body = WebhookOut)))]
pub(super) async fn enable_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    s.svc.enable_webhook(t.id, &id).await?;
    Ok(ok(StatusCode::OK, json!(webhook_json(&s.svc.webhook(t.id, &id).await?))))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(super) struct DeliveryParams {
    #[param(inline)]
    status: Option<DeliveryStatus>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// 1 to 1,000; 100 unless given.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Which deliveries: waiting to be sent, sent, or given up (the dead letters).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(super) enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// A page of deliveries.
#[derive(Serialize, ToSchema)]
pub(super) struct DeliveryPage {
    data: Vec<DeliveryOut>,
    /// The cursor to pass as `after` for the next page; `null` on the last.
    #[schema(required)]
    next: Option<String>,
}

/// `GET …/webhooks/{id}/deliveries?status=pending|delivered|failed&after=&limit=`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/deliveries", tag = "webhooks",
    params(DeliveryParams), responses((status = 200, description = "A page of the webhook's deliveries", body = DeliveryPage)))]
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
    Ok(ok(StatusCode::OK, json!(DeliveryPage { data: shown.iter().map(delivery_json).collect(), next })))
}

/// `POST …/deliveries/{delivery}/retry`: send a failed (or delivered) delivery again.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/deliveries/{delivery}/retry", tag = "webhooks",
    responses((status = 202, description = "The delivery, pending again from the start of the schedule", body = DeliveryOut)))]
pub(super) async fn retry_delivery(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let d = s.svc.retry_delivery(t.id, &id).await?;
    Ok(ok(StatusCode::ACCEPTED, json!(delivery_json(&d))))
}

/// `POST …/webhooks/{id}/deliveries/{delivery}/retry`: the same, under its webhook.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/deliveries/{delivery}/retry", tag = "webhooks",
    responses((status = 202, description = "The delivery, pending again from the start of the schedule", body = DeliveryOut)))]
pub(super) async fn retry_webhook_delivery(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, _, id)): Path<(String, String, String)>,
) -> AdminResult {
    let d = s.svc.retry_delivery(t.id, &id).await?;
    Ok(ok(StatusCode::ACCEPTED, json!(delivery_json(&d))))
}
