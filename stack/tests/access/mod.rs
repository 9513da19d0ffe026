//! Every file mounted into a service is readable by the user that opens it,
//! on all three targets, for every combination the wizard offers.
//!
//! Who opens a file: the image's server user (after its entrypoint's
//! privilege drop, [`Service::image_user`]), unless the service's start
//! script copies the mount with `install -o U -g G -m M SRC DST` first; then
//! the start user (root) reads the mount and the server user reads DST.
//!
//! How a target delivers a file:
//! - Docker deploy: extracted into the container owned by the image's start
//!   user (its `USER`), with [`Mount::file_mode`];
//! - compose export: bind-mounted from the exporter's disk (uid 1000 here),
//!   with the mode `burrow render` writes (host files as its warning asks);
//! - Kubernetes: a ConfigMap/Secret volume, root-owned (group `fsGroup` if
//!   the pod sets one), mode `items[].mode` or `defaultMode` (0644).

use std::collections::BTreeMap;

use stack::model::*;
use stack::render::{Mount, ServiceSpec};
use stack::{render, Plan};

const EXPORTER: (u32, u32) = (1000, 1000);

fn can_read(reader: (u32, u32), owner: (u32, u32), mode: u32) -> bool {
    if reader.0 == 0 {
        return true; // CAP_DAC_OVERRIDE, which containers keep by default
    }
    if reader.0 == owner.0 {
        mode & 0o400 != 0
    } else if reader.1 == owner.1 {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    }
}

/// `install` in the service's start script that copies `source`:
/// (owner name, mode, destination).
fn installed(spec: &ServiceSpec, source: &str) -> Option<(String, u32, String)> {
    let script = spec.command.join(" ");
    for part in script.split("&&") {
        let words: Vec<&str> = part.split_whitespace().collect();
        if words.first() != Some(&"install") {
            continue;
        }
        let (mut owner, mut mode, mut paths) = (String::from("root"), 0o755, Vec::new());
        let mut it = words[1..].iter();
        while let Some(w) = it.next() {
            match *w {
                "-o" => owner = it.next()?.to_string(),
                "-m" => mode = u32::from_str_radix(it.next()?, 8).ok()?,
                "-g" => {
                    it.next()?;
                }
                p => paths.push(p),
            }
        }
        if paths.len() == 2 && paths[0] == source {
            return Some((owner, mode, paths[1].to_string()));
        }
    }
    None
}

/// Problems of one delivered file: `owner`/`mode` as the target puts it.
fn check(
    target: &str,
    spec: &ServiceSpec,
    path: &str,
    owner: (u32, u32),
    mode: u32,
    problems: &mut Vec<String>,
) {
    let user = spec.service.image_user();
    let shell =
        matches!(spec.entrypoint.as_deref(), Some([sh, c]) if (sh.ends_with("sh")) && c == "-c");
    match installed(spec, path).filter(|_| shell) {
        Some((name, dst_mode, dst)) => {
            if !can_read(user.start, owner, mode) {
                problems.push(format!(
                    "{target}: {}: {path} unreadable by its start user",
                    spec.name
                ));
            }
            let dst_owner = if name == user.server_name {
                user.server
            } else {
                (0, 0)
            };
            if !can_read(user.server, dst_owner, dst_mode) {
                problems.push(format!(
                    "{target}: {}: {dst} (installed from {path}) unreadable by {}",
                    spec.name, user.server_name
                ));
            }
        }
        None => {
            if !can_read(user.server, owner, mode) {
                problems.push(format!(
                    "{target}: {}: {path} (owner {owner:?}, mode {mode:o}) unreadable by {} {:?}",
                    spec.name, user.server_name, user.server
                ));
            }
        }
    }
}

fn mounts(spec: &ServiceSpec) -> impl Iterator<Item = (&Mount, &str)> {
    spec.mounts.iter().filter_map(|m| match m {
        Mount::File { target, .. } | Mount::Host { target, .. } => Some((m, target.as_str())),
        Mount::Volume { .. } => None,
    })
}

