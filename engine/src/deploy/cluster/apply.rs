//! Applying a plan to a namespace, and removing a stack from it.
//!
//! 1. Read what exists of every object; refuse, before anything changes,
//!    a StatefulSet whose claim templates would change.
//! 2. Dry-run every apply (the API server validates each object, strictly,
//!    and reports field conflicts) while nothing has changed yet.
//! 3. `Planned`: each workload created, changed (its generation moves) or
//!    unchanged, and what is pruned.
//! 4. Apply for real in dependency order (a changed Job deleted first: its
//!    template cannot change), then prune.
//! 5. Wait for each workload to roll out; a failure names the workload
//!    with its pods' last events and log lines.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event as KEvent, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, ValidationDirective,
};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::objects::{self, Kind, Object, RolledOut, MANAGER};
use super::KubeTarget;
use crate::deploy::{
    ApplyOptions, ApplyReport, ChangeAction, DeployError, DeployRequest, PlannedChange,
    ProgressEvent,
};

/// How long a workload may take to roll out when nothing else says.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

fn failed(
    progress: &UnboundedSender<ProgressEvent>,
    service: Option<&str>,
    e: DeployError,
) -> DeployError {
    let _ = progress.send(ProgressEvent::Failed {
        service: service.map(str::to_owned),
        message: e.summary(),
        last_logs: e.last_logs().to_vec(),
    });
    e
}

fn params(dry_run: bool) -> PatchParams {
    let p = PatchParams::apply(MANAGER).validation(ValidationDirective::Strict);
    if dry_run {
        p.dry_run()
    } else {
        p
    }
}

impl KubeTarget {
    async fn get(&self, kind: Kind, name: &str) -> Result<Option<Value>, DeployError> {
        let found = self
            .api(kind)
            .get_opt(name)
            .await
            .map_err(DeployError::kube(format!("reading {kind:?} {name}")))?;
        Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
    }

    /// Server-side apply of `object`; the object as the API server has it.
    async fn put(&self, object: &Object, dry_run: bool) -> Result<Value, DeployError> {
        match self
            .api(object.kind)
            .patch(&object.name, &params(dry_run), &Patch::Apply(&object.body))
            .await
        {
            Ok(o) => Ok(serde_json::to_value(o).unwrap_or(Value::Null)),
            Err(kube::Error::Api(r)) if r.code == 409 => Err(DeployError::Conflict {
                message: objects::conflict_sentence(object.kind, &object.name, &r.message),
            }),
            Err(e) => Err(DeployError::kube(format!(
                "applying {:?} {}",
                object.kind, object.name
            ))(e)),
        }
    }

