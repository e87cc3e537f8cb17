//! The audit trail of SCIM requests and admin changes: the bounded queue a
//! finished request leaves its row in ([`Queue`]), the flusher that writes
//! queued rows in batches ([`flush`]), and pruning past the retention
//! ([`prune`]). The request log (`http::log_requests`) makes each row; the
//! server runs the flusher and the pruner; the admin API reads the trail.
//!
//! Reads (GET, `.search`, answered below 400) leave no row: they are
//! counted per tenant, minute, token, method, route and status
//! ([`Queue::count_read`]), and the counts are added to the stored ones
//! with the next batch, at least every [`READS_EVERY`]. A row per read cost
//! every GET an insert through SQLite's one writer.
//!
//! A write's row is added by the write itself, in its transaction (see
//! `service::context::AuditSlot`); the request log only rewrites it where
//! the answer says more ([`Queue::amend`]). An authenticated client's
//! refusal that wrote nothing is durable before the answer leaves
//! ([`Queue::push_durable`]): the request waits for the batch its row is
//! in to commit, and the flusher writes at once when anyone waits, so
//! concurrent refusals share one commit. Other rows
//! (requests without a valid token, 429 and 503 answers) wait up to
//! [`FLUSH_WINDOW`] for company and may be lost in a crash within it, as
//! may the counts of the last seconds. Provisioning never fails for the
//! audit: a full queue drops such a row and counts it
//! (`scimd_audit_dropped_total`), and a batch that cannot be written is
//! logged and counted the same way.

use crate::service::Service;
use crate::store::audit::{NewAudit, ReadKey, ReadTally};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Rows waiting to be written, at most: about 10 MB at worst, and several
/// seconds of a busy server's requests.
pub const QUEUE_ROWS: usize = 10_000;
/// Rows one batch writes, at most (one transaction).
pub const BATCH_ROWS: usize = 500;
/// How long the flusher gathers rows of reads after the first one before it
/// writes them: SQLite's one writer then takes an audit batch about once a
/// second, not once a request. A row someone waits for ends the window.
pub const FLUSH_WINDOW: Duration = Duration::from_secs(1);
/// How often counts of reads are written when no row comes to take them along.
pub const READS_EVERY: Duration = Duration::from_secs(5);
/// Distinct counts held between two writes, at most (a count is a tenant,
/// minute, token, route and status): reads past it are counted as dropped.
const MOST_READ_KEYS: usize = 10_000;

/// Longest a request waits for its row to commit before it answers anyway
/// (the database is then in trouble, and the write itself has committed).
pub const DURABLE_WAIT: Duration = Duration::from_secs(10);
/// How often rows past the retention are pruned (and once at start).
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// Longest text kept of a detail, a target or a path: a row stays small
/// whatever a client sent.
const MAX_TEXT: usize = 2048;
/// Event ids and summary lines a row keeps: a group PATCH of 10,000
/// members emits 10,000 events, and its row would otherwise hold every id.
const MAX_EVENT_IDS: usize = 100;
const MAX_SUMMARY_LINES: usize = 50;

/// Whether requests are audited, and for how long rows are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Record a row per SCIM request (off: `--no-audit`; rows already kept are still pruned).
    pub enabled: bool,
    pub retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { enabled: true, retention: days(DEFAULT_RETENTION_DAYS) }
    }
}

pub fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 86_400)
}

/// The userName or displayName a request was about, when its handler knows
/// it cheaply (a create): a response extension the request log reads.
#[derive(Clone, Debug)]
pub struct TargetName(pub String);

/// A row on its way to the flusher, and who waits for it to commit.
pub struct Queued {
    row: NewAudit,
    committed: Option<oneshot::Sender<()>>,
    /// The `seq` of the row this one rewrites (added with its write).
    amends: Option<i64>,
}

/// Where finished requests leave their rows; the flusher takes them out.
pub struct Queue {
    /// `None` when auditing is off.
    tx: Option<mpsc::Sender<Queued>>,
    /// Taken once, by the server's flusher.
    rx: Mutex<Option<mpsc::Receiver<Queued>>>,
    reads: std::sync::Arc<ReadCounts>,
}

