//! Webhook endpoints (migration 0008/0009; description and max_in_flight
//! 0015/0016): a tenant's endpoints, their secrets, cursors, pauses,
//! disabling and settings. Their deliveries are in [`deliveries`].

use super::events::{Position, committed_only};
use super::sql::Dialect;
use super::{Store, StoreError, WriteTx};
use crate::store::exec::Row;

mod deliveries;

pub(crate) use deliveries::{
    Attempt, Claimed, Delivery, DeliveryFilter, EndpointNews, ReplayFrom, Replayed, SealedSecrets, Tried, TriedRow,
    subject_key,
};

/// Deliveries of one endpoint in flight at once unless it says otherwise
/// (the migration's default: the one limit every endpoint had before).
pub(crate) const DEFAULT_MAX_IN_FLIGHT: i64 = 32;
/// The most an endpoint may ask for (the HTTP client keeps this many idle connections per origin).
pub(crate) const MOST_IN_FLIGHT: i64 = 64;
/// Characters of an endpoint's description, at most.
pub(crate) const DESCRIPTION_CHARS: usize = 500;

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
    /// Free text for the people who run it ("" when none).
    pub description: String,
    /// Its deliveries in flight at once, at most (1 to [`MOST_IN_FLIGHT`]).
    pub max_in_flight: i64,
}

/// What a `PATCH` of an endpoint changes: only what it names.
#[derive(Clone, Debug, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub max_in_flight: Option<i64>,
    /// `Some(true)`: on again (as `enable_webhook`); `Some(false)`: off, its deliveries wait.
    pub enabled: Option<bool>,
}

impl Webhook {
    /// Does the endpoint want events of this type?
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty()
            || self.event_types.iter().any(|t| t == event_type || (t.ends_with('.') && event_type.starts_with(t)))
    }
}

const WEBHOOK_COLS: &str = "id, tenant_id, url, event_types, secret, old_secret, old_secret_until, created_at, \
     cursor_tx, cursor_seq, paused_until, failing_since, disabled_at, disabled_reason, description, max_in_flight";

fn webhook_from_row(row: &Row) -> Result<Webhook, StoreError> {
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
        description: row.try_get("description")?,
        max_in_flight: row.try_get("max_in_flight")?,
    })
}

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
            .fetch_optional(&mut self.tx)
            .await?;
        match row {
            Some(row) => Ok(Position { tx: row.try_get("tx")?, seq: row.try_get("seq")? }),
            None => Ok(Position::default()),
        }
    }

    pub async fn insert_webhook(&mut self, w: &Webhook) -> Result<(), StoreError> {
        let types = serde_json::to_string(&w.event_types).map_err(|e| StoreError::Encode(e.to_string()))?;
        self.q("INSERT INTO webhooks (id, tenant_id, url, event_types, secret, created_at, cursor_tx, cursor_seq, \
                description, max_in_flight) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(w.id.as_str())
            .bind(w.tenant_id)
            .bind(w.url.as_str())
            .bind(types)
            .bind(w.secret.as_str())
            .bind(w.created_at.as_str())
            .bind(w.cursor.tx)
            .bind(w.cursor.seq)
            .bind(w.description.as_str())
            .bind(w.max_in_flight)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    /// Change what `change` names of an endpoint, in this transaction; its
    /// secret, cursor and deliveries stay (pending ones go to the new URL).
    /// `false`: there is no such endpoint.
    pub async fn update_webhook(
        &mut self,
        tenant_id: i64,
        id: &str,
        change: &WebhookChange,
        now: &str,
    ) -> Result<bool, StoreError> {
        let Some(w) = self.webhook_for_update(tenant_id, id).await? else { return Ok(false) };
        let mut sets: Vec<&str> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        if let Some(url) = &change.url {
            sets.push("url = ?");
            values.push(url.clone());
        }
        if let Some(types) = &change.event_types {
            sets.push("event_types = ?");
            values.push(serde_json::to_string(types).map_err(|e| StoreError::Encode(e.to_string()))?);
        }
        if let Some(description) = &change.description {
            sets.push("description = ?");
            values.push(description.clone());
        }
        if !sets.is_empty() {
            let mut q = self.q(&format!("UPDATE webhooks SET {} WHERE id = ?", sets.join(", ")));
            for v in values {
                q = q.bind(v);
            }
            q.bind(id).execute(&mut self.tx).await?;
        }
        if let Some(n) = change.max_in_flight {
            self.q("UPDATE webhooks SET max_in_flight = ? WHERE id = ?").bind(n).bind(id).execute(&mut self.tx).await?;
        }
        match change.enabled {
            Some(true) if w.disabled_at.is_some() => {
                self.enable_webhook(tenant_id, id).await?;
            }
            Some(false) if w.disabled_at.is_none() => {
                self.disable_webhook(id, "disabled by an admin: enable it to send what waits", now).await?;
            }
            _ => {}
        }
        Ok(true)
    }

    /// An endpoint of the tenant, its row locked for this transaction
    /// (PostgreSQL: waits for a fan-out or completion holding it).
    async fn webhook_for_update(&mut self, tenant_id: i64, id: &str) -> Result<Option<Webhook>, StoreError> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let row = self
            .q(&format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE tenant_id = ? AND id = ?{lock}"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// `false`: there is no such endpoint.
    pub async fn delete_webhook(&mut self, tenant_id: i64, id: &str) -> Result<bool, StoreError> {
        let done = self
            .q("DELETE FROM webhooks WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut self.tx)
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
            .execute(&mut self.tx)
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
            .execute(&mut self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.q("UPDATE deliveries SET ready = 1 WHERE seq IN (SELECT MIN(seq) FROM deliveries \
                WHERE webhook_id = ? AND status = 'pending' GROUP BY subject)")
            .bind(id)
            .execute(&mut self.tx)
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
            // A disabled endpoint is fanned out too (its deliveries wait, listed, until it is enabled).
            .q(&format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = ?{lock}"))
            .bind(id)
            .fetch_optional(&mut self.tx)
            .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// Disable an endpoint (it said 410, or kept failing); its pending deliveries wait.
    pub async fn disable_webhook(&mut self, webhook_id: &str, reason: &str, now: &str) -> Result<(), StoreError> {
        self.q("UPDATE webhooks SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL")
            .bind(now)
            .bind(reason)
            .bind(webhook_id)
            .execute(&mut self.tx)
            .await?;
        // Nothing of it is looked at while it is off (see enable_webhook).
        self.q("UPDATE deliveries SET ready = 0 WHERE webhook_id = ? AND status = 'pending'")
            .bind(webhook_id)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    /// The oldest pending delivery of a subject becomes ready.
    async fn ready_next(&mut self, webhook_id: &str, subject: &str) -> Result<(), StoreError> {
        self.q("UPDATE deliveries SET ready = 1 WHERE seq = (SELECT MIN(seq) FROM deliveries \
                WHERE webhook_id = ? AND subject = ? AND status = 'pending')")
            .bind(webhook_id)
            .bind(subject)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }
}
