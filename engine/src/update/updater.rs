//! The I/O driver of [`super::rollout`]: a release applied to the running
//! stack as a journalled rollout. Each phase is written to the `rollouts`
//! table before its step is taken; every step is idempotent (images pulled
//! by digest, a backup, the release's images as a new revision, the stack
//! applied with the old containers parked, the whole stack watched for the
//! settle time, the parked containers removed; or put back and the previous
//! revision applied again). A rollout found unfinished at start-up is
//! resumed to its end before the console serves.
//!
//! One rollout at a time: the journal row of a running rollout records its
//! owner (process id, host, boot id) and a heartbeat, so a second click is
//! told who runs it, and a rollout whose owner died is taken over (and
//! finished) instead of blocking updates for ever. Each step taken is kept
//! with its duration and outcome (the Updates page's step log).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::release::{Installed, Release};
use super::rollout::{after, next_step, resume, Phase, Shape, Step};
use super::settle::{Next, Settle};
use crate::backup::Backups;
use crate::deploy::{ApplyOptions, Target};
use crate::deployer::Deployer;
use crate::deployments::{owner_gone, owner_of, process_alive, Owner};
use crate::revisions::Revision;
use crate::{now_unix, EngineError};

/// How a rollout is paced (tests shorten it).
#[derive(Debug, Clone)]
pub struct Pacing {
    /// Per service: how long it may take to turn healthy (a release's
    /// `health.<service>.deadline_s` overrides it).
    pub health_timeout: Option<Duration>,
    /// The whole stack must stay green (running, healthy, no restarts, the
    /// chat server answering through Caddy) this long before the rollout
    /// commits.
    pub settle: Duration,
    /// A service's restart count must not move this long after the switch
    /// (a release's `health.<service>.min_healthy_s` overrides it); the
    /// settle lasts at least as long as the longest.
    pub min_healthy: Duration,
    /// The whole update, from the preflight to the end of the settle: past
    /// it, the update is rolled back.
    pub total: Duration,
    /// The images of this many releases installed last stay on the daemon
    /// (for "Roll back to this version" without a pull); older releases'
    /// and failed releases' images are dropped once an update completes.
    pub keep_releases: usize,
    /// How long a service switched without downtime keeps its old
    /// container serving (`None`: `BURROW_DRAIN_S`, else 30 s).
    pub drain: Option<Duration>,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            health_timeout: Some(Duration::from_secs(120)),
            settle: Duration::from_secs(60),
            min_healthy: Duration::from_secs(10),
            total: Duration::from_secs(15 * 60),
            keep_releases: KEEP_RELEASES,
            drain: None,
        }
    }
}

/// How many installed releases keep their images by default.
pub const KEEP_RELEASES: usize = 3;

/// How often the driver of a rollout renews its heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// One step a rollout took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    /// `preflight`, `backup`, `switch`, `settle`, `restore`, ...
    pub step: String,
    /// Unix milliseconds.
    pub started_ms: i64,
    pub took_ms: i64,
    /// Why it failed; `None`: done.
    pub error: Option<String>,
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
    /// The process driving it (or that drove it last).
    pub owner: Option<Owner>,
    /// Unix seconds: the owner's last sign of life.
    pub heartbeat_at: Option<i64>,
    /// Every step taken, in order.
    pub steps: Vec<StepRecord>,
    /// What the running step is doing now (the image being pulled).
    pub progress: Option<String>,
}

/// Why a rollout could not start.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Refused(String),
    /// Rollout `id` was left unfinished by a process that is gone; it must
    /// be finished ([`Updater::resume_unfinished`]) before another starts.
    #[error(
        "Update {id} to {version} was interrupted ({why}): Burrow finishes it now (a rollback to \
         what ran before); start again once it has ended."
    )]
    Interrupted {
        id: i64,
        version: String,
        why: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    started_at: i64,
    finished_at: Option<i64>,
    actor: String,
    release: String,
    from_revision: i64,
    to_revision: Option<i64>,
    backup: Option<String>,
    phase: String,
    owner_pid: Option<i64>,
    owner_host: Option<String>,
    owner_boot: Option<String>,
    heartbeat_at: Option<i64>,
    progress: Option<String>,
}

const COLUMNS: &str = "id, started_at, finished_at, actor, release, from_revision, to_revision, \
                       backup, phase, owner_pid, owner_host, owner_boot, heartbeat_at, progress";

