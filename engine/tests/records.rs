//! Config revisions, deployment records and the kept stack certificate,
//! against a real SQLite file; and the update channel (update/channel.rs).

#[path = "update/channel.rs"]
mod update_channel;
#[path = "update/rollouts.rs"]
mod update_rollouts;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::deploy::{
    ApplyOptions, ApplyReport, DeployError, DeployRequest, LogLine, ProgressEvent, PullTally,
    ServiceStatus, Target,
};
use engine::deployer::Deployer;
use engine::deployments::{BusyOr, DeploymentKind, DeploymentStatus};
use engine::sealed::Vault;
use engine::targets::{TargetSettings, Targets};
use engine::Store;
use futures_util::stream::BoxStream;
use stack::model::parse_stack_toml;
use tokio::sync::mpsc::UnboundedSender;

fn docker() -> TargetSettings {
    TargetSettings::local_docker()
}

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
        .save_revision(&vault, &config, &docker(), "admin", Some("wizard"))
        .await
        .unwrap();
    assert!(new);
    assert_eq!(first.id, 1);
    let (again, new) = store
        .save_revision(&vault, &config, &docker(), "admin", None)
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
        .save_revision(&vault, &changed, &docker(), "admin", None)
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
        .save_revision(&vault, &config, &docker(), "admin", None)
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

    // Owned by this process: a start-up (a new process with this pid) sees
    // the pid reused, so the run is an orphan.
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
        .save_revision(&vault, &changed, &docker(), "admin", None)
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
async fn progress_stored_by_older_versions_reads_typed_and_unreadable_rows_are_left_out() {
    let (_dir, store, _vault) = open().await;
    let id = store
        .begin_deployment(None, DeploymentKind::Apply, "admin")
        .await
        .unwrap();
    // Rows as earlier versions wrote them: pull progress before the image
    // totals were kept (no `tally`), and a row no version writes.
    let rows = [
        r#"{"kind":"planned","changes":[{"service":"api","action":"create"}]}"#,
        r#"{"kind":"pull_progress","image":"x/api:1","status":"a1: Downloading","current":5,"total":10}"#,
        r#"{"kind":"teleported","service":"api"}"#,
        r#"{"kind":"failed","service":null,"message":"daemon gone","last_logs":[]}"#,
    ];
    for row in rows {
        let value: serde_json::Value = serde_json::from_str(row).unwrap();
        store.append_event(id, &value).await.unwrap();
    }
    let stored = store.events_since(id, 0).await.unwrap();
    assert_eq!(stored.len(), 4, "the journal keeps every row");
    let typed = store.progress_since(id, 0).await.unwrap();
    let ids: Vec<i64> = typed.iter().map(|(i, _)| *i).collect();
    assert_eq!(ids, vec![stored[0].id, stored[1].id, stored[3].id]);
    assert_eq!(
        typed[1].1,
        ProgressEvent::PullProgress {
            image: "x/api:1".into(),
            status: "a1: Downloading".into(),
            current: Some(5),
            total: Some(10),
            tally: PullTally::default(),
        }
    );
    assert!(matches!(
        &typed[2].1,
        ProgressEvent::Failed { service: None, message, .. } if message == "daemon gone"
    ));
    // What the target sends now is stored in the same shape.
    store
        .append_event(
            id,
            &ProgressEvent::Healthy {
                service: "api".into(),
                after_ms: 1500,
            },
        )
        .await
        .unwrap();
    let last = store.progress_since(id, stored[3].id).await.unwrap();
    assert_eq!(
        last[0].1,
        ProgressEvent::Healthy {
            service: "api".into(),
            after_ms: 1500
        }
    );
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

/// A target without a daemon: records what it was asked to apply.
#[derive(Default)]
struct FakeTarget {
    applied: Mutex<Vec<(i64, String)>>,
    /// Status watches started.
    watches: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Target for FakeTarget {
    async fn apply(
        &self,
        req: &DeployRequest,
        _opts: &ApplyOptions,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<ApplyReport, DeployError> {
        let _ = progress.send(ProgressEvent::Planned { changes: vec![] });
        self.applied
            .lock()
            .unwrap()
            .push((req.revision, req.plan.files["Revolt.toml"].content.clone()));
        Ok(ApplyReport::default())
    }
    async fn status(&self, _stack: &str) -> Result<Vec<ServiceStatus>, DeployError> {
        Ok(Vec::new())
    }
    fn watch_status(
        &self,
        _stack: &str,
        _every: Duration,
    ) -> BoxStream<'static, Result<Vec<ServiceStatus>, DeployError>> {
        use futures_util::StreamExt;
        self.watches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        futures_util::stream::once(async { Ok(Vec::new()) })
            .chain(futures_util::stream::pending())
            .boxed()
    }
    fn logs(
        &self,
        _stack: &str,
        _service: Option<&str>,
        _tail: usize,
        _follow: bool,
    ) -> BoxStream<'static, Result<LogLine, DeployError>> {
        Box::pin(futures_util::stream::empty())
    }
    async fn remove(
        &self,
        _stack: &str,
        _remove_volumes: bool,
        _progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<Vec<String>, DeployError> {
        Ok(Vec::new())
    }
}

fn rendered(req: &DeployRequest) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = req
        .plan
        .files
        .iter()
        .map(|(n, f)| (n.clone(), f.content.clone()))
        .collect();
    files.push(("compose.yml".into(), req.plan.compose.clone()));
    files.push(("kubernetes".into(), req.plan.kubernetes_yaml()));
    files
}

#[tokio::test]
async fn a_revision_keeps_its_secret_versions_and_renders_the_same_bytes_later() {
    let (_dir, store, vault) = open().await;
    let deployer = Deployer::new(store.clone(), vault.clone(), Arc::new(Targets::new(None)));
    let config = parse_stack_toml(WITH_SMTP).unwrap().config;
    let (first, _) = store
        .save_revision(&vault, &config, &docker(), "admin", None)
        .await
        .unwrap();
    let rev1 = store.revision(&vault, first.id).await.unwrap().unwrap();
    let before = rendered(&deployer.request_for(&rev1).await.unwrap());

    // A new SMTP password and new stack secrets: a new revision with new
    // versions; the first keeps its own.
    let mut changed = config.clone();
    changed.smtp.as_mut().unwrap().password = "another-password-entirely".into();
    let (second, new) = store
        .save_revision(&vault, &changed, &docker(), "admin", None)
        .await
        .unwrap();
    assert!(new);
    store
        .replace_stack_secrets(&vault, stack::secrets::Secrets::generate().unwrap(), true)
        .await
        .unwrap();
    let rev2 = store.revision(&vault, second.id).await.unwrap().unwrap();
    assert_ne!(rev1.secrets.smtp_password, rev2.secrets.smtp_password);
    assert_eq!(
        rev1.secrets.stack, rev2.secrets.stack,
        "secrets replaced after rev 2 was saved"
    );

    let again = store.revision(&vault, first.id).await.unwrap().unwrap();
    assert_eq!(
        again.config.smtp.as_ref().unwrap().password,
        "hunter2-very-secret"
    );
    assert_eq!(
        rendered(&deployer.request_for(&again).await.unwrap()),
        before,
        "revision 1 renders byte-identical files after the password and secrets changed"
    );
    let newest = rendered(&deployer.request_for(&rev2).await.unwrap());
    assert_ne!(newest, before);

    // Saving the same config again now refers to the new stack secrets.
    let (third, new) = store
        .save_revision(&vault, &changed, &docker(), "admin", None)
        .await
        .unwrap();
    assert!(new, "new stack secrets make a new revision");
    let rev3 = store.revision(&vault, third.id).await.unwrap().unwrap();
    assert_ne!(rev3.secrets.stack, rev1.secrets.stack);

    // The history says what changed.
    let history = store.history(&vault).await.unwrap();
    let changes: Vec<&str> = history.entries.iter().map(|e| e.changes.as_str()).collect();
    assert_eq!(
        changes,
        vec![
            "Stack secrets replaced",
            "SMTP password changed",
            "First revision"
        ]
    );
}

#[tokio::test]
async fn old_shapes_still_load_and_undeployable_ones_say_why() {
    let (_dir, store, vault) = open().await;
    // A schema-1 row as the migration leaves it: no target, no versions;
    // its Docker address is the one the wizard kept.
    store
        .put_secret(&vault, "target_docker_url", "tcp://127.0.0.1:2375")
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO config_revisions (created_at, author, stack_toml, note, schema_version) \
         VALUES (1, 'admin', 'domain = \"chat.example.com\"\n', NULL, 1)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    // And one that today's rules refuse (a domain no longer accepted).
    sqlx::query(
        "INSERT INTO config_revisions (created_at, author, stack_toml, note, schema_version) \
         VALUES (2, 'admin', 'domain = \"not a domain\"\n', NULL, 1)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let old = store.revision(&vault, 1).await.unwrap().unwrap();
    assert_eq!(old.config.domain.as_str(), "chat.example.com");
    assert_eq!(
        old.target,
        TargetSettings::Docker {
            url: Some("tcp://127.0.0.1:2375".into()),
            tls: None,
        }
    );
    let err = store.revision(&vault, 2).await.unwrap_err().to_string();
    assert!(err.contains("revision 2 no longer validates"), "{err}");

    let history = store.history(&vault).await.unwrap();
    assert_eq!(history.entries.len(), 2);
    assert!(history.entries[0]
        .undeployable
        .as_deref()
        .unwrap()
        .contains("no longer validates"));
    assert_eq!(history.entries[1].undeployable, None);
    let diff = store.revision_diff(&vault, 1, 2).await.unwrap();
    assert!(diff.note.as_deref().unwrap().contains("stored stack.toml"));
    assert_eq!(diff.files[0].name, "stack.toml");
    let missing = store.revision_diff(&vault, 1, 99).await.unwrap_err();
    assert!(
        matches!(missing, engine::EngineError::NotFound(_)),
        "{missing}"
    );
}

#[tokio::test]
async fn the_factory_picks_the_target_by_revision_and_kubernetes_never_reaches_docker() {
    let (_dir, store, vault) = open().await;
    let fake = Arc::new(FakeTarget::default());
    let deployer = Deployer::new(
        store.clone(),
        vault.clone(),
        Arc::new(Targets::fixed(fake.clone())),
    );
    let config = parse_stack_toml(WITH_SMTP).unwrap().config;
    let (docker_rev, _) = store
        .save_revision(&vault, &config, &docker(), "admin", None)
        .await
        .unwrap();
    let kube = TargetSettings::Kubernetes {
        in_cluster: true,
        context: None,
        namespace: "chat".into(),
        ingress_class: None,
        issuer: None,
    };
    let mut kube_config = config.clone();
    kube_config.target = stack::model::TargetKind::Kubernetes;
    let (kube_rev, _) = store
        .save_revision(&vault, &kube_config, &kube, "admin", None)
        .await
        .unwrap();

    let rev = store.revision(&vault, kube_rev.id).await.unwrap().unwrap();
    assert_eq!(rev.target, kube);
    // The Kubernetes revision goes to the Kubernetes target (its own
    // in-cluster credentials; this process is no pod, which it says), never
    // to the Docker one.
    let outcome = deployer
        .apply(rev, "admin", &ApplyOptions::default(), None)
        .await
        .unwrap();
    let why = outcome.result.unwrap_err().to_string();
    assert!(
        why.contains("Burrow does not run inside a Kubernetes pod"),
        "{why}"
    );
    let d = store
        .deployment(outcome.deployment_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.status, d.revision_id),
        (DeploymentStatus::Failed, Some(kube_rev.id))
    );
    assert!(
        fake.applied.lock().unwrap().is_empty(),
        "the Docker target was never asked"
    );

    // The Docker revision goes to the Docker target, through the deployer.
    let rev = store
        .revision(&vault, docker_rev.id)
        .await
        .unwrap()
        .unwrap();
    let outcome = deployer
        .apply(rev, "admin", &ApplyOptions::default(), None)
        .await
        .unwrap();
    outcome.result.unwrap();
    assert_eq!(fake.applied.lock().unwrap()[0].0, docker_rev.id);
    let d = store
        .deployment(outcome.deployment_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    assert_eq!(d.revision_id, Some(docker_rev.id));
    assert_eq!(
        store.events_since(d.id, 0).await.unwrap()[0].event["kind"],
        "planned"
    );
    assert_eq!(
        store.deployed_revision().await.unwrap(),
        Some(docker_rev.id)
    );
}

#[tokio::test]
async fn a_dead_owners_run_is_interrupted_a_live_ones_is_not() {
    let (_dir, store, _vault) = open().await;
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let id = store
        .begin_deployment(None, DeploymentKind::Apply, "cli")
        .await
        .unwrap();
    sqlx::query("UPDATE deployments SET owner_pid = ? WHERE id = ?")
        .bind(i64::from(child.id()))
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    // A live `burrow apply` (another process on this host) keeps its run,
    // at start-up and for a new deployment alike.
    assert_eq!(store.interrupt_stale_deployments().await.unwrap(), 0);
    match store
        .begin_deployment(None, DeploymentKind::Apply, "admin")
        .await
    {
        Err(BusyOr::Busy(running)) => assert_eq!(running, id),
        other => panic!("expected busy, got {other:?}"),
    }
    // Killed: its run no longer blocks, and says why it ended.
    child.kill().unwrap();
    child.wait().unwrap();
    let next = store
        .begin_deployment(None, DeploymentKind::Apply, "admin")
        .await
        .unwrap();
    let old = store.deployment(id).await.unwrap().unwrap();
    assert_eq!(old.status, DeploymentStatus::Interrupted);
    assert!(old.summary.unwrap().contains("is gone"));
    // The new one is ours and alive while this process serves.
    assert_eq!(
        store.deployment_owner(next).await.unwrap().unwrap().pid,
        std::process::id()
    );
    assert!(store
        .begin_deployment(None, DeploymentKind::Down, "x")
        .await
        .is_err());
}

#[tokio::test]
async fn saved_revisions_and_started_and_finished_deployments_appear_in_the_activity() {
    let (_dir, store, vault) = open().await;
    let deployer = Deployer::new(
        store.clone(),
        vault.clone(),
        Arc::new(Targets::fixed(Arc::new(FakeTarget::default()))),
    );
    let config = parse_stack_toml(WITH_SMTP).unwrap().config;
    let (meta, _) = store
        .save_revision(&vault, &config, &docker(), "admin", Some("wizard"))
        .await
        .unwrap();
    let rev = store.revision(&vault, meta.id).await.unwrap().unwrap();
    deployer
        .apply(rev, "admin", &ApplyOptions::default(), None)
        .await
        .unwrap()
        .result
        .unwrap();
    let activity = store.recent_audit(10).await.unwrap();
    let actions: Vec<(&str, &str, &str)> = activity
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("admin", "deploy revision 1", "success"),
            ("admin", "deploy revision 1 started", "success"),
            ("admin", "save revision 1", "success")
        ]
    );
}

