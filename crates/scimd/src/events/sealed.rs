//! Webhook secrets at rest: each endpoint's secret must be used to sign, so
//! it cannot be stored as a hash; it is sealed (ChaCha20-Poly1305, a random
//! nonce per seal) with the server's key, which lives outside the database
//! (`--secrets-key-file`, or `SCIMD_SECRETS_KEY`). Replicas share one key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

#[derive(Clone)]
pub struct SealingKey([u8; 32]);

/// Never shows the key.
impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl SealingKey {
    /// A new random key.
    pub fn generate() -> Result<SealingKey, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("no randomness for a key: {e}"))?;
        Ok(SealingKey(key))
    }

    /// A key written as base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<SealingKey, String> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| "the secrets key is not base64".to_string())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| "the secrets key must be 32 bytes of base64".to_string())?;
        Ok(SealingKey(key))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Names the key without revealing it: the first 16 bytes of a SHA-256
    /// over a label and the key, in hex. Kept in the database so that every
    /// replica can tell whether it holds the key the secrets were sealed with.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new().chain_update(b"scimd secrets key fingerprint v1\0").chain_update(self.0).finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// A key made from 32 bytes another secret was derived into (the
    /// console seals a session's one-time messages with its session's secret).
    pub fn from_bytes(bytes: [u8; 32]) -> SealingKey {
        SealingKey(bytes)
    }

    /// A key for another use, derived from this one (HMAC-SHA256 of `label`):
    /// every replica holding the secrets key derives the same one, and it
    /// reveals nothing of the secrets key. List cursors are signed with one.
    pub fn derive(&self, label: &[u8]) -> Option<[u8; 32]> {
        use hmac::{Hmac, Mac};
        // HMAC takes a key of any length: this never fails.
        let mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0).ok()?;
        Some(mac.chain_update(label).finalize().into_bytes().into())
    }

    pub fn seal(&self, plain: &str) -> Result<String, String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness for a nonce: {e}"))?;
        let cipher = ChaCha20Poly1305::new(&Key::from(self.0));
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .map_err(|_| "a secret could not be sealed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// `None`: not sealed with this key (another key, or damaged).
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let cipher = ChaCha20Poly1305::new(&Key::from(self.0));
        let plain = cipher.decrypt(&Nonce::from(nonce), body).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let (Ok(key), Ok(other)) = (SealingKey::generate(), SealingKey::generate()) else { panic!("no randomness") };
        let sealed = key.seal("whsec_abc").unwrap_or_default();
        assert!(!sealed.contains("whsec"));
        assert_eq!(key.open(&sealed).as_deref(), Some("whsec_abc"));
        assert_eq!(other.open(&sealed), None);
        // Each seal has its own nonce.
        assert_ne!(key.seal("whsec_abc").unwrap_or_default(), sealed);
        let again = SealingKey::from_base64(&key.to_base64()).unwrap_or_else(|_| other.clone());
        assert_eq!(again.open(&sealed).as_deref(), Some("whsec_abc"));
    }
}
