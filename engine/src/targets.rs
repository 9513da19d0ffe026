//! Where a revision is deployed, and the one place that turns those settings
//! into a connected [`Target`]. Nothing else in Burrow connects to Docker or
//! Kubernetes: the deployer, the dashboard, the logs and the wizard's checks
//! all ask [`Targets`] with a revision's (or the draft's) own settings, so a
//! Kubernetes revision can never reach a Docker daemon.
//!
//! Connections are shared (one per address) and a failed connect is
//! remembered for [`REMEMBER_FAILURE`], so a dead daemon costs one timeout,
//! not one per page.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::deploy::{DeployError, DockerTarget, Target};

/// How long a failed connect is answered from memory.
pub const REMEMBER_FAILURE: Duration = Duration::from_secs(5);

/// The sentence a Kubernetes deploy gets until that target exists.
pub const KUBERNETES_NOT_YET: &str = "Deploying to Kubernetes is not available in this version \
     yet: choose Docker on the Target step to deploy, or apply the objects from `burrow render` \
     with kubectl.";

/// A revision's deploy target, stored with it (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetSettings {
    Docker {
        /// `unix:///…` or `tcp://…`; `None`: the local default
        /// (`DOCKER_HOST`, else `/var/run/docker.sock`).
        #[serde(default)]
        url: Option<String>,
    },
    Kubernetes {
        /// In-cluster credentials instead of an uploaded kubeconfig.
        #[serde(default)]
        in_cluster: bool,
        #[serde(default)]
        context: Option<String>,
        namespace: String,
    },
}

impl TargetSettings {
    /// The local Docker daemon.
    pub fn local_docker() -> Self {
        Self::Docker { url: None }
    }

    pub fn is_kubernetes(&self) -> bool {
        matches!(self, Self::Kubernetes { .. })
    }

    /// For the operator: "Docker at tcp://…", "Kubernetes, namespace stoat".
    pub fn describe(&self) -> String {
        match self {
            Self::Docker { url: None } => "Docker on this machine".to_owned(),
            Self::Docker { url: Some(u) } => format!("Docker at {u}"),
            Self::Kubernetes {
                namespace, context, ..
            } => match context {
                Some(c) => format!("Kubernetes ({c}), namespace {namespace}"),
                None => format!("Kubernetes, namespace {namespace}"),
            },
        }
    }

    /// Why this target cannot be deployed to now, if it cannot.
    pub fn undeployable(&self) -> Option<&'static str> {
        self.is_kubernetes().then_some(KUBERNETES_NOT_YET)
    }
}

/// A Docker address as typed: empty is the local default (`None`); else
/// `unix:///path`, `/path` or `tcp://host:port`, or the sentence saying what
/// is wrong with it.
pub fn parse_docker_url(input: &str) -> Result<Option<String>, String> {
    let url = input.trim();
    if url.is_empty() {
        return Ok(None);
    }
    // What the docker CLI's DOCKER_HOST takes for a daemon on a socket or
    // on TCP (bollard would also take http://, which nobody writes).
    let scheme_ok = (url.starts_with('/') && url.len() > 1)
        || ["unix:///", "tcp://"]
            .iter()
            .any(|s| url.starts_with(s) && url.len() > s.len());
    if scheme_ok && !url.chars().any(char::is_whitespace) {
        Ok(Some(url.to_owned()))
    } else {
        Err(format!(
            "{url:?} is not a Docker address Burrow understands: use unix:///path/to/docker.sock \
             or tcp://host:port, or leave it empty for this machine"
        ))
    }
}

enum Slot {
    Ready(Arc<DockerTarget>),
    Failed {
        at: Instant,
        url: String,
        reason: String,
    },
}

/// The target factory: connected targets by settings, shared.
pub struct Targets {
    /// The daemon used for `Docker { url: None }` (`BURROW_DOCKER_HOST`).
    default_docker: Option<String>,
    slots: Mutex<HashMap<Option<String>, Slot>>,
    /// Tests: every Docker revision goes to this target.
    fixed: Option<Arc<dyn Target>>,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets")
            .field("default_docker", &self.default_docker)
            .finish_non_exhaustive()
    }
}

