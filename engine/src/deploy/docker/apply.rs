//! Apply: compare the plan with the stack's containers (by config hash), then
//! start every service in its own task that first waits for what it depends
//! on, so independent services start in parallel and dependents start as
//! soon as their dependencies are ready.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerStateStatusEnum, ContainerSummaryStateEnum};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::Docker;
use stack::render::{Condition, ServiceSpec};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::container::{config_hash, create_body, is_one_shot, Context};
use super::health::{default_timeout, wait_ready, Ready};
use super::images::{self, ImageFacts};
use super::{container_name, files, label, resources, stack_containers};
use crate::deploy::{
    check_plan, ApplyOptions, ApplyReport, ChangeAction, DeployError, DeployRequest, PlannedChange,
    ProgressEvent,
};

/// How far a service got, as its dependents see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    Pending,
    Started,
    /// Final for a long-running service.
    Healthy,
    /// Final for a one-shot.
    Completed,
    Failed,
}

fn satisfies(reached: Reached, condition: Condition) -> bool {
    use Reached::*;
    match condition {
        Condition::Started => matches!(reached, Started | Healthy | Completed),
        Condition::Healthy => matches!(reached, Healthy | Completed),
        Condition::Completed => reached == Completed,
    }
}

/// One service's part of the apply.
struct Step<'a> {
    spec: &'a ServiceSpec,
    action: ChangeAction,
    hash: String,
    image: &'a ImageFacts,
    /// The container to replace (recreate) or start.
    existing: Option<String>,
}

#[tracing::instrument(skip_all, fields(stack = %req.stack, revision = req.revision))]
pub(super) async fn apply(
    docker: &Docker,
    req: &DeployRequest,
    opts: &ApplyOptions,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<ApplyReport, DeployError> {
    let begun = Instant::now();
    let fail = |e: DeployError| {
        let _ = progress.send(ProgressEvent::Failed {
            service: e.service().map(str::to_string),
            message: e.summary(),
            last_logs: e.last_logs().to_vec(),
        });
        e
    };
    let stack = req.stack.as_str();
    let plan = &req.plan;
    check_plan(plan, &req.host_files).map_err(fail)?;
    let images = images::ensure(docker, plan, progress).await.map_err(fail)?;
    let existing = stack_containers(docker, stack).await.map_err(fail)?;
    let ctx = Context {
        stack,
        plan,
        host_files: &req.host_files,
        revision: req.revision,
    };

    let mut steps = Vec::new();
    for spec in &plan.services {
        let image = &images[spec.image.as_str()];
        let hash = config_hash(&ctx, spec, &image.id);
        let (action, existing_id) = match existing.get(&spec.name) {
            None => (ChangeAction::Create, None),
            Some(c) => {
                let id = c.id.clone().unwrap_or_default();
                let same = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(label::CONFIG_HASH))
                    .is_some_and(|h| *h == hash);
                let action = if same {
                    unchanged_or_start(docker, spec, &id, c.state)
                        .await
                        .map_err(fail)?
                } else {
                    ChangeAction::Recreate
                };
                (action, Some(id))
            }
        };
        steps.push(Step {
            spec,
            action,
            hash,
            image,
            existing: existing_id,
        });
    }
    let mut obsolete: Vec<(String, String)> = existing
        .iter()
        .filter(|(service, _)| plan.service(service).is_none())
        .map(|(service, c)| (service.clone(), c.id.clone().unwrap_or_default()))
        .collect();
    obsolete.sort();

    let mut changes: Vec<PlannedChange> = steps
        .iter()
        .map(|s| PlannedChange {
            service: s.spec.name.clone(),
            action: s.action,
        })
        .collect();
    changes.extend(obsolete.iter().map(|(service, _)| PlannedChange {
        service: service.clone(),
        action: ChangeAction::Remove,
    }));
    let _ = progress.send(ProgressEvent::Planned { changes });

    resources::ensure_network(docker, stack)
        .await
        .map_err(fail)?;
    resources::ensure_volumes(docker, stack, &plan.volumes)
        .await
        .map_err(fail)?;
    for (service, id) in &obsolete {
        resources::stop_and_remove(docker, id).await.map_err(fail)?;
        let _ = progress.send(ProgressEvent::Removed {
            service: service.clone(),
        });
    }

    let states: Vec<watch::Sender<Reached>> = steps
        .iter()
        .map(|_| watch::Sender::new(Reached::Pending))
        .collect();
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.spec.name.as_str(), i))
        .collect();
    let run = Run {
        docker,
        ctx: &ctx,
        opts,
        progress,
        states: &states,
        index: &index,
    };
    let results =
        futures_util::future::join_all(steps.iter().enumerate().map(|(i, s)| run.service(i, s)))
            .await;

    let mut report = ApplyReport::default();
    let mut root_cause = None;
    let mut dependency_failure = None;
    for (step, result) in steps.iter().zip(results) {
        match result {
            Ok(()) => {
                let list = match step.action {
                    ChangeAction::Create => &mut report.created,
                    ChangeAction::Recreate => &mut report.recreated,
                    _ => &mut report.unchanged,
                };
                list.push(step.spec.name.clone());
            }
            Err(e @ DeployError::DependencyFailed { .. }) => {
                dependency_failure.get_or_insert(e);
            }
            Err(e) => {
                root_cause.get_or_insert(e);
            }
        }
    }
    if let Some(e) = root_cause.or(dependency_failure) {
        return Err(e);
    }
    report.removed = obsolete.into_iter().map(|(s, _)| s).collect();
    report.elapsed = begun.elapsed();
    let count = |v: &Vec<String>| u32::try_from(v.len()).unwrap_or(u32::MAX);
    let _ = progress.send(ProgressEvent::Finished {
        created: count(&report.created),
        recreated: count(&report.recreated),
        unchanged: count(&report.unchanged),
        removed: count(&report.removed),
        elapsed_ms: millis(report.elapsed),
    });
    tracing::info!(
        created = report.created.len(),
        recreated = report.recreated.len(),
        unchanged = report.unchanged.len(),
        removed = report.removed.len(),
        elapsed_ms = millis(report.elapsed),
        "applied"
    );
    Ok(report)
}

