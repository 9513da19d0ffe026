//! Claiming the install, signing in and out.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub username: String,
}

/// Claims the install: checks the one-time token, creates the first admin,
/// signs them in and closes setup for good.
#[server(endpoint = "setup")]
pub async fn complete_setup(
    token: String,
    username: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    use super::*;
    use engine::accounts::{NewPassword, Username};
    use engine::audit::Outcome;

    let run = async {
        let state = state();
        let ip = client_ip().await;
        let keep = |e: AppError| e.keeping("username", &username);
        if !state.setup_open() {
            return Err(AppError::SetupClosed);
        }
        let token_ok = state
            .setup_token
            .lock()
            .map(|t| t.as_ref().is_some_and(|t| t.matches(&token)))
            .unwrap_or(false);
        if !token_ok {
            let _ = state
                .store
                .record(
                    "setup",
                    Some(&ip),
                    "setup",
                    Outcome::Failure,
                    Some("wrong token"),
                )
                .await;
            return Err(keep(AppError::invalid(
                "token",
                "That is not the setup token. Copy it from Burrow's log or the setup-token file in its data directory.",
            )));
        }
        let name =
            Username::parse(&username).map_err(|e| keep(AppError::invalid(e.field, e.message)))?;
        let new_password = NewPassword::parse(&password)
            .map_err(|e| keep(AppError::invalid(e.field, e.message)))?;
        if password != confirm {
            return Err(keep(AppError::invalid(
                "confirm",
                "The two passwords differ.",
            )));
        }
        let user = match state.store.create_first_admin(&name, new_password).await {
            Ok(user) => user,
            Err(engine::EngineError::AdminExists) => return Err(AppError::SetupClosed),
            Err(e) => return Err(internal(e)),
        };
        if let Ok(mut guard) = state.setup_token.lock() {
            if let Some(token) = guard.take() {
                if let Err(e) = token.discard() {
                    tracing::warn!(error = %e, "could not delete the setup-token file");
                }
            }
        }
        let _ = state
            .store
            .record(name.as_str(), Some(&ip), "setup", Outcome::Success, None)
            .await;
        start_session(user.id).await?;
        tracing::info!(
            username = name.as_str(),
            "first admin created; setup closed"
        );
        leptos_axum::redirect("/wizard/domain");
        Ok(())
    };
    respond(run.await)
}

#[server(endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    use super::*;
    use engine::throttle::SignIn;

    let run = async {
        let state = state();
        let ip = client_ip().await;
        if username.trim().is_empty() {
            return Err(AppError::invalid("username", "Enter your username."));
        }
        if password.is_empty() {
            return Err(AppError::invalid("password", "Enter your password.")
                .keeping("username", &username));
        }
        let user = match state.store.sign_in(&username, &password, &ip).await? {
            SignIn::Welcome(user) => user,
            SignIn::Wrong => {
                return Err(AppError::BadCredentials {
                    username: username.chars().take(64).collect(),
                })
            }
            SignIn::Throttled(wait) => {
                return Err(AppError::TooManyAttempts {
                    retry_after_secs: wait.0,
                })
            }
        };
        start_session(user.id).await?;
        leptos_axum::redirect("/");
        Ok(())
    };
    respond(run.await)
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use super::*;
    use engine::audit::Outcome;

    let run = async {
        let user = require_user().await?;
        let ip = client_ip().await;
        let _ = state()
            .store
            .record(&user.username, Some(&ip), "logout", Outcome::Success, None)
            .await;
        session().await?.flush().await.map_err(|e| {
            tracing::error!(error = %e, "could not end session");
            AppError::Internal
        })?;
        leptos_axum::redirect("/login");
        Ok(())
    };
    respond(run.await)
}

#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<CurrentUser, AppError> {
    use super::*;
    respond(require_user().await.map(|u| CurrentUser {
        username: u.username,
    }))
}

/// Signs `user_id` in on a fresh session id (no fixation).
#[cfg(feature = "ssr")]
async fn start_session(user_id: i64) -> Result<(), AppError> {
    use super::*;
    let session = session().await?;
    let fail = |e: tower_sessions::session::Error| {
        tracing::error!(error = %e, "session store error");
        AppError::Internal
    };
    session.cycle_id().await.map_err(fail)?;
    session.insert(USER_ID, user_id).await.map_err(fail)?;
    session
        .insert(SIGNED_IN_AT, engine::now_unix())
        .await
        .map_err(fail)?;
    Ok(())
}
