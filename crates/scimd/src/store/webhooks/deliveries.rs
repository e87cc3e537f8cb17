//! Deliveries of a tenant's webhooks: the fan-out of its events into
//! deliveries (each endpoint from its own cursor, in event order), leases
//! that give a delivery to one sender at a time, what came of each attempt,
//! and the admin API's view of them.
//!
//! In order per subject per endpoint: only the oldest pending delivery of a
//! subject is `ready`; when it is done the next one of its subject becomes
//! ready. Fan-out and completions of one endpoint lock its row (PostgreSQL),
//! so that a delivery added while the one before it completes is not missed.

use super::super::events::{
    EVENT_COLS, Position, StoredEvent, after_position, bind_types, committed_only, event_from_row, of_types,
};
use super::super::sql::Dialect;
use super::super::{Store, StoreError, WriteTx};
use crate::store::exec::Row;

/// Subjects due at once, at most, for which a lease takes a train (see
/// `claim_deliveries`); with more, subjects already go side by side.
const TRAINS_UP_TO: usize = 16;
/// Deliveries one train holds at most, its ready one included.
pub(crate) const TRAIN: i64 = 200;

/// A delivery as the admin API lists it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub seq: i64,
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

/// Which of an endpoint's deliveries a list shows.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    /// `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// Of this event (its `evt_…` id).
    pub event_id: Option<String>,
    /// Of events about this user or group (its id).
    pub subject_id: Option<String>,
    /// Of events of these types, or prefixes ending in `.`.
    pub types: Vec<String>,
}

/// A delivery given to this sender, with what it sends.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub seq: i64,
    pub id: String,
    pub webhook_id: String,
    pub attempts: i64,
    /// The lease's end: the completion names it, so a lease that lapsed and
    /// went to another sender is not completed twice.
    pub lease: i64,
    pub event: StoredEvent,
    /// The endpoint's sealed secrets as the lease read them: a rotation
    /// committed before the lease signs this delivery with both secrets, on
    /// every replica, whatever endpoint list the sender holds.
    pub secrets: SealedSecrets,
}

/// An endpoint's secrets, sealed: the current one, and the one before it
/// with the end of its grace period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedSecrets {
    pub secret: String,
    pub old_secret: Option<String>,
    pub old_secret_until: Option<String>,
}

/// What came of one attempt.
#[derive(Clone, Debug)]
pub enum Attempt {
    Delivered {
        status: i64,
        tried: Tried,
    },
    /// Failed; tried again at `next_at` (epoch ms).
    Retry {
        status: Option<i64>,
        error: String,
        next_at: i64,
        tried: Tried,
    },
    /// Failed for the last time: dead-lettered, listed with `status=failed`.
    GaveUp {
        status: Option<i64>,
        error: String,
        tried: Tried,
    },
    /// Not tried: the endpoint is disabled or asked to slow down; the lease is returned.
    Returned,
}

impl Attempt {
    /// The try as the delivery's history keeps it: when, how long, the
    /// receiver's status and body start, the error; `None` when not tried.
    fn history(&self) -> Option<(&Tried, Option<i64>, Option<&str>)> {
        match self {
            Attempt::Delivered { status, tried } => Some((tried, Some(*status), None)),
            Attempt::Retry { status, error, tried, .. } | Attempt::GaveUp { status, error, tried } => {
                Some((tried, *status, Some(error.as_str())))
            }
            Attempt::Returned => None,
        }
    }
}

/// One try of a delivery: when the request went out, how long it took,
/// and the start of what the receiver answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tried {
    pub at: String,
    pub duration_ms: i64,
    /// The first KiB of the receiver's body, as text (`None`: no answer).
    pub answer: Option<String>,
}

/// A try as `GET …/deliveries/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriedRow {
    pub at: String,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub answer: Option<String>,
    pub error: Option<String>,
}

/// What an attempt says about its endpoint.
#[derive(Clone, Debug, Default)]
pub struct EndpointNews {
    pub succeeded: bool,
    pub failed: bool,
    /// Send nothing before this (epoch ms).
    pub pause_until: Option<i64>,
    /// Disable it, for this reason.
    pub disable: Option<String>,
}

