//! The policy's rules, each on a small configuration.

use super::*;

fn role(id: &str, rank: i64, provisionable: bool, protected: bool) -> Role {
    Role { id: id.into(), name: id.into(), rank, provisionable, protected }
}

fn config() -> TenantConfig {
    TenantConfig {
        workspaces: vec![
            Workspace { id: "w1".into(), name: "c3.acme".into(), lifecycle: Lifecycle::default() },
            Workspace { id: "w2".into(), name: "c3.acme-eu".into(), lifecycle: Lifecycle::default() },
        ],
        roles: vec![
            role("viewer", 1, true, false),
            role("editor", 2, true, false),
            role("admin", 3, true, false),
            role("billing", 9, false, true),
        ],
        licence_types: vec![
            LicenceType { id: "basic".into(), name: "Basic".into(), seat_limit: Some(2), is_default: true },
            LicenceType { id: "pro".into(), name: "Pro".into(), seat_limit: None, is_default: false },
        ],
        mappings: vec![
            GroupMapping {
                id: "m1".into(),
                group: "Editors".into(),
                workspace_id: Some("w1".into()),
                role_id: Some("editor".into()),
                licence_type_id: Some("pro".into()),
            },
            GroupMapping {
                id: "m2".into(),
                group: "g-admins".into(),
                workspace_id: Some("w1".into()),
                role_id: Some("admin".into()),
                licence_type_id: None,
            },
        ],
        policy: Policy {
            on_create: OnCreate::GrantDefault,
            default_role_id: Some("viewer".into()),
            default_workspace_id: Some("w1".into()),
            ..Policy::default()
        },
        extensions: Vec::new(),
    }
}

fn a(ws: &str, role: &str, source: Source) -> RoleAssignment {
    RoleAssignment { workspace_id: ws.into(), role_id: role.into(), source }
}

#[test]
fn the_default_role_is_the_one_given_at_creation() {
    let mut c = config();
    let given = default_roles_for_new_user(&c);
    assert_eq!(given, vec![("w1".to_string(), "viewer".to_string())]);
    let user = UserFacts { active: true, default_roles: given, ..Default::default() };
    assert_eq!(desired_roles(&c, &user, &[]), vec![a("w1", "viewer", Source::Default)]);
    // Later policy changes do not move it; a user created after them gets the new choice.
    c.policy.on_create = OnCreate::NoAccess;
    assert_eq!(desired_roles(&c, &user, &[]), vec![a("w1", "viewer", Source::Default)]);
    assert!(default_roles_for_new_user(&c).is_empty());
    let later = UserFacts { active: true, default_roles: default_roles_for_new_user(&c), ..Default::default() };
    assert!(desired_roles(&c, &later, &[]).is_empty());
}

#[test]
fn highest_mapped_role_replaces_others_in_its_workspace() {
    let user = UserFacts {
        active: true,
        groups: vec![("g-ed".into(), "EDITORS".into()), ("g-admins".into(), "Admins".into())],
        ..Default::default()
    };
    let current =
        vec![a("w1", "viewer", Source::Manual), a("w2", "viewer", Source::Manual), a("w1", "billing", Source::Manual)];
    assert_eq!(
        desired_roles(&config(), &user, &current),
        vec![
            a("w1", "admin", Source::Group("g-admins".into())),
            a("w1", "billing", Source::Manual),
            a("w2", "viewer", Source::Manual),
        ]
    );
}

#[test]
fn manual_roles_granted_beside_a_group_role_stay() {
    let user = UserFacts { active: true, groups: vec![("g-ed".into(), "Editors".into())], ..Default::default() };
    let group = a("w1", "editor", Source::Group("g-ed".into()));
    // Granted while the group role applies: kept beside it.
    let current = vec![group.clone(), a("w1", "admin", Source::Manual)];
    assert_eq!(desired_roles(&config(), &user, &current), vec![a("w1", "admin", Source::Manual), group.clone()]);
    // And after leaving the group.
    let left = UserFacts { active: true, ..Default::default() };
    assert_eq!(desired_roles(&config(), &left, &current), vec![a("w1", "admin", Source::Manual)]);
    // Held before the group role first applied: replaced.
    assert_eq!(desired_roles(&config(), &user, &[a("w1", "admin", Source::Manual)]), vec![group]);
}

#[test]
fn a_new_role_mapping_replaces_manual_roles_once_and_a_licence_change_does_not() {
    let old = config();
    let user = UserFacts { active: true, groups: vec![("g-ed".into(), "Editors".into())], ..Default::default() };
    let group = Source::Group("g-ed".into());
    // Editor from the group, Admin granted by hand after it.
    let current =
        vec![a("w1", "editor", group.clone()), a("w1", "admin", Source::Manual), a("w2", "viewer", Source::Manual)];
    let mut new = old.clone();
    new.mappings[0].role_id = Some("viewer".into());
    let fresh = new_role_mappings(&old, &new);
    assert_eq!(fresh.len(), 1);
    let after = desired_roles_after_change(&new, &user, &current, &fresh);
    assert_eq!(after, vec![a("w1", "viewer", group.clone()), a("w2", "viewer", Source::Manual)], "only in w1");
    // Granted again after the change: it stays, even when reconciled for the change again.
    let regranted = [after.clone(), vec![a("w1", "admin", Source::Manual)]].concat();
    let again = desired_roles_after_change(&new, &user, &regranted, &fresh);
    assert!(again.contains(&a("w1", "admin", Source::Manual)), "{again:?}");
    // Only the licence type moved: no new role, manual roles stay.
    let mut licence_only = old.clone();
    licence_only.mappings[0].licence_type_id = None;
    assert!(new_role_mappings(&old, &licence_only).is_empty());
    assert_eq!(desired_roles(&old, &user, &current), {
        let mut v = current.clone();
        v.sort();
        v
    });
}

