//! A stand-in Kubernetes API server on 127.0.0.1 over TLS: the four
//! endpoints the connection test uses, a bearer token it insists on, and
//! per-resource answers to access reviews.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use engine::certs::BurrowCa;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Every access review asked: ("verb resource[/subresource]", namespace).
pub type Reviews = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// What the mock cluster holds and allows.
#[derive(Clone)]
pub struct Cluster {
    pub token: &'static str,
    pub namespaces: Vec<&'static str>,
    /// What is denied: a resource (`secrets`, `namespaces`…: every verb)
    /// or one verb on it (`deployments:delete`, `pods/log:get`).
    pub denied: Vec<&'static str>,
    /// What SelfSubjectReview answers; `None`: 404, as before Kubernetes 1.28.
    pub user: Option<&'static str>,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            token: "mock-token-8d1f0c2e",
            namespaces: vec!["default", "stoat"],
            denied: Vec::new(),
            user: Some("system:serviceaccount:burrow:deployer"),
        }
    }
}

pub struct MockApiServer {
    pub url: String,
    /// The CA that signed the server's certificate.
    pub ca_pem: String,
    pub reviews: Reviews,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    cluster: Cluster,
    reviews: Reviews,
}

pub async fn start(cluster: Cluster) -> MockApiServer {
    let ca = BurrowCa::generate("Mock cluster CA").unwrap();
    let leaf = ca
        .issue_leaf("127.0.0.1", time::Duration::hours(1))
        .unwrap();
    let certs = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(tls));

    let reviews = Arc::new(Mutex::new(Vec::new()));
    let shared = Shared {
        cluster,
        reviews: reviews.clone(),
    };
    let app = Router::new()
        .route("/version", get(version))
        .route("/api/v1/namespaces/{name}", get(namespace))
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            post(access_review),
        )
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            post(self_review),
        )
        .with_state(shared.clone())
        .layer(axum::middleware::from_fn_with_state(shared, authenticate));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that distrusts the certificate hangs up here.
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    MockApiServer {
        url,
        ca_pem: ca.ca_pem().to_string(),
        reviews,
        task,
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

async fn authenticate(
    State(shared): State<Shared>,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let expected = format!("Bearer {}", shared.cluster.token);
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(given) if given == expected => next.run(request).await,
        _ => status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"),
    }
}

async fn version() -> Json<Value> {
    Json(json!({
        "major": "1", "minor": "34", "gitVersion": "v1.34.1",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2025-09-09T00:00:00Z", "goVersion": "go1.24.6",
        "compiler": "gc", "platform": "linux/amd64",
    }))
}

async fn namespace(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    if shared.cluster.namespaces.contains(&name.as_str()) {
        Json(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name}, "status": {"phase": "Active"},
        }))
        .into_response()
    } else {
        status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("namespaces \"{name}\" not found"),
        )
    }
}

async fn access_review(State(shared): State<Shared>, Json(mut review): Json<Value>) -> Json<Value> {
    let attrs = &review["spec"]["resourceAttributes"];
    let mut resource = attrs["resource"].as_str().unwrap_or_default().to_string();
    if let Some(sub) = attrs["subresource"].as_str() {
        resource = format!("{resource}/{sub}");
    }
    let verb = attrs["verb"].as_str().unwrap_or_default();
    let namespace = attrs["namespace"].as_str().map(str::to_string);
    let allowed = !shared
        .cluster
        .denied
        .iter()
        .any(|d| *d == resource || *d == format!("{resource}:{verb}"));
    shared
        .reviews
        .lock()
        .unwrap()
        .push((format!("{verb} {resource}"), namespace));
    review["status"] = json!({ "allowed": allowed });
    Json(review)
}

async fn self_review(State(shared): State<Shared>) -> Response {
    match shared.cluster.user {
        Some(user) => Json(json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
            "metadata": {}, "status": {"userInfo": {"username": user}},
        }))
        .into_response(),
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}

/// A kubeconfig with one context, `mock`, trusting `ca_pem` and signing in
/// with `token`.
pub fn kubeconfig(server: &str, ca_pem: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: mock
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: deployer
  user:
    token: {token}
contexts:
- name: mock
  context:
    cluster: mock
    user: deployer
    namespace: default
current-context: mock
"
    )
}
