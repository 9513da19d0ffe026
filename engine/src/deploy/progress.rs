//! What a deploy reports while it runs. The events are plain data (no secret
//! values, ever) so they can be stored and replayed to a reloaded page.

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
        let mb = |b: u64| b as f64 / 1_000_000.0;
        write!(f, "{} of {} layers", self.layers_done, self.layers)?;
        if self.bytes_total > 0 {
            write!(
                f,
                ", {:.1} of {:.1} MB",
                mb(self.bytes),
                mb(self.bytes_total)
            )?;
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
    /// the whole image so far.
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
}
