use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use engine::deploy::DockerTarget;
use engine::preflight::{check_ports, check_ports_with_docker, test_docker};
use engine::preflight::{Holder, PortStatus, PortWanted, Protocol};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Built by `testkit/build-images.sh` before the tests; runs until stopped.
const IMAGE: &str = "burrow-testkit/caddy:dev";

/// The local daemon, started if it is not running; the test fails when it
/// stays unreachable.
async fn daemon() -> DockerTarget {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let _ = Command::new("sh")
            .arg("-c")
            .arg("pgrep -x dockerd >/dev/null || (dockerd >/tmp/burrow-dockerd.log 2>&1 &)")
            .status();
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match DockerTarget::connect(None).await {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => panic!("the Docker daemon is unreachable: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// A running container publishing `127.0.0.1:<port>->80/tcp`, labelled as
/// a Burrow stack's; removed on drop.
struct Published {
    name: String,
    port: u16,
}

impl Published {
    fn start(stack: &str) -> Self {
        let port = TcpListener::bind((LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let name = format!("{stack}-caddy");
        let out = Command::new("docker")
            .args(["run", "-d", "--rm", "--name", &name])
            .args(["--label", &format!("burrow.stack={stack}")])
            .args(["-p", &format!("127.0.0.1:{port}:80/tcp"), IMAGE])
            .output()
            .expect("the docker CLI runs");
        assert!(
            out.status.success(),
            "docker run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { name, port }
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

#[tokio::test]
async fn the_local_daemon_reports_its_version() {
    daemon().await;
    let report = test_docker(None).await;
    assert!(report.connected(), "{report:?}");
    let info = report.info.clone().unwrap();
    assert_eq!(
        report.sentence,
        format!(
            "Connected to Docker {} (API {}) on {}/{}.",
            info.version, info.api_version, info.os, info.arch
        )
    );
    assert!(info.api_version.starts_with("1."), "{info:?}");
    assert_eq!(report.url, None);
}

#[tokio::test]
async fn an_unreachable_daemon_is_a_sentence_with_the_fix() {
    let report = test_docker(Some("tcp://127.0.0.1:1")).await;
    assert!(!report.connected());
    assert_eq!(report.url.as_deref(), Some("tcp://127.0.0.1:1"));
    assert!(
        report
            .sentence
            .starts_with("Cannot reach the Docker daemon at tcp://127.0.0.1:1: "),
        "{}",
        report.sentence
    );
    assert!(
        report.sentence.contains("Is dockerd running?"),
        "{}",
        report.sentence
    );
    assert!(report.sentence.ends_with('.'), "{}", report.sentence);
}

#[tokio::test]
async fn a_malformed_address_says_which_forms_work() {
    let report = test_docker(Some("ftp://example")).await;
    assert!(!report.connected());
    assert!(
        report.sentence.contains("unix:///path/to/docker.sock"),
        "{}",
        report.sentence
    );
}

#[tokio::test]
async fn a_port_published_by_a_container_is_traced_to_it() {
    let target = daemon().await;
    let stack = format!("pf{}", std::process::id());
    let published = Published::start(&stack);
    let wanted = [PortWanted::one(
        Protocol::Tcp,
        published.port,
        "HTTPS",
        LOCALHOST,
    )];

    // This stack's own container: not a problem (the wizard run again on a
    // deployed machine).
    let ours = &check_ports_with_docker(&wanted, &target, &stack).await[0];
    assert_eq!(ours.status, PortStatus::InUseByThisStack, "{ours:?}");
    assert_eq!(
        ours.summary,
        format!(
            "Port {}/tcp (HTTPS) is in use by this stack ({}).",
            published.port, published.name
        )
    );

    // Another stack's: named, with the command that frees it.
    let theirs = &check_ports_with_docker(&wanted, &target, "another-stack").await[0];
    assert_eq!(theirs.status, PortStatus::Busy, "{theirs:?}");
    assert_eq!(
        theirs.fixes[0],
        format!(
            "Port {} is published by the Docker container {}: stop it (docker stop {}) or give \
             Burrow other ports in Network settings.",
            published.port, published.name, published.name
        )
    );

    // Without asking Docker: docker-proxy holds it (this daemon runs the
    // userland proxy), so the container is only hinted at.
    let unasked = &check_ports(&wanted).await[0];
    assert_eq!(unasked.status, PortStatus::Busy, "{unasked:?}");
    assert!(
        matches!(
            unasked.held[0].holder,
            Holder::DockerProxy {
                container: None,
                ..
            }
        ),
        "{unasked:?}"
    );
    assert!(
        unasked.fixes[0].contains("published by a Docker container"),
        "{}",
        unasked.fixes[0]
    );
    assert!(
        unasked.fixes[0].contains("see docker ps"),
        "{}",
        unasked.fixes[0]
    );
}
