//! The events one write emits, built from its [`ChangeSet`] just before
//! commit and written in the same transaction (the outbox): a write that is
//! rolled back emits nothing. Pure: no statement runs here.
//!
//! Types are named by what the identity provider did (`user.*`, `group.*`)
//! and by what scimd's policy decided (`access.*`, `licence.*`). `data`
//! holds the resource as SCIM shows it (without `groups` and `members`:
//! memberships are events of their own), with `previous` on updates; access
//! events hold the workspace, role, source and the host actions due.

use crate::store::events::NewEvent;
use crate::store::{ChangeSet, HostAction, HostTrigger, Kind, LicenceOp, Op, ResourceChange};
use serde_json::{Value, json};

/// Who asked for a write, and in which request: every event of the write
/// carries it as `cause`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cause {
    /// The id the request was answered with (`x-request-id`).
    pub request_id: Option<String>,
    pub actor: ActorKind,
    /// The name of the token the request came with.
    pub actor_name: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ActorKind {
    IdentityProvider,
    Admin,
    /// The server itself (a background task, a command-line command).
    #[default]
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::IdentityProvider => "identity_provider",
            ActorKind::Admin => "admin",
            ActorKind::System => "system",
        }
    }
}

impl Cause {
    pub fn to_json(&self) -> Value {
        let mut actor = json!({"type": self.actor.as_str()});
        if let (Some(name), Some(o)) = (&self.actor_name, actor.as_object_mut()) {
            o.insert("name".into(), name.clone().into());
        }
        json!({"request_id": self.request_id, "actor": actor})
    }
}

/// Every event type, in the order the README lists them.
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "user.restored",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "access.role_granted",
    "access.role_revoked",
    "licence.assigned",
    "licence.released",
    "licence.waiting",
    "provisioning.refused",
];

fn subject_of(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "user",
        Kind::Group => "group",
    }
}

/// A new event id: time-ordered, unique across replicas.
pub(crate) fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// The events of one committed write, in the order its changes happened:
/// resources, then memberships, then roles and licences.
pub(crate) fn events_of(changes: &ChangeSet, now: &str) -> Vec<NewEvent> {
    let mut out = Vec::new();
    let event = |event_type, subject_type, subject_id: &str, data: String| NewEvent {
        id: new_event_id(),
        event_type,
        subject_type,
        subject_id: subject_id.to_string(),
        created_at: now.to_string(),
        data,
    };
    for change in changes.resources.iter().filter(|r| !r.by_membership) {
        let Some(event_type) = resource_event_type(change) else { continue };
        let actions = match (change.kind, change.op, change.active_to) {
            (Kind::User, Op::Created | Op::Restored, _) => {
                host_actions(changes, &change.id, None, HostTrigger::Created)
            }
            (Kind::User, Op::Updated, Some(false)) => host_actions(changes, &change.id, None, HostTrigger::Deactivated),
            _ => Vec::new(),
        };
        let data = resource_data(change, now, &actions);
        out.push(event(event_type, subject_of(change.kind), &change.id, data));
    }
    let deleted_groups: Vec<&str> = changes
        .resources
        .iter()
        .filter(|r| r.kind == Kind::Group && matches!(r.op, Op::Deleted | Op::SoftDeleted))
        .map(|r| r.id.as_str())
        .collect();
    for m in &changes.memberships {
        // A deleted group's members all leave with it: `group.deleted` says so once.
        if deleted_groups.contains(&m.group_id.as_str()) {
            continue;
        }
        for (event_type, ids) in [("group.member_added", &m.added), ("group.member_removed", &m.removed)] {
            for member in ids {
                let data = json!({"group": {"id": m.group_id}, "member": {"id": member}}).to_string();
                out.push(event(event_type, "group", &m.group_id, data));
            }
        }
    }
    for r in &changes.roles {
        let event_type = if r.granted { "access.role_granted" } else { "access.role_revoked" };
        let trigger = if r.granted { HostTrigger::Created } else { HostTrigger::Deactivated };
        let actions = host_actions(changes, &r.user_id, Some(&r.workspace_id), trigger);
        let data = json!({
            "user": {"id": r.user_id},
            "workspace": {"id": r.workspace_id},
            "role": {"id": r.role_id},
            "source": r.source.to_string(),
            "host_actions": actions,
        });
        out.push(event(event_type, "user", &r.user_id, data.to_string()));
    }
    for l in &changes.licences {
        let event_type = match l.op {
            LicenceOp::Assigned => "licence.assigned",
            LicenceOp::Released => "licence.released",
            LicenceOp::Waiting => "licence.waiting",
        };
        let data = json!({
            "user": {"id": l.user_id},
            "licence_type": {"id": l.licence_type_id},
            "source": l.source.to_string(),
        });
        out.push(event(event_type, "user", &l.user_id, data.to_string()));
    }
    for r in &changes.refused {
        let mut target = json!({"resourceType": r.kind.as_str()});
        if let Some(o) = target.as_object_mut() {
            if let Some(id) = &r.id {
                o.insert("id".into(), id.clone().into());
            }
            if let Some(name) = &r.name {
                o.insert(r.kind.name_attribute().into(), name.clone().into());
            }
        }
        let data = json!({"reason": r.reason, "status": r.status, "detail": r.detail, "target": target});
        // A create that was refused has no id: its subject is the name it asked for.
        let subject = r.id.as_deref().or(r.name.as_deref()).unwrap_or_default();
        out.push(event("provisioning.refused", subject_of(r.kind), subject, data.to_string()));
    }
    out
}

