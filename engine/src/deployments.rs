//! Deployments as stored records: one row per apply or removal, and its
//! progress events in order. The UI replays them, so progress survives a
//! page reload or a second browser.

use serde::Serialize;

use crate::{now_unix, EngineError, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    Apply,
    Down,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Down => "down",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Running,
    Succeeded,
    Failed,
    /// Burrow stopped while it ran.
    Interrupted,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Interrupted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub id: i64,
    pub revision_id: Option<i64>,
    pub kind: String,
    pub actor: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: DeploymentStatus,
    pub summary: Option<String>,
}

/// One stored progress event (JSON as the target produced it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub at_ms: i64,
    pub event: serde_json::Value,
}

type Row = (
    i64,
    Option<i64>,
    String,
    String,
    i64,
    Option<i64>,
    String,
    Option<String>,
);

fn deployment(row: Row) -> Deployment {
    let (id, revision_id, kind, actor, started_at, finished_at, status, summary) = row;
    Deployment {
        id,
        revision_id,
        kind,
        actor,
        started_at,
        finished_at,
        status: DeploymentStatus::parse(&status),
        summary,
    }
}

const COLUMNS: &str =
    "id, revision_id, kind, actor, started_at, finished_at, status, summary FROM deployments";

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Store {
    /// Starts a deployment record, unless one is running already (then
    /// returns that one's id as the error's subject).
    pub async fn begin_deployment(
        &self,
        revision_id: Option<i64>,
        kind: DeploymentKind,
        actor: &str,
    ) -> Result<i64, BusyOr> {
        let mut tx = self.pool().begin().await.map_err(EngineError::from)?;
        let running: Option<i64> =
            sqlx::query_scalar("SELECT id FROM deployments WHERE status = 'running' LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(EngineError::from)?;
        if let Some(id) = running {
            return Err(BusyOr::Busy(id));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deployments (revision_id, kind, actor, started_at, status) \
             VALUES (?, ?, ?, ?, 'running') RETURNING id",
        )
        .bind(revision_id)
        .bind(kind.as_str())
        .bind(actor)
        .bind(now_unix())
        .fetch_one(&mut *tx)
        .await
        .map_err(EngineError::from)?;
        tx.commit().await.map_err(EngineError::from)?;
        Ok(id)
    }

    pub async fn append_event(
        &self,
        deployment_id: i64,
        event: &impl Serialize,
    ) -> Result<(), EngineError> {
        let json = serde_json::to_string(event).map_err(|e| EngineError::Config(e.to_string()))?;
        sqlx::query("INSERT INTO deployment_events (deployment_id, at_ms, event) VALUES (?, ?, ?)")
            .bind(deployment_id)
            .bind(now_ms())
            .bind(json)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn finish_deployment(
        &self,
        id: i64,
        status: DeploymentStatus,
        summary: &str,
    ) -> Result<(), EngineError> {
        sqlx::query("UPDATE deployments SET status = ?, summary = ?, finished_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(summary)
            .bind(now_unix())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Marks deployments left running by a previous process as interrupted.
    pub async fn interrupt_stale_deployments(&self) -> Result<u64, EngineError> {
        let done = sqlx::query(
            "UPDATE deployments SET status = 'interrupted', finished_at = ?, \
             summary = COALESCE(summary, 'Burrow stopped while this deployment ran') \
             WHERE status = 'running'",
        )
        .bind(now_unix())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn deployment(&self, id: i64) -> Result<Option<Deployment>, EngineError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(deployment))
    }

    pub async fn recent_deployments(&self, limit: i64) -> Result<Vec<Deployment>, EngineError> {
        let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} ORDER BY id DESC LIMIT ?"))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(deployment).collect())
    }

    /// The revision of the last successful apply.
    pub async fn deployed_revision(&self) -> Result<Option<i64>, EngineError> {
        Ok(sqlx::query_scalar(
            "SELECT revision_id FROM deployments WHERE kind = 'apply' AND status = 'succeeded' \
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// Events of a deployment after event id `after` (0: from the start).
    pub async fn events_since(
        &self,
        deployment_id: i64,
        after: i64,
    ) -> Result<Vec<StoredEvent>, EngineError> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT id, at_ms, event FROM deployment_events \
             WHERE deployment_id = ? AND id > ? ORDER BY id LIMIT 1000",
        )
        .bind(deployment_id)
        .bind(after)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, at_ms, event)| StoredEvent {
                id,
                at_ms,
                event: serde_json::from_str(&event).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }
}

/// Why a deployment could not begin.
#[derive(Debug, thiserror::Error)]
pub enum BusyOr {
    #[error("deployment {0} is still running; wait for it to finish")]
    Busy(i64),
    #[error(transparent)]
    Engine(#[from] EngineError),
}
