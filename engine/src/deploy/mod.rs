//! Deploy targets: turn a rendered [`stack::Plan`] into running services,
//! report their state and stream their logs.
//!
//! Everything here is independent of where the stack runs; [`docker`] is the
//! Docker implementation of [`Target`], [`cluster`] the Kubernetes one. A target
//! reports what it does as [`ProgressEvent`]s on a channel, so the CLI, the
//! SSE endpoint and the stored progress of a deploy all read the same events.
//! Events, service status and log lines are the `wire` crate's types: the
//! pages read exactly what a target produced.

pub mod cluster;
pub mod docker;
mod error;
mod preflight;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

pub use cluster::KubeTarget;
pub use docker::{DockerTarget, DockerTls, TlsPart};
pub use error::DeployError;
pub use preflight::check_plan;
/// A stack's name: the prefix of every container (`<stack>-<service>`),
/// volume (`<stack>_<volume>`) and the network (`<stack>`) it owns.
pub use stack::model::StackName;
pub use wire::{
    ChangeAction, ClusterEvent, Health, LogLine, LogStream, PlannedChange, ProgressEvent,
    PullTally, ServiceStatus,
};

/// One revision of a stack, ready to apply.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub stack: StackName,
    /// The config revision this plan was rendered from (stored on every
    /// container it creates).
    pub revision: i64,
    pub plan: stack::Plan,
    /// Contents for `Mount::Host` sources Burrow produces itself (the
    /// self-signed TLS pair: `./tls/cert.pem`, `./tls/key.pem`), delivered into
    /// the container like config files. Other `Mount::Host` sources are
    /// bind-mounted read-only from that absolute path on the daemon's host.
    pub host_files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// How long one service may take to become healthy (or, for a one-shot,
    /// to complete). `None`: from each service's health check,
    /// `start_period + interval * retries`, at least 60 s.
    pub health_timeout: Option<Duration>,
    /// Per service name: its own time to turn healthy (a release's
    /// `health.<service>.deadline_s`), over `health_timeout`.
    pub health_timeouts: BTreeMap<String, Duration>,
    /// No service is waited for past this instant (an update's bound).
    pub deadline: Option<std::time::Instant>,
    /// Also delete the stack's volumes that no service of the plan uses any
    /// more (the data of services turned off). Off: they are kept, so
    /// turning a service back on finds its data again.
    pub prune_volumes: bool,
    /// A rollout's id: a container to be replaced (or removed) is parked
    /// instead (stopped, renamed `<name>--parked-<id>`, kept with its
    /// image) and new containers are labelled with the id, so
    /// [`Target::unpark`] can put the exact previous containers back and
    /// [`Target::drop_parked`] can commit.
    pub park: Option<String>,
    /// How long the old container of a service switched without downtime
    /// keeps serving what reached it (`None`: `BURROW_DRAIN_S`, else 30 s).
    pub drain: Option<Duration>,
}

/// What an apply did, by service name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub created: Vec<String>,
    pub recreated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Volumes deleted with [`ApplyOptions::prune_volumes`].
    pub removed_volumes: Vec<String>,
    pub elapsed: Duration,
}