fn docker(plan: &Plan, problems: &mut Vec<String>) {
    for spec in &plan.services {
        let owner = spec.service.image_user().start;
        for (m, target) in mounts(spec) {
            let mode = m.file_mode(&plan.files).expect("a file mount has a mode");
            check("docker", spec, target, owner, mode, problems);
        }
    }
}

fn compose(plan: &Plan, problems: &mut Vec<String>) {
    for spec in &plan.services {
        for (m, target) in mounts(spec) {
            let mode = match m {
                Mount::File { file, .. } => plan.files[file].mode,
                Mount::Host { source, .. } => {
                    if source.contains("key") {
                        0o600
                    } else {
                        0o644
                    }
                }
                Mount::Volume { .. } => unreachable!(),
            };
            check("compose", spec, target, EXPORTER, mode, problems);
        }
    }
}

fn kubernetes(plan: &Plan, problems: &mut Vec<String>) {
    let by_name: BTreeMap<&str, &ServiceSpec> =
        plan.services.iter().map(|s| (s.name.as_str(), s)).collect();
    for m in &plan.kubernetes {
        if !matches!(m.kind.as_str(), "Deployment" | "StatefulSet" | "Job") {
            continue;
        }
        let doc: serde_yaml::Value = serde_yaml::from_str(&m.yaml).unwrap();
        let pod = &doc["spec"]["template"]["spec"];
        let spec = by_name[m.name.as_str()];
        let fs_group = pod["securityContext"]["fsGroup"].as_u64().map(|g| g as u32);
        let volumes = pod["volumes"].as_sequence().cloned().unwrap_or_default();
        for c in pod["containers"].as_sequence().unwrap() {
            for vm in c["volumeMounts"].as_sequence().cloned().unwrap_or_default() {
                let Some(vol) = volumes.iter().find(|v| v["name"] == vm["name"]) else {
                    let claims = doc["spec"]["volumeClaimTemplates"].as_sequence();
                    assert!(
                        claims
                            .is_some_and(|c| c.iter().any(|t| t["metadata"]["name"] == vm["name"])),
                        "{}: volumeMount {:?} has no volume",
                        m.name,
                        vm["name"]
                    );
                    continue; // a claim: data, not a file
                };
                let source = if vol["secret"].is_mapping() {
                    &vol["secret"]
                } else if vol["configMap"].is_mapping() {
                    &vol["configMap"]
                } else {
                    continue; // claims and emptyDirs are data, not files
                };
                let default = source["defaultMode"].as_u64().unwrap_or(0o644) as u32;
                let item = source["items"]
                    .as_sequence()
                    .and_then(|items| items.iter().find(|i| i["path"] == vm["subPath"]));
                let mode = item
                    .and_then(|i| i["mode"].as_u64())
                    .map_or(default, |m| m as u32);
                let owner = (0, fs_group.unwrap_or(0));
                let path = vm["mountPath"].as_str().unwrap();
                check("kubernetes", spec, path, owner, mode, problems);
            }
        }
    }
}

