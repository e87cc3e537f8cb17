//! The audit trail's rows: batches of them added, a tenant's trail read back
//! newest first, and pruning past the retention (migrations 0009 on SQLite,
//! 0010 on PostgreSQL).
//!
//! Order is seq. The audit batcher of a process writes one batch at a time;
//! on PostgreSQL a batch also takes an advisory lock, so that batches of
//! several replicas commit in the order of their seq numbers too. A cursor
//! (a seq) therefore never passes a row that commits later.

use super::sql::Dialect;
use super::{Store, StoreError, WriteTx};
use crate::store::exec::Row;

/// One request as its audit row holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewAudit {
    pub at: String,
    /// `None`: no tenant of that name exists (or it is not known yet).
    pub tenant_id: Option<i64>,
    /// The tenant as the URL named it.
    pub tenant_name: String,
    pub token_name: Option<String>,
    pub request_id: String,
    pub method: String,
    /// The route template (`/scim/v2/{tenant}/Users/{id}`), or the path when none matched.
    pub route: String,
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub latency_us: i64,
    /// What the request changed, in plain words, one line each.
    pub summary: Vec<String>,
    pub event_ids: Vec<String>,
    /// The client's address, as the connection came from.
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// An audit row as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAudit {
    pub seq: i64,
    pub row: NewAudit,
}

/// Which of a tenant's rows a page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only rows older than this seq (the previous page's last row).
    pub before: Option<i64>,
    pub limit: i64,
    /// Only statuses in this range, both ends included.
    pub status: Option<(u16, u16)>,
    /// Only rows whose target id is exactly this, or whose name is this in any case.
    pub target: Option<String>,
}

/// Reads of one minute alike: what `audit_reads` counts them by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReadKey {
    pub tenant_id: i64,
    /// `YYYY-MM-DDTHH:MM`, UTC.
    pub minute: String,
    /// The token's name (`""`: none).
    pub token_name: String,
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// How many reads of a key, and how long they took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadTally {
    pub requests: i64,
    pub latency_us_total: i64,
    pub latency_us_max: i64,
}

impl ReadTally {
    pub fn add(&mut self, latency_us: i64) {
        self.requests += 1;
        self.latency_us_total = self.latency_us_total.saturating_add(latency_us);
        self.latency_us_max = self.latency_us_max.max(latency_us);
    }
}

/// A stored count of reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReads {
    pub seq: i64,
    pub key: ReadKey,
    pub tally: ReadTally,
}

/// Count rows per INSERT: 9 parameters each.
const READS_PER_INSERT: usize = 500;

/// Rows per INSERT: 17 parameters each, well under SQLite's 32,766.
const ROWS_PER_INSERT: usize = 500;

/// The advisory lock every audit batch holds on PostgreSQL until it commits
/// (any constant no other lock uses: `scimdaud` in ASCII). Only audit
/// batches take it, about once a second per replica.
const AUDIT_LOCK: i64 = 0x7363_696d_6461_7564;

const AUDIT_COLS: &str = "seq, tenant_id, tenant_name, at, token_name, request_id, method, route, target_id, \
                          target_name, status, scim_type, detail, latency_us, summary, event_ids, client_addr, user_agent";

/// One row's parameters, in the column order of the INSERTs.
const ONE_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

fn bind_row(q: crate::store::exec::Stmt, r: &NewAudit) -> Result<crate::store::exec::Stmt, StoreError> {
    Ok(q.bind(r.tenant_id)
        .bind(r.tenant_name.clone())
        .bind(r.at.clone())
        .bind(r.token_name.clone())
        .bind(r.request_id.clone())
        .bind(r.method.clone())
        .bind(r.route.clone())
        .bind(r.target_id.clone())
        .bind(r.target_name.clone())
        .bind(i64::from(r.status))
        .bind(r.scim_type.clone())
        .bind(r.detail.clone())
        .bind(r.latency_us)
        .bind(json_texts(&r.summary)?)
        .bind(json_texts(&r.event_ids)?)
        .bind(r.client_addr.clone())
        .bind(r.user_agent.clone()))
}

fn json_texts(texts: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(texts).map_err(|e| StoreError::Encode(format!("audit text: {e}")))
}

fn texts_of(json: &str, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("audit {column}: {e}")))
}