fn resource_event_type(change: &ResourceChange) -> Option<&'static str> {
    Some(match (change.kind, change.op) {
        (Kind::User, Op::Created) => "user.created",
        (Kind::User, Op::Updated) => match change.active_to {
            Some(false) => "user.deactivated",
            Some(true) => "user.reactivated",
            None => "user.updated",
        },
        (Kind::User, Op::SoftDeleted | Op::Deleted) => "user.deleted",
        (Kind::User, Op::Restored) => "user.restored",
        (Kind::Group, Op::Created) => "group.created",
        // A write of members only leaves the group's document alone: its member events tell it.
        (Kind::Group, Op::Updated) if change.doc.is_none() && change.previous.is_none() => return None,
        (Kind::Group, Op::Updated) => "group.updated",
        (Kind::Group, Op::SoftDeleted | Op::Deleted) => "group.deleted",
        (Kind::Group, Op::Restored) => "group.created",
    })
}

/// The host actions due for a user (in one workspace, or in all), of a trigger.
fn host_actions(changes: &ChangeSet, user_id: &str, workspace: Option<&str>, trigger: HostTrigger) -> Vec<Value> {
    changes
        .host_actions
        .iter()
        .filter(|a: &&HostAction| {
            a.user_id == user_id && a.trigger == trigger && workspace.is_none_or(|w| w == a.workspace_id)
        })
        .map(|a| json!({"workspace": {"id": a.workspace_id}, "action": a.action}))
        .collect()
}

/// The resource as SCIM shows it, spliced around its stored text (no parse):
/// `id`, `meta`, the attributes; then `previous`, `deleted` and the host
/// actions where they apply. A document too large to copy is named only.
fn resource_data(change: &ResourceChange, now: &str, actions: &[Value]) -> String {
    let mut out = String::with_capacity(change.doc.as_deref().map_or(0, str::len) + 200);
    out.push_str("{\"id\":");
    out.push_str(&Value::from(change.id.as_str()).to_string());
    let mut meta = json!({"resourceType": change.kind.as_str(), "lastModified": now});
    if let (Some(version), Some(m)) = (change.version, meta.as_object_mut()) {
        m.insert("version".into(), scim_core::etag::format(version).into());
    }
    out.push_str(",\"meta\":");
    out.push_str(&meta.to_string());
    let inner = change.doc.as_deref().and_then(|d| d.trim().strip_prefix('{')?.strip_suffix('}')).map(str::trim);
    match inner {
        Some(inner) if !inner.is_empty() => {
            out.push(',');
            out.push_str(inner);
        }
        Some(_) => {}
        None => out.push_str(",\"truncated\":true"),
    }
    if let Some(previous) = &change.previous {
        out.push_str(",\"previous\":");
        out.push_str(&previous.to_string());
    }
    if matches!(change.op, Op::SoftDeleted | Op::Deleted) {
        out.push_str(if change.op == Op::SoftDeleted { ",\"restorable\":true" } else { ",\"restorable\":false" });
    }
    if !actions.is_empty() {
        out.push_str(",\"host_actions\":");
        out.push_str(&Value::Array(actions.to_vec()).to_string());
    }
    out.push('}');
    out
}

