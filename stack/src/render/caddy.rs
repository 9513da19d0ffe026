//! The Caddyfile: the reference route table of stoatchat/self-hosted, only
//! the routes of services that run, TLS per mode.

use std::fmt::Write;

use super::{Urls, ACME_CA_ROOT_PATH, TLS_CERT_PATH, TLS_KEY_PATH};
use crate::model::{Service, StackConfig, TlsMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    /// Caddy is the edge: the public domain, TLS per mode.
    Public,
    /// Behind another proxy (the Kubernetes Ingress): plain HTTP on :80.
    Internal,
}

/// The plain-HTTP port of the internal site (Kubernetes).
pub(super) const INTERNAL_PORT: u16 = 80;

/// Prefix routes: (path, service, port). Order is the reference order.
pub(super) const ROUTES: [(&str, Service, u16); 7] = [
    ("/api", Service::Api, 14702),
    ("/ws", Service::Events, 14703),
    ("/autumn", Service::Autumn, 14704),
    ("/january", Service::January, 14705),
    ("/gifbox", Service::Gifbox, 14706),
    ("/livekit", Service::Livekit, 7880),
    ("/ingress", Service::VoiceIngress, 8500),
];

/// Every upstream's proxy settings, so a service can be switched to a new
/// container (or restart) without failed requests: a request whose
/// upstream cannot be dialled is tried again for up to 10 s, every 250 ms
/// (a dial that fails sent nothing, so any request is safe to try again;
/// a request that reached the upstream is retried only as Caddy's default
/// allows, never a non-idempotent body); dials give up after 2 s. No
/// passive health check (`fail_duration`): with one upstream it would turn
/// a blip into seconds of instant 502s. Caddy 2.6 (Debian) and the
/// current image read all of it.
const SWITCHING: &str = "\t\t\tlb_try_duration 10s\n\
                         \t\t\tlb_try_interval 250ms\n\
                         \t\t\ttransport http {\n\
                         \t\t\t\tdial_timeout 2s\n\
                         \t\t\t}\n";

/// `caddyfile` (as [`render`] wrote it) with `service`'s upstream host
/// replaced by `host` (an address): how a switch points Caddy at a new
/// container, or holds it on the old one, without changing anything else.
/// Unchanged when the service has no route.
pub fn with_upstream(caddyfile: &str, service: Service, host: &str) -> String {
    let port = ROUTES
        .iter()
        .find(|(_, s, _)| *s == service)
        .map(|(_, _, p)| *p)
        .unwrap_or(5000);
    caddyfile.replace(
        &format!("reverse_proxy http://{}:{port} {{", service.name()),
        &format!("reverse_proxy http://{host}:{port} {{"),
    )
}

pub(super) fn well_known_json(config: &StackConfig) -> String {
    format!("{{\"api\":\"{}\"}}", Urls::of(config).api)
}

