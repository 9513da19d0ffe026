//! `engine::mail` against a real SMTP server (aiosmtpd, spawned per test on
//! 127.0.0.1). These tests fail, not skip, when `/usr/bin/python3` cannot
//! import aiosmtpd: install Debian's `python3-aiosmtpd`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use engine::mail::{
    port_hint, send_test_mail, CertificateIssue, Outcome, Secret, Security, SmtpSettings, Stage,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

#[path = "mail/wizard.rs"]
mod wizard;

const PYTHON: &str = "/usr/bin/python3";
const USER: &str = "stoat";
const PASSWORD: &str = "correct-horse-battery";
const FROM: &str = "Stoat <noreply@burrow.test>";
const TO: &str = "admin@burrow.test";
const WAIT: Duration = Duration::from_secs(10);

struct SmtpServer {
    child: Child,
    port: u16,
    out: tempfile::TempDir,
}

impl SmtpServer {
    fn start(mode: &str, args: &[&str]) -> Self {
        let probe = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}"));
        assert!(
            probe.status.success(),
            "{PYTHON} cannot import aiosmtpd (apt-get install python3-aiosmtpd): {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let out = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_server.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(["--mode", mode, "--out"])
            .arg(out.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn smtp_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("smtp_server.py did not start: {line:?}"));
        Self { child, port, out }
    }

