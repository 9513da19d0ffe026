//! Secrets at rest: the stack's generated credentials (and the SMTP
//! password) are sealed with a key from a file of its own (mode 0600, outside
//! the database, path overridable), so a copy of `burrow.db` alone reveals
//! nothing.

use std::path::Path;

use stack::sealing::SealingKey;
use stack::secrets::Secrets;

use crate::{now_unix, EngineError, Store};

/// Default file name of the sealing key, in the data directory.
pub const KEY_FILE: &str = "secrets.key";

const STACK: &str = "stack";

/// Seals and opens stored secrets with the key from the key file.
#[derive(Clone)]
pub struct Vault {
    key: std::sync::Arc<SealingKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<key redacted>)")
    }
}

impl Vault {
    /// `text` sealed, as base64: for a secret that must pass through
    /// storage that is not sealed (a session), e.g. recovery codes on their
    /// way to being shown once.
    pub fn seal_text(&self, text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.key.seal(text.as_bytes()))
    }

    /// What [`Vault::seal_text`] sealed; `None` if it was not sealed with
    /// this key.
    pub fn open_text(&self, sealed: &str) -> Option<String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        String::from_utf8(self.key.open(&bytes).ok()?).ok()
    }

    /// The sealing key, for values kept outside the secrets tables.
    pub(crate) fn key(&self) -> &SealingKey {
        &self.key
    }

    /// Loads the key file, creating a new random key (mode 0600) if missing.
    pub fn open(key_file: &Path) -> Result<Self, EngineError> {
        let key = stack::files::load_or_create_key(key_file)
            .map_err(|e| EngineError::Secrets(e.to_string()))?;
        Ok(Self {
            key: std::sync::Arc::new(key),
        })
    }
}

fn open_stack(vault: &Vault, sealed: &[u8]) -> Result<Secrets, EngineError> {
    vault.key.open_secrets(sealed).map_err(|e| {
        EngineError::Secrets(format!(
            "the stored stack secrets cannot be opened with this key file ({e}); \
             was the key file replaced?"
        ))
    })
}

