//! The rendered files pass the real tools: `caddy validate`,
//! `docker-compose config` and `kubernetes-validate` (OpenAPI schema,
//! strict). These tools are installed by scripts/setup-test-tools.sh; a
//! missing tool fails the test, it does not skip it.

mod common;

use std::path::Path;
use std::process::Command;

use stack::render::{ACME_CA_ROOT_FILE, ACME_CA_ROOT_PATH, TLS_CERT_PATH, TLS_KEY_PATH};
use stack::Plan;

/// The Kubernetes version of k8s-openapi's `v1_34` feature.
const KUBERNETES_VERSION: &str = "1.34.0";

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} could not run ({e}); run scripts/setup-test-tools.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

fn plans() -> Vec<(String, Plan)> {
    let mut plans: Vec<(String, Plan)> = common::fixtures()
        .into_iter()
        .map(|(name, c)| (name.to_string(), stack::render(&c, &common::secrets())))
        .collect();
    let example = std::fs::read_to_string(common::example_path()).unwrap();
    plans.push(("example".into(), common::render_fixture(&example)));
    // A private ACME directory with its own root (Caddy loads the file).
    let private = format!(
        "domain = \"stoat.burrow.test\"\n[tls]\nmode = \"acme\"\n\
         directory = \"https://172.17.0.1:14000/dir\"\ndirectory_ca = \"\"\"\n{}\"\"\"\n",
        include_str!("fixtures/private-acme-root.pem")
    );
    plans.push(("private_acme".into(), common::render_fixture(&private)));
    plans
}

/// A throwaway certificate so Caddy can load the TLS files it is told about.
fn make_cert(dir: &Path) {
    run(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=test",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem")),
        "openssl",
    );
}

#[test]
fn caddyfiles_validate() {
    for (name, plan) in plans() {
        let dir = tempfile::tempdir().unwrap();
        make_cert(dir.path());
        // The deploy mounts the certificate at a fixed path; point the copy
        // under test at real files instead (the only change made).
        let root = dir.path().join(ACME_CA_ROOT_FILE);
        if let Some(file) = plan.files.get(ACME_CA_ROOT_FILE) {
            std::fs::write(&root, &file.content).unwrap();
        }
        let caddyfile = plan.files["Caddyfile"]
            .content
            .replace(TLS_CERT_PATH, dir.path().join("cert.pem").to_str().unwrap())
            .replace(TLS_KEY_PATH, dir.path().join("key.pem").to_str().unwrap())
            .replace(ACME_CA_ROOT_PATH, root.to_str().unwrap());
        let path = dir.path().join("Caddyfile");
        std::fs::write(&path, caddyfile).unwrap();
        let out = run(
            Command::new("caddy")
                .args(["validate", "--adapter", "caddyfile", "--config"])
                .arg(&path)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path())
                .env("XDG_CONFIG_HOME", dir.path()),
            &format!("caddy validate ({name})"),
        );
        assert!(out.contains("Valid configuration"), "{name}: {out}");
    }
    let private = &plans()
        .into_iter()
        .find(|(n, _)| n == "private_acme")
        .unwrap()
        .1;
    assert!(private.files["Caddyfile"]
        .content
        .contains(&format!("\tacme_ca_root {ACME_CA_ROOT_PATH}\n")));
}

/// Kills the child when dropped (also when the test fails).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Non-default ports end to end with the real Caddy: it listens on the
/// configured ports, its HTTP->HTTPS redirect names the HTTPS port, and
/// `/.well-known/stoat` gives the API URL with it.
#[test]
fn caddy_serves_and_redirects_on_non_default_ports() {
    let (http, https) = (free_port(), free_port());
    assert_ne!(http, https);
    let text = common::HIGH_PORTS
        .replace("http_port = 18480", &format!("http_port = {http}"))
        .replace("https_port = 18443", &format!("https_port = {https}"));
    let plan = common::render_fixture(&text);
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path());
    let caddyfile = plan.files["Caddyfile"]
        .content
        .replace(TLS_CERT_PATH, dir.path().join("cert.pem").to_str().unwrap())
        .replace(TLS_KEY_PATH, dir.path().join("key.pem").to_str().unwrap());
    // No admin endpoint: it would need a port of its own (the only other change).
    assert!(caddyfile.contains("\n{\n\thttp_port "), "{caddyfile}");
    let caddyfile = caddyfile.replacen("\n{\n", "\n{\n\tadmin off\n", 1);
    let path = dir.path().join("Caddyfile");
    std::fs::write(&path, caddyfile).unwrap();
    let _caddy = Running(
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("caddy runs; run scripts/setup-test-tools.sh"),
    );
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-s", "--max-time", "5"])
            .args(args)
            .output()
            .expect("curl runs")
    };
    let redirect_args = [
        "-o".to_string(),
        "/dev/null".to_string(),
        "-w".to_string(),
        "%{http_code} %{redirect_url}".to_string(),
        "-H".to_string(),
        "Host: stoat.burrow.test".to_string(),
        format!("http://127.0.0.1:{http}/api/users/@me?x=1"),
    ];
    let redirect_args: Vec<&str> = redirect_args.iter().map(String::as_str).collect();
    let mut redirect = String::new();
    for _ in 0..50 {
        let out = curl(&redirect_args);
        redirect = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        redirect,
        format!("308 https://stoat.burrow.test:{https}/api/users/@me?x=1")
    );
    let resolve = format!("stoat.burrow.test:{https}:127.0.0.1");
    let url = format!("https://stoat.burrow.test:{https}/.well-known/stoat");
    let out = curl(&["-k", "--resolve", &resolve, &url]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(r#"{{"api":"https://stoat.burrow.test:{https}/api"}}"#)
    );
}

