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

    /// The daemon stopped answering while Burrow was working with it.
    #[error(
        "{context} failed: the Docker daemon at {url} stopped answering ({reason}). Once it \
         runs again (`systemctl start docker`), deploy again: what already runs is kept, and \
         the deploy goes on from where it stopped"
    )]
    DaemonGone {
        context: String,
        url: String,
        reason: String,
    },

    /// An existing data volume was initialised with other secrets than
    /// the ones this deploy renders with: starting would only fail later
    /// ("Authentication failed"), or worse, mix two installs' data.
    #[error(
        "the volume {volume} holds data made with other secrets than this install's (a \
         reinstall that lost its data folder, or another stack named {stack}); nothing was \
         changed. Either bring this data's own secrets back (restore the backup, or the data \
         folder with its secrets.key, that made it), or start empty: remove the stack's volumes \
         (`burrow down --config stack.toml --volumes`), which deletes that data"
    )]
    SecretsMismatch { volume: String, stack: String },

    /// The Kubernetes API server refused or could not be asked; `message`
    /// is its own (or the client's) sentence.
    #[error("{context} failed: {message}")]
    Kube { context: String, message: String },

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

/// Why a request to the daemon got no answer, in a few words; `None` when
/// the daemon did answer (with an error of its own).
fn no_answer(e: &bollard::errors::Error) -> Option<String> {
    use bollard::errors::Error as E;
    use std::io::ErrorKind as K;
    match e {
        E::RequestTimeoutError => return Some("no answer in time".to_owned()),
        E::SocketNotFoundError(path) => return Some(format!("its socket {path} is gone")),
        E::HyperLegacyError { .. } | E::HyperResponseError { .. } | E::IOError { .. } => {}
        _ => return None,
    }
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(
                match io.kind() {
                    K::ConnectionRefused => "connection refused",
                    K::NotFound => "its socket is gone",
                    K::ConnectionReset
                    | K::ConnectionAborted
                    | K::BrokenPipe
                    | K::UnexpectedEof => "the connection was cut",
                    K::TimedOut => "no answer in time",
                    _ => return Some(io.to_string()),
                }
                .to_owned(),
            );
        }
        current = err.source();
    }
    // hyper's own words: "connection closed before message completed", …
    let mut innermost = e.to_string();
    let mut current = std::error::Error::source(e);
    while let Some(err) = current {
        innermost = err.to_string();
        current = err.source();
    }
    Some(innermost)
}

impl DeployError {
    /// A daemon error that is really the daemon being gone becomes
    /// [`DeployError::DaemonGone`], naming the address `url`; every other
    /// error is returned as it is.
    pub(crate) fn on_daemon(self, url: &str) -> Self {
        match self {
            DeployError::Docker { context, source } => match no_answer(&source) {
                Some(reason) => DeployError::DaemonGone {
                    context,
                    url: url.to_owned(),
                    reason,
                },
                None => DeployError::Docker { context, source },
            },
            other => other,
        }
    }

    /// A Kubernetes client error while doing `context`: the API server's
    /// own message when it answered.
    pub(crate) fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let context = context.into();
        move |e| DeployError::Kube {
            context,
            message: match e {
                kube::Error::Api(r) => r.message,
                other => other.to_string(),
            },
        }
    }

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
    fn a_daemon_that_stops_answering_is_a_sentence_with_the_fix() {
        let cut = DeployError::docker("inspecting s-livekit")(bollard::errors::Error::IOError {
            err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        })
        .on_daemon("tcp://127.0.0.1:2375");
        assert!(matches!(cut, DeployError::DaemonGone { .. }), "{cut:?}");
        let text = cut.to_string();
        assert!(
            text.starts_with(
                "inspecting s-livekit failed: the Docker daemon at tcp://127.0.0.1:2375 \
                 stopped answering (connection refused)."
            ),
            "{text}"
        );
        assert!(text.contains("deploy again"), "{text}");
        // The daemon answered: its own message, not "stopped answering".
        let answered = DeployError::docker("creating s-api")(
            bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message: "name in use".into(),
            },
        )
        .on_daemon("tcp://127.0.0.1:2375");
        assert_eq!(answered.to_string(), "creating s-api failed: name in use");
        // Errors that are not the daemon's pass through.
        let other = DeployError::Conflict {
            message: "busy".into(),
        }
        .on_daemon("x");
        assert_eq!(other.to_string(), "busy");
    }

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
