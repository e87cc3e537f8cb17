//! OAuth 2.0 clients of a tenant and the access tokens they are given. An
//! access token is a row of `tokens` marked with its client, so SCIM requests
//! check it as any token; token lists leave those rows out.

use super::tx::unique_or;
use super::{Store, StoreError, Unique, WriteTx};
use crate::store::exec::Row;

#[derive(Clone, Debug)]
pub struct OAuthClient {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub client_id: String,
    pub secret_hash: Vec<u8>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// When it was last given an access token.
    pub last_issued_at: Option<String>,
    /// When one of its access tokens was last used.
    pub last_used_at: Option<String>,
}

const CLIENT_COLS: &str = "c.id, c.tenant_id, c.name, c.client_id, c.secret_hash, c.created_at, c.revoked_at, \
     c.last_issued_at, (SELECT MAX(k.last_used_at) FROM tokens k WHERE k.oauth_client_id = c.id) AS last_used_at \
     FROM oauth_clients c";

fn client_from_row(r: &Row) -> Result<OAuthClient, StoreError> {
    Ok(OAuthClient {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        client_id: r.try_get("client_id")?,
        secret_hash: r.try_get("secret_hash")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        last_issued_at: r.try_get("last_issued_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn oauth_client(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let c = self.core();
        let row =
            c.q(&format!("SELECT {CLIENT_COLS} WHERE c.client_id = ?")).bind(client_id).fetch_optional(&c.pool).await?;
        row.as_ref().map(client_from_row).transpose()
    }

    pub async fn list_oauth_clients(&self, tenant_id: i64) -> Result<Vec<OAuthClient>, StoreError> {
        let c = self.core();
        let rows = c
            .q(&format!("SELECT {CLIENT_COLS} WHERE c.tenant_id = ? ORDER BY c.created_at, c.id"))
            .bind(tenant_id)
            .fetch_all(&c.pool)
            .await?;
        rows.iter().map(client_from_row).collect()
    }
}

/// A client to be made; its secret as a hash only.
pub struct NewClient<'a> {
    pub tenant_id: i64,
    pub name: &'a str,
    pub client_id: &'a str,
    pub secret_hash: &'a [u8],
    pub now: &'a str,
}

/// An access token to be given to a client.
pub struct NewAccessToken<'a> {
    pub client: &'a OAuthClient,
    pub name: &'a str,
    pub hash: &'a [u8],
    pub now: &'a str,
    pub expires_at: &'a str,
}

impl WriteTx {
    /// A new client; the name of a revoked one may be given again (its row and tokens go).
    pub async fn create_oauth_client(&mut self, new: &NewClient<'_>) -> Result<(), StoreError> {
        self.q("DELETE FROM oauth_clients WHERE tenant_id = ? AND name = ? AND revoked_at IS NOT NULL")
            .bind(new.tenant_id)
            .bind(new.name)
            .execute(&mut self.tx)
            .await?;
        self.q(
            "INSERT INTO oauth_clients (tenant_id, name, client_id, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(new.tenant_id)
        .bind(new.name)
        .bind(new.client_id)
        .bind(new.secret_hash.to_vec())
        .bind(new.now)
        .execute(&mut self.tx)
        .await
        .map_err(|e| unique_or(e, Unique::OAuthClientName))?;
        self.changes.tenant(new.tenant_id);
        self.changes.tokens_changed = true;
        Ok(())
    }

    /// Revoke a client (by name or client id) and every access token it holds.
    pub async fn revoke_oauth_client(&mut self, tenant_id: i64, key: &str, now: &str) -> Result<(), StoreError> {
        let row = self
            .q("UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, ?) \
                WHERE tenant_id = ? AND (name = ? OR client_id = ?) RETURNING id")
            .bind(now)
            .bind(tenant_id)
            .bind(key)
            .bind(key)
            .fetch_optional(&mut self.tx)
            .await?;
        let Some(row) = row else { return Err(StoreError::NotFound) };
        let id: i64 = row.try_get("id")?;
        self.q("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE oauth_client_id = ?")
            .bind(now)
            .bind(id)
            .execute(&mut self.tx)
            .await?;
        self.changes.tenant(tenant_id);
        self.changes.tokens_changed = true;
        Ok(())
    }

    /// Give a client an access token; its tokens that have expired go.
    pub async fn issue_access_token(&mut self, new: &NewAccessToken<'_>) -> Result<(), StoreError> {
        let client = new.client;
        self.q("DELETE FROM tokens WHERE oauth_client_id = ? AND expires_at <= ?")
            .bind(client.id)
            .bind(new.now)
            .execute(&mut self.tx)
            .await?;
        self.q("INSERT INTO tokens (tenant_id, name, hash, created_at, expires_at, oauth_client_id) \
             VALUES (?, ?, ?, ?, ?, ?)")
            .bind(client.tenant_id)
            .bind(new.name)
            .bind(new.hash.to_vec())
            .bind(new.now)
            .bind(new.expires_at)
            .bind(client.id)
            .execute(&mut self.tx)
            .await?;
        self.q("UPDATE oauth_clients SET last_issued_at = ? WHERE id = ?")
            .bind(new.now)
            .bind(client.id)
            .execute(&mut self.tx)
            .await?;
        self.changes.tenant(client.tenant_id);
        self.changes.tokens_changed = true;
        Ok(())
    }
}
