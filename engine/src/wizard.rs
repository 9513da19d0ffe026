//! The first-run wizard's draft: every value the operator entered, by
//! `stack.toml` key path, saved step by step so a closed browser resumes
//! where it left off. A step is validated with the same rules as
//! `stack.toml` (`StackForm::parse`), keeping only the issues of its own
//! fields; nothing is saved when one of them is wrong.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stack::model::{DomainName, FieldIssue, StackConfig, StackForm};
pub use wire::wizard::Step;

use crate::sealed::Vault;
use crate::{now_unix, EngineError, Store};

mod flow;
mod input;

pub use flow::{Tested, Wizard, WizardError};
pub use input::StepInput;

const DRAFT_SMTP_PASSWORD: &str = "draft_smtp_password";
/// The own certificate and key pasted on the TLS step, sealed, until the
/// next revision takes them as a version.
const DRAFT_OWN_TLS: &str = "draft_own_tls";
const DRAFT_KUBECONFIG: &str = "draft_kubeconfig";
/// The Target step's Docker TLS settings (sealed JSON of `DockerTls`).
const DRAFT_DOCKER_TLS: &str = "draft_docker_tls";
/// The wizard's target step as last deployed (JSON of [`TargetDraft`]).
const TARGET_SETTINGS: &str = "target_settings";

/// Which key paths each step owns (prefix match on `a.b` paths).
pub fn step_fields(step: Step) -> &'static [&'static str] {
    match step {
        Step::Domain => &["domain", "network.", "name"],
        Step::Tls => &["tls."],
        Step::Smtp => &["smtp."],
        Step::Voice => &["livekit."],
        Step::Apps => &["apps.", "registration"],
        Step::Target => &["target"],
        Step::Review => &[],
    }
}

fn owned_by(step: Step, path: &str) -> bool {
    step_fields(step).iter().any(|p| {
        if p.ends_with('.') {
            path.starts_with(p)
        } else {
            path == *p
        }
    })
}

/// The step a `stack.toml` key path is set on (images: none).
pub fn step_of(path: &str) -> Option<Step> {
    Step::ALL.into_iter().find(|s| owned_by(*s, path))
}

/// A field as the wizard's pages label it ("E-mail for expiry notices"),
/// the key path itself for fields the wizard does not show.
pub fn field_label(path: &str) -> String {
    let label = match path {
        "domain" => "Domain",
        "name" => "Stack name",
        "network.bind" => "Publish on address",
        "network.http_port" => "HTTP port",
        "network.https_port" => "HTTPS port",
        "tls.mode" => "Where the certificate comes from",
        "tls.email" => "E-mail for expiry notices",
        "tls.directory" => "ACME directory URL",
        "tls.directory_ca" => "Directory's root CA",
        "tls.cert_file" | "tls.cert_pem" => "Certificate chain",
        "tls.key_file" | "tls.key_pem" => "Private key",
        "smtp.enabled" => "Send e-mail",
        "smtp.host" => "SMTP host",
        "smtp.port" => "SMTP port",
        "smtp.security" => "SMTP security",
        "smtp.username" => "SMTP username",
        "smtp.password" => "SMTP password",
        "smtp.from" => "From address",
        "livekit.enabled" => "Voice and video",
        "livekit.node" => "Node name",
        "livekit.lat" => "Latitude",
        "livekit.lon" => "Longitude",
        "livekit.udp_ports" => "UDP port range",
        "livekit.tcp_port" => "TCP port",
        "livekit.ip_mode" => "Address clients use",
        "livekit.node_ip" => "Node IP",
        "apps.api" => "API (delta)",
        "apps.events" => "Events (bonfire)",
        "apps.web" => "Web client",
        "apps.autumn" => "File uploads (autumn)",
        "apps.january" => "Link previews (january)",
        "apps.gifbox" => "GIF search (gifbox)",
        "apps.crond" => "Scheduled jobs (crond)",
        "apps.pushd" => "Push notifications (pushd)",
        "apps.voice_ingress" => "Voice events (voice-ingress)",
        "registration" => "Registration",
        "target" => "Where Stoat runs",
        "target.docker_url" => "Docker daemon address",
        "target.docker_plain_ok" => "Plain TCP",
        "target.kubeconfig" => "Kubeconfig",
        "target.kube_namespace" => "Namespace",
        "target.kube_ingress_class" => "Ingress class",
        "target.kube_issuer" => "cert-manager issuer",
        other => return other.to_owned(),
    };
    label.to_owned()
}

