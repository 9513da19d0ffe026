//! The Updates page: the channel followed, checking it, setting it.

use leptos::prelude::*;
pub use wire::updates::{CheckView, UpdatesView};

use crate::error::AppError;

#[server(endpoint = "updates")]
pub async fn get_updates() -> Result<UpdatesView, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let mut view = state.updates.view(&state.store, &state.vault).await?;
        (view.registry, view.registry_problem) =
            engine::update::registry::describe(&state.store, &state.vault).await;
        Ok(view)
    };
    respond(run.await)
}

/// Checks the channel now (verified with TUF); the outcome is recorded
/// and shown on the page.
#[server(endpoint = "updates/check")]
pub async fn check_updates() -> Result<CheckView, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let checked = state
            .updates
            .check_now(&state.store, &user.username)
            .await?;
        leptos_axum::redirect("/updates");
        Ok(checked)
    };
    respond(run.await)
}

/// Checks the channel again and, when it offers a release, starts updating
/// the whole stack to it (in the background; the page follows it).
#[server(endpoint = "updates/apply")]
pub async fn update_now() -> Result<i64, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let release = state
            .updates
            .verified_release(&state.store, &user.username)
            .await?
            .map_err(AppError::Conflict)?;
        let id = state
            .updater
            .start(release, &user.username)
            .await
            .map_err(|e| finish_interrupted(&state, e))?;
        state.updater.run_in_background(id);
        leptos_axum::redirect("/updates");
        Ok(id)
    };
    respond(run.await)
}

/// Goes back to the release update `id` installed, as an update like any
/// other (in the background; the page follows it).
#[server(endpoint = "updates/rollback")]
pub async fn roll_back_to(id: i64) -> Result<i64, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let rollout = state
            .updater
            .start_rollback(id, &user.username)
            .await
            .map_err(|e| finish_interrupted(&state, e))?;
        state.updater.run_in_background(rollout);
        leptos_axum::redirect("/updates");
        Ok(rollout)
    };
    respond(run.await)
}

/// The refusal as the page shows it; an update whose owner died is
/// finished (rolled back) on the console's own task meanwhile.
#[cfg(feature = "ssr")]
fn finish_interrupted(
    state: &crate::state::AppState,
    e: engine::update::updater::UpdateError,
) -> AppError {
    if matches!(e, engine::update::updater::UpdateError::Interrupted { .. }) {
        state.updater.resume_in_background();
    }
    e.into()
}

/// Sets the channel: its address, its root metadata (pasted), its name.
#[server(endpoint = "updates/channel")]
pub async fn save_channel(
    url: String,
    root: String,
    #[server(default)] name: String,
) -> Result<(), AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        state
            .updates
            .save_channel(&state.store, &url, &root, &name, &user.username)
            .await
            .map_err(|errors| AppError::Fields {
                errors,
                // The root is public; long, so it is kept only when short.
                kept: vec![
                    ("url".to_owned(), url.chars().take(512).collect()),
                    ("name".to_owned(), name.chars().take(64).collect()),
                ],
            })?;
        leptos_axum::redirect("/updates");
        Ok(())
    };
    respond(run.await)
}

/// Keeps a private registry's credentials (sealed), checked first: a
/// malformed value is refused beside its field and nothing is kept.
#[server(endpoint = "updates/registry")]
pub async fn save_registry(auth: String) -> Result<(), AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        engine::update::registry::save(&state.store, &state.vault, &auth, &user.username)
            .await
            .map_err(|why| AppError::invalid("auth", why))?;
        leptos_axum::redirect("/updates");
        Ok(())
    };
    respond(run.await)
}

/// Forgets the registry credentials.
#[server(endpoint = "updates/registry/remove")]
pub async fn remove_registry() -> Result<(), AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        engine::update::registry::remove(&state.store, &user.username).await?;
        leptos_axum::redirect("/updates");
        Ok(())
    };
    respond(run.await)
}

/// Sets automatic updates: on or off, and the weekly maintenance window
/// (days, start and end in UTC). A bad window is refused beside its field
/// and nothing is saved.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "updates/auto")]
pub async fn save_auto_update(
    #[server(default)] enabled: bool,
    #[server(default)] mon: bool,
    #[server(default)] tue: bool,
    #[server(default)] wed: bool,
    #[server(default)] thu: bool,
    #[server(default)] fri: bool,
    #[server(default)] sat: bool,
    #[server(default)] sun: bool,
    #[server(default)] start: String,
    #[server(default)] end: String,
) -> Result<(), AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let days: Vec<String> = [
            ("mon", mon),
            ("tue", tue),
            ("wed", wed),
            ("thu", thu),
            ("fri", fri),
            ("sat", sat),
            ("sun", sun),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(d, _)| d.to_owned())
        .collect();
        engine::update::auto::save_policy(
            &state.store,
            enabled,
            &days,
            &start,
            &end,
            &user.username,
        )
        .await
        .map_err(|errors| AppError::Fields {
            errors,
            kept: vec![
                ("enabled".to_owned(), enabled.to_string()),
                ("days".to_owned(), days.join(",")),
                ("start".to_owned(), start.chars().take(16).collect()),
                ("end".to_owned(), end.chars().take(16).collect()),
            ],
        })?;
        leptos_axum::redirect("/updates");
        Ok(())
    };
    respond(run.await)
}
