//! The headless commands of the `burrow` binary.

use std::ffi::OsStr;
use std::process::{Command, Output};

fn burrow<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burrow"))
        .args(args)
        .output()
        .unwrap()
}

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
    let render = [
        OsStr::new("render"),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    let run = burrow(render);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    for file in ["Revolt.toml", "Caddyfile", "livekit.yml", "compose.yml"] {
        assert!(out.join(file).is_file(), "{file} missing; {stderr}");
    }
    assert!(std::fs::read_dir(out.join("kubernetes")).unwrap().count() > 10);
    assert!(dir.path().join("stack.secrets.toml").is_file());

    // Importing the rendered install back gives a config that renders again.
    let imported = dir.path().join("imported.toml");
    let run = burrow([
        OsStr::new("import"),
        "--from".as_ref(),
        "stoat".as_ref(),
        out.as_os_str(),
        "--config".as_ref(),
        imported.as_os_str(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(imported.is_file());

    // A broken config names the field.
    std::fs::write(&config, "domain = \"not a domain!\"\n").unwrap();
    let run = burrow(render);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("domain"));
}
