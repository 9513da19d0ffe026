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
    // A namespace that cannot be one is refused, naming the flag; nothing
    // is written.
    let bad = dir.path().join("bad");
    let run = burrow(render.iter().take(3).copied().chain([
        OsStr::new("--out"),
        bad.as_os_str(),
        OsStr::new("--namespace"),
        OsStr::new("Team_Chat"),
    ]));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("--namespace") && stderr.contains("lowercase"),
        "{stderr}"
    );
    assert!(!bad.exists());

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

/// Runs `sh -c script` and returns its stdout.
fn sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the stack's containers, network and volumes when dropped, with
/// the docker CLI (independent of the code under test).
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let s = self.0;
        sh(&format!(
            "docker ps -aq --filter label=burrow.stack={s} | xargs -r docker rm -f >/dev/null; \
             docker network rm {s} >/dev/null 2>&1; \
             docker volume ls -q --filter label=burrow.stack={s} | xargs -r docker volume rm >/dev/null"
        ));
    }
}

/// Builds the test-kit images once per test binary, under the file lock
/// the engine's tests take too (two builds at once trip over each other).
fn kit_images() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let built = Command::new("flock")
            .arg("/tmp/burrow-testkit-build.lock")
            .arg(root.join("testkit/build-images.sh"))
            .current_dir(&root)
            .output()
            .expect("flock and testkit/build-images.sh run");
        assert!(
            built.status.success(),
            "testkit/build-images.sh failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    });
}

/// Service -> container id of a stack, as the daemon holds them.
fn containers(stack: &str) -> std::collections::BTreeMap<String, String> {
    sh(&format!(
        "docker ps -a --filter label=burrow.stack={stack} \
         --format '{{{{.Label \"burrow.service\"}}}} {{{{.ID}}}} {{{{.State}}}}'"
    ))
    .lines()
    .filter_map(|l| {
        let mut parts = l.split_whitespace();
        let service = parts.next()?.to_owned();
        let id = parts.next()?.to_owned();
        Some((service, format!("{id} {}", parts.next().unwrap_or(""))))
    })
    .collect()
}

/// Service -> the config hash Burrow labelled its container with.
fn hashes(stack: &str) -> std::collections::BTreeMap<String, String> {
    sh(&format!(
        "docker ps -a --filter label=burrow.stack={stack} \
         --format '{{{{.Label \"burrow.service\"}}}} {{{{.Label \"burrow.config-hash\"}}}}'"
    ))
    .lines()
    .filter_map(|l| {
        let (service, hash) = l.split_once(' ')?;
        Some((service.to_owned(), hash.to_owned()))
    })
    .collect()
}

