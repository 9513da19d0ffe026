//! What the dashboard and the log page load first; live updates then come
//! over SSE (`/live/status`, `/live/logs`) with the same shapes.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use wire::{ClusterEvent, LogLine, ProbeResult, ServiceStatus};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicesView {
    /// `None` when nothing is configured yet.
    pub stack: Option<String>,
    /// The revision the dashboard watches (the one last deployed).
    #[serde(default)]
    pub revision: Option<i64>,
    /// Nothing saved yet but a setup in progress: the wizard step to
    /// continue at.
    #[serde(default)]
    pub resume_step: Option<String>,
    pub services: Vec<ServiceStatus>,
    pub probes: Vec<ProbeResult>,
    /// Why the target could not be asked (daemon down…), as a sentence.
    pub problem: Option<String>,
    /// A cluster's events in the stack's namespace, newest first (`None`
    /// on Docker, which records none).
    #[serde(default)]
    pub events: Option<Vec<ClusterEvent>>,
    /// Why the cluster's events could not be read.
    #[serde(default)]
    pub events_problem: Option<String>,
}

#[server(endpoint = "services")]
pub async fn get_services() -> Result<ServicesView, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let Some(revision) = state.store.running_revision(&state.vault).await? else {
            let draft = state.store.wizard_draft(&state.vault).await?;
            return Ok(ServicesView {
                stack: None,
                revision: None,
                resume_step: (!draft.completed.is_empty())
                    .then(|| draft.resume_step().slug().to_owned()),
                services: Vec::new(),
                probes: Vec::new(),
                problem: None,
                events: None,
                events_problem: None,
            });
        };
        let watched = revision.meta.id;
        // While a dashboard is open its watch has the answers: a first load
        // takes them instead of asking the daemon and Caddy again.
        let seen = state.dashboard.latest(watched).unwrap_or_default();
        let config = revision.config.clone();
        let stack = config.name.as_str().to_owned();
        // A cluster records events; Docker's are its status.
        let cluster = config.target == stack::model::TargetKind::Kubernetes;
        let target = match (&seen.status, &seen.events) {
            (Some(_), Some(_)) => None,
            (Some(_), None) if !cluster => None,
            _ => Some(state.deployer.target_for(&revision).await),
        };
        let (services, problem) = match (seen.status, &target) {
            (Some(Ok(list)), _) => (list, None),
            (Some(Err(problem)), _) => (Vec::new(), Some(problem)),
            (None, Some(Ok(target))) => match target.status(&stack).await {
                Ok(list) => (list, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            },
            (None, Some(Err(e))) => (Vec::new(), Some(e.to_string())),
            (None, None) => (Vec::new(), None),
        };
        let events = match (seen.events, &target) {
            (Some(seen), _) => Some(seen),
            (None, Some(Ok(target))) => target
                .events(&stack)
                .await
                .map(|r| r.map_err(|e| e.to_string())),
            (None, _) => None,
        };
        let (events, events_problem) = match events {
            None => (None, None),
            Some(Ok(list)) => (Some(list), None),
            Some(Err(e)) => (Some(Vec::new()), Some(e)),
        };
        let probes = match seen.probes {
            Some(probes) => probes,
            None if services.is_empty() => Vec::new(),
            None => {
                let ca = state.store.probe_ca_pem(&state.vault, &config).await;
                let entry = match &target {
                    Some(Ok(target)) => engine::chat_probe::entry_of(target.as_ref(), &stack).await,
                    _ => engine::chat_probe::Entry::Default,
                };
                engine::chat_probe::probe_chat(&config, ca.as_deref(), &entry).await
            }
        };
        Ok(ServicesView {
            stack: Some(stack),
            revision: Some(watched),
            resume_step: None,
            services,
            probes,
            problem,
            events,
            events_problem,
        })
    };
    respond(run.await)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsView {
    pub services: Vec<String>,
    pub lines: Vec<LogLine>,
    pub problem: Option<String>,
}

/// Lines shown before live follow starts (and without JavaScript).
pub const FIRST_LINES: usize = 200;

#[server(endpoint = "logs")]
pub async fn get_logs(service: Option<String>) -> Result<LogsView, AppError> {
    use super::*;
    use futures::StreamExt;
    let run = async {
        require_user().await?;
        let state = state();
        let Some(revision) = state.store.running_revision(&state.vault).await? else {
            return Ok(LogsView {
                services: Vec::new(),
                lines: Vec::new(),
                problem: None,
            });
        };
        let target = state.deployer.target_for(&revision).await;
        let config = revision.config;
        let services: Vec<String> = config
            .services()
            .into_iter()
            .map(|s| s.name().to_owned())
            .collect();
        let service = service.filter(|s| !s.is_empty() && s != "all");
        if let Some(s) = &service {
            if !services.contains(s) {
                return Err(AppError::invalid(
                    "service",
                    format!("There is no service named {s}."),
                ));
            }
        }
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                return Ok(LogsView {
                    services,
                    lines: Vec::new(),
                    problem: Some(e.to_string()),
                })
            }
        };
        let mut problem = None;
        let mut lines = Vec::new();
        let mut stream = target.logs(config.name.as_str(), service.as_deref(), FIRST_LINES, false);
        while let Some(item) = stream.next().await {
            match item {
                Ok(l) => lines.push(l),
                Err(e) => problem = Some(e.to_string()),
            }
        }
        Ok(LogsView {
            services,
            lines,
            problem,
        })
    };
    respond(run.await)
}
