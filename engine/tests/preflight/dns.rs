use std::net::IpAddr;

use engine::preflight::dns::{
    resolve_domain_with, DomainIssueKind, LookupError, Resolver, SystemResolver,
};
use engine::preflight::{resolve_domain, resolve_domain_for, StackHost};

/// Answers every lookup with the same result, so no query leaves the machine.
struct Fixed(Result<Vec<&'static str>, LookupError>);

#[async_trait::async_trait]
impl Resolver for Fixed {
    async fn lookup(&self, _domain: &str) -> Result<Vec<IpAddr>, LookupError> {
        self.0
            .clone()
            .map(|ips| ips.iter().map(|ip| ip.parse().unwrap()).collect())
    }
}

#[tokio::test]
async fn localhost_is_this_machine_but_nobody_elses() {
    let report = resolve_domain("localhost").await;
    assert!(!report.addresses.is_empty(), "{report:?}");
    assert!(
        report
            .addresses
            .iter()
            .all(|a| a.local && a.ip.is_loopback()),
        "{report:?}"
    );
    assert!(
        report
            .summary
            .starts_with("localhost points to this machine ("),
        "{}",
        report.summary
    );
    assert_eq!(report.issues.len(), 1, "{report:?}");
    assert_eq!(report.issues[0].kind, DomainIssueKind::LoopbackOnly);
    assert!(
        report.issues[0].fix.contains("only this machine can reach"),
        "{:?}",
        report.issues
    );
    assert!(!report.ok());
}

#[tokio::test]
async fn the_system_resolver_returns_each_address_once() {
    let ips = SystemResolver.lookup("localhost").await.unwrap();
    let mut unique = ips.clone();
    unique.dedup();
    assert_eq!(ips.len(), unique.len(), "{ips:?}");
}

#[tokio::test]
async fn an_address_elsewhere_gets_the_record_or_nat_fix() {
    let report = resolve_domain_with(&Fixed(Ok(vec!["203.0.113.9"])), "Chat.Example.com.").await;
    assert_eq!(report.domain, "chat.example.com");
    assert_eq!(report.addresses.len(), 1);
    assert_eq!(report.addresses[0].record, "A");
    assert!(!report.addresses[0].local);
    assert_eq!(
        report.summary,
        "chat.example.com points to 203.0.113.9, which is not this machine."
    );
    assert_eq!(
        report.issues[0].fix,
        "chat.example.com points to 203.0.113.9, which is not this machine: update the A \
         record, or if this server sits behind NAT, make sure 203.0.113.9 forwards ports 80 \
         and 443 here."
    );
    assert!(!report.ok());
}

#[tokio::test]
async fn an_ipv6_address_elsewhere_names_the_aaaa_record() {
    let report = resolve_domain_with(&Fixed(Ok(vec!["2001:db8::9"])), "chat.example.com").await;
    assert_eq!(report.addresses[0].record, "AAAA");
    assert!(
        report.issues[0].fix.contains("update the AAAA record"),
        "{:?}",
        report.issues
    );
}

#[tokio::test]
async fn this_machine_and_elsewhere_are_told_apart() {
    let report = resolve_domain_with(
        &Fixed(Ok(vec!["127.0.0.1", "203.0.113.9"])),
        "chat.example.com",
    )
    .await;
    assert_eq!(
        report.summary,
        "chat.example.com points to this machine (127.0.0.1) and also to 203.0.113.9, which is not."
    );
    // Only the foreign address is a problem; one reachable address is not
    // "loopback only".
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(
        report.issues[0].kind,
        DomainIssueKind::Elsewhere {
            ip: "203.0.113.9".parse().unwrap()
        }
    );
}

#[tokio::test]
async fn no_records_asks_for_an_a_record() {
    for answer in [Ok(vec![]), Err(LookupError::NoRecords)] {
        let report = resolve_domain_with(&Fixed(answer), "chat.example.com").await;
        assert_eq!(report.summary, "chat.example.com has no A or AAAA record.");
        assert_eq!(report.issues[0].kind, DomainIssueKind::NoRecords);
        assert!(
            report.issues[0].fix.starts_with(
                "Create an A record for chat.example.com pointing at this server's public address"
            ),
            "{}",
            report.issues[0].fix
        );
    }
}

#[tokio::test]
async fn a_failed_lookup_points_at_this_machines_dns() {
    let report = resolve_domain_with(
        &Fixed(Err(LookupError::Failed(
            "Temporary failure in name resolution".into(),
        ))),
        "chat.example.com",
    )
    .await;
    assert_eq!(
        report.summary,
        "chat.example.com could not be looked up (Temporary failure in name resolution)."
    );
    assert!(matches!(
        report.issues[0].kind,
        DomainIssueKind::LookupFailed { .. }
    ));
    assert!(
        report.issues[0].fix.contains("/etc/resolv.conf"),
        "{}",
        report.issues[0].fix
    );
}

#[tokio::test]
async fn reports_round_trip_through_json() {
    let report = resolve_domain_with(&Fixed(Ok(vec!["203.0.113.9"])), "chat.example.com").await;
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(
        serde_json::from_str::<engine::preflight::DomainReport>(&json).unwrap(),
        report
    );
}

#[tokio::test]
async fn with_another_docker_host_the_domain_must_point_there() {
    let dockerbox = StackHost::Remote {
        name: "dockerbox".into(),
        addresses: vec!["192.0.2.7".parse().unwrap()],
    };
    let there = resolve_domain_for(
        &Fixed(Ok(vec!["192.0.2.7"])),
        "chat.example.com",
        &dockerbox,
    )
    .await;
    assert!(there.ok(), "{there:?}");
    assert!(there.addresses[0].local);
    assert_eq!(
        there.summary,
        "chat.example.com points to the Docker host dockerbox (192.0.2.7)."
    );

    // This machine's own address is not the Docker host's.
    let here = resolve_domain_for(
        &Fixed(Ok(vec!["127.0.0.1"])),
        "chat.example.com",
        &dockerbox,
    )
    .await;
    assert!(!here.ok());
    assert_eq!(
        here.issues[0].kind,
        DomainIssueKind::Elsewhere {
            ip: "127.0.0.1".parse().unwrap()
        }
    );
    assert_eq!(
        here.summary,
        "chat.example.com points to 127.0.0.1, which is not the Docker host dockerbox (192.0.2.7)."
    );

    let elsewhere = resolve_domain_for(
        &Fixed(Ok(vec!["203.0.113.9"])),
        "chat.example.com",
        &dockerbox,
    )
    .await;
    assert_eq!(
        elsewhere.issues[0].fix,
        "chat.example.com points to 203.0.113.9, which is not the Docker host dockerbox \
         (192.0.2.7): update the A record, or if dockerbox sits behind NAT, make sure \
         203.0.113.9 forwards ports 80 and 443 to it."
    );

    let missing = resolve_domain_for(&Fixed(Ok(vec![])), "chat.example.com", &dockerbox).await;
    assert!(
        missing.issues[0].fix.starts_with(
            "Create an A record for chat.example.com pointing at the Docker host dockerbox \
             (192.0.2.7)'s public address"
        ),
        "{}",
        missing.issues[0].fix
    );

    let unknown = StackHost::Remote {
        name: "nowhere".into(),
        addresses: vec![],
    };
    let r = resolve_domain_for(&Fixed(Ok(vec!["192.0.2.7"])), "chat.example.com", &unknown).await;
    assert_eq!(
        r.issues[0].kind,
        DomainIssueKind::HostUnknown {
            host: "nowhere".into()
        }
    );
    assert!(
        r.summary
            .contains("whether that is the Docker host nowhere cannot be told"),
        "{}",
        r.summary
    );
}
