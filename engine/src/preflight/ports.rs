//! Whether the host ports the stack publishes are free, and if not, who
//! holds them and how to free them.
//!
//! A port is free when Burrow can bind it. A busy one is traced to the
//! process holding it through `/proc` ([`super::sockets`]); with a Docker
//! daemon at hand, `docker-proxy` and processes inside containers are traced
//! further to the container's name, ports published without a proxy
//! (`userland-proxy: false`) are found too, and whatever this stack's own
//! containers hold is reported as theirs, not as a problem (the wizard may
//! run again on a machine where the stack is deployed).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use super::docker::{ContainerLister, RunningContainer};
use super::holders::{self, Holder, RawHolder};
use super::host::StackHost;
use super::sockets::HolderLookup;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// Host ports the stack will publish, with what they are for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortWanted {
    pub first: u16,
    /// Equal to `first` for a single port.
    pub last: u16,
    pub protocol: Protocol,
    /// "HTTP", "HTTPS", "LiveKit TCP", "LiveKit UDP media".
    pub purpose: String,
    /// The host address it is published on (`0.0.0.0`: every address).
    pub bind: IpAddr,
    /// Where the operator changes it, for the fix: "Network settings".
    pub settings: String,
}

impl PortWanted {
    pub fn one(protocol: Protocol, port: u16, purpose: &str, bind: IpAddr) -> Self {
        Self::range(protocol, port, port, purpose, bind)
    }

    pub fn range(protocol: Protocol, first: u16, last: u16, purpose: &str, bind: IpAddr) -> Self {
        Self {
            first,
            last: last.max(first),
            protocol,
            purpose: purpose.to_string(),
            bind,
            settings: "Network settings".to_string(),
        }
    }

    /// The settings page to name in the fix (default "Network settings").
    pub fn changed_in(mut self, settings: &str) -> Self {
        self.settings = settings.to_string();
        self
    }

    /// Every host port `config` publishes: Caddy's HTTP, HTTPS and HTTP/3,
    /// and LiveKit's when voice is on.
    pub fn for_config(config: &stack::StackConfig) -> Vec<Self> {
        let net = &config.network;
        let bind = net.bind.get();
        let mut wanted = vec![
            Self::one(Protocol::Tcp, net.http_port.get(), "HTTP", bind),
            Self::one(Protocol::Tcp, net.https_port.get(), "HTTPS", bind),
            Self::one(Protocol::Udp, net.https_port.get(), "HTTP/3", bind),
        ];
        let lk = &config.livekit;
        if lk.enabled {
            let voice = "Voice & video settings";
            wanted.push(
                Self::one(Protocol::Tcp, lk.tcp_port.get(), "LiveKit TCP", bind).changed_in(voice),
            );
            wanted.push(
                Self::range(
                    Protocol::Udp,
                    lk.udp_ports.start().get(),
                    lk.udp_ports.end().get(),
                    "LiveKit UDP media",
                    bind,
                )
                .changed_in(voice),
            );
        }
        wanted
    }

    pub(super) fn is_range(&self) -> bool {
        self.last > self.first
    }

    fn ports(&self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }

