//! `burrow apply`, `burrow down` and `burrow revisions`: the console's
//! deploy and history, from a shell, with a progress line per service. They
//! record into the same store as the console, so its pages show what the
//! CLI did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::mpsc::unbounded_channel;

use engine::deploy::{ChangeAction, ProgressEvent};
use engine::deployer::Deployer;
use engine::sealed::Vault;
use engine::Store;

use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The stack configuration (stack.toml); saved as the next revision.
    #[arg(
        long,
        short,
        conflicts_with = "revision",
        required_unless_present = "revision"
    )]
    pub config: Option<PathBuf>,
    /// Deploy a revision already saved (see `burrow revisions`) exactly as
    /// it was saved: its config, target and secret versions.
    #[arg(long, short)]
    pub revision: Option<i64>,
    /// Also delete the volumes no service uses any more (the data of
    /// services turned off), once the stack is up.
    #[arg(long)]
    pub prune_volumes: bool,
    /// For a config with `target = "kubernetes"`: the kubeconfig to deploy
    /// with, kept sealed with the revision (one that runs a command or
    /// names a file on this machine is refused when connecting).
    #[arg(long, conflicts_with = "revision")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context (default: its current one).
    #[arg(long, requires = "kubeconfig")]
    pub context: Option<String>,
    /// The namespace to deploy into (default `stoat`).
    #[arg(long, conflicts_with = "revision")]
    pub namespace: Option<String>,
    /// Use the service account of the pod Burrow runs in.
    #[arg(long, conflicts_with_all = ["revision", "kubeconfig"])]
    pub in_cluster: bool,
}

#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// The stack configuration (stack.toml) whose stack to remove.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Also delete the stack's volumes (every message, file and account).
    #[arg(long)]
    pub volumes: bool,
}

pub(crate) fn read_config(path: &Path) -> Result<stack::model::StackConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match stack::model::parse_stack_toml(&text) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("warning: {w}");
            }
            Ok(parsed.config)
        }
        Err(issues) => {
            let lines: Vec<String> = issues.iter().map(|i| format!("  {i}")).collect();
            Err(format!(
                "{} is not a valid stack configuration; nothing was deployed:\n{}",
                path.display(),
                lines.join("\n")
            ))
        }
    }
}

