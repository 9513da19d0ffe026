//! Checking an update channel: a TUF repository (metadata under
//! `<url>/metadata/`, targets under `<url>/targets/`) verified with `tough`
//! from the channel's root metadata: signatures and thresholds, versions
//! that never go down, expiry of every role, root rotation, a clock set
//! back. Verified metadata (and the newest trusted root) is kept in a
//! directory between checks. Every refusal is a sentence.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tough::error::Error as TufError;
use tough::schema::RoleType;
use tough::{IntoVec, RepositoryLoader, TargetName, Transport, TransportError, TransportErrorKind};
use url::Url;

use super::release::{Release, RELEASE_TARGET};

/// How long one fetch from the channel may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest file read from a channel (tough limits each role further).
const MAX_FILE: usize = 16 * 1024 * 1024;
/// The newest trusted root, kept beside tough's datastore files.
const TRUSTED_ROOT: &str = "trusted-root.json";

/// Where updates come from.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelSettings {
    /// `https://…`, `http://…` or `file:///…` (the directory holding
    /// `metadata/` and `targets/`).
    pub url: String,
    /// The channel's root metadata (`1.root.json` or later), trusted as given.
    pub root: Vec<u8>,
    /// The channel's name this install follows (`stable`).
    pub name: String,
}

impl std::fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSettings")
            .field("url", &self.url)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A verified release, with what the channel's metadata says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub release: Release,
    pub root_version: u64,
    pub timestamp_version: u64,
    /// When the channel's timestamp expires (RFC 3339).
    pub timestamp_expires: String,
}

/// Why a check found nothing to offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChannelError(pub String);

fn refused(sentence: impl Into<String>) -> ChannelError {
    ChannelError(sentence.into())
}

/// Verifies the channel and reads its release, refused when it is not for
/// this install (another channel, not above `installed`). `datastore`
/// keeps the verified metadata between checks (created 0700 if missing).
pub async fn check(
    settings: &ChannelSettings,
    datastore: &Path,
    installed: Option<&super::Installed>,
) -> Result<Checked, ChannelError> {
    let base = base_url(&settings.url)?;
    let metadata = base
        .join("metadata/")
        .map_err(|e| refused(format!("The channel address cannot be used: {e}.")))?;
    let targets = base
        .join("targets/")
        .map_err(|e| refused(format!("The channel address cannot be used: {e}.")))?;
    crate::data_dir::tighten(datastore)
        .map_err(|e| refused(format!("{} cannot be made: {e}.", datastore.display())))?;
    // The newest root trusted so far (after a rotation), else the given one.
    let root = newest_root(&settings.root, &datastore.join(TRUSTED_ROOT));
    let repository = RepositoryLoader::new(&root, metadata, targets)
        .transport(ChannelTransport::new())
        .datastore(datastore.to_path_buf())
        .load()
        .await
        .map_err(|e| tuf_refusal(&e))?;
    // Kept for the next check: tough starts from the root it is given.
    let trusted = serde_json::to_vec_pretty(repository.root())
        .map_err(|e| refused(format!("The channel's root cannot be kept: {e}.")))?;
    stack::files::write_file(&datastore.join(TRUSTED_ROOT), &trusted, 0o600)
        .map_err(|e| refused(format!("The channel's root cannot be kept: {e}.")))?;
    let _ = crate::data_dir::tighten(datastore);

    let name = TargetName::new(RELEASE_TARGET).map_err(|e| tuf_refusal(&e))?;
    let stream = repository
        .read_target(&name)
        .await
        .map_err(|e| tuf_refusal(&e))?
        .ok_or_else(|| {
            refused(
                "The channel lists no release.json: its publisher has not added a release yet \
                 (`burrow release add`, then `burrow release sign`).",
            )
        })?;
    let bytes = stream.into_vec().await.map_err(|e| tuf_refusal(&e))?;
    let release = Release::parse(&bytes).map_err(refused)?;
    if let Some(why) = release.refusal(&settings.name, installed) {
        return Err(refused(why));
    }
    let timestamp = &repository.timestamp().signed;
    Ok(Checked {
        release,
        root_version: repository.root().signed.version.get(),
        timestamp_version: timestamp.version.get(),
        timestamp_expires: timestamp.expires.to_string(),
    })
}

/// The channel URL as a directory URL (trailing `/`).
pub(crate) fn base_url(url: &str) -> Result<Url, ChannelError> {
    let mut text = url.trim().to_owned();
    if !text.ends_with('/') {
        text.push('/');
    }
    let parsed = Url::parse(&text).map_err(|e| {
        refused(format!(
            "{url:?} is not a channel address ({e}): use https://…, http://… or file:///…"
        ))
    })?;
    match parsed.scheme() {
        "https" | "http" | "file" => Ok(parsed),
        other => Err(refused(format!(
            "{url:?} is not a channel address: {other}:// is not read; use https://…, http://… \
             or file:///…"
        ))),
    }
}

/// The given root, or the one kept after a rotation when it is newer.
fn newest_root(given: &[u8], kept: &Path) -> Vec<u8> {
    let version = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v["signed"]["version"].as_u64())
    };
    match std::fs::read(kept) {
        Ok(stored) if version(&stored) > version(given) => stored,
        _ => given.to_vec(),
    }
}

