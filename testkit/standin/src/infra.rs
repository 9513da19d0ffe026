//! Infrastructure stand-ins: MongoDB (`database`, `mongod`, `mongosh`),
//! MinIO (`minio`), the MinIO
//! client (`mc`, `createbuckets`) and LiveKit (`livekit`).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::deps::MONGO_MAGIC;
use crate::http::{Response, WsSession};
use crate::log::fatal;
use crate::util::{json_str, Url};
use crate::{error, info, warn};

const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

fn env_req(name: &str, why: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => fatal(&format!("environment variable {name} is not set ({why})")),
    }
}

fn listen(bind: IpAddr, port: u16) -> TcpListener {
    match TcpListener::bind(SocketAddr::new(bind, port)) {
        Ok(l) => {
            info!("listening on {bind}:{port}");
            l
        }
        Err(e) => fatal(&format!("cannot listen on {bind}:{port}: {e}")),
    }
}

/// Accepts on a background thread, one thread per connection.
fn accept_loop(listener: TcpListener, handler: impl Fn(TcpStream) + Send + Sync + 'static) {
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            let h = handler.clone();
            std::thread::spawn(move || h(stream));
        }
    });
}

fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// The first line of a connection, if it arrives within 10 s.
fn first_line(stream: &TcpStream) -> (BufReader<TcpStream>, Option<String>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone a TCP stream"));
    let line = read_line(&mut reader);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    (reader, line)
}

/// Heartbeat forever on the main thread.
pub fn heartbeat(what: impl Fn() -> String) -> ! {
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(30));
        info!("heartbeat: up {}s, {}", started.elapsed().as_secs(), what());
    }
}

// ---------------------------------------------------------------- MongoDB

struct MongoUser {
    db: String,
    user: String,
    pass: String,
}

struct MongoState {
    users: Vec<MongoUser>,
    repl_set: Option<String>,
    initiated: bool,
    dbpath: PathBuf,
    port: u16,
}

impl MongoState {
    fn save(&self) {
        let users: String = self
            .users
            .iter()
            .map(|u| format!("{}\t{}\t{}\n", u.db, u.user, u.pass))
            .collect();
        let _ = std::fs::write(self.dbpath.join("standin-users"), users);
        if self.initiated {
            let _ = std::fs::write(
                self.dbpath.join("standin-replset"),
                self.repl_set.clone().unwrap_or_default(),
            );
        }
    }
}

/// `createUser` calls of a mongo-init JavaScript file: (db, user, pwd).
fn parse_init_js(name: &str, js: &str) -> Result<Vec<MongoUser>, String> {
    let mut users = Vec::new();
    let default_db = std::env::var("MONGO_INITDB_DATABASE").unwrap_or_else(|_| "test".into());
    let quoted_after = |s: &str, key: &str| -> Option<String> {
        let pos = s.find(key)? + key.len();
        let rest = s[pos..].trim_start();
        let q = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = rest[1..].find(q)?;
        Some(rest[1..1 + end].to_string())
    };
    for (pos, _) in js.match_indices("createUser(") {
        let before = &js[..pos];
        let db = before
            .rfind("getSiblingDB(")
            .and_then(|p| quoted_after(&before[p..], "getSiblingDB("))
            .unwrap_or_else(|| default_db.clone());
        let call = &js[pos..];
        let call = &call[..call.find("});").map(|e| e + 3).unwrap_or(call.len())];
        let user = quoted_after(call, "user:")
            .ok_or_else(|| format!("{name}: createUser without a quoted `user`"))?;
        let pwd_pos = call
            .find("pwd:")
            .ok_or_else(|| format!("{name}: createUser({user}) without `pwd`"))?;
        let pwd_expr = call[pwd_pos + 4..].trim_start();
        let pass = if let Some(rest) = pwd_expr.strip_prefix("process.env.") {
            let var: String = rest
                .chars()
                .take_while(|c| *c == '_' || c.is_ascii_alphanumeric())
                .collect();
            match std::env::var(&var) {
                Ok(v) if !v.is_empty() => v,
                _ => {
                    return Err(format!(
                        "{name}: MongoServerError: pwd must be a string (process.env.{var} is undefined: the variable is not in the container's environment)"
                    ))
                }
            }
        } else {
            quoted_after(call, "pwd:")
                .ok_or_else(|| format!("{name}: cannot read `pwd` of createUser({user})"))?
        };
        users.push(MongoUser { db, user, pass });
    }
    Ok(users)
}

