//! `burrow release` (publishing an update channel) and `burrow update`
//! (checking one from a headless server).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use engine::update::publish::{ChannelDir, TIMESTAMP_DAYS};
use engine::update::{ChannelSettings, Release};

use crate::config::Settings;

#[derive(Subcommand)]
pub enum ReleaseAction {
    /// Make a new channel in DIR: keys (DIR/keys, keep them private) and
    /// root version 1 (DIR/channel/metadata/1.root.json, the file every
    /// Burrow following the channel is given). Publish DIR/channel.
    Init {
        dir: PathBuf,
        /// The channel's name.
        #[arg(long, default_value = "stable")]
        name: String,
        /// How many root keys to make.
        #[arg(long, default_value_t = 1)]
        root_keys: usize,
        /// How many of them must sign a new root.
        #[arg(long, default_value_t = 1)]
        threshold: usize,
    },
    /// Stage a release (DIR/release.json) for the next `sign`.
    Add(AddArgs),
    /// Publish the staged release: sign targets, snapshot and timestamp.
    Sign { dir: PathBuf },
    /// Sign the timestamp again (it expires after a week; run it from cron).
    RefreshTimestamp {
        dir: PathBuf,
        /// Days the new timestamp is valid.
        #[arg(long, default_value_t = TIMESTAMP_DAYS)]
        days: i64,
    },
    /// Replace every key: the next root, signed by the old root keys and
    /// the new ones; the release is signed again with the new role keys.
    RotateRoot { dir: PathBuf },
}

#[derive(Args)]
pub struct AddArgs {
    dir: PathBuf,
    /// The release's version, major.minor.patch.
    #[arg(long)]
    version: String,
    /// Its sequence (default: one above the last release).
    #[arg(long)]
    sequence: Option<u64>,
    /// Markdown shown on the Updates page.
    #[arg(long)]
    notes: Option<PathBuf>,
    /// A JSON map of service name to an image pinned by digest
    /// (`repo@sha256:<64 hex>`), one per service of the stack.
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    images: Option<PathBuf>,
    /// A stack.toml whose images make the release: each tag resolved to
    /// the digest its registry has now (asked through the Docker daemon).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The oldest version this release may be installed over.
    #[arg(long)]
    min_from_version: Option<String>,
    /// Installs need not take a backup first.
    #[arg(long)]
    no_backup: bool,
    /// A JSON list of the release's migrations (`[{"id", "description",
    /// "kind": "config" | "data", "ops": [...]}]`).
    #[arg(long)]
    migrations: Option<PathBuf>,
    /// A JSON map of service name to its health overrides
    /// (`{"api": {"deadline_s": 120, "min_healthy_s": 20}}`).
    #[arg(long)]
    health: Option<PathBuf>,
}

/// The JSON document in `path` (`what` names its shape in the error).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not {what}: {e}", path.display()))
}

#[derive(Subcommand)]
pub enum UpdateAction {
    /// Verify the channel and print the release it offers (exit 0), or why
    /// none is offered (exit 1).
    Check,
    /// Verify the channel and update the whole stack to the release it
    /// offers (a backup first when the release asks; rolled back as a
    /// whole when anything fails). Exit 0 only when it completed.
    Apply,
    /// Every update with its outcome.
    History,
    /// Go back to VERSION, a release an earlier update installed (an
    /// update like any other: backup, parked containers, rollback).
    Rollback { version: String },
}