/// Where the stack is deployed to, beyond `target = docker|kubernetes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetDraft {
    /// `unix:///…` or `tcp://…`; empty: the local socket.
    pub docker_url: String,
    /// Plain TCP to another machine accepted (see `targets::PLAIN_TCP_RISK`).
    #[serde(default)]
    pub docker_plain_ok: bool,
    /// The `tcp://` daemon is reached over TLS with the settings kept
    /// sealed as the draft's (see [`Store::draft_docker_tls`]).
    #[serde(default)]
    pub docker_tls_set: bool,
    /// `kubeconfig` or `in-cluster`.
    pub kube_source: String,
    pub kube_context: String,
    pub kube_namespace: String,
    /// `nginx` (empty too) or `traefik`.
    #[serde(default)]
    pub kube_ingress_class: String,
    /// cert-manager's ClusterIssuer for ACME (empty: `letsencrypt`).
    #[serde(default)]
    pub kube_issuer: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// `stack.toml` key path -> value as typed (booleans "true"/"false").
    pub fields: BTreeMap<String, String>,
    /// Steps completed (slugs), in the order of [`Step::ALL`].
    pub completed: Vec<String>,
    pub target: TargetDraft,
    /// Whether an SMTP password is kept (it is never sent back to a page).
    #[serde(default)]
    pub smtp_password_set: bool,
    #[serde(default)]
    pub kubeconfig_set: bool,
    /// The domain, once the domain step accepted it (drafts saved before
    /// it was kept get it from their fields when loaded).
    #[serde(default)]
    pub domain: Option<DomainName>,
}

impl Draft {
    pub fn get(&self, path: &str) -> Option<&str> {
        self.fields.get(path).map(String::as_str)
    }

    pub fn is_completed(&self, step: Step) -> bool {
        self.completed.iter().any(|s| s == step.slug())
    }

    fn complete(&mut self, step: Step) {
        if !self.is_completed(step) {
            self.completed.push(step.slug().to_owned());
        }
    }

    /// The first step not completed yet (review when all are).
    pub fn resume_step(&self) -> Step {
        Step::ALL
            .into_iter()
            .find(|s| *s != Step::Review && !self.is_completed(*s))
            .unwrap_or(Step::Review)
    }

    /// Fills in what older drafts did not keep: the accepted domain.
    fn upgrade(&mut self) {
        if self.domain.is_none() && self.is_completed(Step::Domain) {
            self.domain = self.get("domain").and_then(|d| DomainName::parse(d).ok());
        }
    }

    /// The draft as the `stack.toml` form, `smtp_password` filled in.
    pub fn form(&self, smtp_password: Option<&str>) -> StackForm {
        let mut root = toml::Table::new();
        for (path, value) in &self.fields {
            let parts: Vec<&str> = path.split('.').collect();
            insert_path(&mut root, &parts, value);
        }
        let mut form: StackForm = toml::Value::Table(root).try_into().unwrap_or_default();
        if let Some(pw) = smtp_password {
            form.smtp.password = stack::model::Field::text(pw);
        }
        form
    }

    /// Fields of a valid config (a revision), as the wizard edits them.
    pub fn from_config(config: &StackConfig) -> Self {
        let mut form = StackForm::from(config);
        form.smtp.password = None;
        let mut fields = BTreeMap::new();
        if let Ok(toml::Value::Table(t)) = toml::Value::try_from(&form) {
            flatten("", &t, &mut fields);
        }
        Self {
            fields,
            completed: Step::ALL.iter().map(|s| s.slug().to_owned()).collect(),
            target: TargetDraft::default(),
            smtp_password_set: config.smtp.is_some(),
            kubeconfig_set: false,
            domain: Some(config.domain.clone()),
        }
    }
}

fn insert_path(table: &mut toml::Table, parts: &[&str], value: &str) {
    match parts {
        [] => {}
        [last] => {
            table.insert(last.to_string(), toml::Value::String(value.to_string()));
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                insert_path(t, rest, value);
            }
        }
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&path, t, out),
            toml::Value::String(s) => {
                out.insert(path, s.clone());
            }
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
}

/// The outcome of checking one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCheck {
    /// Errors of this step's fields: (field path, message with its fix).
    pub errors: Vec<(String, String)>,
    /// Warnings worth showing on this step.
    pub warnings: Vec<FieldIssue>,
    /// The whole config, when every step so far validates.
    pub config: Option<StackConfig>,
}

/// Validates `draft` as it would be with `step`'s values, reporting only
/// what belongs to `step` (and, on review, everything).
pub fn check_step(draft: &Draft, step: Step, smtp_password: Option<&str>) -> StepCheck {
    let form = draft.form(smtp_password);
    let all = step == Step::Review;
    match form.parse() {
        Ok(parsed) => StepCheck {
            errors: Vec::new(),
            warnings: parsed
                .warnings
                .into_iter()
                .filter(|w| all || owned_by(step, &w.field))
                .collect(),
            config: Some(parsed.config),
        },
        Err(issues) => {
            let (errors, warnings): (Vec<_>, Vec<_>) =
                issues.into_iter().partition(FieldIssue::is_error);
            StepCheck {
                errors: errors
                    .into_iter()
                    .filter(|i| all || owned_by(step, &i.field))
                    .map(|i| {
                        let message = match &i.fix {
                            Some(fix) => format!("{} — {fix}", i.message),
                            None => i.message.clone(),
                        };
                        (i.field, message)
                    })
                    .collect(),
                warnings: warnings
                    .into_iter()
                    .filter(|w| all || owned_by(step, &w.field))
                    .collect(),
                config: None,
            }
        }
    }
}

