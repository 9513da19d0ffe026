//! Secrets never leak: the whole wizard with an SMTP password, an own
//! certificate and a Docker daemon over TLS, a deploy, two-factor sign-in set up; then every byte of
//! every file in the data dir (burrow.db and its WAL included), Burrow's
//! log output and every page's HTML is searched for every secret value.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::StatusCode;
use totp_rs::Secret;

use crate::helpers::*;
use crate::wizard::{save, settled};

/// Everything logged by any test in this binary from the first call on.
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        #[derive(Clone)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,h2=info,sqlx=info,tower_sessions=info")
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

#[tokio::test]
async fn no_secret_reaches_the_database_unsealed_the_log_or_a_page() {
    let log = captured_log();
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let ca = engine::certs::BurrowCa::generate("Leak test CA").unwrap();
    let leaf = ca
        .issue_leaf("chat.example.com", time::Duration::days(30))
        .unwrap();
    let smtp_password = "smtp-Pa55-never-shown-7731";
    let chain = format!("{}{}", leaf.cert_pem, ca.ca_pem());
    // The test kit's Docker TLS client files (scripts/setup.sh makes them).
    let docker_tls = |name: &str| {
        let path = format!("/var/lib/burrow-testkit/docker-tls/{name}");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (scripts/setup.sh makes it)"))
    };
    let (docker_ca, docker_cert, docker_key) = (
        docker_tls("ca.pem"),
        docker_tls("cert.pem"),
        docker_tls("key.pem"),
    );
    let steps: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("domain", vec![("domain", "chat.example.com")]),
        (
            "tls",
            vec![
                ("tls.mode", "own"),
                ("tls.cert_pem", &chain),
                ("tls.key_pem", &leaf.key_pem),
            ],
        ),
        (
            "smtp",
            vec![
                ("smtp.enabled", "true"),
                ("smtp.host", "smtp.example.com"),
                ("smtp.port", "587"),
                ("smtp.username", "stoat"),
                ("smtp.password", smtp_password),
                ("smtp.from", "noreply@example.com"),
            ],
        ),
        ("voice", vec![("livekit.enabled", "false")]),
        (
            "apps",
            vec![
                ("apps.api", "true"),
                ("apps.web", "true"),
                ("apps.events", "true"),
            ],
        ),
        (
            "target",
            // Over TLS; nothing listens there, so the deploy fails fast.
            vec![
                ("target", "docker"),
                ("target.docker_url", "tcp://127.0.0.1:9"),
                ("target.docker_tls_ca", &docker_ca),
                ("target.docker_tls_cert", &docker_cert),
                ("target.docker_tls_key", &docker_key),
            ],
        ),
    ];
    for (step, fields) in &steps {
        let (status, body) = save(&app, &cookie, step, fields).await;
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
    }
    assert_status(
        &app.call("/api/wizard/deploy", &[], Some(&cookie)).await,
        StatusCode::OK,
    );
    settled(&app).await;

    // Two-factor sign-in on.
    app.call("/api/account/two-factor/start", &[], Some(&cookie))
        .await;
    let view = json(app.call("/api/account/security", &[], Some(&cookie)).await).await;
    let totp_secret = view["secret"].as_str().unwrap().replace(' ', "");
    let raw_totp = Secret::Encoded(totp_secret.clone()).to_bytes().unwrap();
    let code = crate::two_factor::code(&totp_secret, 0);
    let recovery: Vec<String> = json(
        app.call(
            "/api/account/two-factor/confirm",
            &[("code", &code)],
            Some(&cookie),
        )
        .await,
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .map(|c| c.as_str().unwrap().to_owned())
    .collect();
    assert_eq!(recovery.len(), 10);

    // Every secret value, as text.
    let vault = engine::sealed::Vault::open(&app.data.path().join("secrets.key")).unwrap();
    let store = app.db().await;
    let mut secrets: Vec<(String, String)> = store
        .stack_secrets(&vault)
        .await
        .unwrap()
        .unwrap()
        .values()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .filter(|(_, v)| v.len() >= 8)
        .collect();
    secrets.push(("SMTP password".into(), smtp_password.into()));
    secrets.push(("admin password".into(), PASSWORD.into()));
    secrets.push(("TOTP secret".into(), totp_secret.clone()));
    for c in &recovery {
        secrets.push(("recovery code".into(), c.clone()));
    }
    // The private key's body (its first line of base64).
    let key_line = leaf
        .key_pem
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 40)
        .unwrap()
        .to_owned();
    secrets.push(("own certificate key".into(), key_line));
    let docker_key_line = docker_key
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 40)
        .unwrap()
        .to_owned();
    secrets.push(("Docker TLS client key".into(), docker_key_line));
    assert!(secrets.len() >= 15, "{}", secrets.len());

    // Every page as HTML, and the views behind them as JSON.
    let mut pages: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|r| {
            r.path()
                .replace(":step", "domain")
                .replace("{step}", "domain")
        })
        .collect();
    for step in ["tls", "smtp", "voice", "apps", "target", "review"] {
        pages.push(format!("/wizard/{step}"));
    }
    pages.push("/history?from=1&to=1".into());
    pages.push("/audit.csv".into());
    let mut seen = String::new();
    for page in &pages {
        let res = app.get(page, Some(&cookie)).await;
        seen.push_str(&res.text().await.unwrap());
    }
    for (path, form) in [
        ("/api/wizard/view", vec![("step", "smtp")]),
        ("/api/wizard/view", vec![("step", "review")]),
        ("/api/deploy/page", vec![]),
        ("/api/history", vec![]),
        ("/api/account/security", vec![]),
        ("/api/overview", vec![]),
    ] {
        let res = app.call(path, &form, Some(&cookie)).await;
        seen.push_str(&res.text().await.unwrap());
    }
    assert!(seen.contains("chat.example.com"), "the pages were read");

    // Every file Burrow keeps (the sealing key itself holds no secret of
    // this list).
    let mut database = Vec::new();
    let mut files = 0;
    let mut pending = vec![app.data.path().to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else {
            database.extend(std::fs::read(&path).unwrap_or_default());
            files += 1;
        }
    }
    assert!(files >= 3, "{files}");
    let logged = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(logged.contains("wizard"), "the log was captured");
    let mut leaks = Vec::new();
    for (name, value) in &secrets {
        if database.windows(value.len()).any(|w| w == value.as_bytes()) {
            leaks.push(format!("{name} in a file of the data dir"));
        }
        if seen.contains(value.as_str()) {
            leaks.push(format!("{name} on a page"));
        }
        if logged.contains(value.as_str()) {
            leaks.push(format!("{name} in the log"));
        }
    }
    if database
        .windows(raw_totp.len())
        .any(|w| w == raw_totp.as_slice())
    {
        leaks.push("TOTP secret bytes in a file of the data dir".into());
    }
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
}