impl Targets {
    pub fn new(default_docker: Option<String>) -> Self {
        Self {
            default_docker: default_docker.filter(|u| !u.is_empty()),
            slots: Mutex::new(HashMap::new()),
            fixed: None,
        }
    }

    /// A factory whose Docker target is `target` (tests, fakes). Kubernetes
    /// settings are still refused.
    pub fn fixed(target: Arc<dyn Target>) -> Self {
        Self {
            fixed: Some(target),
            ..Self::new(None)
        }
    }

    /// The address `Docker { url }` resolves to (the start-up default for
    /// `None`), as stored with a new revision.
    pub fn docker_settings(&self, url: Option<&str>) -> TargetSettings {
        TargetSettings::Docker {
            url: url
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .or_else(|| self.default_docker.clone()),
        }
    }

    /// The settings of a revision made from the wizard's target step.
    pub fn settings_for(
        &self,
        kind: stack::model::TargetKind,
        draft: &crate::wizard::TargetDraft,
    ) -> TargetSettings {
        match kind {
            stack::model::TargetKind::Docker => self.docker_settings(Some(&draft.docker_url)),
            stack::model::TargetKind::Kubernetes => TargetSettings::Kubernetes {
                in_cluster: draft.kube_source == "in-cluster",
                context: Some(draft.kube_context.trim().to_owned()).filter(|c| !c.is_empty()),
                namespace: Some(draft.kube_namespace.trim())
                    .filter(|n| !n.is_empty())
                    .unwrap_or("stoat")
                    .to_owned(),
            },
        }
    }

    /// The target `settings` name, connected (or the remembered failure).
    pub async fn connect(&self, settings: &TargetSettings) -> Result<Arc<dyn Target>, DeployError> {
        match settings {
            TargetSettings::Kubernetes { .. } => Err(DeployError::Unsupported {
                message: KUBERNETES_NOT_YET.to_owned(),
            }),
            TargetSettings::Docker { url } => {
                if let Some(t) = &self.fixed {
                    return Ok(t.clone());
                }
                Ok(self.docker(url.as_deref()).await?)
            }
        }
    }

    /// The Docker daemon at `url` (`None`: the default), shared.
    pub async fn docker(&self, url: Option<&str>) -> Result<Arc<DockerTarget>, DeployError> {
        let key = url
            .map(str::to_owned)
            .filter(|u| !u.is_empty())
            .or_else(|| self.default_docker.clone());
        let mut slots = self.slots.lock().await;
        match slots.get(&key) {
            Some(Slot::Ready(t)) => return Ok(t.clone()),
            Some(Slot::Failed { at, url, reason }) if at.elapsed() < REMEMBER_FAILURE => {
                return Err(DeployError::Unreachable {
                    url: url.clone(),
                    reason: reason.clone(),
                })
            }
            _ => {}
        }
        match DockerTarget::connect(key.as_deref()).await {
            Ok(t) => {
                let t = Arc::new(t);
                slots.insert(key, Slot::Ready(t.clone()));
                Ok(t)
            }
            Err(e) => {
                if let DeployError::Unreachable { url, reason } = &e {
                    slots.insert(
                        key,
                        Slot::Failed {
                            at: Instant::now(),
                            url: url.clone(),
                            reason: reason.clone(),
                        },
                    );
                }
                Err(e)
            }
        }
    }

    /// Forgets every connection (a daemon was restarted or replaced).
    pub async fn forget(&self) {
        self.slots.lock().await.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_docker_url;

    #[test]
    fn docker_addresses_as_the_docker_cli_takes_them() {
        assert_eq!(parse_docker_url("  "), Ok(None));
        for ok in [
            "unix:///var/run/docker.sock",
            "/var/run/docker.sock",
            "tcp://127.0.0.1:2375",
        ] {
            assert_eq!(parse_docker_url(ok), Ok(Some(ok.to_owned())), "{ok}");
        }
        for bad in [
            "http://nope",
            "tcp://",
            "unix://relative",
            "tcp://a b",
            "docker",
        ] {
            let err = parse_docker_url(bad).expect_err(bad);
            assert!(err.contains("unix:///path/to/docker.sock"), "{err}");
        }
    }
}
