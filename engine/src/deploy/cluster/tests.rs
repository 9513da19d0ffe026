//! The Kubernetes target against the in-memory API server ([`super::fake`]):
//! the exact requests of a first deploy, a second one that changes only
//! what changed and prunes the rest, a changed Job recreated, the refusals
//! that change nothing (a field owned by another manager, changed claim
//! templates), a rollout that fails with its pods' events and logs, an
//! account bound to its namespace, status, logs and removal.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::fake::{self, Cluster, Shared};
use super::KubeTarget;
use crate::deploy::{
    ApplyOptions, ChangeAction, DeployError, DeployRequest, Health, ProgressEvent, Target,
};

const NS: &str = "team-chat";

fn config(extra: &str) -> stack::model::StackConfig {
    let text = format!(
        "{}\n{extra}",
        include_str!("../../../../testkit/stack.toml")
    );
    stack::model::parse_stack_toml(&text).unwrap().config
}

fn request(config: &stack::model::StackConfig, secrets: &stack::Secrets) -> DeployRequest {
    DeployRequest {
        stack: stack::model::StackName::parse("chat").unwrap(),
        revision: 1,
        plan: stack::render(config, secrets),
        host_files: Default::default(),
    }
}

fn target(cluster: &Shared) -> KubeTarget {
    KubeTarget::new(fake::client(cluster), NS).polling(Duration::from_millis(5))
}

async fn apply(
    t: &KubeTarget,
    req: &DeployRequest,
    opts: &ApplyOptions,
) -> (
    Result<crate::deploy::ApplyReport, DeployError>,
    Vec<ProgressEvent>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = t.apply(req, opts, &tx).await;
    drop(tx);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (result, events)
}

fn planned(events: &[ProgressEvent]) -> Vec<(String, ChangeAction)> {
    match events.first() {
        Some(ProgressEvent::Planned { changes }) => changes
            .iter()
            .map(|c| (c.service.clone(), c.action))
            .collect(),
        other => panic!("the first event is not Planned: {other:?}"),
    }
}

