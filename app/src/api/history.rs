//! Config history: every revision, and the diff of two. Deploying one goes
//! through `deploy/start` with its number.

use leptos::prelude::*;
pub use wire::{History, RevisionDiff};

use crate::error::AppError;

#[server(endpoint = "history")]
pub async fn get_history() -> Result<History, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        Ok(state.store.history(&state.vault).await?)
    };
    respond(run.await)
}

/// The rendered files of revision `from` against those of `to`.
#[server(endpoint = "history/diff")]
pub async fn get_revision_diff(from: i64, to: i64) -> Result<RevisionDiff, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        Ok(state.store.revision_diff(&state.vault, from, to).await?)
    };
    respond(run.await)
}
