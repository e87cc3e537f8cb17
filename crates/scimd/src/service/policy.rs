//! The provisioning policy, applied inside a write's transaction: scim-core's
//! pure rules (`scim_core::policy`) decide what each user should hold from
//! the facts read here, and the difference is written. Seats are counted
//! under the configuration's lock, so concurrent writes never oversubscribe
//! a licence type. Also here: the e-mail domain rule, and who a change to a
//! group or to the configuration affects.

use super::{Error, Refusal};
use crate::store::WriteTx;
use crate::store::access::HeldLicence;
use scim_core::policy::{self, SeatsExhausted, TenantConfig};
use serde_json::Value;
use std::collections::BTreeSet;

/// What a write does with a user who finds no seat for the licence it wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seats {
    /// It waits for one (keeping a licence it is still entitled to). Group
    /// removals, deactivations and reactivations are never refused.
    Wait,
    /// A user being created: under `seats_exhausted: reject` the write is refused.
    RefuseWhenFull,
}

/// Bring the roles and licences of `user_ids` in line with the policy;
/// seats freed on the way go to the users who waited longest.
pub(crate) async fn reconcile(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_ids: &BTreeSet<String>,
    now: &str,
) -> Result<(), Error> {
    reconcile_with(tx, tenant_id, config, user_ids, now, Seats::Wait).await
}

pub(crate) async fn reconcile_with(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_ids: &BTreeSet<String>,
    now: &str,
    seats: Seats,
) -> Result<(), Error> {
    reconcile_users(tx, tenant_id, config, user_ids, now, seats, &[]).await
}

/// [`reconcile`] for users a configuration change moves: where one of
/// `new_mappings` ([`policy::new_role_mappings`]) now gives a user its group
/// role in a workspace, the role replaces the user's manual non-protected
/// roles there (Conveyor).
pub(crate) async fn reconcile_after_change(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_ids: &BTreeSet<String>,
    new_mappings: &[policy::GroupMapping],
    now: &str,
) -> Result<(), Error> {
    reconcile_users(tx, tenant_id, config, user_ids, now, Seats::Wait, new_mappings).await
}

/// Each user's roles and licence, then the seats freed on the way.
async fn reconcile_users(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_ids: &BTreeSet<String>,
    now: &str,
    seats: Seats,
    new_mappings: &[policy::GroupMapping],
) -> Result<(), Error> {
    let mut freed = Vec::new();
    for user_id in user_ids {
        freed.extend(reconcile_user(tx, tenant_id, config, user_id, now, seats, new_mappings).await?);
    }
    hand_out_seats(tx, tenant_id, config, freed, now, new_mappings).await
}

/// One user's roles and licence; answers the licence type whose seat it gave up.
async fn reconcile_user(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_id: &str,
    now: &str,
    seats: Seats,
    new_mappings: &[policy::GroupMapping],
) -> Result<Option<String>, Error> {
    let Some(facts) = tx.user_facts(tenant_id, user_id).await? else {
        return forget_user(tx, tenant_id, user_id).await;
    };
    let current = tx.roles_of(tenant_id, user_id).await?;
    let desired = policy::desired_roles_after_change(config, &facts, &current, new_mappings);
    for gone in current.iter().filter(|a| !desired.contains(a)) {
        tx.revoke_role(tenant_id, user_id, gone).await?;
    }
    for new in desired.iter().filter(|a| !current.contains(a)) {
        tx.grant_role(tenant_id, user_id, new).await?;
    }
    reconcile_licence(tx, tenant_id, config, user_id, &facts, now, seats).await
}

/// A user gone for good loses every role and its licence; answers the
/// licence type whose seat it gave up (for the caller to pass on).
pub(crate) async fn forget_user(tx: &mut WriteTx, tenant_id: i64, user_id: &str) -> Result<Option<String>, Error> {
    Ok(tx.forget_access(tenant_id, user_id).await?)
}

