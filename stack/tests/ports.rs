//! Caddy on non-default host ports (`[network] http_port` / `https_port`):
//! every public URL names the HTTPS port, Caddy listens inside the container
//! on the ports it is published on, and the Kubernetes rendering (behind an
//! Ingress on the standard ports) is unaffected.

mod common;

use base64::Engine;
use stack::render::{Probe, Protocol};
use stack::Plan;

const DOMAIN: &str = "stoat.burrow.test";

fn plan(text: &str) -> Plan {
    common::render_fixture(text)
}

fn revolt(plan: &Plan) -> toml::Table {
    plan.files["Revolt.toml"].content.parse().unwrap()
}

fn hosts(revolt: &toml::Table) -> Vec<(String, String)> {
    let hosts = revolt["hosts"].as_table().unwrap();
    let mut out = Vec::new();
    for (k, v) in hosts {
        match v {
            toml::Value::String(s) => out.push((k.clone(), s.clone())),
            toml::Value::Table(t) => {
                for (node, url) in t {
                    out.push((format!("{k}.{node}"), url.as_str().unwrap().to_string()));
                }
            }
            other => panic!("hosts.{k} = {other:?}"),
        }
    }
    out
}

/// `[network]` with the given ports on 127.0.0.1, over [`common::HIGH_PORTS`].
fn with_ports(http: u16, https: u16) -> String {
    common::HIGH_PORTS
        .replace("http_port = 18480", &format!("http_port = {http}"))
        .replace("https_port = 18443", &format!("https_port = {https}"))
}

#[test]
fn revolt_toml_urls_carry_the_https_port() {
    let plan = plan(common::HIGH_PORTS);
    let hosts = hosts(&revolt(&plan));
    let names: Vec<&str> = hosts.iter().map(|(k, _)| k.as_str()).collect();
    for key in [
        "app",
        "api",
        "events",
        "autumn",
        "january",
        "livekit.worldwide",
    ] {
        assert!(names.contains(&key), "hosts.{key} missing: {names:?}");
    }
    // Stoat's `Hosts` has no gifbox key: its URL goes to the web app only.
    assert!(!names.contains(&"gifbox"), "{names:?}");
    let web = plan.service("web").unwrap();
    assert_eq!(
        web.env["VITE_GIFBOX_URL"],
        format!("https://{DOMAIN}:18443/gifbox")
    );
    for (key, url) in &hosts {
        let (scheme, rest) = url.split_once("://").unwrap();
        assert!(matches!(scheme, "https" | "wss"), "hosts.{key} = {url}");
        assert!(
            rest == format!("{DOMAIN}:18443") || rest.starts_with(&format!("{DOMAIN}:18443/")),
            "hosts.{key} = {url}"
        );
    }
    let revolt = revolt(&plan);
    assert_eq!(
        revolt["hosts"]["app"].as_str(),
        Some("https://stoat.burrow.test:18443")
    );
    assert_eq!(
        revolt["hosts"]["api"].as_str(),
        Some("https://stoat.burrow.test:18443/api")
    );
    assert_eq!(
        revolt["hosts"]["events"].as_str(),
        Some("wss://stoat.burrow.test:18443/ws")
    );
    assert_eq!(
        revolt["hosts"]["livekit"]["worldwide"].as_str(),
        Some("wss://stoat.burrow.test:18443/livekit")
    );
    // Internal addresses are not public URLs: unchanged.
    assert_eq!(
        revolt["api"]["livekit"]["nodes"]["worldwide"]["url"].as_str(),
        Some("http://livekit:7880")
    );
}

#[test]
fn web_client_env_carries_the_https_port() {
    let plan = plan(common::HIGH_PORTS);
    let web = plan.service("web").unwrap();
    for (key, want) in [
        ("HOSTNAME", "https://stoat.burrow.test:18443"),
        ("REVOLT_PUBLIC_URL", "https://stoat.burrow.test:18443/api"),
        ("VITE_API_URL", "https://stoat.burrow.test:18443/api"),
        ("VITE_WS_URL", "wss://stoat.burrow.test:18443/ws"),
        ("VITE_MEDIA_URL", "https://stoat.burrow.test:18443/autumn"),
        ("VITE_PROXY_URL", "https://stoat.burrow.test:18443/january"),
        ("VITE_GIFBOX_URL", "https://stoat.burrow.test:18443/gifbox"),
    ] {
        assert_eq!(web.env.get(key).map(String::as_str), Some(want), "{key}");
    }
}