impl Store {
    /// The draft; started from the newest revision when there is none.
    pub async fn wizard_draft(&self, vault: &Vault) -> Result<Draft, EngineError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM wizard_draft WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        if let Some(body) = body {
            if let Ok(mut d) = serde_json::from_str::<Draft>(&body) {
                d.upgrade();
                return Ok(d);
            }
        }
        Ok(match self.latest_revision(vault).await? {
            Some(r) => {
                let mut d = Draft::from_config(&r.config);
                if let Some(t) = self.secret(vault, TARGET_SETTINGS).await? {
                    d.target = serde_json::from_str(&t).unwrap_or_default();
                }
                d.kubeconfig_set = self.draft_kubeconfig(vault).await?.is_some();
                d
            }
            None => Draft::default(),
        })
    }

    pub async fn save_wizard_draft(&self, draft: &Draft) -> Result<(), EngineError> {
        let body = serde_json::to_string(draft).map_err(|e| EngineError::Config(e.to_string()))?;
        sqlx::query(
            "INSERT INTO wizard_draft (id, body, updated_at) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(body)
        .bind(now_unix())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Drops the draft (after it became a revision).
    /// Forgets the draft once it became a revision, with its SMTP password
    /// (the revision keeps its own; a stale draft one would win over a later
    /// revision's).
    pub async fn clear_wizard_draft(&self) -> Result<(), EngineError> {
        sqlx::query("DELETE FROM wizard_draft")
            .execute(self.pool())
            .await?;
        for name in [DRAFT_SMTP_PASSWORD, DRAFT_OWN_TLS] {
            sqlx::query("DELETE FROM sealed_secrets WHERE name = ?")
                .bind(name)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Keeps the deploy target chosen in the wizard for the next Settings
    /// edit (each revision keeps its own [`crate::targets::TargetSettings`]).
    pub async fn save_target_settings(
        &self,
        vault: &Vault,
        target: &TargetDraft,
    ) -> Result<(), EngineError> {
        let json =
            serde_json::to_string(target).map_err(|e| EngineError::Secrets(e.to_string()))?;
        self.put_secret(vault, TARGET_SETTINGS, &json).await
    }

    /// The SMTP password of the draft, else of the newest revision.
    pub async fn draft_smtp_password(&self, vault: &Vault) -> Result<Option<String>, EngineError> {
        match self.secret(vault, DRAFT_SMTP_PASSWORD).await? {
            Some(pw) => Ok(Some(pw)),
            None => self.latest_smtp_password(vault).await,
        }
    }

    pub async fn put_draft_smtp_password(
        &self,
        vault: &Vault,
        pw: &str,
    ) -> Result<(), EngineError> {
        self.put_secret(vault, DRAFT_SMTP_PASSWORD, pw).await
    }

    /// The own certificate pair pasted on the TLS step (sealed), as one
    /// value for [`crate::revisions`].
    pub(crate) async fn draft_own_tls(&self, vault: &Vault) -> Result<Option<String>, EngineError> {
        self.secret(vault, DRAFT_OWN_TLS).await
    }

    pub async fn put_draft_own_tls(
        &self,
        vault: &Vault,
        cert: &str,
        key: &str,
    ) -> Result<(), EngineError> {
        let pair = crate::revisions::join_pair(cert, key)?;
        self.put_secret(vault, DRAFT_OWN_TLS, &pair).await
    }

    pub async fn draft_kubeconfig(&self, vault: &Vault) -> Result<Option<String>, EngineError> {
        self.secret(vault, DRAFT_KUBECONFIG).await
    }

    pub async fn put_draft_kubeconfig(&self, vault: &Vault, yaml: &str) -> Result<(), EngineError> {
        self.put_secret(vault, DRAFT_KUBECONFIG, yaml).await
    }

    /// The Docker TLS settings pasted on the Target step (kept like the
    /// kubeconfig, so editing the configuration later keeps them).
    pub async fn draft_docker_tls(
        &self,
        vault: &Vault,
    ) -> Result<Option<crate::deploy::DockerTls>, EngineError> {
        match self.secret(vault, DRAFT_DOCKER_TLS).await? {
            Some(text) => crate::deploy::DockerTls::from_sealed_text(&text)
                .map(Some)
                .map_err(EngineError::Secrets),
            None => Ok(None),
        }
    }

    pub async fn put_draft_docker_tls(
        &self,
        vault: &Vault,
        tls: &crate::deploy::DockerTls,
    ) -> Result<(), EngineError> {
        self.put_secret(vault, DRAFT_DOCKER_TLS, &tls.to_sealed_text())
            .await
    }
}
