//! The request an operation runs for: its cause (request id, who asked)
//! goes into every event the operation emits, and what the operation
//! changed comes back for the request's audit row. A surface opens the
//! scope ([`in_request`]) around a request; the service reads it in
//! [`super::Service::write`]. Outside one (a CLI command) the cause is the
//! server itself. Task-local: a task spawned for the request takes the
//! cause along explicitly ([`cause`], then [`with_cause`]).

use crate::events::{ActorKind, Cause};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// What one request's operations need to know and leave behind.
#[derive(Debug, Default)]
pub(crate) struct RequestContext {
    cause: Mutex<Cause>,
    /// `None`: nobody reads the outcome (the audit is off), so none is put together.
    outcome: Option<Mutex<Outcome>>,
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
        })
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
        outcome.lock().map(|mut o| std::mem::take(&mut *o)).unwrap_or_default()
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
