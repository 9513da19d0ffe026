//! `render(config, secrets) -> Plan`: everything a target needs to run the
//! stack, computed without IO. Same input, byte-identical output.

mod caddy;
pub use caddy::with_upstream as caddy_with_upstream;
mod compose;
pub mod dotenv;
mod kubernetes;
mod livekit;
mod revolt;
mod services;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{ImageRef, Service, StackConfig};
use crate::secrets::Secrets;

pub use kubernetes::{valid_namespace, KubeManifest, NAMESPACE};
pub use revolt::{env_name as revolt_env_name, smtp_flags};

/// Where Caddy finds the certificate in the self-signed and own-certificate
/// modes; the deploy mounts the files there.
pub const TLS_CERT_PATH: &str = "/etc/caddy/tls/cert.pem";
/// Where Caddy reads its Caddyfile (a switch reloads it there).
pub const CADDYFILE_PATH: &str = "/etc/caddy/Caddyfile";
/// A private ACME directory's root CA, in Caddy's container (the file
/// [`ACME_CA_ROOT_FILE`] of the plan).
pub const ACME_CA_ROOT_PATH: &str = "/etc/caddy/acme-ca-root.pem";
pub const ACME_CA_ROOT_FILE: &str = "acme-ca-root.pem";
pub const TLS_KEY_PATH: &str = "/etc/caddy/tls/key.pem";
/// In the self-signed mode the deploy directory holds the CA-issued pair here
/// (relative to the compose file); Burrow's engine writes them.
pub const SELF_SIGNED_CERT_SOURCE: &str = "./tls/cert.pem";
pub const SELF_SIGNED_KEY_SOURCE: &str = "./tls/key.pem";
/// In the own-certificate mode through Burrow's console: what the TLS step
/// was given is kept sealed in Burrow's database, never on its disk, and a
/// config names it by these paths; the deploy delivers the pair there.
pub const OWN_CERT_SOURCE: &str = "/burrow/own-tls/fullchain.pem";
pub const OWN_KEY_SOURCE: &str = "/burrow/own-tls/privkey.pem";
/// In the self-signed mode, Burrow's CA certificate (public), which the
/// Stoat backends trust for their calls to the stack's own public URL
/// (january fetching an embed from the instance, for one).
pub const SELF_SIGNED_CA_SOURCE: &str = "./tls/ca.pem";
/// Where the backends find it. Their HTTP client (reqwest 0.13 with
/// rustls-platform-verifier, i.e. rustls-native-certs on Linux) loads every
/// file of `SSL_CERT_DIR` when that is set, besides `SSL_CERT_FILE`
/// (distroless sets it to the system bundle in this directory).
pub const TRUSTED_CA_PATH: &str = "/etc/ssl/certs/burrow-ca.pem";

/// The environment file of Stoat's backends: every secret of Revolt.toml as
/// a `REVOLT__SECTION__KEY` variable (upstream's name for it).
pub const SECRETS_ENV: &str = "secrets.env";

/// The Docker network every service joins.
pub const NETWORK: &str = "stoat";
/// The bucket Stoat's file server uses.
pub const BUCKET: &str = "revolt-uploads";
/// Mongo replica set name (transactions need a replica set).
pub const REPLICA_SET: &str = "rs0";

/// A file the services read, by name (`Revolt.toml`, `livekit.yml`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    pub content: String,
    /// Unix mode to write it with (0600 for secrets, 0644 otherwise).
    pub mode: u32,
    /// Holds secret values: keep it out of logs, ConfigMaps and diffs shown
    /// in the clear.
    pub secret: bool,
}

impl ConfigFile {
    fn public(content: String) -> Self {
        Self {
            content,
            mode: 0o644,
            secret: false,
        }
    }

    fn secret(content: String) -> Self {
        Self {
            content,
            mode: 0o600,
            secret: true,
        }
    }
}

