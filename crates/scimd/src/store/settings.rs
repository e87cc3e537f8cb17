//! Server-wide settings kept with the data (`server_settings`): facts every
//! replica must agree on, such as the fingerprint of the secrets key.

use super::{JobFuture, Store, StoreError, WriteTx};
use sqlx::Row;

impl Store {
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let c = self.core();
        let row = c.q("SELECT value FROM server_settings WHERE name = ?").bind(name).fetch_optional(&c.pool).await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Keep `value` under `name` unless a value is kept already; answers the
    /// value kept (ours, or the one another replica recorded first).
    pub async fn setting_once(&self, name: &str, value: &str) -> Result<String, StoreError> {
        fn run<'t>(tx: &'t mut WriteTx, args: &'t (String, String)) -> JobFuture<'t, (), StoreError> {
            Box::pin(async move {
                tx.q("INSERT INTO server_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
                    .bind(&args.0)
                    .bind(&args.1)
                    .execute(&mut *tx.tx)
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
                    .execute(&mut *tx.tx)
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
