//! Clients for the stack's infrastructure, used by the backends (and
//! LiveKit) to check that what Revolt.toml says actually works: the host
//! resolves, the port answers, and the credentials are the ones the
//! infrastructure stand-in was started with.
//!
//! Redis and RabbitMQ are the real servers in the test kit: RESP and AMQP
//! 0-9-1 (`amqp`) sign in to them. The MinIO stand-in speaks HTTP, and the
//! MongoDB stand-in a line-based "stand-in" handshake for credentials.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::amqp::Refusal;
use crate::util::Url;

pub const MONGO_MAGIC: &str = "STANDIN-MONGO 1";

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum DepErr {
    /// Not reachable (yet): retried quietly-ish.
    Retry(String),
    /// Reachable but wrong (bucket missing, replica set mismatch): logged as
    /// an error and retried.
    Failing(String),
    /// Rejected credentials: the real service dies on these.
    Fatal(String),
}

#[derive(Debug, Clone)]
pub enum Dep {
    Mongo(String),
    Redis(String),
    Rabbit {
        host: String,
        port: u16,
        user: String,
        pass: String,
    },
    S3 {
        endpoint: String,
        path_style: bool,
        bucket: String,
        key: String,
        secret: String,
    },
}

impl Dep {
    pub fn name(&self) -> &'static str {
        match self {
            Dep::Mongo(_) => "mongodb",
            Dep::Redis(_) => "redis",
            Dep::Rabbit { .. } => "rabbitmq",
            Dep::S3 { .. } => "s3",
        }
    }

    /// Host and port, for the periodic liveness probe.
    pub fn address(&self) -> Option<(String, u16)> {
        match self {
            Dep::Mongo(uri) => {
                let u = Url::parse(uri).ok()?;
                let host = u.host.split(',').next()?.to_string();
                Some((host, u.port_or(27017)))
            }
            Dep::Redis(uri) => {
                let u = Url::parse(uri).ok()?;
                Some((u.host.clone(), u.port_or(6379)))
            }
            Dep::Rabbit { host, port, .. } => Some((host.clone(), *port)),
            Dep::S3 { endpoint, .. } => {
                let u = Url::parse(endpoint).ok()?;
                let default = if u.scheme == "https" { 443 } else { 80 };
                Some((u.host.clone(), u.port_or(default)))
            }
        }
    }

    pub fn check(&self) -> Result<String, DepErr> {
        match self {
            Dep::Mongo(uri) => mongo(uri),
            Dep::Redis(uri) => redis(uri),
            Dep::Rabbit {
                host,
                port,
                user,
                pass,
            } => rabbit(host, *port, user, pass),
            Dep::S3 {
                endpoint,
                path_style,
                bucket,
                key,
                secret,
            } => s3(endpoint, *path_style, bucket, key, secret),
        }
    }
}

fn retry(e: impl std::fmt::Display) -> DepErr {
    DepErr::Retry(e.to_string())
}

/// Sends lines, reads one reply line per command.
fn line_session(stream: &mut TcpStream, lines: &[String]) -> std::io::Result<Vec<String>> {
    let mut replies = Vec::new();
    let mut reader = BufReader::new(stream.try_clone()?);
    for l in lines {
        stream.write_all(format!("{l}\n").as_bytes())?;
        let mut reply = String::new();
        if reader.read_line(&mut reply)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        replies.push(reply.trim_end().to_string());
    }
    Ok(replies)
}

