//! Webhook endpoints and their deliveries (migration 0008/0009): endpoints
//! of a tenant, the fan-out of its events into deliveries (each endpoint
//! from its own cursor, in event order), leases that give a delivery to one
//! sender at a time, and what came of each attempt.
//!
//! In order per subject per endpoint: only the oldest pending delivery of a
//! subject is `ready`; when it is done the next one of its subject becomes
//! ready. Fan-out and completions of one endpoint lock its row (PostgreSQL),
//! so that a delivery added while the one before it completes is not missed.

use super::events::{EVENT_COLS, Position, StoredEvent, after_position, committed_only, event_from_row};
use super::sql::Dialect;
use super::{Store, StoreError, WriteTx};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: String,
    pub tenant_id: i64,
    pub url: String,
    /// Types or prefixes (`user.`) of the events it wants; empty: all.
    pub event_types: Vec<String>,
    /// Sealed with the server's key.
    pub secret: String,
    pub old_secret: Option<String>,
    pub old_secret_until: Option<String>,
    pub created_at: String,
    pub cursor: Position,
    /// Epoch ms before which nothing is sent to it.
    pub paused_until: i64,
    pub failing_since: Option<String>,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
}

impl Webhook {
    /// Does the endpoint want events of this type?
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty()
            || self.event_types.iter().any(|t| t == event_type || (t.ends_with('.') && event_type.starts_with(t)))
    }
}

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
}

/// What came of one attempt.
#[derive(Clone, Debug)]
pub enum Attempt {
    Delivered {
        status: i64,
    },
    /// Failed; tried again at `next_at` (epoch ms).
    Retry {
        status: Option<i64>,
        error: String,
        next_at: i64,
    },
    /// Failed for the last time: dead-lettered, listed with `status=failed`.
    GaveUp {
        status: Option<i64>,
        error: String,
    },
    /// Not tried: the endpoint is disabled or asked to slow down; the lease is returned.
    Returned,
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

const WEBHOOK_COLS: &str = "id, tenant_id, url, event_types, secret, old_secret, old_secret_until, created_at, \
     cursor_tx, cursor_seq, paused_until, failing_since, disabled_at, disabled_reason";

fn webhook_from_row(row: &AnyRow) -> Result<Webhook, StoreError> {
    let types: String = row.try_get("event_types")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        url: row.try_get("url")?,
        event_types: serde_json::from_str(&types).map_err(|e| StoreError::Corrupt(format!("event types: {e}")))?,
        secret: row.try_get("secret")?,
        old_secret: row.try_get("old_secret")?,
        old_secret_until: row.try_get("old_secret_until")?,
        created_at: row.try_get("created_at")?,
        cursor: Position { tx: row.try_get("cursor_tx")?, seq: row.try_get("cursor_seq")? },
        paused_until: row.try_get("paused_until")?,
        failing_since: row.try_get("failing_since")?,
        disabled_at: row.try_get("disabled_at")?,
        disabled_reason: row.try_get("disabled_reason")?,
    })
}

