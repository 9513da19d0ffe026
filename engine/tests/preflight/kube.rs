use engine::preflight::kube::{NamespaceState, Permission};
use engine::preflight::{test_kubernetes, KubeFailure, KubeReport, KubeSource};

use crate::mock_apiserver::{self, kubeconfig, Cluster};

fn source(yaml: String) -> KubeSource {
    KubeSource::Kubeconfig {
        yaml,
        context: None,
    }
}

/// The report as the browser would receive it must not carry the token.
fn assert_no_secret(report: &KubeReport, token: &str) {
    let json = serde_json::to_string(report).unwrap();
    assert!(!json.contains(token), "the token leaked: {json}");
    let back: KubeReport = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, report);
}

fn allowed(report: &KubeReport) -> Vec<&str> {
    let pick = |p: &&Permission| p.allowed;
    report
        .permissions
        .iter()
        .filter(pick)
        .map(|p| p.resource.as_str())
        .collect()
}

#[tokio::test]
async fn everything_allowed() {
    let cluster = Cluster::default();
    let token = cluster.token;
    let server = mock_apiserver::start(cluster).await;
    let report = test_kubernetes(
        source(kubeconfig(&server.url, &server.ca_pem, token)),
        "stoat",
    )
    .await;
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.failure, None);
    assert_eq!(report.server.as_deref(), Some(server.url.as_str()));
    assert_eq!(report.context.as_deref(), Some("mock"));
    assert_eq!(report.server_version.as_deref(), Some("v1.34.1"));
    assert_eq!(
        report.user.as_deref(),
        Some("system:serviceaccount:burrow:deployer")
    );
    assert_eq!(report.namespace_state, Some(NamespaceState::Exists));
    assert_eq!(
        allowed(&report),
        vec![
            "deployments",
            "statefulsets",
            "services",
            "configmaps",
            "secrets",
            "jobs",
            "ingresses",
            "persistentvolumeclaims",
            "pods",
            "pods/log",
            "events"
        ]
    );
    assert_eq!(
        report.permissions[0].sentence,
        "Burrow may get, list, create, patch and delete deployments.apps in namespace stoat."
    );
    assert_eq!(
        report.summary,
        format!(
            "Connected to Kubernetes v1.34.1 at {}; namespace stoat exists, and Burrow may \
             do everything it needs.",
            server.url
        )
    );
    assert!(report.fixes.is_empty());
    // Every verb Burrow uses on every kind, asked about the namespace,
    // nothing about creating it.
    let reviews = server.reviews.lock().unwrap().clone();
    // Seven managed kinds, claims (get, list, delete), pods (get, list,
    // watch), pods/log (get), events (list, watch).
    assert_eq!(reviews.len(), 7 * 5 + 3 + 3 + 1 + 2, "{reviews:?}");
    for asked in [
        "patch deployments",
        "delete statefulsets",
        "create ingresses",
        "delete persistentvolumeclaims",
        "get pods/log",
        "list events",
        "watch pods",
        "watch events",
    ] {
        assert!(
            reviews.iter().any(|(r, _)| r == asked),
            "{asked} not asked: {reviews:?}"
        );
    }
    assert!(
        reviews.iter().all(|(_, ns)| ns.as_deref() == Some("stoat")),
        "{reviews:?}"
    );
    assert_no_secret(&report, token);
}

#[tokio::test]
async fn denied_kinds_are_named_with_the_grant_that_fixes_them() {
    let cluster = Cluster {
        denied: vec!["secrets", "jobs:delete", "pods/log:get"],
        ..Cluster::default()
    };
    let token = cluster.token;
    let server = mock_apiserver::start(cluster).await;
    let report = test_kubernetes(
        source(kubeconfig(&server.url, &server.ca_pem, token)),
        "stoat",
    )
    .await;
    assert!(!report.ok());
    assert_eq!(report.failure, None);
    assert_eq!(allowed(&report).len(), 8);
    assert!(
        report
            .summary
            .ends_with("Burrow lacks permissions on secrets, jobs and pods/log."),
        "{}",
        report.summary
    );
    let grant = "grant it, e.g. `kubectl create rolebinding burrow-edit --clusterrole=edit \
                 --serviceaccount=burrow:deployer --namespace=stoat`.";
    assert_eq!(
        report.fixes,
        vec![
            format!(
                "Burrow may not get, list, create, patch or delete secrets in namespace stoat: \
                 {grant}"
            ),
            format!("Burrow may not delete jobs.batch in namespace stoat: {grant}"),
            format!("Burrow may not get the log of pods in namespace stoat: {grant}"),
        ]
    );
    assert_no_secret(&report, token);
}

