//! Revolt.toml and `secrets.env`: every key a real deployment must override.
//!
//! Stoat's backend images run as `nonroot` (uid 65532, distroless), so the
//! file they read must be readable by that user on every target: the
//! compose export bind-mounts it from the exporter's disk, Kubernetes
//! mounts it from a volume owned by root. Like upstream's self-hosted
//! setup, Revolt.toml therefore holds no secret (mode 0644, a ConfigMap
//! on Kubernetes) and every secret goes to `secrets.env` as a
//! `REVOLT__SECTION__KEY` variable, which Stoat's config loader
//! (`revolt-config`: `Environment::with_prefix("REVOLT").separator("__")`,
//! config 0.13) applies over the file: lower-cased, `__` becomes `.`.
//!
//! Built as a TOML table (sorted keys), never by string concatenation.

use toml::{Table, Value};

use super::{Urls, BUCKET, REPLICA_SET};
use crate::model::{Registration, Service, SmtpSecurity, StackConfig};
use crate::secrets::Secrets;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// Docker network: MinIO answers virtual-host style through the
    /// `<bucket>.minio` aliases.
    Docker,
    /// Kubernetes Service DNS has no per-bucket names: path-style buckets.
    Kubernetes,
}

/// Percent-encodes a URI userinfo part.
pub(super) fn uri_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn table<const N: usize>(entries: [(&str, Value); N]) -> Table {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// Keys in sorted insertion order: the output is the same whether `toml::Table`
/// is a BTreeMap or (with `preserve_order` switched on elsewhere in a build)
/// an insertion-ordered map.
fn sorted(table: Table) -> Table {
    let mut entries: Vec<(String, Value)> = table.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
        .into_iter()
        .map(|(k, v)| match v {
            Value::Table(t) => (k, Value::Table(sorted(t))),
            other => (k, other),
        })
        .collect()
}

pub(super) fn mongodb_uri(secrets: &Secrets) -> String {
    format!(
        "mongodb://stoatchat:{}@database:27017/revolt?replicaSet={REPLICA_SET}&authSource=revolt",
        uri_escape(secrets.mongo_user_password.expose())
    )
}

pub(super) fn redis_uri(secrets: &Secrets) -> String {
    format!(
        "redis://:{}@redis:6379/",
        uri_escape(secrets.redis_password.expose())
    )
}

/// Revolt.toml (public) and the secret keys as environment variables.
pub(super) struct Rendered {
    pub toml: String,
    /// `REVOLT__...` variables, in key order.
    pub env: Vec<(String, String)>,
}

/// The variable Stoat's loader maps onto the dotted `key`.
pub fn env_name(key: &str) -> String {
    let mut name = String::from("REVOLT");
    for part in key.split('.') {
        name.push_str("__");
        name.push_str(&part.to_ascii_uppercase());
    }
    name
}

/// Collects the secret keys; the file only names them.
#[derive(Default)]
struct SecretKeys(Vec<(String, String)>);

impl SecretKeys {
    fn put(&mut self, key: String, value: &str) {
        self.0.push((key, value.to_string()));
    }
}

/// How Stoat's `create_transport` (crates/core/database/src/util/email.rs)
/// reads the two flags: `use_starttls == Some(true)` picks lettre's
/// `starttls_relay` (STARTTLS required), anything else `relay` (implicit
/// TLS); then `use_tls == Some(false)` switches TLS off entirely
/// (`Tls::None`), whichever relay was picked. So STARTTLS needs
/// `use_tls = true` too, and only `none` may say `use_tls = false`.
pub fn smtp_flags(security: SmtpSecurity) -> (bool, bool) {
    match security {
        SmtpSecurity::ImplicitTls => (true, false),
        SmtpSecurity::StartTls => (true, true),
        SmtpSecurity::None => (false, false),
    }
}

pub(super) fn render(config: &StackConfig, secrets: &Secrets, flavor: Flavor) -> Rendered {
    let urls = Urls::of(config);
    let mut root = Table::new();
    let mut keys = SecretKeys::default();

    // Connection URIs hold passwords: only in the environment.
    keys.put("database.mongodb".into(), &mongodb_uri(secrets));
    keys.put("database.redis".into(), &redis_uri(secrets));

    // `hosts.*` of a service that does not run is empty: the API reports
    // `features.autumn/january.enabled` from `!hosts.X.is_empty()`
    // (crates/delta/src/routes/root.rs) and clients call what it reports.
    // Stoat's `Hosts` has no gifbox entry (its URL only goes to the web app).
    let mut hosts = table([
        ("app", s(&urls.app)),
        ("api", s(&urls.api)),
        ("events", s(urls.advertised(config, Service::Events))),
        ("autumn", s(urls.advertised(config, Service::Autumn))),
        ("january", s(urls.advertised(config, Service::January))),
    ]);
    let mut livekit_hosts = Table::new();
    if config.runs(Service::Livekit) {
        livekit_hosts.insert(config.livekit.node.to_string(), s(&urls.livekit));
    }
    hosts.insert("livekit".into(), Value::Table(livekit_hosts));
    root.insert("hosts".into(), Value::Table(hosts));

    root.insert(
        "rabbit".into(),
        Value::Table(table([
            ("host", s("rabbit")),
            ("port", Value::Integer(5672)),
            ("username", s("stoatchat")),
        ])),
    );
    keys.put("rabbit.password".into(), secrets.rabbit_password.expose());

    let mut api = Table::new();
    api.insert(
        "registration".into(),
        Value::Table(table([(
            "invite_only",
            Value::Boolean(config.registration == Registration::InviteOnly),
        )])),
    );
    let smtp = match &config.smtp {
        // An empty host is how Stoat turns e-mail verification off.
        None => table([("host", s(""))]),
        Some(smtp) => {
            let (use_tls, use_starttls) = smtp_flags(smtp.security);
            keys.put("api.smtp.password".into(), &smtp.password);
            table([
                ("host", s(smtp.host.as_str())),
                ("port", Value::Integer(i64::from(smtp.port.get()))),
                ("username", s(&smtp.username)),
                ("from_address", s(smtp.from.as_str())),
                ("use_tls", Value::Boolean(use_tls)),
                ("use_starttls", Value::Boolean(use_starttls)),
            ])
        }
    };
    api.insert("smtp".into(), Value::Table(smtp));
    let mut nodes = Table::new();
    if config.runs(Service::Livekit) {
        let lk = &config.livekit;
        nodes.insert(
            lk.node.to_string(),
            Value::Table(table([
                ("url", s("http://livekit:7880")),
                ("lat", Value::Float(lk.lat.get())),
                ("lon", Value::Float(lk.lon.get())),
            ])),
        );
        let node = format!("api.livekit.nodes.{}", lk.node);
        keys.put(format!("{node}.key"), secrets.livekit_key.expose());
        keys.put(format!("{node}.secret"), secrets.livekit_secret.expose());
    }
    api.insert(
        "livekit".into(),
        Value::Table(table([("nodes", Value::Table(nodes))])),
    );
    root.insert("api".into(), Value::Table(api));

    root.insert(
        "pushd".into(),
        Value::Table(table([(
            "vapid",
            Value::Table(table([("public_key", s(secrets.vapid.public_key()))])),
        )])),
    );
    keys.put(
        "pushd.vapid.private_key".into(),
        secrets.vapid.private_key(),
    );

    let s3 = table([
        ("endpoint", s("http://minio:9000")),
        (
            "path_style_buckets",
            Value::Boolean(flavor == Flavor::Kubernetes),
        ),
        ("region", s("minio")),
        ("default_bucket", s(BUCKET)),
    ]);
    root.insert(
        "files".into(),
        Value::Table(table([("s3", Value::Table(s3))])),
    );
    keys.put(
        "files.encryption_key".into(),
        secrets.files_encryption_key.expose(),
    );
    keys.put(
        "files.s3.access_key_id".into(),
        secrets.s3_access_key.expose(),
    );
    keys.put(
        "files.s3.secret_access_key".into(),
        secrets.s3_secret_key.expose(),
    );

    if config.runs(Service::Livekit) {
        // generate_config.sh's video limits: 1080p, wide aspect ratios.
        let video = || {
            Value::Table(table([
                (
                    "video_resolution",
                    Value::Array(vec![Value::Integer(1920), Value::Integer(1080)]),
                ),
                (
                    "video_aspect_ratio",
                    Value::Array(vec![Value::Float(0.3), Value::Float(10.0)]),
                ),
            ]))
        };
        root.insert(
            "features".into(),
            Value::Table(table([(
                "limits",
                Value::Table(table([("new_user", video()), ("default", video())])),
            )])),
        );
    }

    let mut env = keys.0;
    env.sort();
    let listed: String = env.iter().map(|(k, _)| format!("#   {k}\n")).collect();
    let body = toml::to_string(&sorted(root)).expect("a TOML table serializes");
    let toml = format!(
        "# Rendered by Burrow from stack.toml; edits here are overwritten.\n\
         # Holds no secret: these keys come from secrets.env (REVOLT__* variables):\n\
         {listed}\n{body}"
    );
    let env = env.into_iter().map(|(k, v)| (env_name(&k), v)).collect();
    Rendered { toml, env }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What goes over the wire, per Stoat's `create_transport`.
    #[derive(Debug, PartialEq)]
    enum Wire {
        /// lettre `relay`: TLS from the first byte.
        ImplicitTls,
        /// lettre `starttls_relay`: STARTTLS, required.
        StartTls,
        /// `Tls::None`.
        Plaintext,
    }

    /// crates/core/database/src/util/email.rs `create_transport`: the
    /// relay is chosen by `use_starttls == Some(true)`, then
    /// `use_tls == Some(false)` turns TLS off, whichever relay it was.
    fn stoat_transport(use_tls: Option<bool>, use_starttls: Option<bool>) -> Wire {
        if use_tls == Some(false) {
            Wire::Plaintext
        } else if use_starttls == Some(true) {
            Wire::StartTls
        } else {
            Wire::ImplicitTls
        }
    }

    #[test]
    fn each_security_mode_gets_the_transport_it_names() {
        for (security, wire) in [
            (SmtpSecurity::ImplicitTls, Wire::ImplicitTls),
            (SmtpSecurity::StartTls, Wire::StartTls),
            (SmtpSecurity::None, Wire::Plaintext),
        ] {
            let (tls, starttls) = smtp_flags(security);
            assert_eq!(
                stoat_transport(Some(tls), Some(starttls)),
                wire,
                "{security:?}"
            );
        }
        // What Burrow rendered for STARTTLS before: plaintext.
        assert_eq!(stoat_transport(Some(false), Some(true)), Wire::Plaintext);
    }

    #[test]
    fn env_names_are_what_the_loader_maps_back() {
        assert_eq!(env_name("api.smtp.password"), "REVOLT__API__SMTP__PASSWORD");
        assert_eq!(
            env_name("api.livekit.nodes.my_node-1.key"),
            "REVOLT__API__LIVEKIT__NODES__MY_NODE-1__KEY"
        );
        // config 0.13: lower-case, drop `revolt__`, `__` -> `.`
        let back = env_name("api.livekit.nodes.my_node-1.key")
            .to_lowercase()
            .strip_prefix("revolt__")
            .unwrap()
            .replace("__", ".");
        assert_eq!(back, "api.livekit.nodes.my_node-1.key");
    }
}
