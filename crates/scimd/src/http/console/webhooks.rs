//! Webhooks: the tenant's endpoints (added with a secret shown once, a test
//! event sent to each), and one endpoint's deliveries with their attempts
//! (each delivery's tries on a page of its own),
//! retried, its settings edited, its secret rotated, and the endpoint
//! switched back on.

use super::{Form, Here, Layout, done, failure, html};
use crate::service::{Error, Refusal};
use crate::store::webhooks::{Webhook, WebhookChange};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;

struct HookRow {
    id: String,
    url: String,
    events: String,
    /// The types as the edit form takes them: comma-separated, empty for every event.
    event_list: String,
    description: String,
    max_in_flight: i64,
    enabled: bool,
    state: String,
    created_at: String,
}

fn row(w: Webhook) -> HookRow {
    let state = match (&w.disabled_at, &w.failing_since) {
        (Some(at), _) => format!("disabled at {at}{}", w.disabled_reason.map(|r| format!(": {r}")).unwrap_or_default()),
        (None, Some(since)) => format!("failing since {since}"),
        (None, None) => "enabled".to_string(),
    };
    HookRow {
        enabled: w.disabled_at.is_none(),
        events: if w.event_types.is_empty() { "every event".to_string() } else { w.event_types.join(", ") },
        event_list: w.event_types.join(", "),
        description: w.description,
        max_in_flight: w.max_in_flight,
        id: w.id,
        url: w.url,
        state,
        created_at: w.created_at,
    }
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    l: Layout,
    tenant: String,
    shown: Option<(String, String)>,
    hooks: Vec<HookRow>,
}

pub(super) async fn list(Here { s, caller, t }: Here) -> Response {
    let hooks = match s.svc.webhooks(t.id).await {
        Ok(h) => h,
        Err(e) => return failure(e),
    };
    let page = WebhooksPage {
        l: caller.layout("Webhooks", Some(&t), "webhooks"),
        tenant: t.name.clone(),
        shown: caller.shown_once(),
        hooks: hooks.into_iter().map(row).collect(),
    };
    html(StatusCode::OK, &page)
}

/// The event types of a form's comma-separated field (empty: every event).
fn event_types(form: &Form) -> Vec<String> {
    form.get("events").unwrap_or_default().split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect()
}

/// The form's "most deliveries in flight at once", when it gives one.
fn max_in_flight(form: &Form) -> Result<Option<i64>, Error> {
    let Some(text) = form.get("max_in_flight") else { return Ok(None) };
    text.parse::<i64>().map(Some).map_err(|_| {
        Error::Refused(Refusal::Configuration(format!(
            "'{text}' is not a number: the most deliveries in flight at once is a whole number from 1 to 64"
        )))
    })
}

pub(super) async fn create(Here { s, caller, t }: Here, form: Form) -> Response {
    let url = form.get("url").unwrap_or_default().to_string();
    let events = event_types(&form);
    let description = form.get("description").unwrap_or_default().to_string();
    let most = match max_in_flight(&form) {
        Ok(n) => n,
        Err(e) => return failure(e),
    };
    match s.svc.create_webhook(t.id, &url, events, &description, most).await {
        Ok((hook, secret)) => done(
            &caller,
            &format!("/console/t/{}/webhooks/{}", t.name, hook.id),
            &format!("Endpoint {} added; deliveries start with the next change.", hook.url),
            Some(("The endpoint's signing secret", &secret)),
        ),
        Err(e) => failure(e),
    }
}

struct DeliveryRow {
    id: String,
    event_type: String,
    event_id: String,
    subject: String,
    status: String,
    attempts: i64,
    last: String,
    last_attempt_at: String,
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    l: Layout,
    tenant: String,
    shown: Option<(String, String)>,
    hook: HookRow,
    status: String,
    deliveries: Vec<DeliveryRow>,
}

