//! The Kubernetes target's pure side: the rendered manifests as objects to
//! apply (in the operator's namespace, labelled with the stack so they can
//! be pruned), what to prune, whether a workload has rolled out, and the
//! sentences for what the API server refuses. No I/O here: the driver in
//! [`super::apply`] asks the API server and decides with these.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service as KService,
};
use k8s_openapi::api::networking::v1::Ingress;
use kube::discovery::ApiResource;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The label every object of a stack carries: what is pruned, listed for
/// the dashboard and removed by `burrow down`.
pub const STACK_LABEL: &str = "burrow.io/stack";
/// A Job's spec, hashed: a Job's template cannot change, so one whose hash
/// differs is deleted and created again.
pub const SPEC_HASH: &str = "burrow.io/spec-hash";
/// The field manager of every apply.
pub const MANAGER: &str = "burrow";

/// The verbs Burrow uses on the objects it applies (server-side apply of
/// a new object needs `create` as well as `patch`).
const MANAGE: &[&str] = &["get", "list", "create", "patch", "delete"];

/// Every permission Burrow uses in a stack's namespace: (API group,
/// resource or `resource/subresource`, verbs). "Test connection" asks the
/// cluster for each; `manifests/kubernetes/role.yaml` grants exactly these
/// (a test compares the two).
pub const PERMISSIONS: [(&str, &str, &[&str]); 11] = [
    ("apps", "deployments", MANAGE),
    ("apps", "statefulsets", MANAGE),
    ("", "services", MANAGE),
    ("", "configmaps", MANAGE),
    ("", "secrets", MANAGE),
    ("batch", "jobs", MANAGE),
    ("networking.k8s.io", "ingresses", MANAGE),
    // Made by the StatefulSets; deleted only when asked.
    ("", "persistentvolumeclaims", &["get", "list", "delete"]),
    // The dashboard (watched), the logs and a failed rollout's diagnosis.
    ("", "pods", &["get", "list", "watch"]),
    ("", "pods/log", &["get"]),
    ("", "events", &["list", "watch"]),
];

/// The kinds of object a stack is made of, in the order they are applied
/// (what others refer to first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Secret,
    ConfigMap,
    Service,
    StatefulSet,
    Deployment,
    Job,
    Ingress,
    /// Made by StatefulSets' claim templates, never applied: kept when the
    /// stack no longer has its StatefulSet unless volumes are pruned.
    PersistentVolumeClaim,
}

impl Kind {
    /// Every kind a stack's objects are pruned from, in deletion order
    /// (what refers to others first).
    pub const PRUNED: [Kind; 7] = [
        Kind::Ingress,
        Kind::Job,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::Service,
        Kind::ConfigMap,
        Kind::Secret,
    ];

    pub fn from_name(kind: &str) -> Option<Self> {
        Some(match kind {
            "Namespace" => Kind::Namespace,
            "Secret" => Kind::Secret,
            "ConfigMap" => Kind::ConfigMap,
            "Service" => Kind::Service,
            "StatefulSet" => Kind::StatefulSet,
            "Deployment" => Kind::Deployment,
            "Job" => Kind::Job,
            "Ingress" => Kind::Ingress,
            "PersistentVolumeClaim" => Kind::PersistentVolumeClaim,
            _ => return None,
        })
    }

    /// Group, version, kind and plural, from k8s-openapi's own types.
    pub fn resource(self) -> ApiResource {
        match self {
            Kind::Namespace => ApiResource::erase::<Namespace>(&()),
            Kind::Secret => ApiResource::erase::<Secret>(&()),
            Kind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
            Kind::Service => ApiResource::erase::<KService>(&()),
            Kind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            Kind::Deployment => ApiResource::erase::<Deployment>(&()),
            Kind::Job => ApiResource::erase::<Job>(&()),
            Kind::Ingress => ApiResource::erase::<Ingress>(&()),
            Kind::PersistentVolumeClaim => ApiResource::erase::<PersistentVolumeClaim>(&()),
        }
    }

    /// A workload: a service of the stack that runs (and is waited for).
    pub fn is_workload(self) -> bool {
        matches!(self, Kind::StatefulSet | Kind::Deployment | Kind::Job)
    }
}

/// How the Ingress is served: its controller's class and, for ACME,
/// cert-manager's ClusterIssuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressSettings {
    pub class: String,
    pub issuer: String,
}

