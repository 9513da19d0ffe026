//! Is a service ready? Exec probes are the container's Docker health check
//! (which Burrow also runs itself while waiting: on API 1.41 Docker's first
//! check only comes after a whole `interval`);
//! HTTP and TCP probes are Burrow's own, run from the Docker host against the
//! container's address on the stack network (Stoat's images are distroless:
//! nothing inside could run a probe). One-shot jobs are ready once they have
//! exited 0; services without a probe once they run.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::exec::StartExecResults;
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ExecConfig, HealthStatusEnum,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use stack::render::{HealthCheck, Probe, ServiceSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;

use super::container::is_one_shot;
use super::logs::last_lines;
use crate::deploy::{DeployError, ProgressEvent};

/// How often the state is looked at while waiting.
const POLL: Duration = Duration::from_millis(400);
/// Restarts while waiting after which a service counts as crash-looping.
const CRASH_LOOP_RESTARTS: i64 = 3;
/// While waiting, Burrow runs an exec health check itself this often.
const EXEC_EVERY: Duration = Duration::from_secs(1);
const EXEC_TIMEOUT: Duration = Duration::from_secs(5);
/// Log lines an error carries.
pub(super) const ERROR_LOG_LINES: usize = 20;

/// Burrow's own probe, kept in a container label so `status` can run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ProbeLabel {
    #[serde(flatten)]
    pub probe: OwnProbe,
    pub start_period_s: u32,
    pub timeout_s: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum OwnProbe {
    Http { port: u16, path: String },
    Tcp { port: u16 },
}

impl ProbeLabel {
    /// `None` for exec probes (Docker runs those).
    pub fn of(check: &HealthCheck) -> Option<Self> {
        let probe = match &check.probe {
            Probe::Http { path, port } => OwnProbe::Http {
                port: *port,
                path: path.clone(),
            },
            Probe::Tcp { port } => OwnProbe::Tcp { port: *port },
            Probe::Exec { .. } => return None,
        };
        Some(Self {
            probe,
            start_period_s: check.start_period_s,
            timeout_s: check.timeout_s,
        })
    }

    pub fn to_label(&self) -> String {
        serde_json::to_string(self).expect("a probe serializes")
    }

    pub fn from_label(label: &str) -> Option<Self> {
        serde_json::from_str(label).ok()
    }

    /// One probe against the container at `ip`; the reason when it fails.
    pub async fn check(&self, ip: IpAddr, timeout: Duration) -> Result<(), String> {
        let timeout = timeout.min(Duration::from_secs(u64::from(self.timeout_s.max(1))));
        let result = tokio::time::timeout(timeout, async {
            match &self.probe {
                OwnProbe::Tcp { port } => TcpStream::connect(SocketAddr::new(ip, *port))
                    .await
                    .map(drop)
                    .map_err(|e| format!("TCP port {port}: {e}")),
                OwnProbe::Http { port, path } => http_get(SocketAddr::new(ip, *port), path).await,
            }
        })
        .await;
        result.unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())))
    }
}

/// GET `path`; healthy on 2xx and 3xx.
async fn http_get(addr: SocketAddr, path: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("GET {path} on port {}: {e}", addr.port());
    let mut stream = TcpStream::connect(addr).await.map_err(fail)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: burrow-probe\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(fail)?;
    let mut head = Vec::with_capacity(128);
    while !head.contains(&b'\n') && head.len() < 1024 {
        if stream.read_buf(&mut head).await.map_err(fail)? == 0 {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(code) if (200..400).contains(&code) => Ok(()),
        Some(code) => Err(format!(
            "GET {path} on port {} answered {code}",
            addr.port()
        )),
        None => Err(format!(
            "GET {path} on port {} did not answer HTTP",
            addr.port()
        )),
    }
}

/// The container's address on the stack network, while it has one.
pub(super) fn stack_ip(info: &ContainerInspectResponse, stack: &str) -> Option<IpAddr> {
    info.network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(stack)?
        .ip_address
        .as_deref()
        .filter(|ip| !ip.is_empty())?
        .parse()
        .ok()
}

/// What a service reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ready {
    /// Running and its probe (if any) passed.
    Healthy,
    /// A one-shot that exited 0.
    Completed,
}

/// The default time a service gets: its health check's own budget, at least 60 s.
pub(super) fn default_timeout(spec: &ServiceSpec) -> Duration {
    let own = spec.health.as_ref().map_or(0, |h| {
        u64::from(h.start_period_s) + u64::from(h.interval_s) * u64::from(h.retries)
    });
    Duration::from_secs(own.max(60))
}

