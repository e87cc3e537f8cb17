//! Webhook endpoints as operations: created (its secret shown once, sealed
//! at rest), listed, changed, deleted, its secret rotated, switched back on;
//! its deliveries listed, retried, and events replayed into new ones. And
//! the steps the sender runs on the store: fan events out into deliveries,
//! lease them, record each attempt (`crate::webhooks::sender` decides what
//! an attempt means; `crate::webhooks::probe` sends a test event).

use super::{Error, Service};
use crate::events::sealed::SealingKey;
use crate::events::signature::Secret;
use crate::events::target::{self, Target};
use crate::store::events::Position;
use crate::store::webhooks::{
    Attempt, Claimed, DEFAULT_MAX_IN_FLIGHT, DESCRIPTION_CHARS, Delivery, DeliveryFilter, EndpointNews, MOST_IN_FLIGHT,
    ReplayFrom, Replayed, TriedRow, Webhook, WebhookChange,
};
use crate::store::{JobFuture, WriteTx};
use std::time::Duration;

/// How webhooks are sent.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    /// Seals endpoint secrets at rest; `None`: webhooks are off (none can be
    /// created, none is sent by this process).
    pub key: Option<SealingKey>,
    /// Why there is no key, in words for the operator (`/readyz`, refusals).
    pub off_because: Option<String>,
    /// Targets on private, loopback or link-local addresses are allowed.
    pub allow_private: bool,
    /// One attempt's deadline.
    pub timeout: Duration,
    /// Seconds before each attempt (the first is usually 0); then the delivery is given up.
    pub schedule: Vec<u64>,
    /// How long a rotated-out secret still signs.
    pub rotation_grace: Duration,
    /// An endpoint failing this long is disabled.
    pub disable_after: Duration,
}

