//! Stoat's backends (api, events, autumn, january, gifbox, crond, pushd,
//! voice-ingress) and the web client: load /Revolt.toml like the real
//! services (dying on what they die on), connect to their dependencies,
//! serve their port.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::deps::Dep;
use crate::http::{Request, Response, WsSession, REQUESTS};
use crate::util::json_str;
use crate::{info, warn};

/// The Stoat release the stand-ins claim to be.
pub const VERSION: &str = "0.16.2";

const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

pub fn port_of(role: &str) -> Option<u16> {
    let default = match role {
        "api" => 14702,
        "events" => 14703,
        "autumn" => 14704,
        "january" => 14705,
        "gifbox" => 14706,
        "voice-ingress" => 8500,
        "web" => 5000,
        _ => return None,
    };
    Some(
        std::env::var("STANDIN_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(default),
    )
}

fn standin_json(role: &str, req: &Request) -> String {
    format!(
        "{{\"role\":{},\"method\":{},\"path\":{}}}",
        json_str(role),
        json_str(&req.method),
        json_str(&req.target)
    )
}

fn not_found(role: &str, req: &Request) -> Response {
    Response::json(
        404,
        format!(
            "{{\"type\":\"NotFound\",\"x_standin\":{}}}",
            standin_json(role, req)
        ),
    )
}

fn deps_of(role: &str, c: &Config) -> Vec<Dep> {
    let mongo = || Dep::Mongo(c.str("database.mongodb").to_string());
    let redis = || Dep::Redis(c.str("database.redis").to_string());
    let rabbit = || Dep::Rabbit {
        host: c.str("rabbit.host").to_string(),
        port: c
            .get("rabbit.port")
            .and_then(|v| v.as_integer())
            .unwrap_or(5672) as u16,
        user: c.str("rabbit.username").to_string(),
        pass: c.str("rabbit.password").to_string(),
    };
    let s3 = || Dep::S3 {
        endpoint: c.str("files.s3.endpoint").to_string(),
        path_style: c.bool("files.s3.path_style_buckets"),
        bucket: c.str("files.s3.default_bucket").to_string(),
        key: c.str("files.s3.access_key_id").to_string(),
        secret: c.str("files.s3.secret_access_key").to_string(),
    };
    match role {
        "api" => vec![mongo(), redis(), rabbit()],
        "events" => vec![mongo(), redis()],
        "autumn" => vec![mongo(), s3()],
        "gifbox" => vec![mongo()],
        "crond" => vec![mongo(), redis(), s3()],
        "pushd" | "voice-ingress" => vec![mongo(), redis(), rabbit()],
        _ => vec![],
    }
}

/// The JSON of Stoat's `GET /` (instance configuration), from Revolt.toml.
fn root_json(c: &Config, req: &Request) -> String {
    let nodes: Vec<String> = c
        .livekit_nodes()
        .iter()
        .map(|n| {
            let base = format!("api.livekit.nodes.{n}");
            let num = |f: &str| {
                c.get(&format!("{base}.{f}"))
                    .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                    .unwrap_or(0.0)
            };
            format!(
                "{{\"name\":{},\"lat\":{},\"lon\":{},\"public_url\":{}}}",
                json_str(n),
                num("lat"),
                num("lon"),
                json_str(c.str(&format!("hosts.livekit.{n}")))
            )
        })
        .collect();
    let hcaptcha = c.str("api.security.captcha.hcaptcha_sitekey");
    format!(
        concat!(
            "{{\"revolt\":\"{ver}\",",
            "\"features\":{{",
            "\"captcha\":{{\"enabled\":{captcha},\"key\":{hkey}}},",
            "\"email\":{email},",
            "\"invite_only\":{invite},",
            "\"autumn\":{{\"enabled\":{autumn_on},\"url\":{autumn}}},",
            "\"january\":{{\"enabled\":{january_on},\"url\":{january}}},",
            "\"livekit\":{{\"enabled\":{lk},\"nodes\":[{nodes}]}}",
            "}},",
            "\"ws\":{ws},\"app\":{app},\"vapid\":{vapid},",
            "\"build\":{{\"commit_sha\":\"standin\",\"commit_timestamp\":\"\",\"semver\":\"{ver}\",\"origin_url\":\"\",\"timestamp\":\"\"}},",
            "\"x_standin\":{standin}}}"
        ),
        ver = VERSION,
        captcha = !c.str("api.security.captcha.hcaptcha_key").is_empty(),
        hkey = json_str(hcaptcha),
        email = !c.str("api.smtp.host").is_empty(),
        invite = c.bool("api.registration.invite_only"),
        autumn_on = !c.str("hosts.autumn").is_empty(),
        january_on = !c.str("hosts.january").is_empty(),
        autumn = json_str(c.str("hosts.autumn")),
        january = json_str(c.str("hosts.january")),
        lk = !nodes.is_empty(),
        nodes = nodes.join(","),
        ws = json_str(c.str("hosts.events")),
        app = json_str(c.str("hosts.app")),
        vapid = json_str(c.str("pushd.vapid.public_key")),
        standin = standin_json("api", req),
    )
}

/// A service the instance JSON advertises (its `hosts.*` is set) whose
/// name does not resolve on the stack network: it is not running.
fn advertised_but_absent(c: &Config) -> Option<String> {
    let absent: Vec<String> = [
        ("hosts.autumn", "autumn", 14704),
        ("hosts.january", "january", 14705),
        ("hosts.events", "events", 14703),
    ]
    .iter()
    .filter(|(key, _, _)| !c.str(key).is_empty())
    .filter(|(_, name, port)| crate::net::resolve(name, *port).map_or(true, |a| a.is_empty()))
    .map(|(key, name, _)| {
        format!("{key} is set, so clients are sent to {name}, but no `{name}` runs on the network")
    })
    .collect();
    (!absent.is_empty()).then(|| absent.join("; "))
}

fn handler(role: &'static str, c: Arc<Config>) -> crate::http::Handler {
    Arc::new(move |req: &Request| {
        if req.path == "/standin/redirect" {
            // For proxy tests: Caddy must rewrite this to /<prefix>/standin/landed.
            return Response::empty(302).with_header("Location", "/standin/landed");
        }
        let info = standin_json(role, req);
        match role {
            "api" => match (req.method.as_str(), req.path.as_str()) {
                ("GET", "/") => match advertised_but_absent(&c) {
                    // Clients call what GET / reports: a service reported
                    // but not on the network breaks them.
                    Some(problem) => {
                        crate::error!("{problem}");
                        Response::json(
                            503,
                            format!("{{\"type\":\"InternalError\",\"standin\":{}}}", json_str(&problem)),
                        )
                    }
                    None => Response::json(200, root_json(&c, req)),
                },
                // For the load bench: a request with a body (as the API's
                // POSTs carry), and one that takes its time.
                ("POST", "/standin/echo") => Response::json(
                    200,
                    format!("{{\"received\":{},\"x_standin\":{info}}}", req.body.len()),
                ),
                ("GET", "/standin/slow") => {
                    let ms = req
                        .target
                        .split_once("ms=")
                        .and_then(|(_, v)| v.split('&').next()?.parse::<u64>().ok())
                        .unwrap_or(5000);
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    Response::json(200, format!("{{\"slept_ms\":{ms},\"x_standin\":{info}}}"))
                }
                ("GET", "/metrics") => Response::text(
                    200,
                    &format!(
                        "# HELP standin_requests_total Requests served\n# TYPE standin_requests_total counter\nstandin_requests_total {}\n",
                        REQUESTS.load(Ordering::Relaxed)
                    ),
                ),
                _ => not_found(role, req),
            },
            "events" => {
                // STANDIN_REFUSE_WEBSOCKET: the test kit's release whose
                // events server is healthy but refuses every WebSocket (the
                // update's app probe through Caddy must catch it).
                if req.wants_websocket() && std::env::var_os("STANDIN_REFUSE_WEBSOCKET").is_some() {
                    Response::json(
                        503,
                        "{\"type\":\"InternalError\",\"error\":\"WebSockets refused (STANDIN_REFUSE_WEBSOCKET)\"}".to_string(),
                    )
                } else if req.wants_websocket() {
                    let path = req.target.clone();
                    Response::websocket(
                        req,
                        WsSession {
                            greeting: vec![format!(
                                "{{\"type\":\"Authenticated\",\"x_standin\":{{\"role\":\"events\",\"path\":{}}}}}",
                                json_str(&path)
                            )],
                            on_text: Box::new(|text| {
                                if text.contains("\"Ping\"") {
                                    let data = text
                                        .split("\"data\":")
                                        .nth(1)
                                        .map(|d| d.trim_end_matches('}').trim().to_string())
                                        .unwrap_or_else(|| "0".into());
                                    Some(format!("{{\"type\":\"Pong\",\"data\":{data}}}"))
                                } else {
                                    Some(format!("{{\"type\":\"Echo\",\"data\":{}}}", json_str(text)))
                                }
                            }),
                        },
                    )
                } else {
                    Response::json(
                        426,
                        format!(
                            "{{\"type\":\"UpgradeRequired\",\"error\":\"connect with a WebSocket\",\"x_standin\":{info}}}"
                        ),
                    )
                    .with_header("Upgrade", "websocket")
                }
            }
            "autumn" => match (req.method.as_str(), req.path.as_str()) {
                ("GET", "/") => Response::json(
                    200,
                    format!(
                        "{{\"autumn\":\"{VERSION}\",\"bucket\":{},\"tags\":{{\"attachments\":{{\"max_size\":20000000}},\"avatars\":{{\"max_size\":4000000}},\"backgrounds\":{{\"max_size\":6000000}},\"icons\":{{\"max_size\":2500000}},\"banners\":{{\"max_size\":6000000}},\"emojis\":{{\"max_size\":500000}}}},\"x_standin\":{info}}}",
                        json_str(c.str("files.s3.default_bucket"))
                    ),
                ),
                _ => not_found(role, req),
            },
            "january" => match (req.method.as_str(), req.path.as_str()) {
                ("GET", "/") => Response::json(200, format!("{{\"january\":\"{VERSION}\",\"x_standin\":{info}}}")),
                // Never fetches anything: the test kit only talks to loopback.
                ("GET", "/embed") => Response::json(200, format!("{{\"type\":\"None\",\"x_standin\":{info}}}")),
                _ => not_found(role, req),
            },
            "gifbox" => match (req.method.as_str(), req.path.as_str()) {
                ("GET", "/") => Response::json(
                    200,
                    format!(
                        "{{\"gifbox\":\"{VERSION}\",\"tenor\":{},\"x_standin\":{info}}}",
                        !c.str("api.security.tenor_key").is_empty()
                    ),
                ),
                _ => not_found(role, req),
            },
            "voice-ingress" => voice_ingress(&c, req, &info),
            _ => not_found(role, req),
        }
    })
}

/// LiveKit posts its webhooks to `/<node>`; the node must be one of
/// `[api.livekit.nodes]` and the key the node's key.
fn voice_ingress(c: &Config, req: &Request, info: &str) -> Response {
    let node = req.path.trim_start_matches('/');
    match req.method.as_str() {
        "GET" if node.is_empty() => {
            let nodes: Vec<String> = c.livekit_nodes().iter().map(|n| json_str(n)).collect();
            Response::json(
                200,
                format!(
                    "{{\"voice_ingress\":\"{VERSION}\",\"nodes\":[{}],\"x_standin\":{info}}}",
                    nodes.join(",")
                ),
            )
        }
        "POST" => {
            if !c.livekit_nodes().iter().any(|n| n == node) {
                crate::error!("webhook for unknown node `{node}` (nodes: {:?}): the webhook URL's last segment must name a node of [api.livekit.nodes]", c.livekit_nodes());
                return Response::json(
                    404,
                    format!(
                        "{{\"type\":\"UnknownNode\",\"node\":{},\"x_standin\":{info}}}",
                        json_str(node)
                    ),
                );
            }
            let expected = c.str(&format!("api.livekit.nodes.{node}.key"));
            let auth = req.header("authorization").unwrap_or("");
            let given = auth
                .strip_prefix("Standin ")
                .or_else(|| auth.strip_prefix("Bearer "));
            match given {
                Some(k) if k == expected => {
                    info!(
                        "webhook for node `{node}` accepted: {}",
                        crate::http::truncate(&String::from_utf8_lossy(&req.body), 200)
                    );
                    Response::json(200, format!("{{\"ok\":true,\"x_standin\":{info}}}"))
                }
                Some(k) if k.starts_with("ey") => {
                    warn!("webhook for node `{node}` carries a JWT; the stand-in does not verify its signature");
                    Response::json(200, format!("{{\"ok\":true,\"x_standin\":{info}}}"))
                }
                _ => {
                    crate::error!("webhook for node `{node}`: the API key does not match api.livekit.nodes.{node}.key");
                    Response::json(
                        401,
                        format!("{{\"type\":\"InvalidCredentials\",\"x_standin\":{info}}}"),
                    )
                }
            }
        }
        _ => not_found("voice-ingress", req),
    }
}

/// A Stoat backend.
pub fn backend(role: &'static str, args: Vec<String>) -> i32 {
    crate::log::set_role(role);
    if !args.is_empty() {
        warn!("ignoring arguments {args:?}");
    }
    info!(
        "Starting {role} (Burrow test-kit stand-in for Stoat {VERSION}), config {}",
        crate::config::path()
    );
    let config = match crate::config::load() {
        Ok(c) => c,
        Err(e) => crate::log::fatal(&e),
    };
    match crate::config::check_role(&config, role) {
        Ok(warnings) => {
            for w in warnings {
                warn!("{w}");
            }
        }
        Err(e) => crate::log::fatal(&format!("configuration error: {e}")),
    }
    info!(
        "configuration loaded: {} sections; checked {} required key(s)",
        config.root.len(),
        crate::config::required(role).len()
    );
    let config = Arc::new(config);
    crate::deps::watch(deps_of(role, &config));
    match role {
        "crond" => {
            let mut tick = 0u64;
            loop {
                std::thread::sleep(Duration::from_secs(10));
                tick += 1;
                let task =
                    ["prune_dangling_files", "prune_members", "file_deletion"][(tick % 3) as usize];
                info!(
                    "scheduler: ran task `{task}` (tick {tick}); {}",
                    crate::deps::states()
                );
            }
        }
        "pushd" => {
            let mut tick = 0u64;
            loop {
                std::thread::sleep(Duration::from_secs(10));
                tick += 1;
                info!("consumer: waiting for notifications on queue `notifications.origin.message` (tick {tick}); {}", crate::deps::states());
            }
        }
        _ => {
            let port = port_of(role).expect("a backend with a port");
            crate::http::spawn_server(ANY, port, handler(role, config.clone()));
            crate::infra::heartbeat(|| {
                format!(
                    "{} requests served; {}",
                    REQUESTS.load(Ordering::Relaxed),
                    crate::deps::states()
                )
            })
        }
    }
}

const WEB_ENV: [&str; 3] = ["HOSTNAME", "REVOLT_PUBLIC_URL", "VITE_API_URL"];
/// Set, but empty for a service that does not run.
const WEB_OPTIONAL_URLS: [&str; 4] = [
    "VITE_WS_URL",
    "VITE_MEDIA_URL",
    "VITE_PROXY_URL",
    "VITE_GIFBOX_URL",
];

/// The web client: an HTML page with the runtime configuration injected.
pub fn web(args: Vec<String>) -> i32 {
    crate::log::set_role("web");
    if !args.is_empty() {
        warn!("ignoring arguments {args:?}");
    }
    let mut missing = Vec::new();
    let mut vars = Vec::new();
    for k in WEB_ENV {
        match std::env::var(k) {
            Ok(v) if !v.is_empty() => vars.push((k.to_string(), v)),
            _ => missing.push(k),
        }
    }
    if !missing.is_empty() {
        crate::log::fatal(&format!(
            "environment not set: {} (the client's placeholders would be left in the bundle)",
            missing.join(", ")
        ));
    }
    for k in WEB_OPTIONAL_URLS {
        match std::env::var(k) {
            Ok(v) => vars.push((k.to_string(), v)),
            Err(_) => missing.push(k),
        }
    }
    if !missing.is_empty() {
        crate::log::fatal(&format!(
            "environment not set: {} (empty turns a service off; unset leaves the placeholder in the bundle)",
            missing.join(", ")
        ));
    }
    for k in ["VITE_CFG_ENABLE_VIDEO", "VITE_HCAPTCHA_SITEKEY"] {
        vars.push((k.to_string(), std::env::var(k).unwrap_or_default()));
    }
    for (k, v) in &vars {
        if k.ends_with("_URL") && !v.is_empty() && !v.starts_with("http") && !v.starts_with("ws") {
            crate::log::fatal(&format!("{k}={v:?} is not a URL"));
        }
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000);
    info!(
        "injecting runtime configuration: {}",
        vars.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let config_json = format!(
        "{{{}}}",
        vars.iter()
            .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
            .collect::<Vec<_>>()
            .join(",")
    );
    let handler: crate::http::Handler = Arc::new(move |req: &Request| {
        if req.path == "/standin/redirect" {
            return Response::empty(302).with_header("Location", "/standin/landed");
        }
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Stoat</title>\n<script>window.__STOAT_CONFIG__ = {};</script>\n</head>\n<body>\n<h1>Stoat</h1>\n<p>Burrow test-kit stand-in for the Stoat web client. Path: <code id=\"path\">{}</code></p>\n</body>\n</html>\n",
            config_json.replace("</", "<\\/"),
            req.target.replace('&', "&amp;").replace('<', "&lt;")
        );
        Response::new(200, "text/html; charset=utf-8", html)
    });
    crate::http::spawn_server(ANY, port, handler);
    crate::infra::heartbeat(|| format!("{} requests served", REQUESTS.load(Ordering::Relaxed)))
}
