//! Whether Burrow itself runs in a Docker container (the image of
//! `Dockerfile`, beside the daemon's socket), and which one. Then the
//! stacks it deploys are not reached through this machine's loopback or
//! their bridge addresses from outside: Burrow joins each stack's network,
//! probes its containers there, and reaches Caddy by its container name.

use std::sync::OnceLock;

static ME: OnceLock<Option<String>> = OnceLock::new();
static CONFIRMED: OnceLock<String> = OnceLock::new();

/// This process's container, as far as it can tell by itself:
/// `BURROW_CONTAINER_ID` when set, else, inside a Docker container
/// (`/.dockerenv`), its host name (Docker makes it the container's short
/// id). `None` on a plain host. Only a candidate: a machine that is itself
/// a container of another runtime looks the same, so the Docker target
/// asks its daemon ([`confirmed`]).
pub fn candidate() -> Option<&'static str> {
    ME.get_or_init(|| {
        detect(
            std::env::var("BURROW_CONTAINER_ID").ok(),
            std::path::Path::new("/.dockerenv").exists(),
            std::fs::read_to_string("/etc/hostname").ok(),
        )
    })
    .as_deref()
}

/// The container Burrow runs in, once a Docker daemon it deploys to said
/// it has it (and Burrow joined a stack's network there).
pub fn confirmed() -> Option<&'static str> {
    CONFIRMED.get().map(String::as_str)
}

/// Records that the daemon has Burrow's container, `id`.
pub(crate) fn confirm(id: String) {
    let _ = CONFIRMED.set(id);
}

fn detect(given: Option<String>, in_docker: bool, hostname: Option<String>) -> Option<String> {
    let given = given.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    given.or_else(|| {
        in_docker
            .then(|| hostname.map(|h| h.trim().to_owned()))
            .flatten()
            .filter(|h| !h.is_empty())
    })
}

/// Where Burrow reaches Caddy of `config`'s stack: on a host, the address
/// and port it is published on; in a container of the stack's daemon, its
/// container name on the stack's network (Caddy listens inside on the
/// published port).
pub fn caddy_address(config: &stack::model::StackConfig) -> (String, u16) {
    let port = config.network.https_port.get();
    match confirmed() {
        Some(_) => (format!("{}-caddy", config.name.as_str()), port),
        None => (
            config
                .network
                .host_ip()
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
                .to_string(),
            port,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_told_or_found() {
        assert_eq!(detect(None, false, Some("box\n".into())), None);
        assert_eq!(
            detect(None, true, Some("3f2a1b9c8d7e\n".into())).as_deref(),
            Some("3f2a1b9c8d7e")
        );
        assert_eq!(
            detect(Some("burrow".into()), false, None).as_deref(),
            Some("burrow")
        );
        assert_eq!(detect(Some(" ".into()), true, Some(String::new())), None);
    }
}
