//! Server-side glue shared by the server functions: state, session, client
//! address, and the HTTP status that goes with an error.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{header, request::Parts, StatusCode};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use tower_sessions::Session;

use crate::error::AppError;
use crate::state::AppState;

/// Session keys.
pub const USER_ID: &str = "uid";
pub const SIGNED_IN_AT: &str = "signed_in_at";
/// When the session was last saved for activity (its idle expiry moves on).
const LAST_SEEN: &str = "last_seen";
/// Activity moves the idle expiry on at most this often: a session is
/// saved when it changes, not on every request.
const TOUCH_EVERY_SECS: i64 = 60;
/// A session ends after this long without a request…
pub const IDLE_TIMEOUT_SECS: i64 = 60 * 60;
/// …and in any case this long after sign-in.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;

pub fn state() -> AppState {
    expect_context::<AppState>()
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "session layer missing");
        AppError::Internal
    })
}

/// The signed-in user's id, if the session is valid and not past its
/// absolute lifetime (an expired one is flushed here).
pub async fn signed_in_user(session: &Session) -> Option<i64> {
    let uid = session.get::<i64>(USER_ID).await.ok().flatten()?;
    let at = session.get::<i64>(SIGNED_IN_AT).await.ok().flatten()?;
    let now = engine::now_unix();
    if now - at > ABSOLUTE_TIMEOUT_SECS {
        let _ = session.flush().await;
        return None;
    }
    let seen = session
        .get::<i64>(LAST_SEEN)
        .await
        .ok()
        .flatten()
        .unwrap_or(at);
    if now - seen >= TOUCH_EVERY_SECS {
        // A change: the session is saved, with its idle expiry from now.
        let _ = session.insert(LAST_SEEN, now).await;
    }
    Some(uid)
}

/// The signed-in user, or `Unauthorized`.
pub async fn require_user() -> Result<engine::accounts::User, AppError> {
    let session = session().await?;
    let uid = signed_in_user(&session)
        .await
        .ok_or(AppError::Unauthorized)?;
    state()
        .store
        .user_by_id(uid)
        .await
        .map_err(internal)?
        .ok_or(AppError::Unauthorized)
}

/// The client's address: the TCP peer, or from a trusted proxy the last
/// address it added to `X-Forwarded-For`.
pub async fn client_ip() -> String {
    let Ok(ConnectInfo(peer)) = leptos_axum::extract::<ConnectInfo<SocketAddr>>().await else {
        return "unknown".to_owned();
    };
    if !state().trusted_proxies.contains(&peer.ip()) {
        return peer.ip().to_string();
    }
    let forwarded = leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .ok()
        .and_then(|h| {
            h.get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
                .next_back()
        });
    forwarded.unwrap_or(peer.ip()).to_string()
}

/// The one mapping from engine errors: what a user or stored data can cause
/// is a sentence with a 4xx; the rest is logged and a 500.
impl From<engine::EngineError> for AppError {
    fn from(e: engine::EngineError) -> Self {
        match e {
            engine::EngineError::NotFound(m) => AppError::NotFound(m),
            engine::EngineError::Config(m) => AppError::Conflict(m),
            engine::EngineError::Unusable { revision, why } => AppError::Unusable {
                revision,
                message: why,
            },
            // A value the operator typed: the sentence beside its field.
            engine::EngineError::Invalid(e) => AppError::invalid(e.field, e.message),
            engine::EngineError::AdminExists => {
                AppError::Conflict("An administrator already exists: sign in instead.".to_owned())
            }
            engine::EngineError::Busy(m) => AppError::Unavailable(m),
            engine::EngineError::NoSuchUser(name) => {
                AppError::NotFound(format!("There is no user named {name:?}."))
            }
            other => internal(other),
        }
    }
}

impl From<engine::deployer::DeployerError> for AppError {
    fn from(e: engine::deployer::DeployerError) -> Self {
        use engine::deployer::DeployerError;
        match e {
            DeployerError::Busy(id) => AppError::Conflict(format!(
                "Deployment {id} is still running; wait for it to finish."
            )),
            DeployerError::Refused(m) => AppError::Conflict(m),
            DeployerError::Deploy(e) => e.into(),
            DeployerError::Engine(e) => e.into(),
        }
    }
}

/// A target that cannot be reached is 503; an address that was never a
/// Docker address (stored data) is a conflict to fix, not an outage.
impl From<engine::deploy::DeployError> for AppError {
    fn from(e: engine::deploy::DeployError) -> Self {
        match e {
            engine::deploy::DeployError::InvalidUrl { .. } => AppError::Conflict(e.to_string()),
            other => AppError::Unavailable(other.to_string()),
        }
    }
}

/// The handlers outside server functions (live streams, downloads) answer
/// with the same status and sentence a server function would.
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, self.to_string()).into_response()
    }
}

impl From<engine::update::updater::UpdateError> for AppError {
    fn from(e: engine::update::updater::UpdateError) -> Self {
        use engine::update::updater::UpdateError;
        match e {
            UpdateError::Refused(why) => AppError::Conflict(why),
            interrupted @ UpdateError::Interrupted { .. } => {
                AppError::Conflict(interrupted.to_string())
            }
            UpdateError::Engine(e) => e.into(),
        }
    }
}