/// The licence a user should hold, given the seats: it gets the one it wants
/// when a seat is free and nobody waits longer for one; otherwise it waits,
/// keeping a licence it is still entitled to. Answers the licence type whose
/// seat it gave up.
async fn reconcile_licence(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_id: &str,
    facts: &policy::UserFacts,
    now: &str,
    seats: Seats,
) -> Result<Option<String>, Error> {
    let held = tx.licence_of(tenant_id, user_id).await?;
    let held_type = held.as_ref().and_then(|h| h.licence_type_id.clone());
    let Some((wanted, source)) = policy::desired_licence(config, facts) else {
        if held.is_some() {
            tx.release_licence(tenant_id, user_id).await?;
        }
        return Ok(held_type);
    };
    if held_type.as_deref() == Some(wanted.as_str()) {
        let same = HeldLicence { licence_type_id: Some(wanted), wanted_type_id: None, source, waiting_since: None };
        tx.set_licence(tenant_id, user_id, held.as_ref(), &same, now).await?;
        return Ok(None);
    }
    // Validation keeps mappings to existing licence types; a stored configuration that breaks it is a fault.
    let lt = config.licence_type(&wanted).ok_or_else(|| {
        Error::Internal(format!("the configuration names licence type '{wanted}', which does not exist"))
    })?;
    let already_waiting = held.as_ref().is_some_and(|h| h.wanted_type_id.as_deref() == Some(wanted.as_str()));
    let has_seat = match lt.seat_limit {
        None => true,
        Some(limit) => {
            let (used, waiting) = tx.seat_counts(tenant_id, &wanted, user_id).await?;
            // Seats owed to users who waited longer go to them first.
            if already_waiting {
                used < limit && tx.longest_waiting(tenant_id, &wanted).await?.as_deref() == Some(user_id)
            } else {
                limit - used > waiting
            }
        }
    };
    if has_seat {
        let got = HeldLicence { licence_type_id: Some(wanted), wanted_type_id: None, source, waiting_since: None };
        tx.set_licence(tenant_id, user_id, held.as_ref(), &got, now).await?;
        return Ok(held_type);
    }
    if held_type.is_none() && seats == Seats::RefuseWhenFull && config.policy.seats_exhausted == SeatsExhausted::Reject
    {
        return Err(Refusal::NoSeats { licence: lt.name.clone(), limit: lt.seat_limit.unwrap_or_default() }.into());
    }
    let keep = held_type.clone().filter(|t| policy::entitled_licences(config, facts).contains(t));
    let waiting_since = match (&held, already_waiting) {
        (Some(h), true) => h.waiting_since.clone(),
        _ => Some(now.to_string()),
    };
    let source = match (&keep, &held) {
        (Some(_), Some(h)) => h.source.clone(),
        _ => source,
    };
    let row = HeldLicence { licence_type_id: keep.clone(), wanted_type_id: Some(wanted), source, waiting_since };
    tx.set_licence(tenant_id, user_id, held.as_ref(), &row, now).await?;
    Ok(held_type.filter(|t| keep.as_ref() != Some(t)))
}

/// Seats of these licence types were given up (or added): each free seat
/// goes to the user who has waited longest for one, in this transaction.
pub(crate) async fn give_freed_seats(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    freed: Vec<String>,
    now: &str,
) -> Result<(), Error> {
    hand_out_seats(tx, tenant_id, config, freed, now, &[]).await
}

/// [`give_freed_seats`]; a waiter seated on the way is reconciled with the
/// change's `new_mappings`, as if its turn in the change had come.
pub(crate) async fn hand_out_seats(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    mut freed: Vec<String>,
    now: &str,
    new_mappings: &[policy::GroupMapping],
) -> Result<(), Error> {
    freed.dedup();
    // Each round seats one user or stops; a seat handed on frees at most one other.
    let mut rounds = 0usize;
    while let Some(licence_type_id) = freed.pop() {
        // Nobody waits for an unlimited type: its seats are never short.
        let Some(limit) = config.licence_type(&licence_type_id).and_then(|lt| lt.seat_limit) else { continue };
        loop {
            rounds += 1;
            if rounds > 100_000 {
                return Err(Error::Internal("handing out freed seats did not settle".into()));
            }
            let (used, waiting) = tx.seat_counts(tenant_id, &licence_type_id, "").await?;
            if used >= limit || waiting == 0 {
                break;
            }
            let Some(waiter) = tx.longest_waiting(tenant_id, &licence_type_id).await? else { break };
            let handed_on = reconcile_user(tx, tenant_id, config, &waiter, now, Seats::Wait, new_mappings).await?;
            let still_waiting = tx
                .licence_of(tenant_id, &waiter)
                .await?
                .is_some_and(|h| h.wanted_type_id.as_deref() == Some(licence_type_id.as_str()));
            if still_waiting {
                break;
            }
            freed.extend(handed_on);
        }
    }
    Ok(())
}

