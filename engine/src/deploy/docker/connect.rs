//! Reaching the daemon: address parsing, API version negotiation (Burrow
//! speaks the daemon's version when it is older than bollard's), and what an
//! unreachable daemon means to the operator.

use std::time::Duration;

use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::tls::DockerTls;
use super::DockerTarget;
use crate::deploy::{DaemonInfo, DeployError};

/// How long the first exchange with the daemon may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request to the daemon may take (bollard's default).
const REQUEST_TIMEOUT_S: u64 = 120;

/// Where a daemon's TLS files are set up, for the fixes below.
const TLS_HOWTO: &str = "(dockerd --tlsverify with --tlscacert, --tlscert and --tlskey; see \
                         Docker's \"Protect the Docker daemon socket\")";

const FIX: &str = "Is dockerd running? Start it (`systemctl start docker`, or `dockerd &`), \
                   or give Burrow the daemon's address (unix:///var/run/docker.sock, or for \
                   another machine its socket through an SSH tunnel: plain tcp:// there \
                   lets anyone on the network run containers as root).";

/// Whether `url` is a Docker address Burrow can connect to: a socket path,
/// `unix://…`, `tcp://…` or `http://…` with something after the scheme.
pub fn understood_address(url: &str) -> bool {
    url.starts_with('/')
        || ["unix://", "tcp://", "http://"]
            .iter()
            .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len())
}

impl DockerTarget {
    /// Connects to the daemon at `url` (`unix:///path`, `tcp://host:port`,
    /// `http://host:port`, or a socket path), or with `None` at `DOCKER_HOST`
    /// or the local socket, and negotiates the API version.
    pub async fn connect(url: Option<&str>) -> Result<Self, DeployError> {
        Self::connect_with(url, None).await
    }

    /// Like [`DockerTarget::connect`]; with `tls`, over TLS with a client
    /// certificate (`tcp://` addresses only), trusting only its CA.
    #[tracing::instrument(skip(tls), fields(tls = tls.is_some()))]
    pub async fn connect_with(
        url: Option<&str>,
        tls: Option<&DockerTls>,
    ) -> Result<Self, DeployError> {
        let url = match url {
            Some(u) => u.trim().to_string(),
            None => std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string()),
        };
        let host = if url.starts_with('/') {
            format!("unix://{url}")
        } else {
            url.clone()
        };
        if !understood_address(&host) {
            return Err(DeployError::InvalidUrl { url });
        }
        let docker = match tls {
            None => Docker::connect_with_host(&host).map_err(|e| unreachable(&url, &e))?,
            Some(tls) => tls_client(&url, tls)?,
        };
        let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(unreachable(&url, &e)),
            Err(_) => {
                return Err(DeployError::Unreachable {
                    reason: format!("no answer within {} s. {FIX}", CONNECT_TIMEOUT.as_secs()),
                    url,
                })
            }
        };
        tracing::info!(api_version = %docker.client_version(), "connected to the Docker daemon");
        Ok(Self {
            docker,
            url,
            tls: tls.is_some(),
        })
    }

    /// The address this target was connected with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the daemon is reached over TLS with a client certificate.
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The daemon client, for checks outside the deploy (preflight).
    pub(crate) fn client(&self) -> &Docker {
        &self.docker
    }

    /// The daemon's version and platform, and the API version in use.
    pub async fn info(&self) -> Result<DaemonInfo, DeployError> {
        let v = self
            .docker
            .version()
            .await
            .map_err(|e| unreachable(&self.url, &e))?;
        Ok(DaemonInfo {
            version: v.version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }
}

/// A client for the daemon at `url` (`tcp://host:port`) over TLS: hyper's
/// client with rustls, set up from memory, as bollard's custom transport.
fn tls_client(url: &str, tls: &DockerTls) -> Result<Docker, DeployError> {
    let unusable = |reason: String| DeployError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let authority = url
        .strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|a| a.trim_end_matches('/'))
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            unusable(
                "TLS certificates are for a daemon at tcp://host:port; a socket on this \
                 machine needs none. Remove them, or give the daemon's tcp:// address."
                    .to_owned(),
            )
        })?;
    let config = tls.client_config().map_err(unusable)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new()).build(https);
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move {
            client
                .request(request)
                .await
                .map_err(bollard::errors::Error::from)
        }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some(format!("https://{authority}")),
        REQUEST_TIMEOUT_S,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| unreachable(url, &e))
}

/// An error on the first exchange, as a reason with its fix.
fn unreachable(url: &str, err: &bollard::errors::Error) -> DeployError {
    use bollard::errors::Error as E;
    if let Some(reason) = tls_failure(err) {
        return DeployError::Unreachable {
            url: url.to_string(),
            reason,
        };
    }
    let reason = match err {
        E::SocketNotFoundError(path) => format!("there is no socket at {path}. {FIX}"),
        E::RequestTimeoutError => format!("the daemon did not answer in time. {FIX}"),
        E::DockerResponseServerError {
            status_code: 400,
            message,
        } if message.contains("HTTP request to an HTTPS server") => format!(
            "it expects TLS on this port. Paste its CA certificate and Burrow's client \
             certificate and key (the ca.pem, cert.pem and key.pem the docker CLI takes from \
             DOCKER_CERT_PATH), or use an address without TLS {TLS_HOWTO}."
        ),
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("it answered {status_code}: {message}"),
        other => match io_kind(other) {
            Some(std::io::ErrorKind::PermissionDenied) => {
                "permission denied on the socket. Run Burrow as root or as a member of the \
                 docker group."
                    .to_string()
            }
            Some(std::io::ErrorKind::NotFound) => format!("the socket does not exist. {FIX}"),
            Some(std::io::ErrorKind::ConnectionRefused) => format!("connection refused. {FIX}"),
            _ => format!("{}. {FIX}", crate::error::chain(other)),
        },
    };
    DeployError::Unreachable {
        url: url.to_string(),
        reason,
    }
}

/// What went wrong in the TLS handshake with the daemon, as a sentence with
/// the fix, when that is what failed.
fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let tls = find_rustls(err)?;
    Some(match tls {
        R::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "its certificate is not signed by the CA certificate Burrow was given: paste the \
             ca.pem that signed the daemon's --tlscert {TLS_HOWTO}."
        ),
        R::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "its certificate is not made out to the name or address in the daemon address: \
             use a name or address its certificate lists (subjectAltName), or make it a \
             certificate that includes this one."
                .to_owned()
        }
        R::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => "its certificate is outside its validity period (expired, or this machine's clock \
              is wrong): renew the daemon's --tlscert."
            .to_owned(),
        R::AlertReceived(
            alert @ (A::BadCertificate
            | A::UnknownCA
            | A::CertificateRequired
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::AccessDenied
            | A::DecryptError),
        ) => format!(
            "it refused Burrow's client certificate (TLS alert: {alert:?}): paste a client \
             certificate signed by the CA the daemon trusts (its --tlscacert), made for client \
             authentication."
        ),
        R::InvalidMessage(_) => format!(
            "it does not speak TLS on this port: remove the TLS certificates, or use the port \
             where dockerd listens with --tlsverify (usually 2376) {TLS_HOWTO}."
        ),
        other => format!("the TLS handshake failed: {other}."),
    })
}

/// The rustls error somewhere in `err`'s sources (an I/O error carries it
/// inside, possibly in another I/O error, not as its source).
fn find_rustls<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The I/O error at the root of `err`, if there is one.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}
