//! The dashboard's view of a stack: one list call, then one inspect and (for
//! HTTP/TCP probes) one probe per container, all at once. The watch takes a
//! snapshot when the daemon's event stream says a container changed, and
//! otherwise only every few seconds.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary, EventMessage,
    HealthStatusEnum, PortMap,
};
use bollard::query_parameters::EventsOptions;
use bollard::Docker;
use futures_util::stream::{self, BoxStream, StreamExt};
use futures_util::FutureExt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::health::{exec_check, stack_ip, ProbeLabel};
use super::{label, stack_containers};
use crate::deploy::error::stack_name;
use crate::deploy::{DeployError, Health, ServiceStatus};

/// A status probe gives up after this long (the poll must stay fast).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) async fn snapshot(
    docker: &Docker,
    stack: &str,
) -> Result<Vec<ServiceStatus>, DeployError> {
    stack_name(stack)?;
    let containers = stack_containers(docker, stack).await?;
    let now = OffsetDateTime::now_utc();
    let found = futures_util::future::join_all(
        containers
            .iter()
            .map(|(service, c)| one(docker, stack, service, c, now)),
    )
    .await;
    let mut list = Vec::new();
    for f in found {
        if let Some(entry) = f? {
            list.push(entry);
        }
    }
    list.sort_by(|a, b| (a.0, &a.1.service).cmp(&(b.0, &b.1.service)));
    Ok(list.into_iter().map(|(_, s)| s).collect())
}

/// Container events that change what the dashboard shows. Not `exec_*`:
/// health checks (Docker's and Burrow's) run execs all the time.
const EVENTS: &[&str] = &[
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "oom",
    "pause",
    "unpause",
    "destroy",
    "rename",
    "health_status",
];

/// Events that arrive this close together make one snapshot (a restart is
/// kill, die, stop, start).
const SETTLE: Duration = Duration::from_millis(100);

type Events = BoxStream<'static, Result<EventMessage, BollardError>>;

/// The daemon's event stream for the containers of `stack`, from now on
/// (the request goes out when first polled; `since` keeps what happens
/// before that).
fn events(docker: &Docker, stack: &str) -> Events {
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        (
            "label".to_owned(),
            vec![format!("{}={stack}", label::STACK)],
        ),
        (
            "event".to_owned(),
            EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        ),
    ]);
    docker
        .events(Some(EventsOptions {
            since: Some(OffsetDateTime::now_utc().unix_timestamp().to_string()),
            filters: Some(filters),
            ..Default::default()
        }))
        .boxed()
}

/// Waits until the stack changes (an event) or `every` has passed (for what
/// events do not say: Burrow's own HTTP/TCP probes, uptime). A stream that
/// failed or ended is dropped and opened again on the next wait.
async fn next_change(docker: &Docker, stack: &str, events: &mut Option<Events>, every: Duration) {
    let stream = events.get_or_insert_with(|| self::events(docker, stack));
    tokio::select! {
        item = stream.next() => match item {
            Some(Ok(_)) => {
                // Let the rest of a burst arrive, then take it all at once.
                tokio::time::sleep(SETTLE).await;
                while let Some(Some(Ok(_))) = stream.next().now_or_never() {}
            }
            Some(Err(e)) => {
                tracing::debug!(stack, error = %e, "event stream failed; polling until it is back");
                *events = None;
                tokio::time::sleep(every).await;
            }
            None => {
                *events = None;
                tokio::time::sleep(every).await;
            }
        },
        () = tokio::time::sleep(every) => {}
    }
}

/// A snapshot now, then one whenever something other than uptime changed:
/// looked at when the daemon reports a container event, and every `every`
/// in any case.
pub(super) fn watch(
    docker: Docker,
    stack: String,
    every: Duration,
) -> BoxStream<'static, Result<Vec<ServiceStatus>, DeployError>> {
    type Key = Result<Vec<ServiceStatus>, String>;
    struct State {
        docker: Docker,
        stack: String,
        events: Option<Events>,
        last: Option<Key>,
    }
    let state = State {
        docker,
        stack,
        events: None,
        last: None,
    };
    stream::unfold(state, move |mut st| async move {
        loop {
            if st.last.is_some() {
                next_change(&st.docker, &st.stack, &mut st.events, every).await;
            } else {
                // Subscribe before the first snapshot: nothing falls between
                // (an event replayed from the same second costs one more
                // snapshot, no more).
                st.events = Some(events(&st.docker, &st.stack));
            }
            let snap = snapshot(&st.docker, &st.stack).await;
            let key: Key = match &snap {
                Ok(list) => Ok(list
                    .iter()
                    .map(|s| ServiceStatus {
                        uptime_secs: None,
                        ..s.clone()
                    })
                    .collect()),
                Err(e) => Err(e.to_string()),
            };
            if st.last.as_ref() != Some(&key) {
                st.last = Some(key);
                return Some((snap, st));
            }
        }
    })
    .boxed()
}

