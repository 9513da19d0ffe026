//! The form-level input: what the operator typed, before validation. Both the
//! wizard and `stack.toml` go through [`StackForm::parse`], which reports every
//! problem at once, each against its field path.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::values::*;
use super::{
    Apps, FieldIssue, ImageSet, LiveKit, LiveKitIp, Network, Registration, Service, Smtp,
    SmtpSecurity, StackConfig, TargetKind, TlsMode, LETS_ENCRYPT_DIRECTORY,
};

/// One input value as typed. TOML scalars of any type are accepted here;
/// whether the type fits is decided by [`StackForm::parse`], per field.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// A table, list or date where a single value belongs; holds what it was.
    Invalid(&'static str),
}

impl Field {
    pub fn text(s: impl Into<String>) -> Option<Field> {
        Some(Field::Text(s.into()))
    }

    fn as_text(&self) -> Result<String, String> {
        match self {
            Field::Text(s) => Ok(s.clone()),
            Field::Integer(i) => Ok(i.to_string()),
            Field::Float(f) => Ok(f.to_string()),
            Field::Bool(b) => Ok(b.to_string()),
            Field::Invalid(what) => Err(format!("expected a single value, found {what}")),
        }
    }

    fn as_bool(&self) -> Result<bool, String> {
        match self {
            Field::Bool(b) => Ok(*b),
            Field::Text(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
            Field::Text(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
            _ => Err("expected true or false".into()),
        }
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Text(t) => s.serialize_str(t),
            Field::Integer(i) => s.serialize_i64(*i),
            Field::Float(f) => s.serialize_f64(*f),
            Field::Bool(b) => s.serialize_bool(*b),
            Field::Invalid(_) => s.serialize_str(""),
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
                Ok(Field::Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
                Ok(Field::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
                Ok(
                    i64::try_from(v)
                        .map_or(Field::Invalid("a number out of range"), Field::Integer),
                )
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field, E> {
                Ok(Field::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Field, E> {
                Ok(Field::Bool(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Invalid("a table"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Invalid("a list"))
            }
        }
        d.deserialize_any(V)
    }
}

type F = Option<Field>;

/// Everything the operator can set, unvalidated. Mirrors `stack.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StackForm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: F,
    pub tls: TlsForm,
    pub smtp: SmtpForm,
    pub livekit: LiveKitForm,
    pub apps: AppsForm,
    /// Service name -> image reference, overriding the built-in catalog.
    pub images: BTreeMap<String, Field>,
    #[serde(skip_serializing_if = "NetworkForm::is_empty")]
    pub network: NetworkForm,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkForm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_port: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_port: F,
}

impl NetworkForm {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn read(&self, r: &mut Reader) -> Option<Network> {
        let d = Network::default();
        let bind = r.opt("network.bind", &self.bind, d.bind, IpAddress::parse);
        let http_port = r.opt(
            "network.http_port",
            &self.http_port,
            d.http_port,
            Port::parse,
        );
        let https_port = r.opt(
            "network.https_port",
            &self.https_port,
            d.https_port,
            Port::parse,
        );
        if let (Some(h), Some(s)) = (http_port, https_port) {
            if h == s {
                r.issues.push(FieldIssue::error(
                    "network.https_port",
                    "HTTP and HTTPS need two different host ports",
                ));
                return None;
            }
        }
        Some(Network {
            bind: bind?,
            http_port: http_port?,
            https_port: https_port?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsForm {
    /// `self-signed` | `acme` | `own`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: F,
    /// PEM of a private directory's root CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_ca: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: F,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpForm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: F,
    /// `tls` | `starttls` | `none`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: F,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveKitForm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp_ports: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_port: F,
    /// `external` | `fixed`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_mode: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_ip: F,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppsForm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autumn: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub january: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gifbox: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crond: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushd: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_ingress: F,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: F,
}

/// A config that passed validation, with the warnings worth showing.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStack {
    pub config: StackConfig,
    pub warnings: Vec<FieldIssue>,
}

/// Collects per-field problems while reading a form.
#[derive(Default)]
struct Reader {
    issues: Vec<FieldIssue>,
}

impl Reader {
    fn value<T>(
        &mut self,
        path: &str,
        field: &F,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<Option<T>> {
        let Some(field) = field else {
            return Some(None);
        };
        let text = match field.as_text() {
            Ok(t) => t,
            Err(e) => {
                self.issues.push(FieldIssue::error(path, e));
                return None;
            }
        };
        match parse(&text) {
            Ok(v) => Some(Some(v)),
            Err(e) => {
                self.issues.push(FieldIssue::error(path, e.0));
                None
            }
        }
    }

    /// Required: missing is an error.
    fn req<T>(
        &mut self,
        path: &str,
        field: &F,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        match self.value(path, field, parse)? {
            Some(v) => Some(v),
            None => {
                self.issues
                    .push(FieldIssue::error(path, "this field is required"));
                None
            }
        }
    }

    /// Optional: missing takes `default`.
    fn opt<T>(
        &mut self,
        path: &str,
        field: &F,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        self.value(path, field, parse).map(|v| v.unwrap_or(default))
    }

    fn flag(&mut self, path: &str, field: &F, default: bool) -> Option<bool> {
        match field {
            None => Some(default),
            Some(f) => match f.as_bool() {
                Ok(b) => Some(b),
                Err(e) => {
                    self.issues.push(FieldIssue::error(path, e));
                    None
                }
            },
        }
    }

    fn plain(&mut self, path: &str, field: &F) -> Option<String> {
        self.opt(path, field, String::new(), |s| {
            if s.chars().any(|c| c.is_control()) {
                Err(InvalidValue("control characters are not allowed".into()))
            } else {
                Ok(s.to_string())
            }
        })
    }
}

impl StackForm {
    /// Validates everything; on failure returns every issue found (errors and
    /// warnings), on success the config and its warnings.
    pub fn parse(&self) -> Result<ParsedStack, Vec<FieldIssue>> {
        let mut r = Reader::default();
        let name = r.opt("name", &self.name, StackName::default(), StackName::parse);
        let domain = r.req("domain", &self.domain, DomainName::parse);
        let target = r.opt(
            "target",
            &self.target,
            TargetKind::Docker,
            TargetKind::parse,
        );
        let registration = r.opt(
            "registration",
            &self.registration,
            Registration::InviteOnly,
            Registration::parse,
        );
        let tls = self.tls.read(&mut r);
        let smtp = self.smtp.read(&mut r);
        let livekit = self.livekit.read(&mut r);
        // voice-ingress follows voice unless set: the default never warns.
        let voice = livekit.as_ref().is_some_and(|l| l.enabled);
        let apps = self.apps.read(&mut r, voice);
        let network = self.network.read(&mut r);
        let mut images = Some(ImageSet::default());
        for (name, field) in &self.images {
            let path = format!("images.{name}");
            let Some(service) = Service::from_name(name) else {
                r.issues.push(FieldIssue::error(
                    path,
                    "no such service; use a service name such as api, web or database",
                ));
                images = None;
                continue;
            };
            match r.req(&path, &Some(field.clone()), ImageRef::parse) {
                Some(image) => {
                    if let Some(set) = images.as_mut() {
                        set.set(service, image)
                    }
                }
                None => images = None,
            }
        }

        let (
            Some(name),
            Some(network),
            Some(domain),
            Some(target),
            Some(registration),
            Some(tls),
            Some(smtp),
            Some(livekit),
            Some(apps),
            Some(images),
        ) = (
            name,
            network,
            domain,
            target,
            registration,
            tls,
            smtp,
            livekit,
            apps,
            images,
        )
        else {
            return Err(r.issues);
        };
        let config = StackConfig {
            name,
            network,
            domain,
            tls,
            smtp,
            registration,
            livekit,
            apps,
            images,
            target,
        };
        let mut issues = r.issues;
        issues.extend(config.check());
        if issues.iter().any(FieldIssue::is_error) {
            Err(issues)
        } else {
            Ok(ParsedStack {
                config,
                warnings: issues,
            })
        }
    }
}

impl TlsForm {
    fn read(&self, r: &mut Reader) -> Option<TlsMode> {
        let mode = r.opt(
            "tls.mode",
            &self.mode,
            "self-signed".to_string(),
            |s| match s.trim().to_ascii_lowercase().as_str() {
                "self-signed" | "selfsigned" | "internal" => Ok("self-signed".into()),
                "acme" | "letsencrypt" => Ok("acme".into()),
                "own" | "own-certificate" | "manual" => Ok("own".into()),
                _ => Err(InvalidValue("choose self-signed, acme or own".into())),
            },
        )?;
        let stray = |r: &mut Reader, path: &str, f: &F, why: &str| {
            if f.is_some() {
                r.issues.push(FieldIssue::warning(
                    path,
                    format!("{path} is ignored: {why}"),
                ));
            }
        };
        match mode.as_str() {
            "acme" => {
                let email = r.value("tls.email", &self.email, EmailAddress::parse);
                let directory = r.opt(
                    "tls.directory",
                    &self.directory,
                    HttpsUrl::parse(LETS_ENCRYPT_DIRECTORY).expect("valid URL"),
                    HttpsUrl::parse,
                );
                let directory_ca = r.value(
                    "tls.directory_ca",
                    &self.directory_ca,
                    CaCertificates::parse,
                );
                stray(
                    r,
                    "tls.cert_file",
                    &self.cert_file,
                    "only used with tls.mode = \"own\"",
                );
                stray(
                    r,
                    "tls.key_file",
                    &self.key_file,
                    "only used with tls.mode = \"own\"",
                );
                Some(TlsMode::Acme {
                    email: email?,
                    directory: directory?,
                    directory_ca: directory_ca?,
                })
            }
            "own" => {
                let cert_file = r.req("tls.cert_file", &self.cert_file, HostPath::parse);
                let key_file = r.req("tls.key_file", &self.key_file, HostPath::parse);
                stray(
                    r,
                    "tls.email",
                    &self.email,
                    "only used with tls.mode = \"acme\"",
                );
                stray(
                    r,
                    "tls.directory",
                    &self.directory,
                    "only used with tls.mode = \"acme\"",
                );
                stray(
                    r,
                    "tls.directory_ca",
                    &self.directory_ca,
                    "only used with tls.mode = \"acme\"",
                );
                Some(TlsMode::OwnCertificate {
                    cert_file: cert_file?,
                    key_file: key_file?,
                })
            }
            _ => {
                for (path, f) in [
                    ("tls.email", &self.email),
                    ("tls.directory", &self.directory),
                    ("tls.directory_ca", &self.directory_ca),
                    ("tls.cert_file", &self.cert_file),
                    ("tls.key_file", &self.key_file),
                ] {
                    stray(r, path, f, "not used with tls.mode = \"self-signed\"");
                }
                Some(TlsMode::SelfSigned)
            }
        }
    }
}

impl SmtpForm {
    fn read(&self, r: &mut Reader) -> Option<Option<Smtp>> {
        let any_set = [
            &self.host,
            &self.port,
            &self.username,
            &self.password,
            &self.from,
            &self.security,
        ]
        .iter()
        .any(|f| f.is_some());
        let enabled = r.flag("smtp.enabled", &self.enabled, any_set)?;
        if !enabled {
            return Some(None);
        }
        let host = r.req("smtp.host", &self.host, MailHost::parse);
        let port = r.req("smtp.port", &self.port, Port::parse);
        let username = r.plain("smtp.username", &self.username);
        let password = r.opt("smtp.password", &self.password, String::new(), |s| {
            if crate::render::dotenv::writable(s) {
                Ok(s.to_string())
            } else {
                Err(InvalidValue(
                    "Stoat gets the password from an environment file (secrets.env), \
                     where a quote ('), a backslash or a control character cannot be \
                     written so that Docker and docker-compose read it alike: choose a \
                     password without them"
                        .into(),
                ))
            }
        });
        let from = r.req("smtp.from", &self.from, EmailAddress::parse);
        let default_security = match port.map(Port::get) {
            Some(465) => SmtpSecurity::ImplicitTls,
            Some(25) => SmtpSecurity::None,
            _ => SmtpSecurity::StartTls,
        };
        let security = r.opt(
            "smtp.security",
            &self.security,
            default_security,
            SmtpSecurity::parse,
        );
        Some(Some(Smtp {
            host: host?,
            port: port?,
            username: username?,
            password: password?,
            from: from?,
            security: security?,
        }))
    }
}

impl LiveKitForm {
    fn read(&self, r: &mut Reader) -> Option<LiveKit> {
        let d = LiveKit::default();
        let enabled = r.flag("livekit.enabled", &self.enabled, false);
        let node = r.opt("livekit.node", &self.node, d.node.clone(), NodeName::parse);
        let lat = r.opt("livekit.lat", &self.lat, d.lat, Latitude::parse);
        let lon = r.opt("livekit.lon", &self.lon, d.lon, Longitude::parse);
        let udp_ports = r.opt(
            "livekit.udp_ports",
            &self.udp_ports,
            d.udp_ports,
            PortRange::parse,
        );
        let tcp_port = r.opt("livekit.tcp_port", &self.tcp_port, d.tcp_port, Port::parse);
        let fixed = r.opt("livekit.ip_mode", &self.ip_mode, false, |s| {
            match s.trim().to_ascii_lowercase().as_str() {
                "external" | "stun" => Ok(false),
                "fixed" | "node-ip" | "node_ip" => Ok(true),
                _ => Err(InvalidValue("choose external or fixed".into())),
            }
        });
        let ip = match fixed {
            Some(true) => r
                .req("livekit.node_ip", &self.node_ip, IpAddress::parse)
                .map(LiveKitIp::Fixed),
            Some(false) => {
                if self.node_ip.is_some() {
                    r.issues.push(
                        FieldIssue::warning(
                            "livekit.node_ip",
                            "livekit.node_ip is ignored: livekit.ip_mode is \"external\"",
                        )
                        .with_fix("set livekit.ip_mode = \"fixed\" to use this address"),
                    );
                }
                Some(LiveKitIp::External)
            }
            None => None,
        };
        Some(LiveKit {
            enabled: enabled?,
            node: node?,
            lat: lat?,
            lon: lon?,
            udp_ports: udp_ports?,
            tcp_port: tcp_port?,
            ip: ip?,
        })
    }
}

impl AppsForm {
    /// `voice`: whether LiveKit is on, the default of `apps.voice_ingress`.
    fn read(&self, r: &mut Reader, voice: bool) -> Option<Apps> {
        let d = Apps::default();
        let api = r.flag("apps.api", &self.api, d.api);
        let events = r.flag("apps.events", &self.events, d.events);
        let autumn = r.flag("apps.autumn", &self.autumn, d.autumn);
        let january = r.flag("apps.january", &self.january, d.january);
        let gifbox = r.flag("apps.gifbox", &self.gifbox, d.gifbox);
        let crond = r.flag("apps.crond", &self.crond, d.crond);
        let pushd = r.flag("apps.pushd", &self.pushd, d.pushd);
        let voice_ingress = r.flag("apps.voice_ingress", &self.voice_ingress, voice);
        let web = r.flag("apps.web", &self.web, d.web);
        Some(Apps {
            api: api?,
            events: events?,
            autumn: autumn?,
            january: january?,
            gifbox: gifbox?,
            crond: crond?,
            pushd: pushd?,
            voice_ingress: voice_ingress?,
            web: web?,
        })
    }
}

impl From<&StackConfig> for StackForm {
    fn from(c: &StackConfig) -> Self {
        let text = |s: &str| Field::text(s);
        let int = |n: u16| Some(Field::Integer(i64::from(n)));
        let flag = |b: bool| Some(Field::Bool(b));
        let tls = match &c.tls {
            TlsMode::SelfSigned => TlsForm {
                mode: text("self-signed"),
                ..TlsForm::default()
            },
            TlsMode::Acme {
                email,
                directory,
                directory_ca,
            } => TlsForm {
                mode: text("acme"),
                email: email.as_ref().and_then(|e| text(e.as_str())),
                directory: text(directory.as_str()),
                directory_ca: directory_ca.as_ref().and_then(|c| text(c.as_str())),
                ..TlsForm::default()
            },
            TlsMode::OwnCertificate {
                cert_file,
                key_file,
            } => TlsForm {
                mode: text("own"),
                cert_file: text(cert_file.as_str()),
                key_file: text(key_file.as_str()),
                ..TlsForm::default()
            },
        };
        let smtp = match &c.smtp {
            None => SmtpForm {
                enabled: flag(false),
                ..SmtpForm::default()
            },
            Some(s) => SmtpForm {
                enabled: flag(true),
                host: text(s.host.as_str()),
                port: int(s.port.get()),
                username: text(&s.username),
                password: text(&s.password),
                from: text(s.from.as_str()),
                security: text(s.security.as_str()),
            },
        };
        let lk = &c.livekit;
        let livekit = LiveKitForm {
            enabled: flag(lk.enabled),
            node: text(lk.node.as_str()),
            lat: Some(Field::Float(lk.lat.get())),
            lon: Some(Field::Float(lk.lon.get())),
            udp_ports: text(&lk.udp_ports.to_string()),
            tcp_port: int(lk.tcp_port.get()),
            ip_mode: text(match lk.ip {
                LiveKitIp::External => "external",
                LiveKitIp::Fixed(_) => "fixed",
            }),
            node_ip: match lk.ip {
                LiveKitIp::External => None,
                LiveKitIp::Fixed(ip) => text(&ip.to_string()),
            },
        };
        let a = &c.apps;
        let apps = AppsForm {
            api: flag(a.api),
            events: flag(a.events),
            autumn: flag(a.autumn),
            january: flag(a.january),
            gifbox: flag(a.gifbox),
            crond: flag(a.crond),
            pushd: flag(a.pushd),
            voice_ingress: flag(a.voice_ingress),
            web: flag(a.web),
        };
        let network = if c.network == Network::default() {
            NetworkForm::default()
        } else {
            NetworkForm {
                bind: text(&c.network.bind.to_string()),
                http_port: int(c.network.http_port.get()),
                https_port: int(c.network.https_port.get()),
            }
        };
        StackForm {
            name: (c.name != StackName::default())
                .then(|| Field::Text(c.name.as_str().to_string())),
            network,
            domain: text(c.domain.as_str()),
            target: text(c.target.as_str()),
            registration: text(c.registration.as_str()),
            tls,
            smtp,
            livekit,
            apps,
            images: c
                .images
                .overrides()
                .into_iter()
                .map(|(s, i)| (s.name().to_string(), Field::Text(i.to_string())))
                .collect(),
        }
    }
}

impl From<StackConfig> for StackForm {
    fn from(c: StackConfig) -> Self {
        StackForm::from(&c)
    }
}

/// Serde's view: a config deserializes only if it validates without errors.
impl TryFrom<StackForm> for StackConfig {
    type Error = String;
    fn try_from(form: StackForm) -> Result<Self, Self::Error> {
        form.parse().map(|p| p.config).map_err(|issues| {
            issues
                .iter()
                .filter(|i| i.is_error())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

const SECTIONS: [&str; 6] = ["tls", "smtp", "livekit", "apps", "images", "network"];

/// Reads a user-written `stack.toml`: syntax errors, unknown keys, wrong
/// types and invalid values are all reported, each with its key path.
pub fn parse_stack_toml(text: &str) -> Result<ParsedStack, Vec<FieldIssue>> {
    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            return Err(vec![FieldIssue::error(
                "",
                format!("not valid TOML{at}: {}", e.message()),
            )]);
        }
    };
    let mut structural = Vec::new();
    for section in SECTIONS {
        if let Some(v) = table.get(section) {
            if !v.is_table() {
                structural.push(FieldIssue::error(
                    section,
                    format!("expected a [{section}] table, found a {}", v.type_str()),
                ));
                table.remove(section);
            }
        }
    }
    let form = match StackForm::deserialize(toml::Value::Table(table.clone())) {
        Ok(f) => f,
        Err(e) => {
            structural.push(FieldIssue::error("", e.to_string()));
            return Err(structural);
        }
    };
    // Keys the form did not take are unknown (typos): report, do not ignore.
    let known = toml::Value::try_from(&form).unwrap_or(toml::Value::Table(Default::default()));
    unknown_keys("", &toml::Value::Table(table), &known, &mut structural);

    match form.parse() {
        Ok(mut parsed) => {
            if structural.iter().any(FieldIssue::is_error) {
                structural.extend(parsed.warnings);
                Err(structural)
            } else {
                structural.append(&mut parsed.warnings);
                parsed.warnings = structural;
                Ok(parsed)
            }
        }
        Err(issues) => {
            structural.extend(issues);
            Err(structural)
        }
    }
}

fn unknown_keys(prefix: &str, input: &toml::Value, known: &toml::Value, out: &mut Vec<FieldIssue>) {
    let (Some(input), Some(known)) = (input.as_table(), known.as_table()) else {
        return;
    };
    for (key, value) in input {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None => out.push(FieldIssue::error(path, "unknown key (a typo?)")),
            Some(k) => unknown_keys(&path, value, k, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file() {
        let p = parse_stack_toml("domain = 'chat.example.com'").unwrap();
        assert_eq!(p.config.domain.as_str(), "chat.example.com");
        assert_eq!(p.config.registration, Registration::InviteOnly);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn every_error_at_once() {
        let text = r#"
            domain = "bad..name"
            registration = "sometimes"
            colour = "blue"
            [smtp]
            host = "mail.example.com"
            port = 70000
            from = "nobody"
            [livekit]
            enabled = "yes"
            udp_ports = "9-1"
            [apps]
            web = 3
            [images]
            nope = "x:1"
            api = "UPPER:1"
        "#;
        let issues = parse_stack_toml(text).unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        for f in [
            "domain",
            "registration",
            "colour",
            "smtp.port",
            "smtp.from",
            "livekit.enabled",
            "livekit.udp_ports",
            "apps.web",
            "images.nope",
            "images.api",
        ] {
            assert!(fields.contains(&f), "missing {f} in {fields:?}");
        }
    }

    #[test]
    fn wrong_shapes_are_field_errors() {
        let issues =
            parse_stack_toml("domain = ['a']\ntls = 'acme'\n[livekit]\nlat = {a = 1}").unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert!(
            fields.contains(&"domain")
                && fields.contains(&"tls")
                && fields.contains(&"livekit.lat"),
            "{fields:?}"
        );
    }

    #[test]
    fn syntax_error_has_line() {
        let issues = parse_stack_toml("domain = 'a.b'\n[smtp\n").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].message.contains("line 2"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn smtp_587_implicit_tls_is_flagged_with_fix() {
        let text = "domain = 'a.example.com'\n[smtp]\nhost='smtp.example.com'\nport=587\nfrom='a@example.com'\nsecurity='tls'";
        let p = parse_stack_toml(text).unwrap();
        let w = p
            .warnings
            .iter()
            .find(|w| w.field == "smtp.security")
            .unwrap();
        assert!(w.fix.as_deref().unwrap().contains("starttls"));
    }

    #[test]
    fn an_smtp_relay_may_be_an_ip_address_without_tls_only() {
        let text = |security: &str| {
            format!("domain = 'a.example.com'\n[smtp]\nhost=' 192.168.1.25 '\nport=25\nfrom='a@example.com'\nsecurity='{security}'")
        };
        let p = parse_stack_toml(&text("none")).unwrap();
        assert_eq!(p.config.smtp.unwrap().host.as_str(), "192.168.1.25");
        for security in ["tls", "starttls"] {
            let issues = parse_stack_toml(&text(security)).unwrap_err();
            let e = issues.iter().find(|i| i.field == "smtp.host").unwrap();
            assert!(e.is_error());
            assert!(e.message.contains("IP address"), "{}", e.message);
            assert!(e.fix.as_deref().unwrap().contains("relay's name"));
        }
        let bad =
            "domain = 'a.example.com'\n[smtp]\nhost='smtp example'\nport=25\nfrom='a@example.com'";
        let issues = parse_stack_toml(bad).unwrap_err();
        let e = issues.iter().find(|i| i.field == "smtp.host").unwrap();
        assert!(
            e.message
                .contains("an IP address (e.g. 192.168.1.25) works too"),
            "{}",
            e.message
        );
    }

    #[test]
    fn config_serde_round_trips_through_the_form() {
        let text = r#"
            domain = "chat.example.com"
            registration = "open"
            [tls]
            mode = "acme"
            email = "ops@example.com"
            [smtp]
            host = "smtp.example.com"
            port = 465
            from = "noreply@example.com"
            password = "pw"
            [livekit]
            enabled = true
            ip_mode = "fixed"
            node_ip = "10.0.0.2"
            lat = 48.85
            [apps]
            voice_ingress = true
            [images]
            web = "ghcr.io/stoatchat/for-web:1.2.3"
        "#;
        let config = parse_stack_toml(text).unwrap().config;
        let written = toml::to_string(&config).unwrap();
        let again: StackConfig = toml::from_str(&written).unwrap();
        assert_eq!(config, again);
        assert_eq!(parse_stack_toml(&written).unwrap().config, config);
    }

    #[test]
    fn livekit_ports_must_not_collide_with_caddy() {
        let issues = parse_stack_toml(
            "domain='a.example.com'\n[livekit]\nenabled=true\nudp_ports='400-500'\ntcp_port=443",
        )
        .unwrap_err();
        assert!(issues
            .iter()
            .any(|i| i.field == "livekit.udp_ports" && i.is_error()));
        assert!(issues
            .iter()
            .any(|i| i.field == "livekit.tcp_port" && i.is_error()));
        let w = parse_stack_toml(
            "domain='a.example.com'\n[livekit]\nenabled=true\nudp_ports='40000-45000'\n[apps]\nvoice_ingress=true",
        )
        .unwrap()
        .warnings;
        assert!(w.iter().any(|i| i.field == "livekit.udp_ports"), "{w:?}");
    }

    #[test]
    fn voice_ingress_follows_voice_by_default_so_defaults_never_warn() {
        let on = parse_stack_toml("domain='a.example.com'\n[livekit]\nenabled=true").unwrap();
        assert!(on.config.apps.voice_ingress);
        assert!(
            !on.warnings.iter().any(|w| w.field == "apps.voice_ingress"),
            "{:?}",
            on.warnings
        );
        let off = parse_stack_toml("domain='a.example.com'").unwrap();
        assert!(!off.config.apps.voice_ingress);
        // Set explicitly, it is what was set (and warned about).
        let explicit = parse_stack_toml(
            "domain='a.example.com'\n[livekit]\nenabled=true\n[apps]\nvoice_ingress=false",
        )
        .unwrap();
        assert!(!explicit.config.apps.voice_ingress);
        assert!(explicit
            .warnings
            .iter()
            .any(|w| w.field == "apps.voice_ingress"));
    }

    #[test]
    fn voice_ingress_without_livekit_is_an_error() {
        let issues =
            parse_stack_toml("domain='a.example.com'\n[apps]\nvoice_ingress=true").unwrap_err();
        assert!(issues
            .iter()
            .any(|i| i.field == "apps.voice_ingress" && i.is_error()));
    }

    #[test]
    fn stack_name_and_network_publish_caddy_where_asked() {
        let parsed = parse_stack_toml(
            "name = 'tk-1'\ndomain = 'a.example.com'\n\
             [network]\nbind = '127.0.0.1'\nhttp_port = 18480\nhttps_port = 18443",
        )
        .unwrap();
        let c = &parsed.config;
        assert_eq!(c.name.as_str(), "tk-1");
        assert_eq!(c.network.http_port.get(), 18480);
        let plan = crate::render::render(c, &crate::secrets::Secrets::generate().unwrap());
        let caddy = plan.service("caddy").unwrap();
        let published: Vec<String> = caddy.ports.iter().map(|p| p.docker_syntax()).collect();
        assert_eq!(
            published,
            [
                "127.0.0.1:18480:18480/tcp",
                "127.0.0.1:18443:18443/tcp",
                "127.0.0.1:18443:18443/udp"
            ]
        );
        // Round trip keeps the non-default values.
        let again: StackConfig =
            toml::from_str(&toml::to_string(&StackForm::from(c)).unwrap()).unwrap();
        assert_eq!(&again, c);

        let errs = parse_stack_toml(
            "name = 'Bad Name'\ndomain = 'a.example.com'\n[network]\nbind = 'x'\nhttp_port = 8443\nhttps_port = 8443",
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|i| i.field.as_str()).collect();
        assert!(fields.contains(&"name"), "{errs:?}");
        assert!(fields.contains(&"network.bind"), "{errs:?}");
        assert!(fields.contains(&"network.https_port"), "{errs:?}");
    }
    /// A private ACME directory's root: a multi-line PEM in stack.toml,
    /// a file for Caddy, refused beside its field when it is no
    /// certificate, ignored with a warning outside ACME.
    #[test]
    fn a_private_directory_root_is_read_checked_and_rendered() {
        let root = include_str!("../../tests/fixtures/private-acme-root.pem");
        let text = format!(
            "domain = 'chat.burrow.test'\n[tls]\nmode = 'acme'\n\
             directory = 'https://172.17.0.1:14000/dir'\ndirectory_ca = \"\"\"\n{root}\"\"\"\n"
        );
        let parsed = parse_stack_toml(&text).unwrap();
        let TlsMode::Acme { directory_ca, .. } = &parsed.config.tls else {
            panic!("not ACME: {:?}", parsed.config.tls);
        };
        assert_eq!(directory_ca.as_ref().unwrap().as_str(), root);
        let plan = crate::render::render(
            &parsed.config,
            &crate::secrets::Secrets::generate().unwrap(),
        );
        assert_eq!(plan.files[crate::render::ACME_CA_ROOT_FILE].content, root);
        let caddy = plan.service("caddy").unwrap();
        assert!(caddy.mounts.iter().any(|m| matches!(m,
            crate::render::Mount::File { file, target }
                if file == crate::render::ACME_CA_ROOT_FILE
                    && target == crate::render::ACME_CA_ROOT_PATH)));
        // Round trip.
        let again: StackConfig =
            toml::from_str(&toml::to_string(&StackForm::from(&parsed.config)).unwrap()).unwrap();
        assert_eq!(again, parsed.config);

        for (bad, says) in [
            (
                "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----",
                "private key",
            ),
            ("just text", "no certificate found"),
            (
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
                "base64",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nMIIB",
                "no -----END CERTIFICATE-----",
            ),
        ] {
            let text = format!(
                "domain = 'chat.burrow.test'\n[tls]\nmode = 'acme'\ndirectory_ca = '''{bad}'''\n"
            );
            let errs = parse_stack_toml(&text).unwrap_err();
            let issue = errs
                .iter()
                .find(|i| i.field == "tls.directory_ca")
                .unwrap_or_else(|| panic!("{bad}: {errs:?}"));
            assert!(issue.to_string().contains(says), "{issue}");
        }
        let stray = parse_stack_toml(&format!(
            "domain = 'chat.burrow.test'\n[tls]\nmode = 'self-signed'\ndirectory_ca = \"\"\"\n{root}\"\"\"\n"
        ))
        .unwrap();
        assert!(stray
            .warnings
            .iter()
            .any(|i| i.field == "tls.directory_ca" && !i.is_error()));
        assert_eq!(stray.config.tls, TlsMode::SelfSigned);
    }
}
