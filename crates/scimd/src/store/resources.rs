//! Users and groups: reads and lists on the pool, row writes on a
//! [`WriteTx`]. Each write records itself in the transaction's [`ChangeSet`].

use super::exec::Stmt;
use super::sql;
use super::tx::{bind_all, raw_from_row, unique_or};
use super::{Doc, Kind, NewResource, Op, RawResource, Store, StoreError, StoredResource, Unique, WriteTx};
use scim_core::{AttrPath, Filter};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    /// 0-based.
    pub offset: i64,
    pub limit: i64,
    /// Non-empty: users not written through SCIM are listed only when their
    /// userName is an address in one of these (lowercase) domains.
    pub hand_made_only_in: Vec<String>,
}

/// A row's sort value in a list's order, as the database gave it (NULL when
/// the resource has none): what a cursor carries to seek past it.
#[derive(Clone, Debug, PartialEq)]
pub enum SortValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// A row's place in a list's order: its sort value and its `seq` (the
/// tie-break). A keyset page starts strictly after (or before) one.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub value: SortValue,
    pub seq: i64,
}

/// The row of a resource a write is about to change, locked where rows lock.
#[derive(Clone, Debug)]
pub struct Current {
    pub tenant_id: i64,
    pub kind: Kind,
    pub id: String,
    pub seq: i64,
    pub version: i64,
    pub scim_managed: bool,
    /// A user's userName, lowercased.
    pub user_name: Option<String>,
    /// A group's displayName, when asked for (group mappings may match it).
    pub display_name: Option<String>,
}

/// A page of the admin API's user list: in stored order after a cursor.
#[derive(Clone, Debug, Default)]
pub struct UserPage {
    /// Soft-deleted users instead of live ones.
    pub deleted: bool,
    /// The cursor: the stored position of the last user of the page before.
    pub after: i64,
    pub limit: i64,
    /// Only users holding a role in this workspace (and this role, when given).
    pub workspace_id: Option<String>,
    pub role_id: Option<String>,
}

/// A pushed group as the admin API lists it.
#[derive(Clone, Debug)]
pub struct GroupSummary {
    pub seq: i64,
    pub id: String,
    pub display_name: Option<String>,
    pub members: i64,
}

impl Store {
    /// Users in stored order after `page.after`, each with its position (the next cursor).
    pub async fn users_page(&self, tenant_id: i64, page: &UserPage) -> Result<Vec<(i64, StoredResource)>, StoreError> {
        let c = self.core();
        let deleted = if page.deleted { "IS NOT NULL" } else { "IS NULL" };
        let holding = match (&page.workspace_id, &page.role_id) {
            (Some(_), Some(_)) => {
                " AND EXISTS (SELECT 1 FROM role_assignments a WHERE a.tenant_id = r.tenant_id \
                                   AND a.user_id = r.id AND a.workspace_id = ? AND a.role_id = ?)"
            }
            (Some(_), None) => {
                " AND EXISTS (SELECT 1 FROM role_assignments a WHERE a.tenant_id = r.tenant_id \
                                AND a.user_id = r.id AND a.workspace_id = ?)"
            }
            (None, Some(_)) => {
                " AND EXISTS (SELECT 1 FROM role_assignments a WHERE a.tenant_id = r.tenant_id \
                                AND a.user_id = r.id AND a.role_id = ?)"
            }
            (None, None) => "",
        };
        let sql = format!(
            "SELECT r.seq, {} FROM resources r WHERE r.tenant_id = ? AND r.kind = 'User' AND r.deleted_at {deleted} \
             AND r.seq > ?{holding} ORDER BY r.seq LIMIT ?",
            c.resource_cols()
        );
        let mut q = c.q(&sql).bind(tenant_id).bind(page.after);
        for value in [&page.workspace_id, &page.role_id].into_iter().flatten() {
            q = q.bind(value.as_str());
        }
        let rows = q.bind(page.limit).fetch_all(&c.pool).await?;
        rows.into_iter().map(|row| Ok((row.try_get("seq")?, raw_from_row(Kind::User, row)?.parse()?))).collect()
    }