#[tokio::test]
async fn a_missing_namespace_needs_the_right_to_create_it() {
    let cluster = Cluster {
        namespaces: vec!["default"],
        denied: vec!["namespaces"],
        user: None,
        ..Cluster::default()
    };
    let token = cluster.token;
    let server = mock_apiserver::start(cluster).await;
    let report = test_kubernetes(
        source(kubeconfig(&server.url, &server.ca_pem, token)),
        "stoat",
    )
    .await;
    assert_eq!(report.namespace_state, Some(NamespaceState::Missing));
    assert_eq!(report.user, None);
    assert_eq!(report.permissions[0].resource, "namespaces");
    assert!(!report.permissions[0].allowed);
    assert_eq!(
        report.fixes,
        vec![
            "Namespace stoat does not exist and Burrow may not create it: create it (`kubectl \
             create namespace stoat`) or choose an existing namespace."
        ]
    );
    let reviews = server.reviews.lock().unwrap().clone();
    assert!(
        reviews.contains(&("create namespaces".to_string(), None)),
        "{reviews:?}"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_credentials() {
    let server = mock_apiserver::start(Cluster::default()).await;
    let wrong = "not-the-token-5e7a";
    let report = test_kubernetes(
        source(kubeconfig(&server.url, &server.ca_pem, wrong)),
        "stoat",
    )
    .await;
    assert_eq!(
        report.failure,
        Some(KubeFailure::BadCredentials {
            server: server.url.clone()
        })
    );
    assert_eq!(
        report.summary,
        format!(
            "The API server at {} refused the credentials (401 Unauthorized).",
            server.url
        )
    );
    assert!(
        report.fixes[0].contains("export a fresh kubeconfig"),
        "{:?}",
        report.fixes
    );
    assert_eq!(report.server_version, None);
    assert_no_secret(&report, wrong);
}

#[tokio::test]
async fn an_unreachable_server_says_so() {
    let ca = engine::certs::BurrowCa::generate("Unused CA").unwrap();
    let report = test_kubernetes(
        source(kubeconfig(
            "https://127.0.0.1:1",
            ca.ca_pem(),
            "t0ken-123456",
        )),
        "stoat",
    )
    .await;
    assert_eq!(
        report.failure,
        Some(KubeFailure::Unreachable {
            server: "https://127.0.0.1:1".into(),
            detail: "connection refused".into()
        }),
        "{report:#?}"
    );
    assert_eq!(
        report.summary,
        "Cannot reach the API server at https://127.0.0.1:1 (connection refused)."
    );
    assert!(report.fixes[0].contains("firewall"), "{:?}", report.fixes);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_not_trusted() {
    let cluster = Cluster::default();
    let token = cluster.token;
    let server = mock_apiserver::start(cluster).await;
    let other = engine::certs::BurrowCa::generate("Some other CA").unwrap();
    let report = test_kubernetes(
        source(kubeconfig(&server.url, other.ca_pem(), token)),
        "stoat",
    )
    .await;
    assert!(
        matches!(
            report.failure,
            Some(KubeFailure::CertificateUntrusted { .. })
        ),
        "{report:#?}"
    );
    assert!(
        report.summary.contains("certificate Burrow does not trust"),
        "{}",
        report.summary
    );
    assert!(
        report.fixes[0].contains("certificate-authority-data"),
        "{:?}",
        report.fixes
    );
    assert!(server.reviews.lock().unwrap().is_empty());
}

#[tokio::test]
async fn text_that_is_not_yaml_says_where() {
    let report = test_kubernetes(
        source("clusters: [\n  - name: x\n token: s3cr3t-v4lue".into()),
        "stoat",
    )
    .await;
    assert!(
        matches!(report.failure, Some(KubeFailure::NotYaml { line: Some(_) })),
        "{report:#?}"
    );
    assert!(
        report
            .summary
            .starts_with("The kubeconfig is not valid YAML (the error is on line "),
        "{}",
        report.summary
    );
    assert!(report.fixes[0].contains("kubectl config view --raw --minify --flatten"));
    assert_no_secret(&report, "s3cr3t-v4lue");
}

#[tokio::test]
async fn yaml_that_is_not_a_kubeconfig_is_named() {
    let report = test_kubernetes(source("- s3cr3t-v4lue\n- two\n".into()), "stoat").await;
    assert_eq!(
        report.failure,
        Some(KubeFailure::NotKubeconfig),
        "{report:#?}"
    );
    assert_no_secret(&report, "s3cr3t-v4lue");
}

#[tokio::test]
async fn an_unknown_context_lists_the_known_ones() {
    let ca = engine::certs::BurrowCa::generate("Unused CA").unwrap();
    let report = test_kubernetes(
        KubeSource::Kubeconfig {
            yaml: kubeconfig("https://127.0.0.1:1", ca.ca_pem(), "t0ken-123456"),
            context: Some("production".into()),
        },
        "stoat",
    )
    .await;
    assert_eq!(
        report.failure,
        Some(KubeFailure::ContextNotFound {
            context: "production".into(),
            available: vec!["mock".into()]
        })
    );
    assert_eq!(
        report.summary,
        "The kubeconfig has no context named production."
    );
    assert_eq!(report.fixes, vec!["Choose one of its contexts: \"mock\"."]);
}

#[tokio::test]
async fn a_sign_in_program_is_not_run() {
    let yaml = "apiVersion: v1
kind: Config
clusters:
- name: eks
  cluster: {server: 'https://127.0.0.1:1'}
users:
- name: aws
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}
contexts:
- name: eks
  context: {cluster: eks, user: aws}
current-context: eks
";
    let report = test_kubernetes(source(yaml.into()), "stoat").await;
    assert_eq!(
        report.failure,
        Some(KubeFailure::ExternalSignIn {
            command: "`aws`".into()
        })
    );
    assert!(
        report.fixes[0].contains("kubectl create token burrow"),
        "{:?}",
        report.fixes
    );
}

#[tokio::test]
async fn a_namespace_name_kubernetes_would_refuse_is_caught_first() {
    let report = test_kubernetes(source(String::new()), "Stoat_1").await;
    assert_eq!(
        report.failure,
        Some(KubeFailure::InvalidNamespace {
            namespace: "Stoat_1".into()
        })
    );
}

#[tokio::test]
async fn in_cluster_credentials_outside_a_pod_say_so() {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        // Inside a pod this would test the pod's own cluster.
        return;
    }
    let report = test_kubernetes(KubeSource::InCluster, "stoat").await;
    assert!(
        matches!(report.failure, Some(KubeFailure::NotInCluster { .. })),
        "{report:#?}"
    );
    assert!(
        report.fixes[0].contains("Upload a kubeconfig"),
        "{:?}",
        report.fixes
    );
}

#[tokio::test]
async fn files_named_in_an_uploaded_kubeconfig_are_not_read() {
    let cluster = Cluster::default();
    let server = mock_apiserver::start(cluster).await;
    let yaml = kubeconfig(&server.url, &server.ca_pem, "unused")
        .replace("    token: unused", "    tokenFile: /etc/shadow");
    let report = test_kubernetes(source(yaml), "stoat").await;
    assert_eq!(
        report.failure,
        Some(KubeFailure::FileReference {
            field: "tokenFile".into(),
            path: "/etc/shadow".into()
        })
    );
    assert_eq!(
        report.summary,
        "The kubeconfig's tokenFile is the file /etc/shadow, and Burrow reads no files named in \
         an uploaded kubeconfig."
    );
    assert!(report.fixes[0].contains("--flatten"), "{:?}", report.fixes);
    assert!(server.reviews.lock().unwrap().is_empty());
}
