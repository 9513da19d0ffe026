//! The audit log: who did what, from where, with what outcome.

use serde::Serialize;
use sqlx::FromRow;

use crate::{now_unix, EngineError, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Throttled,
    /// Written before the work is done (a password being checked); the row
    /// gets its real outcome after.
    Pending,
    /// Could not be carried out now (too many at once); not a failure.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Throttled => "throttled",
            Outcome::Pending => "pending",
            Outcome::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub ip: Option<String>,
    pub action: String,
    pub outcome: String,
    pub detail: Option<String>,
}

/// Longest actor name kept: a 1 MB "username" must not become a 1 MB row.
const ACTOR_MAX_CHARS: usize = 128;

impl Store {
    pub async fn record(
        &self,
        actor: &str,
        ip: Option<&str>,
        action: &str,
        outcome: Outcome,
        detail: Option<&str>,
    ) -> Result<(), EngineError> {
        let actor: String = actor.trim().chars().take(ACTOR_MAX_CHARS).collect();
        sqlx::query(
            "INSERT INTO audit_log (at, actor, ip, action, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(now_unix())
        .bind(actor)
        .bind(ip)
        .bind(action)
        .bind(outcome.as_str())
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// [`Store::record`] for work whose outcome comes later; the row's id
    /// for [`Store::settle`].
    pub(crate) async fn record_returning_id(
        &self,
        actor: &str,
        ip: Option<&str>,
        action: &str,
        outcome: Outcome,
        detail: Option<&str>,
    ) -> Result<i64, EngineError> {
        let actor: String = actor.trim().chars().take(ACTOR_MAX_CHARS).collect();
        let done = sqlx::query(
            "INSERT INTO audit_log (at, actor, ip, action, outcome, detail) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(now_unix())
        .bind(actor)
        .bind(ip)
        .bind(action)
        .bind(outcome.as_str())
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(done.last_insert_rowid())
    }

    /// Gives row `id` its outcome (and, when known, the actor's own
    /// spelling of their name).
    pub(crate) async fn settle(
        &self,
        id: i64,
        outcome: Outcome,
        actor: Option<&str>,
    ) -> Result<(), EngineError> {
        sqlx::query("UPDATE audit_log SET outcome = ?, actor = COALESCE(?, actor) WHERE id = ?")
            .bind(outcome.as_str())
            .bind(actor)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(sqlx::query_as(
            "SELECT at, actor, ip, action, outcome, detail FROM audit_log ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
