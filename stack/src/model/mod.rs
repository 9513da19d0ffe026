//! The validated stack configuration: what the operator chose, nothing derived.
//!
//! `StackConfig` (de)serializes through [`StackForm`], so the TOML written for a
//! config is exactly the `stack.toml` format and reading it back runs the same
//! validation as the wizard.

mod form;
mod images;
mod issues;
mod values;

pub use form::{parse_stack_toml, Field, ParsedStack, StackForm};
pub use images::{ImageSet, ImageUser, Service, DEFAULT_RELEASE};
pub use issues::{FieldIssue, Severity};
pub use values::{
    CaCertificates, DomainName, EmailAddress, HostPath, HttpsUrl, ImageRef, InvalidValue,
    IpAddress, Latitude, Longitude, MailHost, NodeName, Port, PortRange, StackName,
};

use serde::{Deserialize, Serialize};

/// Let's Encrypt's production directory, the default ACME CA.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// One Stoat installation, as the operator configured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StackForm", into = "StackForm")]
pub struct StackConfig {
    /// Prefix of container, network and volume names (default `stoat`).
    pub name: StackName,
    pub domain: DomainName,
    pub tls: TlsMode,
    /// `None`: no e-mail (no verification, no password reset).
    pub smtp: Option<Smtp>,
    pub registration: Registration,
    pub livekit: LiveKit,
    pub apps: Apps,
    pub images: ImageSet,
    pub target: TargetKind,
    /// Where Caddy is published on the host.
    pub network: Network,
}

impl StackConfig {
    /// A config with every default: internal CA, no SMTP, invite-only, voice
    /// off, every app but voice-ingress and gifbox on, the built-in images.
    pub fn new(domain: DomainName) -> Self {
        Self {
            name: StackName::default(),
            domain,
            tls: TlsMode::SelfSigned,
            smtp: None,
            registration: Registration::InviteOnly,
            livekit: LiveKit::default(),
            apps: Apps::default(),
            images: ImageSet::default(),
            target: TargetKind::Docker,
            network: Network::default(),
        }
    }

    /// Cross-field rules. `Severity::Error` issues block a deploy.
    pub fn check(&self) -> Vec<FieldIssue> {
        issues::check(self)
    }

    /// Whether `service` runs in this stack (toggles plus what they imply).
    pub fn runs(&self, service: Service) -> bool {
        use Service::*;
        let a = &self.apps;
        match service {
            Database | Redis | Rabbit | Caddy => true,
            Minio | Createbuckets => a.autumn || a.crond,
            Api => a.api,
            Events => a.events,
            Autumn => a.autumn,
            January => a.january,
            Gifbox => a.gifbox,
            Crond => a.crond,
            Pushd => a.pushd,
            Web => a.web,
            Livekit => self.livekit.enabled,
            // Without LiveKit there is nothing to ingest (a check() error).
            VoiceIngress => a.voice_ingress && self.livekit.enabled,
        }
    }

    /// Services that run, in dependency order.
    pub fn services(&self) -> Vec<Service> {
        Service::ALL
            .iter()
            .copied()
            .filter(|s| self.runs(*s))
            .collect()
    }
}

/// The host side of Caddy's published ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Host address the ports bind to; `0.0.0.0` (default) is every address.
    pub bind: IpAddress,
    pub http_port: Port,
    pub https_port: Port,
}

impl Network {
    /// `None` when bound to every address (the unspecified address).
    pub fn host_ip(&self) -> Option<std::net::IpAddr> {
        let ip = self.bind.get();
        (!ip.is_unspecified()).then_some(ip)
    }
}

impl Default for Network {
    fn default() -> Self {
        Self {
            bind: IpAddress::parse("0.0.0.0").expect("valid address"),
            http_port: Port::new(80).expect("valid port"),
            https_port: Port::new(443).expect("valid port"),
        }
    }
}

