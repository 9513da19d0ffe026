//! "Send test mail" for the first-run wizard: talks SMTP to the operator's
//! relay one step at a time (connect, TLS, greeting, STARTTLS, sign-in,
//! sender, recipient, message) so that a failure can be reported as the step
//! that failed and the setting to change, not as a transport error.
//!
//! Stoat sends verification and password-reset mail through the same relay,
//! so this is the operator's one chance to catch a wrong port or TLS mode
//! (self-hosted #170: port 587 needs STARTTLS, not implicit TLS).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension};
use lettre::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// How the connection to the relay is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS from the first byte ("SMTPS", usually port 465).
    ImplicitTls,
    /// Plain SMTP upgraded with the STARTTLS command (usually port 587).
    StartTls,
    /// No encryption at all.
    None,
}

impl Security {
    fn phrase(self) -> &'static str {
        match self {
            Security::ImplicitTls => "with implicit TLS",
            Security::StartTls => "with STARTTLS",
            Security::None => "without encryption",
        }
    }
}

/// A password that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// The relay Stoat will send its mail through, as the wizard collects it.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The From header, `noreply@example.com` or `Stoat <noreply@example.com>`.
    pub from: String,
    /// A CA (PEM) to trust besides the system roots, for relays with a
    /// private or self-signed certificate.
    #[serde(default)]
    pub extra_root_pem: Option<String>,
    /// The name sent in EHLO; relays may refuse a bare container hostname
    /// (Stoat self-hosted #223). Defaults to `[127.0.0.1]`.
    #[serde(default)]
    pub hello_name: Option<String>,
}

/// Settings that are wrong before any connection is tried; each names its field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailSettingsError {
    #[error(
        "The sender address {0:?} is not an email address: use something like noreply@example.com."
    )]
    From(String),
    #[error("The recipient address {0:?} is not an email address.")]
    To(String),
    #[error("The extra root certificate is not a PEM certificate: paste the CA's \"-----BEGIN CERTIFICATE-----\" block.")]
    ExtraRoot,
    #[error(
        "The host name is empty: enter your mail provider's SMTP server, e.g. smtp.example.com."
    )]
    Host,
    #[error(
        "A password was given without a username: enter the username too, or clear the password."
    )]
    PasswordWithoutUser,
}

/// The step of the SMTP conversation a test reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Resolve,
    Connect,
    TlsHandshake,
    Greeting,
    StartTls,
    SignIn,
    Sender,
    Recipient,
    Message,
}

/// What happened, with just enough detail for one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Delivered {
        signed_in_as: Option<String>,
        to: String,
    },
    DnsFailure,
    ConnectionRefused,
    Unreachable {
        detail: String,
    },
    TimedOut {
        stage: Stage,
    },
    /// Implicit TLS against a port that speaks plain SMTP first.
    PortSpeaksPlain,
    /// STARTTLS or plain against a port that expects TLS from the first byte.
    PortExpectsTls,
    StartTlsNotOffered,
    EncryptionRequired,
    CertificateUntrusted {
        reason: CertificateIssue,
    },
    TlsFailed {
        detail: String,
    },
    SignInNotOffered,
    SignInRequired,
    SignInRefused {
        code: u16,
        server_said: String,
    },
    SenderRefused {
        code: u16,
        server_said: String,
    },
    RecipientRefused {
        code: u16,
        server_said: String,
    },
    MessageRefused {
        code: u16,
        server_said: String,
    },
    TemporaryFailure {
        code: u16,
        server_said: String,
    },
    NotSmtp {
        detail: String,
    },
}

/// Why the relay's certificate was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateIssue {
    UnknownIssuer,
    WrongName,
    Expired,
    Other(String),
}

/// The result of one test send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMailReport {
    /// `host:port` as the operator typed it.
    pub endpoint: String,
    pub security: Security,
    pub outcome: Outcome,
}

impl TestMailReport {
    pub fn delivered(&self) -> bool {
        matches!(self.outcome, Outcome::Delivered { .. })
    }

