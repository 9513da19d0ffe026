//! Backups of a stack: its configuration (the running revision) and the
//! data volumes made with its secrets (MongoDB, Redis, RabbitMQ, MinIO),
//! as one archive under the data dir with a manifest and checksums;
//! restoring one puts the volumes back and deploys that revision. The
//! services owning the volumes are stopped while their files are read
//! (a consistent copy), and started again whatever happens.
//!
//! ```text
//! data/backups/<id>.tar          manifest.json + volumes/<volume>.tar
//! data/backups/<id>.tar.sha256   the archive's SHA-256
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::deploy::ApplyOptions;
use crate::deployer::{Deployer, DeployerError};
use crate::deployments::{DeploymentKind, DeploymentStatus};
use crate::EngineError;

/// Backups kept by default (the oldest go first).
pub const KEEP: usize = 5;
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    pub stack: String,
    pub revision: i64,
    pub burrow_version: String,
    pub volumes: Vec<VolumeEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEntry {
    pub volume: String,
    pub sha256: String,
    pub bytes: u64,
    /// The secrets fingerprint the volume is labelled with again on restore.
    pub fingerprint: Option<String>,
}

/// Why a backup or restore did not happen; a sentence.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Deployer(#[from] DeployerError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Deploy(#[from] crate::deploy::DeployError),
}

fn refused(s: impl Into<String>) -> BackupError {
    BackupError::Refused(s.into())
}

fn io(what: &Path, e: impl std::fmt::Display) -> BackupError {
    refused(format!("{}: {e}", what.display()))
}

/// The backups of one data dir.
#[derive(Debug, Clone)]
pub struct Backups {
    dir: PathBuf,
    keep: usize,
}

impl Backups {
    pub fn new(data_dir: &Path, keep: usize) -> Self {
        Self {
            dir: data_dir.join("backups"),
            keep: keep.max(1),
        }
    }

    fn archive(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.tar"))
    }

