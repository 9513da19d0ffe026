//! Kubernetes objects from typed k8s-openapi structs, one manifest each.
//!
//! - Namespace `stoat`; `app.kubernetes.io/*` labels on everything.
//! - Secrets: `stoat-config` (livekit.yml, keydb.conf, the Mongo keyfile) and
//!   one `<name>-env` per environment file (`secrets-env`: the backends'
//!   `REVOLT__*` secrets; `database-env`, ...). Never a ConfigMap for
//!   secrets; the ConfigMap `stoat-files` holds the files without secrets
//!   (Revolt.toml with path-style buckets, the Caddyfile, the Mongo init
//!   script), world-readable so the images' non-root users can read them.
//! - StatefulSets with volumeClaimTemplates (and headless Services) for
//!   MongoDB, KeyDB, RabbitMQ and MinIO; Deployments with readiness and
//!   liveness probes and resource requests for the rest; a Job for the bucket.
//! - An Ingress with the reference routes for ingress-nginx (prefix stripping
//!   needs controller annotations: `use-regex` + `rewrite-target`). Caddy also
//!   runs, on plain HTTP, with the full route table: it serves
//!   `/.well-known/stoat` and is a fallback for other controllers (send `/`
//!   to the `caddy` Service).
//! - TLS terminates at the Ingress with the Secret `stoat-tls` (ACME:
//!   cert-manager's `cert-manager.io/cluster-issuer: letsencrypt` annotation;
//!   self-signed and own certificate: the deploy creates `stoat-tls`).
//! - LiveKit uses the host network so its UDP range reaches the node.
//! - `[network]` (Caddy's Docker host ports) does not apply: the Ingress
//!   serves the standard ports, so the public URLs carry none.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvFromSource, EnvVar, ExecAction,
    HTTPGetAction, KeyToPath, Namespace, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec,
    PodTemplateSpec, Probe as KProbe, ResourceRequirements, Secret, SecretEnvSource,
    SecretVolumeSource, Service as KService, ServicePort, ServiceSpec as KServiceSpec,
    TCPSocketAction, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use serde::Serialize;

use super::caddy::{self, ROUTES};
use super::revolt::{self, Flavor};
use super::{dotenv, services, ConfigFile, Mount, Probe, Restart, ServiceSpec};
use crate::model::{Network, Service, StackConfig, TlsMode};
use crate::secrets::Secrets;

pub const NAMESPACE: &str = "stoat";
const CONFIG_SECRET: &str = "stoat-config";
const CONFIG_MAP: &str = "stoat-files";
const TLS_SECRET: &str = "stoat-tls";

/// One Kubernetes object, serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeManifest {
    /// Suggested file name, e.g. `03-secret-stoat-config.yaml` (sorts in apply order).
    pub file_name: String,
    pub kind: String,
    pub name: String,
    pub yaml: String,
    /// A `Secret` (holds secret values).
    pub secret: bool,
}

pub(super) fn join(manifests: &[KubeManifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n");
        out.push_str(&m.yaml);
    }
    out
}

fn labels(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), component.into()),
        ("app.kubernetes.io/instance".into(), "stoat".into()),
        ("app.kubernetes.io/component".into(), component.into()),
        ("app.kubernetes.io/part-of".into(), "stoat".into()),
        ("app.kubernetes.io/managed-by".into(), "burrow".into()),
    ])
}

fn selector(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), component.into()),
        ("app.kubernetes.io/instance".into(), "stoat".into()),
    ])
}

fn meta(name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(NAMESPACE.into()),
        labels: Some(labels(component)),
        ..ObjectMeta::default()
    }
}

struct Out {
    manifests: Vec<KubeManifest>,
    /// Where every object goes (the Namespace object is named after it).
    namespace: String,
}

