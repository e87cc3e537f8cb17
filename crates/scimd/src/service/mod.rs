//! Operations: every write scimd makes — from SCIM, the admin API, the CLI,
//! and later Bulk and the console — is a function here that runs in one
//! store transaction ([`crate::store::Store::write`]) and gets back what it
//! changed. This is the only place the provisioning policy runs ([`policy`]).
//! Reads pass through here too, so surfaces never touch the store. No sqlx,
//! no HTTP: errors are one [`Error`], mapped once per surface.
//!
//! [`resources`]: users and groups (create, update, delete, restore);
//! [`admin`]: tenant configuration and manual roles; [`tenants`]: tenants,
//! tokens and admin tokens; `audit`: the audit trail's rows.

pub(crate) mod admin;
mod audit;
pub mod console;
pub(crate) mod context;
mod error;
pub(crate) mod extensions;
mod gauges;
pub mod oauth;
pub(crate) mod policy;
mod refusals;
pub(crate) mod resources;
pub mod tenants;
pub mod transfer;
pub mod webhooks;

pub use error::{Error, Refusal, taken};
pub use refusals::Target;
pub use resources::{Decide, Update};

use crate::cache::{Caches, UserCache};
use crate::clock::SharedClock;
use crate::events::Event;
use crate::store::audit::NewAudit;
use crate::store::events::NewEvent;
use crate::store::{
    Access, ChangeSet, GroupsByUser, JobFn, Kind, ListQuery, Place, RawResource, Store, StoreError, StoredResource,
    Tenant, TokenInfo, WriteTx,
};
use scim_core::policy::TenantConfig;
use scim_core::render::Member;
use scim_core::{Limits, ResourceType};
use std::collections::HashMap;
use std::sync::Arc;

/// Who asks for an operation: the rules differ (the identity provider owns
/// what it provisioned; an admin owns what was made by hand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    IdentityProvider,
    Admin,
}

impl Actor {
    /// Is what this actor writes owned by the identity provider?
    pub fn scim_managed(self) -> bool {
        self == Actor::IdentityProvider
    }
}

/// The operations, over one store, its caches and a clock.
/// The webhook sender's life, as shutdown waits on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SenderState {
    /// None was started (webhooks off, or an embedding host runs none yet).
    Absent,
    Running,
    /// Asked to stop: it finishes what is in flight.
    Stopping,
    Stopped,
}

#[derive(Clone)]
pub struct Service(Arc<Inner>);

struct Inner {
    store: Store,
    caches: Caches,
    clock: SharedClock,
    limits: Limits,
    /// What each committed write changed, for whoever listens.
    committed: tokio::sync::broadcast::Sender<Arc<ChangeSet>>,
    /// The events of each committed write, for whoever listens (a host
    /// that embeds scimd, the webhook deliverer).
    events: tokio::sync::broadcast::Sender<Arc<Event>>,
    /// Writes record events in the outbox.
    events_on: bool,
    /// Rung after every write that recorded events (the webhook sender waits on it).
    events_committed: Arc<tokio::sync::Notify>,
    /// Rung when an endpoint is made, deleted or switched on here.
    webhooks_changed: Arc<tokio::sync::Notify>,
    /// The sender serves at least one endpoint: only then is it woken per write.
    sending: std::sync::atomic::AtomicBool,
    /// Where the webhook sender is in its life (see [`SenderState`]).
    sender: tokio::sync::watch::Sender<SenderState>,
    /// Tenant names by id, for the events' envelope.
    tenant_names: std::sync::Mutex<HashMap<i64, String>>,
    webhooks: webhooks::WebhookOptions,
    /// Signs list cursors (RFC 9865): derived from the secrets key, so every
    /// replica accepts the others' cursors. `None` without a secrets key.
    cursor_key: Option<[u8; 32]>,
    event_retention: std::time::Duration,
    /// Work the service started beyond a request (reconciling many users).
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Per tenant: users reconciled so far, of how many.
    progress: std::sync::Mutex<HashMap<i64, (usize, usize)>>,
}

