//! "Does the chat server answer?": real HTTPS requests through the stack's
//! Caddy, as a browser would make them (SNI and Host = the domain), to the
//! API root and `/.well-known/stoat`, and a WebSocket handshake on `/ws`
//! (the events server the clients keep open).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use stack::model::StackConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(4);
/// The most of a body read; the JSON documents probed are far smaller.
const BODY_LIMIT: usize = 256 * 1024;

/// What one probe found (a `wire` type: the dashboard reads it).
pub use wire::ProbeResult;

fn tls_config(extra_root_pem: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match extra_root_pem {
        // Self-signed mode: only Burrow's CA may vouch for the server.
        Some(pem) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .filter_map(Result::ok)
                    .collect();
            roots.add_parsable_certificates(certs);
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Where the probes enter the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Caddy as published on this machine (or by name on the stack's
    /// network); for a cluster, the public name's port 443.
    Default,
    /// An address the target gave (a cluster's Ingress, as its status has
    /// it): connected to, with the stack's domain as SNI and Host.
    At { host: String, port: u16 },
    /// Why there is no way in yet (every probe says it).
    Unreachable(String),
}

/// Where the probes of `stack` on `target` enter: the target's word (a
/// cluster's Ingress address), else [`Entry::Default`].
pub async fn entry_of(target: &dyn crate::deploy::Target, stack: &str) -> Entry {
    match target.ingress_address(stack).await {
        None => Entry::Default,
        Some(Ok((host, port))) => Entry::At { host, port },
        Some(Err(why)) => Entry::Unreachable(why),
    }
}

/// [`probe_chat`] entering where `target` says.
pub async fn probe_chat_on(
    target: &dyn crate::deploy::Target,
    config: &StackConfig,
    ca_pem: Option<&str>,
) -> Vec<ProbeResult> {
    let entry = entry_of(target, config.name.as_str()).await;
    probe_chat(config, ca_pem, &entry).await
}

/// A TLS connection to Caddy for the stack's domain.
async fn connect(
    config: &StackConfig,
    tls: Arc<rustls::ClientConfig>,
    entry: &Entry,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let domain = config.domain.as_str().to_owned();
    let tcp = if let Entry::Unreachable(why) = entry {
        return Err(why.clone());
    } else if let Entry::At { host, port } = entry {
        tokio::time::timeout(TIMEOUT, TcpStream::connect((host.as_str(), *port)))
            .await
            .map_err(|_| {
                format!(
                    "no answer from the Ingress at {host}:{port} within {} s",
                    TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| format!("cannot reach the Ingress at {host}:{port}: {e}"))?
    } else if config.target == stack::model::TargetKind::Kubernetes {
        // In a cluster: through its Ingress, at the public name's port 443.
        tokio::time::timeout(TIMEOUT, TcpStream::connect((domain.as_str(), 443)))
            .await
            .map_err(|_| format!("no answer on {domain}:443 within {} s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("cannot reach the Ingress at {domain}:443: {e}"))?
    } else {
        // Published on this machine, or (Burrow in a container) by name on
        // the stack's network.
        let (host, port) = crate::self_container::caddy_address(config);
        tokio::time::timeout(TIMEOUT, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| format!("no answer on {host}:{port} within {} s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("cannot connect to Caddy on {host}:{port}: {e}"))?
    };
    let name = ServerName::try_from(domain.clone()).map_err(|e| e.to_string())?;
    let stream = tokio::time::timeout(
        TIMEOUT,
        tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
    )
    .await
    .map_err(|_| "the TLS handshake timed out".to_owned())?
    .map_err(|e| format!("TLS handshake failed: {e}"))?;
    Ok(stream)
}

async fn get(
    config: &StackConfig,
    tls: Arc<rustls::ClientConfig>,
    entry: &Entry,
    path: &str,
) -> Result<(u16, String), String> {
    let stream = connect(config, tls, entry).await?;
    exchange(stream, config.domain.as_str(), path).await
}

/// Opens a WebSocket on `path` (RFC 6455 handshake): `Ok` when the server
/// switched protocols with the right `Sec-WebSocket-Accept`.
async fn websocket<IO>(io: IO, host: &str, path: &str) -> Result<(), String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    handshake(io, host, path).await.map(drop)
}

/// The RFC 6455 handshake on `io`: the server's 101 (with the right
/// `Sec-WebSocket-Accept`), whose connection can then be upgraded.
async fn handshake<IO>(io: IO, host: &str, path: &str) -> Result<Response<Incoming>, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let request = Request::get(path)
        .header(header::HOST, host)
        .header(header::USER_AGENT, "Burrow")
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, &key)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(TIMEOUT, send(io, request))
        .await
        .map_err(|_| "the handshake did not complete in time".to_owned())?
        .map_err(|e| match e {
            HttpError::NotHttp => "not an HTTP answer".to_owned(),
            HttpError::Other(e) => e,
        })?;
    let status = response.status().as_u16();
    if status != 101 {
        return Err(format!(
            "the WebSocket handshake was answered with HTTP {status}"
        ));
    }
    let accept = response
        .headers()
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept != websocket_accept(&key) {
        return Err("the WebSocket handshake's Sec-WebSocket-Accept is wrong".to_owned());
    }
    Ok(response)
}

/// RFC 6455 section 4.2.2: base64(SHA-1(key + GUID)).
pub(crate) fn websocket_accept(key: &str) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// GET `path` from `host` on an open connection: the status and the body
/// (at most [`BODY_LIMIT`] bytes, decoded as UTF-8 once it is whole).
async fn exchange<IO>(io: IO, host: &str, path: &str) -> Result<(u16, String), String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let request = Request::get(path)
        .header(header::HOST, host)
        .header(header::USER_AGENT, "Burrow")
        .header(header::ACCEPT, "application/json")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let answer = async {
        let response = send(io, request).await.map_err(|e| match e {
            HttpError::NotHttp => "not an HTTP answer".to_owned(),
            HttpError::Other(e) => e,
        })?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut buf = Vec::new();
        while buf.len() < BODY_LIMIT {
            match body.frame().await {
                None => break,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
                // Servers may close without close_notify; what arrived counts.
                Some(Err(e)) if buf.is_empty() => return Err(reason(&e)),
                Some(Err(_)) => break,
            }
        }
        buf.truncate(BODY_LIMIT);
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    };
    tokio::time::timeout(TIMEOUT, answer)
        .await
        .map_err(|_| "the answer did not complete in time".to_owned())?
}

/// Why one HTTP/1.1 exchange failed.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// What came back was not an HTTP response (or nothing did).
    NotHttp,
    /// Anything else, as a sentence.
    Other(String),
}

/// Sends one request on `io` with hyper's HTTP/1.1 client and returns the
/// response head; the body streams from the connection, which a task drives
/// until the exchange is over. Burrow's own probes (this one, and the
/// deploy's HTTP health checks) all go through here.
pub(crate) async fn send<IO, B>(
    io: IO,
    request: Request<B>,
) -> Result<Response<Incoming>, HttpError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let classify = |e: hyper::Error| {
        if e.is_parse() || e.is_incomplete_message() {
            HttpError::NotHttp
        } else {
            HttpError::Other(reason(&e))
        }
    };
    let (mut sender, connection) = http1::handshake(TokioIo::new(io)).await.map_err(classify)?;
    // Its errors reach the response or the body; it ends with the exchange
    // (or with the connection a WebSocket upgraded).
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    sender.send_request(request).await.map_err(classify)
}

/// hyper's message and the IO error under it ("connection error: Connection
/// reset by peer").
fn reason(e: &hyper::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

/// A client of the stack through Caddy, as the load bench and the switch
/// test drive it: one TLS configuration, a new connection per request.
#[derive(Clone)]
pub struct Client {
    config: StackConfig,
    tls: Arc<rustls::ClientConfig>,
}

impl Client {
    /// Trusting `ca_pem` (else the system's roots).
    pub fn new(config: &StackConfig, ca_pem: Option<&str>) -> Self {
        Self {
            config: config.clone(),
            tls: tls_config(ca_pem),
        }
    }

    /// `method` `path` with `body`, answered within `within`: the status
    /// (the body is read and dropped), or what went wrong.
    pub async fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Bytes,
        within: Duration,
    ) -> Result<u16, String> {
        self.call(&Entry::Default, method, path, &[], body, within)
            .await
            .map(|(status, _)| status)
    }

    /// `method` `path` with `headers` and `body`, entering at `entry`,
    /// answered within `within`: the status and the body (at most
    /// [`BODY_LIMIT`] of it is kept), or what went wrong.
    pub async fn call(
        &self,
        entry: &Entry,
        method: http::Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
        within: Duration,
    ) -> Result<(u16, Bytes), String> {
        let run = async {
            let io = connect(&self.config, self.tls.clone(), entry).await?;
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, self.config.domain.as_str())
                .header(header::USER_AGENT, "burrow")
                .header(header::CONNECTION, "close");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let request = request
                .body(http_body_util::Full::new(body))
                .map_err(|e| e.to_string())?;
            let response = send(io, request).await.map_err(|e| match e {
                HttpError::NotHttp => "not an HTTP answer".to_owned(),
                HttpError::Other(e) => e,
            })?;
            let status = response.status().as_u16();
            let body = http_body_util::Limited::new(response.into_body(), BODY_LIMIT)
                .collect()
                .await
                .map_err(|e| {
                    let why = e
                        .downcast_ref::<hyper::Error>()
                        .map_or_else(|| e.to_string(), reason);
                    format!("the body broke off: {why}")
                })?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(within, run)
            .await
            .map_err(|_| format!("no answer within {} s", within.as_secs()))?
    }

    /// Opens a WebSocket on `path` and holds it: resolves with why it
    /// ended (closed by the server, or broken). `Err`: it could not be
    /// opened.
    pub async fn hold_websocket(
        &self,
        path: &str,
    ) -> Result<impl std::future::Future<Output = String> + Send + 'static, String> {
        use tokio::io::AsyncReadExt;
        let io = connect(&self.config, self.tls.clone(), &Entry::Default).await?;
        let response = handshake(io, self.config.domain.as_str(), path).await?;
        let mut upgraded = TokioIo::new(
            hyper::upgrade::on(response)
                .await
                .map_err(|e| format!("the upgrade failed: {e}"))?,
        );
        Ok(async move {
            let mut buf = [0u8; 4096];
            loop {
                match upgraded.read(&mut buf).await {
                    Ok(0) => return "closed by the server".to_owned(),
                    Ok(_) => {}
                    Err(e) => return format!("broken: {e}"),
                }
            }
        })
    }
}

/// Probes the API root and the well-known document through Caddy,
/// entering at `entry`. `ca_pem`: Burrow's CA in the self-signed mode, else
/// `None` (system roots).
pub async fn probe_chat(
    config: &StackConfig,
    ca_pem: Option<&str>,
    entry: &Entry,
) -> Vec<ProbeResult> {
    let tls = tls_config(ca_pem);
    let mut out = Vec::new();
    for (path, key, what) in [
        ("/api/", "revolt", "the API"),
        ("/.well-known/stoat", "api", "the discovery document"),
    ] {
        let result = match get(config, tls.clone(), entry, path).await {
            Ok((200, body)) => match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(json) if json.get(key).is_some() => ProbeResult {
                    path: path.to_owned(),
                    ok: true,
                    detail: format!("{what} answers through Caddy"),
                },
                _ => ProbeResult {
                    path: path.to_owned(),
                    ok: false,
                    detail: format!("{what} answered, but not with Stoat's JSON"),
                },
            },
            Ok((status, _)) => ProbeResult {
                path: path.to_owned(),
                ok: false,
                detail: format!("{what} answered HTTP {status}"),
            },
            Err(e) => ProbeResult {
                path: path.to_owned(),
                ok: false,
                detail: e,
            },
        };
        out.push(result);
    }
    let ws = match connect(config, tls, entry).await {
        Ok(stream) => websocket(stream, config.domain.as_str(), "/ws").await,
        Err(e) => Err(e),
    };
    out.push(ProbeResult {
        path: "/ws".to_owned(),
        ok: ws.is_ok(),
        detail: match ws {
            Ok(()) => "the events server accepts WebSockets through Caddy".to_owned(),
            Err(e) => format!("the events server: {e}"),
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection server on 127.0.0.1 that reads the request head and
    /// answers with `parts`, written (and flushed) one at a time.
    async fn serve(parts: Vec<Vec<u8>>) -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if socket.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            for part in parts {
                socket.write_all(&part).await.unwrap();
                socket.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            String::from_utf8(head).unwrap()
        });
        (addr, task)
    }

    #[test]
    fn the_websocket_accept_is_rfc_6455s() {
        // The example of RFC 6455 section 1.3.
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn a_websocket_handshake_is_checked() {
        // A server switching protocols with the wrong accept, then one
        // refusing the upgrade: both are failures with a sentence.
        let wrong = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n".to_vec();
        let (addr, server) = serve(vec![wrong]).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let err = websocket(tcp, "chat.example.org", "/ws").await.unwrap_err();
        assert!(err.contains("Sec-WebSocket-Accept"), "{err}");
        let head = server.await.unwrap();
        assert!(head.starts_with("GET /ws HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("upgrade: websocket"),
            "{head}"
        );
        let refused = b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n".to_vec();
        let (addr, _server) = serve(vec![refused]).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let err = websocket(tcp, "chat.example.org", "/ws").await.unwrap_err();
        assert!(err.contains("HTTP 426"), "{err}");
    }

    #[tokio::test]
    async fn a_chunked_body_with_a_character_split_across_chunks_is_read_whole() {
        // "✓" is E2 9C 93: the first chunk ends after its first byte.
        let body = "{\"revolt\":\"0.8\",\"ok\":\"✓ ünïcode\"}".as_bytes();
        let split = body.iter().position(|&b| b == 0xe2).unwrap() + 1;
        let (first, rest) = body.split_at(split);
        let mut parts = vec![b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()];
        for chunk in [first, rest] {
            let mut part = format!("{:x}\r\n", chunk.len()).into_bytes();
            part.extend_from_slice(chunk);
            part.extend_from_slice(b"\r\n");
            parts.push(part);
        }
        parts.push(b"0\r\n\r\n".to_vec());
        let (addr, server) = serve(parts).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (status, text) = exchange(tcp, "chat.example.org", "/api/").await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(text, "{\"revolt\":\"0.8\",\"ok\":\"✓ ünïcode\"}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["ok"], "✓ ünïcode");
        let head = server.await.unwrap();
        assert!(head.starts_with("GET /api/ HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("host: chat.example.org\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_length_delimited_answer_and_its_status_are_read() {
        let (addr, _server) = serve(vec![
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 7\r\n\r\nno api!".to_vec(),
        ])
        .await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let answer = exchange(tcp, "chat.example.org", "/.well-known/stoat").await;
        assert_eq!(answer, Ok((502, "no api!".to_owned())));
    }

    #[tokio::test]
    async fn what_is_not_http_is_named() {
        let (addr, _server) = serve(vec![b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()]).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let answer = exchange(tcp, "chat.example.org", "/api/").await;
        assert_eq!(answer, Err("not an HTTP answer".to_owned()));
    }
}
