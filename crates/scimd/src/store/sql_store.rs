//! The one SQL store, on SQLite or PostgreSQL through sqlx's `Any` driver.
//! Statements are written once with `?` placeholders; [`Dialect`] supplies
//! the few differences (placeholders, JSON access, locking, the JSONB cast).
//!
//! SQLite: one file, WAL journal, `synchronous=FULL` so an acknowledged write
//! survives a crash; writers take the lock up front (`BEGIN IMMEDIATE`) so
//! read-modify-write never deadlocks on upgrade. PostgreSQL: row locks
//! (`SELECT … FOR UPDATE`) serialise writers of one resource across replicas,
//! and the unique index on `user_name` decides races on a userName.

use super::sql::{self, Bind, Dialect};
use super::*;
use scim_core::filter::eval::matches_element;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Row, Transaction};
use std::time::Duration;

/// Connection settings a deployment may tune.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout`; SQLite waits this long for the write lock.
    pub statement_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

pub struct SqlStore {
    pool: AnyPool,
    d: Dialect,
}

type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments>;

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
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_string()),
        _ => StoreError::Db(e),
    }
}

fn resource_from_row(kind: Kind, row: &AnyRow) -> Result<StoredResource, StoreError> {
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

fn tenant_from_row(row: &AnyRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<TokenInfo, StoreError> {
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

fn member_from_row(row: &AnyRow) -> Result<Member, StoreError> {
    Ok(Member {
        value: row.try_get("member_id")?,
        member_type: row.try_get("member_type")?,
        display: row.try_get("display")?,
        reference: row.try_get("ref")?,
    })
}

const TOKEN_COLS: &str = "id, tenant_id, name, hash, created_at, expires_at, revoked_at, last_used_at";
const TENANT_COLS: &str = "id, name, enabled, created_at";

impl SqlStore {
    /// Connect to `sqlite://FILE` (created if missing) or `postgres://…`, and migrate.
    pub async fn connect(url: &str, config: &PoolConfig) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let (d, url) = if url.starts_with("sqlite:") {
            let url = if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") };
            (Dialect::Sqlite, url)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StoreError::Corrupt(format!("unsupported database URL '{url}'")));
        };
        let timeout_ms = config.statement_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.connect_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let setup = match d {
                        Dialect::Sqlite => format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = {timeout_ms};"
                        ),
                        Dialect::Postgres => format!("SET statement_timeout = {timeout_ms}"),
                    };
                    conn.execute(AssertSqlSafe(setup)).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let migrated = match d {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| StoreError::Db(e.into()))?;
        Ok(SqlStore { pool, d })
    }

    pub fn dialect(&self) -> Dialect {
        self.d
    }

    fn q(&self, sql: &str) -> Query<'static> {
        sqlx::query(AssertSqlSafe(self.d.placeholders(sql)))
    }

    /// The document as text: PostgreSQL stores JSONB, which `Any` cannot decode.
    fn doc_col(&self) -> &'static str {
        match self.d {
            Dialect::Sqlite => "r.doc",
            Dialect::Postgres => "r.doc::text AS doc",
        }
    }

    fn doc_param(&self) -> &'static str {
        match self.d {
            Dialect::Sqlite => "?",
            Dialect::Postgres => "CAST(? AS JSONB)",
        }
    }

    fn resource_cols(&self) -> String {
        format!("r.id, {}, r.version, r.created_at, r.updated_at", self.doc_col())
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.d {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// The current row, locked for the rest of the transaction.
    async fn get_for_update(
        &self,
        tx: &mut Transaction<'static, Any>,
        tenant_id: i64,
        kind: Kind,
        id: &str,
    ) -> Result<Option<(i64, StoredResource)>, StoreError> {
        let lock = if self.d == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let row = self
            .q(&format!(
                "SELECT r.seq, {} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ?{lock}",
                self.resource_cols()
            ))
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
        &self,
        tx: &mut Transaction<'static, Any>,
        tenant_id: i64,
        group_id: &str,
        m: &Member,
    ) -> Result<(), StoreError> {
        self.q(
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

    async fn remove_member(
        &self,
        tx: &mut Transaction<'static, Any>,
        tenant_id: i64,
        group_id: &str,
        member_id: &str,
    ) -> Result<(), StoreError> {
        self.q("DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ?")
            .bind(tenant_id)
            .bind(group_id)
            .bind(member_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn remove_all_members(
        &self,
        tx: &mut Transaction<'static, Any>,
        tenant_id: i64,
        group_id: &str,
    ) -> Result<(), StoreError> {
        self.q("DELETE FROM members WHERE tenant_id = ? AND group_id = ?")
            .bind(tenant_id)
            .bind(group_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Membership changes as row inserts and deletes: one row per member,
    /// whatever the size of the group.
    async fn apply_member_changes(
        &self,
        tx: &mut Transaction<'static, Any>,
        tenant_id: i64,
        group_id: &str,
        changes: &[MemberChange],
    ) -> Result<(), StoreError> {
        for change in changes {
            match change {
                MemberChange::Add(values) => {
                    for m in values.iter().filter_map(Member::from_json) {
                        self.add_member(tx, tenant_id, group_id, &m).await?;
                    }
                }
                MemberChange::Replace(values) => {
                    self.remove_all_members(tx, tenant_id, group_id).await?;
                    for m in values.iter().filter_map(Member::from_json) {
                        self.add_member(tx, tenant_id, group_id, &m).await?;
                    }
                }
                MemberChange::RemoveAll => self.remove_all_members(tx, tenant_id, group_id).await?,
                MemberChange::Remove(ids) => {
                    for id in ids {
                        self.remove_member(tx, tenant_id, group_id, id).await?;
                    }
                }
                MemberChange::RemoveWhere(filter) => {
                    // Rare (a filter on type, display or $ref): evaluate it on the rows.
                    let members_attr = scim_core::schema::group_schema()
                        .attribute("members")
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt("group schema has no members".into()))?;
                    let rows = self
                        .q("SELECT member_id, member_type, display, ref FROM members WHERE tenant_id = ? AND group_id = ?")
                        .bind(tenant_id)
                        .bind(group_id)
                        .fetch_all(&mut **tx)
                        .await?;
                    for row in rows {
                        let m = member_from_row(&row)?;
                        if matches_element(filter, &m.to_json(), &members_attr) {
                            self.remove_member(tx, tenant_id, group_id, &m.value).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Storage for SqlStore {
    fn ping(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            self.q("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn create_tenant<'a>(&'a self, name: &'a str, now: &'a str) -> BoxFut<'a, Tenant> {
        Box::pin(async move {
            let row = self
                .q(&format!("INSERT INTO tenants (name, enabled, created_at) VALUES (?, 1, ?) RETURNING {TENANT_COLS}"))
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
            let rows =
                self.q(&format!("SELECT {TENANT_COLS} FROM tenants ORDER BY name")).fetch_all(&self.pool).await?;
            rows.iter().map(tenant_from_row).collect()
        })
    }

    fn tenant_by_name<'a>(&'a self, name: &'a str) -> BoxFut<'a, Option<Tenant>> {
        Box::pin(async move {
            let row = self
                .q(&format!("SELECT {TENANT_COLS} FROM tenants WHERE name = ?"))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(tenant_from_row).transpose()
        })
    }

    fn set_tenant_enabled<'a>(&'a self, name: &'a str, enabled: bool) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let done = self
                .q("UPDATE tenants SET enabled = ? WHERE name = ?")
                .bind(i64::from(enabled))
                .bind(name)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
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
            self.q("INSERT INTO tokens (tenant_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
                .bind(tenant_id)
                .bind(name)
                .bind(hash.to_vec())
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
            let rows = self
                .q(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE tenant_id = ? ORDER BY created_at, id"))
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(token_from_row).collect()
        })
    }

    fn revoke_token<'a>(&'a self, tenant_id: i64, name: &'a str, now: &'a str) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let done = self
                .q("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant_id = ? AND name = ?")
                .bind(now)
                .bind(tenant_id)
                .bind(name)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
    }

    fn token_by_hash<'a>(&'a self, hash: &'a [u8]) -> BoxFut<'a, Option<TokenInfo>> {
        Box::pin(async move {
            let row = self
                .q(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = ?"))
                .bind(hash.to_vec())
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(token_from_row).transpose()
        })
    }

    fn record_token_use(&self, uses: Vec<(i64, String)>) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            for (id, at) in &uses {
                // Replicas may report out of order: keep the latest.
                self.q(
                    "UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                )
                .bind(at)
                .bind(id)
                .bind(at)
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
            self.q(&format!(
                "INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, version, \
                 created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, {}, 1, ?, ?)",
                self.doc_param()
            ))
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
                self.add_member(&mut tx, tenant_id, &new.id, m).await?;
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

    fn get<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str) -> BoxFut<'a, Option<StoredResource>> {
        Box::pin(async move {
            let row = self
                .q(&format!(
                    "SELECT {} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ?",
                    self.resource_cols()
                ))
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
                Some(f) => sql::where_clause(f, rt, kind, self.d).map_err(StoreError::Rejected)?,
                None => sql::match_all(self.d),
            };
            let order = sql::order_by(query.sort_by.as_ref(), query.descending, rt, kind, self.d)
                .map_err(StoreError::Rejected)?;
            let count_sql =
                format!("SELECT COUNT(*) FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND {}", cond.sql);
            let q = self.q(&count_sql).bind(tenant_id).bind(kind.as_str());
            let total: i64 = bind_all(q, &cond.binds).fetch_one(&self.pool).await?.try_get(0)?;
            if query.limit <= 0 || query.offset >= total {
                return Ok((total, Vec::new()));
            }
            let page_sql = format!(
                "SELECT {} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND {} ORDER BY {} LIMIT ? OFFSET ?",
                self.resource_cols(),
                cond.sql,
                order.sql
            );
            let q = self.q(&page_sql).bind(tenant_id).bind(kind.as_str());
            let q = bind_all(bind_all(q, &cond.binds), &order.binds).bind(query.limit).bind(query.offset);
            let rows = q.fetch_all(&self.pool).await?;
            let items = rows.iter().map(|r| resource_from_row(kind, r)).collect::<Result<Vec<_>, _>>()?;
            Ok((total, items))
        })
    }

    fn update<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, f: UpdateFn) -> BoxFut<'a, StoredResource> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let (seq, current) =
                self.get_for_update(&mut tx, tenant_id, kind, id).await?.ok_or(StoreError::NotFound)?;
            let update = f(&current).map_err(StoreError::Rejected)?;
            let version = current.version + 1;
            self.q(&format!(
                "UPDATE resources SET user_name = ?, external_id = ?, display_name = ?, active = ?, doc = {}, \
                 version = ?, updated_at = ? WHERE seq = ?",
                self.doc_param()
            ))
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
                self.apply_member_changes(&mut tx, tenant_id, id, &update.member_changes).await?;
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

    fn delete<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, check: CheckFn) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let (seq, current) =
                self.get_for_update(&mut tx, tenant_id, kind, id).await?.ok_or(StoreError::NotFound)?;
            check(&current).map_err(StoreError::Rejected)?;
            self.q("DELETE FROM resources WHERE seq = ?").bind(seq).execute(&mut *tx).await?;
            let column = if kind == Kind::Group { "group_id" } else { "member_id" };
            self.q(&format!("DELETE FROM members WHERE tenant_id = ? AND {column} = ?"))
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn members_of<'a>(&'a self, tenant_id: i64, group_ids: &'a [String]) -> BoxFut<'a, HashMap<String, Vec<Member>>> {
        Box::pin(async move {
            let mut out: HashMap<String, Vec<Member>> = HashMap::new();
            for chunk in group_ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut q = self
                    .q(&format!(
                        "SELECT group_id, member_id, member_type, display, ref FROM members \
                         WHERE tenant_id = ? AND group_id IN ({marks}) ORDER BY seq"
                    ))
                    .bind(tenant_id);
                for id in chunk {
                    q = q.bind(id);
                }
                for row in q.fetch_all(&self.pool).await? {
                    out.entry(row.try_get("group_id")?).or_default().push(member_from_row(&row)?);
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
                let mut q = self
                    .q(&format!(
                        "SELECT m.member_id, m.group_id, {} AS display FROM members m \
                         JOIN resources g ON g.tenant_id = m.tenant_id AND g.kind = 'Group' AND g.id = m.group_id \
                         WHERE m.tenant_id = ? AND m.member_id IN ({marks}) ORDER BY m.seq",
                        self.d.group_display()
                    ))
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
