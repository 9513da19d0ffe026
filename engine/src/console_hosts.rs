//! The names the console answers to, against DNS rebinding.
//!
//! A web page on a domain its owner can point anywhere (first at their
//! server, then at 127.0.0.1) makes the browser talk to a console on this
//! machine as if it were that domain. The request then carries the
//! attacker's name in `Host`, so the console serves only requests for its
//! own names: IP literals (a page at an IP address is that address's own
//! origin), `localhost` and `*.localhost`, the names in its certificate, and
//! the names the operator adds (`BURROW_HOSTNAMES`).

use std::net::IpAddr;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleHosts {
    /// Lower case, without a trailing dot; `*.example.com` covers one label.
    names: Vec<String>,
}

impl ConsoleHosts {
    /// The console's names besides IP literals and `localhost`.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut list: Vec<String> = names
            .into_iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        list.sort();
        list.dedup();
        Self { names: list }
    }

    /// Whether a request whose `Host` (or `:authority`) is `host` is for
    /// this console. A port, if any, does not matter.
    pub fn permits(&self, host: &str) -> bool {
        let name = host_part(host).trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        if name.parse::<IpAddr>().is_ok() {
            return true;
        }
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        self.names
            .iter()
            .any(|pattern| crate::certs::covers(pattern, &name))
    }
}

/// `host` without its port, and an IPv6 literal without its brackets.
fn host_part(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        // One colon: name or IPv4 with a port. More: a bare IPv6 literal.
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_and_addresses_pass_and_others_do_not() {
        let hosts = ConsoleHosts::new([
            "Console.Example.com.".to_owned(),
            "*.ops.example".to_owned(),
        ]);
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "::1",
            "192.0.2.7:443",
            "localhost:8080",
            "LOCALHOST",
            "burrow.localhost",
            "console.example.com",
            "console.example.com.:443",
            "a.ops.example",
        ] {
            assert!(hosts.permits(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "console.example.com.evil.example",
            "a.b.ops.example",
            "ops.example",
            "",
            ":8080",
        ] {
            assert!(!hosts.permits(refused), "{refused:?}");
        }
    }
}
