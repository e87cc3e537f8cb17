//! Users and groups: create, update (SCIM PUT and PATCH, the admin API's
//! PATCH), delete and restore, each one transaction that also applies the
//! provisioning policy to whoever it affects. What a request asks for is
//! computed before the transaction (parsing, validation, patching, the
//! document's text) and, for large work, off the async workers; the job
//! itself only runs statements and the policy's small decisions.

use super::{Actor, Error, Refusal, Service, Target, policy};
use crate::store::members::PRECHECK_MEMBERS_ABOVE;
use crate::store::{
    Doc, HostAction, HostTrigger, JobFuture, Kind, LARGE_BYTES, NewResource, SHOWN_DOC_BYTES, StoreError,
    StoredResource, WriteTx,
};
use scim_core::patch::MemberChange;
use scim_core::policy::TenantConfig;
use scim_core::render::Member;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What an update writes, decided from the resource as read.
#[derive(Clone, Debug)]
pub struct Update {
    /// The new document; `None` keeps the stored one (a PATCH of members only).
    pub doc: Option<Doc>,
    pub member_changes: Vec<MemberChange>,
    /// The version the update was computed from: if the resource has moved
    /// on, the update is decided again. `None`: it does not depend on the
    /// current document (concurrent membership changes of one group all apply).
    pub based_on: Option<i64>,
}

/// Decides an update from the resource as read. It is called again when the
/// resource moved on before the write, so it must not consume what it captures.
pub type Decide = Arc<dyn Fn(&StoredResource) -> Result<Update, Error> + Send + Sync>;

/// How often an update is decided again when its resource keeps moving on.
const MAX_UPDATE_TRIES: usize = 16;

struct CreateJob {
    svc: Service,
    tenant_id: i64,
    actor: Actor,
    new: Arc<NewResource>,
}

#[derive(Clone)]
struct UpdateJob {
    svc: Service,
    tenant_id: i64,
    actor: Actor,
    kind: Kind,
    id: String,
    update: Arc<Update>,
    now: String,
    /// The identity provider moves a user's userName or e-mails: the domain rule applies.
    check_domain: bool,
    /// For the events: the attributes the update changes, with their old values.
    previous: Option<Value>,
    /// The write switches a user's `active` to this (a deactivation makes
    /// its workspaces' host actions due).
    active_to: Option<bool>,
    /// The whole update is this one write (not a chunk of a large member
    /// change): when it changes nothing, its own audit row says so.
    alone: bool,
}

struct DeleteJob {
    svc: Service,
    tenant_id: i64,
    actor: Actor,
    kind: Kind,
    id: String,
    if_match: Option<String>,
    now: String,
}

fn what(kind: Kind, id: &str) -> String {
    format!("{} '{id}'", kind.as_str())
}

impl Service {
    /// Create a user or group. A user created again under the userName of a
    /// soft-deleted user brings that user back, with its id.
    pub async fn create(&self, tenant_id: i64, actor: Actor, new: NewResource) -> Result<StoredResource, Error> {
        let name = new.doc.value.get(new.kind.name_attribute()).and_then(Value::as_str).map(str::to_string);
        let target = Target { kind: new.kind, id: None, name };
        let mut result = self.create_unreported(tenant_id, actor, new).await;
        if let (Err(e), Some(name)) = (&mut result, &target.name) {
            self.name_the_clash(tenant_id, actor, name, e).await;
        }
        self.reporting_refusal(actor, tenant_id, target, result).await
    }

    /// A userName taken: say by whom (its id), so that the admin reading the
    /// identity provider's error or the audit row can find that user. Only
    /// a user the actor may see is named.
    async fn name_the_clash(&self, tenant_id: i64, actor: Actor, user_name: &str, e: &mut Error) {
        let Error::Taken { rule: crate::store::Unique::UserName, detail } = e else { return };
        let Ok(Some(holder)) = self.store().user_by_name(tenant_id, user_name).await else { return };
        if actor == Actor::IdentityProvider {
            let allowed = match self.tenant_config(tenant_id).await {
                Ok(c) => c.policy.allowed_domains,
                Err(_) => return,
            };
            if policy::hidden_from_scim(&allowed, holder.scim_managed, Some(user_name)) {
                return;
            }
        }
        *detail = format!(
            "another User in this tenant (id '{}') already has the userName '{user_name}' (userName is unique, ignoring case)",
            holder.id
        );
    }