impl From<engine::backup::BackupError> for AppError {
    fn from(e: engine::backup::BackupError) -> Self {
        use engine::backup::BackupError;
        match e {
            BackupError::Refused(why) => AppError::Conflict(why),
            BackupError::Deployer(e) => e.into(),
            BackupError::Engine(e) => e.into(),
            BackupError::Deploy(e) => e.into(),
        }
    }
}

impl From<engine::wizard::WizardError> for AppError {
    fn from(e: engine::wizard::WizardError) -> Self {
        use engine::wizard::WizardError;
        match e {
            WizardError::UnknownStep(_) | WizardError::NothingToSave => {
                AppError::BadRequest(e.to_string())
            }
            WizardError::StepFirst(_) | WizardError::Refused(_) => {
                AppError::Conflict(e.to_string())
            }
            WizardError::Fields { errors, kept } => AppError::Fields { errors, kept },
            WizardError::Engine(e) => e.into(),
            WizardError::Deployer(e) => e.into(),
        }
    }
}

/// Logs an internal error in full and hands the client a short message.
pub fn internal(err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "internal error");
    AppError::Internal
}

/// True while a server function is handling an HTTP request (as opposed to
/// running during page rendering).
pub fn handling_request() -> bool {
    use_context::<ResponseOptions>().is_some() && use_context::<Parts>().is_some()
}

/// Sends a plain form post (no JavaScript) back to `path` to show the
/// result; a hydrated page re-reads its data itself and stays where it is.
pub fn back_to(path: &str) {
    if is_plain_form_post() {
        leptos_axum::redirect(path);
    }
}

/// Whether this request is a plain HTML form post (no JavaScript).
pub fn is_plain_form_post() -> bool {
    use_context::<Parts>()
        .and_then(|parts| {
            parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.contains("text/html"))
        })
        .unwrap_or(false)
}

/// Gives the response the status that matches `err`. A plain HTML form post
/// keeps its redirect back to the form, which shows the error.
pub fn set_status_for(err: &AppError) {
    if is_plain_form_post() {
        return;
    }
    if let (Some(options), Ok(status)) = (
        use_context::<ResponseOptions>(),
        StatusCode::from_u16(err.status()),
    ) {
        options.set_status(status);
        if let AppError::TooManyAttempts { retry_after_secs } = err {
            if let Ok(value) = retry_after_secs.to_string().parse() {
                options.insert_header(header::RETRY_AFTER, value);
            }
        }
    }
}

/// The policy of a page: scripts only from this origin or with the
/// request's `nonce` (and wasm compiled), nothing from elsewhere.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The nonce the server minted for this page request (see
/// [`PageNonce`]) in place of the one leptos made, so the page's scripts
/// carry the nonce its `Content-Security-Policy` header names.
pub fn provide_page_nonce() {
    if let Some(nonce) =
        use_context::<Parts>().and_then(|parts| parts.extensions.get::<PageNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

/// A page request's CSP nonce, minted by the server's outermost layer,
/// which also sets the policy on the page's response: the header does not
/// depend on the page's rendering reaching it.
#[derive(Clone, Debug)]
pub struct PageNonce(pub String);

/// Passes a server function's result through, setting the error status.
pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(err) = &result {
        set_status_for(err);
    }
    result
}

#[cfg(test)]
mod tests {
    use crate::error::AppError;

    #[test]
    fn what_a_user_can_cause_is_a_4xx_with_a_sentence() {
        let typed = engine::accounts::InvalidInput::new("password", "at least 12 characters");
        let err = AppError::from(engine::EngineError::Invalid(typed));
        assert_eq!(err.status(), 422);
        assert_eq!(
            err.for_field("password").as_deref(),
            Some("at least 12 characters")
        );
        assert_eq!(
            AppError::from(engine::EngineError::AdminExists).status(),
            409
        );
        let missing = AppError::from(engine::EngineError::NoSuchUser("bob".into()));
        assert_eq!(missing.status(), 404);
        assert!(missing.to_string().contains("bob"), "{missing}");
        // What only Burrow can cause stays a 500 without its details.
        let db = AppError::from(engine::EngineError::Secrets("key file unreadable".into()));
        assert_eq!(db.status(), 500);
        assert!(!db.to_string().contains("key file"), "{db}");

        let stored = AppError::from(engine::EngineError::Unusable {
            revision: 3,
            why: "revision 3 no longer validates: domain: not a domain".into(),
        });
        assert_eq!(stored.status(), 409);
        assert!(matches!(stored, AppError::Unusable { revision: 3, .. }));

        let never = AppError::from(engine::deploy::DeployError::InvalidUrl {
            url: "ftp://nowhere".into(),
        });
        assert_eq!(never.status(), 409, "stored data to fix, not an outage");
        let down = AppError::from(engine::deploy::DeployError::Unreachable {
            url: "tcp://127.0.0.1:9".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(down.status(), 503);
    }
}
