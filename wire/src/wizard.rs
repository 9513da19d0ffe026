//! The first-run wizard (and Settings) as pages see it: the steps, the view
//! of one step, the review, and the outcome of a test.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DiffLine, ShownFile};

/// The wizard's steps, in order. A URL names one by its slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Domain,
    Tls,
    Smtp,
    Voice,
    Apps,
    Target,
    Review,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Domain,
        Step::Tls,
        Step::Smtp,
        Step::Voice,
        Step::Apps,
        Step::Target,
        Step::Review,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Step::Domain => "domain",
            Step::Tls => "tls",
            Step::Smtp => "smtp",
            Step::Voice => "voice",
            Step::Apps => "apps",
            Step::Target => "target",
            Step::Review => "review",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::Domain => "Domain",
            Step::Tls => "TLS",
            Step::Smtp => "E-mail",
            Step::Voice => "Voice & video",
            Step::Apps => "Apps",
            Step::Target => "Target",
            Step::Review => "Review",
        }
    }

    /// The step a slug names, if any.
    pub fn from_slug(slug: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.slug() == slug)
    }

    fn index(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn next(self) -> Option<Step> {
        Step::ALL.get(self.index() + 1).copied()
    }

    pub fn previous(self) -> Option<Step> {
        self.index().checked_sub(1).map(|i| Step::ALL[i])
    }

    /// The steps before this one.
    pub fn before(self) -> &'static [Step] {
        &Step::ALL[..self.index()]
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

/// Let's Encrypt's staging directory (the TLS step's staging toggle).
pub const LE_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's production directory.
pub const LE_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// A message about one field (its `stack.toml` key path, or a step slug).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub field: String,
    pub message: String,
}

/// One result of the domain step's checks (DNS, ports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub ok: bool,
    /// "ok", "warning" or "problem".
    pub level: String,
    pub title: String,
    pub detail: String,
}

/// The outcome of "Send test mail" or "Test connection", as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub ok: bool,
    pub sentence: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One step of the wizard as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WizardView {
    pub step: Step,
    /// Every step with whether it is completed.
    pub steps: Vec<(Step, bool)>,
    /// `stack.toml` key path -> value, as saved (or as typed before a test
    /// that did not save).
    pub values: BTreeMap<String, String>,
    pub smtp_password_set: bool,
    pub docker_url: String,
    pub kube_source: String,
    pub kube_context: String,
    pub kube_namespace: String,
    #[serde(default)]
    pub kube_ingress_class: String,
    #[serde(default)]
    pub kube_issuer: String,
    pub kubeconfig_set: bool,
    /// TLS settings for a `tcp://` daemon are kept (never sent back).
    #[serde(default)]
    pub docker_tls_set: bool,
    /// Warnings, each naming its field.
    pub warnings: Vec<Notice>,
    /// Whether a revision exists already (the wizard then edits settings).
    pub editing: bool,
    /// Step-specific results as sentences: DNS and ports on the domain step.
    pub checks: Vec<Check>,
    pub review: Option<Review>,
    /// The last test mail / connection test of this session, so a page
    /// without JavaScript shows it after its form posted.
    pub last_mail: Option<TestOutcome>,
    pub last_target: Option<TestOutcome>,
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

    pub fn is_completed(&self, step: Step) -> bool {
        self.steps.iter().any(|(s, done)| *s == step && *done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip_and_steps_are_ordered() {
        for s in Step::ALL {
            assert_eq!(Step::from_slug(s.slug()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.slug())
            );
        }
        assert_eq!(Step::from_slug("nope"), None);
        assert_eq!(Step::Domain.previous(), None);
        assert_eq!(Step::Domain.next(), Some(Step::Tls));
        assert_eq!(Step::Review.next(), None);
        assert_eq!(Step::Smtp.before(), &[Step::Domain, Step::Tls]);
    }
}
