//! Storage: everything scimd keeps, on SQLite or PostgreSQL. No policy and no
//! HTTP live here. Reads are methods of [`Store`]; every write is a job run by
//! [`Store::write`] inside one transaction on a [`WriteTx`], whose statements
//! record a [`ChangeSet`] that comes back with the job's result.
//!
//! Grouped by concern: [`resources`] (users and groups, lists), [`members`]
//! (memberships), [`access`] (roles and licences), [`tenants`] (tenants,
//! tokens, configurations), [`oauth`] (OAuth clients and their access tokens); [`sql`] translates filters for both databases;
//! [`sqlite`] holds SQLite's group-commit writer and pagination rosters,
//! [`postgres`] PostgreSQL's table maintenance. Every statement goes through
//! [`exec`], the seam under them all: statements as data, run by rusqlite on
//! SQLite and by sqlx's native driver on PostgreSQL.
//!
//! [`audit`] keeps the audit trail of SCIM requests, written in batches off
//! the request path (through [`Store::write`] like every other write).

pub mod access;
pub mod audit;
mod changes;
pub(crate) mod console;
pub(crate) mod events;
pub(crate) mod exec;
pub(crate) mod extensions;
pub(crate) mod members;
pub(crate) mod oauth;
pub(crate) mod postgres;
pub(crate) mod resources;
pub(crate) mod settings;
pub(crate) mod sql;
pub(crate) mod sqlite;
pub(crate) mod tenants;
mod tx;
pub(crate) mod webhooks;

pub use changes::{
    ChangeSet, HostAction, HostTrigger, LicenceChange, LicenceOp, MembershipChange, Op, RefusedRequest, ResourceChange,
    RoleChange, SHOWN_DOC_BYTES,
};
pub use console::ConsoleSession;
pub use oauth::OAuthClient;
pub use resources::{GroupSummary, ListQuery, Place, SortValue, UserPage};
pub use tenants::{AdminToken, Tenant, TenantCounts, TokenInfo, TokenKind};
pub use tx::WriteTx;

use scim_core::policy::{RoleAssignment, Source};
use scim_core::render::Member;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tx::Core;

/// A user's groups: (group id, group displayName).
pub type UserGroups = Vec<(String, Option<String>)>;
/// user id -> the user's groups.
pub type GroupsByUser = HashMap<String, UserGroups>;
/// What a write job returns: it borrows the transaction for as long as it runs.
pub type JobFuture<'t, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 't>>;
/// A write job: statements on `tx`, with the job's own arguments.
pub type JobFn<A, T, E> = for<'t> fn(&'t mut WriteTx, &'t A) -> JobFuture<'t, T, E>;

/// Which uniqueness rule a write broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unique {
    UserName,
    TenantName,
    TokenName,
    AdminTokenName,
    OAuthClientName,
    /// A value of an extension attribute declared unique.
    ExtensionValue,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("a uniqueness rule was broken: {0:?}")]
    Unique(Unique),
    /// The resource has a newer version than the one a write was computed from.
    #[error("the resource changed while the write was prepared")]
    VersionMoved,
    /// A filter or sort order that cannot be translated to SQL, as scim-core words it.
    #[error("{}", .0.detail)]
    Query(scim_core::ScimError),
    #[error("database error: {0}")]
    Db(#[from] exec::DbError),
    /// What is stored cannot be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A value could not be encoded for a statement (JSON that serde refuses).
    #[error("a value could not be encoded: {0}")]
    Encode(String),
    /// The store cannot take writes now (its writer stopped, a worker failed).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    /// The attribute a resource of this kind is named by.
    pub fn name_attribute(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::Group => "displayName",
        }
    }
}

/// Columns mirrored from the document for indexed look-ups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexCols {
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
}

impl IndexCols {
    pub fn of(doc: &Value, kind: Kind) -> IndexCols {
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        IndexCols {
            user_name: if kind == Kind::User { text("userName").map(|s| s.to_lowercase()) } else { None },
            external_id: text("externalId"),
            display_name: text("displayName").map(|s| s.to_lowercase()),
            active: doc.get("active").and_then(Value::as_bool),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StoredResource {
    pub kind: Kind,
    pub id: String,
    /// Without `id`, `meta` and `members`.
    pub doc: Value,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Owned by the identity provider (written through SCIM), not by the admin API.
    pub scim_managed: bool,
    /// A user's groups (id, displayName), when the read fetched them with the user.
    pub groups: Option<UserGroups>,
    /// Bytes of the document's stored text: past [`LARGE_BYTES`], work on it
    /// (parsing, patching) runs on a blocking thread.
    pub stored_bytes: usize,
}

impl StoredResource {
    /// What the server keeps beside the document, as the renderer takes it.
    pub fn meta(&self) -> scim_core::render::Meta<'_> {
        meta(self.kind, &self.id, &self.created_at, &self.updated_at, self.version)
    }
}

fn meta<'a>(kind: Kind, id: &'a str, created: &'a str, updated: &'a str, version: i64) -> scim_core::render::Meta<'a> {
    scim_core::render::Meta { resource_type: kind.as_str(), id, created, last_modified: updated, version }
}

