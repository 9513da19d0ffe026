//! Revolt.toml: every key a real deployment must override. Built as a TOML
//! table (sorted keys), never by string concatenation.

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

pub(super) fn render(config: &StackConfig, secrets: &Secrets, flavor: Flavor) -> String {
    let urls = Urls::of(config);
    let mut root = Table::new();

    root.insert(
        "database".into(),
        Value::Table(table([
            ("mongodb", s(&mongodb_uri(secrets))),
            ("redis", s(&redis_uri(secrets))),
        ])),
    );

    let mut hosts = table([
        ("app", s(&urls.app)),
        ("api", s(&urls.api)),
        ("events", s(&urls.events)),
        ("autumn", s(&urls.autumn)),
        ("january", s(&urls.january)),
    ]);
    if config.runs(Service::Gifbox) {
        hosts.insert("gifbox".into(), s(&urls.gifbox));
    }
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
            ("password", s(secrets.rabbit_password.expose())),
        ])),
    );

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
        Some(smtp) => table([
            ("host", s(smtp.host.as_str())),
            ("port", Value::Integer(i64::from(smtp.port.get()))),
            ("username", s(&smtp.username)),
            ("password", s(&smtp.password)),
            ("from_address", s(smtp.from.as_str())),
            (
                "use_tls",
                Value::Boolean(smtp.security == SmtpSecurity::ImplicitTls),
            ),
            (
                "use_starttls",
                Value::Boolean(smtp.security == SmtpSecurity::StartTls),
            ),
        ]),
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
                ("key", s(secrets.livekit_key.expose())),
                ("secret", s(secrets.livekit_secret.expose())),
            ])),
        );
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
            Value::Table(table([
                ("private_key", s(secrets.vapid.private_key())),
                ("public_key", s(secrets.vapid.public_key())),
            ])),
        )])),
    );

    let s3 = table([
        ("endpoint", s("http://minio:9000")),
        (
            "path_style_buckets",
            Value::Boolean(flavor == Flavor::Kubernetes),
        ),
        ("region", s("minio")),
        ("access_key_id", s(secrets.s3_access_key.expose())),
        ("secret_access_key", s(secrets.s3_secret_key.expose())),
        ("default_bucket", s(BUCKET)),
    ]);
    root.insert(
        "files".into(),
        Value::Table(table([
            ("encryption_key", s(secrets.files_encryption_key.expose())),
            ("s3", Value::Table(s3)),
        ])),
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

    let body = toml::to_string(&sorted(root)).expect("a TOML table serializes");
    format!(
        "# Rendered by Burrow from stack.toml; edits here are overwritten.\n\
         # Holds secrets: keep it private (mode 0600).\n\n{body}"
    )
}
