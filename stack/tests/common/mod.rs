//! Fixtures shared by the integration tests: representative configs and
//! seed-derived (deterministic) secrets.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};

use stack::secrets::{Secrets, Seed};
use stack::{parse_stack_toml, render, Plan, StackConfig};

pub fn secrets() -> Secrets {
    Secrets::derive(&Seed::parse("0123456789abcdef0123456789abcdef0123456789abcdef").unwrap())
}

pub fn config(text: &str) -> StackConfig {
    match parse_stack_toml(text) {
        Ok(p) => p.config,
        Err(issues) => panic!("fixture does not parse: {issues:#?}"),
    }
}

pub const MINIMAL: &str = "domain = \"chat.example.com\"\n";

pub const FULL: &str = r#"
domain = "chat.example.com"
registration = "invite-only"
[tls]
mode = "self-signed"
[smtp]
host = "smtp.example.com"
port = 587
username = "stoat"
password = "smtp-pass-1234"
from = "noreply@example.com"
security = "starttls"
[livekit]
enabled = true
node = "paris"
lat = 48.8566
lon = 2.3522
udp_ports = "50000-50100"
tcp_port = 7881
[apps]
gifbox = true
voice_ingress = true
"#;

pub const OWN_CERT: &str = r#"
domain = "chat.example.org"
registration = "open"
[tls]
mode = "own"
cert_file = "/etc/ssl/stoat/fullchain.pem"
key_file = "/etc/ssl/stoat/privkey.pem"
[smtp]
host = "mail.example.org"
port = 465
from = "stoat@example.org"
[livekit]
enabled = true
ip_mode = "fixed"
node_ip = "192.168.1.10"
[apps]
voice_ingress = true
"#;

pub const ACME: &str = r#"
domain = "stoat.example.net"
target = "kubernetes"
[tls]
mode = "acme"
email = "ops@example.net"
directory = "https://acme-staging-v02.api.letsencrypt.org/directory"
"#;

pub const API_AND_WEB_ONLY: &str = r#"
domain = "chat.example.com"
[apps]
events = false
autumn = false
january = false
gifbox = false
crond = false
pushd = false
voice_ingress = false
"#;

/// Caddy on non-default host ports (as the test kit publishes it): every
/// public URL carries the HTTPS port, Caddy listens on the same ports inside.
pub const HIGH_PORTS: &str = r#"
domain = "stoat.burrow.test"
[network]
bind = "127.0.0.1"
http_port = 18480
https_port = 18443
[livekit]
enabled = true
[apps]
gifbox = true
"#;

pub fn fixtures() -> Vec<(&'static str, StackConfig)> {
    vec![
        ("minimal", config(MINIMAL)),
        ("full", config(FULL)),
        ("own_cert", config(OWN_CERT)),
        ("acme", config(ACME)),
        ("api_and_web_only", config(API_AND_WEB_ONLY)),
        ("high_ports", config(HIGH_PORTS)),
    ]
}

pub fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/stack.toml")
}

/// Writes a plan the way `render_to_dir` does (without the secrets file).
pub fn write_plan(plan: &Plan, dir: &Path) {
    std::fs::create_dir_all(dir.join("kubernetes")).unwrap();
    for (name, f) in &plan.files {
        std::fs::write(dir.join(name), &f.content).unwrap();
    }
    std::fs::write(dir.join("compose.yml"), &plan.compose).unwrap();
    for m in &plan.kubernetes {
        std::fs::write(dir.join("kubernetes").join(&m.file_name), &m.yaml).unwrap();
    }
}

pub fn render_fixture(text: &str) -> Plan {
    render(&config(text), &secrets())
}