/// How Caddy gets its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// A private CA made by Burrow; its files are mounted at
    /// [`crate::render::TLS_CERT_PATH`] / [`crate::render::TLS_KEY_PATH`].
    SelfSigned,
    /// ACME (Let's Encrypt by default).
    Acme {
        /// Optional: the CA sends expiry notices there.
        email: Option<EmailAddress>,
        directory: HttpsUrl,
        /// The root a private directory's HTTPS certificate chains to
        /// (Caddy's `acme_ca_root`); public CAs need none.
        directory_ca: Option<CaCertificates>,
    },
    /// The operator's own certificate and key, files on the host.
    OwnCertificate {
        cert_file: HostPath,
        key_file: HostPath,
    },
}

/// Outgoing mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// A name, or an IP address with `security = none`.
    pub host: MailHost,
    pub port: Port,
    pub username: String,
    pub password: String,
    pub from: EmailAddress,
    pub security: SmtpSecurity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmtpSecurity {
    /// TLS from the first byte (usually port 465). Stoat's default.
    ImplicitTls,
    /// Plain connection upgraded with STARTTLS (usually port 587).
    StartTls,
    /// No encryption (a relay on a trusted network, port 25).
    None,
}

impl SmtpSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImplicitTls => "tls",
            Self::StartTls => "starttls",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tls" | "implicit-tls" | "implicit_tls" | "ssl" => Ok(Self::ImplicitTls),
            "starttls" => Ok(Self::StartTls),
            "none" | "plain" => Ok(Self::None),
            _ => Err(InvalidValue("choose tls, starttls or none".into())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registration {
    Open,
    InviteOnly,
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InviteOnly => "invite-only",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Self::Open),
            "invite-only" | "invite_only" | "invite" => Ok(Self::InviteOnly),
            _ => Err(InvalidValue("choose open or invite-only".into())),
        }
    }
}

/// Voice and video.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveKit {
    pub enabled: bool,
    pub node: NodeName,
    pub lat: Latitude,
    pub lon: Longitude,
    /// Published UDP range for media.
    pub udp_ports: PortRange,
    /// Published TCP port for media over TCP (ICE/TCP).
    pub tcp_port: Port,
    pub ip: LiveKitIp,
}

impl Default for LiveKit {
    fn default() -> Self {
        Self {
            enabled: false,
            node: NodeName::default(),
            lat: Latitude::new(0.0).expect("0 is a latitude"),
            lon: Longitude::new(0.0).expect("0 is a longitude"),
            udp_ports: PortRange::parse("50000-50100").expect("valid range"),
            tcp_port: Port::new(7881).expect("valid port"),
            ip: LiveKitIp::External,
        }
    }
}

/// Which address LiveKit advertises to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKitIp {
    /// Discover the public address with STUN (`rtc.use_external_ip`).
    External,
    /// A fixed address (`rtc.node_ip`), e.g. on a LAN.
    Fixed(IpAddress),
}

/// Which Stoat services run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Apps {
    pub api: bool,
    pub events: bool,
    /// The file server.
    pub autumn: bool,
    /// The link-preview / media proxy.
    pub january: bool,
    /// The GIF picker proxy (needs a Tenor key set in Stoat to be useful).
    pub gifbox: bool,
    pub crond: bool,
    pub pushd: bool,
    pub voice_ingress: bool,
    /// The web client.
    pub web: bool,
}

impl Default for Apps {
    fn default() -> Self {
        Self {
            api: true,
            events: true,
            autumn: true,
            january: true,
            gifbox: false,
            crond: true,
            pushd: true,
            voice_ingress: false,
            web: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Docker,
    Kubernetes,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Kubernetes => "kubernetes",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s.trim().to_ascii_lowercase().as_str() {
            "docker" | "compose" => Ok(Self::Docker),
            "kubernetes" | "k8s" => Ok(Self::Kubernetes),
            _ => Err(InvalidValue("choose docker or kubernetes".into())),
        }
    }
}
