//! Apply: every image present first, then the plan compared with the stack's
//! containers (by config hash), obsolete services removed, and every service
//! started in its own task (`start`) that first waits for what it depends
//! on, so independent services start in parallel and dependents start as
//! soon as their dependencies are ready.

use std::collections::HashMap;
use std::time::Instant;

use bollard::models::{ContainerStateStatusEnum, ContainerSummaryStateEnum};
use bollard::Docker;
use stack::render::ServiceSpec;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::container::{config_hash, is_one_shot, Context};
use super::health;
use super::images::{self, ImageFacts};
use super::start::{millis, Reached, Run};
use super::switch::{self, Switchboard};
use super::{label, resources};
use crate::deploy::{
    check_plan, ApplyOptions, ApplyReport, ChangeAction, DeployError, DeployRequest, PlannedChange,
    ProgressEvent,
};

/// One service's part of the apply.
pub(super) struct Step<'a> {
    pub spec: &'a ServiceSpec,
    pub action: ChangeAction,
    pub hash: String,
    pub image: &'a ImageFacts,
    /// The container to replace (recreate) or start.
    pub existing: Option<String>,
    /// Replaced without downtime: the new container starts beside the
    /// running old one and Caddy is switched over ([`super::switch`]).
    pub switch: bool,
}

#[tracing::instrument(skip_all, fields(stack = %req.stack, revision = req.revision))]
pub(super) async fn apply(
    docker: &Docker,
    url: &str,
    req: &DeployRequest,
    opts: &ApplyOptions,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<ApplyReport, DeployError> {
    let begun = Instant::now();
    let fail = |e: DeployError| {
        let e = e.on_daemon(url);
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
    resources::check_volume_secrets(docker, stack, &plan.volume_fingerprints)
        .await
        .map_err(fail)?;
    let images = images::ensure(docker, plan, progress).await.map_err(fail)?;
    let all = super::every_stack_container(docker, stack)
        .await
        .map_err(fail)?;
    // New containers of a switch cut short.
    let cut_short: Vec<String> = all
        .iter()
        .filter_map(|c| c.names.as_ref()?.first().cloned())
        .filter(|n| n.contains("--next-"))
        .collect();
    let existing = super::by_service(all);
    let ctx = Context {
        stack,
        plan,
        host_files: &req.host_files,
        revision: req.revision,
        rollout: opts.park.as_deref(),
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
            switch: false,
        });
    }
    // Caddy running on, unchanged, can be switched from the old container
    // of a stateless service to its new one: those are not stopped first.
    let caddy = steps.iter().find(|s| {
        s.spec.name == stack::model::Service::Caddy.name() && s.action == ChangeAction::Unchanged
    });
    let board = caddy.and_then(|s| {
        let rendered = super::files::entries(&ctx, s.spec)
            .into_iter()
            .find(|e| e.target.ends_with("/Caddyfile"))?;
        Some(Switchboard::new(
            docker,
            super::container_name(stack, &s.spec.name),
            rendered,
            s.image.user.clone(),
        ))
    });
    if board.is_some() {
        for step in &mut steps {
            step.switch = step.action == ChangeAction::Recreate
                && switch::is_switched(&step.spec.name)
                && existing
                    .get(&step.spec.name)
                    .is_some_and(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING));
        }
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
    resources::join_network(docker, stack).await.map_err(fail)?;
    resources::ensure_volumes(docker, stack, &plan.volumes, &plan.volume_fingerprints)
        .await
        .map_err(fail)?;
    // A switch cut short: its new container goes, Caddy gets the rendered
    // Caddyfile back.
    for name in &cut_short {
        resources::stop_and_remove(docker, name.trim_start_matches('/'))
            .await
            .map_err(fail)?;
    }
    if let Some(board) = &board {
        board.settle().await.map_err(fail)?;
    }
    for (service, id) in &obsolete {
        match &opts.park {
            Some(rollout) => {
                let name = super::container_name(stack, service);
                resources::park(docker, id, &name, rollout).await
            }
            None => resources::stop_and_remove(docker, id).await,
        }
        .map_err(fail)?;
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
        url,
        ctx: &ctx,
        opts,
        progress,
        states: &states,
        index: &index,
        board: board.as_ref(),
    };
    let results =
        futures_util::future::join_all(steps.iter().enumerate().map(|(i, s)| run.service(i, s)))
            .await;

    let mut report = ApplyReport::default();
    let mut root_cause = None;
    let mut dependency_failure = None;
    let mut gated = Vec::new();
    for (step, result) in steps.iter().zip(results) {
        match result {
            Ok(restarts) => {
                if let Some(restarts) = restarts {
                    gated.push((step.spec.name.as_str(), restarts));
                }
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
    // A container that turned healthy, then crashed while the rest of the
    // plan came up, is no success.
    let checks = gated.iter().map(|(service, restarts)| {
        let container = super::container_name(stack, service);
        async move { health::restarted_since(docker, service, &container, *restarts).await }
    });
    for result in futures_util::future::join_all(checks).await {
        result.map_err(fail)?;
    }
    report.removed = obsolete.into_iter().map(|(s, _)| s).collect();
    // Data goes only once the new plan came up: a failed apply deletes nothing.
    if opts.prune_volumes {
        let keep: Vec<String> = plan
            .volumes
            .iter()
            .map(|v| super::volume_name(stack, v))
            .collect();
        report.removed_volumes = resources::remove_volumes(docker, stack, &keep)
            .await
            .map_err(fail)?;
        if !report.removed_volumes.is_empty() {
            let _ = progress.send(ProgressEvent::VolumesRemoved {
                volumes: report.removed_volumes.clone(),
            });
        }
    }
    report.elapsed = begun.elapsed();
    let _ = progress.send(report.finished());
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
