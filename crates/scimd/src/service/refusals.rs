//! `provisioning.refused`: a SCIM request the policy refused (no seats, a
//! domain that is not provisioned, a tenant switched off) is told to the
//! product as an event, with the detail the identity provider was shown.
//! The refused write changed nothing, so the record is a write of its own.

use super::{Actor, Error, Service};
use crate::store::{JobFuture, Kind, RefusedRequest, WriteTx};

/// Whom a refused request was about.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: Kind,
    /// The resource's id; `None` for a create (it was never given one).
    pub id: Option<String>,
    /// Its userName or displayName, when the request carried it.
    pub name: Option<String>,
}

impl Service {
    /// Pass on an operation's result, after telling the product of a
    /// refusal of the identity provider's that it hears of (an admin is
    /// answered directly and needs no event).
    pub(super) async fn reporting_refusal<T>(
        &self,
        actor: Actor,
        tenant_id: i64,
        target: Target,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        if actor == Actor::IdentityProvider
            && let Err(Error::Refused(r)) = &result
            && let Some(reason) = r.reported_as()
        {
            self.record_refusal(tenant_id, target, reason, r.status(), &r.to_string()).await;
        }
        result
    }

    /// Record `provisioning.refused` for a request refused with `status` and
    /// `detail` (as the client was shown). Failing to record it is logged:
    /// the request's answer does not change.
    pub async fn record_refusal(&self, tenant_id: i64, target: Target, reason: &str, status: u16, detail: &str) {
        if !self.events_on() {
            return;
        }
        struct Job {
            tenant_id: i64,
            refused: RefusedRequest,
        }
        fn run<'t>(tx: &'t mut WriteTx, job: &'t Job) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                tx.record_refused(job.tenant_id, job.refused.clone());
                Ok(())
            })
        }
        let refused = RefusedRequest {
            kind: target.kind,
            id: target.id,
            name: target.name,
            reason: reason.to_string(),
            status,
            detail: detail.to_string(),
        };
        if let Err(e) = self.write(Job { tenant_id, refused }, run).await {
            tracing::error!(tenant_id, error = %e, "a refused request could not be recorded as an event");
        }
    }
}