    /// One sentence: what happened and, unless it worked, what to change.
    pub fn sentence(&self) -> String {
        let at = &self.endpoint;
        match &self.outcome {
            Outcome::Delivered { signed_in_as, to } => {
                let who = match signed_in_as {
                    Some(user) => format!("signed in as {user}"),
                    None => "did not sign in".to_owned(),
                };
                format!(
                    "Connected to {at} {}, {who}, and the server accepted the message for {to}.",
                    self.security.phrase()
                )
            }
            Outcome::DnsFailure => format!(
                "The name in {at} does not resolve: check the SMTP host for typos."
            ),
            Outcome::ConnectionRefused => format!(
                "Nothing accepts connections at {at}: check the host and port, and that a firewall does not block outgoing SMTP."
            ),
            Outcome::Unreachable { detail } => format!(
                "{at} cannot be reached ({detail}): check the host and this machine's network."
            ),
            Outcome::TimedOut { stage } => format!(
                "{at} stopped answering during {}: check the port and that no firewall drops the traffic.",
                stage_phrase(*stage)
            ),
            Outcome::PortSpeaksPlain => format!(
                "{at} speaks plain SMTP first instead of TLS: choose STARTTLS for this port."
            ),
            Outcome::PortExpectsTls => format!(
                "{at} accepted the connection but never greeted, which is what a port expecting TLS from the first byte does: choose implicit TLS."
            ),
            Outcome::StartTlsNotOffered => format!(
                "{at} does not offer STARTTLS: choose implicit TLS if the provider documents it for this port, or use the provider's STARTTLS port (usually 587)."
            ),
            Outcome::EncryptionRequired => format!(
                "{at} requires encryption before it accepts mail: choose STARTTLS."
            ),
            Outcome::CertificateUntrusted { reason } => match reason {
                CertificateIssue::UnknownIssuer => format!(
                    "The certificate of {at} is not signed by a trusted authority: paste the relay's CA certificate as an extra root, or use the provider's public host name."
                ),
                CertificateIssue::WrongName => format!(
                    "The certificate of {at} is for a different name: enter the host name the certificate was issued for."
                ),
                CertificateIssue::Expired => format!(
                    "The certificate of {at} has expired or is not valid yet: ask the relay's operator to renew it, and check this machine's clock."
                ),
                CertificateIssue::Other(detail) => format!(
                    "The certificate of {at} was refused ({detail}): check the host name and the relay's certificate."
                ),
            },
            Outcome::TlsFailed { detail } => format!(
                "The TLS handshake with {at} failed ({detail}): check that the TLS mode matches the port."
            ),
            Outcome::SignInNotOffered => format!(
                "{at} offers no sign-in on this connection: choose STARTTLS if the relay only allows it encrypted, or clear the username."
            ),
            Outcome::SignInRequired => format!(
                "{at} requires signing in before it accepts mail: enter the username and password from your mail provider."
            ),
            Outcome::SignInRefused { code, server_said } => format!(
                "{at} refused the username or password ({code} {server_said}): re-enter them, and use an app password if the provider requires one."
            ),
            Outcome::SenderRefused { code, server_said } => format!(
                "{at} refused the sender address ({code} {server_said}): use a From address this account may send as."
            ),
            Outcome::RecipientRefused { code, server_said } => format!(
                "{at} refused the recipient ({code} {server_said}): check the address you are testing with, or whether the relay only delivers to its own domains."
            ),
            Outcome::MessageRefused { code, server_said } => format!(
                "{at} refused the message itself ({code} {server_said}): check the From address and the provider's sending limits."
            ),
            Outcome::TemporaryFailure { code, server_said } => format!(
                "{at} refused temporarily ({code} {server_said}): try again in a few minutes."
            ),
            Outcome::NotSmtp { detail } => format!(
                "{at} did not answer like an SMTP server ({detail}): check the port and the TLS mode."
            ),
        }
    }
}

fn stage_phrase(stage: Stage) -> &'static str {
    match stage {
        Stage::Resolve => "the name lookup",
        Stage::Connect => "connecting",
        Stage::TlsHandshake => "the TLS handshake",
        Stage::Greeting => "the greeting",
        Stage::StartTls => "STARTTLS",
        Stage::SignIn => "sign-in",
        Stage::Sender => "the sender address",
        Stage::Recipient => "the recipient address",
        Stage::Message => "the message",
    }
}

/// Advice about a port/TLS combination that is usually wrong, before sending.
pub fn port_hint(port: u16, security: Security) -> Option<String> {
    match (port, security) {
        (587, Security::ImplicitTls) => Some(
            "Port 587 expects STARTTLS, not implicit TLS: choose STARTTLS (Stoat's default is implicit TLS, which fails on 587, see self-hosted #170).".to_owned(),
        ),
        (587, Security::None) => Some(
            "Port 587 normally offers STARTTLS: choose STARTTLS so the password is not sent in clear.".to_owned(),
        ),
        (465, Security::StartTls | Security::None) => Some(
            "Port 465 expects TLS from the first byte: choose implicit TLS.".to_owned(),
        ),
        (25, _) => Some(
            "Port 25 is for server-to-server mail and is often blocked by hosting providers: use your provider's submission port, 587 with STARTTLS or 465 with implicit TLS.".to_owned(),
        ),
        _ => None,
    }
}

