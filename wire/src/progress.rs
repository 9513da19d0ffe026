//! What a deploy reports while it runs, and how it ended. The events are
//! plain data (no secret values, ever): the engine stores them as JSON and
//! replays them to a reloaded page, so their serde shape is also the stored
//! shape. Change it only in ways old rows still read (new fields with
//! `#[serde(default)]`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// No container yet.
    Create,
    /// Its configuration changed: replaced by a new container.
    Recreate,
    /// Same configuration and running (or a completed one-shot).
    Unchanged,
    /// Same configuration but stopped: started again.
    Start,
    /// No longer in the plan.
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChange {
    pub service: String,
    pub action: ChangeAction,
}

/// How far the pull of one image is, over all its layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullTally {
    pub layers: u32,
    pub layers_done: u32,
    /// Compressed bytes downloaded, of `bytes_total` known so far.
    pub bytes: u64,
    pub bytes_total: u64,
}

impl std::fmt::Display for PullTally {
    /// "2 of 5 layers, 12.3 of 40.1 MB".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = |b: u64| crate::tenths(b, 1_000_000);
        write!(f, "{} of {} layers", self.layers_done, self.layers)?;
        if self.bytes_total > 0 {
            write!(f, ", {} of {} MB", mb(self.bytes), mb(self.bytes_total))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProgressEvent {
    /// First event of an apply: what will happen to each service.
    Planned {
        changes: Vec<PlannedChange>,
    },
    /// `service` is the first service that uses `image`.
    PullStarted {
        service: String,
        image: String,
    },
    /// The daemon's progress for one layer (`status` is its text, e.g.
    /// "Downloading"; sizes in bytes when it knows them), with the totals of
    /// the whole image so far (absent from events stored before totals were
    /// kept).
    PullProgress {
        image: String,
        status: String,
        current: Option<u64>,
        total: Option<u64>,
        #[serde(default)]
        tally: PullTally,
    },
    PullDone {
        image: String,
    },
    Creating {
        service: String,
    },
    Started {
        service: String,
    },
    WaitingHealthy {
        service: String,
    },
    Healthy {
        service: String,
        /// Since the container was started (or since the wait began, for a
        /// container that was already running).
        after_ms: u64,
    },
    /// A one-shot job exited 0.
    Completed {
        service: String,
    },
    Unchanged {
        service: String,
    },
    Removed {
        service: String,
    },
    /// Volumes no service uses any more, deleted on request.
    VolumesRemoved {
        volumes: Vec<String>,
    },
    /// `service` is `None` for failures that are not one service's (an
    /// unreachable daemon, an image that cannot be pulled before anything
    /// changed, a plan that cannot be applied).
    Failed {
        service: Option<String>,
        message: String,
        #[serde(default)]
        last_logs: Vec<String>,
    },
    /// Last event of a successful apply or remove.
    Finished {
        created: u32,
        recreated: u32,
        unchanged: u32,
        removed: u32,
        elapsed_ms: u64,
    },
}

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Running,
    Succeeded,
    Failed,
    /// The process that ran it stopped while it ran.
    Interrupted,
}

impl DeploymentStatus {
    /// `running`, `succeeded`, `failed`, `interrupted` (also the CSS class
    /// of its badge).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last message of a deployment's progress stream: how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentDone {
    pub status: DeploymentStatus,
    pub summary: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_kind() {
        let e = ProgressEvent::Healthy {
            service: "api".into(),
            after_ms: 1200,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"healthy","service":"api","after_ms":1200}"#
        );
        let back: ProgressEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        let planned = ProgressEvent::Planned {
            changes: vec![PlannedChange {
                service: "web".into(),
                action: ChangeAction::Recreate,
            }],
        };
        assert_eq!(
            serde_json::to_string(&planned).unwrap(),
            r#"{"kind":"planned","changes":[{"service":"web","action":"recreate"}]}"#
        );
    }

    #[test]
    fn events_stored_before_pull_totals_still_read() {
        // The shape of 89ca10c: no `tally`.
        let old = r#"{"kind":"pull_progress","image":"x/api:1","status":"a: Downloading","current":5,"total":10}"#;
        let e: ProgressEvent = serde_json::from_str(old).unwrap();
        assert_eq!(
            e,
            ProgressEvent::PullProgress {
                image: "x/api:1".into(),
                status: "a: Downloading".into(),
                current: Some(5),
                total: Some(10),
                tally: PullTally::default(),
            }
        );
        let failed: ProgressEvent =
            serde_json::from_str(r#"{"kind":"failed","message":"daemon gone"}"#).unwrap();
        assert_eq!(
            failed,
            ProgressEvent::Failed {
                service: None,
                message: "daemon gone".into(),
                last_logs: Vec::new(),
            }
        );
    }

    #[test]
    fn tally_reads_as_layers_and_megabytes() {
        let t = PullTally {
            layers: 3,
            layers_done: 1,
            bytes: 2_500_000,
            bytes_total: 10_000_000,
        };
        assert_eq!(t.to_string(), "1 of 3 layers, 2.5 of 10.0 MB");
        assert_eq!(
            PullTally {
                layers: 2,
                ..Default::default()
            }
            .to_string(),
            "0 of 2 layers"
        );
    }

    #[test]
    fn done_carries_the_status_as_stored() {
        let done = DeploymentDone {
            status: DeploymentStatus::Interrupted,
            summary: Some("gone".into()),
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"status":"interrupted","summary":"gone"}"#
        );
    }
}
