//! The admin API's webhooks: endpoints of a tenant (created with a secret
//! shown once, changed in place keeping it), their secret rotated, switched
//! back on after they were disabled, a test event sent to one now, events
//! replayed to one from a point, and their deliveries listed
//! (`?status=failed`: the dead letters) and retried.

use super::{AdminError, AdminResult, body, ok, views};
use crate::http::AppState;
use crate::store::Tenant;
use crate::store::events::Position;
use crate::store::webhooks::{Delivery, DeliveryFilter, ReplayFrom, Webhook, WebhookChange};
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
    /// Free text for the people who run it ("" when none).
    description: String,
    /// Its deliveries in flight at once, at most (1 to 64; 32 unless set).
    #[schema(minimum = 1, maximum = 64)]
    max_in_flight: i64,
    created_at: String,
    enabled: bool,
    #[schema(required)]
    disabled_at: Option<String>,
    /// Why it was switched off (a 410, 5 days of failures, or an admin).
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
        description: w.description.clone(),
        max_in_flight: w.max_in_flight,
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
    /// Free text for the people who run it, up to 500 characters.
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Its deliveries in flight at once, at most: 1 to 64; 32 unless given.
    #[schema(minimum = 1, maximum = 64)]
    max_in_flight: Option<i64>,
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, description = "The webhook and its secret, shown only here", body = WebhookWithSecret)))]
pub(super) async fn create_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let new: NewWebhook = body(&bytes)?;
    let description = new.description.unwrap_or_default();
    let (hook, secret) = s.svc.create_webhook(t.id, &new.url, new.events, &description, new.max_in_flight).await?;
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

/// What to change of a webhook: only the settings sent change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookPatch {
    /// A new URL, checked as a new webhook's is; pending deliveries go to it.
    #[schema(example = "https://hooks.example.com/scimd/v2")]
    url: Option<String>,
    /// Event types or prefixes ending in '.'; empty: every event. Deliveries already queued stay.
    events: Option<Vec<String>>,
    /// Up to 500 characters; `null` or "" clears it.
    #[serde(default, with = "sent_or_null")]
    #[schema(value_type = Option<String>, max_length = 500)]
    description: Option<Option<String>>,
    /// 1 to 64.
    #[schema(minimum = 1, maximum = 64)]
    max_in_flight: Option<i64>,
    /// `false` switches it off (its deliveries wait); `true` on again, as `…/enable` does.
    enabled: Option<bool>,
}

/// A setting sent as `null` (`Some(None)`), apart from one left out (`None`).
mod sent_or_null {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// `PATCH …/webhooks/{id}`: change its URL, types, description, deliveries
/// in flight or whether it is on; its secret and its backlog stay.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/webhooks/{id}", tag = "webhooks", request_body = WebhookPatch,
    responses((status = 200, description = "The webhook, changed", body = WebhookOut)))]
pub(super) async fn patch_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let patch: WebhookPatch = body(&bytes)?;
    let change = WebhookChange {
        url: patch.url,
        event_types: patch.events,
        description: patch.description.map(Option::unwrap_or_default),
        max_in_flight: patch.max_in_flight,
        enabled: patch.enabled,
    };
    let hook = s.svc.update_webhook(t.id, &id, change).await?;
    Ok(ok(StatusCode::OK, json!(webhook_json(&hook))))
}

/// What a test send came to: the receiver's answer, or why there was none.
#[derive(Serialize, ToSchema)]
pub(super) struct TestSendOut {
    /// The `webhook-id` it was sent with (an event of type `webhook.test`, in no feed).
    #[schema(example = "evt_01a2bd2f5c3e7c5a8d6f4e3b2a1c0d9e")]
    event_id: String,
    url: String,
    /// The receiver answered 2xx: a delivery would count as delivered.
    delivered: bool,
    /// The receiver's HTTP status; `null` when no answer came.
    #[schema(required)]
    status: Option<u16>,
    /// Milliseconds from the start of the attempt to its answer (or failure).
    latency_ms: u64,
    /// The first 1 KiB of the answer's body, as text (invalid UTF-8 replaced); `null` with no answer.
    #[schema(required)]
    body: Option<String>,
    /// Why no answer came, in words (not resolved, a special-use address, refused, timed out).
    #[schema(required)]
    error: Option<String>,
}

/// `POST …/webhooks/{id}/test`: send a signed `webhook.test` event now.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/test", tag = "webhooks",
    responses((status = 200, description = "What the receiver answered (or why it did not); nothing is recorded",
        body = TestSendOut)))]
