//! Caches above the store, fed from what each committed write changed
//! ([`Caches::apply`]), on SQLite only: one process owns the file, so every
//! write passes through this process. (Several replicas share a PostgreSQL
//! database: there nothing is cached.)
//!
//! [`UserCache`]: users as last rendered, for reads that return one whole
//! user (GET by id, `filter=userName eq "…"`): on a hit no statement runs and
//! nothing is rendered. A user's entry is dropped when that user is written;
//! any change to a group (which changes its members' `groups`), to a tenant's
//! configuration or to access moves the tenant's generation, which every
//! entry of the tenant carries. A reader takes a [`Ticket`] before it reads
//! the database and may store what it read only if no invalidation happened
//! since, so a read that raced a write never caches the old state. Bounded
//! by bytes; the oldest entries go first.
//!
//! [`ConfigCache`]: tenant configurations for write jobs, which otherwise
//! read them in every transaction. See its own doc for why it is coherent.

use crate::store::{ChangeSet, Kind};
use bytes::Bytes;
use scim_core::policy::TenantConfig;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

const SHARDS: usize = 16;
/// Bookkeeping per entry beyond its body, id and userName (map and queue slots).
const ENTRY_OVERHEAD: usize = 160;

/// A user as a client sees it with no `attributes`/`excludedAttributes`.
#[derive(Clone)]
pub struct CachedUser {
    pub body: Bytes,
    pub version: i64,
}

struct Entry {
    user: CachedUser,
    /// `meta.location` depends on the URL the client used.
    base: Box<str>,
    user_name: Box<str>,
    tenant_gen: u64,
    /// Tells this entry from an older one under the same key in the queue.
    stamp: u64,
    bytes: usize,
}

type Key = (i64, Box<str>);

#[derive(Default)]
struct Shard {
    entries: HashMap<Key, Entry>,
    /// Insertion order, for eviction; stale slots are skipped.
    queue: VecDeque<(Key, u64)>,
    bytes: usize,
}

/// Taken before a database read; the read may be cached only while it is current.
#[derive(Clone, Copy)]
pub struct Ticket {
    epoch: u64,
    tenant_gen: u64,
}

pub struct UserCache {
    shards: Vec<Mutex<Shard>>,
    /// (tenant, lowercased userName) -> user id.
    names: Vec<Mutex<HashMap<Key, Box<str>>>>,
    tenant_gens: RwLock<HashMap<i64, u64>>,
    /// Moves on every invalidation.
    epoch: AtomicU64,
    stamps: AtomicU64,
    hasher: RandomState,
    shard_budget: usize,
    names_per_shard: usize,
}

