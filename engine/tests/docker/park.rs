//! A rollout's parking against the real daemon: an apply with `park`
//! stops and renames the containers it replaces (kept, with their ids),
//! `unpark` puts exactly those containers back (also after a crash between
//! parking and starting), `drop_parked` commits; each idempotent.

use std::time::Duration;

use engine::deploy::{ApplyOptions, Target};

use crate::support::*;

fn id_of(name: &str) -> String {
    sh(&format!("docker inspect --format '{{{{.Id}}}}' {name}"))
        .trim()
        .to_owned()
}

fn state_of(name: &str) -> String {
    sh(&format!(
        "docker inspect --format '{{{{.State.Status}}}}' {name}"
    ))
    .trim()
    .to_owned()
}

fn exists(name: &str) -> bool {
    std::process::Command::new("docker")
        .args(["inspect", name])
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn parked_containers_come_back_exactly_or_go() {
    let mut kit = Kit::new("bt-park");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let (tx, _rx) = channel();
    let apply = |kit: &Kit, revision: i64, park: Option<&str>| {
        let request = kit.request_for(kit.subset(&["redis", "web"]), revision);
        let opts = ApplyOptions {
            park: park.map(str::to_owned),
            ..ApplyOptions::default()
        };
        let target = &target;
        let tx = tx.clone();
        async move { target.apply(&request, &opts, &tx).await }
    };
    apply(&kit, 1, None).await.unwrap();
    let (web_v1, redis_v1) = (id_of("bt-park-web"), id_of("bt-park-redis"));

    // Rollout r1 changes web only: the old web is parked, redis untouched.
    kit.config.apps.gifbox = false; // the web app reads VITE_GIFBOX_URL
    let report = apply(&kit, 2, Some("r1")).await.unwrap();
    assert_eq!(report.recreated, ["web"]);
    assert_eq!(state_of("bt-park-web--parked-r1"), "exited");
    assert_eq!(id_of("bt-park-web--parked-r1"), web_v1);
    assert_ne!(id_of("bt-park-web"), web_v1);
    assert_eq!(id_of("bt-park-redis"), redis_v1);
    // The parked container is not the service's: status shows the new one.
    let status = target.status("bt-park").await.unwrap();
    assert_eq!(status.len(), 2, "{status:?}");

    // Rolled back: the very same container runs again, nothing parked.
    assert_eq!(
        target
            .unpark("bt-park", "r1", Some(Duration::from_secs(1)))
            .await
            .unwrap(),
        ["web"]
    );
    assert_eq!(id_of("bt-park-web"), web_v1);
    assert_eq!(state_of("bt-park-web"), "running");
    assert!(!exists("bt-park-web--parked-r1"));
    assert!(target
        .unpark("bt-park", "r1", Some(Duration::from_secs(1)))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(id_of("bt-park-web"), web_v1);

    // Killed between parking and starting: the parked old one, no new one.
    apply(&kit, 2, Some("r2")).await.unwrap();
    sh("docker rm -f bt-park-web >/dev/null");
    assert_eq!(
        target
            .unpark("bt-park", "r2", Some(Duration::from_secs(1)))
            .await
            .unwrap(),
        ["web"]
    );
    assert_eq!(id_of("bt-park-web"), web_v1);
    assert_eq!(state_of("bt-park-web"), "running");

    // A rollout resumed after parking: the second apply finds the old one
    // parked already and replaces the half-made new one; then committed.
    apply(&kit, 2, Some("r3")).await.unwrap();
    let new_web = id_of("bt-park-web");
    assert_eq!(target.drop_parked("bt-park", "r3").await.unwrap(), ["web"]);
    assert!(!exists("bt-park-web--parked-r3"));
    assert_eq!(id_of("bt-park-web"), new_web);
    assert!(target
        .drop_parked("bt-park", "r3")
        .await
        .unwrap()
        .is_empty());
    // Nothing to put back once committed.
    assert!(target
        .unpark("bt-park", "r3", Some(Duration::from_secs(1)))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(id_of("bt-park-web"), new_web);
}
