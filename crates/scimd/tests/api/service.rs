//! The provisioning rules through `service` alone, without HTTP: who may
//! write what (the actor), the domain rule, seats counted in the write's
//! transaction, soft deletes, and a configuration change that the very next
//! write applies.

use super::*;
use scim_core::policy::{
    HostActions, LicenceType, Lifecycle, OnCreate, OnDeactivate, OnDelete, Role, TenantConfig, Workspace,
};
use scimd::service::{Actor, Error, Refusal, Update};
use scimd::store::{Doc, Kind, NewResource, StoredResource};
use scimd::store::{HostAction, HostTrigger};

on_both_backends!(
    a_change_that_moves_many_users_runs_in_chunks,
    each_kind_of_user_has_its_own_lifecycle,
    the_actor_decides_who_owns_a_user,
    seats_are_counted_in_the_write,
    a_write_queued_after_a_configuration_change_applies_it
);

fn new_user(svc: &Service, user_name: &str) -> NewResource {
    let doc = json!({"schemas": [USER], "userName": user_name, "emails": [{"value": user_name}]});
    NewResource {
        kind: Kind::User,
        id: uuid_like(user_name),
        doc: Doc::new(doc, Kind::User),
        now: svc.now(),
        members: Vec::new(),
        scim_managed: true,
    }
}

fn uuid_like(seed: &str) -> String {
    format!("id-{}", seed.replace(['@', '.'], "-"))
}

/// One workspace, Viewer and Editor, a licence type with `seats`, and `on_create: grant_default`.
fn product(seats: Option<i64>, default_role: &str) -> impl Fn(&mut TenantConfig) -> Result<(), Error> + Send + Sync {
    let default_role = default_role.to_string();
    move |c: &mut TenantConfig| {
        c.workspaces = vec![Workspace { id: "w".into(), name: "main".into(), lifecycle: Default::default() }];
        c.roles = ["viewer", "editor"]
            .iter()
            .enumerate()
            .map(|(i, r)| Role {
                id: r.to_string(),
                name: r.to_string(),
                rank: i as i64,
                provisionable: true,
                protected: false,
            })
            .collect();
        c.licence_types =
            vec![LicenceType { id: "basic".into(), name: "Basic".into(), seat_limit: seats, is_default: true }];
        c.policy.on_create = OnCreate::GrantDefault;
        c.policy.default_workspace_id = Some("w".into());
        c.policy.default_role_id = Some(default_role.clone());
        Ok(())
    }
}

async fn tenant(s: &Server) -> i64 {
    s.svc.tenant_named("acme").await.unwrap().id
}

async fn role_of(s: &Server, tenant_id: i64, user_id: &str) -> Vec<String> {
    let access = s.svc.access(tenant_id, user_id).await.unwrap().unwrap();
    access.roles.iter().map(|r| r.role_id.clone()).collect()
}

async fn the_actor_decides_who_owns_a_user(b: Backend) {
    let s = start(b).await;
    let t = tenant(&s).await;
    let change = |c: &mut TenantConfig| {
        c.policy.allowed_domains = vec!["acme.com".into()];
        c.policy.on_delete = OnDelete::Soft;
        Ok(())
    };
    s.svc.change_config(t, Arc::new(change), Default::default()).await.unwrap();
    // The identity provider may not provision an external user; an admin may create one by hand.
    let err = s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, "v@other.io")).await.unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::DomainNotAllowed { ref domain }) if domain == "other.io"), "{err}");
    let mut by_hand = new_user(&s.svc, "v@other.io");
    by_hand.scim_managed = false;
    let external = s.svc.create(t, Actor::Admin, by_hand).await.unwrap();
    assert!(!external.scim_managed);
    // An admin may not change or delete what the identity provider owns.
    let scim = s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, "a@acme.com")).await.unwrap();
    let rename = Arc::new(|current: &StoredResource| {
        let mut doc = current.doc.clone();
        doc["displayName"] = json!("Renamed");
        Ok(Update { doc: Some(Doc::new(doc, Kind::User)), member_changes: Vec::new(), based_on: Some(current.version) })
    });
    let err = s.svc.update(t, Actor::Admin, Kind::User, &scim.id, false, rename.clone()).await.unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::ScimManaged { action: "change", .. })), "{err}");
    let err = s.svc.delete(t, Actor::Admin, Kind::User, &scim.id, None).await.unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::ScimManaged { action: "deprovision", .. })), "{err}");
    let renamed = s.svc.update(t, Actor::IdentityProvider, Kind::User, &scim.id, false, rename).await.unwrap();
    assert_eq!((renamed.version, renamed.doc["displayName"].as_str()), (2, Some("Renamed")));
    // A soft delete keeps the user for restore, with the same id.
    s.svc.delete(t, Actor::IdentityProvider, Kind::User, &scim.id, Some("W/\"1\"".into())).await.unwrap_err();
    s.svc.delete(t, Actor::IdentityProvider, Kind::User, &scim.id, Some("W/\"2\"".into())).await.unwrap();
    assert!(s.svc.get(t, Kind::User, &scim.id).await.unwrap().is_none());
    let restored = s.svc.restore_user(t, &scim.id).await.unwrap();
    assert_eq!(restored.id, scim.id);
    assert!(s.svc.get(t, Kind::User, &scim.id).await.unwrap().is_some());
}