#[tokio::test]
async fn a_first_deploy_applies_every_object_in_order_and_waits_for_each_workload() {
    let cluster = Cluster::shared();
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    let req = request(&config(""), &secrets);
    let (result, events) = apply(&t, &req, &ApplyOptions::default()).await;
    let report = result.unwrap();
    assert!(planned(&events)
        .iter()
        .all(|(_, a)| *a == ChangeAction::Create));
    assert!(report.created.contains(&"api".to_owned()), "{report:?}");
    assert!(matches!(
        events.last(),
        Some(ProgressEvent::Finished { .. })
    ));
    assert!(events
        .iter()
        .any(|e| matches!(e, ProgressEvent::Completed { service } if service == "createbuckets")));
    assert!(events
        .iter()
        .any(|e| matches!(e, ProgressEvent::Healthy { service, .. } if service == "api")));

    {
        let c = cluster.lock().unwrap();
        // A new namespace: nothing to read or dry-run; the namespace first,
        // then every object once, in dependency order.
        let writes = c.writes();
        assert_eq!(writes[0], "PATCH namespaces/team-chat");
        let position = |prefix: &str| {
            writes
                .iter()
                .position(|w| w.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {writes:#?}"))
        };
        assert!(position("PATCH secrets/") < position("PATCH configmaps/"));
        assert!(position("PATCH configmaps/") < position("PATCH services/"));
        assert!(position("PATCH services/") < position("PATCH statefulsets/database"));
        assert!(position("PATCH statefulsets/") < position("PATCH deployments/api"));
        assert!(position("PATCH deployments/") < position("PATCH jobs/createbuckets"));
        assert_eq!(writes.last().unwrap(), "PATCH ingresses/stoat");
        assert_eq!(writes.len(), req.plan.kubernetes.len(), "{writes:#?}");
        assert!(!c.requests.iter().any(|r| r.ends_with("dry-run")));
        // In the operator's namespace, labelled with the stack.
        let api = c.get("deployments", NS, "api").unwrap();
        assert_eq!(api["metadata"]["labels"]["burrow.io/stack"], "chat");
        assert!(c.names("deployments", "stoat").is_empty());
    }

    // Read back: one row per service, running and healthy; the job done.
    let services = t.status("chat").await.unwrap();
    let api = services.iter().find(|s| s.service == "api").unwrap();
    assert_eq!(
        (api.state.as_str(), api.health),
        ("running", Health::Healthy)
    );
    assert!(api.image.contains("api"), "{api:?}");
    let job = services
        .iter()
        .find(|s| s.service == "createbuckets")
        .unwrap();
    assert!(job.one_shot && job.exit_code == Some(0) && !job.is_trouble());
    let lines: Vec<_> = t.logs("chat", Some("api"), 10, false).collect().await;
    let lines: Vec<String> = lines.into_iter().map(|l| l.unwrap().text).collect();
    assert_eq!(lines, ["api-1 started", "api-1 listening"]);
}

#[tokio::test]
async fn a_second_deploy_changes_only_what_changed_and_prunes_what_the_plan_lost() {
    let cluster = Cluster::shared();
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await
    .0
    .unwrap();

    // The same plan again: dry runs move no generation, nothing changes.
    cluster.lock().unwrap().requests.clear();
    let (result, events) = apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await;
    let report = result.unwrap();
    assert!(
        report.created.is_empty() && report.recreated.is_empty(),
        "{report:?}"
    );
    assert!(planned(&events)
        .iter()
        .all(|(_, a)| *a == ChangeAction::Unchanged));

    // gifbox turned off and another api image: api changes, gifbox goes.
    let mut changed = config("");
    changed.apps.gifbox = false;
    changed.images.set(
        stack::model::Service::Api,
        stack::model::ImageRef::parse("registry.example/stoat/api:0.9.9").unwrap(),
    );
    cluster.lock().unwrap().requests.clear();
    let (result, events) = apply(&t, &request(&changed, &secrets), &ApplyOptions::default()).await;
    let report = result.unwrap();
    let plan = planned(&events);
    assert!(
        plan.contains(&("api".into(), ChangeAction::Recreate)),
        "{plan:?}"
    );
    assert!(
        plan.contains(&("gifbox".into(), ChangeAction::Remove)),
        "{plan:?}"
    );
    // The web client is told gifbox went (its environment changed);
    // events is not touched.
    assert!(
        plan.contains(&("web".into(), ChangeAction::Recreate)),
        "{plan:?}"
    );
    assert!(
        plan.contains(&("events".into(), ChangeAction::Unchanged)),
        "{plan:?}"
    );
    assert_eq!(report.removed, ["gifbox"]);
    let c = cluster.lock().unwrap();
    assert!(c.get("deployments", NS, "gifbox").is_none());
    assert!(c.writes().contains(&"DELETE deployments/gifbox".to_owned()));
    assert_eq!(
        c.get("deployments", NS, "api").unwrap()["spec"]["template"]["spec"]["containers"][0]
            ["image"],
        "registry.example/stoat/api:0.9.9"
    );
    // Claims stay unless asked.
    assert!(!c
        .writes()
        .iter()
        .any(|w| w.contains("persistentvolumeclaims")));
}

#[tokio::test]
async fn a_changed_job_is_deleted_and_created_again() {
    let cluster = Cluster::shared();
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await
    .0
    .unwrap();
    let mut changed = config("");
    changed.images.set(
        stack::model::Service::Createbuckets,
        stack::model::ImageRef::parse("registry.example/minio/mc:2026").unwrap(),
    );
    cluster.lock().unwrap().requests.clear();
    let (result, events) = apply(&t, &request(&changed, &secrets), &ApplyOptions::default()).await;
    result.unwrap();
    assert!(planned(&events).contains(&("createbuckets".into(), ChangeAction::Recreate)));
    let writes = cluster.lock().unwrap().writes();
    let delete = writes
        .iter()
        .position(|w| w == "DELETE jobs/createbuckets")
        .unwrap();
    let create = writes
        .iter()
        .position(|w| w == "PATCH jobs/createbuckets")
        .unwrap();
    assert!(delete < create, "{writes:#?}");
}

#[tokio::test]
async fn a_field_owned_by_another_manager_or_changed_claim_templates_change_nothing() {
    let cluster = Cluster::shared();
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await
    .0
    .unwrap();

    cluster.lock().unwrap().foreign.insert(
        ("deployments".into(), "web".into()),
        ("kubectl-edit".into(), ".spec.replicas".into()),
    );
    cluster.lock().unwrap().requests.clear();
    let (result, events) = apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.starts_with("Deployment web: .spec.replicas is managed by \"kubectl-edit\""),
        "{err}"
    );
    assert!(
        matches!(events.last(), Some(ProgressEvent::Failed { service: Some(s), .. }) if s == "web")
    );
    assert!(cluster.lock().unwrap().writes().is_empty());
    cluster.lock().unwrap().foreign.clear();

    // The database's claim template grown: refused before any request
    // but reads.
    {
        let mut c = cluster.lock().unwrap();
        let key = (
            "statefulsets".to_owned(),
            NS.to_owned(),
            "database".to_owned(),
        );
        let sts = c.objects.get_mut(&key).unwrap();
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!("5Gi");
        c.requests.clear();
    }
    let (result, _) = apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("StatefulSet database would change its volume claim templates"),
        "{err}"
    );
    let c = cluster.lock().unwrap();
    assert!(
        c.requests.iter().all(|r| r.starts_with("GET")),
        "{:#?}",
        c.requests
    );
}

#[tokio::test]
async fn a_workload_that_does_not_roll_out_fails_with_its_pods_events_and_logs() {
    let cluster = Cluster::shared();
    cluster.lock().unwrap().failing.insert("api".into());
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    let (result, events) = apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.service(), Some("api"));
    assert!(
        err.summary()
            .contains("its rollout passed its progress deadline: ReplicaSet \"api-1\" has timed out progressing"),
        "{err}"
    );
    assert!(
        err.last_logs()
            .iter()
            .any(|l| l.contains("api-1 listening")),
        "{:?}",
        err.last_logs()
    );
    assert!(
        matches!(events.last(), Some(ProgressEvent::Failed { service: Some(s), last_logs, .. })
        if s == "api" && !last_logs.is_empty())
    );
    let services = t.status("chat").await.unwrap();
    let api = services.iter().find(|s| s.service == "api").unwrap();
    assert!(api.is_trouble() && api.state == "restarting", "{api:?}");

    // Past its own deadline, a workload that only waits fails too.
    let slow = Cluster::shared();
    slow.lock().unwrap().failing.insert("database".into());
    let t = target(&slow);
    let opts = ApplyOptions {
        health_timeouts: [("database".to_owned(), Duration::from_millis(50))].into(),
        ..ApplyOptions::default()
    };
    let (result, _) = apply(&t, &request(&config(""), &secrets), &opts).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.starts_with("database did not roll out within 0 s (0 of 1 replicas ready"),
        "{err}"
    );
}

