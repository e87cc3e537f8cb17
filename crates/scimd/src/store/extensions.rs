//! Values of a tenant's extension schemas in stored documents: how many
//! resources hold some (before a schema is removed), and removing them all
//! with the schema (`force`). The schemas themselves live in the tenant's
//! configuration.

use super::exec::Stmt;
use super::sql::Dialect;
use super::{Kind, Store, StoreError, WriteTx};

/// `WHERE` terms matching a document holding the extension: binds `urn` (SQLite as a JSON path).
fn holds(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "json_type(r.doc, ?) IS NOT NULL",
        Dialect::Postgres => "jsonb_extract_path(r.doc, ?) IS NOT NULL",
    }
}

fn urn_param(d: Dialect, urn: &str) -> String {
    match d {
        Dialect::Sqlite => format!("$.\"{}\"", urn.replace('"', "")),
        Dialect::Postgres => urn.to_string(),
    }
}

/// Counts resources of `kind` (soft-deleted users too) holding values of the extension `urn`.
fn count_holding(d: Dialect, tenant_id: i64, kind: Kind, urn: &str) -> Stmt {
    let sql = format!("SELECT COUNT(*) FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND {}", holds(d));
    Stmt::new(&sql).bind(tenant_id).bind(kind.as_str()).bind(urn_param(d, urn))
}

impl Store {
    /// Resources of `kind` (soft-deleted users too) holding values of the extension `urn`.
    pub async fn count_holding_extension(&self, tenant_id: i64, kind: Kind, urn: &str) -> Result<i64, StoreError> {
        let c = self.core();
        count_holding(c.dialect(), tenant_id, kind, urn).fetch_one(&c.pool).await?.try_get(0)
    }
}

impl WriteTx {
    /// [`Store::count_holding_extension`], in the transaction.
    pub async fn count_holding_extension(&mut self, tenant_id: i64, kind: Kind, urn: &str) -> Result<i64, StoreError> {
        let d = self.dialect();
        count_holding(d, tenant_id, kind, urn).fetch_one(&mut self.tx).await?.try_get(0)
    }

    /// Remove the extension `urn`'s values (and its URN from `schemas`) from
    /// every resource of `kind` holding some; each one's version moves.
    /// Answers how many changed.
    pub async fn strip_extension(
        &mut self,
        tenant_id: i64,
        kind: Kind,
        urn: &str,
        now: &str,
    ) -> Result<u64, StoreError> {
        let d = self.dialect();
        let doc = match d {
            Dialect::Sqlite => {
                "json_set(json_remove(r.doc, ?), '$.schemas', json((SELECT json_group_array(s.value) \
                 FROM json_each(r.doc, '$.schemas') s WHERE s.value <> ?)))"
            }
            Dialect::Postgres => {
                "jsonb_set(r.doc - CAST(? AS TEXT), '{schemas}', COALESCE((SELECT jsonb_agg(s.value) \
                 FROM jsonb_array_elements(r.doc -> 'schemas') AS s(value) WHERE s.value #>> '{}' <> ?), '[]'::jsonb))"
            }
        };
        let sql = format!(
            "UPDATE resources AS r SET doc = {doc}, version = r.version + 1, updated_at = ? \
             WHERE r.tenant_id = ? AND r.kind = ? AND {}",
            holds(d)
        );
        let done = self
            .q(&sql)
            .bind(urn_param(d, urn))
            .bind(urn)
            .bind(now)
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(urn_param(d, urn))
            .execute(&mut self.tx)
            .await?;
        // Every cached rendering of the tenant goes with the configuration change this comes with.
        self.changes.tenant(tenant_id);
        self.changes.config_changed = true;
        Ok(done.rows_affected())
    }
}