    /// Every backup, newest first (an unreadable one is skipped).
    pub fn list(&self) -> Vec<Manifest> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<Manifest> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tar"))
            .filter_map(|p| read_manifest(&p).ok())
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }

    /// Whether the data dir has room for a backup of `stack`:
    /// the size of its last backup (data grows slowly between two; Docker
    /// 20.10's disk-usage answer is one the client library no longer
    /// reads) twice over (each volume's copy, then the archive) and a
    /// margin. `Err` is the sentence.
    pub fn check_space(&self, stack: &str) -> Result<(), String> {
        let size: u64 = self
            .list()
            .into_iter()
            .find(|m| m.stack == stack)
            .map_or(0, |m| m.volumes.iter().map(|v| v.bytes).sum());
        // The nearest existing directory: the backups dir may not exist yet.
        let mut at = self.dir.as_path();
        while !at.exists() {
            at = at.parent().unwrap_or(Path::new("/"));
        }
        let free = rustix::fs::statvfs(at)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .map_err(|e| format!("cannot tell the free space in {}: {e}", at.display()))?;
        enough_space(
            size.saturating_mul(2).saturating_add(MARGIN),
            free,
            &self.dir,
        )
    }

    /// Backs the running revision's stack up; its manifest.
    pub async fn create(&self, deployer: &Deployer, actor: &str) -> Result<Manifest, BackupError> {
        let begun = self.begin_create(deployer, actor).await?;
        self.run_create(deployer, begun).await
    }

    /// The refusals of a backup (nothing deployed, something else running)
    /// and its record, before any work: [`Backups::run_create`] takes it.
    pub async fn begin_create(
        &self,
        deployer: &Deployer,
        actor: &str,
    ) -> Result<BegunBackup, BackupError> {
        let store = deployer.store();
        let revision = store
            .running_revision(deployer.vault())
            .await?
            .ok_or_else(|| refused("Nothing is deployed yet: there is nothing to back up."))?;
        let record = store
            .begin_deployment(Some(revision.meta.id), DeploymentKind::Backup, actor)
            .await
            .map_err(DeployerError::from)?;
        Ok(BegunBackup {
            record,
            revision,
            actor: actor.to_owned(),
        })
    }

    /// [`Backups::run_create`] on its own task (the console's "Back up
    /// now"; the outcome is in its record).
    pub fn run_create_in_background(&self, deployer: std::sync::Arc<Deployer>, begun: BegunBackup) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.run_create(&deployer, begun).await {
                tracing::warn!(error = %e, "the backup failed");
            }
        });
    }

    /// [`Backups::run_restore`] on its own task (the console's Restore).
    pub fn run_restore_in_background(
        &self,
        deployer: std::sync::Arc<Deployer>,
        begun: BegunRestore,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.run_restore(&deployer, begun).await {
                tracing::warn!(error = %e, "the restore failed");
            }
        });
    }

    /// Takes the backup [`Backups::begin_create`] admitted.
    pub async fn run_create(
        &self,
        deployer: &Deployer,
        begun: BegunBackup,
    ) -> Result<Manifest, BackupError> {
        let store = deployer.store();
        let BegunBackup {
            record: id_record,
            revision,
            actor,
        } = begun;
        let actor = actor.as_str();
        let result = self.create_inner(deployer, &revision).await;
        let (status, summary) = match &result {
            Ok(m) => (
                DeploymentStatus::Succeeded,
                format!("backup {} taken", m.id),
            ),
            Err(e) => (DeploymentStatus::Failed, e.to_string()),
        };
        store.finish_deployment(id_record, status, &summary).await?;
        let _ = store
            .record(
                actor,
                None,
                "backup create",
                if result.is_ok() {
                    crate::audit::Outcome::Success
                } else {
                    crate::audit::Outcome::Failure
                },
                Some(&summary),
            )
            .await;
        result
    }

    async fn create_inner(
        &self,
        deployer: &Deployer,
        revision: &crate::revisions::Revision,
    ) -> Result<Manifest, BackupError> {
        let docker = deployer.targets().docker_for(&revision.target).await?;
        let plan = deployer.request_for(revision).await?.plan;
        let stack = revision.config.name.as_str().to_owned();
        let owners = owners(&plan);
        crate::data_dir::tighten(&self.dir).map_err(|e| io(&self.dir, e))?;
        let work = tempfile::tempdir_in(&self.dir).map_err(|e| io(&self.dir, e))?;
        // Stopped while read, started again whatever happens.
        let services: Vec<String> = owners.values().map(|(s, _)| s.clone()).collect();
        let stopped = docker.stop_services(&stack, &services).await?;
        let exported = async {
            let mut volumes = Vec::new();
            for (volume, (_, image)) in &owners {
                let file = work.path().join(format!("{volume}.tar"));
                let bytes = docker
                    .export_volume_to(&stack, volume, image, &file)
                    .await?;
                volumes.push(VolumeEntry {
                    volume: volume.clone(),
                    sha256: sha256_file(&file)?,
                    bytes,
                    fingerprint: plan.volume_fingerprints.get(volume).cloned(),
                });
            }
            Ok::<_, BackupError>(volumes)
        }
        .await;
        docker.start_services(&stack, &stopped).await?;
        let volumes = exported?;
        let now = crate::now_unix();
        let mut id = format!("{}-r{}", stamp(now), revision.meta.id);
        let mut n = 1;
        while self.archive(&id).exists() {
            n += 1;
            id = format!("{}-r{}-{n}", stamp(now), revision.meta.id);
        }
        let manifest = Manifest {
            format: FORMAT,
            id: id.clone(),
            created_at: now,
            stack,
            revision: revision.meta.id,
            burrow_version: env!("CARGO_PKG_VERSION").to_owned(),
            volumes,
        };
        let partial = self.dir.join(format!("{id}.tar.partial"));
        write_archive(&partial, &manifest, work.path())?;
        let archive = self.archive(&id);
        std::fs::rename(&partial, &archive).map_err(|e| io(&archive, e))?;
        std::fs::write(
            archive.with_extension("tar.sha256"),
            format!("{}  {id}.tar\n", sha256_file(&archive)?),
        )
        .map_err(|e| io(&archive, e))?;
        let _ = crate::data_dir::tighten(&self.dir);
        self.prune();
        Ok(manifest)
    }

    /// Keeps the newest [`Backups::keep`].
    fn prune(&self) {
        for old in self.list().into_iter().skip(self.keep) {
            let archive = self.archive(&old.id);
            let _ = std::fs::remove_file(archive.with_extension("tar.sha256"));
            let _ = std::fs::remove_file(&archive);
        }
    }

    /// Puts backup `id` back: its checksums verified, the stack's
    /// containers removed (volumes kept), each volume replaced by its copy,
    /// then the backup's revision deployed. The deployment's id.
    pub async fn restore(
        &self,
        deployer: &Deployer,
        id: &str,
        actor: &str,
    ) -> Result<i64, BackupError> {
        let begun = self.begin_restore(deployer, id, actor).await?;
        self.run_restore(deployer, begun).await
    }

    /// The checks of a restore (the backup exists, both checksums, its
    /// revision is here, nothing else running) and its record, before
    /// anything is touched: [`Backups::run_restore`] takes it.
    pub async fn begin_restore(
        &self,
        deployer: &Deployer,
        id: &str,
        actor: &str,
    ) -> Result<BegunRestore, BackupError> {
        let archive = self.archive(id);
        if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || !archive.is_file() {
            return Err(refused(format!(
                "There is no backup {id:?}: `burrow backup list` shows them."
            )));
        }
        let expected = std::fs::read_to_string(archive.with_extension("tar.sha256"))
            .map_err(|e| io(&archive.with_extension("tar.sha256"), e))?;
        if expected.split_whitespace().next() != Some(sha256_file(&archive)?.as_str()) {
            return Err(refused(format!(
                "Backup {id} does not match its checksum: the archive was changed or damaged, \
                 and is not restored."
            )));
        }
        let work = tempfile::tempdir_in(&self.dir).map_err(|e| io(&self.dir, e))?;
        let manifest = unpack(&archive, work.path())?;
        for v in &manifest.volumes {
            let file = work.path().join(format!("{}.tar", v.volume));
            if sha256_file(&file)? != v.sha256 {
                return Err(refused(format!(
                    "The copy of {} in backup {id} does not match its checksum: not restored.",
                    v.volume
                )));
            }
        }
        let store = deployer.store();
        let revision = store
            .revision(deployer.vault(), manifest.revision)
            .await?
            .ok_or_else(|| {
                refused(format!(
                    "Backup {id} was taken of revision {}, which this install does not have: \
                     restore it into the install that took it.",
                    manifest.revision
                ))
            })?;
        let record = store
            .begin_deployment(Some(revision.meta.id), DeploymentKind::Restore, actor)
            .await
            .map_err(DeployerError::from)?;
        Ok(BegunRestore {
            id: id.to_owned(),
            record,
            revision,
            manifest,
            work,
            actor: actor.to_owned(),
        })
    }

    /// Restores what [`Backups::begin_restore`] admitted; the id of the
    /// deployment of its revision that ends it.
    pub async fn run_restore(
        &self,
        deployer: &Deployer,
        begun: BegunRestore,
    ) -> Result<i64, BackupError> {
        let store = deployer.store();
        let BegunRestore {
            id,
            record,
            revision,
            manifest,
            work,
            actor,
        } = begun;
        let actor = actor.as_str();
        let restored = async {
            let docker = deployer.targets().docker_for(&revision.target).await?;
            let plan = deployer.request_for(&revision).await?.plan;
            let owners = owners(&plan);
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            crate::deploy::Target::remove(docker.as_ref(), &manifest.stack, false, &tx).await?;
            for v in &manifest.volumes {
                let image = owners
                    .get(&v.volume)
                    .map(|(_, i)| i.clone())
                    .ok_or_else(|| {
                        refused(format!(
                            "Revision {} has no service using {}: not restored.",
                            revision.meta.id, v.volume
                        ))
                    })?;
                let file = work.path().join(format!("{}.tar", v.volume));
                docker
                    .import_volume_from(
                        &manifest.stack,
                        &v.volume,
                        &image,
                        &file,
                        v.fingerprint.as_deref(),
                    )
                    .await?;
            }
            Ok::<_, BackupError>(())
        }
        .await;
        let summary = match &restored {
            Ok(()) => format!("backup {id} restored"),
            Err(e) => e.to_string(),
        };
        let status = if restored.is_ok() {
            DeploymentStatus::Succeeded
        } else {
            DeploymentStatus::Failed
        };
        store.finish_deployment(record, status, &summary).await?;
        let _ = store
            .record(
                actor,
                None,
                "backup restore",
                if restored.is_ok() {
                    crate::audit::Outcome::Success
                } else {
                    crate::audit::Outcome::Failure
                },
                Some(&summary),
            )
            .await;
        restored?;
        let outcome = deployer
            .apply(revision, actor, &ApplyOptions::default(), None)
            .await?;
        outcome.result?;
        Ok(outcome.deployment_id)
    }
}