/// Bodies and documents past this size are parsed, validated and patched on
/// a blocking thread, so that one large request or resource cannot hold an
/// async worker that other requests are waiting for.
pub const LARGE_BYTES: usize = 64 * 1024;

/// A resource as a list reads it: the document still JSON text, so that a
/// page of whole resources is written out without building trees.
#[derive(Clone, Debug)]
pub struct RawResource {
    pub kind: Kind,
    pub id: String,
    /// A JSON object, without `id`, `meta` and `members`.
    pub doc_text: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub scim_managed: bool,
    /// A user's groups as a JSON array of [group id, displayName].
    pub groups_text: Option<String>,
}

impl RawResource {
    /// What the server keeps beside the document, as the renderer takes it.
    pub fn meta(&self) -> scim_core::render::Meta<'_> {
        meta(self.kind, &self.id, &self.created_at, &self.updated_at, self.version)
    }

    pub fn groups(&self) -> Result<Option<UserGroups>, StoreError> {
        self.groups_text
            .as_deref()
            .map(|text| serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("groups: {e}"))))
            .transpose()
    }

    /// [`RawResource::parse`], on a blocking thread when the document is large.
    pub async fn parse_off_thread(self) -> Result<StoredResource, StoreError> {
        if self.doc_text.len() <= LARGE_BYTES {
            return self.parse();
        }
        tokio::task::spawn_blocking(move || self.parse())
            .await
            .map_err(|e| StoreError::Unavailable(format!("a document could not be read: {e}")))?
    }

    pub fn parse(self) -> Result<StoredResource, StoreError> {
        Ok(StoredResource {
            stored_bytes: self.doc_text.len(),
            groups: self.groups()?,
            kind: self.kind,
            doc: serde_json::from_str(&self.doc_text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            id: self.id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            scim_managed: self.scim_managed,
        })
    }
}

/// A document as it is written: the tree, its text and its indexed columns,
/// all made before the write, so a transaction only runs statements.
#[derive(Clone, Debug)]
pub struct Doc {
    pub value: Value,
    pub text: String,
    pub index: IndexCols,
}

impl Doc {
    pub fn new(value: Value, kind: Kind) -> Doc {
        let text = String::from_utf8(scim_core::render::json_bytes(&value)).unwrap_or_else(|_| value.to_string());
        Doc { text, index: IndexCols::of(&value, kind), value }
    }
}

#[derive(Clone, Debug)]
pub struct NewResource {
    pub kind: Kind,
    pub id: String,
    pub doc: Doc,
    pub now: String,
    pub members: Vec<Member>,
    pub scim_managed: bool,
}

/// What a user may do in the product, and why.
#[derive(Clone, Debug)]
pub struct Access {
    pub active: bool,
    pub deleted: bool,
    pub scim_managed: bool,
    pub roles: Vec<RoleAssignment>,
    /// The licence type held, and its source.
    pub licence: Option<(String, Source)>,
    /// The licence type waited for because its seats ran out.
    pub unlicensed_wanted: Option<String>,
    /// Since when it is waited for.
    pub waiting_since: Option<String>,
}

