//! A rollout journalled in a phase before any change, found unfinished at
//! start-up, is aborted (nothing to undo) and recorded as such; the
//! installed release is the last completed one.

use std::sync::Arc;

use engine::backup::Backups;
use engine::deployer::Deployer;
use engine::sealed::Vault;
use engine::targets::Targets;
use engine::update::rollout::Phase;
use engine::update::updater::{installed_release, Pacing, Updater};
use engine::Store;

#[tokio::test]
async fn an_interrupted_rollout_before_any_change_is_aborted_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let vault = Vault::open(&dir.path().join("secrets.key")).unwrap();
    let deployer = Arc::new(Deployer::new(
        store.clone(),
        vault,
        Arc::new(Targets::new(None)),
    ));
    let release = |sequence: u64| {
        serde_json::json!({
            "schema": 1, "channel": "stable", "sequence": sequence,
            "version": format!("0.{sequence}.0"), "released_at": "2026-12-01T10:00:00Z",
            "images": {}
        })
        .to_string()
    };
    for (sequence, phase) in [
        (1, serde_json::to_string(&Phase::Completed).unwrap()),
        (2, serde_json::to_string(&Phase::Preflight).unwrap()),
    ] {
        sqlx::query(
            "INSERT INTO rollouts (started_at, actor, release, from_revision, phase) \
             VALUES (1, 'admin', ?, 1, ?)",
        )
        .bind(release(sequence))
        .bind(phase)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let updater = Updater::new(deployer, Backups::new(dir.path(), 5), Pacing::default());
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
