//! The file-level entry points the `burrow` binary calls: the annotated
//! example renders, `render_to_dir` keeps its secrets, imports round-trip.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use stack::cli::{self, ImportArgs, ImportSource, RenderArgs};
use stack::files;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn example_turns_everything_on_and_renders() {
    let text = fs::read_to_string(common::example_path()).unwrap();
    let parsed = stack::parse_stack_toml(&text).unwrap_or_else(|e| panic!("{e:#?}"));
    let c = &parsed.config;
    // Everything on: only the warning that gifbox has no Tenor key.
    let fields: Vec<&str> = parsed.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["apps.gifbox"], "{:#?}", parsed.warnings);
    assert!(c.livekit.enabled && c.smtp.is_some());
    assert_eq!(c.registration, stack::model::Registration::InviteOnly);
    for s in stack::Service::ALL {
        assert!(c.runs(s), "{} is off in the example", s.name());
    }
}

#[test]
fn render_to_dir_creates_secrets_once_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stack.toml");
    fs::copy(common::example_path(), &config).unwrap();
    let out = dir.path().join("out");
    let args = RenderArgs {
        config: config.clone(),
        out: out.clone(),
        namespace: stack::render::NAMESPACE.into(),
    };
    let report = cli::run_render(&args).unwrap();
    let secrets_file = dir.path().join("stack.secrets.toml");
    assert_eq!(report.secrets_file, secrets_file);
    assert_eq!(mode(&secrets_file), 0o600);
    for f in ["Revolt.toml", "Caddyfile", "livekit.yml", "compose.yml"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Revolt.toml holds no secret and is readable by the images' users;
    // the secrets are in secrets.env, which only docker-compose reads.
    assert_eq!(mode(&out.join("Revolt.toml")), 0o644);
    assert_eq!(mode(&out.join("secrets.env")), 0o600);
    assert_eq!(mode(&out.join("Caddyfile")), 0o644);
    let kube: Vec<_> = fs::read_dir(out.join("kubernetes")).unwrap().collect();
    assert!(kube.len() > 30);
    let secret_manifest = out.join("kubernetes/01-secret-stoat-config.yaml");
    assert_eq!(mode(&secret_manifest), 0o600);
    let namespace = fs::read_to_string(out.join("kubernetes/00-namespace-stoat.yaml")).unwrap();
    assert!(namespace.contains("name: stoat\n"), "{namespace}");

    // Another namespace: every object in it, the Namespace named after it,
    // nothing else different.
    let elsewhere = dir.path().join("elsewhere");
    cli::run_render(&RenderArgs {
        config: config.clone(),
        out: elsewhere.clone(),
        namespace: "team-chat".into(),
    })
    .unwrap();
    let namespace =
        fs::read_to_string(elsewhere.join("kubernetes/00-namespace-team-chat.yaml")).unwrap();
    assert!(namespace.contains("name: team-chat\n"), "{namespace}");
    assert!(!elsewhere
        .join("kubernetes/00-namespace-stoat.yaml")
        .exists());
    let deployment = |dir: &std::path::Path| {
        let found = fs::read_dir(dir.join("kubernetes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-deployment-api.yaml"))
            .unwrap();
        fs::read_to_string(found).unwrap()
    };
    let (here, there) = (deployment(&out), deployment(&elsewhere));
    assert!(there.contains("namespace: team-chat\n") && !there.contains("namespace: stoat"));
    assert_eq!(
        there.replace("namespace: team-chat", "namespace: stoat"),
        here
    );

    let first = fs::read(out.join("Revolt.toml")).unwrap();
    let secrets_before = fs::read(&secrets_file).unwrap();
    cli::run_render(&args).unwrap();
    assert_eq!(fs::read(&secrets_file).unwrap(), secrets_before);
    assert_eq!(fs::read(out.join("Revolt.toml")).unwrap(), first);

    // A broken config is reported per field, and nothing is generated.
    fs::write(&config, "domain = 'x..y'\n[smtp]\nport = 0\n").unwrap();
    match files::render_to_dir(&config, &dir.path().join("other"), "stoat") {
        Err(files::FilesError::Invalid { issues, .. }) => {
            let fields: Vec<_> = issues.iter().map(|i| i.field.as_str()).collect();
            assert!(
                fields.contains(&"domain") && fields.contains(&"smtp.port"),
                "{fields:?}"
            );
        }
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[test]
fn import_self_hosted_then_render() {
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("self-hosted");
    fs::create_dir(&install).unwrap();
    // The shape generate_config.sh writes.
    fs::write(
        install.join("Revolt.toml"),
        "[hosts]\napp = \"https://chat.example.com\"\napi = \"https://chat.example.com/api\"\n\
         events = \"wss://chat.example.com/ws\"\nautumn = \"https://chat.example.com/autumn\"\n\
         january = \"https://chat.example.com/january\"\n\n[hosts.livekit]\nworldwide = \"wss://chat.example.com/livekit\"\n\n\
         [api.livekit.nodes.worldwide]\nurl = \"http://livekit:7880\"\nlat = 0.0\nlon = 0.0\n",
    )
    .unwrap();
    let old = common::secrets();
    fs::write(
        install.join("secrets.env"),
        format!(
            "REVOLT__PUSHD__VAPID__PRIVATE_KEY='{}'\nREVOLT__PUSHD__VAPID__PUBLIC_KEY='{}'\n\
             REVOLT__FILES__ENCRYPTION_KEY='{}'\nREVOLT__API__LIVEKIT__NODES__WORLDWIDE__SECRET='{}'\n\
             REVOLT__API__LIVEKIT__NODES__WORLDWIDE__KEY='{}'\n",
            old.vapid.private_key(),
            old.vapid.public_key(),
            old.files_encryption_key.expose(),
            old.livekit_secret.expose(),
            old.livekit_key.expose()
        ),
    )
    .unwrap();
    let config = dir.path().join("stack.toml");
    let args = ImportArgs {
        from: ImportSource::Stoat,
        path: install.clone(),
        config: config.clone(),
    };
    let notes = cli::run_import(&args).unwrap();
    assert!(notes.iter().any(|n| n.field == "Revolt.toml:database"));
    let secrets = stack::Secrets::from_toml(
        &fs::read_to_string(dir.path().join("stack.secrets.toml")).unwrap(),
    )
    .unwrap();
    assert_eq!(secrets.files_encryption_key, old.files_encryption_key);
    assert_eq!(secrets.vapid, old.vapid);
    // Importing again must not replace the kept secrets.
    assert!(matches!(
        cli::run_import(&args),
        Err(files::FilesError::WouldOverwrite { .. })
    ));
    // The written stack.toml is valid and renders with the imported secrets.
    let report = files::render_to_dir(&config, &dir.path().join("out"), "stoat").unwrap();
    let revolt = fs::read_to_string(dir.path().join("out/Revolt.toml")).unwrap();
    assert!(!revolt.contains(old.files_encryption_key.expose()));
    let env = fs::read_to_string(dir.path().join("out/secrets.env")).unwrap();
    assert!(env.contains(&format!(
        "REVOLT__FILES__ENCRYPTION_KEY={}\n",
        old.files_encryption_key.expose()
    )));
    assert!(revolt.contains("[hosts.livekit]\nworldwide = \"wss://chat.example.com/livekit\""));
    assert!(report.warnings.iter().all(|w| !w.is_error()));
}

#[test]
fn import_platform_environment() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    fs::create_dir(&envs).unwrap();
    fs::write(
        envs.join("prod.yaml"),
        "domain: chat.example.com\ntls:\n  issuer: letsencrypt\nadminEmail: ops@example.com\n\
         secretSeed: \"0123456789abcdef0123456789abcdef0123456789abcdef\"\n",
    )
    .unwrap();
    let s = common::secrets();
    fs::write(
        envs.join("vapid.secret.yaml"),
        format!(
            "vapid:\n  privateKey: \"{}\"\n  publicKey: \"{}\"\n",
            s.vapid.private_key(),
            s.vapid.public_key()
        ),
    )
    .unwrap();
    fs::write(
        envs.join("files.secret.yaml"),
        format!(
            "files:\n  encryptionKey: \"{}\"\n",
            s.files_encryption_key.expose()
        ),
    )
    .unwrap();
    let imported = files::import_platform_env(&envs.join("prod.yaml")).unwrap();
    // Same seed, same ids: the platform's credentials exactly.
    assert_eq!(imported.secrets.mongo_user_password, s.mongo_user_password);
    assert_eq!(imported.secrets.rabbit_password, s.rabbit_password);
    assert_eq!(imported.secrets.livekit_key, s.livekit_key);
    assert_eq!(imported.secrets.vapid, s.vapid);
    assert_eq!(
        imported.secrets.files_encryption_key,
        s.files_encryption_key
    );
    assert!(matches!(
        imported.config.tls,
        stack::model::TlsMode::Acme { email: Some(_), .. }
    ));
    assert_eq!(imported.config.target, stack::model::TargetKind::Kubernetes);
}