pub(crate) async fn deployer(settings: &Settings) -> Result<Deployer, String> {
    let store = Store::open(&settings.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    let vault = Vault::open(&settings.secrets_key_path()).map_err(|e| e.to_string())?;
    let targets = Arc::new(engine::targets::Targets::new(settings.docker_host.clone()));
    Ok(Deployer::new(store, vault, targets))
}

/// One line per service, updated as events come.
struct Bars {
    multi: MultiProgress,
    bars: BTreeMap<String, ProgressBar>,
    style: ProgressStyle,
    pulling: ProgressStyle,
    done: ProgressStyle,
    /// Image -> the service whose bar shows its pull.
    pulls: BTreeMap<String, String>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::new();
        if !console_is_interactive() {
            multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        Self {
            multi,
            bars: BTreeMap::new(),
            style: ProgressStyle::with_template("{spinner} {prefix:>16} {wide_msg} {elapsed:>4}")
                .expect("valid template"),
            pulling: ProgressStyle::with_template(
                "{spinner} {prefix:>16} [{bar:24}] {bytes:>9}/{total_bytes:9} {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
            done: ProgressStyle::with_template("  {prefix:>16} {wide_msg}")
                .expect("valid template"),
            pulls: BTreeMap::new(),
        }
    }

    fn bar(&mut self, service: &str) -> ProgressBar {
        self.bars
            .entry(service.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.style.clone());
                bar.set_prefix(service.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone()
    }

    fn set(&mut self, service: &str, message: &str) {
        self.bar(service).set_message(message.to_string());
        if !console_is_interactive() {
            eprintln!("{service:>16}  {message}");
        }
    }

    fn finish(&mut self, service: &str, message: &str) {
        let bar = self.bar(service);
        bar.set_style(self.done.clone());
        bar.finish_with_message(message.to_string());
        if !console_is_interactive() {
            eprintln!("{service:>16}  {message}");
        }
    }

    fn show(&mut self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Planned { changes } => {
                for c in changes {
                    let what = match c.action {
                        ChangeAction::Create => "to create",
                        ChangeAction::Recreate => "to recreate (configuration changed)",
                        ChangeAction::Unchanged => "unchanged",
                        ChangeAction::Start => "to start",
                        ChangeAction::Remove => "to remove",
                    };
                    if c.action == ChangeAction::Unchanged {
                        self.finish(&c.service, "✓ unchanged");
                    } else {
                        self.set(&c.service, what);
                    }
                }
            }
            ProgressEvent::PullStarted { service, image } => {
                self.pulls.insert(image.clone(), service.clone());
                self.set(service, &format!("pulling {image}"))
            }
            // Byte counts only move the bar; a log gets the start and end.
            ProgressEvent::PullProgress { image, tally, .. } => {
                if let Some(service) = self.pulls.get(image).cloned() {
                    let bar = self.bar(&service);
                    if tally.bytes_total > 0 {
                        bar.set_style(self.pulling.clone());
                        bar.set_length(tally.bytes_total);
                        bar.set_position(tally.bytes);
                    }
                    bar.set_message(format!(
                        "pulling {image} ({} of {} layers)",
                        tally.layers_done, tally.layers
                    ));
                }
            }
            ProgressEvent::PullDone { image } => {
                if let Some(service) = self.pulls.get(image).cloned() {
                    self.bar(&service).set_style(self.style.clone());
                    self.set(&service, &format!("pulled {image}"));
                }
            }
            ProgressEvent::Creating { service } => self.set(service, "creating"),
            ProgressEvent::Started { service } => self.set(service, "started"),
            ProgressEvent::WaitingHealthy { service } => self.set(service, "waiting until healthy"),
            ProgressEvent::Healthy { service, after_ms } => self.finish(
                service,
                &format!("✓ healthy after {:.1} s", *after_ms as f64 / 1000.0),
            ),
            ProgressEvent::Completed { service } => self.finish(service, "✓ completed"),
            ProgressEvent::Unchanged { service } => self.finish(service, "✓ unchanged"),
            ProgressEvent::Removed { service } => self.finish(service, "✓ removed"),
            ProgressEvent::VolumesRemoved { volumes } => {
                self.finish("volumes", &format!("✓ deleted {}", volumes.join(", ")))
            }
            ProgressEvent::Failed {
                service: Some(service),
                message,
                ..
            } => self.finish(service, &format!("✗ {message}")),
            ProgressEvent::Failed { service: None, .. } | ProgressEvent::Finished { .. } => {}
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}

fn console_is_interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Forwards events to the bars until the sender side closes.
fn spawn_bars() -> (
    tokio::sync::mpsc::UnboundedSender<ProgressEvent>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = unbounded_channel::<ProgressEvent>();
    let handle = tokio::spawn(async move {
        let mut bars = Bars::new();
        while let Some(event) = rx.recv().await {
            bars.show(&event);
        }
    });
    (tx, handle)
}

pub async fn apply(settings: &Settings, args: &ApplyArgs) -> Result<(), String> {
    let deployer = Arc::new(deployer(settings).await?);
    let store = deployer.store();
    let revision = match (&args.config, args.revision) {
        (Some(path), _) => {
            let mut config = read_config(path)?;
            // Files the operator named here are read once and kept sealed.
            store
                .adopt_own_certificate(deployer.vault(), &mut config)
                .await?;
            let kube_flags =
                args.kubeconfig.is_some() || args.namespace.is_some() || args.in_cluster;
            let target = match config.target {
                stack::model::TargetKind::Docker if kube_flags => {
                    return Err(format!(
                        "--kubeconfig, --namespace and --in-cluster are for a Kubernetes target: \
                         {} says target = \"docker\". Nothing was saved.",
                        path.display()
                    ))
                }
                stack::model::TargetKind::Docker => deployer.targets().docker_settings(None),
                kind => {
                    if let Some(file) = &args.kubeconfig {
                        let yaml = std::fs::read_to_string(file)
                            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                        // The revision saved next keeps it (sealed).
                        store
                            .put_draft_kubeconfig(deployer.vault(), &yaml)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    let draft = engine::wizard::TargetDraft {
                        kube_source: if args.in_cluster {
                            "in-cluster"
                        } else {
                            "kubeconfig"
                        }
                        .to_owned(),
                        kube_context: args.context.clone().unwrap_or_default(),
                        kube_namespace: args.namespace.clone().unwrap_or_default(),
                        ..Default::default()
                    };
                    deployer.targets().settings_for(kind, &draft)
                }
            };
            if let Some(why) = target.undeployable() {
                return Err(format!("{why} Nothing was saved."));
            }
            let (meta, new) = store
                .save_revision(
                    deployer.vault(),
                    &config,
                    &target,
                    "cli",
                    Some("burrow apply"),
                )
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "Applying revision {}{} of stack {:?}…",
                meta.id,
                if new { " (new)" } else { "" },
                config.name.as_str()
            );
            store
                .revision(deployer.vault(), meta.id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the revision just saved is missing")?
        }
        (None, Some(id)) => {
            let revision = store
                .revision(deployer.vault(), id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!("there is no revision {id}; `burrow revisions` lists them")
                })?;
            eprintln!(
                "Applying revision {id} of stack {:?} ({})…",
                revision.config.name.as_str(),
                revision.target.describe()
            );
            revision
        }
        (None, None) => return Err("give --config FILE or --revision N".to_owned()),
    };
    let config = revision.config.clone();
    let (tx, bars) = spawn_bars();
    let outcome = deployer
        .apply(
            revision,
            "cli",
            &engine::deploy::ApplyOptions {
                prune_volumes: args.prune_volumes,
                ..Default::default()
            },
            Some(tx),
        )
        .await
        .map_err(|e| e.to_string())?;
    let _ = bars.await;
    match outcome.result {
        Ok(r) => {
            eprintln!(
                "Done in {:.1} s: {} created, {} recreated, {} unchanged, {} removed{} (deployment {}).",
                r.elapsed.as_secs_f64(),
                r.created.len(),
                r.recreated.len(),
                r.unchanged.len(),
                r.removed.len(),
                match r.removed_volumes.len() {
                    0 => String::new(),
                    1 => ", 1 volume deleted".to_owned(),
                    n => format!(", {n} volumes deleted"),
                },
                outcome.deployment_id
            );
            // What the dashboard shows: the chat server answering through
            // Caddy (a failing probe is said, the deploy stands).
            let ca = store.probe_ca_pem(deployer.vault(), &config).await;
            let entry = match deployer.running().await {
                Ok(Some((_, Ok(target)))) => {
                    engine::chat_probe::entry_of(target.as_ref(), config.name.as_str()).await
                }
                _ => engine::chat_probe::Entry::Default,
            };
            for p in engine::chat_probe::probe_chat(&config, ca.as_deref(), &entry).await {
                eprintln!(
                    "  {} {}: {}",
                    if p.ok { "✓" } else { "✗" },
                    p.path,
                    p.detail
                );
            }
            Ok(())
        }
        Err(e) => Err(format!("deploy failed: {e}")),
    }
}

pub async fn down(settings: &Settings, args: &DownArgs) -> Result<(), String> {
    let config = read_config(&args.config)?;
    let deployer = deployer(settings).await?;
    let target = deployer.targets().docker_settings(None);
    eprintln!(
        "Removing stack {:?}{}…",
        config.name.as_str(),
        if args.volumes {
            " and its volumes"
        } else {
            " (volumes kept)"
        }
    );
    let (tx, bars) = spawn_bars();
    let outcome = deployer
        .down(config.name.as_str(), &target, args.volumes, "cli", Some(tx))
        .await
        .map_err(|e| e.to_string())?;
    let _ = bars.await;
    match outcome.result {
        Ok(removed) => {
            eprintln!("Removed {} services.", removed.len());
            Ok(())
        }
        Err(e) => Err(format!("removal failed: {e}")),
    }
}
