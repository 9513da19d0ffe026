//! ACME end to end with a real ACME server: Debian's `pebble` (with
//! `pebble-challtestsrv` as its DNS, answering 127.0.0.1 for every name)
//! issues the test-kit stack's certificate to the real Caddy, through the
//! wizard's "ACME with a custom directory and its root CA" settings. Pebble
//! listens on the Docker bridge's gateway address (the host's end of
//! docker0, which the stack's containers reach) and checks the challenges
//! on 127.0.0.1, where the stack is published. A directory that does not
//! answer, and a challenge pebble cannot complete, reach the operator as
//! a sentence from Caddy's log.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::deploy::{ApplyOptions, DockerTarget, Target};
use stack::model::{CaCertificates, HttpsUrl, TlsMode};

use crate::support::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The host's address on the default Docker bridge (docker0).
fn bridge_gateway() -> String {
    let ipam = sh("docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}'")
        .trim()
        .to_owned();
    if !ipam.is_empty() {
        return ipam;
    }
    // A daemon started for the first time on a fresh machine leaves the
    // gateway out of the bridge's IPAM; the bridge interface carries it.
    let bridge = sh(
        "docker network inspect bridge --format '{{index .Options \"com.docker.network.bridge.name\"}}'",
    );
    let bridge = match bridge.trim() {
        "" => "docker0",
        name => name,
    };
    let out = sh(&format!("ip -4 -o addr show dev {bridge}"));
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no IPv4 address on {bridge}: {out}"))
        .to_owned()
}