/// Connection settings a deployment may tune.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// 0: the dialect's default (4 on SQLite, 16 on PostgreSQL).
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout`; SQLite waits this long for the write lock.
    pub statement_timeout: Duration,
    /// PostgreSQL: vacuum and analyse in the background while autovacuum is
    /// off. For the server only: a CLI command would start work and leave.
    pub maintain_tables: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 0,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            maintain_tables: false,
        }
    }
}

/// The store: a pool for reads, and on SQLite the one writer every write goes through.
#[derive(Clone)]
pub struct Store(Arc<Inner>);

struct Inner {
    core: Arc<Core>,
    engine: Engine,
}

/// How writes reach the database, which is what the two databases differ in most.
enum Engine {
    /// One process owns the file: writes queue to the one writer, and list
    /// positions are remembered between pages.
    Sqlite { writer: sqlite::WriterHandle, rosters: sqlite::Rosters },
    /// Replicas share the database: each write is its own transaction on the pool.
    Postgres,
}

/// Work a store needs done in the background while it is open: run by
/// whoever owns the store (the server, or a CLI command) with [`Background::spawn`].
pub struct Background {
    tasks: Vec<(&'static str, Task)>,
}

/// Work that runs until it is stopped.
type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Background {
    /// Start the tasks; they stop when the returned guard is dropped.
    pub fn spawn(self) -> TaskGuard {
        TaskGuard(self.tasks.into_iter().map(|(name, task)| (name, tokio::spawn(task))).collect())
    }
}

/// Background tasks that stop when this is dropped (or [`TaskGuard::stop`]ped).
pub struct TaskGuard(Vec<(&'static str, tokio::task::JoinHandle<()>)>);

impl TaskGuard {
    pub fn empty() -> TaskGuard {
        TaskGuard(Vec::new())
    }
    pub fn add(&mut self, name: &'static str, task: tokio::task::JoinHandle<()>) {
        self.0.push((name, task));
    }
    pub fn extend(&mut self, other: TaskGuard) {
        let mut other = other;
        self.0.append(&mut other.0);
    }
    /// Stop every task and wait until each has.
    pub async fn stop(mut self) {
        for (name, task) in std::mem::take(&mut self.0) {
            task.abort();
            if let Err(e) = task.await
                && !e.is_cancelled()
            {
                tracing::error!(task = name, error = %e, "a background task failed");
            }
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for (_, task) in &self.0 {
            task.abort();
        }
    }
}

impl Store {
    /// Connect to `sqlite://FILE` (created if missing) or `postgres://…`, and
    /// migrate. The store works once its [`Background`] runs.
    pub async fn connect(url: &str, config: &PoolConfig) -> Result<(Store, Background), StoreError> {
        let (core, writer_conn) = Core::connect(url, config).await?;
        let core = Arc::new(core);
        let mut tasks: Vec<(&'static str, Task)> = Vec::new();
        let engine = match (&core.pool, writer_conn) {
            (exec::Pool::Sqlite(_), Some(conn)) => {
                let writer = sqlite::writer(core.clone(), conn)?;
                Engine::Sqlite { writer, rosters: sqlite::Rosters::default() }
            }
            (exec::Pool::Postgres(pool), _) => {
                if config.maintain_tables {
                    tasks.push(("postgres maintenance", Box::pin(postgres::keep_statistics_fresh(pool.clone()))));
                }
                Engine::Postgres
            }
            (exec::Pool::Sqlite(_), None) => {
                return Err(StoreError::Unavailable("the SQLite writer has no connection".into()));
            }
        };
        Ok((Store(Arc::new(Inner { core, engine })), Background { tasks }))
    }

    pub(crate) fn core(&self) -> &Core {
        &self.0.core
    }

    /// Can other processes write the same database (caches of it are then unsafe)?
    pub fn is_shared(&self) -> bool {
        matches!(self.0.engine, Engine::Postgres)
    }

    /// SQLite's rosters of list positions.
    fn rosters(&self) -> Option<&sqlite::Rosters> {
        match &self.0.engine {
            Engine::Sqlite { rosters, .. } => Some(rosters),
            Engine::Postgres => None,
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.core().q("SELECT 1").execute(&self.core().pool).await?;
        Ok(())
    }

    /// Database connections open, and how many of them are idle.
    pub fn pool_use(&self) -> (u32, usize) {
        self.core().pool.usage()
    }

    /// Run `job` in one transaction and commit it; answers the job's result
    /// and what it changed. A job that fails is rolled back (and changed
    /// nothing). On SQLite the job runs on the writer, batched with other
    /// writes into one commit, and may run more than once (when another job
    /// of its batch fails): it must only run statements.
    pub async fn write<A, T, E>(&self, args: A, job: JobFn<A, T, E>) -> Result<(T, ChangeSet), E>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let job = Arc::new(tx::TypedJob { args, run: job, out: Mutex::new(None) });
        match &self.0.engine {
            Engine::Sqlite { writer, .. } => writer.submit(job.clone()).await?,
            Engine::Postgres => {
                let mut tx = WriteTx::postgres(self.0.core.clone()).await?;
                let ok = tx::Job::run(&*job, &mut tx).await;
                if ok {
                    tx.commit().await.0?;
                } else {
                    tx.rollback().await;
                }
            }
        }
        let out = job.take().ok_or_else(|| E::from(StoreError::Unavailable("a write was not run".into())))?;
        if let (Ok((_, changes)), Some(rosters)) = (&out, self.rosters()) {
            rosters.apply(changes);
        }
        out
    }

    /// Returns once every write queued before the call is committed (shutdown).
    pub async fn drain(&self) -> Result<(), StoreError> {
        fn nothing<'t>(_: &'t mut WriteTx, _: &'t ()) -> JobFuture<'t, (), StoreError> {
            Box::pin(async { Ok(()) })
        }
        // Jobs run in order: once this one is answered, every earlier one is committed.
        self.write((), nothing).await.map(|_| ())
    }
}
