//! Applying the test-kit stack: healthy in dependency order, idempotent,
//! recreating only what changed, removing what was turned off.

use std::collections::BTreeSet;
use std::time::Instant;

use engine::deploy::{ApplyOptions, ChangeAction, Health, ProgressEvent, Target};
use stack::render::{Condition, Mount};

use crate::support::*;

fn position(events: &[ProgressEvent], pred: impl Fn(&ProgressEvent) -> bool) -> Option<usize> {
    events.iter().position(pred)
}

/// The event at which `service` was ready in the sense of `condition`.
fn ready_at(events: &[ProgressEvent], service: &str, condition: Condition) -> usize {
    position(events, |e| match (e, condition) {
        (ProgressEvent::Started { service: s }, Condition::Started)
        | (ProgressEvent::Healthy { service: s, .. }, Condition::Started | Condition::Healthy)
        | (ProgressEvent::Completed { service: s }, _) => s == service,
        _ => false,
    })
    .unwrap_or_else(|| panic!("{service} never reached {condition:?}"))
}

#[tokio::test]
async fn full_stack_becomes_healthy_then_reapply_changes_nothing() {
    let kit = Kit::new("bt-full");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    let req = kit.request(1);
    let all: BTreeSet<&str> = req.plan.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(all.len(), 16, "the test kit runs every service");

    let t0 = Instant::now();
    let report = target
        .apply(&req, &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    let cold = t0.elapsed();
    eprintln!("cold apply of the test-kit stack to all healthy: {cold:.2?}");
    assert_eq!(names(&report.created), all);
    assert!(report.recreated.is_empty() && report.unchanged.is_empty());

    // Planned first, Finished last; nobody starts before what it needs.
    let events = drain(&mut rx);
    assert!(matches!(events[0], ProgressEvent::Planned { .. }));
    assert!(matches!(
        events.last(),
        Some(ProgressEvent::Finished { created: 16, .. })
    ));
    for spec in &req.plan.services {
        let creating = position(
            &events,
            |e| matches!(e, ProgressEvent::Creating { service } if *service == spec.name),
        )
        .unwrap();
        for dep in &spec.depends_on {
            assert!(
                ready_at(&events, &dep.service, dep.condition) < creating,
                "{} was created before {} was {:?}",
                spec.name,
                dep.service,
                dep.condition
            );
        }
    }

    // Independent services start in parallel: every service that needs
    // nothing is being created before any of them has started.
    let roots: Vec<&str> = req
        .plan
        .services
        .iter()
        .filter(|s| s.depends_on.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    assert!(roots.len() >= 4, "{roots:?}");
    let at = |want: fn(&ProgressEvent) -> Option<&String>, service: &str| {
        position(&events, |e| want(e).is_some_and(|s| s == service)).unwrap()
    };
    fn creating(e: &ProgressEvent) -> Option<&String> {
        match e {
            ProgressEvent::Creating { service } => Some(service),
            _ => None,
        }
    }
    fn started(e: &ProgressEvent) -> Option<&String> {
        match e {
            ProgressEvent::Started { service } => Some(service),
            _ => None,
        }
    }
    let last_created = roots.iter().map(|r| at(creating, r)).max().unwrap();
    let first_started = roots.iter().map(|r| at(started, r)).min().unwrap();
    assert!(
        last_created < first_started,
        "independent services {roots:?} were started one after another"
    );

    // What the daemon holds: every service up, files delivered, labels.
    // Burrow's gate runs exec checks itself; Docker's own first run of
    // them comes on its interval (10 s), so its word may lag: wait for it.
    let mut status = target.status(&kit.stack).await.unwrap();
    for _ in 0..120 {
        if !status.iter().any(|s| s.health == Health::Starting) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        status = target.status(&kit.stack).await.unwrap();
    }
    assert_eq!(status.len(), 16);
    for s in &status {
        if s.one_shot {
            assert_eq!(
                (s.state.as_str(), s.exit_code),
                ("exited", Some(0)),
                "{s:?}"
            );
        } else {
            assert_eq!(s.state, "running", "{s:?}");
            let probed = req.plan.service(&s.service).unwrap().health.is_some();
            let expected = if probed {
                Health::Healthy
            } else {
                Health::None
            };
            assert_eq!(s.health, expected, "{s:?}");
        }
        assert_eq!(s.revision, Some(1));
        assert_eq!(s.container, format!("bt-full-{}", s.service));
    }
    let caddy = status.iter().find(|s| s.service == "caddy").unwrap();
    assert!(
        caddy
            .ports
            .contains(&format!("127.0.0.1:{0}->{0}/tcp", kit.http_port)),
        "{:?}",
        caddy.ports
    );
    // Revolt.toml holds no secret and belongs to the image's user (nonroot,
    // 65532, as Stoat's images); the secrets are in the environment.
    let (revolt, mode) = container_file("bt-full-api", "/Revolt.toml");
    assert_eq!(revolt, req.plan.files["Revolt.toml"].content);
    assert_eq!(mode, 0o644);
    assert_eq!(container_file_uid("bt-full-api", "/Revolt.toml"), 65532);
    let env = sh("docker inspect bt-full-api --format '{{range .Config.Env}}{{println .}}{{end}}'");
    assert!(
        env.lines()
            .any(|l| l.starts_with("REVOLT__DATABASE__MONGODB=mongodb://")),
        "the api gets its secrets from secrets.env"
    );
    // keydb.conf (the password) was mounted for root and installed, by
    // the start script, for user keydb (999), which KeyDB runs as.
    let (_, mode) = container_file("bt-full-redis", "/run/stoat/keydb.conf");
    assert_eq!(mode, 0o600);
    let (conf, mode) = container_file("bt-full-redis", "/etc/keydb/keydb.conf");
    assert!(conf.contains("requirepass "));
    assert_eq!(mode, 0o400);
    assert_eq!(
        container_file_uid("bt-full-redis", "/etc/keydb/keydb.conf"),
        999
    );
    let (key, mode) = container_file("bt-full-caddy", stack::render::TLS_KEY_PATH);
    assert!(key.contains("PRIVATE KEY"));
    assert_eq!(mode, 0o600);
    assert_eq!(
        sh("docker network inspect bt-full --format '{{index .Labels \"burrow.stack\"}}'").trim(),
        "bt-full"
    );
    let volumes = sh("docker volume ls -q --filter label=burrow.stack=bt-full");
    assert!(
        volumes.lines().any(|v| v == "bt-full_mongo-data"),
        "{volumes}"
    );
    let aliases = sh(
        "docker inspect bt-full-minio --format '{{json (index .NetworkSettings.Networks \"bt-full\").Aliases}}'",
    );
    assert!(aliases.contains("\"minio\"") && aliases.contains("revolt-uploads.minio"));

    // Re-applying the same plan touches nothing.
    let before = containers("bt-full");
    let t0 = Instant::now();
    let report = target
        .apply(&kit.request(2), &ApplyOptions::default(), &tx)
        .await
        .unwrap();
    eprintln!("no-op re-apply: {:.0?}", t0.elapsed());
    assert_eq!(names(&report.unchanged), all);
    assert!(report.created.is_empty() && report.recreated.is_empty() && report.removed.is_empty());
    assert_eq!(containers("bt-full"), before);
    let events = drain(&mut rx);
    assert!(!events.iter().any(|e| matches!(
        e,
        ProgressEvent::Creating { .. } | ProgressEvent::Started { .. }
    )));

    // A stopped but unchanged container is started again, not recreated.
    sh("docker stop -t 1 bt-full-web");
    let report = target
        .apply(&kit.request(3), &ApplyOptions::default(), &tx)
        .await
        .unwrap();
    assert!(report.recreated.is_empty());
    assert_eq!(containers("bt-full"), before);
    let events = drain(&mut rx);
    let ProgressEvent::Planned { changes } = &events[0] else {
        panic!("{events:?}")
    };
    let started: Vec<&str> = changes
        .iter()
        .filter(|c| c.action == ChangeAction::Start)
        .map(|c| c.service.as_str())
        .collect();
    assert_eq!(started, ["web"]);
    let web = target.status("bt-full").await.unwrap();
    assert!(web
        .iter()
        .any(|s| s.service == "web" && s.state == "running"));
}

#[tokio::test]
async fn changed_setting_recreates_only_the_services_that_read_it() {
    let mut kit = Kit::new("bt-change");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    let first = kit.plan();
    target
        .apply(&kit.request(1), &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    let before = containers("bt-change");

    // Only Revolt.toml says whether registration is open.
    kit.config.registration = stack::model::Registration::Open;
    let second = kit.plan();
    let changed_files: BTreeSet<&str> = first
        .files
        .iter()
        .filter(|(name, f)| second.files.get(*name) != Some(f))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(changed_files, BTreeSet::from(["Revolt.toml"]));
    let readers: BTreeSet<&str> = second
        .services
        .iter()
        .filter(|s| {
            s.mounts
                .iter()
                .any(|m| matches!(m, Mount::File { file, .. } if file == "Revolt.toml"))
        })
        .map(|s| s.name.as_str())
        .collect();
    assert!(readers.contains("api") && !readers.contains("database"));

    drain(&mut rx);
    let report = target
        .apply(&kit.request(2), &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    assert_eq!(names(&report.recreated), readers);
    assert!(report.created.is_empty() && report.removed.is_empty());
    let after = containers("bt-change");
    for (service, (id, hash)) in &before {
        let same = after[service] == (id.clone(), hash.clone());
        assert_eq!(same, !readers.contains(service.as_str()), "{service}");
    }
    let status = target.status("bt-change").await.unwrap();
    for s in status.iter().filter(|s| !s.one_shot) {
        assert_eq!(s.state, "running", "{s:?}");
        let expected = if readers.contains(s.service.as_str()) {
            2
        } else {
            1
        };
        assert_eq!(s.revision, Some(expected), "{s:?}");
    }
}

#[tokio::test]
async fn services_toggled_off_are_removed_and_their_volumes_kept() {
    let mut kit = Kit::new("bt-toggle");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    target
        .apply(&kit.request(1), &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));

    // Without autumn and crond there is no object storage either.
    kit.config.apps.autumn = false;
    kit.config.apps.crond = false;
    drain(&mut rx);
    let report = target
        .apply(&kit.request(2), &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    let gone = BTreeSet::from(["autumn", "createbuckets", "crond", "minio"]);
    assert_eq!(names(&report.removed), gone);
    let events = drain(&mut rx);
    for service in &gone {
        assert!(events.contains(&ProgressEvent::Removed {
            service: service.to_string()
        }));
    }
    let running: BTreeSet<String> = containers("bt-toggle").into_keys().collect();
    assert!(gone.iter().all(|s| !running.contains(*s)), "{running:?}");
    assert_eq!(running.len(), 12);
    let volumes = sh("docker volume ls -q --filter label=burrow.stack=bt-toggle");
    assert!(
        volumes.lines().any(|v| v == "bt-toggle_minio-data"),
        "{volumes}"
    );
    assert!(report.removed_volumes.is_empty());

    // Asked to, the next apply deletes just the volumes nothing uses now.
    drain(&mut rx);
    let opts = ApplyOptions {
        prune_volumes: true,
        ..ApplyOptions::default()
    };
    let report = target
        .apply(&kit.request(3), &opts, &tx)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    assert_eq!(report.removed_volumes, ["bt-toggle_minio-data"]);
    assert!(report.removed.is_empty() && report.recreated.is_empty());
    assert!(drain(&mut rx).contains(&ProgressEvent::VolumesRemoved {
        volumes: vec!["bt-toggle_minio-data".to_owned()]
    }));
    let left = sh("docker volume ls -q --filter label=burrow.stack=bt-toggle");
    assert!(!left.contains("bt-toggle_minio-data"), "{left}");
    let planned: BTreeSet<String> = kit
        .plan()
        .volumes
        .iter()
        .map(|v| format!("bt-toggle_{v}"))
        .collect();
    assert!(!planned.is_empty());
    let left: BTreeSet<String> = left.lines().map(str::to_owned).collect();
    assert_eq!(left, planned, "the volumes in use are kept");
}