pub async fn release(settings: &Settings, action: &ReleaseAction) -> Result<(), String> {
    match action {
        ReleaseAction::Init {
            dir,
            name,
            root_keys,
            threshold,
        } => {
            let root = ChannelDir::new(dir)
                .init(name, *root_keys, *threshold)
                .await?;
            println!(
                "Channel {name:?} made. Give {} to every Burrow that follows it \
                 (BURROW_CHANNEL_ROOT); publish {} on a web server; keep {} private.",
                root.display(),
                dir.join("channel").display(),
                dir.join("keys").display()
            );
            Ok(())
        }
        ReleaseAction::Add(args) => {
            let images = match (&args.images, &args.config) {
                (Some(path), _) => read_json(path, "a JSON map of service to image")?,
                (None, Some(path)) => {
                    let config = crate::deploy_cli::read_config(path)?;
                    let docker = engine::targets::Targets::new(settings.docker_host.clone())
                        .docker_for(&engine::targets::TargetSettings::local_docker())
                        .await
                        .map_err(|e| e.to_string())?;
                    // A private registry's credentials: BURROW_REGISTRY_AUTH names
                    // a JSON file {"username", "password", "serveraddress"}.
                    let auth = match std::env::var_os("BURROW_REGISTRY_AUTH") {
                        Some(path) => {
                            let text = std::fs::read_to_string(&path).map_err(|e| {
                                format!("cannot read BURROW_REGISTRY_AUTH {path:?}: {e}")
                            })?;
                            Some(
                                engine::update::registry::RegistryAuth::parse(&text)
                                    .map_err(|why| format!("BURROW_REGISTRY_AUTH: {why}"))?,
                            )
                        }
                        None => None,
                    };
                    let pins = engine::update::publish::pin_images(&docker, &config, auth.as_ref())
                        .await?;
                    for (service, image) in &pins {
                        eprintln!("  {service:<14} {image}");
                    }
                    pins
                }
                (None, None) => return Err("give --images FILE or --config stack.toml".into()),
            };
            let notes = match &args.notes {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                None => String::new(),
            };
            let release = Release {
                schema: engine::update::release::SCHEMA,
                channel: String::new(),
                sequence: args.sequence.unwrap_or(0),
                version: args.version.clone(),
                min_from_version: args.min_from_version.clone(),
                released_at: jiff::Timestamp::now().to_string(),
                notes,
                requires_backup: !args.no_backup,
                images,
                health: match &args.health {
                    Some(path) => read_json(path, "a JSON map of service to health overrides")?,
                    None => Default::default(),
                },
                migrations: match &args.migrations {
                    Some(path) => read_json(path, "a JSON list of migrations")?,
                    None => Vec::new(),
                },
            };
            let staged = ChannelDir::new(&args.dir).add(release)?;
            println!(
                "Release {} (sequence {}) staged; `burrow release sign {}` publishes it.",
                staged.version,
                staged.sequence,
                args.dir.display()
            );
            Ok(())
        }
        ReleaseAction::Sign { dir } => {
            let version = ChannelDir::new(dir).sign().await?;
            println!("Signed (metadata version {version}).");
            Ok(())
        }
        ReleaseAction::RefreshTimestamp { dir, days } => {
            let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days);
            let version = ChannelDir::new(dir).refresh_timestamp(until).await?;
            println!("Timestamp version {version}, valid until {until}.");
            Ok(())
        }
        ReleaseAction::RotateRoot { dir } => {
            let version = ChannelDir::new(dir).rotate_root().await?;
            println!(
                "Root version {version} written, signed by the old root keys and the new ones; \
                 the old keys are in {}.",
                dir.join("keys/retired").display()
            );
            Ok(())
        }
    }
}

/// How updates are paced (BURROW_UPDATE_SETTLE_S, _DEADLINE_S,
/// _MIN_HEALTHY_S, _TOTAL_S).
pub fn pacing(settings: &Settings) -> engine::update::updater::Pacing {
    use std::time::Duration;
    engine::update::updater::Pacing {
        health_timeout: Some(Duration::from_secs(settings.update_deadline_s)),
        settle: Duration::from_secs(settings.update_settle_s),
        min_healthy: Duration::from_secs(settings.update_min_healthy_s),
        total: Duration::from_secs(settings.update_total_s),
        keep_releases: settings.update_keep_releases,
        // BURROW_DRAIN_S, read where a switch drains.
        drain: None,
    }
}

/// The channel from the settings, or the sentence saying what is missing.
pub fn channel_settings(settings: &Settings) -> Result<ChannelSettings, String> {
    let url = settings.channel_url.clone().ok_or(
        "No update channel is set: give its address (BURROW_CHANNEL_URL) and its root \
         metadata (BURROW_CHANNEL_ROOT).",
    )?;
    let root_path = settings.channel_root.as_ref().ok_or(
        "The update channel's root metadata is not given: set BURROW_CHANNEL_ROOT to the \
         channel's 1.root.json.",
    )?;
    let root = std::fs::read(root_path)
        .map_err(|e| format!("cannot read the channel root {}: {e}", root_path.display()))?;
    Ok(ChannelSettings {
        url,
        root,
        name: settings.channel_name.clone(),
    })
}

