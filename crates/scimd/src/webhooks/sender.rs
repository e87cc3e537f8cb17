//! The webhook sender: a task of the server that turns new events into
//! deliveries, leases the ones that are due and sends them, each signed
//! (Standard Webhooks 1.0), and records what came of it. At least once; in
//! order per subject per endpoint (the store's `ready` mark), subjects in
//! parallel. Replicas on one PostgreSQL database each run one: a lease
//! gives a delivery to one of them at a time, and lapses if it dies.
//!
//! What an answer means: 2xx delivered; 410 disables the endpoint; 429,
//! 502, 503 and 504 (and `Retry-After`) pause the endpoint; anything else
//! (a redirect too: they are not followed) is a failure retried on the
//! schedule, then given up (dead-lettered). An endpoint failing for
//! `disable_after` (5 days) is disabled, and says why.

use super::client::{Answer, Client};
use crate::events::Event;
use crate::events::signature;
use crate::events::target::Target;
use crate::service::{SenderState, Service};
use crate::store::webhooks::{Attempt, Claimed, EndpointNews, Tried, Webhook, subject_key};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// What an attempt came to, as `scimd_webhook_deliveries_total` counts it:
/// delivered, to be retried, given up; `returned` went back unsent (its
/// endpoint was disabled meanwhile, or the one before it failed).
pub(crate) const OUTCOMES: [&str; 4] = ["delivered", "retry", "failed", "returned"];

/// Requests in flight at once, over every endpoint.
const IN_FLIGHT: usize = 256;
/// Events one fan-out step reads.
const FAN_OUT_BATCH: i64 = 1000;
/// How often the sender looks for work it was not woken for (other
/// replicas' events, retries coming due).
const IDLE_TICK: Duration = Duration::from_millis(500);

pub(crate) struct Sender {
    svc: Service,
    client: Arc<Client>,
    slots: Arc<Semaphore>,
    /// Rung when a batch finishes: the next delivery of its subjects may be ready.
    finished: Arc<Notify>,
    /// Per endpoint: its requests in flight, at most its `max_in_flight`
    /// (a product's endpoint is not flooded, and its connections are kept
    /// alive and reused: the client keeps up to 64 per origin); with the
    /// limit the slots were made for.
    endpoints: std::sync::Mutex<HashMap<String, (i64, Arc<Semaphore>)>>,
}

impl Sender {
    pub(crate) fn new(svc: Service) -> Sender {
        let options = svc.webhook_options();
        let client = Client::new(options.allow_private, options.timeout);
        Sender {
            svc,
            client,
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
            finished: Arc::new(Notify::new()),
            endpoints: std::sync::Mutex::default(),
        }
    }

