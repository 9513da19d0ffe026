//! A service spec as a Docker container: the create body, and the config
//! hash that tells whether an existing container still matches its spec.
//! Pure: no daemon calls.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig,
    NetworkingConfig, PortBinding, PortMap, RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};
use stack::render::{Mount, Plan, Probe, Protocol, PublishedPort, Restart, ServiceSpec};

use super::health::ProbeLabel;
use super::{label, volume_name};

/// Changes when the way a spec becomes a container changes, so that a newer
/// Burrow recreates containers an older one made differently.
const HASH_VERSION: &[u8] = b"burrow-docker/1";

/// Everything a service's container is made from, besides its spec.
pub(super) struct Context<'a> {
    pub stack: &'a str,
    pub plan: &'a Plan,
    pub host_files: &'a BTreeMap<String, Vec<u8>>,
    pub revision: i64,
    /// The rollout creating the containers, if any (a label).
    pub rollout: Option<&'a str>,
}

pub(super) fn is_one_shot(spec: &ServiceSpec) -> bool {
    spec.restart == Restart::OnFailure
}

/// sha256 over what defines the container: its spec, the content and mode of
/// every file it gets, its secret environment, and the image it resolves to.
/// The revision is not part of it: an unchanged service keeps its container.
pub(super) fn config_hash(ctx: &Context<'_>, spec: &ServiceSpec, image_id: &str) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(HASH_VERSION);
    field(ctx.stack.as_bytes());
    field(&serde_json::to_vec(spec).expect("a service spec serializes"));
    field(image_id.as_bytes());
    for mount in &spec.mounts {
        match mount {
            Mount::File { file, .. } => {
                if let Some(f) = ctx.plan.files.get(file) {
                    field(b"file");
                    field(file.as_bytes());
                    field(&f.mode.to_le_bytes());
                    field(f.content.as_bytes());
                }
            }
            Mount::Host { source, .. } => {
                if let Some(content) = ctx.host_files.get(source) {
                    field(b"host-file");
                    field(source.as_bytes());
                    field(content);
                }
            }
            Mount::Volume { .. } => {}
        }
    }
    for name in &spec.env_files {
        if let Some(f) = ctx.plan.files.get(name) {
            field(b"env-file");
            field(name.as_bytes());
            field(f.content.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// The container definition for `spec`.
pub(super) fn create_body(
    ctx: &Context<'_>,
    spec: &ServiceSpec,
    hash: &str,
) -> ContainerCreateBody {
    // Dependency order of the service kind: stable when services are toggled.
    let order = stack::Service::ALL
        .iter()
        .position(|s| *s == spec.service)
        .unwrap_or(stack::Service::ALL.len());
    let mut labels = HashMap::from([
        (label::STACK.to_string(), ctx.stack.to_string()),
        (label::SERVICE.to_string(), spec.name.clone()),
        (label::CONFIG_HASH.to_string(), hash.to_string()),
        (label::REVISION.to_string(), ctx.revision.to_string()),
        (label::ORDER.to_string(), order.to_string()),
    ]);
    if is_one_shot(spec) {
        labels.insert(label::ONE_SHOT.to_string(), "true".to_string());
    }
    if let Some(rollout) = ctx.rollout {
        labels.insert(label::ROLLOUT.to_string(), rollout.to_string());
    }
    if let Some(probe) = spec.health.as_ref().and_then(ProbeLabel::of) {
        labels.insert(label::PROBE.to_string(), probe.to_label());
    }
    let (exposed, bindings) = port_bindings(&spec.ports);
    let mut aliases = vec![spec.name.clone()];
    aliases.extend(spec.aliases.iter().cloned());
    ContainerCreateBody {
        image: Some(spec.image.as_str().to_string()),
        hostname: Some(spec.hostname.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        env: Some(environment(ctx.plan, spec)),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: docker_healthcheck(spec),
        host_config: Some(HostConfig {
            binds: Some(binds(ctx, spec)),
            network_mode: Some(ctx.stack.to_string()),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            restart_policy: Some(RestartPolicy {
                name: Some(match spec.restart {
                    Restart::Always => RestartPolicyNameEnum::UNLESS_STOPPED,
                    Restart::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
                }),
                maximum_retry_count: None,
            }),
            // Bounded logs: a chatty service cannot fill the disk.
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".to_string()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), "10m".to_string()),
                    ("max-file".to_string(), "3".to_string()),
                ])),
            }),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                ctx.stack.to_string(),
                EndpointSettings {
                    aliases: Some(aliases),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

/// `KEY=value` pairs: the env files' (secrets) first, then the spec's own,
/// which win, as in compose.
fn environment(plan: &Plan, spec: &ServiceSpec) -> Vec<String> {
    let mut env = BTreeMap::new();
    for name in &spec.env_files {
        if let Some(f) = plan.files.get(name) {
            env.extend(stack::render::dotenv::parse(&f.content));
        }
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Named volumes, and host paths the deploy does not deliver itself
/// (read-only bind mounts).
fn binds(ctx: &Context<'_>, spec: &ServiceSpec) -> Vec<String> {
    spec.mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Volume { name, target } => {
                Some(format!("{}:{target}", volume_name(ctx.stack, name)))
            }
            Mount::Host { source, target } if !ctx.host_files.contains_key(source) => {
                Some(format!("{source}:{target}:ro"))
            }
            _ => None,
        })
        .collect()
}

/// Exposed ports and their host bindings: container port `p` of a range on
/// host port `host_start + (p - start)`, at `host_ip` (every address if none).
pub(super) fn port_bindings(ports: &[PublishedPort]) -> (Vec<String>, PortMap) {
    let mut exposed = Vec::new();
    let mut map = PortMap::new();
    for p in ports {
        let proto = match p.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        for port in p.start..=p.end {
            let key = format!("{port}/{proto}");
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            map.entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: p.host_ip.map(|ip| ip.to_string()),
                    host_port: Some(p.host_port(port).to_string()),
                });
        }
    }
    (exposed, map)
}

/// Exec probes become the container's Docker health check; HTTP/TCP probes
/// are Burrow's (the images have no shell), so the image's own stays.
fn docker_healthcheck(spec: &ServiceSpec) -> Option<HealthConfig> {
    let check = spec.health.as_ref()?;
    let Probe::Exec { command } = &check.probe else {
        return None;
    };
    let ns = |s: u32| i64::from(s) * 1_000_000_000;
    let mut test = vec!["CMD".to_string()];
    test.extend(command.iter().cloned());
    Some(HealthConfig {
        test: Some(test),
        interval: Some(ns(check.interval_s.max(1))),
        timeout: Some(ns(check.timeout_s.max(1))),
        retries: Some(i64::from(check.retries)),
        start_period: Some(ns(check.start_period_s)),
        start_interval: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let config = stack::parse_stack_toml("domain = \"chat.example.com\"\n")
            .expect("valid config")
            .config;
        stack::render(&config, &stack::Secrets::generate().expect("randomness"))
    }

    fn hashes(plan: &Plan, revision: i64, image_id: &str) -> BTreeMap<String, String> {
        let host_files = BTreeMap::new();
        let ctx = Context {
            stack: "s",
            plan,
            host_files: &host_files,
            revision,
            rollout: None,
        };
        plan.services
            .iter()
            .map(|s| (s.name.clone(), config_hash(&ctx, s, image_id)))
            .collect()
    }

    #[test]
    fn hash_follows_what_the_container_is_made_of() {
        let first = plan();
        let base = hashes(&first, 1, "sha256:a");
        // Same plan, new revision: nothing to recreate.
        assert_eq!(hashes(&first, 2, "sha256:a"), base);

        // A file changes: exactly the services that mount it.
        let mut second = first.clone();
        second.files.get_mut("Caddyfile").unwrap().content += "# changed\n";
        let changed: Vec<String> = hashes(&second, 1, "sha256:a")
            .into_iter()
            .filter(|(s, h)| base[s] != *h)
            .map(|(s, _)| s)
            .collect();
        assert_eq!(changed, ["caddy"]);

        // A secret env file changes: its reader.
        let mut third = first.clone();
        third.files.get_mut("rabbit.env").unwrap().content += "X=1\n";
        let changed: Vec<String> = hashes(&third, 1, "sha256:a")
            .into_iter()
            .filter(|(s, h)| base[s] != *h)
            .map(|(s, _)| s)
            .collect();
        assert_eq!(changed, ["rabbit"]);

        // Another image behind the same reference: everything.
        let other = hashes(&first, 1, "sha256:b");
        assert!(other.iter().all(|(s, h)| base[s] != *h));
    }

    #[test]
    fn secret_env_reaches_the_container_and_spec_env_wins() {
        let mut plan = plan();
        let rabbit = plan
            .services
            .iter()
            .position(|s| s.name == "rabbit")
            .unwrap();
        plan.services[rabbit]
            .env
            .insert("RABBITMQ_DEFAULT_USER".into(), "override".into());
        let env = environment(&plan, &plan.services[rabbit]);
        assert!(env.contains(&"RABBITMQ_DEFAULT_USER=override".to_string()));
        assert!(env.iter().any(|e| e.starts_with("RABBITMQ_DEFAULT_PASS=")));
    }

    #[test]
    fn port_ranges_map_to_host_ranges() {
        let (exposed, map) = port_bindings(&[PublishedPort {
            start: 50000,
            end: 50002,
            protocol: Protocol::Udp,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_start: 17900,
        }]);
        assert_eq!(exposed, vec!["50000/udp", "50001/udp", "50002/udp"]);
        let b = map["50002/udp"].as_ref().unwrap();
        assert_eq!(b[0].host_port.as_deref(), Some("17902"));
        assert_eq!(b[0].host_ip.as_deref(), Some("127.0.0.1"));
    }
}
