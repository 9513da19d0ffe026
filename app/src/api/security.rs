//! The account's security page: two-factor sign-in set up, confirmed with a
//! code (recovery codes shown once), or turned off with the password.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityView {
    /// "off", "pending" or "on".
    pub two_factor: String,
    pub recovery_left: i64,
    /// While setting up: the secret as text and the QR code (SVG).
    pub secret: Option<String>,
    pub qr_svg: Option<String>,
    /// Recovery codes just made: shown this once.
    pub new_codes: Vec<String>,
}

/// Where the codes made at confirmation wait for the page to show them once.
#[cfg(feature = "ssr")]
const FRESH_CODES: &str = "fresh_recovery_codes";

#[server(endpoint = "account/security")]
pub async fn get_security() -> Result<SecurityView, AppError> {
    use super::*;
    use engine::two_factor::TwoFactor;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let session = session().await?;
        // Sealed in the session (which is stored in the clear), shown once.
        let new_codes: Vec<String> = session
            .remove::<String>(FRESH_CODES)
            .await
            .ok()
            .flatten()
            .and_then(|sealed| state.vault.open_text(&sealed))
            .map(|text| text.split('\n').map(str::to_owned).collect())
            .unwrap_or_default();
        let (two_factor, recovery_left, enrolment) = match state.store.two_factor(user.id).await? {
            TwoFactor::Off => ("off", 0, None),
            TwoFactor::Pending => (
                "pending",
                0,
                Some(
                    state
                        .store
                        .begin_two_factor(&state.vault, user.id, &user.username)
                        .await?,
                ),
            ),
            TwoFactor::On { recovery_left } => ("on", recovery_left, None),
        };
        Ok(SecurityView {
            two_factor: two_factor.to_owned(),
            recovery_left,
            secret: enrolment.as_ref().map(|e| e.secret.clone()),
            qr_svg: enrolment.map(|e| e.qr_svg),
            new_codes,
        })
    };
    respond(run.await)
}

/// Makes a secret to add to an authenticator app.
#[server(endpoint = "account/two-factor/start")]
pub async fn start_two_factor() -> Result<(), AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        state
            .store
            .begin_two_factor(&state.vault, user.id, &user.username)
            .await?;
        back_to("/account/security");
        Ok(())
    };
    respond(run.await)
}

/// Turns two-factor sign-in on with a code from the app; the recovery codes
/// (also kept, sealed, for the page to show once after a plain form post).
#[server(endpoint = "account/two-factor/confirm")]
pub async fn confirm_two_factor(code: String) -> Result<Vec<String>, AppError> {
    use super::*;
    use engine::audit::Outcome;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let ip = client_ip().await;
        let codes = state
            .store
            .confirm_two_factor(&state.vault, user.id, &code)
            .await?;
        // The hydrated form gets the codes in this answer; a plain form post
        // is sent back to the page, which shows them (once) from the
        // session, sealed while they wait there.
        if is_plain_form_post() {
            session()
                .await?
                .insert(FRESH_CODES, state.vault.seal_text(&codes.join("\n")))
                .await
                .map_err(internal)?;
        }
        state
            .store
            .record(
                &user.username,
                Some(&ip),
                "two-factor on",
                Outcome::Success,
                None,
            )
            .await?;
        back_to("/account/security");
        Ok(codes)
    };
    respond(run.await)
}

/// Turns two-factor sign-in off (or drops a set-up); needs the password.
#[server(endpoint = "account/two-factor/stop")]
pub async fn stop_two_factor(password: String) -> Result<(), AppError> {
    use super::*;
    use engine::audit::Outcome;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let ip = client_ip().await;
        if state
            .store
            .verify_login(&user.username, &password)
            .await?
            .is_none()
        {
            return Err(AppError::invalid("password", "That is not your password."));
        }
        state.store.remove_two_factor(user.id).await?;
        state
            .store
            .record(
                &user.username,
                Some(&ip),
                "two-factor off",
                Outcome::Success,
                None,
            )
            .await?;
        back_to("/account/security");
        Ok(())
    };
    respond(run.await)
}