    /// Pushed groups in stored order after `after`, with their member counts.
    pub async fn groups_page(&self, tenant_id: i64, after: i64, limit: i64) -> Result<Vec<GroupSummary>, StoreError> {
        let c = self.core();
        let sql = format!(
            "SELECT r.seq, r.id, {} AS display, (SELECT COUNT(*) FROM members m WHERE m.tenant_id = r.tenant_id \
             AND m.group_id = r.id) AS members FROM resources r WHERE r.tenant_id = ? AND r.kind = 'Group' \
             AND r.seq > ? ORDER BY r.seq LIMIT ?",
            c.dialect().display_name_of("r")
        );
        let rows = c.q(&sql).bind(tenant_id).bind(after).bind(limit).fetch_all(&c.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(GroupSummary {
                    seq: row.try_get("seq")?,
                    id: row.try_get("id")?,
                    display_name: row.try_get("display")?,
                    members: row.try_get("members")?,
                })
            })
            .collect()
    }

    pub async fn get(&self, tenant_id: i64, kind: Kind, id: &str) -> Result<Option<StoredResource>, StoreError> {
        let c = self.core();
        let row = c
            .q(&format!(
                "SELECT {} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ? AND r.deleted_at IS NULL",
                c.cols_for(kind)
            ))
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&c.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(raw_from_row(kind, row)?.parse_off_thread().await?)),
            None => Ok(None),
        }
    }

    /// The live user of this userName (ignoring case: the column holds it lower-cased).
    pub async fn user_by_name(&self, tenant_id: i64, user_name: &str) -> Result<Option<StoredResource>, StoreError> {
        let c = self.core();
        let row = c
            .q(&format!(
                "SELECT {} FROM resources r WHERE r.tenant_id = ? AND r.kind = 'User' AND r.user_name = ? \
                 AND r.deleted_at IS NULL",
                c.cols_for(Kind::User)
            ))
            .bind(tenant_id)
            .bind(user_name.to_lowercase())
            .fetch_optional(&c.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(raw_from_row(Kind::User, row)?.parse_off_thread().await?)),
            None => Ok(None),
        }
    }

    /// A page of a list, and the list's total.
    pub async fn list(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        rt: &scim_core::ResourceType,
    ) -> Result<(i64, Vec<RawResource>), StoreError> {
        if let Some(roster) = self.roster_if_plain(tenant_id, kind, query).await? {
            // An unfiltered list in stored order (how Okta imports): the total
            // and the page's start come from the roster, not from counting rows.
            let rows = match roster.start(query.offset) {
                Some((from_seq, skip)) if query.limit > 0 => {
                    self.core().page_from(tenant_id, kind, from_seq, skip, query.limit).await?
                }
                _ => Vec::new(),
            };
            return Ok((roster.total, rows));
        }
        if self.is_shared() && is_plain(query) {
            return self.plain_page_shared(tenant_id, kind, query).await;
        }
        let c = self.core();
        let (count_stmt, page_stmt) = self.list_statements(tenant_id, kind, query, rt)?;
        let count = || async {
            let total: i64 = count_stmt.clone().fetch_one(&c.pool).await?.try_get(0)?;
            Ok::<i64, StoreError>(total)
        };
        if query.limit <= 0 {
            return Ok((count().await?, Vec::new()));
        }
        let rows = page_stmt.fetch_all(&c.pool).await?;
        let items = rows.into_iter().map(|r| raw_from_row(kind, r)).collect::<Result<Vec<_>, _>>()?;
        // A page that is not full ends the list, so the total is known
        // without counting (a `userName eq` look-up costs one statement).
        let len = items.len() as i64;
        let total = if len > 0 && len < query.limit || len == 0 && query.offset == 0 {
            query.offset + len
        } else {
            count().await?
        };
        Ok((total, items))
    }

    /// The statements a filtered or sorted list runs: its total's and its page's.
    fn list_statements(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        rt: &scim_core::ResourceType,
    ) -> Result<(Stmt, Stmt), StoreError> {
        let c = self.core();
        let d = c.dialect();
        let cond = list_condition(query, rt, kind, d)?;
        let order = sql::order_by(query.sort_by.as_ref(), query.descending, rt, kind, d).map_err(StoreError::Query)?;
        let count = count_statement(tenant_id, kind, &cond);
        // The page's rows are chosen by `seq` alone, so skipping `offset`
        // rows reads the index, not the documents.
        let page_sql = format!(
            "SELECT {cols} FROM resources r WHERE r.seq IN (SELECT r.seq FROM resources r WHERE r.tenant_id = ? \
             AND r.kind = ? AND r.deleted_at IS NULL AND {cond} ORDER BY {order} LIMIT ? OFFSET ?) ORDER BY {order}",
            cols = c.cols_for(kind),
            cond = cond.sql,
            order = order.sql
        );
        let q = c.q(&page_sql).bind(tenant_id).bind(kind.as_str());
        let q = bind_all(bind_all(q, &cond.binds), &order.binds).bind(query.limit).bind(query.offset);
        Ok((count, bind_all(q, &order.binds)))
    }

    /// The SQLite roster of an unfiltered list in stored order, counted now
    /// if no write of this process made the kept one stale. `None`: the list
    /// is filtered or sorted, or the store is PostgreSQL (other replicas write).
    async fn roster_if_plain(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
    ) -> Result<Option<Arc<super::sqlite::Roster>>, StoreError> {
        let Some(rosters) = self.rosters().filter(|_| is_plain(query)) else { return Ok(None) };
        if let Some(roster) = rosters.get(tenant_id, kind) {
            return Ok(Some(roster));
        }
        let ticket = rosters.ticket(tenant_id);
        let roster = Arc::new(self.core().roster(tenant_id, kind).await?);
        rosters.put(ticket, tenant_id, kind, roster.clone());
        Ok(Some(roster))
    }

    /// How many live resources of a kind a tenant has, from the counts the
    /// write transactions keep (PostgreSQL, migration 0023): a few rows
    /// instead of a count of the index.
    async fn kept_count(&self, tenant_id: i64, kind: Kind) -> Result<i64, StoreError> {
        let column = match kind {
            Kind::User => "users",
            Kind::Group => "groups",
        };
        let c = self.core();
        let row = c
            .q(&format!("SELECT COALESCE(SUM({column}), 0)::BIGINT FROM resource_counts WHERE tenant_id = ?"))
            .bind(tenant_id)
            .fetch_one(&c.pool)
            .await?;
        row.try_get(0)
    }

    /// A page of an unfiltered list in stored order on PostgreSQL: the total
    /// is the kept count, and a page past the middle is read from the end
    /// (`seq` descending), so no page skips more than half the index.
    async fn plain_page_shared(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
    ) -> Result<(i64, Vec<RawResource>), StoreError> {
        let total = self.kept_count(tenant_id, kind).await?;
        let (offset, limit) = (query.offset, query.limit.min(total.saturating_sub(query.offset)));
        if limit <= 0 {
            return Ok((total, Vec::new()));
        }
        let c = self.core();
        let from_end = offset > total / 2;
        let (dir, skip) = if from_end { ("DESC", total - offset - limit) } else { ("", offset) };
        let sql = format!(
            "SELECT {cols} FROM resources r WHERE r.seq IN (SELECT r.seq FROM resources r WHERE r.tenant_id = ? \
             AND r.kind = ? AND r.deleted_at IS NULL ORDER BY r.seq {dir} LIMIT ? OFFSET ?) ORDER BY r.seq",
            cols = c.cols_for(kind)
        );
        let rows = c.q(&sql).bind(tenant_id).bind(kind.as_str()).bind(limit).bind(skip).fetch_all(&c.pool).await?;
        let items = rows.into_iter().map(|r| raw_from_row(kind, r)).collect::<Result<Vec<_>, _>>()?;
        Ok((total, items))
    }

    /// How many resources a list has: the roster's or the kept count when it
    /// is unfiltered, else a count of its rows.
    pub async fn list_total(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        rt: &scim_core::ResourceType,
    ) -> Result<i64, StoreError> {
        if let Some(roster) = self.roster_if_plain(tenant_id, kind, query).await? {
            return Ok(roster.total);
        }
        if self.is_shared() && is_plain(query) {
            return self.kept_count(tenant_id, kind).await;
        }
        let c = self.core();
        let cond = list_condition(query, rt, kind, c.dialect())?;
        count_statement(tenant_id, kind, &cond).fetch_one(&c.pool).await?.try_get(0)
    }

    /// A page of a list read by key (RFC 9865 cursors): up to `limit` rows
    /// of the list's order strictly after `from` (`backward`: strictly
    /// before it, nearest first), each with its place. Every page costs the
    /// same wherever it is: the database seeks to the place (an index range
    /// where the order has one) instead of counting the rows before it.
    pub async fn seek(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        from: Option<&Place>,
        backward: bool,
        rt: &scim_core::ResourceType,
    ) -> Result<Vec<(Place, RawResource)>, StoreError> {
        if query.limit <= 0 {
            return Ok(Vec::new());
        }
        let c = self.core();
        let d = c.dialect();
        let cond = list_condition(query, rt, kind, d)?;
        let keys = sql::keyset(query.sort_by.as_ref(), query.descending, rt, kind, d).map_err(StoreError::Query)?;
        let seek = match from {
            Some(place) => keys.seek(&place.value, place.seq, backward),
            None => sql::match_all(d),
        };
        let (order, value) = (keys.order(backward), keys.value());
        let page_sql = format!(
            "SELECT {cols}, r.seq AS seek_seq, {value} AS seek_value FROM resources r WHERE r.seq IN \
             (SELECT r.seq FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.deleted_at IS NULL \
             AND {cond} AND {seek} ORDER BY {order} LIMIT ?) ORDER BY {order}",
            cols = c.cols_for(kind),
            value = value.sql,
            cond = cond.sql,
            seek = seek.sql,
            order = order.sql
        );
        let q = bind_all(c.q(&page_sql), &value.binds).bind(tenant_id).bind(kind.as_str());
        let q = bind_all(bind_all(bind_all(q, &cond.binds), &seek.binds), &order.binds).bind(query.limit);
        let rows = bind_all(q, &order.binds).fetch_all(&c.pool).await?;
        rows.into_iter()
            .map(|row| {
                let seq: i64 = row.try_get("seek_seq")?;
                let value = match row.try_get::<super::exec::Cell, _>("seek_value")? {
                    super::exec::Cell::Null => SortValue::Null,
                    super::exec::Cell::Int(i) => SortValue::Int(i),
                    super::exec::Cell::Bool(b) => SortValue::Int(i64::from(b)),
                    super::exec::Cell::Real(f) => SortValue::Real(f),
                    super::exec::Cell::Text(t) => SortValue::Text(t),
                    super::exec::Cell::Bytes(_) => {
                        return Err(StoreError::Corrupt("a sort value came back as bytes".into()));
                    }
                };
                Ok((Place { value, seq }, raw_from_row(kind, row)?))
            })
            .collect()
    }

    /// How the database would run a filtered or sorted list: the plan of its
    /// total's statement, then of its page's (SQLite's `EXPLAIN QUERY PLAN`
    /// details, PostgreSQL's `EXPLAIN` lines). For operators and tests
    /// checking that a list uses an index.
    pub async fn list_plan(
        &self,
        tenant_id: i64,
        kind: Kind,
        query: &ListQuery,
        rt: &scim_core::ResourceType,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let c = self.core();
        let (count, page) = self.list_statements(tenant_id, kind, query, rt)?;
        let mut plans = Vec::new();
        for stmt in [count, page] {
            let (prefix, column) = match c.dialect() {
                sql::Dialect::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
                sql::Dialect::Postgres => ("EXPLAIN ", 0),
            };
            let explain = Stmt { sql: format!("{prefix}{}", stmt.sql), params: stmt.params };
            let rows = explain.fetch_all(&c.pool).await?;
            plans.push(rows.iter().map(|row| row.try_get::<String, _>(column)).collect::<Result<Vec<_>, _>>()?);
        }
        let page = plans.pop().unwrap_or_default();
        Ok((plans.pop().unwrap_or_default(), page))
    }

    /// Users kept after a soft delete, oldest first.
    pub async fn list_deleted_users(&self, tenant_id: i64) -> Result<Vec<StoredResource>, StoreError> {
        let c = self.core();
        let rows = c
            .q(&format!(
                "SELECT {} FROM resources r WHERE r.tenant_id = ? AND r.kind = 'User' AND r.deleted_at IS NOT NULL \
                 ORDER BY r.seq",
                c.resource_cols()
            ))
            .bind(tenant_id)
            .fetch_all(&c.pool)
            .await?;
        rows.into_iter().map(|r| raw_from_row(Kind::User, r)?.parse()).collect()
    }
}