/// `mongod` (plain) or the official image's entrypoint (`database`):
/// the entrypoint binds all interfaces, creates the root user from
/// MONGO_INITDB_ROOT_* and runs /docker-entrypoint-initdb.d on an empty
/// data directory.
pub fn database(args: Vec<String>, via_entrypoint: bool) -> i32 {
    crate::log::set_role("database");
    let mut args = args;
    if args.first().map(String::as_str) == Some("mongod") {
        args.remove(0);
    }
    info!("MongoDB stand-in starting: mongod {}", args.join(" "));
    let mut repl_set = None;
    let mut bind: Option<IpAddr> = None;
    let mut key_file = None;
    let mut port = 27017u16;
    let mut dbpath = PathBuf::from("/data/db");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .unwrap_or_else(|| {
                    fatal(&format!("Error parsing command line: {flag} needs a value"))
                })
        };
        match flag.as_str() {
            "--replSet" => repl_set = Some(value()),
            "--bind_ip_all" => bind = Some(ANY),
            "--bind_ip" => {
                let v = value();
                bind = Some(if v.split(',').any(|x| x == "0.0.0.0" || x == "*") {
                    ANY
                } else {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                });
            }
            "--keyFile" => key_file = Some(value()),
            "--port" => {
                port = value()
                    .parse()
                    .unwrap_or_else(|_| fatal("Error parsing command line: bad --port"))
            }
            "--dbpath" => dbpath = PathBuf::from(value()),
            "--auth" | "--quiet" => {}
            other => warn!("ignoring mongod option {other}"),
        }
    }
    // The official entrypoint adds --bind_ip_all; plain mongod listens on
    // localhost only (other containers cannot connect).
    let bind = bind.unwrap_or(if via_entrypoint {
        ANY
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    });
    if let Some(kf) = &key_file {
        let meta = std::fs::metadata(kf)
            .unwrap_or_else(|e| fatal(&format!("Error reading file {kf}: {e}")));
        if meta.permissions().mode() & 0o077 != 0 {
            fatal(&format!("permissions on {kf} are too open (mode {:o}); the key file must not be readable by group or others", meta.permissions().mode() & 0o777));
        }
        let key = std::fs::read_to_string(kf).unwrap_or_default();
        let key: String = key.split_whitespace().collect();
        if key.len() < 6 || key.len() > 1024 {
            fatal(&format!(
                "security key in {kf} has length {}, must be between 6 and 1024 chars",
                key.len()
            ));
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        {
            fatal(&format!(
                "invalid char in key file {kf}: only base64 characters are allowed"
            ));
        }
        info!("key file {kf} accepted (replica set members authenticate with it)");
        if repl_set.is_none() {
            warn!("--keyFile without --replSet: the key file only enables authentication");
        }
    }
    if let Err(e) = std::fs::create_dir_all(&dbpath) {
        fatal(&format!(
            "cannot create the data directory {}: {e}",
            dbpath.display()
        ));
    }
    // A release that migrates the stored data (Stoat's api moves MongoDB's
    // schema revision forward at start-up, with no way down): the test
    // kit's image of it sets STANDIN_DB_REVISION, kept in the data dir.
    if let Ok(revision) = std::env::var("STANDIN_DB_REVISION") {
        let file = dbpath.join("standin-revision");
        if let Err(e) = std::fs::write(&file, format!("{revision}\n")) {
            fatal(&format!("cannot write {}: {e}", file.display()));
        }
        info!("migrated the data directory to revision {revision}");
    }
    let users_file = dbpath.join("standin-users");
    let mut users = Vec::new();
    if users_file.exists() {
        info!("data directory {} already initialised: skipping MONGO_INITDB_* and /docker-entrypoint-initdb.d (as the official image does)", dbpath.display());
        for l in std::fs::read_to_string(&users_file)
            .unwrap_or_default()
            .lines()
        {
            let f: Vec<&str> = l.splitn(3, '\t').collect();
            if f.len() == 3 {
                users.push(MongoUser {
                    db: f[0].into(),
                    user: f[1].into(),
                    pass: f[2].into(),
                });
            }
        }
    } else if via_entrypoint {
        let root_user = std::env::var("MONGO_INITDB_ROOT_USERNAME").unwrap_or_default();
        let root_pass = env_req(
            "MONGO_INITDB_ROOT_PASSWORD",
            "the stack runs MongoDB with authentication; database.env sets it",
        );
        if root_user.is_empty() {
            fatal("MONGO_INITDB_ROOT_PASSWORD is set but MONGO_INITDB_ROOT_USERNAME is not: both or neither");
        }
        info!("initialising an empty data directory: root user `{root_user}` (admin)");
        users.push(MongoUser {
            db: "admin".into(),
            user: root_user,
            pass: root_pass,
        });
        let mut scripts: Vec<PathBuf> = std::fs::read_dir("/docker-entrypoint-initdb.d")
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        scripts.sort();
        for s in scripts {
            let name = s.display().to_string();
            if s.is_dir() {
                fatal(&format!(
                    "{name} is a directory: the init script was not mounted (missing host file?)"
                ));
            }
            match s.extension().and_then(|e| e.to_str()) {
                Some("js") => {
                    let js = std::fs::read_to_string(&s)
                        .unwrap_or_else(|e| fatal(&format!("{name}: {e}")));
                    match parse_init_js(&name, &js) {
                        Ok(new) => {
                            for u in &new {
                                info!("{name}: created user `{}` in db `{}`", u.user, u.db);
                            }
                            users.extend(new);
                        }
                        Err(e) => fatal(&e),
                    }
                }
                // The image's bash (Debian's) runs it, as the real
                // entrypoint does.
                Some("sh") => match std::process::Command::new("bash").arg(&s).status() {
                    Ok(st) if st.success() => {}
                    Ok(st) => fatal(&format!("{name} exited with {st}")),
                    Err(e) => fatal(&format!("{name}: bash: {e}")),
                },
                _ => warn!("ignoring {name} (not .js or .sh)"),
            }
        }
    } else {
        warn!("no users: MongoDB accepts no authenticated connection (run through docker-entrypoint.sh to create the root user)");
    }
    let initiated = match std::fs::read_to_string(dbpath.join("standin-replset")) {
        Ok(name) => {
            if Some(&name) != repl_set.as_ref() {
                warn!(
                    "the replica set config names `{name}` but --replSet is {:?}",
                    repl_set
                );
            }
            true
        }
        Err(_) => false,
    };
    let state = MongoState {
        users,
        repl_set: repl_set.clone(),
        initiated,
        dbpath,
        port,
    };
    state.save();
    match (&repl_set, initiated) {
        (Some(rs), true) => info!("replica set `{rs}` already initiated: this node is PRIMARY"),
        (Some(rs), false) => {
            info!("replica set `{rs}`: waiting for rs.initiate() (the health check runs it)")
        }
        (None, _) => info!("standalone (no --replSet): transactions are unavailable"),
    }
    let state = Arc::new(Mutex::new(state));
    let listener = listen(bind, port);
    info!("Waiting for connections on port {port}");
    let st = state.clone();
    accept_loop(listener, move |stream| mongo_conn(stream, &st));
    crate::infra::heartbeat(move || {
        let s = state.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "{} user(s), replica set {}",
            s.users.len(),
            match (&s.repl_set, s.initiated) {
                (Some(r), true) => format!("`{r}` PRIMARY"),
                (Some(r), false) => format!("`{r}` not initiated"),
                (None, _) => "none".into(),
            }
        )
    })
}