pub(super) async fn test_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    let sent = crate::webhooks::probe::send_test(&s.svc, t.id, &t.name, &id).await?;
    Ok(ok(
        StatusCode::OK,
        json!(TestSendOut {
            delivered: sent.delivered(),
            event_id: sent.event_id,
            url: sent.url,
            status: sent.status,
            latency_ms: sent.latency_ms,
            body: sent.body,
            error: sent.error,
        }),
    ))
}

/// Where a replay starts: exactly one of `after` and `since`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayRequest {
    /// A feed cursor (the event feed's `next`): the events after it.
    #[schema(example = "0.1042")]
    after: Option<String>,
    /// An ISO 8601 time (a date alone: its midnight, UTC): the events from it on.
    #[schema(example = "2026-01-01T00:00:00Z")]
    since: Option<String>,
    /// Events queued at most by this call: 1 to 100,000; 100,000 unless given.
    #[schema(minimum = 1, maximum = 100000)]
    limit: Option<i64>,
}

/// What a replay queued.
#[derive(Serialize, ToSchema)]
pub(super) struct ReplayOut {
    /// New pending deliveries, one per event, in feed order.
    queued: usize,
    /// The limit was reached with more to queue: replay again with `{"after": next}`.
    limit_reached: bool,
    /// Where to go on from when `limit_reached`; `null` when everything was queued.
    #[schema(required)]
    next: Option<String>,
    /// The endpoint's own place in the feed: a replay goes up to it (what comes after reaches it anyway).
    up_to: String,
}

/// `POST …/webhooks/{id}/replay {"after": CURSOR} | {"since": TIME}`.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/replay", tag = "webhooks",
    request_body = ReplayRequest,
    responses((status = 202, description = "The events queued again for the webhook", body = ReplayOut)))]
pub(super) async fn replay_webhook(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResult {
    let req: ReplayRequest = body(&bytes)?;
    let from = match (req.after, req.since) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(AdminError::bad(
                "a replay starts from exactly one of 'after' (a feed cursor, the event feed's 'next') and 'since' \
                 (an ISO 8601 time)",
            ));
        }
        (Some(after), None) if after.is_empty() => ReplayFrom::After(Position::default()),
        (Some(after), None) => ReplayFrom::After(Position::parse(&after).ok_or_else(|| {
            AdminError::bad(format!("'after': '{after}' is not an event cursor: pass a 'next' value of the event feed"))
        })?),
        (None, Some(since)) => ReplayFrom::Since(stored_time(&since).ok_or_else(|| {
            AdminError::bad(format!(
                "'since': '{since}' is not an ISO 8601 time such as 2026-01-01T00:00:00Z (or +02:00 for a zone), or a \
                 date such as 2026-01-01"
            ))
        })?),
    };
    let limit = match req.limit {
        None => crate::service::webhooks::REPLAY_LIMIT,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=crate::service::webhooks::REPLAY_LIMIT).contains(n))
            .ok_or_else(|| AdminError::bad(format!("'limit' is a whole number from 1 to 100000, not {n}")))?,
    };
    let replayed = s.svc.replay_webhook(t.id, &id, from, limit).await?;
    Ok(ok(
        StatusCode::ACCEPTED,
        json!(ReplayOut {
            queued: replayed.queued,
            limit_reached: replayed.next.is_some(),
            next: replayed.next.map(|p| p.cursor()),
            up_to: replayed.up_to.cursor(),
        }),
    ))
}

/// An ISO 8601 time (or a date alone: its midnight, UTC) as times are
/// stored (`YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC), rounded up to the millisecond
/// (so nothing before it is included).
fn stored_time(text: &str) -> Option<String> {
    let text = text.trim();
    let at = if text.len() == 10 {
        scim_core::datetime::parse(&format!("{text}T00:00:00Z"))?
    } else {
        scim_core::datetime::parse(text)?
    };
    let (mut secs, mut millis) = (at.secs, at.nanos.div_ceil(1_000_000));
    if millis >= 1000 {
        secs += 1;
        millis -= 1000;
    }
    Some(scim_core::datetime::format_millis(secs, millis * 1_000_000))
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
    /// Only the deliveries of this event (`evt_…`).
    event: Option<String>,
    /// Only the deliveries of events about this user or group (its id).
    subject: Option<String>,
    /// Only events of these types: repeated or comma-separated, each a type or a prefix ending in `.`.
    #[param(rename = "type")]
    event_type: Option<Vec<String>>,
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

/// `GET …/webhooks/{id}/deliveries?status=&event=&subject=&type=&after=&limit=`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/deliveries", tag = "webhooks",
    params(DeliveryParams), responses((status = 200, description = "A page of the webhook's deliveries", body = DeliveryPage)))]
