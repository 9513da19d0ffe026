//! The engine's error type. Policy: variants a user can cause carry a message
//! meant for them; `Database`/`Io` are internal and the web layer logs them in
//! full but shows only a short sentence.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("certificate generation failed: {0}")]
    Certificate(String),
    #[error("{0}")]
    Invalid(#[from] crate::accounts::InvalidInput),
    #[error("secrets: {0}")]
    Secrets(String),
    #[error("{0}")]
    Config(String),
    /// A stored revision that cannot be deployed or watched any more (it
    /// does not validate under today's rules, a secret version is gone);
    /// `why` is the sentence.
    #[error("{why}")]
    Unusable { revision: i64, why: String },
    #[error("an administrator already exists")]
    AdminExists,
    /// Something the request names does not exist (a revision number).
    #[error("{0}")]
    NotFound(String),
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    /// Too much work at once (sign-ins queued for their password check);
    /// the sentence says to come back.
    #[error("{0}")]
    Busy(String),
}

/// `err` and its sources on one line.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        current = e.source();
    }
    out
}
