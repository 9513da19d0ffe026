//! The Docker target: a stack is one network (named after the stack), named
//! volumes `<stack>_<volume>` and containers `<stack>-<service>`, all
//! labelled `burrow.stack`. Burrow talks to the daemon with bollard at the API
//! version the daemon speaks (negotiated; Debian's docker.io is API 1.41, and
//! nothing here needs a newer one).
//!
//! - [`connect`]: reaching the daemon, version negotiation, daemon info.
//! - `container`: a `ServiceSpec` as a Docker container definition and its
//!   config hash (pure).
//! - `files`: config files delivered into a created container as a tar
//!   archive (no host bind mounts), owned by the image's user.
//! - `images`: every image present before anything changes (pull if missing).
//! - `apply`: the diff against what runs; `start`: one service's task
//!   (dependencies, create, start, ready), all of them in parallel.
//! - `health`: waiting for a service (Docker health checks for exec probes,
//!   Burrow's own HTTP/TCP probes against the container's address).
//! - `resources`: the stack's network and volumes; stopping and removing.
//! - `status`, `logs`, `remove`: the dashboard's snapshot, log streams, removal.
//! - `tls`: the CA, client certificate and key of a daemon reached over TLS.

mod apply;
mod connect;
pub use connect::understood_address;
mod container;
mod files;
mod health;
mod images;
mod logs;
mod park;
mod remove;
mod resources;
mod start;
mod status;
pub mod switch;
mod tls;
mod volume_data;
pub use tls::{DockerTls, TlsPart};

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc::UnboundedSender;

use super::{
    ApplyOptions, ApplyReport, DeployError, DeployRequest, LogLine, ProgressEvent, ServiceStatus,
    Target,
};

/// Labels Burrow puts on what it creates.
pub(crate) mod label {
    pub const STACK: &str = "burrow.stack";
    pub const SERVICE: &str = "burrow.service";
    pub const CONFIG_HASH: &str = "burrow.config-hash";
    pub const REVISION: &str = "burrow.revision";
    /// Burrow's own HTTP/TCP probe for the service (JSON), read by `status`.
    pub const PROBE: &str = "burrow.probe";
    /// `true` on one-shot jobs (restart on failure only).
    pub const ONE_SHOT: &str = "burrow.one-shot";
    /// Dependency order of the service, to list services in that order.
    pub const ORDER: &str = "burrow.order";
    /// On a data volume: the fingerprint of the secrets that initialised it.
    pub const SECRETS: &str = "burrow.secrets-fingerprint";
    /// On a container created by a rollout (see [`super::ApplyOptions::park`]).
    pub const ROLLOUT: &str = "burrow.rollout";
}

/// A Docker daemon Burrow deploys to.
#[derive(Clone)]
pub struct DockerTarget {
    docker: Docker,
    /// The address as the operator gave it (for messages).
    url: String,
    /// Reached over TLS with a client certificate.
    tls: bool,
}

impl std::fmt::Debug for DockerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn container_name(stack: &str, service: &str) -> String {
    format!("{stack}-{service}")
}

/// The name a container is parked under during rollout `rollout`.
fn parked_name(name: &str, rollout: &str) -> String {
    format!("{name}--parked-{rollout}")
}

/// Whether a container (by its name, with or without Docker's `/`) is set
/// aside: a rollout's parked old one, or a switch's new one before it
/// takes the service's name.
fn is_aside(summary: &ContainerSummary) -> bool {
    summary.names.as_ref().is_some_and(|names| {
        names
            .iter()
            .any(|n| n.contains("--parked-") || n.contains("--next-"))
    })
}

fn volume_name(stack: &str, volume: &str) -> String {
    format!("{stack}_{volume}")
}

/// The stack's containers (running or not), by service name; those set
/// aside (a rollout's parked old ones, a switch's new one) are not the
/// service's.
async fn stack_containers(
    docker: &Docker,
    stack: &str,
) -> Result<HashMap<String, ContainerSummary>, DeployError> {
    Ok(by_service(every_stack_container(docker, stack).await?))
}

/// `all` (a stack's containers) by service, those set aside left out.
fn by_service(all: Vec<ContainerSummary>) -> HashMap<String, ContainerSummary> {
    all.into_iter()
        .filter(|c| !is_aside(c))
        .filter_map(|c| {
            let service = c.labels.as_ref()?.get(label::SERVICE)?.clone();
            Some((service, c))
        })
        .collect()
}

/// Every container of the stack, parked ones included.
async fn every_stack_container(
    docker: &Docker,
    stack: &str,
) -> Result<Vec<ContainerSummary>, DeployError> {
    let filters = HashMap::from([("label", vec![format!("{}={stack}", label::STACK)])]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(DeployError::docker(format!(
            "listing the containers of {stack}"
        )))?;
    Ok(list)
}

#[async_trait::async_trait]
impl Target for DockerTarget {
    async fn apply(
        &self,
        req: &DeployRequest,
        opts: &ApplyOptions,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<ApplyReport, DeployError> {
        apply::apply(&self.docker, &self.url, req, opts, progress).await
    }

    async fn status(&self, stack: &str) -> Result<Vec<ServiceStatus>, DeployError> {
        // In a container, Burrow's probes need the stack's network (a
        // stack deployed before Burrow ran in one, too).
        if crate::self_container::candidate().is_some() {
            if let Err(e) = resources::join_network(&self.docker, stack).await {
                tracing::warn!(error = %e, "Burrow's container could not join the stack's network");
            }
        }
        status::snapshot(&self.docker, stack)
            .await
            .map_err(|e| e.on_daemon(&self.url))
    }

    fn watch_status(
        &self,
        stack: &str,
        every: Duration,
    ) -> BoxStream<'static, Result<Vec<ServiceStatus>, DeployError>> {
        let url = self.url.clone();
        if crate::self_container::candidate().is_some() {
            let (docker, stack) = (self.docker.clone(), stack.to_owned());
            tokio::spawn(async move {
                if let Err(e) = resources::join_network(&docker, &stack).await {
                    tracing::warn!(error = %e, "Burrow's container could not join the stack's network");
                }
            });
        }
        status::watch(self.docker.clone(), stack.to_string(), every)
            .map(move |r| r.map_err(|e| e.on_daemon(&url)))
            .boxed()
    }

    fn logs(
        &self,
        stack: &str,
        service: Option<&str>,
        tail: usize,
        follow: bool,
    ) -> BoxStream<'static, Result<LogLine, DeployError>> {
        logs::stream(
            self.docker.clone(),
            stack.to_string(),
            service.map(str::to_string),
            tail,
            follow,
        )
    }

    async fn unpark(
        &self,
        stack: &str,
        rollout: &str,
        drain: Option<Duration>,
    ) -> Result<Vec<String>, DeployError> {
        let drain = drain.unwrap_or_else(switch::default_drain);
        self.unpark_rollout(stack, rollout, drain)
            .await
            .map_err(|e| e.on_daemon(&self.url))
    }

    async fn drop_parked(&self, stack: &str, rollout: &str) -> Result<Vec<String>, DeployError> {
        self.drop_parked_rollout(stack, rollout)
            .await
            .map_err(|e| e.on_daemon(&self.url))
    }

    async fn remove(
        &self,
        stack: &str,
        remove_volumes: bool,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<Vec<String>, DeployError> {
        remove::remove(&self.docker, &self.url, stack, remove_volumes, progress).await
    }
}