fn from_row(r: Row) -> Option<Rollout> {
    Some(Rollout {
        id: r.id,
        started_at: r.started_at,
        finished_at: r.finished_at,
        actor: r.actor,
        release: serde_json::from_str(&r.release).ok()?,
        from_revision: r.from_revision,
        to_revision: r.to_revision,
        backup: r.backup,
        phase: serde_json::from_str(&r.phase).ok()?,
        owner: owner_of(r.owner_pid, r.owner_host, r.owner_boot),
        heartbeat_at: r.heartbeat_at,
        steps: Vec::new(),
        progress: r.progress,
    })
}

/// The last 100 rollouts, newest first, without their steps (what the
/// lock and the header's checks need).
async fn journal_rows(store: &crate::Store) -> Result<Vec<Rollout>, EngineError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rollouts ORDER BY id DESC LIMIT 100"
    ))
    .fetch_all(store.pool())
    .await?;
    Ok(rows.into_iter().filter_map(from_row).collect())
}

/// Every rollout, newest first (the last 100), each with its steps.
pub async fn history(store: &crate::Store) -> Result<Vec<Rollout>, EngineError> {
    let mut rollouts = journal_rows(store).await?;
    let oldest = rollouts.last().map_or(0, |r| r.id);
    with_steps(store, &mut rollouts, oldest, i64::MAX).await?;
    Ok(rollouts)
}

/// Rollout `id` with its steps, if there is one (what a page following it
/// reads).
pub async fn one(store: &crate::Store, id: i64) -> Result<Option<Rollout>, EngineError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM rollouts WHERE id = ?"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    let mut rollouts: Vec<Rollout> = row.and_then(from_row).into_iter().collect();
    with_steps(store, &mut rollouts, id, id).await?;
    Ok(rollouts.pop())
}

/// Adds to `rollouts` the steps of those with ids in `from..=to`.
async fn with_steps(
    store: &crate::Store,
    rollouts: &mut [Rollout],
    from: i64,
    to: i64,
) -> Result<(), EngineError> {
    let steps: Vec<(i64, String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT rollout_id, step, started_ms, took_ms, error FROM rollout_steps \
         WHERE rollout_id >= ? AND rollout_id <= ? ORDER BY id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    for (rollout, step, started_ms, took_ms, error) in steps {
        if let Some(r) = rollouts.iter_mut().find(|r| r.id == rollout) {
            r.steps.push(StepRecord {
                step,
                started_ms,
                took_ms,
                error,
            });
        }
    }
    Ok(())
}

/// The image references to drop once a rollout commits, from `rollouts`
/// (newest first, the committing one in Finalizing): every one a release
/// in the journal pinned, except those of the `keep` releases installed
/// last (distinct, newest first; a release gone back to counts again) and
/// those `in_use` (what the running revisions name).
pub fn images_to_forget(
    rollouts: &[Rollout],
    keep: usize,
    in_use: &BTreeSet<String>,
) -> Vec<String> {
    let mut kept_releases: Vec<(&str, u64)> = Vec::new();
    for r in rollouts {
        let installed = matches!(r.phase, Phase::Completed | Phase::Finalizing);
        let key = (r.release.channel.as_str(), r.release.sequence);
        if installed && kept_releases.len() < keep && !kept_releases.contains(&key) {
            kept_releases.push(key);
        }
    }
    let kept: BTreeSet<&String> = rollouts
        .iter()
        .filter(|r| kept_releases.contains(&(r.release.channel.as_str(), r.release.sequence)))
        .flat_map(|r| r.release.images.values())
        .chain(in_use.iter())
        .collect();
    let old: BTreeSet<&String> = rollouts
        .iter()
        .flat_map(|r| r.release.images.values())
        .filter(|i| !kept.contains(i))
        .collect();
    old.into_iter().cloned().collect()
}

/// Whether the owner of unfinished rollout `r` is gone (`starting_up`: this
/// process has just started, so a row naming its pid is a reused one).
fn orphaned(r: &Rollout, starting_up: bool) -> bool {
    owner_gone(
        r.owner.as_ref(),
        r.heartbeat_at,
        &Owner::me(),
        now_unix(),
        starting_up,
        process_alive,
    )
}

/// Who drives unfinished rollout `r`, for the operator: "pid 42 on box,
/// heard from 3 s ago".
fn driver(r: &Rollout) -> String {
    match (&r.owner, r.heartbeat_at) {
        (Some(o), Some(at)) => format!(
            "Burrow {}, heard from {} s ago",
            o.describe(),
            (now_unix() - at).max(0)
        ),
        (Some(o), None) => format!("Burrow {}", o.describe()),
        (None, _) => "an earlier Burrow".to_owned(),
    }
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

/// How long the stack must stay green after the switch: the settle time,
/// and at least every service's `min_healthy` (the release's overrides
/// included).
fn hold(pacing: &Pacing, release: &Release) -> Duration {
    release
        .health
        .values()
        .filter_map(|h| h.min_healthy_s.map(Duration::from_secs))
        .chain([pacing.min_healthy, pacing.settle])
        .max()
        .unwrap_or(pacing.settle)
}

/// "Pulling registry.example/api: 2 of 5 layers, 12.3 of 40.1 MB (3 of 16
/// images pulled so far)": one line of a rollout's progress.
pub fn pull_line(
    image: &str,
    tally: Option<&wire::PullTally>,
    pulled: usize,
    images: usize,
) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let so_far = format!("{pulled} of {images} images pulled so far");
    match tally {
        Some(t) if t.layers > 0 => format!("Pulling {name}: {t} ({so_far})"),
        _ => format!("Pulling {name} ({so_far})"),
    }
}

/// Aborts its task when dropped (the heartbeat ends with the driving).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
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
        Step::RestoreData => "restore-data",
        Step::Done => "done",
    }
}