impl Default for IngressSettings {
    fn default() -> Self {
        Self {
            class: "nginx".to_owned(),
            issuer: "letsencrypt".to_owned(),
        }
    }
}

/// The rendered Ingress for `settings`: its class; the issuer cert-manager
/// is asked for; for another controller than nginx (whose regex routes
/// and prefix stripping are its own annotations), every path to Caddy,
/// which serves the whole route table.
fn serve_ingress(body: &mut Value, settings: &IngressSettings) {
    body["spec"]["ingressClassName"] = Value::String(settings.class.clone());
    if let Some(annotations) = body["metadata"]["annotations"].as_object_mut() {
        if annotations.contains_key("cert-manager.io/cluster-issuer") {
            annotations.insert(
                "cert-manager.io/cluster-issuer".to_owned(),
                Value::String(settings.issuer.clone()),
            );
        }
        if settings.class != "nginx" {
            annotations.retain(|k, _| !k.starts_with("nginx.ingress.kubernetes.io/"));
        }
    }
    if settings.class == "nginx" {
        return;
    }
    if let Some(rules) = body["spec"]["rules"].as_array_mut() {
        for rule in rules {
            let caddy = rule["http"]["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["backend"]["service"]["name"] == "caddy")
                .map(|p| p["backend"].clone());
            if let Some(backend) = caddy {
                rule["http"]["paths"] = serde_json::json!([
                    {"path": "/", "pathType": "Prefix", "backend": backend}
                ]);
            }
        }
    }
}

/// One object to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: Kind,
    pub name: String,
    /// The whole object, as applied.
    pub body: Value,
}

/// The label selector of `stack`'s objects.
pub fn selector(stack: &str) -> String {
    format!("{STACK_LABEL}={stack}")
}

fn set_label(meta: &mut Value, stack: &str) {
    if !meta["labels"].is_object() {
        meta["labels"] = Value::Object(Default::default());
    }
    meta["labels"][STACK_LABEL] = Value::String(stack.to_owned());
}

