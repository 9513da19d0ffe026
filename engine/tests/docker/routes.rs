//! Requests through the real Caddy of a deployed test-kit stack reach the
//! right stand-in for every route, prefix stripped; `/ws` upgrades to a
//! WebSocket; HTTP redirects to HTTPS on the configured port.

use std::process::Command;

use engine::deploy::{ApplyOptions, Target};

use crate::support::*;

/// `curl` through Caddy: (status, response headers lower-cased).
fn curl(kit: &Kit, path: &str, extra: &[&str]) -> (u16, String) {
    let domain = kit.config.domain.as_str();
    let port = kit.config.network.https_port.get();
    let out = Command::new("curl")
        .args([
            "-sk",
            "--http1.1",
            "--max-time",
            "3",
            "-o",
            "/dev/null",
            "-D",
            "-",
        ])
        .arg("--resolve")
        .arg(format!("{domain}:{port}:127.0.0.1"))
        .args(extra)
        .arg(format!("https://{domain}:{port}{path}"))
        .output()
        .expect("curl runs");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
}

#[tokio::test]
async fn every_route_through_caddy_reaches_its_service() {
    let kit = Kit::new("bt-routes");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, _rx) = channel();
    target
        .apply(&kit.request(1), &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));

    for (path, service, seen) in [
        ("/api/", "api", "/"),
        ("/api/users/@me", "api", "/users/@me"),
        ("/autumn/attachments", "autumn", "/attachments"),
        ("/january/embed", "january", "/embed"),
        ("/gifbox/trending", "gifbox", "/trending"),
        ("/livekit/", "livekit", "/"),
        ("/ingress/worldwide", "voice-ingress", "/worldwide"),
        ("/", "web", "/"),
        ("/channels/123", "web", "/channels/123"),
    ] {
        let (status, head) = curl(&kit, path, &[]);
        assert!((200..500).contains(&status), "{path}: {status}\n{head}");
        assert_eq!(header(&head, "x-standin"), Some(service), "{path}\n{head}");
        assert_eq!(
            header(&head, "x-standin-path"),
            Some(seen),
            "{path}\n{head}"
        );
    }

    // /ws is the events service, as a real WebSocket upgrade.
    let (status, head) = curl(
        &kit,
        "/ws",
        &[
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: websocket",
            "-H",
            "Sec-WebSocket-Version: 13",
            "-H",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ],
    );
    assert_eq!(status, 101, "{head}");
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some("s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );

    // The discovery document names the API on the public port.
    let (status, _) = curl(&kit, "/.well-known/stoat", &[]);
    assert_eq!(status, 200);

    // Plain HTTP is sent to HTTPS on the configured port.
    let domain = kit.config.domain.as_str();
    let http = kit.config.network.http_port.get();
    let https = kit.config.network.https_port.get();
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "3",
            "-o",
            "/dev/null",
            "-w",
            "%{redirect_url}",
        ])
        .arg("--resolve")
        .arg(format!("{domain}:{http}:127.0.0.1"))
        .arg(format!("http://{domain}:{http}/x"))
        .output()
        .expect("curl runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("https://{domain}:{https}/x")
    );
}