    async fn create_unreported(
        &self,
        tenant_id: i64,
        actor: Actor,
        mut new: NewResource,
    ) -> Result<StoredResource, Error> {
        if new.members.len() > PRECHECK_MEMBERS_ABOVE {
            let ids: Vec<&str> = new.members.iter().map(|m| m.value.as_str()).collect();
            let visible_in = self.visible_in(tenant_id, actor).await?;
            let live = self.store().live_ids(tenant_id, &new.id, &ids, &visible_in).await?;
            new.members.retain(|m| live.contains(&m.value));
        }
        let new = Arc::new(new);
        let job = CreateJob { svc: self.clone(), tenant_id, actor, new: new.clone() };
        let (mut stored, _) = self.write(job, |tx, job| Box::pin(create_in(tx, job))).await?;
        // The job is gone: the document moves into the answer without a copy.
        stored.doc = Arc::try_unwrap(new).map(|n| n.doc.value).unwrap_or_else(|n| n.doc.value.clone());
        Ok(stored)
    }

    /// Read a resource, decide its update from what was read (on a blocking
    /// thread when `off_thread`, the request being large, or when the stored
    /// document is: the work is that size), and write it with a version
    /// check, deciding again if the resource changed in between. The
    /// decision never runs inside the transaction, so a large PATCH holds no
    /// lock and no writer while it computes.
    pub async fn update(
        &self,
        tenant_id: i64,
        actor: Actor,
        kind: Kind,
        id: &str,
        off_thread: bool,
        decide: Decide,
    ) -> Result<StoredResource, Error> {
        let result = self.update_unreported(tenant_id, actor, kind, id, off_thread, decide).await;
        self.reporting_refusal(actor, tenant_id, Target { kind, id: Some(id.to_string()), name: None }, result).await
    }

