//! Rosters: where each [`MARK_EVERY`]th live resource of a tenant sits in
//! stored order, so that a page far down an unfiltered list (how Okta
//! imports) starts from the nearest mark instead of counting every row
//! before it, and its total needs no count. Kept by the store: a write of
//! its own that creates resources extends its tenant's roster (they come
//! last in stored order); one that deletes or restores drops it, to be
//! counted again.

use crate::store::tx::Core;
use crate::store::{ChangeSet, Kind, Op, RawResource, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Every [`MARK_EVERY`]th position of an unfiltered list in its stored order.
pub(crate) const MARK_EVERY: i64 = 256;

/// The live resources of one kind in one tenant: how many, and the `seq` at
/// positions 0, [`MARK_EVERY`], 2 × [`MARK_EVERY`], …
#[derive(Clone, Debug, Default)]
pub(crate) struct Roster {
    pub total: i64,
    pub marks: Vec<i64>,
    /// The seq of the last live resource (0: none).
    pub last_seq: i64,
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

    /// Whether resources created at `seqs` (ascending) all come after every
    /// resource this roster holds. When not, one may already be counted, or
    /// writes were applied out of order: the roster is counted again.
    fn comes_after(&self, seqs: &[i64]) -> bool {
        seqs.first().is_none_or(|first| *first > self.last_seq)
    }

    /// Add resources created at `seqs` (ascending, see [`Roster::comes_after`]).
    fn extend(&mut self, seqs: &[i64]) {
        for &seq in seqs {
            if self.total % MARK_EVERY == 0 {
                self.marks.push(seq);
            }
            self.total += 1;
            self.last_seq = seq;
        }
    }
}

/// Tenants are spread over this many shards, each with its own epoch and
/// lock: a write in one tenant touches only its shard.
const SHARDS: usize = 64;

/// At most this many rosters are kept (one a tenant and kind), spread over
/// the shards; past a shard's share an arbitrary one of it makes room, so a
/// server of many tenants stays bounded.
const ROSTERS_MAX: usize = 20_000;

#[derive(Default)]
struct Shard {
    /// Moves when a resource of a tenant of the shard is deleted or
    /// restored (what shifts positions), or a tenant comes or goes.
    epoch: u64,
    rosters: HashMap<(i64, Kind), Arc<Roster>>,
}

/// Rosters by (tenant, kind), each kept while it is right.
pub(crate) struct Rosters {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for Rosters {
    fn default() -> Self {
        Rosters { shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }
}

impl Rosters {
    fn shard(&self, tenant_id: i64) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // rem_euclid of a positive modulus is below SHARDS, the slice's length.
        self.shards.get(tenant_id.rem_euclid(SHARDS as i64) as usize)?.lock().ok()
    }

    /// Taken before counting a tenant's list; see [`Rosters::put`].
    pub(crate) fn ticket(&self, tenant_id: i64) -> u64 {
        self.shard(tenant_id).map_or(u64::MAX, |s| s.epoch)
    }

    pub(crate) fn get(&self, tenant_id: i64, kind: Kind) -> Option<Arc<Roster>> {
        self.shard(tenant_id)?.rosters.get(&(tenant_id, kind)).cloned()
    }

    /// Keep a roster counted since `ticket`, unless a resource of its shard
    /// went or came back meanwhile. One counted before a create and kept
    /// after it is extended by that create (see [`Rosters::apply`]): it is
    /// kept here only when the create had not been applied yet.
    pub(crate) fn put(&self, ticket: u64, tenant_id: i64, kind: Kind, roster: Arc<Roster>) {
        let Some(mut shard) = self.shard(tenant_id) else { return };
        if shard.epoch != ticket {
            return;
        }
        let share = ROSTERS_MAX.div_ceil(SHARDS);
        if shard.rosters.len() >= share
            && !shard.rosters.contains_key(&(tenant_id, kind))
            && let Some(any) = shard.rosters.keys().next().copied()
        {
            shard.rosters.remove(&any);
        }
        shard.rosters.insert((tenant_id, kind), roster);
    }

    /// A committed write: resources it created extend their tenant's roster;
    /// one it deleted or restored moves every position after it, so the
    /// roster goes (and every roster of the shard counted before this, by its
    /// epoch). A tenant created or deleted moves every shard.
    pub(crate) fn apply(&self, changes: &ChangeSet) {
        let moved = |kind| changes.created_or_deleted(kind);
        if !(moved(Kind::User) || moved(Kind::Group) || changes.tenants_changed) {
            return;
        }
        let Some(tenant_id) = changes.tenant_id.filter(|_| !changes.tenants_changed) else {
            for shard in self.shards.iter() {
                if let Ok(mut shard) = shard.lock() {
                    shard.epoch += 1;
                    shard.rosters.clear();
                }
            }
            return;
        };
        let Some(mut shard) = self.shard(tenant_id) else { return };
        for kind in [Kind::User, Kind::Group] {
            if !moved(kind) {
                continue;
            }
            let created: Vec<_> = changes.resources.iter().filter(|r| r.kind == kind && r.op != Op::Updated).collect();
            let mut seqs: Vec<i64> = changes.appended.iter().filter(|(k, _)| *k == kind).map(|(_, s)| *s).collect();
            seqs.sort_unstable();
            let only_creates = created.len() == seqs.len() && created.iter().all(|r| r.op == Op::Created);
            // Extended in place unless a page is reading it (a roster of
            // 10,000,000 users holds 39,000 marks: not copied per create).
            let kept = only_creates
                && shard.rosters.get_mut(&(tenant_id, kind)).is_some_and(|roster| {
                    let fits = roster.comes_after(&seqs);
                    if fits {
                        Arc::make_mut(roster).extend(&seqs);
                    }
                    fits
                });
            if !kept {
                shard.rosters.remove(&(tenant_id, kind));
            }
            // A count that started before this write may have missed it.
            shard.epoch += 1;
        }
    }
}

impl Core {
    /// How many live resources of a kind a tenant has, the last of them, and
    /// where every [`MARK_EVERY`]th of them sits in stored order: one
    /// statement (one snapshot, so the three agree), two passes over the index.
    pub(in crate::store) async fn roster(&self, tenant_id: i64, kind: Kind) -> Result<Roster, StoreError> {
        let live = "FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.deleted_at IS NULL";
        let rows = self
            .q(&format!(
                "SELECT 0 AS part, seq AS a, 0 AS b FROM \
                 (SELECT r.seq, ROW_NUMBER() OVER (ORDER BY r.seq) - 1 AS n {live}) AS numbered WHERE n % ? = 0 \
                 UNION ALL SELECT 1, COUNT(*), COALESCE(MAX(r.seq), 0) {live} ORDER BY 1, 2"
            ))
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(MARK_EVERY)
            .bind(tenant_id)
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut roster = Roster::default();
        for row in &rows {
            let (part, a, b): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            if part == 0 {
                roster.marks.push(a);
            } else {
                (roster.total, roster.last_seq) = (a, b);
            }
        }
        Ok(roster)
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

    fn created(tenant_id: i64, seqs: &[i64]) -> ChangeSet {
        let mut c = ChangeSet { tenant_id: Some(tenant_id), ..ChangeSet::default() };
        for (n, seq) in seqs.iter().enumerate() {
            c.resource(Kind::User, &format!("new{n}"), Op::Created, Some(1), None);
            c.appended.push((Kind::User, *seq));
        }
        c
    }

    #[test]
    fn a_roster_finds_the_mark_before_a_position() {
        let roster = Roster { total: 600, marks: vec![10, 500, 900], last_seq: 950 };
        assert_eq!(roster.start(0), Some((10, 0)));
        assert_eq!(roster.start(300), Some((500, 300 - MARK_EVERY)));
        assert_eq!(roster.start(599), Some((900, 599 - 2 * MARK_EVERY)));
        assert_eq!(roster.start(600), None);
    }

    #[test]
    fn creates_extend_a_roster_and_deletes_drop_it() {
        let rosters = Rosters::default();
        let counted = Roster { total: MARK_EVERY * 2 - 1, marks: vec![1, 300], last_seq: 700 };
        rosters.put(rosters.ticket(1), 1, Kind::User, Arc::new(counted));
        rosters.put(rosters.ticket(2), 2, Kind::User, Arc::new(Roster::default()));
        assert!(rosters.get(1, Kind::Group).is_none());
        let mut update = ChangeSet { tenant_id: Some(1), ..ChangeSet::default() };
        update.resource(Kind::User, "u1", Op::Updated, Some(2), None);
        rosters.apply(&update);
        assert_eq!(rosters.get(1, Kind::User).map(|r| r.total), Some(MARK_EVERY * 2 - 1), "an update moves nothing");
        // Two creates: the first fills the second stretch, the second starts a third mark.
        let ticket = rosters.ticket(1);
        rosters.apply(&created(1, &[702, 701]));
        let grown = rosters.get(1, Kind::User).expect("kept, extended");
        assert_eq!((grown.total, grown.marks.clone(), grown.last_seq), (MARK_EVERY * 2 + 1, vec![1, 300, 702], 702));
        assert_eq!(grown.start(MARK_EVERY * 2), Some((702, 0)));
        rosters.put(ticket, 1, Kind::User, Arc::new(Roster::default()));
        assert_eq!(
            rosters.get(1, Kind::User).map(|r| r.total),
            Some(MARK_EVERY * 2 + 1),
            "a count from before is not kept"
        );
        // A create the roster already holds (counted after it committed) drops it.
        rosters.apply(&created(1, &[650]));
        assert!(rosters.get(1, Kind::User).is_none(), "not after every resource it holds: counted again");
        rosters.put(rosters.ticket(1), 1, Kind::User, Arc::new(Roster { total: 3, marks: vec![5], last_seq: 9 }));
        let mut delete = ChangeSet { tenant_id: Some(1), ..ChangeSet::default() };
        delete.resource(Kind::User, "u1", Op::Deleted, None, None);
        rosters.apply(&delete);
        assert!(rosters.get(1, Kind::User).is_none(), "a delete moves positions");
        assert!(rosters.get(2, Kind::User).is_some(), "another tenant's positions did not move");
        let tenants = ChangeSet { tenants_changed: true, ..ChangeSet::default() };
        rosters.apply(&tenants);
        assert!(rosters.get(2, Kind::User).is_none(), "a tenant created or deleted drops every roster");
    }

    #[test]
    fn rosters_stay_bounded() {
        let rosters = Rosters::default();
        for tenant in 0..(ROSTERS_MAX as i64 * 2) {
            rosters.put(rosters.ticket(tenant), tenant, Kind::User, Arc::new(Roster::default()));
        }
        let kept: usize = rosters.shards.iter().map(|s| s.lock().map(|s| s.rosters.len()).unwrap_or(0)).sum();
        assert!(kept <= ROSTERS_MAX.div_ceil(SHARDS) * SHARDS, "{kept}");
        let newest = ROSTERS_MAX as i64 * 2 - 1;
        assert!(rosters.get(newest, Kind::User).is_some(), "the newest is kept");
    }
}
