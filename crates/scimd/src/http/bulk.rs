//! `POST /Bulk` (RFC 7644 §3.7). The request is read within
//! `maxPayloadSize` ([`super::BulkJson`]) and checked as a whole by
//! [`scim_core::bulk`] (which also orders the operations and resolves their
//! `bulkId` references); it is charged to the tenant's rate limit by its
//! operations; then each operation runs through the function its single
//! request runs (`resources::{create,replace,patch,delete}_resource`), so in
//! a transaction of its own: a failure undoes no other operation (§3.7 says
//! Bulk is not atomic), and leaves nothing of its own half-written. The
//! answer is a BulkResponse of every operation that ran.

use super::base::ScimBase;
use super::resources::{self, Ctx};
use super::{ApiError, AppState, BulkJson, Config, TenantView, scim_response, set_retry_after};
use crate::auth::Caller;
use crate::ratelimit::{Rate, retry_after_secs};
use crate::store::{Kind, LARGE_BYTES};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scim_core::bulk::{BulkRequest, Created, Endpoint, Method, OperationResult, PathId, Ready, response_json};
use scim_core::{Projection, ScimError, etag};
use std::time::Instant;

/// The most operations one Bulk request of this tenant may carry, and what
/// sets that number (for the 413's detail): `--bulk-max-operations`, or the
/// tenant's burst when it is smaller, since each operation counts as one
/// request against the rate limit and a request past the burst could never run.
pub(crate) fn max_operations(config: &Config, rate: Rate) -> (usize, String) {
    let configured = config.bulk.max_operations;
    // The burst is a whole number of at least 1 (`Rate::new`).
    let burst = rate.burst as usize;
    if !rate.is_off() && burst < configured {
        let note = format!(
            ": the tenant's rate limit allows bursts of {burst} requests, and each operation of a Bulk request \
             counts as one"
        );
        return (burst, note);
    }
    (configured, ", --bulk-max-operations".to_string())
}

/// `/Bulk` when `--bulk-max-operations 0` switched it off.
pub(crate) async fn switched_off() -> ApiError {
    ApiError::status(
        501,
        "Bulk is switched off on this server (--bulk-max-operations 0; ServiceProviderConfig: bulk.supported is \
         false): send each operation as its own request",
    )
}

pub(crate) async fn bulk(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(view): Extension<TenantView>,
    Extension(ScimBase(base)): Extension<ScimBase>,
    BulkJson(body, size): BulkJson,
) -> Result<Response, ApiError> {
    let (max, note) = max_operations(&s.config, view.rate);
    let mut request = size.run(move || BulkRequest::parse(body, max, &note)).await??;
    let count = request.operations().len();
    // One request's token was taken as it arrived; the other operations take theirs now.
    let more = u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX);
    if let Err(wait) = s.tenant_buckets.take_many(&caller.tenant.id, view.rate, Instant::now(), more) {
        let detail = format!(
            "tenant '{}' may send {} requests a second (bursts of {}), and each operation of a Bulk request counts \
             as one: these {count} operations need more than are left now; nothing was run: retry after {} s",
            caller.tenant.name,
            view.rate.per_second,
            view.rate.burst,
            retry_after_secs(wait)
        );
        let mut resp = ApiError::status(429, detail).into_response();
        set_retry_after(&mut resp, wait);
        return Ok(resp);
    }
    let mut results: Vec<Option<OperationResult>> = vec![None; count];
    let mut created = Created::default();
    let mut errors = 0;
    let order = request.run_order();
    let mut at = 0;
    while at < order.len() {
        // RFC 7644 §3.7: failOnErrors ends the request after that many errors.
        let room = match request.fail_on_errors {
            Some(most) if errors >= most => break,
            Some(most) => (most - errors).min(SIDE_BY_SIDE),
            None => SIDE_BY_SIDE,
        };
        let run_of = side_by_side(&request, &order[at..], room);
        at += run_of.len();
        let mut prepared = Vec::with_capacity(run_of.len());
        for &i in &run_of {
            let Some(op) = request.operations().get(i) else { continue };
            let kind = match op.endpoint {
                Endpoint::Users => Kind::User,
                Endpoint::Groups => Kind::Group,
            };
            let c = Ctx::for_operation(&s, &caller, &view, &base, kind, op.version.clone());
            let large = op.data_bytes() > LARGE_BYTES;
            let ready = request.take_ready(i, &created);
            prepared.push((i, c, large, ready));
        }
        // Each operation still runs in a write of its own; run side by side,
        // their writes share the commits the store groups anyway.
        let outcomes = futures_util::future::join_all(prepared.into_iter().map(|(i, c, large, ready)| async move {
            let outcome = match ready {
                Ok(ready) => run(&c, ready, large).await.map_err(|e| e.0),
                Err(refused) => Err(refused),
            };
            (i, c, outcome)
        }))
        .await;
        for (i, c, outcome) in outcomes {
            let Some(op) = request.operations().get(i) else { continue };
            let (method, bulk_id) = (op.method, op.bulk_id.clone());
            let result = match outcome {
                Ok(done) => {
                    if let (Method::Post, Some(b)) = (method, &bulk_id) {
                        created.record(b, &done.id);
                    }
                    OperationResult {
                        method,
                        bulk_id,
                        location: Some(c.location(&done.id)),
                        version: done.version.map(etag::format),
                        status: done.status.as_u16(),
                        error: None,
                    }
                }
                Err(error) => {
                    errors += 1;
                    note_failure(i, &op.describe(), &error);
                    // A failed POST has no location (§3.7.3); another operation's is the resource it named.
                    let named_id = match &op.path_id {
                        Some(PathId::Id(id)) => Some(id.clone()),
                        _ => None,
                    };
                    let id = if method == Method::Post {
                        None
                    } else {
                        named_id.or_else(|| resolved_id(&request, i, &created))
                    };
                    OperationResult {
                        method,
                        bulk_id,
                        location: id.map(|id| c.location(&id)),
                        version: None,
                        status: error.status,
                        error: Some(error),
                    }
                }
            };
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
    }
    let ran: Vec<OperationResult> = results.into_iter().flatten().collect();
    Ok(scim_response(StatusCode::OK, &response_json(&ran)))
}

