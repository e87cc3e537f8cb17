//! Memberships: who is in which group. Reads on the pool; membership rows
//! and the version bumps they cause on a [`WriteTx`], recorded in its
//! [`super::ChangeSet`].

use super::exec::Stmt;
use super::tx::{domain_pattern, first_texts, json_ids, live_member};
use super::{GroupsByUser, Kind, Store, StoreError, WriteTx};
use crate::store::exec::Row;
use scim_core::filter::eval::matches_element;
use scim_core::patch::MemberChange;
use scim_core::render::Member;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A member from its row, its texts moved out of the row (a group of
/// 100,000 members is 100,000 rows: no copies).
fn member_from_row(row: &mut Row) -> Result<Member, StoreError> {
    Ok(Member {
        value: row.take_text("member_id")?,
        member_type: row.take_optional_text("member_type")?,
        display: row.take_optional_text("display")?,
        reference: row.take_optional_text("ref")?,
    })
}

/// Member lists longer than this are narrowed to live resources on the pool
/// before the write (see [`Store::live_ids`]); shorter ones cost the
/// writer less than a read would.
pub(crate) const PRECHECK_MEMBERS_ABOVE: usize = 100;

impl Store {
    /// Members of several groups at once (a page of a list).
    pub async fn members_of(
        &self,
        tenant_id: i64,
        group_ids: &[String],
    ) -> Result<HashMap<String, Vec<Member>>, StoreError> {
        let c = self.core();
        let mut out: HashMap<String, Vec<Member>> = HashMap::new();
        // One group (a GET, a write's answer) is read without its id on
        // every row: a 10,000-member group would decode and hash it 10,000
        // times.
        if let [group_id] = group_ids {
            let rows = c
                .q("SELECT member_id, member_type, display, ref FROM members \
                    WHERE tenant_id = ? AND group_id = ? ORDER BY seq")
                .bind(tenant_id)
                .bind(group_id)
                .fetch_all(&c.pool)
                .await?;
            let mut members = Vec::with_capacity(rows.len());
            for mut row in rows {
                members.push(member_from_row(&mut row)?);
            }
            if !members.is_empty() {
                out.insert(group_id.clone(), members);
            }
            return Ok(out);
        }
        for chunk in group_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut q = c
                .q(&format!(
                    "SELECT group_id, member_id, member_type, display, ref FROM members \
                     WHERE tenant_id = ? AND group_id IN ({marks}) ORDER BY group_id, seq"
                ))
                .bind(tenant_id);
            for id in chunk {
                q = q.bind(id);
            }
            for mut row in q.fetch_all(&c.pool).await? {
                let group_id = row.take_text("group_id")?;
                out.entry(group_id).or_default().push(member_from_row(&mut row)?);
            }
        }
        Ok(out)
    }

    /// Groups of several users at once: user id -> [(group id, group displayName)].
    pub async fn groups_of(&self, tenant_id: i64, user_ids: &[String]) -> Result<GroupsByUser, StoreError> {
        let c = self.core();
        let mut out = GroupsByUser::new();
        for chunk in user_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut q = c
                .q(&format!(
                    "SELECT m.member_id, m.group_id, {} AS display FROM members m \
                     JOIN resources g ON g.tenant_id = m.tenant_id AND g.kind = 'Group' AND g.id = m.group_id \
                     WHERE m.tenant_id = ? AND m.member_id IN ({marks}) ORDER BY m.seq",
                    c.dialect().display_name_of("g")
                ))
                .bind(tenant_id);
            for id in chunk {
                q = q.bind(id);
            }
            for row in q.fetch_all(&c.pool).await? {
                out.entry(row.try_get("member_id")?)
                    .or_default()
                    .push((row.try_get("group_id")?, row.try_get("display")?));
            }
        }
        Ok(out)
    }

    /// Which of `ids` name live users or groups of the tenant that the
    /// identity provider may see (`visible_in`: the allowed domains, see
    /// [`live_member`]), read on the pool before a write (a request of 10,000
    /// made-up values then costs the writer nothing). The others are logged:
    /// the caller leaves them out (Eptura: members that exist are mapped, the
    /// rest ignored).
    pub async fn live_ids(
        &self,
        tenant_id: i64,
        group_id: &str,
        ids: &[&str],
        visible_in: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let c = self.core();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let exists = live_member("j.value", visible_in.len());
        let sql = format!("SELECT j.value FROM {} WHERE {exists}", c.dialect().json_text_rows());
        let q = c.q(&sql).bind(json_ids(ids)?).bind(tenant_id);
        let rows = bind_domains(q, visible_in).fetch_all(&c.pool).await?;
        let live: HashSet<String> = first_texts(&rows)?.into_iter().collect();
        if live.len() < ids.len() {
            log_unknown(tenant_id, group_id, ids.iter().copied().filter(|id| !live.contains(*id)));
        }
        Ok(live)
    }
}

