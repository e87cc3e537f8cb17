//! The connection pool with its statement helpers ([`Core`]), and the write
//! transaction ([`WriteTx`]) every write job runs on, with the record of
//! what it changed.
//!
//! SQLite: one file, WAL journal, `synchronous=FULL` so an acknowledged write
//! survives a crash; writes take the lock up front (`BEGIN IMMEDIATE`) so
//! read-modify-write never deadlocks on upgrade. PostgreSQL: row locks
//! (`SELECT … FOR UPDATE`) serialise writers of one resource across replicas,
//! and the unique index on `user_name` decides races on a userName.

use super::sql::{Bind, Dialect};
use super::{ChangeSet, JobFn, Kind, PoolConfig, RawResource, StoreError, Unique};
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Row, Transaction};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

pub(super) type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments>;

/// Every statement, on a pool.
pub(crate) struct Core {
    pub(super) pool: AnyPool,
    d: Dialect,
}

impl Core {
    pub(super) async fn connect(url: &str, config: &PoolConfig) -> Result<Core, StoreError> {
        sqlx::any::install_default_drivers();
        let (d, url) = if url.starts_with("sqlite:") {
            let url = if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") };
            (Dialect::Sqlite, url)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL '{url}': use sqlite://FILE or postgres://…"
            )));
        };
        let timeout_ms = config.statement_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            // A ping before every use costs a round trip (a thread switch on
            // SQLite) per statement; a broken connection fails its statement instead.
            .test_before_acquire(false)
            .max_connections(match (config.max_connections, d) {
                (0, Dialect::Sqlite) => 4,
                (0, Dialect::Postgres) => 16,
                (n, _) => n,
            })
            .acquire_timeout(config.connect_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let setup = match d {
                        Dialect::Sqlite => format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = {timeout_ms};"
                        ),
                        // No transaction of scimd's is idle on purpose: one left open (a
                        // stuck task) would hold back every replica's feed, so it ends.
                        // Notices (the migrator's "already exists, skipping") are not logged.
                        Dialect::Postgres => format!(
                            "SET statement_timeout = {timeout_ms}; SET idle_in_transaction_session_timeout = {timeout_ms}; \
                             SET client_min_messages = warning"
                        ),
                    };
                    conn.execute(AssertSqlSafe(setup)).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let migrated = match d {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| StoreError::Db(e.into()))?;
        Ok(Core { pool, d })
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.d
    }

    pub(super) fn q(&self, sql: &str) -> Query<'static> {
        sqlx::query(AssertSqlSafe(self.d.placeholders(sql)))
    }

    /// The document as text: PostgreSQL stores JSONB, which `Any` cannot decode.
    fn doc_col(&self) -> &'static str {
        match self.d {
            Dialect::Sqlite => "r.doc",
            Dialect::Postgres => "r.doc::text AS doc",
        }
    }

    pub(super) fn doc_param(&self) -> &'static str {
        match self.d {
            Dialect::Sqlite => "?",
            Dialect::Postgres => "CAST(? AS JSONB)",
        }
    }

    /// `FOR UPDATE` where rows are locked (PostgreSQL); SQLite's writer is alone anyway.
    pub(super) fn lock(&self) -> &'static str {
        match self.d {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    pub(super) fn resource_cols(&self) -> String {
        format!("r.id, {}, r.version, r.created_at, r.updated_at, r.scim_managed", self.doc_col())
    }

    /// The columns of a resource, and for users their groups in the same
    /// statement (one round trip instead of two).
    pub(super) fn cols_for(&self, kind: Kind) -> String {
        match kind {
            Kind::Group => self.resource_cols(),
            Kind::User => {
                let from = "FROM members m JOIN resources g ON g.tenant_id = m.tenant_id AND g.kind = 'Group' \
                            AND g.id = m.group_id WHERE m.tenant_id = r.tenant_id AND m.member_id = r.id";
                let groups = match self.d {
                    Dialect::Sqlite => format!(
                        "(SELECT json_group_array(json_array(m.group_id, json_extract(g.doc, '$.displayName'))) {from})"
                    ),
                    Dialect::Postgres => format!(
                        "(SELECT COALESCE(json_agg(json_build_array(m.group_id, g.doc ->> 'displayName') ORDER BY m.seq), \
                         '[]'::json)::text {from})"
                    ),
                };
                format!("{}, {groups} AS groups", self.resource_cols())
            }
        }
    }

    pub(super) async fn begin(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.d {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }
}

pub(super) fn bind_all<'q>(mut q: Query<'q>, binds: &'q [Bind]) -> Query<'q> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
            Bind::Real(f) => q.bind(*f),
        };
    }
    q
}

/// A unique-index violation as the rule it broke; anything else as a database error.
pub(super) fn unique_or(e: sqlx::Error, rule: Unique) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Unique(rule),
        _ => StoreError::Db(e),
    }
}

pub(super) fn raw_from_row(kind: Kind, row: &AnyRow) -> Result<RawResource, StoreError> {
    Ok(RawResource {
        kind,
        id: row.try_get("id")?,
        doc_text: row.try_get("doc")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        scim_managed: row.try_get::<i64, _>("scim_managed")? != 0,
        // The `groups` column some reads add.
        groups_text: row.try_get::<Option<String>, _>("groups").ok().flatten(),
    })
}

