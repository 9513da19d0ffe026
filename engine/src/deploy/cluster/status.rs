//! A stack's pods as the dashboard's services, and their logs.

use std::sync::Arc;

use futures_util::stream::{self, BoxStream, StreamExt};
use futures_util::AsyncBufReadExt;
use k8s_openapi::api::core::v1::{Event as KEvent, Pod};
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};

use super::objects::selector;
use super::KubeTarget;
use crate::deploy::{ClusterEvent, DeployError, Health, LogLine, LogStream, ServiceStatus};

/// The label naming a pod's service (the renderer's).
const SERVICE_LABEL: &str = "app.kubernetes.io/name";

fn pods(t: &KubeTarget) -> Api<Pod> {
    Api::namespaced(t.client.clone(), &t.namespace)
}

async fn stack_pods(
    t: &KubeTarget,
    stack: &str,
    service: Option<&str>,
) -> Result<Vec<Pod>, DeployError> {
    let mut labels = selector(stack);
    if let Some(s) = service {
        labels.push_str(&format!(",{SERVICE_LABEL}={s}"));
    }
    Ok(pods(t)
        .list(&ListParams::default().labels(&labels))
        .await
        .map_err(DeployError::kube("listing the stack's pods"))?
        .items)
}

fn service_of(pod: &Pod) -> Option<String> {
    pod.metadata.labels.as_ref()?.get(SERVICE_LABEL).cloned()
}

/// One pod as a row (`now`: Unix seconds, for the uptime).
pub fn service_status(pod: &Pod, now: i64) -> Option<ServiceStatus> {
    let service = service_of(pod)?;
    let status = pod.status.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let container = status
        .container_statuses
        .clone()
        .unwrap_or_default()
        .into_iter()
        .next();
    let one_shot = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job");
    let state_of = container.as_ref().and_then(|c| c.state.clone());
    let (state, exit_code, started) = match &state_of {
        Some(s) if s.running.is_some() => (
            "running",
            None,
            s.running.as_ref().and_then(|r| r.started_at.clone()),
        ),
        Some(s) if s.terminated.is_some() => {
            let t = s.terminated.as_ref().expect("checked");
            ("exited", Some(i64::from(t.exit_code)), t.started_at.clone())
        }
        Some(s)
            if s.waiting
                .as_ref()
                .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff")) =>
        {
            ("restarting", None, None)
        }
        _ => ("created", None, None),
    };
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let probed = spec
        .containers
        .first()
        .is_some_and(|c| c.readiness_probe.is_some());
    let health = match (one_shot || !probed, ready, state) {
        (true, _, _) => Health::None,
        (false, true, _) => Health::Healthy,
        (false, false, "running") => Health::Starting,
        (false, false, _) => Health::Unhealthy,
    };
    let started_at = started.as_ref().map(|t| t.0.to_rfc3339());
    let uptime_secs = (state == "running")
        .then(|| started.as_ref().map(|t| now - t.0.timestamp()))
        .flatten()
        .map(|s| u64::try_from(s).unwrap_or(0));
    Some(ServiceStatus {
        service,
        container: pod.metadata.name.clone().unwrap_or_default(),
        state: state.to_owned(),
        health,
        restart_count: container
            .as_ref()
            .map_or(0, |c| u64::try_from(c.restart_count).unwrap_or(0)),
        started_at,
        uptime_secs,
        image: spec
            .containers
            .first()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        ports: Vec::new(),
        exit_code,
        revision: None,
        one_shot,
        node: spec.node_name.clone(),
    })
}

/// Where `service` comes in the stack's dependency order (unknown last).
fn rank(service: &str) -> usize {
    stack::model::Service::ALL
        .iter()
        .position(|s| s.name() == service)
        .unwrap_or(usize::MAX)
}

/// Every pod of the stack as a row, in the stack's dependency order, a
/// service's pods oldest first; pods on their way out (deleted, still
/// stopping) are left out.
pub fn board<'a>(pods: impl IntoIterator<Item = &'a Pod>, now: i64) -> Vec<ServiceStatus> {
    let mut live: Vec<&Pod> = pods
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    live.sort_by_key(|p| {
        (
            service_of(p).map_or(usize::MAX, |s| rank(&s)),
            p.metadata.creation_timestamp.clone().map(|t| t.0),
            p.metadata.name.clone(),
        )
    });
    live.into_iter()
        .filter_map(|p| service_status(p, now))
        .collect()
}

