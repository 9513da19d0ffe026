//! "Test connection" for a Kubernetes target: reads the kubeconfig (or the
//! pod's service account), asks the API server for its version, whether the
//! namespace exists, and, through SelfSubjectAccessReviews, whether Burrow
//! may do every verb it uses on every kind of object it touches there
//! (`PERMISSIONS`: what Burrow's own Role grants).
//!
//! Nothing is created: access reviews only ask. The kubeconfig's tokens and
//! keys stay inside the client; the report names the server, the context and
//! the account, never a credential.

use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::Client;
use serde::{Deserialize, Serialize};

use super::kube_failure::from_client_error;
pub use super::kube_failure::KubeFailure;
pub use super::kube_source::KubeSource;
use super::kube_source::{self, Loaded};

/// How long connecting, and then each answer, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(10);

// What a deploy does in the namespace: (API group, resource, verbs).
use crate::deploy::cluster::objects::PERMISSIONS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceState {
    Exists,
    Missing,
    /// Burrow may not read it, so cannot tell.
    Unknown,
}

/// Whether Burrow may do all it does with one kind of object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Permission {
    /// `deployments`, `namespaces`, `pods/log`, …
    pub resource: String,
    /// `apps`, `batch`, or empty for the core group.
    pub group: String,
    /// Every verb it needs is allowed.
    pub allowed: bool,
    /// The verbs it needs that the cluster denies.
    #[serde(default)]
    pub denied: Vec<String>,
    /// One sentence; for a denied one, with the fix.
    pub sentence: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KubeReport {
    /// The API server's address, once the configuration was read.
    pub server: Option<String>,
    /// The kubeconfig context used.
    pub context: Option<String>,
    pub namespace: String,
    /// e.g. `v1.34.1`, once the server answered.
    pub server_version: Option<String>,
    /// The account the cluster sees, when it says (Kubernetes 1.28+).
    pub user: Option<String>,
    pub namespace_state: Option<NamespaceState>,
    pub permissions: Vec<Permission>,
    /// Why the test stopped early, if it did.
    pub failure: Option<KubeFailure>,
    /// One sentence: connected (and what may be created), or what failed.
    pub summary: String,
    /// One sentence per problem, each with its fix.
    pub fixes: Vec<String>,
}

impl KubeReport {
    /// Connected, and every needed object may be created.
    pub fn ok(&self) -> bool {
        self.failure.is_none() && self.permissions.iter().all(|p| p.allowed)
    }
}

/// Connects with `source` and checks what Burrow may do in `namespace`.
#[tracing::instrument(skip_all, fields(source = ?source, namespace))]
pub async fn test_kubernetes(source: KubeSource, namespace: &str) -> KubeReport {
    let namespace = namespace.trim();
    let mut report = KubeReport {
        server: None,
        context: None,
        namespace: namespace.to_string(),
        server_version: None,
        user: None,
        namespace_state: None,
        permissions: Vec::new(),
        failure: None,
        summary: String::new(),
        fixes: Vec::new(),
    };
    if let Err(failure) = run(source, namespace, &mut report).await {
        report.summary = failure.summary();
        report.fixes = vec![failure.fix()];
        report.failure = Some(failure);
    }
    tracing::info!(ok = report.ok(), summary = %report.summary, "kubernetes test connection");
    report
}

async fn run(
    source: KubeSource,
    namespace: &str,
    report: &mut KubeReport,
) -> Result<(), KubeFailure> {
    if !valid_namespace(namespace) {
        return Err(KubeFailure::InvalidNamespace {
            namespace: namespace.to_string(),
        });
    }
    let Loaded {
        mut config,
        context,
        server,
    } = kube_source::load(source).await?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    report.server = Some(server.clone());
    report.context = context;

    // kube builds its TLS client from the process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_from(config).map_err(|e| from_client_error(&e, &server))?;
    let version = client
        .apiserver_version()
        .await
        .map_err(|e| from_client_error(&e, &server))?;
    report.server_version = Some(if version.git_version.is_empty() {
        format!("v{}.{}", version.major, version.minor)
    } else {
        version.git_version
    });

    report.user = who_am_i(&client).await;
    let state = match Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await
    {
        Ok(Some(_)) => NamespaceState::Exists,
        Ok(None) => NamespaceState::Missing,
        Err(kube::Error::Api(resp)) if resp.code == 403 => NamespaceState::Unknown,
        Err(e) => return Err(from_client_error(&e, &server)),
    };
    report.namespace_state = Some(state);

    let mut asks: Vec<(&str, &str, &str, Option<&str>)> = Vec::new();
    if state == NamespaceState::Missing {
        asks.push(("", "namespaces", "create", None));
    }
    for (group, resource, verbs) in PERMISSIONS {
        asks.extend(verbs.iter().map(|v| (group, resource, *v, Some(namespace))));
    }
    let answers = join_all(
        asks.iter()
            .map(|&(group, resource, verb, ns)| may(&client, verb, group, resource, ns)),
    )
    .await;
    for (&(group, resource, verb, _), answer) in asks.iter().zip(answers) {
        let allowed = answer.map_err(|e| from_client_error(&e, &server))?;
        let at = match report
            .permissions
            .iter()
            .position(|p| p.group == group && p.resource == resource)
        {
            Some(at) => at,
            None => {
                report.permissions.push(Permission {
                    resource: resource.to_string(),
                    group: group.to_string(),
                    allowed: true,
                    denied: Vec::new(),
                    sentence: String::new(),
                });
                report.permissions.len() - 1
            }
        };
        if !allowed {
            report.permissions[at].allowed = false;
            report.permissions[at].denied.push(verb.to_string());
        }
    }
    for p in &mut report.permissions {
        let verbs: &[&str] = PERMISSIONS
            .iter()
            .find(|(g, r, _)| *g == p.group && *r == p.resource)
            .map_or(&["create"], |(_, _, v)| v);
        p.sentence = permission_sentence(
            &p.group,
            &p.resource,
            namespace,
            verbs,
            &p.denied,
            report.user.as_deref(),
        );
    }
    report.fixes = report
        .permissions
        .iter()
        .filter(|p| !p.allowed)
        .map(|p| p.sentence.clone())
        .collect();
    report.summary = summary(report, state);
    Ok(())
}

