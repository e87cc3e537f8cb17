//! The storage conformance suite: what `Store::write` promises, run the same
//! on SQLite and PostgreSQL, without HTTP and without the policy. A job's
//! statements come back as a `ChangeSet`; a failed job changes nothing, also
//! when it shares SQLite's batch with jobs that succeed.

use super::*;
use scim_core::policy::{RoleAssignment, Source};
use scimd::store::access::HeldLicence;
use scimd::store::{
    ChangeSet, Doc, JobFuture, Kind, LicenceOp, ListQuery, NewResource, Op, PoolConfig, Store, StoreError, TaskGuard,
    Unique, WriteTx,
};

on_both_backends!(
    a_write_reports_what_it_changed,
    a_failed_write_changes_nothing_and_spares_its_batch,
    uniqueness_is_reported_by_rule,
    access_changes_are_recorded_once
);

/// A store on a fresh database, its background running, and the tenant `t`'s id.
struct Fixture {
    store: Store,
    tenant_id: i64,
    _tasks: TaskGuard,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf, Option<(String, String)>);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if let Some((admin, name)) = self.1.take() {
            drop_database(admin, name);
        }
    }
}

async fn fixture(b: Backend) -> Fixture {
    let dir = std::env::temp_dir().join(unique_name("scimd-store-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, pg) = fresh_database(b, &dir).await;
    let (store, background) = Store::connect(&url, &PoolConfig::default()).await.unwrap();
    let tasks = background.spawn();
    fn create_tenant<'t>(tx: &'t mut WriteTx, _: &'t ()) -> JobFuture<'t, i64, StoreError> {
        Box::pin(async move { Ok(tx.create_tenant("t", "2026-01-01T00:00:00.000Z").await?.id) })
    }
    let (tenant_id, changes) = store.write((), create_tenant).await.unwrap();
    assert!(changes.tenants_changed && changes.resources.is_empty());
    Fixture { store, tenant_id, _tasks: tasks, _dir: TempDir(dir, pg) }
}

fn user(id: &str, user_name: &str) -> NewResource {
    let doc = json!({"schemas": [USER], "userName": user_name});
    NewResource {
        kind: Kind::User,
        id: id.into(),
        doc: Doc::new(doc, Kind::User),
        now: "2026-01-01T00:00:00.000Z".into(),
        members: Vec::new(),
        scim_managed: true,
    }
}

fn group(id: &str, members: &[&str]) -> NewResource {
    let doc = json!({"schemas": [GROUP], "displayName": id});
    NewResource {
        kind: Kind::Group,
        id: id.into(),
        doc: Doc::new(doc, Kind::Group),
        now: "2026-01-01T00:00:00.000Z".into(),
        members: members
            .iter()
            .map(|m| scim_core::Member { value: m.to_string(), member_type: None, display: None, reference: None })
            .collect(),
        scim_managed: true,
    }
}

/// Insert resources in one job (and fail after them when `fail` is set).
struct Insert {
    tenant_id: i64,
    new: Vec<NewResource>,
    fail: bool,
}

fn insert<'t>(tx: &'t mut WriteTx, job: &'t Insert) -> JobFuture<'t, Vec<bool>, StoreError> {
    Box::pin(async move {
        let mut inserted = Vec::new();
        for new in &job.new {
            let ok = tx.insert_resource(job.tenant_id, new, &[]).await?;
            if ok {
                let added = tx.add_members(job.tenant_id, &new.id, &new.members, &[]).await?;
                tx.touch(job.tenant_id, Kind::User, &added, &new.now).await?;
            }
            inserted.push(ok);
        }
        if job.fail {
            return Err(StoreError::VersionMoved);
        }
        Ok(inserted)
    })
}

async fn count(f: &Fixture, kind: Kind) -> i64 {
    let rt = match kind {
        Kind::User => scim_core::ResourceType::user(),
        Kind::Group => scim_core::ResourceType::group(),
    };
    f.store.list(f.tenant_id, kind, &ListQuery { limit: 0, ..Default::default() }, &rt).await.unwrap().0
}

async fn a_write_reports_what_it_changed(b: Backend) {
    let f = fixture(b).await;
    let job = Insert {
        tenant_id: f.tenant_id,
        new: vec![user("u1", "a@x.com"), group("g1", &["u1", "nobody"])],
        fail: false,
    };
    let (inserted, changes) = f.store.write(job, insert).await.unwrap();
    assert_eq!(inserted, vec![true, true]);
    assert_eq!(changes.tenant_id, Some(f.tenant_id));
    let created: Vec<(Kind, &str, Op, bool)> =
        changes.resources.iter().map(|r| (r.kind, r.id.as_str(), r.op, r.by_membership)).collect();
    assert_eq!(
        created,
        vec![
            (Kind::User, "u1", Op::Created, false),
            (Kind::Group, "g1", Op::Created, false),
            (Kind::User, "u1", Op::Updated, true)
        ],
        "the user's version moved when it joined: its groups show it"
    );
    assert_eq!(changes.memberships.len(), 1);
    assert_eq!(changes.memberships[0].added, vec!["u1".to_string()], "a value that names nothing is not a member");
    assert!(changes.created_or_deleted(Kind::User) && changes.any_group());
    let stored = f.store.get(f.tenant_id, Kind::User, "u1").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.groups.unwrap().len(), 1);

    // A delete and a soft delete say which they were.
    struct Delete(i64, &'static str, bool);
    fn delete<'t>(tx: &'t mut WriteTx, d: &'t Delete) -> JobFuture<'t, Vec<String>, StoreError> {
        Box::pin(async move {
            let kind = if d.1.starts_with('g') { Kind::Group } else { Kind::User };
            let current = tx.current(d.0, kind, d.1, false).await?.ok_or(StoreError::NotFound)?;
            tx.delete_resource(&current, d.2, "2026-01-02T00:00:00.000Z").await?;
            tx.drop_memberships(d.0, kind, d.1, false, "2026-01-02T00:00:00.000Z").await
        })
    }
    let (former, changes) = f.store.write(Delete(f.tenant_id, "g1", false), delete).await.unwrap();
    assert_eq!(former, vec!["u1".to_string()]);
    assert_eq!(changes.resources[0].op, Op::Deleted);
    assert_eq!(changes.memberships[0].removed, vec!["u1".to_string()]);
    let (_, changes) = f.store.write(Delete(f.tenant_id, "u1", true), delete).await.unwrap();
    assert_eq!(changes.resources[0].op, Op::SoftDeleted);
    assert_eq!(count(&f, Kind::User).await, 0);
    assert_eq!(f.store.list_deleted_users(f.tenant_id).await.unwrap().len(), 1);
}

async fn a_failed_write_changes_nothing_and_spares_its_batch(b: Backend) {
    let f = fixture(b).await;
    // Sent at once, so that SQLite's writer runs them in shared batches.
    let writes = (0..40).map(|i| {
        let job = Insert {
            tenant_id: f.tenant_id,
            new: vec![user(&format!("u{i}"), &format!("u{i}@x.com"))],
            fail: i % 3 == 0,
        };
        let store = f.store.clone();
        async move { store.write(job, insert).await }
    });
    let results = futures_join_all(writes).await;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.is_err(), i % 3 == 0, "write {i}: {result:?}");
        let stored = f.store.get(f.tenant_id, Kind::User, &format!("u{i}")).await.unwrap();
        assert_eq!(stored.is_some(), i % 3 != 0, "write {i} is stored exactly when it succeeded");
    }
    assert_eq!(count(&f, Kind::User).await, 26);
}

