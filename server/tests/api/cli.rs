//! The headless commands of the `burrow` binary.

use std::process::Command;

#[test]
fn render_and_import_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stack.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/stack.toml"),
        &config,
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_burrow"))
        .arg("render")
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    for file in ["Revolt.toml", "Caddyfile", "livekit.yml", "compose.yml"] {
        assert!(out.join(file).is_file(), "{file} missing; {stderr}");
    }
    assert!(std::fs::read_dir(out.join("kubernetes")).unwrap().count() > 10);
    assert!(dir.path().join("stack.secrets.toml").is_file());

    // Importing the rendered install back gives a config that renders again.
    let imported = dir.path().join("imported.toml");
    let run = Command::new(env!("CARGO_BIN_EXE_burrow"))
        .args(["import", "--from", "stoat"])
        .arg(&out)
        .arg("--config")
        .arg(&imported)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(imported.is_file());

    // A broken config names the field.
    std::fs::write(&config, "domain = \"not a domain!\"\n").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_burrow"))
        .arg("render")
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("domain"));
}