const DELIVERY_COLS: &str = "d.seq, d.id, d.webhook_id, e.id AS event_id, e.type AS event_type, d.subject, d.status, \
     d.attempts, d.next_at, d.last_status, d.last_error, d.last_attempt_at, d.delivered_at, d.created_at";

fn delivery_from_row(row: &Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        subject: row.try_get("subject")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_at: row.try_get("next_at")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        last_attempt_at: row.try_get("last_attempt_at")?,
        delivered_at: row.try_get("delivered_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Rows per INSERT of deliveries: 7 parameters each.
const DELIVERIES_PER_INSERT: usize = 500;
/// Rows per INSERT of tries: 6 parameters each.
const TRIES_PER_INSERT: usize = 500;
/// Tries a delivery's history shows, newest kept: a delivery retried by
/// hand again and again has a bounded answer.
const HISTORY_SHOWN: i64 = 100;

/// Where a replay starts: after a feed cursor, or at a time.
#[derive(Clone, Debug)]
pub enum ReplayFrom {
    After(Position),
    /// Events whose timestamp is at or after this (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
    Since(String),
}

/// What a replay queued.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// New pending deliveries, one per event.
    pub queued: usize,
    /// The limit was reached with more to queue: replay again after this position.
    pub next: Option<Position>,
    /// The endpoint's cursor: a replay goes up to it (events after it reach the endpoint anyway).
    pub up_to: Position,
}

/// Events one replay step reads.
const REPLAY_PAGE: i64 = 1000;

impl Store {
    /// Deliveries of an endpoint after `after` (seq) that `filter` lets through.
    pub async fn deliveries(
        &self,
        webhook_id: &str,
        filter: &DeliveryFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let core = self.core();
        let mut sql = format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.seq = d.event_seq \
             WHERE d.webhook_id = ? AND d.seq > ?"
        );
        if filter.status.is_some() {
            sql.push_str(" AND d.status = ?");
        }
        if filter.event_id.is_some() {
            sql.push_str(" AND e.id = ?");
        }
        if filter.subject_id.is_some() {
            sql.push_str(" AND d.subject IN (?, ?)");
        }
        sql.push_str(&of_types(&filter.types, "e"));
        sql.push_str(" ORDER BY d.seq LIMIT ?");
        let mut q = core.q(&sql).bind(webhook_id).bind(after);
        if let Some(status) = &filter.status {
            q = q.bind(status.clone());
        }
        if let Some(event) = &filter.event_id {
            q = q.bind(event.clone());
        }
        if let Some(id) = &filter.subject_id {
            q = q.bind(subject_key_of("user", id)).bind(subject_key_of("group", id));
        }
        let rows = bind_types(q, &filter.types).bind(limit).fetch_all(&core.pool).await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// A delivery's tries, oldest first: the newest [`HISTORY_SHOWN`] of them.
    pub async fn delivery_history(&self, delivery_seq: i64) -> Result<Vec<TriedRow>, StoreError> {
        let core = self.core();
        let rows = core
            .q("SELECT at, status, duration_ms, answer, error FROM delivery_attempts \
                WHERE delivery_seq = ? ORDER BY seq DESC LIMIT ?")
            .bind(delivery_seq)
            .bind(HISTORY_SHOWN)
            .fetch_all(&core.pool)
            .await?;
        let mut tries = rows
            .iter()
            .map(|row| {
                Ok(TriedRow {
                    at: row.try_get("at")?,
                    status: row.try_get("status")?,
                    duration_ms: row.try_get("duration_ms")?,
                    answer: row.try_get("answer")?,
                    error: row.try_get("error")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tries.reverse();
        Ok(tries)
    }

    pub async fn delivery(&self, tenant_id: i64, id: &str) -> Result<Option<Delivery>, StoreError> {
        let core = self.core();
        let row = core
            .q(&format!(
                "SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.seq = d.event_seq \
                 JOIN webhooks w ON w.id = d.webhook_id WHERE w.tenant_id = ? AND d.id = ?"
            ))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&core.pool)
            .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }
}

impl WriteTx {
    /// Turn up to `limit` of an endpoint's new events into deliveries and
    /// move its cursor past them; answers how many events it read.
    pub async fn fan_out(&mut self, webhook_id: &str, limit: i64, now_ms: i64, now: &str) -> Result<usize, StoreError> {
        let Some(w) = self.lock_webhook(webhook_id).await? else { return Ok(0) };
        let rows = self
            .q(&format!(
                "SELECT {EVENT_COLS} FROM events e WHERE e.tenant_id = ? AND {}{} ORDER BY e.tx, e.seq LIMIT ?",
                after_position(self.dialect(), "e"),
                committed_only(self.dialect(), "e")
            ))
            .bind(w.tenant_id)
            .bind(w.cursor.tx)
            .bind(w.cursor.seq)
            .bind(limit)
            .fetch_all(&mut self.tx)
            .await?;
        let events: Vec<StoredEvent> = rows.iter().map(event_from_row).collect::<Result<_, _>>()?;
        let Some(last) = events.last().map(|e| e.position) else { return Ok(0) };
        let wanted: Vec<&StoredEvent> = events.iter().filter(|e| w.wants(&e.event_type)).collect();
        // A subject's first new delivery is ready unless one is pending already.
        let mut subjects: Vec<String> = wanted.iter().map(|e| subject_key(e)).collect();
        subjects.sort();
        subjects.dedup();
        let busy: std::collections::HashSet<String> = if subjects.is_empty() {
            Default::default()
        } else {
            let rows = self
                .q(&format!(
                    "SELECT DISTINCT d.subject FROM deliveries d WHERE d.webhook_id = ? AND d.status = 'pending' \
                     AND d.subject IN (SELECT j.value FROM {})",
                    self.dialect().json_text_rows()
                ))
                .bind(webhook_id)
                .bind(super::super::tx::json_ids(&subjects)?)
                .fetch_all(&mut self.tx)
                .await?;
            super::super::tx::first_texts(&rows)?.into_iter().collect()
        };
        let mut seen = std::collections::HashSet::new();
        for chunk in wanted.chunks(DELIVERIES_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, 'pending', ?, ?, ?)"; chunk.len()].join(", ");
            let mut q = self.q(&format!(
                "INSERT INTO deliveries (id, webhook_id, event_seq, subject, status, ready, next_at, created_at) VALUES {rows}"
            ));
            for e in chunk {
                let subject = subject_key(e);
                let ready = !busy.contains(&subject) && seen.insert(subject.clone());
                q = q
                    .bind(format!("dlv_{}", uuid::Uuid::now_v7().simple()))
                    .bind(webhook_id)
                    .bind(e.position.seq)
                    .bind(subject)
                    .bind(i64::from(ready))
                    .bind(now_ms)
                    .bind(now);
            }
            q.execute(&mut self.tx).await?;
        }
        self.q("UPDATE webhooks SET cursor_tx = ?, cursor_seq = ? WHERE id = ?")
            .bind(last.tx)
            .bind(last.seq)
            .bind(webhook_id)
            .execute(&mut self.tx)
            .await?;
        Ok(events.len())
    }

    /// Lease up to `limit` deliveries that are due, ready and of endpoints
    /// that take them, until `lease_until` (epoch ms).
    pub async fn claim_deliveries(
        &mut self,
        now_ms: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        };
        let rows = self
            .q(&format!(
                "SELECT d.seq, d.webhook_id, d.subject FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.status = 'pending' AND d.ready = 1 AND d.next_at <= ? AND d.leased_until <= ? \
                 AND w.disabled_at IS NULL AND w.paused_until <= ? ORDER BY d.next_at, d.seq LIMIT ?{lock}"
            ))
            .bind(now_ms)
            .bind(now_ms)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut self.tx)
            .await?;
        let mut seqs: Vec<i64> = rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        // Few subjects due: each takes the deliveries queued behind its ready
        // one too (a train, sent one after the other by this sender), so one
        // subject's backlog (a large group's members) is not a lease and a
        // completion per event. Nobody else leases them: they are not ready.
        if rows.len() <= TRAINS_UP_TO {
            for row in &rows {
                let (head, webhook, subject): (i64, String, String) =
                    (row.try_get(0)?, row.try_get("webhook_id")?, row.try_get("subject")?);
                let behind = self
                    .q("SELECT seq FROM deliveries WHERE webhook_id = ? AND subject = ? AND status = 'pending' \
                        AND ready = 0 AND seq > ? ORDER BY seq LIMIT ?")
                    .bind(webhook)
                    .bind(subject)
                    .bind(head)
                    .bind(TRAIN - 1)
                    .fetch_all(&mut self.tx)
                    .await?;
                for r in &behind {
                    seqs.push(r.try_get(0)?);
                }
            }
        }
        let list = seqs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        self.q(&format!("UPDATE deliveries SET leased_until = ? WHERE seq IN ({list})"))
            .bind(lease_until)
            .execute(&mut self.tx)
            .await?;
        let rows = self
            .q(&format!(
                "SELECT d.seq AS d_seq, d.id AS d_id, d.webhook_id, d.attempts, w.secret AS w_secret, \
                 w.old_secret AS w_old_secret, w.old_secret_until AS w_old_secret_until, {EVENT_COLS} \
                 FROM deliveries d JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.seq IN ({list}) ORDER BY d.seq"
            ))
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    seq: row.try_get("d_seq")?,
                    id: row.try_get("d_id")?,
                    webhook_id: row.try_get("webhook_id")?,
                    attempts: row.try_get("attempts")?,
                    lease: lease_until,
                    event: event_from_row(row)?,
                    secrets: SealedSecrets {
                        secret: row.try_get("w_secret")?,
                        old_secret: row.try_get("w_old_secret")?,
                        old_secret_until: row.try_get("w_old_secret_until")?,
                    },
                })
            })
            .collect()
    }

    /// Record what came of the attempts on one endpoint, and what they say about it.
    pub async fn complete_deliveries(
        &mut self,
        webhook_id: &str,
        done: &[(Claimed, Attempt)],
        news: &EndpointNews,
        now: &str,
    ) -> Result<(), StoreError> {
        // Serialised with the endpoint's fan-out (see the module doc).
        if matches!(self.dialect(), Dialect::Postgres) {
            self.q("SELECT id FROM webhooks WHERE id = ? FOR UPDATE")
                .bind(webhook_id)
                .fetch_optional(&mut self.tx)
                .await?;
        }
        for (c, attempt) in done {
            let finished = match attempt {
                Attempt::Delivered { status, .. } => {
                    self.q("UPDATE deliveries SET status = 'delivered', ready = 0, attempts = attempts + 1, \
                            last_status = ?, last_error = NULL, last_attempt_at = ?, delivered_at = ?, leased_until = 0 \
                            WHERE seq = ? AND leased_until = ?")
                        .bind(*status)
                        .bind(now)
                        .bind(now)
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut self.tx)
                        .await?
                        .rows_affected()
                        > 0
                }
                Attempt::Retry { status, error, next_at, .. } => {
                    self.q("UPDATE deliveries SET attempts = attempts + 1, next_at = ?, last_status = ?, last_error = ?, \
                            last_attempt_at = ?, leased_until = 0 WHERE seq = ? AND leased_until = ?")
                        .bind(*next_at)
                        .bind(*status)
                        .bind(error.as_str())
                        .bind(now)
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut self.tx)
                        .await?;
                    false
                }
                Attempt::GaveUp { status, error, .. } => {
                    self.q("UPDATE deliveries SET status = 'failed', ready = 0, attempts = attempts + 1, last_status = ?, \
                            last_error = ?, last_attempt_at = ?, leased_until = 0 WHERE seq = ? AND leased_until = ?")
                        .bind(*status)
                        .bind(error.as_str())
                        .bind(now)
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut self.tx)
                        .await?
                        .rows_affected()
                        > 0
                }
                Attempt::Returned => {
                    self.q("UPDATE deliveries SET leased_until = 0 WHERE seq = ? AND leased_until = ?")
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut self.tx)
                        .await?;
                    false
                }
            };
            if finished {
                self.ready_next(webhook_id, &subject_key(&c.event)).await?;
            }
        }
        let tried: Vec<(i64, &Tried, Option<i64>, Option<&str>)> = done
            .iter()
            .filter_map(|(c, attempt)| attempt.history().map(|(t, status, error)| (c.seq, t, status, error)))
            .collect();
        for chunk in tried.chunks(TRIES_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let mut q = self.q(&format!(
                "INSERT INTO delivery_attempts (delivery_seq, at, status, duration_ms, answer, error) VALUES {rows}"
            ));
            for (seq, t, status, error) in chunk {
                q = q
                    .bind(*seq)
                    .bind(t.at.as_str())
                    .bind(*status)
                    .bind(t.duration_ms)
                    .bind(t.answer.as_deref())
                    .bind(*error);
            }
            q.execute(&mut self.tx).await?;
        }
        if news.succeeded {
            self.q("UPDATE webhooks SET failing_since = NULL WHERE id = ?")
                .bind(webhook_id)
                .execute(&mut self.tx)
                .await?;
        } else if news.failed {
            self.q("UPDATE webhooks SET failing_since = COALESCE(failing_since, ?) WHERE id = ?")
                .bind(now)
                .bind(webhook_id)
                .execute(&mut self.tx)
                .await?;
        }
        if let Some(until) = news.pause_until {
            self.q("UPDATE webhooks SET paused_until = ? WHERE id = ? AND paused_until < ?")
                .bind(until)
                .bind(webhook_id)
                .bind(until)
                .execute(&mut self.tx)
                .await?;
        }
        if let Some(reason) = &news.disable {
            self.disable_webhook(webhook_id, reason, now).await?;
        }
        Ok(())
    }

    /// Send a delivery again from the start of the schedule. `None`: no such
    /// delivery of the tenant; `Some(false)`: it is not failed or delivered.
    pub async fn retry_delivery(&mut self, tenant_id: i64, id: &str, now_ms: i64) -> Result<Option<bool>, StoreError> {
        let row = self
            .q("SELECT d.seq, d.webhook_id, d.subject, d.status FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                WHERE w.tenant_id = ? AND d.id = ?")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        if status == "pending" {
            return Ok(Some(false));
        }
        let (seq, webhook_id, subject): (i64, String, String) =
            (row.try_get("seq")?, row.try_get("webhook_id")?, row.try_get("subject")?);
        self.q("UPDATE deliveries SET status = 'pending', ready = 0, attempts = 0, next_at = ?, leased_until = 0 WHERE seq = ?")
            .bind(now_ms)
            .bind(seq)
            .execute(&mut self.tx)
            .await?;
        // Ready unless another of its subject is on its way (then it follows that one).
        let others = self
            .q("SELECT COUNT(*) FROM deliveries WHERE webhook_id = ? AND subject = ? AND status = 'pending' AND ready = 1")
            .bind(webhook_id.as_str())
            .bind(subject.as_str())
            .fetch_one(&mut self.tx)
            .await?
            .try_get::<i64, _>(0)?;
        if others == 0 {
            self.q("UPDATE deliveries SET ready = 1 WHERE seq = ?").bind(seq).execute(&mut self.tx).await?;
        }
        Ok(Some(true))
    }
}