pub fn mongo(uri: &str) -> Result<String, DepErr> {
    let u = Url::parse(uri).map_err(DepErr::Fatal)?;
    let host = u.host.split(',').next().unwrap_or("").to_string();
    let port = u.port_or(27017);
    let mut stream = crate::net::connect(&host, port, TIMEOUT).map_err(retry)?;
    let db = u
        .path
        .trim_start_matches('/')
        .split('?')
        .next()
        .unwrap_or("")
        .to_string();
    let auth_source = u.query("authSource").unwrap_or_else(|| {
        if db.is_empty() {
            "admin".into()
        } else {
            db.clone()
        }
    });
    let rs = u.query("replicaSet").unwrap_or_default();
    let mut lines = vec![MONGO_MAGIC.to_string()];
    if !u.user.is_empty() {
        lines.push(format!("AUTH\t{}\t{}\t{}", u.user, u.password, auth_source));
    }
    lines.push(format!("CLIENT\t{rs}\t{db}"));
    let replies = match line_session(&mut stream, &lines) {
        Ok(r) => r,
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            return Ok(format!(
                "{host}:{port} reachable (not a stand-in: credentials not checked)"
            ))
        }
        Err(e) => return Err(retry(format!("{host}:{port}: {e}"))),
    };
    for r in replies.iter() {
        if let Some(err) = r.strip_prefix("ERR ") {
            return Err(if err.contains("Authentication failed") {
                DepErr::Fatal(format!(
                    "MongoDB at {host}:{port} refused user `{}` (authSource {auth_source}): {err}",
                    u.user
                ))
            } else if err.contains("not initiated") {
                retry(format!("MongoDB at {host}:{port}: {err}"))
            } else if err.contains("requires authentication") {
                DepErr::Fatal(format!("MongoDB at {host}:{port}: {err}"))
            } else {
                DepErr::Failing(format!("MongoDB at {host}:{port}: {err}"))
            });
        }
    }
    Ok(format!(
        "{host}:{port} as `{}` (db {db}, replicaSet {})",
        if u.user.is_empty() {
            "<anonymous>"
        } else {
            &u.user
        },
        if rs.is_empty() { "-" } else { &rs }
    ))
}

/// Encodes a RESP command.
pub(crate) fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Reads one RESP reply as a display string (`+OK`, `-ERR ...`, bulk text).
pub(crate) fn resp_read(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end().to_string();
    if let Some(n) = line.strip_prefix('$') {
        let n: i64 = n.parse().unwrap_or(-1);
        if n < 0 {
            return Ok("(nil)".into());
        }
        let mut buf = vec![0u8; n as usize + 2];
        reader.read_exact(&mut buf)?;
        buf.truncate(n as usize);
        return Ok(String::from_utf8_lossy(&buf).into_owned());
    }
    if let Some(n) = line.strip_prefix('*') {
        let n: i64 = n.parse().unwrap_or(0);
        let mut items = Vec::new();
        for _ in 0..n.max(0) {
            items.push(resp_read(reader)?);
        }
        return Ok(items.join("\n"));
    }
    Ok(line)
}

pub fn redis(uri: &str) -> Result<String, DepErr> {
    let u = Url::parse(uri).map_err(DepErr::Fatal)?;
    let port = u.port_or(6379);
    let mut stream = crate::net::connect(&u.host, port, TIMEOUT).map_err(retry)?;
    let mut reader = BufReader::new(stream.try_clone().map_err(retry)?);
    if !u.password.is_empty() {
        let mut args = vec!["AUTH"];
        if !u.user.is_empty() {
            args.push(&u.user);
        }
        args.push(&u.password);
        stream.write_all(&resp(&args)).map_err(retry)?;
        let r = resp_read(&mut reader).map_err(retry)?;
        if r.starts_with('-') {
            return Err(DepErr::Fatal(format!(
                "Redis at {}:{port} refused the password: {r}",
                u.host
            )));
        }
    }
    stream.write_all(&resp(&["PING"])).map_err(retry)?;
    let r = resp_read(&mut reader).map_err(retry)?;
    if r.starts_with("-NOAUTH") {
        return Err(DepErr::Fatal(format!(
            "Redis at {}:{port} requires a password but `database.redis` has none: {r}",
            u.host
        )));
    }
    if r != "+PONG" {
        return Err(DepErr::Failing(format!(
            "Redis at {}:{port} answered PING with {r}",
            u.host
        )));
    }
    Ok(format!("{}:{port} (PING -> PONG)", u.host))
}

pub fn rabbit(host: &str, port: u16, user: &str, pass: &str) -> Result<String, DepErr> {
    let mut stream = crate::net::connect(host, port, TIMEOUT).map_err(retry)?;
    match crate::amqp::handshake(&mut stream, user, pass) {
        Ok(server) => Ok(format!("{host}:{port} as `{user}` ({server})")),
        Err(Refusal::Closed { code: 403, text }) => Err(DepErr::Fatal(format!(
            "RabbitMQ at {host}:{port} refused user `{user}`: {text}"
        ))),
        Err(Refusal::Closed { code, text }) => Err(DepErr::Failing(format!(
            "RabbitMQ at {host}:{port} closed the connection: {code} {text}"
        ))),
        // Still starting (RabbitMQ accepts TCP before it takes clients).
        Err(Refusal::Io(e)) => Err(retry(format!("{host}:{port}: {e}"))),
        Err(Refusal::Protocol(e)) => Err(DepErr::Failing(format!(
            "{host}:{port} is not RabbitMQ: {e}"
        ))),
    }
}

