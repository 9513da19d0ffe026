//! "Test connection" for a Docker target, and the daemon's view of which
//! running containers publish which host ports (for the port check).

use std::net::IpAddr;

use bollard::models::PortSummaryTypeEnum;
use bollard::query_parameters::ListContainersOptionsBuilder;
use serde::{Deserialize, Serialize};

use super::as_sentence;
use super::ports::Protocol;
use crate::deploy::{DaemonInfo, DeployError, DockerTarget};

/// What the wizard shows after "Test connection".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DockerReport {
    /// The address as the operator gave it (`None`: the local socket).
    pub url: Option<String>,
    /// Set when the daemon answered.
    pub info: Option<DaemonInfo>,
    /// One sentence: the daemon's version, or why it cannot be reached and
    /// what to do.
    pub sentence: String,
}

impl DockerReport {
    pub fn connected(&self) -> bool {
        self.info.is_some()
    }
}

/// Connects to the daemon at `url` (`None`: `DOCKER_HOST` or the local
/// socket) and asks for its version.
#[tracing::instrument]
pub async fn test_docker(url: Option<&str>) -> DockerReport {
    test_docker_with(url, None).await
}

/// Like [`test_docker`]; with `tls`, over TLS with those settings.
pub async fn test_docker_with(
    url: Option<&str>,
    tls: Option<&crate::deploy::DockerTls>,
) -> DockerReport {
    let url = url.map(str::trim).filter(|u| !u.is_empty());
    let result = match DockerTarget::connect_with(url, tls).await {
        Ok(target) => target.info().await,
        Err(e) => Err(e),
    };
    let (info, sentence) = match result {
        Ok(info) => {
            let sentence = format!(
                "Connected to Docker {} (API {}) on {}/{}.",
                info.version, info.api_version, info.os, info.arch
            );
            (Some(info), sentence)
        }
        Err(e) => (None, as_sentence(&e.to_string())),
    };
    tracing::info!(connected = info.is_some(), %sentence, "docker test connection");
    DockerReport {
        url: url.map(str::to_string),
        info,
        sentence,
    }
}

/// A running container and the host ports it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningContainer {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    /// Its `burrow.stack` label: the Burrow stack it belongs to, if any.
    pub stack: Option<String>,
    pub published: Vec<PublishedHostPort>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedHostPort {
    /// `None`: every address.
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub protocol: Protocol,
}

/// Lists running containers; the Docker target in production, a fixed list
/// in tests.
#[async_trait::async_trait]
pub trait ContainerLister: Send + Sync {
    async fn running_containers(&self) -> Result<Vec<RunningContainer>, DeployError>;
}

#[async_trait::async_trait]
impl ContainerLister for DockerTarget {
    async fn running_containers(&self) -> Result<Vec<RunningContainer>, DeployError> {
        let list = self
            .client()
            .list_containers(Some(ListContainersOptionsBuilder::new().all(false).build()))
            .await
            .map_err(DeployError::docker("listing the running containers"))?;
        Ok(list
            .into_iter()
            .map(|c| RunningContainer {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                stack: c
                    .labels
                    .unwrap_or_default()
                    .remove(crate::deploy::docker::label::STACK),
                published: c
                    .ports
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| {
                        Some(PublishedHostPort {
                            ip: p.ip.as_deref().and_then(|ip| ip.parse().ok()),
                            port: p.public_port?,
                            protocol: match p.typ? {
                                PortSummaryTypeEnum::TCP => Protocol::Tcp,
                                PortSummaryTypeEnum::UDP => Protocol::Udp,
                                _ => return None,
                            },
                        })
                    })
                    .collect(),
            })
            .collect())
    }
}