#[test]
fn caddyfile_listens_on_the_published_ports() {
    let plan = plan(common::HIGH_PORTS);
    let caddyfile = &plan.files["Caddyfile"].content;
    // The HTTP port is a global option (the redirect server listens there);
    // the HTTPS port is in the site address, so Caddy's HTTP->HTTPS redirect
    // names it (with the `https_port` option it would redirect to 443).
    assert!(
        caddyfile.contains("\n{\n\thttp_port 18480\n}\n\nstoat.burrow.test:18443 {\n"),
        "{caddyfile}"
    );
    assert!(!caddyfile.contains("https_port"), "{caddyfile}");
    assert!(
        caddyfile.contains(r#"respond `{"api":"https://stoat.burrow.test:18443/api"}` 200"#),
        "{caddyfile}"
    );
}

#[test]
fn acme_and_ports_share_one_global_block() {
    let text = format!(
        "{}[tls]\nmode = \"acme\"\nemail = \"ops@example.net\"\n",
        common::HIGH_PORTS
    );
    let caddyfile = &plan(&text).files["Caddyfile"].content;
    assert!(
        caddyfile.contains(
            "\n{\n\thttp_port 18480\n\temail ops@example.net\n\tacme_ca \
             https://acme-v02.api.letsencrypt.org/directory\n}\n\n\
             stoat.burrow.test:18443 {\n"
        ),
        "{caddyfile}"
    );
    assert_eq!(
        caddyfile.lines().filter(|l| *l == "{").count(),
        1,
        "{caddyfile}"
    );
}

#[test]
fn only_the_non_default_port_changes() {
    // HTTPS on 443, HTTP elsewhere: a global block, no port in the URLs.
    let plan_a = plan(&with_ports(8080, 443));
    let caddyfile = &plan_a.files["Caddyfile"].content;
    assert!(
        caddyfile.contains("\n{\n\thttp_port 8080\n}\n\nstoat.burrow.test {\n"),
        "{caddyfile}"
    );
    assert_eq!(
        revolt(&plan_a)["hosts"]["api"].as_str(),
        Some("https://stoat.burrow.test/api")
    );
    // HTTP on 80, HTTPS elsewhere: no global block, the port everywhere.
    let plan_b = plan(&with_ports(80, 8443));
    let caddyfile = &plan_b.files["Caddyfile"].content;
    assert!(!caddyfile.contains("\n{\n"), "{caddyfile}");
    assert!(
        caddyfile.contains("\nstoat.burrow.test:8443 {\n"),
        "{caddyfile}"
    );
    assert_eq!(
        revolt(&plan_b)["hosts"]["api"].as_str(),
        Some("https://stoat.burrow.test:8443/api")
    );
    let caddy = plan_b.service("caddy").unwrap();
    let ports: Vec<String> = caddy.ports.iter().map(|p| p.docker_syntax()).collect();
    assert_eq!(
        ports,
        [
            "127.0.0.1:80:80/tcp",
            "127.0.0.1:8443:8443/tcp",
            "127.0.0.1:8443:8443/udp"
        ]
    );
}

#[test]
fn caddy_publishes_host_port_to_the_same_container_port() {
    let plan = plan(common::HIGH_PORTS);
    let caddy = plan.service("caddy").unwrap();
    let ports: Vec<String> = caddy.ports.iter().map(|p| p.docker_syntax()).collect();
    assert_eq!(
        ports,
        [
            "127.0.0.1:18480:18480/tcp",
            "127.0.0.1:18443:18443/tcp",
            "127.0.0.1:18443:18443/udp"
        ]
    );
    for p in &caddy.ports {
        assert_eq!(p.start, p.host_start);
    }
    assert!(caddy
        .ports
        .iter()
        .any(|p| p.protocol == Protocol::Udp && p.start == 18443));
    assert_eq!(caddy.internal_port, Some(18480));
    assert_eq!(
        caddy.health.as_ref().map(|h| &h.probe),
        Some(&Probe::Tcp { port: 18480 })
    );
    // Services inside the stack reach Caddy through the domain alias, on
    // the port the public URL names.
    assert_eq!(caddy.aliases, [DOMAIN]);

    let compose: serde_yaml::Value = serde_yaml::from_str(&plan.compose).unwrap();
    let published: Vec<&str> = compose["services"]["caddy"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        published.contains(&"127.0.0.1:18443:18443/tcp"),
        "{published:?}"
    );
    assert!(
        published.contains(&"127.0.0.1:18480:18480/tcp"),
        "{published:?}"
    );
}

/// The Ingress serves the standard ports: the cluster rendering does not
/// take Caddy's Docker host ports.
#[test]
fn kubernetes_ignores_the_docker_host_ports() {
    let high = plan(common::HIGH_PORTS);
    let mut standard_text = common::HIGH_PORTS.to_string();
    standard_text = standard_text
        .replace("http_port = 18480\n", "")
        .replace("https_port = 18443\n", "");
    let standard = plan(&standard_text);
    assert_eq!(high.kubernetes, standard.kubernetes);

    for m in &high.kubernetes {
        let text = if m.secret {
            let doc: serde_yaml::Value = serde_yaml::from_str(&m.yaml).unwrap();
            let mut text = String::new();
            for (_, v) in doc["data"].as_mapping().unwrap() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap();
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
            text
        } else {
            m.yaml.clone()
        };
        assert!(!text.contains("18443"), "{}:\n{text}", m.file_name);
        assert!(!text.contains("18480"), "{}:\n{text}", m.file_name);
        // Revolt.toml holds no secret: it is in the ConfigMap.
        if m.kind == "ConfigMap" && m.name == "stoat-files" {
            assert!(
                text.contains("app = \"https://stoat.burrow.test\"\n"),
                "{text}"
            );
        }
        if m.kind == "Service" && m.name == "caddy" {
            assert!(m.yaml.contains("port: 80\n"), "{}", m.yaml);
        }
    }
}
