//! What one wizard step's form holds, typed. A posted form (key path ->
//! text, as browsers send it) becomes a [`StepInput`] in one place,
//! [`StepInput::from_form`]: values trimmed and bounded, unticked boxes
//! read as off, and only the fields the chosen mode uses kept (the ACME
//! fields are not part of a self-signed TLS step, so they cannot produce an
//! "ignored" warning on the review).

use std::collections::BTreeMap;

use wire::wizard::Step;

/// The longest value kept from a form field (a PEM chain fits easily).
const MAX_VALUE: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainInput {
    pub domain: String,
    pub name: String,
    pub bind: String,
    pub http_port: String,
    pub https_port: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsChoice {
    #[default]
    SelfSigned,
    Acme,
    Own,
    /// Something else was posted: kept as typed for the model to refuse.
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInput {
    pub choice: TlsChoice,
    /// `tls.mode` as posted.
    pub mode: String,
    pub email: String,
    pub directory: String,
    /// A private directory's root CA (PEM).
    pub directory_ca: String,
    /// Let's Encrypt's staging CA instead of the directory.
    pub staging: bool,
    /// Pasted certificate chain and key (empty: keep the saved ones).
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpInput {
    pub enabled: bool,
    pub host: String,
    pub port: String,
    pub security: String,
    pub username: String,
    /// Empty: keep the saved password.
    pub password: String,
    pub from: String,
    /// The offer shown while e-mail is off: registration by invite.
    pub invite_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoiceInput {
    pub enabled: bool,
    pub node: String,
    pub lat: String,
    pub lon: String,
    pub udp_ports: String,
    pub tcp_port: String,
    pub ip_mode: String,
    pub node_ip: String,
}

/// The Apps step: which services run, and who may register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppsInput {
    /// (`apps.<service>`, on) for every service the step offers.
    pub apps: Vec<(&'static str, bool)>,
    pub registration: String,
}

/// The services the Apps step offers, as `stack.toml` keys.
pub const APPS: [&str; 9] = [
    "apps.api",
    "apps.events",
    "apps.autumn",
    "apps.january",
    "apps.gifbox",
    "apps.crond",
    "apps.pushd",
    "apps.voice_ingress",
    "apps.web",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetInput {
    /// `target` as posted: `docker` or `kubernetes`.
    pub kind: String,
    pub docker_url: String,
    /// The operator accepts a daemon on another machine over plain TCP.
    pub docker_plain_ok: bool,
    /// A `tcp://` daemon's TLS settings as pasted (all empty: keep the
    /// saved ones), PEM: its CA, Burrow's client certificate and key.
    pub docker_tls_ca: String,
    pub docker_tls_cert: String,
    pub docker_tls_key: String,
    /// Forget the saved TLS settings (connect without TLS).
    pub docker_tls_forget: bool,
    /// `kubeconfig` or `in-cluster`.
    pub kube_source: String,
    pub kube_context: String,
    pub kube_namespace: String,
    pub kube_ingress_class: String,
    pub kube_issuer: String,
    /// Pasted kubeconfig (empty: keep the saved one).
    pub kubeconfig: String,
}

impl TargetInput {
    pub fn is_kubernetes(&self) -> bool {
        self.kind == "kubernetes"
    }

    pub fn in_cluster(&self) -> bool {
        self.kube_source == "in-cluster"
    }

    /// Whether any of the TLS settings was pasted.
    pub fn tls_pasted(&self) -> bool {
        !(self.docker_tls_ca.is_empty()
            && self.docker_tls_cert.is_empty()
            && self.docker_tls_key.is_empty())
    }

    /// The namespace, `stoat` when left empty.
    pub fn namespace(&self) -> &str {
        if self.kube_namespace.is_empty() {
            "stoat"
        } else {
            &self.kube_namespace
        }
    }
}

/// One step's form, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepInput {
    Domain(DomainInput),
    Tls(TlsInput),
    Smtp(SmtpInput),
    Voice(VoiceInput),
    Apps(AppsInput),
    Target(TargetInput),
}

/// Reads a posted form: trimmed, bounded text, missing as empty.
struct Posted<'a>(&'a BTreeMap<String, String>);

impl Posted<'_> {
    fn text(&self, key: &str) -> String {
        self.0
            .get(key)
            .map(|v| v.trim().chars().take(MAX_VALUE).collect())
            .unwrap_or_default()
    }

    /// A checkbox: browsers send nothing for an unticked one.
    fn flag(&self, key: &str) -> bool {
        self.0
            .get(key)
            .is_some_and(|v| matches!(v.trim(), "true" | "on"))
    }
}

impl StepInput {
    /// The step's input from a posted form; `None` for the review, which
    /// has nothing to save.
    pub fn from_form(step: Step, form: &BTreeMap<String, String>) -> Option<StepInput> {
        let p = Posted(form);
        Some(match step {
            Step::Domain => StepInput::Domain(DomainInput {
                domain: p.text("domain"),
                name: p.text("name"),
                bind: p.text("network.bind"),
                http_port: p.text("network.http_port"),
                https_port: p.text("network.https_port"),
            }),
            Step::Tls => {
                let mode = p.text("tls.mode");
                let choice = match mode.to_ascii_lowercase().as_str() {
                    "" | "self-signed" => TlsChoice::SelfSigned,
                    "acme" => TlsChoice::Acme,
                    "own" => TlsChoice::Own,
                    _ => TlsChoice::Other,
                };
                StepInput::Tls(TlsInput {
                    choice,
                    mode,
                    email: p.text("tls.email"),
                    directory: p.text("tls.directory"),
                    directory_ca: p.text("tls.directory_ca"),
                    staging: p.flag("tls.staging"),
                    cert_pem: p.text("tls.cert_pem"),
                    key_pem: p.text("tls.key_pem"),
                })
            }
            Step::Smtp => StepInput::Smtp(SmtpInput {
                enabled: p.flag("smtp.enabled"),
                host: p.text("smtp.host"),
                port: p.text("smtp.port"),
                security: p.text("smtp.security"),
                username: p.text("smtp.username"),
                password: form
                    .get("smtp.password")
                    .map(|v| v.chars().take(MAX_VALUE).collect())
                    .unwrap_or_default(),
                from: p.text("smtp.from"),
                invite_only: p.text("registration") == "invite-only",
            }),
            Step::Voice => StepInput::Voice(VoiceInput {
                enabled: p.flag("livekit.enabled"),
                node: p.text("livekit.node"),
                lat: p.text("livekit.lat"),
                lon: p.text("livekit.lon"),
                udp_ports: p.text("livekit.udp_ports"),
                tcp_port: p.text("livekit.tcp_port"),
                ip_mode: p.text("livekit.ip_mode"),
                node_ip: p.text("livekit.node_ip"),
            }),
            Step::Apps => StepInput::Apps(AppsInput {
                apps: APPS.iter().map(|k| (*k, p.flag(k))).collect(),
                registration: p.text("registration"),
            }),
            Step::Target => StepInput::Target(TargetInput {
                kind: p.text("target"),
                docker_url: p.text("target.docker_url"),
                docker_plain_ok: p.flag("target.docker_plain_ok"),
                docker_tls_ca: p.text("target.docker_tls_ca"),
                docker_tls_cert: p.text("target.docker_tls_cert"),
                docker_tls_key: p.text("target.docker_tls_key"),
                docker_tls_forget: p.flag("target.docker_tls_forget"),
                kube_source: match p.text("target.kube_source").as_str() {
                    "in-cluster" => "in-cluster".to_owned(),
                    _ => "kubeconfig".to_owned(),
                },
                kube_context: p.text("target.kube_context"),
                kube_namespace: p.text("target.kube_namespace"),
                kube_ingress_class: p.text("target.kube_ingress_class"),
                kube_issuer: p.text("target.kube_issuer"),
                kubeconfig: p.text("target.kubeconfig"),
            }),
            Step::Review => return None,
        })
    }

    pub fn step(&self) -> Step {
        match self {
            StepInput::Domain(_) => Step::Domain,
            StepInput::Tls(_) => Step::Tls,
            StepInput::Smtp(_) => Step::Smtp,
            StepInput::Voice(_) => Step::Voice,
            StepInput::Apps(_) => Step::Apps,
            StepInput::Target(_) => Step::Target,
        }
    }

    /// The `stack.toml` values this step sets (key path, text); a field
    /// left empty is not set, so its default applies. Certificate files,
    /// passwords and target settings are not `stack.toml` values: the
    /// wizard handles them on their own.
    pub fn values(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        let mut put = |k: &'static str, v: &str| {
            if !v.is_empty() {
                out.push((k, v.to_owned()));
            }
        };
        match self {
            StepInput::Domain(d) => {
                put("domain", &d.domain);
                put("name", &d.name);
                put("network.bind", &d.bind);
                put("network.http_port", &d.http_port);
                put("network.https_port", &d.https_port);
            }
            StepInput::Tls(t) => {
                put("tls.mode", &t.mode);
                if t.choice == TlsChoice::Acme {
                    put("tls.email", &t.email);
                    put("tls.directory", &t.directory);
                    put("tls.directory_ca", &t.directory_ca);
                }
            }
            StepInput::Smtp(s) => {
                put("smtp.enabled", &s.enabled.to_string());
                if s.enabled {
                    put("smtp.host", &s.host);
                    put("smtp.port", &s.port);
                    put("smtp.security", &s.security);
                    put("smtp.username", &s.username);
                    put("smtp.from", &s.from);
                }
            }
            StepInput::Voice(v) => {
                // Set and checked with voice off too, as a stack.toml's
                // [livekit] is: a mistake is explained where it was typed,
                // and turning voice on later finds the values kept.
                put("livekit.enabled", &v.enabled.to_string());
                put("livekit.node", &v.node);
                put("livekit.lat", &v.lat);
                put("livekit.lon", &v.lon);
                put("livekit.udp_ports", &v.udp_ports);
                put("livekit.tcp_port", &v.tcp_port);
                put("livekit.ip_mode", &v.ip_mode);
                if v.ip_mode == "fixed" {
                    put("livekit.node_ip", &v.node_ip);
                }
            }
            StepInput::Apps(a) => {
                for (k, on) in &a.apps {
                    put(k, &on.to_string());
                }
                put("registration", &a.registration);
            }
            StepInput::Target(t) => put("target", &t.kind),
        }
        out
    }

    /// The values to put back into the form after a refusal or a test that
    /// saved nothing: everything typed except passwords and keys.
    pub fn kept(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .values()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        match self {
            StepInput::Tls(t) => {
                if t.choice != TlsChoice::Acme {
                    // Kept as typed, so switching the mode back loses nothing.
                    out.push(("tls.email".into(), t.email.clone()));
                    out.push(("tls.directory".into(), t.directory.clone()));
                    out.push(("tls.directory_ca".into(), t.directory_ca.clone()));
                }
                out.push(("tls.staging".into(), t.staging.to_string()));
                out.push(("tls.cert_pem".into(), t.cert_pem.clone()));
            }
            StepInput::Smtp(s) if !s.enabled => {
                for (k, v) in [
                    ("smtp.host", &s.host),
                    ("smtp.port", &s.port),
                    ("smtp.security", &s.security),
                    ("smtp.username", &s.username),
                    ("smtp.from", &s.from),
                ] {
                    out.push((k.into(), v.clone()));
                }
            }
            StepInput::Target(t) => {
                for (k, v) in [
                    ("target.docker_url", &t.docker_url),
                    ("target.kube_source", &t.kube_source),
                    ("target.kube_context", &t.kube_context),
                    ("target.kube_namespace", &t.kube_namespace),
                    ("target.kube_ingress_class", &t.kube_ingress_class),
                    ("target.kube_issuer", &t.kube_issuer),
                    // The public parts; never the key.
                    ("target.docker_tls_ca", &t.docker_tls_ca),
                    ("target.docker_tls_cert", &t.docker_tls_cert),
                ] {
                    out.push((k.into(), v.clone()));
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn self_signed_tls_drops_the_acme_fields_the_page_prefills() {
        let f = form(&[
            ("tls.mode", "self-signed"),
            (
                "tls.directory",
                "https://acme-v02.api.letsencrypt.org/directory",
            ),
            ("tls.email", " ops@example.com "),
        ]);
        let input = StepInput::from_form(Step::Tls, &f).unwrap();
        assert_eq!(input.values(), vec![("tls.mode", "self-signed".to_owned())]);
        // Still put back into the form as typed (trimmed).
        assert!(input
            .kept()
            .contains(&("tls.email".to_owned(), "ops@example.com".to_owned())));
    }

    #[test]
    fn unticked_boxes_are_off_and_external_voice_drops_the_node_ip() {
        let f = form(&[
            ("livekit.enabled", "on"),
            ("livekit.ip_mode", "external"),
            ("livekit.node_ip", "10.0.0.1"),
        ]);
        let StepInput::Voice(v) = StepInput::from_form(Step::Voice, &f).unwrap() else {
            panic!("voice input")
        };
        assert!(v.enabled);
        let values = StepInput::Voice(v).values();
        assert!(
            !values.iter().any(|(k, _)| *k == "livekit.node_ip"),
            "{values:?}"
        );
        let apps = StepInput::from_form(Step::Apps, &form(&[("apps.api", "true")])).unwrap();
        let values = apps.values();
        assert!(values.contains(&("apps.api", "true".into())));
        assert!(values.contains(&("apps.web", "false".into())));
    }

    #[test]
    fn voice_settings_are_set_with_voice_off_too() {
        let f = form(&[("livekit.lat", "north"), ("livekit.tcp_port", "7882")]);
        let input = StepInput::from_form(Step::Voice, &f).unwrap();
        let values = input.values();
        assert!(values.contains(&("livekit.enabled", "false".into())));
        assert!(
            values.contains(&("livekit.lat", "north".into())),
            "{values:?}"
        );
        assert!(values.contains(&("livekit.tcp_port", "7882".into())));
    }

    #[test]
    fn passwords_and_keys_are_never_kept() {
        let f = form(&[("smtp.enabled", "true"), ("smtp.password", "hunter2")]);
        let kept = StepInput::from_form(Step::Smtp, &f).unwrap().kept();
        assert!(!kept.iter().any(|(_, v)| v.contains("hunter2")), "{kept:?}");
        let f = form(&[
            ("tls.mode", "own"),
            ("tls.key_pem", "-----BEGIN PRIVATE KEY-----"),
        ]);
        let kept = StepInput::from_form(Step::Tls, &f).unwrap().kept();
        assert!(
            !kept.iter().any(|(_, v)| v.contains("PRIVATE KEY")),
            "{kept:?}"
        );
        let f = form(&[
            ("target", "kubernetes"),
            ("target.kubeconfig", "clusters: [server]"),
        ]);
        let kept = StepInput::from_form(Step::Target, &f).unwrap().kept();
        assert!(
            !kept.iter().any(|(_, v)| v.contains("clusters")),
            "{kept:?}"
        );
    }

    #[test]
    fn the_review_has_no_input() {
        assert_eq!(StepInput::from_form(Step::Review, &BTreeMap::new()), None);
    }
}