pub async fn update(settings: &Settings, action: &UpdateAction) -> Result<(), String> {
    match action {
        UpdateAction::Apply => {
            let deployer = std::sync::Arc::new(crate::deploy_cli::deployer(settings).await?);
            let updates = engine::update::Updates::new(
                Some(channel_settings(settings)?),
                settings.data_dir.clone(),
            );
            let release = updates
                .verified_release(deployer.store(), "cli")
                .await
                .map_err(|e| e.to_string())??;
            eprintln!(
                "Updating to release {} (sequence {})…",
                release.version, release.sequence
            );
            let updater = engine::update::updater::Updater::new(
                deployer.clone(),
                engine::backup::Backups::new(&settings.data_dir, settings.backup_keep),
                pacing(settings),
            );
            // An update a crash interrupted is finished first.
            for r in updater
                .resume_unfinished()
                .await
                .map_err(|e| e.to_string())?
            {
                let (state, detail) = engine::update::updater::describe(&r.phase);
                eprintln!("Interrupted update {} finished: {state}. {detail}", r.id);
            }
            let rollout = updater
                .apply(release, "cli")
                .await
                .map_err(|e| e.to_string())?;
            let (state, detail) = engine::update::updater::describe(&rollout.phase);
            println!("Update {}: {state}. {detail}", rollout.id);
            if rollout.phase == engine::update::rollout::Phase::Completed {
                Ok(())
            } else {
                Err(format!("the update did not complete ({state})"))
            }
        }
        UpdateAction::Rollback { version } => {
            let deployer = std::sync::Arc::new(crate::deploy_cli::deployer(settings).await?);
            let updater = engine::update::updater::Updater::new(
                deployer.clone(),
                engine::backup::Backups::new(&settings.data_dir, settings.backup_keep),
                pacing(settings),
            );
            let earlier = updater
                .history()
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|r| {
                    r.release.version == *version
                        && r.phase == engine::update::rollout::Phase::Completed
                })
                .ok_or_else(|| {
                    format!(
                        "No update installed release {version}: `burrow update history` lists \
                         the ones that did."
                    )
                })?;
            let id = updater
                .start_rollback(earlier.id, "cli")
                .await
                .map_err(|e| e.to_string())?;
            let rollout = updater.run(id).await.map_err(|e| e.to_string())?;
            let (state, detail) = engine::update::updater::describe(&rollout.phase);
            println!("Update {}: {state}. {detail}", rollout.id);
            if rollout.phase == engine::update::rollout::Phase::Completed {
                Ok(())
            } else {
                Err(format!("going back did not complete ({state})"))
            }
        }
        UpdateAction::History => {
            let deployer = crate::deploy_cli::deployer(settings).await?;
            let history = engine::update::updater::history(deployer.store())
                .await
                .map_err(|e| e.to_string())?;
            if history.is_empty() {
                println!("No update yet.");
            }
            for r in history {
                let (state, detail) = engine::update::updater::describe(&r.phase);
                println!(
                    "{}  {} (sequence {})  by {}  {state}: {detail}",
                    r.id, r.release.version, r.release.sequence, r.actor
                );
            }
            Ok(())
        }
        UpdateAction::Check => {
            let channel = channel_settings(settings)?;
            let store = engine::update::channel::datastore_for(&settings.data_dir, &channel);
            let installed = {
                let deployer = crate::deploy_cli::deployer(settings).await?;
                engine::update::updater::installed_release(deployer.store())
                    .await
                    .map_err(|e| e.to_string())?
            };
            let checked = engine::update::check(&channel, &store, None)
                .await
                .map_err(|e| e.to_string())?;
            let r = &checked.release;
            if let Some(i) = installed.as_ref().filter(|i| i.sequence == r.sequence) {
                println!(
                    "Up to date: release {} (sequence {}) is installed.",
                    i.version, i.sequence
                );
                return Ok(());
            }
            if let Some(why) = r.refusal(&channel.name, installed.as_ref()) {
                return Err(why);
            }
            println!(
                "Release {} (sequence {}) of channel {:?} is available, released {}.",
                r.version, r.sequence, r.channel, r.released_at
            );
            if !r.notes.trim().is_empty() {
                println!("\n{}", r.notes.trim());
            }
            Ok(())
        }
    }
}