    /// Serve until stopped. Asked to stop ([`Service::stop_sending`]), it
    /// leases nothing more and waits for its requests in flight (each
    /// bounded by the attempt timeout) with their answers recorded, so a
    /// restart sends nothing twice. Aborted instead (an embedding host), a
    /// lease held lapses and its delivery goes again: at least once.
    pub(crate) async fn run(self) {
        let mut stop = self.svc.sender_started();
        let new_events = self.svc.events_committed();
        let hooks_changed = self.svc.webhooks_changed();
        // Longer than any attempt can take, so a lease lapses only when its
        // sender is gone (then the delivery goes again: at least once).
        let lease = self.svc.webhook_options().timeout * 2 + Duration::from_secs(5);
        // The endpoints, read again after IDLE_TICK or when one changes here:
        // a write wakes the sender, and with no endpoint that costs nothing.
        let mut hooks: Vec<Webhook> = Vec::new();
        let mut read_at: Option<Instant> = None;
        loop {
            if *stop.borrow() != SenderState::Running {
                break;
            }
            if read_at.is_none_or(|at| at.elapsed() >= IDLE_TICK) {
                match self.svc.enabled_webhooks().await {
                    Ok(list) => {
                        hooks = list;
                        self.svc.set_sending(!hooks.is_empty());
                    }
                    Err(e) => tracing::warn!(error = %e, "webhook endpoints could not be read; trying again shortly"),
                }
                read_at = Some(Instant::now());
            }
            let worked = match self.round(&hooks, lease).await {
                Ok(worked) => worked,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook delivery round failed; trying again shortly");
                    false
                }
            };
            if worked {
                continue;
            }
            tokio::select! {
                _ = new_events.notified() => {}
                _ = self.finished.notified() => {}
                _ = hooks_changed.notified() => read_at = None,
                _ = stop.changed() => {}
                _ = tokio::time::sleep(IDLE_TICK) => {}
            }
        }
        // Every batch holds its slots until its answers are recorded.
        let finishing = self.slots.acquire_many(IN_FLIGHT as u32);
        if tokio::time::timeout(self.svc.webhook_options().timeout + Duration::from_secs(5), finishing).await.is_err() {
            tracing::warn!("webhook requests still in flight at shutdown were cut; they go again after the restart");
        }
        self.svc.sender_stopped();
    }

    /// Fan out, then lease and start what is due; true when it started any.
    async fn round(&self, hooks: &[Webhook], lease: Duration) -> Result<bool, crate::service::Error> {
        if hooks.is_empty() {
            return Ok(false);
        }
        for hook in hooks {
            while self.svc.fan_out(&hook.id, FAN_OUT_BATCH).await? as i64 == FAN_OUT_BATCH {}
        }
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(false);
        }
        let claimed = self.svc.claim_deliveries(free as i64, lease).await?;
        if claimed.is_empty() {
            return Ok(false);
        }
        let hooks: HashMap<&str, &Webhook> = hooks.iter().map(|h| (h.id.as_str(), h)).collect();
        let mut by_hook: HashMap<String, Vec<Claimed>> = HashMap::new();
        for c in claimed {
            by_hook.entry(c.webhook_id.clone()).or_default().push(c);
        }
        for (hook_id, batch) in by_hook {
            let Some(hook) = hooks.get(hook_id.as_str()).map(|h| (*h).clone()) else {
                // Disabled or deleted since the list was read: its leases go back.
                let done = batch.into_iter().map(|c| (c, Attempt::Returned)).collect();
                self.svc.complete_deliveries(&hook_id, done, EndpointNews::default()).await?;
                continue;
            };
            // A slot per subject: a subject's train is sent one request at a time.
            let subjects = batch.iter().map(|c| subject_key(&c.event)).collect::<std::collections::HashSet<_>>();
            let permits = match self.slots.clone().try_acquire_many_owned(subjects.len() as u32) {
                Ok(p) => p,
                Err(_) => {
                    let done = batch.into_iter().map(|c| (c, Attempt::Returned)).collect();
                    self.svc.complete_deliveries(&hook_id, done, EndpointNews::default()).await?;
                    continue;
                }
            };
            let (svc, client, finished) = (self.svc.clone(), self.client.clone(), self.finished.clone());
            let endpoint = self.endpoint_slots(&hook);
            tokio::spawn(async move {
                send_batch(&svc, &client, &hook, batch, endpoint).await;
                drop(permits);
                finished.notify_one();
            });
        }
        Ok(true)
    }
}

impl Sender {
    fn endpoint_slots(&self, hook: &Webhook) -> Arc<Semaphore> {
        let limit = hook.max_in_flight.clamp(1, crate::store::webhooks::MOST_IN_FLIGHT);
        let slots = || Arc::new(Semaphore::new(usize::try_from(limit).unwrap_or(1)));
        let Ok(mut endpoints) = self.endpoints.lock() else { return slots() };
        // An endpoint no batch holds is forgotten (deleted ones too); a new batch starts it again.
        endpoints.retain(|_, (_, s)| Arc::strong_count(s) > 1);
        // A new limit takes new slots: batches from then on share them (those in flight finish on the old).
        let entry = endpoints.entry(hook.id.clone()).or_insert_with(|| (limit, slots()));
        if entry.0 != limit {
            *entry = (limit, slots());
        }
        entry.1.clone()
    }
}

/// A batch's deliveries by subject, each subject's in the order leased (its feed order).
fn trains(batch: Vec<Claimed>) -> Vec<Vec<Claimed>> {
    let mut trains: Vec<Vec<Claimed>> = Vec::new();
    let mut of_subject: HashMap<String, usize> = HashMap::new();
    for c in batch {
        let key = subject_key(&c.event);
        match of_subject.get(&key) {
            Some(&i) => trains[i].push(c),
            None => {
                of_subject.insert(key, trains.len());
                trains.push(vec![c]);
            }
        }
    }
    trains
}

