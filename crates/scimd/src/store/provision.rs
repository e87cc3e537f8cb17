//! Applies the provisioning policy of scim-core inside the store's
//! transactions: loads the facts about a user (active, groups, current roles
//! and licence), asks `scim_core::policy` what the user should hold, and
//! writes the difference. Seats are counted under a lock, so concurrent
//! requests never oversubscribe a licence type.

use super::sql::Dialect;
use super::sql_store::Core;
use super::{Access, StoreError};
use scim_core::ScimError;
use scim_core::policy::{self, Policy, RoleAssignment, SeatsExhausted, Source, TenantConfig, UserFacts};
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeSet;

pub(super) type Tx = Transaction<'static, Any>;

impl Core {
    /// The tenant's configuration; `lock` holds it (and so its seat counts)
    /// until the transaction ends.
    pub(super) async fn config_in(&self, tx: &mut Tx, tenant_id: i64, lock: bool) -> Result<TenantConfig, StoreError> {
        if self.dialect() != Dialect::Sqlite {
            return self.load_config(tx, tenant_id, lock).await;
        }
        let cached: Option<Result<TenantConfig, u64>> =
            self.config_cache.lock().ok().map(|cache| cache.1.get(&tenant_id).cloned().ok_or(cache.0));
        let generation = match cached {
            Some(Ok(config)) => return Ok(config),
            Some(Err(generation)) => generation,
            None => return self.load_config(tx, tenant_id, lock).await,
        };
        let config = self.load_config(tx, tenant_id, lock).await?;
        if let Ok(mut cache) = self.config_cache.lock()
            && cache.0 == generation
        {
            cache.1.insert(tenant_id, config.clone());
        }
        Ok(config)
    }

    /// The configuration for a write that applies the policy. On PostgreSQL the
    /// row is locked only when a licence type has a seat limit, so that seat
    /// counts cannot race; other writes of a tenant run side by side. (SQLite
    /// runs writes one at a time anyway.)
    pub(super) async fn config_for_write(&self, tx: &mut Tx, tenant_id: i64) -> Result<TenantConfig, StoreError> {
        let config = self.config_in(tx, tenant_id, false).await?;
        if self.dialect() == Dialect::Postgres && config.licence_types.iter().any(|l| l.seat_limit.is_some()) {
            return self.load_config(tx, tenant_id, true).await;
        }
        Ok(config)
    }