/// The first column of each row, as text (the ids a statement returned).
pub(super) fn first_texts(rows: &[AnyRow]) -> Result<Vec<String>, StoreError> {
    Ok(rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
}

/// Ids as one JSON array parameter.
pub(super) fn json_ids<T: serde::Serialize + ?Sized>(ids: &T) -> Result<String, StoreError> {
    serde_json::to_string(ids).map_err(|e| StoreError::Encode(format!("ids: {e}")))
}

/// Does `id` name a live user or group of the tenant (the first `?`) that
/// the identity provider may see? With `domains` allowed e-mail domains, a
/// hand-made user whose userName is an address outside them is not one (as
/// `service::policy::hidden_from_scim` decides for reads); their
/// [`domain_pattern`]s are bound after the tenant, one per domain.
pub(super) fn live_member(id: &str, domains: usize) -> String {
    let visible = if domains == 0 {
        String::new()
    } else {
        let like = vec!["r.user_name LIKE ? ESCAPE '\\'"; domains].join(" OR ");
        format!(
            " AND (r.kind = 'Group' OR r.scim_managed <> 0 OR r.user_name IS NULL OR r.user_name NOT LIKE '%@%' OR {like})"
        )
    };
    format!(
        "EXISTS (SELECT 1 FROM resources r WHERE r.tenant_id = ? AND r.kind IN ('User', 'Group') AND r.id = {id} \
         AND r.deleted_at IS NULL{visible})"
    )
}

/// A LIKE pattern for a (lowercase) userName that is an address in `domain`.
pub(super) fn domain_pattern(domain: &str) -> String {
    let escaped = domain.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%@{escaped}")
}

/// One write transaction, and what its statements changed so far. Its
/// methods (in the concern modules) only run statements; deciding what to
/// write is the caller's.
pub struct WriteTx {
    pub(super) core: Arc<Core>,
    pub(super) tx: Transaction<'static, Any>,
    pub(super) changes: ChangeSet,
    /// SQLite: the events of the jobs that succeeded so far, written in one
    /// statement just before the batch commits (see `events::append_events`).
    pub(super) queued_events: Vec<super::events::Queued>,
}

impl WriteTx {
    pub(super) async fn begin(core: Arc<Core>) -> Result<WriteTx, StoreError> {
        let tx = core.begin().await?;
        Ok(WriteTx { core, tx, changes: ChangeSet::default(), queued_events: Vec::new() })
    }

    pub(super) async fn commit(mut self) -> Result<(), StoreError> {
        self.write_queued_events().await?;
        self.tx.commit().await?;
        Ok(())
    }

    pub(super) async fn rollback(self) {
        if let Err(e) = self.tx.rollback().await {
            tracing::error!(error = %e, "rollback failed");
        }
    }

    pub(super) async fn raw(&mut self, sql: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(&mut *self.tx).await?;
        Ok(())
    }

    pub(super) fn q(&self, sql: &str) -> Query<'static> {
        self.core.q(sql)
    }

    pub(super) fn dialect(&self) -> Dialect {
        self.core.dialect()
    }

    /// What the statements of this job changed so far.
    pub fn changes(&self) -> &ChangeSet {
        &self.changes
    }

    /// Record a request the policy refused (no statement; its event is written with the write).
    pub fn record_refused(&mut self, tenant_id: i64, refused: super::RefusedRequest) {
        self.changes.tenant(tenant_id);
        self.changes.refused.push(refused);
    }

    /// Record an action the product is to perform because of this write (no statement).
    pub fn record_host_action(&mut self, tenant_id: i64, action: super::HostAction) {
        self.changes.tenant(tenant_id);
        self.changes.host_actions.push(action);
    }
}

/// A job with its result erased, so that one queue carries every kind of write.
pub(super) trait Job: Send + Sync {
    /// Run on `tx`; true when the job succeeded. Its result waits in the job for its caller.
    fn run<'t>(&'t self, tx: &'t mut WriteTx) -> Pin<Box<dyn Future<Output = bool> + Send + 't>>;
    /// The job could not be run: that is its result (not one of an earlier, rolled-back run).
    fn refuse(&self, why: StoreError);
}

pub(super) struct TypedJob<A, T, E> {
    pub(super) args: A,
    pub(super) run: JobFn<A, T, E>,
    pub(super) out: Mutex<Option<Result<(T, ChangeSet), E>>>,
}

impl<A, T, E> TypedJob<A, T, E> {
    pub(super) fn take(&self) -> Option<Result<(T, ChangeSet), E>> {
        self.out.lock().ok()?.take()
    }
}

impl<A: Send + Sync, T: Send, E: From<StoreError> + Send> Job for TypedJob<A, T, E> {
    fn run<'t>(&'t self, tx: &'t mut WriteTx) -> Pin<Box<dyn Future<Output = bool> + Send + 't>> {
        Box::pin(async move {
            tx.changes = ChangeSet::default();
            let result = (self.run)(tx, &self.args).await;
            let ok = result.is_ok();
            let result = result.map(|value| (value, std::mem::take(&mut tx.changes)));
            if let Ok(mut out) = self.out.lock() {
                *out = Some(result);
            }
            ok
        })
    }

    fn refuse(&self, why: StoreError) {
        if let Ok(mut out) = self.out.lock() {
            *out = Some(Err(E::from(why)));
        }
    }
}