#[tokio::test]
async fn an_account_bound_to_its_namespace_deploys_without_touching_namespaces() {
    let cluster = Cluster::shared();
    cluster.lock().unwrap().forbid_namespaces = true;
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    let (result, _) = apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await;
    result.unwrap();
    let c = cluster.lock().unwrap();
    assert!(
        !c.writes().iter().any(|w| w.contains("namespaces/")),
        "{:#?}",
        c.writes()
    );
    assert!(c.get("deployments", NS, "api").is_some());
}

#[tokio::test]
async fn removing_a_stack_deletes_its_objects_and_its_claims_only_when_asked() {
    let cluster = Cluster::shared();
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    apply(
        &t,
        &request(&config(""), &secrets),
        &ApplyOptions::default(),
    )
    .await
    .0
    .unwrap();
    // A claim as a StatefulSet makes one, and something not Burrow's.
    {
        let mut c = cluster.lock().unwrap();
        c.objects.insert(
            (
                "persistentvolumeclaims".into(),
                NS.into(),
                "db-database-0".into(),
            ),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "db-database-0", "namespace": NS,
                    "labels": {"burrow.io/stack": "chat"}}}),
        );
        c.objects.insert(
            ("deployments".into(), NS.into(), "someone-else".into()),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "someone-else", "namespace": NS}}),
        );
    }
    let (tx, _rx) = mpsc::unbounded_channel();
    let removed = t.remove("chat", false, &tx).await.unwrap();
    assert!(removed.contains(&"api".to_owned()) && removed.contains(&"createbuckets".to_owned()));
    {
        let c = cluster.lock().unwrap();
        assert_eq!(c.names("deployments", NS), ["someone-else"]);
        assert!(c.names("secrets", NS).is_empty() && c.names("ingresses", NS).is_empty());
        assert_eq!(c.names("persistentvolumeclaims", NS), ["db-database-0"]);
    }
    t.remove("chat", true, &tx).await.unwrap();
    assert!(cluster
        .lock()
        .unwrap()
        .names("persistentvolumeclaims", NS)
        .is_empty());
}

/// A console whose deployer reaches the fake `cluster`, with the kit
/// saved as a Kubernetes revision (namespace [`NS`]) and deployed.
struct Console {
    dir: tempfile::TempDir,
    store: crate::Store,
    vault: crate::sealed::Vault,
    deployer: std::sync::Arc<crate::deployer::Deployer>,
    config: stack::model::StackConfig,
    /// The revision deployed, and its deployment.
    revision: i64,
    deployment: i64,
}

impl Console {
    async fn deployed(cluster: &Shared) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).await.unwrap();
        let vault = crate::sealed::Vault::open(&dir.path().join("secrets.key")).unwrap();
        let targets = crate::targets::Targets::new(None).with_kube_client(fake::client(cluster));
        let deployer = std::sync::Arc::new(crate::deployer::Deployer::new(
            store.clone(),
            vault.clone(),
            std::sync::Arc::new(targets),
        ));
        let mut config = config("");
        config.target = stack::model::TargetKind::Kubernetes;
        let settings = crate::targets::TargetSettings::Kubernetes {
            in_cluster: false,
            context: None,
            namespace: NS.into(),
            ingress_class: None,
            issuer: None,
        };
        let (meta, _) = store
            .save_revision(&vault, &config, &settings, "admin", None)
            .await
            .unwrap();
        let saved = store.revision(&vault, meta.id).await.unwrap().unwrap();
        let outcome = deployer
            .apply(saved, "admin", &ApplyOptions::default(), None)
            .await
            .unwrap();
        outcome.result.unwrap();
        Console {
            dir,
            store,
            vault,
            deployer,
            config,
            revision: meta.id,
            deployment: outcome.deployment_id,
        }
    }
}

#[tokio::test]
async fn the_deployer_sends_a_kubernetes_revision_to_its_cluster_and_watches_it_there() {
    let cluster = Cluster::shared();
    let Console {
        store,
        deployer,
        config,
        revision,
        deployment,
        ..
    } = Console::deployed(&cluster).await;
    let d = store.deployment(deployment).await.unwrap().unwrap();
    assert_eq!(d.status, crate::deployments::DeploymentStatus::Succeeded);
    assert!(cluster
        .lock()
        .unwrap()
        .get("deployments", NS, "api")
        .is_some());
    // The kit's self-signed mode: Burrow's leaf for the Ingress, in the
    // Secret it names.
    assert_eq!(
        cluster
            .lock()
            .unwrap()
            .get("secrets", NS, "stoat-tls")
            .unwrap()["type"],
        "kubernetes.io/tls"
    );
    // The console watches that revision on its cluster.
    let (running, target) = deployer.running().await.unwrap().unwrap();
    assert_eq!(running.meta.id, revision);
    let services = target.unwrap().status(config.name.as_str()).await.unwrap();
    assert!(services
        .iter()
        .any(|s| s.service == "web" && s.state == "running"));
}

/// The next item of `stream`, within 5 s.
async fn next<T>(stream: &mut futures_util::stream::BoxStream<'static, T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item within 5 s")
        .expect("the stream goes on")
}

