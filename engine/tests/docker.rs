//! The Docker target against the real daemon, deploying the test-kit stack
//! (stand-in images for every Stoat service and real Caddy). Each test uses
//! its own stack name and host ports, so they run in parallel, and removes
//! its stack when it ends, passed or not.

mod docker_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use docker_support::*;
use engine::deploy::{
    ApplyOptions, ChangeAction, DeployError, DockerTarget, Health, LogStream, ProgressEvent, Target,
};
use futures_util::StreamExt;
use stack::render::{Condition, Mount, Probe};

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

    // What the daemon holds: every service up, files delivered, labels.
    let status = target.status(&kit.stack).await.unwrap();
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
    let (revolt, mode) = container_file("bt-full-api", "/Revolt.toml");
    assert_eq!(revolt, req.plan.files["Revolt.toml"].content);
    assert_eq!(mode, 0o600);
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
}

#[tokio::test]
async fn unreachable_daemon_is_a_clear_error() {
    let err = DockerTarget::connect(Some("tcp://127.0.0.1:1"))
        .await
        .expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(matches!(err, DeployError::Unreachable { .. }), "{err:?}");
    assert!(text.contains("tcp://127.0.0.1:1"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert!(text.contains("Is dockerd running?"), "{text}");

    let err = DockerTarget::connect(Some("unix:///nonexistent/docker.sock"))
        .await
        .expect_err("there is no such socket");
    assert!(
        err.to_string()
            .contains("there is no socket at /nonexistent/docker.sock"),
        "{err}"
    );

    let err = DockerTarget::connect(Some("ftp://example.com"))
        .await
        .expect_err("not a Docker address");
    assert!(matches!(err, DeployError::InvalidUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn api_version_is_negotiated_with_the_daemon() {
    let target = target().await;
    let info = target.info().await.unwrap();
    let server = sh("docker version --format '{{.Server.APIVersion}} {{.Server.Version}}'");
    let (api, version) = server.trim().split_once(' ').unwrap();
    assert_eq!(info.api_version, api);
    assert_eq!(info.version, version);
    assert_eq!(info.os, "linux");

    let err = target.status("Not_A_Stack").await.unwrap_err();
    assert!(matches!(err, DeployError::InvalidStackName { .. }), "{err}");
}

#[tokio::test]
async fn image_that_cannot_be_pulled_fails_before_anything_changes() {
    let kit = Kit::new("bt-pull");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    let services = ["redis", "livekit", "web"];
    target
        .apply(
            &kit.request_for(kit.subset(&services), 1),
            &ApplyOptions::default(),
            &tx,
        )
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    let before = containers("bt-pull");
    assert_eq!(before.len(), 3);

    // LiveKit's config changes (it would be recreated), and web's image
    // exists nowhere.
    let mut plan = kit.subset(&services);
    plan.files.get_mut("livekit.yml").unwrap().content += "# changed\n";
    let missing = "burrow-testkit/no-such-image:dev";
    plan.services
        .iter_mut()
        .find(|s| s.name == "web")
        .unwrap()
        .image = stack::model::ImageRef::parse(missing).unwrap();
    drain(&mut rx);
    let err = target
        .apply(&kit.request_for(plan, 2), &ApplyOptions::default(), &tx)
        .await
        .expect_err("the image cannot be pulled");
    assert!(
        matches!(&err, DeployError::Pull { image, .. } if image == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains(missing), "{err}");
    assert_eq!(containers("bt-pull"), before, "nothing may change");
    let events = drain(&mut rx);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ProgressEvent::PullStarted { image, .. } if image == missing)),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(
        e,
        ProgressEvent::Planned { .. }
            | ProgressEvent::Creating { .. }
            | ProgressEvent::Removed { .. }
    )));
    assert!(
        matches!(events.last(), Some(ProgressEvent::Failed { service: None, message, .. }) if message.contains(missing)),
        "{events:?}"
    );
}

#[tokio::test]
async fn service_that_never_becomes_healthy_times_out_naming_it_with_its_logs() {
    let kit = Kit::new("bt-unhealthy");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    // Redis runs, but its probe asks a port nothing listens on; LiveKit
    // needs it healthy; web needs nothing.
    let mut plan = kit.subset(&["redis", "livekit", "web"]);
    let redis = plan
        .services
        .iter_mut()
        .find(|s| s.name == "redis")
        .unwrap();
    redis.health.as_mut().unwrap().probe = Probe::Tcp { port: 1 };
    let opts = ApplyOptions {
        health_timeout: Some(Duration::from_secs(5)),
    };
    let t0 = Instant::now();
    let err = target
        .apply(&kit.request_for(plan, 1), &opts, &tx)
        .await
        .expect_err("redis never becomes healthy");
    assert!(t0.elapsed() < Duration::from_secs(30));
    let DeployError::Unhealthy {
        service,
        waited,
        last_logs,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (service.as_str(), *waited),
        ("redis", Duration::from_secs(5))
    );
    assert!(
        !last_logs.is_empty() && last_logs.len() <= 20,
        "{last_logs:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("redis did not become healthy within 5 s. Its last"),
        "{text}"
    );
    assert!(text.contains(&last_logs[last_logs.len() - 1]), "{text}");

    let events = drain(&mut rx);
    assert!(events.iter().any(|e| matches!(
        e,
        ProgressEvent::Failed { service: Some(s), last_logs, .. } if s == "redis" && !last_logs.is_empty()
    )));
    assert!(
        events.iter().any(|e| matches!(
            e,
            ProgressEvent::Failed { service: Some(s), message, .. }
                if s == "livekit" && message.contains("because redis")
        )),
        "{events:?}"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, ProgressEvent::Healthy { service, .. } if service == "web")));
    let made = containers("bt-unhealthy");
    assert!(
        !made.contains_key("livekit"),
        "livekit must not start: {made:?}"
    );
}

