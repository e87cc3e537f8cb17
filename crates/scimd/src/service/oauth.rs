//! OAuth 2.0 client credentials (RFC 6749 §4.4) for SCIM: a tenant's clients
//! (an id, and a secret shown once and kept as its SHA-256, like tokens), and
//! the short-lived access tokens they are given, which SCIM accepts as any
//! token of the tenant.

use super::tenants::generate_token;
use super::{Error, Service};
use crate::store::oauth::{NewAccessToken, NewClient};
use crate::store::{JobFuture, OAuthClient, StoreError, WriteTx};
use subtle::ConstantTimeEq;

/// Why a client is not given a token, in RFC 6749 §5.2's terms.
#[derive(Debug)]
pub enum Refused {
    /// `invalid_client`: no such client, a wrong secret, or a revoked client.
    InvalidClient(&'static str),
    /// The server could not answer (the database).
    Failed(Error),
}

/// A new client: its id and secret, the secret shown this once.
pub struct NewCredentials {
    pub client_id: String,
    pub client_secret: String,
}

fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness available: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Service {
    pub async fn create_oauth_client(&self, tenant: &str, name: &str) -> Result<NewCredentials, Error> {
        super::tenants::valid_token_name(name)?;
        let tenant = self.tenant_named(tenant).await?;
        let client_id = format!("scimd_client_{}", random_hex(12)?);
        let (client_secret, secret_hash) = generate_token()?;
        struct Args {
            tenant_id: i64,
            name: String,
            client_id: String,
            secret_hash: Vec<u8>,
            now: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, a: &'t Args) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                let new = NewClient {
                    tenant_id: a.tenant_id,
                    name: &a.name,
                    client_id: &a.client_id,
                    secret_hash: &a.secret_hash,
                    now: &a.now,
                };
                tx.create_oauth_client(&new).await.map_err(|e| super::tenants::named(e, &a.name))
            })
        }
        let args = Args {
            tenant_id: tenant.id,
            name: name.to_string(),
            client_id: client_id.clone(),
            secret_hash,
            now: self.now(),
        };
        self.write(args, run).await?;
        Ok(NewCredentials { client_id, client_secret })
    }

    pub async fn oauth_clients(&self, tenant_id: i64) -> Result<Vec<OAuthClient>, Error> {
        Ok(self.store().list_oauth_clients(tenant_id).await?)
    }

    /// Revoke a client, by its name or client id, and the access tokens it holds.
    pub async fn revoke_oauth_client(&self, tenant: &str, key: &str) -> Result<(), Error> {
        let tenant = self.tenant_named(tenant).await?;
        fn run<'t>(
            tx: &'t mut WriteTx,
            (id, key, now, tenant): &'t (i64, String, String, String),
        ) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                tx.revoke_oauth_client(*id, key, now).await.map_err(|e| match e {
                    StoreError::NotFound => Error::NotFound(format!("tenant '{tenant}' has no OAuth client '{key}'")),
                    other => other.into(),
                })
            })
        }
        self.write((tenant.id, key.to_string(), self.now(), tenant.name.clone()), run).await?;
        Ok(())
    }

    /// An access token for a client that proves its secret, valid for
    /// `lifetime_secs`; answers the token, which is not kept.
    pub async fn issue_access_token(
        &self,
        client_id: &str,
        client_secret: &str,
        lifetime_secs: u64,
    ) -> Result<String, Refused> {
        let client = self.store().oauth_client(client_id).await.map_err(|e| Refused::Failed(e.into()))?;
        let hash = super::tenants::hash_token(client_secret);
        // Compared in constant time; a client that does not exist costs the same comparison.
        let stored = client.as_ref().map_or(&[0u8; 32][..], |c| c.secret_hash.as_slice());
        let matches = bool::from(stored.ct_eq(hash.as_slice()));
        let client = match client {
            Some(c) if matches && c.revoked_at.is_none() => c,
            Some(c) if matches && c.revoked_at.is_some() => {
                return Err(Refused::InvalidClient("this client has been revoked; create a new one for the tenant"));
            }
            _ => return Err(Refused::InvalidClient("the client id or secret is not valid")),
        };
        let (token, token_hash) = generate_token().map_err(Refused::Failed)?;
        let lifetime = i64::try_from(lifetime_secs).unwrap_or(i64::MAX / 4);
        struct Args {
            client: OAuthClient,
            name: String,
            hash: Vec<u8>,
            now: String,
            expires_at: String,
        }
        fn run<'t>(tx: &'t mut WriteTx, a: &'t Args) -> JobFuture<'t, (), Error> {
            Box::pin(async move {
                let new = NewAccessToken {
                    client: &a.client,
                    name: &a.name,
                    hash: &a.hash,
                    now: &a.now,
                    expires_at: &a.expires_at,
                };
                Ok(tx.issue_access_token(&new).await?)
            })
        }
        // The token's name says whose it is (logs and the audit trail name the token).
        let short: String = token_hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let args = Args {
            name: format!("{} (OAuth access token {short})", client.name),
            client,
            hash: token_hash,
            now: self.now(),
            expires_at: self.clock().at_offset_secs(lifetime),
        };
        self.write(args, run).await.map_err(Refused::Failed)?;
        Ok(token)
    }
}