fn mongo_conn(mut stream: TcpStream, state: &Mutex<MongoState>) {
    let peer = stream
        .peer_addr()
        .map(|p| p.ip().to_string())
        .unwrap_or_default();
    let (mut reader, first) = first_line(&stream);
    if first.as_deref() != Some(MONGO_MAGIC) {
        // A TCP probe or a real MongoDB driver: nothing to say.
        if first.is_some() {
            info!("connection from {peer}: not a stand-in client, closing");
        }
        return;
    }
    if stream.write_all(b"OK standin-mongo\n").is_err() {
        return;
    }
    let mut authed: Option<String> = None;
    while let Some(line) = read_line(&mut reader) {
        let f: Vec<&str> = line.split('\t').collect();
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let needs_auth = !s.users.is_empty();
        let reply = match f[0] {
            "PING" => "OK pong".to_string(),
            "AUTH" if f.len() == 4 => {
                if s.users.iter().any(|u| u.user == f[1] && u.pass == f[2] && u.db == f[3]) {
                    info!("client {peer}: authenticated `{}` on `{}`", f[1], f[3]);
                    authed = Some(f[1].to_string());
                    "OK".into()
                } else {
                    warn!("client {peer}: Authentication failed for `{}` on `{}`", f[1], f[3]);
                    "ERR Authentication failed.".into()
                }
            }
            "HELLO" => {
                if s.repl_set.is_none() || s.initiated {
                    "OK writable".into()
                } else {
                    "OK notwritable".into()
                }
            }
            _ if needs_auth && authed.is_none() => format!("ERR command {} requires authentication", f[0]),
            "RS-STATUS" => match (&s.repl_set, s.initiated) {
                (None, _) => "ERR not running with --replSet".into(),
                (Some(_), false) => "ERR no replset config has been received".into(),
                (Some(r), true) => format!("OK {r}"),
            },
            "RS-INITIATE" if f.len() == 3 => match (&s.repl_set, s.initiated) {
                (None, _) => "ERR This node was not started with replication enabled.".into(),
                (Some(_), true) => "ERR already initialized".into(),
                (Some(r), false) if r != f[1] => format!(
                    "ERR Attempting to initiate a replica set with name {}, but command line reports {r}; rejecting",
                    f[1]
                ),
                (Some(r), false) => {
                    let member_port = f[2].rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).unwrap_or(27017);
                    if member_port != s.port {
                        format!("ERR No host described in new configuration with {{version: 1, term: 0}} for replica set {r} maps to this node")
                    } else {
                        info!("replica set `{r}` initiated with member {} by {peer}: this node is PRIMARY", f[2]);
                        s.initiated = true;
                        s.save();
                        "OK".into()
                    }
                }
            },
            "CLIENT" => {
                let want = f.get(1).copied().unwrap_or("");
                match (&s.repl_set, s.initiated) {
                    (Some(r), _) if !want.is_empty() && r != want => format!(
                        "ERR no server matches: client wants replica set `{want}` but the server is in `{r}` (server selection timeout)"
                    ),
                    (Some(_), false) if !want.is_empty() => {
                        "ERR no primary: the replica set is not initiated yet (server selection timeout)".into()
                    }
                    (None, _) if !want.is_empty() => format!(
                        "ERR no server matches: client wants replica set `{want}` but the server runs without --replSet"
                    ),
                    _ => {
                        info!("client {peer} connected as `{}` (db {})", authed.as_deref().unwrap_or("-"), f.get(2).unwrap_or(&""));
                        "OK".into()
                    }
                }
            }
            other => format!("ERR no such command: '{other}'"),
        };
        drop(s);
        if stream.write_all(format!("{reply}\n").as_bytes()).is_err() {
            return;
        }
    }
}