/// How a [`Service`] is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes of rendered users kept for reads (0: none; never on a shared store).
    pub user_cache_bytes: usize,
    pub limits: Limits,
    /// Record an event for every change (the feed and webhooks read them).
    pub events: bool,
    /// How long events are kept (the feed, and deliveries not yet made).
    pub event_retention: std::time::Duration,
    pub webhooks: webhooks::WebhookOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            user_cache_bytes: 32 << 20,
            limits: Limits::default(),
            events: true,
            event_retention: std::time::Duration::from_secs(30 * 86400),
            webhooks: webhooks::WebhookOptions::default(),
        }
    }
}

impl Service {
    pub fn new(store: Store, clock: SharedClock, options: Options) -> Service {
        let caches =
            if store.is_shared() { Caches::default() } else { Caches::for_own_store(options.user_cache_bytes) };
        let (committed, _) = tokio::sync::broadcast::channel(1024);
        let (events, _) = tokio::sync::broadcast::channel(4096);
        Service(Arc::new(Inner {
            store,
            caches,
            clock,
            limits: options.limits,
            committed,
            events,
            events_on: options.events,
            events_committed: Arc::default(),
            webhooks_changed: Arc::default(),
            sending: std::sync::atomic::AtomicBool::new(false),
            sender: tokio::sync::watch::Sender::new(SenderState::Absent),
            tenant_names: std::sync::Mutex::default(),
            cursor_key: options.webhooks.key.as_ref().and_then(|k| k.derive(b"scimd list cursors v1")),
            webhooks: options.webhooks,
            event_retention: options.event_retention,
            tasks: std::sync::Mutex::default(),
            progress: std::sync::Mutex::default(),
        }))
    }