/// A user the identity provider may not provision: its userName or an
/// e-mail is outside the tenant's allowed domains.
pub(crate) fn domain_refusal(config: &TenantConfig, user: &Value) -> Option<Refusal> {
    let mut addresses: Vec<&str> = user
        .get("emails")
        .and_then(Value::as_array)
        .map(|emails| emails.iter().filter_map(|e| e.get("value").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    if let Some(user_name) = user.get("userName").and_then(Value::as_str) {
        addresses.push(user_name);
    }
    policy::disallowed_domain(&config.policy, addresses).map(|domain| Refusal::DomainNotAllowed { domain })
}

/// Is this user invisible to the identity provider? Users made by hand whose
/// userName is an address outside the tenant's allowed domains are (external
/// users are managed in the product, so an import never matches and takes
/// them over); a hand-made user inside them is matched and taken over by the
/// identity provider's first write.
pub(crate) fn hidden_from_scim(allowed_domains: &[String], scim_managed: bool, user_name: Option<&str>) -> bool {
    if scim_managed || allowed_domains.is_empty() {
        return false;
    }
    let domain = user_name.and_then(|n| n.rsplit_once('@')).map(|(_, d)| d);
    domain.is_some_and(|d| !allowed_domains.iter().any(|a| a.eq_ignore_ascii_case(d)))
}

/// Every user whose access a configuration change may move: all users
/// when roles, licence types or what the policy does to existing users
/// (deactivation, running out of seats) changed; otherwise the members of
/// the groups whose mappings changed. The choices made at creation (the
/// default role, `on_create`, the domains, the ceiling) move nobody: an admin
/// re-applies them explicitly ([`super::Service::reapply_policy`]).
pub(crate) async fn affected_by_config(
    tx: &mut WriteTx,
    tenant_id: i64,
    old: &TenantConfig,
    new: &TenantConfig,
) -> Result<BTreeSet<String>, Error> {
    let (o, n) = (&old.policy, &new.policy);
    let policy_moved = o.on_deactivate != n.on_deactivate || o.seats_exhausted != n.seats_exhausted;
    if policy_moved || old.roles != new.roles || old.licence_types != new.licence_types {
        return Ok(tx.user_ids(tenant_id).await?.into_iter().collect());
    }
    let changed: Vec<&policy::GroupMapping> = old
        .mappings
        .iter()
        .filter(|m| !new.mappings.contains(m))
        .chain(new.mappings.iter().filter(|m| !old.mappings.contains(m)))
        .collect();
    let mut users = BTreeSet::new();
    if changed.is_empty() {
        return Ok(users);
    }
    let probe = TenantConfig { mappings: changed.into_iter().cloned().collect(), ..TenantConfig::default() };
    for (id, display) in tx.group_names(tenant_id).await? {
        if probe.maps_group(&id, &display) {
            users.extend(tx.member_ids(tenant_id, &id).await?);
        }
    }
    Ok(users)
}

/// Mappings made by a group's name bind to the group's id once a group of
/// that name exists, so a rename keeps them. For the mappings a change adds
/// or alters: an existing group's id stays; a name that one group has
/// becomes its id; a name no group has waits for one ([`bind_to_new_group`]);
/// a name two groups have is refused.
pub(crate) async fn bind_mappings(
    tx: &mut WriteTx,
    tenant_id: i64,
    old: &TenantConfig,
    new: &mut TenantConfig,
) -> Result<(), Error> {
    for m in new.mappings.iter_mut().filter(|m| !old.mappings.contains(m)) {
        let found = tx.groups_by_id_or_name(tenant_id, &m.group).await?;
        match found.as_slice() {
            _ if found.contains(&m.group) => {}
            [] => {}
            [id] => m.group = id.clone(),
            _ => return Err(Refusal::AmbiguousGroup { name: m.group.clone(), count: found.len() }.into()),
        }
    }
    Ok(())
}

/// A group was created or renamed to `name`: mappings waiting for that name
/// bind to its id. Answers the configuration to apply, and whether it changed
/// (and was written).
pub(crate) async fn bind_to_new_group(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    group_id: &str,
    name: &str,
) -> Result<Option<TenantConfig>, Error> {
    let waiting = |m: &policy::GroupMapping| m.group != group_id && m.group.eq_ignore_ascii_case(name);
    if name.is_empty() || !config.mappings.iter().any(waiting) {
        return Ok(None);
    }
    // Read again under the row's lock: an admin's change may be committing beside this write.
    let mut bound = tx.tenant_config(tenant_id, true).await?;
    for m in bound.mappings.iter_mut().filter(|m| waiting(m)) {
        m.group = group_id.to_string();
    }
    tx.save_tenant_config(tenant_id, &bound).await?;
    Ok(Some(bound))
}
