//! One service's part of an apply, run as its own task: wait until every
//! dependency reached its condition (or fail as soon as one cannot), then
//! (re)create or start the container and wait until it is ready. The outcome
//! is published to the services that depend on it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::Docker;
use stack::render::{Condition, ServiceSpec};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::apply::Step;
use super::container::{create_body, Context};
use super::health::{default_timeout, service_timeout, wait_ready, Ready};
use super::switch::{self, Switchboard};
use super::{container_name, files, resources};
use crate::deploy::{ApplyOptions, ChangeAction, DeployError, ProgressEvent};

/// How far a service got, as its dependents see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reached {
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

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What every service task shares.
pub(super) struct Run<'a> {
    pub docker: &'a Docker,
    /// The daemon's address, for the sentence when it stops answering.
    pub url: &'a str,
    pub ctx: &'a Context<'a>,
    pub opts: &'a ApplyOptions,
    pub progress: &'a UnboundedSender<ProgressEvent>,
    pub states: &'a [watch::Sender<Reached>],
    pub index: &'a HashMap<&'a str, usize>,
    /// Caddy's upstreams, when it runs on unchanged (switches use it).
    pub board: Option<&'a Switchboard<'a>>,
}

impl Run<'_> {
    fn emit(&self, event: ProgressEvent) {
        let _ = self.progress.send(event);
    }

    /// Runs one service's step; its outcome is published to its dependents
    /// and, on failure, reported as a `Failed` event. For a long-running
    /// container this apply started: Docker's restart count when its gate
    /// passed (the apply checks at its end that it has not moved).
    pub(super) async fn service(
        &self,
        i: usize,
        step: &Step<'_>,
    ) -> Result<Option<i64>, DeployError> {
        let result = self
            .service_inner(i, step)
            .await
            .map_err(|e| e.on_daemon(self.url));
        match &result {
            Ok((reached, _)) => {
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
        result.map(|(_, gated)| gated)
    }

    async fn service_inner(
        &self,
        i: usize,
        step: &Step<'_>,
    ) -> Result<(Reached, Option<i64>), DeployError> {
        let spec = step.spec;
        let name = container_name(self.ctx.stack, &spec.name);
        let timeout = service_timeout(self.opts, &spec.name, default_timeout(spec), Instant::now());
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
            return Ok((reached(ready), None));
        }

        self.wait_for_dependencies(spec).await?;
        if let (true, Some(board), Some(old)) = (step.switch, self.board, &step.existing) {
            return self.switch(i, step, board, old, timeout).await;
        }
        if let (ChangeAction::Recreate, Some(old)) = (step.action, &step.existing) {
            match &self.opts.park {
                Some(rollout) => resources::park(self.docker, old, &name, rollout).await?,
                None => resources::stop_and_remove(self.docker, old).await?,
            }
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
            .map_err(|e| start_error(&spec.name, &name, e))?;
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
            Ready::Healthy { .. } => ProgressEvent::Healthy {
                service: spec.name.clone(),
                after_ms: millis(started.elapsed()),
            },
            Ready::Completed => ProgressEvent::Completed {
                service: spec.name.clone(),
            },
        });
        Ok((reached(ready), restarts_at_gate(ready)))
    }

    /// Replaces `old` without downtime ([`super::switch`]): the new
    /// container started beside it and gated, Caddy pointed at it, the old
    /// one drained, then parked (a rollout) or removed, and its name taken.
    /// A new container that does not turn healthy goes, and the old one
    /// serves on.
    async fn switch(
        &self,
        i: usize,
        step: &Step<'_>,
        board: &Switchboard<'_>,
        old: &str,
        timeout: Duration,
    ) -> Result<(Reached, Option<i64>), DeployError> {
        let spec = step.spec;
        let Some(service) = stack::model::Service::from_name(&spec.name) else {
            return Err(DeployError::InvalidPlan {
                message: format!("{} is no service of a stack", spec.name),
            });
        };
        let stack = self.ctx.stack;
        let name = container_name(stack, &spec.name);
        let tag = self
            .opts
            .park
            .clone()
            .unwrap_or_else(|| format!("r{}", self.ctx.revision));
        let next = switch::next_name(&name, &tag);
        // Caddy held on the old container while the new one (answering to
        // the same name) starts beside it.
        let old_address = switch::address(self.docker, old, stack).await?;
        board.pin(service, Some(&old_address)).await?;
        self.emit(ProgressEvent::Creating {
            service: spec.name.clone(),
        });
        let started = Instant::now();
        let gated = async {
            self.create(&next, step).await?;
            self.docker
                .start_container(&next, None)
                .await
                .map_err(|e| start_error(&spec.name, &next, e))?;
            self.states[i].send_replace(Reached::Started);
            self.emit(ProgressEvent::Started {
                service: spec.name.clone(),
            });
            wait_ready(self.docker, stack, &next, spec, timeout, self.progress).await
        }
        .await;
        let ready = match gated {
            Ok(ready) => ready,
            Err(e) => {
                // The old container never stopped serving.
                let _ = resources::stop_and_remove(self.docker, &next).await;
                let _ = board.pin(service, None).await;
                return Err(e);
            }
        };
        // Its dependents go on while the old one drains.
        self.states[i].send_replace(reached(ready));
        let new_address = switch::address(self.docker, &next, stack).await?;
        board.pin(service, Some(&new_address)).await?;
        tokio::time::sleep(self.opts.drain.unwrap_or_else(switch::default_drain)).await;
        match &self.opts.park {
            Some(rollout) => resources::park(self.docker, old, &name, rollout).await?,
            None => resources::stop_and_remove(self.docker, old).await?,
        }
        switch::rename(self.docker, &next, &name).await?;
        // The name is the new container's alone now.
        board.pin(service, None).await?;
        self.emit(ProgressEvent::Healthy {
            service: spec.name.clone(),
            after_ms: millis(started.elapsed()),
        });
        Ok((reached(ready), restarts_at_gate(ready)))
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

/// A port another program holds is the operator's to fix: say so.
fn start_error(service: &str, container: &str, e: BollardError) -> DeployError {
    match &e {
        BollardError::DockerResponseServerError { message, .. }
            if message.contains("port is already allocated")
                || message.contains("address already in use") =>
        {
            DeployError::Conflict {
                message: format!(
                    "{service} cannot publish its ports: {message}. Another program or stack \
                     uses that host port: stop it, or choose other ports ([network] and \
                     [livekit] in the stack config)"
                ),
            }
        }
        _ => DeployError::docker(format!("starting {container}"))(e),
    }
}

/// A long-running service's restart count at its gate.
fn restarts_at_gate(ready: Ready) -> Option<i64> {
    match ready {
        Ready::Healthy { restarts } => Some(restarts),
        Ready::Completed => None,
    }
}

fn reached(ready: Ready) -> Reached {
    match ready {
        Ready::Healthy { .. } => Reached::Healthy,
        Ready::Completed => Reached::Completed,
    }
}