/// Most operations of a Bulk request run side by side.
const SIDE_BY_SIDE: usize = 32;

/// The operations at the start of `order` that may run side by side: one
/// operation, or a run of up to `room` POSTs that name no other operation
/// and no two of which create the same userName (the first in the request
/// must win it, as it would one after the other). Everything else runs alone,
/// in order.
fn side_by_side(request: &BulkRequest, order: &[usize], room: usize) -> Vec<usize> {
    let ops = request.operations();
    let independent = |i: usize| ops.get(i).is_some_and(|op| op.is_independent_post());
    let Some(&first) = order.first() else { return Vec::new() };
    let mut run = vec![first];
    if !independent(first) {
        return run;
    }
    let mut names: std::collections::HashSet<String> =
        ops.get(first).and_then(|op| op.user_name_key()).into_iter().collect();
    for &i in &order[1..] {
        if run.len() >= room.max(1) || !independent(i) {
            break;
        }
        if let Some(name) = ops.get(i).and_then(|op| op.user_name_key())
            && !names.insert(name)
        {
            break;
        }
        run.push(i);
    }
    run
}

/// What a successful operation answered.
struct Done {
    status: StatusCode,
    id: String,
    /// The resource's version after it (none after a DELETE).
    version: Option<i64>,
}

/// Run one resolved operation as its single request would run.
async fn run(c: &Ctx, ready: Ready, large: bool) -> Result<Done, ApiError> {
    let Ready { method, id, data, .. } = ready;
    let id = || id.clone().ok_or_else(|| ApiError::internal("run a Bulk operation", &"an operation without its id"));
    Ok(match method {
        Method::Post => {
            let stored = resources::create_resource(c, data, large).await?;
            Done { status: StatusCode::CREATED, id: stored.id, version: Some(stored.version) }
        }
        Method::Put => {
            let stored = resources::replace_resource(c, &id()?, data, large).await?;
            Done { status: StatusCode::OK, id: stored.id, version: Some(stored.version) }
        }
        Method::Patch => {
            let stored = resources::patch_resource(c, &id()?, data, large).await?;
            // What the single PATCH would have answered (its body is not sent here).
            let status = if resources::patch_answers_no_content(c, &Projection::default()) {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            };
            Done { status, id: stored.id, version: Some(stored.version) }
        }
        Method::Delete => {
            let id = id()?;
            resources::delete_resource(c, &id).await?;
            Done { status: StatusCode::NO_CONTENT, id, version: None }
        }
    })
}

/// The id a failed operation's `bulkId:` path named, when its POST created one.
fn resolved_id(request: &BulkRequest, i: usize, created: &Created) -> Option<String> {
    match &request.operations().get(i)?.path_id {
        Some(PathId::BulkId(b)) => created.get(b).map(str::to_string),
        _ => None,
    }
}

/// A failed operation, in the request's audit row: the row's status is the
/// Bulk request's (200), so each failure is listed with what its client was told.
fn note_failure(i: usize, described: &str, error: &ScimError) {
    if let Some(ctx) = crate::service::context::current() {
        let scim_type = error.scim_type.map(|t| format!(" {t}")).unwrap_or_default();
        ctx.note(format!(
            "bulk operation {} ({described}) failed: {}{scim_type}: {}",
            i + 1,
            error.status,
            error.detail
        ));
    }
}
