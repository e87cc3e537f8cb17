//! Server-wide settings kept with the data (`server_settings`): facts every
//! replica must agree on, such as the fingerprint of the secrets key.

use super::{JobFuture, Store, StoreError, WriteTx};

impl Store {
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let c = self.core();
        let row = c.q("SELECT value FROM server_settings WHERE name = ?").bind(name).fetch_optional(&c.pool).await?;
        row.map(|r| r.try_get("value")).transpose()
    }

    /// Keep `value` under `name` unless a value is kept already; answers the
    /// value kept (ours, or the one another replica recorded first).
    pub async fn setting_once(&self, name: &str, value: &str) -> Result<String, StoreError> {
        fn run<'t>(tx: &'t mut WriteTx, args: &'t (String, String)) -> JobFuture<'t, (), StoreError> {
            Box::pin(async move {
                tx.q("INSERT INTO server_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
                    .bind(&args.0)
                    .bind(&args.1)
                    .execute(&mut tx.tx)
                    .await?;
                Ok(())
            })
        }
        self.write((name.to_string(), value.to_string()), run).await?;
        self.setting(name).await?.ok_or_else(|| StoreError::Corrupt(format!("the setting '{name}' was not kept")))
    }

    /// Replace the value kept under `name` (an operator adopting a new key).
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        fn run<'t>(tx: &'t mut WriteTx, args: &'t (String, String)) -> JobFuture<'t, (), StoreError> {
            Box::pin(async move {
                tx.q("INSERT INTO server_settings (name, value) VALUES (?, ?) \
                      ON CONFLICT (name) DO UPDATE SET value = excluded.value")
                    .bind(&args.0)
                    .bind(&args.1)
                    .execute(&mut tx.tx)
                    .await?;
                Ok(())
            })
        }
        self.write((name.to_string(), value.to_string()), run).await.map(|_| ())
    }

    /// How many webhook endpoints exist (every tenant), and one of their sealed secrets.
    pub async fn webhook_secrets_kept(&self) -> Result<(i64, Option<String>), StoreError> {
        let c = self.core();
        let count: i64 = c.q("SELECT COUNT(*) AS n FROM webhooks").fetch_one(&c.pool).await?.try_get("n")?;
        let one = c.q("SELECT secret FROM webhooks ORDER BY id LIMIT 1").fetch_optional(&c.pool).await?;
        Ok((count, one.map(|r| r.try_get("secret")).transpose()?))
    }
}

/// One endpoint's backlog, as `/metrics` shows it.
#[derive(Clone, Debug)]
pub struct Backlog {
    pub tenant_id: i64,
    pub webhook_id: String,
    /// Deliveries waiting (pending), leased ones included.
    pub pending: i64,
    /// When the oldest of them was queued; `None` when none waits.
    pub oldest: Option<String>,
}

impl Store {
    /// Every endpoint's pending deliveries and the oldest one's time.
    pub async fn webhook_backlogs(&self) -> Result<Vec<Backlog>, StoreError> {
        let c = self.core();
        let rows = c
            .q("SELECT w.tenant_id, w.id, COUNT(d.seq) AS pending, MIN(d.created_at) AS oldest FROM webhooks w \
                LEFT JOIN deliveries d ON d.webhook_id = w.id AND d.status = 'pending' GROUP BY w.tenant_id, w.id")
            .fetch_all(&c.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Backlog {
                    tenant_id: r.try_get(0)?,
                    webhook_id: r.try_get(1)?,
                    pending: r.try_get("pending")?,
                    oldest: r.try_get("oldest")?,
                })
            })
            .collect()
    }

    /// When the oldest event that is committed but not yet in the feed was
    /// written (PostgreSQL: an event shows once every older transaction on
    /// the server has ended; SQLite shows each at its commit: `None`). Looks
    /// at the newest 100,000 events, which bounds the cost of a scrape.
    pub async fn oldest_held_back_event(&self) -> Result<Option<String>, StoreError> {
        let c = self.core();
        if c.dialect() == super::sql::Dialect::Sqlite {
            return Ok(None);
        }
        let row = c
            .q("SELECT MIN(e.created_at) AS oldest FROM (SELECT created_at, tx FROM events ORDER BY seq DESC LIMIT 100000) e \
                WHERE e.tx >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&c.pool)
            .await?;
        row.try_get("oldest")
    }
}
