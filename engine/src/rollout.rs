//! Turns a config revision into a running stack: renders the plan with the
//! kept secrets, supplies the self-signed certificate, runs the target and
//! stores every progress event, so the CLI and the console share one
//! history and a reloaded page sees the same progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use stack::model::{StackConfig, TlsMode};
use stack::render::{SELF_SIGNED_CERT_SOURCE, SELF_SIGNED_KEY_SOURCE};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::Mutex;

use crate::deploy::{
    ApplyOptions, ApplyReport, DeployError, DeployRequest, DockerTarget, ProgressEvent, Target,
};
use crate::deployments::{BusyOr, DeploymentKind, DeploymentStatus};
use crate::revisions::Revision;
use crate::sealed::Vault;
use crate::{EngineError, Store};

/// Pull progress is stored (for the page) at most this often per image.
const PULL_STORE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("deployment {0} is still running; wait for it to finish")]
    Busy(i64),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<BusyOr> for RolloutError {
    fn from(e: BusyOr) -> Self {
        match e {
            BusyOr::Busy(id) => Self::Busy(id),
            BusyOr::Engine(e) => Self::Engine(e),
        }
    }
}

/// Where the wizard keeps the Docker address it was given.
pub const DOCKER_URL: &str = "target_docker_url";

/// What finished: the stored deployment and what the target did.
#[derive(Debug)]
pub struct Outcome<T> {
    pub deployment_id: i64,
    pub result: Result<T, RolloutError>,
}

/// The deployer the console and the CLI share.
pub struct Rollout {
    store: Store,
    vault: Vault,
    docker_url: Option<String>,
    target: Mutex<Option<Arc<dyn Target>>>,
}

impl Rollout {
    pub fn new(store: Store, vault: Vault, docker_url: Option<String>) -> Self {
        Self {
            store,
            vault,
            docker_url,
            target: Mutex::new(None),
        }
    }

    /// A rollout over an already connected target (tests, other targets).
    pub fn with_target(store: Store, vault: Vault, target: Arc<dyn Target>) -> Self {
        Self {
            store,
            vault,
            docker_url: None,
            target: Mutex::new(Some(target)),
        }
    }

    /// Forgets the connected target (the address changed).
    pub async fn reset_target(&self) {
        *self.target.lock().await = None;
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The connected target; connects on first use and again after a
    /// failure (the daemon may have been started meanwhile).
    pub async fn target(&self) -> Result<Arc<dyn Target>, DeployError> {
        let mut slot = self.target.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        // The address chosen in the wizard wins over the start-up setting.
        let chosen = self
            .store
            .secret(&self.vault, DOCKER_URL)
            .await
            .ok()
            .flatten()
            .filter(|u| !u.is_empty());
        let url = chosen.as_deref().or(self.docker_url.as_deref());
        let docker: Arc<dyn Target> = Arc::new(DockerTarget::connect(url).await?);
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// Everything the target needs for `config`: the plan rendered with the
    /// kept secrets, and the certificate pair in the self-signed mode.
    pub async fn request_for(
        &self,
        config: &StackConfig,
        revision: i64,
    ) -> Result<DeployRequest, EngineError> {
        let secrets = self.store.ensure_stack_secrets(&self.vault).await?;
        let plan = stack::render::render(config, &secrets);
        let mut host_files = BTreeMap::new();
        if let TlsMode::OwnCertificate {
            cert_file,
            key_file,
        } = &config.tls
        {
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
        }
        Ok(DeployRequest {
            stack: config.name.clone(),
            revision,
            plan,
            host_files,
        })
    }

    /// Applies `revision`, storing progress; `watch` gets every event too.
    /// Returns once the deployment record exists, with the apply running in
    /// the background (the console), or use [`Rollout::apply`] to wait.
    pub async fn start_apply(
        self: &Arc<Self>,
        revision: Revision,
        actor: &str,
        opts: ApplyOptions,
    ) -> Result<i64, RolloutError> {
        let id = self
            .store
            .begin_deployment(Some(revision.meta.id), DeploymentKind::Apply, actor)
            .await?;
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
    ) -> Result<Outcome<ApplyReport>, RolloutError> {
        let id = self
            .store
            .begin_deployment(Some(revision.meta.id), DeploymentKind::Apply, actor)
            .await?;
        let result = self.run_apply(id, revision, opts, watch).await;
        Ok(Outcome {
            deployment_id: id,
            result,
        })
    }

    async fn run_apply(
        &self,
        id: i64,
        revision: Revision,
        opts: &ApplyOptions,
        watch: Option<UnboundedSender<ProgressEvent>>,
    ) -> Result<ApplyReport, RolloutError> {
        let (tx, recorder) = self.recorder(id, watch);
        let prepared = async {
            let req = self.request_for(&revision.config, revision.meta.id).await?;
            let target = self.target().await?;
            Ok::<_, RolloutError>((req, target))
        }
        .await;
        let result = match prepared {
            // The target reports its own failures as events.
            Ok((req, target)) => target
                .apply(&req, opts, &tx)
                .await
                .map_err(RolloutError::from),
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
        result
    }

    /// Removes the stack of `config` (volumes too if asked), recorded like
    /// an apply.
    pub async fn down(
        &self,
        config: &StackConfig,
        remove_volumes: bool,
        actor: &str,
        watch: Option<UnboundedSender<ProgressEvent>>,
    ) -> Result<Outcome<Vec<String>>, RolloutError> {
        let id = self
            .store
            .begin_deployment(None, DeploymentKind::Down, actor)
            .await?;
        let (tx, recorder) = self.recorder(id, watch);
        let result = async {
            let target = self.target().await?;
            Ok::<_, RolloutError>(
                target
                    .remove(config.name.as_str(), remove_volumes, &tx)
                    .await?,
            )
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
        let (status, summary) = match &result {
            Ok(removed) => (
                DeploymentStatus::Succeeded,
                format!("{} services removed", removed.len()),
            ),
            Err(e) => (DeploymentStatus::Failed, e.to_string()),
        };
        self.store.finish_deployment(id, status, &summary).await?;
        Ok(Outcome {
            deployment_id: id,
            result,
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

impl std::fmt::Debug for Rollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollout")
            .field("docker_url", &self.docker_url)
            .finish_non_exhaustive()
    }
}

/// Keeps the vault reachable for callers that hold only the rollout.
impl Rollout {
    pub fn vault(&self) -> &Vault {
        &self.vault
    }
}