/// The account name the cluster sees (SelfSubjectReview, Kubernetes 1.28+).
async fn who_am_i(client: &Client) -> Option<String> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .ok()?;
    review.status?.user_info?.username
}

async fn may(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<bool, kube::Error> {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, sub)) => (r, Some(sub.to_owned())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                namespace: namespace.map(Into::into),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

fn permission_sentence(
    group: &str,
    resource: &str,
    namespace: &str,
    verbs: &[&str],
    denied: &[String],
    user: Option<&str>,
) -> String {
    let allowed = denied.is_empty();
    if resource == "namespaces" {
        return if allowed {
            format!("Namespace {namespace} does not exist yet; Burrow may create it.")
        } else {
            format!(
                "Namespace {namespace} does not exist and Burrow may not create it: create it \
                 (`kubectl create namespace {namespace}`) or choose an existing namespace."
            )
        };
    }
    let kind = match resource.split_once('/') {
        Some((r, sub)) => format!("the {sub} of {r}"),
        None if group.is_empty() => resource.to_string(),
        None => format!("{resource}.{group}"),
    };
    if allowed {
        return format!(
            "Burrow may {} {kind} in namespace {namespace}.",
            super::join_with(verbs, "and")
        );
    }
    let denied: Vec<&str> = denied.iter().map(String::as_str).collect();
    let subject = match user {
        Some(u) => match u.strip_prefix("system:serviceaccount:") {
            Some(sa) => format!("--serviceaccount={sa}"),
            None => format!("--user={u}"),
        },
        None => "--user=<the kubeconfig's user>".to_string(),
    };
    format!(
        "Burrow may not {} {kind} in namespace {namespace}: grant it, e.g. `kubectl create \
         rolebinding burrow-edit --clusterrole=edit {subject} --namespace={namespace}`.",
        super::join_with(&denied, "or")
    )
}

fn summary(report: &KubeReport, state: NamespaceState) -> String {
    let version = report.server_version.as_deref().unwrap_or("?");
    let server = report.server.as_deref().unwrap_or("?");
    let namespace = &report.namespace;
    let ns = match state {
        NamespaceState::Exists => format!("namespace {namespace} exists"),
        NamespaceState::Missing => format!("namespace {namespace} does not exist yet"),
        NamespaceState::Unknown => format!("whether namespace {namespace} exists is not visible"),
    };
    let denied: Vec<String> = report
        .permissions
        .iter()
        .filter(|p| !p.allowed)
        .map(|p| p.resource.clone())
        .collect();
    let may = if denied.is_empty() {
        "Burrow may do everything it needs".to_string()
    } else {
        format!("Burrow lacks permissions on {}", super::join_and(&denied))
    };
    format!("Connected to Kubernetes {version} at {server}; {ns}, and {may}.")
}

use stack::render::valid_namespace;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_follow_dns_labels() {
        assert!(valid_namespace("stoat"));
        assert!(valid_namespace("stoat-1"));
        assert!(!valid_namespace(""));
        assert!(!valid_namespace("Stoat"));
        assert!(!valid_namespace("-stoat"));
        assert!(!valid_namespace(&"a".repeat(64)));
    }

    #[test]
    fn denied_permissions_name_the_verbs_and_the_account_in_the_fix() {
        let s = permission_sentence(
            "apps",
            "deployments",
            "stoat",
            &["get", "list", "create", "patch", "delete"],
            &["patch".to_owned(), "delete".to_owned()],
            Some("system:serviceaccount:burrow:deployer"),
        );
        assert_eq!(
            s,
            "Burrow may not patch or delete deployments.apps in namespace stoat: grant it, e.g. \
             `kubectl create rolebinding burrow-edit --clusterrole=edit \
             --serviceaccount=burrow:deployer --namespace=stoat`."
        );
        let logs = permission_sentence("", "pods/log", "stoat", &["get"], &[], None);
        assert_eq!(logs, "Burrow may get the log of pods in namespace stoat.");
    }
}