    /// The namespace: `Ok(None)` when it does not exist, `Some(Null)`
    /// when it exists but may not be read (an account allowed only into
    /// it, by a Role as Burrow's own manifests give it: then it exists, or
    /// the Role could not be there).
    async fn namespace_object(&self) -> Result<Option<Value>, DeployError> {
        match self.api(Kind::Namespace).get_opt(&self.namespace).await {
            Ok(found) => Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null))),
            Err(kube::Error::Api(r)) if r.code == 403 => Ok(Some(Value::Null)),
            Err(e) => Err(DeployError::kube(format!(
                "reading namespace {}",
                self.namespace
            ))(e)),
        }
    }

    /// Names of `kind`'s objects labelled with `stack`.
    async fn labelled(&self, kind: Kind, stack: &str) -> Result<Vec<String>, DeployError> {
        let list = self
            .api(kind)
            .list(&ListParams::default().labels(&objects::selector(stack)))
            .await
            .map_err(DeployError::kube(format!("listing the stack's {kind:?}s")))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect())
    }

    async fn delete(&self, kind: Kind, name: &str) -> Result<(), DeployError> {
        match self
            .api(kind)
            .delete(name, &DeleteParams::foreground())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(r)) if r.code == 404 => Ok(()),
            Err(e) => Err(DeployError::kube(format!("deleting {kind:?} {name}"))(e)),
        }
    }

    /// Waits until `kind` `name` is gone (a foreground deletion ends when
    /// its pods have).
    async fn gone(&self, kind: Kind, name: &str, until: Instant) -> Result<(), DeployError> {
        while self.get(kind, name).await?.is_some() {
            if Instant::now() >= until {
                return Err(DeployError::Conflict {
                    message: format!("{kind:?} {name} is still being deleted: deploy again soon"),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
        Ok(())
    }

    /// The last events and log lines of `service`'s pods, for a failure.
    async fn diagnose(&self, service: &str) -> Vec<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let events: Api<KEvent> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut out = Vec::new();
        let Ok(list) = pods
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/name={service}")))
            .await
        else {
            return out;
        };
        for pod in list.items {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if let Ok(evs) = events
                .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
                .await
            {
                let mut evs = evs.items;
                evs.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
                for e in evs.iter().rev().take(3).rev() {
                    out.push(format!(
                        "{name}: {} {}",
                        e.reason.clone().unwrap_or_default(),
                        e.message.clone().unwrap_or_default()
                    ));
                }
            }
            let logs = LogParams {
                tail_lines: Some(10),
                ..LogParams::default()
            };
            if let Ok(text) = pods.logs(&name, &logs).await {
                out.extend(text.lines().map(|l| format!("{name}: {l}")));
            }
        }
        out
    }

    /// Waits for workload `object` to roll out, within `wait`.
    async fn wait(
        &self,
        object: &Object,
        wait: Duration,
        deadline: Option<Instant>,
    ) -> Result<(), DeployError> {
        let begun = Instant::now();
        let until = deadline.map_or(begun + wait, |d| d.min(begun + wait));
        loop {
            let now = self.get(object.kind, &object.name).await?;
            let state = match &now {
                Some(o) => objects::rolled_out(object.kind, o),
                None => RolledOut::Failed("it was deleted while Burrow waited for it".to_owned()),
            };
            match state {
                RolledOut::Ready => return Ok(()),
                RolledOut::Failed(why) => {
                    return Err(DeployError::ServiceFailed {
                        service: object.name.clone(),
                        reason: why,
                        last_logs: self.diagnose(&object.name).await,
                    })
                }
                RolledOut::Waiting(what) if Instant::now() >= until => {
                    return Err(DeployError::ServiceFailed {
                        service: object.name.clone(),
                        reason: format!(
                            "did not roll out within {} s ({what})",
                            begun.elapsed().as_secs()
                        ),
                        last_logs: self.diagnose(&object.name).await,
                    });
                }
                RolledOut::Waiting(_) => {}
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

pub(super) async fn apply(
    t: &KubeTarget,
    req: &DeployRequest,
    opts: &ApplyOptions,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<ApplyReport, DeployError> {
    let begun = Instant::now();
    let stack = req.stack.as_str();
    let tls = objects::tls_pair(&req.host_files);
    let desired = objects::desired(&req.plan.kubernetes, stack, &t.namespace, tls, &t.ingress)
        .map_err(|message| failed(progress, None, DeployError::InvalidPlan { message }))?;

    // 1. What exists; refusals before anything changes.
    let namespace = t
        .namespace_object()
        .await
        .map_err(|e| failed(progress, None, e))?;
    if let Some(message) = namespace
        .as_ref()
        .and_then(|ns| objects::pod_security_refusal(ns, &desired))
    {
        return Err(failed(progress, None, DeployError::Conflict { message }));
    }
    let namespace_exists = namespace.is_some();
    let mut existing: BTreeMap<(Kind, String), Value> = BTreeMap::new();
    for o in desired.iter().filter(|o| o.kind != Kind::Namespace) {
        if !namespace_exists {
            break;
        }
        if let Some(found) = t
            .get(o.kind, &o.name)
            .await
            .map_err(|e| failed(progress, None, e))?
        {
            if let Some(message) = objects::claim_templates_changed(&found, o) {
                return Err(failed(
                    progress,
                    Some(&o.name),
                    DeployError::Conflict { message },
                ));
            }
            existing.insert((o.kind, o.name.clone()), found);
        }
    }
    let recreate = |o: &Object| {
        existing
            .get(&(o.kind, o.name.clone()))
            .is_some_and(|e| objects::job_changed(e, o))
    };

    // 2. Every apply dry-run first (in a namespace that exists: a new one
    // has nothing to conflict with), so a refusal changes nothing.
    let mut changes = Vec::new();
    for o in desired.iter().filter(|o| o.kind != Kind::Namespace) {
        let before = existing.get(&(o.kind, o.name.clone()));
        let action = if before.is_none() {
            ChangeAction::Create
        } else if recreate(o) {
            ChangeAction::Recreate
        } else if namespace_exists {
            let after = t
                .put(o, true)
                .await
                .map_err(|e| failed(progress, Some(&o.name), e))?;
            let generation = |v: &Value| v["metadata"]["generation"].as_i64();
            if before.and_then(generation) != generation(&after) {
                ChangeAction::Recreate
            } else {
                ChangeAction::Unchanged
            }
        } else {
            ChangeAction::Create
        };
        if o.kind.is_workload() {
            changes.push(PlannedChange {
                service: o.name.clone(),
                action,
            });
        }
    }
    let mut present = Vec::new();
    if namespace_exists {
        for kind in Kind::PRUNED
            .into_iter()
            .chain([Kind::PersistentVolumeClaim])
        {
            for name in t
                .labelled(kind, stack)
                .await
                .map_err(|e| failed(progress, None, e))?
            {
                present.push((kind, name));
            }
        }
    }
    let prune = objects::to_prune(&present, &desired, opts.prune_volumes);
    for (kind, name) in &prune {
        if kind.is_workload() {
            changes.push(PlannedChange {
                service: name.clone(),
                action: ChangeAction::Remove,
            });
        }
    }
    let _ = progress.send(ProgressEvent::Planned {
        changes: changes.clone(),
    });

    // 3. Apply in order, then prune.
    let mut report = ApplyReport::default();
    for o in &desired {
        if o.kind == Kind::Namespace && namespace_exists {
            continue;
        }
        let action = changes
            .iter()
            .find(|c| c.service == o.name && o.kind.is_workload())
            .map(|c| c.action);
        if o.kind.is_workload() && action != Some(ChangeAction::Unchanged) {
            let _ = progress.send(ProgressEvent::Creating {
                service: o.name.clone(),
            });
        }
        if recreate(o) {
            t.delete(o.kind, &o.name)
                .await
                .map_err(|e| failed(progress, Some(&o.name), e))?;
            t.gone(o.kind, &o.name, Instant::now() + Duration::from_secs(120))
                .await
                .map_err(|e| failed(progress, Some(&o.name), e))?;
        }
        t.put(o, false)
            .await
            .map_err(|e| failed(progress, Some(&o.name), e))?;
        match action {
            Some(ChangeAction::Create) => report.created.push(o.name.clone()),
            Some(ChangeAction::Recreate) => report.recreated.push(o.name.clone()),
            Some(_) => {
                report.unchanged.push(o.name.clone());
                let _ = progress.send(ProgressEvent::Unchanged {
                    service: o.name.clone(),
                });
            }
            None => {}
        }
    }
    let mut claims = Vec::new();
    for (kind, name) in &prune {
        t.delete(*kind, name)
            .await
            .map_err(|e| failed(progress, None, e))?;
        if kind.is_workload() {
            report.removed.push(name.clone());
            let _ = progress.send(ProgressEvent::Removed {
                service: name.clone(),
            });
        }
        if *kind == Kind::PersistentVolumeClaim {
            claims.push(name.clone());
        }
    }
    if !claims.is_empty() {
        report.removed_volumes = claims.clone();
        let _ = progress.send(ProgressEvent::VolumesRemoved { volumes: claims });
    }

    // 4. Every workload rolled out, in order.
    for o in desired.iter().filter(|o| o.kind.is_workload()) {
        let _ = progress.send(ProgressEvent::WaitingHealthy {
            service: o.name.clone(),
        });
        let waited = Instant::now();
        let wait = opts
            .health_timeouts
            .get(&o.name)
            .copied()
            .or(opts.health_timeout)
            .unwrap_or(DEFAULT_WAIT);
        t.wait(o, wait, opts.deadline)
            .await
            .map_err(|e| failed(progress, Some(&o.name), e))?;
        let _ = progress.send(if o.kind == Kind::Job {
            ProgressEvent::Completed {
                service: o.name.clone(),
            }
        } else {
            ProgressEvent::Healthy {
                service: o.name.clone(),
                after_ms: u64::try_from(waited.elapsed().as_millis()).unwrap_or(u64::MAX),
            }
        });
    }
    report.elapsed = begun.elapsed();
    let _ = progress.send(report.finished());
    Ok(report)
}

/// Every object of `req` dry-run against the API server (strict field
/// validation, admission, conflicts), nothing changed; how many. The
/// namespace must exist.
pub(super) async fn validate(t: &KubeTarget, req: &DeployRequest) -> Result<usize, DeployError> {
    let tls = objects::tls_pair(&req.host_files);
    let desired = objects::desired(
        &req.plan.kubernetes,
        req.stack.as_str(),
        &t.namespace,
        tls,
        &t.ingress,
    )
    .map_err(|message| DeployError::InvalidPlan { message })?;
    let mut checked = 0;
    for o in desired.iter().filter(|o| o.kind != Kind::Namespace) {
        t.put(o, true).await?;
        checked += 1;
    }
    Ok(checked)
}

/// Deletes every object of `stack` (its claims too when `volumes`); the
/// namespace stays (it may hold other things). The workloads removed.
pub(super) async fn remove(
    t: &KubeTarget,
    stack: &str,
    volumes: bool,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<Vec<String>, DeployError> {
    let begun = Instant::now();
    let mut removed = Vec::new();
    let kinds = Kind::PRUNED
        .into_iter()
        .chain(volumes.then_some(Kind::PersistentVolumeClaim));
    for kind in kinds {
        for name in t.labelled(kind, stack).await? {
            t.delete(kind, &name).await?;
            if kind.is_workload() {
                let _ = progress.send(ProgressEvent::Removed {
                    service: name.clone(),
                });
                removed.push(name);
            }
        }
    }
    let _ = progress.send(ProgressEvent::Finished {
        created: 0,
        recreated: 0,
        unchanged: 0,
        removed: u32::try_from(removed.len()).unwrap_or(u32::MAX),
        elapsed_ms: u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    Ok(removed)
}
