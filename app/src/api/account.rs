//! Claiming the install, signing in and out.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub username: String,
    /// The version the last update check found on offer (the header's badge).
    #[serde(default)]
    pub update: Option<String>,
    /// An update whose rollback failed: what happened and what to do (a
    /// banner on every page until a later update ends well).
    #[serde(default)]
    pub alert: Option<String>,
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
        let device = match known_device_token().await {
            Some(token) => {
                state
                    .store
                    .known_device(&state.vault, &token, &username)
                    .await?
            }
            None => None,
        };
        let signed = state
            .store
            .sign_in(&username, &password, &ip, device.as_deref())
            .await?;
        let user = match signed {
            SignIn::Welcome(user) => user,
            SignIn::CodeNext(user) => {
                begin_second_step(user.id).await?;
                leptos_axum::redirect("/login/code");
                return Ok(());
            }
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
        let token = state
            .store
            .issue_device(&state.vault, &user.username)
            .await?;
        set_device_cookie(&token, state.https);
        leptos_axum::redirect("/");
        Ok(())
    };
    respond(run.await)
}

/// How long the code may take after the password.
#[cfg(feature = "ssr")]
const SECOND_STEP_SECS: i64 = 5 * 60;
#[cfg(feature = "ssr")]
const PENDING_USER: &str = "pending_uid";
#[cfg(feature = "ssr")]
const PENDING_AT: &str = "pending_at";

/// Remembers, on a fresh session id, who gave the right password; the code
/// page finishes the sign-in.
#[cfg(feature = "ssr")]
async fn begin_second_step(user_id: i64) -> Result<(), AppError> {
    on_fresh_session(&[(PENDING_USER, user_id), (PENDING_AT, engine::now_unix())]).await
}

/// The second step of signing in: the code from the authenticator app, or
/// a recovery code.
#[server(endpoint = "login/code")]
pub async fn login_code(code: String) -> Result<(), AppError> {
    use super::*;
    use engine::throttle::SecondFactor;

    let run =
        async {
            let state = state();
            let ip = client_ip().await;
            let session = session().await?;
            let pending = session.get::<i64>(PENDING_USER).await.ok().flatten();
            let at = session.get::<i64>(PENDING_AT).await.ok().flatten();
            let expired = || {
                AppError::invalid(
                    "code",
                    "This sign-in has expired: sign in with your password again.",
                )
            };
            let (Some(uid), Some(at)) = (pending, at) else {
                return Err(expired());
            };
            if engine::now_unix() - at > SECOND_STEP_SECS {
                let _ = session.flush().await;
                return Err(expired());
            }
            if code.trim().is_empty() {
                return Err(AppError::invalid("code", "Enter the code your app shows."));
            }
            let user = state.store.user_by_id(uid).await?.ok_or_else(expired)?;
            match state
                .store
                .second_factor(&state.vault, &user, &code, &ip)
                .await?
            {
                SecondFactor::Accepted => {}
                SecondFactor::Wrong => return Err(AppError::invalid(
                    "code",
                    "That code is not right. Type the code your app shows now, or a recovery code.",
                )),
                SecondFactor::Replayed => return Err(AppError::invalid(
                    "code",
                    "That code was used already. Wait for the next one, or use a recovery code.",
                )),
                SecondFactor::Throttled(wait) => {
                    return Err(AppError::TooManyAttempts {
                        retry_after_secs: wait.0,
                    })
                }
            }
            let _ = session.remove::<i64>(PENDING_USER).await;
            let _ = session.remove::<i64>(PENDING_AT).await;
            start_session(user.id).await?;
            let token = state
                .store
                .issue_device(&state.vault, &user.username)
                .await?;
            set_device_cookie(&token, state.https);
            leptos_axum::redirect("/");
            Ok(())
        };
    respond(run.await)
}

/// The device cookie's name: `__Host-` over HTTPS (Secure, host-only).
#[cfg(feature = "ssr")]
fn device_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-burrow-device"
    } else {
        "burrow_device"
    }
}

/// The device token this browser sent, if any.
#[cfg(feature = "ssr")]
async fn known_device_token() -> Option<String> {
    use super::*;
    let name = device_cookie_name(state().https);
    let headers = leptos_axum::extract::<axum::http::HeaderMap>().await.ok()?;
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// Marks this browser as one that signed in (see `engine::devices`).
#[cfg(feature = "ssr")]
fn set_device_cookie(token: &str, https: bool) {
    use leptos::prelude::use_context;
    let name = device_cookie_name(https);
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        engine::devices::DEVICE_MAX_AGE_SECS
    );
    if let (Some(options), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        cookie.parse(),
    ) {
        options.append_header(axum::http::header::SET_COOKIE, value);
    }
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
    let run = async {
        let user = require_user().await?;
        let state = state();
        Ok(CurrentUser {
            username: user.username,
            update: state.updates.available(&state.store).await,
            alert: engine::update::updater::needs_operator(&state.store)
                .await
                .unwrap_or_default(),
        })
    };
    respond(run.await)
}

/// Signs `user_id` in on a fresh session id (no fixation).
#[cfg(feature = "ssr")]
async fn start_session(user_id: i64) -> Result<(), AppError> {
    use super::*;
    on_fresh_session(&[(USER_ID, user_id), (SIGNED_IN_AT, engine::now_unix())]).await
}

/// Gives the session a new id (no fixation) and stores `values` in it.
#[cfg(feature = "ssr")]
async fn on_fresh_session(values: &[(&str, i64)]) -> Result<(), AppError> {
    use super::*;
    let session = session().await?;
    let fail = |e: tower_sessions::session::Error| {
        tracing::error!(error = %e, "session store error");
        AppError::Internal
    };
    session.cycle_id().await.map_err(fail)?;
    for (key, value) in values {
        session.insert(key, *value).await.map_err(fail)?;
    }
    Ok(())
}
