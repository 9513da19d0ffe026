//! The audit log: entries filtered by action and actor, and whether its
//! hash chain holds. The CSV export is `/audit.csv` (server route).

use leptos::prelude::*;
pub use wire::audit::{AuditRow, AuditView};

use crate::error::AppError;

#[server(endpoint = "audit")]
pub async fn get_audit(action: String, actor: String) -> Result<AuditView, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let filter = engine::audit::AuditFilter {
            action: Some(action.clone()),
            actor: Some(actor.clone()),
        };
        let entries = state.store.audit_entries(&filter, AuditView::LIMIT).await?;
        let chain = state.store.verify_audit().await?;
        Ok(AuditView {
            entries: entries.into_iter().map(row).collect(),
            actions: state.store.audit_actions().await?,
            action: action.trim().to_owned(),
            actor: actor.trim().to_owned(),
            intact: chain.is_intact(),
            chain: chain.sentence(),
        })
    };
    respond(run.await)
}

#[cfg(feature = "ssr")]
fn row(e: engine::audit::AuditEntry) -> AuditRow {
    AuditRow {
        id: e.id,
        at: engine::audit::rfc3339(e.at),
        actor: e.actor,
        ip: e.ip.unwrap_or_default(),
        action: e.action,
        outcome: e.outcome,
        detail: e.detail.unwrap_or_default(),
        repeats: e.repeats,
    }
}
