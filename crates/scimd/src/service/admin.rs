//! A tenant's provisioning configuration and manual roles, as the admin API
//! changes them: each change is validated, and every user whose access it
//! moves is reconciled in the same transaction.

use super::{Error, Refusal, Service, policy};
use crate::store::access::HeldLicence;
use crate::store::{JobFuture, Kind, WriteTx};
use scim_core::policy::{GroupMapping, RoleAssignment, Source, TenantConfig};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Users reconciled per transaction after a configuration change.
const RECONCILE_CHUNK: usize = 200;

/// Changes a configuration in place. It may run more than once (when the
/// transaction it runs in has to be run again), so it must not consume what
/// it captures.
pub(crate) type ConfigChange = Arc<dyn Fn(&mut TenantConfig) -> Result<(), Error> + Send + Sync>;

/// What re-applying the policy changes (or would change) for one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reapplied {
    pub user_id: String,
    pub granted: Vec<RoleAssignment>,
    pub revoked: Vec<RoleAssignment>,
}

/// How a configuration change is made.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConfigOptions {
    /// Switch the tenant's SCIM provisioning on or off in the same transaction.
    pub scim_enabled: Option<bool>,
    /// A seat limit lowered below the seats in use: the newest holders wait
    /// (without it, the change is refused and says how many seats are in use).
    pub force_seat_limits: bool,
}

/// A configuration as changed, with the tenant's SCIM switch.
pub struct Changed {
    pub config: TenantConfig,
    pub scim_enabled: Option<bool>,
}

impl Service {
    /// Change a tenant's configuration (and, with `scim_enabled`, switch its
    /// SCIM provisioning on or off) in one transaction.
    pub async fn change_config(
        &self,
        tenant_id: i64,
        change: ConfigChange,
        options: ConfigOptions,
    ) -> Result<Changed, Error> {
        struct Job {
            svc: Service,
            tenant_id: i64,
            change: ConfigChange,
            options: ConfigOptions,
            now: String,
        }
        type Rest = (Vec<String>, Vec<GroupMapping>);
        fn run<'t>(tx: &'t mut WriteTx, job: &'t Job) -> JobFuture<'t, (TenantConfig, Rest), Error> {
            Box::pin(async move {
                let old = tx.tenant_config(job.tenant_id, true).await?;
                // Before commit: a later write of this batch reads the new configuration.
                job.svc.forget_config(job.tenant_id);
                let mut new = old.clone();
                (job.change)(&mut new)?;
                policy::bind_mappings(tx, job.tenant_id, &old, &mut new).await?;
                new.validate().map_err(|e| Refusal::Configuration(e.0))?;
                seat_limits(tx, job.tenant_id, &old, &new, job.options.force_seat_limits, &job.now).await?;
                tx.save_tenant_config(job.tenant_id, &new).await?;
                if let Some(enabled) = job.options.scim_enabled {
                    tx.set_tenant_enabled(job.tenant_id, enabled).await?;
                }
                let mut affected: Vec<String> =
                    policy::affected_by_config(tx, job.tenant_id, &old, &new).await?.into_iter().collect();
                // A change that moves many users reconciles the first of them
                // here and the rest in later transactions, so the writer is
                // never held for longer than a batch.
                let rest = affected.split_off(affected.len().min(RECONCILE_CHUNK));
                // Members of a group given a new role give their manual roles up to it (Conveyor).
                let fresh = scim_core::policy::new_role_mappings(&old, &new);
                let first = affected.into_iter().collect();
                policy::reconcile_after_change(tx, job.tenant_id, &new, &first, &fresh, &job.now).await?;
                if rest.is_empty() {
                    // Seats added (a limit raised, a type added) go to whoever waits longest.
                    let types = new.licence_types.iter().map(|l| l.id.clone()).collect();
                    policy::hand_out_seats(tx, job.tenant_id, &new, types, &job.now, &fresh).await?;
                }
                Ok((new, (rest, fresh)))
            })
        }
        let job = Job { svc: self.clone(), tenant_id, change, options, now: self.now() };
        let done = self.write(job, run).await;
        // After commit, or after a batch that failed to commit: nothing cached meanwhile is kept.
        self.forget_config(tenant_id);
        let (config, (rest, fresh)) = done?.0;
        if !rest.is_empty() {
            self.reconcile_in_background(tenant_id, rest, fresh);
        }
        Ok(Changed { config, scim_enabled: options.scim_enabled })
    }

