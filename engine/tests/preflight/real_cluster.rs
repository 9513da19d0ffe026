//! Against a real cluster, when `KUBECONFIG` names one (optionally
//! `BURROW_TEST_KUBE_CONTEXT`): "Test connection" reaches it, and every
//! object of the test kit's stack passes the API server's own validation
//! (server-side apply, dry run, strict fields) in a fresh namespace, which
//! is deleted again; then the kit deployed there and run. Without
//! `KUBECONFIG` they say so and do nothing (scripts/test.sh prints the
//! same).

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};

/// The cluster's namespaces, with the kubeconfig at `path` (the test's own
/// client, beside the one under test).
async fn namespaces(path: &std::ffi::OsStr) -> Api<Namespace> {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(path).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Api::all(kube::Client::try_from(config).unwrap())
}

#[tokio::test]
async fn the_kit_passes_a_real_api_servers_validation() {
    let Some(path) = std::env::var_os("KUBECONFIG") else {
        eprintln!("real-cluster test not run: KUBECONFIG is not set");
        return;
    };
    let yaml = std::fs::read_to_string(&path).expect("KUBECONFIG names a readable file");
    let context = std::env::var("BURROW_TEST_KUBE_CONTEXT").ok();
    let namespace = format!("burrow-test-{}", std::process::id());
    let report = engine::preflight::test_kubernetes(
        engine::preflight::KubeSource::Kubeconfig {
            yaml: yaml.clone(),
            context: context.clone(),
        },
        &namespace,
    )
    .await;
    assert_eq!(report.failure, None, "{report:#?}");

    let settings = engine::targets::TargetSettings::Kubernetes {
        in_cluster: false,
        context,
        namespace: namespace.clone(),
        ingress_class: None,
        issuer: None,
    };
    let target = engine::targets::Targets::new(None)
        .kube(&settings, Some(yaml))
        .await
        .unwrap();
    let namespaces = namespaces(&path).await;
    let mut ns = Namespace::default();
    ns.metadata.name = Some(namespace.clone());
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let config = stack::model::parse_stack_toml(include_str!("../../../testkit/stack.toml"))
        .unwrap()
        .config;
    let request = engine::deploy::DeployRequest {
        stack: config.name.clone(),
        revision: 1,
        plan: stack::render(&config, &stack::Secrets::generate().unwrap()),
        host_files: Default::default(),
    };
    let checked = target.validate(&request).await;
    let _ = namespaces
        .delete(&namespace, &DeleteParams::default())
        .await;
    assert_eq!(checked.unwrap(), request.plan.kubernetes.len() - 1);
}

/// Against a real cluster, when `KUBECONFIG` names one: the test kit's
/// stack deployed into a fresh namespace, every workload rolled out, every
/// pod a running row on the dashboard with its node, the logs read, and
/// the stack removed with its claims. The kit's images must be where the
/// cluster's nodes find them: loaded into the nodes (`kind load
/// docker-image burrow-testkit/api:dev …`, k3s `ctr images import`), or
/// pushed under `BURROW_TEST_KUBE_REGISTRY` (`<registry>/burrow-testkit/<service>:dev`).
/// Without `KUBECONFIG` it says so and does nothing.
#[tokio::test]
async fn the_kit_deploys_and_runs_on_a_real_cluster() {
    use engine::deploy::Target;
    use futures_util::StreamExt;
    let Some(path) = std::env::var_os("KUBECONFIG") else {
        eprintln!("real-cluster deploy test not run: KUBECONFIG is not set");
        return;
    };
    let yaml = std::fs::read_to_string(&path).expect("KUBECONFIG names a readable file");
    let namespace = format!("burrow-kit-{}", std::process::id());
    let settings = engine::targets::TargetSettings::Kubernetes {
        in_cluster: false,
        context: std::env::var("BURROW_TEST_KUBE_CONTEXT").ok(),
        namespace: namespace.clone(),
        ingress_class: None,
        issuer: None,
    };
    let target = engine::targets::Targets::new(None)
        .kube(&settings, Some(yaml))
        .await
        .unwrap();
    let mut config = stack::model::parse_stack_toml(include_str!("../../../testkit/stack.toml"))
        .unwrap()
        .config;
    if let Ok(registry) = std::env::var("BURROW_TEST_KUBE_REGISTRY") {
        for service in stack::model::Service::ALL {
            let image = format!("{registry}/burrow-testkit/{}:dev", service.name());
            config
                .images
                .set(service, stack::model::ImageRef::parse(&image).unwrap());
        }
    }
    let request = engine::deploy::DeployRequest {
        stack: config.name.clone(),
        revision: 1,
        plan: stack::render(&config, &stack::Secrets::generate().unwrap()),
        host_files: Default::default(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let progress = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            eprintln!("{event:?}");
        }
    });
    let opts = engine::deploy::ApplyOptions {
        health_timeout: Some(std::time::Duration::from_secs(300)),
        ..Default::default()
    };
    let applied = target.apply(&request, &opts, &tx).await;
    let stack = config.name.as_str();
    let rows = target.status(stack).await;
    let mut logs = Vec::new();
    let mut lines = target.logs(stack, Some("api"), 20, false);
    while let Some(line) = lines.next().await {
        logs.push(line);
    }
    // Removed whatever happened, claims and the namespace too.
    let removed = target.remove(stack, true, &tx).await;
    drop(tx);
    let _ = progress.await;
    let _ = namespaces(&path)
        .await
        .delete(&namespace, &DeleteParams::default())
        .await;
    applied.unwrap();
    let rows = rows.unwrap();
    for service in config.services() {
        assert!(
            rows.iter().any(|r| r.service == service.name()),
            "{} has no pod: {rows:#?}",
            service.name()
        );
    }
    for row in &rows {
        assert!(!row.is_trouble(), "{row:#?}");
        assert!(row.node.is_some(), "{row:#?}");
    }
    assert!(logs.iter().any(|l| l.is_ok()), "{logs:?}");
    assert!(!removed.unwrap().is_empty());
}
