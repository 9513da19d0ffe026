//! HTTP on loopback, HTTPS elsewhere.

use std::net::SocketAddr;

use burrow_server::config::Settings;
use burrow_server::startup::{transport, Transport};

#[tokio::test]
async fn loopback_is_http_and_anything_else_https_with_a_kept_certificate() {
    let data = tempfile::tempdir().unwrap();
    let loopback = Settings::new("127.0.0.1:8080".parse().unwrap(), data.path().into());
    assert!(matches!(transport(&loopback).unwrap(), Transport::Http));
    let v6 = Settings::new("[::1]:8080".parse().unwrap(), data.path().into());
    assert!(matches!(transport(&v6).unwrap(), Transport::Http));

    let public = Settings::new("0.0.0.0:8443".parse().unwrap(), data.path().into());
    let Transport::Https(first) = transport(&public).unwrap() else {
        panic!("a public address must get HTTPS");
    };
    let Transport::Https(second) = transport(&public).unwrap() else {
        panic!()
    };
    assert_eq!(
        first.fingerprint().unwrap(),
        second.fingerprint().unwrap(),
        "kept across starts"
    );

    let mut insecure = public.clone();
    insecure.insecure_http = true;
    assert!(matches!(transport(&insecure).unwrap(), Transport::Http));
}

#[tokio::test]
async fn https_serves_host_prefixed_secure_cookies() {
    let data = tempfile::tempdir().unwrap();
    let free: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // A certificate given by the operator switches HTTPS on even on loopback.
    let cert =
        engine::console_tls::ConsoleCert::load_or_create(data.path(), vec!["127.0.0.1".into()])
            .unwrap();
    let mut settings = Settings::new(free, data.path().into());
    settings.tls_cert = Some(cert.cert_path.clone());
    settings.tls_key = Some(cert.key_path.clone());
    tokio::spawn(burrow_server::startup::serve(settings));

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert_pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("https://{free}");
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{url}/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "HTTPS console did not come up");
    let token = std::fs::read_to_string(data.path().join("setup-token")).unwrap();
    let res = client
        .post(format!("{url}/api/setup"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&username=admin&password=correct+horse+battery&confirm=correct+horse+battery",
            token.trim()
        ))
        .send()
        .await
        .unwrap();
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("__Host-burrow="), "{set_cookie}");
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
}

/// The data dir holds live session ids, the audit log and keys: with the
/// usual umask (022) files would be world-readable. At start-up the dir and
/// everything in it are made private, and what SQLite creates stays so.
#[tokio::test]
async fn the_data_dir_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let app = crate::helpers::spawn_app_with(|s| {
        let old = s.data_dir.join("tls");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("left-over.pem"), "x").unwrap();
        set(&s.data_dir, 0o755);
        set(&old, 0o755);
        set(&old.join("left-over.pem"), 0o644);
    })
    .await;
    app.claim().await; // a session and an audit row: the WAL is written
    let data = app.data.path();
    assert!(data.join("burrow.db-wal").exists());
    let mut seen = 0;
    let mut pending = vec![data.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            for e in std::fs::read_dir(&path).unwrap() {
                pending.push(e.unwrap().path());
            }
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
            seen += 1;
        }
    }
    assert!(
        seen >= 5,
        "burrow.db, its WAL and shm, secrets.key, setup leftovers: {seen}"
    );
}
