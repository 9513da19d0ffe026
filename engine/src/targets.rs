//! Where a revision is deployed, and the one place that turns those settings
//! into a connected [`Target`]. Nothing else in Burrow connects to Docker or
//! Kubernetes: the deployer, the dashboard, the logs and the wizard's checks
//! all ask [`Targets`] with a revision's (or the draft's) own settings, so a
//! Kubernetes revision can never reach a Docker daemon.
//!
//! Connections are shared (one per address), one connect runs per address
//! however many ask, pages wait for it at most [`PAGE_WAIT`] while it goes
//! on in the background, and a failed connect is remembered for
//! [`REMEMBER_FAILURE`]: a dead or slow daemon costs one timeout, not one
//! per page, and never holds up another address.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::deploy::{DeployError, DockerTarget, DockerTls, Target};
use crate::sealed::Vault;
use crate::Store;

/// How long a failed connect is answered from memory.
pub const REMEMBER_FAILURE: Duration = Duration::from_secs(5);

/// What needs a Docker daemon itself (backups read its volumes) says on
/// Kubernetes.
pub const DOCKER_ONLY: &str = "This needs a Docker target: on Kubernetes, back up with your \
     cluster's volume snapshots.";

/// A revision's deploy target, stored with it (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetSettings {
    Docker {
        /// `unix:///…` or `tcp://…`; `None`: the local default
        /// (`DOCKER_HOST`, else `/var/run/docker.sock`).
        #[serde(default)]
        url: Option<String>,
        /// The sealed version of the daemon's TLS settings (CA, client
        /// certificate and key) for a `tcp://` daemon with `--tlsverify`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<i64>,
    },
    Kubernetes {
        /// In-cluster credentials instead of an uploaded kubeconfig.
        #[serde(default)]
        in_cluster: bool,
        #[serde(default)]
        context: Option<String>,
        namespace: String,
        /// The Ingress controller's class (`None`: nginx).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ingress_class: Option<String>,
        /// cert-manager's ClusterIssuer for ACME (`None`: `letsencrypt`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer: Option<String>,
    },
}

impl TargetSettings {
    /// How a Kubernetes target serves its Ingress (class and cert-manager
    /// issuer, their defaults when unset); `None` for Docker.
    pub fn ingress(&self) -> Option<crate::deploy::cluster::objects::IngressSettings> {
        let TargetSettings::Kubernetes {
            ingress_class,
            issuer,
            ..
        } = self
        else {
            return None;
        };
        let defaults = crate::deploy::cluster::objects::IngressSettings::default();
        Some(crate::deploy::cluster::objects::IngressSettings {
            class: ingress_class.clone().unwrap_or(defaults.class),
            issuer: issuer.clone().unwrap_or(defaults.issuer),
        })
    }

    /// The local Docker daemon.
    pub fn local_docker() -> Self {
        Self::Docker {
            url: None,
            tls: None,
        }
    }

    pub fn is_kubernetes(&self) -> bool {
        matches!(self, Self::Kubernetes { .. })
    }

    /// For the operator: "Docker at tcp://…", "Kubernetes, namespace stoat".
    pub fn describe(&self) -> String {
        match self {
            Self::Docker { url: None, .. } => "Docker on this machine".to_owned(),
            Self::Docker {
                url: Some(u),
                tls: None,
            } => format!("Docker at {u}"),
            Self::Docker {
                url: Some(u),
                tls: Some(_),
            } => format!("Docker at {u} over TLS"),
            Self::Kubernetes {
                namespace, context, ..
            } => match context {
                Some(c) => format!("Kubernetes ({c}), namespace {namespace}"),
                None => format!("Kubernetes, namespace {namespace}"),
            },
        }
    }

    /// Why this target cannot be deployed to now, if it cannot (every
    /// kind can: kept for targets a version may not support).
    pub fn undeployable(&self) -> Option<&'static str> {
        None
    }

    /// A daemon on another machine over plain TCP (no TLS settings): the
    /// operator has to accept [`PLAIN_TCP_RISK`].
    pub fn plain_tcp_elsewhere(&self) -> bool {
        matches!(self, Self::Docker { url: Some(u), tls: None } if plain_tcp_elsewhere(u))
    }

    /// These settings with the TLS settings of `newest` when both are the
    /// same Docker address (a pasted stack.toml keeps them: they are set on
    /// the wizard's Target step).
    pub fn with_tls_of(self, newest: &TargetSettings) -> Self {
        match (self, newest) {
            (
                Self::Docker { url, tls: None },
                Self::Docker {
                    url: same,
                    tls: Some(v),
                },
            ) if url.is_some() && url == *same => Self::Docker { url, tls: Some(*v) },
            (other, _) => other,
        }
    }
}

