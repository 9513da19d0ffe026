//! What the stack's domain resolves to, and whether that is this machine.
//!
//! Browsers, the Stoat apps and (with ACME) the certificate authority all
//! reach the stack through the domain's A/AAAA records, so a record pointing
//! elsewhere is the most common reason a fresh install "does not work".
//!
//! The lookup goes through the system resolver, as every other program on
//! this machine sees the name (`/etc/hosts` included). An address counts as
//! this machine's when a socket can be bound to it: the kernel only allows
//! that for its own addresses, and binding sends nothing.

use std::io;
use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::host::StackHost;
use super::join_and;

/// How long the lookup may take before it counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a lookup produced no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The name has no A or AAAA record (or does not exist at all).
    NoRecords,
    /// The resolver could not answer: no network, no DNS server, timeout.
    Failed(String),
}

/// Turns a name into addresses. The system resolver in production; tests
/// inject fixed answers so that no query leaves the machine.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    async fn lookup(&self, domain: &str) -> Result<Vec<IpAddr>, LookupError>;
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolver for SystemResolver {
    async fn lookup(&self, domain: &str) -> Result<Vec<IpAddr>, LookupError> {
        let lookup = tokio::net::lookup_host((domain, 0));
        match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Err(_) => Err(LookupError::Failed(format!(
                "no answer within {} s",
                LOOKUP_TIMEOUT.as_secs()
            ))),
            Ok(Err(e)) => Err(classify_lookup_error(&e)),
            Ok(Ok(addrs)) => {
                let mut ips: Vec<IpAddr> = Vec::new();
                for addr in addrs {
                    if !ips.contains(&addr.ip()) {
                        ips.push(addr.ip());
                    }
                }
                Ok(ips)
            }
        }
    }
}

/// getaddrinfo's errors only reach us as text ("failed to lookup address
/// information: Name or service not known").
fn classify_lookup_error(err: &io::Error) -> LookupError {
    let text = err.to_string();
    let no_records = [
        "Name or service not known",
        "No address associated with hostname",
        "nodename nor servname provided",
    ];
    if no_records.iter().any(|s| text.contains(s)) {
        return LookupError::NoRecords;
    }
    let detail = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    LookupError::Failed(detail.to_string())
}

/// One address the domain resolves to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResolvedAddress {
    pub ip: IpAddr,
    /// `A` or `AAAA`.
    pub record: String,
    /// Whether the address belongs to the machine the stack runs on.
    pub local: bool,
}

/// Something wrong with the domain's records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DomainIssueKind {
    NoRecords,
    LookupFailed {
        detail: String,
    },
    /// The domain points to an address that is not this machine's.
    Elsewhere {
        ip: IpAddr,
    },
    /// Every address is a loopback one: nothing but this machine reaches it.
    LoopbackOnly,
    /// The Docker host's own name could not be looked up, so its addresses
    /// cannot be compared with the domain's.
    HostUnknown {
        host: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DomainIssue {
    pub kind: DomainIssueKind,
    /// One sentence: the problem and what to change.
    pub fix: String,
}

/// What the wizard shows under the domain field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DomainReport {
    pub domain: String,
    pub addresses: Vec<ResolvedAddress>,
    /// One sentence: what the name points to.
    pub summary: String,
    pub issues: Vec<DomainIssue>,
}

impl DomainReport {
    /// The domain reaches this machine and nothing else.
    pub fn ok(&self) -> bool {
        self.issues.is_empty()
    }
}

/// Looks `domain` up with the system resolver and reports what it points to.
pub async fn resolve_domain(domain: &str) -> DomainReport {
    resolve_domain_with(&SystemResolver, domain).await
}

/// [`resolve_domain`] with another resolver.
pub async fn resolve_domain_with(resolver: &dyn Resolver, domain: &str) -> DomainReport {
    resolve_domain_for(resolver, domain, &StackHost::ThisMachine).await
}

/// Looks `domain` up and reports whether it points to `host`, the machine
/// the stack runs on.
#[tracing::instrument(skip(resolver))]
pub async fn resolve_domain_for(
    resolver: &dyn Resolver,
    domain: &str,
    host: &StackHost,
) -> DomainReport {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let report = match resolver.lookup(&domain).await {
        Ok(ips) if ips.is_empty() => failed(&domain, LookupError::NoRecords, host),
        Ok(ips) => resolved(&domain, &ips, host),
        Err(e) => failed(&domain, e, host),
    };
    tracing::info!(summary = %report.summary, issues = report.issues.len(), "domain resolved");
    report
}

/// Whether `ip` is an address of this machine.
pub fn is_local_address(ip: IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    // 0.0.0.0 binds fine but is nobody's address; multicast is a group.
    if ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    UdpSocket::bind((ip, 0)).is_ok()
}