/// What the state machine knows of `r` besides its phase: the Docker
/// driver switches the whole stack in one step; a release that migrates
/// the stored data has its backup restored when it is rolled back.
fn shape(r: &Rollout) -> Shape {
    Shape {
        services: 1,
        restores_data: super::migrate::changes_data(&r.release.migrations) && r.backup.is_some(),
    }
}

/// What a step (by its name in the step log) did, for the operator, on a
/// Docker daemon or (`cluster`) on a Kubernetes cluster, which pulls the
/// images itself and parks nothing.
pub fn step_title(step: &str, cluster: bool) -> &str {
    match (step, cluster) {
        ("preflight", false) => "Pulled and checked every image",
        ("preflight", true) => "Checked the release (the cluster pulls the images)",
        ("backup", _) => "Backup",
        ("migrate", _) => "Saved the release as a new revision",
        ("begin-rolling", false) => "Began switching",
        ("begin-rolling", true) => "Began rolling out",
        ("switch", false) => "Switched the services (old containers parked)",
        ("switch", true) => "Rolled out the new objects",
        ("settle", _) => "Watched the whole stack settle",
        ("finalize", false) => "Removed the parked containers",
        ("finalize", true) => "Recorded the release as installed",
        ("restore", false) => "Put the previous containers back",
        ("restore", true) => "Applied the previous objects again",
        ("restore-data", _) => "Restored the data from the backup taken before",
        (other, _) => other,
    }
}