    /// What every write committed from now on changed, as each write returns
    /// (writes of one SQLite batch commit together and may come in any order).
    /// A listener that falls more than 1,024 writes behind loses the oldest
    /// (`RecvError::Lagged`); writes never wait for listeners.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<ChangeSet>> {
        self.0.committed.subscribe()
    }

    /// The events of every write committed from now on, in the order the
    /// writes return (a host that embeds scimd listens here). A listener that
    /// falls more than 4,096 events behind loses the oldest
    /// (`RecvError::Lagged`) and reads them from the feed
    /// ([`Service::events_page`]); writes never wait for listeners.
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<Arc<Event>> {
        self.0.events.subscribe()
    }

    pub fn event_retention(&self) -> std::time::Duration {
        self.0.event_retention
    }

    /// Rung after every committed write that recorded events.
    pub fn events_committed(&self) -> Arc<tokio::sync::Notify> {
        self.0.events_committed.clone()
    }

    /// The sender says whether it serves any endpoint (with none, writes do not wake it).
    pub fn set_sending(&self, sending: bool) {
        self.0.sending.store(sending, std::sync::atomic::Ordering::Relaxed);
    }

    /// The sender started.
    pub(crate) fn sender_started(&self) -> tokio::sync::watch::Receiver<SenderState> {
        self.0.sender.send_replace(SenderState::Running);
        self.0.sender.subscribe()
    }

    /// The sender has stopped, with every answer it received recorded.
    pub(crate) fn sender_stopped(&self) {
        self.0.sender.send_replace(SenderState::Stopped);
    }

    /// Ask the webhook sender to stop (shutdown): it leases nothing more,
    /// lets the requests it has in flight finish and records their answers,
    /// then returns. Resolves once it has (at once when none runs), so the
    /// store can close after it and a restart sends nothing twice.
    pub async fn stop_sending(&self) {
        self.0.sender.send_if_modified(|s| match s {
            SenderState::Absent => {
                *s = SenderState::Stopped;
                true
            }
            SenderState::Running => {
                *s = SenderState::Stopping;
                true
            }
            _ => false,
        });
        let mut state = self.0.sender.subscribe();
        let _ = state.wait_for(|s| *s == SenderState::Stopped).await;
    }

    /// Rung when a webhook endpoint is made, deleted or switched on by this process.
    pub fn webhooks_changed(&self) -> Arc<tokio::sync::Notify> {
        self.0.webhooks_changed.clone()
    }

    /// The key list cursors are signed with; `None`: the server has no
    /// secrets key, and offers no cursor pagination.
    pub fn cursor_key(&self) -> Option<&[u8; 32]> {
        self.0.cursor_key.as_ref()
    }

    /// Do writes record events?
    pub fn events_on(&self) -> bool {
        self.0.events_on
    }

    fn track(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut tasks) = self.0.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Wait for the work the service started beyond requests (at shutdown,
    /// before the store's queued writes are drained).
    pub async fn settle(&self) {
        let tasks: Vec<_> = self.0.tasks.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn set_progress(&self, tenant_id: i64, progress: Option<(usize, usize)>) {
        if let Ok(mut p) = self.0.progress.lock() {
            match progress {
                Some(done_of) => p.insert(tenant_id, done_of),
                None => p.remove(&tenant_id),
            };
        }
    }

    /// Users reconciled so far after a configuration change, of how many; `None` when none is running.
    pub fn reconciling(&self, tenant_id: i64) -> Option<(usize, usize)> {
        self.0.progress.lock().ok()?.get(&tenant_id).copied()
    }

    pub fn now(&self) -> String {
        self.0.clock.now()
    }

    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    pub fn limits(&self) -> Limits {
        self.0.limits
    }

    pub(crate) fn store(&self) -> &Store {
        &self.0.store
    }

    /// Rendered users, where this process can keep them coherent.
    pub fn user_cache(&self) -> Option<&UserCache> {
        self.0.caches.users.as_ref()
    }

    /// Run a write job, with the events of what it changed added to the
    /// outbox in its transaction; then feed the caches, the listeners and
    /// the request's outcome from it.
    async fn write<A, T>(&self, args: A, job: JobFn<A, T, Error>) -> Result<(T, ChangeSet), Error>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        let cause = context::cause();
        let request = context::current();
        let audit = request.as_ref().and_then(|ctx| ctx.row_for_write());
        let emitting = Emitting {
            args,
            job,
            cause_text: cause.to_json().to_string(),
            now: self.now(),
            events_on: self.0.events_on,
            audit: audit.map(|row| NewAudit { token_name: cause.actor_name.clone(), ..row }),
        };
        let ((value, events, audited), changes) = self.0.store.write(emitting, run_emitting::<A, T>).await?;
        if let (Some(ctx), Some((seq, row))) = (&request, audited) {
            ctx.row_written(seq, row);
        }
        self.0.caches.apply(&changes);
        // Copied only when someone listens: a write may change 100,000 memberships.
        if self.0.committed.receiver_count() > 0 && !changes.is_empty() {
            let _ = self.0.committed.send(Arc::new(changes.clone()));
        }
        if !events.is_empty() && self.0.sending.load(std::sync::atomic::Ordering::Relaxed) {
            self.0.events_committed.notify_one();
        }
        if let Some(tenant_id) = changes.tenant_id {
            self.publish(tenant_id, &events, &cause).await;
        }
        // Put in words only for a request whose audit row keeps it.
        if let Some(ctx) = request.filter(|ctx| ctx.keeps_outcome()) {
            ctx.add_outcome(changes.summary(), events.into_iter().map(|e| e.id));
        }
        Ok((value, changes))
    }

    /// Hand committed events to the listeners.
    async fn publish(&self, tenant_id: i64, events: &[NewEvent], cause: &crate::events::Cause) {
        if events.is_empty() || self.0.events.receiver_count() == 0 {
            return;
        }
        let tenant = self.tenant_name(tenant_id).await;
        let cause = cause.to_json().to_string();
        for e in events {
            let _ = self.0.events.send(Arc::new(Event::new(e, tenant_id, &tenant, &cause)));
        }
    }

    /// A tenant's name, from a map filled on first use (tenants are never renamed).
    pub(crate) async fn tenant_name(&self, tenant_id: i64) -> String {
        if let Some(name) = self.0.tenant_names.lock().ok().and_then(|n| n.get(&tenant_id).cloned()) {
            return name;
        }
        match self.store().tenant_by_id(tenant_id).await {
            Ok(Some(tenant)) => {
                if let Ok(mut names) = self.0.tenant_names.lock() {
                    names.insert(tenant_id, tenant.name.clone());
                }
                tenant.name
            }
            Ok(None) => tenant_id.to_string(),
            Err(e) => {
                tracing::warn!(error = %e, tenant_id, "a tenant's name could not be read");
                tenant_id.to_string()
            }
        }
    }

    /// The configuration a write job applies. On SQLite it comes from the
    /// config cache (filled only here, on the writer); on PostgreSQL the row
    /// is read, and locked when a licence type has a seat limit, so that
    /// seat counts cannot race (other writes of a tenant run side by side).
    async fn config_for_write(&self, tx: &mut WriteTx, tenant_id: i64) -> Result<TenantConfig, StoreError> {
        if let Some(configs) = &self.0.caches.configs {
            if let Some(config) = configs.get(tenant_id) {
                return Ok(config);
            }
            let config = tx.tenant_config(tenant_id, false).await?;
            configs.put(tenant_id, config.clone());
            return Ok(config);
        }
        let config = tx.tenant_config(tenant_id, false).await?;
        if tx.locks_rows() && config.licence_types.iter().any(|l| l.seat_limit.is_some()) {
            return tx.tenant_config(tenant_id, true).await;
        }
        Ok(config)
    }

    fn forget_config(&self, tenant_id: i64) {
        if let Some(configs) = &self.0.caches.configs {
            configs.forget(tenant_id);
        }
    }

    // ---------------------------------------------------------------- reads

    pub async fn ping(&self) -> Result<(), Error> {
        Ok(self.store().ping().await?)
    }

    /// Database connections open, and how many are idle.
    pub fn pool_use(&self) -> (u32, usize) {
        self.store().pool_use()
    }

    /// Returns once every write queued before the call is committed.
    pub async fn drain(&self) -> Result<(), Error> {
        Ok(self.store().drain().await?)
    }

    pub async fn get(&self, tenant_id: i64, kind: Kind, id: &str) -> Result<Option<StoredResource>, Error> {
        Ok(self.store().get(tenant_id, kind, id).await?)
    }

    pub async fn list(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        rt: &ResourceType,
    ) -> Result<(i64, Vec<RawResource>), Error> {
        Ok(self.store().list(tenant_id, kind, query, rt).await?)
    }

    /// A keyset page of a list (cursor pagination; see [`Store::seek`]).
    pub async fn seek(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        from: Option<&Place>,
        backward: bool,
        rt: &ResourceType,
    ) -> Result<Vec<(Place, RawResource)>, Error> {
        Ok(self.store().seek(tenant_id, kind, query, from, backward, rt).await?)
    }

    /// How many resources a list has (see [`Store::list_total`]).
    pub async fn list_total(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        rt: &ResourceType,
    ) -> Result<i64, Error> {
        Ok(self.store().list_total(tenant_id, kind, query, rt).await?)
    }

    /// How the database runs a filtered or sorted list: the plans of its
    /// total's statement and of its page's (see [`Store::list_plan`]).
    pub async fn list_plan(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        rt: &ResourceType,
    ) -> Result<(Vec<String>, Vec<String>), Error> {
        Ok(self.store().list_plan(tenant_id, kind, query, rt).await?)
    }

    pub async fn members_of(
        &self,
        tenant_id: i64,
        group_ids: &[String],
    ) -> Result<HashMap<String, Vec<Member>>, Error> {
        Ok(self.store().members_of(tenant_id, group_ids).await?)
    }

    pub async fn groups_of(&self, tenant_id: i64, user_ids: &[String]) -> Result<GroupsByUser, Error> {
        Ok(self.store().groups_of(tenant_id, user_ids).await?)
    }

    pub async fn list_deleted_users(&self, tenant_id: i64) -> Result<Vec<StoredResource>, Error> {
        Ok(self.store().list_deleted_users(tenant_id).await?)
    }

    pub async fn users_page(
        &self,
        tenant_id: i64,
        page: &crate::store::UserPage,
    ) -> Result<Vec<(i64, StoredResource)>, Error> {
        Ok(self.store().users_page(tenant_id, page).await?)
    }

    pub async fn groups_page(
        &self,
        tenant_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<crate::store::GroupSummary>, Error> {
        Ok(self.store().groups_page(tenant_id, after, limit).await?)
    }

    pub async fn seat_usage(&self, tenant_id: i64) -> Result<HashMap<String, (i64, i64)>, Error> {
        Ok(self.store().seat_usage(tenant_id).await?)
    }

    pub async fn tenant_config(&self, tenant_id: i64) -> Result<TenantConfig, Error> {
        Ok(self.store().tenant_config(tenant_id).await?)
    }

    pub async fn access(&self, tenant_id: i64, user_id: &str) -> Result<Option<Access>, Error> {
        Ok(self.store().access(tenant_id, user_id).await?)
    }

    /// A page of a tenant's events after `after`, in commit order.
    pub async fn events_page(
        &self,
        tenant_id: i64,
        after: crate::store::events::Position,
        limit: i64,
        types: &[String],
    ) -> Result<Vec<Event>, Error> {
        let events = self.store().events_page(tenant_id, after, limit, types).await?;
        let tenant = self.tenant_name(tenant_id).await;
        Ok(events.into_iter().map(|e| Event::stored(e, &tenant)).collect())
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        Ok(self.store().list_tenants().await?)
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, Error> {
        Ok(self.store().tenant_by_name(name).await?)
    }

    /// The tenant of this name, or an error that names it.
    pub async fn tenant_named(&self, name: &str) -> Result<Tenant, Error> {
        self.tenant_by_name(name).await?.ok_or_else(|| Error::NotFound(format!("there is no tenant '{name}'")))
    }

    pub async fn tokens(&self, tenant_id: i64) -> Result<Vec<TokenInfo>, Error> {
        Ok(self.store().list_tokens(tenant_id).await?)
    }

    pub async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenInfo>, Error> {
        Ok(self.store().token_by_hash(hash).await?)
    }

    pub async fn admin_token_by_hash(&self, hash: &[u8]) -> Result<Option<crate::store::AdminToken>, Error> {
        Ok(self.store().admin_token_by_hash(hash).await?)
    }
}

/// A write job with what its events need: the job runs, then the events of
/// what it changed are added in the same transaction, just before commit.
struct Emitting<A, T> {
    args: A,
    job: JobFn<A, T, Error>,
    /// The cause every event of the write carries, as JSON text.
    cause_text: String,
    now: String,
    events_on: bool,
    /// The request's audit row, to add with what the write changed (its first write only).
    audit: Option<NewAudit>,
}

/// A job's value, its events, and the audit row it added with its `seq`.
type Emitted<T> = (T, Vec<NewEvent>, Option<(i64, NewAudit)>);

fn run_emitting<'t, A: Send + Sync, T: Send>(
    tx: &'t mut WriteTx,
    w: &'t Emitting<A, T>,
) -> crate::store::JobFuture<'t, Emitted<T>, Error> {
    Box::pin(async move {
        let value = (w.job)(tx, &w.args).await?;
        let mut events = Vec::new();
        if w.events_on
            && let Some(tenant_id) = tx.changes().tenant_id
        {
            events = crate::events::outbox::events_of(tx.changes(), &w.now);
            if !events.is_empty() {
                tx.append_events(tenant_id, &events, &w.cause_text).await?;
            }
        }
        // The row commits with the write: an acknowledged write always has it.
        let mut audited = None;
        if let (Some(draft), Some(tenant_id)) = (&w.audit, tx.changes().tenant_id) {
            // What the write changed, then what the request noted before it (attributes it ignored).
            let mut summary = tx.changes().summary();
            summary.extend(draft.summary.iter().cloned());
            let outcome = context::Outcome { summary, event_ids: events.iter().map(|e| e.id.clone()).collect() };
            let (summary, event_ids) = crate::audit::kept_outcome(outcome);
            let created = || {
                let c = tx
                    .changes()
                    .resources
                    .iter()
                    .find(|r| matches!(r.op, crate::store::Op::Created | crate::store::Op::Restored));
                c.map(|r| r.id.clone())
            };
            let row = NewAudit {
                tenant_id: Some(tenant_id),
                target_id: draft.target_id.clone().or_else(created),
                summary,
                event_ids,
                ..draft.clone()
            };
            let seq = tx.insert_audit_row(&row).await?;
            audited = Some((seq, row));
        }
        Ok((value, events, audited))
    })
}