pub(super) async fn show(
    Here { s, caller, t }: Here,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let status = q.get("status").filter(|v| ["pending", "delivered", "failed"].contains(&v.as_str())).cloned();
    let hook = match s.svc.webhook(t.id, &id).await {
        Ok(h) => h,
        Err(e) => return failure(e),
    };
    let filter = crate::store::webhooks::DeliveryFilter { status: status.clone(), ..Default::default() };
    let deliveries = match s.svc.deliveries(t.id, &id, &filter, 0, 200).await {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let page = WebhookPage {
        l: caller.layout("Webhook endpoint", Some(&t), "webhooks"),
        tenant: t.name.clone(),
        shown: caller.shown_once(),
        hook: row(hook),
        status: status.unwrap_or_default(),
        deliveries: deliveries.into_iter().map(delivery_row).collect(),
    };
    html(StatusCode::OK, &page)
}

fn delivery_row(d: crate::store::webhooks::Delivery) -> DeliveryRow {
    DeliveryRow {
        last: match (d.last_status, d.last_error) {
            (Some(code), Some(e)) => format!("{code}: {e}"),
            (Some(code), None) => code.to_string(),
            (None, Some(e)) => e,
            (None, None) => "—".to_string(),
        },
        id: d.id,
        event_type: d.event_type,
        event_id: d.event_id,
        subject: d.subject,
        status: d.status,
        attempts: d.attempts,
        last_attempt_at: d.last_attempt_at.unwrap_or_else(|| "—".to_string()),
    }
}

struct TryRow {
    at: String,
    status: String,
    duration_ms: i64,
    answer: String,
    error: String,
}

#[derive(Template)]
#[template(path = "console/delivery.html")]
struct DeliveryPage {
    l: Layout,
    tenant: String,
    hook: HookRow,
    delivery: DeliveryRow,
    tries: Vec<TryRow>,
}

/// One delivery and every try of it: when, the receiver's status, how long, what it answered.
pub(super) async fn delivery(
    Here { s, caller, t }: Here,
    Path((_, id, delivery)): Path<(String, String, String)>,
) -> Response {
    let hook = match s.svc.webhook(t.id, &id).await {
        Ok(h) => h,
        Err(e) => return failure(e),
    };
    let (d, history) = match s.svc.delivery_with_history(t.id, &delivery).await {
        Ok(found) if found.0.webhook_id == hook.id => found,
        Ok(_) => return failure(Error::NotFound(format!("there is no delivery '{delivery}' of this endpoint"))),
        Err(e) => return failure(e),
    };
    let page = DeliveryPage {
        l: caller.layout("Webhook delivery", Some(&t), "webhooks"),
        tenant: t.name.clone(),
        hook: row(hook),
        delivery: delivery_row(d),
        tries: history
            .into_iter()
            .map(|h| TryRow {
                at: h.at,
                status: h.status.map_or_else(|| "no answer".to_string(), |s| s.to_string()),
                duration_ms: h.duration_ms,
                answer: h.answer.unwrap_or_default(),
                error: h.error.unwrap_or_default(),
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}

pub(super) async fn rotate(
    Here { s, caller, t }: Here,
    Path((_, id)): Path<(String, String)>,
    _form: Form,
) -> Response {
    match s.svc.rotate_webhook_secret(t.id, &id).await {
        Ok((secret, until)) => done(
            &caller,
            &format!("/console/t/{}/webhooks/{id}", t.name),
            &format!("Secret rotated: deliveries are signed with both secrets until {until}."),
            Some(("The endpoint's new signing secret", &secret)),
        ),
        Err(e) => failure(e),
    }
}

pub(super) async fn enable(
    Here { s, caller, t }: Here,
    Path((_, id)): Path<(String, String)>,
    _form: Form,
) -> Response {
    match s.svc.enable_webhook(t.id, &id).await {
        Ok(()) => done(&caller, &format!("/console/t/{}/webhooks/{id}", t.name), "Endpoint enabled again.", None),
        Err(e) => failure(e),
    }
}

pub(super) async fn retry(
    Here { s, caller, t }: Here,
    Path((_, id, delivery)): Path<(String, String, String)>,
    _form: Form,
) -> Response {
    match s.svc.retry_delivery(t.id, &delivery).await {
        Ok(_) => done(
            &caller,
            &format!("/console/t/{}/webhooks/{id}", t.name),
            &format!("Delivery {delivery} will be sent again now."),
            None,
        ),
        Err(e) => failure(e),
    }
}

/// "Send test event": a signed `webhook.test` now; the endpoint's page shows what came back.
pub(super) async fn test(Here { s, caller, t }: Here, Path((_, id)): Path<(String, String)>, _form: Form) -> Response {
    match crate::webhooks::probe::send_test(&s.svc, t.id, &t.name, &id).await {
        Ok(sent) => {
            let notice = match (sent.status, &sent.error) {
                (Some(status), _) => {
                    let body = sent.body.unwrap_or_default();
                    let mut shown: String = body.chars().take(300).collect();
                    if shown.len() < body.len() {
                        shown.push('…');
                    }
                    format!(
                        "Test event {} sent to {}: {} {status} in {} ms{}",
                        sent.event_id,
                        sent.url,
                        if (200..300).contains(&status) { "delivered, answered" } else { "not delivered, answered" },
                        sent.latency_ms,
                        if shown.trim().is_empty() { ".".to_string() } else { format!(", with: {shown}") }
                    )
                }
                (None, error) => format!(
                    "Test event {} to {} not delivered, after {} ms: {}",
                    sent.event_id,
                    sent.url,
                    sent.latency_ms,
                    error.as_deref().unwrap_or("no answer")
                ),
            };
            done(&caller, &format!("/console/t/{}/webhooks/{id}", t.name), &notice, None)
        }
        Err(e) => failure(e),
    }
}

/// The edit form: URL, event types, description and deliveries in flight, all sent, as one change.
pub(super) async fn edit(Here { s, caller, t }: Here, Path((_, id)): Path<(String, String)>, form: Form) -> Response {
    let most = match max_in_flight(&form) {
        Ok(n) => n,
        Err(e) => return failure(e),
    };
    let change = WebhookChange {
        url: Some(form.get("url").unwrap_or_default().to_string()),
        event_types: Some(event_types(&form)),
        description: Some(form.get("description").unwrap_or_default().to_string()),
        max_in_flight: most,
        enabled: None,
    };
    match s.svc.update_webhook(t.id, &id, change).await {
        Ok(hook) => done(
            &caller,
            &format!("/console/t/{}/webhooks/{id}", t.name),
            &format!("Endpoint changed: it now goes to {}; its secret and waiting deliveries stay.", hook.url),
            None,
        ),
        Err(e) => failure(e),
    }
}