/// One container (or one-shot job) of the stack, self-contained for a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub service: Service,
    /// Container name / DNS name on the network.
    pub name: String,
    pub image: ImageRef,
    pub hostname: String,
    /// Replaces the image entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments (the image `CMD`); empty keeps the image default.
    pub command: Vec<String>,
    /// Non-secret environment.
    pub env: BTreeMap<String, String>,
    /// Secret environment: names of dotenv files in [`Plan::files`].
    pub env_files: Vec<String>,
    /// Ports published on the host (only where the reference publishes).
    pub ports: Vec<PublishedPort>,
    /// The port the service listens on inside the network, if any.
    pub internal_port: Option<u16>,
    pub mounts: Vec<Mount>,
    /// Extra DNS names on the stack network.
    pub aliases: Vec<String>,
    pub depends_on: Vec<Dependency>,
    pub health: Option<HealthCheck>,
    pub restart: Restart,
    /// CPU (millicores) and memory (MiB) a Kubernetes pod requests.
    pub requests: Resources,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub cpu_millis: u32,
    pub memory_mib: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// Container ports `start..=end` published on the host at
/// `host_start..=host_start + (end - start)`, bound to `host_ip` (every
/// address when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    pub start: u16,
    pub end: u16,
    pub protocol: Protocol,
    pub host_ip: Option<std::net::IpAddr>,
    pub host_start: u16,
}

impl PublishedPort {
    /// The host port container port `port` is published on.
    pub fn host_port(&self, port: u16) -> u16 {
        self.host_start + (port - self.start)
    }