/// `mongosh [--quiet] [-u U -p P --authenticationDatabase DB] [URI] --eval JS`
pub fn mongosh(args: Vec<String>) -> i32 {
    let mut user = String::new();
    let mut pass = String::new();
    let mut auth_db = String::from("admin");
    let mut eval = None;
    let mut host = String::from("127.0.0.1");
    let mut port = 27017u16;
    let mut quiet = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-u" | "--username" => user = it.next().unwrap_or_default(),
            "-p" | "--password" => pass = it.next().unwrap_or_default(),
            "--authenticationDatabase" => auth_db = it.next().unwrap_or_default(),
            "--eval" => eval = it.next(),
            "--host" => host = it.next().unwrap_or_default(),
            "--port" => port = it.next().and_then(|p| p.parse().ok()).unwrap_or(27017),
            "--quiet" => quiet = true,
            "--norc" | "--nodb" => {}
            s if s.starts_with("mongodb://") => match Url::parse(s) {
                Ok(u) => {
                    host = u.host.clone();
                    port = u.port_or(27017);
                    if !u.user.is_empty() {
                        user = u.user.clone();
                        pass = u.password.clone();
                    }
                    if let Some(a) = u.query("authSource") {
                        auth_db = a;
                    }
                }
                Err(e) => {
                    eprintln!("MongoParseError: {e}");
                    return 1;
                }
            },
            s => {
                eprintln!("mongosh (stand-in): unsupported argument `{s}`");
                return 1;
            }
        }
    }
    let Some(js) = eval else {
        eprintln!("mongosh (stand-in): only --eval is supported (no interactive shell)");
        return 1;
    };
    let mut stream = match crate::net::connect(&host, port, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("MongoNetworkError: connect ECONNREFUSED {host}:{port} ({e})");
            return 1;
        }
    };
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut call = |line: String| -> Result<String, String> {
        stream
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = read_line(&mut reader).ok_or("MongoNetworkError: connection closed")?;
        match r.strip_prefix("ERR ") {
            Some(e) => Err(e.to_string()),
            None => Ok(r.trim_start_matches("OK").trim().to_string()),
        }
    };
    if let Err(e) = call(MONGO_MAGIC.to_string()) {
        eprintln!("MongoServerError: {e}");
        return 1;
    }
    if !user.is_empty() {
        if let Err(e) = call(format!("AUTH\t{user}\t{pass}\t{auth_db}")) {
            eprintln!("MongoServerError: {e}");
            return 1;
        }
    }
    let quoted_after = |key: &str| -> Option<String> {
        let pos = js.find(key)? + key.len();
        let rest = js[pos..].trim_start();
        let q = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = rest[1..].find(q)?;
        Some(rest[1..1 + end].to_string())
    };
    let initiate = |call: &mut dyn FnMut(String) -> Result<String, String>| -> Result<(), String> {
        let init = &js[js.find("rs.initiate(").unwrap_or(0)..];
        let id = init
            .find("_id:")
            .and_then(|_| quoted_after("initiate({_id:").or_else(|| quoted_after("_id:")))
            .ok_or("rs.initiate: cannot read the replica set _id")?;
        let host = quoted_after("host:").ok_or("rs.initiate: cannot read the member host")?;
        call(format!("RS-INITIATE\t{id}\t{host}")).map(|_| {
            if !quiet {
                println!("{{ ok: 1 }}");
            }
        })
    };
    if js.contains("rs.status()") {
        if let Err(e) = call("RS-STATUS".into()) {
            if js.contains("catch") && js.contains("rs.initiate(") {
                if let Err(e) = initiate(&mut call) {
                    eprintln!("MongoServerError: {e}");
                    return 1;
                }
            } else {
                eprintln!("MongoServerError: {e}");
                return 1;
            }
        }
    } else if js.contains("rs.initiate(") {
        if let Err(e) = initiate(&mut call) {
            eprintln!("MongoServerError: {e}");
            return 1;
        }
    }
    if js.contains("isWritablePrimary") {
        return match call("HELLO".into()) {
            Ok(r) if r == "writable" => {
                if !quiet && !js.contains("quit(") {
                    println!("true");
                }
                0
            }
            Ok(_) => 1,
            Err(e) => {
                eprintln!("MongoServerError: {e}");
                1
            }
        };
    }
    if js.contains("ping") {
        if let Err(e) = call("PING".into()) {
            eprintln!("MongoServerError: {e}");
            return 1;
        }
        if !quiet {
            println!("{{ ok: 1 }}");
        }
    }
    0
}

// ------------------------------------------------------------------ MinIO

struct Minio {
    data: PathBuf,
    user: String,
    pass: String,
    domains: Vec<String>,
}

fn s3_error(status: u16, code: &str, message: &str, resource: &str) -> Response {
    Response::new(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><Resource>{resource}</Resource></Error>"
        ),
    )
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
}