/// A container whose configuration is unchanged: left alone when it runs
/// (or is a one-shot that completed), started when it stopped, recreated
/// when it was never started (its files may never have arrived).
async fn unchanged_or_start(
    docker: &Docker,
    spec: &ServiceSpec,
    id: &str,
    state: Option<ContainerSummaryStateEnum>,
) -> Result<ChangeAction, DeployError> {
    use ContainerSummaryStateEnum as S;
    Ok(match state {
        Some(S::RUNNING | S::RESTARTING) => ChangeAction::Unchanged,
        Some(S::EXITED) if is_one_shot(spec) => {
            let info = docker
                .inspect_container(id, None)
                .await
                .map_err(DeployError::docker(format!("inspecting {}", spec.name)))?;
            let state = info.state.unwrap_or_default();
            let completed = state.status == Some(ContainerStateStatusEnum::EXITED)
                && state.exit_code == Some(0);
            if completed {
                ChangeAction::Unchanged
            } else {
                ChangeAction::Start
            }
        }
        Some(S::EXITED) => ChangeAction::Start,
        _ => ChangeAction::Recreate,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What every service task shares.
struct Run<'a> {
    docker: &'a Docker,
    ctx: &'a Context<'a>,
    opts: &'a ApplyOptions,
    progress: &'a UnboundedSender<ProgressEvent>,
    states: &'a [watch::Sender<Reached>],
    index: &'a HashMap<&'a str, usize>,
}

impl Run<'_> {
    fn emit(&self, event: ProgressEvent) {
        let _ = self.progress.send(event);
    }

    /// Runs one service's step; its outcome is published to its dependents
    /// and, on failure, reported as a `Failed` event.
    async fn service(&self, i: usize, step: &Step<'_>) -> Result<(), DeployError> {
        let result = self.service_inner(i, step).await;
        match &result {
            Ok(reached) => {
                self.states[i].send_replace(*reached);
            }
            Err(e) => {
                self.states[i].send_replace(Reached::Failed);
                self.emit(ProgressEvent::Failed {
                    service: Some(step.spec.name.clone()),
                    message: e.summary(),
                    last_logs: e.last_logs().to_vec(),
                });
            }
        }
        result.map(drop)
    }

    async fn service_inner(&self, i: usize, step: &Step<'_>) -> Result<Reached, DeployError> {
        let spec = step.spec;
        let name = container_name(self.ctx.stack, &spec.name);
        let timeout = self
            .opts
            .health_timeout
            .unwrap_or_else(|| default_timeout(spec));
        if step.action == ChangeAction::Unchanged {
            let ready = wait_ready(
                self.docker,
                self.ctx.stack,
                &name,
                spec,
                timeout,
                self.progress,
            )
            .await?;
            self.emit(ProgressEvent::Unchanged {
                service: spec.name.clone(),
            });
            return Ok(reached(ready));
        }

        self.wait_for_dependencies(spec).await?;
        if let (ChangeAction::Recreate, Some(old)) = (step.action, &step.existing) {
            resources::stop_and_remove(self.docker, old).await?;
        }
        if step.action != ChangeAction::Start {
            self.emit(ProgressEvent::Creating {
                service: spec.name.clone(),
            });
            self.create(&name, step).await?;
        }
        self.docker
            .start_container(&name, None)
            .await
            .map_err(DeployError::docker(format!("starting {name}")))?;
        let started = Instant::now();
        self.states[i].send_replace(Reached::Started);
        self.emit(ProgressEvent::Started {
            service: spec.name.clone(),
        });

        let ready = wait_ready(
            self.docker,
            self.ctx.stack,
            &name,
            spec,
            timeout,
            self.progress,
        )
        .await?;
        self.emit(match ready {
            Ready::Healthy => ProgressEvent::Healthy {
                service: spec.name.clone(),
                after_ms: millis(started.elapsed()),
            },
            Ready::Completed => ProgressEvent::Completed {
                service: spec.name.clone(),
            },
        });
        Ok(reached(ready))
    }

    /// Returns once every dependency reached its condition, or fails as soon
    /// as one cannot.
    async fn wait_for_dependencies(&self, spec: &ServiceSpec) -> Result<(), DeployError> {
        for dep in &spec.depends_on {
            let j = self.index[dep.service.as_str()];
            let mut rx = self.states[j].subscribe();
            loop {
                let reached = *rx.borrow_and_update();
                if satisfies(reached, dep.condition) {
                    break;
                }
                match reached {
                    Reached::Failed => {
                        return Err(DeployError::DependencyFailed {
                            service: spec.name.clone(),
                            dependency: dep.service.clone(),
                        })
                    }
                    // Final, and not what the dependent waits for.
                    Reached::Healthy => {
                        return Err(DeployError::InvalidPlan {
                            message: format!(
                                "{} waits for {} to complete, but {} keeps running",
                                spec.name, dep.service, dep.service
                            ),
                        })
                    }
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(DeployError::DependencyFailed {
                        service: spec.name.clone(),
                        dependency: dep.service.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Creates the container and puts its files in; not started yet.
    async fn create(&self, name: &str, step: &Step<'_>) -> Result<(), DeployError> {
        let body = create_body(self.ctx, step.spec, &step.hash);
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => {}
            Err(BollardError::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                return Err(DeployError::Conflict {
                    message: format!(
                        "a container named {name} exists that is not part of stack {}: \
                         remove or rename it (docker rm -f {name}), then apply again",
                        self.ctx.stack
                    ),
                })
            }
            Err(e) => return Err(DeployError::docker(format!("creating {name}"))(e)),
        }
        let entries = files::entries(self.ctx, step.spec);
        files::deliver(self.docker, name, &step.image.user, &entries).await
    }
}

fn reached(ready: Ready) -> Reached {
    match ready {
        Ready::Healthy => Reached::Healthy,
        Ready::Completed => Reached::Completed,
    }
}