/// The key deliveries are ordered by: `user:ID` or `group:ID`.
pub(crate) fn subject_key(e: &StoredEvent) -> String {
    subject_key_of(&e.subject_type, &e.subject_id)
}

fn subject_key_of(subject_type: &str, subject_id: &str) -> String {
    format!("{subject_type}:{subject_id}")
}

impl WriteTx {
    /// Queue again, as new pending deliveries of an endpoint, its tenant's
    /// events from `from` up to the endpoint's cursor that it wants (its
    /// types as they are now), at most `limit` of them. In order per
    /// subject: they are added in feed order after every delivery the
    /// endpoint has (so after any pending one of their subject), and one is
    /// ready only when its subject has no pending delivery before it (none,
    /// while the endpoint is disabled: enabling readies the oldest). The
    /// endpoint's row is locked, so a fan-out or completion of it waits.
    /// `None`: there is no such endpoint.
    pub async fn replay_deliveries(
        &mut self,
        tenant_id: i64,
        webhook_id: &str,
        from: &ReplayFrom,
        limit: usize,
        now_ms: i64,
        now: &str,
    ) -> Result<Option<Replayed>, StoreError> {
        let Some(w) = self.webhook_for_update(tenant_id, webhook_id).await? else { return Ok(None) };
        let up_to = w.cursor;
        let rows = self
            .q("SELECT DISTINCT subject FROM deliveries WHERE webhook_id = ? AND status = 'pending'")
            .bind(webhook_id)
            .fetch_all(&mut self.tx)
            .await?;
        let mut busy: std::collections::HashSet<String> = super::super::tx::first_texts(&rows)?.into_iter().collect();
        let enabled = w.disabled_at.is_none();
        let (mut after, since) = match from {
            ReplayFrom::After(p) => (*p, None),
            ReplayFrom::Since(at) => (Position::default(), Some(at.as_str())),
        };
        let (bounded, since_sql) = match self.dialect() {
            Dialect::Sqlite => ("e.seq <= ?", if since.is_some() { " AND e.created_at >= ?" } else { "" }),
            Dialect::Postgres => {
                ("(e.tx, e.seq) <= (?, ?)", if since.is_some() { " AND e.created_at >= ?" } else { "" })
            }
        };
        let sql = format!(
            "SELECT e.seq, e.tx, e.type, e.subject_type, e.subject_id FROM events e WHERE e.tenant_id = ? AND {} \
             AND {bounded}{since_sql} ORDER BY e.tx, e.seq LIMIT ?",
            after_position(self.dialect(), "e")
        );
        // (event seq, subject, ready), in feed order.
        let mut queued: Vec<(i64, String, bool)> = Vec::new();
        let mut last_queued = None;
        let mut next = None;
        'pages: loop {
            let mut q = self.q(&sql).bind(tenant_id).bind(after.tx).bind(after.seq);
            if matches!(self.dialect(), Dialect::Postgres) {
                q = q.bind(up_to.tx);
            }
            q = q.bind(up_to.seq);
            if let Some(at) = since {
                q = q.bind(at);
            }
            let rows = q.bind(REPLAY_PAGE).fetch_all(&mut self.tx).await?;
            for row in &rows {
                let position = Position { tx: row.try_get("tx")?, seq: row.try_get("seq")? };
                after = position;
                let event_type: String = row.try_get("type")?;
                if !w.wants(&event_type) {
                    continue;
                }
                if queued.len() >= limit {
                    next = last_queued;
                    break 'pages;
                }
                let subject_type: String = row.try_get("subject_type")?;
                let subject_id: String = row.try_get("subject_id")?;
                let subject = subject_key_of(&subject_type, &subject_id);
                let ready = enabled && busy.insert(subject.clone());
                queued.push((position.seq, subject, ready));
                last_queued = Some(position);
            }
            if (rows.len() as i64) < REPLAY_PAGE {
                break;
            }
        }
        for chunk in queued.chunks(DELIVERIES_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, 'pending', ?, ?, ?)"; chunk.len()].join(", ");
            let mut q = self.q(&format!(
                "INSERT INTO deliveries (id, webhook_id, event_seq, subject, status, ready, next_at, created_at) VALUES {rows}"
            ));
            for (event_seq, subject, ready) in chunk {
                q = q
                    .bind(format!("dlv_{}", uuid::Uuid::now_v7().simple()))
                    .bind(webhook_id)
                    .bind(*event_seq)
                    .bind(subject.as_str())
                    .bind(i64::from(*ready))
                    .bind(now_ms)
                    .bind(now);
            }
            q.execute(&mut self.tx).await?;
        }
        Ok(Some(Replayed { queued: queued.len(), next, up_to }))
    }
}
