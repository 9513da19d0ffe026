//! Fixtures for the Docker target tests: the real daemon (started when it is
//! not running; unreachable = the test fails), the test-kit images (built
//! once per run by `testkit/build-images.sh`), the test-kit stack under a
//! unique name with its own host ports, and a guard that removes the stack.

#![allow(dead_code, reason = "each test uses a different subset")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use engine::certs::BurrowCa;
use engine::deploy::{DeployRequest, DockerTarget, ProgressEvent, StackName};
use stack::secrets::{Secrets, Seed};
use stack::{Plan, StackConfig};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `sh -c script`; its stdout, or a panic with everything it said.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The local daemon, started if it is not running. Fails the test when it
/// stays unreachable: these tests never skip.
pub async fn target() -> DockerTarget {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let _ = Command::new("sh")
            .arg("-c")
            .arg("pgrep -x dockerd >/dev/null || (dockerd >/tmp/burrow-dockerd.log 2>&1 &)")
            .status();
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match DockerTarget::connect(None).await {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => {
                panic!("the Docker daemon is unreachable (see /tmp/burrow-dockerd.log): {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Builds the test-kit images once per test run (a file lock keeps other
/// test binaries from building at the same time).
pub fn testkit_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let t0 = Instant::now();
        let out = Command::new("flock")
            .arg("/tmp/burrow-testkit-build.lock")
            .arg(root().join("testkit/build-images.sh"))
            .current_dir(root())
            .output()
            .expect("flock and testkit/build-images.sh run");
        assert!(
            out.status.success(),
            "testkit/build-images.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("test-kit images ready in {:.1?}", t0.elapsed());
    });
}

/// Ports for one test's stack: tests run in parallel, each with its own.
fn port_block() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    21000 + 40 * NEXT.fetch_add(1, Ordering::SeqCst)
}

/// The test-kit stack (`testkit/stack.toml`) under another name and ports.
pub struct Kit {
    pub stack: String,
    pub config: StackConfig,
    pub secrets: Secrets,
    pub host_files: BTreeMap<String, Vec<u8>>,
    pub http_port: u16,
}

impl Kit {
    pub fn new(stack: &str) -> Kit {
        testkit_images();
        let base = port_block();
        let (http, https, lk_tcp, udp) = (base, base + 3, base + 6, base + 10);
        let text = std::fs::read_to_string(root().join("testkit/stack.toml"))
            .expect("testkit/stack.toml is readable");
        let text: String = text
            .lines()
            .map(|line| match line.split_once('=').map(|(k, _)| k.trim()) {
                Some("name") => format!("name = \"{stack}\""),
                Some("http_port") => format!("http_port = {http}"),
                Some("https_port") => format!("https_port = {https}"),
                Some("tcp_port") => format!("tcp_port = {lk_tcp}"),
                Some("udp_ports") => format!("udp_ports = \"{udp}-{}\"", udp + 4),
                _ => line.to_string(),
            })
            .map(|l| l + "\n")
            .collect();
        let config = match stack::parse_stack_toml(&text) {
            Ok(p) => p.config,
            Err(issues) => panic!("testkit/stack.toml does not parse: {issues:#?}"),
        };
        let secrets = Secrets::derive(
            &Seed::parse("00112233445566778899aabbccddeeff0011223344556677").unwrap(),
        );
        let ca = BurrowCa::generate("Burrow test CA").unwrap();
        let leaf = ca
            .issue_leaf(config.domain.as_str(), time::Duration::days(30))
            .unwrap();
        let host_files = BTreeMap::from([
            (
                stack::render::SELF_SIGNED_CERT_SOURCE.to_string(),
                leaf.cert_pem.into_bytes(),
            ),
            (
                stack::render::SELF_SIGNED_KEY_SOURCE.to_string(),
                leaf.key_pem.into_bytes(),
            ),
            (
                stack::render::SELF_SIGNED_CA_SOURCE.to_string(),
                ca.ca_pem().as_bytes().to_vec(),
            ),
        ]);
        Kit {
            stack: stack.to_string(),
            config,
            secrets,
            host_files,
            http_port: http,
        }
    }

    pub fn plan(&self) -> Plan {
        stack::render(&self.config, &self.secrets)
    }

    pub fn request(&self, revision: i64) -> DeployRequest {
        self.request_for(self.plan(), revision)
    }

    pub fn request_for(&self, plan: Plan, revision: i64) -> DeployRequest {
        DeployRequest {
            stack: StackName::parse(&self.stack).unwrap(),
            revision,
            plan,
            host_files: self.host_files.clone(),
        }
    }

    /// The plan with only `services` (which must not depend on others).
    pub fn subset(&self, services: &[&str]) -> Plan {
        let mut plan = self.plan();
        plan.services
            .retain(|s| services.contains(&s.name.as_str()));
        let used: BTreeSet<String> = plan
            .services
            .iter()
            .flat_map(|s| &s.mounts)
            .filter_map(|m| match m {
                stack::render::Mount::Volume { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        plan.volumes.retain(|v| used.contains(v));
        plan
    }

    /// Removes the stack when dropped, whatever the test did.
    pub fn cleanup(&self) -> Cleanup {
        Cleanup(self.stack.clone())
    }
}

/// Removes every container, the network and the volumes of a stack (with
/// the docker CLI, independent of the code under test). Docker 20.10
/// releases a removed container's endpoint a moment after the removal
/// returns, so the network is asked for again for up to 10 s.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let s = &self.0;
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker ps -aq --filter label=burrow.stack={s} | xargs -r docker rm -f >/dev/null; \
                 if docker network inspect {s} >/dev/null 2>&1; then \
                   for i in $(seq 40); do docker network rm {s} >/dev/null 2>&1 && break; sleep 0.25; done; \
                 fi; \
                 docker volume ls -q --filter label=burrow.stack={s} | xargs -r docker volume rm >/dev/null"
            ))
            .status();
    }
}