/// The next item of `stream` that `pred` accepts (changes a test makes
/// together may reach a watch one by one), within 5 s.
async fn next_such<T: std::fmt::Debug>(
    stream: &mut futures_util::stream::BoxStream<'static, T>,
    pred: impl Fn(&T) -> bool,
) -> T {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(item) = stream.next().await {
            if pred(&item) {
                return Some(item);
            }
            seen.push(item);
        }
        None
    })
    .await;
    match found {
        Ok(Some(item)) => item,
        _ => panic!("nothing such within 5 s; seen: {seen:#?}"),
    }
}

/// Pod `name` (or the pod of workload `name`) in the fake, changed by
/// `edit`, the change recorded (as a kubelet's status update would be).
fn edit_pod(cluster: &Shared, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut c = cluster.lock().unwrap();
    let names = c.names("pods", NS);
    let name = names
        .iter()
        .find(|n| *n == name)
        .or_else(|| {
            names
                .iter()
                .find(|n| n.strip_prefix(name).is_some_and(|r| r.starts_with('-')))
        })
        .cloned()
        .unwrap();
    edit(
        c.objects
            .get_mut(&("pods".into(), NS.into(), name))
            .unwrap(),
    );
    c.record();
}

#[tokio::test]
async fn the_dashboard_watches_pods_and_events_instead_of_asking_again() {
    let cluster = Cluster::shared();
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    let req = request(&config(""), &secrets);
    apply(&t, &req, &ApplyOptions::default()).await.0.unwrap();

    // An hour between polls: anything seen sooner came from the watch.
    let before = cluster.lock().unwrap().requests.len();
    let mut rows = t.watch_status("chat", Duration::from_secs(3600));
    let first = next(&mut rows).await.unwrap();
    let services: Vec<&str> = first.iter().map(|s| s.service.as_str()).collect();
    let in_order: Vec<&str> = stack::model::Service::ALL
        .iter()
        .map(|s| s.name())
        .filter(|s| services.contains(s))
        .collect();
    assert_eq!(services, in_order, "one row per pod, in dependency order");
    assert!(services.contains(&"api") && services.contains(&"web"));
    assert!(
        first.iter().all(|s| s.node.as_deref() == Some("node-1")),
        "{first:#?}"
    );

    // api's container starts crash-looping: told without another list.
    edit_pod(&cluster, "api", |pod| {
        pod["status"]["conditions"][0]["status"] = json!("False");
        pod["status"]["containerStatuses"][0]["restartCount"] = json!(3);
        pod["status"]["containerStatuses"][0]["state"] =
            json!({"waiting": {"reason": "CrashLoopBackOff"}});
    });
    let second = next(&mut rows).await.unwrap();
    let api = second.iter().find(|s| s.service == "api").unwrap();
    assert_eq!((api.state.as_str(), api.restart_count), ("restarting", 3));
    assert!(api.is_trouble());
    // A rollout's second api pod is a second row, oldest first; a pod
    // being deleted is none.
    {
        let mut c = cluster.lock().unwrap();
        let old = c
            .names("pods", NS)
            .into_iter()
            .find(|n| n.starts_with("api-"))
            .unwrap();
        let mut newer = c.get("pods", NS, &old).unwrap().clone();
        newer["metadata"]["name"] = json!("api-next");
        newer["metadata"]["creationTimestamp"] = json!("2026-12-06T05:00:00Z");
        c.objects
            .insert(("pods".into(), NS.into(), "api-next".into()), newer);
        let web = c
            .names("pods", NS)
            .into_iter()
            .find(|n| n.starts_with("web-"))
            .unwrap();
        c.objects.get_mut(&("pods".into(), NS.into(), web)).unwrap()["metadata"]
            ["deletionTimestamp"] = json!("2026-12-06T05:00:00Z");
        c.record();
    }
    let third = next_such(&mut rows, |r| {
        r.as_ref()
            .is_ok_and(|rows| !rows.iter().any(|s| s.service == "web"))
    })
    .await
    .unwrap();
    let apis: Vec<&str> = third
        .iter()
        .filter(|s| s.service == "api")
        .map(|s| s.container.as_str())
        .collect();
    assert_eq!(apis.len(), 2, "{apis:?}");
    assert_eq!(apis[1], "api-next");
    let pod_reads: Vec<String> = cluster.lock().unwrap().requests[before..]
        .iter()
        .filter(|r| r.starts_with("GET pods"))
        .cloned()
        .collect();
    let listed = format!("GET pods?{}", super::objects::selector("chat"));
    assert_eq!(pod_reads, [listed.clone(), format!("{listed} watch")]);

    // The namespace's events: the controller's, newest first; a warning
    // recorded later comes first at once.
    let mut events = t.watch_events("chat").expect("a cluster records events");
    let seen = next(&mut events).await.unwrap();
    assert!(!seen.is_empty());
    assert!(seen.len() <= super::status::EVENTS_SHOWN);
    assert!(
        seen.iter()
            .all(|e| e.reason == "Scheduled" && !e.is_warning()),
        "{seen:#?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].last_seen >= w[1].last_seen),
        "{seen:#?}"
    );
    cluster.lock().unwrap().event(
        NS,
        "Pod",
        "api-next",
        true,
        "BackOff",
        "Back-off restarting failed container api",
    );
    cluster.lock().unwrap().record();
    let later = next(&mut events).await.unwrap();
    assert_eq!(
        (
            later[0].kind.as_str(),
            later[0].reason.as_str(),
            later[0].object.as_str()
        ),
        ("Warning", "BackOff", "Pod/api-next")
    );
    assert!(later[0].is_warning());
    assert_eq!(t.events("chat").await.unwrap().unwrap(), later);

    // Every open dashboard shares one watch of each.
    let hub = crate::dashboard::Hub::default();
    let mut cfg = config("");
    cfg.name = stack::model::StackName::parse("chat").unwrap();
    let feed = hub.subscribe(1, &cfg, None, std::sync::Arc::new(t.clone()));
    let shared = feed
        .events
        .clone()
        .wait_for(Option::is_some)
        .await
        .unwrap()
        .clone();
    assert_eq!(shared, Some(Ok(later)));
    let rows = feed
        .status
        .clone()
        .wait_for(Option::is_some)
        .await
        .unwrap()
        .clone();
    assert!(rows
        .unwrap()
        .unwrap()
        .iter()
        .any(|s| s.container == "api-next"));
}

