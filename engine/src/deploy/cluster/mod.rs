//! The Kubernetes deploy target: the stack's objects applied with
//! server-side apply (field manager `burrow`) into the operator's
//! namespace, in dependency order; what the plan no longer has pruned by
//! the stack's label; every workload waited for until it has rolled out;
//! the pods read back as the dashboard's services and their logs.
//!
//! The decisions are pure ([`objects`]); this module and [`apply`] are the
//! thin I/O around them, speaking to whatever [`kube::Client`] is given (a
//! real cluster, or the tests' in-memory API server).

mod apply;
pub mod objects;
mod status;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::time::Duration;

use futures_util::stream::BoxStream;
use kube::api::{Api, DynamicObject};
use kube::Client;
use tokio::sync::mpsc::UnboundedSender;

use self::objects::Kind;
use super::{
    ApplyOptions, ApplyReport, ClusterEvent, DeployError, DeployRequest, LogLine, ProgressEvent,
    ServiceStatus, Target,
};

/// A namespace of a cluster, reached with `client`.
#[derive(Clone)]
pub struct KubeTarget {
    client: Client,
    namespace: String,
    /// How often a rollout is looked at while waiting for it.
    poll: Duration,
    ingress: objects::IngressSettings,
}

impl KubeTarget {
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            poll: Duration::from_secs(1),
            ingress: objects::IngressSettings::default(),
        }
    }

    /// The same target serving the Ingress with `settings`.
    pub fn ingress(mut self, settings: objects::IngressSettings) -> Self {
        self.ingress = settings;
        self
    }

    /// The same target looking at rollouts every `poll` (tests).
    pub fn polling(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Every object of `req` dry-run in the namespace (which must exist):
    /// the API server's own validation, nothing changed. How many.
    pub async fn validate(&self, req: &DeployRequest) -> Result<usize, DeployError> {
        apply::validate(self, req).await
    }

    fn api(&self, kind: Kind) -> Api<DynamicObject> {
        let resource = kind.resource();
        if kind == Kind::Namespace {
            Api::all_with(self.client.clone(), &resource)
        } else {
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
        }
    }
}

#[async_trait::async_trait]
impl Target for KubeTarget {
    async fn apply(
        &self,
        req: &DeployRequest,
        opts: &ApplyOptions,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<ApplyReport, DeployError> {
        apply::apply(self, req, opts, progress).await
    }

    async fn status(&self, stack: &str) -> Result<Vec<ServiceStatus>, DeployError> {
        status::status(self, stack).await
    }

    /// From a watch of the stack's pods: `every` is not needed.
    fn watch_status(
        &self,
        stack: &str,
        _every: Duration,
    ) -> BoxStream<'static, Result<Vec<ServiceStatus>, DeployError>> {
        status::watch(self.clone(), stack.to_owned())
    }

    async fn ingress_address(&self, stack: &str) -> Option<Result<(String, u16), String>> {
        Some(status::ingress_address(self, stack).await)
    }

    async fn events(&self, _stack: &str) -> Option<Result<Vec<ClusterEvent>, DeployError>> {
        Some(status::events(self).await)
    }

    fn watch_events(
        &self,
        _stack: &str,
    ) -> Option<BoxStream<'static, Result<Vec<ClusterEvent>, DeployError>>> {
        Some(status::watch_events(self.clone()))
    }

    fn logs(
        &self,
        stack: &str,
        service: Option<&str>,
        tail: usize,
        follow: bool,
    ) -> BoxStream<'static, Result<LogLine, DeployError>> {
        status::logs(
            self.clone(),
            stack.to_owned(),
            service.map(str::to_owned),
            tail,
            follow,
        )
    }

    async fn remove(
        &self,
        stack: &str,
        remove_volumes: bool,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<Vec<String>, DeployError> {
        apply::remove(self, stack, remove_volumes, progress).await
    }
}