    async fn update_unreported(
        &self,
        tenant_id: i64,
        actor: Actor,
        kind: Kind,
        id: &str,
        off_thread: bool,
        decide: Decide,
    ) -> Result<StoredResource, Error> {
        for _ in 0..MAX_UPDATE_TRIES {
            let current = self.get(tenant_id, kind, id).await?.ok_or_else(|| Error::not_found(what(kind, id)))?;
            if actor == Actor::Admin && current.scim_managed {
                return Err(Refusal::ScimManaged { user_id: id.to_string(), action: "change" }.into());
            }
            let (update, current) = if off_thread || current.stored_bytes > LARGE_BYTES {
                let decide = decide.clone();
                tokio::task::spawn_blocking(move || (decide(&current), current))
                    .await
                    .map_err(|e| Error::Internal(format!("an update could not be computed: {e}")))?
            } else {
                (decide(&current), current)
            };
            let mut update = self.with_live_members(tenant_id, actor, id, update?).await?;
            // A document that comes out as stored is no change (an identical PUT, a PATCH of
            // the values held, a password, which is never kept): only members may still move.
            if update.doc.as_ref().is_some_and(|doc| doc.value == current.doc)
                && current.scim_managed == actor.scim_managed()
            {
                update.doc = None;
            }
            // A large membership change is written a chunk a transaction (see MEMBER_CHUNK).
            let later_chunks = split_off_later_chunks(&mut update.member_changes);
            let check_domain = actor == Actor::IdentityProvider
                && kind == Kind::User
                && update.doc.as_ref().is_some_and(|doc| moves_addresses(&current.doc, &doc.value));
            let is_active = |doc: &Value| doc.get("active").and_then(Value::as_bool).unwrap_or(true);
            let active_to = match &update.doc {
                Some(doc) if kind == Kind::User && is_active(&current.doc) != is_active(&doc.value) => {
                    Some(is_active(&doc.value))
                }
                _ => None,
            };
            // Only for documents an event shows (it names a larger one).
            let previous = match &update.doc {
                Some(doc) if self.events_on() && doc.text.len() <= SHOWN_DOC_BYTES => {
                    crate::events::outbox::previous_of(&current.doc, &doc.value)
                }
                _ => None,
            };
            let update = Arc::new(update);
            let now = self.now();
            let job = UpdateJob {
                svc: self.clone(),
                tenant_id,
                actor,
                kind,
                id: id.to_string(),
                update: update.clone(),
                now: now.clone(),
                check_domain,
                previous,
                active_to,
                alone: later_chunks.is_empty(),
            };
            let chunked = !later_chunks.is_empty();
            // Only a chunked change needs the job again (its previous values may be a whole document).
            let template = (!later_chunks.is_empty()).then(|| job.clone());
            let (mut version, mut changed) = match self.write(job, |tx, job| Box::pin(update_in(tx, job))).await {
                Err(Error::Contended(_)) => continue,
                Err(mut e) => {
                    // A rename onto a taken userName: say whose it is, as a create does.
                    let user_name = update.doc.as_ref().and_then(|d| d.value.get("userName")).and_then(Value::as_str);
                    if let Some(user_name) = user_name {
                        self.name_the_clash(tenant_id, actor, user_name, &mut e).await;
                    }
                    return Err(e);
                }
                Ok((written, _)) => written.map_or((current.version, false), |v| (v, true)),
            };
            for (chunk, template) in later_chunks.into_iter().zip(std::iter::repeat(template).flatten()) {
                let members_only = Update { doc: None, member_changes: chunk, based_on: None };
                let job = UpdateJob {
                    update: Arc::new(members_only),
                    check_domain: false,
                    previous: None,
                    active_to: None,
                    ..template
                };
                if let Some(v) = self.write(job, |tx, job| Box::pin(update_in(tx, job))).await?.0 {
                    (version, changed) = (v, true);
                }
            }
            // A write alone said so itself, in its audit row (see `update_in`).
            if !changed
                && chunked
                && let Some(ctx) = super::context::current().filter(|ctx| ctx.keeps_outcome())
            {
                let passwords = if kind == Kind::User { " (passwords are never stored)" } else { "" };
                let line = format!(
                    "{} {id} unchanged: nothing the request sent differs from what is stored{passwords}",
                    kind.as_str().to_lowercase()
                );
                ctx.add_outcome(vec![line], std::iter::empty());
            }
            let update = Arc::try_unwrap(update).unwrap_or_else(|shared| (*shared).clone());
            return Ok(StoredResource {
                stored_bytes: update.doc.as_ref().map_or(current.stored_bytes, |d| d.text.len()),
                kind,
                doc: update.doc.map(|d| d.value).unwrap_or(current.doc),
                id: current.id,
                version,
                created_at: current.created_at,
                // Nothing changed: the resource keeps its version, ETag and lastModified.
                updated_at: if changed { now } else { current.updated_at },
                scim_managed: actor.scim_managed(),
                groups: current.groups,
            });
        }
        Err(Error::Contended(format!(
            "the {} changed {MAX_UPDATE_TRIES} times while this request was applied; send it again",
            kind.as_str()
        )))
    }

    /// The allowed domains outside which hand-made users are invisible to
    /// this actor, for a check of many members before the write (read on the
    /// pool; the write checks again under its own configuration).
    async fn visible_in(&self, tenant_id: i64, actor: Actor) -> Result<Vec<String>, Error> {
        if actor != Actor::IdentityProvider {
            return Ok(Vec::new());
        }
        Ok(self.tenant_config(tenant_id).await?.policy.allowed_domains)
    }

    /// An update whose added members name only live resources: a group
    /// cannot hold itself, and long lists are narrowed on the pool before the write.
    async fn with_live_members(
        &self,
        tenant_id: i64,
        actor: Actor,
        group_id: &str,
        mut update: Update,
    ) -> Result<Update, Error> {
        for change in &mut update.member_changes {
            let (MemberChange::Add(values) | MemberChange::Replace(values)) = change else { continue };
            let value_of = |v: &Value| v.get("value").and_then(Value::as_str).map(str::to_string);
            if values.iter().any(|v| value_of(v).as_deref() == Some(group_id)) {
                return Err(scim_core::ScimError::invalid_value(format!(
                    "group '{group_id}' cannot be a member of itself"
                ))
                .into());
            }
            if values.len() > PRECHECK_MEMBERS_ABOVE {
                let ids: Vec<String> = values.iter().filter_map(value_of).collect();
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                let visible_in = self.visible_in(tenant_id, actor).await?;
                let live = self.store().live_ids(tenant_id, group_id, &refs, &visible_in).await?;
                values.retain(|v| value_of(v).is_some_and(|id| live.contains(&id)));
            }
        }
        Ok(update)
    }