fn log_unknown<'a>(tenant_id: i64, group_id: &str, unknown: impl Iterator<Item = &'a str>) {
    let unknown: Vec<&str> = unknown.collect();
    if unknown.is_empty() {
        return;
    }
    let first: Vec<&str> = unknown.iter().take(5).copied().collect();
    tracing::info!(
        tenant_id,
        group_id,
        ignored = unknown.len(),
        first = ?first,
        "member values that are not users or groups of this tenant (or are users hidden from SCIM) were not stored"
    );
}

/// The allowed domains' patterns, bound where [`live_member`] asks for them.
fn bind_domains(mut q: Stmt, domains: &[String]) -> Stmt {
    for d in domains {
        q = q.bind(domain_pattern(d));
    }
    q
}

impl WriteTx {
    /// Add members to a group in one statement. Values that are not live
    /// resources of this tenant, or are users hidden from the identity
    /// provider (`visible_in`: the allowed domains, see [`live_member`]), are
    /// not stored (and logged). Answers the ids that became members.
    pub async fn add_members(
        &mut self,
        tenant_id: i64,
        group_id: &str,
        members: &[Member],
        visible_in: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let added = if let [m] = members {
            // One member (Entra's PATCH, one at a time): no JSON to unpack.
            let one = format!(
                "INSERT INTO members (tenant_id, group_id, member_id, member_type, display, ref) \
                 SELECT ?, ?, ?, ?, ?, ? WHERE {} \
                 ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING RETURNING member_id",
                live_member("?", visible_in.len())
            );
            let q = self
                .q(&one)
                .bind(tenant_id)
                .bind(group_id)
                .bind(&m.value)
                .bind(&m.member_type)
                .bind(&m.display)
                .bind(&m.reference)
                .bind(tenant_id)
                .bind(&m.value);
            let rows = bind_domains(q, visible_in).fetch_all(&mut self.tx).await?;
            first_texts(&rows)?
        } else {
            let exists = live_member("j.value", visible_in.len());
            let plain = members.iter().all(|m| m.member_type.is_none() && m.display.is_none() && m.reference.is_none());
            // Ids alone (Entra's form) as a flat JSON array: SQLite reads it
            // several times faster than an array of rows.
            let (sql, rows) = if plain {
                let ids: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
                (
                    format!(
                        "INSERT INTO members (tenant_id, group_id, member_id) SELECT ?, ?, j.value FROM {} WHERE {exists} \
                         ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING RETURNING member_id",
                        self.dialect().json_text_rows()
                    ),
                    json_ids(&ids)?,
                )
            } else {
                // One JSON row per member: [value, type, display, $ref].
                let rows: Vec<[Option<&str>; 4]> = members
                    .iter()
                    .map(|m| {
                        [Some(m.value.as_str()), m.member_type.as_deref(), m.display.as_deref(), m.reference.as_deref()]
                    })
                    .collect();
                (
                    format!(
                        "INSERT INTO members (tenant_id, group_id, member_id, member_type, display, ref) \
                         SELECT ?, ?, j.value, j.t, j.d, j.r FROM (SELECT e.value ->> 0 AS value, e.value ->> 1 AS t, \
                         e.value ->> 2 AS d, e.value ->> 3 AS r FROM {}) AS j WHERE {exists} \
                         ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING RETURNING member_id",
                        self.dialect().json_rows("e")
                    ),
                    json_ids(&rows)?,
                )
            };
            let q = self.q(&sql).bind(tenant_id).bind(group_id).bind(rows).bind(tenant_id);
            let rows = bind_domains(q, visible_in).fetch_all(&mut self.tx).await?;
            first_texts(&rows)?
        };
        // A short list is checked for values that name nothing here, where it
        // costs little, and only when some value was not added (large lists
        // were narrowed before the write).
        if added.len() < members.len() && members.len() <= PRECHECK_MEMBERS_ABOVE {
            self.log_dead_members(tenant_id, group_id, members, visible_in).await?;
        }
        self.changes.tenant(tenant_id);
        self.changes.members(group_id, &added, &[]);
        Ok(added)
    }