impl WriteTx {
    /// Add audit rows.
    pub async fn append_audit(&mut self, rows: &[NewAudit]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.dialect() == Dialect::Postgres {
            self.q("SELECT pg_advisory_xact_lock(?)").bind(AUDIT_LOCK).execute(&mut self.tx).await?;
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let marks = vec![ONE_ROW; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO audit (tenant_id, tenant_name, at, token_name, request_id, method, route, target_id, \
                 target_name, status, scim_type, detail, latency_us, summary, event_ids, client_addr, user_agent) \
                 VALUES {marks}"
            );
            let mut q = self.q(&sql);
            for r in chunk {
                q = bind_row(q, r)?;
            }
            q.execute(&mut self.tx).await?;
        }
        Ok(())
    }

    /// Add one request's row with its write (in the write's transaction);
    /// answers its `seq`. No lock: on PostgreSQL rows of concurrent writes
    /// may commit out of `seq` order by a moment.
    /// On PostgreSQL the write's queued events share the statement (a
    /// data-modifying `WITH`): one round trip for both.
    pub async fn insert_audit_row(&mut self, row: &NewAudit) -> Result<i64, StoreError> {
        let insert = format!(
            "INSERT INTO audit (tenant_id, tenant_name, at, token_name, request_id, method, route, target_id, \
             target_name, status, scim_type, detail, latency_us, summary, event_ids, client_addr, user_agent) \
             VALUES {ONE_ROW} RETURNING seq"
        );
        let q = match self.take_queued_events_for_one_statement() {
            Some((events_insert, queued)) => {
                let q = self.q(&format!("WITH queued_events AS ({events_insert}) {insert}"));
                super::events::bind_queued(q, &queued)
            }
            None => self.q(&insert),
        };
        let found = bind_row(q, row)?.fetch_one(&mut self.tx).await?;
        found.try_get(0)
    }

    /// Rewrite rows added with their writes, as their requests were answered.
    pub async fn amend_audit(&mut self, rows: &[(i64, NewAudit)]) -> Result<(), StoreError> {
        for (seq, r) in rows {
            self.q("UPDATE audit SET target_id = ?, target_name = ?, status = ?, scim_type = ?, detail = ?, \
                    latency_us = ?, summary = ?, event_ids = ? WHERE seq = ?")
                .bind(r.target_id.as_deref())
                .bind(r.target_name.as_deref())
                .bind(i64::from(r.status))
                .bind(r.scim_type.as_deref())
                .bind(r.detail.as_deref())
                .bind(r.latency_us)
                .bind(json_texts(&r.summary)?)
                .bind(json_texts(&r.event_ids)?)
                .bind(*seq)
                .execute(&mut self.tx)
                .await?;
        }
        Ok(())
    }

    /// Add counts of reads to the stored ones (another replica may count the same minute).
    pub async fn add_reads(&mut self, counts: &[(ReadKey, ReadTally)]) -> Result<(), StoreError> {
        let greatest = match self.dialect() {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        };
        for chunk in counts.chunks(READS_PER_INSERT) {
            let marks = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO audit_reads (tenant_id, minute, token_name, method, route, status, requests, \
                 latency_us_total, latency_us_max) VALUES {marks} \
                 ON CONFLICT (tenant_id, minute, token_name, method, route, status) DO UPDATE SET \
                 requests = audit_reads.requests + excluded.requests, \
                 latency_us_total = audit_reads.latency_us_total + excluded.latency_us_total, \
                 latency_us_max = {greatest}(audit_reads.latency_us_max, excluded.latency_us_max)"
            );
            let mut q = self.q(&sql);
            for (k, t) in chunk {
                q = q
                    .bind(k.tenant_id)
                    .bind(k.minute.as_str())
                    .bind(k.token_name.as_str())
                    .bind(k.method.as_str())
                    .bind(k.route.as_str())
                    .bind(i64::from(k.status))
                    .bind(t.requests)
                    .bind(t.latency_us_total)
                    .bind(t.latency_us_max);
            }
            q.execute(&mut self.tx).await?;
        }
        Ok(())
    }

    /// Delete up to `limit` counts of reads of minutes before `before`'s; answers how many went.
    pub async fn prune_reads(&mut self, before: &str, limit: i64) -> Result<u64, StoreError> {
        let minute = before.get(..16).unwrap_or(before);
        let done = self
            .q("DELETE FROM audit_reads WHERE seq IN (SELECT seq FROM audit_reads WHERE minute < ? ORDER BY seq LIMIT ?)")
            .bind(minute)
            .bind(limit)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// Of the `limit` oldest rows, delete those older than `before`; answers
    /// how many went (fewer than `limit`: the rest are newer).
    pub async fn prune_audit(&mut self, before: &str, limit: i64) -> Result<u64, StoreError> {
        let done = self
            .q("DELETE FROM audit WHERE seq IN (SELECT o.seq FROM (SELECT seq, at FROM audit ORDER BY seq LIMIT ?) o \
                WHERE o.at < ?)")
            .bind(limit)
            .bind(before)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }
}

