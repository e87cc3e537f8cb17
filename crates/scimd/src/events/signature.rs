//! Webhook signatures as Standard Webhooks 1.0 defines them: the headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature`, the latter
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret in force
//! (space-separated, so that a receiver still holding the old secret keeps
//! verifying while a rotation's grace period lasts). Secrets are `whsec_`
//! and the base64 of 32 random bytes, one per endpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing key, decoded from its `whsec_…` text.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

/// Never shows the key.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret is 'whsec_' and base64: this one is not base64")]
    NotBase64,
    #[error("a webhook secret needs at least 24 bytes of key")]
    TooShort,
    #[error("no randomness available for a new secret")]
    NoRandomness,
}

impl Secret {
    /// A new secret, and its text (shown once, when the endpoint is created).
    pub fn generate() -> Result<(Secret, String), SecretError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|_| SecretError::NoRandomness)?;
        let text = format!("{SECRET_PREFIX}{}", STANDARD.encode(key));
        Ok((Secret(key.to_vec()), text))
    }

    /// The key of a `whsec_…` text (the prefix may be left out, as the
    /// reference implementations allow).
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let key =
            STANDARD.decode(text.strip_prefix(SECRET_PREFIX).unwrap_or(text)).map_err(|_| SecretError::NotBase64)?;
        if key.len() < 24 {
            return Err(SecretError::TooShort);
        }
        Ok(Secret(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length: this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else { return Vec::new() };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// `v1,<signature>` of one delivery attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }
}

/// The `webhook-signature` header: one signature per secret in force (the
/// current one first, then one still in its rotation grace period).
pub fn header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Does any `v1` signature of a `webhook-signature` header match? Compared
/// in constant time. (For receivers written in Rust, and for our tests; a
/// receiver should also refuse timestamps far from its clock.)
pub fn verify(secret: &Secret, header: &str, id: &str, timestamp: i64, body: &[u8]) -> bool {
    let ours = secret.mac(id, timestamp, body);
    header.split(' ').filter_map(|part| part.strip_prefix("v1,")).any(|sig| {
        STANDARD.decode(sig).is_ok_and(|theirs| theirs.len() == ours.len() && bool::from(theirs.ct_eq(&ours)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const AT: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn the_specification_test_vector_reproduces_exactly() {
        // Published with Standard Webhooks: a receiver's existing library
        // must accept what scimd signs, byte for byte.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(secret.sign(ID, AT, BODY), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(&secret, "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", ID, AT, BODY));
        assert!(!verify(&secret, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", ID, AT + 1, BODY));
        assert!(!verify(&secret, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", ID, AT, b"{}"));
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_and_each_verifies() {
        let (old, _) = Secret::generate().unwrap_or_else(|e| panic!("{e}"));
        let (new, text) = Secret::generate().unwrap_or_else(|e| panic!("{e}"));
        assert!(text.starts_with(SECRET_PREFIX) && text.len() == SECRET_PREFIX.len() + 44, "{text}");
        let both = header(&[new.clone(), old.clone()], ID, AT, BODY);
        assert_eq!(both.split(' ').count(), 2);
        assert!(verify(&new, &both, ID, AT, BODY) && verify(&old, &both, ID, AT, BODY));
        assert!(!verify(&new, &header(&[old], ID, AT, BODY), ID, AT, BODY));
        assert_eq!(format!("{new:?}"), "Secret(…)", "a secret never shows in logs");
    }

    #[test]
    fn a_secret_that_is_not_base64_or_too_short_is_refused() {
        assert_eq!(Secret::parse("whsec_not base64!").err(), Some(SecretError::NotBase64));
        assert_eq!(Secret::parse("whsec_c2hvcnQ=").err(), Some(SecretError::TooShort));
    }
}