#[test]
fn deactivation_keeps_only_protected_roles() {
    let user = UserFacts { active: false, groups: vec![("g-admins".into(), "Admins".into())], ..Default::default() };
    let current = vec![a("w1", "admin", Source::Group("g-admins".into())), a("w1", "billing", Source::Manual)];
    assert_eq!(desired_roles(&config(), &user, &current), vec![a("w1", "billing", Source::Manual)]);
    assert_eq!(desired_licence(&config(), &user), None);
}

#[test]
fn with_on_deactivate_none_an_inactive_user_keeps_everything_but_a_deleted_one_does_not() {
    let mut c = config();
    c.policy.on_deactivate = OnDeactivate::None;
    let groups = vec![("g-admins".into(), "Admins".into())];
    let inactive = UserFacts { active: false, groups: groups.clone(), ..Default::default() };
    let current = vec![a("w1", "admin", Source::Group("g-admins".into())), a("w1", "billing", Source::Manual)];
    assert_eq!(desired_roles(&c, &inactive, &current), current);
    assert!(desired_licence(&c, &inactive).is_some());
    let deleted = UserFacts { active: false, groups, deleted: true, ..Default::default() };
    assert_eq!(desired_roles(&c, &deleted, &current), vec![a("w1", "billing", Source::Manual)]);
    assert_eq!(desired_licence(&c, &deleted), None);
}

#[test]
fn a_default_role_above_the_ceiling_is_refused_naming_both() {
    let mut c = config();
    c.policy.max_default_rank = Some(0);
    let e = c.validate().err().map(|e| e.0).unwrap_or_default();
    assert!(e.contains("'viewer'") && e.contains("max_default_rank 0"), "{e}");
    c.policy.max_default_rank = Some(1);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn a_user_is_entitled_to_its_groups_licences_and_the_default() {
    let c = config();
    let editor = UserFacts { active: true, groups: vec![("g-ed".into(), "Editors".into())], ..Default::default() };
    assert_eq!(entitled_licences(&c, &editor), vec!["pro".to_string(), "basic".to_string()]);
    let gone = UserFacts { active: false, ..Default::default() };
    assert!(entitled_licences(&c, &gone).is_empty());
}

#[test]
fn licences_follow_groups_then_default() {
    let c = config();
    let plain = UserFacts { active: true, groups: vec![], ..Default::default() };
    assert_eq!(desired_licence(&c, &plain), Some(("basic".into(), Source::Default)));
    let editor = UserFacts { active: true, groups: vec![("g-ed".into(), "Editors".into())], ..Default::default() };
    assert_eq!(desired_licence(&c, &editor), Some(("pro".into(), Source::Group("g-ed".into()))));
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let mut c = config();
    c.policy.default_role_id = Some("billing".into());
    assert!(c.validate().unwrap_err().0.contains("not provisionable"));
    let mut c = config();
    c.mappings[0].workspace_id = Some("nope".into());
    assert!(c.validate().unwrap_err().0.contains("unknown workspace"));
    let mut c = config();
    c.mappings[1].role_id = Some("billing".into());
    assert!(c.validate().unwrap_err().0.contains("not provisionable"));
    assert!(config().validate().is_ok());
}

#[test]
fn domains() {
    let mut p = Policy::default();
    assert_eq!(disallowed_domain(&p, ["a@x.com"]), None);
    p.allowed_domains = vec!["acme.com".into()];
    assert_eq!(disallowed_domain(&p, ["a@ACME.com", "b@acme.com"]), None);
    assert_eq!(disallowed_domain(&p, ["a@acme.com", "vendor@other.io"]), Some("other.io".into()));
    assert_eq!(disallowed_domain(&p, ["plainname"]), None);
}

#[test]
fn each_workspace_may_choose_its_own_lifecycle() {
    let mut c = config();
    c.workspaces[1].lifecycle = Lifecycle {
        on_create: Some(OnCreate::GrantDefault),
        default_role_id: Some("editor".into()),
        on_deactivate: Some(OnDeactivate::None),
        host_actions: HostActions { on_create: vec![], on_deactivate: vec!["unassign_devices".into()] },
        ..Default::default()
    };
    assert_eq!(c.validate(), Ok(()));
    let defaults = default_roles_for_new_user(&c);
    assert_eq!(defaults, vec![("w1".to_string(), "viewer".to_string()), ("w2".to_string(), "editor".to_string())]);
    let active = UserFacts { active: true, default_roles: defaults.clone(), ..Default::default() };
    let held = desired_roles(&c, &active, &[]);
    assert_eq!(held, vec![a("w1", "viewer", Source::Default), a("w2", "editor", Source::Default)]);
    // Deactivated: w1 suspends (the tenant's choice), w2 keeps its role.
    let inactive = UserFacts { active: false, default_roles: defaults, ..Default::default() };
    assert_eq!(desired_roles(&c, &inactive, &held), vec![a("w2", "editor", Source::Default)]);
    assert_eq!(host_actions(&c, true), vec![("w2".to_string(), "unassign_devices".to_string())]);
    assert!(host_actions(&c, false).is_empty());
    // A workspace's default above its ceiling is refused.
    c.workspaces[1].lifecycle.max_default_rank = Some(1);
    assert!(c.validate().is_err_and(|e| e.0.contains("above max_default_rank 1")));
}