    /// Delete a user or group (a user softly when the tenant keeps deleted
    /// users), after checking `If-Match` against the version it deletes.
    pub async fn delete(
        &self,
        tenant_id: i64,
        actor: Actor,
        kind: Kind,
        id: &str,
        if_match: Option<String>,
    ) -> Result<(), Error> {
        let job =
            DeleteJob { svc: self.clone(), tenant_id, actor, kind, id: id.to_string(), if_match, now: self.now() };
        let result = self.write(job, |tx, job| Box::pin(delete_in(tx, job))).await.map(|_| ());
        self.reporting_refusal(actor, tenant_id, Target { kind, id: Some(id.to_string()), name: None }, result).await
    }

    /// Bring back a soft-deleted user, with the memberships the identity
    /// provider left alone meanwhile and the access its groups give it.
    pub async fn restore_user(&self, tenant_id: i64, id: &str) -> Result<StoredResource, Error> {
        struct RestoreJob {
            svc: Service,
            tenant_id: i64,
            id: String,
            now: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, job: &'t RestoreJob) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                let config = job.svc.config_for_write(tx, job.tenant_id).await?;
                if !tx.restore_user(job.tenant_id, &job.id, &job.now).await? {
                    return Err(Error::NotFound(format!("there is no deleted user '{}'", job.id)));
                }
                tx.restore_memberships(job.tenant_id, &job.id, &job.now).await?;
                policy::reconcile(tx, job.tenant_id, &config, &BTreeSet::from([job.id.clone()]), &job.now).await
            })
        }
        let job = RestoreJob { svc: self.clone(), tenant_id, id: id.to_string(), now: self.now() };
        self.write(job, run).await?;
        // Read after commit, on the pool: the writer parses no documents.
        self.get(tenant_id, Kind::User, id).await?.ok_or_else(|| Error::not_found(what(Kind::User, id)))
    }
}

/// Member values one transaction of an update writes at most. On SQLite
/// every write waits for the one writer, so a group PATCH or PUT that moves
/// 10,000 members (events, versions and access for each) would hold every
/// other tenant's small write behind it; in chunks, the writer serves those
/// between two chunks. Chunks after the first carry no version check, as
/// any membership change: each is one of the changes the request asked for
/// (a crash between two leaves the first ones applied, and the identity
/// provider's retry of an add or remove applies the rest).
pub(crate) const MEMBER_CHUNK: usize = 250;

/// Keep the first chunk's member changes in `changes`; answer the later chunks.
fn split_off_later_chunks(changes: &mut Vec<MemberChange>) -> Vec<Vec<MemberChange>> {
    let weight = |c: &MemberChange| match c {
        MemberChange::Add(v) | MemberChange::Replace(v) => v.len().max(1),
        MemberChange::Remove(ids) => ids.len().max(1),
        MemberChange::RemoveWhere(_) | MemberChange::RemoveAll => 1,
    };
    if changes.iter().map(weight).sum::<usize>() <= MEMBER_CHUNK {
        return Vec::new();
    }
    // No piece is larger than a chunk. A replace is an emptying and then
    // additions: only its first piece replaces, the rest are added after it.
    let mut pieces = Vec::new();
    for change in std::mem::take(changes) {
        match change {
            MemberChange::Replace(values) if values.len() > MEMBER_CHUNK => {
                let mut parts = values.chunks(MEMBER_CHUNK).map(<[_]>::to_vec);
                pieces.push(MemberChange::Replace(parts.next().unwrap_or_default()));
                pieces.extend(parts.map(MemberChange::Add));
            }
            MemberChange::Add(values) if values.len() > MEMBER_CHUNK => {
                pieces.extend(values.chunks(MEMBER_CHUNK).map(|p| MemberChange::Add(p.to_vec())));
            }
            MemberChange::Remove(ids) if ids.len() > MEMBER_CHUNK => {
                pieces.extend(ids.chunks(MEMBER_CHUNK).map(|p| MemberChange::Remove(p.to_vec())));
            }
            other => pieces.push(other),
        }
    }
    // Consecutive pieces share a chunk while they fit, in order.
    let mut chunks: Vec<Vec<MemberChange>> = Vec::new();
    let mut room = 0;
    for piece in pieces {
        let w = weight(&piece);
        match chunks.last_mut() {
            Some(chunk) if w <= room => chunk.push(piece),
            _ => chunks.push(vec![piece]),
        }
        room = if w <= room { room - w } else { MEMBER_CHUNK - w };
    }
    let mut chunks = chunks.into_iter();
    *changes = chunks.next().unwrap_or_default();
    chunks.collect()
}

