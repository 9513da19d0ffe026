//! The deployer: turns a config revision into a running stack. It renders
//! the plan with the revision's own secret versions, supplies the
//! self-signed certificate, gets the target from the factory with the
//! revision's own target settings, runs it and stores every progress event,
//! so the CLI and the console share one history and a reloaded page sees
//! the same progress. ("Rollout" is kept for the update pipeline.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stack::model::TlsMode;
use stack::render::{SELF_SIGNED_CA_SOURCE, SELF_SIGNED_CERT_SOURCE, SELF_SIGNED_KEY_SOURCE};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::deploy::{ApplyOptions, ApplyReport, DeployError, DeployRequest, ProgressEvent, Target};
use crate::deployments::{BusyOr, DeploymentKind, DeploymentStatus};
use crate::revisions::Revision;
use crate::sealed::Vault;
use crate::targets::{TargetSettings, Targets};
use crate::{EngineError, Store};

/// Pull progress is stored (for the page) at most this often per image.
const PULL_STORE_EVERY: Duration = Duration::from_secs(1);
/// How often a running deployment renews its lease.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DeployerError {
    #[error("deployment {0} is still running; wait for it to finish")]
    Busy(i64),
    /// The revision cannot be deployed (its target, or stored data that no
    /// longer validates); nothing was saved or started.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<BusyOr> for DeployerError {
    fn from(e: BusyOr) -> Self {
        match e {
            BusyOr::Busy(id) => Self::Busy(id),
            BusyOr::Engine(e) => Self::Engine(e),
        }
    }
}

/// What finished: the stored deployment and what the target did.
#[derive(Debug)]
pub struct Outcome<T> {
    pub deployment_id: i64,
    pub result: Result<T, DeployerError>,
}

/// The deployer the console and the CLI share.
pub struct Deployer {
    store: Store,
    vault: Vault,
    targets: Arc<Targets>,
}

impl Deployer {
    pub fn new(store: Store, vault: Vault, targets: Arc<Targets>) -> Self {
        targets.read_secrets_from(&store, &vault);
        Self {
            store,
            vault,
            targets,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The target factory (shared connections).
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The target of `revision`, from its own settings, for a page: a
    /// daemon that has not answered within [`crate::targets::PAGE_WAIT`] is
    /// reported as such while the connect goes on.
    pub async fn target_for(&self, revision: &Revision) -> Result<Arc<dyn Target>, DeployError> {
        self.targets
            .connect_revision(revision, Some(crate::targets::PAGE_WAIT))
            .await
    }

    /// The target settings for a config saved without the wizard (a pasted
    /// stack.toml): those of the newest revision when it goes to the same
    /// kind of target, else the default of that kind.
    pub async fn settings_for_new(&self, config: &stack::model::StackConfig) -> TargetSettings {
        let latest = self.store.latest_revision(&self.vault).await.ok().flatten();
        match latest {
            Some(rev)
                if rev.target.is_kubernetes()
                    == (config.target == stack::model::TargetKind::Kubernetes) =>
            {
                rev.target
            }
            _ => self
                .targets
                .settings_for(config.target, &crate::wizard::TargetDraft::default()),
        }
    }

    /// The revision the console watches and its target (`None`: nothing
    /// saved yet).
    pub async fn running(
        &self,
    ) -> Result<Option<(Revision, Result<Arc<dyn Target>, DeployError>)>, EngineError> {
        match self.store.running_revision(&self.vault).await? {
            Some(rev) => {
                let target = self.target_for(&rev).await;
                Ok(Some((rev, target)))
            }
            None => Ok(None),
        }
    }

    /// Everything the target needs for `revision`: the plan rendered with
    /// the secret versions it was saved with, and the certificate pair in
    /// the self-signed mode.
    pub async fn request_for(&self, revision: &Revision) -> Result<DeployRequest, EngineError> {
        let config = &revision.config;
        let secrets = match revision.secrets.stack {
            Some(version) => self.store.stack_secrets_at(&self.vault, version).await?,
            None => self.store.ensure_stack_secrets(&self.vault).await?,
        };
        let plan = stack::render::render(config, &secrets);
        let mut host_files = BTreeMap::new();
        if crate::stack_tls::kept_own_certificate(config) {
            // Kept sealed by Burrow: the revision's own version.
            let (cert, key) = self
                .store
                .revision_own_tls(&self.vault, revision)
                .await?
                .ok_or_else(|| {
                    EngineError::Config(format!(
                        "revision {} has no own certificate kept: paste it on the TLS step",
                        revision.meta.id
                    ))
                })?;
            host_files.insert(
                stack::render::OWN_CERT_SOURCE.to_string(),
                cert.into_bytes(),
            );
            host_files.insert(stack::render::OWN_KEY_SOURCE.to_string(), key.into_bytes());
        } else if let TlsMode::OwnCertificate {
            cert_file,
            key_file,
        } = &config.tls
        {
            // Written by an earlier Burrow to its own folder (checked).
            self.store
                .own_certificate_allowed(config)
                .map_err(EngineError::Config)?;
            // Delivered like every other file, so a remote daemon works too.
            for path in [cert_file.as_str(), key_file.as_str()] {
                let bytes = std::fs::read(path).map_err(|e| {
                    EngineError::Config(format!("cannot read the certificate file {path}: {e}"))
                })?;
                host_files.insert(path.to_string(), bytes);
            }
        }
        if matches!(config.tls, TlsMode::SelfSigned) {
            let leaf = self
                .store
                .stack_leaf(&self.vault, config.domain.as_str())
                .await?;
            host_files.insert(
                SELF_SIGNED_CERT_SOURCE.to_string(),
                leaf.cert_pem.into_bytes(),
            );
            host_files.insert(
                SELF_SIGNED_KEY_SOURCE.to_string(),
                leaf.key_pem.into_bytes(),
            );
            let ca = self.store.burrow_ca(&self.vault).await?;
            host_files.insert(
                SELF_SIGNED_CA_SOURCE.to_string(),
                ca.ca_pem().as_bytes().to_vec(),
            );
        }
        Ok(DeployRequest {
            stack: config.name.clone(),
            revision: revision.meta.id,
            plan,
            host_files,
        })
    }

    /// Refuses, before anything is recorded, a revision whose target this
    /// version cannot deploy to.
    fn admit(revision: &Revision) -> Result<(), DeployerError> {
        match revision.target.undeployable() {
            Some(why) => Err(DeployerError::Refused(why.to_owned())),
            None => Ok(()),
        }
    }

    /// Applies `revision` in the background (the console); returns once the
    /// deployment record exists.
    pub async fn start_apply(
        self: &Arc<Self>,
        revision: Revision,
        actor: &str,
        opts: ApplyOptions,
    ) -> Result<i64, DeployerError> {
        Self::admit(&revision)?;
        let id = self.begin_apply(&revision, actor).await?;
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.run_apply(id, revision, &opts, None).await;
        });
        Ok(id)
    }