fn audit_from_row(row: &Row) -> Result<StoredAudit, StoreError> {
    let status: i64 = row.try_get("status")?;
    Ok(StoredAudit {
        seq: row.try_get("seq")?,
        row: NewAudit {
            at: row.try_get("at")?,
            tenant_id: row.try_get("tenant_id")?,
            tenant_name: row.try_get("tenant_name")?,
            token_name: row.try_get("token_name")?,
            request_id: row.try_get("request_id")?,
            method: row.try_get("method")?,
            route: row.try_get("route")?,
            target_id: row.try_get("target_id")?,
            target_name: row.try_get("target_name")?,
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt(format!("audit status {status}")))?,
            scim_type: row.try_get("scim_type")?,
            detail: row.try_get("detail")?,
            latency_us: row.try_get("latency_us")?,
            summary: texts_of(&row.try_get::<String, _>("summary")?, "summary")?,
            event_ids: texts_of(&row.try_get::<String, _>("event_ids")?, "event_ids")?,
            client_addr: row.try_get("client_addr")?,
            user_agent: row.try_get("user_agent")?,
        },
    })
}

impl Store {
    /// A page of a tenant's counts of reads, newest first (by `seq`, the
    /// first count of its minute), before `before` when given.
    pub async fn audit_reads(
        &self,
        tenant_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredReads>, StoreError> {
        let core = self.core();
        let older = if before.is_some() { " AND seq < ?" } else { "" };
        let sql = format!(
            "SELECT seq, tenant_id, minute, token_name, method, route, status, requests, latency_us_total, \
             latency_us_max FROM audit_reads WHERE tenant_id = ?{older} ORDER BY seq DESC LIMIT ?"
        );
        let mut q = core.q(&sql).bind(tenant_id);
        if let Some(before) = before {
            q = q.bind(before);
        }
        let rows = q.bind(limit).fetch_all(&core.pool).await?;
        rows.iter()
            .map(|row| {
                let status: i64 = row.try_get("status")?;
                Ok(StoredReads {
                    seq: row.try_get("seq")?,
                    key: ReadKey {
                        tenant_id: row.try_get("tenant_id")?,
                        minute: row.try_get("minute")?,
                        token_name: row.try_get("token_name")?,
                        method: row.try_get("method")?,
                        route: row.try_get("route")?,
                        status: u16::try_from(status)
                            .map_err(|_| StoreError::Corrupt(format!("read status {status}")))?,
                    },
                    tally: ReadTally {
                        requests: row.try_get("requests")?,
                        latency_us_total: row.try_get("latency_us_total")?,
                        latency_us_max: row.try_get("latency_us_max")?,
                    },
                })
            })
            .collect()
    }

    /// A page of a tenant's audit rows, newest first.
    pub async fn audit_page(&self, tenant_id: i64, query: &AuditQuery) -> Result<Vec<StoredAudit>, StoreError> {
        let core = self.core();
        let mut sql = format!("SELECT {AUDIT_COLS} FROM audit WHERE tenant_id = ?");
        if query.before.is_some() {
            sql.push_str(" AND seq < ?");
        }
        if query.status.is_some() {
            sql.push_str(" AND status BETWEEN ? AND ?");
        }
        if query.target.is_some() {
            sql.push_str(" AND (target_id = ? OR lower(target_name) = lower(?))");
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        let mut q = core.q(&sql).bind(tenant_id);
        if let Some(before) = query.before {
            q = q.bind(before);
        }
        if let Some((low, high)) = query.status {
            q = q.bind(i64::from(low)).bind(i64::from(high));
        }
        if let Some(target) = &query.target {
            q = q.bind(target.as_str()).bind(target.as_str());
        }
        let rows = q.bind(query.limit).fetch_all(&core.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }
}