/// Every pod of `stack`, once.
pub(super) async fn status(t: &KubeTarget, stack: &str) -> Result<Vec<ServiceStatus>, DeployError> {
    Ok(board(&stack_pods(t, stack, None).await?, crate::now_unix()))
}

/// The objects `watcher` sees, as a whole each time it changed: the
/// list-then-watch of kube's reflector (a relist after the watch broke,
/// with its back-off), so nothing is asked for again on a timer.
fn mirrored<K>(
    api: Api<K>,
    config: watcher::Config,
) -> BoxStream<'static, Result<Vec<Arc<K>>, watcher::Error>>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    reflector(writer, watcher(api, config).default_backoff())
        // Changes that arrive together (a rollout's pods) are one snapshot.
        .ready_chunks(64)
        .filter_map(move |events| {
            let whole = events.iter().any(|e| {
                matches!(
                    e,
                    Ok(watcher::Event::Apply(_)
                        | watcher::Event::Delete(_)
                        | watcher::Event::InitDone)
                )
            });
            futures_util::future::ready(match events.into_iter().find_map(Result::err) {
                Some(e) => Some(Err(e)),
                // A (re)list in progress: the store swaps at its end.
                None if !whole => None,
                None => Some(Ok(reader.state())),
            })
        })
        .boxed()
}

/// `items` as they come, each only when it differs from the one before
/// under `key` (errors always).
fn changes<T: Clone + Send + 'static, K: PartialEq + Send + 'static>(
    items: BoxStream<'static, Result<T, DeployError>>,
    key: impl Fn(&T) -> K + Send + 'static,
) -> BoxStream<'static, Result<T, DeployError>> {
    let mut last: Option<K> = None;
    items
        .filter_map(move |item| {
            futures_util::future::ready(match item {
                Ok(v) => {
                    let k = key(&v);
                    if last.as_ref() == Some(&k) {
                        None
                    } else {
                        last = Some(k);
                        Some(Ok(v))
                    }
                }
                Err(e) => {
                    last = None;
                    Some(Err(e))
                }
            })
        })
        .boxed()
}

fn watch_failed(what: &str) -> impl Fn(watcher::Error) -> DeployError + '_ {
    move |e| DeployError::Kube {
        context: format!("watching {what}"),
        message: e.to_string(),
    }
}

/// The stack's pods as rows at once, then again whenever one changed
/// (uptime alone is not a change): from a watch, never a poll.
pub(super) fn watch(
    t: KubeTarget,
    stack: String,
) -> BoxStream<'static, Result<Vec<ServiceStatus>, DeployError>> {
    let config = watcher::Config::default().labels(&selector(&stack));
    let rows = mirrored(pods(&t), config)
        .map(|pods| {
            pods.map(|pods| board(pods.iter().map(AsRef::as_ref), crate::now_unix()))
                .map_err(watch_failed("the stack's pods"))
        })
        .boxed();
    changes(rows, |rows: &Vec<ServiceStatus>| {
        rows.iter()
            .cloned()
            .map(|mut s| {
                s.uptime_secs = None;
                s
            })
            .collect::<Vec<_>>()
    })
}

/// Where the stack's Ingress is reached, as its status has it: (address,
/// port), the port 443 unless the load balancer names one; or why there is
/// no address yet.
pub(super) async fn ingress_address(t: &KubeTarget, stack: &str) -> Result<(String, u16), String> {
    use k8s_openapi::api::networking::v1::Ingress;
    let ingresses: Api<Ingress> = Api::namespaced(t.client.clone(), &t.namespace);
    let found = ingresses
        .list(&ListParams::default().labels(&selector(stack)))
        .await
        .map_err(|e| DeployError::kube("reading the stack's Ingress")(e).to_string())?
        .items;
    let Some(ingress) = found.first() else {
        return Err(format!(
            "the stack has no Ingress in namespace {}: deploy it first",
            t.namespace
        ));
    };
    let entry = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .and_then(|list| list.first());
    let address = entry.and_then(|e| e.ip.clone().or_else(|| e.hostname.clone()));
    match (address, entry) {
        (Some(address), Some(entry)) => {
            let port = entry
                .ports
                .iter()
                .flatten()
                .next()
                .and_then(|p| u16::try_from(p.port).ok())
                .unwrap_or(443);
            Ok((address, port))
        }
        _ => Err(format!(
            "the Ingress {} has no address yet: no Ingress controller of class {} has taken it \
             up (is one installed in the cluster?)",
            ingress.metadata.name.as_deref().unwrap_or("?"),
            t.ingress.class
        )),
    }
}