impl WriteTx {
    /// Insert a new resource, a user with the default roles it is given
    /// (workspace, role). `false`: its userName is taken (by a live user, or
    /// one kept after a soft delete); nothing was written.
    pub async fn insert_resource(
        &mut self,
        tenant_id: i64,
        new: &NewResource,
        default_roles: &[(String, String)],
    ) -> Result<bool, StoreError> {
        let inserted = self
            .q(&format!(
                "INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, \
                 version, created_at, updated_at, scim_managed, default_roles) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, {}, 1, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING seq",
                self.core.doc_param()
            ))
            .bind(tenant_id)
            .bind(new.kind.as_str())
            .bind(&new.id)
            .bind(&new.doc.index.user_name)
            .bind(&new.doc.index.external_id)
            .bind(&new.doc.index.display_name)
            .bind(new.doc.index.active.map(i64::from))
            .bind(new.doc.text.as_str())
            .bind(&new.now)
            .bind(&new.now)
            .bind(i64::from(new.scim_managed))
            .bind(defaults_text(default_roles)?)
            .fetch_optional(&mut self.tx)
            .await?;
        let Some(row) = inserted else { return Ok(false) };
        self.changes.tenant(tenant_id);
        self.changes.resource(new.kind, &new.id, Op::Created, Some(1), Some(&new.doc.text));
        self.changes.appended.push((new.kind, row.try_get(0)?));
        Ok(true)
    }

