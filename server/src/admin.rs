//! `burrow admin …`: the operator's way back in from the shell.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use engine::accounts::NewPassword;
use engine::audit::Outcome;
use engine::{EngineError, Store};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("could not read the password: {0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Sets a new password for `username`, read from the terminal (asked twice)
/// or from the first line of stdin, and signs every session out; with
/// `remove_2fa`, two-factor sign-in is turned off too.
pub async fn reset_password(
    data_dir: &Path,
    username: &str,
    remove_2fa: bool,
) -> Result<(), AdminError> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {username}: "))?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        if first != second {
            return Err(AdminError::Invalid("The two passwords differ.".into()));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let password = NewPassword::parse(&password).map_err(|e| AdminError::Invalid(e.message))?;
    let store = Store::open(data_dir).await?;
    store.reset_password(username, password).await?;
    store.reset_login_throttle().await?;
    if remove_2fa {
        let id = store.user_id(username).await?;
        if store.remove_two_factor(id).await? {
            store
                .record(
                    username,
                    None,
                    "two-factor off",
                    Outcome::Success,
                    Some("from the command line"),
                )
                .await?;
        }
    }
    // The session table exists once the console has served; before that
    // there is nothing to sign out.
    let _ = sqlx::query("DELETE FROM sessions")
        .execute(store.pool())
        .await;
    store
        .record(
            username,
            None,
            "reset-password",
            Outcome::Success,
            Some("from the command line"),
        )
        .await?;
    Ok(())
}

/// `burrow audit verify`: walks the audit log's hash chain; `Err` names the
/// first entry where it does not hold.
pub async fn verify_audit(data_dir: &Path) -> Result<String, AdminError> {
    let store = Store::open(data_dir).await?;
    let state = store.verify_audit().await?;
    if state.is_intact() {
        Ok(state.sentence())
    } else {
        Err(AdminError::Invalid(state.sentence()))
    }
}