/// How many of the namespace's events the dashboard shows.
pub const EVENTS_SHOWN: usize = 30;

/// When `e` last happened (older API servers fill `lastTimestamp`, newer
/// ones may set only `eventTime`).
fn last_seen(e: &KEvent) -> Option<k8s_openapi::chrono::DateTime<k8s_openapi::chrono::Utc>> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The newest [`EVENTS_SHOWN`] of `events`, newest first.
pub fn newest<'a>(events: impl IntoIterator<Item = &'a KEvent>) -> Vec<ClusterEvent> {
    let mut all: Vec<&KEvent> = events.into_iter().collect();
    all.sort_by_key(|e| std::cmp::Reverse((last_seen(e), e.metadata.name.clone())));
    all.into_iter()
        .take(EVENTS_SHOWN)
        .map(|e| {
            let about = &e.involved_object;
            ClusterEvent {
                kind: e.type_.clone().unwrap_or_else(|| "Normal".to_owned()),
                reason: e.reason.clone().unwrap_or_default(),
                object: format!(
                    "{}/{}",
                    about.kind.as_deref().unwrap_or("Object"),
                    about.name.as_deref().unwrap_or("?")
                ),
                message: e.message.clone().unwrap_or_default(),
                count: e.count.and_then(|c| u32::try_from(c).ok()).unwrap_or(1),
                last_seen: last_seen(e).map(|t| t.to_rfc3339()),
            }
        })
        .collect()
}

fn namespace_events(t: &KubeTarget) -> Api<KEvent> {
    Api::namespaced(t.client.clone(), &t.namespace)
}

/// The namespace's newest events, once.
pub(super) async fn events(t: &KubeTarget) -> Result<Vec<ClusterEvent>, DeployError> {
    let list = namespace_events(t)
        .list(&ListParams::default())
        .await
        .map_err(DeployError::kube("listing the namespace's events"))?;
    Ok(newest(&list.items))
}

/// The namespace's newest events at once, then whenever one is recorded.
pub(super) fn watch_events(
    t: KubeTarget,
) -> BoxStream<'static, Result<Vec<ClusterEvent>, DeployError>> {
    let shown = mirrored(namespace_events(&t), watcher::Config::default())
        .map(|events| {
            events
                .map(|events| newest(events.iter().map(AsRef::as_ref)))
                .map_err(watch_failed("the namespace's events"))
        })
        .boxed();
    changes(shown, Clone::clone)
}

/// "2026-12-06T04:00:00.123456789Z text" (the API server's timestamps).
fn line(service: &str, raw: &str) -> LogLine {
    let (timestamp, text) = match raw.split_once(' ') {
        Some((t, rest)) if t.len() >= 20 && t.as_bytes().get(4) == Some(&b'-') => {
            (Some(t.to_owned()), rest)
        }
        _ => (None, raw),
    };
    LogLine {
        service: service.to_owned(),
        stream: LogStream::Stdout,
        timestamp,
        text: text.to_owned(),
    }
}

