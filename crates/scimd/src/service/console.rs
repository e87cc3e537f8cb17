//! Console sessions: opened with an admin token (its reach is the
//! session's) or with a portal link (one tenant, no token shown to anyone),
//! read on every console request, ended on sign-out. The browser holds the
//! session's secret; the database only its SHA-256.

use super::tenants::{generate_token, hash_token};
use super::{Error, Service};
use crate::store::console::NewSession;
use crate::store::{ConsoleSession, JobFuture, WriteTx};
use subtle::ConstantTimeEq;

/// How long a session opened with an admin token lasts (at most the token's own life).
pub const TOKEN_SESSION_SECS: i64 = 8 * 3600;
/// How long a session opened with a portal link lasts.
pub const PORTAL_SESSION_SECS: i64 = 3600;
/// How long a portal link can be opened.
pub const PORTAL_LINK_SECS: i64 = 300;

/// Why signing in did not work, in words for the sign-in page.
#[derive(Debug)]
pub enum SignIn {
    Refused(&'static str),
    Failed(Error),
}

impl From<Error> for SignIn {
    fn from(e: Error) -> Self {
        SignIn::Failed(e)
    }
}

struct Opening {
    hash: Vec<u8>,
    tenant_id: Option<i64>,
    admin_token_id: Option<i64>,
    label: String,
    return_url: Option<String>,
    now: String,
    expires_at: String,
}

fn save<'t>(tx: &'t mut WriteTx, o: &'t Opening) -> JobFuture<'t, (), Error> {
    Box::pin(async move {
        let new = NewSession {
            hash: &o.hash,
            tenant_id: o.tenant_id,
            admin_token_id: o.admin_token_id,
            label: &o.label,
            return_url: o.return_url.as_deref(),
            now: &o.now,
            expires_at: &o.expires_at,
        };
        Ok(tx.create_console_session(&new).await?)
    })
}

impl Service {
    /// Sign in with an admin token: answers the session's secret (for the cookie).
    pub async fn open_console_session(&self, admin_token: &str) -> Result<String, SignIn> {
        let hash = hash_token(admin_token.trim());
        let found = self.admin_token_by_hash(&hash).await?;
        let token = match found.filter(|t| bool::from(t.hash.as_slice().ct_eq(hash.as_slice()))) {
            None => return Err(SignIn::Refused("that is not an admin token of this server")),
            Some(t) if t.revoked_at.is_some() => return Err(SignIn::Refused("that admin token has been revoked")),
            Some(t) if t.expires_at.as_deref().is_some_and(|e| e <= self.now().as_str()) => {
                return Err(SignIn::Refused("that admin token has expired"));
            }
            Some(t) => t,
        };
        let (secret, secret_hash) = generate_token()?;
        let mut expires_at = self.clock().at_offset_secs(TOKEN_SESSION_SECS);
        if let Some(token_end) = token.expires_at.as_deref().filter(|e| *e < expires_at.as_str()) {
            expires_at = token_end.to_string();
        }
        let opening = Opening {
            hash: secret_hash,
            tenant_id: token.tenant.as_ref().map(|(id, _)| *id),
            admin_token_id: Some(token.id),
            label: token.name,
            return_url: None,
            now: self.now(),
            expires_at,
        };
        self.write(opening, save).await?;
        Ok(secret)
    }

    /// The live session of this secret, if any.
    pub async fn console_session(&self, secret: &str) -> Result<Option<ConsoleSession>, Error> {
        let session = self.store().console_session(&hash_token(secret), &self.now()).await?;
        Ok(session.filter(|s| !s.token_ended))
    }

    pub async fn end_console_session(&self, secret: &str) -> Result<(), Error> {
        struct Hash(Vec<u8>);
        fn run<'t>(tx: &'t mut WriteTx, hash: &'t Hash) -> JobFuture<'t, (), Error> {
            Box::pin(async move { Ok(tx.end_console_session(&hash.0).await?) })
        }
        self.write(Hash(hash_token(secret)), run).await?;
        Ok(())
    }

    /// A single-use portal link's code for a tenant, and when it stops working.
    pub async fn create_portal_link(&self, tenant: &str, return_url: Option<&str>) -> Result<(String, String), Error> {
        let tenant = self.tenant_named(tenant).await?;
        let (code, hash) = generate_token()?;
        let expires_at = self.clock().at_offset_secs(PORTAL_LINK_SECS);
        struct Link {
            hash: Vec<u8>,
            tenant_id: i64,
            return_url: Option<String>,
            now: String,
            expires_at: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, l: &'t Link) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                Ok(tx.create_portal_link(&l.hash, l.tenant_id, l.return_url.as_deref(), &l.now, &l.expires_at).await?)
            })
        }
        let link = Link {
            hash,
            tenant_id: tenant.id,
            return_url: return_url.map(str::to_string),
            now: self.now(),
            expires_at: expires_at.clone(),
        };
        self.write(link, run).await?;
        Ok((code, expires_at))
    }

    /// Open a portal link: once, within its minutes. Answers the new
    /// session's secret; `None` when the link is unknown, used or expired.
    pub async fn open_portal_link(&self, code: &str) -> Result<Option<String>, Error> {
        let (secret, secret_hash) = generate_token()?;
        struct Use {
            link_hash: Vec<u8>,
            opening: Opening,
        }
        fn run<'t>(tx: &'t mut WriteTx, u: &'t Use) -> JobFuture<'t, bool, Error> {
            Box::pin(async move {
                let Some((tenant_id, return_url)) = tx.use_portal_link(&u.link_hash, &u.opening.now).await? else {
                    return Ok(false);
                };
                let o = &u.opening;
                let new = NewSession {
                    hash: &o.hash,
                    tenant_id: Some(tenant_id),
                    admin_token_id: None,
                    label: &o.label,
                    return_url: return_url.as_deref(),
                    now: &o.now,
                    expires_at: &o.expires_at,
                };
                tx.create_console_session(&new).await?;
                Ok(true)
            })
        }
        let opening = Opening {
            hash: secret_hash,
            tenant_id: None,
            admin_token_id: None,
            label: "portal link".to_string(),
            return_url: None,
            now: self.now(),
            expires_at: self.clock().at_offset_secs(PORTAL_SESSION_SECS),
        };
        let (opened, _) = self.write(Use { link_hash: hash_token(code.trim()), opening }, run).await?;
        Ok(opened.then_some(secret))
    }
}
