//! The SQLite store: one file, WAL journal, `synchronous=FULL` so an
//! acknowledged write survives a crash. Writers take the lock up front
//! (`BEGIN IMMEDIATE`) so read-modify-write never deadlocks on upgrade.

use super::sql::{self, Bind, Dialect};
use super::*;
use scim_core::filter::eval::matches_element;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

fn bind_all<'q>(mut q: Query<'q>, binds: &'q [Bind]) -> Query<'q> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
            Bind::Real(f) => q.bind(*f),
        };
    }
    q
}

fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => StoreError::Db(e),
    }
}

fn resource_from_row(kind: Kind, row: &SqliteRow) -> Result<StoredResource, StoreError> {
    let doc: String = row.try_get("doc")?;
    Ok(StoredResource {
        kind,
        id: row.try_get("id")?,
        doc: serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn tenant_from_row(row: &SqliteRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn token_from_row(row: &SqliteRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

const RESOURCE_COLS: &str = "r.id, r.doc, r.version, r.created_at, r.updated_at";

impl SqliteStore {
    /// Open (creating the file if needed) and migrate.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Db(e.into()))?;
        Ok(SqliteStore { pool })
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn get_in(
        tx: &mut Transaction<'static, Sqlite>,
        tenant_id: i64,
        kind: Kind,
        id: &str,
    ) -> Result<Option<(i64, StoredResource)>, StoreError> {
        let row = sqlx::query(
            "SELECT r.seq, r.id, r.doc, r.version, r.created_at, r.updated_at FROM resources r \
             WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ?",
        )
        .bind(tenant_id)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            Some(row) => Ok(Some((row.try_get("seq")?, resource_from_row(kind, &row)?))),
            None => Ok(None),
        }
    }

    async fn add_member(
        tx: &mut Transaction<'static, Sqlite>,
        tenant_id: i64,
        group_id: &str,
        m: &Member,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO members (tenant_id, group_id, member_id, member_type, display, ref) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(group_id)
        .bind(&m.value)
        .bind(&m.member_type)
        .bind(&m.display)
        .bind(&m.reference)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn apply_member_changes(
        tx: &mut Transaction<'static, Sqlite>,
        tenant_id: i64,
        group_id: &str,
        changes: &[MemberChange],
    ) -> Result<(), StoreError> {
        let members_attr = scim_core::schema::group_schema()
            .attribute("members")
            .cloned()
            .ok_or_else(|| StoreError::Corrupt("group schema has no members".into()))?;
        for change in changes {
            match change {
                MemberChange::Add(values) => {
                    for m in values.iter().filter_map(Member::from_json) {
                        Self::add_member(tx, tenant_id, group_id, &m).await?;
                    }
                }
                MemberChange::Replace(values) => {
                    sqlx::query("DELETE FROM members WHERE tenant_id = ? AND group_id = ?")
                        .bind(tenant_id)
                        .bind(group_id)
                        .execute(&mut **tx)
                        .await?;
                    for m in values.iter().filter_map(Member::from_json) {
                        Self::add_member(tx, tenant_id, group_id, &m).await?;
                    }
                }
                MemberChange::RemoveAll => {
                    sqlx::query("DELETE FROM members WHERE tenant_id = ? AND group_id = ?")
                        .bind(tenant_id)
                        .bind(group_id)
                        .execute(&mut **tx)
                        .await?;
                }
                MemberChange::Remove(ids) => {
                    for id in ids {
                        sqlx::query("DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ?")
                            .bind(tenant_id)
                            .bind(group_id)
                            .bind(id)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                MemberChange::RemoveWhere(filter) => {
                    // Rare (a filter on type, display or $ref): evaluate it on the rows.
                    let rows = sqlx::query(
                        "SELECT member_id, member_type, display, ref FROM members WHERE tenant_id = ? AND group_id = ?",
                    )
                    .bind(tenant_id)
                    .bind(group_id)
                    .fetch_all(&mut **tx)
                    .await?;
                    for row in rows {
                        let m = Member {
                            value: row.try_get("member_id")?,
                            member_type: row.try_get("member_type")?,
                            display: row.try_get("display")?,
                            reference: row.try_get("ref")?,
                        };
                        if matches_element(filter, &m.to_json(), &members_attr) {
                            sqlx::query("DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ?")
                                .bind(tenant_id)
                                .bind(group_id)
                                .bind(&m.value)
                                .execute(&mut **tx)
                                .await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Storage for SqliteStore {
    fn ping(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn create_tenant<'a>(&'a self, name: &'a str, now: &'a str) -> BoxFut<'a, Tenant> {
        Box::pin(async move {
            let row = sqlx::query(
                "INSERT INTO tenants (name, enabled, created_at) VALUES (?, 1, ?) RETURNING *",
            )
            .bind(name)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| conflict_or(e, "tenant name"))?;
            tenant_from_row(&row)
        })
    }

    fn list_tenants(&self) -> BoxFut<'_, Vec<Tenant>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT * FROM tenants ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(tenant_from_row).collect()
        })
    }

    fn tenant_by_name<'a>(&'a self, name: &'a str) -> BoxFut<'a, Option<Tenant>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM tenants WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(tenant_from_row).transpose()
        })
    }

    fn set_tenant_enabled<'a>(&'a self, name: &'a str, enabled: bool) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE tenants SET enabled = ? WHERE name = ?")
                .bind(i64::from(enabled))
                .bind(name)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn create_token<'a>(
        &'a self,
        tenant_id: i64,
        name: &'a str,
        hash: &'a [u8],
        now: &'a str,
        expires_at: Option<&'a str>,
    ) -> BoxFut<'a, ()> {
        Box::pin(async move {
            sqlx::query("INSERT INTO tokens (tenant_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
                .bind(tenant_id)
                .bind(name)
                .bind(hash)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_or(e, "token name"))?;
            Ok(())
        })
    }

    fn list_tokens(&self, tenant_id: i64) -> BoxFut<'_, Vec<TokenInfo>> {
        Box::pin(async move {
            let rows =
                sqlx::query("SELECT * FROM tokens WHERE tenant_id = ? ORDER BY created_at, id")
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
            rows.iter().map(token_from_row).collect()
        })
    }

    fn revoke_token<'a>(&'a self, tenant_id: i64, name: &'a str, now: &'a str) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant_id = ? AND name = ?",
            )
            .bind(now)
            .bind(tenant_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn token_by_hash<'a>(&'a self, hash: &'a [u8]) -> BoxFut<'a, Option<TokenInfo>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM tokens WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(token_from_row).transpose()
        })
    }

    fn record_token_use(&self, uses: Vec<(i64, String)>) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            for (id, at) in &uses {
                sqlx::query("UPDATE tokens SET last_used_at = ? WHERE id = ?")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn insert(&self, tenant_id: i64, new: NewResource) -> BoxFut<'_, StoredResource> {
        Box::pin(async move {
            let doc_text = new.doc.to_string();
            let mut tx = self.write_tx().await?;
            sqlx::query(
                "INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, version, \
                 created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            )
            .bind(tenant_id)
            .bind(new.kind.as_str())
            .bind(&new.id)
            .bind(&new.index.user_name)
            .bind(&new.index.external_id)
            .bind(&new.index.display_name)
            .bind(new.index.active.map(i64::from))
            .bind(&doc_text)
            .bind(&new.now)
            .bind(&new.now)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, "userName"))?;
            for m in &new.members {
                Self::add_member(&mut tx, tenant_id, &new.id, m).await?;
            }
            tx.commit().await?;
            Ok(StoredResource {
                kind: new.kind,
                id: new.id,
                doc: new.doc,
                version: 1,
                created_at: new.now.clone(),
                updated_at: new.now,
            })
        })
    }

    fn get<'a>(
        &'a self,
        tenant_id: i64,
        kind: Kind,
        id: &'a str,
    ) -> BoxFut<'a, Option<StoredResource>> {
        Box::pin(async move {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {RESOURCE_COLS} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ?"
            )))
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|r| resource_from_row(kind, &r)).transpose()
        })
    }

    fn list<'a>(
        &'a self,
        tenant_id: i64,
        kind: Kind,
        query: &'a ListQuery,
        rt: &'a scim_core::ResourceType,
    ) -> BoxFut<'a, (i64, Vec<StoredResource>)> {
        Box::pin(async move {
            let cond = match &query.filter {
                Some(f) => sql::where_clause(f, rt, kind).map_err(StoreError::Rejected)?,
                None => sql::Frag {
                    sql: "1".into(),
                    binds: Vec::new(),
                },
            };
            let order = sql::order_by(query.sort_by.as_ref(), query.descending, rt, kind)
                .map_err(StoreError::Rejected)?;
            let count_sql = Dialect::Sqlite.placeholders(format!(
                "SELECT COUNT(*) FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND {}",
                cond.sql
            ));
            let q = sqlx::query(AssertSqlSafe(count_sql))
                .bind(tenant_id)
                .bind(kind.as_str());
            let total: i64 = bind_all(q, &cond.binds)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            if query.limit <= 0 || query.offset >= total {
                return Ok((total, Vec::new()));
            }
            let page_sql = Dialect::Sqlite.placeholders(format!(
                "SELECT {RESOURCE_COLS} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND {} ORDER BY {} LIMIT ? OFFSET ?",
                cond.sql, order.sql
            ));
            let q = sqlx::query(AssertSqlSafe(page_sql))
                .bind(tenant_id)
                .bind(kind.as_str());
            let q = bind_all(bind_all(q, &cond.binds), &order.binds)
                .bind(query.limit)
                .bind(query.offset);
            let rows = q.fetch_all(&self.pool).await?;
            let items = rows
                .iter()
                .map(|r| resource_from_row(kind, r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((total, items))
        })
    }

    fn update<'a>(
        &'a self,
        tenant_id: i64,
        kind: Kind,
        id: &'a str,
        f: UpdateFn,
    ) -> BoxFut<'a, StoredResource> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let (seq, current) = Self::get_in(&mut tx, tenant_id, kind, id)
                .await?
                .ok_or(StoreError::NotFound)?;
            let update = f(&current).map_err(StoreError::Rejected)?;
            let version = current.version + 1;
            sqlx::query(
                "UPDATE resources SET user_name = ?, external_id = ?, display_name = ?, active = ?, doc = ?, \
                 version = ?, updated_at = ? WHERE seq = ?",
            )
            .bind(&update.index.user_name)
            .bind(&update.index.external_id)
            .bind(&update.index.display_name)
            .bind(update.index.active.map(i64::from))
            .bind(update.doc.to_string())
            .bind(version)
            .bind(&update.now)
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, "userName"))?;
            if !update.member_changes.is_empty() {
                Self::apply_member_changes(&mut tx, tenant_id, id, &update.member_changes).await?;
            }
            tx.commit().await?;
            Ok(StoredResource {
                kind,
                id: current.id,
                doc: update.doc,
                version,
                created_at: current.created_at,
                updated_at: update.now,
            })
        })
    }

    fn delete<'a>(
        &'a self,
        tenant_id: i64,
        kind: Kind,
        id: &'a str,
        check: CheckFn,
    ) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let (seq, current) = Self::get_in(&mut tx, tenant_id, kind, id)
                .await?
                .ok_or(StoreError::NotFound)?;
            check(&current).map_err(StoreError::Rejected)?;
            sqlx::query("DELETE FROM resources WHERE seq = ?")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            let column = if kind == Kind::Group {
                "group_id"
            } else {
                "member_id"
            };
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM members WHERE tenant_id = ? AND {column} = ?"
            )))
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn members_of<'a>(
        &'a self,
        tenant_id: i64,
        group_ids: &'a [String],
    ) -> BoxFut<'a, HashMap<String, Vec<Member>>> {
        Box::pin(async move {
            let mut out: HashMap<String, Vec<Member>> = HashMap::new();
            for chunk in group_ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut q = sqlx::query(AssertSqlSafe(format!(
                    "SELECT group_id, member_id, member_type, display, ref FROM members \
                     WHERE tenant_id = ? AND group_id IN ({marks}) ORDER BY seq"
                )))
                .bind(tenant_id);
                for id in chunk {
                    q = q.bind(id);
                }
                for row in q.fetch_all(&self.pool).await? {
                    out.entry(row.try_get("group_id")?)
                        .or_default()
                        .push(Member {
                            value: row.try_get("member_id")?,
                            member_type: row.try_get("member_type")?,
                            display: row.try_get("display")?,
                            reference: row.try_get("ref")?,
                        });
                }
            }
            Ok(out)
        })
    }

    fn groups_of<'a>(&'a self, tenant_id: i64, user_ids: &'a [String]) -> BoxFut<'a, GroupsByUser> {
        Box::pin(async move {
            let mut out = GroupsByUser::new();
            for chunk in user_ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut q = sqlx::query(AssertSqlSafe(format!(
                    "SELECT m.member_id, m.group_id, json_extract(g.doc, '$.displayName') AS display FROM members m \
                     JOIN resources g ON g.tenant_id = m.tenant_id AND g.kind = 'Group' AND g.id = m.group_id \
                     WHERE m.tenant_id = ? AND m.member_id IN ({marks}) ORDER BY m.seq"
                )))
                .bind(tenant_id);
                for id in chunk {
                    q = q.bind(id);
                }
                for row in q.fetch_all(&self.pool).await? {
                    out.entry(row.try_get("member_id")?)
                        .or_default()
                        .push((row.try_get("group_id")?, row.try_get("display")?));
                }
            }
            Ok(out)
        })
    }
}