#[test]
fn apply_and_down_the_test_kit_stack_from_the_command_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    kit_images();

    // The test kit's stack under its own name and ports.
    const STACK: &str = "burrow-clitest";
    let _cleanup = Cleanup(STACK);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stack.toml");
    let kit = std::fs::read_to_string(root.join("testkit/stack.toml")).unwrap();
    let write = |off: &[&str]| {
        let text: String = kit
            .lines()
            .map(|line| match line.split_once('=').map(|(k, _)| k.trim()) {
                Some("name") => format!("name = \"{STACK}\""),
                Some("http_port") => "http_port = 22080".to_owned(),
                Some("https_port") => "https_port = 22443".to_owned(),
                Some("tcp_port") => "tcp_port = 22881".to_owned(),
                Some("udp_ports") => "udp_ports = \"22900-22904\"".to_owned(),
                // [apps] toggles (the [images] keys are quoted strings).
                Some(app) if off.contains(&app) && line.ends_with("= true") => {
                    format!("{app} = false")
                }
                _ => line.to_owned(),
            })
            .map(|l| l + "\n")
            .collect();
        std::fs::write(&config, text).unwrap();
    };
    // (stdout, stderr) of `burrow ARGS` on this test's data dir.
    let bare = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_burrow"))
            .env("BURROW_DATA_DIR", dir.path().join("data"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "burrow {args:?} failed:\n{stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    let run = |args: &[&str]| {
        let config = config.to_str().unwrap();
        let mut all = args.to_vec();
        all.extend(["--config", config]);
        bare(&all).1
    };

    write(&[]);
    let first = run(&["apply"]);
    assert!(first.contains("Applying revision 1 (new)"), "{first}");
    assert!(first.contains("16 created, 0 recreated"), "{first}");
    assert!(first.contains("api  ✓ healthy after"), "{first}");
    assert!(
        first.contains("✓ /api/: the API answers through Caddy"),
        "{first}"
    );
    let deployed = containers(STACK);
    let first_hashes = hashes(STACK);
    assert_eq!(deployed.len(), 16, "{deployed:#?}");
    for (service, state) in &deployed {
        let want = if service == "createbuckets" {
            "exited"
        } else {
            "running"
        };
        assert!(state.ends_with(want), "{service}: {state}");
    }

    // Again, unchanged: same revision, no container touched.
    let again = run(&["apply"]);
    assert!(again.contains("Applying revision 1 of"), "{again}");
    assert!(
        again.contains("0 created, 0 recreated, 16 unchanged, 0 removed"),
        "{again}"
    );
    assert_eq!(containers(STACK), deployed);

    // gifbox off: a new revision removes just that container.
    write(&["gifbox"]);
    let off = run(&["apply"]);
    assert!(off.contains("Applying revision 2 (new)"), "{off}");
    assert!(off.contains("1 removed"), "{off}");
    let now = containers(STACK);
    let off_hashes = hashes(STACK);
    assert!(!now.contains_key("gifbox"));
    assert_eq!(now.len(), 15);

    // The history as a table, and the two revisions compared.
    let (table, _) = bare(&["revisions"]);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("REV"), "{table}");
    assert!(
        rows[1].starts_with('2') && rows[1].contains("deployed"),
        "{table}"
    );
    assert!(rows[1].contains("Gifbox turned off"), "{table}");
    assert!(
        rows[2].starts_with('1') && rows[2].contains("First revision"),
        "{table}"
    );
    assert!(rows[2].contains("succeeded"), "{table}");
    let (diff, _) = bare(&["revisions", "diff", "1", "2"]);
    assert!(diff.contains("--- Caddyfile (revision 1)"), "{diff}");
    assert!(
        diff.lines()
            .any(|l| l.starts_with('-') && l.contains("gifbox")),
        "{diff}"
    );
    assert!(!diff.contains("hunter2"), "{diff}");

    // Back to revision 1: gifbox is back and every container is what
    // revision 1 rendered the first time (same config hashes); services
    // whose files and environment are the same in both revisions are not
    // touched (Revolt.toml has no gifbox entry: the backends stay).
    let (_, back) = bare(&["apply", "--revision", "1"]);
    assert!(back.contains("Applying revision 1 of stack"), "{back}");
    let restored = containers(STACK);
    assert!(restored.contains_key("gifbox"), "{restored:#?}");
    assert_eq!(
        hashes(STACK),
        first_hashes,
        "revision 1 renders the same bytes again"
    );
    let same: Vec<&String> = first_hashes
        .iter()
        .filter(|(s, h)| off_hashes.get(*s) == Some(h))
        .map(|(s, _)| s)
        .collect();
    assert!(same.iter().any(|s| *s == "database"), "{same:?}");
    // Gifbox reaches two other services: Caddy's routes and the web app's
    // VITE_GIFBOX_URL (stack/src/render/{caddy,services}.rs). Everything
    // else renders the same in both revisions, so only those two change.
    let differing: std::collections::BTreeSet<&str> = off_hashes
        .iter()
        .filter(|(s, h)| first_hashes.get(*s) != Some(h))
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(
        differing,
        ["caddy", "web"].into_iter().collect(),
        "{first_hashes:#?}\n{off_hashes:#?}"
    );
    for service in &same {
        assert_eq!(
            restored.get(*service),
            now.get(*service),
            "{service} was recreated"
        );
    }
    let changed = 15 - same.len();
    assert!(
        back.contains(&format!(
            "1 created, {changed} recreated, {} unchanged, 0 removed",
            same.len()
        )),
        "{back}"
    );
    let (table, _) = bare(&["revisions"]);
    assert!(
        table.lines().nth(2).unwrap().contains("deployed"),
        "{table}"
    );
    // An unknown revision is one sentence, nothing started.
    let missing = Command::new(env!("CARGO_BIN_EXE_burrow"))
        .env("BURROW_DATA_DIR", dir.path().join("data"))
        .args(["apply", "--revision", "42"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no revision 42"));
    // And forward again to revision 2: the same containers as its first
    // deploy, by config hash; the untouched services keep theirs.
    let (_, forward) = bare(&["apply", "--revision", "2"]);
    assert!(
        forward.contains(&format!(
            "0 created, {changed} recreated, {} unchanged, 1 removed",
            same.len()
        )),
        "{forward}"
    );
    assert_eq!(hashes(STACK), off_hashes);

    // A backup from the shell: listed, with the data volumes.
    let (none, _) = bare(&["backup", "list"]);
    assert!(none.starts_with("No backups yet"), "{none}");
    let (taken, _) = bare(&["backup", "create"]);
    assert!(
        taken.starts_with("Backup ") && taken.contains("revision 2 and 5 volume(s)"),
        "{taken}"
    );
    let (list, _) = bare(&["backup", "list"]);
    let id = taken.split_whitespace().nth(1).unwrap();
    assert!(
        list.starts_with(id) && list.contains("revision 2  5 volume(s)"),
        "{list}"
    );
    let after = containers(STACK);
    assert_eq!(after.len(), 15, "{after:#?}");
    for (service, state) in &after {
        let want = if service == "createbuckets" {
            "exited"
        } else {
            "running"
        };
        assert!(state.ends_with(want), "{service} after the backup: {state}");
    }

    // The console's Backups page lists the same backup; restoring it from
    // there asks for the confirmation beside its box first (nothing
    // happens), an unknown one is a 404, then it runs on the console's own
    // task and ends succeeded with every service up again.
    let data = dir.path().join("data");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use crate::helpers::*;
        use reqwest::StatusCode;
        let console = spawn_app_with(|s| s.data_dir = data.clone()).await;
        let token = std::fs::read_to_string(data.join("setup-token")).unwrap();
        let res = console.setup(token.trim(), ADMIN, PASSWORD).await;
        let cookie = session_cookie(&res).expect("setup signs the admin in");
        let page = console
            .get("/backups", Some(&cookie))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains(id) && page.contains("Back up now"), "{page}");
        let unconfirmed = console
            .call("/api/backups/restore", &[("id", id)], Some(&cookie))
            .await;
        assert_status(&unconfirmed, StatusCode::UNPROCESSABLE_ENTITY);
        let body = json(unconfirmed).await;
        assert_eq!(body["Invalid"]["field"], format!("confirm-{id}"), "{body}");
        let unknown = console
            .call(
                "/api/backups/restore",
                &[("id", "20200101-000000-r1"), ("confirm", "on")],
                Some(&cookie),
            )
            .await;
        assert_status(&unknown, StatusCode::NOT_FOUND);
        let view = json(console.call("/api/backups", &[], Some(&cookie)).await).await;
        assert!(
            view["running"].is_null() && view["last"]["kind"] == "backup",
            "{view}"
        );
        let started = console
            .call(
                "/api/backups/restore",
                &[("id", id), ("confirm", "on")],
                Some(&cookie),
            )
            .await;
        assert!(
            started.status().is_success() || started.status().is_redirection(),
            "{}",
            started.status()
        );
        let store = engine::Store::open(&data).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        let view = loop {
            let view = json(console.call("/api/backups", &[], Some(&cookie)).await).await;
            // The restore ends with a deployment of the backup's revision.
            let latest = store.recent_deployments(1).await.unwrap();
            if view["running"].is_null()
                && view["last"]["kind"] == "restore"
                && latest.first().is_some_and(|d| d.kind == "apply")
            {
                break view;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the restore did not end: {view}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        assert_eq!(view["last"]["status"], "succeeded", "{view}");
        assert!(
            view["last"]["summary"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("backup {id} restored")),
            "{view}"
        );
    });
    for (service, state) in &containers(STACK) {
        let want = if service == "createbuckets" {
            "exited"
        } else {
            "running"
        };
        assert!(
            state.ends_with(want),
            "{service} after the restore: {state}"
        );
    }

    // Without autumn and crond, MinIO goes too; asked to, so does its data.
    let volumes = |s: &str| {
        sh(&format!(
            "docker volume ls -q --filter label=burrow.stack={s}"
        ))
    };
    assert!(volumes(STACK).contains("burrow-clitest_minio-data"));
    write(&["gifbox", "autumn", "crond"]);
    let pruned = run(&["apply", "--prune-volumes"]);
    assert!(pruned.contains("Applying revision 3 (new)"), "{pruned}");
    assert!(pruned.contains("4 removed, 1 volume deleted"), "{pruned}");
    assert!(
        pruned.contains("volumes  ✓ deleted burrow-clitest_minio-data"),
        "{pruned}"
    );
    assert!(!volumes(STACK).contains("minio-data"));
    assert_eq!(containers(STACK).len(), 11);

    // down keeps the volumes unless asked.
    assert!(!volumes(STACK).trim().is_empty(), "the stack has volumes");
    let down = run(&["down"]);
    assert!(down.contains("(volumes kept)"), "{down}");
    assert!(containers(STACK).is_empty());
    assert!(!volumes(STACK).trim().is_empty(), "down kept the volumes");
    let gone = run(&["down", "--volumes"]);
    assert!(gone.contains("and its volumes"), "{gone}");
    assert!(
        volumes(STACK).trim().is_empty(),
        "down --volumes removed them"
    );
}

