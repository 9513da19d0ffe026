//! The Audit page: entries, the filter, and whether the hash chain holds.

use serde::{Deserialize, Serialize};

/// One audit entry as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub ip: String,
    pub action: String,
    pub outcome: String,
    pub detail: String,
    /// How many times (a refusal repeated in a row is one entry).
    pub repeats: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    /// Newest first, at most [`AuditView::LIMIT`].
    pub entries: Vec<AuditRow>,
    /// Every action in the log, for the filter.
    pub actions: Vec<String>,
    /// The filter as applied (empty: all).
    pub action: String,
    pub actor: String,
    /// Whether the hash chain holds, and the sentence saying so.
    pub intact: bool,
    pub chain: String,
}

impl AuditView {
    /// Entries a page shows; the CSV export has them all.
    pub const LIMIT: i64 = 500;
}