#[tokio::test]
async fn following_the_logs_takes_up_pods_and_runs_that_appear_later() {
    let cluster = Cluster::shared();
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    let req = request(&config(""), &secrets);
    apply(&t, &req, &ApplyOptions::default()).await.0.unwrap();
    let pod = cluster
        .lock()
        .unwrap()
        .names("pods", NS)
        .into_iter()
        .find(|n| n.starts_with("api-"))
        .unwrap();

    let mut lines = t.logs("chat", Some("api"), 10, true);
    let mut texts = Vec::new();
    for _ in 0..2 {
        texts.push(next(&mut lines).await.unwrap().text);
    }
    assert_eq!(
        texts,
        [format!("{pod} started"), format!("{pod} listening")]
    );
    // A rollout's new pod: followed as soon as its container runs.
    {
        let mut c = cluster.lock().unwrap();
        let mut newer = c.get("pods", NS, &pod).unwrap().clone();
        newer["metadata"]["name"] = json!("api-next");
        c.objects
            .insert(("pods".into(), NS.into(), "api-next".into()), newer);
        c.record();
    }
    let line = next(&mut lines).await.unwrap();
    assert_eq!(
        (line.service.as_str(), line.text.as_str()),
        ("api", "api-next started")
    );
    assert_eq!(next(&mut lines).await.unwrap().text, "api-next listening");
    // The same pod's container restarted: its new run is followed too.
    edit_pod(&cluster, "api-next", |p| {
        p["status"]["containerStatuses"][0]["restartCount"] = json!(1);
    });
    assert_eq!(next(&mut lines).await.unwrap().text, "api-next started");
    let follows: Vec<String> = cluster
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.ends_with("/log"))
        .cloned()
        .collect();
    assert_eq!(
        follows,
        [
            format!("GET pods/{pod}/log"),
            "GET pods/api-next/log".to_owned(),
            "GET pods/api-next/log".to_owned()
        ]
    );
}

/// A release of the fake registry's images: every service at `tag`.
fn kube_release(sequence: u64, backup: bool) -> crate::update::release::Release {
    let images = stack::model::Service::ALL
        .iter()
        .map(|s| {
            (
                s.name().to_owned(),
                format!(
                    "registry.example/kit/{}@sha256:{}",
                    s.name(),
                    format!("{sequence:x}").repeat(64)
                ),
            )
        })
        .collect();
    crate::update::release::Release {
        schema: 1,
        channel: "stable".into(),
        sequence,
        version: format!("0.{sequence}.0"),
        min_from_version: None,
        released_at: "2026-12-01T10:00:00Z".into(),
        notes: String::new(),
        requires_backup: backup,
        images,
        health: Default::default(),
        migrations: Vec::new(),
    }
}

