//! Types that cross the wire: the engine produces them, the server sends
//! them, the pages (server-rendered and hydrated) read them. Defined once
//! here, with serde only, so the wasm build can use them without the engine.
//! [`ansi`] is the one reading of terminal escapes in log text both ends share.

use serde::{Deserialize, Serialize};

pub mod ansi;
pub mod audit;
pub mod backups;
pub mod logs;
pub mod progress;
pub mod status;
pub mod updates;
pub mod wizard;

pub use logs::{LogLine, LogStream};
pub use progress::{
    ChangeAction, DeploymentDone, DeploymentStatus, PlannedChange, ProgressEvent, PullTally,
};
pub use status::{ClusterEvent, Health, ProbeResult, ServiceStatus};

/// `value` for a URL's query or path segment: everything but letters,
/// digits and `-_.~` percent-encoded (RFC 3986 unreserved characters).
pub fn url_component(value: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(value, RESERVED).to_string()
}

/// A rendered file as a page shows it (secret values masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownFile {
    pub name: String,
    pub content: String,
}

/// One line of a line diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// ' ' (same), '+' (added) or '-' (removed); '…' marks unchanged lines
    /// left out (`text` says how many).
    pub sign: char,
    pub text: String,
}

/// The diff of one rendered file between two revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiff {
    pub name: String,
    /// Lines added and removed.
    pub added: usize,
    pub removed: usize,
    /// The changed lines with a few lines of context around each change.
    pub lines: Vec<DiffLine>,
}

/// Two revisions compared file by file (secrets masked in both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionDiff {
    pub from: i64,
    pub to: i64,
    /// Every file that differs; empty when the rendered files are equal.
    pub files: Vec<FileDiff>,
    /// Files that were the same (names only).
    pub unchanged: Vec<String>,
    /// Set when a revision could not be rendered (it no longer validates):
    /// the diff is of the stored stack.toml instead.
    pub note: Option<String>,
}

/// One deployment made from a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentOutcome {
    pub id: i64,
    pub status: DeploymentStatus,
    pub actor: String,
    pub started_at: i64,
    pub summary: Option<String>,
}

/// One config revision on the History page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub created_at: i64,
    pub author: String,
    pub note: Option<String>,
    /// What changed against the revision before ("SMTP host changed;
    /// gifbox turned off"), or "first revision".
    pub changes: String,
    /// "Docker on this machine", "Kubernetes, namespace stoat".
    pub target: String,
    /// The revision the stack runs now (the last successful apply).
    pub deployed: bool,
    /// Why it cannot be deployed any more, if it cannot.
    pub undeployable: Option<String>,
    /// Deployments made from it, newest first.
    pub deployments: Vec<DeploymentOutcome>,
}

/// The History page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
    pub deployed: Option<i64>,
    /// A deployment is running now (its id).
    pub running: Option<i64>,
}