    /// `[ip:]host[-host_end]:container[-end]/proto`, the compose/CLI syntax.
    pub fn docker_syntax(&self) -> String {
        let range = |a: u16, b: u16| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        };
        let ip = match self.host_ip {
            Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:"),
            Some(ip) => format!("{ip}:"),
            None => String::new(),
        };
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        format!(
            "{ip}{}:{}/{proto}",
            range(self.host_start, self.host_port(self.end)),
            range(self.start, self.end)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mount {
    /// A named volume (persistent data).
    Volume { name: String, target: String },
    /// A file of [`Plan::files`], mounted read-only.
    File { file: String, target: String },
    /// A file on the host the deploy provides (TLS certificate files).
    Host { source: String, target: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Started,
    Healthy,
    /// Ran to completion with exit code 0 (one-shot jobs).
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
}

/// How to tell a service is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Probe {
    /// HTTP GET answering 2xx/3xx; checked from outside the container
    /// (Stoat's images are distroless: there is no shell or curl inside).
    Http { path: String, port: u16 },
    /// A TCP connect; checked from outside the container.
    Tcp { port: u16 },
    /// A command inside the container (only images that have a shell).
    Exec { command: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    pub probe: Probe,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    Always,
    /// One-shot: restarted only until it exits 0.
    OnFailure,
}

impl Mount {
    /// The mode a target gives the file of this mount when it copies it
    /// into the container: a plan file's own mode; of the host files the
    /// deploy provides, private keys 0600 and certificates 0644.
    pub fn file_mode(&self, files: &BTreeMap<String, ConfigFile>) -> Option<u32> {
        match self {
            Mount::File { file, .. } => files.get(file).map(|f| f.mode),
            Mount::Host { source, .. } => Some(if source.contains("key") { 0o600 } else { 0o644 }),
            Mount::Volume { .. } => None,
        }
    }
}

/// Everything a target needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Config files by name; services mount them via [`Mount::File`].
    pub files: BTreeMap<String, ConfigFile>,
    /// In dependency order.
    pub services: Vec<ServiceSpec>,
    /// Named volumes the services use.
    pub volumes: Vec<String>,
    /// Volume -> fingerprint of the secrets that initialise its data
    /// ([`crate::secrets::Secrets::volume_fingerprint`]): a deploy with
    /// other secrets onto an existing volume is refused.
    pub volume_fingerprints: BTreeMap<String, String>,
    /// `compose.yml`; needs the secret files of [`Plan::files`] beside it.
    pub compose: String,
    /// One object per manifest, in apply order.
    pub kubernetes: Vec<KubeManifest>,
}

impl Plan {
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Every Kubernetes object as one multi-document YAML stream.
    pub fn kubernetes_yaml(&self) -> String {
        kubernetes::join(&self.kubernetes)
    }
}

/// Renders the stack. Expects a config without `check()` errors: a
/// voice-ingress without LiveKit, for one, is simply not rendered.
pub fn render(config: &StackConfig, secrets: &Secrets) -> Plan {
    render_in(config, secrets, NAMESPACE)
}

/// [`render`] with the Kubernetes objects in `namespace` (a DNS-1123
/// label: see [`valid_namespace`]).
pub fn render_in(config: &StackConfig, secrets: &Secrets, namespace: &str) -> Plan {
    let mut files = BTreeMap::new();
    let revolt = revolt::render(config, secrets, revolt::Flavor::Docker);
    files.insert("Revolt.toml".to_string(), ConfigFile::public(revolt.toml));
    files.insert(
        SECRETS_ENV.to_string(),
        ConfigFile::secret(dotenv::write(&revolt.env)),
    );
    files.insert(
        "Caddyfile".to_string(),
        ConfigFile::public(caddy::render(config, caddy::Site::Public)),
    );
    if let crate::model::TlsMode::Acme {
        directory_ca: Some(ca),
        ..
    } = &config.tls
    {
        files.insert(
            ACME_CA_ROOT_FILE.to_string(),
            ConfigFile::public(ca.as_str().to_owned()),
        );
    }
    if config.runs(Service::Livekit) {
        files.insert(
            "livekit.yml".to_string(),
            ConfigFile::secret(livekit::render(config, secrets)),
        );
    }
    for (name, file) in services::files(config, secrets) {
        files.insert(name, file);
    }
    let services = services::specs(config);
    let mut volumes: Vec<String> = services
        .iter()
        .flat_map(|s| s.mounts.iter())
        .filter_map(|m| match m {
            Mount::Volume { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    volumes.sort();
    volumes.dedup();
    let compose = compose::render(&services, &volumes);
    let kubernetes = kubernetes::render(config, secrets, &files, namespace);
    let volume_fingerprints = volumes
        .iter()
        .filter_map(|v| Some((v.clone(), secrets.volume_fingerprint(v)?)))
        .collect();
    Plan {
        files,
        services,
        volumes,
        volume_fingerprints,
        compose,
        kubernetes,
    }
}

/// Public URLs of the stack, shared by Revolt.toml, the web env and the proxy.
pub(crate) struct Urls {
    pub app: String,
    pub api: String,
    pub events: String,
    pub autumn: String,
    pub january: String,
    pub gifbox: String,
    pub livekit: String,
}

impl Urls {
    /// Caddy's HTTPS port is part of every URL when it is not 443: clients
    /// (browsers, the web app, Stoat's own services through the domain
    /// alias) must call the port Caddy is published on.
    pub fn of(config: &StackConfig) -> Self {
        let domain = config.domain.as_str();
        let d = match config.network.https_port.get() {
            443 => domain.to_string(),
            port => format!("{domain}:{port}"),
        };
        Urls {
            app: format!("https://{d}"),
            api: format!("https://{d}/api"),
            events: format!("wss://{d}/ws"),
            autumn: format!("https://{d}/autumn"),
            january: format!("https://{d}/january"),
            gifbox: format!("https://{d}/gifbox"),
            livekit: format!("wss://{d}/livekit"),
        }
    }

    /// The URL clients are given for `service`: empty when it does not run
    /// (clients call what they are given), and for services without one.
    pub fn advertised(&self, config: &StackConfig, service: Service) -> &str {
        let url = match service {
            Service::Events => &self.events,
            Service::Autumn => &self.autumn,
            Service::January => &self.january,
            Service::Gifbox => &self.gifbox,
            _ => return "",
        };
        if config.runs(service) {
            url
        } else {
            ""
        }
    }
}