#[tokio::test]
async fn status_watch_and_logs_follow_the_running_stack() {
    let kit = Kit::new("bt-watch");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, _rx) = channel();
    target
        .apply(
            &kit.request_for(kit.subset(&["redis", "web"]), 1),
            &ApplyOptions::default(),
            &tx,
        )
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));

    // Status is cheap enough to poll.
    let t0 = Instant::now();
    for _ in 0..5 {
        target.status("bt-watch").await.unwrap();
    }
    eprintln!("status snapshot: {:.1?} each", t0.elapsed() / 5);

    let mut watch = target.watch_status("bt-watch", Duration::from_millis(300));
    let first = tokio::time::timeout(Duration::from_secs(3), watch.next())
        .await
        .expect("a first snapshot at once")
        .unwrap()
        .unwrap();
    assert_eq!(first.len(), 2);
    let redis_before = first.iter().find(|s| s.service == "redis").unwrap().clone();
    sh("docker kill bt-watch-redis");
    let t0 = Instant::now();
    let changed = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the kill shows within seconds")
        .unwrap()
        .unwrap();
    let redis_after = changed.iter().find(|s| s.service == "redis").unwrap();
    assert_ne!(*redis_after, redis_before);
    eprintln!(
        "kill seen after {:.1?}: {} {:?}",
        t0.elapsed(),
        redis_after.state,
        redis_after.health
    );

    // The last lines of one service, then all services in time order.
    let web: Vec<_> = target
        .logs("bt-watch", Some("web"), 3, false)
        .collect()
        .await;
    assert!(!web.is_empty() && web.len() <= 3, "{web:?}");
    for line in &web {
        let line = line.as_ref().unwrap();
        assert_eq!(line.service, "web");
        assert!(line.timestamp.is_some());
    }
    let all: Vec<_> = target
        .logs("bt-watch", None, 1000, false)
        .map(|l| l.unwrap())
        .collect()
        .await;
    let services: BTreeSet<&str> = all.iter().map(|l| l.service.as_str()).collect();
    assert_eq!(services, BTreeSet::from(["redis", "web"]));
    let times: Vec<time::OffsetDateTime> = all
        .iter()
        .map(|l| {
            time::OffsetDateTime::parse(
                l.timestamp.as_deref().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "merged in time order"
    );
    assert!(all
        .iter()
        .any(|l| l.stream == LogStream::Stderr || l.stream == LogStream::Stdout));

    // Following goes on across a restart: the new start's lines arrive.
    // (The stream begins when first polled: take the last line first.)
    let mut follow = target.logs("bt-watch", Some("web"), 1, true);
    let last = tokio::time::timeout(Duration::from_secs(5), follow.next())
        .await
        .expect("the last line at once")
        .unwrap()
        .unwrap();
    let restart = tokio::process::Command::new("docker")
        .args(["restart", "-t", "1", "bt-watch-web"])
        .output();
    let (restarted, next) = tokio::join!(
        restart,
        tokio::time::timeout(Duration::from_secs(15), async {
            let mut lines = Vec::new();
            // The stop's and the new start's lines.
            while lines.len() < 2 {
                lines.push(follow.next().await.unwrap().unwrap());
            }
            lines
        })
    );
    assert!(restarted.unwrap().status.success());
    let next = next.expect("lines after the restart");
    assert!(next
        .iter()
        .all(|l| l.service == "web" && l.timestamp > last.timestamp));
    drop(follow);

    let err = target
        .logs("bt-watch", Some("nope"), 10, false)
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, DeployError::NoSuchService { .. }), "{err:?}");
}

#[tokio::test]
async fn remove_takes_the_stack_down_and_keeps_volumes_unless_asked() {
    let kit = Kit::new("bt-remove");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    target
        .apply(
            &kit.request_for(kit.subset(&["redis", "web"]), 1),
            &ApplyOptions::default(),
            &tx,
        )
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    drain(&mut rx);

    let removed = target.remove("bt-remove", false, &tx).await.unwrap();
    assert_eq!(removed, ["redis", "web"]);
    assert!(containers("bt-remove").is_empty());
    assert_eq!(sh("docker network ls -q --filter name=^bt-remove$"), "");
    let volumes = sh("docker volume ls -q --filter label=burrow.stack=bt-remove");
    assert_eq!(volumes.trim(), "bt-remove_redis-data");
    let events = drain(&mut rx);
    assert!(matches!(
        events.last(),
        Some(ProgressEvent::Finished { removed: 2, .. })
    ));
    assert!(target.status("bt-remove").await.unwrap().is_empty());

    let removed = target.remove("bt-remove", true, &tx).await.unwrap();
    assert!(removed.is_empty());
    assert_eq!(
        sh("docker volume ls -q --filter label=burrow.stack=bt-remove"),
        ""
    );
}