#[tokio::test]
async fn every_open_dashboard_shares_one_watch() {
    use engine::dashboard::Hub;
    use std::sync::atomic::Ordering;
    let fake = Arc::new(FakeTarget::default());
    let config = parse_stack_toml(WITH_SMTP).unwrap().config;
    let hub = Hub::default();
    let pages: Vec<_> = (0..10)
        .map(|_| hub.subscribe(1, &config, None, fake.clone()))
        .collect();
    assert_eq!(hub.active(), 1);
    for page in &pages {
        let mut status = page.status.clone();
        let seen = status
            .wait_for(Option::is_some)
            .await
            .unwrap()
            .clone()
            .unwrap();
        assert_eq!(seen, Ok(Vec::new()));
    }
    assert_eq!(
        fake.watches.load(Ordering::SeqCst),
        1,
        "ten pages, one watch"
    );
    // A page's first load reads what the watch saw; it starts nothing.
    let status = hub.latest(1).expect("revision 1 is watched").status;
    assert_eq!(status, Some(Ok(Vec::new())));
    assert!(hub.latest(2).is_none(), "nobody watches revision 2 yet");
    assert_eq!(hub.active(), 1);
    // Another revision is another watch.
    let other = hub.subscribe(2, &config, None, fake.clone());
    assert_eq!(hub.active(), 2);
    other
        .status
        .clone()
        .wait_for(Option::is_some)
        .await
        .unwrap();
    drop(other);
    drop(pages);
    assert_eq!(hub.active(), 0, "the watch ends with the last page");
    assert!(hub.latest(1).is_none(), "an ended watch is not read");
    let again = hub.subscribe(1, &config, None, fake.clone());
    again
        .status
        .clone()
        .wait_for(Option::is_some)
        .await
        .unwrap();
    assert_eq!(
        fake.watches.load(Ordering::SeqCst),
        3,
        "a new page, a new watch"
    );
}

