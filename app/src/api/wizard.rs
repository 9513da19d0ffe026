//! The first-run wizard: read a step, check or save it, the live tests with
//! the values as typed (test mail, connection), and finishing. The same
//! pages edit the configuration later (Settings), making new revisions.
//! Each function is session, parse, one call of `engine::wizard::Wizard`.

use std::collections::BTreeMap;

use leptos::prelude::*;
pub use wire::wizard::{Check, Notice, Review, Step, TestOutcome, WizardView, LE_STAGING};
pub use wire::{DiffLine, ShownFile};

use crate::error::AppError;

/// Session keys: the last test results, and the values typed before a
/// test (which saves nothing), so a page without JavaScript shows both
/// after its form posted.
pub const LAST_MAIL: &str = "wizard_last_mail";
pub const LAST_TARGET: &str = "wizard_last_target";
pub const UNSAVED: &str = "wizard_unsaved";

#[cfg(feature = "ssr")]
fn step_named(slug: &str) -> Result<Step, AppError> {
    Step::from_slug(slug)
        .ok_or_else(|| AppError::BadRequest(format!("there is no wizard step {slug:?}")))
}

#[cfg(feature = "ssr")]
fn wizard(state: &crate::state::AppState) -> engine::wizard::Wizard<'_> {
    engine::wizard::Wizard {
        store: &state.store,
        vault: &state.vault,
        data_dir: &state.data_dir,
        deployer: &state.deployer,
    }
}

#[server(endpoint = "wizard/view")]
pub async fn get_wizard(step: String) -> Result<WizardView, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let step = step_named(&step)?;
        let session = session().await?;
        let unsaved: Option<(Step, Vec<(String, String)>)> =
            session.get(UNSAVED).await.ok().flatten();
        let unsaved = unsaved.filter(|(s, _)| *s == step).map(|(_, kept)| kept);
        let state = state();
        let mut view = wizard(&state).view(step, unsaved.as_deref()).await?;
        view.last_mail = session.get(LAST_MAIL).await.ok().flatten();
        view.last_target = session.get(LAST_TARGET).await.ok().flatten();
        Ok(view)
    };
    respond(run.await)
}

/// Saves one step. `form` holds the step's fields by key path.
#[server(endpoint = "wizard/save")]
pub async fn save_step(step: String, form: BTreeMap<String, String>) -> Result<String, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let step = step_named(&step)?;
        let state = state();
        let next = wizard(&state).save(step, &form, &user.username).await?;
        let _ = session().await?.remove_value(UNSAVED).await;
        leptos_axum::redirect(&format!("/wizard/{next}"));
        Ok(next.slug().to_owned())
    };
    respond(run.await)
}

/// The problems `form` has for `step` as typed, by field; nothing is saved
/// (the hydrated wizard calls it as fields change).
#[server(endpoint = "wizard/check")]
pub async fn check_step(
    step: String,
    form: BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let step = step_named(&step)?;
        Ok(wizard(&state()).check(step, &form).await?)
    };
    respond(run.await)
}

/// Sends a real message with the SMTP settings as typed in `form` (nothing
/// is saved); the outcome as a sentence (with the fix when it failed).
#[server(endpoint = "wizard/test-mail")]
pub async fn send_test_mail(
    #[server(default)] form: BTreeMap<String, String>,
    #[server(default)] to: String,
) -> Result<TestOutcome, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let tested = wizard(&state()).test_mail(&form, &to).await;
        remember_test(LAST_MAIL, tested).await
    };
    respond(run.await)
}

/// Tests the deploy target as typed in `form` (nothing is saved).
#[server(endpoint = "wizard/test-target")]
pub async fn test_target(
    #[server(default)] form: BTreeMap<String, String>,
) -> Result<TestOutcome, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let tested = wizard(&state()).test_target(&form).await;
        remember_test(LAST_TARGET, tested).await
    };
    respond(run.await)
}

/// Keeps a test's outcome, and the values typed for it, in the session.
#[cfg(feature = "ssr")]
async fn remember_test(
    key: &str,
    tested: Result<engine::wizard::Tested, engine::wizard::WizardError>,
) -> Result<TestOutcome, AppError> {
    let session = super::session().await?;
    let tested = tested?;
    let _ = session.insert(key, &tested.outcome).await;
    let _ = session.insert(UNSAVED, (tested.step, &tested.kept)).await;
    Ok(tested.outcome)
}

/// Turns the draft into the next revision and starts deploying it.
#[server(endpoint = "wizard/deploy")]
pub async fn finish_wizard() -> Result<i64, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let id = wizard(&state()).finish(&user.username).await?;
        leptos_axum::redirect("/deploy");
        Ok(id)
    };
    respond(run.await)
}