impl Minio {
    /// The request's credentials: None when anonymous, Some(Ok) when they
    /// match the root user.
    fn auth(&self, req: &crate::http::Request) -> Option<Result<(), &'static str>> {
        let h = req.header("authorization")?;
        if let Some(pair) = h.strip_prefix("Standin ") {
            let (u, p) = pair.split_once(':').unwrap_or((pair, ""));
            return Some(if u != self.user {
                Err("InvalidAccessKeyId")
            } else if p != self.pass {
                Err("SignatureDoesNotMatch")
            } else {
                Ok(())
            });
        }
        // Real SDKs sign with SigV4; the stand-in checks the access key only.
        let key = h
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .or_else(|| h.strip_prefix("AWS ").and_then(|r| r.split(':').next()))
            .unwrap_or("");
        Some(if key == self.user {
            Ok(())
        } else {
            Err("InvalidAccessKeyId")
        })
    }

    fn handle(&self, req: &crate::http::Request) -> Response {
        let path = req.path.as_str();
        if path == "/minio/health/live"
            || path == "/minio/health/ready"
            || path == "/minio/health/cluster"
        {
            return Response::empty(200);
        }
        let host = req
            .header("host")
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let vhost = self
            .domains
            .iter()
            .find_map(|d| host.strip_suffix(&format!(".{d}")).map(str::to_string));
        let (bucket, key) = match vhost {
            Some(b) => (b, path.trim_start_matches('/').to_string()),
            None => {
                let p = path.trim_start_matches('/');
                let (b, k) = p.split_once('/').unwrap_or((p, ""));
                (b.to_string(), k.to_string())
            }
        };
        let bucket = crate::util::percent_decode(&bucket);
        let key = crate::util::percent_decode(&key);
        match self.auth(req) {
            None => return s3_error(403, "AccessDenied", "Access Denied.", path),
            Some(Err(code)) => {
                warn!(
                    "{} {}: rejected credentials ({code})",
                    req.method, req.target
                );
                return s3_error(
                    403,
                    code,
                    "The credentials in the request do not match (stand-in).",
                    path,
                );
            }
            Some(Ok(())) => {}
        }
        if bucket.is_empty() {
            let mut names: Vec<String> = std::fs::read_dir(&self.data)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            let list: String = names
                .iter()
                .map(|n| format!("<Bucket><Name>{n}</Name></Bucket>"))
                .collect();
            return Response::new(
                200,
                "application/xml",
                format!(
                    "<ListAllMyBucketsResult><Buckets>{list}</Buckets></ListAllMyBucketsResult>"
                ),
            );
        }
        if !valid_bucket(&bucket) {
            return s3_error(
                400,
                "InvalidBucketName",
                "The specified bucket is not valid.",
                &bucket,
            );
        }
        let dir = self.data.join(&bucket);
        if key.is_empty() {
            return match req.method.as_str() {
                "PUT" => {
                    if dir.is_dir() {
                        s3_error(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", &bucket)
                    } else {
                        match std::fs::create_dir_all(&dir) {
                            Ok(()) => {
                                info!("bucket `{bucket}` created");
                                Response::empty(200).with_header("Location", &format!("/{bucket}"))
                            }
                            Err(e) => s3_error(500, "InternalError", &e.to_string(), &bucket),
                        }
                    }
                }
                "HEAD" | "GET" if dir.is_dir() => Response::new(
                    200,
                    "application/xml",
                    format!("<ListBucketResult><Name>{bucket}</Name></ListBucketResult>"),
                ),
                "DELETE" if dir.is_dir() => match std::fs::remove_dir(&dir) {
                    Ok(()) => Response::empty(204),
                    Err(_) => s3_error(
                        409,
                        "BucketNotEmpty",
                        "The bucket you tried to delete is not empty",
                        &bucket,
                    ),
                },
                _ if !dir.is_dir() => s3_error(
                    404,
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                    &bucket,
                ),
                _ => s3_error(
                    405,
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                    &bucket,
                ),
            };
        }
        if !dir.is_dir() {
            return s3_error(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist",
                &bucket,
            );
        }
        if key.split('/').any(|s| s == ".." || s == ".") {
            return s3_error(400, "InvalidArgument", "Bad object key", &key);
        }
        let file = dir.join(&key);
        match req.method.as_str() {
            "PUT" => {
                if let Some(parent) = file.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                match std::fs::write(&file, &req.body) {
                    Ok(()) => {
                        let etag: String = crate::util::sha1(&req.body)
                            .iter()
                            .take(16)
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        Response::empty(200).with_header("ETag", &format!("\"{etag}\""))
                    }
                    Err(e) => s3_error(500, "InternalError", &e.to_string(), &key),
                }
            }
            "GET" | "HEAD" => match std::fs::read(&file) {
                Ok(b) if file.is_file() => Response::new(200, "application/octet-stream", b),
                _ => s3_error(404, "NoSuchKey", "The specified key does not exist.", &key),
            },
            "DELETE" => {
                let _ = std::fs::remove_file(&file);
                Response::empty(204)
            }
            _ => s3_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                &key,
            ),
        }
    }
}

