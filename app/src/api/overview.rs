//! What the overview page shows: this console's own state and recent activity.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub version: String,
    pub uptime_secs: u64,
    pub database: String,
    pub database_healthy: bool,
    pub https: bool,
    pub activity: Vec<Activity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub ip: String,
    pub action: String,
    pub outcome: String,
    /// How many times (repeated refusals are one row).
    pub repeats: i64,
}

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let entries = state.store.recent_audit(20).await?;
        Ok(Overview {
            version: crate::state::VERSION.to_owned(),
            uptime_secs: state.started.elapsed().as_secs(),
            database: state.store.path().display().to_string(),
            database_healthy: state.store.is_healthy().await,
            https: state.https,
            activity: entries
                .into_iter()
                .map(|e| Activity {
                    at: engine::audit::rfc3339(e.at),
                    actor: e.actor,
                    ip: e.ip.unwrap_or_default(),
                    action: e.action,
                    outcome: e.outcome,
                    repeats: e.repeats,
                })
                .collect(),
        })
    };
    respond(run.await)
}