/// Send one endpoint's leased deliveries: subjects side by side, at most
/// its `max_in_flight` at once, each subject's one after the other; then
/// record them together.
async fn send_batch(
    svc: &Service,
    client: &Arc<Client>,
    hook: &Webhook,
    batch: Vec<Claimed>,
    endpoint_slots: Arc<Semaphore>,
) {
    let target = match Target::parse(&hook.url) {
        Ok(t) => t,
        Err(e) => {
            let tried = Tried { at: svc.now(), ..Tried::default() };
            let done = batch
                .into_iter()
                .map(|c| (c, Attempt::GaveUp { status: None, error: e.clone(), tried: tried.clone() }))
                .collect();
            record(svc, hook, done, EndpointNews { failed: true, ..Default::default() }).await;
            return;
        }
    };
    // As the lease read them (all of one endpoint, in one statement): not the list the sender holds.
    let secrets = Arc::new(match batch.first() {
        Some(c) => svc.lease_secrets(&c.secrets),
        None => svc.signing_secrets(hook),
    });
    let tenant = svc.tenant_name(hook.tenant_id).await;
    let target = Arc::new(target);
    let timeout_ms = i64::try_from(svc.webhook_options().timeout.as_millis()).unwrap_or(i64::MAX / 4);
    let mut sends = tokio::task::JoinSet::new();
    for train in trains(batch) {
        let (svc, client, target, secrets, tenant) =
            (svc.clone(), client.clone(), target.clone(), secrets.clone(), tenant.clone());
        let endpoint_slots = endpoint_slots.clone();
        sends.spawn(async move {
            let _slot = endpoint_slots.acquire_owned().await;
            // A subject's deliveries one after the other, in order; after one
            // that was not delivered (or with its lease running short) the
            // rest go back unsent, behind it.
            let mut answered = Vec::with_capacity(train.len());
            let mut going = true;
            for c in train {
                if !going || svc.now_ms() + timeout_ms + 1000 > c.lease {
                    answered.push((c, None));
                    continue;
                }
                let body = Event::stored(c.event.clone(), &tenant).to_json();
                let timestamp = i64::try_from(svc.clock().since_epoch().as_secs()).unwrap_or_default();
                let headers = [
                    ("webhook-id", c.event.id.clone()),
                    ("webhook-timestamp", timestamp.to_string()),
                    ("webhook-signature", signature::header(&secrets, &c.event.id, timestamp, body.as_bytes())),
                ];
                let (at, started) = (svc.now(), Instant::now());
                let answer = if secrets.is_empty() {
                    Err("the endpoint's secret cannot be opened with this server's key".to_string())
                } else {
                    client.post(&target, &headers, Bytes::from(body)).await
                };
                let tried = Tried {
                    at,
                    duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                    answer: answer.as_ref().ok().map(|(_, head)| String::from_utf8_lossy(head).into_owned()),
                };
                let answer = answer.map(|(a, _)| a);
                going = matches!(&answer, Ok(a) if (200..300).contains(&a.status));
                answered.push((c, Some((answer, tried))));
            }
            answered
        });
    }
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    while let Some(joined) = sends.join_next().await {
        // A train that panicked has no answers: its leases lapse and it goes again.
        if let Ok(answered) = joined {
            answers.extend(answered);
        }
    }
    let options = svc.webhook_options();
    let now_ms = svc.now_ms();
    let mut news = EndpointNews::default();
    let mut done = Vec::with_capacity(answers.len());
    for (c, answer) in answers {
        let attempt = match answer {
            Some((answer, tried)) => judge(&answer, tried, c.attempts, &options.schedule, now_ms, &mut news),
            None => Attempt::Returned,
        };
        done.push((c, attempt));
    }
    if news.failed && !news.succeeded && news.disable.is_none() {
        let limit = i64::try_from(options.disable_after.as_secs()).unwrap_or(i64::MAX / 4);
        let cutoff = svc.clock().at_offset_secs(-limit);
        if hook.failing_since.as_deref().is_some_and(|since| since <= cutoff.as_str()) {
            news.disable = Some(format!(
                "every delivery failed since {} ({} days): fix the endpoint, then enable it again",
                hook.failing_since.as_deref().unwrap_or_default(),
                limit / 86400
            ));
        }
    }
    let sent = started.elapsed();
    record(svc, hook, done, news).await;
    tracing::debug!(webhook = %hook.id, sent_ms = sent.as_millis() as u64, recorded_ms = (started.elapsed() - sent).as_millis() as u64, "webhook batch");
}

async fn record(svc: &Service, hook: &Webhook, done: Vec<(Claimed, Attempt)>, news: EndpointNews) {
    let mut counts = [0u64; OUTCOMES.len()];
    for (_, attempt) in &done {
        counts[match attempt {
            Attempt::Delivered { .. } => 0,
            Attempt::Retry { .. } => 1,
            Attempt::GaveUp { .. } => 2,
            Attempt::Returned => 3,
        }] += 1;
    }
    let tenant = svc.tenant_name(hook.tenant_id).await;
    for (outcome, n) in OUTCOMES.iter().zip(counts) {
        let labels = [("tenant", tenant.clone()), ("webhook", hook.id.clone()), ("outcome", outcome.to_string())];
        metrics::counter!("scimd_webhook_deliveries_total", &labels).increment(n);
    }
    if let Some(reason) = &news.disable {
        tracing::warn!(webhook = %hook.id, url = %hook.url, reason, "webhook endpoint disabled");
    }
    if let Err(e) = svc.complete_deliveries(&hook.id, done, news).await {
        // The leases lapse and the deliveries are sent again.
        tracing::error!(webhook = %hook.id, error = %e, "webhook attempts could not be recorded");
    }
}

