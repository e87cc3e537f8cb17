//! Tenants, their tokens, admin tokens and each tenant's provisioning
//! configuration row: reads on the pool, writes on a [`WriteTx`].

use super::tx::unique_or;
use super::{Store, StoreError, Unique, WriteTx};
use crate::store::exec::Row;
use scim_core::policy::TenantConfig;

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

/// A credential of the admin API: an operator's (every tenant) or one tenant's admin's.
#[derive(Clone, Debug)]
pub struct AdminToken {
    pub id: i64,
    pub name: String,
    pub hash: Vec<u8>,
    /// The tenant the token is limited to (id and name); `None`: an operator token.
    pub tenant: Option<(i64, String)>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// Which credential a use is of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenKind {
    /// A tenant's SCIM bearer token.
    #[default]
    Scim,
    /// An admin API token.
    Admin,
}

/// How much a tenant holds (for its admin's overview).
#[derive(Clone, Debug, Default)]
pub struct TenantCounts {
    pub users: i64,
    pub groups: i64,
    pub active_tokens: i64,
}

const TOKEN_COLS: &str = "id, tenant_id, name, hash, created_at, expires_at, revoked_at, last_used_at";
const TENANT_COLS: &str = "id, name, enabled, created_at";
const ADMIN_TOKEN_COLS: &str = "a.id, a.name, a.hash, a.tenant_id, t.name AS tenant_name, a.created_at, a.expires_at, \
     a.revoked_at, a.last_used_at FROM admin_tokens a LEFT JOIN tenants t ON t.id = a.tenant_id";

