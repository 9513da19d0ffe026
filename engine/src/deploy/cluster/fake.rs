//! An in-memory Kubernetes API server behind `kube::Client::new`, for the
//! target's scenarios: objects kept per resource, namespace and name;
//! server-side apply with generations, dry runs, field conflicts and the
//! API server's refusals (a Job's template and a StatefulSet's claim
//! templates cannot change); label-selected lists; deletions; and a
//! controller that rolls workloads out (pods made on a node, status and
//! events written) unless told a workload fails; resource versions and
//! watches (every change as ADDED/MODIFIED/DELETED from the version asked
//! for, streamed as it happens). Every request is logged as one line, so a
//! test can assert the exact sequence.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

/// What the fake cluster holds and how it behaves.
#[derive(Default)]
pub struct Cluster {
    /// (resource plural, namespace or "", name) -> object.
    pub objects: BTreeMap<(String, String, String), Value>,
    /// "PATCH deployments/api dry-run", "GET pods?labelSelector=…", …
    pub requests: Vec<String>,
    /// Workloads whose rollout never completes (a Deployment reports
    /// ProgressDeadlineExceeded, a Job fails).
    pub failing: BTreeSet<String>,
    /// Images whose workloads never roll out (a release's broken image).
    pub failing_images: BTreeSet<String>,
    /// (plural, name) -> (field manager, field) owning a field Burrow sets.
    pub foreign: BTreeMap<(String, String), (String, String)>,
    /// Namespace objects cannot be read (an account bound by a Role).
    pub forbid_namespaces: bool,
    next_uid: u64,
    /// The objects as the last recorded change left them.
    seen: BTreeMap<(String, String, String), Value>,
    /// Every change: (resource version, key, ADDED/MODIFIED/DELETED, object).
    history: Vec<(u64, Key, &'static str, Value)>,
    /// The current resource version, told to every open watch.
    version: tokio::sync::watch::Sender<u64>,
    next_event: u64,
    /// The address an Ingress controller serves the stack's Ingresses at
    /// (written into their status once set).
    ingress_at: Option<(String, u16)>,
}

pub type Shared = Arc<Mutex<Cluster>>;

/// (resource plural, namespace or "", name).
type Key = (String, String, String);

fn status(code: u16, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// The parts of a request path: (plural, namespace, name, subresource).
fn route(path: &str) -> Option<(String, String, Option<String>, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match parts.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        ["namespaces"] => Some(("namespaces".into(), String::new(), None, None)),
        ["namespaces", name] => Some((
            "namespaces".into(),
            String::new(),
            Some((*name).into()),
            None,
        )),
        ["namespaces", ns, plural] => Some(((*plural).into(), (*ns).into(), None, None)),
        ["namespaces", ns, plural, name] => {
            Some(((*plural).into(), (*ns).into(), Some((*name).into()), None))
        }
        ["namespaces", ns, plural, name, sub] => Some((
            (*plural).into(),
            (*ns).into(),
            Some((*name).into()),
            Some((*sub).into()),
        )),
        _ => None,
    }
}

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                url::form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn matches(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        object["metadata"]["labels"][k] == v
    })
}

impl Cluster {
    pub fn shared() -> Shared {
        Arc::new(Mutex::new(Cluster::default()))
    }

