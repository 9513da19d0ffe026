//! `compose.yml`: the same services as the Docker deploy, for
//! `docker compose up -d` in the output directory.
//!
//! Health checks: compose health checks run *inside* the container, and
//! Stoat's images are distroless (no shell, no curl). Only probes that are
//! commands ([`Probe::Exec`]: MongoDB, RabbitMQ) become compose health
//! checks; HTTP/TCP probes, which Burrow's own Docker deploy runs from
//! outside, are left out, and a dependency on such a service waits for
//! `service_started` instead of `service_healthy`. Stoat's services retry
//! (or are restarted) until their dependencies answer, so the stack converges.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Condition, Mount, Probe, Restart, ServiceSpec, NETWORK};

#[derive(Serialize)]
struct Compose {
    services: BTreeMap<String, ComposeService>,
    volumes: BTreeMap<String, Empty>,
    networks: BTreeMap<String, Empty>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct ComposeService {
    image: String,
    hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    command: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env_file: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<String>,
    networks: BTreeMap<String, NetworkAttach>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<String, DependsOn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
    restart: String,
}

#[derive(Serialize)]
struct NetworkAttach {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
}

#[derive(Serialize)]
struct DependsOn {
    condition: String,
}

#[derive(Serialize)]
struct Healthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    start_period: String,
}

/// Compose interpolates `$VAR`; every literal `$` is written `$$`.
fn esc(s: &str) -> String {
    s.replace('$', "$$")
}

fn has_compose_health(spec: &ServiceSpec) -> bool {
    matches!(
        spec.health.as_ref().map(|h| &h.probe),
        Some(Probe::Exec { .. })
    )
}

pub(super) fn render(services: &[ServiceSpec], volumes: &[String]) -> String {
    let by_name: BTreeMap<&str, &ServiceSpec> =
        services.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut out = BTreeMap::new();
    for spec in services {
        let ports = spec.ports.iter().map(|p| p.docker_syntax()).collect();
        let volumes = spec
            .mounts
            .iter()
            .map(|m| match m {
                Mount::Volume { name, target } => format!("{name}:{target}"),
                Mount::File { file, target } => format!("./{file}:{target}:ro"),
                Mount::Host { source, target } => format!("{source}:{target}:ro"),
            })
            .collect();
        let depends_on = spec
            .depends_on
            .iter()
            .map(|d| {
                let target_has_health = by_name
                    .get(d.service.as_str())
                    .is_some_and(|t| has_compose_health(t));
                let condition = match d.condition {
                    Condition::Healthy if target_has_health => "service_healthy",
                    Condition::Healthy | Condition::Started => "service_started",
                    Condition::Completed => "service_completed_successfully",
                };
                (
                    d.service.clone(),
                    DependsOn {
                        condition: condition.into(),
                    },
                )
            })
            .collect();
        let healthcheck = spec.health.as_ref().and_then(|h| match &h.probe {
            Probe::Exec { command } => Some(Healthcheck {
                test: std::iter::once("CMD".to_string())
                    .chain(command.iter().map(|c| esc(c)))
                    .collect(),
                interval: format!("{}s", h.interval_s),
                timeout: format!("{}s", h.timeout_s),
                retries: h.retries,
                start_period: format!("{}s", h.start_period_s),
            }),
            Probe::Http { .. } | Probe::Tcp { .. } => None,
        });
        let svc = ComposeService {
            image: spec.image.to_string(),
            hostname: spec.hostname.clone(),
            entrypoint: spec
                .entrypoint
                .as_ref()
                .map(|e| e.iter().map(|s| esc(s)).collect()),
            command: spec.command.iter().map(|s| esc(s)).collect(),
            environment: spec.env.iter().map(|(k, v)| (k.clone(), esc(v))).collect(),
            env_file: spec.env_files.iter().map(|f| format!("./{f}")).collect(),
            ports,
            volumes,
            networks: BTreeMap::from([(
                NETWORK.to_string(),
                NetworkAttach {
                    aliases: spec.aliases.clone(),
                },
            )]),
            depends_on,
            healthcheck,
            restart: match spec.restart {
                Restart::Always => "always".into(),
                Restart::OnFailure => "on-failure".into(),
            },
        };
        out.insert(spec.name.clone(), svc);
    }
    let doc = Compose {
        services: out,
        volumes: volumes.iter().map(|v| (v.clone(), Empty {})).collect(),
        networks: BTreeMap::from([(NETWORK.to_string(), Empty {})]),
    };
    let body = serde_yaml::to_string(&doc).expect("compose.yml serializes");
    format!(
        "# Rendered by Burrow. Run `docker compose up -d` in this directory.\n\
         # Secrets live in the *.env files and Revolt.toml beside this file.\n{body}"
    )
}