    async fn load_config(&self, tx: &mut Tx, tenant_id: i64, lock: bool) -> Result<TenantConfig, StoreError> {
        let lock = if lock && self.dialect() == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let row = self
            .q(&format!("SELECT doc FROM tenant_configs WHERE tenant_id = ?{lock}"))
            .bind(tenant_id)
            .fetch_optional(&mut **tx)
            .await?;
        match row {
            Some(row) => {
                let doc: String = row.try_get("doc")?;
                serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(format!("tenant configuration: {e}")))
            }
            None => Ok(TenantConfig::default()),
        }
    }

    async fn user_facts(&self, tx: &mut Tx, tenant_id: i64, user_id: &str) -> Result<Option<UserFacts>, StoreError> {
        let row = self
            .q("SELECT active, deleted_at FROM resources WHERE tenant_id = ? AND kind = 'User' AND id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let active: Option<i64> = row.try_get("active")?;
        let deleted: Option<String> = row.try_get("deleted_at")?;
        // A user without `active` is active (RFC 7643 leaves it to the provider).
        let active = active.unwrap_or(1) != 0 && deleted.is_none();
        let groups = self
            .q(&format!(
                "SELECT m.group_id, {} AS display FROM members m \
                 JOIN resources g ON g.tenant_id = m.tenant_id AND g.kind = 'Group' AND g.id = m.group_id \
                 WHERE m.tenant_id = ? AND m.member_id = ?",
                self.dialect().display_name_of("g")
            ))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("group_id")?, r.try_get::<Option<String>, _>("display")?.unwrap_or_default())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(UserFacts { active, groups }))
    }

    pub(super) async fn current_roles(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        user_id: &str,
    ) -> Result<Vec<RoleAssignment>, StoreError> {
        let rows = self
            .q("SELECT workspace_id, role_id, source FROM role_assignments WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?;
        rows.iter()
            .map(|r| {
                let source: String = r.try_get("source")?;
                Ok(RoleAssignment {
                    workspace_id: r.try_get("workspace_id")?,
                    role_id: r.try_get("role_id")?,
                    source: Source::parse(&source)
                        .ok_or_else(|| StoreError::Corrupt(format!("role source '{source}'")))?,
                })
            })
            .collect()
    }

    /// Bring the roles and licences of `user_ids` in line with the policy.
    pub(super) async fn reconcile(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        config: &TenantConfig,
        user_ids: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        for user_id in user_ids {
            let Some(facts) = self.user_facts(tx, tenant_id, user_id).await? else {
                self.forget_access(tx, tenant_id, user_id).await?;
                continue;
            };
            let current = self.current_roles(tx, tenant_id, user_id).await?;
            let desired = policy::desired_roles(config, &facts, &current);
            for gone in current.iter().filter(|a| !desired.contains(a)) {
                self.q("DELETE FROM role_assignments WHERE tenant_id = ? AND user_id = ? AND workspace_id = ? \
                        AND role_id = ? AND source = ?")
                    .bind(tenant_id)
                    .bind(user_id.as_str())
                    .bind(&gone.workspace_id)
                    .bind(&gone.role_id)
                    .bind(gone.source.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
            for new in desired.iter().filter(|a| !current.contains(a)) {
                self.q("INSERT INTO role_assignments (tenant_id, user_id, workspace_id, role_id, source) VALUES (?, ?, ?, ?, ?)")
                    .bind(tenant_id)
                    .bind(user_id.as_str())
                    .bind(&new.workspace_id)
                    .bind(&new.role_id)
                    .bind(new.source.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
            self.reconcile_licence(tx, tenant_id, config, user_id, &facts).await?;
        }
        Ok(())
    }

    async fn reconcile_licence(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        config: &TenantConfig,
        user_id: &str,
        facts: &UserFacts,
    ) -> Result<(), StoreError> {
        let row = self
            .q("SELECT licence_type_id, source FROM licence_assignments WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
        let held: Option<(Option<String>, String)> = match row {
            Some(r) => Some((r.try_get("licence_type_id")?, r.try_get("source")?)),
            None => None,
        };
        let Some((wanted, source)) = policy::desired_licence(config, facts) else {
            if held.is_some() {
                self.q("DELETE FROM licence_assignments WHERE tenant_id = ? AND user_id = ?")
                    .bind(tenant_id)
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
            }
            return Ok(());
        };
        let source = source.to_string();
        if let Some((Some(ty), src)) = &held
            && *ty == wanted
        {
            if *src != source {
                self.q("UPDATE licence_assignments SET source = ? WHERE tenant_id = ? AND user_id = ?")
                    .bind(&source)
                    .bind(tenant_id)
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
            }
            return Ok(());
        }
        let lt = config.licence_type(&wanted).ok_or_else(|| StoreError::Corrupt(format!("licence type '{wanted}'")))?;
        let has_seat = match lt.seat_limit {
            None => true,
            Some(limit) => {
                let used: i64 = self
                    .q("SELECT COUNT(*) FROM licence_assignments WHERE tenant_id = ? AND licence_type_id = ? AND user_id <> ?")
                    .bind(tenant_id)
                    .bind(&wanted)
                    .bind(user_id)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get(0)?;
                used < limit
            }
        };
        let (granted, wanted_col) = match (has_seat, config.policy.seats_exhausted) {
            (true, _) => (Some(wanted.as_str()), None),
            (false, SeatsExhausted::CreateUnlicensed) => (None, Some(wanted.as_str())),
            (false, SeatsExhausted::Reject) => {
                return Err(StoreError::Rejected(ScimError::new(
                    409,
                    None,
                    format!(
                        "no seats left for licence type '{}' (limit {}): free a seat or raise the limit; nothing was changed",
                        lt.name,
                        lt.seat_limit.unwrap_or_default()
                    ),
                )));
            }
        };
        self.q("DELETE FROM licence_assignments WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
        self.q("INSERT INTO licence_assignments (tenant_id, user_id, licence_type_id, wanted_type_id, source) VALUES (?, ?, ?, ?, ?)")
            .bind(tenant_id)
            .bind(user_id)
            .bind(granted)
            .bind(wanted_col)
            .bind(&source)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(super) async fn forget_access(&self, tx: &mut Tx, tenant_id: i64, user_id: &str) -> Result<(), StoreError> {
        for table in ["role_assignments", "licence_assignments"] {
            self.q(&format!("DELETE FROM {table} WHERE tenant_id = ? AND user_id = ?"))
                .bind(tenant_id)
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// The members of a group, now.
    pub(super) async fn member_ids(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        group_id: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        let rows = self
            .q("SELECT member_id FROM members WHERE tenant_id = ? AND group_id = ?")
            .bind(tenant_id)
            .bind(group_id)
            .fetch_all(&mut **tx)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("member_id")?)).collect()
    }

    /// Every user whose access a configuration change may move: all users
    /// when the policy, roles or licence types changed; otherwise the
    /// members of the groups whose mappings changed.
    pub(super) async fn affected_by_config(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        old: &TenantConfig,
        new: &TenantConfig,
    ) -> Result<BTreeSet<String>, StoreError> {
        // A tenant's rate limit moves nobody's access.
        let policy_moved =
            Policy { rate_limit: None, ..old.policy.clone() } != Policy { rate_limit: None, ..new.policy.clone() };
        let everything = policy_moved || old.roles != new.roles || old.licence_types != new.licence_types;
        if everything {
            let rows = self
                .q("SELECT id FROM resources WHERE tenant_id = ? AND kind = 'User'")
                .bind(tenant_id)
                .fetch_all(&mut **tx)
                .await?;
            return rows.iter().map(|r| Ok(r.try_get("id")?)).collect();
        }
        let changed: Vec<&policy::GroupMapping> = old
            .mappings
            .iter()
            .filter(|m| !new.mappings.contains(m))
            .chain(new.mappings.iter().filter(|m| !old.mappings.contains(m)))
            .collect();
        let mut users = BTreeSet::new();
        if changed.is_empty() {
            return Ok(users);
        }
        let rows = self
            .q(&format!(
                "SELECT g.id, {} AS display FROM resources g WHERE g.tenant_id = ? AND g.kind = 'Group'",
                self.dialect().display_name_of("g")
            ))
            .bind(tenant_id)
            .fetch_all(&mut **tx)
            .await?;
        let probe = TenantConfig { mappings: changed.into_iter().cloned().collect(), ..TenantConfig::default() };
        for row in rows {
            let id: String = row.try_get("id")?;
            let display: String = row.try_get::<Option<String>, _>("display")?.unwrap_or_default();
            if probe.maps_group(&id, &display) {
                users.extend(self.member_ids(tx, tenant_id, &id).await?);
            }
        }
        Ok(users)
    }

    pub(super) async fn access_in(
        &self,
        tx: &mut Tx,
        tenant_id: i64,
        user_id: &str,
    ) -> Result<Option<Access>, StoreError> {
        let row = self
            .q("SELECT active, deleted_at, scim_managed FROM resources WHERE tenant_id = ? AND kind = 'User' AND id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let active: Option<i64> = row.try_get("active")?;
        let deleted: Option<String> = row.try_get("deleted_at")?;
        let scim_managed: i64 = row.try_get("scim_managed")?;
        let mut roles = self.current_roles(tx, tenant_id, user_id).await?;
        roles.sort();
        let licence = self
            .q("SELECT licence_type_id, wanted_type_id, source FROM licence_assignments WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
        let (licence, unlicensed_wanted) = match licence {
            Some(r) => {
                let held: Option<String> = r.try_get("licence_type_id")?;
                let source: String = r.try_get("source")?;
                let source =
                    Source::parse(&source).ok_or_else(|| StoreError::Corrupt(format!("licence source '{source}'")))?;
                (held.map(|h| (h, source)), r.try_get("wanted_type_id")?)
            }
            None => (None, None),
        };
        Ok(Some(Access {
            active: active.unwrap_or(1) != 0,
            deleted: deleted.is_some(),
            scim_managed: scim_managed != 0,
            roles,
            licence,
            unlicensed_wanted,
        }))
    }
}
