//! SQLite's side of the store: the one writer that every write goes through
//! (group commit), and the rosters that start unfiltered list pages.
//!
//! One process owns the file and every durable commit costs an fsync, so
//! writes are queued to one thread that runs up to [`MAX_BATCH`] of them in
//! one transaction and commits once: every request is answered only after
//! the commit that made its write durable. The thread owns the writer's
//! connection, so a job's statements are function calls, not messages to
//! another thread. A batch first runs without savepoints; only a batch in
//! which a job fails is rolled back and run again, each job in its own
//! savepoint, so a failing write is rolled back alone.

mod roster;

pub(crate) use roster::{Roster, Rosters};

use super::StoreError;
use super::exec::sqlite::WriterConn;
use super::tx::{Core, Job, WriteTx};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most writes one SQLite commit carries.
const MAX_BATCH: usize = 128;

struct Queued {
    job: Arc<dyn Job>,
    /// The batch's outcome: committed, or why not.
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Where writes are queued for the writer.
pub(crate) struct WriterHandle(mpsc::Sender<Queued>);

impl WriterHandle {
    /// Queue a job and wait for the commit of its batch. The job's own
    /// result (it may have failed and been rolled back alone) is in the job.
    pub(in crate::store) async fn submit(&self, job: Arc<dyn Job>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.0.send(Queued { job, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer's queue, and the thread that serves it with the writer's
/// connection. The thread ends when the last handle is dropped, after the
/// writes queued before.
pub(in crate::store) fn writer(core: Arc<Core>, conn: WriterConn) -> Result<WriterHandle, StoreError> {
    let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
    // A runtime of the writer's own: a job's future runs to its end there
    // without a hop to another thread per statement.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| StoreError::Unavailable(format!("the SQLite writer could not start: {e}")))?;
    std::thread::Builder::new()
        .name("scimd-sqlite-writer".into())
        .spawn(move || runtime.block_on(write_batches(core, conn, rx)))
        .map_err(|e| StoreError::Unavailable(format!("the SQLite writer could not start: {e}")))?;
    Ok(WriterHandle(tx))
}

async fn write_batches(core: Arc<Core>, conn: WriterConn, mut rx: mpsc::Receiver<Queued>) {
    let mut conn = Some(conn);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        metrics::histogram!("scimd_sqlite_writer_batch_size").record(batch.len() as f64);
        let jobs: Vec<&dyn Job> = batch.iter().map(|q| &*q.job).collect();
        let outcome = match run_batch(&core, &mut conn, &jobs, false).await {
            Ok(true) => Ok(()),
            Ok(false) => run_batch(&core, &mut conn, &jobs, true).await.map(|_| ()),
            Err(e) => Err(e),
        };
        metrics::histogram!("scimd_sqlite_writer_batch_seconds").record(started.elapsed().as_secs_f64());
        drop(jobs);
        for Queued { job, reply } in batch {
            // What the job holds (a document, perhaps megabytes) is the
            // request's alone again before it resumes.
            drop(job);
            let _ = reply.send(match &outcome {
                Ok(()) => Ok(()),
                Err(why) => Err(StoreError::Unavailable(why.clone())),
            });
        }
    }
}

/// One transaction for `jobs`, committed once. Without savepoints it stops
/// at the first failing job, rolls back and answers `false`; with them, a
/// failing job is rolled back alone. `Err`: the transaction itself failed
/// (begin or commit), with the reason. The connection is put back in `conn`.
async fn run_batch(
    core: &Arc<Core>,
    conn: &mut Option<WriterConn>,
    jobs: &[&dyn Job],
    savepoints: bool,
) -> Result<bool, String> {
    let Some(taken) = conn.take() else {
        return Err("the SQLite writer lost its connection".into());
    };
    let mut tx = match WriteTx::sqlite(core.clone(), taken) {
        Ok(tx) => tx,
        Err((taken, e)) => {
            *conn = Some(taken);
            return Err(format!("could not start a write: {e}"));
        }
    };
    if savepoints {
        let mut open = tx.raw("SAVEPOINT w").await;
        for job in jobs {
            let ok = match &open {
                Ok(()) => job.run(&mut tx).await,
                Err(e) => {
                    tracing::error!(error = %e, "could not open a savepoint; the write is not run");
                    job.refuse(StoreError::Unavailable(format!("the write could not be isolated: {e}")));
                    false
                }
            };
            let next = if ok { "RELEASE w; SAVEPOINT w" } else { "ROLLBACK TO w; RELEASE w; SAVEPOINT w" };
            open = tx.raw(next).await;
            if let Err(e) = &open {
                tracing::error!(error = %e, "savepoint failed");
            }
        }
    } else {
        for job in jobs {
            if !job.run(&mut tx).await {
                *conn = tx.rollback().await;
                return Ok(false);
            }
        }
    }
    let (result, back) = tx.commit().await;
    *conn = back;
    result.map(|()| true).map_err(|e| format!("the commit failed: {e}"))
}