/// `minio server /data [--address :9000]`
pub fn minio(args: Vec<String>) -> i32 {
    crate::log::set_role("minio");
    let mut args = args;
    if args.first().map(String::as_str) == Some("minio") {
        args.remove(0);
    }
    if args.first().map(String::as_str) != Some("server") {
        eprintln!("NAME:\n  minio - High Performance Object Storage (Burrow stand-in)\n\nUSAGE:\n  minio server DIR");
        return 1;
    }
    let mut data = None;
    let mut port = 9000u16;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--address" => {
                port = it
                    .next()
                    .and_then(|v| v.rsplit(':').next())
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(9000)
            }
            "--console-address" | "--certs-dir" => {
                it.next();
            }
            s if s.starts_with('-') => warn!("ignoring option {s}"),
            s => data = Some(PathBuf::from(s)),
        }
    }
    let Some(data) = data else {
        fatal("Unable to validate passed arguments: no data directory (minio server DIR)")
    };
    let user = env_req("MINIO_ROOT_USER", "minio.env sets the S3 access key");
    let pass = env_req("MINIO_ROOT_PASSWORD", "minio.env sets the S3 secret key");
    if user.len() < 3 {
        fatal("Unable to validate credentials inserted in command line: MINIO_ROOT_USER length should be at least 3");
    }
    if pass.len() < 8 {
        fatal("Unable to validate credentials inserted in command line: MINIO_ROOT_PASSWORD length should be at least 8");
    }
    if let Err(e) = std::fs::create_dir_all(&data) {
        fatal(&format!("Unable to use the drive {}: {e}", data.display()));
    }
    let probe = data.join(".minio.sys");
    if let Err(e) = std::fs::create_dir_all(&probe) {
        fatal(&format!(
            "Unable to use the drive {}: {e} (not writable)",
            data.display()
        ));
    }
    let domains: Vec<String> = std::env::var("MINIO_DOMAIN")
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    if domains.is_empty() {
        warn!("MINIO_DOMAIN is not set: only path-style bucket requests work");
    } else {
        info!("virtual-host style buckets on *.{}", domains.join(", *."));
    }
    let existing: Vec<String> = std::fs::read_dir(&data)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    info!(
        "MinIO Object Storage stand-in; data in {} (buckets: {})",
        data.display(),
        if existing.is_empty() {
            "none".into()
        } else {
            existing.join(", ")
        }
    );
    let m = Arc::new(Minio {
        data,
        user,
        pass,
        domains,
    });
    crate::http::spawn_server(ANY, port, Arc::new(move |req| m.handle(req)));
    info!("API: http://0.0.0.0:{port}");
    heartbeat(|| {
        format!(
            "{} requests served",
            crate::http::REQUESTS.load(std::sync::atomic::Ordering::Relaxed)
        )
    })
}

// ---------------------------------------------------------- mc / buckets

static ALIASES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// (base URL, access key, secret key) of an alias (`mc alias set` or
/// `MC_HOST_<alias>`).
fn alias(name: &str) -> Result<(String, String, String), String> {
    let url = ALIASES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, u)| u.clone())
        .or_else(|| std::env::var(format!("MC_HOST_{name}")).ok())
        .ok_or_else(|| format!("mc: <ERROR> Unable to initialize new alias from the provided credentials. alias `{name}` not found (neither `mc alias set` nor MC_HOST_{name})"))?;
    let u = Url::parse(&url).map_err(|e| format!("mc: <ERROR> MC_HOST_{name}: {e}"))?;
    if u.user.is_empty() || u.password.is_empty() {
        return Err(format!(
            "mc: <ERROR> MC_HOST_{name} has no credentials (http://KEY:SECRET@host:port)"
        ));
    }
    Ok((
        format!(
            "{}://{}:{}",
            u.scheme,
            u.host,
            u.port_or(if u.scheme == "https" { 443 } else { 80 })
        ),
        u.user,
        u.password,
    ))
}

fn mc_ready(name: &str) -> i32 {
    let (base, _, _) = match alias(name) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    match crate::http::request(
        "GET",
        &format!("{base}/minio/health/ready"),
        &[],
        b"",
        Duration::from_secs(5),
    ) {
        Ok(r) if r.status == 200 => {
            println!("The cluster is ready");
            0
        }
        Ok(r) => {
            println!("The cluster is not ready (HTTP {})", r.status);
            1
        }
        Err(e) => {
            println!("The cluster is unreachable: {e}");
            1
        }
    }
}

fn mc_mb(target: &str, ignore_existing: bool) -> i32 {
    let Some((name, bucket)) = target.split_once('/') else {
        eprintln!("mc: <ERROR> Unable to make bucket `{target}`: expected ALIAS/BUCKET");
        return 1;
    };
    let (base, key, secret) = match alias(name) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let auth = format!("Standin {key}:{secret}");
    match crate::http::request(
        "PUT",
        &format!("{base}/{bucket}"),
        &[("Authorization", &auth)],
        b"",
        Duration::from_secs(10),
    ) {
        Ok(r) if r.status == 200 => {
            println!("Bucket created successfully `{target}`.");
            0
        }
        Ok(r) if r.status == 409 && ignore_existing => {
            println!("Bucket `{target}` already exists.");
            0
        }
        Ok(r) => {
            eprintln!(
                "mc: <ERROR> Unable to make bucket `{target}`. HTTP {}: {}",
                r.status,
                r.text()
            );
            1
        }
        Err(e) => {
            eprintln!("mc: <ERROR> Unable to make bucket `{target}`. {e}");
            1
        }
    }
}

