//! The I/O driver of [`super::rollout`]: a release applied to the running
//! stack as a journalled rollout. Each phase is written to the `rollouts`
//! table before its step is taken; every step is idempotent (images pulled
//! by digest, a backup, the release's images as a new revision, the stack
//! applied with the old containers parked, the whole stack watched for the
//! settle time, the parked containers removed; or put back and the previous
//! revision applied again). A rollout found unfinished at start-up is
//! resumed to its end before the console serves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::release::{Installed, Release};
use super::rollout::{after, next_step, resume, Phase, Step};
use crate::backup::Backups;
use crate::deploy::{ApplyOptions, Target};
use crate::deployer::Deployer;
use crate::revisions::Revision;
use crate::{now_unix, EngineError};

/// How a rollout is paced (tests shorten it).
#[derive(Debug, Clone)]
pub struct Pacing {
    /// Per service: how long it may take to turn healthy.
    pub health_timeout: Option<Duration>,
    /// The whole stack must stay green (running, healthy, no restarts)
    /// this long before the rollout commits.
    pub settle: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            health_timeout: Some(Duration::from_secs(120)),
            settle: Duration::from_secs(60),
        }
    }
}

/// One rollout as its journal holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollout {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub actor: String,
    pub release: Release,
    pub from_revision: i64,
    pub to_revision: Option<i64>,
    pub backup: Option<String>,
    pub phase: Phase,
}

/// Why a rollout could not start.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

type Row = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
);

const COLUMNS: &str = "id, started_at, finished_at, actor, release, from_revision, to_revision, \
                       backup, phase";

fn from_row(r: Row) -> Option<Rollout> {
    Some(Rollout {
        id: r.0,
        started_at: r.1,
        finished_at: r.2,
        actor: r.3,
        release: serde_json::from_str(&r.4).ok()?,
        from_revision: r.5,
        to_revision: r.6,
        backup: r.7,
        phase: serde_json::from_str(&r.8).ok()?,
    })
}

/// Every rollout, newest first (the last 100).
pub async fn history(store: &crate::Store) -> Result<Vec<Rollout>, EngineError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rollouts ORDER BY id DESC LIMIT 100"
    ))
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().filter_map(from_row).collect())
}

/// The release the last completed rollout installed.
pub async fn installed_release(store: &crate::Store) -> Result<Option<Installed>, EngineError> {
    let row: Option<String> =
        sqlx::query_scalar("SELECT release FROM rollouts WHERE phase = ? ORDER BY id DESC LIMIT 1")
            .bind(serde_json::to_string(&Phase::Completed).unwrap_or_default())
            .fetch_optional(store.pool())
            .await?;
    Ok(row
        .and_then(|json| serde_json::from_str::<Release>(&json).ok())
        .map(|r| Installed {
            channel: r.channel,
            sequence: r.sequence,
            version: r.version,
        }))
}

/// A step's name in fault points (`before-switch`, `after-finalize`).
fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Preflight => "preflight",
        Step::Backup => "backup",
        Step::Migrate => "migrate",
        Step::BeginRolling => "begin-rolling",
        Step::Switch(_) => "switch",
        Step::Settle => "settle",
        Step::Finalize => "finalize",
        Step::Restore(_) => "restore",
        Step::Done => "done",
    }
}

/// When release `sequence` of `channel` was last rolled back (a release
/// that failed to install is not announced again; Update now still tries).
pub async fn rolled_back_before(
    store: &crate::Store,
    channel: &str,
    sequence: u64,
) -> Result<Option<(i64, String)>, EngineError> {
    Ok(history(store)
        .await?
        .into_iter()
        .find_map(|r| match r.phase {
            Phase::RolledBack { why } | Phase::NeedsOperator { why }
                if r.release.channel == channel && r.release.sequence == sequence =>
            {
                Some((r.finished_at.unwrap_or(r.started_at), why))
            }
            _ => None,
        }))
}

