//! Deployments as stored records: one row per apply or removal, and its
//! progress events in order. The UI replays them, so progress survives a
//! page reload or a second browser.

use serde::{Deserialize, Serialize};
use wire::ProgressEvent;

use crate::{now_unix, EngineError, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    Apply,
    Down,
    /// A backup taken, or one restored (then an apply follows).
    Backup,
    Restore,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Down => "down",
            Self::Backup => "backup",
            Self::Restore => "restore",
        }
    }
}

/// Where a deployment stands (a `wire` type: the Deploy page reads it).
pub use wire::DeploymentStatus;

/// The stored `status` column; anything unknown reads as interrupted.
fn status_of(s: &str) -> DeploymentStatus {
    match s {
        "running" => DeploymentStatus::Running,
        "succeeded" => DeploymentStatus::Succeeded,
        "failed" => DeploymentStatus::Failed,
        _ => DeploymentStatus::Interrupted,
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

impl Deployment {
    /// How it ended, as the progress stream's last message says it.
    pub fn done(&self) -> wire::DeploymentDone {
        wire::DeploymentDone {
            status: self.status,
            summary: self.summary.clone(),
        }
    }
}

/// One stored progress event (JSON as the target produced it; the journal
/// keeps whatever it was given).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub at_ms: i64,
    pub event: serde_json::Value,
}

impl StoredEvent {
    /// The event as a [`ProgressEvent`]: every shape a version of Burrow
    /// stored reads (fields added later have defaults). `None` for a row no
    /// version wrote (it is logged, and a page leaves it out rather than
    /// fail on stored data).
    pub fn progress(&self) -> Option<ProgressEvent> {
        match ProgressEvent::deserialize(&self.event) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(event_id = self.id, error = %e, "a stored progress event does not read");
                None
            }
        }
    }
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
        status: status_of(&status),
        summary,
    }
}

