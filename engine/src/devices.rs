//! Devices that signed in before (OWASP's "device cookies"): a browser that
//! once signed in as a user carries a token signed by the console, and for
//! that user it is throttled on its own failures only. Five wrong passwords
//! sent for `admin` from anywhere else then lock out those other devices,
//! not the admin's own browser.
//!
//! The token is `<device id>.<HMAC-SHA256(key, username \n device id)>`;
//! the key is random, kept sealed in the database.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::sealed::Vault;
use crate::{EngineError, Store};

/// Where the key is kept (sealed).
const KEY_NAME: &str = "device-cookie-key";
/// How long a browser stays a known device without signing in again.
pub const DEVICE_MAX_AGE_SECS: i64 = 365 * 24 * 3600;

impl Store {
    /// A new device token for `username`, for the browser that just signed
    /// in as them.
    pub async fn issue_device(&self, vault: &Vault, username: &str) -> Result<String, EngineError> {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let id = hex::encode(id);
        let mac = self.device_mac(vault, username, &id).await?;
        Ok(format!("{id}.{}", hex::encode(mac.finalize().into_bytes())))
    }

    /// The device id in `token` when it was issued to `username` by this
    /// console; `None` for anything else (made up, tampered, another user).
    pub async fn known_device(
        &self,
        vault: &Vault,
        token: &str,
        username: &str,
    ) -> Result<Option<String>, EngineError> {
        let Some((id, tag)) = token.trim().split_once('.') else {
            return Ok(None);
        };
        let (Ok(tag), true) = (hex::decode(tag), id.len() == 32 && hex::decode(id).is_ok()) else {
            return Ok(None);
        };
        let mac = self.device_mac(vault, username, id).await?;
        Ok(mac.verify_slice(&tag).is_ok().then(|| id.to_owned()))
    }

    async fn device_mac(
        &self,
        vault: &Vault,
        username: &str,
        id: &str,
    ) -> Result<Hmac<Sha256>, EngineError> {
        let key = match self.secret(vault, KEY_NAME).await? {
            Some(key) => key,
            None => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                let key = hex::encode(bytes);
                self.put_secret(vault, KEY_NAME, &key).await?;
                // Two first sign-ins at once: both keep what was stored last.
                self.secret(vault, KEY_NAME).await?.unwrap_or(key)
            }
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
            .map_err(|e| EngineError::Secrets(e.to_string()))?;
        mac.update(username.trim().to_ascii_lowercase().as_bytes());
        mac.update(b"\n");
        mac.update(id.as_bytes());
        Ok(mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_is_known_only_for_its_own_user_and_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let vault = Vault::open(&dir.path().join("secrets.key")).unwrap();
        let token = store.issue_device(&vault, "admin").await.unwrap();
        let id = store.known_device(&vault, &token, "Admin").await.unwrap();
        assert_eq!(id.as_deref(), token.split('.').next());
        assert_eq!(
            store.known_device(&vault, &token, "bob").await.unwrap(),
            None
        );
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            store
                .known_device(&vault, &tampered, "admin")
                .await
                .unwrap(),
            None
        );
        for junk in ["", ".", "abc", "zz.zz", &format!("{}.", "a".repeat(32))] {
            assert_eq!(
                store.known_device(&vault, junk, "admin").await.unwrap(),
                None,
                "{junk}"
            );
        }
        // Another console (another key) does not know it.
        let other = tempfile::tempdir().unwrap();
        let other_store = Store::open(other.path()).await.unwrap();
        let other_vault = Vault::open(&other.path().join("secrets.key")).unwrap();
        assert_eq!(
            other_store
                .known_device(&other_vault, &token, "admin")
                .await
                .unwrap(),
            None
        );
    }
}