/// What the operator reads of a rollout's phase: a word and a sentence.
pub fn describe(phase: &Phase) -> (&'static str, String) {
    match phase {
        Phase::Completed => (
            "completed",
            "Every service runs the new release.".to_owned(),
        ),
        Phase::Aborted { why } => ("aborted", format!("Nothing was changed: {why}.")),
        Phase::RolledBack { why } => (
            "rolled back",
            format!("The whole stack runs the previous release again: {why}."),
        ),
        Phase::NeedsOperator { why } => (
            "needs you",
            format!(
                "The update could not be rolled back by itself: {why}. Look at the Dashboard \
                 and the Logs; a backup was taken before the update."
            ),
        ),
        Phase::Verified | Phase::Preflight => (
            "running",
            "Pulling and checking the release's images.".to_owned(),
        ),
        Phase::BackedUp => (
            "running",
            "Backup taken; saving the new revision.".to_owned(),
        ),
        Phase::Migrated | Phase::Rolling { .. } => (
            "running",
            "Switching the services to the new release.".to_owned(),
        ),
        Phase::Finalizing => ("running", "Removing the old containers.".to_owned()),
        Phase::RollingBack { why, .. } => (
            "rolling back",
            format!("Putting the previous containers back: {why}."),
        ),
    }
}

/// Applies releases to the running stack.
pub struct Updater {
    deployer: Arc<Deployer>,
    backups: Backups,
    pacing: Pacing,
}

impl Updater {
    pub fn new(deployer: Arc<Deployer>, backups: Backups, pacing: Pacing) -> Self {
        Self {
            deployer,
            backups,
            pacing,
        }
    }

    /// Every rollout, newest first.
    pub async fn history(&self) -> Result<Vec<Rollout>, EngineError> {
        history(self.deployer.store()).await
    }

    /// The release the last completed rollout installed.
    pub async fn installed(&self) -> Result<Option<Installed>, EngineError> {
        installed_release(self.deployer.store()).await
    }

    /// Applies `release` (verified from the channel) to the running stack,
    /// and waits for the end: completed, aborted, rolled back, or needing
    /// the operator.
    pub async fn apply(&self, release: Release, actor: &str) -> Result<Rollout, UpdateError> {
        let id = self.start(release, actor).await?;
        self.run(id).await.map_err(UpdateError::from)
    }

