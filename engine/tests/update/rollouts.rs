//! A rollout journalled in a phase before any change, found unfinished at
//! start-up, is aborted (nothing to undo) and recorded as such; the
//! installed release is the last completed one.

use std::sync::Arc;

use engine::backup::Backups;
use engine::deployer::Deployer;
use engine::sealed::Vault;
use engine::targets::Targets;
use engine::update::rollout::Phase;
use engine::update::updater::{installed_release, Pacing, UpdateError, Updater};
use engine::Store;

/// An updater on a fresh data dir (no daemon: nothing is deployed).
async fn updater() -> (tempfile::TempDir, Store, Updater) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let vault = Vault::open(&dir.path().join("secrets.key")).unwrap();
    let deployer = Arc::new(Deployer::new(
        store.clone(),
        vault,
        Arc::new(Targets::new(None)),
    ));
    let updater = Updater::new(deployer, Backups::new(dir.path(), 5), Pacing::default());
    (dir, store, updater)
}

/// release.json of `sequence` (version 0.<sequence>.0), no images.
fn release(sequence: u64) -> serde_json::Value {
    serde_json::json!({
        "schema": 1, "channel": "stable", "sequence": sequence,
        "version": format!("0.{sequence}.0"), "released_at": "2026-12-01T10:00:00Z",
        "images": {}
    })
}

#[tokio::test]
async fn an_interrupted_rollout_before_any_change_is_aborted_at_start_up() {
    let (_dir, store, updater) = updater().await;
    for (sequence, phase) in [
        (1, serde_json::to_string(&Phase::Completed).unwrap()),
        (2, serde_json::to_string(&Phase::Preflight).unwrap()),
    ] {
        sqlx::query(
            "INSERT INTO rollouts (started_at, actor, release, from_revision, phase) \
             VALUES (1, 'admin', ?, 1, ?)",
        )
        .bind(release(sequence).to_string())
        .bind(phase)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let resumed = updater.resume_unfinished().await.unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(
        resumed[0].phase,
        Phase::Aborted {
            why: "Burrow stopped in the middle of the update".into()
        }
    );
    assert!(resumed[0].finished_at.is_some());
    // Nothing left to resume; the installed release is the completed one.
    assert!(updater.resume_unfinished().await.unwrap().is_empty());
    assert_eq!(
        installed_release(&store).await.unwrap().unwrap().sequence,
        1
    );
    let audit = store.recent_audit(50).await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "update aborted"),
        "{audit:?}"
    );
}

/// The rollout lock: a rollout driven by a live process refuses a second
/// one, naming who drives it, and is left to its owner at start-up; one
/// whose owner died (a pid that is gone, or a pid of an earlier boot) is
/// reported as interrupted, taken over and finished, with its step log.
#[tokio::test]
async fn one_rollout_at_a_time_and_a_dead_owners_lock_clears_itself() {
    let (_dir, store, updater) = updater().await;
    let me = engine::deployments::Owner::me();
    // Driven by another live process on this host, in this boot: pid 1.
    sqlx::query(
        "INSERT INTO rollouts (started_at, actor, release, from_revision, phase, owner_pid, \
         owner_host, owner_boot, heartbeat_at) VALUES (?, 'admin', ?, 1, ?, 1, ?, ?, ?)",
    )
    .bind(engine::now_unix())
    .bind(release(2).to_string())
    .bind(serde_json::to_string(&Phase::Rolling { next: 0 }).unwrap())
    .bind(&me.host)
    .bind(&me.boot)
    .bind(engine::now_unix())
    .execute(store.pool())
    .await
    .unwrap();
    let next: engine::update::release::Release = serde_json::from_value(release(3)).unwrap();
    let busy = updater.start(next.clone(), "alice").await.unwrap_err();
    let said = busy.to_string();
    assert!(
        matches!(busy, UpdateError::Refused(_))
            && said.contains("Update 1 to 0.2.0 is running (started by admin")
            && said.contains(&format!("pid 1 on {}", me.host)),
        "{said}"
    );
    assert!(updater.resume_unfinished().await.unwrap().is_empty());

    // The same pid recorded in an earlier boot names nobody now.
    sqlx::query("UPDATE rollouts SET owner_boot = 'an-earlier-boot' WHERE id = 1")
        .execute(store.pool())
        .await
        .unwrap();
    let stale = updater.start(next.clone(), "alice").await.unwrap_err();
    assert!(
        matches!(&stale, UpdateError::Interrupted { id: 1, why, .. } if why.contains("is gone")),
        "{stale}"
    );
    // A pid that has exited: also gone.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    sqlx::query("UPDATE rollouts SET owner_pid = ?, owner_boot = ? WHERE id = 1")
        .bind(i64::from(dead))
        .bind(&me.boot)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        updater.start(next.clone(), "alice").await.unwrap_err(),
        UpdateError::Interrupted { id: 1, .. }
    ));
    // Taken over and finished: it was switching, so it is rolled back
    // (here its revision is gone, so the rollback needs the operator),
    // every step in the log with what went wrong.
    let finished = updater.resume_unfinished().await.unwrap();
    assert_eq!(finished.len(), 1);
    let r = &finished[0];
    assert!(
        matches!(&r.phase, Phase::NeedsOperator { why } if why.contains("revision 1 is gone")),
        "{r:?}"
    );
    assert_eq!(r.owner.as_ref().map(|o| o.pid), Some(me.pid));
    let history = updater.history().await.unwrap();
    let steps = &history[0].steps;
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].step, "restore");
    assert!(steps[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("revision 1 is gone")));
    // The lock is free: the next start gets as far as the stack itself.
    let free = updater.start(next, "alice").await.unwrap_err();
    assert!(
        free.to_string().contains("Nothing is deployed yet"),
        "{free}"
    );
}
