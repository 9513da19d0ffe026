//! Console accounts: validated credentials, Argon2id hashing, the admin.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use sqlx::FromRow;

use crate::{now_unix, EngineError, Store};

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_BYTES: usize = 1024;
pub const USERNAME_MAX_CHARS: usize = 64;

/// A value the user typed that cannot be accepted, with the form field it
/// belongs to so the page can show the message beside that input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A console username: 1–64 characters of letters, digits, `.`, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidInput::new("username", "Enter a username."));
        }
        if trimmed.chars().count() > USERNAME_MAX_CHARS {
            return Err(InvalidInput::new(
                "username",
                format!("A username has at most {USERNAME_MAX_CHARS} characters."),
            ));
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(InvalidInput::new(
                "username",
                "Use only letters, digits, dots, dashes and underscores.",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy. Never printed.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.chars().count() < PASSWORD_MIN_CHARS {
            return Err(InvalidInput::new(
                "password",
                format!("Use at least {PASSWORD_MIN_CHARS} characters."),
            ));
        }
        if raw.len() > PASSWORD_MAX_BYTES {
            return Err(InvalidInput::new(
                "password",
                format!("A password has at most {PASSWORD_MAX_BYTES} bytes."),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

#[derive(FromRow)]
struct UserWithHash {
    id: i64,
    username: String,
    is_admin: bool,
    password_hash: String,
}

/// Argon2id with the OWASP parameters: m = 19456 KiB, t = 2, p = 1.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("OWASP Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// An Argon2 hash of a one-time secret (a recovery code).
pub(crate) async fn hash_text(text: String) -> Result<String, EngineError> {
    hash_password(NewPassword(text)).await
}

/// Whether `text` matches `hash` (waiting for a turn like a password).
pub(crate) async fn verify_text(
    store: &Store,
    hash: String,
    text: String,
) -> Result<bool, EngineError> {
    verify_password(store, hash, text).await
}

async fn hash_password(password: NewPassword) -> Result<String, EngineError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| EngineError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| EngineError::Hashing(e.to_string()))?
}

/// A valid hash of a random password, verified against when the username is
/// unknown so that both cases take the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jv7vNTYo8IlwDn4L0cZ6bBo+NDhyUq0YgJc2m0b3VWQ";

/// Password checks that may run at once: each Argon2 verification holds
/// 19 MiB, so a flood of sign-ins must queue instead of exhausting memory.
pub(crate) const CONCURRENT_CHECKS: usize = 4;
/// How long a sign-in waits for a turn before it is told to come back.
pub(crate) const CHECK_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn verify_password(
    store: &Store,
    hash: String,
    password: String,
) -> Result<bool, EngineError> {
    let turn = store.password_checks.acquire();
    let _turn = match tokio::time::timeout(store.password_check_wait, turn).await {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err(EngineError::Busy(
                "Too many sign-ins are being checked at once; try again in a moment.".into(),
            ))
        }
    };
    Ok(tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                hasher()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false))
}

impl Store {
    pub async fn admin_exists(&self) -> Result<bool, EngineError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Creates the first administrator. Refused once one exists, atomically:
    /// two racing setup requests cannot both succeed.
    #[tracing::instrument(skip(self, password), fields(username = username.as_str()))]
    pub async fn create_first_admin(
        &self,
        username: &Username,
        password: NewPassword,
    ) -> Result<User, EngineError> {
        let hash = hash_password(password).await?;
        let mut tx = self.pool().begin().await?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin = 1")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            return Err(EngineError::AdminExists);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, is_admin, created_at) \
             VALUES (?, ?, 1, ?) RETURNING id",
        )
        .bind(username.as_str())
        .bind(hash)
        .bind(now_unix())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            username: username.as_str().to_owned(),
            is_admin: true,
        })
    }

    /// Checks a username and password. `None` for an unknown user or a wrong
    /// password alike; the caller must not tell them apart to the client.
    pub async fn verify_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, EngineError> {
        let row: Option<UserWithHash> = sqlx::query_as(
            "SELECT id, username, is_admin, password_hash FROM users WHERE username = ?",
        )
        .bind(username.trim())
        .fetch_optional(self.pool())
        .await?;
        let password = password.to_owned();
        match row {
            Some(row) => Ok(verify_password(self, row.password_hash, password)
                .await?
                .then_some(User {
                    id: row.id,
                    username: row.username,
                    is_admin: row.is_admin,
                })),
            None => {
                verify_password(self, DUMMY_HASH.to_owned(), password).await?;
                Ok(None)
            }
        }
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, EngineError> {
        Ok(
            sqlx::query_as("SELECT id, username, is_admin FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Sets a new password for an existing user (the operator's way back in).
    #[tracing::instrument(skip(self, password))]
    pub async fn reset_password(
        &self,
        username: &str,
        password: NewPassword,
    ) -> Result<(), EngineError> {
        let hash = hash_password(password).await?;
        let changed = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
            .bind(hash)
            .bind(username.trim())
            .execute(self.pool())
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(EngineError::NoSuchUser(username.trim().to_owned()));
        }
        Ok(())
    }

    /// The id of the user named `username` (any case).
    pub async fn user_id(&self, username: &str) -> Result<i64, EngineError> {
        sqlx::query_scalar("SELECT id FROM users WHERE username = ? COLLATE NOCASE")
            .bind(username.trim())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| EngineError::NoSuchUser(username.trim().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("admin").is_ok());
        assert_eq!(
            Username::parse("  ops.team-1 ").unwrap().as_str(),
            "ops.team-1"
        );
        assert_eq!(Username::parse("").unwrap_err().field, "username");
        assert!(Username::parse("robert'); DROP TABLE users;--").is_err());
        assert!(Username::parse(&"a".repeat(1_000_000)).is_err());
        assert!(Username::parse("ünïcode").is_err());
    }

    #[test]
    fn passwords() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("correct horse battery").is_ok());
        assert!(NewPassword::parse(&"x".repeat(PASSWORD_MAX_BYTES + 1)).is_err());
        assert_eq!(
            format!("{:?}", NewPassword::parse("correct horse battery").unwrap()),
            "NewPassword(***)"
        );
    }

    #[test]
    fn dummy_hash_is_a_valid_argon2id_hash() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
    }

    /// With every turn taken, a sign-in waits its while and is then told to
    /// come back (503 through the web layer), never queued without end.
    #[tokio::test]
    async fn password_checks_past_the_cap_are_turned_away() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        store.password_check_wait = std::time::Duration::from_millis(50);
        let held = store
            .password_checks
            .clone()
            .acquire_many_owned(CONCURRENT_CHECKS as u32)
            .await
            .unwrap();
        let busy = store.verify_login("admin", "a long passphrase").await;
        assert!(
            matches!(&busy, Err(EngineError::Busy(m)) if m.contains("try again")),
            "{busy:?}"
        );
        drop(held);
        assert!(store
            .verify_login("admin", "a long passphrase")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn admin_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert!(!store.admin_exists().await.unwrap());
        let name = Username::parse("admin").unwrap();
        let user = store
            .create_first_admin(&name, NewPassword::parse("a long passphrase").unwrap())
            .await
            .unwrap();
        assert!(user.is_admin);
        assert!(store.admin_exists().await.unwrap());
        let again = store
            .create_first_admin(&name, NewPassword::parse("a long passphrase").unwrap())
            .await;
        assert!(matches!(again, Err(EngineError::AdminExists)));
        assert!(store
            .verify_login("admin", "a long passphrase")
            .await
            .unwrap()
            .is_some());
        assert!(store
            .verify_login("ADMIN", "a long passphrase")
            .await
            .unwrap()
            .is_some());
        assert!(store
            .verify_login("admin", "wrong password!")
            .await
            .unwrap()
            .is_none());
        assert!(store
            .verify_login("nobody", "a long passphrase")
            .await
            .unwrap()
            .is_none());
        store
            .reset_password("admin", NewPassword::parse("another passphrase").unwrap())
            .await
            .unwrap();
        assert!(store
            .verify_login("admin", "another passphrase")
            .await
            .unwrap()
            .is_some());
        assert!(matches!(
            store
                .reset_password("ghost", NewPassword::parse("another passphrase").unwrap())
                .await,
            Err(EngineError::NoSuchUser(_))
        ));
    }
}