impl Out {
    fn push<T: Serialize>(&mut self, kind: &str, name: &str, object: &T) {
        let n = self.manifests.len();
        let mut value = serde_yaml::to_value(object).expect("Kubernetes objects serialize");
        let name = if kind == "Namespace" {
            self.namespace.as_str()
        } else {
            name
        };
        let field = if kind == "Namespace" {
            "name"
        } else {
            "namespace"
        };
        if let Some(meta) = value
            .get_mut("metadata")
            .and_then(serde_yaml::Value::as_mapping_mut)
        {
            if meta.contains_key(field) {
                meta.insert(field.into(), self.namespace.clone().into());
            }
        }
        self.manifests.push(KubeManifest {
            file_name: format!("{n:02}-{}-{name}.yaml", kind.to_ascii_lowercase()),
            kind: kind.into(),
            name: name.into(),
            yaml: serde_yaml::to_string(&value).expect("Kubernetes objects serialize"),
            secret: kind == "Secret",
        });
    }
}

/// Whether `name` can name a namespace (a DNS-1123 label).
pub fn valid_namespace(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn secret_volume_name(file: &str) -> String {
    file.to_ascii_lowercase().replace('.', "-")
}

fn is_stateful(s: Service) -> bool {
    matches!(
        s,
        Service::Database | Service::Redis | Service::Rabbit | Service::Minio
    )
}

/// The Secret holding environment file `file` (`secrets.env` ->
/// `secrets-env`, `database.env` -> `database-env`).
fn env_secret_name(file: &str) -> String {
    format!("{}-env", file.trim_end_matches(".env"))
}

fn probe(spec: &ServiceSpec, readiness: bool) -> Option<KProbe> {
    let h = spec.health.as_ref()?;
    let mut p = KProbe {
        period_seconds: Some(h.interval_s as i32),
        timeout_seconds: Some(h.timeout_s as i32),
        failure_threshold: Some(if readiness { 3 } else { h.retries as i32 }),
        initial_delay_seconds: Some(if readiness {
            5
        } else {
            h.start_period_s as i32 + 20
        }),
        ..KProbe::default()
    };
    match &h.probe {
        Probe::Http { path, port } => {
            p.http_get = Some(HTTPGetAction {
                path: Some(path.clone()),
                port: IntOrString::Int(i32::from(*port)),
                ..HTTPGetAction::default()
            })
        }
        Probe::Tcp { port } => {
            p.tcp_socket = Some(TCPSocketAction {
                port: IntOrString::Int(i32::from(*port)),
                ..TCPSocketAction::default()
            })
        }
        Probe::Exec { command } => {
            p.exec = Some(ExecAction {
                command: Some(command.clone()),
            })
        }
    }
    Some(p)
}

fn pod_spec(
    spec: &ServiceSpec,
    files: &BTreeMap<String, ConfigFile>,
) -> (PodSpec, Vec<PersistentVolumeClaim>) {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let mut claims = Vec::new();
    for m in &spec.mounts {
        match m {
            Mount::Volume { name, target } => {
                mounts.push(VolumeMount {
                    name: name.clone(),
                    mount_path: target.clone(),
                    ..VolumeMount::default()
                });
                if is_stateful(spec.service) {
                    let size =
                        if spec.service == Service::Minio || spec.service == Service::Database {
                            "10Gi"
                        } else {
                            "1Gi"
                        };
                    claims.push(PersistentVolumeClaim {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            labels: Some(labels(&spec.name)),
                            ..ObjectMeta::default()
                        },
                        spec: Some(PersistentVolumeClaimSpec {
                            access_modes: Some(vec!["ReadWriteOnce".into()]),
                            resources: Some(VolumeResourceRequirements {
                                requests: Some(BTreeMap::from([(
                                    "storage".into(),
                                    Quantity(size.into()),
                                )])),
                                ..VolumeResourceRequirements::default()
                            }),
                            ..PersistentVolumeClaimSpec::default()
                        }),
                        ..PersistentVolumeClaim::default()
                    });
                } else {
                    // Caddy's state: certificates live at the Ingress here.
                    volumes.push(Volume {
                        name: name.clone(),
                        empty_dir: Some(Default::default()),
                        ..Volume::default()
                    });
                }
            }
            Mount::File { file, target } => {
                let vol = secret_volume_name(file);
                let items = Some(vec![KeyToPath {
                    key: file.clone(),
                    path: file.clone(),
                    ..KeyToPath::default()
                }]);
                let in_config_map = files.get(file).is_some_and(|f| !f.secret);
                let volume = if in_config_map {
                    Volume {
                        name: vol.clone(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: CONFIG_MAP.into(),
                            items,
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    }
                } else {
                    Volume {
                        name: vol.clone(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some(CONFIG_SECRET.into()),
                            items,
                            default_mode: Some(0o400),
                            ..SecretVolumeSource::default()
                        }),
                        ..Volume::default()
                    }
                };
                volumes.push(volume);
                mounts.push(VolumeMount {
                    name: vol,
                    mount_path: target.clone(),
                    sub_path: Some(file.clone()),
                    read_only: Some(true),
                    ..VolumeMount::default()
                });
            }
            // TLS terminates at the Ingress: Caddy runs without certificates.
            Mount::Host { .. } => {}
        }
    }
    let mut ports = Vec::new();
    if let Some(p) = spec.internal_port {
        ports.push(ContainerPort {
            container_port: i32::from(p),
            name: Some("main".into()),
            ..ContainerPort::default()
        });
    }
    let env_from = (!spec.env_files.is_empty()).then(|| {
        spec.env_files
            .iter()
            .map(|file| EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: env_secret_name(file),
                    ..SecretEnvSource::default()
                }),
                ..EnvFromSource::default()
            })
            .collect()
    });
    let env = (!spec.env.is_empty()).then(|| {
        spec.env
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.clone(),
                value: Some(v.clone()),
                ..EnvVar::default()
            })
            .collect()
    });
    let requests = BTreeMap::from([
        (
            "cpu".to_string(),
            Quantity(format!("{}m", spec.requests.cpu_millis)),
        ),
        (
            "memory".to_string(),
            Quantity(format!("{}Mi", spec.requests.memory_mib)),
        ),
    ]);
    let limits = BTreeMap::from([(
        "memory".to_string(),
        Quantity(format!("{}Mi", spec.requests.memory_mib * 4)),
    )]);
    let container = Container {
        name: spec.name.clone(),
        image: Some(spec.image.to_string()),
        command: spec.entrypoint.clone(),
        args: (!spec.command.is_empty()).then(|| spec.command.clone()),
        env,
        env_from,
        ports: (!ports.is_empty()).then_some(ports),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        readiness_probe: probe(spec, true),
        liveness_probe: probe(spec, false),
        resources: Some(ResourceRequirements {
            requests: Some(requests),
            limits: Some(limits),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    };
    let host_network = spec.service == Service::Livekit;
    let pod = PodSpec {
        containers: vec![container],
        volumes: (!volumes.is_empty()).then_some(volumes),
        restart_policy: Some(match spec.restart {
            Restart::Always => "Always".into(),
            Restart::OnFailure => "OnFailure".into(),
        }),
        host_network: host_network.then_some(true),
        dns_policy: host_network.then(|| "ClusterFirstWithHostNet".into()),
        enable_service_links: Some(false),
        ..PodSpec::default()
    };
    (pod, claims)
}

fn service_object(spec: &ServiceSpec, headless: bool) -> Option<KService> {
    let port = spec.internal_port?;
    Some(KService {
        metadata: meta(&spec.name, &spec.name),
        spec: Some(KServiceSpec {
            selector: Some(selector(&spec.name)),
            cluster_ip: headless.then(|| "None".into()),
            // A StatefulSet pod's own DNS name must resolve before it is
            // ready: MongoDB's readiness probe runs `rs.initiate` with host
            // `database:27017`, which only works once that name resolves.
            publish_not_ready_addresses: headless.then_some(true),
            ports: Some(vec![ServicePort {
                name: Some("main".into()),
                port: i32::from(port),
                target_port: Some(IntOrString::Int(i32::from(port))),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..KServiceSpec::default()
        }),
        ..KService::default()
    })
}

fn template(spec: &ServiceSpec, pod: PodSpec) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(&spec.name)),
            ..ObjectMeta::default()
        }),
        spec: Some(pod),
    }
}

