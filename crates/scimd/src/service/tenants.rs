//! Tenants, their bearer tokens and admin tokens. Tokens are 256 random
//! bits, stored only as their SHA-256 (a fast hash is enough for a secret
//! with that much entropy), shown once, never logged.

use super::{Error, Service, taken};
use crate::store::{JobFuture, StoreError, Tenant, TokenKind, WriteTx};
use sha2::{Digest, Sha256};

pub(crate) const TOKEN_PREFIX: &str = "scimd_";

/// A new random token and its hash.
pub(crate) fn generate_token() -> Result<(String, Vec<u8>), Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness available: {e}")))?;
    let mut token = String::from(TOKEN_PREFIX);
    for b in bytes {
        token.push_str(&format!("{b:02x}"));
    }
    let hash = hash_token(&token);
    Ok((token, hash))
}

pub(crate) fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A uniqueness failure worded with the name that collided.
pub(super) fn named(e: StoreError, name: &str) -> Error {
    match e {
        StoreError::Unique(rule) => Error::Taken { rule, detail: taken(rule, Some(name)) },
        other => other.into(),
    }
}

struct NewToken {
    tenant_id: i64,
    name: String,
    hash: Vec<u8>,
    now: String,
    expires_at: Option<String>,
}

/// The longest a token may live (Eptura's SCIM tokens go up to 10 years).
pub(crate) const MAX_TOKEN_DAYS: u32 = 3650;

/// When a new token stops working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expiry {
    Never,
    /// This many days from now (1 to [`MAX_TOKEN_DAYS`]).
    InDays(u32),
    /// At this ISO 8601 time (`2027-06-30T17:00:00Z`, any offset), or
    /// through this date (`2027-06-30`: it works until that day ends, UTC).
    At(String),
}

impl Expiry {
    /// The stored expiry time, or why it cannot be one: a time that is past,
    /// further than ten years away, or not a date.
    fn resolve(&self, clock: &crate::clock::SharedClock) -> Result<Option<String>, Error> {
        let now_secs = i64::try_from(clock.since_epoch().as_secs()).unwrap_or(i64::MAX / 2);
        let latest = now_secs + i64::from(MAX_TOKEN_DAYS) * 86_400;
        let secs = match self {
            Expiry::Never => return Ok(None),
            Expiry::InDays(days) if (1..=MAX_TOKEN_DAYS).contains(days) => now_secs + i64::from(*days) * 86_400,
            Expiry::InDays(days) => {
                return Err(refused(format!("a token lives 1 to {MAX_TOKEN_DAYS} days (ten years), not {days}")));
            }
            Expiry::At(text) => parse_expiry(text.trim()).ok_or_else(|| {
                refused(format!(
                    "'{text}' is not a date: write the day it expires as 2027-06-30, or a time as 2027-06-30T17:00:00Z"
                ))
            })?,
        };
        if secs <= now_secs {
            return Err(refused("the expiry date has passed: pick a date in the future".to_string()));
        }
        if secs > latest + 86_400 {
            return Err(refused(format!(
                "a token lives at most ten years ({MAX_TOKEN_DAYS} days): pick an earlier date"
            )));
        }
        Ok(Some(scim_core::datetime::format_millis(secs.min(latest + 86_400), 0)))
    }
}

fn refused(detail: String) -> Error {
    Error::Protocol(scim_core::ScimError::new(400, None, detail))
}

/// Seconds since the epoch of an expiry written as a date (its end, UTC) or a time.
fn parse_expiry(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((date, _)) => (date, None),
        None => (text, Some("T00:00:00Z")),
    };
    let parsed = scim_core::datetime::parse(&match time {
        Some(midnight) => format!("{date}{midnight}"),
        None => text.to_string(),
    })?;
    // The parser lets 2027-02-31 roll over into March: refuse a date that is not on the calendar.
    let as_written = scim_core::datetime::format_millis(parsed.secs, 0);
    if time.is_some() && !as_written.starts_with(date) {
        return None;
    }
    // A bare date is the last day the token works.
    Some(if time.is_some() { parsed.secs + 86_400 } else { parsed.secs })
}