    /// [`Updater::run`] on its own task (the console's "Update now").
    pub fn run_in_background(self: &Arc<Self>, id: i64) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.run(id).await {
                tracing::error!(rollout = id, error = %e, "the update could not be driven");
            }
        });
    }

    /// Drives rollout `id` (made by [`Updater::start`]) to its end.
    pub async fn run(&self, id: i64) -> Result<Rollout, EngineError> {
        self.drive(self.load(id).await?).await
    }

    /// Admits `release` (no other rollout running, not a downgrade, a
    /// stack deployed) and journals the new rollout; its id.
    pub async fn start(&self, release: Release, actor: &str) -> Result<i64, UpdateError> {
        self.refuse_while_running().await?;
        let installed = self.installed().await?;
        if let Some(why) = release.refusal(&release.channel, installed.as_ref()) {
            return Err(UpdateError::Refused(why));
        }
        self.journal_new(release, actor, "update started").await
    }

    /// Goes back to the release rollout `id` installed (an explicit choice:
    /// no downgrade refusal), as a rollout like any other, with its own
    /// backup when that release asks for one.
    pub async fn start_rollback(&self, id: i64, actor: &str) -> Result<i64, UpdateError> {
        self.refuse_while_running().await?;
        let target = self.load(id).await.map_err(|_| {
            UpdateError::Refused(format!("There is no update {id}: the history lists them."))
        })?;
        if target.phase != Phase::Completed {
            return Err(UpdateError::Refused(format!(
                "Update {id} did not complete: only a release that was installed can be gone \
                 back to."
            )));
        }
        let installed = self.installed().await?;
        if installed.as_ref().map(|i| i.sequence) == Some(target.release.sequence) {
            return Err(UpdateError::Refused(format!(
                "Release {} is the one installed now.",
                target.release.version
            )));
        }
        self.journal_new(
            target.release,
            actor,
            "rollback to an earlier release started",
        )
        .await
    }

    async fn refuse_while_running(&self) -> Result<(), UpdateError> {
        if let Some(running) = self
            .history()
            .await?
            .into_iter()
            .find(|r| !r.phase.is_terminal())
        {
            return Err(UpdateError::Refused(format!(
                "Update {} to {} is still running (started by {}): wait for it to end.",
                running.id, running.release.version, running.actor
            )));
        }
        Ok(())
    }

    /// A new rollout of `release` from the running revision, journalled.
    async fn journal_new(
        &self,
        release: Release,
        actor: &str,
        action: &str,
    ) -> Result<i64, UpdateError> {
        let store = self.deployer.store();
        let revision = store
            .running_revision(self.deployer.vault())
            .await?
            .ok_or_else(|| {
                UpdateError::Refused("Nothing is deployed yet: there is nothing to update.".into())
            })?;
        let release_json =
            serde_json::to_string(&release).map_err(|e| UpdateError::Refused(e.to_string()))?;
        let phase = serde_json::to_string(&Phase::Verified).unwrap_or_default();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rollouts (started_at, actor, release, from_revision, phase) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(now_unix())
        .bind(actor)
        .bind(&release_json)
        .bind(revision.meta.id)
        .bind(&phase)
        .fetch_one(store.pool())
        .await
        .map_err(EngineError::from)?;
        let _ = store
            .record(
                actor,
                None,
                action,
                crate::audit::Outcome::Success,
                Some(&format!(
                    "{} (sequence {})",
                    release.version, release.sequence
                )),
            )
            .await;
        Ok(id)
    }

    /// Resumes every rollout left unfinished (Burrow was stopped in the
    /// middle): each to its end.
    pub async fn resume_unfinished(&self) -> Result<Vec<Rollout>, EngineError> {
        let mut out = Vec::new();
        for r in self.history().await? {
            if !r.phase.is_terminal() {
                let mut r = r;
                r.phase = resume(&r.phase, 1);
                tracing::warn!(rollout = r.id, phase = ?r.phase, "resuming an interrupted update");
                out.push(self.drive(r).await?);
            }
        }
        Ok(out)
    }

    async fn load(&self, id: i64) -> Result<Rollout, EngineError> {
        let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM rollouts WHERE id = ?"))
            .bind(id)
            .fetch_one(self.deployer.store().pool())
            .await?;
        from_row(row).ok_or_else(|| EngineError::Config(format!("rollout {id} is unreadable")))
    }

    /// Writes the journal (before the step it announces).
    async fn journal(&self, r: &mut Rollout) -> Result<(), EngineError> {
        let phase = serde_json::to_string(&r.phase).unwrap_or_default();
        let finished = r.phase.is_terminal().then(now_unix);
        r.finished_at = finished;
        sqlx::query(
            "UPDATE rollouts SET phase = ?, to_revision = ?, backup = ?, finished_at = ? \
             WHERE id = ?",
        )
        .bind(phase)
        .bind(r.to_revision)
        .bind(&r.backup)
        .bind(finished)
        .bind(r.id)
        .execute(self.deployer.store().pool())
        .await?;
        Ok(())
    }

    async fn drive(&self, mut r: Rollout) -> Result<Rollout, EngineError> {
        loop {
            self.journal(&mut r).await?;
            if r.phase.is_terminal() {
                break;
            }
            let step = next_step(&r.phase, 1);
            super::faults::point(&format!("before-{}", step_name(&step)));
            let outcome = self.take(&mut r, &step).await;
            super::faults::point(&format!("after-{}", step_name(&step)));
            if let Err(why) = &outcome {
                tracing::warn!(rollout = r.id, ?step, %why, "update step failed");
            }
            let next = after(&r.phase, &step, outcome, 1);
            if next == r.phase && step == Step::Done {
                break;
            }
            r.phase = next;
        }
        let (action, outcome, detail) = match &r.phase {
            Phase::Completed => (
                "update completed",
                crate::audit::Outcome::Success,
                r.release.version.clone(),
            ),
            Phase::Aborted { why } => (
                "update aborted",
                crate::audit::Outcome::Failure,
                why.clone(),
            ),
            Phase::RolledBack { why } => (
                "update rolled back",
                crate::audit::Outcome::Failure,
                why.clone(),
            ),
            Phase::NeedsOperator { why } => (
                "update needs the operator",
                crate::audit::Outcome::Failure,
                why.clone(),
            ),
            _ => (
                "update stopped",
                crate::audit::Outcome::Failure,
                String::new(),
            ),
        };
        let _ = self
            .deployer
            .store()
            .record(&r.actor, None, action, outcome, Some(&detail))
            .await;
        Ok(r)
    }

    fn rollout_id(r: &Rollout) -> String {
        format!("u{}", r.id)
    }

    async fn revision(&self, id: i64) -> Result<Revision, String> {
        self.deployer
            .store()
            .revision(self.deployer.vault(), id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("revision {id} is gone"))
    }

    /// Takes one step; `Err` is the sentence of why it failed.
    async fn take(&self, r: &mut Rollout, step: &Step) -> Result<(), String> {
        let from = self.revision(r.from_revision).await?;
        let docker = self
            .deployer
            .targets()
            .docker_for(&from.target)
            .await
            .map_err(|e| e.to_string())?;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        match step {
            Step::Preflight => {
                if let Some(m) = r.release.migrations.iter().find(|m| !m.ops.is_empty()) {
                    return Err(format!(
                        "the release's config migration {} ({}) is not one this Burrow can apply",
                        m.id, m.description
                    ));
                }
                let images: Vec<String> = r.release.images.values().cloned().collect();
                docker
                    .ensure_pinned(&images, &tx)
                    .await
                    .map_err(|e| e.to_string())
            }
            Step::Backup => {
                if !r.release.requires_backup || r.backup.is_some() {
                    return Ok(());
                }
                let taken = self
                    .backups
                    .create(&self.deployer, &r.actor)
                    .await
                    .map_err(|e| format!("the backup failed: {e}"))?;
                r.backup = Some(taken.id);
                Ok(())
            }
            Step::Migrate => {
                if r.to_revision.is_some() {
                    return Ok(());
                }
                let mut config = from.config.clone();
                for (service, image) in &r.release.images {
                    let service = stack::model::Service::from_name(service)
                        .ok_or_else(|| format!("{service} is no service of the stack"))?;
                    let image = stack::model::ImageRef::parse(image).map_err(|e| e.0)?;
                    config.images.set(service, image);
                }
                let (meta, _) = self
                    .deployer
                    .store()
                    .save_revision(
                        self.deployer.vault(),
                        &config,
                        &from.target,
                        &r.actor,
                        Some(&format!("update to {}", r.release.version)),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                r.to_revision = Some(meta.id);
                Ok(())
            }
            Step::BeginRolling | Step::Done => Ok(()),
            Step::Switch(_) => {
                let to = self
                    .revision(r.to_revision.ok_or("the update has no new revision")?)
                    .await?;
                let opts = ApplyOptions {
                    health_timeout: self.pacing.health_timeout,
                    prune_volumes: false,
                    park: Some(Self::rollout_id(r)),
                };
                // Through the deployer: a deployment like any other, so the
                // console watches the new revision once it runs.
                self.deploy(to, &r.actor, &opts).await
            }
            Step::Settle => {
                self.settle(docker.as_ref(), from.config.name.as_str())
                    .await
            }
            Step::Finalize => docker
                .drop_parked(from.config.name.as_str(), &Self::rollout_id(r))
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Step::Restore(_) => {
                let stack = from.config.name.as_str();
                docker
                    .unpark(stack, &Self::rollout_id(r))
                    .await
                    .map_err(|e| e.to_string())?;
                // The previous revision again: services the release added go,
                // every old service is waited for, and it is the one that
                // runs (for the console) again.
                let opts = ApplyOptions {
                    health_timeout: self.pacing.health_timeout,
                    ..ApplyOptions::default()
                };
                self.deploy(from, &r.actor, &opts).await
            }
        }
    }

    /// Applies `revision` through the deployer (recorded, and the revision
    /// watched once it runs); waits for the outcome.
    async fn deploy(
        &self,
        revision: Revision,
        actor: &str,
        opts: &ApplyOptions,
    ) -> Result<(), String> {
        let outcome = self
            .deployer
            .apply(revision, actor, opts, None)
            .await
            .map_err(|e| e.to_string())?;
        outcome.result.map(drop).map_err(|e| e.to_string())
    }

    /// The whole stack green for the settle time: every long-running service
    /// running and not unhealthy, no restart counted meanwhile.
    async fn settle(&self, target: &dyn Target, stack: &str) -> Result<(), String> {
        let begun = Instant::now();
        let first = target.status(stack).await.map_err(|e| e.to_string())?;
        loop {
            let now = target.status(stack).await.map_err(|e| e.to_string())?;
            for s in &now {
                if s.one_shot {
                    continue;
                }
                if s.is_trouble() {
                    return Err(format!("{} is {} after the update", s.service, s.state));
                }
                let before = first
                    .iter()
                    .find(|f| f.service == s.service)
                    .map_or(0, |f| f.restart_count);
                if s.restart_count > before {
                    return Err(format!(
                        "{} restarted {} time(s) after the update",
                        s.service,
                        s.restart_count - before
                    ));
                }
            }
            if begun.elapsed() >= self.pacing.settle {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500).min(self.pacing.settle)).await;
        }
    }
}