impl ApplyReport {
    /// The `Finished` event that ends a successful apply.
    pub fn finished(&self) -> ProgressEvent {
        let count = |v: &Vec<String>| u32::try_from(v.len()).unwrap_or(u32::MAX);
        ProgressEvent::Finished {
            created: count(&self.created),
            recreated: count(&self.recreated),
            unchanged: count(&self.unchanged),
            removed: count(&self.removed),
            elapsed_ms: u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// The daemon's version, e.g. `20.10.24+dfsg1`.
    pub version: String,
    /// The API version Burrow speaks with it (negotiated down to the
    /// daemon's, e.g. `1.41`).
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

/// Where a stack runs.
#[async_trait::async_trait]
pub trait Target: Send + Sync {
    /// Brings the stack to `req.plan`: pulls missing images, then creates,
    /// recreates, starts or removes services, dependencies first, independent
    /// ones in parallel, each waiting for what it depends on.
    ///
    /// Events: `Planned` first; `Finished` last on success. Every error is
    /// preceded by at least one `Failed` event (one per failing service).
    async fn apply(
        &self,
        req: &DeployRequest,
        opts: &ApplyOptions,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<ApplyReport, DeployError>;

    /// One snapshot of the services that exist (containers of the stack),
    /// in dependency order. HTTP/TCP health is Burrow's own probe, run now.
    async fn status(&self, stack: &str) -> Result<Vec<ServiceStatus>, DeployError>;

    /// A snapshot at once, then one each time something changed (uptime
    /// alone is not a change): looked at when the target reports a change
    /// (Docker's event stream) and every `every` for what it does not
    /// report. Errors are yielded and watching goes on.
    fn watch_status(
        &self,
        stack: &str,
        every: Duration,
    ) -> BoxStream<'static, Result<Vec<ServiceStatus>, DeployError>>;

    /// Where the stack is reached from outside when that is not Caddy's
    /// published port: a cluster's Ingress address (host, port) as its
    /// status has it, or why there is none yet. `None`: the default way
    /// in (Docker).
    async fn ingress_address(&self, stack: &str) -> Option<Result<(String, u16), String>> {
        let _ = stack;
        None
    }

    /// The events the target records about the stack, newest first (a
    /// cluster's events in its namespace); `None` for a target that keeps
    /// none (Docker: its events are the status above).
    async fn events(&self, stack: &str) -> Option<Result<Vec<ClusterEvent>, DeployError>> {
        let _ = stack;
        None
    }

    /// [`Target::events`] at once, then again each time one is recorded;
    /// `None` where [`Target::events`] is.
    fn watch_events(
        &self,
        stack: &str,
    ) -> Option<BoxStream<'static, Result<Vec<ClusterEvent>, DeployError>>> {
        let _ = stack;
        None
    }

    /// The last `tail` lines of one service (`Some`) or of all, merged in time
    /// order (`None`); with `follow`, then every new line as it comes, across
    /// restarts and recreations. The stream starts reading when first polled.
    fn logs(
        &self,
        stack: &str,
        service: Option<&str>,
        tail: usize,
        follow: bool,
    ) -> BoxStream<'static, Result<LogLine, DeployError>>;

    /// Undoes rollout `rollout`: for every container it parked, what runs
    /// under that name now is removed and the parked one renamed back and
    /// started (one-shots stay stopped). Idempotent, and nothing once the
    /// rollout is committed. (Services a release added are removed by
    /// applying the previous revision again.) The services put back.
    ///
    /// A service switched without downtime on the way in goes back the
    /// same way: its old container started beside the new one, Caddy
    /// pointed back at it, the new one drained for `drain` (`None`:
    /// `BURROW_DRAIN_S`, else 30 s), then removed.
    async fn unpark(
        &self,
        stack: &str,
        rollout: &str,
        drain: Option<Duration>,
    ) -> Result<Vec<String>, DeployError> {
        let _ = (stack, rollout, drain);
        Err(DeployError::Unsupported {
            message: "this target cannot roll back parked containers".to_owned(),
        })
    }

    /// Commits rollout `rollout`: its parked containers removed.
    /// Idempotent. The services whose parked container went.
    async fn drop_parked(&self, stack: &str, rollout: &str) -> Result<Vec<String>, DeployError> {
        let _ = (stack, rollout);
        Err(DeployError::Unsupported {
            message: "this target cannot roll back parked containers".to_owned(),
        })
    }

    /// Stops and removes every container and the network of the stack; its
    /// volumes too if `remove_volumes`. Returns the removed services.
    async fn remove(
        &self,
        stack: &str,
        remove_volumes: bool,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<Vec<String>, DeployError>;
}