/// The wizard's choices that change which services run and what they mount.
fn combinations() -> Vec<StackConfig> {
    let base = StackConfig::new(DomainName::parse("chat.example.com").unwrap());
    let tls = [
        TlsMode::SelfSigned,
        TlsMode::Acme {
            email: None,
            directory: HttpsUrl::parse(LETS_ENCRYPT_DIRECTORY).unwrap(),
            directory_ca: None,
        },
        // A private directory: its root is one more file in Caddy.
        TlsMode::Acme {
            email: None,
            directory: HttpsUrl::parse("https://acme.internal:14000/dir").unwrap(),
            directory_ca: Some(
                CaCertificates::parse(include_str!("../fixtures/private-acme-root.pem")).unwrap(),
            ),
        },
        TlsMode::OwnCertificate {
            cert_file: HostPath::parse("/etc/ssl/stoat/fullchain.pem").unwrap(),
            key_file: HostPath::parse("/etc/ssl/stoat/privkey.pem").unwrap(),
        },
    ];
    let smtp = [
        None,
        Some(SmtpSecurity::ImplicitTls),
        Some(SmtpSecurity::StartTls),
        Some(SmtpSecurity::None),
    ];
    let all_on = Apps {
        api: true,
        events: true,
        autumn: true,
        january: true,
        gifbox: true,
        crond: true,
        pushd: true,
        voice_ingress: true,
        web: true,
    };
    let mut apps = vec![all_on, Apps::default()];
    for i in 0..9 {
        let mut a = all_on;
        let flag = [
            &mut a.api,
            &mut a.events,
            &mut a.autumn,
            &mut a.january,
            &mut a.gifbox,
            &mut a.crond,
            &mut a.pushd,
            &mut a.voice_ingress,
            &mut a.web,
        ];
        *flag.into_iter().nth(i).unwrap() = false;
        apps.push(a);
    }
    let mut out = Vec::new();
    for t in &tls {
        for security in smtp {
            for livekit in [false, true] {
                for a in &apps {
                    let mut c = base.clone();
                    c.tls = t.clone();
                    c.smtp = security.map(|security| Smtp {
                        host: MailHost::parse("smtp.example.com").unwrap(),
                        port: Port::new(587).unwrap(),
                        username: "stoat".into(),
                        password: "pw-1234".into(),
                        from: EmailAddress::parse("noreply@example.com").unwrap(),
                        security,
                    });
                    c.livekit.enabled = livekit;
                    c.apps = *a;
                    c.apps.voice_ingress &= livekit;
                    out.push(c);
                }
            }
        }
    }
    out
}

#[test]
fn every_mounted_file_is_readable_by_whoever_opens_it() {
    let secrets = super::common::secrets();
    let configs = combinations();
    assert!(configs.len() > 200);
    let mut problems = Vec::new();
    for config in &configs {
        let plan = render(config, &secrets);
        docker(&plan, &mut problems);
        compose(&plan, &mut problems);
        kubernetes(&plan, &mut problems);
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_catches_an_unreadable_file() {
    // What Burrow rendered before: Revolt.toml 0600 (exporter-owned in the
    // compose export, root-owned 0400 on Kubernetes), keydb.conf mounted
    // straight at /etc/keydb/keydb.conf.
    let nonroot = Service::Api.image_user().server;
    assert!(!can_read(nonroot, EXPORTER, 0o600));
    assert!(!can_read(nonroot, (0, 0), 0o400));
    assert!(can_read(nonroot, EXPORTER, 0o644));
    let keydb = Service::Redis.image_user();
    assert!(!can_read(keydb.server, keydb.start, 0o600));
    assert!(can_read(keydb.start, EXPORTER, 0o600));
}

#[test]
fn statefulset_pods_resolve_before_they_are_ready() {
    // MongoDB's readiness probe runs rs.initiate with member
    // `database:27017`: the headless Service must publish the pod's address
    // while it is not ready yet, or the replica set never initiates.
    for config in combinations().iter().take(4) {
        let plan = render(config, &super::common::secrets());
        let mut headless = 0;
        for m in plan.kubernetes.iter().filter(|m| m.kind == "Service") {
            let doc: serde_yaml::Value = serde_yaml::from_str(&m.yaml).unwrap();
            if doc["spec"]["clusterIP"].as_str() == Some("None") {
                headless += 1;
                assert_eq!(
                    doc["spec"]["publishNotReadyAddresses"].as_bool(),
                    Some(true),
                    "{}",
                    m.yaml
                );
            }
        }
        assert!(headless >= 3, "database, redis, rabbit are StatefulSets");
        let database = plan
            .kubernetes
            .iter()
            .find(|m| m.kind == "StatefulSet" && m.name == "database")
            .unwrap();
        assert!(
            database.yaml.contains("serviceName: database"),
            "{}",
            database.yaml
        );
    }
}