/// Sends one test message to `to` and reports what happened. `timeout` bounds
/// the whole conversation. Only settings that cannot work at all are errors;
/// everything the relay says is in the report.
#[tracing::instrument(skip_all, fields(host = %settings.host, port = settings.port, security = ?settings.security))]
pub async fn send_test_mail(
    settings: &SmtpSettings,
    to: &str,
    timeout: Duration,
) -> Result<TestMailReport, MailSettingsError> {
    let plan = Plan::new(settings, to)?;
    let outcome = match plan.run(Instant::now() + timeout).await {
        Ok(outcome) | Err(outcome) => outcome,
    };
    let report = TestMailReport {
        endpoint: format!("{}:{}", settings.host, settings.port),
        security: settings.security,
        outcome,
    };
    tracing::info!(delivered = report.delivered(), outcome = ?report.outcome, "test mail");
    Ok(report)
}

/// Everything checked and parsed before the first packet.
struct Plan<'a> {
    settings: &'a SmtpSettings,
    from: Mailbox,
    to: Mailbox,
    extra_roots: Vec<CertificateDer<'static>>,
}

impl<'a> Plan<'a> {
    fn new(settings: &'a SmtpSettings, to: &str) -> Result<Self, MailSettingsError> {
        if settings.host.trim().is_empty() {
            return Err(MailSettingsError::Host);
        }
        if settings.password.is_some() && settings.username.is_none() {
            return Err(MailSettingsError::PasswordWithoutUser);
        }
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|_| MailSettingsError::From(settings.from.clone()))?;
        let to = to
            .parse::<Mailbox>()
            .map_err(|_| MailSettingsError::To(to.to_owned()))?;
        let extra_roots = match &settings.extra_root_pem {
            None => Vec::new(),
            Some(pem) => {
                let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| MailSettingsError::ExtraRoot)?;
                if certs.is_empty() {
                    return Err(MailSettingsError::ExtraRoot);
                }
                certs
            }
        };
        Ok(Self {
            settings,
            from,
            to,
            extra_roots,
        })
    }

    /// `Err` is a failed outcome, so `?` stops at the first failed step.
    async fn run(&self, deadline: Instant) -> Result<Outcome, Outcome> {
        let s = self.settings;
        let addrs: Vec<SocketAddr> = step(
            deadline,
            Stage::Resolve,
            tokio::net::lookup_host((s.host.as_str(), s.port)),
        )
        .await?
        .map_err(|_| Outcome::DnsFailure)?
        .collect();
        if addrs.is_empty() {
            return Err(Outcome::DnsFailure);
        }
        let tcp = step(deadline, Stage::Connect, connect_any(&addrs))
            .await?
            .map_err(|e| match e.kind() {
                io::ErrorKind::ConnectionRefused => Outcome::ConnectionRefused,
                io::ErrorKind::TimedOut => Outcome::TimedOut {
                    stage: Stage::Connect,
                },
                _ => Outcome::Unreachable {
                    detail: e.to_string(),
                },
            })?;

        let hello = self.hello_name();
        let stream: Box<dyn AsyncTokioStream> = if s.security == Security::ImplicitTls {
            let config = self.rustls_config()?;
            let name = ServerName::try_from(s.host.clone()).map_err(|_| Outcome::TlsFailed {
                detail: "the host is not a valid TLS server name".to_owned(),
            })?;
            let tls = step(
                deadline,
                Stage::TlsHandshake,
                tokio_rustls::TlsConnector::from(config).connect(name, tcp),
            )
            .await?
            .map_err(|e| tls_outcome(&e, Security::ImplicitTls))?;
            Box::new(ImplicitTls(tls))
        } else {
            Box::new(tcp)
        };

        let mut conn = match timeout_at(
            deadline,
            AsyncSmtpConnection::connect_with_transport(stream, &hello),
        )
        .await
        {
            Err(_) if s.security == Security::ImplicitTls => {
                return Err(Outcome::TimedOut {
                    stage: Stage::Greeting,
                })
            }
            // A port that waits for a TLS ClientHello says nothing at all.
            Err(_) => return Err(Outcome::PortExpectsTls),
            Ok(result) => result.map_err(|e| self.smtp_outcome(&e, Stage::Greeting, false))?,
        };
        let mut encrypted = s.security == Security::ImplicitTls;

        if s.security == Security::StartTls {
            if !conn.server_info().supports_feature(Extension::StartTls) {
                return Err(Outcome::StartTlsNotOffered);
            }
            let params = self.tls_parameters()?;
            step(deadline, Stage::StartTls, conn.starttls(params, &hello))
                .await?
                .map_err(|e| match tls_source(&e) {
                    Some(_) => tls_outcome(&e, Security::StartTls),
                    None => self.smtp_outcome(&e, Stage::StartTls, false),
                })?;
            encrypted = true;
        }

        let signed_in_as = match (&s.username, &s.password) {
            (Some(user), password) => {
                let mechanisms = [Mechanism::Plain, Mechanism::Login];
                if conn.server_info().get_auth_mechanism(&mechanisms).is_none() {
                    return Err(Outcome::SignInNotOffered);
                }
                let credentials = Credentials::new(
                    user.clone(),
                    password
                        .as_ref()
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                );
                step(
                    deadline,
                    Stage::SignIn,
                    conn.auth(&mechanisms, &credentials),
                )
                .await?
                .map_err(|e| self.smtp_outcome(&e, Stage::SignIn, encrypted))?;
                Some(user.clone())
            }
            (None, _) => None,
        };

        let message = Message::builder()
            .from(self.from.clone())
            .to(self.to.clone())
            .subject("Burrow test mail")
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "This is a test message from Burrow, sent through {}:{}.\r\nIf you can read it, Stoat can send verification and password-reset mail.\r\n",
                s.host, s.port
            ))
            .map_err(|e| Outcome::NotSmtp {
                detail: format!("could not build the message: {e}"),
            })?;

        let sender = Mail::new(Some(self.from.email.clone()), Vec::new());
        step(deadline, Stage::Sender, conn.command(sender))
            .await?
            .map_err(|e| self.smtp_outcome(&e, Stage::Sender, encrypted))?;
        let recipient = Rcpt::new(self.to.email.clone(), Vec::new());
        step(deadline, Stage::Recipient, conn.command(recipient))
            .await?
            .map_err(|e| self.smtp_outcome(&e, Stage::Recipient, encrypted))?;
        step(deadline, Stage::Message, async {
            conn.command(Data).await?;
            conn.message(&message.formatted()).await
        })
        .await?
        .map_err(|e| self.smtp_outcome(&e, Stage::Message, encrypted))?;
        // The message is accepted; a rude goodbye does not change that.
        let _ = timeout_at(deadline, conn.command(Quit)).await;

        Ok(Outcome::Delivered {
            signed_in_as,
            to: self.to.email.to_string(),
        })
    }

    fn hello_name(&self) -> ClientId {
        match &self.settings.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::Ipv4(std::net::Ipv4Addr::LOCALHOST),
        }
    }

    fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots.add_parsable_certificates(self.extra_roots.iter().cloned());
        roots
    }

    fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>, Outcome> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Outcome::TlsFailed {
                detail: e.to_string(),
            })?
            .with_root_certificates(self.root_store())
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    fn tls_parameters(&self) -> Result<TlsParameters, Outcome> {
        let mut builder = TlsParameters::builder(self.settings.host.clone());
        for der in &self.extra_roots {
            let cert = Certificate::from_der(der.to_vec()).map_err(|e| Outcome::TlsFailed {
                detail: e.to_string(),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build_rustls().map_err(|e| Outcome::TlsFailed {
            detail: e.to_string(),
        })
    }

    /// Maps an error from an SMTP step to what the operator should change.
    fn smtp_outcome(
        &self,
        error: &lettre::transport::smtp::Error,
        stage: Stage,
        encrypted: bool,
    ) -> Outcome {
        if error.is_timeout() {
            return Outcome::TimedOut { stage };
        }
        let Some(code) = error.status().map(u16::from) else {
            let detail = self.redact(&error.to_string());
            return match stage {
                Stage::Greeting => Outcome::NotSmtp { detail },
                _ => Outcome::NotSmtp {
                    detail: format!("during {}: {detail}", stage_phrase(stage)),
                },
            };
        };
        let server_said = self.redact(
            &std::error::Error::source(error)
                .map(|s| s.to_string())
                .unwrap_or_default(),
        );
        let mentions_tls = server_said.to_ascii_uppercase().contains("STARTTLS")
            || server_said.to_ascii_uppercase().contains("TLS");
        if error.is_transient() {
            return Outcome::TemporaryFailure { code, server_said };
        }
        if (code == 530 || code == 538) && !encrypted && (mentions_tls || code == 538) {
            return Outcome::EncryptionRequired;
        }
        match stage {
            Stage::SignIn => Outcome::SignInRefused { code, server_said },
            Stage::Sender if code == 530 && self.settings.username.is_none() => {
                Outcome::SignInRequired
            }
            Stage::Sender => Outcome::SenderRefused { code, server_said },
            Stage::Recipient => Outcome::RecipientRefused { code, server_said },
            Stage::Message => Outcome::MessageRefused { code, server_said },
            _ => Outcome::NotSmtp {
                detail: format!("{code} {server_said}"),
            },
        }
    }

    /// Relays sometimes echo what they received; the password stays here.
    fn redact(&self, text: &str) -> String {
        match &self.settings.password {
            Some(p) if !p.expose().is_empty() => text.replace(p.expose(), "***"),
            _ => text.to_owned(),
        }
    }
}

/// Runs one step against the shared deadline; running out is reported as
/// a timeout in that step.
async fn step<T>(
    deadline: Instant,
    stage: Stage,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Outcome> {
    timeout_at(deadline, fut)
        .await
        .map_err(|_| Outcome::TimedOut { stage })
}

async fn connect_any(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address to connect to")))
}

/// The rustls error somewhere in an error's source chain. `io::Error`
/// hides its payload from `source()`, so look inside it explicitly.
fn tls_source<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner);
        }
        current = e.source();
    }
    None
}