/// The image the fake cluster's workload `name` runs.
fn running_image(cluster: &Shared, plural: &str, name: &str) -> String {
    cluster.lock().unwrap().get(plural, NS, name).unwrap()["spec"]["template"]["spec"]["containers"]
        [0]["image"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A signed update on a cluster: the same journal and steps as on Docker,
/// without pulling (the cluster pulls) or parking (a workload goes back by
/// applying its previous objects again). The settle's chat probes enter
/// through the Ingress's address, as its status has it.
#[tokio::test]
async fn an_update_on_a_cluster_installs_and_a_failing_one_goes_back_to_the_previous_objects() {
    use crate::update::rollout::Phase;
    let cluster = Cluster::shared();
    let Console {
        dir,
        store,
        vault,
        deployer,
        config,
        ..
    } = Console::deployed(&cluster).await;
    let stack = config.name.as_str().to_owned();

    // Before a controller admits the Ingress, the probes say so.
    let (_, target) = deployer.running().await.unwrap().unwrap();
    let target = target.unwrap();
    let ca = store.probe_ca_pem(&vault, &config).await;
    let waiting = crate::chat_probe::probe_chat_on(target.as_ref(), &config, ca.as_deref()).await;
    assert!(
        waiting
            .iter()
            .all(|p| !p.ok && p.detail.contains("has no address yet")),
        "{waiting:#?}"
    );
    // Admitted: the probes go to its address and pass (TLS with the
    // Secret the deploy made, checked against Burrow's CA).
    let port = fake::serve_ingress(&cluster, NS, "stoat-tls").await;
    assert_eq!(
        target.ingress_address(&stack).await,
        Some(Ok(("127.0.0.1".to_owned(), port)))
    );
    let answers = crate::chat_probe::probe_chat_on(target.as_ref(), &config, ca.as_deref()).await;
    assert!(answers.iter().all(|p| p.ok), "{answers:#?}");

    let updater = crate::update::updater::Updater::new(
        deployer.clone(),
        crate::backup::Backups::new(dir.path(), 5),
        crate::update::updater::Pacing {
            health_timeout: Some(Duration::from_secs(3)),
            settle: Duration::from_secs(1),
            min_healthy: Duration::from_secs(1),
            ..crate::update::updater::Pacing::default()
        },
    );
    let v2 = kube_release(2, false);
    let done = updater.apply(v2.clone(), "test").await.unwrap();
    assert_eq!(done.phase, Phase::Completed, "{done:#?}");
    let steps: Vec<(&str, bool)> = done
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.error.is_none()))
        .collect();
    assert_eq!(
        steps,
        [
            ("preflight", true),
            ("backup", true),
            ("migrate", true),
            ("begin-rolling", true),
            ("switch", true),
            ("settle", true),
            ("finalize", true)
        ]
    );
    assert_eq!(
        running_image(&cluster, "deployments", "api"),
        v2.images["api"]
    );
    assert_eq!(
        running_image(&cluster, "statefulsets", "database"),
        v2.images["database"]
    );
    assert_eq!(updater.installed().await.unwrap().unwrap().sequence, 2);
    // The Updates page says what happened on a cluster: nothing pulled by
    // Burrow, nothing parked.
    let view = crate::update::watch::RolloutReader::new(done.id)
        .read(&store)
        .await
        .unwrap()
        .unwrap();
    let titles: Vec<&str> = view.steps.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Checked the release (the cluster pulls the images)",
            "Backup",
            "Saved the release as a new revision",
            "Began rolling out",
            "Rolled out the new objects",
            "Watched the whole stack settle",
            "Recorded the release as installed"
        ]
    );

    // v3's web never rolls out: every workload goes back to v2's objects.
    let v3 = kube_release(3, false);
    cluster
        .lock()
        .unwrap()
        .failing_images
        .insert(v3.images["web"].clone());
    let failed = updater.apply(v3, "test").await.unwrap();
    assert!(
        matches!(&failed.phase, Phase::RolledBack { why } if why.contains("web")),
        "{failed:#?}"
    );
    for (plural, name) in [
        ("deployments", "web"),
        ("deployments", "api"),
        ("statefulsets", "database"),
    ] {
        assert_eq!(
            running_image(&cluster, plural, name),
            v2.images[name],
            "{name}"
        );
    }
    assert_eq!(updater.installed().await.unwrap().unwrap().sequence, 2);

    // A release that asks for a backup first: Burrow backs up Docker
    // volumes only, so it is not installed here, and nothing changes.
    let writes = cluster.lock().unwrap().writes().len();
    let refused = updater.apply(kube_release(4, true), "test").await.unwrap();
    assert!(
        matches!(&refused.phase, Phase::Aborted { why } if why.contains("backups of Docker volumes only")),
        "{refused:#?}"
    );
    assert_eq!(cluster.lock().unwrap().writes().len(), writes);
    assert_eq!(
        running_image(&cluster, "deployments", "api"),
        v2.images["api"]
    );
}

/// kube-rs's mock-service pattern (`tower_test::mock::pair` behind
/// `kube::Client::new`): removing a stack asks, kind by kind in deletion
/// order, for what carries its label, and deletes exactly that; claims
/// are not even listed unless asked.
#[tokio::test]
async fn removing_a_stack_makes_exactly_these_requests() {
    use http::{Request, Response};
    use kube::client::Body;
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let t = KubeTarget::new(kube::Client::new(service, NS), NS);
    let list = |kind: &str, names: &[&str]| {
        let items: Vec<serde_json::Value> = names
            .iter()
            .map(|n| json!({"metadata": {"name": n, "namespace": NS}}))
            .collect();
        json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {}, "items": items})
    };
    let expected: Vec<(&str, String, serde_json::Value)> = vec![
        (
            "GET",
            "/apis/networking.k8s.io/v1/namespaces/team-chat/ingresses?&labelSelector=burrow.io%2Fstack%3Dchat".into(),
            list("Ingress", &["stoat"]),
        ),
        (
            "DELETE",
            "/apis/networking.k8s.io/v1/namespaces/team-chat/ingresses/stoat?".into(),
            json!({"metadata": {"name": "stoat"}}),
        ),
        (
            "GET",
            "/apis/batch/v1/namespaces/team-chat/jobs?&labelSelector=burrow.io%2Fstack%3Dchat".into(),
            list("Job", &[]),
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/team-chat/deployments?&labelSelector=burrow.io%2Fstack%3Dchat".into(),
            list("Deployment", &["api"]),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/team-chat/deployments/api?".into(),
            json!({"metadata": {"name": "api"}}),
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/team-chat/statefulsets?&labelSelector=burrow.io%2Fstack%3Dchat".into(),
            list("StatefulSet", &[]),
        ),
        (
            "GET",
            "/api/v1/namespaces/team-chat/services?&labelSelector=burrow.io%2Fstack%3Dchat".into(),
            list("Service", &[]),
        ),
        (
            "GET",
            "/api/v1/namespaces/team-chat/configmaps?&labelSelector=burrow.io%2Fstack%3Dchat".into(),
            list("ConfigMap", &[]),
        ),
        (
            "GET",
            "/api/v1/namespaces/team-chat/secrets?&labelSelector=burrow.io%2Fstack%3Dchat".into(),
            list("Secret", &[]),
        ),
    ];
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for (method, uri, answer) in expected {
            let (request, send) = handle.next_request().await.expect("a request");
            seen.push(format!("{} {}", request.method(), request.uri()));
            assert_eq!(request.method().as_str(), method, "{seen:#?}");
            assert_eq!(request.uri().to_string(), uri, "{seen:#?}");
            if method == "DELETE" {
                let body = request.into_body().collect_bytes().await.unwrap();
                let params: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(params["propagationPolicy"], "Foreground", "{params}");
            }
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            );
        }
    });
    let (tx, _rx) = mpsc::unbounded_channel();
    let removed = t.remove("chat", false, &tx).await.unwrap();
    assert_eq!(removed, ["api"]);
    server.await.unwrap();
}

