//! Events: the outbox rows a write adds in its own transaction, the feed
//! that reads them in commit order, and pruning past their retention.
//!
//! Order is (tx, seq). On SQLite the one writer commits in seq order and tx
//! is 0. On PostgreSQL, writers of a tenant run side by side, so seq is not
//! commit order: tx is the writing transaction's id and a read shows only
//! transactions older than every one still open (`pg_snapshot_xmin`), so a
//! cursor never passes an event that commits later (migration 0008).

use super::sql::Dialect;
use super::{Store, StoreError, WriteTx};
use crate::store::exec::Row;

/// An event as its outbox row holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: &'static str,
    /// `user` or `group`.
    pub subject_type: &'static str,
    pub subject_id: String,
    pub created_at: String,
    /// JSON text.
    pub data: String,
}

/// Events of one job, waiting for their batch's commit (SQLite), or for the
/// transaction's audit row or commit (PostgreSQL).
pub(super) struct Queued {
    tenant_id: i64,
    cause: std::sync::Arc<str>,
    events: Vec<NewEvent>,
}

/// A position in a tenant's events: everything up to it has been read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub tx: i64,
    pub seq: i64,
}

impl Position {
    /// The cursor a client is given: opaque, `tx.seq`.
    pub fn cursor(&self) -> String {
        format!("{}.{}", self.tx, self.seq)
    }

    pub fn parse(cursor: &str) -> Option<Position> {
        let (tx, seq) = cursor.split_once('.')?;
        Some(Position { tx: tx.parse().ok()?, seq: seq.parse().ok()? })
    }
}

/// An event as read back.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub position: Position,
    pub tenant_id: i64,
    pub id: String,
    pub event_type: String,
    pub subject_type: String,
    pub subject_id: String,
    pub created_at: String,
    pub data: String,
    pub cause: String,
}

/// Rows per INSERT: 8 parameters each, well under SQLite's 32,766.
const ROWS_PER_INSERT: usize = 500;

impl WriteTx {
    /// Add `events` of a tenant to the outbox, each with `cause` (JSON
    /// text), in this transaction. They are queued: on SQLite written with
    /// those of the batch's other jobs in one statement just before the
    /// commit (a job that fails never queues its own; every job of a batch
    /// paying a statement of its own cost its writes a tenth more); on
    /// PostgreSQL in the statement of the write's audit row
    /// ([`WriteTx::insert_audit_row`]) or, without one, just before the
    /// commit: a round trip fewer a write either way.
    pub async fn append_events(&mut self, tenant_id: i64, events: &[NewEvent], cause: &str) -> Result<(), StoreError> {
        self.queued_events.push(Queued { tenant_id, cause: cause.into(), events: events.to_vec() });
        Ok(())
    }

    /// Write what [`WriteTx::append_events`] queued (before commit).
    pub(super) async fn write_queued_events(&mut self) -> Result<(), StoreError> {
        if self.queued_events.is_empty() {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.queued_events);
        let rows: Vec<(&Queued, &NewEvent)> = event_rows(&queued);
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let sql = events_insert(self.dialect(), chunk.len());
            bind_events(self.q(&sql), chunk).execute(&mut self.tx).await?;
        }
        Ok(())
    }

    /// The queued events when one statement can carry them all (PostgreSQL,
    /// for the audit row's statement): their INSERT, and the events to bind
    /// to it with [`bind_queued`].
    pub(super) fn take_queued_events_for_one_statement(&mut self) -> Option<(String, Vec<Queued>)> {
        let count: usize = self.queued_events.iter().map(|q| q.events.len()).sum();
        if self.dialect() != Dialect::Postgres || count == 0 || count > ROWS_PER_INSERT {
            return None;
        }
        Some((events_insert(self.dialect(), count), std::mem::take(&mut self.queued_events)))
    }

    /// Of the `limit` oldest events, delete those older than `before`;
    /// answers how many went (fewer than `limit`: the rest are newer).
    pub async fn prune_events(&mut self, before: &str, limit: i64) -> Result<u64, StoreError> {
        let done = self
            .q("DELETE FROM events WHERE seq IN (SELECT o.seq FROM (SELECT seq, created_at FROM events ORDER BY seq \
                LIMIT ?) o WHERE o.created_at < ?)")
            .bind(limit)
            .bind(before)
            .execute(&mut self.tx)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Only what has committed before every transaction still open (PostgreSQL).
pub(super) fn committed_only(d: Dialect, alias: &str) -> String {
    match d {
        Dialect::Sqlite => String::new(),
        Dialect::Postgres => format!(" AND {alias}.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"),
    }
}

/// Events after a position, as a condition on the table aliased `alias`
/// (binds tx, then seq). SQLite walks its index from the start of a row
/// value's first column, so a page deep in the feed would scan every event
/// before it; there tx is always 0 and the condition is on seq alone.
pub(super) fn after_position(d: Dialect, alias: &str) -> String {
    match d {
        Dialect::Sqlite => format!("{alias}.tx = ? AND {alias}.seq > ?"),
        Dialect::Postgres => format!("({alias}.tx, {alias}.seq) > (?, ?)"),
    }
}

pub(super) const EVENT_COLS: &str =
    "e.seq, e.tx, e.tenant_id, e.id, e.type, e.subject_type, e.subject_id, e.created_at, e.data, e.cause";

pub(super) fn event_from_row(row: &Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        position: Position { tx: row.try_get("tx")?, seq: row.try_get("seq")? },
        tenant_id: row.try_get("tenant_id")?,
        id: row.try_get("id")?,
        event_type: row.try_get("type")?,
        subject_type: row.try_get("subject_type")?,
        subject_id: row.try_get("subject_id")?,
        created_at: row.try_get("created_at")?,
        data: row.try_get("data")?,
        cause: row.try_get("cause")?,
    })
}

