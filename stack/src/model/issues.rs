//! Per-field findings. Field paths are stable strings (the `stack.toml` key
//! path) so the wizard can show each message next to its input.

use serde::{Deserialize, Serialize};

use super::{Registration, SmtpSecurity, StackConfig, TlsMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks a deploy.
    Error,
    /// Worth reading; the stack still works.
    Warning,
}

/// One finding about one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldIssue {
    /// `stack.toml` key path, e.g. `smtp.port`, `livekit.udp_ports`.
    pub field: String,
    pub severity: Severity,
    pub message: String,
    /// What to change, when there is a clear fix.
    pub fix: Option<String>,
}

impl FieldIssue {
    pub fn error(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            severity: Severity::Error,
            message: message.into(),
            fix: None,
        }
    }

    pub fn warning(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            severity: Severity::Warning,
            message: message.into(),
            fix: None,
        }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.field, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, " (fix: {fix})")?;
        }
        Ok(())
    }
}

/// Above this many published UDP ports Docker's per-port iptables rules make
/// container start and stop slow.
pub const UDP_RANGE_WARN: u32 = 1000;

pub(super) fn check(c: &StackConfig) -> Vec<FieldIssue> {
    let mut out = Vec::new();

    if c.apps.voice_ingress && !c.livekit.enabled {
        out.push(
            FieldIssue::error(
                "apps.voice_ingress",
                "voice-ingress receives LiveKit's webhooks; it needs LiveKit",
            )
            .with_fix("turn on livekit.enabled, or turn off apps.voice_ingress"),
        );
    }
    if c.livekit.enabled && !c.apps.voice_ingress {
        out.push(
            FieldIssue::warning(
                "apps.voice_ingress",
                "without voice-ingress Stoat never learns who joined or left a call",
            )
            .with_fix("turn on apps.voice_ingress"),
        );
    }

    if c.apps.gifbox {
        out.push(
            FieldIssue::warning(
                "apps.gifbox",
                "the GIF picker stays empty: gifbox needs a Tenor API key \
                 (Stoat's api.security.tenor_key), and Burrow does not set one yet",
            )
            .with_fix("turn off apps.gifbox until a Tenor key can be set"),
        );
    }

    if let Some(smtp) = &c.smtp {
        if smtp.host.is_ip() && smtp.security != SmtpSecurity::None {
            out.push(
                FieldIssue::error(
                    "smtp.host",
                    "TLS and STARTTLS check the relay's certificate against its name, \
                     and an IP address has none to check",
                )
                .with_fix(
                    "enter the relay's name as its certificate gives it, or set \
                     smtp.security = \"none\" for a relay on a trusted network",
                ),
            );
        }
        if smtp.port.get() == 587 && smtp.security == SmtpSecurity::ImplicitTls {
            out.push(
                FieldIssue::warning(
                    "smtp.security",
                    "port 587 speaks STARTTLS; implicit TLS there fails to connect \
                     (stoatchat/self-hosted#170)",
                )
                .with_fix("set smtp.security = \"starttls\", or use port 465 for implicit TLS"),
            );
        }
        if smtp.port.get() == 465 && smtp.security == SmtpSecurity::StartTls {
            out.push(
                FieldIssue::warning(
                    "smtp.security",
                    "port 465 expects TLS from the first byte, not STARTTLS",
                )
                .with_fix("set smtp.security = \"tls\", or use port 587 for STARTTLS"),
            );
        }
    } else if c.registration == Registration::Open {
        out.push(
            FieldIssue::warning(
                "registration",
                "without SMTP, open registration lets anyone sign up with an unverified address",
            )
            .with_fix("set registration = \"invite-only\", or configure [smtp]"),
        );
    }

    if c.livekit.enabled {
        let range = c.livekit.udp_ports;
        if range.len() > UDP_RANGE_WARN {
            out.push(
                FieldIssue::warning(
                    "livekit.udp_ports",
                    format!(
                        "{} UDP ports: Docker adds iptables rules per published port, \
                         which makes starts and stops slow",
                        range.len()
                    ),
                )
                .with_fix("publish at most 1000 ports, e.g. 50000-50100"),
            );
        }
        if range.contains(c.livekit.tcp_port) {
            out.push(FieldIssue::error(
                "livekit.tcp_port",
                "the TCP port lies inside the UDP range; pick one outside it",
            ));
        }
        let https = c.network.https_port;
        if range.contains(https) {
            out.push(FieldIssue::error(
                "livekit.udp_ports",
                format!("UDP port {https} is already published by Caddy (HTTP/3)"),
            ));
        }
        for (port, what) in [(c.network.http_port.get(), "HTTP"), (https.get(), "HTTPS")] {
            if c.livekit.tcp_port.get() == port {
                out.push(FieldIssue::error(
                    "livekit.tcp_port",
                    format!("port {port} is already published by Caddy for {what}"),
                ));
            }
        }
    }

    if let TlsMode::Acme { directory, .. } = &c.tls {
        // The public CAs' directories; a private one (pebble, step-ca, a
        // company's) issues for whatever names it likes.
        let public = ["letsencrypt.org", "zerossl.com", "buypass.com", "pki.goog"]
            .iter()
            .any(|host| directory.as_str().contains(host));
        if public && c.domain.is_private() {
            out.push(
                FieldIssue::warning(
                    "tls.mode",
                    "a public ACME CA cannot issue for a private or local name",
                )
                .with_fix("use tls.mode = \"self-signed\", or a private ACME directory"),
            );
        }
    }

    if !c.apps.api {
        out.push(FieldIssue::warning(
            "apps.api",
            "without the API nothing else in Stoat is usable",
        ));
    }

    out
}
