//! Rosters: where each [`MARK_EVERY`]th live resource of a tenant sits in
//! stored order, so that a page far down an unfiltered list (how Okta
//! imports) starts from the nearest mark instead of counting every row
//! before it, and its total needs no count. Kept by the store, which drops
//! them when a write of its own creates or deletes a resource.

use crate::store::tx::Core;
use crate::store::{ChangeSet, Kind, RawResource, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Every [`MARK_EVERY`]th position of an unfiltered list in its stored order.
pub(crate) const MARK_EVERY: i64 = 256;

/// The live resources of one kind in one tenant: how many, and the `seq` at
/// positions 0, [`MARK_EVERY`], 2 × [`MARK_EVERY`], …
#[derive(Clone, Debug, Default)]
pub(crate) struct Roster {
    pub total: i64,
    pub marks: Vec<i64>,
}

impl Roster {
    /// Where a page at `offset` starts: the seq of the nearest mark at or
    /// before it, and how many rows to skip from there. `None` past the end.
    pub(crate) fn start(&self, offset: i64) -> Option<(i64, i64)> {
        if offset >= self.total {
            return None;
        }
        let mark = usize::try_from(offset / MARK_EVERY).ok()?;
        self.marks.get(mark).map(|seq| (*seq, offset % MARK_EVERY))
    }
}

/// A roster and the epoch (of its tenant's shard) it was counted at.
type EpochRoster = (u64, Arc<Roster>);

/// Tenants share this many epochs: a create in one tenant makes stale only
/// the rosters of the tenants in its shard, not every tenant's (a roster of
/// 10,000,000 users is a pass over that many index entries).
const EPOCH_SHARDS: usize = 64;

/// At most this many rosters are kept (one a tenant and kind); past it an
/// arbitrary one makes room, so a server of many tenants stays bounded.
const ROSTERS_MAX: usize = 10_000;

/// Rosters by (tenant, kind), valid while no resource came or went in their
/// tenant's shard since they were counted.
pub(crate) struct Rosters {
    rosters: Mutex<HashMap<(i64, Kind), EpochRoster>>,
    /// Move when a resource of a tenant of the shard is created, deleted or
    /// restored (what shifts positions).
    epochs: Box<[AtomicU64]>,
}

impl Default for Rosters {
    fn default() -> Self {
        Rosters { rosters: Mutex::default(), epochs: (0..EPOCH_SHARDS).map(|_| AtomicU64::new(0)).collect() }
    }
}

impl Rosters {
    fn epoch(&self, tenant_id: i64) -> &AtomicU64 {
        // rem_euclid of a positive modulus is in 0..EPOCH_SHARDS, the slice's length.
        &self.epochs[tenant_id.rem_euclid(EPOCH_SHARDS as i64) as usize]
    }

    /// Taken before counting and marking a tenant's list; see [`Rosters::put`].
    pub(crate) fn ticket(&self, tenant_id: i64) -> u64 {
        self.epoch(tenant_id).load(Ordering::Acquire)
    }

    pub(crate) fn get(&self, tenant_id: i64, kind: Kind) -> Option<Arc<Roster>> {
        let now = self.ticket(tenant_id);
        let rosters = self.rosters.lock().ok()?;
        rosters.get(&(tenant_id, kind)).filter(|(epoch, _)| *epoch == now).map(|(_, r)| r.clone())
    }

    /// Keep a roster counted since `ticket`, unless a resource of its shard came or went meanwhile.
    pub(crate) fn put(&self, ticket: u64, tenant_id: i64, kind: Kind, roster: Arc<Roster>) {
        if let Ok(mut rosters) = self.rosters.lock()
            && self.ticket(tenant_id) == ticket
        {
            if rosters.len() >= ROSTERS_MAX && !rosters.contains_key(&(tenant_id, kind)) {
                rosters.retain(|(tenant, _), (epoch, _)| *epoch == self.ticket(*tenant));
                if rosters.len() >= ROSTERS_MAX
                    && let Some(any) = rosters.keys().next().copied()
                {
                    rosters.remove(&any);
                }
            }
            rosters.insert((tenant_id, kind), (ticket, roster));
        }
    }

    /// A committed write: if it created, deleted or restored a resource, every
    /// position after it moved in its tenant (in every tenant when the write
    /// names none, e.g. a tenant deleted).
    pub(crate) fn apply(&self, changes: &ChangeSet) {
        let moved = changes.created_or_deleted(Kind::User) || changes.created_or_deleted(Kind::Group);
        if !(moved || changes.tenants_changed) {
            return;
        }
        // Under the lock, so a put between a count and its ticket's check sees the move.
        let Ok(_rosters) = self.rosters.lock() else { return };
        match changes.tenant_id.filter(|_| !changes.tenants_changed) {
            Some(tenant_id) => {
                self.epoch(tenant_id).fetch_add(1, Ordering::AcqRel);
            }
            None => {
                for epoch in &self.epochs {
                    epoch.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }
}

impl Core {
    /// How many live resources of a kind a tenant has, and where every
    /// [`MARK_EVERY`]th of them sits in stored order (one pass over the index).
    pub(in crate::store) async fn roster(&self, tenant_id: i64, kind: Kind) -> Result<Roster, StoreError> {
        let live = "FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.deleted_at IS NULL";
        let total: i64 = self
            .q(&format!("SELECT COUNT(*) {live}"))
            .bind(tenant_id)
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let marks = self
            .q(&format!(
                "SELECT seq FROM (SELECT r.seq, ROW_NUMBER() OVER (ORDER BY r.seq) - 1 AS n {live}) AS numbered \
                 WHERE n % ? = 0 ORDER BY seq"
            ))
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(MARK_EVERY)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Roster { total, marks })
    }

    /// `limit` live resources in stored order, from `skip` rows past
    /// `from_seq`. The page comes back as one JSON array in one row: the
    /// driver hands rows over one by one between threads, which cost more
    /// than building and reading the array.
    pub(in crate::store) async fn page_from(
        &self,
        tenant_id: i64,
        kind: Kind,
        from_seq: i64,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<RawResource>, StoreError> {
        let sql = format!(
            "SELECT json_group_array(json_array(p.seq, p.id, p.doc, p.version, p.created_at, p.updated_at, \
             p.scim_managed, {groups})) FROM (SELECT r.seq, {cols} FROM resources r WHERE r.seq IN \
             (SELECT r.seq FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.deleted_at IS NULL \
             AND r.seq >= ? ORDER BY r.seq LIMIT ? OFFSET ?) ORDER BY r.seq) AS p",
            groups = if kind == Kind::User { "p.groups" } else { "NULL" },
            cols = self.cols_for(kind)
        );
        let page: String = self
            .q(&sql)
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(from_seq)
            .bind(limit)
            .bind(skip)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        // A user's groups arrive as text or, where SQLite keeps the JSON subtype, as an array.
        type PageRow = (i64, String, String, i64, String, String, i64, Option<Value>);
        let mut rows: Vec<PageRow> =
            serde_json::from_str(&page).map_err(|e| StoreError::Corrupt(format!("a page: {e}")))?;
        rows.sort_by_key(|row| row.0);
        Ok(rows
            .into_iter()
            .map(|(_, id, doc_text, version, created_at, updated_at, scim_managed, groups_text)| RawResource {
                kind,
                id,
                doc_text,
                version,
                created_at,
                updated_at,
                scim_managed: scim_managed != 0,
                groups_text: groups_text.map(|g| match g {
                    Value::String(text) => text,
                    other => other.to_string(),
                }),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Op;

    #[test]
    fn a_roster_finds_the_mark_before_a_position_and_goes_stale_on_create_or_delete() {
        let roster = Roster { total: 600, marks: vec![10, 500, 900] };
        assert_eq!(roster.start(0), Some((10, 0)));
        assert_eq!(roster.start(300), Some((500, 300 - MARK_EVERY)));
        assert_eq!(roster.start(599), Some((900, 599 - 2 * MARK_EVERY)));
        assert_eq!(roster.start(600), None);
        let rosters = Rosters::default();
        rosters.put(rosters.ticket(1), 1, Kind::User, Arc::new(roster));
        rosters.put(rosters.ticket(2), 2, Kind::User, Arc::new(Roster::default()));
        assert!(rosters.get(1, Kind::User).is_some());
        assert!(rosters.get(1, Kind::Group).is_none());
        let mut update = ChangeSet { tenant_id: Some(1), ..ChangeSet::default() };
        update.resource(Kind::User, "u1", Op::Updated, Some(2), None);
        rosters.apply(&update);
        assert!(rosters.get(1, Kind::User).is_some(), "an update moves no position");
        let ticket = rosters.ticket(1);
        let mut create = ChangeSet { tenant_id: Some(1), ..ChangeSet::default() };
        create.resource(Kind::User, "u2", Op::Created, Some(1), None);
        rosters.apply(&create);
        assert!(rosters.get(1, Kind::User).is_none());
        assert!(rosters.get(2, Kind::User).is_some(), "another tenant's positions did not move");
        rosters.put(ticket, 1, Kind::User, Arc::new(Roster::default()));
        assert!(rosters.get(1, Kind::User).is_none(), "a roster counted before a create is not kept");
        let shard_mate = 1 + EPOCH_SHARDS as i64;
        rosters.put(rosters.ticket(shard_mate), shard_mate, Kind::User, Arc::new(Roster::default()));
        rosters.apply(&create);
        assert!(rosters.get(shard_mate, Kind::User).is_none(), "a tenant of the same shard is recounted");
        let tenants = ChangeSet { tenants_changed: true, ..ChangeSet::default() };
        rosters.apply(&tenants);
        assert!(rosters.get(2, Kind::User).is_none(), "a tenant created or deleted moves every shard");
    }

    #[test]
    fn rosters_stay_bounded() {
        let rosters = Rosters::default();
        for tenant in 0..(ROSTERS_MAX as i64 + 50) {
            rosters.put(rosters.ticket(tenant), tenant, Kind::User, Arc::new(Roster::default()));
        }
        assert_eq!(rosters.rosters.lock().map(|r| r.len()).unwrap_or(0), ROSTERS_MAX);
        assert!(rosters.get(ROSTERS_MAX as i64 + 49, Kind::User).is_some(), "the newest is kept");
    }
}
