//! A rollout's parked containers: put back (rollback) or removed (commit).
//! Both are idempotent, so a rollout resumed after a crash can run them
//! again at any point.

use std::time::{Duration, Instant};

use bollard::models::{ContainerStateStatusEnum, ContainerSummaryStateEnum, HealthStatusEnum};
use bollard::Docker;
use stack::model::Service;

use super::files::FileEntry;
use super::health::{stack_ip, ProbeLabel};
use super::switch::{self, Switchboard};
use super::{every_stack_container, label, resources, DockerTarget};
use crate::deploy::DeployError;

/// How long an old container put back may take to turn healthy before it
/// takes its name back all the same.
const GATE: Duration = Duration::from_secs(120);

/// Caddy's switchboard from what Caddy runs now (the rendered Caddyfile:
/// an apply loads it again if a switch left it pinned); `None` when it
/// cannot be read.
async fn switchboard<'a>(docker: &'a Docker, caddy: &str) -> Option<Switchboard<'a>> {
    let info = docker.inspect_container(caddy, None).await.ok()?;
    let content = super::files::read_file(docker, caddy, stack::render::CADDYFILE_PATH).await?;
    Some(Switchboard::new(
        docker,
        caddy.to_owned(),
        FileEntry {
            target: stack::render::CADDYFILE_PATH.to_owned(),
            content: content.into_bytes(),
            mode: 0o644,
        },
        info.config.and_then(|c| c.user).unwrap_or_default(),
    ))
}

/// Waits until `container` answers its health check (Burrow's own probe,
/// or Docker's), or is running when it has none; why not within `timeout`.
async fn gate(
    docker: &Docker,
    container: &str,
    stack: &str,
    timeout: Duration,
) -> Result<(), String> {
    let until = Instant::now() + timeout;
    loop {
        let info = docker
            .inspect_container(container, None)
            .await
            .map_err(|e| e.to_string())?;
        let state = info.state.clone().unwrap_or_default();
        if matches!(
            state.status,
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
        ) {
            return Err("it exited".to_owned());
        }
        let running = state.status == Some(ContainerStateStatusEnum::RUNNING);
        let probe = info
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(label::PROBE))
            .and_then(|l| ProbeLabel::from_label(l));
        let ready = match (probe, stack_ip(&info, stack)) {
            (Some(probe), Some(ip)) => {
                running && probe.check(ip, Duration::from_secs(2)).await.is_ok()
            }
            (Some(_), None) => false,
            (None, _) => match state.health.and_then(|h| h.status) {
                Some(HealthStatusEnum::HEALTHY) => true,
                Some(HealthStatusEnum::STARTING | HealthStatusEnum::UNHEALTHY) => false,
                _ => running,
            },
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(format!(
                "it did not turn healthy within {} s",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn name_of(summary: &bollard::models::ContainerSummary) -> Option<String> {
    summary
        .names
        .as_ref()?
        .first()
        .map(|n| n.trim_start_matches('/').to_owned())
}

impl DockerTarget {
    pub(super) async fn unpark_rollout(
        &self,
        stack: &str,
        rollout: &str,
        drain: Duration,
    ) -> Result<Vec<String>, DeployError> {
        let suffix = format!("--parked-{rollout}");
        let all = every_stack_container(&self.docker, stack).await?;
        let names: Vec<String> = all.iter().filter_map(name_of).collect();
        let running = |name: &str| {
            all.iter().any(|c| {
                name_of(c).as_deref() == Some(name)
                    && c.state == Some(ContainerSummaryStateEnum::RUNNING)
            })
        };
        // Caddy running on (not itself parked by the rollout): a service
        // switched on the way in goes back the same way.
        let caddy = super::container_name(stack, Service::Caddy.name());
        let board = if names.contains(&format!("{caddy}{suffix}")) || !running(&caddy) {
            None
        } else {
            switchboard(&self.docker, &caddy).await
        };
        let mut restored = Vec::new();
        let mut back = Vec::new();
        for c in &all {
            let Some(parked) = name_of(c) else { continue };
            let Some(base) = parked.strip_suffix(&suffix).map(str::to_owned) else {
                continue;
            };
            let base = base.as_str();
            let labels = c.labels.clone().unwrap_or_default();
            let service = labels.get(label::SERVICE).cloned().unwrap_or_default();
            let one_shot = labels.get(label::ONE_SHOT).map(String::as_str) == Some("true");
            restored.push(service.clone());
            if let (Some(board), Some(s), false, true) = (
                &board,
                Service::from_name(&service).filter(|_| switch::is_switched(&service)),
                one_shot,
                running(base),
            ) {
                back.push((board, s, parked.clone(), base.to_owned()));
                continue;
            }
            // What runs under the name now is the rollout's (or half made).
            if names.iter().any(|n| n == base) {
                resources::stop_and_remove(&self.docker, base).await?;
            }
            switch::rename(&self.docker, &parked, base).await?;
            if !one_shot {
                self.docker
                    .start_container(base, None)
                    .await
                    .map_err(DeployError::docker(format!("starting {base} again")))?;
            }
            crate::update::faults::point("unparked-one");
        }
        let switched =
            futures_util::future::join_all(back.iter().map(|(board, service, parked, base)| {
                self.switch_back(board, stack, *service, parked, base, drain)
            }))
            .await;
        switched.into_iter().collect::<Result<Vec<()>, _>>()?;
        // A switch of this rollout cut short: its new container goes.
        let next = format!("--next-{rollout}");
        for name in &names {
            if name.ends_with(&next) {
                resources::stop_and_remove(&self.docker, name).await?;
            }
        }
        restored.sort();
        Ok(restored)
    }

    /// `parked` (the old container of `service`) put back without
    /// downtime: started beside `base` (the rollout's), gated, Caddy
    /// pointed at it, `base` drained and removed, its name taken back. An
    /// old container that does not turn healthy takes the name all the
    /// same (the rollback's deploy says what is wrong with it).
    async fn switch_back(
        &self,
        board: &Switchboard<'_>,
        stack: &str,
        service: Service,
        parked: &str,
        base: &str,
        drain: Duration,
    ) -> Result<(), DeployError> {
        match self.docker.start_container(parked, None).await {
            Ok(()) => {}
            // Already started by a rollback cut short.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(DeployError::docker(format!("starting {parked} again"))(e)),
        }
        match gate(&self.docker, parked, stack, GATE).await {
            Ok(()) => {
                let address = switch::address(&self.docker, parked, stack).await?;
                board.pin(service, Some(&address)).await?;
                tokio::time::sleep(drain).await;
            }
            Err(why) => {
                tracing::warn!(%parked, %why, "the old container goes back without a switch");
            }
        }
        resources::stop_and_remove(&self.docker, base).await?;
        switch::rename(&self.docker, parked, base).await?;
        board.pin(service, None).await?;
        crate::update::faults::point("unparked-one");
        Ok(())
    }

    pub(super) async fn drop_parked_rollout(
        &self,
        stack: &str,
        rollout: &str,
    ) -> Result<Vec<String>, DeployError> {
        let suffix = format!("--parked-{rollout}");
        let mut dropped = Vec::new();
        for c in every_stack_container(&self.docker, stack).await? {
            let Some(name) = name_of(&c) else { continue };
            if name.ends_with(&suffix) {
                resources::stop_and_remove(&self.docker, &name).await?;
                dropped.push(
                    c.labels
                        .as_ref()
                        .and_then(|l| l.get(label::SERVICE).cloned())
                        .unwrap_or_default(),
                );
                crate::update::faults::point("dropped-one");
            }
        }
        dropped.sort();
        Ok(dropped)
    }
}
