//! The Updates page's view: the channel followed and the last check.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatesView {
    pub channel: Option<ChannelView>,
    pub last_check: Option<CheckView>,
    /// The release the last completed update installed.
    #[serde(default)]
    pub installed: Option<String>,
    /// Every update, newest first.
    #[serde(default)]
    pub rollouts: Vec<RolloutView>,
    /// The private registry credentials kept (never the password).
    #[serde(default)]
    pub registry: Option<RegistryView>,
    /// Why the kept credentials cannot be used.
    #[serde(default)]
    pub registry_problem: Option<String>,
    /// Automatic updates: the policy and the driver's last word.
    #[serde(default)]
    pub auto: Option<AutoUpdateView>,
}

/// Automatic updates inside a maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoUpdateView {
    pub enabled: bool,
    /// The window's days as the form names them (`mon` ... `sun`).
    pub days: Vec<String>,
    /// `HH:MM`, UTC.
    pub start: String,
    pub end: String,
    /// "Sundays, 03:00-05:00 UTC".
    pub window: String,
    /// The window is open now.
    pub open_now: bool,
    /// When the next window opens (Unix seconds).
    pub next_window: Option<i64>,
    /// What the automatic updater did or waits for, last time it looked.
    pub last_word: Option<String>,
    pub last_word_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryView {
    /// `registry.example:5000`.
    pub host: String,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutView {
    pub id: i64,
    pub version: String,
    pub sequence: u64,
    pub actor: String,
    /// Unix seconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `running`, `completed`, `aborted`, `rolled back`, `rolling back`,
    /// `needs you`.
    pub state: String,
    pub detail: String,
    /// A completed update whose release is not the one installed now: it
    /// can be gone back to.
    #[serde(default)]
    pub can_go_back: bool,
    /// While it runs: the process driving it ("Burrow pid 42 on box").
    #[serde(default)]
    pub driver: Option<String>,
    /// Every step taken, in order.
    #[serde(default)]
    pub steps: Vec<StepView>,
    /// While it runs: what its step does now ("Pulling …: 2 of 5 layers").
    #[serde(default)]
    pub progress: Option<String>,
}

/// One step of an update's step log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    /// What the step did ("pull and check the images").
    pub what: String,
    pub took_ms: u64,
    /// Why it failed; `None`: done.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    pub url: String,
    pub name: String,
    /// The version of the root given (1 for a new channel).
    pub root_version: u64,
    /// Set by BURROW_CHANNEL_URL / BURROW_CHANNEL_ROOT (read-only here).
    pub from_environment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    /// Unix seconds.
    pub checked_at: i64,
    pub release: Option<ReleaseView>,
    /// Why no release is offered.
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub version: String,
    pub sequence: u64,
    pub channel: String,
    pub released_at: String,
    /// Markdown, shown as text.
    pub notes: String,
    pub requires_backup: bool,
    /// Said when this release failed to install before (rolled back).
    #[serde(default)]
    pub failed_before: Option<String>,
    /// Service -> the image it pins.
    #[serde(default)]
    pub images: std::collections::BTreeMap<String, String>,
    /// Which services it replaces without a pause and which pause briefly.
    #[serde(default)]
    pub pauses: Option<String>,
}
