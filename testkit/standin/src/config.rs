//! Revolt.toml as Stoat's services load it, and the checks each service
//! would fail on.
//!
//! Every Stoat service deserializes the whole file into one `Settings`
//! struct at start and panics when a present key has the wrong type or a
//! table lacks a required field (`[api.livekit.nodes.<n>]` without `lat`).
//! [`check_types`] mirrors that for the keys Burrow writes. On top, each
//! service needs some keys set to real values (the embedded defaults are
//! samples): [`required`] lists them per role and [`check_role`] checks
//! their format.

use std::collections::BTreeSet;

use toml::{Table, Value};

use crate::util::{base64_decode, Url};

/// Where the config is read from: `$STANDIN_REVOLT_TOML`, else
/// `/Revolt.toml` (the mount point of every Stoat image), else
/// `./Revolt.toml`.
pub fn path() -> String {
    if let Ok(p) = std::env::var("STANDIN_REVOLT_TOML") {
        return p;
    }
    if std::path::Path::new("/Revolt.toml").exists()
        || !std::path::Path::new("Revolt.toml").exists()
    {
        "/Revolt.toml".into()
    } else {
        "Revolt.toml".into()
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub root: Table,
}

impl Config {
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut cur: Option<&Value> = None;
        let mut table = &self.root;
        for part in path.split('.') {
            let v = table.get(part)?;
            cur = Some(v);
            if let Value::Table(t) = v {
                table = t;
            }
        }
        cur
    }

    pub fn str(&self, path: &str) -> &str {
        self.get(path).and_then(Value::as_str).unwrap_or("")
    }

    pub fn table(&self, path: &str) -> Option<&Table> {
        self.get(path).and_then(Value::as_table)
    }

    pub fn bool(&self, path: &str) -> bool {
        self.get(path).and_then(Value::as_bool).unwrap_or(false)
    }

    /// Node names of `[api.livekit.nodes]`.
    pub fn livekit_nodes(&self) -> Vec<String> {
        self.table("api.livekit.nodes")
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// What Stoat's mail transport speaks, per `create_transport`
/// (crates/core/database/src/util/email.rs): `use_starttls == Some(true)`
/// picks the STARTTLS relay, otherwise the implicit-TLS relay; then
/// `use_tls == Some(false)` turns TLS off whichever it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpWire {
    ImplicitTls,
    StartTls,
    Plaintext,
}

pub fn smtp_wire(use_tls: Option<bool>, use_starttls: Option<bool>) -> SmtpWire {
    if use_tls == Some(false) {
        SmtpWire::Plaintext
    } else if use_starttls == Some(true) {
        SmtpWire::StartTls
    } else {
        SmtpWire::ImplicitTls
    }
}

/// A config that asks for STARTTLS and gets plaintext.
pub fn smtp_in_clear(config: &Config) -> Option<String> {
    let use_tls = config.get("api.smtp.use_tls").and_then(Value::as_bool);
    let use_starttls = config.get("api.smtp.use_starttls").and_then(Value::as_bool);
    (!config.str("api.smtp.host").is_empty()
        && use_starttls == Some(true)
        && smtp_wire(use_tls, use_starttls) == SmtpWire::Plaintext)
        .then(|| {
            "api.smtp: use_starttls = true with use_tls = false: Stoat's create_transport \
             builds a STARTTLS relay and then switches TLS off (Tls::None), so mail and the \
             SMTP password would cross the network in clear; STARTTLS needs use_tls = true"
                .to_string()
        })
}

/// Reads and parses the file, applies `REVOLT__SECTION__KEY` environment
/// overrides, checks the value types. Errors read like the service panics:
/// revolt-config (crates/core/config/src/lib.rs) adds every existing
/// search path as a required `config::File` source and `unwrap()`s the
/// build, so a file the service's user cannot read ends it with config-rs'
/// error, which names no file.
pub fn load() -> Result<Config, String> {
    let path = path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) if std::path::Path::new(&path).is_dir() => {
            return Err(format!(
                "called `Result::unwrap()` on an `Err` value: configuration file \"{path}\" not found\n\
                 (stand-in: {path} is a directory: the config file was not mounted; Docker creates a directory when the host file is missing)"
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {path}: {e} (is Revolt.toml mounted at /Revolt.toml?)"))
        }
        Err(e) => {
            return Err(format!(
                "called `Result::unwrap()` on an `Err` value: {e}\n\
                 (stand-in: {path} is not readable by uid {} gid {})",
                unsafe { libc::geteuid() },
                unsafe { libc::getegid() }
            ))
        }
    };
    let mut root: Table = text.parse().map_err(|e| {
        format!("called `Result::unwrap()` on an `Err` value: {path}: TOML parse error: {e}")
    })?;
    apply_env(&mut root);
    let config = Config { root };
    check_types(&config)?;
    Ok(config)
}

/// `REVOLT__API__SMTP__HOST=...` sets `api.smtp.host`, as config 0.13's
/// `Environment::with_prefix("REVOLT").separator("__")` does: the whole
/// name lower-cased, the `revolt__` prefix dropped, every `__` replaced by
/// `.`; the value a string, converted to the key's type when read.
fn apply_env(root: &mut Table) {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    for (k, v) in vars {
        let lower = k.to_lowercase();
        let Some(rest) = lower.strip_prefix("revolt__") else {
            continue;
        };
        let dotted = rest.replace("__", ".");
        let parts: Vec<String> = dotted.split('.').map(str::to_string).collect();
        let mut table = &mut *root;
        for p in &parts[..parts.len() - 1] {
            let entry = table
                .entry(p.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            table = entry.as_table_mut().expect("just made a table");
        }
        let last = parts.last().expect("split yields one part").clone();
        let value = match table.get(&last) {
            Some(Value::Integer(_)) => v
                .parse()
                .map(Value::Integer)
                .unwrap_or(Value::String(v.clone())),
            Some(Value::Float(_)) => v
                .parse()
                .map(Value::Float)
                .unwrap_or(Value::String(v.clone())),
            Some(Value::Boolean(_)) => v
                .parse()
                .map(Value::Boolean)
                .unwrap_or(Value::String(v.clone())),
            _ => Value::String(v.clone()),
        };
        crate::info!("config: {dotted} overridden from the environment ({k})");
        table.insert(last, value);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Str,
    Int,
    /// A float; TOML integers are accepted too.
    Num,
    Bool,
    Table,
    /// A table whose values are strings.
    StrMap,
    /// An array of numbers.
    NumArray,
    StrArray,
}

/// The keys Stoat's `Settings` struct types (those Burrow writes and their
/// neighbours). `*` matches any table key.
const SCHEMA: &[(&str, Ty)] = &[
    ("production", Ty::Bool),
    ("environment", Ty::Str),
    ("database", Ty::Table),
    ("database.mongodb", Ty::Str),
    ("database.redis", Ty::Str),
    ("database.redis_pubsub", Ty::Str),
    ("hosts", Ty::Table),
    ("hosts.app", Ty::Str),
    ("hosts.api", Ty::Str),
    ("hosts.events", Ty::Str),
    ("hosts.autumn", Ty::Str),
    ("hosts.january", Ty::Str),
    ("hosts.gifbox", Ty::Str),
    ("hosts.livekit", Ty::StrMap),
    ("rabbit", Ty::Table),
    ("rabbit.host", Ty::Str),
    ("rabbit.port", Ty::Int),
    ("rabbit.username", Ty::Str),
    ("rabbit.password", Ty::Str),
    ("rabbit.default_exchange", Ty::Str),
    ("api", Ty::Table),
    ("api.registration.invite_only", Ty::Bool),
    ("api.smtp.host", Ty::Str),
    ("api.smtp.username", Ty::Str),
    ("api.smtp.password", Ty::Str),
    ("api.smtp.from_address", Ty::Str),
    ("api.smtp.reply_to", Ty::Str),
    ("api.smtp.port", Ty::Int),
    ("api.smtp.use_tls", Ty::Bool),
    ("api.smtp.use_starttls", Ty::Bool),
    ("api.security.trust_cloudflare", Ty::Bool),
    ("api.security.easypwned", Ty::Str),
    ("api.security.tenor_key", Ty::Str),
    ("api.security.admin_keys", Ty::StrArray),
    ("api.security.captcha.hcaptcha_key", Ty::Str),
    ("api.security.captcha.hcaptcha_sitekey", Ty::Str),
    ("api.workers.max_concurrent_connections", Ty::Int),
    ("api.livekit.call_ring_duration", Ty::Int),
    ("api.livekit.nodes", Ty::Table),
    ("api.livekit.nodes.*", Ty::Table),
    ("api.livekit.nodes.*.url", Ty::Str),
    ("api.livekit.nodes.*.lat", Ty::Num),
    ("api.livekit.nodes.*.lon", Ty::Num),
    ("api.livekit.nodes.*.key", Ty::Str),
    ("api.livekit.nodes.*.secret", Ty::Str),
    ("api.livekit.nodes.*.private", Ty::Bool),
    ("pushd.production", Ty::Bool),
    ("pushd.vapid.private_key", Ty::Str),
    ("pushd.vapid.public_key", Ty::Str),
    ("files.encryption_key", Ty::Str),
    ("files.webp_quality", Ty::Num),
    ("files.blocked_mime_types", Ty::StrArray),
    ("files.clamd_host", Ty::Str),
    ("files.s3.endpoint", Ty::Str),
    ("files.s3.path_style_buckets", Ty::Bool),
    ("files.s3.region", Ty::Str),
    ("files.s3.access_key_id", Ty::Str),
    ("files.s3.secret_access_key", Ty::Str),
    ("files.s3.default_bucket", Ty::Str),
    ("features.webhooks_enabled", Ty::Bool),
    ("features.limits.*.video", Ty::Bool),
    ("features.limits.*.video_resolution", Ty::NumArray),
    ("features.limits.*.video_aspect_ratio", Ty::NumArray),
];

/// Fields every `[api.livekit.nodes.<n>]` table must have (no defaults).
const NODE_FIELDS: [&str; 5] = ["url", "lat", "lon", "key", "secret"];

fn type_ok(v: &Value, ty: Ty) -> bool {
    match ty {
        Ty::Str => v.is_str(),
        Ty::Int => v.is_integer(),
        Ty::Num => v.is_float() || v.is_integer(),
        Ty::Bool => v.is_bool(),
        Ty::Table => v.is_table(),
        Ty::StrMap => v.as_table().is_some_and(|t| t.values().all(Value::is_str)),
        Ty::NumArray => v
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x.is_float() || x.is_integer())),
        Ty::StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_str)),
    }
}

