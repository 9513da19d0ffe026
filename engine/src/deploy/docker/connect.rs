//! Reaching the daemon: address parsing, API version negotiation (Burrow
//! speaks the daemon's version when it is older than bollard's), and what an
//! unreachable daemon means to the operator.

use std::time::Duration;

use bollard::Docker;

use super::DockerTarget;
use crate::deploy::{DaemonInfo, DeployError};

/// How long the first exchange with the daemon may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const FIX: &str = "Is dockerd running? Start it (`systemctl start docker`, or `dockerd &`), \
                   or give Burrow the daemon's address (unix:///var/run/docker.sock, or for \
                   another machine its socket through an SSH tunnel: plain tcp:// there \
                   lets anyone on the network run containers as root).";

/// Whether `url` is a Docker address Burrow can connect to: a socket path,
/// `unix://…`, `tcp://…` or `http://…` with something after the scheme.
pub fn understood_address(url: &str) -> bool {
    url.starts_with('/')
        || ["unix://", "tcp://", "http://"]
            .iter()
            .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len())
}

impl DockerTarget {
    /// Connects to the daemon at `url` (`unix:///path`, `tcp://host:port`,
    /// `http://host:port`, or a socket path), or with `None` at `DOCKER_HOST`
    /// or the local socket, and negotiates the API version.
    #[tracing::instrument]
    pub async fn connect(url: Option<&str>) -> Result<Self, DeployError> {
        let url = match url {
            Some(u) => u.trim().to_string(),
            None => std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string()),
        };
        let host = if url.starts_with('/') {
            format!("unix://{url}")
        } else {
            url.clone()
        };
        if !understood_address(&host) {
            return Err(DeployError::InvalidUrl { url });
        }
        let docker = Docker::connect_with_host(&host).map_err(|e| unreachable(&url, &e))?;
        let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(unreachable(&url, &e)),
            Err(_) => {
                return Err(DeployError::Unreachable {
                    reason: format!("no answer within {} s. {FIX}", CONNECT_TIMEOUT.as_secs()),
                    url,
                })
            }
        };
        tracing::info!(api_version = %docker.client_version(), "connected to the Docker daemon");
        Ok(Self { docker, url })
    }

    /// The address this target was connected with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The daemon client, for checks outside the deploy (preflight).
    pub(crate) fn client(&self) -> &Docker {
        &self.docker
    }

    /// The daemon's version and platform, and the API version in use.
    pub async fn info(&self) -> Result<DaemonInfo, DeployError> {
        let v = self
            .docker
            .version()
            .await
            .map_err(|e| unreachable(&self.url, &e))?;
        Ok(DaemonInfo {
            version: v.version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }
}

/// An error on the first exchange, as a reason with its fix.
fn unreachable(url: &str, err: &bollard::errors::Error) -> DeployError {
    use bollard::errors::Error as E;
    let reason = match err {
        E::SocketNotFoundError(path) => format!("there is no socket at {path}. {FIX}"),
        E::RequestTimeoutError => format!("the daemon did not answer in time. {FIX}"),
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("it answered {status_code}: {message}"),
        other => match io_kind(other) {
            Some(std::io::ErrorKind::PermissionDenied) => {
                "permission denied on the socket. Run Burrow as root or as a member of the \
                 docker group."
                    .to_string()
            }
            Some(std::io::ErrorKind::NotFound) => format!("the socket does not exist. {FIX}"),
            Some(std::io::ErrorKind::ConnectionRefused) => format!("connection refused. {FIX}"),
            _ => format!("{}. {FIX}", chain(other)),
        },
    };
    DeployError::Unreachable {
        url: url.to_string(),
        reason,
    }
}

/// The I/O error at the root of `err`, if there is one.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// `err` and its sources on one line.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        current = e.source();
    }
    out
}