/// An own certificate pasted on the TLS step is kept sealed, one version
/// per pair; each revision delivers its own pair at deploy, and nothing of
/// it is on disk in the clear.
#[tokio::test]
async fn an_own_certificate_is_kept_sealed_per_revision_and_delivered_at_deploy() {
    let (dir, store, vault) = open().await;
    let deployer = Deployer::new(store.clone(), vault.clone(), Arc::new(Targets::new(None)));
    let text = format!(
        "domain = \"chat.example.com\"\n[tls]\nmode = \"own\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        stack::render::OWN_CERT_SOURCE,
        stack::render::OWN_KEY_SOURCE
    );
    let config = parse_stack_toml(&text).unwrap().config;
    // Nothing pasted yet: refused with the way out, nothing saved.
    let err = store
        .save_revision(&vault, &config, &docker(), "admin", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("paste the certificate"), "{err}");
    assert!(store.latest_revision(&vault).await.unwrap().is_none());

    store
        .put_draft_own_tls(&vault, "CERT-ONE", "KEY-ONE-very-private")
        .await
        .unwrap();
    let (first, _) = store
        .save_revision(&vault, &config, &docker(), "admin", None)
        .await
        .unwrap();
    store.clear_wizard_draft().await.unwrap();
    store
        .put_draft_own_tls(&vault, "CERT-TWO", "KEY-TWO-very-private")
        .await
        .unwrap();
    let mut changed = config.clone();
    changed.registration = stack::model::Registration::InviteOnly;
    let (second, new) = store
        .save_revision(&vault, &changed, &docker(), "admin", None)
        .await
        .unwrap();
    assert!(new);
    store.clear_wizard_draft().await.unwrap();

    let delivered = |req: &engine::deploy::DeployRequest| {
        (
            String::from_utf8(req.host_files[stack::render::OWN_CERT_SOURCE].clone()).unwrap(),
            String::from_utf8(req.host_files[stack::render::OWN_KEY_SOURCE].clone()).unwrap(),
        )
    };
    let rev1 = store.revision(&vault, first.id).await.unwrap().unwrap();
    let rev2 = store.revision(&vault, second.id).await.unwrap().unwrap();
    assert_eq!(
        delivered(&deployer.request_for(&rev1).await.unwrap()),
        ("CERT-ONE".to_owned(), "KEY-ONE-very-private".to_owned())
    );
    assert_eq!(
        delivered(&deployer.request_for(&rev2).await.unwrap()),
        ("CERT-TWO".to_owned(), "KEY-TWO-very-private".to_owned())
    );

    // Saved again without a new paste: the newest pair is kept.
    let mut again = changed.clone();
    again.registration = stack::model::Registration::Open;
    let (third, _) = store
        .save_revision(&vault, &again, &docker(), "admin", None)
        .await
        .unwrap();
    let rev3 = store.revision(&vault, third.id).await.unwrap().unwrap();
    assert_eq!(rev3.secrets.own_tls, rev2.secrets.own_tls);

    // Not on disk in the clear, anywhere in the data dir.
    let mut pending = vec![dir.path().to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                pending.push(e.unwrap().path());
            }
        } else {
            let bytes = std::fs::read(&path).unwrap();
            let needle = b"KEY-ONE-very-private";
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{}",
                path.display()
            );
        }
    }
}