fn tls_outcome(error: &(dyn std::error::Error + 'static), security: Security) -> Outcome {
    use rustls::CertificateError as C;
    match tls_source(error) {
        // The first bytes were not a TLS record: an SMTP greeting, most likely.
        Some(rustls::Error::InvalidMessage(_)) if security == Security::ImplicitTls => {
            Outcome::PortSpeaksPlain
        }
        Some(rustls::Error::InvalidCertificate(cert)) => Outcome::CertificateUntrusted {
            reason: match cert {
                C::UnknownIssuer | C::BadSignature => CertificateIssue::UnknownIssuer,
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    CertificateIssue::WrongName
                }
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet => CertificateIssue::Expired,
                other => CertificateIssue::Other(format!("{other:?}")),
            },
        },
        Some(other) => Outcome::TlsFailed {
            detail: other.to_string(),
        },
        None => Outcome::TlsFailed {
            detail: error.to_string(),
        },
    }
}

/// A TLS stream lettre treats as an already-connected transport, so the
/// handshake is a step of its own rather than hidden inside the connect.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for ImplicitTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_hidden_from_debug() {
        let settings = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::StartTls,
            username: Some("stoat".into()),
            password: Some(Secret::new("hunter2-very-secret")),
            from: "noreply@example.com".into(),
            extra_root_pem: None,
            hello_name: None,
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret(***)"), "{shown}");
    }

    #[test]
    fn port_hints() {
        assert!(port_hint(587, Security::ImplicitTls)
            .unwrap()
            .contains("choose STARTTLS"));
        assert!(port_hint(465, Security::StartTls)
            .unwrap()
            .contains("choose implicit TLS"));
        assert!(port_hint(25, Security::StartTls).unwrap().contains("587"));
        assert_eq!(port_hint(587, Security::StartTls), None);
        assert_eq!(port_hint(465, Security::ImplicitTls), None);
        assert_eq!(port_hint(2525, Security::StartTls), None);
    }

    #[test]
    fn settings_are_checked_before_connecting() {
        let mut settings = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::StartTls,
            username: None,
            password: None,
            from: "not an address".into(),
            extra_root_pem: None,
            hello_name: None,
        };
        assert!(matches!(
            Plan::new(&settings, "a@example.com").err(),
            Some(MailSettingsError::From(_))
        ));
        settings.from = "Stoat <noreply@example.com>".into();
        assert!(Plan::new(&settings, "a@example.com").is_ok());
        assert!(matches!(
            Plan::new(&settings, "nope").err(),
            Some(MailSettingsError::To(_))
        ));
        settings.extra_root_pem = Some("garbage".into());
        assert_eq!(
            Plan::new(&settings, "a@example.com").err(),
            Some(MailSettingsError::ExtraRoot)
        );
    }
}
