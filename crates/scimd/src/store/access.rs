//! What users may do in the product: role assignments and licences. The
//! facts the policy decides from are read on a [`WriteTx`] and its decisions
//! written there, each recorded in the transaction's [`super::ChangeSet`].
//! What to grant is decided above the store.

use super::{Access, LicenceChange, LicenceOp, RoleChange, Store, StoreError, WriteTx};
use crate::store::exec::Row;
use scim_core::policy::{RoleAssignment, Source, UserFacts};

/// The licence row of a user: what it holds, and what it waits for (since
/// when) while that type's seats ran out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLicence {
    pub licence_type_id: Option<String>,
    pub wanted_type_id: Option<String>,
    pub source: Source,
    pub waiting_since: Option<String>,
}

fn source(text: &str, what: &str) -> Result<Source, StoreError> {
    Source::parse(text).ok_or_else(|| StoreError::Corrupt(format!("{what} source '{text}'")))
}

fn role_from_row(r: &Row) -> Result<RoleAssignment, StoreError> {
    Ok(RoleAssignment {
        workspace_id: r.try_get("workspace_id")?,
        role_id: r.try_get("role_id")?,
        source: source(&r.try_get::<String, _>("source")?, "role")?,
    })
}

fn licence_from_row(r: &Row) -> Result<HeldLicence, StoreError> {
    Ok(HeldLicence {
        licence_type_id: r.try_get("licence_type_id")?,
        wanted_type_id: r.try_get("wanted_type_id")?,
        source: source(&r.try_get::<String, _>("source")?, "licence")?,
        waiting_since: r.try_get("waiting_since")?,
    })
}

const LICENCE_COLS: &str = "licence_type_id, wanted_type_id, source, waiting_since";

impl Store {
    /// Per licence type: seats held, and users waiting for one.
    pub async fn seat_usage(
        &self,
        tenant_id: i64,
    ) -> Result<std::collections::HashMap<String, (i64, i64)>, StoreError> {
        let c = self.core();
        let mut out: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
        for (column, waiting) in [("licence_type_id", false), ("wanted_type_id", true)] {
            let rows = c
                .q(&format!(
                    "SELECT {column} AS t, COUNT(*) AS n FROM licence_assignments WHERE tenant_id = ? \
                     AND {column} IS NOT NULL GROUP BY {column}"
                ))
                .bind(tenant_id)
                .fetch_all(&c.pool)
                .await?;
            for row in rows {
                let entry = out.entry(row.try_get("t")?).or_default();
                let n: i64 = row.try_get("n")?;
                if waiting { entry.1 = n } else { entry.0 = n }
            }
        }
        Ok(out)
    }