/// `text` with LIKE's wildcards escaped (`\` escapes).
pub(super) fn like_prefix(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// ` AND (…)`: only events (as `alias`) of `types`, where one ending in
/// `.` is a prefix; nothing when `types` is empty. Bound by [`bind_types`].
pub(super) fn of_types(types: &[String], alias: &str) -> String {
    if types.is_empty() {
        return String::new();
    }
    let one = |t: &String| {
        if t.ends_with('.') { format!("{alias}.type LIKE ? ESCAPE '\\'") } else { format!("{alias}.type = ?") }
    };
    format!(" AND ({})", types.iter().map(one).collect::<Vec<_>>().join(" OR "))
}

/// Bind the values of [`of_types`], in its order.
pub(super) fn bind_types(mut q: crate::store::exec::Stmt, types: &[String]) -> crate::store::exec::Stmt {
    for t in types {
        q = if t.ends_with('.') { q.bind(like_prefix(t)) } else { q.bind(t.clone()) };
    }
    q
}

impl Store {
    /// Up to `limit` events of a tenant after `after`, in order; with
    /// `types`, only events of those types (a pattern ending in `.` is a
    /// prefix: `user.` is every user event).
    pub async fn events_page(
        &self,
        tenant_id: i64,
        after: Position,
        limit: i64,
        types: &[String],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let core = self.core();
        let typed = of_types(types, "e");
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events e WHERE e.tenant_id = ? AND {}{typed}{} ORDER BY e.tx, e.seq LIMIT ?",
            after_position(core.dialect(), "e"),
            committed_only(core.dialect(), "e")
        );
        let q = core.q(&sql).bind(tenant_id).bind(after.tx).bind(after.seq);
        let rows = bind_types(q, types).bind(limit).fetch_all(&core.pool).await?;
        rows.iter().map(event_from_row).collect()
    }
}

fn event_rows(queued: &[Queued]) -> Vec<(&Queued, &NewEvent)> {
    queued.iter().flat_map(|q| q.events.iter().map(move |e| (q, e))).collect()
}

/// An INSERT of `rows` events (8 parameters each).
fn events_insert(dialect: Dialect, rows: usize) -> String {
    let tx_col = match dialect {
        Dialect::Sqlite => "0",
        Dialect::Postgres => "pg_current_xact_id()::text::bigint",
    };
    let values = vec![format!("({tx_col}, ?, ?, ?, ?, ?, ?, ?, ?)"); rows].join(", ");
    format!(
        "INSERT INTO events (tx, tenant_id, id, type, subject_type, subject_id, created_at, data, cause) VALUES {values}"
    )
}

fn bind_events(mut q: crate::store::exec::Stmt, rows: &[(&Queued, &NewEvent)]) -> crate::store::exec::Stmt {
    for (queued, e) in rows {
        q = q
            .bind(queued.tenant_id)
            .bind(e.id.as_str())
            .bind(e.event_type)
            .bind(e.subject_type)
            .bind(e.subject_id.as_str())
            .bind(e.created_at.as_str())
            .bind(e.data.as_str())
            .bind(queued.cause.as_ref());
    }
    q
}

/// Bind the events [`WriteTx::take_queued_events_for_one_statement`] took,
/// in the order its INSERT names them.
pub(super) fn bind_queued(q: crate::store::exec::Stmt, queued: &[Queued]) -> crate::store::exec::Stmt {
    bind_events(q, &event_rows(queued))
}