pub fn channel() -> (
    UnboundedSender<ProgressEvent>,
    UnboundedReceiver<ProgressEvent>,
) {
    unbounded_channel()
}

/// Every event sent so far.
pub fn drain(rx: &mut UnboundedReceiver<ProgressEvent>) -> Vec<ProgressEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// Container id and config hash per service, as the daemon holds them.
pub fn containers(stack: &str) -> BTreeMap<String, (String, String)> {
    sh(&format!(
        "docker ps -a --filter label=burrow.stack={stack} \
         --format '{{{{.Label \"burrow.service\"}}}} {{{{.ID}}}} {{{{.Label \"burrow.config-hash\"}}}}'"
    ))
    .lines()
    .filter_map(|l| {
        let mut f = l.split_whitespace();
        Some((
            f.next()?.to_string(),
            (f.next()?.to_string(), f.next()?.to_string()),
        ))
    })
    .collect()
}

pub fn names(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

/// A file from a container (content, mode, owner uid), read with `docker cp`
/// (the tar it writes keeps mode and owner).
fn container_entry(container: &str, path: &str) -> (String, u32, u64) {
    let out = Command::new("docker")
        .args(["cp", &format!("{container}:{path}"), "-"])
        .output()
        .expect("docker cp runs");
    assert!(out.status.success(), "docker cp {container}:{path} failed");
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let mode = entry.header().mode().unwrap() & 0o7777;
    let uid = entry.header().uid().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    (text, mode, uid)
}

/// A file from a container: content and mode.
pub fn container_file(container: &str, path: &str) -> (String, u32) {
    let (text, mode, _) = container_entry(container, path);
    (text, mode)
}

/// A file's owner uid in a container.
pub fn container_file_uid(container: &str, path: &str) -> u64 {
    container_entry(container, path).2
}

/// The real daemon behind a loopback TCP address that a test can cut and
/// bring back: `tcp://127.0.0.1:<port>` forwards every connection to the
/// local socket. `cut` closes the listener and every open connection, as a
/// daemon that went away does; `resume` listens on the same port again.
pub struct DaemonProxy {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DaemonProxy {
    pub async fn start() -> DaemonProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = DaemonProxy { port, task: None };
        proxy.serve(listener);
        proxy
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every forwarded connection closes.
            let mut open = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                open.spawn(async move {
                    if let Ok(mut daemon) =
                        tokio::net::UnixStream::connect("/var/run/docker.sock").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                    }
                });
            }
        }));
    }

    pub fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    pub async fn resume(&mut self) {
        // The aborted task lets go of the port once it has stopped.
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if Instant::now() > deadline => {
                    panic!("port {} stays taken: {e}", self.port)
                }
                Err(_) => tokio::task::yield_now().await,
            }
        };
        self.serve(listener);
    }
}

impl Drop for DaemonProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A store, vault and deployer in a temporary data dir, for tests that run
/// the wizard (`Setup::wizard`).
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub store: engine::Store,
    pub vault: engine::sealed::Vault,
    pub deployer: std::sync::Arc<engine::deployer::Deployer>,
}