impl Backups {
    /// What the Backups page shows: every backup (each saying when it
    /// cannot be restored here), the backup or restore running, the last
    /// one that ended.
    pub async fn view(
        &self,
        store: &crate::Store,
    ) -> Result<wire::backups::BackupsView, EngineError> {
        let mut backups = Vec::new();
        for m in self.list() {
            let known = store.has_revision(m.revision).await?;
            backups.push(wire::backups::BackupView {
                bytes: m.volumes.iter().map(|v| v.bytes).sum(),
                volumes: m.volumes.iter().map(|v| v.volume.clone()).collect(),
                not_restorable: (!known).then(|| {
                    format!(
                        "It holds revision {}, which this install does not have: restore it \
                         into the install that took it.",
                        m.revision
                    )
                }),
                id: m.id,
                created_at: m.created_at,
                stack: m.stack,
                revision: m.revision,
            });
        }
        // Running: anything (a restore ends with a deployment of its
        // revision, and nothing else may start meanwhile); last: the last
        // backup or restore that ended.
        let (mut running, mut last) = (None, None);
        for d in store.recent_deployments(50).await? {
            let ended = d.status != crate::deployments::DeploymentStatus::Running;
            if ended && !(d.kind == "backup" || d.kind == "restore") {
                continue;
            }
            let activity = wire::backups::BackupActivity {
                kind: d.kind,
                actor: d.actor,
                started_at: d.started_at,
                status: d.status.as_str().to_owned(),
                summary: d.summary,
            };
            if ended {
                last = last.or(Some(activity));
            } else {
                running = running.or(Some(activity));
            }
        }
        Ok(wire::backups::BackupsView {
            backups,
            keep: self.keep,
            running,
            last,
        })
    }
}