/// Values of extension attributes declared unique must not be another live
/// resource's (409 `uniqueness`, naming the holder).
async fn unique_extension_values(
    tx: &mut WriteTx,
    config: &scim_core::policy::TenantConfig,
    tenant_id: i64,
    kind: Kind,
    id: &str,
    doc: &Value,
) -> Result<(), Error> {
    if config.extensions.is_empty() {
        return Ok(());
    }
    let extends = match kind {
        Kind::User => scim_core::extension::Extends::User,
        Kind::Group => scim_core::extension::Extends::Group,
    };
    for (urn, attr, value) in scim_core::extension::unique_values(&config.extensions, extends, doc) {
        if let Some(holder) = tx.extension_value_holder(tenant_id, kind, id, urn, attr, value).await? {
            let detail = format!(
                "another {} in this tenant (id '{holder}') already has {value} in '{urn}:{}', which is unique{}",
                kind.as_str(),
                attr.name,
                if attr.kind == scim_core::schema::AttrType::String && !attr.case_exact {
                    " (ignoring case)"
                } else {
                    ""
                }
            );
            return Err(Error::Taken { rule: crate::store::Unique::ExtensionValue, detail });
        }
    }
    Ok(())
}

async fn create_in(tx: &mut WriteTx, job: &CreateJob) -> Result<StoredResource, Error> {
    let (new, tenant_id) = (&*job.new, job.tenant_id);
    let config = job.svc.config_for_write(tx, tenant_id).await?;
    if new.kind == Kind::User
        && job.actor == Actor::IdentityProvider
        && let Some(refusal) = policy::domain_refusal(&config, &new.doc.value)
    {
        return Err(refusal.into());
    }
    unique_extension_values(tx, &config, tenant_id, new.kind, &new.id, &new.doc.value).await?;
    // A user keeps the default role of the policy it was created under.
    let default_roles =
        if new.kind == Kind::User { scim_core::policy::default_roles_for_new_user(&config) } else { Vec::new() };
    let mut added = Vec::new();
    let visible_in: &[String] = if job.actor == Actor::IdentityProvider { &config.policy.allowed_domains } else { &[] };
    let stored = if tx.insert_resource(tenant_id, new, &default_roles).await? {
        added = tx.add_members(tenant_id, &new.id, &new.members, visible_in).await?;
        tx.touch(tenant_id, Kind::User, &added, &new.now).await?;
        StoredResource {
            kind: new.kind,
            id: new.id.clone(),
            doc: Value::Null, // the caller attaches the document it wrote
            stored_bytes: new.doc.text.len(),
            version: 1,
            created_at: new.now.clone(),
            updated_at: new.now.clone(),
            scim_managed: new.scim_managed,
            groups: (new.kind == Kind::User).then(Vec::new),
        }
    } else {
        let Some((id, created_at, version)) = tx.restore_by_user_name(tenant_id, new, &default_roles).await? else {
            let user_name = new.doc.value.get("userName").and_then(Value::as_str);
            let rule = crate::store::Unique::UserName;
            return Err(Error::Taken { rule, detail: super::taken(rule, user_name) });
        };
        // The groups the identity provider left it in come back with it.
        tx.restore_memberships(tenant_id, &id, &new.now).await?;
        StoredResource {
            kind: Kind::User,
            id,
            doc: Value::Null,
            stored_bytes: new.doc.text.len(),
            version,
            created_at,
            updated_at: new.now.clone(),
            scim_managed: new.scim_managed,
            groups: None, // read with the answer: the memberships that came back
        }
    };
    let mut config = config;
    if new.kind == Kind::Group {
        let name = new.doc.value.get("displayName").and_then(Value::as_str).unwrap_or_default();
        if let Some(bound) = policy::bind_to_new_group(tx, tenant_id, &config, &stored.id, name).await? {
            job.svc.forget_config(tenant_id);
            config = bound;
        }
    }
    if !config.is_empty() {
        let affected: BTreeSet<String> = match new.kind {
            Kind::User => BTreeSet::from([stored.id.clone()]),
            Kind::Group => {
                let name = new.doc.value.get("displayName").and_then(Value::as_str).unwrap_or_default();
                if config.maps_group(&stored.id, name) { added.into_iter().collect() } else { BTreeSet::new() }
            }
        };
        // A user being created may be refused for want of seats; members of a new group wait.
        let seats = if new.kind == Kind::User { policy::Seats::RefuseWhenFull } else { policy::Seats::Wait };
        policy::reconcile_with(tx, tenant_id, &config, &affected, &new.now, seats).await?;
    }
    if new.kind == Kind::User {
        record_host_actions(tx, tenant_id, &config, &stored.id, HostTrigger::Created);
    }
    Ok(stored)
}