    /// The object `plural`/`name` in namespace `ns`.
    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(plural.to_owned(), ns.to_owned(), name.to_owned()))
    }

    /// The names of `plural`'s objects in `ns`.
    pub fn names(&self, plural: &str, ns: &str) -> Vec<String> {
        self.objects
            .keys()
            .filter(|(p, n, _)| p == plural && n == ns)
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    /// Records what changed since the last time (a request's doing, or a
    /// test's edit of `objects`): each changed object gets the next
    /// resource version, and every open watch hears of it.
    pub fn record(&mut self) {
        let mut version = *self.version.borrow();
        let mut changed = Vec::new();
        for (key, object) in &self.objects {
            match self.seen.get(key) {
                None => changed.push((key.clone(), "ADDED")),
                Some(old) if old != object => changed.push((key.clone(), "MODIFIED")),
                Some(_) => {}
            }
        }
        for (key, object) in &mut self.objects {
            if changed.iter().any(|(k, _)| k == key) {
                version += 1;
                object["metadata"]["resourceVersion"] = json!(version.to_string());
                let kind = changed
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or("MODIFIED", |c| c.1);
                self.history
                    .push((version, key.clone(), kind, object.clone()));
            }
        }
        let gone: Vec<_> = self
            .seen
            .iter()
            .filter(|(k, _)| !self.objects.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, mut object) in gone {
            version += 1;
            object["metadata"]["resourceVersion"] = json!(version.to_string());
            self.history.push((version, key, "DELETED", object));
        }
        self.seen = self.objects.clone();
        self.version.send_replace(version);
    }

    /// Watch lines after resource version `from` for `plural` in `ns`
    /// matching `selector`, and the version they reach.
    fn changes_since(&self, from: u64, plural: &str, ns: &str, selector: &str) -> (String, u64) {
        let mut lines = String::new();
        let mut reached = from;
        for (version, (p, n, _), kind, object) in &self.history {
            if *version <= from {
                continue;
            }
            reached = *version;
            if p == plural && n == ns && matches(object, selector) {
                lines.push_str(&json!({"type": kind, "object": object}).to_string());
                lines.push('\n');
            }
        }
        (lines, reached)
    }

    /// An event about `kind`/`name` recorded by the controller.
    pub fn event(
        &mut self,
        ns: &str,
        kind: &str,
        name: &str,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        self.next_event += 1;
        let id = format!("{name}.{:04}", self.next_event);
        let at = format!(
            "2026-12-06T04:{:02}:{:02}Z",
            self.next_event / 60 % 60,
            self.next_event % 60
        );
        self.objects.insert(
            ("events".into(), ns.to_owned(), id.clone()),
            json!({"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": id, "namespace": ns, "creationTimestamp": at},
                "involvedObject": {"kind": kind, "name": name, "namespace": ns},
                "type": if warning { "Warning" } else { "Normal" },
                "reason": reason, "message": message, "count": 1,
                "firstTimestamp": at, "lastTimestamp": at}),
        );
    }

    /// Every Ingress (now and later) admitted at `host`:`port`, as an
    /// Ingress controller writes its load balancer's address.
    pub fn admit_ingresses(&mut self, host: &str, port: u16) {
        self.ingress_at = Some((host.to_owned(), port));
        let keys: Vec<Key> = self
            .objects
            .keys()
            .filter(|(p, _, _)| p == "ingresses")
            .cloned()
            .collect();
        for key in keys {
            if let Some(o) = self.objects.get_mut(&key) {
                o["status"] = Self::admitted(host, port);
            }
        }
        self.record();
    }

    fn admitted(host: &str, port: u16) -> Value {
        json!({"loadBalancer": {"ingress": [{"ip": host,
            "ports": [{"port": port, "protocol": "TCP"}]}]}})
    }

    /// The requests that changed something (not GETs, not dry runs).
    pub fn writes(&self) -> Vec<String> {
        self.requests
            .iter()
            .filter(|r| !r.starts_with("GET") && !r.ends_with("dry-run"))
            .cloned()
            .collect()
    }

    /// The controller: pods and status for workload `plural`/`name`.
    fn roll(&mut self, plural: &str, ns: &str, name: &str) {
        let key = (plural.to_owned(), ns.to_owned(), name.to_owned());
        let Some(object) = self.objects.get(&key).cloned() else {
            return;
        };
        let image = object["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default();
        let failing = self.failing.contains(name) || self.failing_images.contains(image);
        let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
        let status = match plural {
            "jobs" if failing => json!({"failed": 1, "conditions": [{"type": "Failed",
                "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]}),
            "jobs" => {
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
            }
            "statefulsets" if failing => json!({"observedGeneration": generation,
                "replicas": 1, "updatedReplicas": 1, "readyReplicas": 0, "availableReplicas": 0}),
            _ if failing => json!({"observedGeneration": generation, "replicas": 1,
                "updatedReplicas": 1, "readyReplicas": 0, "availableReplicas": 0,
                "conditions": [{"type": "Progressing", "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": format!("ReplicaSet \"{name}-{generation}\" has timed out progressing.")}]}),
            _ => json!({"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
                "readyReplicas": 1, "availableReplicas": 1}),
        };
        if let Some(o) = self.objects.get_mut(&key) {
            o["status"] = status;
        }
        // One pod per workload generation; the older ones go.
        self.objects.retain(|(p, n, pod), v| {
            !(p == "pods"
                && n == ns
                && v["metadata"]["labels"]["app.kubernetes.io/name"] == name
                && !pod.ends_with(&format!("-{generation}")))
        });
        let mut labels = object["spec"]["template"]["metadata"]["labels"].clone();
        if plural == "jobs" {
            labels["job-name"] = json!(name);
        }
        let container = &object["spec"]["template"]["spec"]["containers"][0];
        let (state, ready) = match (plural, failing) {
            ("jobs", false) => (
                json!({"terminated": {"exitCode": 0,
                "startedAt": "2026-12-06T04:00:00Z"}}),
                false,
            ),
            ("jobs", true) => (
                json!({"terminated": {"exitCode": 1,
                "startedAt": "2026-12-06T04:00:00Z"}}),
                false,
            ),
            (_, true) => (json!({"waiting": {"reason": "CrashLoopBackOff"}}), false),
            _ => (
                json!({"running": {"startedAt": "2026-12-06T04:00:00Z"}}),
                true,
            ),
        };
        let kind = match plural {
            "jobs" => "Job",
            "statefulsets" => "StatefulSet",
            _ => "ReplicaSet",
        };
        let pod_name = format!("{name}-{generation}");
        if !self
            .objects
            .contains_key(&("pods".into(), ns.to_owned(), pod_name.clone()))
        {
            self.event(
                ns,
                "Pod",
                &pod_name,
                false,
                "Scheduled",
                &format!("Successfully assigned {ns}/{pod_name} to node-1"),
            );
            if failing && plural != "jobs" {
                self.event(
                    ns,
                    "Pod",
                    &pod_name,
                    true,
                    "BackOff",
                    &format!("Back-off restarting failed container {name} in pod {pod_name}"),
                );
            }
        }
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                "creationTimestamp": "2026-12-06T04:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name,
                    "uid": "owner"}]},
            "spec": {"containers": [container], "nodeName": "node-1"},
            "status": {"phase": if ready { "Running" } else { "Pending" },
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"name": container["name"], "image": container["image"],
                    "imageID": "", "ready": ready, "restartCount": if failing { 4 } else { 0 },
                    "state": state}]}
        });
        self.objects
            .insert(("pods".into(), ns.to_owned(), pod_name), pod);
    }

    /// Server-side apply of `body` to `plural`/`name`.
    fn apply(
        &mut self,
        plural: &str,
        ns: &str,
        name: &str,
        body: Value,
        dry_run: bool,
    ) -> Result<Value, (StatusCode, Value)> {
        if let Some((manager, field)) = self.foreign.get(&(plural.to_owned(), name.to_owned())) {
            return Err(status(
                409,
                "Conflict",
                &format!(
                    "Apply failed with 1 conflict: conflict with \"{manager}\" using apps/v1: {field}"
                ),
            ));
        }
        let key = (plural.to_owned(), ns.to_owned(), name.to_owned());
        let existing = self.objects.get(&key).cloned();
        if let Some(old) = &existing {
            if plural == "jobs" && old["spec"]["template"] != body["spec"]["template"] {
                return Err(status(
                    422,
                    "Invalid",
                    &format!("Job.batch \"{name}\" is invalid: spec.template: Invalid value: field is immutable"),
                ));
            }
            if plural == "statefulsets"
                && old["spec"]["volumeClaimTemplates"] != body["spec"]["volumeClaimTemplates"]
            {
                return Err(status(
                    422,
                    "Invalid",
                    &format!("StatefulSet.apps \"{name}\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"),
                ));
            }
        }
        let mut object = body;
        let generation = match &existing {
            None => 1,
            Some(old) => {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                if old["spec"] != object["spec"] {
                    g + 1
                } else {
                    g
                }
            }
        };
        object["metadata"]["generation"] = json!(generation);
        object["metadata"]["uid"] = match &existing {
            Some(old) => old["metadata"]["uid"].clone(),
            None => {
                self.next_uid += 1;
                json!(format!("uid-{}", self.next_uid))
            }
        };
        if let Some(old) = &existing {
            object["status"] = old["status"].clone();
        }
        if let (Some((host, port)), "ingresses") = (&self.ingress_at, plural) {
            object["status"] = Self::admitted(host, *port);
        }
        if !dry_run {
            self.objects.insert(key, object.clone());
            if matches!(plural, "deployments" | "statefulsets" | "jobs") {
                self.roll(plural, ns, name);
                return Ok(
                    self.objects[&(plural.to_owned(), ns.to_owned(), name.to_owned())].clone(),
                );
            }
        }
        Ok(object)
    }

    fn handle(
        &mut self,
        method: &http::Method,
        uri: &http::Uri,
        body: &[u8],
    ) -> (StatusCode, Value, Option<String>) {
        let q = query(uri);
        let dry = q.get("dryRun").is_some_and(|v| v == "All");
        let Some((plural, ns, name, sub)) = route(uri.path()) else {
            let (c, v) = status(404, "NotFound", &format!("no route {}", uri.path()));
            return (c, v, None);
        };
        let line = format!(
            "{method} {plural}{}{}{}{}",
            name.as_deref().map(|n| format!("/{n}")).unwrap_or_default(),
            sub.as_deref().map(|s| format!("/{s}")).unwrap_or_default(),
            q.get("labelSelector")
                .map(|s| format!("?{s}"))
                .unwrap_or_default(),
            if dry { " dry-run" } else { "" }
        ) + if q.get("watch").is_some_and(|w| w == "true") {
            " watch"
        } else {
            ""
        };
        self.requests.push(line);
        if plural == "namespaces" && self.forbid_namespaces {
            let (c, v) = status(
                403,
                "Forbidden",
                "namespaces is forbidden: cannot get resource \"namespaces\" at the cluster scope",
            );
            return (c, v, None);
        }
        let key = |n: &str| (plural.clone(), ns.clone(), n.to_owned());
        match (method.as_str(), name.as_deref(), sub.as_deref()) {
            ("GET", Some(n), Some("log")) => {
                let text = if self
                    .objects
                    .contains_key(&("pods".into(), ns.clone(), n.to_owned()))
                {
                    format!("2026-12-06T04:00:01.000000000Z {n} started\n2026-12-06T04:00:02.000000000Z {n} listening\n")
                } else {
                    String::new()
                };
                (StatusCode::OK, Value::Null, Some(text))
            }
            ("GET", Some(n), None) => match self.objects.get(&key(n)) {
                Some(o) => (StatusCode::OK, o.clone(), None),
                None => {
                    let (c, v) = status(404, "NotFound", &format!("{plural} \"{n}\" not found"));
                    (c, v, None)
                }
            },
            ("GET", None, None) => {
                let selector = q.get("labelSelector").cloned().unwrap_or_default();
                // Only the field selector Burrow uses: events about one object.
                let about = q
                    .get("fieldSelector")
                    .and_then(|f| f.strip_prefix("involvedObject.name="));
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|((p, n, _), o)| *p == plural && *n == ns && matches(o, &selector))
                    .filter(|(_, o)| about.is_none_or(|name| o["involvedObject"]["name"] == name))
                    .map(|(_, o)| o.clone())
                    .collect();
                let version = self.version.borrow().to_string();
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": version}, "items": items}),
                    None,
                )
            }
            ("PATCH", Some(n), None) => {
                let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                match self.apply(&plural, &ns, n, body, dry) {
                    Ok(o) => (StatusCode::OK, o, None),
                    Err((c, v)) => (c, v, None),
                }
            }
            ("DELETE", Some(n), None) => match self.objects.remove(&key(n)) {
                Some(o) => {
                    let owned = n.to_owned();
                    self.objects.retain(|(p, pns, _), v| {
                        !(p == "pods"
                            && *pns == ns
                            && v["metadata"]["ownerReferences"][0]["name"] == owned.as_str())
                    });
                    (StatusCode::OK, o, None)
                }
                None => {
                    let (c, v) = status(404, "NotFound", &format!("{plural} \"{n}\" not found"));
                    (c, v, None)
                }
            },
            _ => {
                let (c, v) = status(405, "MethodNotAllowed", "not in the fake");
                (c, v, None)
            }
        }
    }
}

