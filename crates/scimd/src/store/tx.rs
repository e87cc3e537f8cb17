//! The connection pool with its statement helpers ([`Core`]), and the write
//! transaction ([`WriteTx`]) every write job runs on, with the record of
//! what it changed.
//!
//! SQLite: one file, WAL journal, `synchronous=FULL` so an acknowledged write
//! survives a crash; writes take the lock up front (`BEGIN IMMEDIATE`) so
//! read-modify-write never deadlocks on upgrade. PostgreSQL: row locks
//! (`SELECT … FOR UPDATE`) serialise writers of one resource across replicas,
//! and the unique index on `user_name` decides races on a userName.

use super::exec::{self, Pool, Row, Stmt, TxConn};
use super::sql::{Bind, Dialect};
use super::{ChangeSet, JobFn, Kind, PoolConfig, RawResource, StoreError, Unique};
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Every statement, on a pool.
pub(crate) struct Core {
    pub(super) pool: Pool,
    d: Dialect,
}

impl Core {
    /// Open the database and migrate it. On SQLite, also the writer's own
    /// connection (for `store::sqlite::writer`).
    pub(super) async fn connect(
        url: &str,
        config: &PoolConfig,
    ) -> Result<(Core, Option<exec::sqlite::WriterConn>), StoreError> {
        let max = |d| match (config.max_connections, d) {
            (0, Dialect::Sqlite) => 4,
            (0, Dialect::Postgres) => 16,
            (n, _) => n,
        };
        if url.starts_with("sqlite:") {
            let target = exec::sqlite::Target::parse(url, config.statement_timeout)?;
            let opened = target.clone();
            let writer = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
                let conn = opened.open()?;
                exec::sqlite::migrate(&conn, &sqlx::migrate!("./migrations/sqlite"))?;
                Ok(conn)
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("the SQLite database could not be opened: {e}")))??;
            let readers = exec::sqlite::Readers::new(target, max(Dialect::Sqlite));
            let core = Core { pool: Pool::Sqlite(readers), d: Dialect::Sqlite };
            return Ok((core, Some(exec::sqlite::WriterConn::new(writer))));
        }
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL '{url}': use sqlite://FILE or postgres://…"
            )));
        }
        let timeout_ms = config.statement_timeout.as_millis();
        let pool = PgPoolOptions::new()
            // A ping before every use costs a round trip per statement; a
            // broken connection fails its statement instead.
            .test_before_acquire(false)
            .max_connections(max(Dialect::Postgres))
            .acquire_timeout(config.connect_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    // No transaction of scimd's is idle on purpose: one left open (a
                    // stuck task) would hold back every replica's feed, so it ends.
                    // Notices (the migrator's "already exists, skipping") are not logged.
                    let setup = format!(
                        "SET statement_timeout = {timeout_ms}; SET idle_in_transaction_session_timeout = {timeout_ms}; \
                         SET client_min_messages = warning"
                    );
                    conn.execute(sqlx::AssertSqlSafe(setup)).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Db(sqlx::Error::from(e).into()))?;
        Ok((Core { pool: Pool::Postgres(pool), d: Dialect::Postgres }, None))
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.d
    }

    pub(super) fn q(&self, sql: &str) -> Stmt {
        Stmt::new(sql)
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
}

pub(super) fn bind_all(mut q: Stmt, binds: &[Bind]) -> Stmt {
    q.params.extend_from_slice(binds);
    q
}

/// A unique-index violation as the rule it broke; anything else as a database error.
pub(super) fn unique_or(e: StoreError, rule: Unique) -> StoreError {
    match &e {
        StoreError::Db(db) if db.kind == exec::DbErrorKind::UniqueViolation => StoreError::Unique(rule),
        _ => e,
    }
}