    /// Bring back the soft-deleted user with `new`'s userName, with `new`'s
    /// attributes and the default roles a user created now is given; answers
    /// its id, creation time and version. `None`: there is none.
    pub async fn restore_by_user_name(
        &mut self,
        tenant_id: i64,
        new: &NewResource,
        default_roles: &[(String, String)],
    ) -> Result<Option<(String, String, i64)>, StoreError> {
        let Some(user_name) = new.doc.index.user_name.as_deref().filter(|_| new.kind == Kind::User) else {
            return Ok(None);
        };
        let row = self
            .q("SELECT seq, id, version, created_at FROM resources WHERE tenant_id = ? AND kind = 'User' \
                AND user_name = ? AND deleted_at IS NOT NULL")
            .bind(tenant_id)
            .bind(user_name)
            .fetch_optional(&mut self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get("seq")?;
        let id: String = row.try_get("id")?;
        let version: i64 = row.try_get::<i64, _>("version")? + 1;
        self.q(&format!(
            "UPDATE resources SET external_id = ?, display_name = ?, active = ?, doc = {}, version = ?, updated_at = ?, \
             scim_managed = ?, default_roles = ?, deleted_at = NULL WHERE seq = ?",
            self.core.doc_param()
        ))
        .bind(&new.doc.index.external_id)
        .bind(&new.doc.index.display_name)
        .bind(new.doc.index.active.map(i64::from))
        .bind(new.doc.text.as_str())
        .bind(version)
        .bind(&new.now)
        .bind(i64::from(new.scim_managed))
        .bind(defaults_text(default_roles)?)
        .bind(seq)
        .execute(&mut self.tx)
        .await?;
        self.changes.tenant(tenant_id);
        self.changes.resource(Kind::User, &id, Op::Restored, Some(version), Some(&new.doc.text));
        Ok(Some((id, row.try_get("created_at")?, version)))
    }

    /// The live row of a resource, locked for the rest of the transaction;
    /// with `display_name`, a group's name too (read from the document).
    pub async fn current(
        &mut self,
        tenant_id: i64,
        kind: Kind,
        id: &str,
        display_name: bool,
    ) -> Result<Option<Current>, StoreError> {
        let display = if display_name { self.dialect().display_name_of("r") } else { "NULL".to_string() };
        let row = self
            .q(&format!(
                "SELECT r.seq, r.version, r.scim_managed, r.user_name, {display} AS display FROM resources r WHERE r.tenant_id = ? AND r.kind = ? \
                 AND r.id = ? AND r.deleted_at IS NULL{}",
                self.core.lock()
            ))
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut self.tx)
            .await?;
        match row {
            Some(row) => Ok(Some(Current {
                tenant_id,
                kind,
                id: id.to_string(),
                seq: row.try_get("seq")?,
                version: row.try_get("version")?,
                scim_managed: row.try_get::<i64, _>("scim_managed")? != 0,
                user_name: row.try_get("user_name")?,
                display_name: row.try_get("display")?,
            })),
            None => Ok(None),
        }
    }

