//! Deploying: the config to deploy, starting a deployment, and what the
//! last deployments did. Progress itself streams from `/live/deployments/N`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionInfo {
    pub id: i64,
    pub created_at: i64,
    pub author: String,
    pub stack: String,
    pub domain: String,
    /// (service, image) in start order.
    pub services: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    pub id: i64,
    pub kind: String,
    pub actor: String,
    pub started_at: i64,
    pub status: wire::DeploymentStatus,
    pub summary: Option<String>,
    pub revision_id: Option<i64>,
    /// Stored progress events with their ids, oldest first.
    pub events: Vec<(i64, wire::ProgressEvent)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployPage {
    pub latest: Option<RevisionInfo>,
    pub deployed_revision: Option<i64>,
    /// The newest deployment, with its events.
    pub current: Option<DeploymentInfo>,
    pub history: Vec<DeploymentInfo>,
    /// The Docker address of the newest revision (empty: this machine),
    /// for the stack.toml form.
    #[serde(default)]
    pub docker_url: String,
    /// Why the newest revision cannot be shown or deployed (stored data
    /// that no longer reads or validates); the page offers the stack.toml
    /// form to save a corrected one.
    #[serde(default)]
    pub latest_problem: Option<String>,
}

#[server(endpoint = "deploy/page")]
pub async fn get_deploy_page() -> Result<DeployPage, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let store = &state.store;
        // A newest revision that no longer loads is shown as the reason,
        // not as an error page: the operator pastes a corrected one here.
        let (newest, latest_problem) = match store.latest_revision(&state.vault).await {
            Ok(newest) => (newest, None),
            Err(engine::EngineError::Unusable { why, .. }) => (None, Some(why)),
            Err(e) => return Err(e.into()),
        };
        let docker_url = newest
            .as_ref()
            .and_then(|r| match &r.target {
                engine::targets::TargetSettings::Docker { url, .. } => url.clone(),
                engine::targets::TargetSettings::Kubernetes { .. } => None,
            })
            .unwrap_or_default();
        let latest = newest.map(|r| {
            let services = r
                .config
                .services()
                .into_iter()
                .map(|s| (s.name().to_owned(), r.config.images.get(s).to_string()))
                .collect();
            RevisionInfo {
                id: r.meta.id,
                created_at: r.meta.created_at,
                author: r.meta.author,
                stack: r.config.name.as_str().to_owned(),
                domain: r.config.domain.as_str().to_owned(),
                services,
            }
        });
        let recent = store.recent_deployments(10).await?;
        let mut history: Vec<DeploymentInfo> = recent
            .into_iter()
            .map(|d| DeploymentInfo {
                id: d.id,
                kind: d.kind,
                actor: d.actor,
                started_at: d.started_at,
                status: d.status,
                summary: d.summary,
                revision_id: d.revision_id,
                events: Vec::new(),
            })
            .collect();
        let current = match history.first().cloned() {
            Some(mut d) => {
                d.events = store.progress_since(d.id, 0).await?;
                Some(d)
            }
            None => None,
        };
        if !history.is_empty() {
            history.remove(0);
        }
        Ok(DeployPage {
            latest,
            deployed_revision: store.deployed_revision().await?,
            current,
            history,
            docker_url,
            latest_problem,
        })
    };
    respond(run.await)
}

/// Starts deploying `revision` (the newest when absent: the Deploy page;
/// any earlier one: "Deploy this revision" on History) and shows its
/// progress on the Deploy page; returns the deployment's id. With
/// `prune_volumes`, volumes no service uses any more (the data of services
/// turned off) are deleted once the stack is up.
#[server(endpoint = "deploy/start")]
pub async fn start_deploy(
    #[server(default)] prune_volumes: bool,
    #[server(default)] revision: Option<i64>,
) -> Result<i64, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let revision = match revision {
            Some(id) => state
                .store
                .revision(&state.vault, id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("There is no revision {id}.")))?,
            None => state
                .store
                .latest_revision(&state.vault)
                .await?
                .ok_or_else(|| {
                    AppError::Conflict(
                        "There is no configuration to deploy yet: save one first.".to_owned(),
                    )
                })?,
        };
        let opts = engine::deploy::ApplyOptions {
            prune_volumes,
            ..Default::default()
        };
        let id = state
            .deployer
            .start_apply(revision, &user.username, opts)
            .await?;
        leptos_axum::redirect(&format!("/deploy?d={id}"));
        Ok(id)
    };
    respond(run.await)
}

