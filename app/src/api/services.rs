//! What the dashboard and the log page load first; live updates then come
//! over SSE (`/live/status`, `/live/logs`) with the same shapes.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One service as the dashboard shows it (the engine's `ServiceStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRow {
    pub service: String,
    pub container: String,
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, `none`.
    pub health: String,
    pub restart_count: u64,
    pub started_at: Option<String>,
    pub uptime_secs: Option<u64>,
    pub image: String,
    pub ports: Vec<String>,
    pub exit_code: Option<i64>,
    pub revision: Option<i64>,
    pub one_shot: bool,
}

impl ServiceRow {
    /// Whether the row should stand out: stopped, failing or restarting.
    pub fn is_trouble(&self) -> bool {
        if self.one_shot {
            return self.state != "running" && self.exit_code.unwrap_or(0) != 0;
        }
        self.state != "running" || self.health == "unhealthy"
    }
}

/// A request made through Caddy (the engine's `ProbeResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRow {
    pub path: String,
    pub ok: bool,
    pub detail: String,
}

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
    pub services: Vec<ServiceRow>,
    pub probes: Vec<ProbeRow>,
    /// Why the target could not be asked (daemon down…), as a sentence.
    pub problem: Option<String>,
}

#[server(endpoint = "services")]
pub async fn get_services() -> Result<ServicesView, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let Some(revision) = state
            .store
            .running_revision(&state.vault)
            .await
            .map_err(internal)?
        else {
            let draft = state.store.wizard_draft(&state.vault).await?;
            return Ok(ServicesView {
                stack: None,
                revision: None,
                resume_step: (!draft.completed.is_empty())
                    .then(|| draft.resume_step().slug().to_owned()),
                services: Vec::new(),
                probes: Vec::new(),
                problem: None,
            });
        };
        let target = state.deployer.target_for(&revision).await;
        let watched = revision.meta.id;
        let config = revision.config;
        let stack = config.name.as_str().to_owned();
        let (services, problem) = match target {
            Ok(target) => match target.status(&stack).await {
                Ok(list) => (
                    list.into_iter()
                        .filter_map(|s| serde_json::to_value(s).ok())
                        .filter_map(|v| serde_json::from_value(v).ok())
                        .collect(),
                    None,
                ),
                Err(e) => (Vec::new(), Some(e.to_string())),
            },
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let probes = if services.is_empty() {
            Vec::new()
        } else {
            let ca = if matches!(config.tls, stack::model::TlsMode::SelfSigned) {
                state
                    .store
                    .existing_burrow_ca(&state.vault)
                    .await
                    .ok()
                    .flatten()
                    .map(|c| c.ca_pem().to_owned())
            } else {
                None
            };
            engine::chat_probe::probe_chat(&config, ca.as_deref())
                .await
                .into_iter()
                .map(|p| ProbeRow {
                    path: p.path,
                    ok: p.ok,
                    detail: p.detail,
                })
                .collect()
        };
        Ok(ServicesView {
            stack: Some(stack),
            revision: Some(watched),
            resume_step: None,
            services,
            probes,
            problem,
        })
    };
    respond(run.await)
}

/// One log line (the engine's `LogLine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    pub service: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub timestamp: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsView {
    pub services: Vec<String>,
    pub lines: Vec<LogRow>,
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
        let Some(revision) = state
            .store
            .running_revision(&state.vault)
            .await
            .map_err(internal)?
        else {
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
                Ok(l) => {
                    if let Ok(row) = serde_json::to_value(l).and_then(serde_json::from_value) {
                        lines.push(row);
                    }
                }
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
