//! Provisioning policy as plain functions: a tenant's configuration
//! (workspaces, roles, licence types, group mappings, lifecycle rules) and
//! the facts about one user go in; the roles and licence the user should
//! hold come out. The server loads the facts and writes the decisions in the
//! transaction of the SCIM write that triggered them.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    /// This workspace's own choices; what it leaves out, the tenant's policy decides.
    #[serde(default, skip_serializing_if = "Lifecycle::is_empty")]
    pub lifecycle: Lifecycle,
}

/// A workspace's own lifecycle choices (Applivery: each kind of user its
/// own). A field left out takes the tenant's choice; `default_role_id` is the
/// role a new user gets here when `on_create` is `grant_default`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifecycle {
    pub on_create: Option<OnCreate>,
    pub default_role_id: Option<String>,
    pub max_default_rank: Option<i64>,
    pub on_deactivate: Option<OnDeactivate>,
    /// Actions the product performs itself, recorded with the change that calls for them.
    pub host_actions: HostActions,
}

/// Named actions the product performs itself (`unassign_devices`,
/// `change_device_policy`, `remove_devices`, …): scimd does not know what
/// they do, it records when they are due.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostActions {
    /// Due when a user is created.
    pub on_create: Vec<String>,
    /// Due when a user is deactivated.
    pub on_deactivate: Vec<String>,
}

impl TenantConfig {
    /// What keeps the workspace `id` in use, in words that name it, or
    /// `None` when it can go.
    pub fn workspace_in_use(&self, id: &str) -> Option<String> {
        if self.policy.default_workspace_id.as_deref() == Some(id) {
            return Some("it is the policy's default workspace: choose another default first".into());
        }
        self.mappings.iter().find(|m| m.workspace_id.as_deref() == Some(id)).map(|m| {
            format!("the mapping of group '{}' grants a role in it: change or delete that mapping first", m.group)
        })
    }

    /// What keeps the role `id` in use, in words that name it, or `None`.
    pub fn role_in_use(&self, id: &str) -> Option<String> {
        if self.policy.default_role_id.as_deref() == Some(id) {
            return Some("it is the policy's default role: choose another default first".into());
        }
        if let Some(w) = self.workspaces.iter().find(|w| w.lifecycle.default_role_id.as_deref() == Some(id)) {
            return Some(format!("it is the default role of workspace '{}': change that workspace first", w.name));
        }
        self.mappings.iter().find(|m| m.role_id.as_deref() == Some(id)).map(|m| {
            let ws = m.workspace_id.as_deref().and_then(|w| self.workspace(w)).map_or("?", |w| w.name.as_str());
            format!(
                "the mapping of group '{}' grants it in workspace '{ws}': change or delete that mapping first",
                m.group
            )
        })
    }
}

impl Lifecycle {
    pub fn is_empty(&self) -> bool {
        *self == Lifecycle::default()
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    /// Least privileged first: a higher rank wins when several groups map roles
    /// in one workspace.
    pub rank: i64,
    /// SCIM may grant it (as the default role or through a group mapping).
    pub provisionable: bool,
    /// SCIM never removes it (e.g. "Billing Admin").
    pub protected: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceType {
    pub id: String,
    pub name: String,
    /// `None`: unlimited seats.
    pub seat_limit: Option<i64>,
    pub is_default: bool,
}

/// A SCIM group (by id or displayName) mapped to a role in a workspace
/// and/or a licence type.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMapping {
    pub id: String,
    /// The group's id, or its displayName (compared ignoring case).
    pub group: String,
    pub workspace_id: Option<String>,
    pub role_id: Option<String>,
    pub licence_type_id: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCreate {
    /// The default role in the default workspace.
    GrantDefault,
    /// Stored with no role until a group mapping or an admin grants one.
    #[default]
    NoAccess,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeactivate {
    /// Revoke roles (except protected ones) and release the seat; keep the
    /// record. Reactivation recomputes them from the mappings.
    #[default]
    Suspend,
    /// The user is inactive and keeps its roles and seat: the product decides
    /// what an inactive user may do.
    None,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// Everything about the user is gone.
    #[default]
    Hard,
    /// SCIM sees 404; the admin API can list and restore the user.
    Soft,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatsExhausted {
    /// Fail the SCIM request; nothing is written.
    #[default]
    Reject,
    /// Create or keep the user without a licence, and say so in `/access`.
    CreateUnlicensed,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub on_create: OnCreate,
    pub default_role_id: Option<String>,
    pub default_workspace_id: Option<String>,
    pub on_deactivate: OnDeactivate,
    pub on_delete: OnDelete,
    /// The highest rank the default role may have (Conveyor: new users only
    /// get the lowest roles); `None`: no ceiling.
    pub max_default_rank: Option<i64>,
    /// E-mail domains SCIM may create users in; empty: any.
    pub allowed_domains: Vec<String>,
    pub seats_exhausted: SeatsExhausted,
    /// This tenant's own request rate; `None`: the server's default.
    pub rate_limit: Option<RateLimit>,
    /// What a SCIM write naming attributes no schema defines gets.
    pub unknown_attributes: UnknownAttributes,
}

/// What happens to attributes of a create, replace or PATCH that no schema
/// of the tenant defines (unregistered extensions among them).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownAttributes {
    /// The request succeeds without them; its audit row names them.
    #[default]
    Ignore,
    /// The request is refused (400) naming them.
    Reject,
}

/// Requests a second a tenant's identity provider may send, and how many at once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// 0: unlimited.
    pub requests_per_second: u32,
    pub burst: u32,
}

/// A tenant's whole provisioning configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantConfig {
    pub workspaces: Vec<Workspace>,
    pub roles: Vec<Role>,
    pub licence_types: Vec<LicenceType>,
    pub mappings: Vec<GroupMapping>,
    pub policy: Policy,
    /// Extension schemas of the tenant's Users and Groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<crate::extension::TenantExtension>,
}

/// Why a user holds a role or licence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Default,
    Group(String),
    Manual,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Group(id) => write!(f, "group:{id}"),
            Source::Manual => f.write_str("manual"),
        }
    }
}

