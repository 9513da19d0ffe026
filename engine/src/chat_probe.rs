//! "Does the chat server answer?": real HTTPS requests through the stack's
//! Caddy, as a browser would make them (SNI and Host = the domain), to the
//! API root and `/.well-known/stoat`.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::{Deserialize, Serialize};
use stack::model::StackConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub path: String,
    pub ok: bool,
    /// One sentence: what answered, or what went wrong.
    pub detail: String,
}

/// Where Caddy's HTTPS port is reachable from Burrow.
fn address(config: &StackConfig) -> (std::net::IpAddr, u16) {
    let ip = config
        .network
        .host_ip()
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    (ip, config.network.https_port.get())
}

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

async fn get(
    config: &StackConfig,
    tls: Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<(u16, String), String> {
    let (ip, port) = address(config);
    let domain = config.domain.as_str().to_owned();
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((ip, port)))
        .await
        .map_err(|_| format!("no answer on {ip}:{port} within {} s", TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot connect to Caddy on {ip}:{port}: {e}"))?;
    let name = ServerName::try_from(domain.clone()).map_err(|e| e.to_string())?;
    let mut stream = tokio::time::timeout(
        TIMEOUT,
        tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
    )
    .await
    .map_err(|_| "the TLS handshake timed out".to_owned())?
    .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {domain}\r\nUser-Agent: Burrow\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.take(256 * 1024).read_to_end(&mut buf))
        .await
        .map_err(|_| "the answer did not complete in time".to_owned())?
        .or_else(|e| {
            // Servers may close without close_notify; what arrived counts.
            if buf.is_empty() {
                Err(e.to_string())
            } else {
                Ok(buf.len())
            }
        })?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("not an HTTP answer")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Probes the API root and the well-known document through Caddy.
/// `ca_pem`: Burrow's CA in the self-signed mode, else `None` (system roots).
pub async fn probe_chat(config: &StackConfig, ca_pem: Option<&str>) -> Vec<ProbeResult> {
    let tls = tls_config(ca_pem);
    let mut out = Vec::new();
    for (path, key, what) in [
        ("/api/", "revolt", "the API"),
        ("/.well-known/stoat", "api", "the discovery document"),
    ] {
        let result = match get(config, tls.clone(), path).await {
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
    out
}