#[tokio::test]
async fn a_namespace_whose_pod_security_forbids_the_host_network_is_refused_first() {
    let cluster = Cluster::shared();
    cluster.lock().unwrap().objects.insert(
        ("namespaces".into(), String::new(), NS.into()),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS,
            "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}),
    );
    let t = target(&cluster);
    let secrets = stack::Secrets::generate().unwrap();
    let voice = config("");
    assert!(
        voice.runs(stack::model::Service::Livekit),
        "the kit runs LiveKit"
    );
    let (result, _) = apply(&t, &request(&voice, &secrets), &ApplyOptions::default()).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.starts_with("livekit needs the node's network")
            && err.contains("Pod Security level \"baseline\"")
            && err.contains("pod-security.kubernetes.io/enforce=privileged"),
        "{err}"
    );
    assert!(cluster.lock().unwrap().writes().is_empty());
    // Without voice, the same namespace takes the stack.
    let mut quiet = config("");
    quiet.livekit.enabled = false;
    let (result, _) = apply(&t, &request(&quiet, &secrets), &ApplyOptions::default()).await;
    result.unwrap();
}

/// One expected request of a scripted exchange: method, path, whether it
/// is a dry run, and the answer (status, JSON body or text).
struct Expect {
    method: &'static str,
    path: String,
    dry_run: bool,
    status: u16,
    body: String,
}

fn expect(method: &'static str, path: &str, status: u16, body: serde_json::Value) -> Expect {
    Expect {
        method,
        path: path.to_owned(),
        dry_run: false,
        status,
        body: body.to_string(),
    }
}

/// A target whose API server is `script`, answered in order by kube-rs's
/// mock service (`tower_test::mock::pair` behind `kube::Client::new`);
/// any request out of order, or one more, fails the test. The handle ends
/// with the requests seen.
fn scripted(script: Vec<Expect>) -> (KubeTarget, tokio::task::JoinHandle<Vec<String>>) {
    use http::{Request, Response};
    use kube::client::Body;
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let t = KubeTarget::new(kube::Client::new(service, NS), NS).polling(Duration::from_millis(1));
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for e in script {
            let (request, send) = handle.next_request().await.expect("a request");
            let dry = request.uri().query().unwrap_or("").contains("dryRun=All");
            seen.push(format!(
                "{} {}{}",
                request.method(),
                request.uri().path(),
                if dry { " dry-run" } else { "" }
            ));
            assert_eq!(
                (request.method().as_str(), request.uri().path(), dry),
                (e.method, e.path.as_str(), e.dry_run),
                "{seen:#?}"
            );
            send.send_response(
                Response::builder()
                    .status(e.status)
                    .body(Body::from(e.body.into_bytes()))
                    .unwrap(),
            );
        }
        if let Ok(Some((extra, _))) =
            tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await
        {
            panic!(
                "one request too many: {} {} after {seen:#?}",
                extra.method(),
                extra.uri()
            );
        }
        seen
    });
    (t, server)
}

/// A plan of one ConfigMap and one Deployment, `api`.
fn small_request() -> DeployRequest {
    let secrets = stack::Secrets::generate().unwrap();
    let mut req = request(&config(""), &secrets);
    let keep = |kind: &str, name: &str| {
        req.plan
            .kubernetes
            .iter()
            .find(|m| m.kind == kind && m.name == name)
            .cloned()
            .unwrap()
    };
    let files = req
        .plan
        .kubernetes
        .iter()
        .find(|m| m.kind == "ConfigMap")
        .cloned()
        .unwrap();
    req.plan.kubernetes = vec![files, keep("Deployment", "api")];
    req
}

fn failure(code: u16, reason: &str, message: &str) -> serde_json::Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

fn empty_list() -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []})
}

const CORE: &str = "/api/v1/namespaces/team-chat";
const APPS: &str = "/apis/apps/v1/namespaces/team-chat";

