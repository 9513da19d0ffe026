//! Loads rendered Revolt.toml files with Stoat's own configuration crate
//! (`revolt-config`), which deserializes `Settings` exactly as every Stoat
//! service does at start-up (and crashes the same way on a bad file).
//!
//! revolt-config reads its sources once per process, from the current
//! directory, so each render is checked in a child process: this test binary
//! runs itself with `--exact child_loads_revolt_toml` and the render
//! directory as its working directory.

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
        std::fs::write(
            dir.path().join("Revolt.toml"),
            &plan.files["Revolt.toml"].content,
        )
        .unwrap();
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
    // What the file says is what Stoat sees (not the embedded defaults).
    let text = std::fs::read_to_string(cwd.join("Revolt.toml")).unwrap();
    let file: toml::Table = text.parse().unwrap();
    assert_eq!(
        Some(settings.database.mongodb.as_str()),
        file["database"]["mongodb"].as_str()
    );
    assert!(settings.database.mongodb.contains("replicaSet=rs0"));
    assert_eq!(
        Some(settings.files.encryption_key.as_str()),
        file["files"]["encryption_key"].as_str()
    );
    assert_eq!(
        Some(settings.pushd.vapid.private_key.as_str()),
        file["pushd"]["vapid"]["private_key"].as_str()
    );
    // The LiveKit node agrees between hosts.livekit and api.livekit.nodes
    // (a missing hosts entry makes the API panic).
    let hosts: Vec<&String> = settings.hosts.livekit.keys().collect();
    let nodes: Vec<&String> = settings.api.livekit.nodes.keys().collect();
    assert_eq!(hosts, nodes);
    for node in settings.api.livekit.nodes.values() {
        assert!(node.secret.len() >= 32);
    }
}
