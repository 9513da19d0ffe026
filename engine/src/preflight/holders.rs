//! Who holds a busy port, as the operator knows it (a service, a container,
//! this stack), and the one-sentence fix for each.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::docker::RunningContainer;
use super::ports::{HeldPorts, PortWanted, Protocol};
use super::sockets::overlaps;
use super::sockets::ProcessInfo;

/// What holds a port.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// A process on this host, or inside a container with host networking.
    Process {
        pid: u32,
        /// The executable's name (`/proc/<pid>/comm`).
        name: String,
        /// Its systemd service, e.g. `nginx.service`.
        unit: Option<String>,
        /// The container it runs in: its name, or its short id when Docker
        /// was not asked.
        container: Option<String>,
    },
    /// Docker's userland proxy, publishing a container's port.
    DockerProxy {
        pid: u32,
        /// `None` when Docker was not asked (or did not say).
        container: Option<String>,
    },
    /// A container publishing the port without a proxy process.
    Container { name: String },
    /// A container of the stack being configured: not a problem.
    ThisStack { container: String },
    /// In use, but the holder is invisible to Burrow (another network
    /// namespace, or not enough privilege to look into other processes).
    Unknown,
}

/// A holder as `/proc` shows it, before Docker names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RawHolder {
    Process(ProcessInfo),
    Unknown,
}

/// Names `raw`, holding `port` of `wanted`, with the daemon's containers.
pub(super) fn resolve(
    raw: &RawHolder,
    wanted: &PortWanted,
    port: u16,
    containers: &[RunningContainer],
    stack: Option<&str>,
) -> Holder {
    let ours = |c: &RunningContainer| stack.is_some() && c.stack.as_deref() == stack;
    match raw {
        RawHolder::Unknown => publisher(wanted, port, containers, stack).unwrap_or(Holder::Unknown),
        RawHolder::Process(p) if p.name == "docker-proxy" => {
            match publishing(wanted, port, containers) {
                Some(c) if ours(c) => Holder::ThisStack {
                    container: c.name.clone(),
                },
                found => Holder::DockerProxy {
                    pid: p.pid,
                    container: found.map(|c| c.name.clone()),
                },
            }
        }
        RawHolder::Process(p) => {
            let container = p.container_id.as_ref().map(|id| {
                containers
                    .iter()
                    .find(|c| &c.id == id)
                    .ok_or_else(|| id.chars().take(12).collect::<String>())
            });
            match container {
                Some(Ok(c)) if ours(c) => Holder::ThisStack {
                    container: c.name.clone(),
                },
                container => Holder::Process {
                    pid: p.pid,
                    name: p.name.clone(),
                    unit: p.unit.clone(),
                    container: container.map(|c| match c {
                        Ok(c) => c.name.clone(),
                        Err(short_id) => short_id,
                    }),
                },
            }
        }
    }
}

/// The container that publishes `port` of `wanted`, as a holder.
pub(super) fn publisher(
    wanted: &PortWanted,
    port: u16,
    containers: &[RunningContainer],
    stack: Option<&str>,
) -> Option<Holder> {
    let c = publishing(wanted, port, containers)?;
    Some(if stack.is_some() && c.stack.as_deref() == stack {
        Holder::ThisStack {
            container: c.name.clone(),
        }
    } else {
        Holder::Container {
            name: c.name.clone(),
        }
    })
}

fn publishing<'a>(
    wanted: &PortWanted,
    port: u16,
    containers: &'a [RunningContainer],
) -> Option<&'a RunningContainer> {
    containers.iter().find(|c| {
        c.published.iter().any(|p| {
            p.port == port
                && p.protocol == wanted.protocol
                && overlaps(
                    wanted.bind,
                    p.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                )
        })
    })
}

/// "Port 80/tcp", "Ports 50000-50100/udp".
pub(super) fn ports_with_protocol(wanted: &PortWanted) -> String {
    if wanted.is_range() {
        format!("Ports {}-{}/{}", wanted.first, wanted.last, wanted.protocol)
    } else {
        format!("Port {}/{}", wanted.first, wanted.protocol)
    }
}

/// The problem and its fix, for ports held by someone other than this stack.
pub(super) fn fix(wanted: &PortWanted, held: &HeldPorts) -> String {
    let ports = spans(&held.ports);
    let what = match (wanted.protocol, held.ports.len() > 1) {
        (Protocol::Tcp, false) => format!("Port {ports}"),
        (Protocol::Tcp, true) => format!("Ports {ports}"),
        (Protocol::Udp, false) => format!("UDP port {ports}"),
        (Protocol::Udp, true) => format!("UDP ports {ports}"),
    };
    let verb = if held.ports.len() > 1 { "are" } else { "is" };
    let instead = if wanted.is_range() {
        format!("give Burrow another port range in {}", wanted.settings)
    } else {
        format!("give Burrow other ports in {}", wanted.settings)
    };
    match &held.holder {
        Holder::Process {
            pid,
            name,
            container: Some(container),
            ..
        } => format!(
            "{what} {verb} used by {name} (pid {pid}) in the Docker container {container}: stop \
             the container (docker stop {container}) or {instead}."
        ),
        Holder::Process {
            pid,
            name,
            unit: Some(unit),
            ..
        } => format!(
            "{what} {verb} used by {name} (pid {pid}): stop it (systemctl stop {}) or {instead}.",
            unit.trim_end_matches(".service")
        ),
        Holder::Process { pid, name, .. } => {
            format!("{what} {verb} used by {name} (pid {pid}): stop it (kill {pid}) or {instead}.")
        }
        Holder::DockerProxy {
            container: Some(name),
            ..
        }
        | Holder::Container { name } => format!(
            "{what} {verb} published by the Docker container {name}: stop it (docker stop \
             {name}) or {instead}."
        ),
        Holder::DockerProxy {
            pid,
            container: None,
        } => format!(
            "{what} {verb} published by a Docker container (docker-proxy, pid {pid}); see docker \
             ps: stop that container or {instead}."
        ),
        Holder::Unknown => format!(
            "{what} {verb} in use, but Burrow cannot see by what (`ss -tulpn` as root shows it): \
             stop it or {instead}."
        ),
        Holder::ThisStack { container } => {
            format!("{what} {verb} in use by this stack ({container}).")
        }
    }
}