/// `burrow release` makes a channel a second Burrow checks with `burrow
/// update check`: the published release, then the refusals as sentences
/// with exit 1 (nothing configured; one byte of release.json changed).
#[test]
fn release_publishes_a_channel_and_update_check_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let chan = dir.path().join("chan");
    let ok = |out: Output| {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = ok(burrow([
        "release".as_ref(),
        "init".as_ref(),
        chan.as_os_str(),
        "--root-keys".as_ref(),
        "3".as_ref(),
        "--threshold".as_ref(),
        "2".as_ref(),
    ]));
    assert!(said.starts_with("Channel \"stable\" made."), "{said}");
    let images: serde_json::Map<String, serde_json::Value> = engine::update::release::services()
        .into_iter()
        .map(|s| {
            (
                s.to_owned(),
                format!("127.0.0.1:5000/stoat/{s}@sha256:{}", "c3".repeat(32)).into(),
            )
        })
        .collect();
    let images_file = dir.path().join("images.json");
    std::fs::write(&images_file, serde_json::to_vec(&images).unwrap()).unwrap();
    let notes = dir.path().join("notes.md");
    std::fs::write(&notes, "Faster *everything*.").unwrap();
    // Its migrations and health overrides come from files too; a data
    // migration without the backup that rolls it back is refused.
    let migrations = dir.path().join("migrations.json");
    std::fs::write(
        &migrations,
        r#"[{"id": "db-53", "description": "MongoDB schema revision 53", "kind": "data"}]"#,
    )
    .unwrap();
    let health = dir.path().join("health.json");
    std::fs::write(&health, r#"{"api": {"deadline_s": 240}}"#).unwrap();
    let add = |extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "release".as_ref(),
            "add".as_ref(),
            chan.as_os_str(),
            "--version".as_ref(),
            "0.16.3".as_ref(),
            "--images".as_ref(),
            images_file.as_os_str(),
            "--notes".as_ref(),
            notes.as_os_str(),
            "--migrations".as_ref(),
            migrations.as_os_str(),
            "--health".as_ref(),
            health.as_os_str(),
        ];
        args.extend_from_slice(extra);
        burrow(args)
    };
    let refused = add(&["--no-backup".as_ref()]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("without requires_backup"), "{why}");
    let said = ok(add(&[]));
    assert!(
        said.starts_with("Release 0.16.3 (sequence 1) staged"),
        "{said}"
    );
    ok(burrow([
        "release".as_ref(),
        "sign".as_ref(),
        chan.as_os_str(),
    ]));
    let published: Vec<serde_json::Value> = std::fs::read_dir(chan.join("channel/targets"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0]["migrations"][0]["kind"], "data");
    assert_eq!(published[0]["health"]["api"]["deadline_s"], 240);
    assert_eq!(
        published[0]["sequence"], 1,
        "the refused add staged nothing"
    );

    let data = dir.path().join("data");
    let root = chan.join("channel/metadata/1.root.json");
    let url = format!("file://{}", chan.join("channel").display());
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_burrow"))
            .args(["update", "check"])
            .env("BURROW_DATA_DIR", &data)
            .env("BURROW_CHANNEL_URL", &url)
            .env("BURROW_CHANNEL_ROOT", &root)
            .output()
            .unwrap()
    };
    let said = ok(check());
    assert!(
        said.starts_with("Release 0.16.3 (sequence 1) of channel \"stable\" is available")
            && said.contains("Faster *everything*."),
        "{said}"
    );

    // Nothing configured: what to set.
    let out = Command::new(env!("CARGO_BIN_EXE_burrow"))
        .args(["update", "check"])
        .env("BURROW_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No update channel is set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One byte of the published release changed: refused, exit 1.
    let target = std::fs::read_dir(chan.join("channel/targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let text = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, text.replace("0.16.3", "0.16.4")).unwrap();
    let out = check();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("release.json does not match the hash"),
        "{err}"
    );
}

/// Burrow in a container beside the daemon's socket (as
/// manifests/compose.yml runs it, non-root with the socket's group):
/// `burrow apply` from inside deploys the test kit, its probes reach every
/// container (Burrow joins the stack's network) and the chat server
/// answers through Caddy, reached by its container name there, not the
/// host's loopback. The image is this build's binary on an empty base.
#[test]
fn burrow_in_a_container_deploys_and_probes_the_stack_on_its_network() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    kit_images();
    const STACK: &str = "burrow-incontainer";
    let _cleanup = Cleanup(STACK);
    let image = format!("burrow-selftest:{}", std::process::id());
    let site = tempfile::tempdir().unwrap();
    let out = Command::new(root.join("testkit/burrow-image.sh"))
        .args([
            env!("CARGO_BIN_EXE_burrow"),
            site.path().to_str().unwrap(),
            &image,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building {image} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _image = ImageCleanup(image.clone());

    let work = tempfile::tempdir().unwrap();
    sh(&format!("chmod 0777 {}", work.path().display()));
    let kit = std::fs::read_to_string(root.join("testkit/stack.toml")).unwrap();
    let text: String = kit
        .lines()
        .map(|line| match line.split_once('=').map(|(k, _)| k.trim()) {
            Some("name") => format!("name = \"{STACK}\""),
            Some("http_port") => "http_port = 23080".to_owned(),
            Some("https_port") => "https_port = 23443".to_owned(),
            Some("tcp_port") => "tcp_port = 23881".to_owned(),
            Some("udp_ports") => "udp_ports = \"23900-23904\"".to_owned(),
            _ => line.to_owned(),
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(work.path().join("stack.toml"), text).unwrap();
    let run = |args: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker run --rm --user 10001:10001 \
                   --group-add $(stat -c %g /var/run/docker.sock) \
                   -v /var/run/docker.sock:/var/run/docker.sock -v {w}:/kit \
                   -e BURROW_DATA_DIR=/kit/data {image} {args}",
                w = work.path().display()
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "burrow {args} in a container failed:\n{stderr}"
        );
        stderr
    };
    let applied = run("apply --config /kit/stack.toml");
    assert!(applied.contains("16 created"), "{applied}");
    assert!(applied.contains("api  ✓ healthy after"), "{applied}");
    for probe in [
        "✓ /api/: the API answers through Caddy",
        "✓ /.well-known/stoat: the discovery document answers through Caddy",
    ] {
        assert!(applied.contains(probe), "{probe}: {applied}");
    }
    assert_eq!(containers(STACK).len(), 16);
    let down = run("down --volumes --config /kit/stack.toml");
    assert!(down.contains("and its volumes"), "{down}");
    assert!(containers(STACK).is_empty());
    assert!(
        sh(&format!("docker network ls -q --filter name=^{STACK}$"))
            .trim()
            .is_empty(),
        "the stack's network is gone"
    );
}

struct ImageCleanup(String);

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        sh(&format!("docker rmi -f {} >/dev/null 2>&1 || true", self.0));
    }
}