/// A resource from its row; the document's text is moved out, not copied.
pub(super) fn raw_from_row(kind: Kind, mut row: Row) -> Result<RawResource, StoreError> {
    Ok(RawResource {
        kind,
        doc_text: row.take_text("doc")?,
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        scim_managed: row.try_get::<i64, _>("scim_managed")? != 0,
        // The `groups` column some reads add.
        groups_text: row.try_get::<Option<String>, _>("groups").ok().flatten(),
    })
}

/// The first column of each row, as text (the ids a statement returned).
pub(super) fn first_texts(rows: &[Row]) -> Result<Vec<String>, StoreError> {
    rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<_, _>>()
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
    pub(super) tx: TxConn,
    pub(super) changes: ChangeSet,
    /// SQLite: the events of the jobs that succeeded so far, written in one
    /// statement just before the batch commits (see `events::append_events`).
    pub(super) queued_events: Vec<super::events::Queued>,
}

impl WriteTx {
    fn on(core: Arc<Core>, tx: TxConn) -> WriteTx {
        WriteTx { core, tx, changes: ChangeSet::default(), queued_events: Vec::new() }
    }

    /// SQLite: a transaction on the writer's connection, which comes back
    /// with the reason when it cannot start.
    pub(super) fn sqlite(
        core: Arc<Core>,
        conn: exec::sqlite::WriterConn,
    ) -> Result<WriteTx, (exec::sqlite::WriterConn, StoreError)> {
        match conn.batch("BEGIN IMMEDIATE") {
            Ok(()) => Ok(WriteTx::on(core, TxConn::Sqlite(conn))),
            Err(e) => Err((conn, e)),
        }
    }

    /// PostgreSQL: a transaction on a connection of the pool.
    pub(super) async fn postgres(core: Arc<Core>) -> Result<WriteTx, StoreError> {
        let Pool::Postgres(pool) = &core.pool else {
            return Err(StoreError::Unavailable("a PostgreSQL transaction was asked of SQLite".into()));
        };
        let tx = pool.begin().await?;
        Ok(WriteTx::on(core, TxConn::Postgres(tx)))
    }

    /// Commit (or, when the events cannot be written, roll back). SQLite:
    /// the writer's connection comes back, whatever happened.
    pub(super) async fn commit(mut self) -> (Result<(), StoreError>, Option<exec::sqlite::WriterConn>) {
        let written = self.write_queued_events().await;
        match self.tx {
            TxConn::Sqlite(conn) => {
                let result = written.and_then(|()| conn.batch("COMMIT"));
                if result.is_err()
                    && let Err(e) = conn.batch("ROLLBACK")
                {
                    tracing::debug!(error = %e, "rollback after a failed commit");
                }
                (result, Some(conn))
            }
            TxConn::Postgres(tx) => {
                let result = match written {
                    Ok(()) => tx.commit().await.map_err(StoreError::from),
                    Err(e) => {
                        if let Err(e) = tx.rollback().await {
                            tracing::error!(error = %e, "rollback failed");
                        }
                        Err(e)
                    }
                };
                (result, None)
            }
        }
    }

    /// Roll back. SQLite: the writer's connection comes back.
    pub(super) async fn rollback(self) -> Option<exec::sqlite::WriterConn> {
        match self.tx {
            TxConn::Sqlite(conn) => {
                if let Err(e) = conn.batch("ROLLBACK") {
                    tracing::error!(error = %e, "rollback failed");
                }
                Some(conn)
            }
            TxConn::Postgres(tx) => {
                if let Err(e) = tx.rollback().await {
                    tracing::error!(error = %e, "rollback failed");
                }
                None
            }
        }
    }

    pub(super) async fn raw(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.batch(sql).await
    }

    pub(super) fn q(&self, sql: &str) -> Stmt {
        Stmt::new(sql)
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

    /// Record that the resource already was as the request wants it (no statement).
    pub fn record_unchanged(&mut self, tenant_id: i64, kind: Kind, id: &str) {
        self.changes.tenant(tenant_id);
        self.changes.unchanged.push((kind, id.to_string()));
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