    /// Applies `revision` and waits for the outcome.
    pub async fn apply(
        &self,
        revision: Revision,
        actor: &str,
        opts: &ApplyOptions,
        watch: Option<UnboundedSender<ProgressEvent>>,
    ) -> Result<Outcome<ApplyReport>, DeployerError> {
        Self::admit(&revision)?;
        let id = self.begin_apply(&revision, actor).await?;
        let result = self.run_apply(id, revision, opts, watch).await;
        Ok(Outcome {
            deployment_id: id,
            result,
        })
    }

    /// The deployment record of an apply, and its start in the audit log
    /// (the dashboard's recent activity shows it while it runs).
    async fn begin_apply(&self, revision: &Revision, actor: &str) -> Result<i64, DeployerError> {
        let id = self
            .store
            .begin_deployment(Some(revision.meta.id), DeploymentKind::Apply, actor)
            .await?;
        let action = format!("deploy revision {} started", revision.meta.id);
        if let Err(e) = self
            .store
            .record(actor, None, &action, crate::audit::Outcome::Success, None)
            .await
        {
            tracing::warn!(error = %e, "could not record the deployment in the audit log");
        }
        Ok(id)
    }

    async fn run_apply(
        &self,
        id: i64,
        revision: Revision,
        opts: &ApplyOptions,
        watch: Option<UnboundedSender<ProgressEvent>>,
    ) -> Result<ApplyReport, DeployerError> {
        let (tx, recorder) = self.recorder(id, watch);
        let heartbeat = self.heartbeat(id);
        let prepared = async {
            let req = self.request_for(&revision).await?;
            // A deploy waits for the daemon as long as the connect takes.
            let target = self.targets.connect_revision(&revision, None).await?;
            Ok::<_, DeployerError>((req, target))
        }
        .await;
        let result = match prepared {
            // The target reports its own failures as events.
            Ok((req, target)) => target
                .apply(&req, opts, &tx)
                .await
                .map_err(DeployerError::from),
            Err(e) => {
                let _ = tx.send(ProgressEvent::Failed {
                    service: None,
                    message: e.to_string(),
                    last_logs: Vec::new(),
                });
                Err(e)
            }
        };
        drop(tx);
        let _ = recorder.await;
        heartbeat.abort();
        let (status, summary) = match &result {
            Ok(r) => (
                DeploymentStatus::Succeeded,
                format!(
                    "{} created, {} recreated, {} unchanged, {} removed in {:.1} s",
                    r.created.len(),
                    r.recreated.len(),
                    r.unchanged.len(),
                    r.removed.len(),
                    r.elapsed.as_secs_f64()
                ),
            ),
            Err(e) => (DeploymentStatus::Failed, e.to_string()),
        };
        self.store.finish_deployment(id, status, &summary).await?;
        self.record_outcome(
            id,
            &format!("deploy revision {}", revision.meta.id),
            status,
            &summary,
        )
        .await;
        result
    }

