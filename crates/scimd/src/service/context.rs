//! The request an operation runs for: its cause (request id, who asked)
//! goes into every event the operation emits, and what the operation
//! changed comes back for the request's audit row, which the request's
//! first write adds in its own transaction ([`AuditSlot`]). A surface opens the
//! scope ([`in_request`]) around a request; the service reads it in
//! [`super::Service::write`]. Outside one (a CLI command) the cause is the
//! server itself. Task-local: a task spawned for the request takes the
//! cause along explicitly ([`cause`], then [`with_cause`]).

use crate::events::{ActorKind, Cause};
use crate::store::audit::NewAudit;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What one request's operations need to know and leave behind.
#[derive(Debug, Default)]
pub(crate) struct RequestContext {
    cause: Mutex<Cause>,
    /// `None`: nobody reads the outcome (the audit is off), so none is put together.
    outcome: Option<Mutex<Outcome>>,
    /// The audit row a write of this request adds in its own transaction.
    audit: Mutex<Option<AuditSlot>>,
    /// Lines for the row known before any write (what a create ignored),
    /// kept after what the writes changed.
    notes: Mutex<Vec<String>>,
}

/// A request's audit row as far as it is known before it is answered: the
/// first write of the request adds it in its own transaction, so that an
/// acknowledged write is never without its row; the request log corrects
/// it afterwards where the answer differs (see `http::log_requests`).
#[derive(Debug)]
pub(crate) struct AuditSlot {
    /// The row with what the request says before it runs, and the status
    /// a success answers with.
    pub draft: NewAudit,
    pub started: Instant,
    /// The row as its write added it, and its `seq`.
    pub written: Option<(i64, NewAudit)>,
    /// Writes the request made (a second one's changes are not in the row).
    pub writes: u32,
}

/// What the operations of a request changed, in plain words, and the ids of the events they emitted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub summary: Vec<String>,
    pub event_ids: Vec<String>,
}

impl RequestContext {
    /// With `keeps_outcome`, what the request's operations change is kept for [`RequestContext::take_outcome`].
    pub(crate) fn new(request_id: String, keeps_outcome: bool) -> Arc<RequestContext> {
        Arc::new(RequestContext {
            cause: Mutex::new(Cause { request_id: Some(request_id), ..Cause::default() }),
            outcome: keeps_outcome.then(Mutex::default),
            audit: Mutex::new(None),
            notes: Mutex::default(),
        })
    }

    /// The row the request's first write is to add.
    pub(crate) fn expect_writes(&self, draft: NewAudit, started: Instant) {
        if let Ok(mut slot) = self.audit.lock() {
            *slot = Some(AuditSlot { draft, started, written: None, writes: 0 });
        }
    }

    /// What the request is about, known before it runs (the name of what a create makes).
    pub(crate) fn name_target(&self, name: &str) {
        if let Ok(mut slot) = self.audit.lock()
            && let Some(slot) = slot.as_mut()
        {
            slot.draft.target_name = Some(crate::audit::clean(name));
        }
    }

    /// The tenant the request was authenticated for: a URL without a
    /// tenant segment named none when the draft was made.
    pub(crate) fn name_tenant(&self, name: &str) {
        if let Ok(mut slot) = self.audit.lock()
            && let Some(slot) = slot.as_mut()
        {
            slot.draft.tenant_name = crate::audit::clean(name);
        }
    }

    /// A line for the request's audit row known before its write (what a
    /// create ignored), so the row its write adds holds it.
    pub(crate) fn note_for_row(&self, line: String) {
        if self.outcome.is_some()
            && let Ok(mut notes) = self.notes.lock()
        {
            notes.push(line);
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// A write begins: the row it is to add, when none is added yet.
    pub(super) fn row_for_write(&self) -> Option<NewAudit> {
        let mut slot = self.audit.lock().ok()?;
        let slot = slot.as_mut()?;
        slot.writes += 1;
        if slot.written.is_some() {
            return None;
        }
        let latency = i64::try_from(slot.started.elapsed().as_micros()).unwrap_or(i64::MAX);
        // The write puts what it changed before these.
        Some(NewAudit { latency_us: latency, summary: self.notes(), ..slot.draft.clone() })
    }

    /// The row a committed write added.
    pub(super) fn row_written(&self, seq: i64, row: NewAudit) {
        if let Ok(mut slot) = self.audit.lock()
            && let Some(slot) = slot.as_mut()
        {
            slot.written = Some((seq, row));
        }
    }

    /// The slot, taken once the request is answered.
    pub(crate) fn take_audit_slot(&self) -> Option<AuditSlot> {
        self.audit.lock().ok()?.take()
    }

    pub(super) fn keeps_outcome(&self) -> bool {
        self.outcome.is_some()
    }

    /// Who the request turned out to come from (once its token is checked).
    pub(crate) fn set_actor(&self, actor: ActorKind, name: &str) {
        if let Ok(mut cause) = self.cause.lock() {
            cause.actor = actor;
            cause.actor_name = Some(name.to_string());
        }
    }

    pub(crate) fn cause(&self) -> Cause {
        self.cause.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// What the request's operations changed, taken once (by the audit).
    pub(crate) fn take_outcome(&self) -> Outcome {
        let Some(outcome) = &self.outcome else { return Outcome::default() };
        let mut taken = outcome.lock().map(|mut o| std::mem::take(&mut *o)).unwrap_or_default();
        taken.summary.extend(self.notes.lock().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default());
        taken
    }

    /// A line for the request's audit row beside what its writes changed
    /// (a Bulk operation that failed), when the row keeps one.
    pub(crate) fn note(&self, line: String) {
        self.add_outcome(vec![line], std::iter::empty());
    }

    pub(super) fn add_outcome(&self, summary: Vec<String>, event_ids: impl Iterator<Item = String>) {
        if let Some(Ok(mut o)) = self.outcome.as_ref().map(Mutex::lock) {
            o.summary.extend(summary);
            o.event_ids.extend(event_ids);
        }
    }
}

tokio::task_local! {
    static REQUEST: Arc<RequestContext>;
    static CAUSE: Cause;
}

/// Run `f` as the request `ctx` describes.
pub(crate) async fn in_request<F: Future>(ctx: Arc<RequestContext>, f: F) -> F::Output {
    REQUEST.scope(ctx, f).await
}

/// Run `f` (a task a request started) with the cause of that request.
pub(crate) async fn with_cause<F: Future>(cause: Cause, f: F) -> F::Output {
    CAUSE.scope(cause, f).await
}

/// The current request's context, if any.
pub(crate) fn current() -> Option<Arc<RequestContext>> {
    REQUEST.try_with(Arc::clone).ok()
}

/// The cause of what runs now: the request's, a task's, or the server's own.
pub(crate) fn cause() -> Cause {
    if let Ok(cause) = CAUSE.try_with(Cause::clone) {
        return cause;
    }
    current().map(|ctx| ctx.cause()).unwrap_or_default()
}
