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
use http::{header, Request};
use http_body_util::Empty;
use serde::{Deserialize, Serialize};
use stack::render::{HealthCheck, Probe, ServiceSpec};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;

use super::container::is_one_shot;
use super::logs::last_lines;
use crate::chat_probe::{send, HttpError};
use crate::deploy::{ApplyOptions, DeployError, ProgressEvent};

/// How often the state is looked at while waiting.
const POLL: Duration = Duration::from_millis(400);
/// Restarts while waiting after which a service counts as crash-looping.
const CRASH_LOOP_RESTARTS: i64 = 3;
/// While waiting, Burrow runs an exec health check itself this often (a
/// check such as `rabbitmq-diagnostics` boots an Erlang VM: half a second
/// of CPU each time).
const EXEC_EVERY: Duration = Duration::from_secs(2);
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
    let port = addr.port();
    let fail = |e: &dyn std::fmt::Display| format!("GET {path} on port {port}: {e}");
    let stream = TcpStream::connect(addr).await.map_err(|e| fail(&e))?;
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .header(header::USER_AGENT, "burrow-probe")
        .header(header::ACCEPT, "*/*")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| fail(&e))?;
    match send(stream, request).await {
        Ok(response) => match response.status().as_u16() {
            code if (200..400).contains(&code) => Ok(()),
            code => Err(format!("GET {path} on port {port} answered {code}")),
        },
        Err(HttpError::NotHttp) => Err(format!("GET {path} on port {port} did not answer HTTP")),
        Err(HttpError::Other(e)) => Err(fail(&e)),
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
    /// Running and its probe (if any) passed; Docker's restart count at
    /// that moment (a restart after it means a crash after the gate).
    Healthy { restarts: i64 },
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

/// The time service `name` gets in an apply (`own`: its health check's
/// budget): the apply's override for it, else the apply's timeout, else
/// `own`; never past the apply's deadline (at `now`).
pub(super) fn service_timeout(
    opts: &ApplyOptions,
    name: &str,
    own: Duration,
    now: Instant,
) -> Duration {
    let given = opts
        .health_timeouts
        .get(name)
        .copied()
        .or(opts.health_timeout)
        .unwrap_or(own);
    match opts.deadline {
        Some(deadline) => given.min(deadline.saturating_duration_since(now)),
        None => given,
    }
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
                        Ok(()) => return Ok(Ready::Healthy { restarts }),
                        Err(reason) => last_problem = reason,
                    },
                    None => last_problem = "it has no address on the stack network".into(),
                },
                (None, Some(_)) => match docker_health {
                    Some(HealthStatusEnum::HEALTHY) => return Ok(Ready::Healthy { restarts }),
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
                            Some(Ok(())) => return Ok(Ready::Healthy { restarts }),
                            Some(Err(reason)) => last_problem = reason,
                            None => {}
                        }
                    }
                    _ => {}
                },
                (None, None) => return Ok(Ready::Healthy { restarts }),
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

/// Fails when the container of `service` restarted since its gate passed
/// (at `restarts`): it turned healthy, then crashed.
pub(super) async fn restarted_since(
    docker: &Docker,
    service: &str,
    container: &str,
    restarts: i64,
) -> Result<(), DeployError> {
    let info = docker
        .inspect_container(container, None)
        .await
        .map_err(DeployError::docker(format!("inspecting {container}")))?;
    let now = info.restart_count.unwrap_or(0);
    if now <= restarts {
        return Ok(());
    }
    // Docker resets the exit code once it has started the container again:
    // the logs say why it exited.
    Err(DeployError::ServiceFailed {
        service: service.to_owned(),
        reason: format!(
            "restarted {} time(s) after it turned healthy",
            now - restarts
        ),
        last_logs: failure_logs(docker, container, &info).await,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server on 127.0.0.1 that answers every connection with `answer`.
    async fn answering(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer).await;
            }
        });
        addr
    }

    #[test]
    fn a_service_gets_its_own_deadline_but_never_past_the_applys() {
        let now = Instant::now();
        let own = Duration::from_secs(60);
        let mut opts = ApplyOptions::default();
        assert_eq!(service_timeout(&opts, "api", own, now), own);
        opts.health_timeout = Some(Duration::from_secs(120));
        assert_eq!(
            service_timeout(&opts, "api", own, now),
            Duration::from_secs(120)
        );
        opts.health_timeouts
            .insert("api".into(), Duration::from_secs(300));
        assert_eq!(
            service_timeout(&opts, "api", own, now),
            Duration::from_secs(300)
        );
        assert_eq!(
            service_timeout(&opts, "web", own, now),
            Duration::from_secs(120)
        );
        opts.deadline = Some(now + Duration::from_secs(200));
        assert_eq!(
            service_timeout(&opts, "api", own, now),
            Duration::from_secs(200)
        );
        assert_eq!(
            service_timeout(&opts, "web", own, now),
            Duration::from_secs(120)
        );
        // Past the deadline: nothing left to wait.
        let later = now + Duration::from_secs(500);
        assert_eq!(service_timeout(&opts, "web", own, later), Duration::ZERO);
    }

    fn http_probe(port: u16) -> ProbeLabel {
        ProbeLabel {
            probe: OwnProbe::Http {
                port,
                path: "/health".into(),
            },
            start_period_s: 0,
            timeout_s: 2,
        }
    }

    #[tokio::test]
    async fn http_probes_pass_on_2xx_and_3xx_and_say_why_not() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let wait = Duration::from_secs(2);
        for answer in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..],
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.0 302 Found\r\nLocation: /login\r\n\r\n",
        ] {
            let addr = answering(answer).await;
            assert_eq!(http_probe(addr.port()).check(ip, wait).await, Ok(()));
        }
        let addr =
            answering(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(
            http_probe(addr.port()).check(ip, wait).await,
            Err(format!("GET /health on port {} answered 503", addr.port()))
        );
        let addr = answering(b"+PONG\r\n").await;
        assert_eq!(
            http_probe(addr.port()).check(ip, wait).await,
            Err(format!(
                "GET /health on port {} did not answer HTTP",
                addr.port()
            ))
        );
        let addr = answering(b"").await;
        assert_eq!(
            http_probe(addr.port()).check(ip, wait).await,
            Err(format!(
                "GET /health on port {} did not answer HTTP",
                addr.port()
            ))
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connection_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let err = http_probe(port)
            .check(ip, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!("GET /health on port {port}: ")),
            "{err}"
        );
    }
}