async fn seats_are_counted_in_the_write(b: Backend) {
    let s = start(b).await;
    let t = tenant(&s).await;
    s.svc.change_config(t, Arc::new(product(Some(2), "viewer")), Default::default()).await.unwrap();
    for name in ["a@acme.com", "b@acme.com"] {
        let u = s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, name)).await.unwrap();
        assert_eq!(role_of(&s, t, &u.id).await, vec!["viewer".to_string()]);
    }
    // The third user finds no seat: refused, and nothing of it was written.
    let err = s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, "c@acme.com")).await.unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::NoSeats { limit: 2, .. })), "{err}");
    assert!(s.svc.get(t, Kind::User, &uuid_like("c@acme.com")).await.unwrap().is_none());
    let rt = scim_core::ResourceType::user();
    let query = scimd::store::ListQuery { limit: 10, ..Default::default() };
    assert_eq!(s.svc.list(t, Kind::User, &query, &rt).await.unwrap().0, 2);
}

/// A configuration change and a create sent together (the change first):
/// on SQLite, where both queue to the one writer, the create applies the new
/// configuration, whichever batch it lands in (the configuration cache cannot
/// hand it the old one). On PostgreSQL two requests in flight have no order,
/// so there the create is sent once the change is answered. The domain rule
/// is checked only when a user is created, so a create that applied the old
/// configuration would not be mended by the change.
async fn a_write_queued_after_a_configuration_change_applies_it(b: Backend) {
    let s = start(b).await;
    let t = tenant(&s).await;
    for round in 0..12 {
        let closed = round % 2 == 0;
        let domains: Vec<String> = if closed { vec!["acme.com".into()] } else { Vec::new() };
        // The configuration is cached by a write before the change.
        s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, &format!("warm{round}@acme.com"))).await.unwrap();
        let change = Arc::new(move |c: &mut TenantConfig| {
            c.policy.allowed_domains = domains.clone();
            Ok(())
        });
        let name = format!("u{round}@other.io");
        let created = match b {
            Backend::Sqlite => {
                let (changed, created) = tokio::join!(
                    s.svc.change_config(t, change, Default::default()),
                    s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, &name)),
                );
                changed.unwrap();
                created
            }
            Backend::Postgres => {
                s.svc.change_config(t, change, Default::default()).await.unwrap();
                s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, &name)).await
            }
        };
        match created {
            Err(Error::Refused(Refusal::DomainNotAllowed { .. })) => {
                assert!(closed, "round {round}: refused while open")
            }
            Ok(_) => assert!(!closed, "round {round}: created while closed to other.io"),
            Err(e) => panic!("round {round}: {e}"),
        }
    }
}