pub fn s3(
    endpoint: &str,
    path_style: bool,
    bucket: &str,
    key: &str,
    secret: &str,
) -> Result<String, DepErr> {
    let u = Url::parse(endpoint).map_err(DepErr::Fatal)?;
    let port = u.port_or(80);
    // Virtual-host style: http://<bucket>.<host>:<port>/ (Docker aliases
    // `<bucket>.minio`); path style: http://<host>:<port>/<bucket>.
    let url = if path_style {
        format!("http://{}:{port}/{bucket}", u.host)
    } else {
        format!("http://{bucket}.{}:{port}/", u.host)
    };
    let auth = format!("Standin {key}:{secret}");
    let r = crate::http::request("HEAD", &url, &[("Authorization", &auth)], b"", TIMEOUT)
        .map_err(retry)?;
    match r.status {
        200 => Ok(format!("bucket `{bucket}` at {url}")),
        404 => Err(DepErr::Failing(format!(
            "bucket `{bucket}` does not exist at {url} (has createbuckets run?)"
        ))),
        403 => Err(DepErr::Failing(format!(
            "S3 at {url} refused the credentials (access key `{key}`): uploads will fail"
        ))),
        s => Err(DepErr::Failing(format!(
            "S3 at {url} answered HEAD with {s}"
        ))),
    }
}

/// Dependency states for the heartbeat line.
static STATES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn set_state(name: &str, state: &str) {
    let mut s = STATES.lock().unwrap_or_else(|e| e.into_inner());
    match s.iter_mut().find(|(n, _)| n == name) {
        Some(e) => e.1 = state.to_string(),
        None => s.push((name.to_string(), state.to_string())),
    }
}

pub fn states() -> String {
    let s = STATES.lock().unwrap_or_else(|e| e.into_inner());
    s.iter()
        .map(|(n, st)| format!("{n} {st}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks each dependency on its own thread until it works, logging each
/// attempt; then probes it (TCP) every 30 s and logs changes. A rejected
/// credential ends the process like the real service's panic.
pub fn watch(deps: Vec<Dep>) {
    for dep in deps {
        set_state(dep.name(), "waiting");
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                match dep.check() {
                    Ok(msg) => {
                        crate::info!(
                            "connected to {}: {msg} (after {attempt} attempt(s), {:.1}s)",
                            dep.name(),
                            started.elapsed().as_secs_f32()
                        );
                        set_state(dep.name(), "ok");
                        break;
                    }
                    Err(DepErr::Retry(e)) => {
                        set_state(dep.name(), "waiting");
                        crate::warn!(
                            "{} not ready (attempt {attempt}): {e}; retrying in 3s",
                            dep.name()
                        );
                        std::thread::sleep(Duration::from_secs(3));
                    }
                    Err(DepErr::Failing(e)) => {
                        set_state(dep.name(), "failing");
                        crate::error!("{} (attempt {attempt}): {e}; retrying in 5s", dep.name());
                        std::thread::sleep(Duration::from_secs(5));
                    }
                    Err(DepErr::Fatal(e)) => crate::log::fatal(&e),
                }
            }
            let Some((host, port)) = dep.address() else {
                return;
            };
            let mut up = true;
            loop {
                std::thread::sleep(Duration::from_secs(30));
                let now = crate::net::connect(&host, port, TIMEOUT).is_ok();
                if now != up {
                    if now {
                        crate::info!("{}: connection to {host}:{port} restored", dep.name());
                        set_state(dep.name(), "ok");
                    } else {
                        crate::warn!("{}: lost connection to {host}:{port}", dep.name());
                        set_state(dep.name(), "lost");
                    }
                    up = now;
                }
            }
        });
    }
}

/// Reads until EOF or timeout (for peers that are not stand-ins).
pub fn drain(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}
