//! Encryption at rest for secrets kept in the store: XChaCha20-Poly1305 with a
//! random 24-byte nonce stored in front of the ciphertext.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::secrets::Secrets;

const NONCE_LEN: usize = 24;

/// A 32-byte key. Load it with `stack::files::load_or_create_key`.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

/// Opening failed: wrong key, truncated or tampered data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sealed data could not be opened (wrong key or damaged data)")]
pub struct OpenError;

impl SealingKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Fresh key from the OS.
    #[cfg(feature = "native")]
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k)?;
        Ok(Self(k))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Encrypts with a fresh random nonce: `nonce || ciphertext+tag`.
    #[cfg(feature = "native")]
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        self.seal_with_nonce(&nonce, plaintext)
    }

    /// Encrypts with a caller-chosen nonce (which must never repeat for a
    /// key). For callers without an OS random source.
    pub fn seal_with_nonce(&self, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let ct = cipher
            .encrypt(XNonce::from_slice(nonce), plaintext)
            .expect("XChaCha20-Poly1305 encrypts any length that fits in memory");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(OpenError);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| OpenError)
    }
}

/// Opening sealed [`Secrets`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenSecretsError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("the sealed secrets are not valid: {0}")]
    Invalid(String),
}

impl SealingKey {
    /// Seals the secrets' TOML form (what the store keeps).
    #[cfg(feature = "native")]
    pub fn seal_secrets(&self, secrets: &Secrets) -> Vec<u8> {
        self.seal(secrets.to_toml().as_bytes())
    }

    pub fn open_secrets(&self, sealed: &[u8]) -> Result<Secrets, OpenSecretsError> {
        let plain = self.open(sealed)?;
        let text =
            String::from_utf8(plain).map_err(|_| OpenSecretsError::Invalid("not UTF-8".into()))?;
        Secrets::from_toml(&text).map_err(OpenSecretsError::Invalid)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = SealingKey::from_bytes([7; 32]);
        let sealed = key.seal_with_nonce(&[1; 24], b"hello");
        assert_eq!(key.open(&sealed).unwrap(), b"hello");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&bad), Err(OpenError));
        assert_eq!(
            SealingKey::from_bytes([8; 32]).open(&sealed),
            Err(OpenError)
        );
        assert_eq!(key.open(&sealed[..10]), Err(OpenError));
    }

    #[cfg(feature = "native")]
    #[test]
    fn secrets_seal_round_trip() {
        let key = SealingKey::generate().unwrap();
        let secrets = Secrets::derive(&crate::secrets::Seed::parse("seal").unwrap());
        let sealed = key.seal_secrets(&secrets);
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains(secrets.files_encryption_key.expose()));
        assert_eq!(key.open_secrets(&sealed).unwrap(), secrets);
        let other = SealingKey::generate().unwrap();
        assert_eq!(
            other.open_secrets(&sealed),
            Err(OpenSecretsError::Open(OpenError))
        );
    }

    #[cfg(feature = "native")]
    #[test]
    fn random_nonces_differ() {
        let key = SealingKey::generate().unwrap();
        let a = key.seal(b"x");
        let b = key.seal(b"x");
        assert_ne!(a, b);
        assert_eq!(key.open(&a).unwrap(), b"x");
        assert!(!format!("{key:?}").contains('7'));
    }
}
