//! PostgreSQL through sqlx's native driver: statements prepared once per
//! connection and cached by sqlx, values bound with their own types, rows
//! decoded by column type.

use super::{Cell, DbError, DbErrorKind, Done, NullOf, Output, Param, Row, Stmt, Want};
use crate::store::StoreError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{AssertSqlSafe, Column, Postgres, Row as _, TypeInfo, ValueRef as _};
use std::sync::Arc;

/// `?` placeholders as PostgreSQL's `$1`, `$2`, … Generated SQL never has a
/// `?` inside a string literal.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn query(stmt: &Stmt) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    let mut q = sqlx::query(AssertSqlSafe(numbered(&stmt.sql)));
    for param in &stmt.params {
        q = match param {
            Param::Null(NullOf::Int) => q.bind(None::<i64>),
            Param::Null(NullOf::Real) => q.bind(None::<f64>),
            Param::Null(NullOf::Text) => q.bind(None::<&str>),
            Param::Null(NullOf::Bool) => q.bind(None::<bool>),
            Param::Null(NullOf::Bytes) => q.bind(None::<&[u8]>),
            Param::Bytes(b) => q.bind(b.as_slice()),
            Param::Int(i) => q.bind(*i),
            Param::Real(f) => q.bind(*f),
            Param::Text(s) => q.bind(s.as_str()),
            Param::Bool(b) => q.bind(*b),
        };
    }
    q
}

pub(crate) async fn run<'e, E>(on: E, stmt: &Stmt, want: Want) -> Result<Output, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let q = query(stmt);
    Ok(match want {
        Want::Count => Output::Done(Done(q.execute(on).await?.rows_affected())),
        Want::One => Output::Rows(match q.fetch_optional(on).await? {
            Some(row) => vec![convert(&row, None)?],
            None => Vec::new(),
        }),
        Want::All => {
            let rows = q.fetch_all(on).await?;
            let mut columns = None;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let converted = convert(row, columns.clone())?;
                columns.get_or_insert_with(|| converted.columns.clone());
                out.push(converted);
            }
            Output::Rows(out)
        }
    })
}

pub(crate) async fn batch<'e, E>(on: E, sql: &str) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(on).await?;
    Ok(())
}

fn convert(row: &PgRow, columns: Option<Arc<[Box<str>]>>) -> Result<Row, StoreError> {
    let columns = columns.unwrap_or_else(|| row.columns().iter().map(|c| Box::from(c.name())).collect());
    let mut cells = Vec::with_capacity(columns.len());
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            cells.push(Cell::Null);
            continue;
        }
        cells.push(match column.type_info().name() {
            "INT8" => Cell::Int(row.try_get::<i64, _>(i)?),
            "INT4" => Cell::Int(i64::from(row.try_get::<i32, _>(i)?)),
            "INT2" => Cell::Int(i64::from(row.try_get::<i16, _>(i)?)),
            "BOOL" => Cell::Bool(row.try_get::<bool, _>(i)?),
            "FLOAT8" => Cell::Real(row.try_get::<f64, _>(i)?),
            "FLOAT4" => Cell::Real(f64::from(row.try_get::<f32, _>(i)?)),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Cell::Text(row.try_get::<String, _>(i)?),
            "BYTEA" => Cell::Bytes(row.try_get::<Vec<u8>, _>(i)?),
            other => {
                return Err(StoreError::Corrupt(format!(
                    "column '{}' is of type {other}, which scimd does not read",
                    column.name()
                )));
            }
        });
    }
    Ok(Row { columns, cells })
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> DbError {
        let (kind, code) = match &e {
            sqlx::Error::PoolTimedOut => (DbErrorKind::GaveUpWaiting, None),
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned());
                let kind = if db.is_unique_violation() {
                    DbErrorKind::UniqueViolation
                } else if matches!(code.as_deref(), Some("57014" | "55P03" | "40001" | "40P01")) {
                    DbErrorKind::GaveUpWaiting
                } else {
                    DbErrorKind::Other
                };
                (kind, code)
            }
            _ => (DbErrorKind::Other, None),
        };
        DbError { kind, code, message: e.to_string() }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Db(e.into())
    }
}