fn ty_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Str => "a string",
        Ty::Int => "an integer",
        Ty::Num => "a number",
        Ty::Bool => "a boolean",
        Ty::Table => "a table",
        Ty::StrMap => "a table of strings",
        Ty::NumArray => "an array of numbers",
        Ty::StrArray => "an array of strings",
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "floating point",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(_) => "sequence",
        Value::Table(_) => "map",
    }
}

/// Every value at `pattern` (with `*` wildcards): (concrete path, value).
fn lookup<'a>(
    table: &'a Table,
    pattern: &[&str],
    prefix: String,
    out: &mut Vec<(String, &'a Value)>,
) {
    let Some((first, rest)) = pattern.split_first() else {
        return;
    };
    let keys: Vec<&String> = if *first == "*" {
        table.keys().collect()
    } else {
        table.keys().filter(|k| k.as_str() == *first).collect()
    };
    for k in keys {
        let v = &table[k];
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if rest.is_empty() {
            out.push((path, v));
        } else if let Value::Table(t) = v {
            lookup(t, rest, path, out);
        }
    }
}

/// What `try_deserialize::<Settings>()` would refuse.
pub fn check_types(config: &Config) -> Result<(), String> {
    let mut errors = Vec::new();
    for (pattern, ty) in SCHEMA {
        let parts: Vec<&str> = pattern.split('.').collect();
        let mut found = Vec::new();
        lookup(&config.root, &parts, String::new(), &mut found);
        for (path, v) in found {
            if !type_ok(v, *ty) {
                errors.push(format!(
                    "invalid type: {} `{:?}`, expected {} for key `{path}`",
                    value_kind(v),
                    v,
                    ty_name(*ty)
                ));
            }
        }
    }
    if let Some(nodes) = config.table("api.livekit.nodes") {
        for (name, node) in nodes {
            let Some(node) = node.as_table() else {
                continue;
            };
            for field in NODE_FIELDS {
                if !node.contains_key(field) {
                    errors.push(format!(
                        "missing field `{field}` for key `api.livekit.nodes.{name}`"
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "called `Result::unwrap()` on an `Err` value: {}",
            errors.join("; ")
        ))
    }
}

/// Keys a role needs set to real values.
pub fn required(role: &str) -> &'static [&'static str] {
    const RABBIT: [&str; 4] = [
        "rabbit.host",
        "rabbit.port",
        "rabbit.username",
        "rabbit.password",
    ];
    match role {
        "api" => &[
            "database.mongodb",
            "database.redis",
            "hosts.app",
            "hosts.api",
            RABBIT[0],
            RABBIT[1],
            RABBIT[2],
            RABBIT[3],
            "pushd.vapid.private_key",
            "pushd.vapid.public_key",
        ],
        "events" => &["database.mongodb", "database.redis", "hosts.events"],
        "autumn" => &[
            "database.mongodb",
            "hosts.autumn",
            "files.encryption_key",
            "files.s3.endpoint",
            "files.s3.region",
            "files.s3.access_key_id",
            "files.s3.secret_access_key",
            "files.s3.default_bucket",
        ],
        "january" => &["hosts.january"],
        // Stoat's `Hosts` has no gifbox entry; gifbox reads the Tenor key.
        "gifbox" => &["database.mongodb"],
        "crond" => &[
            "database.mongodb",
            "database.redis",
            "files.s3.endpoint",
            "files.s3.region",
            "files.s3.access_key_id",
            "files.s3.secret_access_key",
            "files.s3.default_bucket",
        ],
        "pushd" => &[
            "database.mongodb",
            "database.redis",
            "hosts.app",
            RABBIT[0],
            RABBIT[1],
            RABBIT[2],
            RABBIT[3],
            "pushd.vapid.private_key",
            "pushd.vapid.public_key",
        ],
        "voice-ingress" => &[
            "database.mongodb",
            "database.redis",
            RABBIT[0],
            RABBIT[1],
            RABBIT[2],
            RABBIT[3],
            "api.livekit.nodes",
        ],
        _ => &[],
    }
}

fn url_with(config: &Config, key: &str, schemes: &[&str], errors: &mut Vec<String>) {
    let v = config.str(key);
    match Url::parse(v) {
        Ok(u) if schemes.contains(&u.scheme.as_str()) => {}
        Ok(u) => errors.push(format!(
            "`{key}` = {v:?}: scheme `{}` (expected {})",
            u.scheme,
            schemes.join(" or ")
        )),
        Err(e) => errors.push(format!("`{key}`: {e}")),
    }
}

/// The role's required keys are present, non-empty and well-formed.
/// Returns warnings (logged, not fatal) or the errors.
pub fn check_role(config: &Config, role: &str) -> Result<Vec<String>, String> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let req: BTreeSet<&str> = required(role).iter().copied().collect();
    for key in &req {
        match config.get(key) {
            None => errors.push(format!("missing key `{key}`")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                errors.push(format!("`{key}` is empty"))
            }
            Some(Value::Table(t)) if t.is_empty() => {
                errors.push(format!("`{key}` is an empty table"))
            }
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    if req.contains("database.mongodb") {
        url_with(
            config,
            "database.mongodb",
            &["mongodb", "mongodb+srv"],
            &mut errors,
        );
    }
    if req.contains("database.redis") {
        url_with(config, "database.redis", &["redis", "rediss"], &mut errors);
    }
    // The API reports `features.autumn/january.enabled` from whether the
    // host is set (crates/delta/src/routes/root.rs): an empty host is a
    // service turned off, a set one must be a URL.
    for (key, schemes) in [
        ("hosts.app", &["http", "https"][..]),
        ("hosts.api", &["http", "https"]),
        ("hosts.autumn", &["http", "https"]),
        ("hosts.january", &["http", "https"]),
        ("hosts.events", &["ws", "wss"]),
    ] {
        if req.contains(key) || (role == "api" && !config.str(key).is_empty()) {
            url_with(config, key, schemes, &mut errors);
        }
    }
    if req.contains("rabbit.port") {
        let port = config
            .get("rabbit.port")
            .and_then(Value::as_integer)
            .unwrap_or(0);
        if !(1..=65535).contains(&port) {
            errors.push(format!("`rabbit.port` = {port} is not a port"));
        }
    }
    if req.contains("pushd.vapid.private_key") {
        let pem = base64_decode(config.str("pushd.vapid.private_key"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if !pem.contains("-----BEGIN EC PRIVATE KEY-----")
            && !pem.contains("-----BEGIN PRIVATE KEY-----")
        {
            errors
                .push("`pushd.vapid.private_key` is not the base64 of a PEM EC private key".into());
        }
        match base64_decode(config.str("pushd.vapid.public_key")) {
            Some(k) if k.len() == 65 && k[0] == 4 => {}
            _ => errors.push(
                "`pushd.vapid.public_key` is not the base64url of a 65-byte uncompressed P-256 point"
                    .into(),
            ),
        }
    }
    if req.contains("files.encryption_key") {
        match base64_decode(config.str("files.encryption_key")) {
            Some(k) if k.len() == 32 => {}
            Some(k) => errors.push(format!(
                "`files.encryption_key` decodes to {} bytes (AES-256-GCM needs 32)",
                k.len()
            )),
            None => errors.push("`files.encryption_key` is not base64".into()),
        }
    }
    if req.contains("files.s3.endpoint") {
        url_with(config, "files.s3.endpoint", &["http", "https"], &mut errors);
    }
    // LiveKit: every node of [hosts.livekit] needs [api.livekit.nodes.<n>]
    // (the API's GET / panics otherwise); voice-ingress needs the nodes.
    if role == "api" || role == "voice-ingress" {
        let nodes = config.livekit_nodes();
        let public: Vec<String> = config
            .table("hosts.livekit")
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        for n in &public {
            if !nodes.contains(n) {
                errors.push(format!(
                    "`hosts.livekit.{n}` has no `[api.livekit.nodes.{n}]` (Stoat's API panics on GET /)"
                ));
            }
            url_with(
                config,
                &format!("hosts.livekit.{n}"),
                &["ws", "wss"],
                &mut errors,
            );
        }
        for n in &nodes {
            if !public.contains(n) {
                warnings.push(format!(
                    "`api.livekit.nodes.{n}` has no public URL in `[hosts.livekit]`: clients cannot join it"
                ));
            }
            let base = format!("api.livekit.nodes.{n}");
            url_with(
                config,
                &format!("{base}.url"),
                &["http", "https", "ws", "wss"],
                &mut errors,
            );
            for f in ["key", "secret"] {
                if config.str(&format!("{base}.{f}")).is_empty() {
                    errors.push(format!("`{base}.{f}` is empty"));
                }
            }
            let num = |f: &str| {
                config
                    .get(&format!("{base}.{f}"))
                    .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                    .unwrap_or(f64::NAN)
            };
            if !(-90.0..=90.0).contains(&num("lat")) {
                errors.push(format!("`{base}.lat` is not a latitude"));
            }
            if !(-180.0..=180.0).contains(&num("lon")) {
                errors.push(format!("`{base}.lon` is not a longitude"));
            }
        }
    }
    if role == "api" {
        let smtp = config.str("api.smtp.host");
        if smtp.is_empty() {
            warnings.push("api.smtp.host is empty: e-mail verification is off".into());
        } else {
            for k in ["api.smtp.from_address", "api.smtp.username"] {
                if config.str(k).is_empty() {
                    errors.push(format!("`{k}` is empty while `api.smtp.host` is set"));
                }
            }
            let port = config.get("api.smtp.port").and_then(Value::as_integer);
            let use_tls = config.get("api.smtp.use_tls").and_then(Value::as_bool);
            let use_starttls = config.get("api.smtp.use_starttls").and_then(Value::as_bool);
            if let Some(e) = smtp_in_clear(config) {
                errors.push(e);
            }
            match smtp_wire(use_tls, use_starttls) {
                SmtpWire::ImplicitTls if port == Some(587) => warnings.push(
                    "SMTP on port 587 with implicit TLS fails (stoatchat/self-hosted#170): set use_starttls".into(),
                ),
                _ => {}
            }
        }
    }
    if role == "gifbox" && config.str("api.security.tenor_key").is_empty() {
        warnings.push("api.security.tenor_key is empty: GIF search returns nothing".into());
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config {
            root: text.parse().unwrap(),
        }
    }

    #[test]
    fn node_fields_are_required() {
        let c = cfg("[api.livekit.nodes.worldwide]\nurl = \"http://livekit:7880\"\nlon = 0.0\nkey = \"k\"\nsecret = \"s\"\n");
        let e = check_types(&c).unwrap_err();
        assert!(e.contains("missing field `lat`"), "{e}");
    }

    #[test]
    fn types_are_checked() {
        let c = cfg("[rabbit]\nport = \"5672\"\n");
        let e = check_types(&c).unwrap_err();
        assert!(e.contains("rabbit.port"), "{e}");
    }

    #[test]
    fn smtp_follows_stoats_create_transport() {
        assert_eq!(smtp_wire(Some(true), Some(false)), SmtpWire::ImplicitTls);
        assert_eq!(smtp_wire(None, None), SmtpWire::ImplicitTls);
        assert_eq!(smtp_wire(Some(true), Some(true)), SmtpWire::StartTls);
        assert_eq!(smtp_wire(None, Some(true)), SmtpWire::StartTls);
        assert_eq!(smtp_wire(Some(false), Some(true)), SmtpWire::Plaintext);
        assert_eq!(smtp_wire(Some(false), Some(false)), SmtpWire::Plaintext);
    }

    #[test]
    fn api_refuses_starttls_that_would_be_plaintext() {
        let base = "[api.smtp]\nhost = \"smtp.example.com\"\nusername = \"u\"\nfrom_address = \"a@b.c\"\nport = 587\n";
        let plain = cfg(&format!("{base}use_tls = false\nuse_starttls = true\n"));
        assert!(smtp_in_clear(&plain).is_some_and(|e| e.contains("in clear")));
        let e = check_role(&plain, "api").unwrap_err();
        assert!(e.contains("missing key"), "{e}");
        let ok = cfg(&format!("{base}use_tls = true\nuse_starttls = true\n"));
        assert_eq!(smtp_in_clear(&ok), None);
        let off = cfg("[api.smtp]\nhost = \"\"\nuse_tls = false\nuse_starttls = true\n");
        assert_eq!(smtp_in_clear(&off), None);
    }

    #[test]
    fn api_needs_hosts_and_livekit_match() {
        let c = cfg("[database]\nmongodb = \"\"\n");
        let e = check_role(&c, "api").unwrap_err();
        assert!(e.contains("database.mongodb"), "{e}");
        assert!(e.contains("hosts.app"), "{e}");
    }
}