/// Kills the children when dropped, whatever the test did.
struct Pebble {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    /// `https://<gateway>:<port>/dir`
    directory: String,
    /// The CA of the directory's own HTTPS certificate.
    listener_ca: String,
    management: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Pebble {
    /// Pebble checking challenges on `http_port` and `tls_port` of
    /// 127.0.0.1 (every name resolves there).
    fn start(http_port: u16, tls_port: u16) -> Pebble {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
        let gateway = bridge_gateway();
        let dir = tempfile::tempdir().unwrap();
        // The directory's HTTPS certificate, for the gateway address.
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf.subject_alt_names
            .push(SanType::IpAddress(gateway.parse().unwrap()));
        let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
        let write = |name: &str, text: &str| -> PathBuf {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let cert = write("cert.pem", &leaf.pem());
        let key = write("key.pem", &key.serialize_pem());
        let (dns, acme, management) = (free_port(), free_port(), free_port());
        let config = write(
            "pebble.json",
            &serde_json::json!({"pebble": {
                "listenAddress": format!("{gateway}:{acme}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": cert,
                "privateKey": key,
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }})
            .to_string(),
        );
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let dns_server = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .stdout(log("challtestsrv.log"))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pebble-challtestsrv runs (scripts/setup.sh installs pebble)");
        let server = Command::new("pebble")
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log"))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pebble runs (scripts/setup.sh installs it)");
        let pebble = Pebble {
            children: vec![dns_server, server],
            directory: format!("https://{gateway}:{acme}/dir"),
            listener_ca: ca.pem(),
            management,
            dir,
        };
        wait_listening(&format!("{gateway}:{acme}"));
        wait_listening(&format!("127.0.0.1:{management}"));
        pebble
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// The root pebble issues under (made at its start), as PEM in a file.
    fn issuing_root(&self) -> PathBuf {
        let out = sh(&format!(
            "curl -sk --max-time 5 https://127.0.0.1:{}/roots/0",
            self.management
        ));
        assert!(out.contains("BEGIN CERTIFICATE"), "pebble's root: {out}");
        let path = self.dir.path().join("issuing-root.pem");
        std::fs::write(&path, out).unwrap();
        path
    }
}

fn wait_listening(address: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(address).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {address}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `curl --cacert <root>` to the stack's HTTPS port: Ok(status) when the
/// certificate verifies, Err(what curl said) when not.
fn verified_get(kit: &Kit, root: &Path) -> Result<String, String> {
    let domain = kit.config.domain.as_str();
    let port = kit.config.network.https_port.get();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg("--cacert")
        .arg(root)
        .arg("--resolve")
        .arg(format!("{domain}:{port}:127.0.0.1"))
        .arg(format!("https://{domain}:{port}/"))
        .output()
        .expect("curl runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Caddy of `kit` gets its certificate from `directory` (whose HTTPS
/// chains to `root`).
fn use_acme(kit: &mut Kit, directory: &str, root: &str) {
    kit.config.tls = TlsMode::Acme {
        email: None,
        directory: HttpsUrl::parse(directory).unwrap(),
        directory_ca: Some(CaCertificates::parse(root).unwrap()),
    };
}

/// Deploys the kit's web and Caddy.
async fn deploy(target: &DockerTarget, kit: &Kit) {
    let (tx, _rx) = channel();
    target
        .apply(
            &kit.request_for(kit.subset(&["web", "caddy"]), 1),
            &ApplyOptions::default(),
            &tx,
        )
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
}

#[tokio::test]
async fn caddy_gets_its_certificate_from_pebble() {
    use engine::wizard::Step;
    let mut kit = Kit::new("bt-acme");
    let _cleanup = kit.cleanup();
    let pebble = Pebble::start(kit.http_port, kit.config.network.https_port.get());
    // The wizard's ACME choice with the custom directory and its root CA
    // (a root pasted wrongly is refused beside its field first).
    let setup = Setup::new().await;
    setup
        .steps(&[(Step::Domain, vec![("domain", kit.config.domain.as_str())])])
        .await;
    let acme = |root: &str| {
        form(&[
            ("tls.mode", "acme"),
            ("tls.directory", &pebble.directory),
            ("tls.directory_ca", root),
        ])
    };
    match setup
        .wizard()
        .save(Step::Tls, &acme("not a certificate"), "admin")
        .await
    {
        Err(engine::wizard::WizardError::Fields { errors, .. }) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].0, "tls.directory_ca", "{errors:?}");
        }
        other => panic!("not refused beside the root CA field: {other:?}"),
    }
    setup
        .wizard()
        .save(Step::Tls, &acme(&pebble.listener_ca), "admin")
        .await
        .unwrap();
    setup
        .steps(&[
            (Step::Smtp, vec![("smtp.enabled", "false")]),
            (Step::Voice, vec![("livekit.enabled", "false")]),
            (Step::Apps, vec![("apps.api", "true"), ("apps.web", "true")]),
            (Step::Target, vec![("target", "docker")]),
        ])
        .await;
    let revision = setup.wizard().save_revision("admin").await.unwrap();
    kit.config.tls = revision.config.tls.clone();
    assert!(
        matches!(&kit.config.tls, TlsMode::Acme { directory, directory_ca: Some(_), .. }
            if directory.as_str() == pebble.directory),
        "{:?}",
        kit.config.tls
    );
    let target = target().await;
    deploy(&target, &kit).await;

    // The certificate pebble issued verifies against pebble's root, for the
    // stack's domain, on the stack's HTTPS port.
    let root = pebble.issuing_root();
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let answer = verified_get(&kit, &root);
        if answer.is_ok() || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        answer,
        Ok("200".to_owned()),
        "Caddy's log:\n{}\npebble's log:\n{}",
        sh("docker logs bt-acme-caddy 2>&1 | tail -30"),
        pebble.log()
    );
    // The directory's own root does not make the issued certificate valid:
    // the trust really comes from pebble's issuing root.
    let listener_root = pebble.dir.path().join("listener-root.pem");
    std::fs::write(&listener_root, &pebble.listener_ca).unwrap();
    assert!(verified_get(&kit, &listener_root).is_err());

    // The dashboard's certificate line says so.
    let probe = engine::acme_log::acme_probe(&target, &kit.config)
        .await
        .expect("Caddy's log tells about the certificate");
    assert!(probe.ok, "{probe:?}");
    assert_eq!(
        probe.detail,
        format!(
            "Caddy obtained the certificate for stoat.burrow.test from {}.",
            pebble.directory
        )
    );
}

/// The dashboard's certificate line for `kit`, from the shared watch, once
/// Caddy has said something about it.
async fn certificate_line(target: DockerTarget, kit: &Kit) -> wire::ProbeResult {
    let hub = engine::dashboard::Hub::default();
    let feed = hub.subscribe(1, &kit.config, None, Arc::new(target));
    let mut probes = feed.probes.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = probes.borrow_and_update().clone().and_then(|list| {
            list.into_iter()
                .find(|p| p.path == engine::acme_log::PROBE_PATH)
        });
        if let Some(line) = line {
            return line;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no certificate line on the dashboard; Caddy's log:\n{}",
            sh(&format!("docker logs {}-caddy 2>&1 | tail -20", kit.stack))
        );
        let _ = tokio::time::timeout(left, probes.changed()).await;
    }
}

#[tokio::test]
async fn an_unreachable_directory_and_a_refused_challenge_reach_the_dashboard() {
    let gateway = bridge_gateway();
    // Pebble checks challenges on ports where nothing listens.
    let pebble = Pebble::start(free_port(), free_port());
    let mut down = Kit::new("bt-acme-down");
    let _down = down.cleanup();
    use_acme(
        &mut down,
        &format!("https://{gateway}:{}/dir", free_port()),
        &pebble.listener_ca.clone(),
    );
    let mut refused = Kit::new("bt-acme-refused");
    let _refused = refused.cleanup();
    use_acme(
        &mut refused,
        &pebble.directory.clone(),
        &pebble.listener_ca.clone(),
    );
    deploy(&target().await, &down).await;
    deploy(&target().await, &refused).await;

    let (down_line, refused_line) = tokio::join!(
        async { certificate_line(target().await, &down).await },
        async { certificate_line(target().await, &refused).await },
    );
    assert!(!down_line.ok);
    assert!(
        down_line.detail.starts_with(&format!(
            "Caddy could not get the certificate for stoat.burrow.test from https://{gateway}:"
        )) && down_line
            .detail
            .contains("the ACME directory does not answer (Get ")
            && down_line.detail.contains("connection refused"),
        "{down_line:?}"
    );
    assert!(!refused_line.ok);
    assert!(
        refused_line.detail.contains(
            "the ACME server could not check that this server answers for stoat.burrow.test"
        ) && refused_line.detail.contains("connection refused"),
        "{refused_line:?}"
    );
}
