//! The services of a running stack as the dashboard shows them: the
//! target's snapshot, sent as it is to the page (first load and
//! `/live/status`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Unhealthy,
    /// Has a health check that has not passed yet, within its start period.
    Starting,
    /// No health check (a one-shot job, or a service without a probe).
    None,
}

impl Health {
    /// `healthy`, `unhealthy`, `starting`, `none`: the serialized name
    /// (also the CSS class of its badge).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Starting => "starting",
            Health::None => "none",
        }
    }

    /// As the operator reads it: a service without a health check has
    /// "no check", not "none" (which reads like "not healthy").
    pub fn label(self) -> &'static str {
        match self {
            Health::None => "no check",
            other => other.as_str(),
        }
    }
}

/// One service of a running stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub service: String,
    pub container: String,
    /// `running`, `exited`, `restarting`, `created`, `paused`, `dead`.
    pub state: String,
    /// Docker's health for exec checks, Burrow's own probe for HTTP/TCP ones.
    pub health: Health,
    pub restart_count: u64,
    /// RFC 3339; `None` if the container never started.
    pub started_at: Option<String>,
    /// Only while running.
    pub uptime_secs: Option<u64>,
    pub image: String,
    /// `127.0.0.1:18443->443/tcp`; consecutive ports shown as one range.
    pub ports: Vec<String>,
    /// Only once the container has exited.
    pub exit_code: Option<i64>,
    pub revision: Option<i64>,
    /// A job that runs to completion: `exited` with code 0 is its success.
    pub one_shot: bool,
    /// The node a Kubernetes pod runs on (`None` on Docker, or while the
    /// pod is not scheduled yet).
    #[serde(default)]
    pub node: Option<String>,
}

impl ServiceStatus {
    /// Whether the row should stand out: stopped, failing or restarting (a
    /// one-shot only when it exited with an error).
    pub fn is_trouble(&self) -> bool {
        if self.one_shot {
            return self.state != "running" && self.exit_code.unwrap_or(0) != 0;
        }
        self.state != "running" || self.health == Health::Unhealthy
    }
}

/// One event a Kubernetes cluster recorded in the stack's namespace (the
/// dashboard's "Cluster events"): a pod scheduled, an image pulled, a
/// probe failing, a back-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// `Normal` or `Warning`.
    pub kind: String,
    /// `Scheduled`, `Pulled`, `BackOff`, `Unhealthy`, …
    pub reason: String,
    /// What it is about: `Pod/api-5d8f7c-x2x9z`.
    pub object: String,
    pub message: String,
    /// How many times it happened (the API server folds repeats).
    pub count: u32,
    /// RFC 3339, when it last happened.
    pub last_seen: Option<String>,
}

impl ClusterEvent {
    pub fn is_warning(&self) -> bool {
        self.kind == "Warning"
    }
}

/// One request made to the chat server through Caddy (the dashboard's
/// "the chat server answers").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub path: String,
    pub ok: bool,
    /// One sentence: what answered, or what went wrong.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(state: &str, health: Health, one_shot: bool, exit: Option<i64>) -> ServiceStatus {
        ServiceStatus {
            service: "api".into(),
            container: "s-api".into(),
            state: state.into(),
            health,
            restart_count: 0,
            started_at: None,
            uptime_secs: None,
            image: "x/api:1".into(),
            ports: Vec::new(),
            exit_code: exit,
            revision: Some(1),
            one_shot,
            node: None,
        }
    }

    #[test]
    fn trouble_is_stopped_or_unhealthy_and_a_failed_job() {
        assert!(!service("running", Health::Healthy, false, None).is_trouble());
        assert!(!service("running", Health::None, false, None).is_trouble());
        assert!(service("running", Health::Unhealthy, false, None).is_trouble());
        assert!(service("exited", Health::None, false, Some(0)).is_trouble());
        assert!(!service("exited", Health::None, true, Some(0)).is_trouble());
        assert!(service("exited", Health::None, true, Some(1)).is_trouble());
    }

    #[test]
    fn health_reads_no_check_without_one() {
        assert_eq!(Health::None.label(), "no check");
        assert_eq!(Health::Healthy.label(), "healthy");
        assert_eq!(
            serde_json::to_string(&Health::None).unwrap(),
            format!("\"{}\"", Health::None.as_str())
        );
    }
}
