use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};

use engine::deploy::DeployError;
use engine::preflight::docker::{ContainerLister, PublishedHostPort, RunningContainer};
use engine::preflight::{
    check_ports, check_ports_on, check_ports_with_docker, Holder, PortStatus, PortWanted, Protocol,
    StackHost,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// This test binary as `/proc/<pid>/comm` names it.
fn me() -> (u32, String) {
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    (std::process::id(), comm.trim().to_string())
}

fn free_port() -> u16 {
    TcpListener::bind((LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `len` consecutive UDP ports that are free on 127.0.0.1 right now.
fn free_udp_window(len: u16) -> u16 {
    for _ in 0..50 {
        let first = UdpSocket::bind((LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if first.checked_add(len).is_none() {
            continue;
        }
        let all_free = (first..first + len).all(|p| UdpSocket::bind((LOCALHOST, p)).is_ok());
        if all_free {
            return first;
        }
    }
    panic!("no {len} consecutive free UDP ports");
}

fn assert_held_by_me(holder: &Holder) {
    let (pid, name) = me();
    match holder {
        Holder::Process {
            pid: p, name: n, ..
        } => {
            assert_eq!((*p, n.as_str()), (pid, name.as_str()), "{holder:?}");
        }
        other => panic!("expected this test process, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tcp_port_held_here_names_this_process() {
    let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let reports = check_ports(&[PortWanted::one(Protocol::Tcp, port, "HTTP", LOCALHOST)]).await;
    let r = &reports[0];
    assert_eq!(r.status, PortStatus::Busy, "{r:?}");
    assert!(!r.ok());
    assert_eq!(r.summary, format!("Port {port}/tcp (HTTP) is taken."));
    assert_eq!(r.held.len(), 1, "{r:?}");
    assert_eq!(r.held[0].ports, vec![port]);
    assert_held_by_me(&r.held[0].holder);
    let (pid, name) = me();
    assert!(
        r.fixes[0].starts_with(&format!(
            "Port {port} is used by {name} (pid {pid}): stop it ("
        )),
        "{}",
        r.fixes[0]
    );
    assert!(
        r.fixes[0].ends_with("or give Burrow other ports in Network settings."),
        "{}",
        r.fixes[0]
    );
    drop(listener);
}

#[tokio::test]
async fn a_port_held_on_loopback_blocks_every_address() {
    let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let every: IpAddr = "0.0.0.0".parse().unwrap();
    let reports = check_ports(&[PortWanted::one(Protocol::Tcp, port, "HTTPS", every)]).await;
    assert_eq!(reports[0].status, PortStatus::Busy, "{:?}", reports[0]);
    assert_held_by_me(&reports[0].held[0].holder);
    drop(listener);
}

#[tokio::test]
async fn a_udp_port_held_here_names_this_process() {
    let socket = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    let port = socket.local_addr().unwrap().port();
    let reports = check_ports(&[PortWanted::one(Protocol::Udp, port, "HTTP/3", LOCALHOST)]).await;
    let r = &reports[0];
    assert_eq!(r.status, PortStatus::Busy, "{r:?}");
    assert_held_by_me(&r.held[0].holder);
    assert!(
        r.fixes[0].starts_with(&format!("UDP port {port} is used by ")),
        "{}",
        r.fixes[0]
    );
    drop(socket);
}

#[tokio::test]
async fn free_ports_are_free() {
    let tcp = free_port();
    let udp = free_udp_window(1);
    let reports = check_ports(&[
        PortWanted::one(Protocol::Tcp, tcp, "HTTP", LOCALHOST),
        PortWanted::one(Protocol::Udp, udp, "HTTP/3", LOCALHOST),
    ])
    .await;
    assert_eq!(reports[0].status, PortStatus::Free, "{:?}", reports[0]);
    assert_eq!(
        reports[0].summary,
        format!("Port {tcp}/tcp (HTTP) is free.")
    );
    assert_eq!(reports[1].status, PortStatus::Free, "{:?}", reports[1]);
    assert!(reports
        .iter()
        .all(|r| r.ok() && r.fixes.is_empty() && r.held.is_empty()));
}

#[tokio::test]
async fn busy_ports_in_a_udp_range_are_listed_compactly() {
    let first = free_udp_window(10);
    let last = first + 9;
    let held: Vec<UdpSocket> = [2, 3, 7]
        .iter()
        .map(|o| UdpSocket::bind((LOCALHOST, first + o)).unwrap())
        .collect();
    let wanted = PortWanted::range(Protocol::Udp, first, last, "LiveKit UDP media", LOCALHOST)
        .changed_in("Voice & video settings");
    let reports = check_ports(&[wanted]).await;
    let r = &reports[0];
    assert_eq!(r.status, PortStatus::Busy, "{r:?}");
    assert_eq!(
        r.summary,
        format!("3 of the 10 ports {first}-{last}/udp (LiveKit UDP media) are taken.")
    );
    assert_eq!(r.held.len(), 1, "{r:?}");
    assert_eq!(r.held[0].ports, vec![first + 2, first + 3, first + 7]);
    let (pid, name) = me();
    assert!(
        r.fixes[0].starts_with(&format!(
            "UDP ports {}-{} and {} are used by {name} (pid {pid}): stop it (",
            first + 2,
            first + 3,
            first + 7
        )),
        "{}",
        r.fixes[0]
    );
    assert!(
        r.fixes[0].ends_with("or give Burrow another port range in Voice & video settings."),
        "{}",
        r.fixes[0]
    );
    drop(held);
}

#[tokio::test]
async fn an_address_of_another_machine_cannot_be_bound() {
    let elsewhere: IpAddr = "203.0.113.9".parse().unwrap();
    let reports = check_ports(&[PortWanted::one(Protocol::Tcp, 80, "HTTP", elsewhere)]).await;
    let r = &reports[0];
    assert_eq!(r.status, PortStatus::NotLocal, "{r:?}");
    assert_eq!(
        r.fixes[0],
        "203.0.113.9 is not an address of this machine: choose one of its addresses, or 0.0.0.0 \
         for all of them, in Network settings."
    );
}

#[tokio::test]
async fn the_stack_config_asks_for_caddy_and_livekit_ports() {
    let mut config =
        stack::StackConfig::new(stack::model::DomainName::parse("chat.example.com").unwrap());
    let base: Vec<(Protocol, u16, u16, String)> = PortWanted::for_config(&config)
        .into_iter()
        .map(|w| (w.protocol, w.first, w.last, w.purpose))
        .collect();
    assert_eq!(
        base,
        vec![
            (Protocol::Tcp, 80, 80, "HTTP".to_string()),
            (Protocol::Tcp, 443, 443, "HTTPS".to_string()),
            (Protocol::Udp, 443, 443, "HTTP/3".to_string()),
        ]
    );
    config.livekit.enabled = true;
    let voice = PortWanted::for_config(&config);
    assert_eq!(voice.len(), 5);
    assert_eq!((voice[3].protocol, voice[3].first), (Protocol::Tcp, 7881));
    assert_eq!((voice[4].first, voice[4].last), (50000, 50100));
    assert_eq!(voice[4].settings, "Voice & video settings");
}

/// The daemon's answer, made up: one container per entry.
struct Containers(Vec<RunningContainer>);

#[async_trait::async_trait]
impl ContainerLister for Containers {
    async fn running_containers(&self) -> Result<Vec<RunningContainer>, DeployError> {
        Ok(self.0.clone())
    }
}

fn publishing(name: &str, stack: Option<&str>, port: u16) -> RunningContainer {
    RunningContainer {
        id: format!("{name}-id"),
        name: name.into(),
        stack: stack.map(Into::into),
        published: vec![PublishedHostPort {
            ip: None,
            port,
            protocol: Protocol::Tcp,
        }],
    }
}

#[tokio::test]
async fn ports_published_without_a_proxy_are_found_through_docker() {
    // With userland-proxy off, Docker holds no socket: binding succeeds, but
    // traffic to the port goes to the container.
    let port = free_port();
    let wanted = [PortWanted::one(Protocol::Tcp, port, "HTTPS", LOCALHOST)];

    let ours = Containers(vec![publishing("stoat-caddy", Some("stoat"), port)]);
    let r = &check_ports_with_docker(&wanted, &ours, "stoat").await[0];
    assert_eq!(r.status, PortStatus::InUseByThisStack, "{r:?}");
    assert!(r.ok());
    assert_eq!(
        r.summary,
        format!("Port {port}/tcp (HTTPS) is in use by this stack (stoat-caddy).")
    );
    assert!(r.fixes.is_empty());

    let theirs = Containers(vec![publishing("web", None, port)]);
    let r = &check_ports_with_docker(&wanted, &theirs, "stoat").await[0];
    assert_eq!(r.status, PortStatus::Busy, "{r:?}");
    assert_eq!(
        r.fixes[0],
        format!(
            "Port {port} is published by the Docker container web: stop it (docker stop web) or \
             give Burrow other ports in Network settings."
        )
    );
}

fn dockerbox() -> StackHost {
    StackHost::Remote {
        name: "dockerbox".into(),
        addresses: vec!["192.0.2.7".parse().unwrap()],
    }
}

/// A daemon that cannot be asked.
struct Gone;

#[async_trait::async_trait]
impl ContainerLister for Gone {
    async fn running_containers(&self) -> Result<Vec<RunningContainer>, DeployError> {
        Err(DeployError::Unreachable {
            url: "tcp://dockerbox:2375".into(),
            reason: "connection refused".into(),
        })
    }
}

#[tokio::test]
async fn on_another_docker_host_only_its_containers_are_asked() {
    // A port held here is nothing to a stack that runs on another machine:
    // Burrow must not bind it to judge that machine's ports.
    let held_here = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let port = held_here.local_addr().unwrap().port();
    let wanted = [PortWanted::one(Protocol::Tcp, port, "HTTPS", LOCALHOST)];

    let none = Containers(vec![]);
    let r = &check_ports_on(&dockerbox(), &wanted, Some(&none), "stoat").await[0];
    assert_eq!(r.status, PortStatus::NoContainerThere, "{r:?}");
    assert!(r.ok());
    assert_eq!(
        r.summary,
        format!(
            "Port {port}/tcp (HTTPS): no container on the Docker host dockerbox (192.0.2.7) \
             publishes it; programs outside containers there cannot be seen from here, and the \
             deploy will say if one holds it."
        )
    );
    // The same port checked on this machine is busy (this test holds it).
    let here = &check_ports_on(&StackHost::ThisMachine, &wanted, Some(&none), "stoat").await[0];
    assert_eq!(here.status, PortStatus::Busy, "{here:?}");

    let theirs = Containers(vec![publishing("web", None, port)]);
    let r = &check_ports_on(&dockerbox(), &wanted, Some(&theirs), "stoat").await[0];
    assert_eq!(r.status, PortStatus::Busy, "{r:?}");
    assert!(
        r.fixes[0].contains("published by the Docker container web"),
        "{r:?}"
    );

    let ours = Containers(vec![publishing("stoat-caddy", Some("stoat"), port)]);
    let r = &check_ports_on(&dockerbox(), &wanted, Some(&ours), "stoat").await[0];
    assert_eq!(r.status, PortStatus::InUseByThisStack, "{r:?}");

    for lister in [Some(&Gone as &dyn ContainerLister), None] {
        let r = &check_ports_on(&dockerbox(), &wanted, lister, "stoat").await[0];
        assert_eq!(r.status, PortStatus::Unchecked, "{r:?}");
        assert!(!r.ok());
        assert!(
            r.summary.contains(
                "the containers on the Docker host dockerbox (192.0.2.7) could not be listed"
            ),
            "{}",
            r.summary
        );
    }
    drop(held_here);
}
