//! Loads rendered Revolt.toml files with Stoat's own configuration crate
//! (`revolt-config`), which deserializes `Settings` exactly as every Stoat
//! service does at start-up (and crashes the same way on a bad file).
//!
//! revolt-config reads its sources once per process, from the current
//! directory and the environment, so each render is checked in a child
//! process: this test binary runs itself with `--exact
//! child_loads_revolt_toml`, the render directory as its working directory
//! and the variables of the rendered `secrets.env` as its environment, as
//! the containers get them.

mod common;

use std::process::Command;

const CHILD_ENV: &str = "STACK_REVOLT_CONFIG_CHILD";

#[test]
fn stoat_accepts_every_render() {
    let mut plans: Vec<(String, stack::Plan)> = common::fixtures()
        .into_iter()
        .map(|(name, c)| (name.to_string(), stack::render(&c, &common::secrets())))
        .collect();
    let example = std::fs::read_to_string(common::example_path()).unwrap();
    plans.push(("example".into(), common::render_fixture(&example)));
    for (name, plan) in plans {
        let dir = tempfile::tempdir().unwrap();
        for file in ["Revolt.toml", "secrets.env"] {
            std::fs::write(dir.path().join(file), &plan.files[file].content).unwrap();
        }
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "child_loads_revolt_toml",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .current_dir(dir.path())
        .env(CHILD_ENV, "1");
        // Only the file under test may configure Stoat.
        for (k, _) in std::env::vars() {
            if k.starts_with("REVOLT") || k == "TEST_DB" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(stack::render::dotenv::parse(
            &plan.files["secrets.env"].content,
        ));
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{name}: Stoat rejects the render:\n{text}"
        );
        assert!(
            text.contains("1 passed"),
            "{name}: the child did not run:\n{text}"
        );
    }
}

/// Runs only as the child of `stoat_accepts_every_render`.
#[test]
#[ignore = "run by stoat_accepts_every_render in a child process"]
fn child_loads_revolt_toml() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let cwd = std::env::current_dir().unwrap();
    assert!(cwd.join("Revolt.toml").exists());
    let settings = pollster::block_on(revolt_config::read())
        .try_deserialize::<revolt_config::Settings>()
        .unwrap_or_else(|e| panic!("Settings deserialize failed: {e}"));
    // What the file and secrets.env say is what Stoat sees (not the
    // embedded defaults), and no secret is in the file.
    let text = std::fs::read_to_string(cwd.join("Revolt.toml")).unwrap();
    let file: toml::Table = text.parse().unwrap();
    let env: std::collections::BTreeMap<String, String> =
        stack::render::dotenv::parse(&std::fs::read_to_string(cwd.join("secrets.env")).unwrap())
            .into_iter()
            .collect();
    let var = |key: &str| env[&stack::render::revolt_env_name(key)].as_str();
    assert_eq!(settings.database.mongodb, var("database.mongodb"));
    assert_eq!(settings.database.redis, var("database.redis"));
    assert!(settings.database.mongodb.contains("replicaSet=rs0"));
    assert_eq!(settings.files.encryption_key, var("files.encryption_key"));
    assert_eq!(
        settings.files.s3.secret_access_key,
        var("files.s3.secret_access_key")
    );
    assert_eq!(settings.rabbit.password, var("rabbit.password"));
    assert_eq!(
        settings.pushd.vapid.private_key,
        var("pushd.vapid.private_key")
    );
    assert_eq!(
        Some(settings.pushd.vapid.public_key.as_str()),
        file["pushd"]["vapid"]["public_key"].as_str()
    );
    for (name, value) in env.iter().filter(|(_, v)| !v.is_empty()) {
        assert!(
            !text.contains(value.as_str()),
            "{name}'s value is in Revolt.toml"
        );
    }
    // E-mail: the transport Stoat's create_transport builds from the two
    // flags is encrypted unless the file says use_tls = false.
    let smtp = &settings.api.smtp;
    if !smtp.host.is_empty() {
        assert_eq!(smtp.password, var("api.smtp.password"));
        assert!(smtp.use_tls.is_some() && smtp.use_starttls.is_some());
    }
    // A service that does not run is not advertised.
    let hosts_file = file["hosts"].as_table().unwrap();
    for key in ["autumn", "january", "events"] {
        assert_eq!(
            Some(match key {
                "autumn" => settings.hosts.autumn.as_str(),
                "january" => settings.hosts.january.as_str(),
                _ => settings.hosts.events.as_str(),
            }),
            hosts_file[key].as_str()
        );
    }
    // The LiveKit node agrees between hosts.livekit and api.livekit.nodes
    // (a missing hosts entry makes the API panic).
    let hosts: Vec<&String> = settings.hosts.livekit.keys().collect();
    let nodes: Vec<&String> = settings.api.livekit.nodes.keys().collect();
    assert_eq!(hosts, nodes);
    for node in settings.api.livekit.nodes.values() {
        assert!(node.secret.len() >= 32);
    }
}