    fn settings(&self, security: Security) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            security,
            username: None,
            password: None,
            from: FROM.into(),
            extra_root_pem: None,
            hello_name: Some("burrow.test".into()),
        }
    }

    /// The one message the server accepted, and its envelope.
    fn received(&self) -> (String, serde_json::Value) {
        let eml = self.out.path().join("1.eml");
        for _ in 0..50 {
            if eml.exists() {
                let json = std::fs::read_to_string(self.out.path().join("1.json")).unwrap();
                return (
                    std::fs::read_to_string(eml).unwrap(),
                    serde_json::from_str(&json).unwrap(),
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no message arrived in {}", self.out.path().display());
    }

    fn nothing_received(&self) -> bool {
        !self.out.path().join("1.eml").exists()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for `names`, written where the fixture reads them.
struct Tls {
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl Tls {
    fn new(names: &[SanType]) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = names.to_vec();
        let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Self {
            ca_pem: ca.pem(),
            dir,
        }
    }

    fn for_loopback() -> Self {
        Self::new(&[SanType::IpAddress([127, 0, 0, 1].into())])
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--cert".into(),
            self.path("cert.pem").display().to_string(),
            "--key".into(),
            self.path("key.pem").display().to_string(),
        ]
    }
}

fn start_tls_server(mode: &str, tls: &Tls, extra: &[&str]) -> SmtpServer {
    let mut args = tls.args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    SmtpServer::start(mode, &args)
}

fn signed_in(mut settings: SmtpSettings, password: &str) -> SmtpSettings {
    settings.username = Some(USER.into());
    settings.password = Some(Secret::new(password));
    settings
}

fn auth_arg() -> String {
    format!("--auth={USER}:{PASSWORD}")
}

#[tokio::test]
async fn plain_delivery_arrives_with_from_and_to() {
    let server = SmtpServer::start("plain", &[&auth_arg()]);
    let settings = signed_in(server.settings(Security::None), PASSWORD);
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Delivered {
            signed_in_as: Some(USER.into()),
            to: TO.into()
        },
        "{}",
        report.sentence()
    );
    let (eml, envelope) = server.received();
    assert!(eml.contains("From: Stoat <noreply@burrow.test>"), "{eml}");
    assert!(eml.contains("To: admin@burrow.test"), "{eml}");
    assert!(eml.contains("Subject: Burrow test mail"), "{eml}");
    assert_eq!(envelope["mail_from"], "noreply@burrow.test");
    assert_eq!(envelope["rcpt_tos"], serde_json::json!([TO]));
    assert_eq!(envelope["login"], USER);
    assert_eq!(envelope["tls"], false);
}

#[tokio::test]
async fn starttls_delivery_signs_in_over_tls() {
    let tls = Tls::for_loopback();
    let server = start_tls_server("starttls", &tls, &[&auth_arg()]);
    let mut settings = signed_in(server.settings(Security::StartTls), PASSWORD);
    settings.extra_root_pem = Some(tls.ca_pem.clone());
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    assert!(report.delivered(), "{}", report.sentence());
    assert_eq!(
        report.sentence(),
        format!(
            "Connected to 127.0.0.1:{} with STARTTLS, signed in as stoat, and the server accepted the message for {TO}.",
            server.port
        )
    );
    let (_, envelope) = server.received();
    assert_eq!(envelope["tls"], true);
    assert_eq!(envelope["login"], USER);
}

#[tokio::test]
async fn implicit_tls_delivery() {
    let tls = Tls::for_loopback();
    let server = start_tls_server("implicit", &tls, &[]);
    let mut settings = server.settings(Security::ImplicitTls);
    settings.extra_root_pem = Some(tls.ca_pem.clone());
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    assert!(report.delivered(), "{}", report.sentence());
    assert!(report
        .sentence()
        .contains("with implicit TLS, did not sign in"));
    let (eml, _) = server.received();
    assert!(eml.contains("To: admin@burrow.test"), "{eml}");
}

#[tokio::test]
async fn implicit_tls_against_starttls_port_says_choose_starttls() {
    let tls = Tls::for_loopback();
    let server = start_tls_server("starttls", &tls, &[]);
    let mut settings = server.settings(Security::ImplicitTls);
    settings.extra_root_pem = Some(tls.ca_pem.clone());
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    assert_eq!(report.outcome, Outcome::PortSpeaksPlain);
    assert!(report.sentence().contains("choose STARTTLS"));
    assert!(server.nothing_received());
}

#[tokio::test]
async fn starttls_against_implicit_port_says_choose_implicit_tls() {
    let tls = Tls::for_loopback();
    let server = start_tls_server("implicit", &tls, &[]);
    let mut settings = server.settings(Security::StartTls);
    settings.extra_root_pem = Some(tls.ca_pem.clone());
    let report = send_test_mail(&settings, TO, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::PortExpectsTls);
    assert!(report.sentence().contains("choose implicit TLS"));
}

#[tokio::test]
async fn starttls_not_offered() {
    let server = SmtpServer::start("plain", &[]);
    let report = send_test_mail(&server.settings(Security::StartTls), TO, WAIT)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::StartTlsNotOffered);
    assert!(server.nothing_received());
}

#[tokio::test]
async fn plain_against_server_requiring_starttls() {
    let tls = Tls::for_loopback();
    let server = start_tls_server("starttls", &tls, &["--require-starttls"]);
    let report = send_test_mail(&server.settings(Security::None), TO, WAIT)
        .await
        .unwrap();
    assert_eq!(
        report.outcome,
        Outcome::EncryptionRequired,
        "{}",
        report.sentence()
    );
    assert!(report.sentence().contains("choose STARTTLS"));
}

#[tokio::test]
async fn wrong_password_is_refused_and_never_shown() {
    let server = SmtpServer::start("plain", &[&auth_arg()]);
    let wrong = "wrong-password-do-not-print";
    let settings = signed_in(server.settings(Security::None), wrong);
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    match &report.outcome {
        Outcome::SignInRefused { code, .. } => assert_eq!(*code, 535),
        other => panic!("expected sign-in refused, got {other:?}"),
    }
    assert!(report
        .sentence()
        .contains("refused the username or password"));
    for shown in [
        report.sentence(),
        format!("{report:?}"),
        format!("{settings:?}"),
    ] {
        assert!(!shown.contains(wrong), "{shown}");
    }
    assert!(server.nothing_received());
}

#[tokio::test]
async fn server_requiring_sign_in() {
    let server = SmtpServer::start("plain", &[&auth_arg(), "--auth-required"]);
    let report = send_test_mail(&server.settings(Security::None), TO, WAIT)
        .await
        .unwrap();
    assert_eq!(
        report.outcome,
        Outcome::SignInRequired,
        "{}",
        report.sentence()
    );
}

#[tokio::test]
async fn refused_recipient() {
    let server = SmtpServer::start("plain", &["--refuse-rcpt", TO]);
    let report = send_test_mail(&server.settings(Security::None), TO, WAIT)
        .await
        .unwrap();
    match &report.outcome {
        Outcome::RecipientRefused { code, server_said } => {
            assert_eq!(*code, 550);
            assert!(server_said.contains("User unknown"), "{server_said}");
        }
        other => panic!("expected recipient refused, got {other:?}"),
    }
    assert!(report.sentence().contains("refused the recipient"));
    assert!(server.nothing_received());
}

#[tokio::test]
async fn untrusted_certificate() {
    let tls = Tls::for_loopback();
    for (mode, security) in [
        ("starttls", Security::StartTls),
        ("implicit", Security::ImplicitTls),
    ] {
        let server = start_tls_server(mode, &tls, &[]);
        let report = send_test_mail(&server.settings(security), TO, WAIT)
            .await
            .unwrap();
        assert_eq!(
            report.outcome,
            Outcome::CertificateUntrusted {
                reason: CertificateIssue::UnknownIssuer
            },
            "{mode}: {}",
            report.sentence()
        );
        assert!(report.sentence().contains("extra root"));
    }
}

#[tokio::test]
async fn certificate_for_another_name() {
    let tls = Tls::new(&[SanType::DnsName("mail.burrow.test".try_into().unwrap())]);
    let server = start_tls_server("starttls", &tls, &[]);
    let mut settings = server.settings(Security::StartTls);
    settings.extra_root_pem = Some(tls.ca_pem.clone());
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    assert_eq!(
        report.outcome,
        Outcome::CertificateUntrusted {
            reason: CertificateIssue::WrongName
        }
    );
}

#[tokio::test]
async fn closed_port_is_connection_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::StartTls,
        username: None,
        password: None,
        from: FROM.into(),
        extra_root_pem: None,
        hello_name: None,
    };
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    assert_eq!(report.outcome, Outcome::ConnectionRefused);
    assert!(report.sentence().contains("check the host and port"));
}

#[tokio::test]
async fn silent_server_times_out_in_tls_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::ImplicitTls,
        username: None,
        password: None,
        from: FROM.into(),
        extra_root_pem: None,
        hello_name: None,
    };
    let report = send_test_mail(&settings, TO, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(
        report.outcome,
        Outcome::TimedOut {
            stage: Stage::TlsHandshake
        }
    );
    hold.abort();
}

#[tokio::test]
async fn unknown_host_is_a_dns_failure() {
    let settings = SmtpSettings {
        // `.invalid` never resolves (RFC 6761), so nothing is contacted.
        host: "smtp.burrow-test.invalid".into(),
        port: 587,
        security: Security::StartTls,
        username: None,
        password: None,
        from: FROM.into(),
        extra_root_pem: None,
        hello_name: None,
    };
    let report = send_test_mail(&settings, TO, WAIT).await.unwrap();
    assert_eq!(report.outcome, Outcome::DnsFailure);
}

#[test]
fn port_hint_for_stoat_170() {
    let hint = port_hint(587, Security::ImplicitTls).unwrap();
    assert!(hint.contains("choose STARTTLS") && hint.contains("#170"));
}