/// A `kube::Client` talking to `cluster`.
pub fn client(cluster: &Shared) -> kube::Client {
    use http_body_util::combinators::BoxBody;
    use http_body_util::StreamBody;
    let cluster = cluster.clone();
    let service = tower::service_fn(move |req: Request<kube::client::Body>| {
        let cluster = cluster.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let q = query(&parts.uri);
            let watch =
                parts.method == http::Method::GET && q.get("watch").is_some_and(|w| w == "true");
            let mut c = cluster.lock().expect("the fake cluster's lock");
            c.record();
            let (code, value, text) = c.handle(&parts.method, &parts.uri, &bytes);
            c.record();
            let body: BoxBody<Bytes, Infallible> = match route(parts.uri.path()) {
                Some((plural, ns, None, None)) if watch && code == StatusCode::OK => {
                    let from: u64 = q
                        .get("resourceVersion")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let selector = q.get("labelSelector").cloned().unwrap_or_default();
                    let told = c.version.subscribe();
                    drop(c);
                    let lines = futures_util::stream::unfold(
                        (cluster.clone(), from, told),
                        move |(cluster, from, mut told)| {
                            let (plural, ns, selector) =
                                (plural.clone(), ns.clone(), selector.clone());
                            async move {
                                loop {
                                    let (lines, reached) = cluster
                                        .lock()
                                        .expect("the fake cluster's lock")
                                        .changes_since(from, &plural, &ns, &selector);
                                    if !lines.is_empty() {
                                        let frame = hyper::body::Frame::data(Bytes::from(lines));
                                        return Some((
                                            Ok::<_, Infallible>(frame),
                                            (cluster, reached, told),
                                        ));
                                    }
                                    // Nothing for this watch yet: wait for the next change.
                                    told.changed().await.ok()?;
                                }
                            }
                        },
                    );
                    BoxBody::new(StreamBody::new(lines))
                }
                _ => {
                    drop(c);
                    BoxBody::new(Full::new(Bytes::from(
                        text.unwrap_or_else(|| value.to_string()),
                    )))
                }
            };
            Ok::<_, Infallible>(
                Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(body)
                    .expect("a response"),
            )
        }
    });
    kube::Client::new(service, "default")
}

