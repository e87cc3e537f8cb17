//! The typed record of what one write changed, kept by the transaction as
//! its statements run and handed back with the write's result. Caches are
//! fed from it after commit; the event outbox is written from it just
//! before commit (`crate::events::outbox`). A write that fails leaves no record.

use super::Kind;
use scim_core::policy::Source;
use serde_json::Value;
use std::sync::Arc;

/// Documents longer than this are not copied into the record: an event
/// names such a resource instead of showing it (payloads stay small).
pub const SHOWN_DOC_BYTES: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Created,
    Updated,
    /// Kept for restore (the tenant deletes softly).
    SoftDeleted,
    Deleted,
    /// A soft-deleted user came back (restored, or created again under its userName).
    Restored,
}

/// A resource whose representation changed, and its version after the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    pub kind: Kind,
    pub id: String,
    pub op: Op,
    /// `None` for a resource that is gone.
    pub version: Option<i64>,
    /// Its version moved only because a membership changed (a user's
    /// `groups`, a group's `members`), not because it was written.
    pub by_membership: bool,
    /// The stored document after the write (before it, for a delete), when
    /// it is at most [`SHOWN_DOC_BYTES`] long.
    pub doc: Option<Arc<str>>,
    /// An update: the attributes it changed, with their values before it
    /// (`null` for an attribute it added).
    pub previous: Option<Value>,
    /// An update that switched a user's `active` to this.
    pub active_to: Option<bool>,
}

/// Members who joined or left one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipChange {
    pub group_id: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleChange {
    pub user_id: String,
    pub workspace_id: String,
    pub role_id: String,
    pub source: Source,
    pub granted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LicenceOp {
    /// The user holds this licence type (newly, or from another source).
    Assigned,
    /// The user no longer holds it.
    Released,
    /// The user wants it but its seats ran out.
    Waiting,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenceChange {
    pub user_id: String,
    pub licence_type_id: String,
    pub source: Source,
    pub op: LicenceOp,
}

/// When a host action is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostTrigger {
    Created,
    Deactivated,
}

/// An action the product performs itself, due because of this write (a
/// workspace's `host_actions`); delivered to the product with the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAction {
    pub user_id: String,
    pub workspace_id: String,
    pub action: String,
    pub trigger: HostTrigger,
}

/// A request the policy refused, recorded so that the product hears of it
/// (the refused write itself changed nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedRequest {
    pub kind: Kind,
    /// The resource's id; `None` for a create (it was never given one).
    pub id: Option<String>,
    /// Its userName or displayName, when the request carried it.
    pub name: Option<String>,
    /// `no_seats`, `domain_not_allowed`, `tenant_disabled`.
    pub reason: String,
    pub status: u16,
    /// What the client was told.
    pub detail: String,
}

