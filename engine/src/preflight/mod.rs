//! The checks the first-run wizard runs before anything is deployed, each
//! reporting what it found as plain data plus sentences the operator can act
//! on: a summary, and for every problem one sentence that names the fix.
//!
//! - [`host`]: which machine the stack runs on: this one, or the machine of
//!   a Docker daemon reached over TCP.
//! - [`dns`]: what the chosen domain resolves to, and whether that is the
//!   machine the stack runs on.
//! - [`ports`]: whether the host ports the stack publishes are free, naming
//!   the process or container that holds a busy one (`sockets` reads `/proc`
//!   for that).
//! - [`docker`]: "Test connection" for a Docker target.
//! - [`kube`]: "Test connection" for a Kubernetes target: server version,
//!   namespace, and whether Burrow may create what a deploy needs.
//!
//! Checks never fail as a whole: what went wrong is part of the report, so
//! the wizard always has something to show. Reports never contain secrets
//! (a kubeconfig's tokens and keys stay inside the check).

pub mod dns;
pub mod docker;
mod holders;
pub mod host;
pub mod kube;
mod kube_failure;
pub(crate) mod kube_source;
pub mod ports;
mod sockets;

pub use dns::{resolve_domain, resolve_domain_for, DomainReport, SystemResolver};
pub use docker::{test_docker, test_docker_with, DockerReport};
pub use holders::Holder;
pub use host::{stack_host, StackHost};
pub use kube::{test_kubernetes, KubeFailure, KubeReport, KubeSource};
pub use ports::{
    check_ports, check_ports_on, check_ports_with_docker, HeldPorts, PortReport, PortStatus,
    PortWanted, Protocol,
};

/// `items` as English: `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    join_with(items, "and")
}

/// "a, b `word` c".
fn join_with<S: AsRef<str>>(items: &[S], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => format!(
            "{} {word} {}",
            init.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// `text` with its first letter in upper case, ending with a full stop.
fn as_sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_english() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(join_and(&s(&[])), "");
        assert_eq!(join_and(&s(&["a"])), "a");
        assert_eq!(join_and(&s(&["a", "b"])), "a and b");
        assert_eq!(join_and(&s(&["a", "b", "c"])), "a, b and c");
    }

    #[test]
    fn sentences_start_upper_and_end_with_a_stop() {
        assert_eq!(as_sentence("cannot reach it: fix"), "Cannot reach it: fix.");
        assert_eq!(as_sentence("Done."), "Done.");
        assert_eq!(as_sentence("  "), "");
    }
}
