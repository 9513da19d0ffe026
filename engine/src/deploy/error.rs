//! Why a deploy operation failed, as a sentence the operator can act on.
//!
//! Policy: messages name the service, image or address involved and the fix
//! when there is one; they never contain an environment value (values from
//! `env_files` are secrets). `Docker` wraps unexpected daemon errors with what
//! Burrow was doing: the web layer logs it in full and shows its first line.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DeployError {
    #[error("{name:?} is not a valid stack name: {reason}")]
    InvalidStackName { name: String, reason: String },

    #[error(
        "{url:?} is not a Docker address Burrow understands: use unix:///path/to/docker.sock \
         or tcp://host:port"
    )]
    InvalidUrl { url: String },

    #[error("cannot reach the Docker daemon at {url}: {reason}")]
    Unreachable { url: String, reason: String },

    /// The target cannot be deployed to by this version (Kubernetes).
    #[error("{message}")]
    Unsupported { message: String },

    #[error("the plan cannot be applied: {message}")]
    InvalidPlan { message: String },

    #[error("{message}")]
    Conflict { message: String },

    #[error("image {image} is not on this machine and could not be pulled: {message}")]
    Pull { image: String, message: String },

    #[error(
        "{service} did not become healthy within {} s{}",
        waited.as_secs(),
        logs_suffix(last_logs)
    )]
    Unhealthy {
        service: String,
        waited: Duration,
        last_logs: Vec<String>,
    },

    #[error("{service} {reason}{}", logs_suffix(last_logs))]
    ServiceFailed {
        service: String,
        /// e.g. "exited with code 1", "keeps exiting (last exit code 1,
        /// restarted 3 times)", "is unhealthy: its health check failed 5 times".
        reason: String,
        last_logs: Vec<String>,
    },

    #[error("{service} was not started because {dependency}, which it needs, failed")]
    DependencyFailed { service: String, dependency: String },

    #[error("stack {stack} has no service {service}")]
    NoSuchService { stack: String, service: String },

    #[error("{context} failed: {}", docker_message(source))]
    Docker {
        context: String,
        #[source]
        source: bollard::errors::Error,
    },
}

/// The daemon's own message when it gave one, else the client error.
fn docker_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn logs_suffix(lines: &[String]) -> String {
    if lines.is_empty() {
        return ". It wrote no log lines.".to_string();
    }
    let mut out = format!(". Its last {} log lines:", lines.len());
    for l in lines {
        out.push_str("\n  ");
        out.push_str(l);
    }
    out
}

/// Parses a stack name given as text (the trait's `&str` arguments).
pub(crate) fn stack_name(name: &str) -> Result<stack::model::StackName, DeployError> {
    stack::model::StackName::parse(name).map_err(|e| DeployError::InvalidStackName {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

impl DeployError {
    pub(crate) fn docker(
        context: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> Self {
        let context = context.into();
        move |source| DeployError::Docker { context, source }
    }

    /// The service the error is about, if it is one service's.
    pub fn service(&self) -> Option<&str> {
        match self {
            DeployError::Unhealthy { service, .. }
            | DeployError::ServiceFailed { service, .. }
            | DeployError::DependencyFailed { service, .. }
            | DeployError::NoSuchService { service, .. } => Some(service),
            _ => None,
        }
    }

    /// Log lines the error carries (the failing service's last ones).
    pub fn last_logs(&self) -> &[String] {
        match self {
            DeployError::Unhealthy { last_logs, .. }
            | DeployError::ServiceFailed { last_logs, .. } => last_logs,
            _ => &[],
        }
    }

    /// The message without the log lines (those travel separately in events).
    pub fn summary(&self) -> String {
        let full = self.to_string();
        match full.find(". Its last ") {
            Some(i) => full[..i].to_string(),
            None => full
                .strip_suffix(". It wrote no log lines.")
                .map(str::to_string)
                .unwrap_or(full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_names_service_and_shows_logs() {
        let e = DeployError::Unhealthy {
            service: "api".into(),
            waited: Duration::from_secs(60),
            last_logs: vec!["starting".into(), "no rabbit".into()],
        };
        let s = e.to_string();
        assert!(
            s.starts_with("api did not become healthy within 60 s"),
            "{s}"
        );
        assert!(s.contains("\n  no rabbit"), "{s}");
        assert_eq!(e.summary(), "api did not become healthy within 60 s");
        assert_eq!(e.service(), Some("api"));
    }
}
