//! The statement seam: what the store's concern methods hand to a database,
//! and what comes back. A statement is data ([`Stmt`]: SQL text with `?`
//! placeholders and its bound [`Param`]s); rows come back as owned [`Row`]s.
//! Two executors run them, each on its database's own driver:
//! [`sqlite`] (rusqlite: one writer connection owned by the writer thread,
//! a small pool of reader connections used on the blocking pool) and
//! [`postgres`] (sqlx's native PostgreSQL driver). Nothing above this module
//! names a driver.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use super::StoreError;
use std::sync::Arc;

/// The type of a bound NULL (PostgreSQL wants one; SQLite ignores it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NullOf {
    Bytes,
    Int,
    Real,
    Text,
    Bool,
}

/// A value bound to a `?` of a statement.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param {
    Null(NullOf),
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl From<Vec<u8>> for Param {
    fn from(v: Vec<u8>) -> Param {
        Param::Bytes(v)
    }
}
impl From<&[u8]> for Param {
    fn from(v: &[u8]) -> Param {
        Param::Bytes(v.to_vec())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Param {
        Param::Int(v)
    }
}
impl From<i32> for Param {
    fn from(v: i32) -> Param {
        Param::Int(i64::from(v))
    }
}
impl From<u32> for Param {
    fn from(v: u32) -> Param {
        Param::Int(i64::from(v))
    }
}
impl From<f64> for Param {
    fn from(v: f64) -> Param {
        Param::Real(v)
    }
}
impl From<bool> for Param {
    fn from(v: bool) -> Param {
        Param::Bool(v)
    }
}
impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(v)
    }
}
impl From<&String> for Param {
    fn from(v: &String) -> Param {
        Param::Text(v.clone())
    }
}
impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(v.to_string())
    }
}
impl From<&&str> for Param {
    fn from(v: &&str) -> Param {
        Param::Text((*v).to_string())
    }
}
impl From<&i64> for Param {
    fn from(v: &i64) -> Param {
        Param::Int(*v)
    }
}

/// The SQL type of a Rust value, for a NULL of it.
pub(crate) trait Typed {
    const NULL: NullOf;
}
impl Typed for i64 {
    const NULL: NullOf = NullOf::Int;
}
impl Typed for i32 {
    const NULL: NullOf = NullOf::Int;
}
impl Typed for u32 {
    const NULL: NullOf = NullOf::Int;
}
impl Typed for f64 {
    const NULL: NullOf = NullOf::Real;
}
impl Typed for bool {
    const NULL: NullOf = NullOf::Bool;
}
impl Typed for String {
    const NULL: NullOf = NullOf::Text;
}
impl Typed for &String {
    const NULL: NullOf = NullOf::Text;
}
impl Typed for &str {
    const NULL: NullOf = NullOf::Text;
}
impl Typed for Vec<u8> {
    const NULL: NullOf = NullOf::Bytes;
}
impl Typed for &i64 {
    const NULL: NullOf = NullOf::Int;
}

impl<T: Into<Param> + Typed> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Param {
        match v {
            Some(v) => v.into(),
            None => Param::Null(T::NULL),
        }
    }
}

impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Param {
        v.as_deref().into()
    }
}

/// One statement: SQL with `?` placeholders (never inside a string literal),
/// and the values bound to them, in order.
#[derive(Clone, Debug)]
pub(crate) struct Stmt {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
}

impl Stmt {
    pub(crate) fn new(sql: impl Into<String>) -> Stmt {
        Stmt { sql: sql.into(), params: Vec::new() }
    }

    #[must_use]
    pub(crate) fn bind(mut self, value: impl Into<Param>) -> Stmt {
        self.params.push(value.into());
        self
    }