impl Source {
    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "default" => Some(Source::Default),
            "manual" => Some(Source::Manual),
            _ => text.strip_prefix("group:").map(|g| Source::Group(g.to_string())),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleAssignment {
    pub workspace_id: String,
    pub role_id: String,
    pub source: Source,
}

/// What the policy needs to know about one user.
#[derive(Clone, Debug, Default)]
pub struct UserFacts {
    /// Active and not soft-deleted.
    pub active: bool,
    /// Soft-deleted (and so not active either).
    pub deleted: bool,
    /// The default roles given when the user was created: (workspace id, role id).
    pub default_roles: Vec<(String, String)>,
    /// The groups the user is a member of: (id, displayName).
    pub groups: Vec<(String, String)>,
}

/// A configuration that cannot work, refused with a clear reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl TenantConfig {
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }
    pub fn workspace(&self, id: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == id)
    }
    pub fn licence_type(&self, id: &str) -> Option<&LicenceType> {
        self.licence_types.iter().find(|l| l.id == id)
    }

    /// Does any mapping refer to this group (by id or displayName)?
    pub fn maps_group(&self, id: &str, display_name: &str) -> bool {
        self.mappings.iter().any(|m| mapping_matches(m, id, display_name))
    }

    /// Is any provisioning configured at all? Without it, SCIM writes need no policy work.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.licence_types.is_empty() && self.mappings.is_empty()
    }

    /// Check that the configuration can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        let mut seen = HashSet::new();
        for w in &self.workspaces {
            if !seen.insert(("workspace", w.name.to_lowercase())) {
                return err(format!("there are two workspaces named '{}'", w.name));
            }
        }
        for r in &self.roles {
            if !seen.insert(("role", r.name.to_lowercase())) {
                return err(format!("there are two roles named '{}'", r.name));
            }
        }
        for l in &self.licence_types {
            if !seen.insert(("licence", l.name.to_lowercase())) {
                return err(format!("there are two licence types named '{}'", l.name));
            }
            if l.seat_limit.is_some_and(|n| n < 0) {
                return err(format!("licence type '{}' has a negative seat limit", l.name));
            }
        }
        if self.licence_types.iter().filter(|l| l.is_default).count() > 1 {
            return err("only one licence type can be the default".into());
        }
        for w in &self.workspaces {
            let l = &w.lifecycle;
            if let Some(role) = &l.default_role_id {
                let max = l.max_default_rank.or(self.policy.max_default_rank);
                match self.role(role) {
                    None => return err(format!("workspace '{}' names an unknown default role '{role}'", w.name)),
                    Some(r) if !r.provisionable => {
                        return err(format!(
                            "the default role '{}' of workspace '{}' is not provisionable: SCIM may not grant it",
                            r.name, w.name
                        ));
                    }
                    Some(r) if max.is_some_and(|max| r.rank > max) => {
                        return err(format!(
                            "the default role '{}' of workspace '{}' has rank {}, above max_default_rank {}",
                            r.name,
                            w.name,
                            r.rank,
                            max.unwrap_or_default()
                        ));
                    }
                    _ => {}
                }
            }
            if l.on_create == Some(OnCreate::GrantDefault)
                && l.default_role_id.is_none()
                && self.policy.default_workspace_id.as_deref() != Some(w.id.as_str())
            {
                return err(format!("workspace '{}' grants a default role on create but names none", w.name));
            }
            let actions = l.host_actions.on_create.iter().chain(&l.host_actions.on_deactivate);
            if let Some(bad) = actions.into_iter().find(|a| a.is_empty() || a.contains(char::is_whitespace)) {
                return err(format!(
                    "'{bad}' is not a host action name (workspace '{}'): use a word such as unassign_devices",
                    w.name
                ));
            }
        }
        let p = &self.policy;
        if let Some(ws) = &p.default_workspace_id
            && self.workspace(ws).is_none()
        {
            return err(format!("the default workspace '{ws}' does not exist"));
        }
        if let Some(role) = &p.default_role_id {
            match self.role(role) {
                None => return err(format!("the default role '{role}' does not exist")),
                Some(r) if !r.provisionable => {
                    return err(format!("the default role '{}' is not provisionable: SCIM may not grant it", r.name));
                }
                Some(r) if p.max_default_rank.is_some_and(|max| r.rank > max) => {
                    return err(format!(
                        "the default role '{}' has rank {}, above the policy's max_default_rank {}: new users may \
                         get at most a role of rank {}",
                        r.name,
                        r.rank,
                        p.max_default_rank.unwrap_or_default(),
                        p.max_default_rank.unwrap_or_default()
                    ));
                }
                _ => {}
            }
        }
        if p.on_create == OnCreate::GrantDefault && (p.default_role_id.is_none() || p.default_workspace_id.is_none()) {
            return err("on_create 'grant_default' needs a default_role and a default_workspace".into());
        }
        for d in &p.allowed_domains {
            if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
                return err(format!("'{d}' is not an e-mail domain"));
            }
        }
        for m in &self.mappings {
            if m.group.trim().is_empty() {
                return err("a group mapping needs a group (its id or displayName)".into());
            }
            if m.role_id.is_none() && m.licence_type_id.is_none() {
                return err(format!("the mapping of group '{}' grants neither a role nor a licence type", m.group));
            }
            match (&m.workspace_id, &m.role_id) {
                (Some(ws), _) if self.workspace(ws).is_none() => {
                    return err(format!("the mapping of group '{}' names an unknown workspace '{ws}'", m.group));
                }
                (None, Some(_)) => {
                    return err(format!("the mapping of group '{}' grants a role but names no workspace", m.group));
                }
                _ => {}
            }
            if let Some(role) = &m.role_id {
                match self.role(role) {
                    None => return err(format!("the mapping of group '{}' names an unknown role '{role}'", m.group)),
                    Some(r) if !r.provisionable => {
                        return err(format!(
                            "the mapping of group '{}' grants role '{}', which is not provisionable",
                            m.group, r.name
                        ));
                    }
                    _ => {}
                }
            }
            if let Some(l) = &m.licence_type_id
                && self.licence_type(l).is_none()
            {
                return err(format!("the mapping of group '{}' names an unknown licence type '{l}'", m.group));
            }
        }
        if self.extensions.len() > crate::extension::MAX_EXTENSIONS {
            return err(format!("a tenant may hold at most {} extension schemas", crate::extension::MAX_EXTENSIONS));
        }
        let mut urns = HashSet::new();
        for e in &self.extensions {
            if !urns.insert(e.schema.id.to_ascii_lowercase()) {
                return err(format!("there are two extension schemas '{}'", e.schema.id));
            }
        }
        Ok(())
    }
}

