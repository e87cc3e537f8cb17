//! Tenants, their bearer tokens and admin tokens. Tokens are 256 random
//! bits, stored only as their SHA-256 (a fast hash is enough for a secret
//! with that much entropy), shown once, never logged.

use super::{Error, Service, taken};
use crate::store::{JobFuture, StoreError, Tenant, WriteTx};
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
fn named(e: StoreError, name: &str) -> Error {
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

impl Service {
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, Error> {
        fn run<'t>(tx: &'t mut WriteTx, (name, now): &'t (String, String)) -> JobFuture<'t, Tenant, Error> {
            Box::pin(async move { tx.create_tenant(name, now).await.map_err(|e| named(e, name)) })
        }
        Ok(self.write((name.to_string(), self.now()), run).await?.0)
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

    /// A new bearer token for a tenant, valid for `expires_in_days` (or for
    /// ever); answers the token, which is not kept.
    pub async fn create_token(&self, tenant: &str, name: &str, expires_in_days: Option<u32>) -> Result<String, Error> {
        let tenant = self.tenant_named(tenant).await?;
        let (token, hash) = generate_token()?;
        let expires_at = expires_in_days.map(|d| self.clock().at_offset_secs(i64::from(d) * 86_400));
        fn run<'t>(tx: &'t mut WriteTx, t: &'t NewToken) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                tx.create_token(t.tenant_id, &t.name, &t.hash, &t.now, t.expires_at.as_deref())
                    .await
                    .map_err(|e| named(e, &t.name))
            })
        }
        let new = NewToken { tenant_id: tenant.id, name: name.to_string(), hash, now: self.now(), expires_at };
        self.write(new, run).await?;
        Ok(token)
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

    /// A new admin token (the admin API's credential); answers the token, which is not kept.
    pub async fn create_admin_token(&self, name: &str) -> Result<String, Error> {
        let (token, hash) = generate_token()?;
        fn run<'t>(tx: &'t mut WriteTx, (name, hash, now): &'t (String, Vec<u8>, String)) -> JobFuture<'t, (), Error> {
            Box::pin(async move { tx.create_admin_token(name, hash, now).await.map_err(|e| named(e, name)) })
        }
        self.write((name.to_string(), hash, self.now()), run).await?;
        Ok(token)
    }

    /// Last-use times of tokens, batched by the caller.
    pub async fn record_token_use(&self, uses: Vec<(i64, String)>) -> Result<(), Error> {
        struct Uses(Vec<(i64, String)>);
        fn run<'t>(tx: &'t mut WriteTx, uses: &'t Uses) -> JobFuture<'t, (), Error> {
            Box::pin(async move { Ok(tx.record_token_use(&uses.0).await?) })
        }
        self.write(Uses(uses), run).await?;
        Ok(())
    }
}

/// Tenant names go into URLs (and Okta refuses `_` in base URLs).
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
