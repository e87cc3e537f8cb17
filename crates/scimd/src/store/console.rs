//! The console's sessions and the portal links that open them. Both are
//! found by the SHA-256 of the secret the browser holds; expired rows are
//! dropped whenever a new one is made.

use super::{Store, StoreError, WriteTx};

/// A signed-in console session, as a request finds it.
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    pub id: i64,
    /// `None`: an operator's session (every tenant).
    pub tenant: Option<(i64, String)>,
    /// Who signed in: the admin token's name, or "portal link".
    pub label: String,
    /// Where a portal session's "back" link goes (the product's own page).
    pub return_url: Option<String>,
    pub expires_at: String,
    /// The admin token the session was opened with has been revoked or has expired.
    pub token_ended: bool,
}

/// A session to be made.
pub struct NewSession<'a> {
    pub hash: &'a [u8],
    pub tenant_id: Option<i64>,
    pub admin_token_id: Option<i64>,
    pub label: &'a str,
    pub return_url: Option<&'a str>,
    pub now: &'a str,
    pub expires_at: &'a str,
}

impl Store {
    pub async fn console_session(&self, hash: &[u8], now: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let c = self.core();
        let row = c
            .q("SELECT s.id, s.tenant_id, t.name AS tenant_name, s.label, s.return_url, s.expires_at, \
                s.admin_token_id, a.revoked_at AS token_revoked, a.expires_at AS token_expires \
                FROM console_sessions s LEFT JOIN tenants t ON t.id = s.tenant_id \
                LEFT JOIN admin_tokens a ON a.id = s.admin_token_id \
                WHERE s.hash = ? AND s.expires_at > ?")
            .bind(hash.to_vec())
            .bind(now)
            .fetch_optional(&c.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let tenant_id: Option<i64> = r.try_get("tenant_id")?;
        let tenant_name: Option<String> = r.try_get("tenant_name")?;
        let revoked: Option<String> = r.try_get("token_revoked")?;
        let token_expires: Option<String> = r.try_get("token_expires")?;
        Ok(Some(ConsoleSession {
            id: r.try_get("id")?,
            tenant: tenant_id.zip(tenant_name),
            label: r.try_get("label")?,
            return_url: r.try_get("return_url")?,
            expires_at: r.try_get("expires_at")?,
            token_ended: revoked.is_some() || token_expires.is_some_and(|e| e.as_str() <= now),
        }))
    }
}

impl WriteTx {
    pub async fn create_console_session(&mut self, new: &NewSession<'_>) -> Result<(), StoreError> {
        self.q("DELETE FROM console_sessions WHERE expires_at <= ?").bind(new.now).execute(&mut self.tx).await?;
        self.q(
            "INSERT INTO console_sessions (hash, tenant_id, admin_token_id, label, return_url, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.hash.to_vec())
        .bind(new.tenant_id)
        .bind(new.admin_token_id)
        .bind(new.label)
        .bind(new.return_url)
        .bind(new.now)
        .bind(new.expires_at)
        .execute(&mut self.tx)
        .await?;
        Ok(())
    }

    pub async fn end_console_session(&mut self, hash: &[u8]) -> Result<(), StoreError> {
        self.q("DELETE FROM console_sessions WHERE hash = ?").bind(hash.to_vec()).execute(&mut self.tx).await?;
        Ok(())
    }

    pub async fn create_portal_link(
        &mut self,
        hash: &[u8],
        tenant_id: i64,
        return_url: Option<&str>,
        now: &str,
        expires_at: &str,
    ) -> Result<(), StoreError> {
        self.q("DELETE FROM portal_links WHERE expires_at <= ?").bind(now).execute(&mut self.tx).await?;
        self.q("INSERT INTO portal_links (hash, tenant_id, return_url, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(hash.to_vec())
            .bind(tenant_id)
            .bind(return_url)
            .bind(now)
            .bind(expires_at)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    /// Use a portal link: once, before it expires. Answers its tenant and return URL.
    pub async fn use_portal_link(
        &mut self,
        hash: &[u8],
        now: &str,
    ) -> Result<Option<(i64, Option<String>)>, StoreError> {
        let row = self
            .q("UPDATE portal_links SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? \
                RETURNING tenant_id, return_url")
            .bind(now)
            .bind(hash.to_vec())
            .bind(now)
            .fetch_optional(&mut self.tx)
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("tenant_id")?, r.try_get("return_url")?))),
            None => Ok(None),
        }
    }
}
