//! A running stack: status snapshots and their watch, log streams, removal.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use engine::deploy::{ApplyOptions, DeployError, LogStream, ProgressEvent, Target};
use futures_util::StreamExt;

use crate::support::*;

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
    // A watch whose poll never comes within this test: what it sees, it
    // sees through the daemon's event stream.
    let mut events_only = target.watch_status("bt-watch", Duration::from_secs(600));
    let first_too = tokio::time::timeout(Duration::from_secs(3), events_only.next())
        .await
        .expect("a first snapshot at once")
        .unwrap()
        .unwrap();
    let states = |list: &[engine::deploy::ServiceStatus]| -> Vec<(String, String)> {
        list.iter()
            .map(|s| (s.service.clone(), s.state.clone()))
            .collect()
    };
    assert_eq!(states(&first_too), states(&first));
    sh("docker kill bt-watch-redis");
    let t0 = Instant::now();
    let by_event = tokio::time::timeout(Duration::from_secs(5), events_only.next())
        .await
        .expect("the kill arrives through the event stream, not the 10-minute poll")
        .unwrap()
        .unwrap();
    let redis_by_event = by_event.iter().find(|s| s.service == "redis").unwrap();
    // Killed: stopped, restarting, or (restart policy) started again.
    let seen = |s: &engine::deploy::ServiceStatus| {
        (s.state.clone(), s.restart_count, s.started_at.clone())
    };
    assert_ne!(
        seen(redis_by_event),
        seen(&redis_before),
        "{redis_by_event:?}"
    );
    eprintln!(
        "kill seen through the event stream after {:.1?}",
        t0.elapsed()
    );
    drop(events_only);
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