    /// Reconcile `users` a chunk per transaction, in a task of the service's
    /// own (awaited at shutdown, see [`Service::settle`]); its progress shows in
    /// [`Service::reconciling`].
    fn reconcile_in_background(&self, tenant_id: i64, users: Vec<String>, fresh: Vec<GroupMapping>) {
        let svc = self.clone();
        let total = users.len() + RECONCILE_CHUNK;
        svc.set_progress(tenant_id, Some((RECONCILE_CHUNK, total)));
        // The users are reconciled for the request that changed the configuration.
        let cause = super::context::cause();
        let task = tokio::spawn(super::context::with_cause(cause, async move {
            struct Chunk {
                svc: Service,
                tenant_id: i64,
                users: std::collections::BTreeSet<String>,
                fresh: Arc<Vec<GroupMapping>>,
                last: bool,
                now: String,
            }
            fn run<'t>(tx: &'t mut WriteTx, job: &'t Chunk) -> JobFuture<'t, (), Error> {
                Box::pin(async move {
                    let config = job.svc.config_for_write(tx, job.tenant_id).await?;
                    let (users, fresh) = (&job.users, job.fresh.as_slice());
                    policy::reconcile_after_change(tx, job.tenant_id, &config, users, fresh, &job.now).await?;
                    if job.last {
                        let types = config.licence_types.iter().map(|l| l.id.clone()).collect();
                        policy::hand_out_seats(tx, job.tenant_id, &config, types, &job.now, fresh).await?;
                    }
                    Ok(())
                })
            }
            let fresh = Arc::new(fresh);
            let mut done = RECONCILE_CHUNK;
            let chunks: Vec<&[String]> = users.chunks(RECONCILE_CHUNK).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let job = Chunk {
                    svc: svc.clone(),
                    tenant_id,
                    users: chunk.iter().cloned().collect(),
                    fresh: fresh.clone(),
                    last: i + 1 == chunks.len(),
                    now: svc.now(),
                };
                if let Err(e) = svc.write(job, run).await {
                    tracing::error!(tenant_id, error = %e, "reconciling users after a configuration change failed");
                    break;
                }
                done += chunk.len();
                svc.set_progress(tenant_id, Some((done, total)));
            }
            svc.set_progress(tenant_id, None);
        }));
        self.track(task);
    }

    /// Grant (`grant = true`) or withdraw a manual role; where a group maps
    /// a role in the same workspace, the policy decides which one holds.
    pub async fn set_manual_role(
        &self,
        tenant_id: i64,
        user_id: &str,
        workspace_id: &str,
        role_id: &str,
        grant: bool,
    ) -> Result<(), Error> {
        struct Job {
            svc: Service,
            tenant_id: i64,
            user_id: String,
            role: RoleAssignment,
            grant: bool,
            now: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, job: &'t Job) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                let (tenant_id, user_id) = (job.tenant_id, job.user_id.as_str());
                let config = job.svc.config_for_write(tx, tenant_id).await?;
                if config.workspace(&job.role.workspace_id).is_none() {
                    return Err(Error::NotFound(format!("workspace '{}' not found", job.role.workspace_id)));
                }
                if config.role(&job.role.role_id).is_none() {
                    return Err(Error::NotFound(format!("role '{}' not found", job.role.role_id)));
                }
                if tx.current(tenant_id, Kind::User, user_id, false).await?.is_none() {
                    return Err(Error::NotFound(format!("no user '{user_id}'")));
                }
                if !job.grant {
                    if !tx.revoke_role(tenant_id, user_id, &job.role).await? {
                        return Err(Error::NotFound(format!(
                            "user '{user_id}' holds no manual role '{}' in workspace '{}'",
                            job.role.role_id, job.role.workspace_id
                        )));
                    }
                    let user = BTreeSet::from([user_id.to_string()]);
                    return policy::reconcile(tx, tenant_id, &config, &user, &job.now).await;
                }
                tx.grant_role(tenant_id, user_id, &job.role).await?;
                policy::reconcile(tx, tenant_id, &config, &BTreeSet::from([user_id.to_string()]), &job.now).await?;
                // A grant is kept, or refused with the reason: never accepted and dropped.
                if !tx.roles_of(tenant_id, user_id).await?.contains(&job.role) {
                    let active = tx.user_facts(tenant_id, user_id).await?.is_some_and(|f| f.active);
                    let reason = if active {
                        "the tenant's policy does not keep it".to_string()
                    } else {
                        "the user is deactivated, and the policy revokes the roles of deactivated users \
                         (on_deactivate: suspend); reactivate the user in the identity provider first"
                            .to_string()
                    };
                    let role = config.role(&job.role.role_id).map_or(job.role.role_id.clone(), |r| r.name.clone());
                    return Err(Refusal::GrantWithoutEffect { user_id: user_id.to_string(), role, reason }.into());
                }
                Ok(())
            })
        }
        let role = RoleAssignment {
            workspace_id: workspace_id.to_string(),
            role_id: role_id.to_string(),
            source: Source::Manual,
        };
        let job = Job { svc: self.clone(), tenant_id, user_id: user_id.to_string(), role, grant, now: self.now() };
        self.write(job, run).await?;
        Ok(())
    }

    /// Apply the policy's creation-time choices (the default role) to every
    /// existing user, as if each were created now, and reconcile them; with
    /// `dry_run`, only list who would gain or lose which role. Each chunk of
    /// users applies the configuration as it is when that chunk runs.
    pub async fn reapply_policy(&self, tenant_id: i64, dry_run: bool) -> Result<Vec<Reapplied>, Error> {
        struct Job {
            tenant_id: i64,
            users: Vec<String>,
            dry_run: bool,
            now: String,
        }
        fn users<'t>(tx: &'t mut WriteTx, tenant_id: &'t i64) -> JobFuture<'t, Vec<String>, Error> {
            Box::pin(async move { Ok(tx.user_ids(*tenant_id).await?) })
        }
        fn run<'t>(tx: &'t mut WriteTx, job: &'t Job) -> JobFuture<'t, Vec<Reapplied>, Error> {
            Box::pin(async move {
                let tenant_id = job.tenant_id;
                let config = tx.tenant_config(tenant_id, true).await?;
                let default_roles = scim_core::policy::default_roles_for_new_user(&config);
                let mut changed = Vec::new();
                for user_id in &job.users {
                    let Some(mut facts) = tx.user_facts(tenant_id, user_id).await? else { continue };
                    let stored_defaults = std::mem::replace(&mut facts.default_roles, default_roles.clone());
                    let current = tx.roles_of(tenant_id, user_id).await?;
                    let desired = scim_core::policy::desired_roles(&config, &facts, &current);
                    let revoked: Vec<RoleAssignment> =
                        current.iter().filter(|a| !desired.contains(a)).cloned().collect();
                    let granted: Vec<RoleAssignment> =
                        desired.iter().filter(|a| !current.contains(a)).cloned().collect();
                    let moves = !granted.is_empty() || !revoked.is_empty();
                    if !job.dry_run && (moves || stored_defaults != default_roles) {
                        if stored_defaults != default_roles {
                            tx.set_default_roles(tenant_id, user_id, &default_roles).await?;
                        }
                        let user = BTreeSet::from([user_id.clone()]);
                        policy::reconcile(tx, tenant_id, &config, &user, &job.now).await?;
                    }
                    if moves {
                        changed.push(Reapplied { user_id: user_id.clone(), granted, revoked });
                    }
                }
                Ok(changed)
            })
        }
        // A chunk of users per transaction, as after a configuration change:
        // the writer is never held for the whole tenant.
        let (all, _) = self.write(tenant_id, users).await?;
        let mut changed = Vec::new();
        for chunk in all.chunks(RECONCILE_CHUNK) {
            let job = Job { tenant_id, users: chunk.to_vec(), dry_run, now: self.now() };
            changed.extend(self.write(job, run).await?.0);
        }
        Ok(changed)
    }
}