/// One container's status with its sort position; `None` if it vanished
/// between the list and the inspect.
async fn one(
    docker: &Docker,
    stack: &str,
    service: &str,
    summary: &ContainerSummary,
    now: OffsetDateTime,
) -> Result<Option<(usize, ServiceStatus)>, DeployError> {
    let id = summary.id.clone().unwrap_or_default();
    let info: ContainerInspectResponse = match docker.inspect_container(&id, None).await {
        Ok(i) => i,
        Err(BollardError::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(DeployError::docker(format!("inspecting {service}"))(e)),
    };
    let labels = info
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    let state = info.state.clone().unwrap_or_default();
    let status = state.status.unwrap_or(ContainerStateStatusEnum::EMPTY);
    let running = status == ContainerStateStatusEnum::RUNNING;
    let started = state
        .started_at
        .as_deref()
        .filter(|s| !s.starts_with("0001-"))
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
    let uptime_secs = started
        .filter(|_| running)
        .map(|at| u64::try_from((now - at).whole_seconds()).unwrap_or(0));
    let one_shot = labels.get(label::ONE_SHOT).is_some_and(|v| v == "true");

    let health = match labels
        .get(label::PROBE)
        .and_then(|l| ProbeLabel::from_label(l))
    {
        _ if one_shot => Health::None,
        Some(probe) if running => match stack_ip(&info, stack) {
            Some(ip) if probe.check(ip, PROBE_TIMEOUT).await.is_ok() => Health::Healthy,
            _ if uptime_secs.unwrap_or(0) < u64::from(probe.start_period_s) => Health::Starting,
            _ => Health::Unhealthy,
        },
        Some(_) => Health::None,
        None => match state.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
            Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
            // Before Docker's first check (a whole interval after the start),
            // the same command run now tells more than "starting".
            Some(HealthStatusEnum::STARTING) if running => {
                match exec_check(docker, &id, &info, PROBE_TIMEOUT).await {
                    Some(Ok(())) => Health::Healthy,
                    _ => Health::Starting,
                }
            }
            Some(HealthStatusEnum::STARTING) => Health::Starting,
            _ => Health::None,
        },
    };
    let stopped = matches!(
        status,
        ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD
    );
    let order = labels
        .get(label::ORDER)
        .and_then(|o| o.parse().ok())
        .unwrap_or(usize::MAX);
    let ports = info
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.as_ref())
        .map(format_ports)
        .unwrap_or_default();
    Ok(Some((
        order,
        ServiceStatus {
            service: service.to_string(),
            container: info
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            state: status.to_string(),
            health,
            restart_count: u64::try_from(info.restart_count.unwrap_or(0)).unwrap_or(0),
            started_at: started.and_then(|at| at.format(&Rfc3339).ok()),
            uptime_secs,
            image: info
                .config
                .as_ref()
                .and_then(|c| c.image.clone())
                .unwrap_or_default(),
            ports,
            exit_code: if stopped { state.exit_code } else { None },
            revision: labels.get(label::REVISION).and_then(|r| r.parse().ok()),
            one_shot,
            node: None,
        },
    )))
}

/// `ip:host->container/proto`, runs of consecutive ports as one range.
fn format_ports(map: &PortMap) -> Vec<String> {
    // (proto, ip, container port) -> host port
    let mut bound: BTreeMap<(String, String, u16), u16> = BTreeMap::new();
    for (key, bindings) in map {
        let Some((port, proto)) = key.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        for b in bindings.iter().flatten() {
            let ip = b.host_ip.clone().filter(|ip| !ip.is_empty());
            let host = b.host_port.as_deref().and_then(|p| p.parse().ok());
            if let Some(host) = host {
                let ip = ip.unwrap_or_else(|| "0.0.0.0".to_string());
                bound.insert((proto.to_string(), ip, port), host);
            }
        }
    }
    let mut runs: Vec<(String, String, u16, u16, u16)> = Vec::new(); // proto, ip, c0, c1, h0
    for ((proto, ip, port), host) in bound {
        if let Some(last) = runs.last_mut() {
            let continues = last.0 == proto
                && last.1 == ip
                && u32::from(port) == u32::from(last.3) + 1
                && u32::from(host) == u32::from(last.4) + u32::from(port - last.2);
            if continues {
                last.3 = port;
                continue;
            }
        }
        runs.push((proto, ip, port, port, host));
    }
    let mut out: Vec<(u16, String, String)> = runs
        .into_iter()
        .map(|(proto, ip, c0, c1, h0)| {
            let text = if c0 == c1 {
                format!("{ip}:{h0}->{c0}/{proto}")
            } else {
                let h1 = h0 + (c1 - c0);
                format!("{ip}:{h0}-{h1}->{c0}-{c1}/{proto}")
            };
            (c0, proto, text)
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, _, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortBinding;

    fn bind(ip: &str, port: u16) -> Option<Vec<PortBinding>> {
        Some(vec![PortBinding {
            host_ip: Some(ip.to_string()),
            host_port: Some(port.to_string()),
        }])
    }

    #[test]
    fn ports_are_shown_as_ranges() {
        let mut map = PortMap::new();
        map.insert("443/tcp".into(), bind("127.0.0.1", 18443));
        map.insert("443/udp".into(), bind("", 18443));
        for p in 50000..=50010u16 {
            map.insert(format!("{p}/udp"), bind("", 17900 + (p - 50000)));
        }
        assert_eq!(
            format_ports(&map),
            vec![
                "127.0.0.1:18443->443/tcp",
                "0.0.0.0:18443->443/udp",
                "0.0.0.0:17900-17910->50000-50010/udp",
            ]
        );
    }
}
