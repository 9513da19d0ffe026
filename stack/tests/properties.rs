//! Property tests: every valid config renders, deterministically, into files
//! that parse, carry Stoat's required keys and leak no secret; garbage input
//! to the config parser and the importers gives per-field errors, never a panic.

#[path = "access/mod.rs"]
mod access;
mod common;

use proptest::prelude::*;
use stack::import::{self, PlatformInstall, StoatInstall};
use stack::model::*;
use stack::secrets::{Password, Secrets, Seed, PUBLIC_SAMPLE_SECRETS};
use stack::{parse_stack_toml, render, Plan};

fn domain() -> impl Strategy<Value = DomainName> {
    "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){1,3}"
        .prop_map(|s| DomainName::parse(&s).expect("strategy makes valid domains"))
}

fn email() -> impl Strategy<Value = EmailAddress> {
    ("[a-z0-9._+-]{1,12}", domain())
        .prop_map(|(l, d)| EmailAddress::parse(&format!("{l}@{d}")).unwrap())
}

/// Passwords with the awkward characters a password may have.
fn password() -> impl Strategy<Value = String> {
    "[A-Za-z0-9%@:/?&=+!*,;~^()|<>{}\\[\\]._-]{16,40}"
}

/// SMTP passwords are the operator's: also `$`, `#`, `"` and spaces.
fn smtp_password() -> impl Strategy<Value = String> {
    "[A-Za-z0-9%@:/?&=+!*,;~^()|<>{}\\[\\]._$#\" -]{16,40}"
}

/// A private ACME directory's root (an ordinary self-signed CA).
const PRIVATE_ACME_ROOT: &str = include_str!("fixtures/private-acme-root.pem");

fn tls() -> impl Strategy<Value = TlsMode> {
    prop_oneof![
        Just(TlsMode::SelfSigned),
        (proptest::option::of(email()), prop::bool::ANY).prop_map(|(email, staging)| {
            TlsMode::Acme {
                email,
                directory: HttpsUrl::parse(if staging {
                    "https://acme-staging-v02.api.letsencrypt.org/directory"
                } else {
                    LETS_ENCRYPT_DIRECTORY
                })
                .unwrap(),
                directory_ca: None,
            }
        }),
        proptest::option::of(email()).prop_map(|email| TlsMode::Acme {
            email,
            directory: HttpsUrl::parse("https://acme.internal:14000/dir").unwrap(),
            directory_ca: Some(CaCertificates::parse(PRIVATE_ACME_ROOT).unwrap()),
        }),
        ("[a-z]{1,8}", "[a-z]{1,8}").prop_map(|(a, b)| TlsMode::OwnCertificate {
            cert_file: HostPath::parse(&format!("/etc/{a}/cert.pem")).unwrap(),
            key_file: HostPath::parse(&format!("/etc/{b}/key.pem")).unwrap(),
        }),
    ]
}

fn smtp() -> impl Strategy<Value = Option<Smtp>> {
    proptest::option::of(
        (
            domain(),
            1u16..,
            "[a-zA-Z0-9@._-]{0,20}",
            smtp_password(),
            email(),
            prop_oneof![
                Just(SmtpSecurity::ImplicitTls),
                Just(SmtpSecurity::StartTls),
                Just(SmtpSecurity::None)
            ],
        )
            .prop_map(|(host, port, username, password, from, security)| Smtp {
                host: MailHost::parse(host.as_str()).unwrap(),
                port: Port::new(port).unwrap(),
                username,
                password,
                from,
                security,
            }),
    )
}

