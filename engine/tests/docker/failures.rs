//! Failures the operator must understand: an unreachable daemon, an image
//! that cannot be pulled, a service that never becomes healthy.

use std::time::{Duration, Instant};

use engine::deploy::{ApplyOptions, DeployError, DockerTarget, ProgressEvent, Target};
use stack::render::Probe;

use crate::support::*;

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
        ..ApplyOptions::default()
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

/// A service that passes its gate, then crashes while the rest of the plan
/// is still coming up, fails the apply: the deploy never reports success
/// over a crash loop (the update's settle only watches from its own start).
#[tokio::test]
async fn service_that_crashes_after_its_gate_fails_the_apply() {
    let kit = Kit::new("bt-crash");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    // Web turns healthy at once, then exits 1 s after every start; january
    // opens its port only after 6 s, so the apply is still running then.
    let mut plan = kit.subset(&["web", "january"]);
    for (service, env, value) in [
        ("web", "STANDIN_CRASH_AFTER_MS", "1000"),
        ("january", "STANDIN_LISTEN_DELAY_MS", "6000"),
    ] {
        plan.services
            .iter_mut()
            .find(|s| s.name == service)
            .unwrap()
            .env
            .insert(env.into(), value.into());
    }
    let err = target
        .apply(&kit.request_for(plan, 1), &ApplyOptions::default(), &tx)
        .await
        .expect_err("web crashed after it turned healthy");
    let DeployError::ServiceFailed {
        service,
        reason,
        last_logs,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(service, "web");
    assert!(reason.contains("after it turned healthy"), "{reason}");
    // Its logs say why: the stand-in's own line before it exits 1.
    assert!(
        last_logs
            .iter()
            .any(|l| l.contains("crashing after 1000 ms")),
        "{last_logs:?}"
    );
    let events = drain(&mut rx);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ProgressEvent::Healthy { service, .. } if service == "web")),
        "web passed its gate first: {events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            ProgressEvent::Failed { service: Some(s), message, .. }
                if s == "web" && message.contains("after it turned healthy")
        )),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ProgressEvent::Finished { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn daemon_that_goes_away_mid_deploy_is_a_sentence_and_deploying_again_converges() {
    let kit = Kit::new("bt-gone");
    let _cleanup = kit.cleanup();
    target().await;
    let mut proxy = DaemonProxy::start().await;
    let url = proxy.url();
    let through = DockerTarget::connect(Some(&url)).await.unwrap();
    let services = ["redis", "livekit", "web"];
    let request = kit.request_for(kit.subset(&services), 1);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = ApplyOptions::default();
    let apply = through.apply(&request, &opts, &tx);
    // The daemon goes away once the first container exists.
    let cut = async {
        while let Some(e) = rx.recv().await {
            if matches!(e, ProgressEvent::Creating { .. }) {
                proxy.cut();
                break;
            }
        }
    };
    let (result, ()) = tokio::join!(apply, cut);
    let err = result.expect_err("the daemon went away");
    let text = err.to_string();
    assert!(matches!(err, DeployError::DaemonGone { .. }), "{err:?}");
    assert!(
        text.contains(&format!("the Docker daemon at {url} stopped answering")),
        "{text}"
    );
    assert!(text.contains("deploy again"), "{text}");
    assert!(
        !text.contains("hyper") && !text.contains("legacy client"),
        "no client internals: {text}"
    );
    drop(tx);
    let mut failed = Vec::new();
    while let Some(e) = rx.recv().await {
        if let ProgressEvent::Failed { message, .. } = e {
            failed.push(message);
        }
    }
    assert!(
        failed.iter().any(|m| m.contains("stopped answering")),
        "the progress says it too: {failed:?}"
    );

    // Back again: the same target deploys, and the stack converges.
    proxy.resume().await;
    let (tx, mut rx) = channel();
    let report = through
        .apply(&request, &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("deploying again once the daemon is back: {e}"));
    assert_eq!(containers("bt-gone").len(), services.len());
    let running = sh("docker ps -q --filter label=burrow.stack=bt-gone --filter status=running");
    assert_eq!(running.lines().count(), services.len(), "{report:?}");
    assert!(
        matches!(drain(&mut rx).last(), Some(ProgressEvent::Finished { .. })),
        "{report:?}"
    );
}

/// A stack's data volumes carry the fingerprint of the secrets that made
/// their data; deploying with other secrets (a reinstall that lost its data
/// folder) is refused before anything changes, with the ways out.
#[tokio::test]
async fn other_secrets_on_existing_data_are_refused_before_anything_changes() {
    use stack::secrets::{Secrets, Seed};
    let mut kit = Kit::new("bt-secrets");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, mut rx) = channel();
    let plan = kit.subset(&["redis"]);
    target
        .apply(
            &kit.request_for(plan.clone(), 1),
            &ApplyOptions::default(),
            &tx,
        )
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    let fingerprint = plan.volume_fingerprints["redis-data"].clone();
    let labelled = sh("docker volume inspect bt-secrets_redis-data \
         --format '{{index .Labels \"burrow.secrets-fingerprint\"}}'");
    assert_eq!(labelled.trim(), fingerprint);
    // The fingerprint is no secret's value.
    assert!(!fingerprint.contains(kit.secrets.redis_password.expose()));
    let before = containers("bt-secrets");

    // The same stack name with other secrets: refused, nothing touched.
    kit.secrets =
        Secrets::derive(&Seed::parse("ffeeddccbbaa99887766554433221100ffeeddccbbaa9988").unwrap());
    drain(&mut rx);
    let err = target
        .apply(
            &kit.request_for(kit.subset(&["redis"]), 2),
            &ApplyOptions::default(),
            &tx,
        )
        .await
        .expect_err("other secrets on the same data must be refused");
    assert!(
        matches!(&err, DeployError::SecretsMismatch { volume, .. } if volume == "bt-secrets_redis-data"),
        "{err}"
    );
    let said = err.to_string();
    assert!(
        said.contains("nothing was changed")
            && said.contains("restore the backup")
            && said.contains("--volumes"),
        "{said}"
    );
    assert_eq!(containers("bt-secrets"), before, "a container was touched");
    assert!(drain(&mut rx)
        .iter()
        .any(|e| matches!(e, ProgressEvent::Failed { .. })));
}