pub(super) async fn list_deliveries(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AdminResult {
    let types = super::events::types_asked(&pairs)?;
    // Every other parameter once (a repeated one keeps its last value).
    let params: HashMap<String, String> = pairs.into_iter().filter(|(k, _)| k != "type").collect();
    let given = |name: &str| params.get(name).map(String::as_str).map(str::trim).filter(|v| !v.is_empty());
    let status = given("status");
    if let Some(status) = status
        && !matches!(status, "pending" | "delivered" | "failed")
    {
        return Err(AdminError::bad(format!("status '{status}' is not one of pending, delivered, failed")));
    }
    // A subject is a user's or group's id; `user:ID` as a delivery shows it is taken too.
    let subject = given("subject").map(|v| v.strip_prefix("user:").or_else(|| v.strip_prefix("group:")).unwrap_or(v));
    let filter = DeliveryFilter {
        status: status.map(str::to_string),
        event_id: given("event").map(str::to_string),
        subject_id: subject.map(str::to_string),
        types,
    };
    let after = views::cursor(params.get("after").map(String::as_str))?;
    let limit = views::limit_of(&params)?;
    let page = s.svc.deliveries(t.id, &id, &filter, after, limit + 1).await?;
    let more = page.len() as i64 > limit;
    let shown = &page[..page.len().min(limit as usize)];
    let next = if more { shown.last().map(|d| d.seq.to_string()) } else { None };
    Ok(ok(StatusCode::OK, json!(DeliveryPage { data: shown.iter().map(delivery_json).collect(), next })))
}

/// One try of a delivery.
#[derive(Serialize, ToSchema)]
pub(super) struct TryOut {
    /// When the request went out.
    at: String,
    /// The receiver's HTTP status; `null` when it did not answer.
    #[schema(required)]
    status: Option<i64>,
    duration_ms: i64,
    /// The first KiB of the receiver's body.
    #[schema(required)]
    answer: Option<String>,
    /// Why it did not count as delivered; `null` when it did.
    #[schema(required)]
    error: Option<String>,
}

/// A delivery with its tries.
#[derive(Serialize, ToSchema)]
pub(super) struct DeliveryWithHistory {
    #[serde(flatten)]
    delivery: DeliveryOut,
    /// Its tries, oldest first (the newest 100 when there were more).
    history: Vec<TryOut>,
}

async fn with_history(s: &AppState, tenant_id: i64, id: &str, of_webhook: Option<&str>) -> AdminResult {
    let (delivery, history) = s.svc.delivery_with_history(tenant_id, id).await?;
    if of_webhook.is_some_and(|w| w != delivery.webhook_id) {
        return Err(AdminError::not_found(format!("there is no delivery '{id}' of this webhook")));
    }
    let history = history
        .into_iter()
        .map(|t| TryOut { at: t.at, status: t.status, duration_ms: t.duration_ms, answer: t.answer, error: t.error })
        .collect();
    Ok(ok(StatusCode::OK, json!(DeliveryWithHistory { delivery: delivery_json(&delivery), history })))
}

/// `GET …/deliveries/{delivery}`: a delivery and every try of it.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/deliveries/{delivery}", tag = "webhooks",
    responses((status = 200, description = "The delivery, with its tries", body = DeliveryWithHistory)))]
pub(super) async fn get_delivery(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, id)): Path<(String, String)>,
) -> AdminResult {
    with_history(&s, t.id, &id, None).await
}

/// `GET …/webhooks/{id}/deliveries/{delivery}`: the same, under its webhook.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/webhooks/{id}/deliveries/{delivery}", tag = "webhooks",
    responses((status = 200, description = "The delivery, with its tries", body = DeliveryWithHistory)))]
pub(super) async fn get_webhook_delivery(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, hook, id)): Path<(String, String, String)>,
) -> AdminResult {
    with_history(&s, t.id, &id, Some(&hook)).await
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

#[cfg(test)]
mod tests {
    use super::stored_time;

    #[test]
    fn a_replay_time_is_read_as_stored_times_are_written_rounded_up() {
        assert_eq!(stored_time("2026-01-01T01:00:00+01:00").as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(stored_time("2026-01-01T00:00:00.0001Z").as_deref(), Some("2026-01-01T00:00:00.001Z"));
        assert_eq!(stored_time("2026-01-01T00:00:59.9995Z").as_deref(), Some("2026-01-01T00:01:00.000Z"));
        assert_eq!(stored_time("2026-03-04").as_deref(), Some("2026-03-04T00:00:00.000Z"));
        assert_eq!(stored_time("yesterday"), None);
        assert_eq!(stored_time("2026-13-01"), None);
    }
}
