//! `standin`: one static binary standing in for every service of a Stoat
//! stack, for Burrow's test kit (deploys without any image registry).
//!
//! `standin <role> [args...]` runs a role; installed under another name
//! (`mongosh`, `mc`, `minio`, ...) it behaves as that tool (multi-call,
//! chosen by argv[0]). Redis, RabbitMQ and the shells are not stood in
//! for: the test kit's images carry Debian's Redis, RabbitMQ and busybox.

mod amqp;
mod backends;
mod config;
mod deps;
mod http;
mod infra;
mod lkapi;
mod log;
mod net;
mod sig;
mod util;
mod yaml;

/// Roles: every service of the stack.
pub const ROLES: [&str; 13] = [
    "database",
    "minio",
    "createbuckets",
    "livekit",
    "api",
    "events",
    "autumn",
    "january",
    "gifbox",
    "crond",
    "pushd",
    "voice-ingress",
    "web",
];

pub fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn usage() -> i32 {
    eprintln!(
        "standin {} - Burrow test-kit stand-in for the services of a Stoat stack\n\n\
         usage: standin ROLE [ARGS...]\n       standin probe tcp HOST:PORT | probe http URL\n\n\
         roles: {}\n\n\
         Multi-call names (argv[0]): docker-entrypoint.sh, mongod, mongosh, mongo,\n\
         minio, mc, livekit-server.\n\n\
         Backends read $STANDIN_REVOLT_TOML or /Revolt.toml; STANDIN_PORT overrides the port.",
        env!("CARGO_PKG_VERSION"),
        ROLES.join(", ")
    );
    2
}

/// `standin probe tcp HOST:PORT` / `standin probe http URL`: exit 0 when
/// the port accepts / the URL answers 2xx or 3xx.
fn probe(args: &[String]) -> i32 {
    let timeout = std::time::Duration::from_secs(5);
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("tcp"), Some(target)) => {
            let Some((host, port)) = target.rsplit_once(':') else {
                eprintln!("probe tcp: HOST:PORT expected");
                return 2;
            };
            let Ok(port) = port.parse() else {
                eprintln!("probe tcp: bad port");
                return 2;
            };
            match net::connect(host, port, timeout) {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("probe tcp {target}: {e}");
                    1
                }
            }
        }
        (Some("http"), Some(url)) => match http::request("GET", url, &[], b"", timeout) {
            Ok(r) if (200..400).contains(&r.status) => 0,
            Ok(r) => {
                eprintln!("probe http {url}: HTTP {}", r.status);
                1
            }
            Err(e) => {
                eprintln!("probe http {url}: {e}");
                1
            }
        },
        _ => usage(),
    }
}

pub fn run_role(role: &str, args: Vec<String>) -> i32 {
    crash_later();
    match role {
        "database" => infra::database(args, true),
        "minio" => infra::minio(args),
        "createbuckets" => infra::createbuckets(args),
        "livekit" => infra::livekit(args),
        "api" => backends::backend("api", args),
        "events" => backends::backend("events", args),
        "autumn" => backends::backend("autumn", args),
        "january" => backends::backend("january", args),
        "gifbox" => backends::backend("gifbox", args),
        "crond" => backends::backend("crond", args),
        "pushd" => backends::backend("pushd", args),
        "voice-ingress" => backends::backend("voice-ingress", args),
        "web" => backends::web(args),
        "probe" => probe(&args),
        "version" | "--version" => {
            println!("standin {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => usage(),
    }
}

/// Runs `name` (an argv[0] basename) with `args`.
pub fn dispatch(name: &str, args: Vec<String>) -> i32 {
    match name {
        "standin" => match args.split_first() {
            Some((role, rest)) => run_role(role, rest.to_vec()),
            None => usage(),
        },
        "docker-entrypoint.sh" => {
            // The official images' entrypoints: first argument picks the server.
            let first = args.first().map(String::as_str).unwrap_or("");
            // As root they give the data directories to the service's user
            // and run on as that user (gosu), like the official images.
            let drop = |user: &str, dirs: &[&str]| -> Option<i32> {
                match util::drop_to(user, dirs) {
                    Ok(()) => None,
                    Err(e) => {
                        eprintln!("{e}");
                        Some(1)
                    }
                }
            };
            match first {
                "mongod" => drop("mongodb", &["/data/db", "/data/configdb"])
                    .unwrap_or_else(|| infra::database(args, true)),
                "minio" => infra::minio(args),
                _ if first.starts_with('-') || first.is_empty() => {
                    match std::env::var("STANDIN_ROLE") {
                        Ok(role) => run_role(&role, args),
                        Err(_) => usage(),
                    }
                }
                // Anything else runs as given (`exec "$@"`).
                _ => util::exec(&args),
            }
        }
        "mongod" => infra::database(args, false),
        "mongosh" | "mongo" => infra::mongosh(args),
        "minio" => infra::minio(args),
        "mc" => infra::mc(args),
        "livekit-server" => infra::livekit(args),
        other if ROLES.contains(&other) => run_role(other, args),
        other => {
            eprintln!("standin: unknown multi-call name `{other}`");
            usage()
        }
    }
}

/// `STANDIN_CRASH_AFTER_MS`: the test kit's crash-looping release (its
/// image sets it): the role runs normally, turns healthy, then the process
/// exits with 1 after that many milliseconds, every time it is started.
fn crash_later() {
    let Some(ms) = std::env::var("STANDIN_CRASH_AFTER_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        eprintln!("standin: crashing after {ms} ms (STANDIN_CRASH_AFTER_MS)");
        std::process::exit(1);
    });
}

fn main() {
    sig::install();
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_else(|| "standin".into());
    let code = dispatch(&basename(&argv0), args.collect());
    std::process::exit(code);
}