fn livekit() -> impl Strategy<Value = LiveKit> {
    (
        prop::bool::ANY,
        // Valid names: single underscores, never at the end.
        "[a-z0-9-]{1,4}(_[a-z0-9-]{1,3}){0,3}",
        -90.0f64..=90.0,
        -180.0f64..=180.0,
        1024u16..60000,
        0u16..2000,
        1u16..1024,
        proptest::option::of(any::<std::net::Ipv4Addr>()),
    )
        .prop_map(|(enabled, node, lat, lon, start, len, tcp, ip)| LiveKit {
            enabled,
            node: NodeName::parse(&node).unwrap(),
            lat: Latitude::new(lat).unwrap(),
            lon: Longitude::new(lon).unwrap(),
            udp_ports: PortRange::new(
                Port::new(start).unwrap(),
                Port::new(start.saturating_add(len)).unwrap(),
            )
            .unwrap(),
            tcp_port: Port::new(tcp).unwrap(),
            ip: match ip {
                None => LiveKitIp::External,
                Some(ip) => LiveKitIp::Fixed(IpAddress::parse(&ip.to_string()).unwrap()),
            },
        })
}

fn apps() -> impl Strategy<Value = Apps> {
    prop::array::uniform9(prop::bool::ANY).prop_map(|a| Apps {
        api: a[0],
        events: a[1],
        autumn: a[2],
        january: a[3],
        gifbox: a[4],
        crond: a[5],
        pushd: a[6],
        voice_ingress: a[7],
        web: a[8],
    })
}

/// Caddy's host side: the defaults half of the time, else other ports.
fn network() -> impl Strategy<Value = Network> {
    prop_oneof![
        Just(Network::default()),
        (
            proptest::option::of(Just("127.0.0.1")),
            prop_oneof![Just(80u16), 1024u16..=65535],
            prop_oneof![Just(443u16), 1024u16..=65535],
        )
            .prop_filter("distinct ports", |(_, h, s)| h != s)
            .prop_map(|(bind, http, https)| Network {
                bind: IpAddress::parse(bind.unwrap_or("0.0.0.0")).unwrap(),
                http_port: Port::new(http).unwrap(),
                https_port: Port::new(https).unwrap(),
            }),
    ]
}

/// Any config the validation accepts.
fn config() -> impl Strategy<Value = StackConfig> {
    (
        domain(),
        tls(),
        smtp(),
        prop::bool::ANY,
        livekit(),
        apps(),
        prop::bool::ANY,
        network(),
    )
        .prop_map(|(domain, tls, smtp, open, livekit, apps, k8s, network)| {
            let mut c = StackConfig::new(domain);
            c.tls = tls;
            c.smtp = smtp;
            c.registration = if open {
                Registration::Open
            } else {
                Registration::InviteOnly
            };
            c.livekit = livekit;
            c.apps = apps;
            c.network = network;
            c.target = if k8s {
                TargetKind::Kubernetes
            } else {
                TargetKind::Docker
            };
            c
        })
        .prop_filter("valid configs only", |c| {
            c.check().iter().all(|i| !i.is_error())
        })
}

fn secrets() -> impl Strategy<Value = Secrets> {
    (
        "[ -~]{1,40}",
        proptest::option::of((password(), password(), password())),
    )
        .prop_map(|(seed, pw)| {
            let mut s = Secrets::derive(
                &Seed::parse(seed.trim()).unwrap_or_else(|_| Seed::parse("fallback").unwrap()),
            );
            if let Some((a, b, c)) = pw {
                s.mongo_user_password = Password::parse(&a).unwrap();
                s.redis_password = Password::parse(&b).unwrap();
                s.s3_secret_key = Password::parse(&c).unwrap();
            }
            s
        })
}

fn toml_get<'a>(t: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let mut parts = path.split('.');
    let mut cur = t.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

const REQUIRED: [&str; 21] = [
    "database.mongodb",
    "database.redis",
    "hosts.app",
    "hosts.api",
    "hosts.events",
    "hosts.autumn",
    "hosts.january",
    "rabbit.host",
    "rabbit.port",
    "rabbit.username",
    "rabbit.password",
    "api.registration.invite_only",
    "api.smtp.host",
    "pushd.vapid.private_key",
    "pushd.vapid.public_key",
    "files.encryption_key",
    "files.s3.endpoint",
    "files.s3.path_style_buckets",
    "files.s3.access_key_id",
    "files.s3.secret_access_key",
    "files.s3.default_bucket",
];

