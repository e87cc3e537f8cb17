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

/// Bring the roles and licences of `user_ids` in line with the policy.
pub async fn reconcile(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_ids: &BTreeSet<String>,
) -> Result<(), Error> {
    for user_id in user_ids {
        let Some(facts) = tx.user_facts(tenant_id, user_id).await? else {
            tx.forget_access(tenant_id, user_id).await?;
            continue;
        };
        let current = tx.roles_of(tenant_id, user_id).await?;
        let desired = policy::desired_roles(config, &facts, &current);
        for gone in current.iter().filter(|a| !desired.contains(a)) {
            tx.revoke_role(tenant_id, user_id, gone).await?;
        }
        for new in desired.iter().filter(|a| !current.contains(a)) {
            tx.grant_role(tenant_id, user_id, new).await?;
        }
        reconcile_licence(tx, tenant_id, config, user_id, &facts).await?;
    }
    Ok(())
}

async fn reconcile_licence(
    tx: &mut WriteTx,
    tenant_id: i64,
    config: &TenantConfig,
    user_id: &str,
    facts: &policy::UserFacts,
) -> Result<(), Error> {
    let held = tx.licence_of(tenant_id, user_id).await?;
    let Some((wanted, source)) = policy::desired_licence(config, facts) else {
        if held.is_some() {
            tx.release_licence(tenant_id, user_id).await?;
        }
        return Ok(());
    };
    if let Some(h) = &held
        && h.licence_type_id.as_deref() == Some(wanted.as_str())
    {
        let same = HeldLicence { source, ..h.clone() };
        return Ok(tx.set_licence(tenant_id, user_id, held.as_ref(), &same).await?);
    }
    // Validation keeps mappings to existing licence types; a stored configuration that breaks it is a fault.
    let lt = config.licence_type(&wanted).ok_or_else(|| {
        Error::Internal(format!("the configuration names licence type '{wanted}', which does not exist"))
    })?;
    let has_seat = match lt.seat_limit {
        None => true,
        Some(limit) => tx.seats_used(tenant_id, &wanted, user_id).await? < limit,
    };
    let licence = match (has_seat, config.policy.seats_exhausted) {
        (true, _) => HeldLicence { licence_type_id: Some(wanted), wanted_type_id: None, source },
        (false, SeatsExhausted::CreateUnlicensed) => {
            HeldLicence { licence_type_id: None, wanted_type_id: Some(wanted), source }
        }
        (false, SeatsExhausted::Reject) => {
            return Err(Refusal::NoSeats { licence: lt.name.clone(), limit: lt.seat_limit.unwrap_or_default() }.into());
        }
    };
    Ok(tx.set_licence(tenant_id, user_id, held.as_ref(), &licence).await?)
}

/// A user the identity provider may not provision: its userName or an
/// e-mail is outside the tenant's allowed domains.
pub fn domain_refusal(config: &TenantConfig, user: &Value) -> Option<Refusal> {
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

/// Every user whose access a configuration change may move: all users
/// when roles, licence types or what the policy does to existing users
/// (deactivation, running out of seats) changed; otherwise the members of
/// the groups whose mappings changed. The choices made at creation (the
/// default role, `on_create`, the domains, the ceiling) move nobody: an admin
/// re-applies them explicitly ([`super::Service::reapply_policy`]).
pub async fn affected_by_config(
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
pub async fn bind_mappings(
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
pub async fn bind_to_new_group(
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