/// What one answer means for its delivery, and for its endpoint.
fn judge(
    answer: &Result<Answer, String>,
    tried: Tried,
    attempts: i64,
    schedule: &[u64],
    now_ms: i64,
    news: &mut EndpointNews,
) -> Attempt {
    let made = attempts + 1;
    let next_delay = |extra: Option<Duration>| -> Option<i64> {
        let planned = schedule.get(usize::try_from(made).unwrap_or(usize::MAX)).copied()?;
        let planned_ms = jittered(planned.saturating_mul(1000));
        let asked_ms = extra.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4));
        Some(planned_ms.max(asked_ms))
    };
    let (status, error, slow_down) = match answer {
        Ok(a) if (200..300).contains(&a.status) => {
            news.succeeded = true;
            return Attempt::Delivered { status: i64::from(a.status), tried };
        }
        Ok(a) if a.status == 410 => {
            news.failed = true;
            news.disable = Some("the endpoint answered 410 Gone: it asked for no more deliveries".into());
            // Kept pending: it goes out if the endpoint is enabled again.
            return Attempt::Retry { status: Some(410), error: "410 Gone".into(), next_at: now_ms, tried };
        }
        Ok(a) => {
            let slow = matches!(a.status, 429 | 502 | 503 | 504) || a.retry_after.is_some();
            let error = if (300..400).contains(&a.status) {
                format!("answered {} (a redirect: webhooks do not follow them)", a.status)
            } else {
                format!("answered {}: {}", a.status, a.body_start)
            };
            (Some(i64::from(a.status)), error, slow.then_some(a.retry_after))
        }
        Err(e) => (None, e.clone(), None),
    };
    news.failed = true;
    // Retry-After is honoured up to a day.
    let asked = slow_down.flatten().map(|d| d.min(Duration::from_secs(86400)));
    match next_delay(asked) {
        Some(delay) => {
            if slow_down.is_some() {
                let pause = now_ms + delay.max(1000);
                news.pause_until = Some(news.pause_until.map_or(pause, |p| p.max(pause)));
            }
            Attempt::Retry { status, error, next_at: now_ms + delay, tried }
        }
        None => Attempt::GaveUp { status, error, tried },
    }
}

/// `ms` give or take a fifth, so that retries of many deliveries spread out.
fn jittered(ms: u64) -> i64 {
    let mut bytes = [0u8; 4];
    let spread = if ms == 0 || getrandom::fill(&mut bytes).is_err() {
        0.0
    } else {
        (f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)) * 0.4 - 0.2
    };
    let value = (ms as f64) * (1.0 + spread);
    value as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge_now(
        answer: &Result<Answer, String>,
        attempts: i64,
        schedule: &[u64],
        now_ms: i64,
        news: &mut EndpointNews,
    ) -> Attempt {
        judge(answer, Tried::default(), attempts, schedule, now_ms, news)
    }

    fn answer(status: u16, retry_after: Option<u64>) -> Result<Answer, String> {
        Ok(Answer { status, retry_after: retry_after.map(Duration::from_secs), body_start: String::new() })
    }

    #[test]
    fn answers_mean_what_the_issue_says() {
        let schedule = [0, 5, 300];
        let mut news = EndpointNews::default();
        assert!(matches!(
            judge_now(&answer(204, None), 0, &schedule, 0, &mut news),
            Attempt::Delivered { status: 204, .. }
        ));
        let mut news = EndpointNews::default();
        let Attempt::Retry { next_at, .. } = judge_now(&answer(500, None), 0, &schedule, 1000, &mut news) else {
            panic!("a 500 is retried")
        };
        assert!((1000 + 4000..=1000 + 6000).contains(&next_at), "{next_at}");
        assert!(news.failed && news.pause_until.is_none());
        let mut news = EndpointNews::default();
        assert!(matches!(judge_now(&answer(302, None), 0, &schedule, 0, &mut news), Attempt::Retry { .. }));
        let mut news = EndpointNews::default();
        let Attempt::Retry { next_at, .. } = judge_now(&answer(429, Some(120)), 0, &schedule, 0, &mut news) else {
            panic!("a 429 is retried")
        };
        assert_eq!(next_at, 120_000, "Retry-After is honoured");
        assert_eq!(news.pause_until, Some(120_000), "and the endpoint waits");
        let mut news = EndpointNews::default();
        judge_now(&answer(410, None), 0, &schedule, 0, &mut news);
        assert!(news.disable.is_some());
        let mut news = EndpointNews::default();
        assert!(matches!(judge_now(&Err("refused".into()), 2, &schedule, 0, &mut news), Attempt::GaveUp { .. }));
    }
}