/// Reads counted since the flusher last took them.
#[derive(Default)]
pub struct ReadCounts(Mutex<HashMap<ReadKey, ReadTally>>);

impl ReadCounts {
    fn take(&self) -> Vec<(ReadKey, ReadTally)> {
        self.0.lock().map(|mut counts| std::mem::take(&mut *counts).into_iter().collect()).unwrap_or_default()
    }
}

impl Queue {
    pub fn new(enabled: bool) -> Queue {
        let reads = std::sync::Arc::default();
        if !enabled {
            return Queue { tx: None, rx: Mutex::new(None), reads };
        }
        let (tx, rx) = mpsc::channel(QUEUE_ROWS);
        Queue { tx: Some(tx), rx: Mutex::new(Some(rx)), reads }
    }

    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    /// Count a read (of a tenant, by the row it would have had) for the flusher to add.
    pub fn count_read(&self, row: &NewAudit) {
        let (Some(_), Some(tenant_id)) = (&self.tx, row.tenant_id) else { return };
        let key = ReadKey {
            tenant_id,
            minute: row.at.get(..16).unwrap_or(&row.at).to_string(),
            token_name: row.token_name.clone().unwrap_or_default(),
            method: row.method.clone(),
            route: row.route.clone(),
            status: row.status,
        };
        let Ok(mut counts) = self.reads.0.lock() else { return };
        if counts.len() >= MOST_READ_KEYS && !counts.contains_key(&key) {
            metrics::counter!("scimd_audit_dropped_total", "reason" => "queue_full").increment(1);
            return;
        }
        counts.entry(key).or_default().add(row.latency_us);
    }

    /// What the flusher takes the counts of reads from.
    pub fn read_counts(&self) -> std::sync::Arc<ReadCounts> {
        self.reads.clone()
    }

    /// Leave a row for the flusher, without waiting: when the queue
    /// is full (or the flusher has stopped) the row is dropped and counted.
    pub fn push(&self, row: NewAudit) {
        self.leave(Queued { row, committed: None, amends: None });
    }

    /// Rewrite, within a second, the row a request's write added, as the
    /// request was answered (without waiting: the row is there already).
    pub fn amend(&self, seq: i64, row: NewAudit) {
        self.leave(Queued { row, committed: None, amends: Some(seq) });
    }

    fn leave(&self, queued: Queued) {
        let Some(tx) = &self.tx else { return };
        if let Err(e) = tx.try_send(queued) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "queue_full",
                mpsc::error::TrySendError::Closed(_) => "stopped",
            };
            metrics::counter!("scimd_audit_dropped_total", "reason" => reason).increment(1);
        }
    }

    /// Hand a write's or a refusal's row to the flusher and return once it
    /// is committed: waiting for room in a full queue rather than dropping
    /// it, and for at most [`DURABLE_WAIT`] in all.
    pub async fn push_durable(&self, row: NewAudit) {
        self.wait_for(row, None).await;
    }

    /// [`Queue::amend`], returning once committed: a refusal recorded by a
    /// write (its row says the success it expected until then).
    pub async fn amend_durable(&self, seq: i64, row: NewAudit) {
        self.wait_for(row, Some(seq)).await;
    }

    async fn wait_for(&self, row: NewAudit, amends: Option<i64>) {
        let Some(tx) = &self.tx else { return };
        let (committed, written) = oneshot::channel();
        let wait = async {
            if tx.send(Queued { row, committed: Some(committed), amends }).await.is_err() {
                metrics::counter!("scimd_audit_dropped_total", "reason" => "stopped").increment(1);
                return;
            }
            // An error here is a batch that failed: counted where it failed.
            let _ = written.await;
        };
        if tokio::time::timeout(DURABLE_WAIT, wait).await.is_err() {
            tracing::warn!(
                "an audit row was not committed within {DURABLE_WAIT:?}; the request answers without waiting longer"
            );
        }
    }

    /// The receiving end, for the one flusher (`None` once taken, or when auditing is off).
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<Queued>> {
        self.rx.lock().ok()?.take()
    }
}