/// The stack as served behind the Ingress. `[network]` says where Caddy is
/// published on a Docker host; in the cluster the Ingress terminates TLS on
/// the standard ports (443, and 80 for its redirect) and Caddy serves plain
/// HTTP on :80 behind it. So the public URLs (Revolt.toml, the web client's
/// environment, `/.well-known/stoat`) carry no port, and Caddy's container
/// port is the default: the Docker host ports do not belong here. (Exposing
/// the Ingress controller on other ports is the cluster's own setup, outside
/// this config.)
fn behind_ingress(config: &StackConfig) -> StackConfig {
    let standard = Network::default();
    let mut config = config.clone();
    config.network = Network {
        http_port: standard.http_port,
        https_port: standard.https_port,
        ..config.network
    };
    config
}

/// `files` are the Docker render's; Revolt.toml and the Caddyfile are
/// rendered again for the cluster, the others do not depend on the target.
pub(super) fn render(
    config: &StackConfig,
    secrets: &Secrets,
    files: &BTreeMap<String, ConfigFile>,
    namespace: &str,
) -> Vec<KubeManifest> {
    let config = &behind_ingress(config);
    let services = &services::specs(config);
    debug_assert_eq!(
        services
            .iter()
            .find(|s| s.service == Service::Caddy)
            .and_then(|s| s.internal_port),
        Some(caddy::INTERNAL_PORT),
        "Caddy's Service port is the internal site's"
    );
    let mut out = Out {
        manifests: Vec::new(),
        namespace: namespace.to_owned(),
    };
    out.push(
        "Namespace",
        NAMESPACE,
        &Namespace {
            metadata: ObjectMeta {
                name: Some(NAMESPACE.into()),
                labels: Some(labels("stoat")),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        },
    );

    // Config files: secrets in a Secret, the rest in a ConfigMap.
    let mut secret_data = BTreeMap::new();
    let mut map_data = BTreeMap::new();
    for (name, file) in files {
        if name.ends_with(".env") {
            continue;
        }
        let content = match name.as_str() {
            "Revolt.toml" => revolt::render(config, secrets, Flavor::Kubernetes).toml,
            "Caddyfile" => caddy::render(config, caddy::Site::Internal),
            _ => file.content.clone(),
        };
        if !file.secret {
            map_data.insert(name.clone(), content);
        } else {
            secret_data.insert(name.clone(), ByteString(content.into_bytes()));
        }
    }
    out.push(
        "Secret",
        CONFIG_SECRET,
        &Secret {
            metadata: meta(CONFIG_SECRET, "config"),
            type_: Some("Opaque".into()),
            data: Some(secret_data),
            ..Secret::default()
        },
    );
    out.push(
        "ConfigMap",
        CONFIG_MAP,
        &ConfigMap {
            metadata: meta(CONFIG_MAP, "config"),
            data: Some(map_data),
            ..ConfigMap::default()
        },
    );
    // One Secret per environment file a service of this plan reads.
    let env_files: std::collections::BTreeSet<&String> =
        services.iter().flat_map(|s| &s.env_files).collect();
    for file in env_files {
        let Some(content) = files.get(file) else {
            debug_assert!(false, "{file} is not in the plan");
            continue;
        };
        let name = env_secret_name(file);
        let data = dotenv::parse(&content.content)
            .into_iter()
            .map(|(k, v)| (k, ByteString(v.into_bytes())))
            .collect();
        out.push(
            "Secret",
            &name,
            &Secret {
                metadata: meta(&name, file.trim_end_matches(".env")),
                type_: Some("Opaque".into()),
                data: Some(data),
                ..Secret::default()
            },
        );
    }

    for spec in services {
        let (pod, claims) = pod_spec(spec, files);
        if is_stateful(spec.service) {
            if let Some(svc) = service_object(spec, true) {
                out.push("Service", &spec.name, &svc);
            }
            out.push(
                "StatefulSet",
                &spec.name,
                &StatefulSet {
                    metadata: meta(&spec.name, &spec.name),
                    spec: Some(StatefulSetSpec {
                        replicas: Some(1),
                        service_name: Some(spec.name.clone()),
                        selector: LabelSelector {
                            match_labels: Some(selector(&spec.name)),
                            ..LabelSelector::default()
                        },
                        template: template(spec, pod),
                        volume_claim_templates: (!claims.is_empty()).then_some(claims),
                        ..StatefulSetSpec::default()
                    }),
                    ..StatefulSet::default()
                },
            );
        } else if spec.restart == Restart::OnFailure {
            out.push(
                "Job",
                &spec.name,
                &Job {
                    metadata: meta(&spec.name, &spec.name),
                    spec: Some(JobSpec {
                        backoff_limit: Some(20),
                        template: template(spec, pod),
                        ..JobSpec::default()
                    }),
                    ..Job::default()
                },
            );
        } else {
            if let Some(svc) = service_object(spec, false) {
                out.push("Service", &spec.name, &svc);
            }
            // LiveKit binds host ports: never two pods on one node.
            let strategy = (spec.service == Service::Livekit).then(|| DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..DeploymentStrategy::default()
            });
            out.push(
                "Deployment",
                &spec.name,
                &Deployment {
                    metadata: meta(&spec.name, &spec.name),
                    spec: Some(DeploymentSpec {
                        replicas: Some(1),
                        selector: LabelSelector {
                            match_labels: Some(selector(&spec.name)),
                            ..LabelSelector::default()
                        },
                        strategy,
                        template: template(spec, pod),
                        ..DeploymentSpec::default()
                    }),
                    ..Deployment::default()
                },
            );
        }
    }

    out.push("Ingress", "stoat", &ingress(config));
    out.manifests
}