/// The attributes `new` changed from `old` (top level), with their old
/// values; `null` for one `new` added. `None` when nothing changed.
pub(crate) fn previous_of(old: &Value, new: &Value) -> Option<Value> {
    let (Value::Object(old), Value::Object(new)) = (old, new) else { return None };
    let mut previous = serde_json::Map::new();
    for (k, v) in old {
        if new.get(k) != Some(v) {
            previous.insert(k.clone(), v.clone());
        }
    }
    for k in new.keys() {
        if !old.contains_key(k) {
            previous.insert(k.clone(), Value::Null);
        }
    }
    (!previous.is_empty()).then_some(Value::Object(previous))
}

/// The envelope a consumer sees: the row's columns around its `data` and
/// `cause` text (spliced, not parsed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn envelope(
    id: &str,
    event_type: &str,
    timestamp: &str,
    tenant: &str,
    subject_type: &str,
    subject_id: &str,
    data: &str,
    cause: &str,
) -> String {
    let s = |text: &str| Value::from(text).to_string();
    format!(
        "{{\"id\":{},\"type\":{},\"timestamp\":{},\"tenant\":{},\"subject\":{{\"type\":{},\"id\":{}}},\"data\":{data},\"cause\":{cause}}}",
        s(id),
        s(event_type),
        s(timestamp),
        s(tenant),
        s(subject_type),
        s(subject_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MembershipChange, RoleChange};
    use scim_core::policy::Source;

    fn change(kind: Kind, op: Op, doc: Option<&str>) -> ResourceChange {
        ResourceChange {
            kind,
            id: "u1".into(),
            op,
            version: Some(2),
            by_membership: false,
            doc: doc.map(Into::into),
            previous: None,
            active_to: None,
        }
    }

    #[test]
    fn a_deactivation_shows_the_user_its_previous_state_and_the_host_actions() {
        let mut c = change(Kind::User, Op::Updated, Some(r#"{"userName":"a@x","active":false}"#));
        c.previous =
            previous_of(&json!({"userName": "a@x", "active": true}), &json!({"userName": "a@x", "active": false}));
        c.active_to = Some(false);
        let changes = ChangeSet {
            tenant_id: Some(1),
            resources: vec![c],
            host_actions: vec![HostAction {
                user_id: "u1".into(),
                workspace_id: "mdm".into(),
                action: "unassign_devices".into(),
                trigger: HostTrigger::Deactivated,
            }],
            ..ChangeSet::default()
        };
        let events = events_of(&changes, "2026-12-01T00:00:00.000Z");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "user.deactivated");
        let data: Value = serde_json::from_str(&events[0].data).unwrap_or_default();
        assert_eq!(data["userName"], "a@x");
        assert_eq!(data["meta"]["version"], "W/\"2\"");
        assert_eq!(data["previous"], json!({"active": true}));
        assert_eq!(data["host_actions"][0]["action"], "unassign_devices");
    }

    #[test]
    fn a_deleted_group_emits_no_member_events_and_a_membership_write_no_group_update() {
        let mut gone = change(Kind::Group, Op::Deleted, Some(r#"{"displayName":"G"}"#));
        gone.id = "g1".into();
        let mut members_only = change(Kind::Group, Op::Updated, None);
        members_only.id = "g2".into();
        let changes = ChangeSet {
            tenant_id: Some(1),
            resources: vec![gone, members_only],
            memberships: vec![
                MembershipChange { group_id: "g1".into(), added: vec![], removed: vec!["u1".into(), "u2".into()] },
                MembershipChange { group_id: "g2".into(), added: vec!["u3".into()], removed: vec![] },
            ],
            roles: vec![RoleChange {
                user_id: "u3".into(),
                workspace_id: "w".into(),
                role_id: "r".into(),
                source: Source::Group("g2".into()),
                granted: true,
            }],
            ..ChangeSet::default()
        };
        let types: Vec<&str> = events_of(&changes, "t").iter().map(|e| e.event_type).collect();
        assert_eq!(types, ["group.deleted", "group.member_added", "access.role_granted"]);
    }

    #[test]
    fn a_document_too_large_to_copy_is_named_and_marked() {
        let c = change(Kind::User, Op::Created, None);
        let changes = ChangeSet { tenant_id: Some(1), resources: vec![c], ..ChangeSet::default() };
        let data: Value = serde_json::from_str(&events_of(&changes, "t")[0].data).unwrap_or_default();
        assert_eq!(data["id"], "u1");
        assert_eq!(data["truncated"], true);
    }

    #[test]
    fn the_envelope_is_json_with_every_field() {
        let text = envelope("evt_1", "user.created", "t", "acme", "user", "u\"1", "{}", r#"{"request_id":null}"#);
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v["subject"]["id"], "u\"1");
        assert_eq!(v["tenant"], "acme");
    }
}