    /// The `doc` column as text, for `RETURNING` (PostgreSQL's JSONB is not text to `Any`).
    fn doc_text_col(&self) -> &'static str {
        match self.dialect() {
            sql::Dialect::Sqlite => "doc",
            sql::Dialect::Postgres => "doc::text AS doc",
        }
    }

    /// Record what an update changed beside writing it (no statement): its
    /// attributes' old values and a switch of `active`, for the events.
    pub fn describe_update(
        &mut self,
        kind: Kind,
        id: &str,
        previous: Option<serde_json::Value>,
        active_to: Option<bool>,
    ) {
        self.changes.describe_update(kind, id, previous, active_to);
    }

    /// Write a resource's row at `current`: its new document (or only its
    /// version, when `doc` is `None`), as version `current.version + 1`.
    pub async fn write_resource(
        &mut self,
        current: &Current,
        doc: Option<&Doc>,
        now: &str,
        scim_managed: bool,
    ) -> Result<i64, StoreError> {
        let version = current.version + 1;
        match doc {
            Some(doc) => {
                self.q(&format!(
                    "UPDATE resources SET user_name = ?, external_id = ?, display_name = ?, active = ?, doc = {}, \
                     version = ?, updated_at = ?, scim_managed = ? WHERE seq = ?",
                    self.core.doc_param()
                ))
                .bind(&doc.index.user_name)
                .bind(&doc.index.external_id)
                .bind(&doc.index.display_name)
                .bind(doc.index.active.map(i64::from))
                .bind(doc.text.as_str())
                .bind(version)
                .bind(now)
                .bind(i64::from(scim_managed))
                .bind(current.seq)
                .execute(&mut self.tx)
                .await
                .map_err(|e| unique_or(e, Unique::UserName))?;
            }
            None => {
                self.q("UPDATE resources SET version = ?, updated_at = ?, scim_managed = ? WHERE seq = ?")
                    .bind(version)
                    .bind(now)
                    .bind(i64::from(scim_managed))
                    .bind(current.seq)
                    .execute(&mut self.tx)
                    .await?;
            }
        }
        self.changes.tenant(current.tenant_id);
        self.changes.resource(current.kind, &current.id, Op::Updated, Some(version), doc.map(|d| d.text.as_str()));
        Ok(version)
    }

    /// Delete the resource at `current`: kept for restore (`soft`) or gone.
    pub async fn delete_resource(&mut self, current: &Current, soft: bool, now: &str) -> Result<(), StoreError> {
        let seq = current.seq;
        // The document as it was, for the event that tells of the delete.
        let returning = format!("RETURNING {}", self.doc_text_col());
        let row = if soft {
            self.q(&format!("UPDATE resources SET deleted_at = ?, version = version + 1 WHERE seq = ? {returning}"))
                .bind(now)
                .bind(seq)
                .fetch_optional(&mut self.tx)
                .await?
        } else {
            self.q(&format!("DELETE FROM resources WHERE seq = ? {returning}"))
                .bind(seq)
                .fetch_optional(&mut self.tx)
                .await?
        };
        let doc: Option<String> = row.map(|row| row.try_get("doc")).transpose()?;
        self.changes.tenant(current.tenant_id);
        let op = if soft { Op::SoftDeleted } else { Op::Deleted };
        self.changes.resource(current.kind, &current.id, op, None, doc.as_deref());
        Ok(())
    }

    /// Bring back a soft-deleted user as it was. `false`: there is no such deleted user.
    pub async fn restore_user(&mut self, tenant_id: i64, id: &str, now: &str) -> Result<bool, StoreError> {
        let row = self
            .q(&format!(
                "UPDATE resources SET deleted_at = NULL, version = version + 1, updated_at = ? \
                WHERE tenant_id = ? AND kind = 'User' AND id = ? AND deleted_at IS NOT NULL RETURNING version, {}",
                self.doc_text_col()
            ))
            .bind(now)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut self.tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        self.changes.tenant(tenant_id);
        let doc: String = row.try_get("doc")?;
        self.changes.resource(Kind::User, id, Op::Restored, Some(row.try_get("version")?), Some(&doc));
        Ok(true)
    }

    /// Replace the default roles a user keeps (an admin re-applied the policy).
    pub async fn set_default_roles(
        &mut self,
        tenant_id: i64,
        user_id: &str,
        default_roles: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.q("UPDATE resources SET default_roles = ? WHERE tenant_id = ? AND kind = 'User' AND id = ?")
            .bind(defaults_text(default_roles)?)
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut self.tx)
            .await?;
        Ok(())
    }

    /// A group's displayName, for every group of the tenant.
    pub async fn group_names(&mut self, tenant_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .q(&format!(
                "SELECT g.id, {} AS display FROM resources g WHERE g.tenant_id = ? AND g.kind = 'Group'",
                self.dialect().display_name_of("g")
            ))
            .bind(tenant_id)
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get::<Option<String>, _>("display")?.unwrap_or_default())))
            .collect()
    }

    /// The live groups whose id is `key` or whose displayName is `key` (ignoring case).
    pub async fn groups_by_id_or_name(&mut self, tenant_id: i64, key: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .q("SELECT id FROM resources WHERE tenant_id = ? AND kind = 'Group' AND deleted_at IS NULL \
                AND (id = ? OR display_name = ?)")
            .bind(tenant_id)
            .bind(key)
            .bind(key.to_lowercase())
            .fetch_all(&mut self.tx)
            .await?;
        super::tx::first_texts(&rows)
    }

    /// Every user of the tenant, deleted ones included.
    pub async fn user_ids(&mut self, tenant_id: i64) -> Result<Vec<String>, StoreError> {
        let rows = self
            .q("SELECT id FROM resources WHERE tenant_id = ? AND kind = 'User'")
            .bind(tenant_id)
            .fetch_all(&mut self.tx)
            .await?;
        super::tx::first_texts(&rows)
    }
}

