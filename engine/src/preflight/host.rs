//! Which machine the stack will run on, so that the domain and port checks
//! ask about that machine and not about the one Burrow runs on.
//!
//! A daemon on a socket, or on TCP at one of this machine's own addresses, is
//! this machine. A daemon at `tcp://host:port` elsewhere is another machine:
//! the domain must point at *its* addresses, and Burrow cannot bind ports
//! there, so only what that daemon's containers publish can be checked.

use std::net::IpAddr;

use super::dns::{is_local_address, Resolver};

/// The machine the stack's containers will run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackHost {
    /// The machine Burrow runs on.
    ThisMachine,
    /// The Docker host at `name` (as written in its address), with the
    /// addresses `name` resolved to (empty when it could not be looked up).
    Remote {
        name: String,
        addresses: Vec<IpAddr>,
    },
}

impl StackHost {
    /// Whether `ip` is an address of this host.
    pub fn owns(&self, ip: IpAddr) -> bool {
        match self {
            StackHost::ThisMachine => is_local_address(ip),
            StackHost::Remote { addresses, .. } => addresses.contains(&ip),
        }
    }

    /// How sentences name this host: "this machine", "the Docker host
    /// dockerbox (192.0.2.7)".
    pub fn phrase(&self) -> String {
        match self {
            StackHost::ThisMachine => "this machine".to_owned(),
            StackHost::Remote { name, addresses } => {
                let ips: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
                if ips.is_empty() || ips.iter().all(|ip| ip == name) {
                    format!("the Docker host {name}")
                } else {
                    format!("the Docker host {name} ({})", super::join_and(&ips))
                }
            }
        }
    }
}

impl StackHost {
    /// The host without its addresses: "this machine", "the Docker host
    /// dockerbox".
    pub fn name(&self) -> String {
        match self {
            StackHost::ThisMachine => "this machine".to_owned(),
            StackHost::Remote { name, .. } => format!("the Docker host {name}"),
        }
    }

    /// What a DNS record should point at: "this server's public address".
    pub fn public_address(&self) -> String {
        match self {
            StackHost::ThisMachine => "this server's public address".to_owned(),
            StackHost::Remote { .. } => format!("{}'s public address", self.phrase()),
        }
    }
}

/// The host name in a Docker address, when the address names one:
/// `tcp://dockerbox:2375` → `dockerbox`, `tcp://[2001:db8::7]:2375` →
/// `2001:db8::7`. Sockets (`unix://…`, `/path`) name none.
pub fn daemon_host_name(url: &str) -> Option<String> {
    let rest = ["tcp://", "http://", "https://"]
        .iter()
        .find_map(|scheme| url.trim().strip_prefix(scheme))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Where a stack deployed through the daemon at `docker_url` runs (`None`:
/// `DOCKER_HOST`, else the local socket, as the deploy connects).
pub async fn stack_host(docker_url: Option<&str>, resolver: &dyn Resolver) -> StackHost {
    let url = match docker_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => u.to_owned(),
        None => std::env::var("DOCKER_HOST").unwrap_or_default(),
    };
    let Some(name) = daemon_host_name(&url) else {
        return StackHost::ThisMachine;
    };
    let addresses = match name.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolver.lookup(&name).await.unwrap_or_default(),
    };
    if !addresses.is_empty() && addresses.iter().all(|&ip| is_local_address(ip)) {
        return StackHost::ThisMachine;
    }
    StackHost::Remote { name, addresses }
}

#[cfg(test)]
mod tests {
    use super::super::dns::LookupError;
    use super::*;

    struct Fixed;

    #[async_trait::async_trait]
    impl Resolver for Fixed {
        async fn lookup(&self, domain: &str) -> Result<Vec<IpAddr>, LookupError> {
            match domain {
                "dockerbox" => Ok(vec!["192.0.2.7".parse().unwrap()]),
                "localhost" => Ok(vec!["127.0.0.1".parse().unwrap()]),
                _ => Err(LookupError::NoRecords),
            }
        }
    }

    #[test]
    fn host_names_come_out_of_docker_addresses() {
        assert_eq!(
            daemon_host_name("tcp://dockerbox:2375").as_deref(),
            Some("dockerbox")
        );
        assert_eq!(
            daemon_host_name("tcp://192.0.2.7").as_deref(),
            Some("192.0.2.7")
        );
        assert_eq!(
            daemon_host_name("tcp://[2001:db8::7]:2375").as_deref(),
            Some("2001:db8::7")
        );
        assert_eq!(
            daemon_host_name("http://DockerBox:2375/").as_deref(),
            Some("dockerbox")
        );
        assert_eq!(daemon_host_name("unix:///var/run/docker.sock"), None);
        assert_eq!(daemon_host_name("/var/run/docker.sock"), None);
        assert_eq!(daemon_host_name("tcp://"), None);
    }

    #[tokio::test]
    async fn sockets_and_own_addresses_are_this_machine() {
        assert_eq!(
            stack_host(Some("unix:///var/run/docker.sock"), &Fixed).await,
            StackHost::ThisMachine
        );
        assert_eq!(
            stack_host(Some("tcp://127.0.0.1:2375"), &Fixed).await,
            StackHost::ThisMachine
        );
        assert_eq!(
            stack_host(Some("tcp://localhost:2375"), &Fixed).await,
            StackHost::ThisMachine
        );
    }

    #[tokio::test]
    async fn another_daemon_is_another_host() {
        let host = stack_host(Some("tcp://dockerbox:2375"), &Fixed).await;
        assert_eq!(
            host,
            StackHost::Remote {
                name: "dockerbox".into(),
                addresses: vec!["192.0.2.7".parse().unwrap()],
            }
        );
        assert!(host.owns("192.0.2.7".parse().unwrap()));
        assert!(!host.owns("127.0.0.1".parse().unwrap()));
        assert_eq!(host.phrase(), "the Docker host dockerbox (192.0.2.7)");

        let literal = stack_host(Some("tcp://192.0.2.9:2375"), &Fixed).await;
        assert_eq!(literal.phrase(), "the Docker host 192.0.2.9");

        let unknown = stack_host(Some("tcp://nowhere:2375"), &Fixed).await;
        assert_eq!(
            unknown,
            StackHost::Remote {
                name: "nowhere".into(),
                addresses: vec![]
            }
        );
        assert!(!unknown.owns("192.0.2.7".parse().unwrap()));
    }
}
