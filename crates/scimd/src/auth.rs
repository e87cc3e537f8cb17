//! Bearer tokens on requests: verification (in constant time; tokens are
//! never logged), the cache of tokens and tenants lately read, and batched
//! last-use recording. Tokens are made and hashed in [`crate::service::tenants`].

use crate::service::Service;
pub(crate) use crate::service::tenants::hash_token;
use crate::store::{Tenant, TokenInfo, TokenKind};
use scim_core::ScimError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The credential in an `Authorization` header: `Bearer <token>`, or the bare
/// token (admins paste either into Okta's header field).
pub(crate) fn credential(header: &str) -> Option<&str> {
    let h = header.trim();
    let token = match h.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None => h,
    };
    if token.is_empty() { None } else { Some(token) }
}

/// Who a request is from, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: Tenant,
    pub token_name: String,
}

fn unauthorized(detail: &str) -> ScimError {
    ScimError::new(401, None, detail)
}

/// Check the `Authorization` header for the tenant the URL names (its path
/// or host), or with `named` `None` (a base URL without a tenant) for the
/// token's own tenant. A token never reaches another tenant: a URL naming
/// one is 404, whether that tenant exists or not. With
/// `may_look_up` false (the client's address sent too many unknown tokens),
/// only tokens already in the cache are accepted, and the database is not asked.
pub(crate) async fn authenticate(
    svc: &Service,
    cache: &AuthCache,
    uses: &TokenUses,
    named: Option<&str>,
    header: Option<&str>,
    now: &str,
    may_look_up: bool,
) -> Result<Caller, Denied> {
    let internal = |e: crate::service::Error| {
        tracing::error!(error = %e, "token look-up failed");
        ScimError::new(500, None, "the server could not check the token; try again")
    };
    let Some(header) = header else {
        return Err(unauthorized("authentication required: send 'Authorization: Bearer <token>'").into());
    };
    let Some(token) = credential(header) else {
        return Err(unauthorized("the Authorization header must be 'Bearer <token>'").into());
    };
    let hash = hash_token(token);
    let info = match cache.token(&hash) {
        Some(info) => Some(info),
        // A token that was valid lately is looked up even from an address
        // that sent too many unknown ones: identity providers send many
        // tenants' requests from the same few addresses.
        None if !may_look_up && !cache.was_valid(&hash) => {
            return Err(ScimError::new(
                429,
                None,
                "too many requests with tokens this server does not know came from this address; \
                 wait before retrying, and check the token pasted into the identity provider",
            )
            .into());
        }
        None => {
            let found = svc.token_by_hash(&hash).await.map_err(internal)?;
            if let Some(info) = &found {
                cache.put_token(&hash, info.clone());
                cache.remember_valid(&hash);
            }
            found
        }
    };
    let Some(info) = info.filter(|i| bool::from(i.hash.as_slice().ct_eq(hash.as_slice()))) else {
        return Err(unauthorized("the bearer token is not valid").into());
    };
    if info.revoked_at.is_some() {
        return Err(unauthorized("the bearer token has been revoked").into());
    }
    if info.expires_at.as_deref().is_some_and(|exp| exp <= now) {
        return Err(unauthorized(&format!(
            "the bearer token '{}' expired at {}: generate a new SCIM token for this tenant (scimd console, \
             Credentials) and paste it into the identity provider's SCIM settings",
            info.name,
            info.expires_at.as_deref().unwrap_or_default()
        ))
        .into());
    }
    // Without a tenant in the URL, the token's (tenants are never renamed,
    // so its name is read once); its row still says whether it is enabled.
    let tenant_name = match named {
        Some(name) => name.to_string(),
        None => svc.tenant_name(info.tenant_id).await,
    };
    let tenant = match cache.tenant(&tenant_name) {
        Some(t) => Some(t),
        None => {
            let found = svc.tenant_by_name(&tenant_name).await.map_err(internal)?;
            if let Some(t) = &found {
                cache.put_tenant(t.clone());
            }
            found
        }
    };
    let Some(tenant) = tenant.filter(|t| t.id == info.tenant_id) else {
        return Err(match named {
            Some(named) => not_this_tenant(named),
            // The token's tenant went while the token was read.
            None => unauthorized("the bearer token is not valid"),
        }
        .into());
    };
    if !tenant.enabled {
        return Err(Denied::SwitchedOff(Caller { tenant, token_name: info.name }));
    }
    uses.record(info.id, now);
    Ok(Caller { tenant, token_name: info.name })
}