/// An unfiltered list in stored order, every resource visible (how Okta
/// imports): its total needs no count where one is kept.
fn is_plain(query: &ListQuery) -> bool {
    query.filter.is_none() && query.sort_by.is_none() && query.hand_made_only_in.is_empty()
}

/// The `WHERE` condition of a list beyond its tenant and kind: its filter,
/// and the rule that hides hand-made users outside the allowed domains.
fn list_condition(
    query: &ListQuery,
    rt: &scim_core::ResourceType,
    kind: Kind,
    d: sql::Dialect,
) -> Result<sql::Frag, StoreError> {
    let mut cond = match &query.filter {
        Some(f) => sql::where_clause(f, rt, kind, d).map_err(StoreError::Query)?,
        None => sql::match_all(d),
    };
    if kind == Kind::User && !query.hand_made_only_in.is_empty() {
        // Hand-made users outside the domains are not for SCIM to see.
        let like = vec!["r.user_name LIKE ? ESCAPE '\\'"; query.hand_made_only_in.len()].join(" OR ");
        cond.sql = format!("({}) AND (r.scim_managed <> 0 OR {like})", cond.sql);
        for domain in &query.hand_made_only_in {
            cond.binds.push(sql::Bind::Text(super::tx::domain_pattern(domain)));
        }
    }
    Ok(cond)
}

/// The statement counting a list's live resources that meet `cond`.
fn count_statement(tenant_id: i64, kind: Kind, cond: &sql::Frag) -> Stmt {
    let sql = format!(
        "SELECT COUNT(*) FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.deleted_at IS NULL AND {}",
        cond.sql
    );
    bind_all(Stmt::new(&sql).bind(tenant_id).bind(kind.as_str()), &cond.binds)
}

/// Default roles as the column keeps them: a JSON array of [workspace, role], or NULL for none.
fn defaults_text(default_roles: &[(String, String)]) -> Result<Option<String>, StoreError> {
    if default_roles.is_empty() {
        return Ok(None);
    }
    super::tx::json_ids(default_roles).map(Some)
}