impl Setup {
    pub async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = engine::Store::open(dir.path()).await.unwrap();
        let vault = engine::sealed::Vault::open(&dir.path().join("secrets.key")).unwrap();
        let deployer = std::sync::Arc::new(engine::deployer::Deployer::new(
            store.clone(),
            vault.clone(),
            std::sync::Arc::new(engine::targets::Targets::new(None)),
        ));
        Setup {
            dir,
            store,
            vault,
            deployer,
        }
    }

    pub fn wizard(&self) -> engine::wizard::Wizard<'_> {
        engine::wizard::Wizard {
            store: &self.store,
            vault: &self.vault,
            data_dir: self.dir.path(),
            deployer: &self.deployer,
        }
    }

    /// Saves `kit`'s config as a revision for the local daemon and deploys
    /// it (every service healthy, else the test fails with why).
    pub async fn deploy_kit(&self, kit: &Kit) {
        let (meta, _) = self
            .store
            .save_revision(
                &self.vault,
                &kit.config,
                &engine::targets::TargetSettings::local_docker(),
                "test",
                None,
            )
            .await
            .unwrap();
        let revision = self
            .store
            .revision(&self.vault, meta.id)
            .await
            .unwrap()
            .unwrap();
        self.deployer
            .apply(
                revision,
                "test",
                &engine::deploy::ApplyOptions::default(),
                None,
            )
            .await
            .unwrap()
            .result
            .unwrap_or_else(|e| panic!("deploy failed: {e}"));
    }

    /// Saves each step with its fields (as the page posts them).
    pub async fn steps(&self, steps: &[(engine::wizard::Step, Vec<(&str, &str)>)]) {
        for (step, pairs) in steps {
            self.wizard()
                .save(*step, &form(pairs), "admin")
                .await
                .unwrap_or_else(|e| panic!("{step:?}: {e:?}"));
        }
    }
}

/// A posted form from its pairs.
pub fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The registry process, killed when the test ends.
pub struct Registry {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_registry() -> Registry {
    start_registry_with(None)
}

/// [`start_registry`] that admits only `user` with `password` (htpasswd,
/// bcrypt as the registry requires, made with Python's `crypt`).
pub fn start_private_registry(user: &str, password: &str) -> Registry {
    start_registry_with(Some((user, password)))
}

fn start_registry_with(login: Option<(&str, &str)>) -> Registry {
    let bin = "/usr/bin/docker-registry";
    assert!(
        std::path::Path::new(bin).exists(),
        "{bin} is missing: scripts/setup.sh installs Debian's docker-registry"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    let auth = match login {
        Some((user, password)) => {
            let out = Command::new("python3")
                .args([
                    "-W",
                    "ignore",
                    "-c",
                    "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                    password,
                ])
                .output()
                .expect("python3 runs");
            let hash = String::from_utf8(out.stdout).unwrap();
            assert!(
                hash.starts_with("$2"),
                "no bcrypt hash from python3: {hash}"
            );
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{user}:{}\n", hash.trim())).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: burrow-test\n    path: {}\n",
                file.display()
            )
        }
        None => String::new(),
    };
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "docker-registry did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Registry {
        child,
        port,
        _dir: dir,
    }
}

/// `keydb-cli ARGS` inside `<stack>-redis` (Debian's real Redis in the test
/// kit), signed in with the password the stack rendered into keydb.conf, or
/// with `password` when given; its reply (a wrong password: the server's
/// NOAUTH, as redis-cli goes on unauthenticated).
pub fn redis_cli(stack: &str, password: Option<&str>, args: &str) -> String {
    let auth = match password {
        Some(p) => format!("'{p}'"),
        None => "\"$(sed -n 's/^requirepass //p' /etc/keydb/keydb.conf)\"".into(),
    };
    let out = Command::new("docker")
        .args(["exec", &format!("{stack}-redis"), "sh", "-c"])
        .arg(format!("keydb-cli --no-auth-warning -a {auth} {args}"))
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "keydb-cli {args} in {stack}-redis failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `rabbitmqctl ARGS` inside `<stack>-rabbit` (Debian's real RabbitMQ in
/// the test kit), once the broker has started (its health check, `ping`,
/// passes when the node is up, before the broker app runs); its output.
pub fn rabbitmqctl(stack: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["exec", &format!("{stack}-rabbit"), "sh", "-c"])
        .arg("rabbitmqctl -q --timeout 60 await_startup && exec rabbitmqctl -q \"$@\"")
        .arg("rabbitmqctl")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} in {stack}-rabbit failed: {}{}\nRabbitMQ's log ends:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        sh(&format!("docker logs --tail 15 {stack}-rabbit 2>&1"))
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