/// Answers the resource's new version, or `None` when the write changed
/// nothing (no document, no member moved, no take-over): then it is not
/// written, keeps its version and emits no event.
async fn update_in(tx: &mut WriteTx, job: &UpdateJob) -> Result<Option<i64>, Error> {
    let (tenant_id, kind, id, update) = (job.tenant_id, job.kind, job.id.as_str(), &*job.update);
    let config = job.svc.config_for_write(tx, tenant_id).await?;
    // Only a group's name matters here (mappings may match it); a user's
    // document is not read in the transaction.
    let current =
        tx.current(tenant_id, kind, id, kind == Kind::Group).await?.ok_or_else(|| Error::not_found(what(kind, id)))?;
    if update.based_on.is_some_and(|based_on| based_on != current.version) {
        return Err(StoreError::VersionMoved.into());
    }
    // Checked again under the row's lock: the identity provider may have taken the user over.
    if job.actor == Actor::Admin && current.scim_managed {
        return Err(Refusal::ScimManaged { user_id: id.to_string(), action: "change" }.into());
    }
    let allowed = &config.policy.allowed_domains;
    if job.actor == Actor::IdentityProvider
        && policy::hidden_from_scim(allowed, current.scim_managed, current.user_name.as_deref())
    {
        return Err(Error::not_found(what(kind, id)));
    }
    if job.check_domain
        && let Some(refusal) = update.doc.as_ref().and_then(|doc| policy::domain_refusal(&config, &doc.value))
    {
        return Err(refusal.into());
    }
    if let Some(doc) = &update.doc {
        unique_extension_values(tx, &config, tenant_id, kind, id, &doc.value).await?;
    }
    let old_display = current.display_name.clone().unwrap_or_default();
    let new_display = match &update.doc {
        Some(doc) => doc.value.get("displayName").and_then(Value::as_str).unwrap_or_default().to_string(),
        None => old_display.clone(),
    };
    let visible_in: &[String] = if job.actor == Actor::IdentityProvider { allowed } else { &[] };
    let (moved, restyled) =
        tx.apply_member_changes(tenant_id, id, &update.member_changes, &job.now, visible_in).await?;
    if update.doc.is_none() && moved.is_empty() && !restyled && current.scim_managed == job.actor.scim_managed() {
        if job.alone {
            tx.record_unchanged(tenant_id, kind, id);
        }
        return Ok(None);
    }
    let version = tx.write_resource(&current, update.doc.as_ref(), &job.now, job.actor.scim_managed()).await.map_err(
        |e| match e {
            StoreError::Unique(rule) => Error::Taken { rule, detail: super::taken(rule, None) },
            other => other.into(),
        },
    )?;
    tx.describe_update(kind, id, job.previous.clone(), job.active_to);
    let mut config = config;
    if kind == Kind::Group
        && new_display != old_display
        && let Some(bound) = policy::bind_to_new_group(tx, tenant_id, &config, id, &new_display).await?
    {
        job.svc.forget_config(tenant_id);
        config = bound;
    }
    if config.is_empty() {
        return Ok(Some(version));
    }
    let mut affected = BTreeSet::new();
    match kind {
        Kind::User => {
            affected.insert(id.to_string());
        }
        // Whose access may this change move? Those who joined or left, and
        // on a rename (mappings may match by name) every member.
        Kind::Group if config.maps_group(id, &old_display) || config.maps_group(id, &new_display) => {
            affected.extend(moved);
            if old_display != new_display {
                affected.extend(tx.member_ids(tenant_id, id).await?);
            }
        }
        Kind::Group => {}
    }
    policy::reconcile(tx, tenant_id, &config, &affected, &job.now).await?;
    if job.active_to == Some(false) {
        record_host_actions(tx, tenant_id, &config, id, HostTrigger::Deactivated);
    }
    Ok(Some(version))
}