/// The rendered manifests as the objects to apply into `namespace` (the
/// Namespace object named after it), each labelled with `stack`, its
/// claim templates too (so the claims they make can be found), a Job with
/// the hash of its spec. `Err` names a manifest that is not an object of
/// a known kind (a renderer bug, said rather than applied).
pub fn desired(
    manifests: &[stack::render::KubeManifest],
    stack: &str,
    namespace: &str,
    tls: Option<(&[u8], &[u8])>,
    ingress: &IngressSettings,
) -> Result<Vec<Object>, String> {
    let mut out = Vec::new();
    for m in manifests {
        let kind = Kind::from_name(&m.kind)
            .ok_or_else(|| format!("{} {} is of a kind Burrow does not apply", m.kind, m.name))?;
        let mut body: Value = serde_yaml::from_str(&m.yaml)
            .map_err(|e| format!("{} {} does not read as YAML: {e}", m.kind, m.name))?;
        if !body["metadata"].is_object() {
            return Err(format!("{} {} has no metadata", m.kind, m.name));
        }
        let name = if kind == Kind::Namespace {
            namespace.to_owned()
        } else {
            m.name.clone()
        };
        body["metadata"]["name"] = Value::String(name.clone());
        if kind == Kind::Namespace {
            if let Some(meta) = body["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
        } else {
            body["metadata"]["namespace"] = Value::String(namespace.to_owned());
        }
        set_label(&mut body["metadata"], stack);
        if kind == Kind::Ingress {
            serve_ingress(&mut body, ingress);
        }
        if kind.is_workload() {
            // Its pods too: the dashboard and the logs find them by it.
            let template = &mut body["spec"]["template"];
            if template.is_object() {
                if !template["metadata"].is_object() {
                    template["metadata"] = Value::Object(Default::default());
                }
                set_label(&mut template["metadata"], stack);
            }
        }
        if kind == Kind::StatefulSet {
            if let Some(templates) = body["spec"]["volumeClaimTemplates"].as_array_mut() {
                for t in templates {
                    if !t["metadata"].is_object() {
                        t["metadata"] = Value::Object(Default::default());
                    }
                    set_label(&mut t["metadata"], stack);
                }
            }
        }
        if kind == Kind::Job {
            let hash = hex::encode(Sha256::digest(body["spec"].to_string().as_bytes()));
            if !body["metadata"]["annotations"].is_object() {
                body["metadata"]["annotations"] = Value::Object(Default::default());
            }
            body["metadata"]["annotations"][SPEC_HASH] = Value::String(hash[..16].to_owned());
        }
        out.push(Object { kind, name, body });
    }
    // The certificate the Ingress serves (Burrow's CA-signed leaf, or the
    // operator's own), in the Secret the Ingress names: only ever in a
    // Secret.
    if let Some((cert, key)) = tls {
        let names: Vec<String> = out
            .iter()
            .filter(|o| o.kind == Kind::Ingress)
            .flat_map(|o| {
                o.body["spec"]["tls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["secretName"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect();
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        for name in names {
            let mut body = serde_json::json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": name, "namespace": namespace},
                "data": {"tls.crt": b64(cert), "tls.key": b64(key)}
            });
            set_label(&mut body["metadata"], stack);
            out.push(Object {
                kind: Kind::Secret,
                name,
                body,
            });
        }
    }
    out.sort_by_key(|o| o.kind);
    Ok(out)
}

/// The certificate and key the Ingress serves, from what the deployer
/// delivers with a request: Burrow's CA-signed leaf (self-signed mode) or
/// the operator's own kept pair. `None`: ACME (cert-manager makes it).
pub fn tls_pair(
    host_files: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Option<(&[u8], &[u8])> {
    use stack::render::{
        OWN_CERT_SOURCE, OWN_KEY_SOURCE, SELF_SIGNED_CERT_SOURCE, SELF_SIGNED_KEY_SOURCE,
    };
    [
        (SELF_SIGNED_CERT_SOURCE, SELF_SIGNED_KEY_SOURCE),
        (OWN_CERT_SOURCE, OWN_KEY_SOURCE),
    ]
    .into_iter()
    .find_map(|(c, k)| Some((host_files.get(c)?.as_slice(), host_files.get(k)?.as_slice())))
}

/// Why `desired` cannot run in `namespace` (the Namespace object as the
/// API server has it): a pod on the node's network (LiveKit's UDP range)
/// where the namespace's enforced Pod Security level forbids it. Checked
/// before anything changes: the admission would refuse its pods only, and
/// the deploy would wait for them in vain.
pub fn pod_security_refusal(namespace: &Value, desired: &[Object]) -> Option<String> {
    let name = namespace["metadata"]["name"].as_str().unwrap_or("?");
    let level = namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        .as_str()
        .filter(|l| matches!(*l, "baseline" | "restricted"))?;
    let host = desired.iter().find(|o| {
        o.kind.is_workload() && o.body["spec"]["template"]["spec"]["hostNetwork"] == true
    })?;
    Some(format!(
        "{} needs the node's network (hostNetwork, for its UDP ports), which namespace {name}'s \
         Pod Security level \"{level}\" forbids: allow it (`kubectl label namespace {name} \
         pod-security.kubernetes.io/enforce=privileged --overwrite`), deploy to another \
         namespace, or turn voice off.",
        host.name
    ))
}

/// What exists with the stack's label that the plan no longer has, in
/// deletion order. Claims only when `volumes` (their data goes with them).
pub fn to_prune(
    existing: &[(Kind, String)],
    desired: &[Object],
    volumes: bool,
) -> Vec<(Kind, String)> {
    let wanted: BTreeSet<(Kind, &str)> =
        desired.iter().map(|o| (o.kind, o.name.as_str())).collect();
    // A claim belongs to a StatefulSet that is still wanted when its name
    // is `<template>-<statefulset>-<ordinal>`.
    let claimed: Vec<String> = desired
        .iter()
        .filter(|o| o.kind == Kind::StatefulSet)
        .flat_map(|o| {
            o.body["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["metadata"]["name"].as_str())
                .map(|t| format!("{t}-{}-", o.name))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out: Vec<(Kind, String)> = existing
        .iter()
        .filter(|(kind, name)| match kind {
            Kind::Namespace => false,
            Kind::PersistentVolumeClaim => {
                volumes && !claimed.iter().any(|prefix| name.starts_with(prefix))
            }
            _ => !wanted.contains(&(*kind, name.as_str())),
        })
        .cloned()
        .collect();
    let order = |k: &Kind| {
        Kind::PRUNED
            .iter()
            .position(|p| p == k)
            .unwrap_or(Kind::PRUNED.len())
    };
    out.sort_by_key(|(k, n)| (order(k), n.clone()));
    out
}

/// Where a workload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledOut {
    /// Not yet: what it waits for ("1 of 2 replicas ready").
    Waiting(String),
    Ready,
    /// It will not get there by itself.
    Failed(String),
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Whether `object` (a Deployment, StatefulSet or Job as the API server
/// returns it) has rolled out: a Deployment or StatefulSet when its
/// controller has seen this generation and every replica is updated, ready
/// and available; a Job when it completed. A Deployment past its progress
/// deadline, or a failed Job, has failed.
pub fn rolled_out(kind: Kind, object: &Value) -> RolledOut {
    let status = &object["status"];
    match kind {
        Kind::Job => {
            if condition(object, "Complete").is_some_and(|c| c["status"] == "True")
                || int(&status["succeeded"]) >= 1
            {
                RolledOut::Ready
            } else if let Some(c) = condition(object, "Failed").filter(|c| c["status"] == "True") {
                RolledOut::Failed(format!(
                    "the job failed: {}",
                    c["message"]
                        .as_str()
                        .or(c["reason"].as_str())
                        .unwrap_or("no reason given")
                ))
            } else {
                RolledOut::Waiting("running".to_owned())
            }
        }
        Kind::Deployment | Kind::StatefulSet => {
            if let Some(c) = condition(object, "Progressing")
                .filter(|c| c["reason"] == "ProgressDeadlineExceeded")
            {
                return RolledOut::Failed(format!(
                    "its rollout passed its progress deadline: {}",
                    c["message"].as_str().unwrap_or("ProgressDeadlineExceeded")
                ));
            }
            let generation = int(&object["metadata"]["generation"]);
            let observed = int(&status["observedGeneration"]);
            let want = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = int(&status["updatedReplicas"]);
            let ready = int(&status["readyReplicas"]);
            // A StatefulSet reports no availableReplicas before 1.22.
            let available = status["availableReplicas"].as_i64().unwrap_or(ready);
            let total = int(&status["replicas"]);
            if observed < generation {
                RolledOut::Waiting("its controller has not seen the change yet".to_owned())
            } else if updated < want || ready < want || available < want || total > want {
                RolledOut::Waiting(format!(
                    "{ready} of {want} replicas ready ({updated} updated, {available} available)"
                ))
            } else {
                RolledOut::Ready
            }
        }
        _ => RolledOut::Ready,
    }
}

/// A Job that exists with another spec than `desired`'s: it cannot be
/// changed, so it is deleted and created again.
pub fn job_changed(existing: &Value, desired: &Object) -> bool {
    desired.kind == Kind::Job
        && existing["metadata"]["annotations"][SPEC_HASH]
            != desired.body["metadata"]["annotations"][SPEC_HASH]
}

/// The claim templates of a StatefulSet as they matter (name, size,
/// access modes, class).
fn claim_shape(object: &Value) -> Vec<String> {
    object["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{} {} {} {}",
                t["metadata"]["name"].as_str().unwrap_or(""),
                t["spec"]["resources"]["requests"]["storage"]
                    .as_str()
                    .unwrap_or(""),
                t["spec"]["accessModes"],
                t["spec"]["storageClassName"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Why `desired` cannot be applied over `existing` (a StatefulSet whose
/// claim templates changed: Kubernetes forbids it, and the data is in
/// those claims).
pub fn claim_templates_changed(existing: &Value, desired: &Object) -> Option<String> {
    (desired.kind == Kind::StatefulSet && claim_shape(existing) != claim_shape(&desired.body)).then(
        || {
            format!(
                "StatefulSet {} would change its volume claim templates ({} -> {}), which \
                 Kubernetes does not allow: its data lives in those claims. Delete the \
                 StatefulSet with --cascade=orphan to keep the claims, then deploy again.",
                desired.name,
                claim_shape(existing).join(", "),
                claim_shape(&desired.body).join(", ")
            )
        },
    )
}

/// The sentence for a server-side apply conflict (409): which fields
/// another field manager owns. `message` is the API server's, e.g.
/// `Apply failed with 1 conflict: conflict with "kubectl-edit" using
/// apps/v1: .spec.replicas`.
pub fn conflict_sentence(kind: Kind, name: &str, message: &str) -> String {
    let managers: BTreeSet<&str> = message
        .split("with \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let fields: Vec<&str> = message
        .split_whitespace()
        .map(|p| p.trim_end_matches([',', ';']))
        .filter(|p| p.starts_with('.') && p.len() > 1)
        .collect();
    let who = if managers.is_empty() {
        "another field manager".to_owned()
    } else {
        managers
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    format!(
        "{kind:?} {name}: {} {} managed by {who}, not by Burrow (someone changed it with \
         kubectl or another tool). Undo that change, or remove the field's owner with \
         `kubectl apply --server-side --force-conflicts --field-manager=burrow`, then deploy again.",
        if fields.is_empty() {
            "some fields".to_owned()
        } else {
            fields.join(", ")
        },
        if fields.len() == 1 { "is" } else { "are" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kit() -> Vec<stack::render::KubeManifest> {
        let config = stack::model::parse_stack_toml(include_str!("../../../../testkit/stack.toml"))
            .unwrap()
            .config;
        stack::render(&config, &stack::Secrets::generate().expect("randomness")).kubernetes
    }

    #[test]
    fn every_object_lands_in_the_namespace_with_the_stack_label() {
        let objects = desired(
            &kit(),
            "chat",
            "team-chat",
            None,
            &IngressSettings::default(),
        )
        .unwrap();
        assert_eq!(objects[0].kind, Kind::Namespace);
        assert_eq!(objects[0].name, "team-chat");
        assert!(objects[0].body["metadata"].get("namespace").is_none());
        for o in &objects {
            assert_eq!(o.body["metadata"]["labels"][STACK_LABEL], "chat", "{o:?}");
            if o.kind != Kind::Namespace {
                assert_eq!(o.body["metadata"]["namespace"], "team-chat", "{}", o.name);
            }
        }
        // In apply order, every kind the renderer makes.
        let kinds: Vec<Kind> = objects.iter().map(|o| o.kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(kinds, sorted);
        for k in [
            Kind::Secret,
            Kind::ConfigMap,
            Kind::Service,
            Kind::StatefulSet,
            Kind::Deployment,
            Kind::Job,
            Kind::Ingress,
        ] {
            assert!(kinds.contains(&k), "{k:?}");
        }
        let database = objects
            .iter()
            .find(|o| o.kind == Kind::StatefulSet && o.name == "database")
            .unwrap();
        assert_eq!(
            database.body["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"][STACK_LABEL],
            "chat"
        );
        assert_eq!(
            database.body["spec"]["template"]["metadata"]["labels"][STACK_LABEL],
            "chat"
        );
        let job = objects.iter().find(|o| o.kind == Kind::Job).unwrap();
        assert_eq!(
            job.body["metadata"]["annotations"][SPEC_HASH]
                .as_str()
                .unwrap()
                .len(),
            16
        );
        // Every object reads as its typed Kubernetes object.
        for o in &objects {
            let ok = match o.kind {
                Kind::Deployment => serde_json::from_value::<Deployment>(o.body.clone()).is_ok(),
                Kind::StatefulSet => serde_json::from_value::<StatefulSet>(o.body.clone()).is_ok(),
                Kind::Job => serde_json::from_value::<Job>(o.body.clone()).is_ok(),
                Kind::Ingress => serde_json::from_value::<Ingress>(o.body.clone()).is_ok(),
                Kind::Service => serde_json::from_value::<KService>(o.body.clone()).is_ok(),
                Kind::Secret => serde_json::from_value::<Secret>(o.body.clone()).is_ok(),
                Kind::ConfigMap => serde_json::from_value::<ConfigMap>(o.body.clone()).is_ok(),
                Kind::Namespace => serde_json::from_value::<Namespace>(o.body.clone()).is_ok(),
                Kind::PersistentVolumeClaim => false,
            };
            assert!(ok, "{:?} {}", o.kind, o.name);
        }
    }

    #[test]
    fn what_the_plan_no_longer_has_is_pruned_claims_only_on_request() {
        let objects = desired(&kit(), "chat", "stoat", None, &IngressSettings::default()).unwrap();
        let existing = vec![
            (Kind::Deployment, "api".to_owned()),
            (Kind::Deployment, "retired".to_owned()),
            (Kind::Secret, "old-env".to_owned()),
            (Kind::Ingress, "stoat".to_owned()),
            (Kind::Namespace, "stoat".to_owned()),
            (
                Kind::PersistentVolumeClaim,
                "mongodb-data-database-0".to_owned(),
            ),
            (Kind::PersistentVolumeClaim, "x-data-gone-0".to_owned()),
        ];
        let template = objects
            .iter()
            .find(|o| o.name == "database" && o.kind == Kind::StatefulSet)
            .unwrap()
            .body["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut existing = existing;
        existing[5].1 = format!("{template}-database-0");
        assert_eq!(
            to_prune(&existing, &objects, false),
            [
                (Kind::Deployment, "retired".to_owned()),
                (Kind::Secret, "old-env".to_owned())
            ]
        );
        assert_eq!(
            to_prune(&existing, &objects, true).last(),
            Some(&(Kind::PersistentVolumeClaim, "x-data-gone-0".to_owned()))
        );
        assert_eq!(to_prune(&existing, &objects, true).len(), 3);
    }

    #[test]
    fn a_rollout_is_done_when_every_replica_is_updated_ready_and_available() {
        let d = |generation: i64, observed: i64, ready: i64| {
            json!({
                "metadata": {"generation": generation},
                "spec": {"replicas": 1},
                "status": {"observedGeneration": observed, "replicas": 1,
                    "updatedReplicas": 1, "readyReplicas": ready, "availableReplicas": ready}
            })
        };
        assert_eq!(rolled_out(Kind::Deployment, &d(2, 2, 1)), RolledOut::Ready);
        assert!(matches!(
            rolled_out(Kind::Deployment, &d(3, 2, 1)),
            RolledOut::Waiting(w) if w.contains("has not seen")
        ));
        assert!(matches!(
            rolled_out(Kind::StatefulSet, &d(2, 2, 0)),
            RolledOut::Waiting(w) if w.starts_with("0 of 1 replicas ready")
        ));
        // An old pod still around (surge): not yet.
        let mut surge = d(2, 2, 1);
        surge["status"]["replicas"] = json!(2);
        assert!(matches!(
            rolled_out(Kind::Deployment, &surge),
            RolledOut::Waiting(_)
        ));
        let mut stuck = d(2, 2, 0);
        stuck["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet \"api-5d\" has timed out progressing."}]);
        assert!(matches!(
            rolled_out(Kind::Deployment, &stuck),
            RolledOut::Failed(w) if w.contains("timed out progressing")
        ));
        let job = |status: Value| json!({"status": status});
        assert_eq!(
            rolled_out(Kind::Job, &job(json!({"succeeded": 1}))),
            RolledOut::Ready
        );
        assert!(matches!(
            rolled_out(Kind::Job, &job(json!({"conditions": [{"type": "Failed", "status": "True",
                "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}))),
            RolledOut::Failed(w) if w.contains("backoff limit")
        ));
        assert!(matches!(
            rolled_out(Kind::Job, &job(json!({"active": 1}))),
            RolledOut::Waiting(_)
        ));
    }

    #[test]
    fn a_changed_job_is_recreated_and_changed_claim_templates_are_refused() {
        let objects = desired(&kit(), "chat", "stoat", None, &IngressSettings::default()).unwrap();
        let job = objects.iter().find(|o| o.kind == Kind::Job).unwrap();
        assert!(!job_changed(&job.body, job));
        let mut older = job.body.clone();
        older["metadata"]["annotations"][SPEC_HASH] = json!("0000000000000000");
        assert!(job_changed(&older, job));
        let sts = objects
            .iter()
            .find(|o| o.kind == Kind::StatefulSet)
            .unwrap();
        assert_eq!(claim_templates_changed(&sts.body, sts), None);
        let mut smaller = sts.body.clone();
        smaller["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!("500Mi");
        let why = claim_templates_changed(&smaller, sts).unwrap();
        assert!(
            why.contains("would change its volume claim templates") && why.contains("500Mi"),
            "{why}"
        );
    }

    #[test]
    fn a_conflict_names_the_fields_and_their_manager() {
        let s = conflict_sentence(
            Kind::Deployment,
            "api",
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
        );
        assert!(
            s.starts_with("Deployment api: .spec.replicas is managed by \"kubectl-edit\""),
            "{s}"
        );
        let two = conflict_sentence(
            Kind::Service,
            "web",
            "Apply failed with 2 conflicts: conflicts with \"helm\":\n- .spec.ports\n- .spec.type",
        );
        assert!(
            two.contains(".spec.ports, .spec.type are managed by"),
            "{two}"
        );
    }

    /// Burrow's own manifests: every document reads as its typed object,
    /// the Role grants exactly [`PERMISSIONS`], the Deployment runs as a
    /// non-root user with its probes on /readyz and /healthz.
    #[test]
    fn burrows_own_manifests_grant_exactly_what_it_uses() {
        use k8s_openapi::api::core::v1::ServiceAccount;
        use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/kubernetes");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut kinds = Vec::new();
        let mut granted = BTreeSet::new();
        let mut deployment = None;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value: Value = serde::Deserialize::deserialize(doc).unwrap();
                let kind = value["kind"].as_str().unwrap().to_owned();
                let typed = match kind.as_str() {
                    "Namespace" => serde_json::from_value::<Namespace>(value.clone()).is_ok(),
                    "ServiceAccount" => {
                        serde_json::from_value::<ServiceAccount>(value.clone()).is_ok()
                    }
                    "Role" => {
                        let role: Role = serde_json::from_value(value.clone()).unwrap();
                        for rule in role.rules.unwrap_or_default() {
                            for group in rule.api_groups.unwrap_or_default() {
                                for resource in rule.resources.clone().unwrap_or_default() {
                                    for verb in &rule.verbs {
                                        granted.insert((
                                            group.clone(),
                                            resource.clone(),
                                            verb.clone(),
                                        ));
                                    }
                                }
                            }
                        }
                        true
                    }
                    "RoleBinding" => serde_json::from_value::<RoleBinding>(value.clone()).is_ok(),
                    "PersistentVolumeClaim" => {
                        serde_json::from_value::<PersistentVolumeClaim>(value.clone()).is_ok()
                    }
                    "Deployment" => {
                        deployment =
                            Some(serde_json::from_value::<Deployment>(value.clone()).unwrap());
                        true
                    }
                    "Service" => serde_json::from_value::<KService>(value.clone()).is_ok(),
                    other => panic!("{other} in {}", file.display()),
                };
                assert!(typed, "{kind} in {}", file.display());
                kinds.push(kind);
            }
        }
        for k in [
            "Namespace",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
        ] {
            assert!(kinds.iter().any(|x| x == k), "no {k}: {kinds:?}");
        }
        let needed: BTreeSet<(String, String, String)> = PERMISSIONS
            .iter()
            .flat_map(|(g, r, verbs)| {
                verbs
                    .iter()
                    .map(move |v| ((*g).to_owned(), (*r).to_owned(), (*v).to_owned()))
            })
            .collect();
        assert_eq!(granted, needed);
        let pod = deployment.unwrap().spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
        let c = &pod.containers[0];
        let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
            p.as_ref()
                .and_then(|p| p.http_get.as_ref())
                .and_then(|h| h.path.clone())
        };
        assert_eq!(path(&c.readiness_probe).as_deref(), Some("/readyz"));
        assert_eq!(path(&c.liveness_probe).as_deref(), Some("/healthz"));
    }

    #[test]
    fn the_ingress_certificate_goes_into_the_secret_it_names() {
        let mut files = std::collections::BTreeMap::new();
        assert_eq!(tls_pair(&files), None);
        files.insert(
            stack::render::SELF_SIGNED_CERT_SOURCE.to_owned(),
            b"CERT".to_vec(),
        );
        files.insert(
            stack::render::SELF_SIGNED_KEY_SOURCE.to_owned(),
            b"KEY".to_vec(),
        );
        let pair = tls_pair(&files);
        let objects = desired(&kit(), "chat", "stoat", pair, &IngressSettings::default()).unwrap();
        let ingress = objects.iter().find(|o| o.kind == Kind::Ingress).unwrap();
        let name = ingress.body["spec"]["tls"][0]["secretName"]
            .as_str()
            .unwrap();
        let secret = objects
            .iter()
            .find(|o| o.kind == Kind::Secret && o.name == name)
            .unwrap();
        assert_eq!(secret.body["type"], "kubernetes.io/tls");
        assert_eq!(secret.body["data"]["tls.crt"], "Q0VSVA==");
        assert_eq!(secret.body["data"]["tls.key"], "S0VZ");
        assert_eq!(secret.body["metadata"]["labels"][STACK_LABEL], "chat");
        assert!(serde_json::from_value::<Secret>(secret.body.clone()).is_ok());
        // Before the Ingress that names it.
        let at = |o: &Object| objects.iter().position(|x| x == o).unwrap();
        assert!(at(secret) < at(ingress));
        // The key is nowhere else.
        let elsewhere = objects
            .iter()
            .filter(|o| o.name != name)
            .any(|o| o.body.to_string().contains("S0VZ"));
        assert!(!elsewhere);
    }

    #[test]
    fn another_ingress_controller_sends_every_path_to_caddy() {
        let traefik = IngressSettings {
            class: "traefik".into(),
            issuer: "corp-acme".into(),
        };
        let objects = desired(&kit(), "chat", "stoat", None, &traefik).unwrap();
        let ingress = &objects
            .iter()
            .find(|o| o.kind == Kind::Ingress)
            .unwrap()
            .body;
        assert_eq!(ingress["spec"]["ingressClassName"], "traefik");
        let paths = ingress["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap();
        assert_eq!(paths.len(), 1, "{paths:?}");
        assert_eq!(paths[0]["path"], "/");
        assert_eq!(paths[0]["pathType"], "Prefix");
        assert_eq!(paths[0]["backend"]["service"]["name"], "caddy");
        assert!(!ingress["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.starts_with("nginx."))));
        assert!(serde_json::from_value::<Ingress>(ingress.clone()).is_ok());
        // nginx keeps its own route table.
        let nginx = desired(&kit(), "chat", "stoat", None, &IngressSettings::default()).unwrap();
        let ingress = &nginx.iter().find(|o| o.kind == Kind::Ingress).unwrap().body;
        assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
        assert!(
            ingress["spec"]["rules"][0]["http"]["paths"]
                .as_array()
                .unwrap()
                .len()
                > 3
        );
        // The issuer cert-manager is asked for, with ACME.
        let mut acme = serde_json::json!({"metadata": {"annotations": {
            "cert-manager.io/cluster-issuer": "letsencrypt"}}, "spec": {}});
        serve_ingress(&mut acme, &traefik);
        assert_eq!(
            acme["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
            "corp-acme"
        );
    }

    /// Every object Burrow sends (the kit with voice and Burrow's TLS
    /// Secret, with an nginx and a traefik Ingress) and every manifest it
    /// ships passes kubernetes-validate, strictly (unknown fields refused),
    /// for Kubernetes 1.34, the API k8s-openapi is built for here.
    /// scripts/setup.sh installs the tool; scripts/test.sh puts it on PATH.
    #[test]
    fn everything_sent_or_shipped_validates_strictly_against_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut tls = std::collections::BTreeMap::new();
        tls.insert(
            stack::render::SELF_SIGNED_CERT_SOURCE.to_owned(),
            b"-----BEGIN CERTIFICATE-----".to_vec(),
        );
        tls.insert(
            stack::render::SELF_SIGNED_KEY_SOURCE.to_owned(),
            b"-----BEGIN PRIVATE KEY-----".to_vec(),
        );
        let traefik = IngressSettings {
            class: "traefik".into(),
            issuer: "letsencrypt".into(),
        };
        for (variant, ingress) in [("nginx", IngressSettings::default()), ("traefik", traefik)] {
            for o in desired(&kit(), "chat", "team-chat", tls_pair(&tls), &ingress).unwrap() {
                if variant == "traefik" && o.kind != Kind::Ingress {
                    continue;
                }
                let file = dir
                    .path()
                    .join(format!("{variant}-{:?}-{}.json", o.kind, o.name));
                std::fs::write(&file, serde_json::to_vec_pretty(&o.body).unwrap()).unwrap();
                files.push(file);
            }
        }
        let shipped =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/kubernetes");
        for e in std::fs::read_dir(shipped).unwrap() {
            files.push(e.unwrap().path());
        }
        let out = match std::process::Command::new("kubernetes-validate")
            .args(["--strict", "-k", "1.34", "--quiet"])
            .args(&files)
            .output()
        {
            Ok(out) => out,
            Err(e) => panic!(
                "kubernetes-validate cannot run ({e}): scripts/setup.sh installs it, and \
                 scripts/test.sh puts it on PATH"
            ),
        };
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(files.len() > 40, "{}", files.len());
    }
}