fn mapping_matches(m: &GroupMapping, group_id: &str, display_name: &str) -> bool {
    m.group == group_id || m.group.to_lowercase() == display_name.to_lowercase()
}

/// Does the user lose what it holds? Deleted users do; inactive ones do
/// unless the policy leaves them as they are (`on_deactivate: none`).
fn suspended(config: &TenantConfig, user: &UserFacts) -> bool {
    !user.active && (user.deleted || config.policy.on_deactivate == OnDeactivate::Suspend)
}

fn in_group<'a>(m: &GroupMapping, user: &'a UserFacts) -> Option<&'a str> {
    user.groups.iter().find(|(id, name)| mapping_matches(m, id, name)).map(|(id, _)| id.as_str())
}

/// The roles a user should hold.
///
/// - Protected roles are never removed.
/// - An inactive user keeps only protected roles in each workspace whose
///   `on_deactivate` ([`on_deactivate`]) is `suspend`, and is treated as
///   active in the others; a deleted user keeps only protected roles.
/// - Per workspace, the highest-ranked role mapped from the user's groups;
///   when it first applies it replaces the user's other non-protected roles
///   in that workspace (manual ones too).
/// - The default roles the user was given at creation ([`default_roles_for_new_user`]),
///   each when no group maps a role in its workspace.
/// - Manual roles, except those a group role replaced when it first applied:
///   manual roles granted beside a group role stay, also after the group.
pub fn desired_roles(config: &TenantConfig, user: &UserFacts, current: &[RoleAssignment]) -> Vec<RoleAssignment> {
    desired_roles_after_change(config, user, current, &[])
}