/// Everything one write changed, in the order it happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// The tenant whose data changed; `None` for server-wide rows (tenants, admin tokens).
    pub tenant_id: Option<i64>,
    pub resources: Vec<ResourceChange>,
    pub memberships: Vec<MembershipChange>,
    pub roles: Vec<RoleChange>,
    pub licences: Vec<LicenceChange>,
    pub host_actions: Vec<HostAction>,
    pub refused: Vec<RefusedRequest>,
    /// Resources a write found as the request wanted them: nothing was
    /// written (no statement, no event); the audit row says so.
    pub unchanged: Vec<(Kind, String)>,
    /// The tenant's provisioning configuration was rewritten.
    pub config_changed: bool,
    /// A tenant was created, renamed, switched on or off.
    pub tenants_changed: bool,
    /// A token was created or revoked.
    pub tokens_changed: bool,
    /// Where the resources this write created sit in stored order (their
    /// `seq`): an unfiltered list's roster grows by them instead of being
    /// counted again (see `store::sqlite::Rosters`).
    pub appended: Vec<(Kind, i64)>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        *self == ChangeSet { tenant_id: self.tenant_id, ..ChangeSet::default() }
    }

    pub(super) fn tenant(&mut self, tenant_id: i64) {
        self.tenant_id = Some(tenant_id);
    }

    pub(super) fn resource(&mut self, kind: Kind, id: &str, op: Op, version: Option<i64>, doc: Option<&str>) {
        self.resources.push(ResourceChange {
            kind,
            id: id.to_string(),
            op,
            version,
            by_membership: false,
            doc: doc.filter(|d| d.len() <= SHOWN_DOC_BYTES).map(Arc::from),
            previous: None,
            active_to: None,
        });
    }

    /// What the update of `id` just recorded changed: the old values, and a switch of `active`.
    pub(super) fn describe_update(&mut self, kind: Kind, id: &str, previous: Option<Value>, active_to: Option<bool>) {
        if let Some(change) = self.resources.iter_mut().rev().find(|r| r.kind == kind && r.id == id && !r.by_membership)
        {
            change.previous = previous;
            change.active_to = active_to;
        }
    }

    /// Resources whose version moved because a membership changed.
    pub(super) fn touched(&mut self, kind: Kind, ids: &[String]) {
        for id in ids {
            self.resources.push(ResourceChange {
                kind,
                id: id.clone(),
                op: Op::Updated,
                version: None,
                by_membership: true,
                doc: None,
                previous: None,
                active_to: None,
            });
        }
    }

    pub(super) fn members(&mut self, group_id: &str, added: &[String], removed: &[String]) {
        if added.is_empty() && removed.is_empty() {
            return;
        }
        match self.memberships.iter_mut().find(|m| m.group_id == group_id) {
            Some(m) => {
                m.added.extend_from_slice(added);
                m.removed.extend_from_slice(removed);
            }
            None => self.memberships.push(MembershipChange {
                group_id: group_id.to_string(),
                added: added.to_vec(),
                removed: removed.to_vec(),
            }),
        }
    }

    /// Did a resource of `kind` come or go (what moves list positions)?
    pub fn created_or_deleted(&self, kind: Kind) -> bool {
        self.resources.iter().any(|r| r.kind == kind && !matches!(r.op, Op::Updated))
    }

    /// Did any group change (its members' `groups` may show it)?
    pub fn any_group(&self) -> bool {
        !self.memberships.is_empty() || self.resources.iter().any(|r| r.kind == Kind::Group)
    }

    /// Ids of users whose representation or access changed.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        let resources = self.resources.iter().filter(|r| r.kind == Kind::User).map(|r| r.id.as_str());
        let roles = self.roles.iter().map(|r| r.user_id.as_str());
        let licences = self.licences.iter().map(|l| l.user_id.as_str());
        resources.chain(roles).chain(licences)
    }

    /// What changed, in plain words, for an audit row: a line per resource,
    /// and counts where one write moves many (a group's members, roles).
    pub fn summary(&self) -> Vec<String> {
        const LISTED: usize = 10;
        let mut out = Vec::new();
        let shown: Vec<&ResourceChange> = self.resources.iter().filter(|r| !r.by_membership).collect();
        for r in shown.iter().take(LISTED) {
            let what = match (r.op, r.active_to) {
                (Op::Created, _) => "created",
                (Op::Updated, Some(false)) => "deactivated",
                (Op::Updated, Some(true)) => "reactivated",
                (Op::Updated, None) => "updated",
                (Op::SoftDeleted, _) => "deleted (kept for restore)",
                (Op::Deleted, _) => "deleted",
                (Op::Restored, _) => "restored",
            };
            out.push(format!("{} {} {what}", r.kind.as_str().to_lowercase(), r.id));
        }
        for (kind, id) in &self.unchanged {
            let passwords = if *kind == Kind::User { " (passwords are never stored)" } else { "" };
            out.push(format!(
                "{} {id} unchanged: nothing the request sent differs from what is stored{passwords}",
                kind.as_str().to_lowercase()
            ));
        }
        if shown.len() > LISTED {
            out.push(format!("{} more resources written", shown.len() - LISTED));
        }
        for m in &self.memberships {
            out.push(format!("group {}: {} members added, {} removed", m.group_id, m.added.len(), m.removed.len()));
        }
        if self.roles.len() <= LISTED {
            for r in &self.roles {
                let verb = if r.granted { "granted to" } else { "revoked from" };
                out.push(format!(
                    "role {} in workspace {} {verb} user {} ({})",
                    r.role_id, r.workspace_id, r.user_id, r.source
                ));
            }
        } else {
            let granted = self.roles.iter().filter(|r| r.granted).count();
            out.push(format!("{granted} roles granted, {} revoked", self.roles.len() - granted));
        }
        if self.licences.len() <= LISTED {
            for l in &self.licences {
                let what = match l.op {
                    LicenceOp::Assigned => "assigned to",
                    LicenceOp::Released => "released by",
                    LicenceOp::Waiting => "waited for by",
                };
                out.push(format!("licence {} {what} user {}", l.licence_type_id, l.user_id));
            }
        } else {
            out.push(format!("{} licence changes", self.licences.len()));
        }
        if self.config_changed {
            out.push("provisioning configuration changed".to_string());
        }
        for r in &self.refused {
            out.push(format!("refused ({}): {}", r.reason, r.detail));
        }
        out
    }
}
