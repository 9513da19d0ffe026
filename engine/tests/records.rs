//! Config revisions, deployment records and the kept stack certificate,
//! against a real SQLite file.

use engine::deployments::{BusyOr, DeploymentKind, DeploymentStatus};
use engine::sealed::Vault;
use engine::Store;
use stack::model::parse_stack_toml;

async fn open() -> (tempfile::TempDir, Store, Vault) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let vault = Vault::open(&dir.path().join("secrets.key")).unwrap();
    (dir, store, vault)
}

const WITH_SMTP: &str = r#"
domain = "chat.example.com"
[smtp]
enabled = true
host = "smtp.example.com"
port = 587
username = "stoat"
password = "hunter2-very-secret"
from = "noreply@example.com"
"#;

#[tokio::test]
async fn revisions_number_up_keep_no_password_and_skip_unchanged() {
    let (dir, store, vault) = open().await;
    assert!(store.latest_revision(&vault).await.unwrap().is_none());
    let config = parse_stack_toml(WITH_SMTP).unwrap().config;
    let (first, new) = store
        .save_revision(&vault, &config, "admin", Some("wizard"))
        .await
        .unwrap();
    assert!(new);
    assert_eq!(first.id, 1);
    let (again, new) = store
        .save_revision(&vault, &config, "admin", None)
        .await
        .unwrap();
    assert!(!new, "an unchanged config is not a new revision");
    assert_eq!(again.id, 1);

    let loaded = store.latest_revision(&vault).await.unwrap().unwrap();
    assert_eq!(
        loaded.config, config,
        "the password comes back from the vault"
    );

    let mut changed = config.clone();
    changed.apps.gifbox = true;
    let (second, new) = store
        .save_revision(&vault, &changed, "admin", None)
        .await
        .unwrap();
    assert!(new);
    assert_eq!(second.id, 2);
    assert_eq!(store.list_revisions(10).await.unwrap().len(), 2);

    drop(store);
    for name in ["burrow.db", "burrow.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("hunter2-very-secret"),
                "{name} holds the password"
            );
        }
    }
}

#[tokio::test]
async fn one_deployment_at_a_time_events_in_order_stale_ones_interrupted() {
    let (_dir, store, vault) = open().await;
    let config = parse_stack_toml(WITH_SMTP).unwrap().config;
    let (rev, _) = store
        .save_revision(&vault, &config, "admin", None)
        .await
        .unwrap();
    let id = store
        .begin_deployment(None, DeploymentKind::Apply, "admin")
        .await
        .unwrap();
    match store
        .begin_deployment(None, DeploymentKind::Down, "cli")
        .await
    {
        Err(BusyOr::Busy(running)) => assert_eq!(running, id),
        other => panic!("expected busy, got {other:?}"),
    }
    for n in 0..3 {
        store
            .append_event(id, &serde_json::json!({"kind": "started", "n": n}))
            .await
            .unwrap();
    }
    let all = store.events_since(id, 0).await.unwrap();
    assert_eq!(all.len(), 3);
    let rest = store.events_since(id, all[0].id).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[1].event["n"], 2);

    assert_eq!(store.interrupt_stale_deployments().await.unwrap(), 1);
    let d = store.deployment(id).await.unwrap().unwrap();
    assert_eq!(d.status, DeploymentStatus::Interrupted);

    let next = store
        .begin_deployment(Some(rev.id), DeploymentKind::Apply, "admin")
        .await
        .unwrap();
    store
        .finish_deployment(next, DeploymentStatus::Succeeded, "ok")
        .await
        .unwrap();
    assert_eq!(store.deployed_revision().await.unwrap(), Some(rev.id));

    // An edit saved but not deployed is the newest, not the running one.
    let mut changed = config.clone();
    changed.apps.gifbox = !changed.apps.gifbox;
    let (edit, created) = store
        .save_revision(&vault, &changed, "admin", None)
        .await
        .unwrap();
    assert!(created);
    let latest = store.latest_revision(&vault).await.unwrap().unwrap();
    assert_eq!(latest.meta.id, edit.id);
    let running = store.running_revision(&vault).await.unwrap().unwrap();
    assert_eq!(running.meta.id, rev.id);
    assert_eq!(running.config, config);
}

#[tokio::test]
async fn stack_certificate_is_kept_per_domain_and_chains_to_the_kept_ca() {
    let (_dir, store, vault) = open().await;
    assert!(store.existing_burrow_ca(&vault).await.unwrap().is_none());
    let leaf = store.stack_leaf(&vault, "chat.example.com").await.unwrap();
    let same = store.stack_leaf(&vault, "chat.example.com").await.unwrap();
    assert_eq!(
        leaf.cert_pem, same.cert_pem,
        "re-applying keeps the certificate"
    );
    let other = store.stack_leaf(&vault, "other.example.com").await.unwrap();
    assert_ne!(
        leaf.cert_pem, other.cert_pem,
        "a new domain gets a new leaf"
    );
    let ca = store.existing_burrow_ca(&vault).await.unwrap().unwrap();
    let chain = format!("{}{}", other.cert_pem, ca.ca_pem());
    let summary = engine::certs::check_own_certificate(
        &chain,
        &other.key_pem,
        "other.example.com",
        time::OffsetDateTime::now_utc(),
    );
    assert!(summary.is_ok(), "{summary:?}");
}