/// When release `sequence` of `channel` was last rolled back (a release
/// that failed to install is not announced again; Update now still tries).
pub async fn rolled_back_before(
    store: &crate::Store,
    channel: &str,
    sequence: u64,
) -> Result<Option<(i64, String)>, EngineError> {
    Ok(journal_rows(store)
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

/// When the last update that ended could not be rolled back: the banner
/// every page shows, with what to do (gone once a later update ends).
/// Asked on every page load (the header), so it reads one row.
pub async fn needs_operator(store: &crate::Store) -> Result<Option<String>, EngineError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rollouts WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
    ))
    .fetch_optional(store.pool())
    .await?;
    Ok(row.and_then(from_row).and_then(|r| match &r.phase {
        Phase::NeedsOperator { .. } => Some(format!(
            "Update {} to {} needs you. {}{}",
            r.id,
            r.release.version,
            describe(&r.phase).1,
            r.backup
                .as_ref()
                .map(|b| format!(" Backup {b} is on the Backups page."))
                .unwrap_or_default()
        )),
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

/// Why a release that asks for a backup first is not installed on a
/// cluster (Burrow backs up Docker volumes only).
pub const KUBE_BACKUP: &str = "this release asks for a backup before it is installed, and Burrow \
     takes backups of Docker volumes only: snapshot the cluster's volumes, then deploy the \
     release's images as a new revision from the Deploy page";

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

    /// The deployer it updates through.
    pub fn deployer(&self) -> &Arc<Deployer> {
        &self.deployer
    }

    /// The backups it takes (and the Backups page lists).
    pub fn backups(&self) -> &Backups {
        &self.backups
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
        // Images can go back; data a later release migrated cannot.
        let migrated_since = journal_rows(self.deployer.store())
            .await?
            .into_iter()
            .filter(|r| r.id > target.id && r.phase == Phase::Completed)
            .find(|r| super::migrate::changes_data(&r.release.migrations));
        if let Some(later) = migrated_since {
            let backup = later.backup.as_deref().unwrap_or("taken before it");
            return Err(UpdateError::Refused(format!(
                "Release {} (update {}) migrated the stored data, which has no way back: going \
                 back to {} means restoring backup {backup}, from before that update, on the \
                 Backups page (`burrow backup restore {backup}`); what was written since is lost.",
                later.release.version, later.id, target.release.version
            )));
        }
        self.journal_new(
            target.release,
            actor,
            "rollback to an earlier release started",
        )
        .await
    }

    /// The rollout that has not ended, if one has not (at most one does).
    pub async fn unfinished(&self) -> Result<Option<Rollout>, EngineError> {
        Ok(journal_rows(self.deployer.store())
            .await?
            .into_iter()
            .find(|r| !r.phase.is_terminal()))
    }

    /// Refuses while another rollout is unfinished: a live one is named
    /// with who runs it; one whose owner is gone must be finished first.
    async fn refuse_while_running(&self) -> Result<(), UpdateError> {
        if let Some(r) = self.unfinished().await? {
            if orphaned(&r, false) {
                return Err(UpdateError::Interrupted {
                    id: r.id,
                    version: r.release.version.clone(),
                    why: format!("{} is gone", driver(&r)),
                });
            }
            return Err(UpdateError::Refused(format!(
                "Update {} to {} is running (started by {}; driven by {}): wait for it to end.",
                r.id,
                r.release.version,
                r.actor,
                driver(&r)
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
        let me = Owner::me();
        // The lock: checked and taken in one write transaction, so two
        // clicks (or the console and the CLI) cannot both start one.
        let mut conn = store.pool().acquire().await.map_err(EngineError::from)?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(EngineError::from)?;
        let inserted = async {
            let running: Option<i64> =
                sqlx::query_scalar("SELECT id FROM rollouts WHERE finished_at IS NULL LIMIT 1")
                    .fetch_optional(&mut *conn)
                    .await?;
            if let Some(id) = running {
                return Ok(Err(id));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO rollouts (started_at, actor, release, from_revision, phase, \
                 owner_pid, owner_host, owner_boot, heartbeat_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(now_unix())
            .bind(actor)
            .bind(&release_json)
            .bind(revision.meta.id)
            .bind(&phase)
            .bind(i64::from(me.pid))
            .bind(&me.host)
            .bind(&me.boot)
            .bind(now_unix())
            .fetch_one(&mut *conn)
            .await?;
            Ok::<_, sqlx::Error>(Ok(id))
        }
        .await;
        let end = if matches!(inserted, Ok(Ok(_))) {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        sqlx::query(end)
            .execute(&mut *conn)
            .await
            .map_err(EngineError::from)?;
        let id = match inserted.map_err(EngineError::from)? {
            Ok(id) => id,
            Err(running) => {
                return Err(UpdateError::Refused(format!(
                    "Update {running} started a moment ago: wait for it to end."
                )))
            }
        };
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

    /// Finishes every rollout left unfinished by a process that is gone
    /// (Burrow was stopped or killed in the middle; at start-up, or before
    /// the CLI updates): each is taken over and driven to its end. A
    /// rollout another live process drives is left to it.
    pub async fn resume_unfinished(&self) -> Result<Vec<Rollout>, EngineError> {
        self.resume_orphans(true).await
    }

    /// [`Updater::resume_unfinished`] for a console that is serving (after
    /// [`UpdateError::Interrupted`]), on its own task.
    pub fn resume_in_background(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            match this.resume_orphans(false).await {
                Ok(done) => {
                    for r in done {
                        tracing::warn!(rollout = r.id, phase = ?r.phase, "interrupted update finished");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "an interrupted update could not be finished")
                }
            }
        });
    }

    async fn resume_orphans(&self, starting_up: bool) -> Result<Vec<Rollout>, EngineError> {
        let mut out = Vec::new();
        for r in journal_rows(self.deployer.store()).await? {
            if r.phase.is_terminal() || !orphaned(&r, starting_up) {
                continue;
            }
            if !self.claim(&r).await? {
                continue;
            }
            let mut r = self.load(r.id).await?;
            r.phase = resume(&r.phase, shape(&r));
            tracing::warn!(rollout = r.id, phase = ?r.phase, "resuming an interrupted update");
            out.push(self.drive(r).await?);
        }
        Ok(out)
    }

    /// Takes rollout `r` over from its gone owner; false when another
    /// process did first.
    async fn claim(&self, r: &Rollout) -> Result<bool, EngineError> {
        let me = Owner::me();
        let before = r.owner.as_ref();
        let done = sqlx::query(
            "UPDATE rollouts SET owner_pid = ?, owner_host = ?, owner_boot = ?, heartbeat_at = ? \
             WHERE id = ? AND finished_at IS NULL AND owner_pid IS ? AND owner_host IS ? \
             AND heartbeat_at IS ?",
        )
        .bind(i64::from(me.pid))
        .bind(&me.host)
        .bind(&me.boot)
        .bind(now_unix())
        .bind(r.id)
        .bind(before.map(|o| i64::from(o.pid)))
        .bind(before.map(|o| o.host.clone()))
        .bind(r.heartbeat_at)
        .execute(self.deployer.store().pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn load(&self, id: i64) -> Result<Rollout, EngineError> {
        let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM rollouts WHERE id = ?"))
            .bind(id)
            .fetch_one(self.deployer.store().pool())
            .await?;
        from_row(row).ok_or_else(|| EngineError::Config(format!("rollout {id} is unreadable")))
    }

    /// Writes the journal (before the step it announces), durably: with
    /// `synchronous=FULL` for this write, so a power cut cannot lose it.
    async fn journal(&self, r: &mut Rollout) -> Result<(), EngineError> {
        let phase = serde_json::to_string(&r.phase).unwrap_or_default();
        let finished = r.phase.is_terminal().then(now_unix);
        r.finished_at = finished;
        let mut conn = self.deployer.store().pool().acquire().await?;
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await?;
        let written = sqlx::query(
            "UPDATE rollouts SET phase = ?, to_revision = ?, backup = ?, finished_at = ?, \
             heartbeat_at = ? WHERE id = ?",
        )
        .bind(phase)
        .bind(r.to_revision)
        .bind(&r.backup)
        .bind(finished)
        .bind(now_unix())
        .bind(r.id)
        .execute(&mut *conn)
        .await;
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await?;
        written?;
        Ok(())
    }

    /// Keeps rollout `id`'s heartbeat fresh while it is driven.
    fn heartbeat(&self, id: i64) -> AbortOnDrop {
        let store = self.deployer.store().clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = sqlx::query(
                    "UPDATE rollouts SET heartbeat_at = ? WHERE id = ? AND finished_at IS NULL",
                )
                .bind(now_unix())
                .bind(id)
                .execute(store.pool())
                .await
                {
                    tracing::warn!(error = %e, "could not renew the update's heartbeat");
                }
            }
        }))
    }

    /// Writes what the pulls of rollout `id` do into its journal row (at
    /// most once a second); clears it when they end.
    fn pull_reporter(
        &self,
        id: i64,
        images: usize,
        mut events: tokio::sync::mpsc::UnboundedReceiver<wire::ProgressEvent>,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.deployer.store().clone();
        tokio::spawn(async move {
            let set = |line: Option<String>| {
                let store = store.clone();
                async move {
                    if let Err(e) = sqlx::query("UPDATE rollouts SET progress = ? WHERE id = ?")
                        .bind(line)
                        .bind(id)
                        .execute(store.pool())
                        .await
                    {
                        tracing::warn!(error = %e, "could not keep the update's progress");
                    }
                }
            };
            let mut pulled = 0;
            let mut written: Option<Instant> = None;
            while let Some(event) = events.recv().await {
                let line = match &event {
                    wire::ProgressEvent::PullStarted { image, .. } => {
                        pull_line(image, None, pulled, images)
                    }
                    wire::ProgressEvent::PullProgress { image, tally, .. } => {
                        pull_line(image, Some(tally), pulled, images)
                    }
                    wire::ProgressEvent::PullDone { .. } => {
                        pulled += 1;
                        continue;
                    }
                    _ => continue,
                };
                if written.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    written = Some(Instant::now());
                    set(Some(line)).await;
                }
            }
            set(None).await;
        })
    }

    /// Keeps a step in the rollout's step log.
    async fn log_step(&self, r: &mut Rollout, record: StepRecord) {
        if let Err(e) = sqlx::query(
            "INSERT INTO rollout_steps (rollout_id, step, started_ms, took_ms, error) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(r.id)
        .bind(&record.step)
        .bind(record.started_ms)
        .bind(record.took_ms)
        .bind(&record.error)
        .execute(self.deployer.store().pool())
        .await
        {
            tracing::warn!(error = %e, "could not keep the update's step log");
        }
        r.steps.push(record);
    }

    async fn drive(&self, mut r: Rollout) -> Result<Rollout, EngineError> {
        let _heartbeat = self.heartbeat(r.id);
        loop {
            self.journal(&mut r).await?;
            if r.phase.is_terminal() {
                break;
            }
            let step = next_step(&r.phase, shape(&r));
            super::faults::point(&format!("before-{}", step_name(&step)));
            let begun = Instant::now();
            let started_ms = now_ms();
            let outcome = self.take(&mut r, &step).await;
            super::faults::point(&format!("after-{}", step_name(&step)));
            if let Err(why) = &outcome {
                tracing::warn!(rollout = r.id, ?step, %why, "update step failed");
            }
            if step != Step::Done {
                let record = StepRecord {
                    step: step_name(&step).to_owned(),
                    started_ms,
                    took_ms: i64::try_from(begun.elapsed().as_millis()).unwrap_or(i64::MAX),
                    error: outcome.as_ref().err().cloned(),
                };
                self.log_step(&mut r, record).await;
            }
            let next = after(&r.phase, &step, outcome, shape(&r));
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

    /// When rollout `r` must be over (its start plus the bound), from now.
    fn time_left(&self, r: &Rollout) -> Duration {
        let ends = r.started_at + i64::try_from(self.pacing.total.as_secs()).unwrap_or(i64::MAX);
        Duration::from_secs(u64::try_from(ends - now_unix()).unwrap_or(0))
    }

    /// The bound's sentence (the update took too long).
    fn over_time(&self) -> String {
        format!(
            "the update took longer than its bound of {}",
            match self.pacing.total.as_secs() {
                s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
                s => format!("{s} s"),
            }
        )
    }

    /// Takes one step; `Err` is the sentence of why it failed. The steps
    /// up to the end of the settle count against the update's bound.
    async fn take(&self, r: &mut Rollout, step: &Step) -> Result<(), String> {
        let bounded = matches!(
            step,
            Step::Preflight | Step::Backup | Step::Migrate | Step::Switch(_) | Step::Settle
        );
        if bounded && self.time_left(r).is_zero() {
            return Err(self.over_time());
        }
        let outcome = self.take_inner(r, step).await;
        match outcome {
            Err(why) if bounded && self.time_left(r).is_zero() => {
                Err(format!("{}: {why}", self.over_time()))
            }
            other => other,
        }
    }

    async fn take_inner(&self, r: &mut Rollout, step: &Step) -> Result<(), String> {
        let from = self.revision(r.from_revision).await?;
        // On Docker, Burrow pulls the images first, parks the old
        // containers and backs up the volumes. A cluster pulls its own
        // images, and a workload goes back by applying its previous
        // objects again: the same steps without those.
        let docker = match &from.target {
            crate::targets::TargetSettings::Kubernetes { .. } => None,
            settings => Some(
                self.deployer
                    .targets()
                    .docker_for(settings)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        match step {
            Step::Preflight => {
                // The migrations' dry run: the new config must validate.
                super::migrate::apply(&from.config, &r.release.migrations)?;
                let Some(docker) = &docker else {
                    if r.release.requires_backup {
                        return Err(KUBE_BACKUP.to_owned());
                    }
                    return Ok(());
                };
                if r.release.requires_backup && r.backup.is_none() {
                    self.backups.check_space(from.config.name.as_str())?;
                }
                let images: Vec<String> = r.release.images.values().cloned().collect();
                // Pulls change nothing: past the bound they are given up.
                let auth = super::registry::load(self.deployer.store(), self.deployer.vault())
                    .await
                    .map_err(|e| e.to_string())?;
                // What the pulls do goes to the journal row, for the page.
                let (pulls, reports) = tokio::sync::mpsc::unbounded_channel();
                let reporter = self.pull_reporter(r.id, images.len(), reports);
                let pulled = docker.ensure_pinned(&images, auth.as_ref(), &pulls);
                let outcome = tokio::time::timeout(self.time_left(r), pulled).await;
                drop(pulls);
                let _ = reporter.await;
                outcome
                    .map_err(|_| self.over_time())?
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
                let mut config = super::migrate::apply(&from.config, &r.release.migrations)?;
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
                    health_timeouts: r
                        .release
                        .health
                        .iter()
                        .filter_map(|(service, h)| {
                            Some((service.clone(), Duration::from_secs(h.deadline_s?)))
                        })
                        .collect(),
                    deadline: Some(Instant::now() + self.time_left(r)),
                    drain: self.pacing.drain,
                    prune_volumes: false,
                    park: Some(Self::rollout_id(r)),
                };
                // Through the deployer: a deployment like any other, so the
                // console watches the new revision once it runs.
                self.deploy(to, &r.actor, &opts).await
            }
            Step::Settle => {
                let to = match r.to_revision {
                    Some(id) => self.revision(id).await?,
                    None => from.clone(),
                };
                let hold = hold(&self.pacing, &r.release);
                let until = Instant::now() + self.time_left(r);
                let target: Arc<dyn Target> = match &docker {
                    Some(docker) => docker.clone(),
                    None => self
                        .deployer
                        .target_for(&to)
                        .await
                        .map_err(|e| e.to_string())?,
                };
                self.settle(target.as_ref(), &to.config, hold, until).await
            }
            Step::Finalize => {
                // Nothing parked on a cluster; its nodes keep their images.
                let Some(docker) = &docker else {
                    return Ok(());
                };
                docker
                    .drop_parked(from.config.name.as_str(), &Self::rollout_id(r))
                    .await
                    .map_err(|e| e.to_string())?;
                // Dropping old images is housekeeping: never a failure.
                let running = match r.to_revision {
                    Some(id) => self.revision(id).await.ok(),
                    None => None,
                };
                let in_use: BTreeSet<String> = running
                    .iter()
                    .chain(std::iter::once(&from))
                    .flat_map(|rev| {
                        stack::model::Service::ALL
                            .iter()
                            .map(|s| rev.config.images.get(*s).to_string())
                    })
                    .collect();
                if let Ok(rows) = journal_rows(self.deployer.store()).await {
                    let old = images_to_forget(&rows, self.pacing.keep_releases, &in_use);
                    let dropped = docker.forget_images(&old).await;
                    if !dropped.is_empty() {
                        tracing::info!(
                            images = dropped.len(),
                            "dropped the images of releases older than the last {}",
                            self.pacing.keep_releases
                        );
                    }
                }
                Ok(())
            }
            Step::Restore(_) => {
                let stack = from.config.name.as_str();
                if let Some(docker) = &docker {
                    docker
                        .unpark(stack, &Self::rollout_id(r), self.pacing.drain)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                if shape(r).restores_data {
                    // The old release is not waited for on data the new
                    // one migrated: restoring the data starts it.
                    return Ok(());
                }
                // The previous revision again: services the release added go,
                // every old service is waited for, and it is the one that
                // runs (for the console) again.
                let opts = ApplyOptions {
                    health_timeout: self.pacing.health_timeout,
                    ..ApplyOptions::default()
                };
                self.deploy(from, &r.actor, &opts).await
            }
            Step::RestoreData => {
                let id = r.backup.as_deref().ok_or("the update took no backup")?;
                self.backups
                    .restore(&self.deployer, id, &r.actor)
                    .await
                    .map(drop)
                    .map_err(|e| {
                        format!(
                            "{e} (the backup is {id}: `burrow backup restore {id}` tries again)"
                        )
                    })
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
        // The one sentence (the operator reads the logs on the Logs page).
        outcome.result.map(drop).map_err(|e| match e {
            crate::deployer::DeployerError::Deploy(d) => d.summary(),
            other => other.to_string(),
        })
    }

    /// The whole stack green for `hold`: every long-running service running
    /// and not unhealthy, no restart counted meanwhile; and, when Caddy
    /// runs, the chat server answering through it (the API's JSON, the
    /// discovery document, a WebSocket handshake on `/ws`) at the end. A
    /// probe that still fails once the hold is over is given until the
    /// health deadline (and never past `until`, the update's bound). The
    /// decisions are [`Settle`]'s; this takes the looks and the probes.
    async fn settle(
        &self,
        target: &dyn Target,
        config: &stack::model::StackConfig,
        hold: Duration,
        until: Instant,
    ) -> Result<(), String> {
        let stack = config.name.as_str();
        let begun = Instant::now();
        let probe_for = self
            .pacing
            .health_timeout
            .unwrap_or(Duration::from_secs(120));
        let ca = self
            .deployer
            .store()
            .probe_ca_pem(self.deployer.vault(), config)
            .await;
        let mut settle = Settle::new(begun, hold, probe_for, until, self.over_time());
        let mut next = settle.start();
        loop {
            next = match next {
                Next::Look { after } => {
                    tokio::time::sleep(after).await;
                    let asked = Instant::now();
                    let now = target.status(stack).await.map_err(|e| e.to_string())?;
                    settle.looked(asked, &now, Instant::now())
                }
                Next::Probe => {
                    let failing = crate::chat_probe::probe_chat_on(target, config, ca.as_deref())
                        .await
                        .into_iter()
                        .find(|p| !p.ok)
                        .map(|p| (p.path, p.detail));
                    settle.probed(failing, Instant::now())
                }
                Next::Done(outcome) => return outcome,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_reads_as_one_line() {
        let tally = wire::PullTally {
            layers: 5,
            layers_done: 2,
            bytes: 12_300_000,
            bytes_total: 40_100_000,
        };
        assert_eq!(
            pull_line("r.example:5000/kit/api@sha256:ab", Some(&tally), 3, 16),
            format!("Pulling r.example:5000/kit/api: {tally} (3 of 16 images pulled so far)")
        );
        assert_eq!(
            pull_line("r.example/web@sha256:cd", None, 0, 16),
            "Pulling r.example/web (0 of 16 images pulled so far)"
        );
    }

    #[test]
    fn the_stack_is_held_for_the_settle_and_the_longest_min_healthy() {
        let pacing = Pacing {
            settle: Duration::from_secs(60),
            min_healthy: Duration::from_secs(10),
            ..Pacing::default()
        };
        let mut release: Release = serde_json::from_value(serde_json::json!({
            "schema": 1, "channel": "stable", "sequence": 2, "version": "0.2.0",
            "released_at": "2026-12-01T10:00:00Z", "images": {},
            "health": { "api": { "deadline_s": 300 } }
        }))
        .unwrap();
        assert_eq!(hold(&pacing, &release), Duration::from_secs(60));
        release.health.insert(
            "events".into(),
            super::super::release::HealthOverride {
                deadline_s: None,
                min_healthy_s: Some(90),
            },
        );
        assert_eq!(hold(&pacing, &release), Duration::from_secs(90));
        let short = Pacing {
            settle: Duration::from_secs(2),
            ..pacing
        };
        release.health.clear();
        assert_eq!(hold(&short, &release), Duration::from_secs(10));
    }

    /// A rollout of release `sequence` (images `tag` for api and web)
    /// that ended in `phase`.
    fn rollout(id: i64, sequence: u64, tag: &str, phase: Phase) -> Rollout {
        let release: Release = serde_json::from_value(serde_json::json!({
            "schema": 1, "channel": "stable", "sequence": sequence,
            "version": format!("0.{sequence}.0"), "released_at": "2026-12-01T10:00:00Z",
            "images": {
                "api": format!("r.example/api@sha256:{tag}"),
                "web": format!("r.example/web@sha256:{tag}"),
            }
        }))
        .unwrap();
        Rollout {
            id,
            started_at: 0,
            finished_at: None,
            actor: "admin".into(),
            release,
            from_revision: 1,
            to_revision: None,
            backup: None,
            phase,
            owner: None,
            heartbeat_at: None,
            steps: Vec::new(),
            progress: None,
        }
    }

    #[test]
    fn the_last_releases_keep_their_images_and_older_or_failed_ones_do_not() {
        let failed = Phase::RolledBack { why: "web".into() };
        // Newest first: 6 commits; 5 failed; 4, 3 (gone back to), 2 and 1
        // were installed; shared images (release 4 pins 2's web) stay.
        let mut four = rollout(4, 4, "44", Phase::Completed);
        four.release
            .images
            .insert("web".into(), "r.example/web@sha256:22".into());
        let rows = vec![
            rollout(7, 6, "66", Phase::Finalizing),
            rollout(6, 5, "55", failed.clone()),
            four,
            rollout(5, 2, "22", Phase::Completed),
            rollout(3, 3, "33", Phase::Completed),
            rollout(2, 2, "22", Phase::Completed),
            rollout(1, 1, "11", Phase::Completed),
        ];
        let in_use = BTreeSet::from(["r.example/api@sha256:11".to_owned()]);
        assert_eq!(
            images_to_forget(&rows, 3, &in_use),
            [
                "r.example/api@sha256:33",
                "r.example/api@sha256:55",
                "r.example/web@sha256:11",
                "r.example/web@sha256:33",
                "r.example/web@sha256:55",
            ]
        );
        // Keeping more keeps 3's as well; keeping none but what runs.
        assert_eq!(
            images_to_forget(&rows, 4, &in_use),
            [
                "r.example/api@sha256:55",
                "r.example/web@sha256:11",
                "r.example/web@sha256:55",
            ]
        );
        assert_eq!(images_to_forget(&rows, 0, &in_use).len(), 10);
    }
}
