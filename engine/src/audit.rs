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
    /// How many times it happened (repeats within a short time are one row).
    pub repeats: i64,
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

    /// Settles row `id` as a refusal; when the row before it for the same
    /// action, actor, address and detail is the same refusal within the
    /// last `window_secs`, that one counts it instead and `id` goes.
    pub(crate) async fn settle_repeated(
        &self,
        id: i64,
        outcome: Outcome,
        window_secs: i64,
    ) -> Result<(), EngineError> {
        let now = now_unix();
        let previous: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT p.id, p.outcome, p.at FROM audit_log AS p, audit_log AS n \
             WHERE n.id = ? AND p.id < n.id AND p.action = n.action \
               AND p.actor = n.actor AND p.ip IS n.ip AND p.detail IS n.detail \
             ORDER BY p.id DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match previous {
            Some((prev, o, at)) if o == outcome.as_str() && at >= now - window_secs => {
                let mut tx = self.pool().begin().await?;
                sqlx::query("UPDATE audit_log SET repeats = repeats + 1, at = ? WHERE id = ?")
                    .bind(now)
                    .bind(prev)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM audit_log WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
            _ => self.settle(id, outcome, None).await,
        }
    }

    /// Deletes entries older than `keep_days` days; how many went.
    pub async fn prune_audit(&self, keep_days: u32) -> Result<u64, EngineError> {
        let cutoff = now_unix() - i64::from(keep_days) * 24 * 3600;
        let done = sqlx::query("DELETE FROM audit_log WHERE at < ?")
            .bind(cutoff)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
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
            "SELECT at, actor, ip, action, outcome, detail, repeats FROM audit_log \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn old_entries_are_pruned_and_recent_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .record("admin", None, "login", Outcome::Success, None)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, outcome) VALUES (?, 'old', 'login', 'success')",
        )
        .bind(now_unix() - 40 * 24 * 3600)
        .execute(store.pool())
        .await
        .unwrap();
        assert_eq!(store.prune_audit(30).await.unwrap(), 1);
        let left = store.recent_audit(10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].actor, "admin");
        assert_eq!(store.prune_audit(30).await.unwrap(), 0);
    }
}
