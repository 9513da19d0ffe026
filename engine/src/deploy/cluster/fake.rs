//! An in-memory Kubernetes API server behind `kube::Client::new`, for the
//! target's scenarios: objects kept per resource, namespace and name;
//! server-side apply with generations, dry runs, field conflicts and the
//! API server's refusals (a Job's template and a StatefulSet's claim
//! templates cannot change); label-selected lists; deletions; and a
//! controller that rolls workloads out (pods made, status written) unless
//! told a workload fails. Every request is logged as one line, so a test
//! can assert the exact sequence.

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
    /// (plural, name) -> (field manager, field) owning a field Burrow sets.
    pub foreign: BTreeMap<(String, String), (String, String)>,
    /// Namespace objects cannot be read (an account bound by a Role).
    pub forbid_namespaces: bool,
    next_uid: u64,
}

pub type Shared = Arc<Mutex<Cluster>>;

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
        let failing = self.failing.contains(name);
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
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                "creationTimestamp": "2026-12-06T04:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name,
                    "uid": "owner"}]},
            "spec": {"containers": [container]},
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
        );
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
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|((p, n, _), o)| *p == plural && *n == ns && matches(o, &selector))
                    .map(|(_, o)| o.clone())
                    .collect();
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
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
            let (code, value, text) = cluster.lock().expect("the fake cluster's lock").handle(
                &parts.method,
                &parts.uri,
                &bytes,
            );
            let body = text.unwrap_or_else(|| value.to_string());
            Ok::<_, Infallible>(
                Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .expect("a response"),
            )
        }
    });
    kube::Client::new(service, "default")
}
