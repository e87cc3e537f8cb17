//! A test send: a signed `webhook.test` event sent to an endpoint now, as
//! an admin checks it (before enabling it, after changing its URL). It goes
//! out as a delivery would — the same client, address checks, timeout,
//! headers and signature (every secret in force) — over a connection of its
//! own, so the address check runs every time. It is a probe: nothing is
//! written to the feed or the deliveries, and a disabled endpoint takes it.

use super::client::{Client, PROBE_BODY};
use crate::events::Event;
use crate::events::signature;
use crate::events::target::Target;
use crate::service::{Error, Refusal, Service};
use bytes::Bytes;
use std::time::Instant;

/// The event type of a test send (never in the feed).
pub(crate) const TEST_EVENT: &str = "webhook.test";

/// What came of a test send.
#[derive(Clone, Debug)]
pub(crate) struct TestSend {
    /// The `webhook-id` it was sent with (`evt_…`, in no feed).
    pub event_id: String,
    pub url: String,
    /// The receiver's HTTP status; `None` when no answer came (see `error`).
    pub status: Option<u16>,
    /// From the start of the attempt to its answer (or its failure).
    pub latency_ms: u64,
    /// The first [`PROBE_BODY`] bytes of the answer's body, as text (invalid UTF-8 replaced).
    pub body: Option<String>,
    /// Why no answer came (cannot resolve, a special-use address, refused, timed out), in words.
    pub error: Option<String>,
}

impl TestSend {
    /// A 2xx: a delivery would count as delivered.
    pub(crate) fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Send a test event to the tenant's endpoint `id` now.
pub(crate) async fn send_test(svc: &Service, tenant_id: i64, tenant: &str, id: &str) -> Result<TestSend, Error> {
    svc.webhooks_on()?;
    let hook = svc.webhook(tenant_id, id).await?;
    let secrets = svc.signing_secrets(&hook);
    if secrets.is_empty() {
        return Err(Error::Refused(Refusal::Configuration(format!(
            "the secret of webhook '{id}' cannot be opened with this server's secrets key, so nothing it sends \
             could be signed: start the server with the key the webhook was made with"
        ))));
    }
    let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let data = serde_json::json!({
        "webhook": {"id": hook.id, "url": hook.url},
        "message": "a test event, sent by an admin to check this endpoint: it is in no feed, and is not retried",
    });
    let event = Event {
        id: event_id.clone(),
        event_type: TEST_EVENT.to_string(),
        timestamp: svc.now(),
        tenant_id,
        tenant: tenant.to_string(),
        subject_type: "webhook".to_string(),
        subject_id: hook.id.clone(),
        data: data.to_string(),
        cause: crate::service::context::cause().to_json().to_string(),
        position: None,
    };
    let mut outcome = TestSend {
        event_id: event_id.clone(),
        url: hook.url.clone(),
        status: None,
        latency_ms: 0,
        body: None,
        error: None,
    };
    let target = match Target::parse(&hook.url) {
        Ok(t) => t,
        Err(e) => {
            outcome.error = Some(e);
            return Ok(outcome);
        }
    };
    let body = event.to_json();
    let timestamp = i64::try_from(svc.clock().since_epoch().as_secs()).unwrap_or_default();
    let headers = [
        ("webhook-id", event_id),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature::header(&secrets, &event.id, timestamp, body.as_bytes())),
    ];
    let options = svc.webhook_options();
    let client = Client::new(options.allow_private, options.timeout);
    let started = Instant::now();
    let answer = client.post(&target, &headers, Bytes::from(body)).await;
    outcome.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match answer {
        Ok((answer, head)) => {
            outcome.status = Some(answer.status);
            outcome.body = Some(String::from_utf8_lossy(&head[..head.len().min(PROBE_BODY)]).into_owned());
        }
        Err(e) => outcome.error = Some(e),
    }
    tracing::info!(webhook = %hook.id, url = %hook.url, status = ?outcome.status, latency_ms = outcome.latency_ms,
        error = ?outcome.error, "webhook test event sent");
    Ok(outcome)
}
