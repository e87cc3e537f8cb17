//! Tenants, their tokens, admin tokens and each tenant's provisioning
//! configuration row: reads on the pool, writes on a [`WriteTx`].

use super::tx::unique_or;
use super::{Store, StoreError, Unique, WriteTx};
use scim_core::policy::TenantConfig;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub created_at: String,
}

#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub hash: Vec<u8>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AdminToken {
    pub id: i64,
    pub name: String,
    pub hash: Vec<u8>,
    pub revoked_at: Option<String>,
}

const TOKEN_COLS: &str = "id, tenant_id, name, hash, created_at, expires_at, revoked_at, last_used_at";
const TENANT_COLS: &str = "id, name, enabled, created_at";

fn tenant_from_row(row: &AnyRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn config_from_text(doc: &str) -> Result<TenantConfig, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("tenant configuration: {e}")))
}

impl Store {
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let c = self.core();
        let rows = c.q(&format!("SELECT {TENANT_COLS} FROM tenants ORDER BY name")).fetch_all(&c.pool).await?;
        rows.iter().map(tenant_from_row).collect()
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let c = self.core();
        let row = c
            .q(&format!("SELECT {TENANT_COLS} FROM tenants WHERE name = ?"))
            .bind(name)
            .fetch_optional(&c.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn list_tokens(&self, tenant_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
        let c = self.core();
        let rows = c
            .q(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE tenant_id = ? ORDER BY created_at, id"))
            .bind(tenant_id)
            .fetch_all(&c.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    pub async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenInfo>, StoreError> {
        let c = self.core();
        let row = c
            .q(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = ?"))
            .bind(hash.to_vec())
            .fetch_optional(&c.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub async fn admin_token_by_hash(&self, hash: &[u8]) -> Result<Option<AdminToken>, StoreError> {
        let c = self.core();
        let row = c
            .q("SELECT id, name, hash, revoked_at FROM admin_tokens WHERE hash = ?")
            .bind(hash.to_vec())
            .fetch_optional(&c.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(AdminToken {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                hash: r.try_get("hash")?,
                revoked_at: r.try_get("revoked_at")?,
            })),
            None => Ok(None),
        }
    }

    /// A tenant's configuration as last committed (the default when it has none).
    pub async fn tenant_config(&self, tenant_id: i64) -> Result<TenantConfig, StoreError> {
        let c = self.core();
        let row =
            c.q("SELECT doc FROM tenant_configs WHERE tenant_id = ?").bind(tenant_id).fetch_optional(&c.pool).await?;
        match row {
            Some(row) => config_from_text(&row.try_get::<String, _>("doc")?),
            None => Ok(TenantConfig::default()),
        }
    }
}

impl WriteTx {
    pub async fn create_tenant(&mut self, name: &str, now: &str) -> Result<Tenant, StoreError> {
        let row = self
            .q(&format!("INSERT INTO tenants (name, enabled, created_at) VALUES (?, 1, ?) RETURNING {TENANT_COLS}"))
            .bind(name)
            .bind(now)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| unique_or(e, Unique::TenantName))?;
        self.changes.tenants_changed = true;
        tenant_from_row(&row)
    }

    /// Switch SCIM provisioning of a tenant on or off.
    pub async fn set_tenant_enabled(&mut self, tenant_id: i64, enabled: bool) -> Result<(), StoreError> {
        let done = self
            .q("UPDATE tenants SET enabled = ? WHERE id = ?")
            .bind(i64::from(enabled))
            .bind(tenant_id)
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changes.tenant(tenant_id);
        self.changes.tenants_changed = true;
        Ok(())
    }

    pub async fn create_token(
        &mut self,
        tenant_id: i64,
        name: &str,
        hash: &[u8],
        now: &str,
        expires_at: Option<&str>,
    ) -> Result<(), StoreError> {
        self.q("INSERT INTO tokens (tenant_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(tenant_id)
            .bind(name)
            .bind(hash.to_vec())
            .bind(now)
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| unique_or(e, Unique::TokenName))?;
        self.changes.tenant(tenant_id);
        self.changes.tokens_changed = true;
        Ok(())
    }

    pub async fn revoke_token(&mut self, tenant_id: i64, name: &str, now: &str) -> Result<(), StoreError> {
        let done = self
            .q("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant_id = ? AND name = ?")
            .bind(now)
            .bind(tenant_id)
            .bind(name)
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changes.tenant(tenant_id);
        self.changes.tokens_changed = true;
        Ok(())
    }

    /// Last-use times of tokens; replicas may report out of order, so the latest is kept.
    pub async fn record_token_use(&mut self, uses: &[(i64, String)]) -> Result<(), StoreError> {
        for (id, at) in uses {
            self.q("UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
                .bind(at)
                .bind(id)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn create_admin_token(&mut self, name: &str, hash: &[u8], now: &str) -> Result<(), StoreError> {
        self.q("INSERT INTO admin_tokens (name, hash, created_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(hash.to_vec())
            .bind(now)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| unique_or(e, Unique::AdminTokenName))?;
        self.changes.tokens_changed = true;
        Ok(())
    }

    /// The tenant's configuration as this transaction sees it; `lock` holds
    /// the row (and so the seat counts it governs) until the transaction ends
    /// where rows are locked (PostgreSQL; SQLite's writer is alone anyway).
    pub async fn tenant_config(&mut self, tenant_id: i64, lock: bool) -> Result<TenantConfig, StoreError> {
        let lock = if lock { self.core.lock() } else { "" };
        let row = self
            .q(&format!("SELECT doc FROM tenant_configs WHERE tenant_id = ?{lock}"))
            .bind(tenant_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        match row {
            Some(row) => config_from_text(&row.try_get::<String, _>("doc")?),
            None => Ok(TenantConfig::default()),
        }
    }

    /// Does taking the configuration's lock serialise anything (PostgreSQL)?
    pub fn locks_rows(&self) -> bool {
        !self.core.lock().is_empty()
    }

    pub async fn save_tenant_config(&mut self, tenant_id: i64, config: &TenantConfig) -> Result<(), StoreError> {
        let doc =
            serde_json::to_string(config).map_err(|e| StoreError::Encode(format!("a tenant configuration: {e}")))?;
        let done = self
            .q("UPDATE tenant_configs SET doc = ?, version = version + 1 WHERE tenant_id = ?")
            .bind(&doc)
            .bind(tenant_id)
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() == 0 {
            self.q("INSERT INTO tenant_configs (tenant_id, doc, version) VALUES (?, ?, 1)")
                .bind(tenant_id)
                .bind(&doc)
                .execute(&mut *self.tx)
                .await?;
        }
        self.changes.tenant(tenant_id);
        self.changes.config_changed = true;
        Ok(())
    }
}