    pub(crate) async fn execute<'a>(self, on: impl Into<On<'a>>) -> Result<Done, StoreError> {
        match run(on.into(), self, Want::Count).await? {
            Output::Done(done) => Ok(done),
            Output::Rows(_) => Err(StoreError::Corrupt("a statement answered rows where a count was asked".into())),
        }
    }

    pub(crate) async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<Row>, StoreError> {
        match run(on.into(), self, Want::All).await? {
            Output::Rows(rows) => Ok(rows),
            Output::Done(_) => Ok(Vec::new()),
        }
    }

    pub(crate) async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> Result<Option<Row>, StoreError> {
        match run(on.into(), self, Want::One).await? {
            Output::Rows(rows) => Ok(rows.into_iter().next()),
            Output::Done(_) => Ok(None),
        }
    }

    pub(crate) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<Row, StoreError> {
        self.fetch_optional(on).await?.ok_or(StoreError::NotFound)
    }
}

/// How many rows a statement changed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Done(pub(crate) u64);

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// What a statement is run for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// The count of changed rows.
    Count,
    /// The first row only.
    One,
    All,
}

pub(crate) enum Output {
    Done(Done),
    Rows(Vec<Row>),
}

/// One value of a row as the database gave it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// A row, owned: its column names (shared by every row of the statement)
/// and values.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) columns: Arc<[Box<str>]>,
    pub(crate) cells: Vec<Cell>,
}

/// A column by name or by position.
pub(crate) trait ColumnIndex {
    fn position(&self, columns: &[Box<str>]) -> Option<usize>;
    fn describe(&self) -> String;
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[Box<str>]) -> Option<usize> {
        columns.iter().position(|c| &**c == *self)
    }
    fn describe(&self) -> String {
        format!("column '{self}'")
    }
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[Box<str>]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        format!("column {self}")
    }
}

impl ColumnIndex for i32 {
    fn position(&self, columns: &[Box<str>]) -> Option<usize> {
        usize::try_from(*self).ok().and_then(|i| i.position(columns))
    }
    fn describe(&self) -> String {
        format!("column {self}")
    }
}