/// An Ingress controller with the stack behind it, on 127.0.0.1: TLS with
/// the certificate of the Ingress's Secret `secret` in `ns` (as a
/// controller serves it), answering the chat probes as Stoat does through
/// Caddy (the API root's JSON, the discovery document, a WebSocket
/// handshake on `/ws`). Its port; every Ingress is admitted at it.
pub async fn serve_ingress(cluster: &Shared, ns: &str, secret: &str) -> u16 {
    use base64::Engine as _;
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = |key: &str| {
        let c = cluster.lock().expect("the fake cluster's lock");
        let b64 = c.get("secrets", ns, secret).expect("the TLS Secret")["data"][key]
            .as_str()
            .expect("base64 data")
            .to_owned();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64")
    };
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&data("tls.crt"))
        .map(|c| c.expect("a certificate"))
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&data("tls.key")).expect("a key");
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("the Ingress's certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                };
                let answer = match (path.as_str(), header("sec-websocket-key")) {
                    ("/ws", Some(key)) => format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                        crate::chat_probe::websocket_accept(&key)
                    ),
                    (p, _) => {
                        let body = match p {
                            "/api/" => r#"{"revolt":"0.8.0","features":{}}"#,
                            "/.well-known/stoat" => r#"{"api":"https://stoat.burrow.test/api"}"#,
                            _ => "",
                        };
                        let status = if body.is_empty() { "404 Not Found" } else { "200 OK" };
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                };
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.flush().await;
            });
        }
    });
    cluster
        .lock()
        .expect("the fake cluster's lock")
        .admit_ingresses("127.0.0.1", port);
    port
}