/// The answer to a valid token at a URL naming another tenant than its
/// own: 404, as for a tenant that does not exist (which it may not), so
/// nothing is learnt of other tenants. The name is the one the URL gave.
pub(crate) fn not_this_tenant(named: &str) -> ScimError {
    ScimError::not_found(format!(
        "this token cannot reach tenant '{named}': a SCIM token reaches only the tenant it was made for; use the \
         SCIM base URL shown with the token (or /scim/v2 with no tenant, which takes the tenant from the token)"
    ))
}

/// Why a request is not let in.
#[derive(Debug)]
pub(crate) enum Denied {
    /// No valid token, or the server could not check it.
    Error(ScimError),
    /// A valid token of a tenant whose provisioning is switched off.
    SwitchedOff(Caller),
}

impl From<ScimError> for Denied {
    fn from(e: ScimError) -> Self {
        Denied::Error(e)
    }
}

impl Denied {
    pub(crate) fn into_error(self) -> ScimError {
        match self {
            Denied::Error(e) => e,
            Denied::SwitchedOff(caller) => ScimError::new(
                403,
                None,
                format!(
                    "SCIM provisioning is switched off for tenant '{}'; an administrator can enable it",
                    caller.tenant.name
                ),
            ),
        }
    }
}

/// Tokens and tenants as read from the database a moment ago, so that a
/// request does not pay two look-ups before its own work. Entries live for
/// `ttl` (a revocation or a tenant switched off elsewhere takes effect within
/// it); only tokens that exist are kept, and the maps are bounded.
pub struct AuthCache {
    ttl: Duration,
    tokens: Mutex<HashMap<Vec<u8>, (Instant, TokenInfo)>>,
    tenants: Mutex<HashMap<String, (Instant, Tenant)>>,
    /// Hashes of tokens found in the database, kept whatever the TTL, so the
    /// unknown-token limit never shuts out a token that exists.
    valid: Mutex<std::collections::HashSet<Vec<u8>>>,
}

const AUTH_CACHE_MAX: usize = 10_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        AuthCache { ttl, tokens: Mutex::default(), tenants: Mutex::default(), valid: Mutex::default() }
    }

    fn fresh<K, Q, V>(&self, map: &Mutex<HashMap<K, (Instant, V)>>, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
        Q: std::hash::Hash + Eq + ?Sized,
        V: Clone,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let map = map.lock().ok()?;
        map.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    fn put<K: std::hash::Hash + Eq, V>(&self, map: &Mutex<HashMap<K, (Instant, V)>>, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = map.lock() {
            if map.len() >= AUTH_CACHE_MAX {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }

    fn remember_valid(&self, hash: &[u8]) {
        if let Ok(mut valid) = self.valid.lock() {
            if valid.len() >= AUTH_CACHE_MAX {
                valid.clear();
            }
            valid.insert(hash.to_vec());
        }
    }
    fn was_valid(&self, hash: &[u8]) -> bool {
        self.valid.lock().is_ok_and(|v| v.contains(hash))
    }
    fn token(&self, hash: &[u8]) -> Option<TokenInfo> {
        self.fresh(&self.tokens, hash)
    }
    fn put_token(&self, hash: &[u8], info: TokenInfo) {
        self.put(&self.tokens, hash.to_vec(), info);
    }
    fn tenant(&self, name: &str) -> Option<Tenant> {
        self.fresh(&self.tenants, name)
    }
    fn put_tenant(&self, tenant: Tenant) {
        self.put(&self.tenants, tenant.name.clone(), tenant);
    }
    /// Forget everything (after a change made through this process).
    pub fn clear(&self) {
        if let Ok(mut m) = self.tokens.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.tenants.lock() {
            m.clear();
        }
    }
}

/// Last-use times, kept in memory and written in batches, so a request never
/// pays for a database write just to be counted.
#[derive(Default)]
pub struct TokenUses {
    pending: Mutex<HashMap<i64, String>>,
    kind: TokenKind,
}

impl TokenUses {
    pub fn for_admin_tokens() -> Self {
        TokenUses { kind: TokenKind::Admin, ..Default::default() }
    }

    pub fn record(&self, token_id: i64, at: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.insert(token_id, at.to_string());
        }
    }

    pub async fn flush(&self, svc: &Service) {
        let batch: Vec<(i64, String)> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        if let Err(e) = svc.record_token_use(self.kind, batch).await {
            tracing::warn!(error = %e, "could not record token use");
        }
    }
}
