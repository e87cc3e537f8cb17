//! Which key seals webhook secrets, and whether the database agrees. The
//! database keeps the key's fingerprint (never the key): a process started
//! with another key, or with none where one is recorded, would lease
//! deliveries it cannot sign and seal secrets the others cannot open. Such a
//! process refuses to start while webhooks exist, and otherwise starts with
//! webhooks off and says why (`/readyz`, the log, the admin API's refusal).

use super::sealed::{SealingKey, write_private};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// The `server_settings` row that holds the fingerprint.
pub const FINGERPRINT: &str = "secrets_key_fingerprint";

/// Where the key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// `SCIMD_SECRETS_KEY`: the key's text itself.
    Given(SealingKey),
    /// `--secrets-key-file`: made when missing, if the database expects no other key.
    File(PathBuf),
}

impl KeySource {
    fn describe(&self) -> String {
        match self {
            KeySource::Given(_) => "SCIMD_SECRETS_KEY".to_string(),
            KeySource::File(path) => absolute(path).display().to_string(),
        }
    }
}

/// The key the server runs with, or why webhooks are off.
#[derive(Clone, Debug, Default)]
pub struct Settled {
    pub key: Option<SealingKey>,
    pub off_because: Option<String>,
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Settle the key against the database: the key that agrees with the
/// recorded fingerprint (recording it when none is), or webhooks off when
/// none exists yet, or an error (the process must not start) when webhooks
/// exist that this process could not send.
pub async fn settle(store: &Store, source: KeySource) -> Result<Settled, String> {
    let failed =
        |e: crate::store::StoreError| format!("the secrets key could not be checked against the database: {e}");
    let (webhooks, sample) = store.webhook_secrets_kept().await.map_err(failed)?;
    let recorded = store.setting(FINGERPRINT).await.map_err(failed)?;
    let place = source.describe();
    let key = match &source {
        KeySource::Given(key) => Ok(key.clone()),
        KeySource::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => SealingKey::from_base64(&text).map_err(|e| format!("the secrets key {place} is unusable: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && recorded.is_none() && webhooks == 0 => {
                let key = SealingKey::generate()?;
                match write_private(path, &key.to_base64()) {
                    Ok(()) => {
                        tracing::info!(path = %place, "created the key webhook secrets are sealed with: keep it with \
                            the database, and give every replica the same one");
                        Ok(key)
                    }
                    Err(e) => Err(format!("no secrets key could be made at {place}: {e}")),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "there is no secrets key at {place}, and this database's webhook secrets are sealed with the key {}: \
                 copy that key file from the first server to {place} (or point --secrets-key-file at it, or set \
                 SCIMD_SECRETS_KEY to its text)",
                recorded.as_deref().unwrap_or("that sealed the existing webhooks")
            )),
            Err(e) => Err(format!("the secrets key {place} cannot be read: {e}")),
        },
    };
    let problem = match key {
        Ok(key) => {
            let fingerprint = key.fingerprint();
            let agrees = match (&recorded, &sample) {
                (Some(kept), _) => *kept == fingerprint,
                // Webhooks made before fingerprints were kept: the key that opens them.
                (None, Some(sealed)) => key.open(sealed).is_some(),
                (None, None) => true,
            };
            let kept = match (agrees, &recorded) {
                (true, None) => Some(store.setting_once(FINGERPRINT, &fingerprint).await.map_err(failed)?),
                _ => recorded.clone(),
            };
            if agrees && kept.as_deref() == Some(fingerprint.as_str()) {
                return Ok(Settled { key: Some(key), off_because: None });
            }
            format!(
                "the secrets key {place} ({fingerprint}) is not the key this database's webhook secrets are sealed \
                 with ({}): give every replica the same key (copy the key file, or set SCIMD_SECRETS_KEY to its \
                 text); to start over with this key once no webhook is left, run 'scimd secrets-key adopt'",
                kept.as_deref().unwrap_or("the key that sealed the existing webhooks")
            )
        }
        Err(problem) => problem,
    };
    if webhooks > 0 {
        return Err(format!(
            "{problem}. Not starting: this server could not sign the deliveries of the {webhooks} webhook endpoint(s) \
             it would take part in"
        ));
    }
    tracing::warn!(reason = %problem, "webhooks are off on this server (no webhook exists yet, so SCIM is served)");
    Ok(Settled { key: None, off_because: Some(problem) })
}

/// Record `key` as the database's secrets key (`scimd secrets-key adopt`):
/// only while no webhook exists, since existing secrets would not open.
pub async fn adopt(store: &Store, key: &SealingKey) -> Result<String, String> {
    let failed = |e: crate::store::StoreError| format!("the database could not be read or written: {e}");
    let (webhooks, sample) = store.webhook_secrets_kept().await.map_err(failed)?;
    if webhooks > 0 && sample.is_none_or(|s| key.open(&s).is_none()) {
        return Err(format!(
            "{webhooks} webhook endpoint(s) are sealed with another key: delete them first (their secrets cannot be \
             opened with this key), or give this server the key they were sealed with"
        ));
    }
    let fingerprint = key.fingerprint();
    store.set_setting(FINGERPRINT, &fingerprint).await.map_err(failed)?;
    Ok(fingerprint)
}