fn backend(service: &str, port: u16) -> IngressBackend {
    IngressBackend {
        service: Some(IngressServiceBackend {
            name: service.into(),
            port: Some(ServiceBackendPort {
                number: Some(i32::from(port)),
                ..ServiceBackendPort::default()
            }),
        }),
        ..IngressBackend::default()
    }
}

fn ingress(config: &StackConfig) -> Ingress {
    // rewrite-target `/$2`: the second group is the path after the prefix.
    let mut paths = Vec::new();
    let mut path = |regex: String, service: &str, port: u16| {
        paths.push(HTTPIngressPath {
            path: Some(regex),
            path_type: "ImplementationSpecific".into(),
            backend: backend(service, port),
        })
    };
    if config.runs(Service::Api) {
        path(
            r"/()(\.well-known/stoat)$".into(),
            "caddy",
            caddy::INTERNAL_PORT,
        );
    }
    if config.runs(Service::Api) {
        // The API's unauthenticated /metrics: to Caddy, which answers 404
        // (the longer path wins over `/api` in ingress-nginx).
        path(
            r"/()(api/metrics(/.*)?)$".into(),
            "caddy",
            caddy::INTERNAL_PORT,
        );
    }
    for (prefix, service, port) in ROUTES {
        if config.runs(service) {
            let regex = if service == Service::Events {
                format!("{prefix}()()$")
            } else {
                format!("{prefix}(/|$)(.*)")
            };
            path(regex, service.name(), port);
        }
    }
    if config.runs(Service::Web) {
        path("/()(.*)".into(), "web", 5000);
    } else {
        path("/()(.*)".into(), "caddy", caddy::INTERNAL_PORT);
    }
    let mut annotations = BTreeMap::from([
        (
            "nginx.ingress.kubernetes.io/use-regex".to_string(),
            "true".to_string(),
        ),
        (
            "nginx.ingress.kubernetes.io/rewrite-target".to_string(),
            "/$2".to_string(),
        ),
        // WebSockets (events, LiveKit signalling) stay open.
        (
            "nginx.ingress.kubernetes.io/proxy-read-timeout".to_string(),
            "3600".to_string(),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-send-timeout".to_string(),
            "3600".to_string(),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-body-size".to_string(),
            "25m".to_string(),
        ),
    ]);
    if let TlsMode::Acme { .. } = config.tls {
        annotations.insert(
            "cert-manager.io/cluster-issuer".into(),
            "letsencrypt".into(),
        );
    }
    let mut metadata = meta("stoat", "ingress");
    metadata.annotations = Some(annotations);
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: Some("nginx".into()),
            tls: Some(vec![IngressTLS {
                hosts: Some(vec![config.domain.to_string()]),
                secret_name: Some(TLS_SECRET.into()),
            }]),
            rules: Some(vec![IngressRule {
                host: Some(config.domain.to_string()),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}
