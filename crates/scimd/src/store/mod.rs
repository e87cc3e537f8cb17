//! The storage seam: everything scimd keeps, behind one object-safe trait, so
//! nothing above it knows which database it talks to. [`sql_store::SqlStore`]
//! implements it on SQLite and PostgreSQL; [`sql`] translates filters for both.

mod provision;
pub mod read_cache;
pub mod sql;
pub mod sql_store;

use scim_core::patch::MemberChange;
use scim_core::policy::{RoleAssignment, Source, TenantConfig};
use scim_core::{AttrPath, Filter, ScimError};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A user's groups: (group id, group displayName).
pub type UserGroups = Vec<(String, Option<String>)>;
/// user id -> the user's groups.
pub type GroupsByUser = HashMap<String, UserGroups>;
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;
pub type Store = Arc<dyn Storage>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint; the text names what collided.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A request-level refusal raised inside a transaction (the write is rolled back).
    #[error("{0}")]
    Rejected(ScimError),
    /// The resource has a newer version than the one a write was computed from.
    #[error("the resource changed while the write was prepared")]
    VersionMoved,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
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
}

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub created_at: String,
}

#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub hash: Vec<u8>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
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
            .map_err(|e| StoreError::Corrupt(format!("a document could not be read: {e}")))?
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

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub value: String,
    pub member_type: Option<String>,
    pub display: Option<String>,
    pub reference: Option<String>,
}

impl Member {
    pub fn from_json(v: &Value) -> Option<Member> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Member { value: s("value")?, member_type: s("type"), display: s("display"), reference: s("$ref") })
    }
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("value".into(), self.value.clone().into());
        if let Some(t) = &self.member_type {
            m.insert("type".into(), t.clone().into());
        }
        if let Some(d) = &self.display {
            m.insert("display".into(), d.clone().into());
        }
        if let Some(r) = &self.reference {
            m.insert("$ref".into(), r.clone().into());
        }
        Value::Object(m)
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
        let text = String::from_utf8(json_bytes(&value)).unwrap_or_else(|_| value.to_string());
        Doc { text, index: IndexCols::of(&value, kind), value }
    }
}

/// JSON text in a buffer of exactly its size: measured first, then written.
/// Growing a buffer by doubling would hold up to three times a large
/// document's size while it is written.
pub fn json_bytes<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    let mut out = Vec::with_capacity(count.0);
    let _ = serde_json::to_writer(&mut out, value);
    out
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

/// What an update writes, decided by the caller from the resource it read.
#[derive(Clone, Debug)]
pub struct Update {
    /// The new document; `None` keeps the stored one (a PATCH of members only).
    pub doc: Option<Doc>,
    pub member_changes: Vec<MemberChange>,
    pub now: String,
    pub scim_managed: bool,
    /// The version the update was computed from: if the resource has moved
    /// on, the write fails with [`StoreError::VersionMoved`] and is decided
    /// again. `None`: the update does not depend on the current document.
    pub based_on: Option<i64>,
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
    /// The licence type wanted but refused because its seats ran out.
    pub unlicensed_wanted: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AdminToken {
    pub id: i64,
    pub name: String,
    pub hash: Vec<u8>,
    pub revoked_at: Option<String>,
}

pub type ConfigFn = Box<dyn FnOnce(&mut TenantConfig) -> Result<(), ScimError> + Send>;

/// Decides a write from the resource as read. It is called again when the
/// resource moved on before the write, so it must not consume what it captures.
pub type UpdateFn = Arc<dyn Fn(&StoredResource) -> Result<Update, ScimError> + Send + Sync>;
pub type CheckFn = Arc<dyn Fn(&StoredResource) -> Result<(), ScimError> + Send + Sync>;

#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    /// 0-based.
    pub offset: i64,
    pub limit: i64,
}