const DELIVERY_COLS: &str = "d.seq, d.id, d.webhook_id, e.id AS event_id, e.type AS event_type, d.subject, d.status, \
     d.attempts, d.next_at, d.last_status, d.last_error, d.last_attempt_at, d.delivered_at, d.created_at";

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, StoreError> {
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

impl Store {
    pub async fn webhooks(&self, tenant_id: i64) -> Result<Vec<Webhook>, StoreError> {
        let core = self.core();
        let rows = core
            .q(&format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE tenant_id = ? ORDER BY created_at, id"))
            .bind(tenant_id)
            .fetch_all(&core.pool)
            .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    pub async fn webhook(&self, tenant_id: i64, id: &str) -> Result<Option<Webhook>, StoreError> {
        let core = self.core();
        let row = core
            .q(&format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE tenant_id = ? AND id = ?"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&core.pool)
            .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// Every enabled endpoint of every tenant (what the sender serves).
    pub async fn enabled_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let core = self.core();
        let rows = core
            .q(&format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE disabled_at IS NULL ORDER BY id"))
            .fetch_all(&core.pool)
            .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// Deliveries of an endpoint after `after` (seq), optionally of one status.
    pub async fn deliveries(
        &self,
        webhook_id: &str,
        status: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let core = self.core();
        let by_status = if status.is_some() { " AND d.status = ?" } else { "" };
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.seq = d.event_seq \
             WHERE d.webhook_id = ? AND d.seq > ?{by_status} ORDER BY d.seq LIMIT ?"
        );
        let mut q = core.q(&sql).bind(webhook_id).bind(after);
        if let Some(status) = status {
            q = q.bind(status);
        }
        let rows = q.bind(limit).fetch_all(&core.pool).await?;
        rows.iter().map(delivery_from_row).collect()
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
    /// Where a tenant's feed ends now: a new endpoint starts there.
    pub async fn events_end(&mut self, tenant_id: i64) -> Result<Position, StoreError> {
        let row = self
            .q(&format!(
                "SELECT e.tx, e.seq FROM events e WHERE e.tenant_id = ?{} ORDER BY e.tx DESC, e.seq DESC LIMIT 1",
                committed_only(self.dialect(), "e")
            ))
            .bind(tenant_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        match row {
            Some(row) => Ok(Position { tx: row.try_get("tx")?, seq: row.try_get("seq")? }),
            None => Ok(Position::default()),
        }
    }

    pub async fn insert_webhook(&mut self, w: &Webhook) -> Result<(), StoreError> {
        let types = serde_json::to_string(&w.event_types).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.q("INSERT INTO webhooks (id, tenant_id, url, event_types, secret, created_at, cursor_tx, cursor_seq) \
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(w.id.as_str())
            .bind(w.tenant_id)
            .bind(w.url.as_str())
            .bind(types)
            .bind(w.secret.as_str())
            .bind(w.created_at.as_str())
            .bind(w.cursor.tx)
            .bind(w.cursor.seq)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// `false`: there is no such endpoint.
    pub async fn delete_webhook(&mut self, tenant_id: i64, id: &str) -> Result<bool, StoreError> {
        let done = self
            .q("DELETE FROM webhooks WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A new secret; the one before keeps signing until `old_until`. `false`: no such endpoint.
    pub async fn rotate_webhook_secret(
        &mut self,
        tenant_id: i64,
        id: &str,
        secret: &str,
        old_until: &str,
    ) -> Result<bool, StoreError> {
        let done = self
            .q("UPDATE webhooks SET old_secret = secret, old_secret_until = ?, secret = ? WHERE tenant_id = ? AND id = ?")
            .bind(old_until)
            .bind(secret)
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Switch an endpoint back on; its waiting deliveries go out again, oldest first per subject.
    pub async fn enable_webhook(&mut self, tenant_id: i64, id: &str) -> Result<bool, StoreError> {
        let done = self
            .q("UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL, paused_until = 0 \
                WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.q("UPDATE deliveries SET ready = 1 WHERE seq IN (SELECT MIN(seq) FROM deliveries \
                WHERE webhook_id = ? AND status = 'pending' GROUP BY subject)")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }

    /// Lock an endpoint's row for this transaction; `None`: another
    /// replica holds it (PostgreSQL), or it is gone or disabled.
    async fn lock_webhook(&mut self, id: &str) -> Result<Option<Webhook>, StoreError> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let row = self
            .q(&format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = ? AND disabled_at IS NULL{lock}"))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

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
            .fetch_all(&mut *self.tx)
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
                .bind(super::tx::json_ids(&subjects)?)
                .fetch_all(&mut *self.tx)
                .await?;
            super::tx::first_texts(&rows)?.into_iter().collect()
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
            q.execute(&mut *self.tx).await?;
        }
        self.q("UPDATE webhooks SET cursor_tx = ?, cursor_seq = ? WHERE id = ?")
            .bind(last.tx)
            .bind(last.seq)
            .bind(webhook_id)
            .execute(&mut *self.tx)
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
                "SELECT d.seq FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.status = 'pending' AND d.ready = 1 AND d.next_at <= ? AND d.leased_until <= ? \
                 AND w.disabled_at IS NULL AND w.paused_until <= ? ORDER BY d.next_at, d.seq LIMIT ?{lock}"
            ))
            .bind(now_ms)
            .bind(now_ms)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let list = seqs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        self.q(&format!("UPDATE deliveries SET leased_until = ? WHERE seq IN ({list})"))
            .bind(lease_until)
            .execute(&mut *self.tx)
            .await?;
        let rows = self
            .q(&format!(
                "SELECT d.seq AS d_seq, d.id AS d_id, d.webhook_id, d.attempts, {EVENT_COLS} FROM deliveries d \
                 JOIN events e ON e.seq = d.event_seq WHERE d.seq IN ({list}) ORDER BY d.seq"
            ))
            .fetch_all(&mut *self.tx)
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
                .fetch_optional(&mut *self.tx)
                .await?;
        }
        for (c, attempt) in done {
            let finished = match attempt {
                Attempt::Delivered { status } => {
                    self.q("UPDATE deliveries SET status = 'delivered', ready = 0, attempts = attempts + 1, \
                            last_status = ?, last_error = NULL, last_attempt_at = ?, delivered_at = ?, leased_until = 0 \
                            WHERE seq = ? AND leased_until = ?")
                        .bind(*status)
                        .bind(now)
                        .bind(now)
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut *self.tx)
                        .await?
                        .rows_affected()
                        > 0
                }
                Attempt::Retry { status, error, next_at } => {
                    self.q("UPDATE deliveries SET attempts = attempts + 1, next_at = ?, last_status = ?, last_error = ?, \
                            last_attempt_at = ?, leased_until = 0 WHERE seq = ? AND leased_until = ?")
                        .bind(*next_at)
                        .bind(*status)
                        .bind(error.as_str())
                        .bind(now)
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut *self.tx)
                        .await?;
                    false
                }
                Attempt::GaveUp { status, error } => {
                    self.q("UPDATE deliveries SET status = 'failed', ready = 0, attempts = attempts + 1, last_status = ?, \
                            last_error = ?, last_attempt_at = ?, leased_until = 0 WHERE seq = ? AND leased_until = ?")
                        .bind(*status)
                        .bind(error.as_str())
                        .bind(now)
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut *self.tx)
                        .await?
                        .rows_affected()
                        > 0
                }
                Attempt::Returned => {
                    self.q("UPDATE deliveries SET leased_until = 0 WHERE seq = ? AND leased_until = ?")
                        .bind(c.seq)
                        .bind(c.lease)
                        .execute(&mut *self.tx)
                        .await?;
                    false
                }
            };
            if finished {
                self.ready_next(webhook_id, &subject_key(&c.event)).await?;
            }
        }
        if news.succeeded {
            self.q("UPDATE webhooks SET failing_since = NULL WHERE id = ?")
                .bind(webhook_id)
                .execute(&mut *self.tx)
                .await?;
        } else if news.failed {
            self.q("UPDATE webhooks SET failing_since = COALESCE(failing_since, ?) WHERE id = ?")
                .bind(now)
                .bind(webhook_id)
                .execute(&mut *self.tx)
                .await?;
        }
        if let Some(until) = news.pause_until {
            self.q("UPDATE webhooks SET paused_until = ? WHERE id = ? AND paused_until < ?")
                .bind(until)
                .bind(webhook_id)
                .bind(until)
                .execute(&mut *self.tx)
                .await?;
        }
        if let Some(reason) = &news.disable {
            self.disable_webhook(webhook_id, reason, now).await?;
        }
        Ok(())
    }

    /// Disable an endpoint (it said 410, or kept failing); its pending deliveries wait.
    pub async fn disable_webhook(&mut self, webhook_id: &str, reason: &str, now: &str) -> Result<(), StoreError> {
        self.q("UPDATE webhooks SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL")
            .bind(now)
            .bind(reason)
            .bind(webhook_id)
            .execute(&mut *self.tx)
            .await?;
        // Nothing of it is looked at while it is off (see enable_webhook).
        self.q("UPDATE deliveries SET ready = 0 WHERE webhook_id = ? AND status = 'pending'")
            .bind(webhook_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The oldest pending delivery of a subject becomes ready.
    async fn ready_next(&mut self, webhook_id: &str, subject: &str) -> Result<(), StoreError> {
        self.q("UPDATE deliveries SET ready = 1 WHERE seq = (SELECT MIN(seq) FROM deliveries \
                WHERE webhook_id = ? AND subject = ? AND status = 'pending')")
            .bind(webhook_id)
            .bind(subject)
            .execute(&mut *self.tx)
            .await?;
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
            .fetch_optional(&mut *self.tx)
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
            .execute(&mut *self.tx)
            .await?;
        // Ready unless another of its subject is on its way (then it follows that one).
        let others = self
            .q("SELECT COUNT(*) FROM deliveries WHERE webhook_id = ? AND subject = ? AND status = 'pending' AND ready = 1")
            .bind(webhook_id.as_str())
            .bind(subject.as_str())
            .fetch_one(&mut *self.tx)
            .await?
            .try_get::<i64, _>(0)?;
        if others == 0 {
            self.q("UPDATE deliveries SET ready = 1 WHERE seq = ?").bind(seq).execute(&mut *self.tx).await?;
        }
        Ok(Some(true))
    }
}

/// The key deliveries are ordered by: `user:ID` or `group:ID`.
pub fn subject_key(e: &StoredEvent) -> String {
    format!("{}:{}", e.subject_type, e.subject_id)
}