/// Every future to its end, side by side (the suite has no futures crate).
async fn futures_join_all<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn uniqueness_is_reported_by_rule(b: Backend) {
    let f = fixture(b).await;
    let job = Insert { tenant_id: f.tenant_id, new: vec![user("u1", "a@x.com"), user("u2", "b@x.com")], fail: false };
    f.store.write(job, insert).await.unwrap();
    // The same userName in another case: the insert reports it, writes nothing.
    let job = Insert { tenant_id: f.tenant_id, new: vec![user("u3", "A@X.com")], fail: false };
    let (inserted, changes) = f.store.write(job, insert).await.unwrap();
    assert_eq!(inserted, vec![false]);
    assert!(changes.resources.is_empty(), "{changes:?}");
    // Renaming u2 to u1's userName breaks the rule by name.
    struct Rename(i64);
    fn rename<'t>(tx: &'t mut WriteTx, r: &'t Rename) -> JobFuture<'t, i64, StoreError> {
        Box::pin(async move {
            let current = tx.current(r.0, Kind::User, "u2", false).await?.ok_or(StoreError::NotFound)?;
            let doc = Doc::new(json!({"schemas": [USER], "userName": "a@x.com"}), Kind::User);
            tx.write_resource(&current, Some(&doc), "2026-01-02T00:00:00.000Z", true).await
        })
    }
    let err = f.store.write(Rename(f.tenant_id), rename).await.unwrap_err();
    assert!(matches!(err, StoreError::Unique(Unique::UserName)), "{err:?}");
    let u2 = f.store.get(f.tenant_id, Kind::User, "u2").await.unwrap().unwrap();
    assert_eq!((u2.version, u2.doc["userName"].as_str()), (1, Some("b@x.com")));
}

