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

/// `value / unit` with one decimal, rounded half up ("1.3"): integer
/// arithmetic, so the wasm bundle carries no float formatting.
pub fn tenths(value: u64, unit: u64) -> String {
    let unit = unit.max(1);
    let scaled = (u128::from(value) * 10 + u128::from(unit) / 2) / u128::from(unit);
    format!("{}.{}", scaled / 10, scaled % 10)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenths_round_half_up_without_floats() {
        assert_eq!(tenths(1250, 1000), "1.3");
        assert_eq!(tenths(1249, 1000), "1.2");
        assert_eq!(tenths(0, 1000), "0.0");
        assert_eq!(tenths(12_345_678, 1_000_000), "12.3");
        assert_eq!(tenths(1536, 1024), "1.5");
        assert_eq!(tenths(u64::MAX, 1), format!("{}.0", u64::MAX));
        assert_eq!(tenths(7, 0), "7.0");
    }
}