fn admin_token_from_row(r: &Row) -> Result<AdminToken, StoreError> {
    let tenant_id: Option<i64> = r.try_get("tenant_id")?;
    let tenant_name: Option<String> = r.try_get("tenant_name")?;
    Ok(AdminToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        hash: r.try_get("hash")?,
        tenant: tenant_id.zip(tenant_name),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

fn tenant_from_row(row: &Row) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn token_from_row(row: &Row) -> Result<TokenInfo, StoreError> {
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

    /// Tenants by name, a page at a time: those named after `after`.
    pub async fn tenants_page(&self, after: &str, limit: i64) -> Result<Vec<Tenant>, StoreError> {
        let c = self.core();
        let rows = c
            .q(&format!("SELECT {TENANT_COLS} FROM tenants WHERE name > ? ORDER BY name LIMIT ?"))
            .bind(after)
            .bind(limit)
            .fetch_all(&c.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Users, groups and usable tokens of a tenant (`now` decides which tokens have expired).
    pub async fn tenant_counts(&self, tenant_id: i64, now: &str) -> Result<TenantCounts, StoreError> {
        let c = self.core();
        let row = c
            .q("SELECT \
                (SELECT COUNT(*) FROM resources WHERE tenant_id = ? AND kind = 'User' AND deleted_at IS NULL) AS users, \
                (SELECT COUNT(*) FROM resources WHERE tenant_id = ? AND kind = 'Group' AND deleted_at IS NULL) AS groups, \
                (SELECT COUNT(*) FROM tokens WHERE tenant_id = ? AND revoked_at IS NULL AND oauth_client_id IS NULL \
                   AND (expires_at IS NULL OR expires_at > ?)) AS active_tokens")
            .bind(tenant_id)
            .bind(tenant_id)
            .bind(tenant_id)
            .bind(now)
            .fetch_one(&c.pool)
            .await?;
        Ok(TenantCounts {
            users: row.try_get("users")?,
            groups: row.try_get("groups")?,
            active_tokens: row.try_get("active_tokens")?,
        })
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

    pub async fn tenant_by_id(&self, tenant_id: i64) -> Result<Option<Tenant>, StoreError> {
        let c = self.core();
        let row = c
            .q(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?"))
            .bind(tenant_id)
            .fetch_optional(&c.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn list_tokens(&self, tenant_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
        let c = self.core();
        let rows = c
            .q(&format!(
                "SELECT {TOKEN_COLS} FROM tokens WHERE tenant_id = ? AND oauth_client_id IS NULL ORDER BY created_at, id"
            ))
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
            .q(&format!("SELECT {ADMIN_TOKEN_COLS} WHERE a.hash = ?"))
            .bind(hash.to_vec())
            .fetch_optional(&c.pool)
            .await?;
        row.as_ref().map(admin_token_from_row).transpose()
    }

    /// Admin tokens: every one (`None`), or those of one tenant; operator tokens first, then by tenant and name.
    pub async fn list_admin_tokens(&self, tenant_id: Option<i64>) -> Result<Vec<AdminToken>, StoreError> {
        let c = self.core();
        let filter = if tenant_id.is_some() { "WHERE a.tenant_id = ?" } else { "" };
        let sql = format!("SELECT {ADMIN_TOKEN_COLS} {filter} ORDER BY COALESCE(t.name, ''), a.name");
        let mut q = c.q(&sql);
        if let Some(id) = tenant_id {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&c.pool).await?;
        rows.iter().map(admin_token_from_row).collect()
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
            .fetch_one(&mut self.tx)
            .await
            .map_err(|e| unique_or(e, Unique::TenantName))?;
        self.changes.tenants_changed = true;
        tenant_from_row(&row)
    }

    /// Remove a tenant and everything it holds (every table's rows go with it, by cascade).
    pub async fn delete_tenant(&mut self, tenant_id: i64) -> Result<(), StoreError> {
        let done = self.q("DELETE FROM tenants WHERE id = ?").bind(tenant_id).execute(&mut self.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Caches drop the whole tenant: a later tenant may be given the same id (SQLite).
        self.changes.tenant(tenant_id);
        self.changes.tenants_changed = true;
        self.changes.tokens_changed = true;
        self.changes.config_changed = true;
        Ok(())
    }

    /// Switch SCIM provisioning of a tenant on or off.
    pub async fn set_tenant_enabled(&mut self, tenant_id: i64, enabled: bool) -> Result<(), StoreError> {
        let done = self
            .q("UPDATE tenants SET enabled = ? WHERE id = ?")
            .bind(i64::from(enabled))
            .bind(tenant_id)
            .execute(&mut self.tx)
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
        // A revoked token's name may be given again (the row of the revoked one goes).
        self.q("DELETE FROM tokens WHERE tenant_id = ? AND name = ? AND revoked_at IS NOT NULL")
            .bind(tenant_id)
            .bind(name)
            .execute(&mut self.tx)
            .await?;
        self.q("INSERT INTO tokens (tenant_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(tenant_id)
            .bind(name)
            .bind(hash.to_vec())
            .bind(now)
            .bind(expires_at)
            .execute(&mut self.tx)
            .await
            .map_err(|e| unique_or(e, Unique::TokenName))?;
        self.changes.tenant(tenant_id);
        self.changes.tokens_changed = true;
        Ok(())
    }

    pub async fn revoke_token(&mut self, tenant_id: i64, name: &str, now: &str) -> Result<(), StoreError> {
        let done = self
            .q("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) \
                WHERE tenant_id = ? AND name = ? AND oauth_client_id IS NULL")
            .bind(now)
            .bind(tenant_id)
            .bind(name)
            .execute(&mut self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changes.tenant(tenant_id);
        self.changes.tokens_changed = true;
        Ok(())
    }

    /// Last-use times of SCIM tokens or admin tokens; replicas may report
    /// out of order, so the latest is kept.
    pub async fn record_token_use(&mut self, kind: TokenKind, uses: &[(i64, String)]) -> Result<(), StoreError> {
        let table = match kind {
            TokenKind::Scim => "tokens",
            TokenKind::Admin => "admin_tokens",
        };
        let sql =
            format!("UPDATE {table} SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)");
        for (id, at) in uses {
            self.q(&sql).bind(at).bind(id).bind(at).execute(&mut self.tx).await?;
        }
        Ok(())
    }

    /// An admin token for every tenant (`tenant_id` `None`) or one; a
    /// revoked token's name within the same scope may be given again.
    pub async fn create_admin_token(
        &mut self,
        tenant_id: Option<i64>,
        name: &str,
        hash: &[u8],
        now: &str,
        expires_at: Option<&str>,
    ) -> Result<(), StoreError> {
        self.q("DELETE FROM admin_tokens WHERE COALESCE(tenant_id, 0) = ? AND name = ? AND revoked_at IS NOT NULL")
            .bind(tenant_id.unwrap_or(0))
            .bind(name)
            .execute(&mut self.tx)
            .await?;
        self.q("INSERT INTO admin_tokens (tenant_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(tenant_id)
            .bind(name)
            .bind(hash.to_vec())
            .bind(now)
            .bind(expires_at)
            .execute(&mut self.tx)
            .await
            .map_err(|e| unique_or(e, Unique::AdminTokenName))?;
        self.changes.tokens_changed = true;
        Ok(())
    }

    /// Revoke the admin token of this name in this scope (`None`: the operator tokens).
    pub async fn revoke_admin_token(
        &mut self,
        tenant_id: Option<i64>,
        name: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let done = self
            .q("UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE COALESCE(tenant_id, 0) = ? AND name = ?")
            .bind(now)
            .bind(tenant_id.unwrap_or(0))
            .bind(name)
            .execute(&mut self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
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
            .fetch_optional(&mut self.tx)
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
            .execute(&mut self.tx)
            .await?;
        if done.rows_affected() == 0 {
            self.q("INSERT INTO tenant_configs (tenant_id, doc, version) VALUES (?, ?, 1)")
                .bind(tenant_id)
                .bind(&doc)
                .execute(&mut self.tx)
                .await?;
        }
        self.changes.tenant(tenant_id);
        self.changes.config_changed = true;
        Ok(())
    }
}