/// The role mappings of `new` that `old` did not have: a group that now
/// grants a role in a workspace (a mapping given a new role or a new group,
/// or a new mapping). Its members' roles are decided with
/// [`desired_roles_after_change`]; a change of a mapping's licence type
/// alone is not one.
pub fn new_role_mappings(old: &TenantConfig, new: &TenantConfig) -> Vec<GroupMapping> {
    new.mappings
        .iter()
        .filter(|m| m.workspace_id.is_some() && m.role_id.is_some())
        .filter(|m| !old.mappings.iter().any(|o| same_role_grant(o, m)))
        .cloned()
        .collect()
}

fn same_role_grant(a: &GroupMapping, b: &GroupMapping) -> bool {
    a.group == b.group && a.workspace_id == b.workspace_id && a.role_id == b.role_id
}

/// [`desired_roles`] for a user whose access a configuration change moves:
/// where the role its groups give in a workspace now comes from one of
/// `new_mappings` and the user does not hold it yet, it replaces the user's
/// manual non-protected roles there, as a group role that first applies does
/// (Conveyor: once the new role is assigned to a group, its members leave the
/// roles assigned by hand). Manual roles granted after it stay beside it.
pub fn desired_roles_after_change(
    config: &TenantConfig,
    user: &UserFacts,
    current: &[RoleAssignment],
    new_mappings: &[GroupMapping],
) -> Vec<RoleAssignment> {
    let protected = |a: &RoleAssignment| config.role(&a.role_id).is_some_and(|r| r.protected);
    let mut out: Vec<RoleAssignment> = current.iter().filter(|a| protected(a)).cloned().collect();
    // A deleted user keeps only protected roles; an inactive one loses the
    // others in each workspace whose on_deactivate is suspend.
    if user.deleted {
        out.sort();
        return out;
    }
    let held_while_inactive = |ws: &str| user.active || on_deactivate(config, ws) == OnDeactivate::None;
    // workspace -> (rank, role id, group id, from a new mapping); the first mapping wins a tie.
    let mut granted: BTreeMap<&str, (i64, &str, &str, bool)> = BTreeMap::new();
    for m in &config.mappings {
        let (Some(ws), Some(role_id)) = (&m.workspace_id, &m.role_id) else { continue };
        let Some(role) = config.role(role_id).filter(|r| r.provisionable) else { continue };
        let Some(group) = in_group(m, user) else { continue };
        match granted.get(ws.as_str()) {
            Some((rank, ..)) if *rank >= role.rank => {}
            _ => {
                let new = new_mappings.iter().any(|n| same_role_grant(n, m));
                granted.insert(ws, (role.rank, role_id, group, new));
            }
        }
    }
    for (ws, (_, role, group, _)) in &granted {
        out.push(RoleAssignment {
            workspace_id: ws.to_string(),
            role_id: role.to_string(),
            source: Source::Group(group.to_string()),
        });
    }
    // The default roles the user was given at creation, not today's policy:
    // a later change of a default moves no existing user.
    for (ws, role) in &user.default_roles {
        if !granted.contains_key(ws.as_str())
            && config.workspace(ws).is_some()
            && config.role(role).is_some_and(|r| r.provisionable)
        {
            out.push(RoleAssignment { workspace_id: ws.clone(), role_id: role.clone(), source: Source::Default });
        }
    }
    // Manual roles stay, except where a group's role applies for the first
    // time, or a new mapping gives a role the user does not hold yet: then it
    // replaces them (Conveyor). Granted while a group role applies, they stay
    // beside it and survive leaving the group.
    let group_role_held =
        |ws: &str| current.iter().any(|c| c.workspace_id == ws && matches!(c.source, Source::Group(_)));
    let replaces_manual = |ws: &str| {
        granted.get(ws).is_some_and(|(_, role, group, new)| {
            let held = RoleAssignment {
                workspace_id: ws.to_string(),
                role_id: role.to_string(),
                source: Source::Group(group.to_string()),
            };
            !group_role_held(ws) || (*new && !current.contains(&held))
        })
    };
    for a in current {
        if a.source == Source::Manual && !protected(a) && !replaces_manual(&a.workspace_id) {
            out.push(a.clone());
        }
    }
    out.retain(|a| protected(a) || held_while_inactive(&a.workspace_id));
    out.sort();
    out.dedup();
    out
}