/// Issue 12, item 1 (Applivery): three kinds of user as three workspaces of
/// one tenant, each with its own create and deactivate choices; the host
/// actions a workspace names are recorded with the change that makes them due.
async fn each_kind_of_user_has_its_own_lifecycle(b: Backend) {
    let s = start(b).await;
    let t = tenant(&s).await;
    let lifecycle = |on_create, role: Option<&str>, on_deactivate, deactivate_actions: &[&str]| Lifecycle {
        on_create: Some(on_create),
        default_role_id: role.map(str::to_string),
        on_deactivate: Some(on_deactivate),
        host_actions: HostActions {
            on_create: Vec::new(),
            on_deactivate: deactivate_actions.iter().map(|a| a.to_string()).collect(),
        },
        ..Default::default()
    };
    let change = move |c: &mut TenantConfig| {
        c.roles = ["viewer", "editor", "admin"]
            .iter()
            .enumerate()
            .map(|(i, r)| Role {
                id: r.to_string(),
                name: r.to_string(),
                rank: i as i64,
                provisionable: true,
                protected: false,
            })
            .collect();
        c.workspaces = vec![
            Workspace {
                id: "store".into(),
                name: "Enterprise Store".into(),
                lifecycle: lifecycle(OnCreate::GrantDefault, Some("viewer"), OnDeactivate::Suspend, &[]),
            },
            Workspace {
                id: "dash".into(),
                name: "Dashboard".into(),
                lifecycle: lifecycle(OnCreate::NoAccess, None, OnDeactivate::Suspend, &[]),
            },
            Workspace {
                id: "mdm".into(),
                name: "MDM".into(),
                lifecycle: lifecycle(
                    OnCreate::GrantDefault,
                    Some("editor"),
                    OnDeactivate::None,
                    &["unassign_devices", "change_device_policy"],
                ),
            },
        ];
        Ok(())
    };
    s.svc.change_config(t, Arc::new(change), Default::default()).await.unwrap();
    let mut committed = s.svc.subscribe();
    let u = s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, "kid@acme.com")).await.unwrap();
    let roles = |access: scimd::store::Access| {
        access.roles.iter().map(|r| (r.workspace_id.clone(), r.role_id.clone())).collect::<Vec<_>>()
    };
    let pair = |w: &str, r: &str| (w.to_string(), r.to_string());
    let access = s.svc.access(t, &u.id).await.unwrap().unwrap();
    assert_eq!(
        roles(access),
        vec![pair("mdm", "editor"), pair("store", "viewer")],
        "the Dashboard grants nothing on create"
    );
    let created = committed.recv().await.unwrap();
    assert!(created.host_actions.is_empty(), "{created:?}");
    // Deactivated: the Store suspends, MDM keeps its role, and MDM's actions are due.
    let deactivate = Arc::new(|current: &StoredResource| {
        let mut doc = current.doc.clone();
        doc["active"] = json!(false);
        Ok(Update { doc: Some(Doc::new(doc, Kind::User)), member_changes: Vec::new(), based_on: Some(current.version) })
    });
    s.svc.update(t, Actor::IdentityProvider, Kind::User, &u.id, false, deactivate).await.unwrap();
    let access = s.svc.access(t, &u.id).await.unwrap().unwrap();
    assert_eq!(roles(access), vec![pair("mdm", "editor")]);
    let changes = committed.recv().await.unwrap();
    let due = |action: &str| HostAction {
        user_id: u.id.clone(),
        workspace_id: "mdm".into(),
        action: action.into(),
        trigger: HostTrigger::Deactivated,
    };
    assert_eq!(changes.host_actions, vec![due("unassign_devices"), due("change_device_policy")]);
    assert!(changes.roles.iter().any(|r| r.workspace_id == "store" && !r.granted), "{changes:?}");
}

/// A configuration change that moves more users than one transaction should
/// hold reconciles them a chunk at a time after it returns, with its progress
/// in the policy, and every user is moved in the end.
async fn a_change_that_moves_many_users_runs_in_chunks(b: Backend) {
    let s = Arc::new(start(b).await);
    let t = tenant(&s).await;
    s.svc.change_config(t, Arc::new(product(None, "viewer")), Default::default()).await.unwrap();
    let creates: Vec<_> = (0..1_200)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.svc.create(t, Actor::IdentityProvider, new_user(&s.svc, &format!("m{i}@acme.com"))).await.unwrap().id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for c in creates {
        ids.push(c.await.unwrap());
    }
    assert_eq!(role_of(&s, t, &ids[0]).await, vec!["viewer".to_string()]);
    // The default role stops being provisionable: every user loses it.
    let change = |c: &mut TenantConfig| {
        c.policy.on_create = OnCreate::NoAccess;
        c.policy.default_role_id = None;
        if let Some(r) = c.roles.iter_mut().find(|r| r.id == "viewer") {
            r.provisionable = false;
        }
        Ok(())
    };
    s.svc.change_config(t, Arc::new(change), Default::default()).await.unwrap();
    let mut seen_progress = s.svc.reconciling(t);
    for _ in 0..600 {
        match s.svc.reconciling(t) {
            Some(p) => seen_progress = Some(p),
            None => break,
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen_progress.is_some_and(|(done, total)| done < total && total == 1_200), "{seen_progress:?}");
    assert_eq!(s.svc.reconciling(t), None, "the background reconcile finished");
    for id in [&ids[0], &ids[600], &ids[1_199]] {
        assert!(role_of(&s, t, id).await.is_empty(), "user {id} was moved");
    }
}
