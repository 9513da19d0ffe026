//! Checks a plan can be applied at all, before a target changes anything:
//! every dependency, file and host source it names exists, and the
//! dependencies have no cycle (one would make services wait forever).

use std::collections::{BTreeMap, BTreeSet};

use stack::render::{Mount, Plan};

use super::DeployError;

/// Checks `plan` (with the host files the deploy provides) is self-consistent.
pub fn check_plan(plan: &Plan, host_files: &BTreeMap<String, Vec<u8>>) -> Result<(), DeployError> {
    let invalid = |message: String| DeployError::InvalidPlan { message };
    let mut names = BTreeSet::new();
    for spec in &plan.services {
        if !names.insert(spec.name.as_str()) {
            return Err(invalid(format!("service {} appears twice", spec.name)));
        }
        if !valid_service_name(&spec.name) {
            return Err(invalid(format!(
                "service name {:?} must be lower-case letters, digits and '-'",
                spec.name
            )));
        }
    }
    for spec in &plan.services {
        for dep in &spec.depends_on {
            if !names.contains(dep.service.as_str()) {
                return Err(invalid(format!(
                    "{} depends on {}, which the plan does not run",
                    spec.name, dep.service
                )));
            }
        }
        for env_file in &spec.env_files {
            if !plan.files.contains_key(env_file) {
                return Err(invalid(format!(
                    "{} reads environment file {env_file}, which the plan does not contain",
                    spec.name
                )));
            }
        }
        for mount in &spec.mounts {
            match mount {
                Mount::File { file, target } if !plan.files.contains_key(file) => {
                    return Err(invalid(format!(
                        "{} mounts file {file} at {target}, which the plan does not contain",
                        spec.name
                    )));
                }
                Mount::Host { source, target }
                    if !host_files.contains_key(source) && !source.starts_with('/') =>
                {
                    return Err(invalid(format!(
                        "{} needs {source} at {target}: provide its content, or use an absolute \
                         path on the Docker host",
                        spec.name
                    )));
                }
                Mount::File { target, .. }
                | Mount::Host { target, .. }
                | Mount::Volume { target, .. }
                    if !target.starts_with('/') =>
                {
                    return Err(invalid(format!(
                        "{} mounts something at {target:?}, which is not an absolute path",
                        spec.name
                    )));
                }
                _ => {}
            }
        }
    }
    if let Some(cycle) = find_cycle(plan) {
        return Err(invalid(format!(
            "these services wait for each other: {}",
            cycle.join(" -> ")
        )));
    }
    Ok(())
}

fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A dependency cycle as service names (first repeated at the end), if any.
fn find_cycle(plan: &Plan) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let index: BTreeMap<&str, usize> = plan
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut marks = vec![Mark::New; plan.services.len()];
    let mut path: Vec<usize> = Vec::new();

    fn visit(
        i: usize,
        plan: &Plan,
        index: &BTreeMap<&str, usize>,
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        match marks[i] {
            Mark::Done => return None,
            Mark::Open => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut names: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| plan.services[p].name.clone())
                    .collect();
                names.push(plan.services[i].name.clone());
                return Some(names);
            }
            Mark::New => {}
        }
        marks[i] = Mark::Open;
        path.push(i);
        for dep in &plan.services[i].depends_on {
            if let Some(&j) = index.get(dep.service.as_str()) {
                if let Some(cycle) = visit(j, plan, index, marks, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }

    (0..plan.services.len()).find_map(|i| visit(i, plan, &index, &mut marks, &mut path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stack::render::{Condition, Dependency};

    fn plan() -> Plan {
        let config =
            stack::parse_stack_toml("domain = \"chat.example.com\"\n[livekit]\nenabled = true\n")
                .expect("valid config")
                .config;
        stack::render(&config, &stack::Secrets::generate().expect("randomness"))
    }

    #[test]
    fn rendered_plan_passes() {
        let plan = plan();
        let mut host = BTreeMap::new();
        host.insert("./tls/cert.pem".to_string(), b"cert".to_vec());
        host.insert("./tls/key.pem".to_string(), b"key".to_vec());
        host.insert("./tls/ca.pem".to_string(), b"ca".to_vec());
        check_plan(&plan, &host).unwrap();
    }

    #[test]
    fn missing_host_file_is_named() {
        let plan = plan();
        let ca = BTreeMap::from([("./tls/ca.pem".to_string(), b"ca".to_vec())]);
        let err = check_plan(&plan, &ca).unwrap_err().to_string();
        assert!(err.contains("caddy needs ./tls/cert.pem"), "{err}");
        // The backends trust Burrow's CA in the self-signed mode.
        let pair = BTreeMap::from([
            ("./tls/cert.pem".to_string(), b"cert".to_vec()),
            ("./tls/key.pem".to_string(), b"key".to_vec()),
        ]);
        let err = check_plan(&plan, &pair).unwrap_err().to_string();
        assert!(err.contains("api needs ./tls/ca.pem"), "{err}");
    }

    #[test]
    fn cycle_is_named() {
        let mut plan = plan();
        let redis = plan
            .services
            .iter()
            .position(|s| s.name == "redis")
            .unwrap();
        plan.services[redis].depends_on.push(Dependency {
            service: "livekit".into(),
            condition: Condition::Started,
        });
        let mut host = BTreeMap::new();
        host.insert("./tls/cert.pem".to_string(), vec![]);
        host.insert("./tls/key.pem".to_string(), vec![]);
        host.insert("./tls/ca.pem".to_string(), vec![]);
        let err = check_plan(&plan, &host).unwrap_err().to_string();
        assert!(
            err.contains("redis -> livekit -> redis")
                || err.contains("livekit -> redis -> livekit"),
            "{err}"
        );
    }

    #[test]
    fn unknown_dependency_is_named() {
        let mut plan = plan();
        plan.services[0].depends_on.push(Dependency {
            service: "nope".into(),
            condition: Condition::Healthy,
        });
        let err = check_plan(&plan, &BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("depends on nope"), "{err}");
    }
}