/// What deactivation does in a workspace: its own choice, else the tenant's.
pub fn on_deactivate(config: &TenantConfig, workspace_id: &str) -> OnDeactivate {
    config.workspace(workspace_id).and_then(|w| w.lifecycle.on_deactivate).unwrap_or(config.policy.on_deactivate)
}

/// The default roles a user created now is given: (workspace id, role id),
/// one per workspace whose `on_create` (its own, or the tenant's for the
/// default workspace) is `grant_default`. They are kept with the user, so
/// later changes of the policy do not move existing users.
pub fn default_roles_for_new_user(config: &TenantConfig) -> Vec<(String, String)> {
    let p = &config.policy;
    let mut out = Vec::new();
    for w in &config.workspaces {
        let is_default = p.default_workspace_id.as_deref() == Some(w.id.as_str());
        let tenant_create = if is_default { p.on_create } else { OnCreate::NoAccess };
        let role = w.lifecycle.default_role_id.as_ref().or(if is_default { p.default_role_id.as_ref() } else { None });
        if w.lifecycle.on_create.unwrap_or(tenant_create) == OnCreate::GrantDefault
            && let Some(role) = role.filter(|r| config.role(r).is_some_and(|r| r.provisionable))
        {
            out.push((w.id.clone(), role.clone()));
        }
    }
    out
}

/// Host actions due when a user is created, or deactivated: (workspace id, action).
pub fn host_actions(config: &TenantConfig, deactivated: bool) -> Vec<(String, String)> {
    config
        .workspaces
        .iter()
        .flat_map(|w| {
            let due =
                if deactivated { &w.lifecycle.host_actions.on_deactivate } else { &w.lifecycle.host_actions.on_create };
            due.iter().map(|a| (w.id.clone(), a.clone()))
        })
        .collect()
}

/// The licence a user should hold, before counting seats: the first mapped
/// group's licence type, else the default type.
pub fn desired_licence(config: &TenantConfig, user: &UserFacts) -> Option<(String, Source)> {
    if suspended(config, user) {
        return None;
    }
    for m in &config.mappings {
        if let Some(l) = &m.licence_type_id
            && config.licence_type(l).is_some()
            && let Some(group) = in_group(m, user)
        {
            return Some((l.clone(), Source::Group(group.to_string())));
        }
    }
    config.licence_types.iter().find(|l| l.is_default).map(|l| (l.id.clone(), Source::Default))
}

/// Every licence type a user may hold now: those its groups map, and the
/// default type (nothing, while it is suspended). A user waiting for a
/// better seat keeps one of these; one it is no longer entitled to goes.
pub fn entitled_licences(config: &TenantConfig, user: &UserFacts) -> Vec<String> {
    if suspended(config, user) {
        return Vec::new();
    }
    let mapped = config
        .mappings
        .iter()
        .filter(|m| in_group(m, user).is_some())
        .filter_map(|m| m.licence_type_id.clone())
        .filter(|l| config.licence_type(l).is_some());
    let default = config.licence_types.iter().filter(|l| l.is_default).map(|l| l.id.clone());
    let mut out: Vec<String> = mapped.chain(default).collect();
    out.dedup();
    out
}

/// The first e-mail domain of a new user that the policy does not allow.
/// The domains checked are those of every e-mail address and of a `userName`
/// that is an address.
pub fn disallowed_domain<'a>(policy: &Policy, addresses: impl IntoIterator<Item = &'a str>) -> Option<String> {
    if policy.allowed_domains.is_empty() {
        return None;
    }
    addresses
        .into_iter()
        .filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_lowercase()))
        .find(|d| !policy.allowed_domains.iter().any(|allowed| allowed.eq_ignore_ascii_case(d)))
}

#[cfg(test)]
mod tests;