    /// Writes a finished deployment into the audit log (the dashboard's
    /// recent activity), as its actor.
    async fn record_outcome(&self, id: i64, action: &str, status: DeploymentStatus, summary: &str) {
        let actor = match self.store.deployment(id).await {
            Ok(Some(d)) => d.actor,
            _ => "system".to_owned(),
        };
        let outcome = match status {
            DeploymentStatus::Succeeded => crate::audit::Outcome::Success,
            _ => crate::audit::Outcome::Failure,
        };
        if let Err(e) = self
            .store
            .record(&actor, None, action, outcome, Some(summary))
            .await
        {
            tracing::warn!(error = %e, "could not record the deployment in the audit log");
        }
    }

    /// Removes the stack `stack` from `target` (volumes too if asked),
    /// recorded like an apply.
    pub async fn down(
        &self,
        stack: &str,
        target: &TargetSettings,
        remove_volumes: bool,
        actor: &str,
        watch: Option<UnboundedSender<ProgressEvent>>,
    ) -> Result<Outcome<Vec<String>>, DeployerError> {
        if let Some(why) = target.undeployable() {
            return Err(DeployerError::Refused(why.to_owned()));
        }
        let id = self
            .store
            .begin_deployment(None, DeploymentKind::Down, actor)
            .await?;
        let (tx, recorder) = self.recorder(id, watch);
        let heartbeat = self.heartbeat(id);
        let result = async {
            let target = self.targets.connect(target).await?;
            Ok::<_, DeployerError>(target.remove(stack, remove_volumes, &tx).await?)
        }
        .await;
        if let Err(e) = &result {
            let _ = tx.send(ProgressEvent::Failed {
                service: None,
                message: e.to_string(),
                last_logs: Vec::new(),
            });
        }
        drop(tx);
        let _ = recorder.await;
        heartbeat.abort();
        let (status, summary) = match &result {
            Ok(removed) => (
                DeploymentStatus::Succeeded,
                format!("{} services removed", removed.len()),
            ),
            Err(e) => (DeploymentStatus::Failed, e.to_string()),
        };
        self.store.finish_deployment(id, status, &summary).await?;
        self.record_outcome(id, &format!("remove stack {stack}"), status, &summary)
            .await;
        Ok(Outcome {
            deployment_id: id,
            result,
        })
    }

    /// Renews the deployment's lease until aborted, so a start-up elsewhere
    /// knows its owner is alive.
    fn heartbeat(&self, id: i64) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = store.heartbeat(id).await {
                    tracing::warn!(error = %e, "could not renew the deployment's lease");
                }
            }
        })
    }

    /// A sender whose events are stored (in order) and forwarded to `watch`.
    fn recorder(
        &self,
        id: i64,
        watch: Option<UnboundedSender<ProgressEvent>>,
    ) -> (UnboundedSender<ProgressEvent>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = unbounded_channel::<ProgressEvent>();
        let store = self.store.clone();
        let handle = tokio::spawn(async move {
            // Pull progress is stored at most once a second per image (the
            // page shows the image's totals); every event is forwarded.
            let mut pull_stored: std::collections::HashMap<String, std::time::Instant> =
                std::collections::HashMap::new();
            while let Some(event) = rx.recv().await {
                let keep = match &event {
                    ProgressEvent::PullProgress { image, .. } => {
                        let now = std::time::Instant::now();
                        let due = pull_stored
                            .get(image)
                            .is_none_or(|at| now.duration_since(*at) >= PULL_STORE_EVERY);
                        if due {
                            pull_stored.insert(image.clone(), now);
                        }
                        due
                    }
                    _ => true,
                };
                if keep {
                    if let Err(e) = store.append_event(id, &event).await {
                        tracing::warn!(error = %e, "could not store a progress event");
                    }
                }
                if let Some(w) = &watch {
                    let _ = w.send(event);
                }
            }
        });
        (tx, handle)
    }
}

impl std::fmt::Debug for Deployer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployer")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}