    async fn log_dead_members(
        &mut self,
        tenant_id: i64,
        group_id: &str,
        members: &[Member],
        visible_in: &[String],
    ) -> Result<(), StoreError> {
        let ids: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
        let exists = live_member("j.value", visible_in.len());
        let sql = format!("SELECT j.value FROM {} WHERE {exists}", self.dialect().json_text_rows());
        let q = self.q(&sql).bind(json_ids(&ids)?).bind(tenant_id);
        let rows = bind_domains(q, visible_in).fetch_all(&mut self.tx).await?;
        let live: HashSet<String> = first_texts(&rows)?.into_iter().collect();
        log_unknown(tenant_id, group_id, ids.iter().copied().filter(|id| !live.contains(*id)));
        Ok(())
    }

    /// Remove some members (`Some(ids)`) or all of them; answers who left.
    /// The hidden memberships of soft-deleted users that the write names (or
    /// all of the group's) go too: the identity provider changed them, so a
    /// restore must not bring them back.
    pub async fn remove_members(
        &mut self,
        tenant_id: i64,
        group_id: &str,
        ids: Option<&[String]>,
    ) -> Result<Vec<String>, StoreError> {
        let rows = match ids {
            Some([]) => return Ok(Vec::new()),
            // One member (how Okta and Entra remove): the plain statement plans best everywhere.
            Some([id]) => {
                self.q("DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ? RETURNING member_id")
                    .bind(tenant_id)
                    .bind(group_id)
                    .bind(id)
                    .fetch_all(&mut self.tx)
                    .await?
            }
            Some(ids) => {
                // Driven by the ids: PostgreSQL otherwise reads the whole group.
                self.q(&format!(
                    "DELETE FROM members WHERE seq IN (SELECT m.seq FROM {} CROSS JOIN members m \
                     WHERE m.tenant_id = ? AND m.group_id = ? AND m.member_id = j.value) RETURNING member_id",
                    self.dialect().json_text_rows()
                ))
                .bind(json_ids(ids)?)
                .bind(tenant_id)
                .bind(group_id)
                .fetch_all(&mut self.tx)
                .await?
            }
            None => {
                self.q("DELETE FROM members WHERE tenant_id = ? AND group_id = ? RETURNING member_id")
                    .bind(tenant_id)
                    .bind(group_id)
                    .fetch_all(&mut self.tx)
                    .await?
            }
        };
        let removed = first_texts(&rows)?;
        match ids {
            None => self.drop_hidden(tenant_id, group_id, None).await?,
            // A pair is in one table at most: a member that left `members` hid nowhere.
            Some(ids) if removed.len() < ids.len() => {
                let left: HashSet<&str> = removed.iter().map(String::as_str).collect();
                let rest: Vec<&str> = ids.iter().map(String::as_str).filter(|id| !left.contains(id)).collect();
                self.drop_hidden(tenant_id, group_id, Some(&rest)).await?;
            }
            Some(_) => {}
        }
        self.changes.tenant(tenant_id);
        self.changes.members(group_id, &[], &removed);
        Ok(removed)
    }

    /// Remove every member but `kept` (a replace of the member list): those
    /// who stay are not removed, so a PUT of the same members moves nobody.
    /// Every hidden membership goes, as with a removal of all. Answers who
    /// left, and whether a member who stayed was given another type,
    /// display or `$ref` (the group changed, though nobody moved).
    async fn remove_members_but(
        &mut self,
        tenant_id: i64,
        group_id: &str,
        kept: &[Member],
    ) -> Result<(Vec<String>, bool), StoreError> {
        if kept.is_empty() {
            return Ok((self.remove_members(tenant_id, group_id, None).await?, false));
        }
        let ids: Vec<&str> = kept.iter().map(|m| m.value.as_str()).collect();
        let sql = format!(
            "DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id NOT IN (SELECT j.value FROM {}) \
             RETURNING member_id",
            self.dialect().json_text_rows()
        );
        let rows = self.q(&sql).bind(tenant_id).bind(group_id).bind(json_ids(&ids)?).fetch_all(&mut self.tx).await?;
        let removed = first_texts(&rows)?;
        self.drop_hidden(tenant_id, group_id, None).await?;
        self.changes.tenant(tenant_id);
        self.changes.members(group_id, &[], &removed);
        // Those who stay take the type, display and $ref the replace gives them.
        let given: Vec<[Option<&str>; 4]> = kept
            .iter()
            .map(|m| [Some(m.value.as_str()), m.member_type.as_deref(), m.display.as_deref(), m.reference.as_deref()])
            .collect();
        let sql = format!(
            "UPDATE members SET member_type = j.t, display = j.d, ref = j.r FROM (SELECT e.value ->> 0 AS value, \
             e.value ->> 1 AS t, e.value ->> 2 AS d, e.value ->> 3 AS r FROM {}) AS j \
             WHERE members.tenant_id = ? AND members.group_id = ? AND members.member_id = j.value \
             AND (members.member_type IS DISTINCT FROM j.t OR members.display IS DISTINCT FROM j.d \
             OR members.ref IS DISTINCT FROM j.r) RETURNING members.member_id",
            self.dialect().json_rows("e")
        );
        let rows = self.q(&sql).bind(json_ids(&given)?).bind(tenant_id).bind(group_id).fetch_all(&mut self.tx).await?;
        Ok((removed, !rows.is_empty()))
    }