#[tokio::test]
async fn a_conflict_found_by_the_dry_run_ends_the_exchange_before_any_write() {
    let req = small_request();
    let map = req.plan.kubernetes[0].name.clone();
    let existing = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS, "generation": 1}});
    let mut dry = expect(
        "PATCH",
        &format!("{APPS}/deployments/api"),
        409,
        failure(409, "Conflict", "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"),
    );
    dry.dry_run = true;
    let (t, server) = scripted(vec![
        expect(
            "GET",
            CORE,
            200,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        ),
        expect(
            "GET",
            &format!("{CORE}/configmaps/{map}"),
            404,
            failure(404, "NotFound", "not found"),
        ),
        expect("GET", &format!("{APPS}/deployments/api"), 200, existing),
        dry,
    ]);
    let (result, events) = apply(&t, &req, &ApplyOptions::default()).await;
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Deployment api: .spec.replicas is managed by \"kubectl-edit\""),
        "{err}"
    );
    assert!(
        matches!(events.last(), Some(ProgressEvent::Failed { .. })),
        "{events:?}"
    );
    assert_eq!(server.await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_forbidden_namespace_read_then_a_rollout_that_never_progresses() {
    let req = small_request();
    let map = req.plan.kubernetes[0].name.clone();
    let labelled =
        |plural: &str, base: &str| expect("GET", &format!("{base}/{plural}"), 200, empty_list());
    let created = |kind: &str, name: &str| json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": NS, "generation": 1}});
    let stuck = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS, "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": 0, "availableReplicas": 0,
            "conditions": [{"type": "Progressing", "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"api-7f\" has timed out progressing."}]}});
    let pod = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
        {"metadata": {"name": "api-7f-x", "namespace": NS, "labels": {"app.kubernetes.io/name": "api"}}}]});
    let events = json!({"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": [
        {"metadata": {"name": "e1", "namespace": NS},
         "involvedObject": {"kind": "Pod", "name": "api-7f-x"},
         "reason": "BackOff", "message": "Back-off restarting failed container"}]});
    let (t, server) = scripted(vec![
        // A Role bound to the namespace may not read Namespace objects.
        expect(
            "GET",
            CORE,
            403,
            failure(403, "Forbidden", "namespaces \"team-chat\" is forbidden"),
        ),
        expect(
            "GET",
            &format!("{CORE}/configmaps/{map}"),
            404,
            failure(404, "NotFound", "not found"),
        ),
        expect(
            "GET",
            &format!("{APPS}/deployments/api"),
            404,
            failure(404, "NotFound", "not found"),
        ),
        // What carries the stack's label, kind by kind, for the prune.
        labelled(
            "ingresses",
            "/apis/networking.k8s.io/v1/namespaces/team-chat",
        ),
        labelled("jobs", "/apis/batch/v1/namespaces/team-chat"),
        labelled("deployments", APPS),
        labelled("statefulsets", APPS),
        labelled("services", CORE),
        labelled("configmaps", CORE),
        labelled("secrets", CORE),
        labelled("persistentvolumeclaims", CORE),
        expect(
            "PATCH",
            &format!("{CORE}/configmaps/{map}"),
            200,
            created("ConfigMap", &map),
        ),
        expect(
            "PATCH",
            &format!("{APPS}/deployments/api"),
            200,
            created("Deployment", "api"),
        ),
        // The wait: past its progress deadline at once; then its pods'
        // events and log lines for the report.
        expect("GET", &format!("{APPS}/deployments/api"), 200, stuck),
        expect("GET", &format!("{CORE}/pods"), 200, pod),
        expect("GET", &format!("{CORE}/events"), 200, events),
        Expect {
            method: "GET",
            path: format!("{CORE}/pods/api-7f-x/log"),
            dry_run: false,
            status: 200,
            body: "panic: cannot reach rabbit\n".into(),
        },
    ]);
    let (result, _) = apply(&t, &req, &ApplyOptions::default()).await;
    let err = result.unwrap_err();
    assert!(err.summary().contains("timed out progressing"), "{err}");
    assert_eq!(
        err.last_logs(),
        [
            "api-7f-x: BackOff Back-off restarting failed container",
            "api-7f-x: panic: cannot reach rabbit"
        ]
    );
    assert_eq!(server.await.unwrap().len(), 17);
}

#[tokio::test]
async fn status_and_logs_read_the_stacks_pods() {
    let pods = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
        {"metadata": {"name": "web-1", "namespace": NS, "creationTimestamp": "2026-12-06T04:00:00Z",
            "labels": {"app.kubernetes.io/name": "web", "burrow.io/stack": "chat"}},
         "spec": {"containers": [{"name": "web", "image": "r.example/web:1",
            "readinessProbe": {"tcpSocket": {"port": 5000}}}]},
         "status": {"conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "web", "image": "r.example/web:1", "imageID": "",
                "ready": true, "restartCount": 2,
                "state": {"running": {"startedAt": "2026-12-06T04:00:00Z"}}}]}}]});
    let (t, server) = scripted(vec![
        expect("GET", &format!("{CORE}/pods"), 200, pods.clone()),
        expect("GET", &format!("{CORE}/pods"), 200, pods),
        Expect {
            method: "GET",
            path: format!("{CORE}/pods/web-1/log"),
            dry_run: false,
            status: 200,
            body: "2026-12-06T04:00:01.5Z serving on :5000\n".into(),
        },
    ]);
    let services = t.status("chat").await.unwrap();
    assert_eq!(services.len(), 1);
    let web = &services[0];
    assert_eq!(
        (
            web.service.as_str(),
            web.state.as_str(),
            web.health,
            web.restart_count
        ),
        ("web", "running", Health::Healthy, 2)
    );
    let lines: Vec<_> = t.logs("chat", Some("web"), 50, false).collect().await;
    let line = lines.into_iter().next().unwrap().unwrap();
    assert_eq!(
        (line.timestamp.as_deref(), line.text.as_str()),
        (Some("2026-12-06T04:00:01.5Z"), "serving on :5000")
    );
    assert_eq!(server.await.unwrap().len(), 3);
}