impl Service {
    /// A new tenant, its name checked as every way of making one checks it
    /// (an embedding host's too: a name like a SCIM endpoint's would be
    /// shadowed by the endpoint at `/scim/v2/NAME`).
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, Error> {
        valid_tenant_name(name).map_err(refused)?;
        fn run<'t>(tx: &'t mut WriteTx, (name, now): &'t (String, String)) -> JobFuture<'t, Tenant, Error> {
            Box::pin(async move { tx.create_tenant(name, now).await.map_err(|e| named(e, name)) })
        }
        Ok(self.write((name.to_string(), self.now()), run).await?.0)
    }

    /// Remove a tenant and everything it holds: users, groups, tokens,
    /// configuration, events, webhooks and audit rows.
    pub async fn delete_tenant(&self, name: &str) -> Result<(), Error> {
        let tenant = self.tenant_named(name).await?;
        fn run<'t>(tx: &'t mut WriteTx, id: &'t i64) -> JobFuture<'t, (), Error> {
            Box::pin(async move { Ok(tx.delete_tenant(*id).await?) })
        }
        self.write(tenant.id, run).await?;
        Ok(())
    }

    /// Switch SCIM provisioning of a tenant on or off.
    pub async fn set_tenant_enabled(&self, name: &str, enabled: bool) -> Result<(), Error> {
        let tenant = self.tenant_named(name).await?;
        fn run<'t>(tx: &'t mut WriteTx, (id, enabled): &'t (i64, bool)) -> JobFuture<'t, (), Error> {
            Box::pin(async move { Ok(tx.set_tenant_enabled(*id, *enabled).await?) })
        }
        self.write((tenant.id, enabled), run).await?;
        Ok(())
    }

    /// A new SCIM bearer token for a tenant; answers the token (which is not
    /// kept) and when it expires.
    pub async fn create_token(
        &self,
        tenant: &str,
        name: &str,
        expiry: &Expiry,
    ) -> Result<(String, Option<String>), Error> {
        valid_token_name(name)?;
        let tenant = self.tenant_named(tenant).await?;
        let expires_at = expiry.resolve(self.clock())?;
        let (token, hash) = generate_token()?;
        fn run<'t>(tx: &'t mut WriteTx, t: &'t NewToken) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                tx.create_token(t.tenant_id, &t.name, &t.hash, &t.now, t.expires_at.as_deref())
                    .await
                    .map_err(|e| named(e, &t.name))
            })
        }
        let new = NewToken {
            tenant_id: tenant.id,
            name: name.to_string(),
            hash,
            now: self.now(),
            expires_at: expires_at.clone(),
        };
        self.write(new, run).await?;
        Ok((token, expires_at))
    }

    pub async fn revoke_token(&self, tenant: &str, name: &str) -> Result<(), Error> {
        let tenant = self.tenant_named(tenant).await?;
        fn run<'t>(tx: &'t mut WriteTx, (id, name, now): &'t (i64, String, String)) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                tx.revoke_token(*id, name, now).await.map_err(|e| match e {
                    StoreError::NotFound => Error::NotFound(format!("the tenant has no token named '{name}'")),
                    other => other.into(),
                })
            })
        }
        self.write((tenant.id, name.to_string(), self.now()), run).await?;
        Ok(())
    }

    /// A new admin token (the admin API's credential): an operator's when
    /// `tenant` is `None`, else limited to that tenant. Answers the token
    /// (which is not kept) and when it expires.
    pub async fn create_admin_token(
        &self,
        name: &str,
        tenant: Option<&str>,
        expiry: &Expiry,
    ) -> Result<(String, Option<String>), Error> {
        valid_token_name(name)?;
        let tenant_id = match tenant {
            Some(t) => Some(self.tenant_named(t).await?.id),
            None => None,
        };
        let expires_at = expiry.resolve(self.clock())?;
        let (token, hash) = generate_token()?;
        struct NewAdminToken {
            tenant_id: Option<i64>,
            new: NewToken,
        }
        fn run<'t>(tx: &'t mut WriteTx, a: &'t NewAdminToken) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                let t = &a.new;
                tx.create_admin_token(a.tenant_id, &t.name, &t.hash, &t.now, t.expires_at.as_deref())
                    .await
                    .map_err(|e| named(e, &t.name))
            })
        }
        let new =
            NewToken { tenant_id: 0, name: name.to_string(), hash, now: self.now(), expires_at: expires_at.clone() };
        self.write(NewAdminToken { tenant_id, new }, run).await?;
        Ok((token, expires_at))
    }

    /// Revoke an admin token by name: an operator token (`tenant` `None`) or one of a tenant's.
    pub async fn revoke_admin_token(&self, name: &str, tenant: Option<&str>) -> Result<(), Error> {
        let tenant_id = match tenant {
            Some(t) => Some(self.tenant_named(t).await?.id),
            None => None,
        };
        let whose = match tenant {
            Some(t) => format!("tenant '{t}' has no admin token named '{name}'"),
            None => format!("there is no operator token named '{name}'"),
        };
        fn run<'t>(
            tx: &'t mut WriteTx,
            (id, name, now, whose): &'t (Option<i64>, String, String, String),
        ) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                tx.revoke_admin_token(*id, name, now).await.map_err(|e| match e {
                    StoreError::NotFound => Error::NotFound(whose.clone()),
                    other => other.into(),
                })
            })
        }
        self.write((tenant_id, name.to_string(), self.now(), whose), run).await?;
        Ok(())
    }

    /// Admin tokens, all (`None`) or one tenant's.
    pub async fn admin_tokens(&self, tenant_id: Option<i64>) -> Result<Vec<crate::store::AdminToken>, Error> {
        Ok(self.store().list_admin_tokens(tenant_id).await?)
    }

    /// Tenants named after `after`, `limit` of them, by name.
    pub async fn tenants_page(&self, after: &str, limit: i64) -> Result<Vec<Tenant>, Error> {
        Ok(self.store().tenants_page(after, limit).await?)
    }

    pub async fn tenant_counts(&self, tenant_id: i64) -> Result<crate::store::TenantCounts, Error> {
        Ok(self.store().tenant_counts(tenant_id, &self.now()).await?)
    }

    /// Last-use times of tokens, batched by the caller.
    pub async fn record_token_use(&self, kind: TokenKind, uses: Vec<(i64, String)>) -> Result<(), Error> {
        struct Uses(TokenKind, Vec<(i64, String)>);
        fn run<'t>(tx: &'t mut WriteTx, uses: &'t Uses) -> JobFuture<'t, (), Error> {
            Box::pin(async move { Ok(tx.record_token_use(uses.0, &uses.1).await?) })
        }
        self.write(Uses(kind, uses), run).await?;
        Ok(())
    }
}