async fn access_changes_are_recorded_once(b: Backend) {
    let f = fixture(b).await;
    let job = Insert { tenant_id: f.tenant_id, new: vec![user("u1", "a@x.com")], fail: false };
    f.store.write(job, insert).await.unwrap();
    let role = RoleAssignment { workspace_id: "w".into(), role_id: "r".into(), source: Source::Manual };
    struct Grant(i64, RoleAssignment);
    fn grant_twice<'t>(tx: &'t mut WriteTx, g: &'t Grant) -> JobFuture<'t, (), StoreError> {
        Box::pin(async move {
            tx.grant_role(g.0, "u1", &g.1).await?;
            tx.grant_role(g.0, "u1", &g.1).await?;
            let licence = HeldLicence {
                licence_type_id: None,
                wanted_type_id: Some("basic".into()),
                source: Source::Default,
                waiting_since: Some("2026-01-01T00:00:00.000Z".into()),
            };
            tx.set_licence(g.0, "u1", None, &licence, "2026-01-01T00:00:00.000Z").await?;
            let before = tx.licence_of(g.0, "u1").await?;
            let licence = HeldLicence {
                licence_type_id: Some("basic".into()),
                wanted_type_id: None,
                source: Source::Default,
                waiting_since: None,
            };
            tx.set_licence(g.0, "u1", before.as_ref(), &licence, "2026-01-01T00:00:01.000Z").await
        })
    }
    let (_, changes) = f.store.write(Grant(f.tenant_id, role.clone()), grant_twice).await.unwrap();
    assert_eq!(changes.roles.len(), 1, "granting a role held already changes nothing: {changes:?}");
    assert!(changes.roles[0].granted);
    let ops: Vec<&LicenceOp> = changes.licences.iter().map(|l| &l.op).collect();
    assert_eq!(ops, vec![&LicenceOp::Waiting, &LicenceOp::Assigned]);
    fn forget<'t>(tx: &'t mut WriteTx, tenant_id: &'t i64) -> JobFuture<'t, Option<String>, StoreError> {
        Box::pin(async move { tx.forget_access(*tenant_id, "u1").await })
    }
    let (released, changes) = f.store.write(f.tenant_id, forget).await.unwrap();
    assert_eq!(released.as_deref(), Some("basic"), "the seat it gave up");
    assert_eq!((changes.roles.len(), changes.roles[0].granted), (1, false));
    assert_eq!(changes.licences[0].op, LicenceOp::Released);
    let access = f.store.access(f.tenant_id, "u1").await.unwrap().unwrap();
    assert!(access.roles.is_empty() && access.licence.is_none());
    let _: ChangeSet = changes;
}