pub(super) fn render(config: &StackConfig, site: Site) -> String {
    let mut out = String::from("# Rendered by Burrow; edits here are overwritten.\n");
    let (http_port, https_port) = (
        config.network.http_port.get(),
        config.network.https_port.get(),
    );
    // Caddy listens inside the container on the ports it is published on
    // (the ServiceSpec maps host port p to container port p), so the
    // redirect and every URL agree with what clients reach.
    //
    // A non-default HTTPS port goes into the site address, not into the
    // `https_port` global option: Caddy treats `https_port` as an internal
    // port that the outside sees as 443 and leaves the port out of its
    // HTTP->HTTPS redirect (`https://domain/...`). For a site listening on
    // any other port the redirect names it (`https://domain:18443/...`).
    // The HTTP port is the `http_port` global option: the redirect server
    // listens there.
    let site_address = match site {
        Site::Public if https_port == 443 => config.domain.to_string(),
        Site::Public => format!("{}:{https_port}", config.domain),
        // Behind the Ingress, which serves the standard ports.
        Site::Internal => format!(":{INTERNAL_PORT}"),
    };
    let mut globals = Vec::new();
    if site == Site::Public {
        if http_port != 80 {
            globals.push(format!("http_port {http_port}"));
        }
        if let TlsMode::Acme {
            email,
            directory,
            directory_ca,
        } = &config.tls
        {
            if let Some(email) = email {
                globals.push(format!("email {email}"));
            }
            globals.push(format!("acme_ca {directory}"));
            if directory_ca.is_some() {
                globals.push(format!("acme_ca_root {ACME_CA_ROOT_PATH}"));
            }
        }
    }
    if !globals.is_empty() {
        out.push_str("{\n");
        for line in globals {
            let _ = writeln!(out, "\t{line}");
        }
        out.push_str("}\n\n");
    }
    let _ = writeln!(out, "{site_address} {{");
    if site == Site::Public {
        match &config.tls {
            TlsMode::SelfSigned | TlsMode::OwnCertificate { .. } => {
                let _ = writeln!(out, "\ttls {TLS_CERT_PATH} {TLS_KEY_PATH}\n");
            }
            TlsMode::Acme { .. } => {}
        }
    }
    if config.runs(Service::Api) {
        let _ = write!(
            out,
            "\troute /.well-known/stoat {{\n\
             \t\theader Access-Control-Allow-Origin *\n\
             \t\theader Content-Type application/json\n\
             \t\trespond `{}` 200\n\
             \t}}\n\n",
            well_known_json(config)
        );
    }
    if config.runs(Service::Api) {
        // The API serves Prometheus metrics at /metrics without any
        // authentication (rocket_prometheus, crates/delta/src/main.rs):
        // never through the public route. Inside the network it stays
        // reachable at http://api:14702/metrics.
        out.push_str(
            "\t@metrics path /api/metrics /api/metrics/*\n\
             \troute @metrics {\n\
             \t\trespond \"Not found\" 404\n\
             \t}\n\n",
        );
    }
    for (prefix, service, port) in ROUTES {
        if !config.runs(service) {
            continue;
        }
        // `/ws` is an exact match in the reference; the others match prefixes.
        let matcher = if service == Service::Events {
            prefix.to_string()
        } else {
            format!("{prefix}*")
        };
        let _ = write!(
            out,
            "\troute {matcher} {{\n\
             \t\turi strip_prefix {prefix}\n\
             \t\treverse_proxy http://{host}:{port} {{\n\
             \t\t\theader_down Location \"^/\" \"{prefix}/\"\n\
             {SWITCHING}\
             \t\t}}\n\
             \t}}\n\n",
            host = service.name()
        );
    }
    if config.runs(Service::Web) {
        let _ = write!(
            out,
            "\treverse_proxy http://web:5000 {{\n{}\t}}\n",
            SWITCHING.replace("\t\t\t", "\t\t")
        );
    } else {
        out.push_str("\trespond \"Not found\" 404\n");
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_services_upstream_is_replaced_and_nothing_else() {
        let config = crate::model::parse_stack_toml("domain = \"chat.example.com\"\n")
            .unwrap()
            .config;
        let rendered = render(&config, Site::Public);
        let pinned = with_upstream(&rendered, Service::Api, "172.18.0.9");
        assert!(pinned.contains("reverse_proxy http://172.18.0.9:14702 {"));
        assert!(!pinned.contains("reverse_proxy http://api:14702"));
        assert!(pinned.contains("reverse_proxy http://events:14703 {"));
        assert_eq!(
            pinned.replace("172.18.0.9", "api"),
            rendered,
            "only the upstream host changed"
        );
        let web = with_upstream(&rendered, Service::Web, "172.18.0.10");
        assert!(web.contains("reverse_proxy http://172.18.0.10:5000 {"));
        // A service without a route: nothing to replace.
        assert_eq!(with_upstream(&rendered, Service::Database, "x"), rendered);
    }
}