/// The Ingress classes Burrow renders routes for: nginx with its own
/// route table (regex paths, prefix stripping), any other sends every
/// path to Caddy, which has the whole table. Empty is nginx.
pub const INGRESS_CLASSES: [&str; 3] = ["", "nginx", "traefik"];

/// Whether `name` can name a cert-manager issuer (a DNS-1123 subdomain);
/// empty is the default `letsencrypt`.
pub fn valid_issuer(name: &str) -> bool {
    name.is_empty()
        || (name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Whether `url` is a daemon address TLS settings apply to (`tcp://`).
pub fn takes_tls(url: &str) -> bool {
    url.trim().starts_with("tcp://")
}

/// A Docker address as typed: empty is the local default (`None`); else
/// `unix:///path`, `/path` or `tcp://host:port`, or the sentence saying what
/// is wrong with it.
pub fn parse_docker_url(input: &str) -> Result<Option<String>, String> {
    let url = input.trim();
    if url.is_empty() {
        return Ok(None);
    }
    // What the docker CLI's DOCKER_HOST takes for a daemon on a socket or
    // on TCP (bollard would also take http://, which nobody writes).
    let scheme_ok = (url.starts_with('/') && url.len() > 1)
        || ["unix:///", "tcp://"]
            .iter()
            .any(|s| url.starts_with(s) && url.len() > s.len());
    if scheme_ok && !url.chars().any(char::is_whitespace) {
        Ok(Some(url.to_owned()))
    } else {
        Err(format!(
            "{url:?} is not a Docker address Burrow understands: use unix:///path/to/docker.sock \
             or tcp://host:port, or leave it empty for this machine"
        ))
    }
}

/// Whether `url` reaches a daemon on another machine over plain TCP: no
/// TLS, no authentication, so anyone on the network path can run
/// containers as root there. Loopback and sockets are not.
pub fn plain_tcp_elsewhere(url: &str) -> bool {
    let Some(host) = crate::preflight::host::daemon_host_name(url) else {
        return false;
    };
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// What the operator accepts by ticking the box for such a daemon.
pub const PLAIN_TCP_RISK: &str = "This daemon is reached over plain TCP, without TLS or a \
     password: anyone on the network between here and there can run containers as root on \
     its machine. Tick the box to go on anyway, or reach its socket through an SSH tunnel \
     (ssh -L) and use that address.";

/// How long a page waits for a daemon that has not answered yet; the
/// connect goes on in the background and the next page gets its outcome.
pub const PAGE_WAIT: Duration = Duration::from_secs(2);

/// How a connect ended, kept for everyone who asked (and for
/// [`REMEMBER_FAILURE`] after).
#[derive(Clone)]
enum Outcome {
    Ready(Arc<DockerTarget>),
    Failed { url: String, reason: String },
    Invalid { url: String },
}

impl Outcome {
    fn result(self) -> Result<Arc<DockerTarget>, DeployError> {
        match self {
            Outcome::Ready(t) => Ok(t),
            Outcome::Failed { url, reason } => Err(DeployError::Unreachable { url, reason }),
            Outcome::Invalid { url } => Err(DeployError::InvalidUrl { url }),
        }
    }
}

enum Slot {
    /// One connect runs; everyone who asks meanwhile waits for its outcome.
    Connecting(watch::Receiver<Option<Outcome>>),
    /// How the last connect ended, and when: a target is kept, a failure
    /// answered for [`REMEMBER_FAILURE`].
    Settled { at: Instant, outcome: Outcome },
}

/// A connection: the address (`None`: the default) and the fingerprint of
/// its TLS settings.
type SlotKey = (Option<String>, Option<[u8; 32]>);
type Slots = Arc<std::sync::Mutex<HashMap<SlotKey, Slot>>>;

/// The target factory: connected targets by settings, shared.
pub struct Targets {
    /// The daemon used for `Docker { url: None }` (`BURROW_DOCKER_HOST`).
    default_docker: Option<String>,
    slots: Slots,
    /// Where a revision's sealed TLS settings are read (set by the
    /// deployer that uses this factory).
    secrets: std::sync::OnceLock<(Store, Vault)>,
    /// Tests: every Docker revision goes to this target.
    fixed: Option<Arc<dyn Target>>,
    /// Tests: every Kubernetes revision goes through this client.
    fixed_kube: Option<kube::Client>,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets")
            .field("default_docker", &self.default_docker)
            .finish_non_exhaustive()
    }
}

impl Targets {
    pub fn new(default_docker: Option<String>) -> Self {
        Self {
            default_docker: default_docker.filter(|u| !u.is_empty()),
            slots: Slots::default(),
            secrets: std::sync::OnceLock::new(),
            fixed: None,
            fixed_kube: None,
        }
    }

    /// Reads sealed TLS settings from `store` with `vault` (once; the
    /// deployer calls it with its own).
    pub fn read_secrets_from(&self, store: &Store, vault: &Vault) {
        let _ = self.secrets.set((store.clone(), vault.clone()));
    }

    /// A factory whose Docker target is `target` (tests, fakes). Kubernetes
    /// settings are still refused.
    pub fn fixed(target: Arc<dyn Target>) -> Self {
        Self {
            fixed: Some(target),
            ..Self::new(None)
        }
    }

    /// This factory with every Kubernetes revision reached through
    /// `client` (tests: an in-memory API server).
    pub fn with_kube_client(mut self, client: kube::Client) -> Self {
        self.fixed_kube = Some(client);
        self
    }

    /// The address `Docker { url }` resolves to (the start-up default for
    /// `None`), as stored with a new revision.
    pub fn docker_settings(&self, url: Option<&str>) -> TargetSettings {
        TargetSettings::Docker {
            url: url
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .or_else(|| self.default_docker.clone()),
            tls: None,
        }
    }

    /// The settings of a revision made from the wizard's target step.
    pub fn settings_for(
        &self,
        kind: stack::model::TargetKind,
        draft: &crate::wizard::TargetDraft,
    ) -> TargetSettings {
        match kind {
            stack::model::TargetKind::Docker => self.docker_settings(Some(&draft.docker_url)),
            stack::model::TargetKind::Kubernetes => TargetSettings::Kubernetes {
                in_cluster: draft.kube_source == "in-cluster",
                context: Some(draft.kube_context.trim().to_owned()).filter(|c| !c.is_empty()),
                namespace: Some(draft.kube_namespace.trim())
                    .filter(|n| !n.is_empty())
                    .unwrap_or("stoat")
                    .to_owned(),
                ingress_class: Some(draft.kube_ingress_class.trim())
                    .filter(|c| !c.is_empty() && *c != "nginx")
                    .map(str::to_owned),
                issuer: Some(draft.kube_issuer.trim())
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned),
            },
        }
    }

    /// The target `settings` name, connected (or the remembered failure).
    pub async fn connect(&self, settings: &TargetSettings) -> Result<Arc<dyn Target>, DeployError> {
        self.connect_within(settings, None).await
    }

    /// The target for a page: waits at most [`PAGE_WAIT`] for a daemon that
    /// has not answered yet.
    pub async fn connect_for_page(
        &self,
        settings: &TargetSettings,
    ) -> Result<Arc<dyn Target>, DeployError> {
        self.connect_within(settings, Some(PAGE_WAIT)).await
    }

    async fn connect_within(
        &self,
        settings: &TargetSettings,
        wait: Option<Duration>,
    ) -> Result<Arc<dyn Target>, DeployError> {
        match settings {
            TargetSettings::Kubernetes { .. } => Ok(self.kube(settings, None).await?),
            TargetSettings::Docker { url, tls } => {
                if let Some(t) = &self.fixed {
                    return Ok(t.clone());
                }
                let tls = match tls {
                    Some(version) => Some(self.kept_tls(url.as_deref(), *version).await?),
                    None => None,
                };
                Ok(self
                    .docker_within(url.as_deref(), tls.as_ref(), wait)
                    .await?)
            }
        }
    }

    /// The Docker daemon of `settings` itself (backups read its volumes);
    /// a Kubernetes target is refused with a sentence.
    pub async fn docker_for(
        &self,
        settings: &TargetSettings,
    ) -> Result<Arc<DockerTarget>, DeployError> {
        match settings {
            TargetSettings::Kubernetes { .. } => Err(DeployError::Unsupported {
                message: DOCKER_ONLY.to_owned(),
            }),
            TargetSettings::Docker { url, tls } => {
                let tls = match tls {
                    Some(version) => Some(self.kept_tls(url.as_deref(), *version).await?),
                    None => None,
                };
                self.docker_within(url.as_deref(), tls.as_ref(), None).await
            }
        }
    }

    /// The target of `revision`, from its own settings and the secrets it
    /// was saved with (a Kubernetes revision's kubeconfig version); `wait`
    /// as for [`Targets::connect_for_page`].
    pub async fn connect_revision(
        &self,
        revision: &crate::revisions::Revision,
        wait: Option<Duration>,
    ) -> Result<Arc<dyn Target>, DeployError> {
        if !revision.target.is_kubernetes() {
            return self.connect_within(&revision.target, wait).await;
        }
        let kubeconfig = match revision.secrets.kubeconfig {
            Some(_) => {
                let (store, vault) = self.secrets.get().ok_or_else(|| DeployError::Kube {
                    context: "reading the revision's kubeconfig".to_owned(),
                    message: "no store is open".to_owned(),
                })?;
                store
                    .revision_kubeconfig(vault, revision)
                    .await
                    .map_err(|e| DeployError::Kube {
                        context: "reading the revision's kubeconfig".to_owned(),
                        message: e.to_string(),
                    })?
            }
            None => None,
        };
        Ok(self.kube(&revision.target, kubeconfig).await?)
    }

    /// A Kubernetes target for `settings`: in-cluster credentials, or the
    /// uploaded `kubeconfig` (refused when it runs a program or names a
    /// file). Never a kubeconfig lying on this machine: a revision says
    /// where it goes.
    pub async fn kube(
        &self,
        settings: &TargetSettings,
        kubeconfig: Option<String>,
    ) -> Result<Arc<crate::deploy::KubeTarget>, DeployError> {
        let (
            TargetSettings::Kubernetes {
                in_cluster,
                context,
                namespace,
                ..
            },
            Some(ingress),
        ) = (settings, settings.ingress())
        else {
            return Err(DeployError::Unsupported {
                message: "not a Kubernetes target".to_owned(),
            });
        };
        if let Some(client) = &self.fixed_kube {
            return Ok(Arc::new(
                crate::deploy::KubeTarget::new(client.clone(), namespace).ingress(ingress),
            ));
        }
        let unreachable = |message: String| DeployError::Kube {
            context: format!("connecting to {}", settings.describe()),
            message,
        };
        let config = match (*in_cluster, kubeconfig) {
            (true, _) => {
                crate::preflight::kube_source::load(
                    crate::preflight::kube_source::KubeSource::InCluster,
                )
                .await
                .map_err(|e| unreachable(format!("{} {}", e.summary(), e.fix())))?
                .config
            }
            (false, Some(yaml)) => {
                crate::preflight::kube_source::load(
                    crate::preflight::kube_source::KubeSource::Kubeconfig {
                        yaml,
                        context: context.clone(),
                    },
                )
                .await
                .map_err(|e| unreachable(format!("{} {}", e.summary(), e.fix())))?
                .config
            }
            (false, None) => {
                return Err(unreachable(
                    "it was saved without a kubeconfig: upload one on the wizard's Target \
                     step, or run Burrow in the cluster with in-cluster credentials"
                        .to_owned(),
                ))
            }
        };
        // kube builds its TLS client from the process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = kube::Client::try_from(config).map_err(|e| unreachable(e.to_string()))?;
        Ok(Arc::new(
            crate::deploy::KubeTarget::new(client, namespace).ingress(ingress),
        ))
    }

    /// Version `version` of the kept Docker TLS settings.
    async fn kept_tls(&self, url: Option<&str>, version: i64) -> Result<DockerTls, DeployError> {
        let unreadable = |why: String| DeployError::Unreachable {
            url: url.unwrap_or("the default address").to_owned(),
            reason: format!(
                "its TLS settings cannot be read ({why}): paste the CA, client certificate \
                 and key again on the wizard's Target step"
            ),
        };
        let (store, vault) = self
            .secrets
            .get()
            .ok_or_else(|| unreadable("no store is open".to_owned()))?;
        store
            .docker_tls_version(vault, version)
            .await
            .map_err(|e| unreadable(e.to_string()))
    }

    /// The Docker daemon at `url` (`None`: the default), shared; waits for
    /// the connect however long it takes (up to the connect timeout).
    pub async fn docker(&self, url: Option<&str>) -> Result<Arc<DockerTarget>, DeployError> {
        self.docker_within(url, None, None).await
    }

    /// Like [`Targets::docker`], but waits at most `wait` for a daemon that
    /// has not answered yet (pages: [`PAGE_WAIT`]); the connect carries on
    /// without the caller, so a dead or slow daemon costs one timeout in
    /// the background, not one per page, and other addresses never wait.
    /// With `tls`, the daemon is reached over TLS with those settings.
    pub async fn docker_within(
        &self,
        url: Option<&str>,
        tls: Option<&DockerTls>,
        wait: Option<Duration>,
    ) -> Result<Arc<DockerTarget>, DeployError> {
        let address = url
            .map(str::to_owned)
            .filter(|u| !u.is_empty())
            .or_else(|| self.default_docker.clone());
        let key: SlotKey = (address, tls.map(DockerTls::fingerprint));
        let mut pending = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.get(&key) {
                Some(Slot::Settled { at, outcome })
                    if matches!(outcome, Outcome::Ready(_)) || at.elapsed() < REMEMBER_FAILURE =>
                {
                    return outcome.clone().result()
                }
                Some(Slot::Connecting(rx)) => rx.clone(),
                _ => {
                    let (tx, rx) = watch::channel(None);
                    slots.insert(key.clone(), Slot::Connecting(rx.clone()));
                    tokio::spawn(connect_into(
                        self.slots.clone(),
                        key.clone(),
                        tls.cloned(),
                        tx,
                    ));
                    rx
                }
            }
        };
        let outcome = async {
            pending
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|seen| seen.clone())
        };
        let waited = match wait {
            Some(wait) => tokio::time::timeout(wait, outcome).await.ok(),
            None => Some(outcome.await),
        };
        let url = || {
            key.0
                .clone()
                .unwrap_or_else(|| "the default address".to_owned())
        };
        match waited {
            Some(Some(outcome)) => outcome.result(),
            // The connect task ended without a word (runtime shutting down).
            Some(None) => Err(DeployError::Unreachable {
                url: url(),
                reason: "the connection attempt was cancelled; try again".to_owned(),
            }),
            None => Err(DeployError::Unreachable {
                url: url(),
                reason: format!(
                    "no answer within {} s yet (Burrow keeps trying in the background; \
                     this page shows the outcome when reloaded)",
                    wait.unwrap_or_default().as_secs()
                ),
            }),
        }
    }

    /// Forgets every connection (a daemon was restarted or replaced).
    pub async fn forget(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Connects to the daemon at `key`, files the outcome in its slot and tells
/// whoever waits.
async fn connect_into(
    slots: Slots,
    key: SlotKey,
    tls: Option<DockerTls>,
    tx: watch::Sender<Option<Outcome>>,
) {
    let outcome = match DockerTarget::connect_with(key.0.as_deref(), tls.as_ref()).await {
        Ok(t) => Outcome::Ready(Arc::new(t)),
        Err(DeployError::InvalidUrl { url }) => Outcome::Invalid { url },
        Err(DeployError::Unreachable { url, reason }) => Outcome::Failed { url, reason },
        Err(other) => Outcome::Failed {
            url: key.0.clone().unwrap_or_default(),
            reason: other.to_string(),
        },
    };
    {
        let mut slots = slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Outcome::Invalid { .. } = outcome {
            slots.remove(&key);
        } else {
            let settled = Slot::Settled {
                at: Instant::now(),
                outcome: outcome.clone(),
            };
            slots.insert(key, settled);
        }
    }
    let _ = tx.send(Some(outcome));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wizards_ingress_class_and_issuer_go_with_the_revision() {
        let targets = Targets::new(None);
        let draft = crate::wizard::TargetDraft {
            kube_source: "in-cluster".into(),
            kube_namespace: "chat".into(),
            kube_ingress_class: "traefik".into(),
            kube_issuer: "corp-acme".into(),
            ..Default::default()
        };
        let settings = targets.settings_for(stack::model::TargetKind::Kubernetes, &draft);
        assert_eq!(
            settings,
            TargetSettings::Kubernetes {
                in_cluster: true,
                context: None,
                namespace: "chat".into(),
                ingress_class: Some("traefik".into()),
                issuer: Some("corp-acme".into()),
            }
        );
        // The defaults are not written: older revisions read the same.
        let plain = targets.settings_for(
            stack::model::TargetKind::Kubernetes,
            &crate::wizard::TargetDraft::default(),
        );
        let json = serde_json::to_string(&plain).unwrap();
        assert!(
            !json.contains("ingress_class") && !json.contains("issuer"),
            "{json}"
        );
        let old: TargetSettings = serde_json::from_str(
            r#"{"kind":"kubernetes","in_cluster":false,"context":null,"namespace":"stoat"}"#,
        )
        .unwrap();
        assert_eq!(old, plain);
        assert!(valid_issuer("letsencrypt-prod") && valid_issuer(""));
        assert!(!valid_issuer("Corp ACME") && !valid_issuer("-x"));
    }

    #[test]
    fn plain_tcp_is_flagged_only_for_other_machines() {
        for elsewhere in [
            "tcp://192.0.2.7:2375",
            "tcp://dockerbox:2375",
            "http://10.0.0.5:2375",
        ] {
            assert!(super::plain_tcp_elsewhere(elsewhere), "{elsewhere}");
        }
        for here in [
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
            "unix:///var/run/docker.sock",
            "/var/run/docker.sock",
        ] {
            assert!(!super::plain_tcp_elsewhere(here), "{here}");
        }
    }

    use super::parse_docker_url;

    mod connections {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        use super::super::Targets;
        use crate::deploy::{DeployError, DockerTarget};

        /// The error of a connect that must not succeed.
        fn refused(result: Result<Arc<DockerTarget>, DeployError>) -> DeployError {
            match result {
                Ok(t) => panic!("connected to {}, which is no daemon", t.url()),
                Err(e) => e,
            }
        }

        /// A "daemon" on loopback that accepts connections and then either
        /// never answers (`hang`) or hangs up at once; counts the connections.
        async fn fake_daemon(hang: bool) -> (String, Arc<AtomicUsize>) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("tcp://{}", listener.local_addr().unwrap());
            let seen = Arc::new(AtomicUsize::new(0));
            let count = seen.clone();
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    count.fetch_add(1, Ordering::SeqCst);
                    if hang {
                        held.push(socket);
                    }
                }
            });
            (url, seen)
        }

        #[tokio::test]
        async fn a_silent_daemon_makes_no_page_wait_and_is_asked_once() {
            let targets = Targets::new(None);
            let (silent, asked) = fake_daemon(true).await;
            let wait = Some(Duration::from_millis(300));
            let started = Instant::now();
            let (a, b) = tokio::join!(
                targets.docker_within(Some(&silent), None, wait),
                targets.docker_within(Some(&silent), None, wait),
            );
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
            for result in [a, b] {
                let err = refused(result);
                assert!(matches!(err, DeployError::Unreachable { .. }), "{err}");
                assert!(err.to_string().contains("keeps trying"), "{err}");
            }
            // Another address answers at once while the first still connects.
            let (closing, _) = fake_daemon(false).await;
            let started = Instant::now();
            let err = refused(targets.docker_within(Some(&closing), None, None).await);
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
            assert!(err.to_string().contains(&closing[6..]), "{err}");
            // Still one connection to the silent one: later pages join it.
            let _ = targets.docker_within(Some(&silent), None, wait).await;
            assert_eq!(asked.load(Ordering::SeqCst), 1);
        }

        #[tokio::test]
        async fn a_failed_connect_is_remembered_briefly() {
            let targets = Targets::new(None);
            let (url, asked) = fake_daemon(false).await;
            let first = refused(targets.docker(Some(&url)).await).to_string();
            let connections = asked.load(Ordering::SeqCst);
            assert!(connections >= 1);
            let again = refused(targets.docker(Some(&url)).await).to_string();
            assert_eq!(first, again);
            assert!(
                first.starts_with("cannot reach the Docker daemon at"),
                "{first}"
            );
            assert_eq!(
                asked.load(Ordering::SeqCst),
                connections,
                "answered from memory"
            );
        }
    }

    #[test]
    fn docker_addresses_as_the_docker_cli_takes_them() {
        assert_eq!(parse_docker_url("  "), Ok(None));
        for ok in [
            "unix:///var/run/docker.sock",
            "/var/run/docker.sock",
            "tcp://127.0.0.1:2375",
        ] {
            assert_eq!(parse_docker_url(ok), Ok(Some(ok.to_owned())), "{ok}");
        }
        for bad in [
            "http://nope",
            "tcp://",
            "unix://relative",
            "tcp://a b",
            "docker",
        ] {
            let err = parse_docker_url(bad).expect_err(bad);
            assert!(err.contains("unix:///path/to/docker.sock"), "{err}");
        }
    }
}