fn failed(domain: &str, error: LookupError, host: &StackHost) -> DomainReport {
    let (summary, kind, fix) = match error {
        LookupError::NoRecords => (
            format!("{domain} has no A or AAAA record."),
            DomainIssueKind::NoRecords,
            format!(
                "Create an A record for {domain} pointing at {} \
                 (new records can take a few minutes to appear).",
                host.public_address()
            ),
        ),
        LookupError::Failed(detail) => (
            format!("{domain} could not be looked up ({detail})."),
            DomainIssueKind::LookupFailed { detail },
            format!(
                "This machine could not ask DNS about {domain}: check its network and its DNS \
                 servers (/etc/resolv.conf), then try again."
            ),
        ),
    };
    DomainReport {
        domain: domain.to_string(),
        addresses: Vec::new(),
        summary,
        issues: vec![DomainIssue { kind, fix }],
    }
}

fn resolved(domain: &str, ips: &[IpAddr], host: &StackHost) -> DomainReport {
    let addresses: Vec<ResolvedAddress> = ips
        .iter()
        .map(|&ip| ResolvedAddress {
            ip,
            record: record_type(ip).to_string(),
            local: host.owns(ip),
        })
        .collect();
    if let StackHost::Remote {
        name,
        addresses: none,
    } = host
    {
        if none.is_empty() {
            let all: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
            return DomainReport {
                domain: domain.to_string(),
                addresses,
                summary: format!(
                    "{domain} points to {}; whether that is the Docker host {name} cannot be \
                     told, because {name} itself could not be looked up.",
                    join_and(&all)
                ),
                issues: vec![DomainIssue {
                    kind: DomainIssueKind::HostUnknown { host: name.clone() },
                    fix: format!(
                        "Check that this machine can resolve {name} (or give the Docker address \
                         by IP), then check again."
                    ),
                }],
            };
        }
    }
    let machine = host.phrase();
    let here: Vec<String> = addresses
        .iter()
        .filter(|a| a.local)
        .map(|a| a.ip.to_string())
        .collect();
    let elsewhere: Vec<IpAddr> = addresses
        .iter()
        .filter(|a| !a.local)
        .map(|a| a.ip)
        .collect();
    let elsewhere_text: Vec<String> = elsewhere.iter().map(IpAddr::to_string).collect();

    let summary = match (here.is_empty(), elsewhere.is_empty()) {
        (false, true) => format!("{domain} points to {} ({}).", host.name(), join_and(&here)),
        (true, false) => {
            let which = if elsewhere.len() == 1 {
                format!("which is not {machine}")
            } else {
                format!("none of which is {machine}")
            };
            format!("{domain} points to {}, {which}.", join_and(&elsewhere_text))
        }
        _ => format!(
            "{domain} points to {} ({}) and also to {}, which is not.",
            host.name(),
            join_and(&here),
            join_and(&elsewhere_text)
        ),
    };

    let mut issues: Vec<DomainIssue> = elsewhere
        .iter()
        .map(|&ip| DomainIssue {
            kind: DomainIssueKind::Elsewhere { ip },
            fix: elsewhere_fix(domain, ip, host),
        })
        .collect();
    if addresses.iter().all(|a| a.ip.is_loopback()) {
        let loopback: Vec<String> = addresses.iter().map(|a| a.ip.to_string()).collect();
        issues.push(DomainIssue {
            kind: DomainIssueKind::LoopbackOnly,
            fix: format!(
                "{domain} resolves to {}, which only this machine can reach: remove the name \
                 from /etc/hosts if it is listed there, and create an A record pointing at {}.",
                join_and(&loopback),
                host.public_address()
            ),
        });
    }
    DomainReport {
        domain: domain.to_string(),
        addresses,
        summary,
        issues,
    }
}

fn record_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "A",
        IpAddr::V6(_) => "AAAA",
    }
}

fn elsewhere_fix(domain: &str, ip: IpAddr, host: &StackHost) -> String {
    let machine = host.phrase();
    let (server, here) = match host {
        StackHost::ThisMachine => ("this server".to_owned(), "here"),
        StackHost::Remote { name, .. } => (name.clone(), "to it"),
    };
    match ip {
        IpAddr::V4(_) => format!(
            "{domain} points to {ip}, which is not {machine}: update the A record, or if \
             {server} sits behind NAT, make sure {ip} forwards ports 80 and 443 {here}."
        ),
        IpAddr::V6(_) => format!(
            "{domain} points to {ip}, which is not {machine}: update the AAAA record to \
             {server}'s IPv6 address, or remove it if {server} has none."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getaddrinfo_texts_are_classified() {
        let nx =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(classify_lookup_error(&nx), LookupError::NoRecords);
        let again = io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert_eq!(
            classify_lookup_error(&again),
            LookupError::Failed("Temporary failure in name resolution".into())
        );
    }

    #[test]
    fn loopback_is_local_and_documentation_addresses_are_not() {
        assert!(is_local_address("127.0.0.1".parse().unwrap()));
        assert!(is_local_address("::1".parse().unwrap()));
        assert!(!is_local_address("203.0.113.9".parse().unwrap()));
        assert!(!is_local_address("2001:db8::9".parse().unwrap()));
        assert!(!is_local_address("0.0.0.0".parse().unwrap()));
    }
}