    pub(super) fn count(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortStatus {
    Free,
    /// Held by this stack's own containers, and otherwise free.
    InUseByThisStack,
    Busy,
    /// The bind address is not one of this machine's.
    NotLocal,
    /// Binding failed for another reason; see the summary.
    Unchecked,
    /// On another Docker host: none of its containers publishes the port,
    /// and programs outside containers there cannot be seen from here.
    NoContainerThere,
}

/// Ports (of one [`PortWanted`]) held by one holder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeldPorts {
    pub ports: Vec<u16>,
    pub holder: Holder,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortReport {
    pub wanted: PortWanted,
    pub status: PortStatus,
    /// Who holds which of the wanted ports (this stack included).
    pub held: Vec<HeldPorts>,
    /// One sentence: free, busy, or in use by this stack.
    pub summary: String,
    /// One sentence per problem, each with its fix.
    pub fixes: Vec<String>,
}

impl PortReport {
    pub fn ok(&self) -> bool {
        matches!(
            self.status,
            PortStatus::Free | PortStatus::InUseByThisStack | PortStatus::NoContainerThere
        )
    }
}

/// Checks every wanted port on this host without asking Docker: a port
/// published through `docker-proxy` is reported as a container's, but not
/// which one.
pub async fn check_ports(wanted: &[PortWanted]) -> Vec<PortReport> {
    check(wanted, None).await
}

/// [`check_ports`] with the daemon's list of running containers: holders are
/// named by container, and ports held by the containers of `stack` are
/// reported as in use by this stack.
pub async fn check_ports_with_docker(
    wanted: &[PortWanted],
    docker: &dyn ContainerLister,
    stack: &str,
) -> Vec<PortReport> {
    check(wanted, Some((docker, stack))).await
}

/// The ports on `host`, the machine the stack runs on: this machine's are
/// bound and traced as [`check_ports_with_docker`] does; on another Docker
/// host Burrow can bind nothing, so what that daemon's containers publish
/// is all that is checked, and the reports say so.
pub async fn check_ports_on(
    host: &StackHost,
    wanted: &[PortWanted],
    docker: Option<&dyn ContainerLister>,
    stack: &str,
) -> Vec<PortReport> {
    match (host, docker) {
        (StackHost::ThisMachine, Some(docker)) => check(wanted, Some((docker, stack))).await,
        (StackHost::ThisMachine, None) => check(wanted, None).await,
        (StackHost::Remote { .. }, docker) => {
            let machine = host.phrase();
            let listed = match docker {
                Some(lister) => lister.running_containers().await.map_err(|e| e.to_string()),
                None => Err("the daemon did not answer".to_owned()),
            };
            let reports: Vec<PortReport> = match listed {
                Ok(containers) => wanted
                    .iter()
                    .map(|w| {
                        let free = vec![Probe::Free; w.count() as usize];
                        let r = report(w, &free, &containers, Some(stack));
                        elsewhere(r, &machine)
                    })
                    .collect(),
                Err(why) => wanted
                    .iter()
                    .map(|w| {
                        let why = format!("the containers on {machine} could not be listed: {why}");
                        report(w, &[Probe::Failed(why)], &[], None)
                    })
                    .collect(),
            };
            for r in &reports {
                tracing::info!(status = ?r.status, summary = %r.summary, "port check on another host");
            }
            reports
        }
    }
}

/// A report made without binding, on another host: "free" only means that
/// no container there publishes the port.
fn elsewhere(mut r: PortReport, machine: &str) -> PortReport {
    if r.status == PortStatus::Free {
        let label = format!(
            "{} ({})",
            holders::ports_with_protocol(&r.wanted),
            r.wanted.purpose
        );
        r.status = PortStatus::NoContainerThere;
        r.summary = format!(
            "{label}: no container on {machine} publishes it; programs outside containers \
             there cannot be seen from here, and the deploy will say if one holds it."
        );
    }
    r
}

#[tracing::instrument(skip_all, fields(wanted = wanted.len()))]
async fn check(
    wanted: &[PortWanted],
    docker: Option<(&dyn ContainerLister, &str)>,
) -> Vec<PortReport> {
    let owned = wanted.to_vec();
    let probed = match tokio::task::spawn_blocking(move || probe_all(&owned)).await {
        Ok(probed) => probed,
        Err(e) => {
            tracing::error!(error = %e, "the port check panicked");
            wanted
                .iter()
                .map(|_| vec![Probe::Failed(e.to_string())])
                .collect()
        }
    };
    let (containers, stack) = match docker {
        None => (Vec::new(), None),
        Some((lister, stack)) => match lister.running_containers().await {
            Ok(list) => (list, Some(stack)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list containers for the port check");
                (Vec::new(), None)
            }
        },
    };
    let reports: Vec<PortReport> = wanted
        .iter()
        .zip(probed)
        .map(|(w, probes)| report(w, &probes, &containers, stack))
        .collect();
    for r in &reports {
        tracing::info!(status = ?r.status, summary = %r.summary, "port check");
    }
    reports
}

/// What binding one port found.
#[derive(Debug, Clone, PartialEq)]
enum Probe {
    Free,
    Held(Vec<RawHolder>),
    NotLocal,
    Failed(String),
}

/// Binds every port; traces the busy ones through `/proc` (read once).
fn probe_all(wanted: &[PortWanted]) -> Vec<Vec<Probe>> {
    let mut lookup = HolderLookup::default();
    wanted
        .iter()
        .map(|w| {
            w.ports()
                .map(|port| match bind(w.bind, port, w.protocol) {
                    Ok(()) => Probe::Free,
                    Err(e) => match e.kind() {
                        io::ErrorKind::AddrInUse => {
                            Probe::Held(lookup.holders(w.protocol, w.bind, port, true))
                        }
                        io::ErrorKind::AddrNotAvailable => Probe::NotLocal,
                        // A low port without the privilege to bind it: the
                        // socket tables still tell whether it is taken.
                        io::ErrorKind::PermissionDenied => {
                            let held = lookup.holders(w.protocol, w.bind, port, false);
                            if held.is_empty() {
                                Probe::Free
                            } else {
                                Probe::Held(held)
                            }
                        }
                        _ => Probe::Failed(e.to_string()),
                    },
                })
                .collect()
        })
        .collect()
}

fn bind(ip: IpAddr, port: u16, protocol: Protocol) -> io::Result<()> {
    let addr = SocketAddr::new(ip, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr).map(drop),
        Protocol::Udp => UdpSocket::bind(addr).map(drop),
    }
}

fn report(
    wanted: &PortWanted,
    probes: &[Probe],
    containers: &[RunningContainer],
    stack: Option<&str>,
) -> PortReport {
    let mut held: Vec<HeldPorts> = Vec::new();
    let mut add = |port: u16, holder: Holder| match held.iter_mut().find(|h| h.holder == holder) {
        Some(h) if !h.ports.contains(&port) => h.ports.push(port),
        Some(_) => {}
        None => held.push(HeldPorts {
            ports: vec![port],
            holder,
        }),
    };
    let mut not_local = false;
    let mut failure = None;
    for (port, probe) in wanted.ports().zip(probes) {
        match probe {
            Probe::Free => {
                // Published by iptables alone (no docker-proxy): bind works,
                // but traffic goes to the container.
                if let Some(holder) = holders::publisher(wanted, port, containers, stack) {
                    add(port, holder);
                }
            }
            Probe::Held(raw) => {
                for r in raw {
                    add(port, holders::resolve(r, wanted, port, containers, stack));
                }
            }
            Probe::NotLocal => not_local = true,
            Probe::Failed(e) => failure = Some(e.clone()),
        }
    }
    let label = format!(
        "{} ({})",
        holders::ports_with_protocol(wanted),
        wanted.purpose
    );
    let foreign: Vec<&HeldPorts> = held
        .iter()
        .filter(|h| !matches!(h.holder, Holder::ThisStack { .. }))
        .collect();
    let (status, summary, fixes) = if not_local {
        (
            PortStatus::NotLocal,
            format!("{label} cannot be published on {}.", wanted.bind),
            vec![format!(
                "{} is not an address of this machine: choose one of its addresses, or 0.0.0.0 \
                 for all of them, in {}.",
                wanted.bind, wanted.settings
            )],
        )
    } else if let Some(e) = failure {
        (
            PortStatus::Unchecked,
            format!("{label} could not be checked ({e})."),
            vec![format!(
                "Check {label} by hand with `ss -tulpn` as root before deploying."
            )],
        )
    } else if !foreign.is_empty() {
        let mut busy: Vec<u16> = foreign
            .iter()
            .flat_map(|h| h.ports.iter().copied())
            .collect();
        busy.sort_unstable();
        busy.dedup();
        let summary = if wanted.is_range() {
            format!(
                "{} of the {} ports {}-{}/{} ({}) are taken.",
                busy.len(),
                wanted.count(),
                wanted.first,
                wanted.last,
                wanted.protocol,
                wanted.purpose
            )
        } else {
            format!("{label} is taken.")
        };
        let fixes = foreign.iter().map(|h| holders::fix(wanted, h)).collect();
        (PortStatus::Busy, summary, fixes)
    } else if !held.is_empty() {
        let names: Vec<String> = held
            .iter()
            .filter_map(|h| match &h.holder {
                Holder::ThisStack { container } => Some(container.clone()),
                _ => None,
            })
            .collect();
        let verb = if wanted.is_range() { "are" } else { "is" };
        (
            PortStatus::InUseByThisStack,
            format!(
                "{label} {verb} in use by this stack ({}).",
                super::join_and(&names)
            ),
            Vec::new(),
        )
    } else {
        let verb = if wanted.is_range() { "are" } else { "is" };
        (
            PortStatus::Free,
            format!("{label} {verb} free."),
            Vec::new(),
        )
    };
    PortReport {
        wanted: wanted.clone(),
        status,
        held,
        summary,
        fixes,
    }
}