/// Whether a token is working now, by its times.
pub fn token_status(revoked_at: Option<&str>, expires_at: Option<&str>, now: &str) -> &'static str {
    if revoked_at.is_some() {
        "revoked"
    } else if expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// Token names are shown in lists and typed into commands and URLs.
pub(super) fn valid_token_name(name: &str) -> Result<(), Error> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 64
        && !name.chars().any(|c| c.is_control() || c == '/')
        && name.trim() == name;
    if ok {
        Ok(())
    } else {
        Err(refused(format!(
            "'{name}' cannot name a token: use 1-64 characters, without '/', control characters or spaces at either end"
        )))
    }
}

/// Tenant names go into URLs (and Okta refuses `_` in base URLs). Being
/// lower-case, none can be a SCIM endpoint's name (`Users`, `Bulk`,
/// `.search`, ...): `/scim/v2/Users` is always the URL without a tenant.
pub(crate) fn valid_tenant_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid tenant name: use 1-63 lower-case letters, digits and '-'"))
    }
}

#[cfg(test)]
mod tests {
    /// `/scim/v2/X` is tenant X's base URL or an endpoint of the URL
    /// without a tenant, never both (`http::base`).
    #[test]
    fn no_tenant_can_be_named_like_a_scim_endpoint() {
        for endpoint in
            ["Users", "Groups", "Bulk", "Me", ".search", "Schemas", "ResourceTypes", "ServiceProviderConfig"]
        {
            assert!(super::valid_tenant_name(endpoint).is_err(), "{endpoint}");
        }
        assert!(super::valid_tenant_name("users").is_ok(), "another path than /Users");
    }
}
