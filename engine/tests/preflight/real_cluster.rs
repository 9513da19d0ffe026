//! Against a real cluster, when `KUBECONFIG` names one (optionally
//! `BURROW_TEST_KUBE_CONTEXT`): "Test connection" reaches it, and every
//! object of the test kit's stack passes the API server's own validation
//! (server-side apply, dry run, strict fields) in a fresh namespace, which
//! is deleted again. Without `KUBECONFIG` it says so and does nothing
//! (scripts/test.sh prints the same).

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};

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
    let client: kube::Client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&path).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
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