/// A Kubernetes stack.toml from the command line: deployed with the
/// kubeconfig given (kept with the revision, so the deploy goes to that
/// cluster: here none answers, which it says), one that would run a program
/// refused, and the Kubernetes flags refused for a Docker config.
#[test]
fn a_kubernetes_config_deploys_with_the_kubeconfig_given() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stack.toml");
    std::fs::write(
        &config,
        "domain = \"chat.example.com\"\ntarget = \"kubernetes\"\n",
    )
    .unwrap();
    let kubeconfig = |user: &str| {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\n\
             users:\n- name: u\n  user:\n{user}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
             current-context: x\n"
        )
    };
    let file = dir.path().join("kubeconfig");
    let apply = |extra: &[&str]| {
        let mut args = vec!["apply", "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_burrow"))
            .env("BURROW_DATA_DIR", dir.path().join("data"))
            .args(&args)
            .output()
            .unwrap()
    };
    std::fs::write(&file, kubeconfig("    token: abc")).unwrap();
    let out = apply(&[
        "--kubeconfig",
        file.to_str().unwrap(),
        "--namespace",
        "team-chat",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("Applying revision 1 (new)"), "{err}");
    // The revision's own kubeconfig reached for its cluster (which does
    // not answer), in the namespace given.
    assert!(err.contains("reading namespace team-chat failed"), "{err}");
    assert!(!err.contains("without a kubeconfig"), "{err}");
    assert!(!err.contains("abc"), "the token is never shown: {err}");

    std::fs::write(
        &file,
        kubeconfig(
            "    exec:\n      command: aws\n      apiVersion: client.authentication.k8s.io/v1",
        ),
    )
    .unwrap();
    let out = apply(&["--kubeconfig", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("`aws`"), "{err}");

    std::fs::write(&config, "domain = \"chat.example.com\"\n").unwrap();
    let out = apply(&["--namespace", "x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("are for a Kubernetes target"), "{err}");
}