/// A Rust value read from a [`Cell`].
pub(crate) trait FromCell: Sized {
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl FromCell for i64 {
    fn from_cell(cell: &Cell) -> Option<i64> {
        match cell {
            Cell::Int(i) => Some(*i),
            Cell::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
}

impl FromCell for i32 {
    fn from_cell(cell: &Cell) -> Option<i32> {
        i64::from_cell(cell).and_then(|i| i32::try_from(i).ok())
    }
}

impl FromCell for f64 {
    fn from_cell(cell: &Cell) -> Option<f64> {
        match cell {
            Cell::Real(f) => Some(*f),
            Cell::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl FromCell for bool {
    fn from_cell(cell: &Cell) -> Option<bool> {
        match cell {
            Cell::Bool(b) => Some(*b),
            Cell::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: &Cell) -> Option<String> {
        match cell {
            Cell::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromCell for Cell {
    fn from_cell(cell: &Cell) -> Option<Cell> {
        Some(cell.clone())
    }
}

impl FromCell for Vec<u8> {
    fn from_cell(cell: &Cell) -> Option<Vec<u8>> {
        match cell {
            Cell::Bytes(b) => Some(b.clone()),
            Cell::Text(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: &Cell) -> Option<Option<T>> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

impl Row {
    pub(crate) fn try_get<T: FromCell, I: ColumnIndex>(&self, index: I) -> Result<T, StoreError> {
        let at = index
            .position(&self.columns)
            .ok_or_else(|| StoreError::Corrupt(format!("a statement's answer has no {}", index.describe())))?;
        let cell = &self.cells[at];
        T::from_cell(cell).ok_or_else(|| {
            StoreError::Corrupt(format!("{} holds {cell:?}, not a {}", index.describe(), std::any::type_name::<T>()))
        })
    }

    /// A text column that may be NULL, without copying it.
    pub(crate) fn take_optional_text<I: ColumnIndex>(&mut self, index: I) -> Result<Option<String>, StoreError> {
        let at = index
            .position(&self.columns)
            .ok_or_else(|| StoreError::Corrupt(format!("a statement's answer has no {}", index.describe())))?;
        match std::mem::replace(&mut self.cells[at], Cell::Null) {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s)),
            other => Err(StoreError::Corrupt(format!("{} holds {other:?}, not text", index.describe()))),
        }
    }

    /// A text column without copying it (the caller keeps the row).
    pub(crate) fn take_text<I: ColumnIndex>(&mut self, index: I) -> Result<String, StoreError> {
        let at = index
            .position(&self.columns)
            .ok_or_else(|| StoreError::Corrupt(format!("a statement's answer has no {}", index.describe())))?;
        match std::mem::replace(&mut self.cells[at], Cell::Null) {
            Cell::Text(s) => Ok(s),
            other => Err(StoreError::Corrupt(format!("{} holds {other:?}, not text", index.describe()))),
        }
    }
}

/// A database error, as the store's callers need it: what kind, the
/// database's own code, and its message (for logs, never for clients).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    pub kind: DbErrorKind,
    /// SQLSTATE on PostgreSQL, the primary result code on SQLite.
    pub code: Option<String>,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbErrorKind {
    UniqueViolation,
    /// The database gave up waiting: a lock, a busy file, a statement timeout, a full pool.
    GaveUpWaiting,
    Other,
}

impl DbError {
    pub(crate) fn other(message: impl Into<String>) -> DbError {
        DbError { kind: DbErrorKind::Other, code: None, message: message.into() }
    }
}

/// Where a statement runs: a read on a pool, or a write's transaction.
pub(crate) enum On<'a> {
    Pool(&'a Pool),
    Tx(&'a mut TxConn),
}

impl<'a> From<&'a Pool> for On<'a> {
    fn from(pool: &'a Pool) -> On<'a> {
        On::Pool(pool)
    }
}

impl<'a> From<&'a mut TxConn> for On<'a> {
    fn from(tx: &'a mut TxConn) -> On<'a> {
        On::Tx(tx)
    }
}

/// The connections reads run on.
pub(crate) enum Pool {
    Sqlite(sqlite::Readers),
    Postgres(sqlx::PgPool),
}

impl Pool {
    /// Connections open, and how many of them are idle.
    pub(crate) fn usage(&self) -> (u32, usize) {
        match self {
            Pool::Sqlite(readers) => readers.usage(),
            Pool::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }
}

/// The connection of one write transaction.
pub(crate) enum TxConn {
    /// The writer's connection, inside `BEGIN IMMEDIATE`.
    Sqlite(sqlite::WriterConn),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

async fn run(on: On<'_>, stmt: Stmt, want: Want) -> Result<Output, StoreError> {
    match on {
        On::Pool(Pool::Sqlite(readers)) => readers.run(stmt, want).await,
        On::Pool(Pool::Postgres(pool)) => postgres::run(pool, &stmt, want).await,
        On::Tx(TxConn::Sqlite(conn)) => conn.run(&stmt, want),
        On::Tx(TxConn::Postgres(tx)) => postgres::run(&mut **tx, &stmt, want).await,
    }
}

impl TxConn {
    /// Statements without parameters or answers, several in one text (savepoints).
    pub(crate) async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            TxConn::Sqlite(conn) => conn.batch(sql),
            TxConn::Postgres(tx) => postgres::batch(&mut **tx, sql).await,
        }
    }
}

/// What every executor must do the same way, run on each: typed values and
/// NULLs in and out, bytes, text that is not ASCII, counts of changed rows,
/// no row, and a unique violation told apart from other errors. PostgreSQL
/// runs when `SCIMD_TEST_POSTGRES_URL` names a server, in a transaction
/// that is rolled back.
#[cfg(test)]
mod conformance {
    use super::*;

    const TABLE: &str = "CREATE TEMPORARY TABLE seam (id BIGINT PRIMARY KEY, name TEXT UNIQUE, score DOUBLE PRECISION, \
                         flag BOOLEAN, blob BYTEA, note TEXT)";

    async fn suite(on: &mut TxConn, table: &str) {
        Stmt::new(table).execute(&mut *on).await.unwrap();
        let insert = "INSERT INTO seam (id, name, score, flag, blob, note) VALUES (?, ?, ?, ?, ?, ?)";
        let done = Stmt::new(insert)
            .bind(1_i64)
            .bind("Zoë ✓")
            .bind(2.5_f64)
            .bind(true)
            .bind(vec![0_u8, 255, 7])
            .bind(None::<String>)
            .execute(&mut *on)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        Stmt::new(insert)
            .bind(i64::MAX)
            .bind(None::<&str>)
            .bind(None::<f64>)
            .bind(None::<bool>)
            .bind(None::<Vec<u8>>)
            .bind(Some("n"))
            .execute(&mut *on)
            .await
            .unwrap();
        let row = Stmt::new("SELECT id, name, score, flag, blob, note FROM seam WHERE id = ?")
            .bind(1_i64)
            .fetch_one(&mut *on)
            .await
            .unwrap();
        assert_eq!(row.try_get::<i64, _>("id").unwrap(), 1);
        assert_eq!(row.try_get::<String, _>("name").unwrap(), "Zoë ✓");
        assert_eq!(row.try_get::<f64, _>(2).unwrap(), 2.5);
        assert!(row.try_get::<bool, _>("flag").unwrap());
        assert_eq!(row.try_get::<Vec<u8>, _>("blob").unwrap(), [0, 255, 7]);
        assert_eq!(row.try_get::<Option<String>, _>("note").unwrap(), None);
        assert!(row.try_get::<String, _>("missing").is_err(), "an unknown column is an error, not a panic");
        let row = Stmt::new("SELECT id, name, flag FROM seam WHERE id = ?").bind(i64::MAX).fetch_one(&mut *on).await;
        let row = row.unwrap();
        assert_eq!(row.try_get::<i64, _>(0).unwrap(), i64::MAX);
        assert_eq!(row.try_get::<Option<String>, _>("name").unwrap(), None);
        assert_eq!(row.try_get::<Option<bool>, _>("flag").unwrap(), None);
        assert!(row.try_get::<String, _>("name").is_err(), "NULL is not text");
        let none = Stmt::new("SELECT id FROM seam WHERE id = ?").bind(3_i64).fetch_optional(&mut *on).await.unwrap();
        assert!(none.is_none());
        let all = Stmt::new("SELECT id FROM seam ORDER BY id").fetch_all(&mut *on).await.unwrap();
        assert_eq!(all.iter().map(|r| r.try_get::<i64, _>(0).unwrap()).collect::<Vec<_>>(), [1, i64::MAX]);
        let changed = Stmt::new("UPDATE seam SET note = ? WHERE id > ?").bind("x").bind(0_i64).execute(&mut *on).await;
        assert_eq!(changed.unwrap().rows_affected(), 2);
        let taken = Stmt::new(insert)
            .bind(2_i64)
            .bind("Zoë ✓")
            .bind(0.0_f64)
            .bind(false)
            .bind(Vec::<u8>::new())
            .bind("")
            .execute(&mut *on)
            .await;
        match taken {
            Err(StoreError::Db(e)) => assert_eq!(e.kind, DbErrorKind::UniqueViolation, "{e}"),
            other => panic!("a unique violation was not reported as one: {other:?}"),
        }
    }

    #[tokio::test]
    async fn sqlite_executor() {
        let dir = std::env::temp_dir().join(format!("scimd-seam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("seam.db").display());
        let target = sqlite::Target::parse(&url, std::time::Duration::from_secs(5)).unwrap();
        let mut on = TxConn::Sqlite(sqlite::WriterConn::new(target.open().unwrap()));
        suite(&mut on, &TABLE.replace("BYTEA", "BLOB")).await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn postgres_executor() {
        let Ok(url) = std::env::var("SCIMD_TEST_POSTGRES_URL") else {
            eprintln!("SCIMD_TEST_POSTGRES_URL is not set: the PostgreSQL executor is not tried");
            return;
        };
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let mut on = TxConn::Postgres(pool.begin().await.unwrap());
        suite(&mut on, TABLE).await;
        if let TxConn::Postgres(tx) = on {
            tx.rollback().await.unwrap();
        }
    }
}