const COLUMNS: &str =
    "id, revision_id, kind, actor, started_at, finished_at, status, summary FROM deployments";

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Who runs a deployment or an update: a process on a host in one boot of
/// it, alive while its heartbeat is fresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub pid: u32,
    pub host: String,
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`): a pid
    /// recorded before a reboot names nobody after it. Empty when unknown
    /// (rows from before boot ids were kept).
    pub boot: String,
}

impl Owner {
    /// This process.
    pub fn me() -> Self {
        Self {
            pid: std::process::id(),
            host: hostname(),
            boot: boot_id(),
        }
    }

    /// "pid 4711 on box".
    pub fn describe(&self) -> String {
        format!("pid {} on {}", self.pid, self.host)
    }
}

/// id, owner pid, owner host, owner boot, heartbeat.
type LeaseRow = (
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

pub(crate) fn owner_of(
    pid: Option<i64>,
    host: Option<String>,
    boot: Option<String>,
) -> Option<Owner> {
    Some(Owner {
        pid: u32::try_from(pid?).ok()?,
        host: host?,
        boot: boot.unwrap_or_default(),
    })
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_owned())
        .unwrap_or_default()
}

/// A heartbeat older than this means the owner is gone, whatever the host.
pub const LEASE: i64 = 60;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

pub(crate) fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether the owner of a running deployment is gone. On this host the
/// process table decides (another live pid keeps it, however old its
/// heartbeat; `me`'s own pid at start-up is a reused one; a pid from an
/// earlier boot is nobody); elsewhere the heartbeat does. Rows from before
/// owners were kept have none: gone.
pub fn owner_gone(
    owner: Option<&Owner>,
    heartbeat_at: Option<i64>,
    me: &Owner,
    now: i64,
    starting_up: bool,
    alive: impl Fn(u32) -> bool,
) -> bool {
    let Some(owner) = owner else { return true };
    if owner.host == me.host {
        if !owner.boot.is_empty() && !me.boot.is_empty() && owner.boot != me.boot {
            return true;
        }
        if owner.pid == me.pid {
            return starting_up;
        }
        return !alive(owner.pid);
    }
    heartbeat_at.is_none_or(|at| now - at > LEASE)
}

impl Store {
    /// Marks running deployments whose owner is gone as interrupted.
    async fn interrupt_orphans(&self, starting_up: bool) -> Result<u64, EngineError> {
        let rows: Vec<LeaseRow> = sqlx::query_as(
            "SELECT id, owner_pid, owner_host, owner_boot, heartbeat_at FROM deployments \
             WHERE status = 'running'",
        )
        .fetch_all(self.pool())
        .await?;
        let me = Owner::me();
        let now = now_unix();
        let mut done = 0;
        for (id, pid, host, boot, beat) in rows {
            let owner = owner_of(pid, host, boot);
            if owner_gone(owner.as_ref(), beat, &me, now, starting_up, process_alive) {
                let summary = match &owner {
                    Some(o) => format!(
                        "Interrupted: the Burrow process that ran it ({}) is gone",
                        o.describe()
                    ),
                    None => "Burrow stopped while this deployment ran".to_owned(),
                };
                done += sqlx::query(
                    "UPDATE deployments SET status = 'interrupted', finished_at = ?, \
                     summary = COALESCE(summary, ?) WHERE id = ? AND status = 'running'",
                )
                .bind(now)
                .bind(summary)
                .bind(id)
                .execute(self.pool())
                .await?
                .rows_affected();
            }
        }
        Ok(done)
    }

    /// Renews the lease of a running deployment.
    pub async fn heartbeat(&self, id: i64) -> Result<(), EngineError> {
        sqlx::query("UPDATE deployments SET heartbeat_at = ? WHERE id = ? AND status = 'running'")
            .bind(now_unix())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The owner of deployment `id`, if it has one.
    pub async fn deployment_owner(&self, id: i64) -> Result<Option<Owner>, EngineError> {
        let row: Option<(Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT owner_pid, owner_host, owner_boot FROM deployments WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|(pid, host, boot)| owner_of(pid, host, boot)))
    }

    /// Starts a deployment record owned by this process, unless one is
    /// running already (then returns that one's id as the error's subject).
    /// A running one whose owner is gone (a killed `burrow apply`) is marked
    /// interrupted first and does not block.
    pub async fn begin_deployment(
        &self,
        revision_id: Option<i64>,
        kind: DeploymentKind,
        actor: &str,
    ) -> Result<i64, BusyOr> {
        let me = Owner::me();
        self.interrupt_orphans(false).await?;
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
            "INSERT INTO deployments (revision_id, kind, actor, started_at, status, \
             owner_pid, owner_host, owner_boot, heartbeat_at) \
             VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?) RETURNING id",
        )
        .bind(revision_id)
        .bind(kind.as_str())
        .bind(actor)
        .bind(now_unix())
        .bind(i64::from(me.pid))
        .bind(&me.host)
        .bind(&me.boot)
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

    /// At start-up: marks deployments whose owner is gone as interrupted;
    /// a live `burrow apply` elsewhere keeps its run.
    pub async fn interrupt_stale_deployments(&self) -> Result<u64, EngineError> {
        self.interrupt_orphans(true).await
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

    /// The progress events of a deployment after event id `after`, typed,
    /// with their ids (rows that do not read are left out; see
    /// [`StoredEvent::progress`]).
    pub async fn progress_since(
        &self,
        deployment_id: i64,
        after: i64,
    ) -> Result<Vec<(i64, ProgressEvent)>, EngineError> {
        Ok(self
            .events_since(deployment_id, after)
            .await?
            .into_iter()
            .filter_map(|e| Some((e.id, e.progress()?)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(pid: u32, host: &str) -> Owner {
        Owner {
            pid,
            host: host.to_owned(),
            boot: "b1".to_owned(),
        }
    }

    #[test]
    fn a_run_is_orphaned_only_when_its_owner_is_gone() {
        let me = owner(100, "box");
        let now = 1_000;
        let gone = |pid: u32, host: &str, beat: Option<i64>, starting_up: bool| {
            owner_gone(Some(&owner(pid, host)), beat, &me, now, starting_up, |p| {
                p == 200
            })
        };
        // Same host: the process table decides, not the heartbeat.
        assert!(!gone(200, "box", Some(0), true));
        assert!(gone(300, "box", Some(now), true));
        // Our own pid: a run of ours while serving; a reused pid at start-up.
        assert!(!gone(100, "box", Some(now), false));
        assert!(gone(100, "box", Some(now), true));
        // Another host: the lease decides.
        assert!(!gone(5, "other", Some(now - LEASE), true));
        assert!(gone(5, "other", Some(now - LEASE - 1), true));
        assert!(gone(5, "other", None, true));
        // Rows from before owners were recorded.
        assert!(owner_gone(None, None, &me, now, false, |_| true));
        // A live pid recorded in an earlier boot of this host is another
        // process now; a row without a boot id falls back to the pid.
        let earlier = Owner {
            boot: "b0".to_owned(),
            ..owner(200, "box")
        };
        assert!(owner_gone(
            Some(&earlier),
            Some(now),
            &me,
            now,
            false,
            |_| true
        ));
        let unknown = Owner {
            boot: String::new(),
            ..owner(200, "box")
        };
        assert!(!owner_gone(
            Some(&unknown),
            Some(now),
            &me,
            now,
            false,
            |p| p == 200
        ));
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
