//! A stack's pods as the dashboard's services, and their logs.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use futures_util::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use super::objects::selector;
use super::KubeTarget;
use crate::deploy::{DeployError, Health, LogLine, LogStream, ServiceStatus};

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

/// One pod as a service row (`now`: Unix seconds, for the uptime).
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
    })
}

/// Every service of `stack` with a pod: its newest pod.
pub(super) async fn status(t: &KubeTarget, stack: &str) -> Result<Vec<ServiceStatus>, DeployError> {
    let now = crate::now_unix();
    let mut newest: BTreeMap<String, Pod> = BTreeMap::new();
    for pod in stack_pods(t, stack, None).await? {
        let Some(service) = service_of(&pod) else {
            continue;
        };
        let created = |p: &Pod| p.metadata.creation_timestamp.clone().map(|t| t.0);
        if newest
            .get(&service)
            .is_none_or(|kept| created(kept) <= created(&pod))
        {
            newest.insert(service, pod);
        }
    }
    Ok(newest
        .values()
        .filter_map(|p| service_status(p, now))
        .collect())
}

/// A snapshot at once, then one whenever something but the uptimes
/// changed, looked at every `every`.
pub(super) fn watch(
    t: KubeTarget,
    stack: String,
    every: Duration,
) -> BoxStream<'static, Result<Vec<ServiceStatus>, DeployError>> {
    let same = |a: &[ServiceStatus], b: &[ServiceStatus]| {
        let strip = |v: &[ServiceStatus]| {
            v.iter()
                .cloned()
                .map(|mut s| {
                    s.uptime_secs = None;
                    s
                })
                .collect::<Vec<_>>()
        };
        strip(a) == strip(b)
    };
    stream::unfold(
        (t, stack, None::<Vec<ServiceStatus>>, true),
        move |(t, stack, last, first)| async move {
            loop {
                if !first || last.is_some() {
                    tokio::time::sleep(every).await;
                }
                match status(&t, &stack).await {
                    Ok(now) if last.as_deref().is_some_and(|l| same(l, &now)) => continue,
                    Ok(now) => return Some((Ok(now.clone()), (t, stack, Some(now), false))),
                    Err(e) => return Some((Err(e), (t, stack, last, false))),
                }
            }
        },
    )
    .boxed()
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
/// merged by time; with `follow`, then each new line of the pods running
/// now.
pub(super) fn logs(
    t: KubeTarget,
    stack: String,
    service: Option<String>,
    tail: usize,
    follow: bool,
) -> BoxStream<'static, Result<LogLine, DeployError>> {
    let started = async move {
        let found = stack_pods(&t, &stack, service.as_deref()).await?;
        let api = pods(&t);
        let mut lines = Vec::new();
        let mut streams = Vec::new();
        for pod in &found {
            let (Some(name), Some(service)) = (pod.metadata.name.clone(), service_of(pod)) else {
                continue;
            };
            let params = LogParams {
                tail_lines: Some(i64::try_from(tail).unwrap_or(i64::MAX)),
                timestamps: true,
                follow,
                ..LogParams::default()
            };
            if follow {
                let reader = api
                    .log_stream(&name, &params)
                    .await
                    .map_err(DeployError::kube(format!("reading the logs of {name}")))?;
                let service = service.clone();
                streams.push(
                    reader
                        .lines()
                        .map(move |l| {
                            l.map(|l| line(&service, &l))
                                .map_err(|e| DeployError::Kube {
                                    context: "following the logs".to_owned(),
                                    message: e.to_string(),
                                })
                        })
                        .boxed(),
                );
            } else {
                let text = api
                    .logs(&name, &params)
                    .await
                    .map_err(DeployError::kube(format!("reading the logs of {name}")))?;
                lines.extend(text.lines().map(|l| line(&service, l)));
            }
        }
        lines.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
        let tails = stream::iter(lines.into_iter().map(Ok));
        Ok::<_, DeployError>(tails.chain(stream::select_all(streams)).boxed())
    };
    stream::once(started)
        .flat_map(|s| match s {
            Ok(lines) => lines,
            Err(e) => stream::once(async move { Err(e) }).boxed(),
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