/// Every refusal tough can give, as the operator's sentence.
fn tuf_refusal(error: &TufError) -> ChannelError {
    let role = |r: &RoleType| format!("{r:?}").to_lowercase();
    refused(match error {
        TufError::ExpiredMetadata { role: r, .. } => format!(
            "The channel's {} metadata has expired: its publisher must sign it again (`burrow \
             release refresh-timestamp`, or `sign` for the others). Nothing is offered until then.",
            role(r)
        ),
        TufError::OlderMetadata {
            role: r,
            current_version,
            new_version,
            ..
        } => format!(
            "The channel offers {} metadata version {new_version}, but Burrow already trusted \
             version {current_version}: a replayed or rolled-back channel is refused.",
            role(r)
        ),
        TufError::VersionMismatch {
            role: r,
            fetched,
            expected,
            ..
        } => format!(
            "The channel's {} metadata is version {fetched} where its signed listing says \
             {expected}: an inconsistent channel is refused.",
            role(r)
        ),
        TufError::VerifyMetadata { role: r, .. } => format!(
            "The channel's {} metadata is not signed by enough of the keys its root names \
             (changed, or signed with retired keys): refused.",
            role(r)
        ),
        TufError::VerifyTrustedMetadata { .. } => "The channel's root metadata given to Burrow \
             does not verify itself: give the root.json its publisher made."
            .to_owned(),
        TufError::SystemTimeSteppedBackward {
            sys_time,
            latest_known_time,
        } => format!(
            "This machine's clock says {sys_time}, but Burrow already saw the channel at \
             {latest_known_time}: the clock was set back. Fix the time (NTP) before checking for \
             updates."
        ),
        TufError::Transport { url, source, .. } => {
            if hash_mismatch(error) {
                format!(
                    "{} does not match the hash its signed metadata lists: a changed or damaged \
                     file is refused.",
                    file_name(url)
                )
            } else if source.kind() == TransportErrorKind::FileNotFound {
                format!(
                    "The channel has no {}: check the channel address (it holds metadata/ and \
                     targets/).",
                    url
                )
            } else {
                format!("The channel could not be read at {url}: {}.", cause(source))
            }
        }
        other if hash_mismatch(other) => {
            "release.json does not match the hash its signed metadata lists: a changed or \
             damaged file is refused."
                .to_owned()
        }
        other => format!("The channel could not be verified: {other}."),
    })
}

fn file_name(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .map(|name| {
            // `<sha256>.release.json` under consistent snapshots.
            name.split_once('.')
                .filter(|(hash, _)| hash.len() == 64)
                .map_or(name, |(_, rest)| rest)
                .to_owned()
        })
        .unwrap_or_else(|| url.to_string())
}

/// Whether a hash mismatch is somewhere in `error`'s sources.
fn hash_mismatch(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if matches!(
            e.downcast_ref::<TufError>(),
            Some(TufError::HashMismatch { .. })
        ) {
            return true;
        }
        current = e.source();
    }
    false
}

fn cause(error: &TransportError) -> String {
    match std::error::Error::source(error) {
        Some(source) => source.to_string(),
        None => format!("{:?}", error.kind()),
    }
}

/// Fetches channel files over Burrow's own HTTP client (rustls with the
/// system's roots for https) or from the file system.
#[derive(Clone)]
struct ChannelTransport {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<bytes::Bytes>>,
}

impl std::fmt::Debug for ChannelTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelTransport")
    }
}

impl ChannelTransport {
    fn new() -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| {
            // The ring provider always supports the default versions.
            unreachable!("rustls' default protocol versions")
        });
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }

    async fn get(&self, url: &Url) -> Result<bytes::Bytes, TransportError> {
        let other = |e: String| TransportError::new_with_cause(TransportErrorKind::Other, url, e);
        let uri: http::Uri = url.as_str().parse().map_err(|e| other(format!("{e}")))?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.get(uri))
            .await
            .map_err(|_| other(format!("no answer within {} s", FETCH_TIMEOUT.as_secs())))?
            .map_err(|e| other(crate::error::chain(&e)))?;
        match response.status().as_u16() {
            200 => {}
            403 | 404 | 410 => {
                return Err(TransportError::new(TransportErrorKind::FileNotFound, url));
            }
            status => return Err(other(format!("it answered HTTP {status}"))),
        }
        let body = Limited::new(response.into_body(), MAX_FILE);
        tokio::time::timeout(FETCH_TIMEOUT, body.collect())
            .await
            .map_err(|_| other(format!("no answer within {} s", FETCH_TIMEOUT.as_secs())))?
            .map(|b| b.to_bytes())
            .map_err(|e| other(e.to_string()))
    }
}

#[tough::async_trait]
impl Transport for ChannelTransport {
    async fn fetch(&self, url: Url) -> Result<tough::TransportStream, TransportError> {
        if url.scheme() == "file" {
            return tough::FilesystemTransport.fetch(url).await;
        }
        let bytes = self.get(&url).await?;
        Ok(Box::pin(futures_util::stream::once(
            async move { Ok(bytes) },
        )))
    }
}

/// Where a data dir keeps a channel's verified metadata: one directory per
/// channel address and root.
pub fn datastore_for(data_dir: &Path, settings: &ChannelSettings) -> PathBuf {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(settings.url.as_bytes());
    hash.update([0]);
    hash.update(&settings.root);
    data_dir
        .join("update")
        .join(hex::encode(&hash.finalize()[..8]))
}
