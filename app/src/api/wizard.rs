//! The first-run wizard: one server function to read the draft for a step,
//! one to save a step, and the live checks (test mail, connections). The
//! same pages edit the configuration later (Settings), making new revisions.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Step slugs and titles, in order.
pub const STEPS: [(&str, &str); 7] = [
    ("domain", "Domain"),
    ("tls", "TLS"),
    ("smtp", "E-mail"),
    ("voice", "Voice & video"),
    ("apps", "Apps"),
    ("target", "Target"),
    ("review", "Review"),
];

/// Checkbox fields per step: unchecked boxes are not sent by browsers.
pub const FLAGS: [(&str, &[&str]); 3] = [
    ("smtp", &["smtp.enabled"]),
    ("voice", &["livekit.enabled"]),
    (
        "apps",
        &[
            "apps.api",
            "apps.events",
            "apps.autumn",
            "apps.january",
            "apps.gifbox",
            "apps.crond",
            "apps.pushd",
            "apps.voice_ingress",
            "apps.web",
        ],
    ),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub field: String,
    pub message: String,
}

pub use wire::{DiffLine, ShownFile};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// (label, value) pairs.
    pub summary: Vec<(String, String)>,
    pub files: Vec<ShownFile>,
    /// (service, image).
    pub services: Vec<(String, String)>,
    /// Against the deployed revision, when one is deployed.
    pub diff: Option<(i64, Vec<DiffLine>)>,
    /// Errors that block a deploy (a step left incomplete).
    pub blocking: Vec<Notice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WizardView {
    pub step: String,
    /// (slug, title, completed)
    pub steps: Vec<(String, String, bool)>,
    /// `stack.toml` key path -> value.
    pub values: BTreeMap<String, String>,
    pub smtp_password_set: bool,
    pub docker_url: String,
    pub kube_source: String,
    pub kube_context: String,
    pub kube_namespace: String,
    pub kubeconfig_set: bool,
    pub warnings: Vec<Notice>,
    /// Whether a revision exists already (the wizard then edits settings).
    pub editing: bool,
    /// Step-specific results as sentences: DNS and ports on the domain step.
    pub checks: Vec<Check>,
    pub review: Option<Review>,
    /// The last test mail / connection test of this session, so a page
    /// without JavaScript shows it after its form posted.
    pub last_mail: Option<(bool, String)>,
    pub last_target: Option<(bool, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub ok: bool,
    /// "ok", "warning" or "problem".
    pub level: String,
    pub title: String,
    pub detail: String,
}

impl WizardView {
    pub fn value(&self, path: &str) -> Option<String> {
        self.values.get(path).cloned()
    }

    pub fn flag(&self, path: &str, default: bool) -> bool {
        self.values
            .get(path)
            .map(|v| v == "true")
            .unwrap_or(default)
    }

    pub fn next_step(&self) -> Option<&'static str> {
        let i = STEPS.iter().position(|(s, _)| *s == self.step)?;
        STEPS.get(i + 1).map(|(s, _)| *s)
    }

    pub fn previous_step(&self) -> Option<&'static str> {
        let i = STEPS.iter().position(|(s, _)| *s == self.step)?;
        i.checked_sub(1).map(|j| STEPS[j].0)
    }
}

/// Let's Encrypt's staging directory (the TLS step's staging toggle).
pub const LE_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Session keys of the last test results.
pub const LAST_MAIL: &str = "wizard_last_mail";
pub const LAST_TARGET: &str = "wizard_last_target";

#[server(endpoint = "wizard/view")]
pub async fn get_wizard(step: String) -> Result<WizardView, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let mut view = crate::api::wizard_server::view(&state, &step).await?;
        let session = session().await?;
        view.last_mail = session.get(LAST_MAIL).await.ok().flatten();
        view.last_target = session.get(LAST_TARGET).await.ok().flatten();
        Ok(view)
    };
    respond(run.await)
}

/// Saves one step. `form` holds the step's fields by key path.
#[server(endpoint = "wizard/save")]
pub async fn save_step(step: String, form: BTreeMap<String, String>) -> Result<String, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let state = state();
        let next = crate::api::wizard_server::save(&state, &step, form, &user.username).await?;
        leptos_axum::redirect(&format!("/wizard/{next}"));
        Ok(next)
    };
    respond(run.await)
}

/// The problems `form` has for `step` as typed, by field; nothing is saved
/// (the hydrated wizard calls it as fields change).
#[server(endpoint = "wizard/check")]
pub async fn check_step(
    step: String,
    form: BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        crate::api::wizard_server::check(&state(), &step, form).await
    };
    respond(run.await)
}

/// Sends a real message with the saved SMTP settings; the outcome as a
/// sentence (with the fix when it failed).
#[server(endpoint = "wizard/test-mail")]
pub async fn send_test_mail(to: String) -> Result<(bool, String), AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let result = crate::api::wizard_server::test_mail(&state(), &to).await?;
        let _ = session().await?.insert(LAST_MAIL, &result).await;
        Ok(result)
    };
    respond(run.await)
}

/// Tests the deploy target as saved in the draft.
#[server(endpoint = "wizard/test-target")]
pub async fn test_target() -> Result<(bool, String), AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let result = crate::api::wizard_server::test_target(&state()).await?;
        let _ = session().await?.insert(LAST_TARGET, &result).await;
        Ok(result)
    };
    respond(run.await)
}

/// Turns the draft into the next revision and starts deploying it.
#[server(endpoint = "wizard/deploy")]
pub async fn finish_wizard() -> Result<i64, AppError> {
    use super::*;
    let run = async {
        let user = require_user().await?;
        let id = crate::api::wizard_server::finish(&state(), &user.username).await?;
        leptos_axum::redirect("/deploy");
        Ok(id)
    };
    respond(run.await)
}