/// Seat limits a change lowers below the seats in use are refused, naming
/// the count; forced, the newest holders give their seats up and wait.
async fn seat_limits(
    tx: &mut WriteTx,
    tenant_id: i64,
    old: &TenantConfig,
    new: &TenantConfig,
    force: bool,
    now: &str,
) -> Result<(), Error> {
    for lt in &new.licence_types {
        let Some(limit) = lt.seat_limit else { continue };
        let before = old.licence_type(&lt.id).map(|o| o.seat_limit);
        if before.is_some_and(|b| b.is_some_and(|b| b <= limit)) {
            continue;
        }
        let (used, _) = tx.seat_counts(tenant_id, &lt.id, "").await?;
        if used <= limit {
            continue;
        }
        if !force {
            return Err(Refusal::SeatsInUse { licence: lt.name.clone(), used, limit }.into());
        }
        for user_id in tx.newest_holders(tenant_id, &lt.id, used - limit).await? {
            let held = tx.licence_of(tenant_id, &user_id).await?;
            let source = held.as_ref().map_or(Source::Default, |h| h.source.clone());
            let waits = HeldLicence {
                licence_type_id: None,
                wanted_type_id: Some(lt.id.clone()),
                source,
                waiting_since: Some(now.to_string()),
            };
            tx.set_licence(tenant_id, &user_id, held.as_ref(), &waits, now).await?;
        }
    }
    Ok(())
}