impl UserCache {
    pub fn new(budget_bytes: usize) -> UserCache {
        let shard_budget = budget_bytes / SHARDS;
        UserCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            names: (0..SHARDS).map(|_| Mutex::default()).collect(),
            tenant_gens: RwLock::default(),
            epoch: AtomicU64::new(0),
            stamps: AtomicU64::new(0),
            hasher: RandomState::new(),
            shard_budget,
            names_per_shard: (shard_budget / 256).max(16),
        }
    }

    fn shard_of<K: Hash + ?Sized>(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn tenant_gen(&self, tenant_id: i64) -> u64 {
        self.tenant_gens.read().map(|g| g.get(&tenant_id).copied().unwrap_or(0)).unwrap_or(u64::MAX)
    }

    pub fn ticket(&self, tenant_id: i64) -> Ticket {
        let epoch = self.epoch.load(Ordering::Acquire);
        Ticket { epoch, tenant_gen: self.tenant_gen(tenant_id) }
    }

    /// The user with this id, as rendered for `base`.
    pub fn get(&self, tenant_id: i64, id: &str, base: &str) -> Option<CachedUser> {
        counted(self.lookup(tenant_id, id, base))
    }

    fn lookup(&self, tenant_id: i64, id: &str, base: &str) -> Option<CachedUser> {
        let gen_now = self.tenant_gen(tenant_id);
        let key: Key = (tenant_id, id.into());
        let shard = self.shards[self.shard_of(&key)].lock().ok()?;
        let e = shard.entries.get(&key)?;
        (e.tenant_gen == gen_now && &*e.base == base).then(|| e.user.clone())
    }

    /// The user whose lowercased userName is `user_name`.
    pub fn get_by_user_name(&self, tenant_id: i64, user_name: &str, base: &str) -> Option<CachedUser> {
        counted(self.lookup_name(tenant_id, user_name, base))
    }

    fn lookup_name(&self, tenant_id: i64, user_name: &str, base: &str) -> Option<CachedUser> {
        let name_key: Key = (tenant_id, user_name.into());
        let id = self.names[self.shard_of(&name_key)].lock().ok()?.get(&name_key)?.clone();
        let gen_now = self.tenant_gen(tenant_id);
        let key: Key = (tenant_id, id);
        let shard = self.shards[self.shard_of(&key)].lock().ok()?;
        let e = shard.entries.get(&key)?;
        // The name may have moved to another user since the mapping was made.
        (e.tenant_gen == gen_now && &*e.base == base && &*e.user_name == user_name).then(|| e.user.clone())
    }

    /// Keep what a read found, unless something was invalidated since its ticket.
    pub fn put(&self, ticket: Ticket, tenant_id: i64, id: &str, user_name: &str, base: &str, user: CachedUser) {
        let bytes = user.body.len() + id.len() + user_name.len() + base.len() + ENTRY_OVERHEAD;
        if bytes > self.shard_budget {
            return;
        }
        let key: Key = (tenant_id, id.into());
        let stamp = self.stamps.fetch_add(1, Ordering::Relaxed);
        {
            let Ok(mut shard) = self.shards[self.shard_of(&key)].lock() else { return };
            // Checked under the shard lock: an invalidation bumps the epoch
            // before it takes this lock to remove the entry.
            if self.epoch.load(Ordering::Acquire) != ticket.epoch {
                return;
            }
            let entry = Entry {
                user,
                base: base.into(),
                user_name: user_name.into(),
                tenant_gen: ticket.tenant_gen,
                stamp,
                bytes,
            };
            if let Some(old) = shard.entries.insert(key.clone(), entry) {
                shard.bytes -= old.bytes;
            }
            shard.bytes += bytes;
            shard.queue.push_back((key, stamp));
            while shard.bytes > self.shard_budget {
                let Some((old_key, old_stamp)) = shard.queue.pop_front() else { break };
                if shard.entries.get(&old_key).is_some_and(|e| e.stamp == old_stamp)
                    && let Some(old) = shard.entries.remove(&old_key)
                {
                    shard.bytes -= old.bytes;
                }
            }
            // Re-cached keys leave stale slots behind; drop them before they pile up.
            if shard.queue.len() > 2 * shard.entries.len() + 64 {
                let Shard { entries, queue, .. } = &mut *shard;
                queue.retain(|(k, s)| entries.get(k).is_some_and(|e| e.stamp == *s));
            }
        }
        let name_key: Key = (tenant_id, user_name.into());
        if let Ok(mut names) = self.names[self.shard_of(&name_key)].lock() {
            if names.len() >= self.names_per_shard {
                names.clear();
            }
            names.insert(name_key, id.into());
        }
    }

    /// A user was (or is about to be) written.
    pub fn invalidate(&self, tenant_id: i64, id: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let key: Key = (tenant_id, id.into());
        if let Ok(mut shard) = self.shards[self.shard_of(&key)].lock()
            && let Some(old) = shard.entries.remove(&key)
        {
            shard.bytes -= old.bytes;
        }
    }

    /// Something that shows in many users of the tenant changed.
    pub fn invalidate_tenant(&self, tenant_id: i64) {
        if let Ok(mut gens) = self.tenant_gens.write() {
            *gens.entry(tenant_id).or_insert(0) += 1;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

fn counted(found: Option<CachedUser>) -> Option<CachedUser> {
    let outcome = if found.is_some() { "hit" } else { "miss" };
    metrics::counter!("scimd_read_cache_lookups_total", "outcome" => outcome).increment(1);
    found
}

/// Tenant configurations for write jobs. Coherent because only write jobs
/// fill it, and they run one at a time on SQLite's writer: a job that
/// changes a configuration drops the tenant's entry inside its transaction,
/// before commit (so a later job of the same batch reads the new
/// configuration from the transaction and caches it), and [`Caches::apply`]
/// drops it again after commit (so a configuration cached from a batch that
/// then failed to commit is not kept). Reads outside the writer never fill
/// it, so an older committed configuration cannot come back in between.
#[derive(Default)]
pub(crate) struct ConfigCache {
    configs: Mutex<HashMap<i64, TenantConfig>>,
}

impl ConfigCache {
    pub(crate) fn get(&self, tenant_id: i64) -> Option<TenantConfig> {
        self.configs.lock().ok()?.get(&tenant_id).cloned()
    }

    /// From a write job only (see the type's doc).
    pub(crate) fn put(&self, tenant_id: i64, config: TenantConfig) {
        if let Ok(mut configs) = self.configs.lock() {
            insert_bounded(&mut configs, tenant_id, config, TENANTS_CACHED);
        }
    }

    pub(crate) fn forget(&self, tenant_id: i64) {
        if let Ok(mut configs) = self.configs.lock() {
            configs.remove(&tenant_id);
        }
    }
}

/// Most tenants a per-tenant map of a cache holds (configurations, the
/// views requests read): a server of more tenants stays bounded, and a
/// tenant pushed out is read again on its next request.
pub(crate) const TENANTS_CACHED: usize = 10_000;

/// Insert into a map kept to `max` entries: past it an arbitrary other entry
/// makes room (a miss costs one read; any entry is as good to drop).
pub(crate) fn insert_bounded<K: std::hash::Hash + Eq + Clone, V>(
    map: &mut HashMap<K, V>,
    key: K,
    value: V,
    max: usize,
) {
    if map.len() >= max
        && !map.contains_key(&key)
        && let Some(any) = map.keys().next().cloned()
    {
        map.remove(&any);
    }
    map.insert(key, value);
}

/// Every cache above the store; `None` parts where the store is shared.
#[derive(Default)]
pub(crate) struct Caches {
    pub users: Option<UserCache>,
    pub configs: Option<ConfigCache>,
}

impl Caches {
    /// Caches for a store that this process alone writes, with `user_bytes` of rendered users (0: none).
    pub(crate) fn for_own_store(user_bytes: usize) -> Caches {
        Caches { users: (user_bytes > 0).then(|| UserCache::new(user_bytes)), configs: Some(ConfigCache::default()) }
    }

    /// A write committed (or failed after its job ran): drop what it changed.
    pub(crate) fn apply(&self, changes: &ChangeSet) {
        let Some(tenant_id) = changes.tenant_id else { return };
        if changes.config_changed
            && let Some(configs) = &self.configs
        {
            configs.forget(tenant_id);
        }
        let Some(users) = &self.users else { return };
        // Members show their groups, and access is not in a user's body but
        // a configuration change may come with a tenant switched off: any of
        // these moves the whole tenant.
        if changes.any_group() || changes.config_changed || changes.tenants_changed {
            users.invalidate_tenant(tenant_id);
            return;
        }
        for change in changes.resources.iter().filter(|r| r.kind == Kind::User) {
            users.invalidate(tenant_id, &change.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_map_makes_room_and_replaces_in_place() {
        let mut map = HashMap::new();
        for k in 0..10 {
            insert_bounded(&mut map, k, k, 4);
        }
        assert_eq!(map.len(), 4);
        assert_eq!(map.get(&9), Some(&9), "the newest entry is in");
        let kept: Vec<i32> = map.keys().copied().collect();
        insert_bounded(&mut map, kept[0], 100, 4);
        assert_eq!(map.len(), 4);
        assert_eq!(map.get(&kept[0]), Some(&100), "a key already in is replaced, nothing dropped");
    }

    fn user(body: &str, version: i64) -> CachedUser {
        CachedUser { body: Bytes::from(body.to_string()), version }
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = UserCache::new(1 << 20);
        let ticket = cache.ticket(1);
        cache.invalidate(1, "u1");
        cache.put(ticket, 1, "u1", "alice", "b", user("{}", 1));
        assert!(cache.get(1, "u1", "b").is_none());
        cache.put(cache.ticket(1), 1, "u1", "alice", "b", user("{}", 2));
        assert_eq!(cache.get(1, "u1", "b").map(|u| u.version), Some(2));
        assert_eq!(cache.get_by_user_name(1, "alice", "b").map(|u| u.version), Some(2));
        assert!(cache.get(1, "u1", "other-base").is_none());
    }

    #[test]
    fn a_tenant_wide_change_hides_every_entry_of_that_tenant_only() {
        let cache = UserCache::new(1 << 20);
        cache.put(cache.ticket(1), 1, "u1", "alice", "b", user("{}", 1));
        cache.put(cache.ticket(2), 2, "u1", "alice", "b", user("{}", 1));
        cache.invalidate_tenant(1);
        assert!(cache.get(1, "u1", "b").is_none());
        assert!(cache.get_by_user_name(1, "alice", "b").is_none());
        assert!(cache.get(2, "u1", "b").is_some());
    }

    #[test]
    fn it_stays_within_its_budget() {
        let cache = UserCache::new(SHARDS * 4096);
        let body = "x".repeat(500);
        for i in 0..10_000 {
            let id = format!("u{i}");
            cache.put(cache.ticket(1), 1, &id, &id, "b", user(&body, 1));
        }
        for shard in &cache.shards {
            let shard = shard.lock().unwrap();
            assert!(shard.bytes <= 4096);
            assert!(shard.queue.len() <= 2 * shard.entries.len() + 65);
        }
        assert!(cache.get(1, "u9999", "b").is_some(), "the newest entries stay");
    }
}