/// Waits until the service in `container` is ready, has failed, or
/// `timeout` passed. Announces `WaitingHealthy` once if it is not ready at
/// the first look.
pub(super) async fn wait_ready(
    docker: &Docker,
    stack: &str,
    container: &str,
    spec: &ServiceSpec,
    timeout: Duration,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<Ready, DeployError> {
    let begun = Instant::now();
    let own_probe = spec.health.as_ref().and_then(ProbeLabel::of);
    let mut first_restarts = None;
    let mut announced = false;
    let mut last_problem = String::new();
    let mut last_exec: Option<Instant> = None;
    loop {
        let info = docker
            .inspect_container(container, None)
            .await
            .map_err(DeployError::docker(format!("inspecting {container}")))?;
        let state = info.state.clone().unwrap_or_default();
        let status = state.status.unwrap_or(ContainerStateStatusEnum::EMPTY);
        let exit_code = state.exit_code.unwrap_or(0);
        let restarts = info.restart_count.unwrap_or(0);
        let first = *first_restarts.get_or_insert(restarts);
        let stopped = matches!(
            status,
            ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD
        );

        if is_one_shot(spec) {
            if stopped && exit_code == 0 {
                return Ok(Ready::Completed);
            }
        } else if status == ContainerStateStatusEnum::RUNNING {
            let docker_health = state.health.as_ref().and_then(|h| h.status);
            match (&own_probe, &spec.health) {
                (Some(probe), _) => match stack_ip(&info, stack) {
                    Some(ip) => match probe.check(ip, Duration::from_secs(3)).await {
                        Ok(()) => return Ok(Ready::Healthy),
                        Err(reason) => last_problem = reason,
                    },
                    None => last_problem = "it has no address on the stack network".into(),
                },
                (None, Some(_)) => match docker_health {
                    Some(HealthStatusEnum::HEALTHY) => return Ok(Ready::Healthy),
                    Some(HealthStatusEnum::UNHEALTHY) => {
                        let streak = state
                            .health
                            .as_ref()
                            .and_then(|h| h.failing_streak)
                            .unwrap_or(0);
                        return Err(DeployError::ServiceFailed {
                            service: spec.name.clone(),
                            reason: format!(
                                "is unhealthy: its health check failed {streak} times in a row"
                            ),
                            last_logs: failure_logs(docker, container, &info).await,
                        });
                    }
                    // Docker's first check comes only after `interval` (API
                    // 1.41 has no start interval): run the same command now.
                    _ if last_exec.is_none_or(|at| at.elapsed() >= EXEC_EVERY) => {
                        last_exec = Some(Instant::now());
                        match exec_check(docker, container, &info, EXEC_TIMEOUT).await {
                            Some(Ok(())) => return Ok(Ready::Healthy),
                            Some(Err(reason)) => last_problem = reason,
                            None => {}
                        }
                    }
                    _ => {}
                },
                (None, None) => return Ok(Ready::Healthy),
            }
        }
        if restarts - first >= CRASH_LOOP_RESTARTS || (stopped && !restarts_by_itself(&info)) {
            let reason = if restarts > first {
                format!(
                    "keeps exiting (last exit code {exit_code}, restarted {} times)",
                    restarts - first
                )
            } else {
                format!("exited with code {exit_code}")
            };
            return Err(DeployError::ServiceFailed {
                service: spec.name.clone(),
                reason,
                last_logs: failure_logs(docker, container, &info).await,
            });
        }
        if begun.elapsed() >= timeout {
            if !last_problem.is_empty() {
                tracing::info!(service = %spec.name, problem = %last_problem, "not healthy");
            }
            return Err(DeployError::Unhealthy {
                service: spec.name.clone(),
                waited: timeout,
                last_logs: failure_logs(docker, container, &info).await,
            });
        }
        if !announced {
            announced = true;
            let _ = progress.send(ProgressEvent::WaitingHealthy {
                service: spec.name.clone(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs the container's Docker health check command once, now. `None` when
/// it has none (or `NONE`).
pub(super) async fn exec_check(
    docker: &Docker,
    container: &str,
    info: &ContainerInspectResponse,
    timeout: Duration,
) -> Option<Result<(), String>> {
    let test = info.config.as_ref()?.healthcheck.as_ref()?.test.clone()?;
    let cmd: Vec<String> = match test.split_first() {
        Some((kind, args)) if kind == "CMD" && !args.is_empty() => args.to_vec(),
        Some((kind, args)) if kind == "CMD-SHELL" && !args.is_empty() => {
            vec!["/bin/sh".into(), "-c".into(), args.join(" ")]
        }
        _ => return None,
    };
    let run = async {
        let fail = |e: bollard::errors::Error| format!("health check command: {e}");
        let exec = docker
            .create_exec(
                container,
                ExecConfig {
                    cmd: Some(cmd),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(fail)?;
        if let StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&exec.id, None).await.map_err(fail)?
        {
            while output.next().await.is_some() {}
        }
        match docker.inspect_exec(&exec.id).await.map_err(fail)?.exit_code {
            Some(0) => Ok(()),
            Some(code) => Err(format!("health check command exited with code {code}")),
            None => Err("health check command did not finish".to_string()),
        }
    };
    Some(
        tokio::time::timeout(timeout, run)
            .await
            .unwrap_or_else(|_| Err("health check command timed out".to_string())),
    )
}

/// Whether Docker will start a stopped container again on its own.
fn restarts_by_itself(info: &ContainerInspectResponse) -> bool {
    use bollard::models::RestartPolicyNameEnum as P;
    let policy = info
        .host_config
        .as_ref()
        .and_then(|h| h.restart_policy.as_ref())
        .and_then(|p| p.name);
    let exit_code = info.state.as_ref().and_then(|s| s.exit_code).unwrap_or(0);
    match policy {
        Some(P::ALWAYS | P::UNLESS_STOPPED) => true,
        Some(P::ON_FAILURE) => exit_code != 0,
        _ => false,
    }
}

/// The container's last log lines, for an error message.
async fn failure_logs(
    docker: &Docker,
    container: &str,
    info: &ContainerInspectResponse,
) -> Vec<String> {
    let mut lines = last_lines(docker, container, ERROR_LOG_LINES).await;
    if lines.is_empty() {
        // A failing exec health check says why in its own log.
        if let Some(out) = info
            .state
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.log.as_ref())
            .and_then(|log| log.last())
            .and_then(|r| r.output.clone())
        {
            lines = out.lines().map(|l| format!("(health check) {l}")).collect();
        }
    }
    lines
}