#[test]
fn kubernetes_caddyfile_validates() {
    // The in-cluster Caddy (plain HTTP) config travels in the ConfigMap.
    let plan = common::render_fixture(common::FULL);
    let map = plan
        .kubernetes
        .iter()
        .find(|m| m.kind == "ConfigMap")
        .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&map.yaml).unwrap();
    let caddyfile = doc["data"]["Caddyfile"].as_str().unwrap();
    assert!(caddyfile.contains(":80 {"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Caddyfile");
    std::fs::write(&path, caddyfile).unwrap();
    run(
        Command::new("caddy")
            .args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path()),
        "caddy validate (kubernetes)",
    );
}

#[test]
fn compose_files_validate() {
    for (name, plan) in plans() {
        let dir = tempfile::tempdir().unwrap();
        common::write_plan(&plan, dir.path());
        let out = run(
            Command::new("docker-compose")
                .args(["-f", "compose.yml", "config"])
                .current_dir(dir.path()),
            &format!("docker-compose config ({name})"),
        );
        // What compose resolved still has every service and the escaped `$`.
        let resolved: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        for spec in &plan.services {
            assert!(
                resolved["services"][spec.name.as_str()].is_mapping(),
                "{name}: {} missing after compose config",
                spec.name
            );
        }
        if plan.service("database").is_some() {
            let test = &resolved["services"]["database"]["healthcheck"]["test"];
            assert!(
                serde_yaml::to_string(test)
                    .unwrap()
                    .contains("$MONGO_INITDB_ROOT_PASSWORD"),
                "{name}: the health check lost its variable"
            );
        }
    }
}

#[test]
fn kubernetes_objects_validate_against_openapi_schema() {
    for (name, plan) in plans() {
        let dir = tempfile::tempdir().unwrap();
        common::write_plan(&plan, dir.path());
        let files: Vec<_> = plan
            .kubernetes
            .iter()
            .map(|m| dir.path().join("kubernetes").join(&m.file_name))
            .collect();
        let out = run(
            // Through the module, so a missing pyenv shim does not matter.
            Command::new("python3")
                .args([
                    "-m",
                    "kubernetes_validate",
                    "--strict",
                    "-k",
                    KUBERNETES_VERSION,
                ])
                .args(&files),
            &format!("kubernetes-validate ({name})"),
        );
        let passed = out.matches(" passed for resource ").count();
        assert_eq!(passed, plan.kubernetes.len(), "{name}:\n{out}");
    }
}

/// Burrow's VAPID encoding is byte-for-byte what generate_config.sh makes
/// with openssl: base64 (no `=`) of the SEC1 PEM, and base64url of the last
/// 65 bytes of the DER public key.
#[test]
fn vapid_matches_openssl_generate_config() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let pem_path = dir.path().join("vapid_private.pem");
    run(
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&pem_path),
        "openssl ecparam",
    );
    let pem = std::fs::read_to_string(&pem_path).unwrap();
    let private = base64::engine::general_purpose::STANDARD
        .encode(pem.as_bytes())
        .replace('=', "");
    let der = Command::new("openssl")
        .args(["ec", "-outform", "DER", "-in"])
        .arg(&pem_path)
        .output()
        .unwrap();
    assert!(der.status.success());
    let public = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&der.stdout[der.stdout.len() - 65..]);
    assert_eq!(public.len(), 87);

    let keys = stack::secrets::VapidKeys::parse(&private, &public).unwrap();
    assert_eq!(keys.public_key(), public);
    // The same scalar encoded by Burrow gives openssl's exact text.
    let scalar = p256::SecretKey::from_sec1_pem(&pem).unwrap().to_bytes();
    let ours = stack::secrets::VapidKeys::from_scalar(&scalar.into()).unwrap();
    assert_eq!(ours.private_key(), private);
    assert_eq!(ours.public_key(), public);
}