/// A backup admitted and recorded, not taken yet.
#[derive(Debug)]
pub struct BegunBackup {
    record: i64,
    revision: crate::revisions::Revision,
    actor: String,
}

/// A restore checked and recorded, nothing touched yet.
#[derive(Debug)]
pub struct BegunRestore {
    id: String,
    record: i64,
    revision: crate::revisions::Revision,
    manifest: Manifest,
    work: tempfile::TempDir,
    actor: String,
}

/// Room kept free beyond a backup's own size.
const MARGIN: u64 = 64 * 1024 * 1024;

/// `needed` bytes against `free` in `dir`: the sentence when short.
pub fn enough_space(needed: u64, free: u64, dir: &Path) -> Result<(), String> {
    let mib = |b: u64| format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0));
    if free >= needed {
        return Ok(());
    }
    Err(format!(
        "a backup needs about {} free in {} and only {} is: make room there (or keep fewer \
         backups with BURROW_BACKUP_KEEP)",
        mib(needed),
        dir.display(),
        mib(free)
    ))
}

/// Data volume -> (the service that owns it, its image), for the volumes
/// made with the stack's secrets.
fn owners(plan: &stack::Plan) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for spec in &plan.services {
        for m in &spec.mounts {
            if let stack::render::Mount::Volume { name, .. } = m {
                if plan.volume_fingerprints.contains_key(name) {
                    out.entry(name.clone())
                        .or_insert_with(|| (spec.name.clone(), spec.image.to_string()));
                }
            }
        }
    }
    out
}

