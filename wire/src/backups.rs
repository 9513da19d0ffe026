//! The Backups page's view: every backup kept, and what is happening.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupsView {
    /// Newest first.
    pub backups: Vec<BackupView>,
    /// How many are kept (the oldest go first).
    pub keep: usize,
    /// A backup or restore in progress: what, by whom, since when.
    pub running: Option<BackupActivity>,
    /// The last backup or restore that ended.
    pub last: Option<BackupActivity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupView {
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    pub stack: String,
    /// The config revision it holds.
    pub revision: i64,
    /// The data volumes in it.
    pub volumes: Vec<String>,
    /// Their size, uncompressed.
    pub bytes: u64,
    /// Why restoring it is impossible here (its revision is unknown).
    #[serde(default)]
    pub not_restorable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupActivity {
    /// `backup` or `restore`.
    pub kind: String,
    pub actor: String,
    /// Unix seconds.
    pub started_at: i64,
    /// `running`, `succeeded`, `failed`, `interrupted`.
    pub status: String,
    pub summary: Option<String>,
}
