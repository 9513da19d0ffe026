//! A daemon reached over TLS with a client certificate: the test kit's
//! dockerd listens on 127.0.0.1:2376 with `--tlsverify` (scripts/setup.sh
//! makes its CA, server and client certificates), the way Docker documents
//! protecting a daemon on the network. Every refusal an operator can meet
//! there is a sentence with its fix.

use std::time::Duration;

use engine::deploy::{ApplyOptions, DeployError, DockerTarget, DockerTls, Target};
use futures_util::StreamExt;

use crate::support::*;

const TLS_DAEMON: &str = "tcp://127.0.0.1:2376";
const TLS_DIR: &str = "/var/lib/burrow-testkit/docker-tls";

/// The test kit's client files, as an operator pastes them.
pub fn kit_tls() -> DockerTls {
    let read = |name: &str| {
        std::fs::read_to_string(format!("{TLS_DIR}/{name}")).unwrap_or_else(|e| {
            panic!("{TLS_DIR}/{name} is missing ({e}): run scripts/setup.sh, which makes it")
        })
    };
    DockerTls::new(
        &read("ca.pem"),
        &read("cert.pem"),
        &read("key.pem"),
        time::OffsetDateTime::now_utc(),
    )
    .expect("the test kit's client files are accepted")
}

/// A CA of nobody's, and a client certificate it signed.
fn stranger() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["burrow".to_owned()]).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = client.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn refused(result: Result<DockerTarget, DeployError>) -> String {
    match result {
        Ok(t) => panic!("connected to {}, which must refuse", t.url()),
        Err(DeployError::Unreachable { reason, .. }) => reason,
        Err(other) => panic!("not an unreachable daemon: {other}"),
    }
}

#[tokio::test]
async fn a_stack_deploys_and_is_watched_over_tls() {
    target().await; // the daemon runs
    let kit = Kit::new("bt-tls");
    let _cleanup = kit.cleanup();
    let tls = kit_tls();
    let target = DockerTarget::connect_with(Some(TLS_DAEMON), Some(&tls))
        .await
        .unwrap_or_else(|e| panic!("the daemon over TLS: {e}"));
    assert!(target.uses_tls());
    let info = target.info().await.unwrap();
    assert!(!info.version.is_empty(), "{info:?}");

    // Everything a deploy does goes through the TLS transport: image checks,
    // network and volumes, created containers with their files uploaded
    // (tar), starts, health waits.
    let (tx, _rx) = channel();
    let report = target
        .apply(
            &kit.request_for(kit.subset(&["redis", "web"]), 1),
            &ApplyOptions::default(),
            &tx,
        )
        .await
        .unwrap_or_else(|e| panic!("apply over TLS failed: {e}"));
    assert_eq!(names(&report.created), ["redis", "web"].into());
    let running = containers("bt-tls");
    assert_eq!(running.len(), 2, "{running:?}");

    let status = target.status("bt-tls").await.unwrap();
    assert!(status.iter().all(|s| s.state == "running"), "{status:?}");
    // Streams (chunked, long-lived) work too: the web stand-in's start line.
    let mut logs = target.logs("bt-tls", Some("web"), 50, false);
    let first = tokio::time::timeout(Duration::from_secs(10), logs.next())
        .await
        .expect("a log line within 10 s")
        .expect("the web service has logged")
        .unwrap_or_else(|e| panic!("logs over TLS: {e}"));
    assert_eq!(first.service, "web");

    let (tx, _rx) = channel();
    let removed = target.remove("bt-tls", true, &tx).await.unwrap();
    assert_eq!(removed.len(), 2);
    assert!(containers("bt-tls").is_empty());
}