/// `[50000, 50001, 50002, 50007]` → `50000-50002 and 50007`.
pub(super) fn spans(ports: &[u16]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for p in sorted {
        match runs.last_mut() {
            Some((_, end)) if u32::from(*end) + 1 == u32::from(p) => *end = p,
            _ => runs.push((p, p)),
        }
    }
    let parts: Vec<String> = runs
        .into_iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    super::join_and(&parts)
}

#[cfg(test)]
mod tests {
    use super::super::docker::PublishedHostPort;
    use super::*;

    fn http() -> PortWanted {
        PortWanted::one(Protocol::Tcp, 80, "HTTP", "0.0.0.0".parse().unwrap())
    }

    fn process(name: &str, unit: Option<&str>, container_id: Option<&str>) -> RawHolder {
        RawHolder::Process(ProcessInfo {
            pid: 1234,
            name: name.into(),
            unit: unit.map(Into::into),
            container_id: container_id.map(Into::into),
        })
    }

    fn container(id: &str, name: &str, stack: Option<&str>, port: u16) -> RunningContainer {
        RunningContainer {
            id: id.into(),
            name: name.into(),
            stack: stack.map(Into::into),
            published: vec![PublishedHostPort {
                ip: Some("0.0.0.0".parse().unwrap()),
                port,
                protocol: Protocol::Tcp,
            }],
        }
    }

    fn fix_for(raw: RawHolder, containers: &[RunningContainer]) -> String {
        let holder = resolve(&raw, &http(), 80, containers, Some("stoat"));
        fix(
            &http(),
            &HeldPorts {
                ports: vec![80],
                holder,
            },
        )
    }

    #[test]
    fn a_systemd_service_is_named_with_its_stop_command() {
        assert_eq!(
            fix_for(process("nginx", Some("nginx.service"), None), &[]),
            "Port 80 is used by nginx (pid 1234): stop it (systemctl stop nginx) or give Burrow \
             other ports in Network settings."
        );
        assert_eq!(
            fix_for(process("python3", None, None), &[]),
            "Port 80 is used by python3 (pid 1234): stop it (kill 1234) or give Burrow other \
             ports in Network settings."
        );
    }

    #[test]
    fn docker_proxy_is_traced_to_its_container_when_docker_is_asked() {
        let web = container("c1", "web", None, 80);
        assert_eq!(
            fix_for(
                process("docker-proxy", None, None),
                std::slice::from_ref(&web)
            ),
            "Port 80 is published by the Docker container web: stop it (docker stop web) or give \
             Burrow other ports in Network settings."
        );
        let unnamed = fix_for(process("docker-proxy", None, None), &[]);
        assert!(
            unnamed.contains("published by a Docker container"),
            "{unnamed}"
        );
        assert!(unnamed.contains("see docker ps"), "{unnamed}");
    }

    #[test]
    fn this_stacks_containers_are_not_a_problem() {
        let caddy = container("c2", "stoat-caddy", Some("stoat"), 80);
        let holder = resolve(
            &process("docker-proxy", None, None),
            &http(),
            80,
            std::slice::from_ref(&caddy),
            Some("stoat"),
        );
        assert_eq!(
            holder,
            Holder::ThisStack {
                container: "stoat-caddy".into()
            }
        );
        // Another stack's container with the same port is somebody else's.
        let other = container("c3", "other-caddy", Some("other"), 80);
        let holder = resolve(
            &process("docker-proxy", None, None),
            &http(),
            80,
            &[other],
            Some("stoat"),
        );
        assert!(
            matches!(holder, Holder::DockerProxy { container: Some(ref c), .. } if c == "other-caddy")
        );
    }

    #[test]
    fn a_process_in_a_host_network_container_names_the_container() {
        let id = "b".repeat(64);
        let lk = container(&id, "stoat-livekit", Some("stoat"), 1);
        let ours = resolve(
            &process("livekit-server", None, Some(&id)),
            &http(),
            80,
            std::slice::from_ref(&lk),
            Some("stoat"),
        );
        assert!(matches!(ours, Holder::ThisStack { .. }), "{ours:?}");
        let unnamed = fix_for(process("livekit-server", None, Some(&id)), &[]);
        assert!(
            unnamed.contains("in the Docker container bbbbbbbbbbbb: stop the container"),
            "{unnamed}"
        );
    }

    #[test]
    fn port_lists_are_compact() {
        assert_eq!(
            spans(&[50007, 50000, 50001, 50002]),
            "50000-50002 and 50007"
        );
        assert_eq!(spans(&[80]), "80");
        assert_eq!(spans(&[1, 3, 5]), "1, 3 and 5");
    }
}