pub trait Storage: Send + Sync + 'static {
    fn ping(&self) -> BoxFut<'_, ()>;

    fn create_tenant<'a>(&'a self, name: &'a str, now: &'a str) -> BoxFut<'a, Tenant>;
    fn list_tenants(&self) -> BoxFut<'_, Vec<Tenant>>;
    fn tenant_by_name<'a>(&'a self, name: &'a str) -> BoxFut<'a, Option<Tenant>>;
    fn set_tenant_enabled<'a>(&'a self, name: &'a str, enabled: bool) -> BoxFut<'a, ()>;

    fn create_token<'a>(
        &'a self,
        tenant_id: i64,
        name: &'a str,
        hash: &'a [u8],
        now: &'a str,
        expires_at: Option<&'a str>,
    ) -> BoxFut<'a, ()>;
    fn list_tokens(&self, tenant_id: i64) -> BoxFut<'_, Vec<TokenInfo>>;
    fn revoke_token<'a>(&'a self, tenant_id: i64, name: &'a str, now: &'a str) -> BoxFut<'a, ()>;
    fn token_by_hash<'a>(&'a self, hash: &'a [u8]) -> BoxFut<'a, Option<TokenInfo>>;
    fn record_token_use(&self, uses: Vec<(i64, String)>) -> BoxFut<'_, ()>;

    fn insert(&self, tenant_id: i64, new: NewResource) -> BoxFut<'_, StoredResource>;
    fn get<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str) -> BoxFut<'a, Option<StoredResource>>;
    fn list<'a>(
        &'a self,
        tenant_id: i64,
        kind: Kind,
        query: &'a ListQuery,
        rt: &'a scim_core::ResourceType,
    ) -> BoxFut<'a, (i64, Vec<RawResource>)>;
    /// Write `update` in one transaction; answers the new version.
    fn update<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, update: Arc<Update>) -> BoxFut<'a, i64>;
    fn delete<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, check: CheckFn) -> BoxFut<'a, ()>;

    /// Members of several groups at once (a page of a list).
    fn members_of<'a>(&'a self, tenant_id: i64, group_ids: &'a [String]) -> BoxFut<'a, HashMap<String, Vec<Member>>>;
    fn tenant_config(&self, tenant_id: i64) -> BoxFut<'_, TenantConfig>;
    /// Change a tenant's configuration; it is validated, and every user whose
    /// access it changes is reconciled in the same transaction.
    fn change_tenant_config(&self, tenant_id: i64, f: ConfigFn) -> BoxFut<'_, TenantConfig>;
    fn access<'a>(&'a self, tenant_id: i64, user_id: &'a str) -> BoxFut<'a, Option<Access>>;
    /// Grant (`grant = true`) or withdraw a manual role.
    fn set_manual_role<'a>(
        &'a self,
        tenant_id: i64,
        user_id: &'a str,
        workspace_id: &'a str,
        role_id: &'a str,
        grant: bool,
    ) -> BoxFut<'a, ()>;
    fn list_deleted_users(&self, tenant_id: i64) -> BoxFut<'_, Vec<StoredResource>>;
    fn restore_user<'a>(&'a self, tenant_id: i64, id: &'a str, now: &'a str) -> BoxFut<'a, StoredResource>;

    fn create_admin_token<'a>(&'a self, name: &'a str, hash: &'a [u8], now: &'a str) -> BoxFut<'a, ()>;
    fn admin_token_by_hash<'a>(&'a self, hash: &'a [u8]) -> BoxFut<'a, Option<AdminToken>>;

    /// Groups of several users at once: user id -> [(group id, group displayName)].
    fn groups_of<'a>(&'a self, tenant_id: i64, user_ids: &'a [String]) -> BoxFut<'a, GroupsByUser>;

    /// Rendered users, where this store can keep them coherent.
    fn read_cache(&self) -> Option<&read_cache::ReadCache> {
        None
    }

    /// Returns once every write queued before the call is committed (shutdown).
    fn drain(&self) -> BoxFut<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Database connections open, and how many of them are idle.
    fn pool_use(&self) -> (u32, usize) {
        (0, 0)
    }
}

/// How often a write is decided again when its resource keeps moving on.
const MAX_UPDATE_TRIES: usize = 16;

/// Read a resource, decide its update from what was read (on a blocking
/// thread when `off_thread`, the request being large, or when the stored
/// document is: the work is that size), and write it with a
/// version check, deciding again if the resource changed in between. The
/// decision never runs inside a transaction, so a large PATCH holds no lock
/// and no writer while it computes.
pub async fn update_from_current(
    store: &Store,
    tenant_id: i64,
    kind: Kind,
    id: &str,
    off_thread: bool,
    decide: UpdateFn,
) -> Result<StoredResource, StoreError> {
    for _ in 0..MAX_UPDATE_TRIES {
        let current = store.get(tenant_id, kind, id).await?.ok_or(StoreError::NotFound)?;
        let (update, current) = if off_thread || current.stored_bytes > LARGE_BYTES {
            let decide = decide.clone();
            tokio::task::spawn_blocking(move || (decide(&current), current))
                .await
                .map_err(|e| StoreError::Corrupt(format!("an update could not be computed: {e}")))?
        } else {
            (decide(&current), current)
        };
        let update = Arc::new(update.map_err(StoreError::Rejected)?);
        match store.update(tenant_id, kind, id, update.clone()).await {
            Err(StoreError::VersionMoved) => continue,
            Err(e) => return Err(e),
            Ok(version) => {
                let update = Arc::try_unwrap(update).unwrap_or_else(|shared| (*shared).clone());
                return Ok(StoredResource {
                    stored_bytes: update.doc.as_ref().map_or(current.stored_bytes, |d| d.text.len()),
                    kind,
                    doc: update.doc.map(|d| d.value).unwrap_or(current.doc),
                    id: current.id,
                    version,
                    created_at: current.created_at,
                    updated_at: update.now,
                    scim_managed: update.scim_managed,
                    groups: current.groups,
                });
            }
        }
    }
    Err(StoreError::Rejected(ScimError::new(
        409,
        None,
        format!("the {} changed {MAX_UPDATE_TRIES} times while this request was applied; send it again", kind.as_str()),
    )))
}