/// The config a Stoat backend ends up with: Revolt.toml, then the
/// `REVOLT__*` variables of secrets.env applied as revolt-config's loader
/// does (config 0.13 `Environment::with_prefix("REVOLT").separator("__")`:
/// the name lower-cased, the prefix dropped, every `__` a `.`; values are
/// strings).
fn effective(plan: &Plan) -> toml::Table {
    let mut root: toml::Table = plan.files["Revolt.toml"].content.parse().unwrap();
    let env = stack::render::dotenv::parse(&plan.files["secrets.env"].content);
    for (name, value) in env {
        let key = name.to_lowercase();
        let key = key
            .strip_prefix("revolt__")
            .expect("only REVOLT__ variables");
        let path: Vec<&str> = key.split("__").collect();
        let mut table = &mut root;
        for part in &path[..path.len() - 1] {
            table = table
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("a table on the way");
        }
        table.insert(path[path.len() - 1].to_string(), toml::Value::String(value));
    }
    root
}

/// Every text the plan produces, with whether it may hold secrets.
fn outputs(plan: &Plan) -> Vec<(String, &str, bool)> {
    let mut out: Vec<(String, &str, bool)> = plan
        .files
        .iter()
        .map(|(n, f)| (n.clone(), f.content.as_str(), f.secret))
        .collect();
    out.push(("compose.yml".into(), plan.compose.as_str(), false));
    for m in &plan.kubernetes {
        out.push((
            format!("kubernetes/{}", m.file_name),
            m.yaml.as_str(),
            m.secret,
        ));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_valid_config_renders_soundly(config in config(), secrets in secrets()) {
        let plan = render(&config, &secrets);

        // Byte-identical on a second render.
        let again = render(&config, &secrets);
        prop_assert_eq!(&plan, &again);

        // Revolt.toml parses and, with secrets.env over it, carries every
        // required key.
        let _: toml::Table = plan.files["Revolt.toml"].content.parse().unwrap();
        let revolt = effective(&plan);
        for key in REQUIRED {
            prop_assert!(toml_get(&revolt, key).is_some(), "missing {}", key);
        }
        prop_assert_eq!(
            toml_get(&revolt, "api.registration.invite_only").and_then(|v| v.as_bool()),
            Some(config.registration == Registration::InviteOnly)
        );
        if let Some(smtp) = &config.smtp {
            prop_assert_eq!(
                toml_get(&revolt, "api.smtp.password").and_then(|v| v.as_str()),
                Some(smtp.password.as_str())
            );
        }

        // Every public URL names Caddy's HTTPS port unless it is 443.
        let https = config.network.https_port.get();
        let origin = if https == 443 {
            config.domain.to_string()
        } else {
            format!("{}:{https}", config.domain)
        };
        // A service that does not run is not advertised (empty host).
        for (key, service) in [
            ("events", Service::Events),
            ("autumn", Service::Autumn),
            ("january", Service::January),
        ] {
            let url = toml_get(&revolt, &format!("hosts.{key}")).and_then(|v| v.as_str());
            prop_assert_eq!(url.is_some_and(|u| !u.is_empty()), config.runs(service), "hosts.{}", key);
        }
        let mut urls: Vec<&toml::Value> = ["app", "api", "events", "autumn", "january"]
            .iter()
            .filter_map(|k| toml_get(&revolt, &format!("hosts.{k}")))
            .filter(|v| v.as_str() != Some(""))
            .collect();
        if let Some(lk) = toml_get(&revolt, "hosts.livekit").and_then(|v| v.as_table()) {
            urls.extend(lk.values());
        }
        for url in urls {
            let url = url.as_str().unwrap();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("wss://"))
                .unwrap_or_else(|| panic!("not https/wss: {url}"));
            prop_assert!(
                rest == origin || rest.starts_with(&format!("{origin}/")),
                "{} does not start at {}", url, origin
            );
        }
        // Caddy listens inside on the ports it is published on.
        let caddy = plan.service("caddy").unwrap();
        let http = config.network.http_port.get();
        prop_assert_eq!(caddy.internal_port, Some(http));
        for p in &caddy.ports {
            prop_assert_eq!(p.start, p.host_start);
            prop_assert!(p.start == http || p.start == https);
        }

        // Virtual-host buckets on Docker, consistent with MinIO's aliases.
        prop_assert_eq!(
            toml_get(&revolt, "files.s3.path_style_buckets").and_then(|v| v.as_bool()),
            Some(false)
        );
        if let Some(minio) = plan.service("minio") {
            prop_assert!(minio.aliases.iter().any(|a| a == "revolt-uploads.minio"));
            prop_assert_eq!(minio.env.get("MINIO_DOMAIN").map(String::as_str), Some("minio"));
        }

        // The LiveKit node agrees in all four places.
        let node = config.livekit.node.as_str();
        let lk_host = toml_get(&revolt, &format!("hosts.livekit.{node}"));
        let lk_node = toml_get(&revolt, &format!("api.livekit.nodes.{node}"));
        if config.runs(Service::Livekit) {
            prop_assert!(lk_host.is_some() && lk_node.is_some());
            let yml: serde_yaml::Value =
                serde_yaml::from_str(&plan.files["livekit.yml"].content).unwrap();
            let key = secrets.livekit_key.expose();
            prop_assert_eq!(
                yml["keys"][key].as_str(),
                Some(secrets.livekit_secret.expose())
            );
            if config.runs(Service::VoiceIngress) {
                prop_assert_eq!(yml["webhook"]["api_key"].as_str(), Some(key));
                let url = yml["webhook"]["urls"][0].as_str().unwrap();
                let suffix = format!("/{}", node);
                prop_assert!(url.ends_with(&suffix));
            }
        } else {
            prop_assert!(lk_host.is_none() && lk_node.is_none());
            prop_assert!(!plan.files.contains_key("livekit.yml"));
        }

        // YAML parses.
        let _: serde_yaml::Value = serde_yaml::from_str(&plan.compose).unwrap();
        for m in &plan.kubernetes {
            let doc: serde_yaml::Value = serde_yaml::from_str(&m.yaml).unwrap();
            prop_assert_eq!(doc["kind"].as_str(), Some(m.kind.as_str()));
        }

        // Each secret appears only in the files whose service needs it.
        let allowed: Vec<(&str, &[&str])> = vec![
            ("vapid_private_key", &["secrets.env"]),
            ("files_encryption_key", &["secrets.env"]),
            ("livekit_key", &["secrets.env", "livekit.yml"]),
            ("livekit_secret", &["secrets.env", "livekit.yml"]),
            ("mongo_root_password", &["database.env"]),
            ("mongo_user_password", &["secrets.env", "database.env"]),
            ("mongo_keyfile", &["mongo-keyfile"]),
            ("redis_password", &["secrets.env", "keydb.conf", "livekit.yml"]),
            ("rabbit_password", &["secrets.env", "rabbit.env"]),
            ("s3_access_key", &["secrets.env", "minio.env", "createbuckets.env"]),
            ("s3_secret_key", &["secrets.env", "minio.env", "createbuckets.env"]),
        ];
        for ((id, value), (allowed_id, files)) in secrets.values().into_iter().zip(&allowed) {
            prop_assert_eq!(id, *allowed_id);
            for (name, f) in &plan.files {
                if f.content.contains(value) {
                    prop_assert!(files.contains(&name.as_str()), "{} found in {}", id, name);
                }
            }
        }
        if let Some(smtp) = &config.smtp {
            for (name, f) in &plan.files {
                if f.content.contains(&smtp.password) {
                    prop_assert_eq!(name.as_str(), "secrets.env");
                }
            }
        }

        // Secrets appear only in files marked secret; samples nowhere.
        let mut values: Vec<&str> = secrets.values().into_iter().map(|(_, v)| v).collect();
        if let Some(smtp) = &config.smtp {
            values.push(&smtp.password);
        }
        let specs = serde_yaml::to_string(&plan.services).unwrap();
        for v in &values {
            prop_assert!(!specs.contains(v), "a secret is in the service specs");
        }
        for (name, text, secret) in outputs(&plan) {
            for sample in PUBLIC_SAMPLE_SECRETS {
                prop_assert!(!text.contains(sample), "{} holds a public sample value", name);
            }
            if !secret {
                for v in &values {
                    prop_assert!(!text.contains(v), "{} is not secret but holds a secret", name);
                }
            }
        }
    }

    #[test]
    fn garbage_stack_toml_never_panics(text in "\\PC{0,200}") {
        let _ = parse_stack_toml(&text);
    }

    #[test]
    fn garbage_values_give_field_errors(
        values in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "domain", "target", "registration", "tls.mode", "tls.email",
                    "tls.directory", "tls.cert_file", "smtp.enabled", "smtp.host",
                    "smtp.port", "smtp.from", "smtp.security", "livekit.enabled",
                    "livekit.node", "livekit.lat", "livekit.udp_ports",
                    "livekit.tcp_port", "livekit.ip_mode", "livekit.node_ip",
                    "apps.web", "apps.voice_ingress", "images.api", "nonsense",
                ]),
                prop_oneof![
                    "\\PC{0,20}".prop_map(toml::Value::String),
                    any::<i64>().prop_map(toml::Value::Integer),
                    any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(toml::Value::Float),
                    any::<bool>().prop_map(toml::Value::Boolean),
                    Just(toml::Value::Array(vec![])),
                ],
            ),
            0..12,
        )
    ) {
        let mut root = toml::Table::new();
        for (path, value) in &values {
            let mut parts: Vec<&str> = path.split('.').collect();
            let last = parts.pop().unwrap();
            let mut cur = &mut root;
            for p in parts {
                cur = cur
                    .entry(p.to_string())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
                    .as_table_mut()
                    .unwrap();
            }
            cur.insert(last.to_string(), value.clone());
        }
        let text = toml::to_string(&root).unwrap();
        match parse_stack_toml(&text) {
            Ok(parsed) => {
                // Accepted configs render.
                let _ = render(&parsed.config, &common::secrets());
            }
            Err(issues) => {
                prop_assert!(!issues.is_empty());
                prop_assert!(issues.iter().any(|i| i.is_error()));
                for i in &issues {
                    prop_assert!(!i.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn importers_survive_garbage(a in "\\PC{0,300}", b in "\\PC{0,200}", c in "\\PC{0,200}") {
        let fresh = common::secrets();
        let _ = import::from_stoat(
            &StoatInstall { revolt_toml: &a, secrets_env: Some(&b), livekit_yml: Some(&c) },
            &fresh,
        );
        let _ = import::from_platform(&PlatformInstall { environment: &a, extra: vec![("x", &b)] }, &fresh);
        // Structured garbage reaches deeper code paths.
        let revolt = format!("[hosts]\napp = {a:?}\n[hosts.livekit]\n{b:?} = \"x\"\n[api.smtp]\nhost = {c:?}\nport = 99999999\n");
        let _ = import::from_stoat(&StoatInstall { revolt_toml: &revolt, secrets_env: Some(&b), livekit_yml: None }, &fresh);
        let env = format!("REVOLT__HOSTS__APP={a}\nREVOLT__FILES__ENCRYPTION_KEY={b}\nREVOLT__PUSHD__VAPID__PRIVATE_KEY={c}\nREVOLT__PUSHD__VAPID__PUBLIC_KEY={c}\n");
        let _ = import::from_stoat(&StoatInstall { revolt_toml: "", secrets_env: Some(&env), livekit_yml: None }, &fresh);
        let platform = format!("domain: {a:?}\nsecretSeed: {b:?}\nsmtp:\n  host: {c:?}\n  port: {b:?}\nlivekit:\n  rtcPortRangeStart: {a:?}\n  rtcPortRangeEnd: 5\nsecretOverrides:\n  redis: {c:?}\n  livekit-secret: {a:?}\nvapid:\n  privateKey: {b:?}\n  publicKey: {c:?}\nfiles:\n  encryptionKey: {a:?}\n");
        match import::from_platform(&PlatformInstall { environment: &platform, extra: vec![] }, &fresh) {
            Ok(imported) => { let _ = render(&imported.config, &imported.secrets); }
            Err(issues) => {
                for i in &issues {
                    prop_assert!(i.field.starts_with("environment"), "{}", i.field);
                }
            }
        }
    }
}
