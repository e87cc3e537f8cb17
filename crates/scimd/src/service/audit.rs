//! The audit trail's operations: writing a batch of rows, reading a tenant's
//! trail, and pruning rows past the retention. What goes into a row and when
//! it is written is [`crate::audit`]'s business (off the request path).

use super::{Error, Service};
use crate::store::audit::{AuditQuery, NewAudit, ReadKey, ReadTally, StoredAudit, StoredReads};
use crate::store::{JobFuture, WriteTx};
use std::time::Duration;

/// Rows one pruning transaction deletes: small enough that SQLite's writer
/// is never held long, so provisioning writes go between the chunks.
const PRUNE_CHUNK: i64 = 5_000;

impl Service {
    /// Write audit rows, rewrite rows added with their writes (`seq`, row)
    /// and add counts of reads, in one transaction.
    pub async fn record_audit(
        &self,
        rows: Vec<NewAudit>,
        amends: Vec<(i64, NewAudit)>,
        reads: Vec<(ReadKey, ReadTally)>,
    ) -> Result<(), Error> {
        struct Batch(Vec<NewAudit>, Vec<(i64, NewAudit)>, Vec<(ReadKey, ReadTally)>);
        fn run<'t>(tx: &'t mut WriteTx, batch: &'t Batch) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                tx.append_audit(&batch.0).await?;
                tx.amend_audit(&batch.1).await?;
                Ok(tx.add_reads(&batch.2).await?)
            })
        }
        if rows.is_empty() && amends.is_empty() && reads.is_empty() {
            return Ok(());
        }
        self.write(Batch(rows, amends, reads), run).await.map(|_| ())
    }

    /// A page of a tenant's counts of reads, newest first.
    pub async fn audit_reads(
        &self,
        tenant_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredReads>, Error> {
        Ok(self.store().audit_reads(tenant_id, before, limit).await?)
    }

    /// Delete audit rows older than `retention` (by this service's clock),
    /// a chunk per transaction; answers how many went.
    pub async fn prune_audit(&self, retention: Duration) -> Result<u64, Error> {
        /// Rows older than this time go.
        struct Before(String);
        fn run<'t>(tx: &'t mut WriteTx, before: &'t Before) -> JobFuture<'t, u64, Error> {
            Box::pin(async move {
                let reads = tx.prune_reads(&before.0, PRUNE_CHUNK).await?;
                Ok(tx.prune_audit(&before.0, PRUNE_CHUNK).await? + reads)
            })
        }
        let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
        let before = Before(self.clock().at_offset_secs(-secs));
        let mut pruned = 0;
        loop {
            let (n, _) = self.write(Before(before.0.clone()), run).await?;
            pruned += n;
            if n < PRUNE_CHUNK.unsigned_abs() {
                return Ok(pruned);
            }
        }
    }

    /// A page of a tenant's audit trail, newest first.
    pub async fn audit_page(&self, tenant_id: i64, query: &AuditQuery) -> Result<Vec<StoredAudit>, Error> {
        Ok(self.store().audit_page(tenant_id, query).await?)
    }
}