async fn delete_in(tx: &mut WriteTx, job: &DeleteJob) -> Result<(), Error> {
    let (tenant_id, kind, id) = (job.tenant_id, job.kind, job.id.as_str());
    let config = job.svc.config_for_write(tx, tenant_id).await?;
    let current =
        tx.current(tenant_id, kind, id, kind == Kind::Group).await?.ok_or_else(|| Error::not_found(what(kind, id)))?;
    if job.actor == Actor::Admin && current.scim_managed {
        return Err(Refusal::ScimManaged { user_id: id.to_string(), action: "deprovision" }.into());
    }
    let allowed = &config.policy.allowed_domains;
    if job.actor == Actor::IdentityProvider
        && policy::hidden_from_scim(allowed, current.scim_managed, current.user_name.as_deref())
    {
        return Err(Error::not_found(what(kind, id)));
    }
    scim_core::etag::check_if_match(job.if_match.as_deref(), current.version)?;
    let soft = kind == Kind::User && config.policy.on_delete == scim_core::policy::OnDelete::Soft;
    tx.delete_resource(&current, soft, &job.now).await?;
    let former_members = tx.drop_memberships(tenant_id, kind, id, soft, &job.now).await?;
    let mut affected = BTreeSet::new();
    match kind {
        Kind::Group => {
            if config.maps_group(id, current.display_name.as_deref().unwrap_or_default()) {
                affected.extend(former_members);
            }
        }
        Kind::User if soft => {
            affected.insert(id.to_string());
        }
        Kind::User => {
            // Gone for good: its seat goes to whoever waited longest for one.
            let freed = policy::forget_user(tx, tenant_id, id).await?;
            policy::give_freed_seats(tx, tenant_id, &config, freed.into_iter().collect(), &job.now).await?;
        }
    }
    if !affected.is_empty() {
        policy::reconcile(tx, tenant_id, &config, &affected, &job.now).await?;
    }
    Ok(())
}

/// The host actions a user's creation or deactivation makes due, recorded with the change.
fn record_host_actions(tx: &mut WriteTx, tenant_id: i64, config: &TenantConfig, user_id: &str, trigger: HostTrigger) {
    for (workspace_id, action) in scim_core::policy::host_actions(config, trigger == HostTrigger::Deactivated) {
        let action = HostAction { user_id: user_id.to_string(), workspace_id, action, trigger };
        tx.record_host_action(tenant_id, action);
    }
}

/// Does a new document change what the domain rule looks at (the userName
/// or the e-mails)? A write that leaves them alone is not refused for them,
/// so an identity provider can still deactivate a user made before the rule.
fn moves_addresses(old: &Value, new: &Value) -> bool {
    ["userName", "emails"].iter().any(|k| old.get(k) != new.get(k))
}

/// Split a prepared group document into the document and its member rows.
pub(crate) fn take_members(doc: &mut Value) -> Vec<Member> {
    match doc.as_object_mut().and_then(|o| o.remove("members")) {
        Some(Value::Array(items)) => items.iter().filter_map(Member::from_json).collect(),
        _ => Vec::new(),
    }
}