    /// A user's state, roles and licence; `None` when there is no such user (deleted ones included).
    pub async fn access(&self, tenant_id: i64, user_id: &str) -> Result<Option<Access>, StoreError> {
        let c = self.core();
        let row = c
            .q("SELECT active, deleted_at, scim_managed FROM resources WHERE tenant_id = ? AND kind = 'User' AND id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&c.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let active: Option<i64> = row.try_get("active")?;
        let deleted: Option<String> = row.try_get("deleted_at")?;
        let scim_managed: i64 = row.try_get("scim_managed")?;
        let mut roles = c
            .q("SELECT workspace_id, role_id, source FROM role_assignments WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&c.pool)
            .await?
            .iter()
            .map(role_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        roles.sort();
        let licence = c
            .q(&format!("SELECT {LICENCE_COLS} FROM licence_assignments WHERE tenant_id = ? AND user_id = ?"))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&c.pool)
            .await?
            .as_ref()
            .map(licence_from_row)
            .transpose()?;
        let (licence, unlicensed_wanted, waiting_since) = match licence {
            Some(l) => (l.licence_type_id.map(|held| (held, l.source)), l.wanted_type_id, l.waiting_since),
            None => (None, None, None),
        };
        Ok(Some(Access {
            active: active.unwrap_or(1) != 0,
            deleted: deleted.is_some(),
            scim_managed: scim_managed != 0,
            roles,
            licence,
            unlicensed_wanted,
            waiting_since,
        }))
    }
}

impl WriteTx {
    /// Whether a user is active and which groups it is in; `None` when it does not exist.
    pub async fn user_facts(&mut self, tenant_id: i64, user_id: &str) -> Result<Option<UserFacts>, StoreError> {
        let row = self
            .q("SELECT active, deleted_at, default_roles FROM resources WHERE tenant_id = ? AND kind = 'User' AND id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let default_roles: Vec<(String, String)> = match row.try_get::<Option<String>, _>("default_roles")? {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("a user's default roles: {e}")))?
            }
            None => Vec::new(),
        };
        let active: Option<i64> = row.try_get("active")?;
        let deleted: Option<String> = row.try_get("deleted_at")?;
        // A user without `active` is active (RFC 7643 leaves it to the provider).
        let active = active.unwrap_or(1) != 0 && deleted.is_none();
        let deleted = deleted.is_some();
        let groups = self
            .q(&format!(
                "SELECT m.group_id, {} AS display FROM members m \
                 JOIN resources g ON g.tenant_id = m.tenant_id AND g.kind = 'Group' AND g.id = m.group_id \
                 WHERE m.tenant_id = ? AND m.member_id = ?",
                self.dialect().display_name_of("g")
            ))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&mut self.tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("group_id")?, r.try_get::<Option<String>, _>("display")?.unwrap_or_default())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(UserFacts { active, deleted, default_roles, groups }))
    }

    pub async fn roles_of(&mut self, tenant_id: i64, user_id: &str) -> Result<Vec<RoleAssignment>, StoreError> {
        let rows = self
            .q("SELECT workspace_id, role_id, source FROM role_assignments WHERE tenant_id = ? AND user_id = ?")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&mut self.tx)
            .await?;
        rows.iter().map(role_from_row).collect()
    }

    fn role_changed(&mut self, tenant_id: i64, user_id: &str, a: &RoleAssignment, granted: bool) {
        self.changes.tenant(tenant_id);
        self.changes.roles.push(RoleChange {
            user_id: user_id.to_string(),
            workspace_id: a.workspace_id.clone(),
            role_id: a.role_id.clone(),
            source: a.source.clone(),
            granted,
        });
    }

    /// Grant a role; granting one the user holds from the same source changes
    /// nothing. Answers whether a row was written.
    pub async fn grant_role(&mut self, tenant_id: i64, user_id: &str, a: &RoleAssignment) -> Result<bool, StoreError> {
        let done = self
            .q("INSERT INTO role_assignments (tenant_id, user_id, workspace_id, role_id, source) VALUES (?, ?, ?, ?, ?) \
                ON CONFLICT (tenant_id, user_id, workspace_id, role_id, source) DO NOTHING")
            .bind(tenant_id)
            .bind(user_id)
            .bind(&a.workspace_id)
            .bind(&a.role_id)
            .bind(a.source.to_string())
            .execute(&mut self.tx)
            .await?;
        let granted = done.rows_affected() > 0;
        if granted {
            self.role_changed(tenant_id, user_id, a, true);
        }
        Ok(granted)
    }

    /// Withdraw a role; answers whether the user held it (from that source).
    pub async fn revoke_role(&mut self, tenant_id: i64, user_id: &str, a: &RoleAssignment) -> Result<bool, StoreError> {
        let done = self
            .q("DELETE FROM role_assignments WHERE tenant_id = ? AND user_id = ? AND workspace_id = ? AND role_id = ? \
                AND source = ?")
            .bind(tenant_id)
            .bind(user_id)
            .bind(&a.workspace_id)
            .bind(&a.role_id)
            .bind(a.source.to_string())
            .execute(&mut self.tx)
            .await?;
        let revoked = done.rows_affected() > 0;
        if revoked {
            self.role_changed(tenant_id, user_id, a, false);
        }
        Ok(revoked)
    }

    pub async fn licence_of(&mut self, tenant_id: i64, user_id: &str) -> Result<Option<HeldLicence>, StoreError> {
        self.q(&format!("SELECT {LICENCE_COLS} FROM licence_assignments WHERE tenant_id = ? AND user_id = ?"))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut self.tx)
            .await?
            .as_ref()
            .map(licence_from_row)
            .transpose()
    }

    /// Seats of a licence type held by users other than `except_user`, and
    /// how many users wait for one (one statement).
    pub async fn seat_counts(
        &mut self,
        tenant_id: i64,
        licence_type_id: &str,
        except_user: &str,
    ) -> Result<(i64, i64), StoreError> {
        let row = self
            .q("SELECT COALESCE(SUM(CASE WHEN licence_type_id = ? AND user_id <> ? THEN 1 ELSE 0 END), 0) AS used, \
                COALESCE(SUM(CASE WHEN wanted_type_id = ? THEN 1 ELSE 0 END), 0) AS waiting \
                FROM licence_assignments WHERE tenant_id = ? AND (licence_type_id = ? OR wanted_type_id = ?)")
            .bind(licence_type_id)
            .bind(except_user)
            .bind(licence_type_id)
            .bind(tenant_id)
            .bind(licence_type_id)
            .bind(licence_type_id)
            .fetch_one(&mut self.tx)
            .await?;
        Ok((row.try_get("used")?, row.try_get("waiting")?))
    }

    /// Set a user's licence row: the type held and the one waited for.
    /// `before` is the row as the caller read it in this transaction; a type
    /// newly held counts as assigned `now`.
    pub async fn set_licence(
        &mut self,
        tenant_id: i64,
        user_id: &str,
        before: Option<&HeldLicence>,
        licence: &HeldLicence,
        now: &str,
    ) -> Result<(), StoreError> {
        if before == Some(licence) {
            return Ok(());
        }
        let same_type = before.is_some_and(|b| {
            b.licence_type_id == licence.licence_type_id && b.wanted_type_id == licence.wanted_type_id
        });
        if same_type {
            // Only the reason it is held moved (a mapping now grants the default, say).
            self.q("UPDATE licence_assignments SET source = ?, waiting_since = ? WHERE tenant_id = ? AND user_id = ?")
                .bind(licence.source.to_string())
                .bind(&licence.waiting_since)
                .bind(tenant_id)
                .bind(user_id)
                .execute(&mut self.tx)
                .await?;
        } else if before.is_some_and(|b| b.licence_type_id == licence.licence_type_id) {
            // The same type held; what it waits for moved.
            self.q("UPDATE licence_assignments SET wanted_type_id = ?, source = ?, waiting_since = ? \
                    WHERE tenant_id = ? AND user_id = ?")
                .bind(&licence.wanted_type_id)
                .bind(licence.source.to_string())
                .bind(&licence.waiting_since)
                .bind(tenant_id)
                .bind(user_id)
                .execute(&mut self.tx)
                .await?;
        } else {
            self.q("DELETE FROM licence_assignments WHERE tenant_id = ? AND user_id = ?")
                .bind(tenant_id)
                .bind(user_id)
                .execute(&mut self.tx)
                .await?;
            self.q("INSERT INTO licence_assignments (tenant_id, user_id, licence_type_id, wanted_type_id, source, \
                    waiting_since, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
                .bind(tenant_id)
                .bind(user_id)
                .bind(&licence.licence_type_id)
                .bind(&licence.wanted_type_id)
                .bind(licence.source.to_string())
                .bind(&licence.waiting_since)
                .bind(licence.licence_type_id.as_ref().map(|_| now))
                .execute(&mut self.tx)
                .await?;
        }
        let held_before = before.and_then(|b| b.licence_type_id.as_deref());
        let wanted_before = before.and_then(|b| b.wanted_type_id.as_deref());
        if let (Some(b), Some(old)) = (before, held_before)
            && licence.licence_type_id.as_deref() != Some(old)
        {
            self.licence_changed(tenant_id, user_id, old, b.source.clone(), LicenceOp::Released);
        }
        // Held anew, or from another source (not again when only what it waits for moved).
        let source_before = before.map(|b| &b.source);
        if let Some(held) = &licence.licence_type_id
            && (held_before != Some(held.as_str()) || source_before != Some(&licence.source))
        {
            self.licence_changed(tenant_id, user_id, held, licence.source.clone(), LicenceOp::Assigned);
        }
        if let Some(wanted) = licence.wanted_type_id.as_deref().filter(|w| wanted_before != Some(*w)) {
            self.licence_changed(tenant_id, user_id, wanted, licence.source.clone(), LicenceOp::Waiting);
        }
        Ok(())
    }

    fn licence_changed(&mut self, tenant_id: i64, user_id: &str, type_id: &str, source: Source, op: LicenceOp) {
        self.changes.tenant(tenant_id);
        self.changes.licences.push(LicenceChange {
            user_id: user_id.to_string(),
            licence_type_id: type_id.to_string(),
            source,
            op,
        });
    }

    /// The user that has waited longest for a seat of this licence type.
    pub async fn longest_waiting(
        &mut self,
        tenant_id: i64,
        licence_type_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .q("SELECT user_id FROM licence_assignments WHERE tenant_id = ? AND wanted_type_id = ? \
                ORDER BY waiting_since, user_id LIMIT 1")
            .bind(tenant_id)
            .bind(licence_type_id)
            .fetch_optional(&mut self.tx)
            .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// The `n` users who got a seat of this licence type last.
    pub async fn newest_holders(
        &mut self,
        tenant_id: i64,
        licence_type_id: &str,
        n: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .q("SELECT user_id FROM licence_assignments WHERE tenant_id = ? AND licence_type_id = ? \
                ORDER BY assigned_at DESC, user_id DESC LIMIT ?")
            .bind(tenant_id)
            .bind(licence_type_id)
            .bind(n)
            .fetch_all(&mut self.tx)
            .await?;
        super::tx::first_texts(&rows)
    }

    /// The user holds no licence and waits for none.
    /// Answers the licence type whose seat it gave up.
    pub async fn release_licence(&mut self, tenant_id: i64, user_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .q(&format!("DELETE FROM licence_assignments WHERE tenant_id = ? AND user_id = ? RETURNING {LICENCE_COLS}"))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&mut self.tx)
            .await?;
        let mut released = None;
        for row in &rows {
            let gone = licence_from_row(row)?;
            if let Some(held) = gone.licence_type_id {
                self.licence_changed(tenant_id, user_id, &held, gone.source, LicenceOp::Released);
                released = Some(held);
            }
        }
        Ok(released)
    }

    /// Every role and licence of a user that is gone for good; answers the
    /// licence type whose seat it gave up.
    pub async fn forget_access(&mut self, tenant_id: i64, user_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .q("DELETE FROM role_assignments WHERE tenant_id = ? AND user_id = ? RETURNING workspace_id, role_id, source")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&mut self.tx)
            .await?;
        for row in &rows {
            let a = role_from_row(row)?;
            self.role_changed(tenant_id, user_id, &a, false);
        }
        self.release_licence(tenant_id, user_id).await
    }
}