#[tokio::test]
async fn a_daemon_signed_by_another_ca_is_not_trusted() {
    target().await;
    let kit = kit_tls();
    let (other_ca, _, _) = stranger();
    let tls = DockerTls::new(
        &other_ca,
        &kit.cert,
        &kit.key,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let reason = refused(DockerTarget::connect_with(Some(TLS_DAEMON), Some(&tls)).await);
    assert!(
        reason.starts_with("its certificate is not signed by the CA certificate Burrow was given"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_client_certificate_the_daemon_does_not_trust_is_refused() {
    target().await;
    let kit = kit_tls();
    let (_, cert, key) = stranger();
    let tls = DockerTls::new(&kit.ca, &cert, &key, time::OffsetDateTime::now_utc()).unwrap();
    let reason = refused(DockerTarget::connect_with(Some(TLS_DAEMON), Some(&tls)).await);
    assert!(
        reason.starts_with("it refused Burrow's client certificate"),
        "{reason}"
    );
}

#[tokio::test]
async fn plain_http_to_the_tls_port_says_to_paste_the_certificates() {
    target().await;
    let reason = refused(DockerTarget::connect(Some(TLS_DAEMON)).await);
    assert!(
        reason.starts_with("it expects TLS on this port"),
        "{reason}"
    );
}

#[tokio::test]
async fn tls_to_a_plain_daemon_says_it_does_not_speak_tls() {
    // A plain-HTTP "daemon" on loopback that answers like dockerd does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let reason = refused(DockerTarget::connect_with(Some(&url), Some(&kit_tls())).await);
    assert!(
        reason.starts_with("it does not speak TLS on this port"),
        "{reason}"
    );
}

#[tokio::test]
async fn tls_is_refused_for_a_socket() {
    let reason = refused(
        DockerTarget::connect_with(Some("unix:///var/run/docker.sock"), Some(&kit_tls())).await,
    );
    assert!(
        reason.starts_with("TLS certificates are for a daemon at tcp://"),
        "{reason}"
    );
}

/// The wizard's Target step with TLS: each missing or wrong part named
/// beside its field, "Test connection" with the pasted and then the kept
/// settings, and the revision it makes carrying a sealed version of them
/// that the target factory connects with.
#[tokio::test]
async fn the_target_step_keeps_tls_sealed_and_the_revision_connects_with_it() {
    use engine::targets::TargetSettings;
    use engine::wizard::{Step, WizardError};

    target().await;
    let setup = Setup::new().await;
    setup
        .steps(&[
            (Step::Domain, vec![("domain", "chat.example.com")]),
            (Step::Tls, vec![("tls.mode", "self-signed")]),
            (Step::Smtp, vec![("smtp.enabled", "false")]),
            (Step::Voice, vec![("livekit.enabled", "false")]),
            (Step::Apps, vec![("apps.api", "true"), ("apps.web", "true")]),
        ])
        .await;
    let (wizard, store, vault, deployer, dir) = (
        setup.wizard(),
        &setup.store,
        &setup.vault,
        &setup.deployer,
        &setup.dir,
    );
    let kit = kit_tls();
    let fields = |problem: WizardError| -> Vec<String> {
        match problem {
            WizardError::Fields { errors, kept } => {
                assert!(
                    kept.iter().all(|(_, v)| !v.contains("PRIVATE KEY")),
                    "a key is never sent back: {kept:?}"
                );
                errors.into_iter().map(|(f, _)| f).collect()
            }
            other => panic!("not refused by field: {other:?}"),
        }
    };
    // Only the CA: the other two are asked for, beside their fields.
    let only_ca = form(&[
        ("target", "docker"),
        ("target.docker_url", TLS_DAEMON),
        ("target.docker_tls_ca", &kit.ca),
    ]);
    let err = wizard
        .save(Step::Target, &only_ca, "admin")
        .await
        .unwrap_err();
    assert_eq!(
        fields(err),
        ["target.docker_tls_cert", "target.docker_tls_key"]
    );
    // Certificates for a socket: beside the CA field.
    let socket = form(&[
        ("target", "docker"),
        ("target.docker_url", "unix:///var/run/docker.sock"),
        ("target.docker_tls_ca", &kit.ca),
        ("target.docker_tls_cert", &kit.cert),
        ("target.docker_tls_key", &kit.key),
    ]);
    let err = wizard
        .save(Step::Target, &socket, "admin")
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["target.docker_tls_ca"]);

    // Pasted, tested before saving: the daemon answers over TLS.
    let pasted = form(&[
        ("target", "docker"),
        ("target.docker_url", TLS_DAEMON),
        ("target.docker_tls_ca", &kit.ca),
        ("target.docker_tls_cert", &kit.cert),
        ("target.docker_tls_key", &kit.key),
    ]);
    let tested = wizard.test_target(&pasted).await.unwrap();
    assert!(tested.outcome.ok, "{:?}", tested.outcome);
    assert!(
        tested.outcome.sentence.starts_with("Connected to Docker "),
        "{:?}",
        tested.outcome
    );
    assert!(tested.kept.iter().all(|(_, v)| !v.contains("PRIVATE KEY")));
    wizard.save(Step::Target, &pasted, "admin").await.unwrap();
    let view = wizard.view(Step::Target, None).await.unwrap();
    assert!(view.docker_tls_set);
    // The key is sealed: no byte of it is in the database file.
    let key_body: String = kit
        .key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let db = std::fs::read(dir.path().join("burrow.db")).unwrap();
    let wal = std::fs::read(dir.path().join("burrow.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(24).any(|w| w == &key_body.as_bytes()[..24]),
            "the client key is stored unsealed"
        );
    }

    // Nothing pasted now: the kept settings are used.
    let address_only = form(&[("target", "docker"), ("target.docker_url", TLS_DAEMON)]);
    let tested = wizard.test_target(&address_only).await.unwrap();
    assert!(tested.outcome.ok, "{:?}", tested.outcome);
    // Asked to forget them, the same address is plain HTTP to a TLS port.
    let mut forget = address_only.clone();
    forget.insert("target.docker_tls_forget".into(), "true".into());
    let tested = wizard.test_target(&forget).await.unwrap();
    assert!(!tested.outcome.ok);
    assert!(
        tested
            .outcome
            .sentence
            .contains("it expects TLS on this port"),
        "{:?}",
        tested.outcome
    );

    let revision = wizard.save_revision("admin").await.unwrap();
    let TargetSettings::Docker {
        url,
        tls: Some(version),
    } = &revision.target
    else {
        panic!("the revision has no TLS settings: {:?}", revision.target);
    };
    assert_eq!(url.as_deref(), Some(TLS_DAEMON));
    assert_eq!(
        revision.target.describe(),
        format!("Docker at {TLS_DAEMON} over TLS")
    );
    assert!(!revision.target.plain_tcp_elsewhere());
    assert_eq!(
        &store.docker_tls_version(vault, *version).await.unwrap(),
        &kit
    );
    let connected = deployer
        .targets()
        .connect(&revision.target)
        .await
        .unwrap_or_else(|e| panic!("the revision's target: {e}"));
    assert!(connected
        .status("bt-nothing-here")
        .await
        .unwrap()
        .is_empty());

    // A version that cannot be read is a sentence, not a plain connection.
    let lost = TargetSettings::Docker {
        url: Some(TLS_DAEMON.to_owned()),
        tls: Some(version + 100),
    };
    let err = deployer.targets().connect(&lost).await.err().unwrap();
    assert!(
        err.to_string().contains("its TLS settings cannot be read"),
        "{err}"
    );
}