    /// Forget hidden memberships of a group: of these members, or all.
    async fn drop_hidden(&mut self, tenant_id: i64, group_id: &str, ids: Option<&[&str]>) -> Result<(), StoreError> {
        match ids {
            Some([]) => return Ok(()),
            Some(ids) => {
                self.q(&format!(
                    "DELETE FROM hidden_members WHERE tenant_id = ? AND group_id = ? AND member_id IN \
                     (SELECT j.value FROM {})",
                    self.dialect().json_text_rows()
                ))
                .bind(tenant_id)
                .bind(group_id)
                .bind(json_ids(ids)?)
                .execute(&mut self.tx)
                .await?;
            }
            None => {
                self.q("DELETE FROM hidden_members WHERE tenant_id = ? AND group_id = ?")
                    .bind(tenant_id)
                    .bind(group_id)
                    .execute(&mut self.tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// The representation of these resources changed (a user's `groups`, a
    /// group's `members`): their version and lastModified move.
    pub async fn touch(&mut self, tenant_id: i64, kind: Kind, ids: &[String], now: &str) -> Result<(), StoreError> {
        if let [id] = ids {
            self.q("UPDATE resources SET version = version + 1, updated_at = ? WHERE tenant_id = ? AND kind = ? \
                    AND id = ? AND deleted_at IS NULL")
                .bind(now)
                .bind(tenant_id)
                .bind(kind.as_str())
                .bind(id)
                .execute(&mut self.tx)
                .await?;
        } else if !ids.is_empty() {
            // Driven by the ids (CROSS JOIN keeps SQLite's order): with `id IN
            // (…)` SQLite walked every live resource of the tenant instead.
            self.q(&format!(
                "UPDATE resources SET version = version + 1, updated_at = ? WHERE seq IN (SELECT r.seq FROM {} \
                 CROSS JOIN resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = j.value AND r.deleted_at IS NULL)",
                self.dialect().json_text_rows()
            ))
            .bind(now)
            .bind(json_ids(ids)?)
            .bind(tenant_id)
            .bind(kind.as_str())
            .execute(&mut self.tx)
            .await?;
        }
        self.changes.touched(kind, ids);
        Ok(())
    }

    /// A resource goes: it leaves every group it was in, and a group loses
    /// its members; everyone on the other side of those rows is touched.
    /// A user deleted softly keeps its memberships hidden, for a restore
    /// ([`WriteTx::restore_memberships`]); one deleted for good keeps none.
    /// Answers a group's former members.
    pub async fn drop_memberships(
        &mut self,
        tenant_id: i64,
        kind: Kind,
        id: &str,
        soft: bool,
        now: &str,
    ) -> Result<Vec<String>, StoreError> {
        if soft {
            self.q("INSERT INTO hidden_members (tenant_id, member_id, group_id, member_type, display, ref) \
                    SELECT tenant_id, member_id, group_id, member_type, display, ref FROM members \
                    WHERE tenant_id = ? AND member_id = ? ON CONFLICT (tenant_id, member_id, group_id) DO NOTHING")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut self.tx)
                .await?;
        } else if kind == Kind::User {
            self.q("DELETE FROM hidden_members WHERE tenant_id = ? AND member_id = ?")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut self.tx)
                .await?;
        }
        let parents = first_texts(
            &self
                .q("DELETE FROM members WHERE tenant_id = ? AND member_id = ? RETURNING group_id")
                .bind(tenant_id)
                .bind(id)
                .fetch_all(&mut self.tx)
                .await?,
        )?;
        for group_id in &parents {
            self.changes.members(group_id, &[], std::slice::from_ref(&id.to_string()));
        }
        self.touch(tenant_id, Kind::Group, &parents, now).await?;
        if kind != Kind::Group {
            return Ok(Vec::new());
        }
        let members = self.remove_members(tenant_id, id, None).await?;
        self.touch(tenant_id, Kind::User, &members, now).await?;
        Ok(members)
    }

    /// A soft-deleted user came back: its hidden memberships of groups that
    /// still exist become memberships again (the identity provider dropped
    /// those it changed meanwhile). Answers the groups it is in again, each
    /// touched and recorded as a member added.
    pub async fn restore_memberships(
        &mut self,
        tenant_id: i64,
        user_id: &str,
        now: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .q("INSERT INTO members (tenant_id, group_id, member_id, member_type, display, ref) \
                SELECT h.tenant_id, h.group_id, h.member_id, h.member_type, h.display, h.ref FROM hidden_members h \
                WHERE h.tenant_id = ? AND h.member_id = ? AND EXISTS (SELECT 1 FROM resources g \
                WHERE g.tenant_id = h.tenant_id AND g.kind = 'Group' AND g.id = h.group_id) \
                ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING RETURNING group_id")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&mut self.tx)
            .await?;
        let groups = first_texts(&rows)?;
        self.q("DELETE FROM hidden_members WHERE tenant_id = ? AND member_id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut self.tx)
            .await?;
        if !groups.is_empty() {
            self.changes.tenant(tenant_id);
        }
        for group_id in &groups {
            self.changes.members(group_id, std::slice::from_ref(&user_id.to_string()), &[]);
        }
        self.touch(tenant_id, Kind::Group, &groups, now).await?;
        Ok(groups)
    }

    /// Membership changes as row inserts and deletes: one statement per
    /// change, whatever the size of the group. Answers every member id that
    /// joined or left (those users' versions move), and whether a replace
    /// gave a member who stayed another type, display or `$ref`.
    /// `visible_in`: the allowed domains, outside which hand-made users are
    /// not members the identity provider can add (see [`live_member`]).
    pub async fn apply_member_changes(
        &mut self,
        tenant_id: i64,
        group_id: &str,
        changes: &[MemberChange],
        now: &str,
        visible_in: &[String],
    ) -> Result<(BTreeSet<String>, bool), StoreError> {
        let (mut moved_all, mut restyled) = (BTreeSet::new(), false);
        let members_of = |values: &[Value]| values.iter().filter_map(Member::from_json).collect::<Vec<_>>();
        for change in changes {
            let moved = match change {
                MemberChange::Add(values) => {
                    self.add_members(tenant_id, group_id, &members_of(values), visible_in).await?
                }
                MemberChange::Replace(values) => {
                    let members = members_of(values);
                    let (mut moved, restyled_here) = self.remove_members_but(tenant_id, group_id, &members).await?;
                    restyled |= restyled_here;
                    moved.extend(self.add_members(tenant_id, group_id, &members, visible_in).await?);
                    moved
                }
                MemberChange::RemoveAll => self.remove_members(tenant_id, group_id, None).await?,
                MemberChange::Remove(ids) => self.remove_members(tenant_id, group_id, Some(ids)).await?,
                MemberChange::RemoveWhere(filter) => {
                    // Rare (a filter on type, display or $ref): evaluate it on the rows.
                    let members_attr = scim_core::schema::group_schema()
                        .attribute("members")
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt("the group schema has no members".into()))?;
                    // Hidden members too: a removal the filter names must not come back with a restore.
                    let mut rows = Vec::new();
                    for table in ["members", "hidden_members"] {
                        let sql = format!(
                            "SELECT member_id, member_type, display, ref FROM {table} WHERE tenant_id = ? AND group_id = ?"
                        );
                        rows.extend(self.q(&sql).bind(tenant_id).bind(group_id).fetch_all(&mut self.tx).await?);
                    }
                    let mut ids = Vec::new();
                    for mut row in rows {
                        let m = member_from_row(&mut row)?;
                        if matches_element(filter, &m.to_json(), &members_attr) {
                            ids.push(m.value);
                        }
                    }
                    self.remove_members(tenant_id, group_id, Some(&ids)).await?
                }
            };
            moved_all.extend(moved);
        }
        let touched: Vec<String> = moved_all.iter().cloned().collect();
        self.touch(tenant_id, Kind::User, &touched, now).await?;
        Ok((moved_all, restyled))
    }

    /// The members of a group, now.
    pub async fn member_ids(&mut self, tenant_id: i64, group_id: &str) -> Result<BTreeSet<String>, StoreError> {
        let rows = self
            .q("SELECT member_id FROM members WHERE tenant_id = ? AND group_id = ?")
            .bind(tenant_id)
            .bind(group_id)
            .fetch_all(&mut self.tx)
            .await?;
        Ok(first_texts(&rows)?.into_iter().collect())
    }
}