impl Store {
    async fn put_sealed(&self, name: &str, sealed: Vec<u8>) -> Result<(), EngineError> {
        sqlx::query(
            "INSERT INTO sealed_secrets (name, sealed, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(sealed)
        .bind(now_unix())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn get_sealed(&self, name: &str) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM sealed_secrets WHERE name = ?")
                .bind(name)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The newest version of the stack's secrets, with its version id.
    pub async fn stack_secrets_version(
        &self,
        vault: &Vault,
    ) -> Result<Option<(i64, Secrets)>, EngineError> {
        match self.latest_version_row(STACK).await? {
            None => Ok(None),
            Some((id, sealed)) => Ok(Some((id, open_stack(vault, &sealed)?))),
        }
    }

    /// The stack's secrets, if any were kept (the newest version).
    pub async fn stack_secrets(&self, vault: &Vault) -> Result<Option<Secrets>, EngineError> {
        Ok(self.stack_secrets_version(vault).await?.map(|(_, s)| s))
    }

    /// The stack's secrets as they were in version `id`.
    pub async fn stack_secrets_at(&self, vault: &Vault, id: i64) -> Result<Secrets, EngineError> {
        let sealed = self.version_row(STACK, id).await?;
        open_stack(vault, &sealed)
    }

    /// The newest stack secrets and their version, generated and kept on
    /// first use.
    pub async fn ensure_stack_secrets_version(
        &self,
        vault: &Vault,
    ) -> Result<(i64, Secrets), EngineError> {
        if let Some(existing) = self.stack_secrets_version(vault).await? {
            return Ok(existing);
        }
        let fresh = Secrets::generate().map_err(|e| EngineError::Secrets(e.to_string()))?;
        let id = self
            .insert_version(STACK, vault.key.seal_secrets(&fresh))
            .await?;
        Ok((id, fresh))
    }

    /// The stack's secrets, generated and kept on first use.
    pub async fn ensure_stack_secrets(&self, vault: &Vault) -> Result<Secrets, EngineError> {
        Ok(self.ensure_stack_secrets_version(vault).await?.1)
    }

    /// Keeps `next` as a new version of the stack's secrets (earlier
    /// revisions keep theirs). A different files encryption key is refused
    /// unless `force_files_key`: it would make every stored file unreadable.
    pub async fn replace_stack_secrets(
        &self,
        vault: &Vault,
        next: Secrets,
        force_files_key: bool,
    ) -> Result<(), EngineError> {
        let merged = match self.stack_secrets(vault).await? {
            Some(mut current) => {
                current
                    .replace(next, force_files_key)
                    .map_err(|e| EngineError::Secrets(e.to_string()))?;
                current
            }
            None => next,
        };
        self.insert_version(STACK, vault.key.seal_secrets(&merged))
            .await
            .map(|_| ())
    }

    /// Keeps `value` as the newest version of the secret `name` and returns
    /// its version id; the same value as the newest version is not stored
    /// twice.
    pub async fn put_secret_version(
        &self,
        vault: &Vault,
        name: &str,
        value: &str,
    ) -> Result<i64, EngineError> {
        if let Some((id, sealed)) = self.latest_version_row(name).await? {
            if vault.key.open(&sealed).ok().as_deref() == Some(value.as_bytes()) {
                return Ok(id);
            }
        }
        self.insert_version(name, vault.key.seal(value.as_bytes()))
            .await
    }

    /// The value of the secret `name` in version `id`.
    pub async fn secret_version(
        &self,
        vault: &Vault,
        name: &str,
        id: i64,
    ) -> Result<String, EngineError> {
        let sealed = self.version_row(name, id).await?;
        let plain = vault.key.open(&sealed).map_err(|_| {
            EngineError::Secrets(format!(
                "version {id} of the stored {name} cannot be opened with this key file"
            ))
        })?;
        String::from_utf8(plain)
            .map_err(|_| EngineError::Secrets(format!("the stored {name} is not text")))
    }

    async fn insert_version(&self, name: &str, sealed: Vec<u8>) -> Result<i64, EngineError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO secret_versions (name, sealed, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(sealed)
        .bind(now_unix())
        .fetch_one(self.pool())
        .await?)
    }

    async fn latest_version_row(&self, name: &str) -> Result<Option<(i64, Vec<u8>)>, EngineError> {
        Ok(sqlx::query_as(
            "SELECT id, sealed FROM secret_versions WHERE name = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn version_row(&self, name: &str, id: i64) -> Result<Vec<u8>, EngineError> {
        sqlx::query_scalar("SELECT sealed FROM secret_versions WHERE name = ? AND id = ?")
            .bind(name)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| {
                EngineError::Secrets(format!("version {id} of the stored {name} is missing"))
            })
    }

    /// Keeps one secret value (e.g. the SMTP password) sealed under `name`.
    pub async fn put_secret(
        &self,
        vault: &Vault,
        name: &str,
        value: &str,
    ) -> Result<(), EngineError> {
        self.put_sealed(name, vault.key.seal(value.as_bytes()))
            .await
    }

    /// Forgets the secret kept under `name`.
    pub async fn delete_secret(&self, name: &str) -> Result<(), EngineError> {
        sqlx::query("DELETE FROM sealed_secrets WHERE name = ?")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn secret(&self, vault: &Vault, name: &str) -> Result<Option<String>, EngineError> {
        let Some(sealed) = self.get_sealed(name).await? else {
            return Ok(None);
        };
        let plain = vault.key.open(&sealed).map_err(|_| {
            EngineError::Secrets(format!(
                "the stored {name} cannot be opened with this key file"
            ))
        })?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| EngineError::Secrets(format!("the stored {name} is not text")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_database(dir: &Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        for name in ["burrow.db", "burrow.db-wal"] {
            if let Ok(b) = std::fs::read(dir.join(name)) {
                bytes.extend(b);
            }
        }
        bytes
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    #[tokio::test]
    async fn a_copy_of_the_database_alone_reveals_no_secret() {
        let data = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let store = Store::open(data.path()).await.unwrap();
        let vault = Vault::open(&keys.path().join(KEY_FILE)).unwrap();
        let secrets = store.ensure_stack_secrets(&vault).await.unwrap();
        store
            .put_secret(&vault, "smtp_password", "hunter2-but-longer")
            .await
            .unwrap();

        // Kept, not regenerated.
        assert_eq!(store.ensure_stack_secrets(&vault).await.unwrap(), secrets);
        assert_eq!(
            store
                .secret(&vault, "smtp_password")
                .await
                .unwrap()
                .as_deref(),
            Some("hunter2-but-longer")
        );

        let raw = raw_database(data.path());
        assert!(!raw.is_empty());
        for (name, value) in secrets.values() {
            assert!(
                !contains(&raw, value),
                "{name} readable in the database file"
            );
        }
        assert!(!contains(&raw, "hunter2-but-longer"));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(keys.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // Another key file cannot open them, and says so without the values.
        let other = Vault::open(&keys.path().join("other.key")).unwrap();
        let err = store.stack_secrets(&other).await.unwrap_err().to_string();
        assert!(err.contains("key file"), "{err}");
        assert!(store.secret(&other, "smtp_password").await.is_err());
    }

    #[tokio::test]
    async fn a_files_key_change_needs_force() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::open(data.path()).await.unwrap();
        let vault = Vault::open(&data.path().join(KEY_FILE)).unwrap();
        let current = store.ensure_stack_secrets(&vault).await.unwrap();
        let other = Secrets::generate().unwrap();
        let err = store
            .replace_stack_secrets(&vault, other.clone(), false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("files encryption key"), "{err}");
        assert_eq!(store.stack_secrets(&vault).await.unwrap().unwrap(), current);
        store
            .replace_stack_secrets(&vault, other.clone(), true)
            .await
            .unwrap();
        assert_eq!(store.stack_secrets(&vault).await.unwrap().unwrap(), other);
    }
}
