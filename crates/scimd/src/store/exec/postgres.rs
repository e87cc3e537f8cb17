//! PostgreSQL through sqlx's native driver: statements prepared once per
//! connection and cached by sqlx, values bound with their own types, rows
//! decoded by column type.

use super::{Cell, DbError, DbErrorKind, Done, NullOf, Output, Param, Row, Stmt, Want};
use crate::store::StoreError;
use sqlx::postgres::{PgArguments, PgRow, PgValueRef};
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
            Some(row) => {
                let shape = Shape::of(&row)?;
                vec![shape.convert(&row)?]
            }
            None => Vec::new(),
        }),
        Want::All => {
            let rows = q.fetch_all(on).await?;
            let Some(first) = rows.first() else { return Ok(Output::Rows(Vec::new())) };
            let shape = Shape::of(first)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(shape.convert(row)?);
            }
            Output::Rows(out)
        }
    })
}

/// How each column of a result is read, decided once from the first row
/// (every row of a result has the same columns): a 10,000-member group is
/// 50,000 cells, and naming each cell's type costs more than reading it.
struct Shape {
    columns: Arc<[Box<str>]>,
    kinds: Vec<ColumnKind>,
}

#[derive(Clone, Copy)]
enum ColumnKind {
    Int8,
    Int4,
    Int2,
    Bool,
    Float8,
    Float4,
    Text,
    Bytes,
}

impl Shape {
    fn of(row: &PgRow) -> Result<Shape, StoreError> {
        let mut kinds = Vec::with_capacity(row.columns().len());
        for column in row.columns() {
            kinds.push(match column.type_info().name() {
                "INT8" => ColumnKind::Int8,
                "INT4" => ColumnKind::Int4,
                "INT2" => ColumnKind::Int2,
                "BOOL" => ColumnKind::Bool,
                "FLOAT8" => ColumnKind::Float8,
                "FLOAT4" => ColumnKind::Float4,
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => ColumnKind::Text,
                "BYTEA" => ColumnKind::Bytes,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "column '{}' is of type {other}, which scimd does not read",
                        column.name()
                    )));
                }
            });
        }
        let columns = row.columns().iter().map(|c| Box::from(c.name())).collect();
        Ok(Shape { columns, kinds })
    }

    /// One row's cells, each decoded as its column's kind (the kind was read
    /// from the result's own description, so no check per cell).
    fn convert(&self, row: &PgRow) -> Result<Row, StoreError> {
        let mut cells = Vec::with_capacity(self.kinds.len());
        for (i, kind) in self.kinds.iter().enumerate() {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                cells.push(Cell::Null);
                continue;
            }
            cells.push(match kind {
                ColumnKind::Int8 => Cell::Int(decode::<i64>(raw)?),
                ColumnKind::Int4 => Cell::Int(i64::from(decode::<i32>(raw)?)),
                ColumnKind::Int2 => Cell::Int(i64::from(decode::<i16>(raw)?)),
                ColumnKind::Bool => Cell::Bool(decode::<bool>(raw)?),
                ColumnKind::Float8 => Cell::Real(decode::<f64>(raw)?),
                ColumnKind::Float4 => Cell::Real(f64::from(decode::<f32>(raw)?)),
                ColumnKind::Text => Cell::Text(decode::<&str>(raw)?.to_owned()),
                ColumnKind::Bytes => Cell::Bytes(decode::<&[u8]>(raw)?.to_vec()),
            });
        }
        Ok(Row { columns: self.columns.clone(), cells })
    }
}

fn decode<'r, T: sqlx::Decode<'r, Postgres>>(raw: PgValueRef<'r>) -> Result<T, StoreError> {
    T::decode(raw).map_err(|e| StoreError::Corrupt(format!("a column could not be read: {e}")))
}

pub(crate) async fn batch<'e, E>(on: E, sql: &str) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(on).await?;
    Ok(())
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