/// `mc ready ALIAS`, `mc mb [--ignore-existing] ALIAS/BUCKET...`,
/// `mc alias set ALIAS URL KEY SECRET`.
pub fn mc(args: Vec<String>) -> i32 {
    crate::log::set_role("mc");
    let args: Vec<String> = args
        .into_iter()
        .filter(|a| a != "--quiet" && a != "-q" && a != "--no-color")
        .collect();
    match args.first().map(String::as_str) {
        Some("ready") => match args.get(1) {
            Some(a) => mc_ready(a),
            None => {
                eprintln!("mc: <ERROR> ready: ALIAS expected");
                1
            }
        },
        Some("mb") => {
            let ignore = args.iter().any(|a| a == "--ignore-existing" || a == "-p");
            let targets: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
            if targets.is_empty() {
                eprintln!("mc: <ERROR> mb: ALIAS/BUCKET expected");
                return 1;
            }
            targets.iter().map(|t| mc_mb(t, ignore)).max().unwrap_or(0)
        }
        Some("alias") | Some("config")
            if args.len() >= 6 && matches!(args[1].as_str(), "set" | "host") =>
        {
            let (name, url, key, secret) = if args[1] == "host" {
                (
                    &args[3],
                    &args[4],
                    &args[5],
                    args.get(6).cloned().unwrap_or_default(),
                )
            } else {
                (&args[2], &args[3], &args[4], args[5].clone())
            };
            let Ok(u) = Url::parse(url) else {
                eprintln!("mc: <ERROR> Invalid URL `{url}`");
                return 1;
            };
            let full = format!(
                "{}://{}:{}@{}:{}",
                u.scheme,
                key,
                secret,
                u.host,
                u.port_or(80)
            );
            ALIASES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((name.clone(), full));
            println!("Added `{name}` successfully.");
            0
        }
        Some("--version") | Some("-v") => {
            println!("mc version RELEASE.standin (Burrow test kit)");
            0
        }
        other => {
            eprintln!(
                "mc (stand-in): unsupported command {:?}; supported: ready, mb, alias set",
                other.unwrap_or("")
            );
            1
        }
    }
}