/// `YYYYMMDD-HHMMSS` (UTC) of `unix`.
fn stamp(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

fn sha256_file(path: &Path) -> Result<String, BackupError> {
    let mut file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

fn write_archive(path: &Path, manifest: &Manifest, volumes: &Path) -> Result<(), BackupError> {
    let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    let mut tar = tar::Builder::new(file);
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| io(path, e))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, "manifest.json", json.as_slice())
        .map_err(|e| io(path, e))?;
    for v in &manifest.volumes {
        let file = volumes.join(format!("{}.tar", v.volume));
        tar.append_path_with_name(&file, format!("volumes/{}.tar", v.volume))
            .map_err(|e| io(&file, e))?;
    }
    let mut file = tar.into_inner().map_err(|e| io(path, e))?;
    file.flush().map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))?;
    Ok(())
}

fn read_manifest(archive: &Path) -> Result<Manifest, BackupError> {
    let file = std::fs::File::open(archive).map_err(|e| io(archive, e))?;
    let mut tar = tar::Archive::new(file);
    for entry in tar.entries().map_err(|e| io(archive, e))? {
        let mut entry = entry.map_err(|e| io(archive, e))?;
        if entry.path().map_err(|e| io(archive, e))?.as_os_str() == "manifest.json" {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| io(archive, e))?;
            return serde_json::from_str(&text).map_err(|e| io(archive, e));
        }
    }
    Err(refused(format!(
        "{} has no manifest.json",
        archive.display()
    )))
}

/// The manifest, with each volume's tar written into `dir` (by volume
/// name; nothing else is written, whatever the archive holds).
fn unpack(archive: &Path, dir: &Path) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(archive)?;
    if manifest.format != FORMAT {
        return Err(refused(format!(
            "Backup {} has format {}, and this Burrow reads format {FORMAT}.",
            manifest.id, manifest.format
        )));
    }
    let file = std::fs::File::open(archive).map_err(|e| io(archive, e))?;
    let mut tar = tar::Archive::new(file);
    for entry in tar.entries().map_err(|e| io(archive, e))? {
        let mut entry = entry.map_err(|e| io(archive, e))?;
        let path = entry.path().map_err(|e| io(archive, e))?.into_owned();
        let Some(name) = path
            .to_str()
            .and_then(|p| p.strip_prefix("volumes/"))
            .and_then(|p| p.strip_suffix(".tar"))
        else {
            continue;
        };
        if manifest.volumes.iter().any(|v| v.volume == name) {
            let out = dir.join(format!("{name}.tar"));
            let mut file = std::fs::File::create(&out).map_err(|e| io(&out, e))?;
            std::io::copy(&mut entry, &mut file).map_err(|e| io(&out, e))?;
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_without_room_is_refused_with_the_figures() {
        let dir = Path::new("/var/lib/burrow/backups");
        assert!(enough_space(100 * 1024 * 1024, 100 * 1024 * 1024, dir).is_ok());
        let short = enough_space(300 * 1024 * 1024, 20 * 1024 * 1024, dir).unwrap_err();
        assert_eq!(
            short,
            "a backup needs about 300 MiB free in /var/lib/burrow/backups and only 20 MiB is: \
             make room there (or keep fewer backups with BURROW_BACKUP_KEEP)"
        );
    }
}
