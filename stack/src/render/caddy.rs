//! The Caddyfile: the reference route table of stoatchat/self-hosted, only
//! the routes of services that run, TLS per mode.

use std::fmt::Write;

use super::{Urls, TLS_CERT_PATH, TLS_KEY_PATH};
use crate::model::{Service, StackConfig, TlsMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    /// Caddy is the edge: the public domain, TLS per mode.
    Public,
    /// Behind another proxy (the Kubernetes Ingress): plain HTTP on :80.
    Internal,
}

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

pub(super) fn well_known_json(config: &StackConfig) -> String {
    format!("{{\"api\":\"{}\"}}", Urls::of(config).api)
}

pub(super) fn render(config: &StackConfig, site: Site) -> String {
    let mut out = String::from("# Rendered by Burrow; edits here are overwritten.\n");
    let site_address = match site {
        Site::Public => config.domain.to_string(),
        Site::Internal => ":80".to_string(),
    };
    if site == Site::Public {
        if let TlsMode::Acme { email, directory } = &config.tls {
            out.push_str("{\n");
            if let Some(email) = email {
                let _ = writeln!(out, "\temail {email}");
            }
            let _ = write!(out, "\tacme_ca {directory}\n}}\n\n");
        }
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
             \t\t}}\n\
             \t}}\n\n",
            host = service.name()
        );
    }
    if config.runs(Service::Web) {
        out.push_str("\treverse_proxy http://web:5000\n");
    } else {
        out.push_str("\trespond \"Not found\" 404\n");
    }
    out.push_str("}\n");
    out
}