/// The bucket job without a shell: wait for `minio` to be ready, create
/// the bucket (`$BUCKET`, an argument, or revolt-uploads).
pub fn createbuckets(args: Vec<String>) -> i32 {
    crate::log::set_role("createbuckets");
    let bucket = args
        .first()
        .cloned()
        .or_else(|| std::env::var("BUCKET").ok())
        .unwrap_or_else(|| "revolt-uploads".into());
    info!("creating bucket `{bucket}` on alias `minio` (MC_HOST_minio)");
    if let Err(e) = alias("minio") {
        fatal(&e);
    }
    let mut tries = 0;
    while mc_ready("minio") != 0 {
        tries += 1;
        if tries % 5 == 1 {
            info!("waiting for minio");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    mc_mb(&format!("minio/{bucket}"), true)
}

// ---------------------------------------------------------------- LiveKit

/// `livekit-server --config /etc/livekit.yml`
pub fn livekit(args: Vec<String>) -> i32 {
    crate::log::set_role("livekit");
    let mut config_path = None;
    let mut bind_override = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config_path = it.next().cloned(),
            s if s.starts_with("--config=") => config_path = Some(s[9..].to_string()),
            "--bind" => bind_override = it.next().cloned(),
            "--dev" => fatal("--dev is not supported by the stand-in: give --config"),
            "livekit-server" => {}
            s => warn!("ignoring argument {s}"),
        }
    }
    let text = match (&config_path, std::env::var("LIVEKIT_CONFIG")) {
        (Some(p), _) => std::fs::read_to_string(p).unwrap_or_else(|e| {
            fatal(&format!(
                "could not read config file {p}: {e}{}",
                if Path::new(p).is_dir() {
                    " (a directory: the file was not mounted)"
                } else {
                    ""
                }
            ))
        }),
        (None, Ok(body)) => body,
        (None, Err(_)) => fatal("no config: pass --config /etc/livekit.yml (or LIVEKIT_CONFIG)"),
    };
    let doc = crate::yaml::parse(&text)
        .unwrap_or_else(|e| fatal(&format!("could not parse config: yaml: {e}")));
    let mut errors = Vec::new();
    let port = doc.int("port").unwrap_or(7880);
    let tcp_port = doc.int("rtc.tcp_port");
    let start = doc.int("rtc.port_range_start");
    let end = doc.int("rtc.port_range_end");
    if doc.get("rtc").is_none() {
        errors.push("missing `rtc` section".to_string());
    }
    if tcp_port.is_none() {
        errors.push("missing rtc.tcp_port".into());
    }
    match (start, end) {
        (Some(s), Some(e)) if s <= e && s > 0 && e < 65536 => {}
        (Some(s), Some(e)) => {
            errors.push(format!("rtc.port_range_start {s} > rtc.port_range_end {e}"))
        }
        _ => errors.push("missing rtc.port_range_start / rtc.port_range_end".into()),
    }
    let external = doc.bool("rtc.use_external_ip").unwrap_or(false);
    let node_ip = doc.str("rtc.node_ip").map(str::to_string);
    if !external && node_ip.is_none() {
        warn!("neither rtc.use_external_ip nor rtc.node_ip: clients outside this host cannot reach the media ports");
    }
    let keys: Vec<(String, String)> = doc
        .map("keys")
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        match v {
                            crate::yaml::Yaml::Scalar(s) => s.clone(),
                            _ => String::new(),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        errors.push("one of key-file or keys must be provided".into());
    }
    for (k, s) in &keys {
        if s.len() < 32 {
            errors.push(format!(
                "secret is too short, should be at least 32 characters for security (key {k})"
            ));
        }
    }
    let redis_addr = doc.str("redis.address").map(str::to_string);
    let redis_pass = doc.str("redis.password").unwrap_or("").to_string();
    if redis_addr.is_none() {
        warn!("no redis.address: running single-node without Redis");
    }
    let webhook_key = doc.str("webhook.api_key").map(str::to_string);
    let webhook_urls: Vec<String> = doc
        .list("webhook.urls")
        .map(|l| {
            l.iter()
                .filter_map(|u| match u {
                    crate::yaml::Yaml::Scalar(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(k) = &webhook_key {
        if !keys.iter().any(|(kk, _)| kk == k) {
            errors.push(format!("webhook.api_key `{k}` is not one of the keys"));
        }
        if webhook_urls.is_empty() {
            errors.push("webhook.api_key without webhook.urls".into());
        }
    }
    if !errors.is_empty() {
        fatal(&format!("invalid configuration: {}", errors.join("; ")));
    }
    let (start, end) = (start.unwrap_or(0) as u16, end.unwrap_or(0) as u16);
    info!(
        "starting LiveKit stand-in: port {port}, rtc.tcp_port {}, udp {start}-{end}, {} key(s), {}",
        tcp_port.unwrap_or(0),
        keys.len(),
        match &node_ip {
            Some(ip) => format!("node_ip {ip}"),
            None => "external IP (STUN)".into(),
        }
    );
    let bind: IpAddr = bind_override.and_then(|b| b.parse().ok()).unwrap_or(ANY);
    // RTC over TCP: accept and log.
    let tcp = listen(bind, tcp_port.unwrap_or(7881) as u16);
    accept_loop(tcp, |mut s| {
        info!(
            "rtc tcp connection from {}",
            s.peer_addr().map(|p| p.to_string()).unwrap_or_default()
        );
        let _ = s.write_all(b"");
        crate::deps::drain(&mut s);
    });
    // RTC over UDP: bind the range, log datagrams.
    let mut bound = 0;
    for p in start..=end {
        match UdpSocket::bind(SocketAddr::new(bind, p)) {
            Ok(sock) => {
                bound += 1;
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1500];
                    while let Ok((n, from)) = sock.recv_from(&mut buf) {
                        info!("rtc udp datagram on {p} from {from}: {n} bytes");
                        let _ = sock.send_to(&buf[..n], from);
                    }
                });
            }
            Err(e) => error!("cannot bind udp {p}: {e}"),
        }
        if p == u16::MAX {
            break;
        }
    }
    info!("rtc: {bound} UDP port(s) bound");
    let rooms = crate::lkapi::Rooms::default();
    let api_keys = keys.clone();
    crate::http::spawn_server(
        bind,
        port as u16,
        Arc::new(move |req| {
            if req.wants_websocket() {
                // Joining needs a token, as on LiveKit; the participant is
                // in its room while the socket stays open.
                let presence = match crate::lkapi::join(req, &api_keys, &rooms) {
                    Ok(p) => p,
                    Err(refusal) => return refusal,
                };
                // The path only: the query holds the token.
                let path = req.path.clone();
                return Response::websocket(
                    req,
                    WsSession {
                        greeting: vec![format!(
                            "{{\"standin\":\"livekit\",\"path\":{}}}",
                            json_str(&path)
                        )],
                        on_text: Box::new(move |t| {
                            let _in_room = &presence;
                            Some(format!("{{\"echo\":{}}}", json_str(t)))
                        }),
                    },
                );
            }
            if req.path.starts_with("/twirp/livekit.RoomService/") {
                return crate::lkapi::twirp(req, &api_keys, &rooms);
            }
            match req.path.as_str() {
                "/" => Response::text(200, "OK"),
                "/rtc/validate" => Response::text(200, "success"),
                "/standin/redirect" => {
                    Response::empty(302).with_header("Location", "/standin/landed")
                }
                _ => Response::text(404, "404 page not found"),
            }
        }),
    );
    if let Some(addr) = redis_addr {
        let (host, p) = addr
            .rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.to_string()))
            .unwrap_or((addr.clone(), "6379".into()));
        let uri = format!("redis://:{}@{host}:{p}/", percent_encode(&redis_pass));
        crate::deps::watch(vec![crate::deps::Dep::Redis(uri)]);
    }
    if let (Some(key), false) = (webhook_key, webhook_urls.is_empty()) {
        std::thread::spawn(move || webhooks(key, webhook_urls));
    }
    heartbeat(|| {
        format!(
            "{} requests served; {}",
            crate::http::REQUESTS.load(std::sync::atomic::Ordering::Relaxed),
            crate::deps::states()
        )
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends one `room_started`-like event to each webhook URL, retrying until
/// it is accepted: checks the URL (and its node name) reach voice-ingress.
fn webhooks(key: String, urls: Vec<String>) {
    for url in urls {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let body = format!("{{\"event\":\"room_started\",\"room\":{{\"name\":\"standin-probe\"}},\"id\":\"EV_standin{attempt}\"}}");
            let auth = format!("Standin {key}");
            match crate::http::request(
                "POST",
                &url,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/webhook+json"),
                ],
                body.as_bytes(),
                Duration::from_secs(5),
            ) {
                Ok(r) if (200..300).contains(&r.status) => {
                    info!("webhook {url} accepted (HTTP {})", r.status);
                    break;
                }
                Ok(r) => error!(
                    "webhook {url} refused: HTTP {} {}",
                    r.status,
                    crate::http::truncate(&r.text(), 200)
                ),
                Err(e) => warn!("webhook {url} not reachable (attempt {attempt}): {e}"),
            }
            std::thread::sleep(Duration::from_secs(5));
        }
    }
}