/// The last `tail` lines of the service's pods (or every service's),
/// merged by time; with `follow`, then each new line of every pod and
/// container, as [`follow`] finds them.
pub(super) fn logs(
    t: KubeTarget,
    stack: String,
    service: Option<String>,
    tail: usize,
    follow: bool,
) -> BoxStream<'static, Result<LogLine, DeployError>> {
    if follow {
        return self::follow(t, stack, service, tail);
    }
    let read = async move {
        let found = stack_pods(&t, &stack, service.as_deref()).await?;
        let api = pods(&t);
        let mut lines = Vec::new();
        for pod in &found {
            let (Some(name), Some(service)) = (pod.metadata.name.clone(), service_of(pod)) else {
                continue;
            };
            let params = LogParams {
                tail_lines: Some(i64::try_from(tail).unwrap_or(i64::MAX)),
                timestamps: true,
                ..LogParams::default()
            };
            let text = api
                .logs(&name, &params)
                .await
                .map_err(DeployError::kube(format!("reading the logs of {name}")))?;
            lines.extend(text.lines().map(|l| line(&service, l)));
        }
        lines.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
        Ok::<_, DeployError>(stream::iter(lines.into_iter().map(Ok)).boxed())
    };
    stream::once(read)
        .flat_map(|s| match s {
            Ok(lines) => lines,
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        })
        .boxed()
}

/// A container of a pod, in one of its runs (a restart is a new run).
type Run = (String, String, i32);

/// The containers of `pod` that have started, each in its current run.
fn started_runs(pod: &Pod) -> Vec<Run> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    pod.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter(|c| {
            c.state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
        })
        .map(|c| (name.clone(), c.name.clone(), c.restart_count))
        .collect()
}

/// Every container of the stack's pods followed, each from a watch of
/// the pods: the last `tail` lines of those running now, then every line
/// of pods and restarted containers that appear later (a rollout's new
/// pods, a crash loop's next run). Ends when the reader goes away.
fn follow(
    t: KubeTarget,
    stack: String,
    service: Option<String>,
    tail: usize,
) -> BoxStream<'static, Result<LogLine, DeployError>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<LogLine, DeployError>>(256);
    tokio::spawn(async move {
        let mut labels = selector(&stack);
        if let Some(s) = &service {
            labels.push_str(&format!(",{SERVICE_LABEL}={s}"));
        }
        let mut pod_events = watcher(pods(&t), watcher::Config::default().labels(&labels))
            .default_backoff()
            .boxed();
        let mut followed: std::collections::BTreeSet<Run> = Default::default();
        let mut followers = tokio::task::JoinSet::new();
        // Pods listed at the start show their tail; later ones all they wrote.
        let mut listing = true;
        loop {
            let event = tokio::select! {
                e = pod_events.next() => e,
                () = tx.closed() => break,
            };
            let pod = match event {
                None => break,
                Some(Ok(watcher::Event::InitApply(p) | watcher::Event::Apply(p))) => p,
                Some(Ok(watcher::Event::InitDone)) => {
                    listing = false;
                    continue;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    if tx
                        .send(Err(watch_failed("the stack's pods")(e)))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            };
            let Some(service) = service_of(&pod) else {
                continue;
            };
            for run in started_runs(&pod) {
                if !followed.insert(run.clone()) {
                    continue;
                }
                let (pod_name, container, _) = run;
                let params = LogParams {
                    container: Some(container),
                    tail_lines: listing.then(|| i64::try_from(tail).unwrap_or(i64::MAX)),
                    timestamps: true,
                    follow: true,
                    ..LogParams::default()
                };
                let (api, tx, service) = (pods(&t), tx.clone(), service.clone());
                followers.spawn(async move {
                    let reader = match api.log_stream(&pod_name, &params).await {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = tx
                                .send(Err(DeployError::kube(format!(
                                    "reading the logs of {pod_name}"
                                ))(e)))
                                .await;
                            return;
                        }
                    };
                    let mut lines = reader.lines();
                    while let Some(l) = lines.next().await {
                        let item = l
                            .map(|l| line(&service, &l))
                            .map_err(|e| DeployError::Kube {
                                context: format!("following the logs of {pod_name}"),
                                message: e.to_string(),
                            });
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
        followers.abort_all();
    });
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_keeps_the_api_servers_timestamp() {
        let l = line("api", "2026-12-06T04:00:00.123456789Z listening on :14702");
        assert_eq!(
            l.timestamp.as_deref(),
            Some("2026-12-06T04:00:00.123456789Z")
        );
        assert_eq!(l.text, "listening on :14702");
        assert_eq!(line("api", "plain text").timestamp, None);
    }
}
