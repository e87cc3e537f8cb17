//! The one SQL store, on SQLite or PostgreSQL through sqlx's `Any` driver.
//! On SQLite, SCIM writes go through one writer task that commits many
//! requests' writes with one fsync (group commit; see [`SqlStore`]).
//! Statements are written once with `?` placeholders; [`Dialect`] supplies
//! the few differences (placeholders, JSON access, locking, the JSONB cast).
//!
//! SQLite: one file, WAL journal, `synchronous=FULL` so an acknowledged write
//! survives a crash; writers take the lock up front (`BEGIN IMMEDIATE`) so
//! read-modify-write never deadlocks on upgrade. PostgreSQL: row locks
//! (`SELECT … FOR UPDATE`) serialise writers of one resource across replicas,
//! and the unique index on `user_name` decides races on a userName.

use super::provision::Tx;
use super::read_cache::{MARK_EVERY, ReadCache, Roster};
use super::sql::{self, Bind, Dialect};
use super::*;
use scim_core::ScimError;
use scim_core::filter::eval::matches_element;
use scim_core::policy::TenantConfig;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Row, Transaction};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Connection settings a deployment may tune.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// 0: the dialect's default (4 on SQLite, 16 on PostgreSQL).
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout`; SQLite waits this long for the write lock.
    pub statement_timeout: Duration,
    /// SQLite: bytes of rendered users kept for reads (0: none). Unused on
    /// PostgreSQL, where other processes may write the same rows.
    pub read_cache_bytes: usize,
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
            read_cache_bytes: 32 << 20,
            maintain_tables: false,
        }
    }
}

/// The SQL store itself: every statement, on a pool. [`SqlStore`] wraps it
/// to batch SQLite commits.
pub struct Core {
    pub(super) pool: AnyPool,
    d: Dialect,
    /// SQLite only (one process owns the file): tenant configurations as last
    /// read or written here, so a SCIM write does not read them again.
    /// The generation counts changes: a copy read before a change is not cached after it.
    pub(super) config_cache: std::sync::Mutex<(u64, HashMap<i64, TenantConfig>)>,
}

type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments>;

/// PostgreSQL plans from statistics that only ANALYZE refreshes, and reads
/// an index alone (no table visits) only where VACUUM has marked pages
/// all-visible. Where autovacuum is off (seen on this project's own
/// machines), a tenant loaded after start-up keeps the plans of an empty
/// table (a user read by id through the userName index) and a deep page
/// visits a million table rows. So scimd does autovacuum's job itself, by
/// autovacuum's default measures, and only while autovacuum is off.
async fn keep_statistics_fresh(pool: AnyPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let counters = sqlx::query(
            "SELECT current_setting('autovacuum') = 'on' AS auto, \
             COALESCE(SUM(n_mod_since_analyze), 0)::BIGINT AS changed, \
             COALESCE(SUM(n_ins_since_vacuum), 0)::BIGINT AS inserted, \
             COALESCE(SUM(n_dead_tup), 0)::BIGINT AS dead, \
             COALESCE(SUM(n_live_tup), 0)::BIGINT AS live FROM pg_stat_user_tables \
             WHERE relname IN ('resources', 'members')",
        )
        .fetch_one(&pool)
        .await
        .and_then(|row| {
            let n = |col: &str| row.try_get::<i64, _>(col);
            Ok((row.try_get::<bool, _>("auto")?, n("changed")?, n("inserted")?, n("dead")?, n("live")?))
        });
        let (auto, changed, inserted, dead, live) = match counters {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "could not read table statistics");
                continue;
            }
        };
        let work = if auto {
            None
        } else if dead > 50 + live / 5 || inserted > 1000 + live / 5 {
            Some("VACUUM (ANALYZE) resources, members")
        } else if changed > 50 + live / 10 {
            Some("ANALYZE resources, members")
        } else {
            None
        };
        if let Some(sql) = work
            && let Err(e) = sqlx::raw_sql(sql).execute(&pool).await
        {
            tracing::warn!(error = %e, sql, "table maintenance failed; plans may be poor until autovacuum runs");
        }
    }
}

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

fn raw_from_row(kind: Kind, row: &AnyRow) -> Result<RawResource, StoreError> {
    Ok(RawResource {
        kind,
        id: row.try_get("id")?,
        doc_text: row.try_get("doc")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        scim_managed: row.try_get::<i64, _>("scim_managed")? != 0,
        // The `groups` column some reads add.
        groups_text: row.try_get::<Option<String>, _>("groups").ok().flatten(),
    })
}

fn resource_from_row(kind: Kind, row: &AnyRow) -> Result<StoredResource, StoreError> {
    raw_from_row(kind, row)?.parse()
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

/// The first column of each row, as text (the ids a statement returned).
fn first_texts(rows: &[AnyRow]) -> Result<Vec<String>, StoreError> {
    Ok(rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
}

/// Does `id` name a live user or group of the tenant (the first `?`)?
fn live_resource(id: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM resources r WHERE r.tenant_id = ? AND r.kind IN ('User', 'Group') AND r.id = {id} \
         AND r.deleted_at IS NULL)"
    )
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

impl Core {
    /// Connect to `sqlite://FILE` (created if missing) or `postgres://…`, and migrate.
    pub async fn connect(url: &str, config: &PoolConfig) -> Result<Core, StoreError> {
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
            // A ping before every use costs a round trip (a thread switch on
            // SQLite) per statement; a broken connection fails its statement instead.
            .test_before_acquire(false)
            .max_connections(match (config.max_connections, d) {
                (0, Dialect::Sqlite) => 4,
                (0, Dialect::Postgres) => 16,
                (n, _) => n,
            })
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
        if d == Dialect::Postgres && config.maintain_tables {
            // Its first round runs now, in the background: start-up does not wait for it.
            tokio::spawn(keep_statistics_fresh(pool.clone()));
        }
        Ok(Core { pool, d, config_cache: std::sync::Mutex::default() })
    }

    pub fn dialect(&self) -> Dialect {
        self.d
    }

    pub(super) fn q(&self, sql: &str) -> Query<'static> {
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
        format!("r.id, {}, r.version, r.created_at, r.updated_at, r.scim_managed", self.doc_col())
    }

    /// The columns of a resource, and for users their groups in the same
    /// statement (one round trip instead of two).
    fn cols_for(&self, kind: Kind) -> String {
        match kind {
            Kind::Group => self.resource_cols(),
            Kind::User => {
                let from = "FROM members m JOIN resources g ON g.tenant_id = m.tenant_id AND g.kind = 'Group' \
                            AND g.id = m.group_id WHERE m.tenant_id = r.tenant_id AND m.member_id = r.id";
                let groups = match self.d {
                    Dialect::Sqlite => format!(
                        "(SELECT json_group_array(json_array(m.group_id, json_extract(g.doc, '$.displayName'))) {from})"
                    ),
                    Dialect::Postgres => format!(
                        "(SELECT COALESCE(json_agg(json_build_array(m.group_id, g.doc ->> 'displayName') ORDER BY m.seq), \
                         '[]'::json)::text {from})"
                    ),
                };
                format!("{}, {groups} AS groups", self.resource_cols())
            }
        }
    }

    pub(super) async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.d {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// The current row, locked for the rest of the transaction.
    async fn get_for_update(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        kind: Kind,
        id: &str,
    ) -> Result<Option<(i64, StoredResource)>, StoreError> {
        let lock = if self.d == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let row = self
            .q(&format!(
                "SELECT r.seq, {} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ? \
                 AND r.deleted_at IS NULL{lock}",
                self.cols_for(kind)
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

    /// Add members to a group in one statement. Values that are not live
    /// resources of this tenant are not stored (and logged); a group cannot
    /// hold itself. Answers the ids that became members.
    async fn add_members(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        group_id: &str,
        members: &[Member],
    ) -> Result<Vec<String>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        if members.iter().any(|m| m.value == group_id) {
            return Err(StoreError::Rejected(ScimError::invalid_value(format!(
                "group '{group_id}' cannot be a member of itself"
            ))));
        }
        if let [m] = members {
            // One member (Entra's PATCH, one at a time): no JSON to unpack.
            let one = format!(
                "INSERT INTO members (tenant_id, group_id, member_id, member_type, display, ref) \
                 SELECT ?, ?, ?, ?, ?, ? WHERE {} \
                 ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING RETURNING member_id",
                live_resource("?")
            );
            let rows = self
                .q(&one)
                .bind(tenant_id)
                .bind(group_id)
                .bind(&m.value)
                .bind(&m.member_type)
                .bind(&m.display)
                .bind(&m.reference)
                .bind(tenant_id)
                .bind(&m.value)
                .fetch_all(&mut **tx)
                .await?;
            let added = first_texts(&rows)?;
            if added.is_empty() {
                self.only_live_members(&mut **tx, tenant_id, group_id, &[m.to_json()]).await?;
            }
            return Ok(added);
        }
        let exists = live_resource("j.value");
        let plain = members.iter().all(|m| m.member_type.is_none() && m.display.is_none() && m.reference.is_none());
        // Ids alone (Entra's form) as a flat JSON array: SQLite reads it several
        // times faster than an array of rows.
        let (sql, rows) = if plain {
            let ids: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
            (
                format!(
                    "INSERT INTO members (tenant_id, group_id, member_id) SELECT ?, ?, j.value FROM {} WHERE {exists} \
                     ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING RETURNING member_id",
                    self.d.json_text_rows()
                ),
                serde_json::to_string(&ids),
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
                    self.d.json_rows("e")
                ),
                serde_json::to_string(&rows),
            )
        };
        let rows = rows.map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let added = first_texts(
            &self.q(&sql).bind(tenant_id).bind(group_id).bind(rows).bind(tenant_id).fetch_all(&mut **tx).await?,
        )?;
        // Large lists were narrowed to live resources before the write
        // ([`Core::only_live_members`]); a short one is checked here, where
        // it costs little, and only when some value was not added.
        if added.len() < members.len() && members.len() <= PRECHECK_MEMBERS_ABOVE {
            let values: Vec<Value> = members.iter().map(Member::to_json).collect();
            self.only_live_members(&mut **tx, tenant_id, group_id, &values).await?;
        }
        Ok(added)
    }

    /// Member values that name live users or groups of the tenant, read on
    /// `db`: the pool before a write (a request of 10,000 made-up values then
    /// costs the writer nothing), or the write's own transaction. Those that
    /// name nothing are logged and left out (Eptura: members that exist are
    /// mapped, the rest ignored).
    async fn only_live_members<'e, E: Executor<'e, Database = Any>>(
        &self,
        db: E,
        tenant_id: i64,
        group_id: &str,
        values: &[Value],
    ) -> Result<Vec<Value>, StoreError> {
        let ids: Vec<&str> = values.iter().filter_map(|v| v.get("value").and_then(Value::as_str)).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids_json = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!("SELECT j.value FROM {} WHERE {}", self.d.json_text_rows(), live_resource("j.value"));
        let rows = self.q(&sql).bind(ids_json).bind(tenant_id).fetch_all(db).await?;
        let live: std::collections::HashSet<String> = first_texts(&rows)?.into_iter().collect();
        if live.len() == ids.len() {
            return Ok(values.to_vec());
        }
        let unknown: Vec<&str> = ids.iter().copied().filter(|id| !live.contains(*id)).collect();
        if !unknown.is_empty() {
            let first: Vec<&str> = unknown.iter().take(5).copied().collect();
            tracing::info!(
                tenant_id,
                group_id,
                ignored = unknown.len(),
                first = ?first,
                "member values that are not users or groups of this tenant were not stored"
            );
        }
        Ok(values
            .iter()
            .filter(|v| v.get("value").and_then(Value::as_str).is_some_and(|id| live.contains(id)))
            .cloned()
            .collect())
    }

    /// An update with its added members narrowed to live resources.
    async fn with_live_members(
        &self,
        tenant_id: i64,
        group_id: &str,
        update: Arc<Update>,
    ) -> Result<Arc<Update>, StoreError> {
        let large = |c: &MemberChange| matches!(c, MemberChange::Add(v) | MemberChange::Replace(v) if v.len() > PRECHECK_MEMBERS_ABOVE);
        if !update.member_changes.iter().any(large) {
            return Ok(update);
        }
        let mut narrowed = (*update).clone();
        for change in &mut narrowed.member_changes {
            if let MemberChange::Add(values) | MemberChange::Replace(values) = change
                && values.len() > PRECHECK_MEMBERS_ABOVE
            {
                *values = self.only_live_members(&self.pool, tenant_id, group_id, values).await?;
            }
        }
        Ok(Arc::new(narrowed))
    }

    /// A new group with its members narrowed to live resources.
    async fn new_with_live_members(&self, tenant_id: i64, mut new: NewResource) -> Result<NewResource, StoreError> {
        if new.members.len() <= PRECHECK_MEMBERS_ABOVE {
            return Ok(new);
        }
        let values: Vec<Value> = new.members.iter().map(Member::to_json).collect();
        let live = self.only_live_members(&self.pool, tenant_id, &new.id, &values).await?;
        new.members = live.iter().filter_map(Member::from_json).collect();
        Ok(new)
    }

    /// Remove some members (`Some(ids)`) or all of them; answers who left.
    async fn remove_members(
        &self,
        tx: &mut Tx,
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
                    .fetch_all(&mut **tx)
                    .await?
            }
            Some(ids) => {
                let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // Driven by the ids: PostgreSQL otherwise reads the whole group.
                self.q(&format!(
                    "DELETE FROM members WHERE seq IN (SELECT m.seq FROM {} CROSS JOIN members m \
                     WHERE m.tenant_id = ? AND m.group_id = ? AND m.member_id = j.value) RETURNING member_id",
                    self.d.json_text_rows()
                ))
                .bind(ids)
                .bind(tenant_id)
                .bind(group_id)
                .fetch_all(&mut **tx)
                .await?
            }
            None => {
                self.q("DELETE FROM members WHERE tenant_id = ? AND group_id = ? RETURNING member_id")
                    .bind(tenant_id)
                    .bind(group_id)
                    .fetch_all(&mut **tx)
                    .await?
            }
        };
        first_texts(&rows)
    }

    /// The representation of these resources changed (a user's `groups`, a
    /// group's `members`): their version and lastModified move.
    async fn touch(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        kind: Kind,
        ids: &[String],
        now: &str,
    ) -> Result<(), StoreError> {
        if let [id] = ids {
            self.q("UPDATE resources SET version = version + 1, updated_at = ? WHERE tenant_id = ? AND kind = ? \
                 AND id = ? AND deleted_at IS NULL")
                .bind(now)
                .bind(tenant_id)
                .bind(kind.as_str())
                .bind(id)
                .execute(&mut **tx)
                .await?;
            return Ok(());
        }
        if ids.is_empty() {
            return Ok(());
        }
        let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // Driven by the ids (CROSS JOIN keeps SQLite's order): with `id IN
        // (…)` SQLite walked every live resource of the tenant instead.
        self.q(&format!(
            "UPDATE resources SET version = version + 1, updated_at = ? WHERE seq IN (SELECT r.seq FROM {} \
             CROSS JOIN resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = j.value AND r.deleted_at IS NULL)",
            self.d.json_text_rows()
        ))
        .bind(now)
        .bind(ids)
        .bind(tenant_id)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A resource goes: it leaves every group it was in, and a group loses
    /// its members; everyone on the other side of those rows is touched.
    async fn drop_memberships(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        kind: Kind,
        id: &str,
        now: &str,
    ) -> Result<Vec<String>, StoreError> {
        let parents = first_texts(
            &self
                .q("DELETE FROM members WHERE tenant_id = ? AND member_id = ? RETURNING group_id")
                .bind(tenant_id)
                .bind(id)
                .fetch_all(&mut **tx)
                .await?,
        )?;
        self.touch(tx, tenant_id, Kind::Group, &parents, now).await?;
        let members = if kind == Kind::Group {
            let members = self.remove_members(tx, tenant_id, id, None).await?;
            self.touch(tx, tenant_id, Kind::User, &members, now).await?;
            members
        } else {
            Vec::new()
        };
        Ok(members)
    }

    /// Insert (or restore a soft-deleted user under the same userName). The
    /// answer's `doc` is left `Null`: the caller owns the document and moves
    /// it in (no copy of what may be megabytes).
    pub(super) async fn insert_in(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        new: &NewResource,
    ) -> Result<StoredResource, StoreError> {
        let config = self.config_for_write(tx, tenant_id).await?;
        if new.kind == Kind::User && new.scim_managed {
            let mut addresses: Vec<&str> = new
                .doc
                .value
                .get("emails")
                .and_then(Value::as_array)
                .map(|emails| emails.iter().filter_map(|e| e.get("value").and_then(Value::as_str)).collect())
                .unwrap_or_default();
            if let Some(user_name) = new.doc.value.get("userName").and_then(Value::as_str) {
                addresses.push(user_name);
            }
            if let Some(domain) = scim_core::policy::disallowed_domain(&config.policy, addresses) {
                return Err(StoreError::Rejected(ScimError::new(
                    403,
                    None,
                    format!(
                        "users of the e-mail domain '{domain}' are not provisioned through SCIM in this tenant: \
                         external users are managed by hand in the product"
                    ),
                )));
            }
        }
        // Insert first: a userName taken by a soft-deleted user is looked for
        // only when the insert finds the name taken (one statement on the usual path).
        let inserted = self
            .q(&format!(
                "INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, \
                 version, created_at, updated_at, scim_managed) VALUES (?, ?, ?, ?, ?, ?, ?, {}, 1, ?, ?, ?) \
                 ON CONFLICT DO NOTHING",
                self.doc_param()
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
            .execute(&mut **tx)
            .await?
            .rows_affected()
            > 0;
        let mut added = Vec::new();
        let stored = if inserted {
            added = self.add_members(tx, tenant_id, &new.id, &new.members).await?;
            self.touch(tx, tenant_id, Kind::User, &added, &new.now).await?;
            StoredResource {
                kind: new.kind,
                id: new.id.clone(),
                doc: Value::Null, // the caller attaches the document it wrote
                stored_bytes: new.doc.text.len(),
                version: 1,
                created_at: new.now.clone(),
                updated_at: new.now.clone(),
                scim_managed: new.scim_managed,
                groups: (new.kind == Kind::User).then(Vec::new),
            }
        } else {
            match self.restore_soft_deleted(tx, tenant_id, new).await? {
                Some(restored) => restored,
                None => return Err(StoreError::Conflict("userName".into())),
            }
        };
        if !config.is_empty() {
            let affected: BTreeSet<String> = match new.kind {
                Kind::User => BTreeSet::from([stored.id.clone()]),
                Kind::Group => {
                    let name = new.doc.value.get("displayName").and_then(Value::as_str).unwrap_or_default();
                    if config.maps_group(&stored.id, name) { added.into_iter().collect() } else { BTreeSet::new() }
                }
            };
            self.reconcile(tx, tenant_id, &config, &affected).await?;
        }
        Ok(stored)
    }

    pub(super) async fn update_in(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        kind: Kind,
        id: &str,
        update: &Update,
    ) -> Result<i64, StoreError> {
        let config = self.config_for_write(tx, tenant_id).await?;
        let lock = if self.d == Dialect::Postgres { " FOR UPDATE" } else { "" };
        // Only a group's name matters here (mappings may match it); a user's
        // document is not parsed in the writer.
        let display = if kind == Kind::Group { self.d.display_name_of("r") } else { "NULL".to_string() };
        let row = self
            .q(&format!(
                "SELECT r.seq, r.version, {display} AS display FROM resources r WHERE r.tenant_id = ? AND r.kind = ? \
                 AND r.id = ? AND r.deleted_at IS NULL{lock}"
            ))
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let seq: i64 = row.try_get("seq")?;
        let version: i64 = row.try_get::<i64, _>("version")?;
        if update.based_on.is_some_and(|based_on| based_on != version) {
            return Err(StoreError::VersionMoved);
        }
        let old_display: String = row.try_get::<Option<String>, _>("display")?.unwrap_or_default();
        let new_display = match &update.doc {
            Some(doc) => doc.value.get("displayName").and_then(Value::as_str).unwrap_or_default().to_string(),
            None => old_display.clone(),
        };
        let new_version = version + 1;
        match &update.doc {
            Some(doc) => {
                self.q(&format!(
                    "UPDATE resources SET user_name = ?, external_id = ?, display_name = ?, active = ?, doc = {}, \
                     version = ?, updated_at = ?, scim_managed = ? WHERE seq = ?",
                    self.doc_param()
                ))
                .bind(&doc.index.user_name)
                .bind(&doc.index.external_id)
                .bind(&doc.index.display_name)
                .bind(doc.index.active.map(i64::from))
                .bind(doc.text.as_str())
                .bind(new_version)
                .bind(&update.now)
                .bind(i64::from(update.scim_managed))
                .bind(seq)
                .execute(&mut **tx)
                .await
                .map_err(|e| conflict_or(e, "userName"))?;
            }
            None => {
                self.q("UPDATE resources SET version = ?, updated_at = ?, scim_managed = ? WHERE seq = ?")
                    .bind(new_version)
                    .bind(&update.now)
                    .bind(i64::from(update.scim_managed))
                    .bind(seq)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        let changed = self.apply_member_changes(tx, tenant_id, id, &update.member_changes, &update.now).await?;
        if !config.is_empty() {
            let mut affected = BTreeSet::new();
            match kind {
                Kind::User => {
                    affected.insert(id.to_string());
                }
                // Whose access may this change move? Those who joined or left,
                // and on a rename (mappings may match by name) every member.
                Kind::Group if config.maps_group(id, &old_display) || config.maps_group(id, &new_display) => {
                    affected.extend(changed);
                    if old_display != new_display {
                        affected.extend(self.member_ids(tx, tenant_id, id).await?);
                    }
                }
                Kind::Group => {}
            }
            self.reconcile(tx, tenant_id, &config, &affected).await?;
        }
        Ok(new_version)
    }

    pub(super) async fn delete_in(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        kind: Kind,
        id: &str,
        check: CheckFn,
    ) -> Result<(), StoreError> {
        let config = self.config_for_write(tx, tenant_id).await?;
        let (seq, current) = self.get_for_update(tx, tenant_id, kind, id).await?.ok_or(StoreError::NotFound)?;
        check(&current).map_err(StoreError::Rejected)?;
        let now = crate::clock::now();
        let soft = kind == Kind::User && config.policy.on_delete == scim_core::policy::OnDelete::Soft;
        if soft {
            self.q("UPDATE resources SET deleted_at = ?, version = version + 1 WHERE seq = ?")
                .bind(&now)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
        } else {
            self.q("DELETE FROM resources WHERE seq = ?").bind(seq).execute(&mut **tx).await?;
        }
        let former_members = self.drop_memberships(tx, tenant_id, kind, id, &now).await?;
        let mut affected = BTreeSet::new();
        if kind == Kind::Group {
            let name = current.doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
            if config.maps_group(id, name) {
                affected.extend(former_members);
            }
        }
        if kind == Kind::User {
            if soft {
                affected.insert(id.to_string());
            } else {
                self.forget_access(tx, tenant_id, id).await?;
            }
        }
        if !affected.is_empty() {
            self.reconcile(tx, tenant_id, &config, &affected).await?;
        }
        Ok(())
    }

    /// A SCIM create whose userName belongs to a soft-deleted user restores
    /// that user, with the same id and the new attributes.
    async fn restore_soft_deleted(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        new: &NewResource,
    ) -> Result<Option<StoredResource>, StoreError> {
        let Some(user_name) = new.doc.index.user_name.as_deref().filter(|_| new.kind == Kind::User) else {
            return Ok(None);
        };
        let row = self
            .q("SELECT seq, id, version, created_at FROM resources WHERE tenant_id = ? AND kind = 'User' AND user_name = ? \
                AND deleted_at IS NOT NULL")
            .bind(tenant_id)
            .bind(user_name)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get("seq")?;
        let version: i64 = row.try_get::<i64, _>("version")? + 1;
        self.q(&format!(
            "UPDATE resources SET external_id = ?, display_name = ?, active = ?, doc = {}, version = ?, updated_at = ?, \
             scim_managed = ?, deleted_at = NULL WHERE seq = ?",
            self.doc_param()
        ))
        .bind(&new.doc.index.external_id)
        .bind(&new.doc.index.display_name)
        .bind(new.doc.index.active.map(i64::from))
        .bind(new.doc.text.as_str())
        .bind(version)
        .bind(&new.now)
        .bind(i64::from(new.scim_managed))
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        Ok(Some(StoredResource {
            kind: Kind::User,
            id: row.try_get("id")?,
            doc: Value::Null, // the caller attaches the document it wrote
            stored_bytes: new.doc.text.len(),
            version,
            created_at: row.try_get("created_at")?,
            updated_at: new.now.clone(),
            scim_managed: new.scim_managed,
            groups: Some(Vec::new()), // memberships went with the soft delete
        }))
    }

    /// How many live resources of a kind a tenant has, and where every
    /// [`MARK_EVERY`]th of them sits in stored order (one pass over the index).
    async fn roster(&self, tenant_id: i64, kind: Kind) -> Result<Roster, StoreError> {
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
    /// `from_seq` (SQLite). The page comes back as one JSON array in one row:
    /// the driver hands rows over one by one between threads, which cost
    /// more than building and reading the array.
    async fn page_from(
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

    /// Membership changes as row inserts and deletes: one statement per
    /// change, whatever the size of the group. Answers every member id that
    /// joined or left; those users' versions move.
    async fn apply_member_changes(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        group_id: &str,
        changes: &[MemberChange],
        now: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut changed = BTreeSet::new();
        let members_of = |values: &[Value]| values.iter().filter_map(Member::from_json).collect::<Vec<_>>();
        for change in changes {
            let moved = match change {
                MemberChange::Add(values) => self.add_members(tx, tenant_id, group_id, &members_of(values)).await?,
                MemberChange::Replace(values) => {
                    let mut moved = self.remove_members(tx, tenant_id, group_id, None).await?;
                    moved.extend(self.add_members(tx, tenant_id, group_id, &members_of(values)).await?);
                    moved
                }
                MemberChange::RemoveAll => self.remove_members(tx, tenant_id, group_id, None).await?,
                MemberChange::Remove(ids) => self.remove_members(tx, tenant_id, group_id, Some(ids)).await?,
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
                    let mut ids = Vec::new();
                    for row in rows {
                        let m = member_from_row(&row)?;
                        if matches_element(filter, &m.to_json(), &members_attr) {
                            ids.push(m.value);
                        }
                    }
                    self.remove_members(tx, tenant_id, group_id, Some(&ids)).await?
                }
            };
            changed.extend(moved);
        }
        let touched: Vec<String> = changed.iter().cloned().collect();
        self.touch(tx, tenant_id, Kind::User, &touched, now).await?;
        Ok(changed)
    }
}

impl Storage for Core {
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
            let new = self.new_with_live_members(tenant_id, new).await?;
            let mut tx = self.write_tx().await?;
            let mut out = self.insert_in(&mut tx, tenant_id, &new).await?;
            tx.commit().await?;
            out.doc = new.doc.value;
            Ok(out)
        })
    }

    fn get<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str) -> BoxFut<'a, Option<StoredResource>> {
        Box::pin(async move {
            let row = self
                .q(&format!(
                    "SELECT {} FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.id = ? AND r.deleted_at IS NULL",
                    self.cols_for(kind)
                ))
                .bind(tenant_id)
                .bind(kind.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            match row {
                Some(row) => Ok(Some(raw_from_row(kind, &row)?.parse_off_thread().await?)),
                None => Ok(None),
            }
        })
    }

    fn list<'a>(
        &'a self,
        tenant_id: i64,
        kind: Kind,
        query: &'a ListQuery,
        rt: &'a scim_core::ResourceType,
    ) -> BoxFut<'a, (i64, Vec<RawResource>)> {
        Box::pin(async move {
            let cond = match &query.filter {
                Some(f) => sql::where_clause(f, rt, kind, self.d).map_err(StoreError::Rejected)?,
                None => sql::match_all(self.d),
            };
            let order = sql::order_by(query.sort_by.as_ref(), query.descending, rt, kind, self.d)
                .map_err(StoreError::Rejected)?;
            let count = || async {
                let count_sql = format!(
                    "SELECT COUNT(*) FROM resources r WHERE r.tenant_id = ? AND r.kind = ? AND r.deleted_at IS NULL \
                     AND {}",
                    cond.sql
                );
                let q = self.q(&count_sql).bind(tenant_id).bind(kind.as_str());
                let total: i64 = bind_all(q, &cond.binds).fetch_one(&self.pool).await?.try_get(0)?;
                Ok::<i64, StoreError>(total)
            };
            if query.limit <= 0 {
                return Ok((count().await?, Vec::new()));
            }
            // The page's rows are chosen by `seq` alone, so skipping `offset`
            // rows reads the index, not the documents.
            let page_sql = format!(
                "SELECT {cols} FROM resources r WHERE r.seq IN (SELECT r.seq FROM resources r WHERE r.tenant_id = ? \
                 AND r.kind = ? AND r.deleted_at IS NULL AND {cond} ORDER BY {order} LIMIT ? OFFSET ?) ORDER BY {order}",
                cols = self.cols_for(kind),
                cond = cond.sql,
                order = order.sql
            );
            let q = self.q(&page_sql).bind(tenant_id).bind(kind.as_str());
            let q = bind_all(bind_all(q, &cond.binds), &order.binds).bind(query.limit).bind(query.offset);
            let q = bind_all(q, &order.binds);
            let rows = q.fetch_all(&self.pool).await?;
            let items = rows.iter().map(|r| raw_from_row(kind, r)).collect::<Result<Vec<_>, _>>()?;
            // A page that is not full ends the list, so the total is known
            // without counting (a `userName eq` look-up costs one statement).
            let len = items.len() as i64;
            let total = if len > 0 && len < query.limit || len == 0 && query.offset == 0 {
                query.offset + len
            } else {
                count().await?
            };
            Ok((total, items))
        })
    }

    fn update<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, update: Arc<Update>) -> BoxFut<'a, i64> {
        Box::pin(async move {
            let update = self.with_live_members(tenant_id, id, update).await?;
            let mut tx = self.write_tx().await?;
            let version = self.update_in(&mut tx, tenant_id, kind, id, &update).await?;
            tx.commit().await?;
            Ok(version)
        })
    }

    fn delete<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, check: CheckFn) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            self.delete_in(&mut tx, tenant_id, kind, id, check).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn tenant_config(&self, tenant_id: i64) -> BoxFut<'_, TenantConfig> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let config = self.config_in(&mut tx, tenant_id, false).await?;
            tx.commit().await?;
            Ok(config)
        })
    }

    fn change_tenant_config(&self, tenant_id: i64, f: ConfigFn) -> BoxFut<'_, TenantConfig> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let old = self.config_in(&mut tx, tenant_id, true).await?;
            let mut new = old.clone();
            f(&mut new).map_err(StoreError::Rejected)?;
            new.validate().map_err(|e| StoreError::Rejected(ScimError::new(400, None, e.0)))?;
            let doc = serde_json::to_string(&new).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let done = self
                .q("UPDATE tenant_configs SET doc = ?, version = version + 1 WHERE tenant_id = ?")
                .bind(&doc)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                self.q("INSERT INTO tenant_configs (tenant_id, doc, version) VALUES (?, ?, 1)")
                    .bind(tenant_id)
                    .bind(&doc)
                    .execute(&mut *tx)
                    .await?;
            }
            let affected = self.affected_by_config(&mut tx, tenant_id, &old, &new).await?;
            self.reconcile(&mut tx, tenant_id, &new, &affected).await?;
            tx.commit().await?;
            if let Ok(mut cache) = self.config_cache.lock() {
                cache.0 += 1;
                cache.1.remove(&tenant_id);
            }
            Ok(new)
        })
    }

    fn access<'a>(&'a self, tenant_id: i64, user_id: &'a str) -> BoxFut<'a, Option<Access>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let access = self.access_in(&mut tx, tenant_id, user_id).await?;
            tx.commit().await?;
            Ok(access)
        })
    }

    fn set_manual_role<'a>(
        &'a self,
        tenant_id: i64,
        user_id: &'a str,
        workspace_id: &'a str,
        role_id: &'a str,
        grant: bool,
    ) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let config = self.config_for_write(&mut tx, tenant_id).await?;
            if config.workspace(workspace_id).is_none() {
                return Err(StoreError::Rejected(ScimError::not_found(format!(
                    "workspace '{workspace_id}' not found"
                ))));
            }
            if config.role(role_id).is_none() {
                return Err(StoreError::Rejected(ScimError::not_found(format!("role '{role_id}' not found"))));
            }
            self.get_for_update(&mut tx, tenant_id, Kind::User, user_id).await?.ok_or(StoreError::NotFound)?;
            let sql = if grant {
                "INSERT INTO role_assignments (tenant_id, user_id, workspace_id, role_id, source) VALUES (?, ?, ?, ?, 'manual') \
                 ON CONFLICT (tenant_id, user_id, workspace_id, role_id, source) DO NOTHING"
            } else {
                "DELETE FROM role_assignments WHERE tenant_id = ? AND user_id = ? AND workspace_id = ? AND role_id = ? \
                 AND source = 'manual'"
            };
            self.q(sql).bind(tenant_id).bind(user_id).bind(workspace_id).bind(role_id).execute(&mut *tx).await?;
            // A manual role gives way where a group maps a role: the policy decides.
            self.reconcile(&mut tx, tenant_id, &config, &BTreeSet::from([user_id.to_string()])).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn list_deleted_users(&self, tenant_id: i64) -> BoxFut<'_, Vec<StoredResource>> {
        Box::pin(async move {
            let rows = self
                .q(&format!(
                    "SELECT {} FROM resources r WHERE r.tenant_id = ? AND r.kind = 'User' AND r.deleted_at IS NOT NULL \
                     ORDER BY r.seq",
                    self.resource_cols()
                ))
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(|r| resource_from_row(Kind::User, r)).collect()
        })
    }

    fn restore_user<'a>(&'a self, tenant_id: i64, id: &'a str, now: &'a str) -> BoxFut<'a, StoredResource> {
        Box::pin(async move {
            let mut tx = self.write_tx().await?;
            let config = self.config_for_write(&mut tx, tenant_id).await?;
            let done = self
                .q("UPDATE resources SET deleted_at = NULL, version = version + 1, updated_at = ? \
                    WHERE tenant_id = ? AND kind = 'User' AND id = ? AND deleted_at IS NOT NULL")
                .bind(now)
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            self.reconcile(&mut tx, tenant_id, &config, &BTreeSet::from([id.to_string()])).await?;
            let (_, restored) =
                self.get_for_update(&mut tx, tenant_id, Kind::User, id).await?.ok_or(StoreError::NotFound)?;
            tx.commit().await?;
            Ok(restored)
        })
    }

    fn create_admin_token<'a>(&'a self, name: &'a str, hash: &'a [u8], now: &'a str) -> BoxFut<'a, ()> {
        Box::pin(async move {
            self.q("INSERT INTO admin_tokens (name, hash, created_at) VALUES (?, ?, ?)")
                .bind(name)
                .bind(hash.to_vec())
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_or(e, "admin token name"))?;
            Ok(())
        })
    }

    fn admin_token_by_hash<'a>(&'a self, hash: &'a [u8]) -> BoxFut<'a, Option<AdminToken>> {
        Box::pin(async move {
            let row = self
                .q("SELECT id, name, hash, revoked_at FROM admin_tokens WHERE hash = ?")
                .bind(hash.to_vec())
                .fetch_optional(&self.pool)
                .await?;
            match row {
                Some(r) => Ok(Some(AdminToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    hash: r.try_get("hash")?,
                    revoked_at: r.try_get("revoked_at")?,
                })),
                None => Ok(None),
            }
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
                        self.d.display_name_of("g")
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

/// Member lists longer than this are narrowed to live resources on the pool
/// before the write; shorter ones cost the writer less than a read would.
const PRECHECK_MEMBERS_ABOVE: usize = 100;

/// Most writes one SQLite commit carries.
const MAX_BATCH: usize = 128;

enum JobOut {
    Resource(StoredResource),
    Version(i64),
    Unit,
}

/// A write; callable again when its batch has to be run again.
type JobFn = Box<dyn for<'t> Fn(&'t Core, &'t mut Tx) -> BoxFut<'t, JobOut> + Send + Sync>;

struct Job {
    run: JobFn,
    reply: tokio::sync::oneshot::Sender<Result<JobOut, StoreError>>,
}

/// The store scimd uses. On PostgreSQL it is [`Core`] as is: the server
/// groups commits of concurrent connections itself. On SQLite, where there
/// is one writer and every durable commit costs an fsync, SCIM writes are
/// queued to one task that runs up to [`MAX_BATCH`] of them in one
/// transaction, each inside its own savepoint (a failing write is rolled
/// back alone), and commits once: every request is answered only after the
/// commit that made its write durable.
///
/// On SQLite it also keeps the [`ReadCache`] coherent: every write drops
/// what it changes from the cache before it runs and again once it is
/// committed (a read that started in between cannot keep its result).
pub struct SqlStore {
    core: Arc<Core>,
    writer: Option<tokio::sync::mpsc::Sender<Job>>,
    cache: Option<ReadCache>,
}

impl SqlStore {
    pub async fn connect(url: &str, config: &PoolConfig) -> Result<SqlStore, StoreError> {
        let core = Arc::new(Core::connect(url, config).await?);
        let writer = if core.dialect() == Dialect::Sqlite {
            let (tx, rx) = tokio::sync::mpsc::channel(MAX_BATCH * 8);
            tokio::spawn(write_batches(core.clone(), rx));
            Some(tx)
        } else {
            None
        };
        let cache = (writer.is_some() && config.read_cache_bytes > 0).then(|| ReadCache::new(config.read_cache_bytes));
        Ok(SqlStore { core, writer, cache })
    }

    /// What a write of this resource changes in cached users.
    fn invalidate(&self, tenant_id: i64, kind: Kind, id: &str) {
        match (&self.cache, kind) {
            (Some(cache), Kind::User) => cache.invalidate(tenant_id, id),
            // Members show their groups: a group's write may change any of them.
            (Some(cache), Kind::Group) => cache.invalidate_tenant(tenant_id),
            (None, _) => {}
        }
    }

    /// A resource was created, deleted or restored: as [`SqlStore::invalidate`],
    /// and every list position after it moved.
    fn invalidate_with_rosters(&self, tenant_id: i64, kind: Kind, id: &str) {
        self.invalidate(tenant_id, kind, id);
        if let Some(cache) = &self.cache {
            cache.invalidate_rosters();
        }
    }

    async fn submit(&self, run: JobFn) -> Result<JobOut, StoreError> {
        let Some(writer) = &self.writer else {
            return Err(StoreError::Corrupt("no writer".into()));
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        writer.send(Job { run, reply }).await.map_err(|_| StoreError::Corrupt("the writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Corrupt("the writer dropped a write".into()))?
    }
}

fn unexpected() -> StoreError {
    StoreError::Corrupt("the writer answered with the wrong kind of result".into())
}

async fn write_batches(core: Arc<Core>, mut rx: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Every statement is a round trip to SQLite's thread, so the batch
        // first runs without savepoints; only a batch in which a job fails is
        // rolled back and run again, each job in its own savepoint.
        let started = std::time::Instant::now();
        metrics::histogram!("scimd_sqlite_writer_batch_size").record(jobs.len() as f64);
        let results = match run_batch(&core, &jobs, false).await {
            Ok(Some(results)) => Ok(results),
            Ok(None) => run_batch(&core, &jobs, true).await.map(Option::unwrap_or_default),
            Err(e) => Err(e),
        };
        metrics::histogram!("scimd_sqlite_writer_batch_seconds").record(started.elapsed().as_secs_f64());
        match results {
            Ok(results) => {
                for (Job { run, reply }, result) in jobs.into_iter().zip(results) {
                    // What the job holds (a document, perhaps megabytes) goes
                    // before its request resumes, so the request owns the only copy.
                    drop(run);
                    let _ = reply.send(result);
                }
            }
            Err(text) => {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Corrupt(text.clone())));
                }
            }
        }
    }
}

/// One transaction for `jobs`, committed once. Without savepoints it stops
/// at the first failing job, rolls back and answers `None`; with them, a
/// failing job is rolled back alone and every job has its result. `Err`:
/// the transaction itself failed (begin or commit), with the reason.
async fn run_batch(
    core: &Core,
    jobs: &[Job],
    savepoints: bool,
) -> Result<Option<Vec<Result<JobOut, StoreError>>>, String> {
    let mut tx = core.write_tx().await.map_err(|e| format!("could not start a write: {e}"))?;
    let mut results = Vec::with_capacity(jobs.len());
    if savepoints {
        let mut open = sqlx::raw_sql("SAVEPOINT w").execute(&mut *tx).await.map(|_| ()).map_err(StoreError::Db);
        for job in jobs {
            let result = match &open {
                Ok(()) => (job.run)(core, &mut tx).await,
                Err(e) => Err(StoreError::Corrupt(format!("could not open a savepoint: {e}"))),
            };
            // Closing one savepoint and opening the next is one round trip; COMMIT releases the last.
            let next = if result.is_ok() { "RELEASE w; SAVEPOINT w" } else { "ROLLBACK TO w; RELEASE w; SAVEPOINT w" };
            open = sqlx::raw_sql(next).execute(&mut *tx).await.map(|_| ()).map_err(StoreError::Db);
            if let Err(e) = &open {
                tracing::error!(error = %e, "savepoint failed");
            }
            results.push(result);
        }
    } else {
        for job in jobs {
            match (job.run)(core, &mut tx).await {
                Ok(out) => results.push(Ok(out)),
                Err(_) => {
                    if let Err(e) = tx.rollback().await {
                        tracing::error!(error = %e, "rollback failed");
                    }
                    return Ok(None);
                }
            }
        }
    }
    tx.commit().await.map_err(|e| format!("the commit failed: {e}"))?;
    Ok(Some(results))
}

impl Storage for SqlStore {
    fn ping(&self) -> BoxFut<'_, ()> {
        self.core.ping()
    }
    fn create_tenant<'a>(&'a self, name: &'a str, now: &'a str) -> BoxFut<'a, Tenant> {
        self.core.create_tenant(name, now)
    }
    fn list_tenants(&self) -> BoxFut<'_, Vec<Tenant>> {
        self.core.list_tenants()
    }
    fn tenant_by_name<'a>(&'a self, name: &'a str) -> BoxFut<'a, Option<Tenant>> {
        self.core.tenant_by_name(name)
    }
    fn set_tenant_enabled<'a>(&'a self, name: &'a str, enabled: bool) -> BoxFut<'a, ()> {
        self.core.set_tenant_enabled(name, enabled)
    }
    fn create_token<'a>(
        &'a self,
        tenant_id: i64,
        name: &'a str,
        hash: &'a [u8],
        now: &'a str,
        expires_at: Option<&'a str>,
    ) -> BoxFut<'a, ()> {
        self.core.create_token(tenant_id, name, hash, now, expires_at)
    }
    fn list_tokens(&self, tenant_id: i64) -> BoxFut<'_, Vec<TokenInfo>> {
        self.core.list_tokens(tenant_id)
    }
    fn revoke_token<'a>(&'a self, tenant_id: i64, name: &'a str, now: &'a str) -> BoxFut<'a, ()> {
        self.core.revoke_token(tenant_id, name, now)
    }
    fn token_by_hash<'a>(&'a self, hash: &'a [u8]) -> BoxFut<'a, Option<TokenInfo>> {
        self.core.token_by_hash(hash)
    }
    fn record_token_use(&self, uses: Vec<(i64, String)>) -> BoxFut<'_, ()> {
        self.core.record_token_use(uses)
    }

    fn insert(&self, tenant_id: i64, new: NewResource) -> BoxFut<'_, StoredResource> {
        if self.writer.is_none() {
            return self.core.insert(tenant_id, new);
        }
        Box::pin(async move {
            let kind = new.kind;
            let new = self.core.new_with_live_members(tenant_id, new).await?;
            // Shared, not cloned, when the batch runs again: a document may be megabytes.
            let new = Arc::new(new);
            let written = new.clone();
            let run: JobFn = Box::new(move |core: &Core, tx: &mut Tx| {
                let new = new.clone();
                Box::pin(async move { core.insert_in(tx, tenant_id, &new).await.map(JobOut::Resource) })
            });
            match self.submit(run).await? {
                // A user created again under a soft-deleted userName keeps its old id.
                JobOut::Resource(mut r) => {
                    self.invalidate_with_rosters(tenant_id, kind, &r.id);
                    r.doc = Arc::try_unwrap(written).map(|n| n.doc.value).unwrap_or_else(|n| n.doc.value.clone());
                    Ok(r)
                }
                _ => Err(unexpected()),
            }
        })
    }
    fn get<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str) -> BoxFut<'a, Option<StoredResource>> {
        self.core.get(tenant_id, kind, id)
    }
    fn list<'a>(
        &'a self,
        tenant_id: i64,
        kind: Kind,
        query: &'a ListQuery,
        rt: &'a scim_core::ResourceType,
    ) -> BoxFut<'a, (i64, Vec<RawResource>)> {
        let Some(cache) = self.cache.as_ref().filter(|_| query.filter.is_none() && query.sort_by.is_none()) else {
            return self.core.list(tenant_id, kind, query, rt);
        };
        // An unfiltered list in stored order (how Okta imports): the total and
        // the page's start come from the roster, not from counting rows.
        Box::pin(async move {
            let roster = match cache.roster(tenant_id, kind.as_str()) {
                Some(roster) => roster,
                None => {
                    let ticket = cache.roster_ticket();
                    let roster = Arc::new(self.core.roster(tenant_id, kind).await?);
                    cache.put_roster(ticket, tenant_id, kind.as_str(), roster.clone());
                    roster
                }
            };
            let rows = match roster.start(query.offset) {
                Some((from_seq, skip)) if query.limit > 0 => {
                    self.core.page_from(tenant_id, kind, from_seq, skip, query.limit).await?
                }
                _ => Vec::new(),
            };
            Ok((roster.total, rows))
        })
    }
    fn update<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, update: Arc<Update>) -> BoxFut<'a, i64> {
        if self.writer.is_none() {
            return self.core.update(tenant_id, kind, id, update);
        }
        Box::pin(async move {
            let update = self.core.with_live_members(tenant_id, id, update).await?;
            self.invalidate(tenant_id, kind, id);
            let owned_id = id.to_string();
            let run: JobFn = Box::new(move |core: &Core, tx: &mut Tx| {
                let (id, update) = (owned_id.clone(), update.clone());
                Box::pin(async move { core.update_in(tx, tenant_id, kind, &id, &update).await.map(JobOut::Version) })
            });
            let result = self.submit(run).await;
            self.invalidate(tenant_id, kind, id);
            match result? {
                JobOut::Version(v) => Ok(v),
                _ => Err(unexpected()),
            }
        })
    }
    fn delete<'a>(&'a self, tenant_id: i64, kind: Kind, id: &'a str, check: CheckFn) -> BoxFut<'a, ()> {
        if self.writer.is_none() {
            return self.core.delete(tenant_id, kind, id, check);
        }
        Box::pin(async move {
            self.invalidate(tenant_id, kind, id);
            let owned_id = id.to_string();
            let run: JobFn = Box::new(move |core: &Core, tx: &mut Tx| {
                let (id, check) = (owned_id.clone(), check.clone());
                Box::pin(async move { core.delete_in(tx, tenant_id, kind, &id, check).await.map(|()| JobOut::Unit) })
            });
            let result = self.submit(run).await;
            self.invalidate_with_rosters(tenant_id, kind, id);
            match result? {
                JobOut::Unit => Ok(()),
                _ => Err(unexpected()),
            }
        })
    }
    fn tenant_config(&self, tenant_id: i64) -> BoxFut<'_, TenantConfig> {
        self.core.tenant_config(tenant_id)
    }
    fn change_tenant_config(&self, tenant_id: i64, f: ConfigFn) -> BoxFut<'_, TenantConfig> {
        self.core.change_tenant_config(tenant_id, f)
    }
    fn access<'a>(&'a self, tenant_id: i64, user_id: &'a str) -> BoxFut<'a, Option<Access>> {
        self.core.access(tenant_id, user_id)
    }
    fn set_manual_role<'a>(
        &'a self,
        tenant_id: i64,
        user_id: &'a str,
        workspace_id: &'a str,
        role_id: &'a str,
        grant: bool,
    ) -> BoxFut<'a, ()> {
        self.core.set_manual_role(tenant_id, user_id, workspace_id, role_id, grant)
    }
    fn list_deleted_users(&self, tenant_id: i64) -> BoxFut<'_, Vec<StoredResource>> {
        self.core.list_deleted_users(tenant_id)
    }
    fn restore_user<'a>(&'a self, tenant_id: i64, id: &'a str, now: &'a str) -> BoxFut<'a, StoredResource> {
        Box::pin(async move {
            self.invalidate(tenant_id, Kind::User, id);
            let result = self.core.restore_user(tenant_id, id, now).await;
            self.invalidate_with_rosters(tenant_id, Kind::User, id);
            result
        })
    }
    fn create_admin_token<'a>(&'a self, name: &'a str, hash: &'a [u8], now: &'a str) -> BoxFut<'a, ()> {
        self.core.create_admin_token(name, hash, now)
    }
    fn admin_token_by_hash<'a>(&'a self, hash: &'a [u8]) -> BoxFut<'a, Option<AdminToken>> {
        self.core.admin_token_by_hash(hash)
    }
    fn members_of<'a>(&'a self, tenant_id: i64, group_ids: &'a [String]) -> BoxFut<'a, HashMap<String, Vec<Member>>> {
        self.core.members_of(tenant_id, group_ids)
    }
    fn groups_of<'a>(&'a self, tenant_id: i64, user_ids: &'a [String]) -> BoxFut<'a, GroupsByUser> {
        self.core.groups_of(tenant_id, user_ids)
    }
    fn read_cache(&self) -> Option<&ReadCache> {
        self.cache.as_ref()
    }
    fn drain(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            if self.writer.is_some() {
                // Jobs run in order: once this one is answered, every earlier one is committed.
                let run: JobFn = Box::new(|_: &Core, _: &mut Tx| Box::pin(async { Ok(JobOut::Unit) }));
                self.submit(run).await?;
            }
            Ok(())
        })
    }
    fn pool_use(&self) -> (u32, usize) {
        (self.core.pool.size(), self.core.pool.num_idle())
    }
}