/// The schedule: 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
pub const DEFAULT_SCHEDULE: &[u64] = &[0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            key: None,
            off_because: None,
            allow_private: false,
            timeout: Duration::from_secs(15),
            schedule: DEFAULT_SCHEDULE.to_vec(),
            rotation_grace: Duration::from_secs(24 * 3600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// Seconds before each attempt, as one value (a flag's, `0,5,300`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule(pub Vec<u64>);

/// A schedule as the flag writes it: `0,5,300`.
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let schedule: Vec<u64> = text
        .split(',')
        .map(|s| s.trim().parse::<u64>().map_err(|_| format!("'{s}' is not a number of seconds")))
        .collect::<Result<_, _>>()?;
    if schedule.is_empty() || schedule.len() > 50 {
        return Err("a retry schedule has 1 to 50 delays, in seconds, separated by commas".into());
    }
    Ok(Schedule(schedule))
}

fn no_webhook(id: &str) -> Error {
    Error::NotFound(format!("there is no webhook '{id}'"))
}

fn refuse(text: String) -> Error {
    Error::Refused(super::Refusal::Configuration(text))
}

/// Events one replay queues at most; past it the answer says where to go on from.
pub const REPLAY_LIMIT: usize = 100_000;

/// Are these event types (or prefixes ending in `.`) ones that exist?
fn check_types(event_types: &[String]) -> Result<(), Error> {
    for t in event_types {
        let known =
            crate::events::EVENT_TYPES.iter().any(|k| k == t || (t.ends_with('.') && k.starts_with(t.as_str())));
        if !known {
            return Err(refuse(format!(
                "'{t}' is not an event type or a prefix of one (ending in '.'): the types are {}",
                crate::events::EVENT_TYPES.join(", ")
            )));
        }
    }
    Ok(())
}

/// An endpoint's description and its deliveries in flight at once, as they may be.
fn check_settings(description: Option<&str>, max_in_flight: Option<i64>) -> Result<(), Error> {
    if let Some(d) = description
        && d.chars().count() > DESCRIPTION_CHARS
    {
        return Err(refuse(format!(
            "'description' is at most {DESCRIPTION_CHARS} characters; this one has {}",
            d.chars().count()
        )));
    }
    if let Some(n) = max_in_flight
        && !(1..=MOST_IN_FLIGHT).contains(&n)
    {
        return Err(refuse(format!(
            "'max_in_flight' is how many of the endpoint's deliveries may be in flight at once: a whole number \
             from 1 to {MOST_IN_FLIGHT} ({DEFAULT_MAX_IN_FLIGHT} unless given), not {n}"
        )));
    }
    Ok(())
}

impl Service {
    pub fn webhook_options(&self) -> &WebhookOptions {
        &self.0.webhooks
    }

    /// Refused, in words, when webhooks are off on this server (it has no secrets key).
    pub(crate) fn webhooks_on(&self) -> Result<(), Error> {
        self.sealing_key().map(|_| ())
    }

    fn sealing_key(&self) -> Result<&SealingKey, Error> {
        self.0.webhooks.key.as_ref().ok_or_else(|| {
            let why = self.0.webhooks.off_because.as_deref().unwrap_or("this server was started without one");
            Error::Refused(super::Refusal::Configuration(format!(
                "webhooks are off on this server: it has no key to keep webhook secrets with ({why})"
            )))
        })
    }

    /// The secrets an endpoint signs with now: its own, and the one before
    /// it during a rotation's grace period.
    pub fn signing_secrets(&self, w: &Webhook) -> Vec<Secret> {
        self.open_secrets(&w.secret, w.old_secret.as_deref(), w.old_secret_until.as_deref())
    }

    /// [`Service::signing_secrets`] from the sealed secrets a lease read.
    pub(crate) fn lease_secrets(&self, s: &crate::store::webhooks::SealedSecrets) -> Vec<Secret> {
        self.open_secrets(&s.secret, s.old_secret.as_deref(), s.old_secret_until.as_deref())
    }

    fn open_secrets(&self, secret: &str, old_secret: Option<&str>, old_until: Option<&str>) -> Vec<Secret> {
        let Some(key) = &self.0.webhooks.key else { return Vec::new() };
        let now = self.now();
        let old = old_secret.filter(|_| old_until.is_some_and(|until| until > now.as_str()));
        [Some(secret), old]
            .into_iter()
            .flatten()
            .filter_map(|sealed| key.open(sealed))
            .filter_map(|text| Secret::parse(&text).ok())
            .collect()
    }

    /// A URL a webhook may be sent to (read, and its host's addresses checked), or why not, in words.
    async fn check_url(&self, url: &str) -> Result<(), Error> {
        let target = Target::parse(url).map_err(refuse)?;
        target::allowed_addresses(&target, self.0.webhooks.allow_private).await.map_err(refuse)?;
        Ok(())
    }

    /// Create an endpoint for `event_types` (types, or prefixes ending in
    /// `.`; empty: every event) from now on, with a description and the
    /// most deliveries in flight at once (default [`DEFAULT_MAX_IN_FLIGHT`]);
    /// answers it and its secret, shown only here.
    pub async fn create_webhook(
        &self,
        tenant_id: i64,
        url: &str,
        event_types: Vec<String>,
        description: &str,
        max_in_flight: Option<i64>,
    ) -> Result<(Webhook, String), Error> {
        let key = self.sealing_key()?;
        Target::parse(url).map_err(refuse)?;
        check_types(&event_types)?;
        check_settings(Some(description), max_in_flight)?;
        self.check_url(url).await?;
        let (_, secret) = Secret::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let hook = Webhook {
            id: format!("wh_{}", uuid::Uuid::now_v7().simple()),
            tenant_id,
            url: url.to_string(),
            event_types,
            secret: key.seal(&secret).map_err(Error::Internal)?,
            old_secret: None,
            old_secret_until: None,
            created_at: self.now(),
            cursor: Position::default(),
            paused_until: 0,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
            description: description.to_string(),
            max_in_flight: max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        };
        fn run<'t>(tx: &'t mut WriteTx, hook: &'t Webhook) -> JobFuture<'t, Position, Error> {
            Box::pin(async move {
                // From the end of the feed now: an endpoint hears of what happens after it was made.
                let mut hook = hook.clone();
                hook.cursor = tx.events_end(hook.tenant_id).await?;
                tx.insert_webhook(&hook).await?;
                Ok(hook.cursor)
            })
        }
        let (cursor, _) = self.write(hook.clone(), run).await?;
        self.0.webhooks_changed.notify_one();
        Ok((Webhook { cursor, ..hook }, secret))
    }

    pub async fn webhooks(&self, tenant_id: i64) -> Result<Vec<Webhook>, Error> {
        Ok(self.store().webhooks(tenant_id).await?)
    }

    pub async fn webhook(&self, tenant_id: i64, id: &str) -> Result<Webhook, Error> {
        self.store().webhook(tenant_id, id).await?.ok_or_else(|| no_webhook(id))
    }

    pub async fn delete_webhook(&self, tenant_id: i64, id: &str) -> Result<(), Error> {
        fn run<'t>(tx: &'t mut WriteTx, a: &'t (i64, String)) -> JobFuture<'t, bool, Error> {
            Box::pin(async move { Ok(tx.delete_webhook(a.0, &a.1).await?) })
        }
        let (found, _) = self.write((tenant_id, id.to_string()), run).await?;
        self.0.webhooks_changed.notify_one();
        if found { Ok(()) } else { Err(no_webhook(id)) }
    }

    /// A new secret (shown only here); the old one keeps signing beside it for the grace period.
    pub async fn rotate_webhook_secret(&self, tenant_id: i64, id: &str) -> Result<(String, String), Error> {
        let key = self.sealing_key()?;
        let (_, secret) = Secret::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let grace = i64::try_from(self.0.webhooks.rotation_grace.as_secs()).unwrap_or(i64::MAX / 4);
        let until = self.clock().at_offset_secs(grace);
        struct Job {
            tenant_id: i64,
            id: String,
            sealed: String,
            until: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, j: &'t Job) -> JobFuture<'t, bool, Error> {
            Box::pin(async move { Ok(tx.rotate_webhook_secret(j.tenant_id, &j.id, &j.sealed, &j.until).await?) })
        }
        let job = Job {
            tenant_id,
            id: id.to_string(),
            sealed: key.seal(&secret).map_err(Error::Internal)?,
            until: until.clone(),
        };
        let (found, _) = self.write(job, run).await?;
        self.0.webhooks_changed.notify_one();
        if found { Ok((secret, until)) } else { Err(no_webhook(id)) }
    }

    /// Change what `change` names of an endpoint, checked as a new one's
    /// settings are; its secret and its deliveries stay (pending ones go to
    /// the new URL). Answers the endpoint as it is now.
    pub async fn update_webhook(&self, tenant_id: i64, id: &str, change: WebhookChange) -> Result<Webhook, Error> {
        if let Some(url) = &change.url {
            Target::parse(url).map_err(refuse)?;
        }
        if let Some(types) = &change.event_types {
            check_types(types)?;
        }
        check_settings(change.description.as_deref(), change.max_in_flight)?;
        // The endpoint first: a change of a webhook that does not exist is
        // named as such, before its URL is resolved.
        self.webhook(tenant_id, id).await?;
        if let Some(url) = &change.url {
            self.check_url(url).await?;
        }
        struct Job {
            tenant_id: i64,
            id: String,
            change: WebhookChange,
            now: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, j: &'t Job) -> JobFuture<'t, bool, Error> {
            Box::pin(async move { Ok(tx.update_webhook(j.tenant_id, &j.id, &j.change, &j.now).await?) })
        }
        let job = Job { tenant_id, id: id.to_string(), change, now: self.now() };
        let (found, _) = self.write(job, run).await?;
        self.0.webhooks_changed.notify_one();
        if !found {
            return Err(no_webhook(id));
        }
        self.webhook(tenant_id, id).await
    }

    /// Queue again, as new pending deliveries of an endpoint, every event of
    /// its tenant from `from` that it wants, at most `limit` (up to
    /// [`REPLAY_LIMIT`]); in order per subject, behind any pending delivery of theirs.
    pub async fn replay_webhook(
        &self,
        tenant_id: i64,
        id: &str,
        from: ReplayFrom,
        limit: usize,
    ) -> Result<Replayed, Error> {
        if !(1..=REPLAY_LIMIT).contains(&limit) {
            return Err(refuse(format!("'limit' is a whole number from 1 to {REPLAY_LIMIT}, not {limit}")));
        }
        struct Job {
            tenant_id: i64,
            id: String,
            from: ReplayFrom,
            limit: usize,
            now_ms: i64,
            now: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, j: &'t Job) -> JobFuture<'t, Option<Replayed>, Error> {
            Box::pin(
                async move { Ok(tx.replay_deliveries(j.tenant_id, &j.id, &j.from, j.limit, j.now_ms, &j.now).await?) },
            )
        }
        let job = Job { tenant_id, id: id.to_string(), from, limit, now_ms: self.now_ms(), now: self.now() };
        let (replayed, _) = self.write(job, run).await?;
        // The sender looks at once (as after a change of endpoints).
        self.0.webhooks_changed.notify_one();
        replayed.ok_or_else(|| no_webhook(id))
    }

    /// Switch a disabled endpoint back on.
    pub async fn enable_webhook(&self, tenant_id: i64, id: &str) -> Result<(), Error> {
        fn run<'t>(tx: &'t mut WriteTx, a: &'t (i64, String)) -> JobFuture<'t, bool, Error> {
            Box::pin(async move { Ok(tx.enable_webhook(a.0, &a.1).await?) })
        }
        let (found, _) = self.write((tenant_id, id.to_string()), run).await?;
        self.0.webhooks_changed.notify_one();
        if found { Ok(()) } else { Err(no_webhook(id)) }
    }

    pub async fn deliveries(
        &self,
        tenant_id: i64,
        webhook_id: &str,
        filter: &DeliveryFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, Error> {
        self.webhook(tenant_id, webhook_id).await?;
        // Events not yet queued for it (a disabled endpoint's sender queues
        // nothing) are queued first: the list shows everything that waits.
        if filter.status.as_deref().is_none_or(|s| s == "pending") {
            while self.fan_out(webhook_id, 1000).await? == 1000 {}
        }
        Ok(self.store().deliveries(webhook_id, filter, after, limit).await?)
    }

    /// A delivery of the tenant's, with its tries (the newest 100, oldest first).
    pub async fn delivery_with_history(&self, tenant_id: i64, id: &str) -> Result<(Delivery, Vec<TriedRow>), Error> {
        let delivery = self
            .store()
            .delivery(tenant_id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("there is no delivery '{id}'")))?;
        let history = self.store().delivery_history(delivery.seq).await?;
        Ok((delivery, history))
    }

    pub async fn retry_delivery(&self, tenant_id: i64, id: &str) -> Result<Delivery, Error> {
        fn run<'t>(tx: &'t mut WriteTx, a: &'t (i64, String, i64)) -> JobFuture<'t, Option<bool>, Error> {
            Box::pin(async move { Ok(tx.retry_delivery(a.0, &a.1, a.2).await?) })
        }
        let (done, _) = self.write((tenant_id, id.to_string(), self.now_ms()), run).await?;
        match done {
            None => Err(Error::NotFound(format!("there is no delivery '{id}'"))),
            Some(false) => Err(Error::Refused(super::Refusal::Configuration(format!(
                "delivery '{id}' is still pending: it is retried on its schedule"
            )))),
            Some(true) => self.store().delivery(tenant_id, id).await?.ok_or_else(|| Error::NotFound(id.to_string())),
        }
    }

    /// Now, in milliseconds since the epoch (delivery times are kept so).
    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.clock().since_epoch().as_millis()).unwrap_or(i64::MAX)
    }

    // ------------------------------------------------------------ the sender

    pub async fn enabled_webhooks(&self) -> Result<Vec<Webhook>, Error> {
        Ok(self.store().enabled_webhooks().await?)
    }

    /// Turn up to `limit` new events of an endpoint into deliveries; answers how many events it read.
    pub async fn fan_out(&self, webhook_id: &str, limit: i64) -> Result<usize, Error> {
        fn run<'t>(tx: &'t mut WriteTx, a: &'t (String, i64, i64, String)) -> JobFuture<'t, usize, Error> {
            Box::pin(async move { Ok(tx.fan_out(&a.0, a.1, a.2, &a.3).await?) })
        }
        Ok(self.write((webhook_id.to_string(), limit, self.now_ms(), self.now()), run).await?.0)
    }

    /// Lease up to `limit` deliveries that are due, for `lease`.
    pub async fn claim_deliveries(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, Error> {
        let now = self.now_ms();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4));
        fn run<'t>(tx: &'t mut WriteTx, a: &'t (i64, i64, i64)) -> JobFuture<'t, Vec<Claimed>, Error> {
            Box::pin(async move { Ok(tx.claim_deliveries(a.0, a.1, a.2).await?) })
        }
        Ok(self.write((now, until, limit), run).await?.0)
    }

    /// Record the attempts on one endpoint and what they say about it.
    pub async fn complete_deliveries(
        &self,
        webhook_id: &str,
        done: Vec<(Claimed, Attempt)>,
        news: EndpointNews,
    ) -> Result<(), Error> {
        struct Job {
            webhook_id: String,
            done: Vec<(Claimed, Attempt)>,
            news: EndpointNews,
            now: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, j: &'t Job) -> JobFuture<'t, (), Error> {
            Box::pin(async move { Ok(tx.complete_deliveries(&j.webhook_id, &j.done, &j.news, &j.now).await?) })
        }
        let job = Job { webhook_id: webhook_id.to_string(), done, news, now: self.now() };
        self.write(job, run).await?;
        Ok(())
    }

    /// Delete events older than the retention, a chunk per transaction; answers how many went.
    pub async fn prune_events(&self, retention: Duration) -> Result<u64, Error> {
        let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 4);
        let before = self.clock().at_offset_secs(-secs);
        // The cut-off, as the job's own argument (a job owns what it reads).
        struct Before(String);
        fn run<'t>(tx: &'t mut WriteTx, before: &'t Before) -> JobFuture<'t, u64, Error> {
            Box::pin(async move { Ok(tx.prune_events(&before.0, 5000).await?) })
        }
        let mut total = 0;
        loop {
            let (n, _) = self.write(Before(before.clone()), run).await?;
            total += n;
            if n < 5000 {
                return Ok(total);
            }
        }
    }
}
