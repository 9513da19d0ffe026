//! The Backups page: every backup kept, "Back up now", and restoring one
//! (each runs on the console's own task; the page follows it).

use leptos::prelude::*;
pub use wire::backups::BackupsView;

use crate::error::AppError;

#[server(endpoint = "backups")]
pub async fn get_backups() -> Result<BackupsView, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        Ok(state.updater.backups().view(&state.store).await?)
    };
    respond(run.await)
}

/// Refuses while an update runs (a deployment, backup or restore running
/// is refused by the engine when the record is made).
#[cfg(feature = "ssr")]
async fn refuse_while_updating(state: &crate::state::AppState) -> Result<(), AppError> {
    if let Some(r) = state.updater.unfinished().await? {
        return Err(AppError::Conflict(format!(
            "Update {} to {} is running: wait for it to end.",
            r.id, r.release.version
        )));
    }
    Ok(())
}

/// Takes a backup of the running stack now.
#[server(endpoint = "backups/create")]
pub async fn back_up_now() -> Result<(), AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        refuse_while_updating(&state).await?;
        let backups = state.updater.backups().clone();
        let deployer = state.deployer.clone();
        // Recorded before the answer, so the page shows it running.
        let begun = backups.begin_create(&deployer, &user.username).await?;
        backups.run_create_in_background(deployer, begun);
        leptos_axum::redirect("/backups");
        Ok(())
    };
    respond(run.await)
}

/// Restores backup `id`: the stack stops, its data volumes and config go
/// back to the backup's, and it starts again. `confirm` must be ticked.
#[server(endpoint = "backups/restore")]
pub async fn restore_backup(
    id: String,
    #[server(default)] confirm: Option<String>,
) -> Result<(), AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let view = state.updater.backups().view(&state.store).await?;
        let Some(backup) = view.backups.into_iter().find(|b| b.id == id) else {
            return Err(AppError::NotFound(format!(
                "There is no backup {id:?}: the list shows the ones kept."
            )));
        };
        if let Some(why) = backup.not_restorable {
            return Err(AppError::Conflict(why));
        }
        if confirm.as_deref() != Some("on") {
            return Err(AppError::invalid(
                &format!("confirm-{id}"),
                "Tick the box: restoring replaces the chat server's data with the backup's.",
            ));
        }
        refuse_while_updating(&state).await?;
        let backups = state.updater.backups().clone();
        let deployer = state.deployer.clone();
        let begun = backups
            .begin_restore(&deployer, &id, &user.username)
            .await?;
        backups.run_restore_in_background(deployer, begun);
        leptos_axum::redirect("/backups");
        Ok(())
    };
    respond(run.await)
}