/// Saves a pasted stack.toml as the next revision (nothing is saved when any
/// key is invalid; every problem is listed beside the field). `docker_url`
/// is where a Docker revision deploys (empty: this machine); a Kubernetes
/// one keeps the newest revision's cluster settings.
#[server(endpoint = "deploy/config")]
pub async fn save_stack_toml(
    stack_toml: String,
    #[server(default)] docker_url: String,
    #[server(default)] docker_plain_ok: String,
) -> Result<i64, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        // A refused text is shown again, but never with a password in it.
        let (shown_again, had_password) = engine::revisions::without_passwords(&stack_toml);
        let retype = if had_password {
            "\nThe SMTP password was taken out of the text shown again: type it again."
        } else {
            ""
        };
        let parsed =
            stack::model::parse_stack_toml(&stack_toml).map_err(|issues| AppError::Invalid {
                field: "stack_toml".to_owned(),
                message: issues
                    .iter()
                    .filter(|i| i.is_error())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
                    + retype,
                kept: vec![("stack_toml".to_owned(), shown_again.clone())],
            })?;
        if let Err(message) = state.store.own_certificate_allowed(&parsed.config) {
            return Err(AppError::Invalid {
                field: "stack_toml".to_owned(),
                message: message + retype,
                kept: vec![("stack_toml".to_owned(), shown_again.clone())],
            });
        }
        let target = if parsed.config.target == stack::model::TargetKind::Docker {
            let url = engine::targets::parse_docker_url(&docker_url).map_err(|message| {
                AppError::Invalid {
                    field: "docker_url".to_owned(),
                    message: message + retype,
                    kept: vec![
                        ("docker_url".to_owned(), docker_url.clone()),
                        ("stack_toml".to_owned(), shown_again.clone()),
                    ],
                }
            })?;
            // The newest revision's TLS settings stay with its address.
            let settings = state.deployer.targets().docker_settings(url.as_deref());
            let settings = match state.store.latest_revision(&state.vault).await {
                Ok(Some(newest)) => settings.with_tls_of(&newest.target),
                _ => settings,
            };
            if settings.plain_tcp_elsewhere() && docker_plain_ok != "true" {
                return Err(AppError::Invalid {
                    field: "docker_plain_ok".to_owned(),
                    message: engine::targets::PLAIN_TCP_RISK.to_owned() + retype,
                    kept: vec![
                        ("docker_url".to_owned(), docker_url.clone()),
                        ("stack_toml".to_owned(), shown_again.clone()),
                    ],
                });
            }
            settings
        } else {
            state.deployer.settings_for_new(&parsed.config).await
        };
        let (meta, created) = state
            .store
            .save_revision(
                &state.vault,
                &parsed.config,
                &target,
                &user.username,
                Some("pasted stack.toml"),
            )
            .await?;
        if !created {
            // Said beside the text, which stays: the page would otherwise
            // look as if the paste had been lost.
            return Err(AppError::Invalid {
                field: "stack_toml".to_owned(),
                message: format!(
                    "This is the configuration of revision {}, the newest, with the same \
                     target and secrets: nothing new was saved. Deploy it with the button \
                     above, or change something first.{retype}",
                    meta.id
                ),
                // As a refused parse keeps it (passwords taken out).
                kept: vec![
                    ("stack_toml".to_owned(), shown_again.clone()),
                    ("docker_url".to_owned(), docker_url.clone()),
                ],
            });
        }
        leptos_axum::redirect("/deploy");
        Ok(meta.id)
    };
    respond(run.await)
}