/// Write queued rows in batches (up to [`BATCH_ROWS`], gathered for up to
/// [`FLUSH_WINDOW`] while nobody waits for one of them) until `stop` turns
/// true; then take no more rows, write every row still queued, and return.
pub async fn flush(
    svc: Service,
    mut rx: mpsc::Receiver<Queued>,
    reads: std::sync::Arc<ReadCounts>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tenants = TenantIds::default();
    let mut stopping = false;
    let mut tick = tokio::time::interval(READS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        let mut closed = false;
        tokio::select! {
            // Closed and empty: every row is written; the last counts go below.
            n = rx.recv_many(&mut batch, BATCH_ROWS) => closed = n == 0,
            _ = stop.wait_for(|s| *s), if !stopping => {
                // Rows already queued are still received; new ones are refused.
                rx.close();
                stopping = true;
                continue;
            }
            // Counts of reads, when no row comes to take them along.
            _ = tick.tick() => {}
        }
        if closed {
            write(&svc, &mut tenants, Vec::new(), reads.take()).await;
            return;
        }
        if !stopping && !batch.is_empty() && !someone_waits(&batch) {
            let window = tokio::time::sleep(FLUSH_WINDOW);
            tokio::pin!(window);
            while batch.len() < BATCH_ROWS && !someone_waits(&batch) {
                let room = BATCH_ROWS - batch.len();
                tokio::select! {
                    n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                    _ = &mut window => break,
                    _ = stop.wait_for(|s| *s) => {
                        rx.close();
                        stopping = true;
                        break;
                    }
                }
            }
        }
        write(&svc, &mut tenants, batch, reads.take()).await;
    }
}

fn someone_waits(batch: &[Queued]) -> bool {
    batch.iter().any(|q| q.committed.is_some())
}

/// Write one batch, then tell who waits; a batch that fails is logged and
/// counted, never retried (the database is likely down, and the queue
/// behind it keeps filling), and its waiters answer without their rows.
async fn write(svc: &Service, tenants: &mut TenantIds, batch: Vec<Queued>, reads: Vec<(ReadKey, ReadTally)>) {
    let (mut rows, mut amends, mut waiting) = (Vec::with_capacity(batch.len()), Vec::new(), Vec::new());
    for queued in batch {
        match queued.amends {
            Some(seq) => amends.push((seq, queued.row)),
            None => rows.push(queued.row),
        }
        waiting.extend(queued.committed);
    }
    tenants.resolve(svc, &mut rows).await;
    let count = rows.len() + amends.len() + reads.len();
    match svc.record_audit(rows, amends, reads).await {
        Ok(()) => waiting.into_iter().for_each(|w| {
            let _ = w.send(());
        }),
        Err(e) => {
            tracing::warn!(rows = count, error = %e, "audit rows could not be written; they are lost");
            metrics::counter!("scimd_audit_dropped_total", "reason" => "write_failed").increment(count as u64);
        }
    }
}

/// Tenant ids by name, for rows of requests that were not authenticated
/// (the URL names a tenant; whether it exists is found out here, off the
/// request path). Only tenants that exist are remembered: tenants are never
/// renamed, but one may be created later under a name asked for before.
#[derive(Default)]
struct TenantIds(HashMap<String, i64>);

impl TenantIds {
    const MAX: usize = 10_000;

