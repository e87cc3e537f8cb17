//! Values of a tenant's extension schemas in stored documents: how many
//! resources hold some (before a schema is removed), and removing them all
//! with the schema (`force`). The schemas themselves live in the tenant's
//! configuration.

use super::exec::Stmt;
use super::sql::Dialect;
use super::{Kind, Store, StoreError, WriteTx};
use scim_core::schema::{AttrType, Attribute};
use serde_json::Value;

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

impl WriteTx {
    /// The id of another live resource of `kind` holding `value` in the
    /// extension attribute `urn:attr` (strings compared ignoring case unless
    /// `caseExact`). On PostgreSQL a lock on the value is held to the end of
    /// the transaction first, so two writes of one value cannot both pass.
    pub async fn extension_value_holder(
        &mut self,
        tenant_id: i64,
        kind: Kind,
        except_id: &str,
        urn: &str,
        attr: &Attribute,
        value: &Value,
    ) -> Result<Option<String>, StoreError> {
        let d = self.dialect();
        let folded = attr.kind == AttrType::String && !attr.case_exact;
        let text = match value {
            Value::String(s) if folded => s.to_lowercase(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if d == Dialect::Postgres {
            let key = format!("{tenant_id}|{}|{urn}|{}|{text}", kind.as_str(), attr.name);
            self.q("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))").bind(key).execute(&mut self.tx).await?;
        }
        let live = "r.tenant_id = ? AND r.kind = ? AND r.id <> ? AND r.deleted_at IS NULL";
        let stmt = match (d, folded) {
            (Dialect::Sqlite, true) => Stmt::new(format!(
                "SELECT r.id FROM resources r WHERE {live} AND lower(json_extract(r.doc, ?)) = ? LIMIT 1"
            )),
            (Dialect::Sqlite, false) => {
                Stmt::new(format!("SELECT r.id FROM resources r WHERE {live} AND json_extract(r.doc, ?) = ? LIMIT 1"))
            }
            (Dialect::Postgres, true) => Stmt::new(format!(
                "SELECT r.id FROM resources r WHERE {live} AND lower(jsonb_extract_path_text(r.doc, ?, ?)) = ? LIMIT 1"
            )),
            (Dialect::Postgres, false) => Stmt::new(format!(
                "SELECT r.id FROM resources r WHERE {live} AND jsonb_extract_path(r.doc, ?, ?) = CAST(? AS JSONB) LIMIT 1"
            )),
        };
        let stmt = stmt.bind(tenant_id).bind(kind.as_str()).bind(except_id);
        let stmt = match d {
            Dialect::Sqlite => {
                let path = format!("$.\"{}\".\"{}\"", urn.replace('"', ""), attr.name);
                let stmt = stmt.bind(path);
                match value {
                    _ if folded => stmt.bind(text),
                    Value::String(s) => stmt.bind(s.as_str()),
                    Value::Bool(b) => stmt.bind(i64::from(*b)),
                    Value::Number(n) if n.is_i64() => stmt.bind(n.as_i64().unwrap_or_default()),
                    Value::Number(n) => stmt.bind(n.as_f64().unwrap_or_default()),
                    other => stmt.bind(other.to_string()),
                }
            }
            Dialect::Postgres => {
                let stmt = stmt.bind(urn).bind(attr.name.as_str());
                if folded { stmt.bind(text) } else { stmt.bind(value.to_string()) }
            }
        };
        let row = stmt.fetch_optional(&mut self.tx).await?;
        row.map(|r| r.try_get::<String, _>(0)).transpose()
    }
}
