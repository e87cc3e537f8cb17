//! SQLite through rusqlite, called directly. One file, WAL journal,
//! `synchronous=FULL` (an acknowledged write survives a crash). Writes run
//! on the writer's one connection, on its own thread (see
//! `store::sqlite`): statements there are plain function calls on cached
//! prepared statements, with no thread hop. Reads take one of a few reader
//! connections and run on the blocking pool, so a long read never holds an
//! async worker.

use super::{Cell, DbError, DbErrorKind, Done, Output, Param, Row, Stmt, Want};
use crate::store::StoreError;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Prepared statements each connection keeps (the store has about a hundred distinct ones).
const CACHED_STATEMENTS: usize = 256;

/// Where the database file is, and how connections to it are set up.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    path: PathBuf,
    create: bool,
    busy_timeout: Duration,
}

impl Target {
    /// `sqlite://FILE`, `sqlite:FILE`, optionally with `?mode=rwc|rw`.
    pub(crate) fn parse(url: &str, busy_timeout: Duration) -> Result<Target, StoreError> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::Unavailable(format!(
                "the database URL '{url}' names no file: use sqlite://FILE (an in-memory database would be lost \
                 between connections)"
            )));
        }
        let mut create = true;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair {
                "mode=rwc" => create = true,
                "mode=rw" => create = false,
                other => {
                    return Err(StoreError::Unavailable(format!(
                        "the database URL '{url}' has an option scimd does not know: '{other}' (only mode=rwc or \
                         mode=rw)"
                    )));
                }
            }
        }
        Ok(Target { path: PathBuf::from(path), create, busy_timeout })
    }

    pub(crate) fn open(&self) -> Result<Connection, StoreError> {
        let mut flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        if self.create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| {
            StoreError::Unavailable(format!("the SQLite database '{}' could not be opened: {e}", self.path.display()))
        })?;
        conn.busy_timeout(self.busy_timeout).map_err(db_error)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(db_error)?;
        conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
        Ok(conn)
    }
}

/// The reader connections: opened as needed, up to a limit, and kept.
pub(crate) struct Readers {
    target: Target,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    open: AtomicU32,
}

impl Readers {
    pub(crate) fn new(target: Target, max: u32) -> Readers {
        let max = max.max(1);
        Readers {
            target,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max as usize)),
            open: AtomicU32::new(0),
        }
    }

    pub(crate) fn usage(&self) -> (u32, usize) {
        let idle = self.idle.lock().map(|idle| idle.len()).unwrap_or(0);
        (self.open.load(Ordering::Relaxed), idle)
    }

    pub(crate) async fn run(&self, stmt: Stmt, want: Want) -> Result<Output, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite readers are closed".into()))?;
        let kept = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match kept {
            Some(conn) => conn,
            None => {
                let conn = self.target.open()?;
                self.open.fetch_add(1, Ordering::Relaxed);
                conn
            }
        };
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = run_on(&conn, &stmt, want);
            (conn, out)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("a read stopped: {e}")))?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        drop(permit);
        out
    }
}

/// The writer's connection (one per process), inside a transaction while a
/// [`crate::store::WriteTx`] holds it. A mutex only so that the write job's
/// future may be shared across threads: the writer thread alone uses it.
pub(crate) struct WriterConn(Box<Mutex<Connection>>);

impl WriterConn {
    pub(crate) fn new(conn: Connection) -> WriterConn {
        WriterConn(Box::new(Mutex::new(conn)))
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.0.lock().map_err(|_| StoreError::Unavailable("the SQLite writer failed".into()))?;
        f(&conn)
    }

    pub(crate) fn run(&self, stmt: &Stmt, want: Want) -> Result<Output, StoreError> {
        self.with(|conn| run_on(conn, stmt, want))
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.with(|conn| conn.execute_batch(sql).map_err(db_error))
    }
}

fn to_sql(param: &Param) -> ToSqlOutput<'_> {
    match param {
        Param::Null(_) => ToSqlOutput::Owned(SqlValue::Null),
        Param::Int(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
        Param::Real(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
        Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        Param::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
        Param::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
    }
}

/// One statement on one connection, from its cached preparation.
pub(crate) fn run_on(conn: &Connection, stmt: &Stmt, want: Want) -> Result<Output, StoreError> {
    let mut prepared = conn.prepare_cached(&stmt.sql).map_err(db_error)?;
    for (i, param) in stmt.params.iter().enumerate() {
        prepared.raw_bind_parameter(i + 1, to_sql(param)).map_err(db_error)?;
    }
    let columns: Arc<[Box<str>]> = prepared.column_names().into_iter().map(Box::from).collect();
    let width = columns.len();
    let mut rows = prepared.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        if want == Want::Count {
            continue;
        }
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(match row.get_ref(i).map_err(db_error)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(i) => Cell::Int(i),
                ValueRef::Real(f) => Cell::Real(f),
                ValueRef::Text(t) => Cell::Text(String::from_utf8(t.to_vec()).map_err(|_| {
                    StoreError::Corrupt(format!("column '{}' holds text that is not UTF-8", columns[i]))
                })?),
                ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
            });
        }
        out.push(Row { columns: columns.clone(), cells });
        if want == Want::One {
            break;
        }
    }
    drop(rows);
    Ok(match want {
        Want::Count => Output::Done(Done(conn.changes())),
        Want::One | Want::All => Output::Rows(out),
    })
}

pub(crate) fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Db(match &e {
        rusqlite::Error::SqliteFailure(failure, _) => {
            let kind = match failure.code {
                rusqlite::ErrorCode::ConstraintViolation
                    if matches!(
                        failure.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    DbErrorKind::UniqueViolation
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => DbErrorKind::GaveUpWaiting,
                _ => DbErrorKind::Other,
            };
            DbError { kind, code: Some((failure.extended_code & 0xff).to_string()), message: e.to_string() }
        }
        _ => DbError::other(e.to_string()),
    })
}

/// The schema's migrations, applied as sqlx's migrator applies them and
/// recorded in its table (`_sqlx_migrations`), so a file written by an
/// earlier scimd opens here and the other way round.
pub(crate) fn migrate(conn: &Connection, migrator: &sqlx::migrate::Migrator) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, \
         execution_time BIGINT NOT NULL);",
    )
    .map_err(db_error)?;
    let mut applied = std::collections::HashMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, Vec<u8>>(2)?)))
            .map_err(db_error)?;
        for row in rows {
            let (version, success, checksum) = row.map_err(db_error)?;
            if !success {
                return Err(StoreError::Unavailable(format!(
                    "migration {version} of this database failed part-way earlier; restore a backup"
                )));
            }
            applied.insert(version, checksum);
        }
    }
    for m in migrator.iter().filter(|m| m.migration_type.is_up_migration()) {
        if let Some(checksum) = applied.get(&m.version) {
            if checksum.as_slice() != &*m.checksum {
                return Err(StoreError::Unavailable(format!(
                    "migration {} ({}) applied to this database differs from this scimd's",
                    m.version, m.description
                )));
            }
            continue;
        }
        let started = std::time::Instant::now();
        let tx = conn.unchecked_transaction().map_err(db_error)?;
        tx.execute_batch(m.sql.as_str())
            .map_err(|e| StoreError::Unavailable(format!("migration {} ({}) failed: {e}", m.version, m.description)))?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![
                m.version,
                &*m.description,
                &*m.checksum,
                i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX)
            ],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
    }
    Ok(())
}