    async fn resolve(&mut self, svc: &Service, batch: &mut [NewAudit]) {
        // Names found missing in this batch, asked for once.
        let mut missing = HashSet::new();
        for row in batch.iter_mut().filter(|r| r.tenant_id.is_none()) {
            let name = row.tenant_name.as_str();
            if let Some(id) = self.0.get(name) {
                row.tenant_id = Some(*id);
                continue;
            }
            if missing.contains(name) || crate::service::tenants::valid_tenant_name(name).is_err() {
                continue;
            }
            match svc.tenant_by_name(name).await {
                Ok(Some(tenant)) => {
                    if self.0.len() >= Self::MAX {
                        self.0.clear();
                    }
                    self.0.insert(tenant.name, tenant.id);
                    row.tenant_id = Some(tenant.id);
                }
                Ok(None) => {
                    missing.insert(name.to_string());
                }
                Err(e) => {
                    tracing::debug!(error = %e, "an audit row's tenant could not be looked up");
                    missing.insert(name.to_string());
                }
            }
        }
    }
}

/// Prune rows past `retention` now and every [`PRUNE_EVERY`], until stopped.
pub async fn prune(svc: Service, retention: Duration) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        match svc.prune_audit(retention).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "audit rows past their retention pruned"),
            Err(e) => tracing::warn!(error = %e, "audit rows past their retention could not be pruned"),
        }
    }
}

/// Text a client chose (a path, an id, a name) or was shown (a detail), as
/// an audit row keeps it: at most [`MAX_TEXT`] bytes, and no NUL character
/// (PostgreSQL cannot store one, and one would fail the whole batch).
pub fn clean(text: &str) -> String {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let kept = &text[..end];
    if kept.contains('\0') { kept.replace('\0', "\u{FFFD}") } else { kept.to_string() }
}

/// What a request changed, as its row keeps it: at most [`MAX_SUMMARY_LINES`]
/// lines and [`MAX_EVENT_IDS`] event ids, with a line saying how many more
/// there were (the feed has them all, each naming the request id).
pub fn kept_outcome(outcome: crate::service::context::Outcome) -> (Vec<String>, Vec<String>) {
    let (mut summary, mut event_ids) = (outcome.summary, outcome.event_ids);
    if summary.len() > MAX_SUMMARY_LINES {
        let more = summary.len() - (MAX_SUMMARY_LINES - 1);
        summary.truncate(MAX_SUMMARY_LINES - 1);
        summary.push(format!("{more} more changes not listed"));
    }
    if event_ids.len() > MAX_EVENT_IDS {
        summary.push(format!("{} more events not listed (the event feed has them)", event_ids.len() - MAX_EVENT_IDS));
        event_ids.truncate(MAX_EVENT_IDS);
    }
    (summary.iter().map(|line| clean(line)).collect(), event_ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_text_is_short_and_storable() {
        assert_eq!(clean("ada@acme.com"), "ada@acme.com");
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        let long = "é".repeat(MAX_TEXT);
        let kept = clean(&long);
        assert!(kept.len() <= MAX_TEXT && kept.chars().all(|c| c == 'é'), "{}", kept.len());
    }

    #[test]
    fn a_large_outcome_is_kept_short() {
        let outcome = crate::service::context::Outcome {
            summary: (0..60).map(|i| format!("line {i}")).collect(),
            event_ids: (0..150).map(|i| format!("evt_{i}")).collect(),
        };
        let (summary, ids) = kept_outcome(outcome);
        assert_eq!(ids.len(), MAX_EVENT_IDS);
        assert_eq!(summary.len(), MAX_SUMMARY_LINES + 1);
        assert_eq!(summary[MAX_SUMMARY_LINES - 1], "11 more changes not listed");
        assert_eq!(summary[MAX_SUMMARY_LINES], "50 more events not listed (the event feed has them)");
        let small = crate::service::context::Outcome { summary: vec!["user u created".into()], event_ids: vec![] };
        assert_eq!(kept_outcome(small), (vec!["user u created".to_string()], vec![]));
    }

    #[test]
    fn a_full_queue_drops_rows_without_waiting() {
        let queue = Queue::new(true);
        for _ in 0..QUEUE_ROWS + 5 {
            queue.push(NewAudit::default());
        }
        let mut rx = queue.take_receiver().unwrap_or_else(|| mpsc::channel(1).1);
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, QUEUE_ROWS);
        assert!(queue.take_receiver().is_none(), "one flusher only");
        assert!(!Queue::new(false).is_on());
    }
}
