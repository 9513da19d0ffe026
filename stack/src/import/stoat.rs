//! stoatchat/self-hosted: Revolt.toml + secrets.env (+ livekit.yml).

use std::collections::BTreeSet;

use serde_yaml::Value as Yaml;
use toml::{Table, Value};

use super::{parse_dotenv, Imported};
use crate::model::HttpsUrl;
use crate::model::{
    Apps, DomainName, EmailAddress, FieldIssue, IpAddress, Latitude, LiveKit, LiveKitIp, Longitude,
    NodeName, Port, PortRange, Registration, Smtp, SmtpSecurity, StackConfig, TlsMode,
    LETS_ENCRYPT_DIRECTORY,
};
use crate::secrets::{
    FilesKey, LiveKitKey, LiveKitSecret, Secrets, VapidKeys, PUBLIC_SAMPLE_SECRETS,
};

/// The files of a stoatchat/self-hosted install.
#[derive(Debug, Clone, Default)]
pub struct StoatInstall<'a> {
    pub revolt_toml: &'a str,
    /// `secrets.env` (`REVOLT__SECTION__KEY='value'` lines).
    pub secrets_env: Option<&'a str>,
    pub livekit_yml: Option<&'a str>,
}

fn get<'a>(t: &'a Table, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = t.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

fn get_str<'a>(t: &'a Table, path: &str) -> Option<&'a str> {
    get(t, path)?.as_str()
}

fn set(t: &mut Table, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = t;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        cur = entry.as_table_mut().expect("made a table above");
    }
    cur.insert(last.clone(), value);
}

fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v.as_table() {
        Some(t) => {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, v, out);
            }
        }
        None => out.push(prefix.to_string()),
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => Some(*i as f64),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Reads a stoatchat/self-hosted install (Revolt.toml + secrets.env, and
/// livekit.yml for the RTC ports when present).
pub fn from_stoat(
    install: &StoatInstall<'_>,
    fresh: &Secrets,
) -> Result<Imported, Vec<FieldIssue>> {
    const SRC: &str = "Revolt.toml";
    let mut table: Table = install.revolt_toml.parse().map_err(|e: toml::de::Error| {
        vec![FieldIssue::error(
            SRC,
            format!("not valid TOML: {}", e.message()),
        )]
    })?;
    let mut notes = Vec::new();
    // secrets.env overrides the file, the way the services read it.
    if let Some(env) = install.secrets_env {
        for (k, v) in parse_dotenv(env) {
            let Some(rest) = k.strip_prefix("REVOLT__") else {
                notes.push(FieldIssue::warning(
                    format!("secrets.env:{k}"),
                    "not a REVOLT__ variable; not carried over",
                ));
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set(&mut table, &path, Value::String(v));
        }
    }
    let mut errors = Vec::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let err = |errors: &mut Vec<FieldIssue>, path: &str, msg: String| {
        errors.push(FieldIssue::error(format!("{SRC}:{path}"), msg));
    };

    used.insert("hosts.app".to_string());
    let domain = match get_str(&table, "hosts.app") {
        None => {
            err(
                &mut errors,
                "hosts.app",
                "missing: the public URL gives the domain".into(),
            );
            None
        }
        Some(app) => {
            let bare = app
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            DomainName::parse(bare)
                .map_err(|e| err(&mut errors, "hosts.app", e.0))
                .ok()
        }
    };
    for k in [
        "hosts.api",
        "hosts.events",
        "hosts.autumn",
        "hosts.january",
        "hosts.gifbox",
    ] {
        used.insert(k.to_string());
    }

    used.insert("api.registration.invite_only".to_string());
    let registration = match get(&table, "api.registration.invite_only").and_then(Value::as_bool) {
        Some(false) => Registration::Open,
        // Stoat's default is open; unset means open too.
        None => Registration::Open,
        Some(true) => Registration::InviteOnly,
    };

    for k in [
        "api.smtp.host",
        "api.smtp.port",
        "api.smtp.username",
        "api.smtp.password",
        "api.smtp.from_address",
        "api.smtp.use_tls",
        "api.smtp.use_starttls",
    ] {
        used.insert(k.to_string());
    }
    let smtp = match get_str(&table, "api.smtp.host").unwrap_or("") {
        "" => None,
        host => {
            let use_tls = get(&table, "api.smtp.use_tls").and_then(Value::as_bool);
            let starttls = get(&table, "api.smtp.use_starttls").and_then(Value::as_bool);
            let security = match (starttls, use_tls) {
                (Some(true), _) => SmtpSecurity::StartTls,
                (_, Some(false)) => SmtpSecurity::None,
                _ => SmtpSecurity::ImplicitTls,
            };
            let default_port = match security {
                SmtpSecurity::ImplicitTls => 465,
                SmtpSecurity::StartTls => 587,
                SmtpSecurity::None => 25,
            };
            let port = get(&table, "api.smtp.port")
                .and_then(Value::as_integer)
                .unwrap_or(default_port);
            let host = crate::model::MailHost::parse(host)
                .map_err(|e| err(&mut errors, "api.smtp.host", e.0));
            let port = Port::try_from(port).map_err(|e| err(&mut errors, "api.smtp.port", e.0));
            let from = EmailAddress::parse(get_str(&table, "api.smtp.from_address").unwrap_or(""))
                .map_err(|e| err(&mut errors, "api.smtp.from_address", e.0));
            match (host, port, from) {
                (Ok(host), Ok(port), Ok(from)) => Some(Smtp {
                    host,
                    port,
                    username: get_str(&table, "api.smtp.username").unwrap_or("").into(),
                    password: get_str(&table, "api.smtp.password").unwrap_or("").into(),
                    from,
                    security,
                }),
                _ => None,
            }
        }
    };

    // Voice: the first [hosts.livekit] node, its [api.livekit.nodes.<n>] entry.
    let mut livekit = LiveKit::default();
    let mut livekit_key = None;
    let mut livekit_secret = None;
    let node = get(&table, "hosts.livekit")
        .and_then(Value::as_table)
        .and_then(|t| t.keys().next().cloned());
    if let Some(node) = node {
        let extra: Vec<String> = get(&table, "hosts.livekit")
            .and_then(Value::as_table)
            .map(|t| t.keys().skip(1).cloned().collect())
            .unwrap_or_default();
        for n in extra {
            notes.push(FieldIssue::warning(
                format!("{SRC}:hosts.livekit.{n}"),
                "Burrow runs one LiveKit node; this extra node is not carried over",
            ));
        }
        match NodeName::parse(&node) {
            Ok(name) => livekit.node = name,
            Err(e) => err(&mut errors, &format!("hosts.livekit.{node}"), e.0),
        }
        livekit.enabled = true;
        let base = format!("api.livekit.nodes.{node}");
        if let Some(lat) = num(get(&table, &format!("{base}.lat"))) {
            match Latitude::new(lat) {
                Ok(v) => livekit.lat = v,
                Err(e) => err(&mut errors, &format!("{base}.lat"), e.0),
            }
        }
        if let Some(lon) = num(get(&table, &format!("{base}.lon"))) {
            match Longitude::new(lon) {
                Ok(v) => livekit.lon = v,
                Err(e) => err(&mut errors, &format!("{base}.lon"), e.0),
            }
        }
        livekit_key = get_str(&table, &format!("{base}.key")).map(|k| {
            LiveKitKey::parse(k).map_err(|e| err(&mut errors, &format!("{base}.key"), e.0))
        });
        livekit_secret = get_str(&table, &format!("{base}.secret")).map(|k| {
            LiveKitSecret::parse(k).map_err(|e| err(&mut errors, &format!("{base}.secret"), e.0))
        });
        if let Some(url) = get_str(&table, &format!("{base}.url")) {
            if url != "http://livekit:7880" {
                notes.push(FieldIssue::warning(
                    format!("{SRC}:{base}.url"),
                    format!("LiveKit at {url} is replaced by Burrow's own LiveKit service"),
                ));
            }
        }
        for k in ["url", "lat", "lon", "key", "secret"] {
            used.insert(format!("{base}.{k}"));
        }
        used.insert(format!("hosts.livekit.{node}"));
    }
    if let Some(yml) = install.livekit_yml {
        read_livekit_yml(yml, &mut livekit, &mut notes, &mut errors);
    }

    for k in [
        "pushd.vapid.private_key",
        "pushd.vapid.public_key",
        "files.encryption_key",
    ] {
        used.insert(k.to_string());
    }
    let mut secrets = fresh.clone();
    match (
        get_str(&table, "pushd.vapid.private_key"),
        get_str(&table, "pushd.vapid.public_key"),
    ) {
        (Some(private), Some(public)) if PUBLIC_SAMPLE_SECRETS.contains(&private) => {
            let _ = public;
            notes.push(FieldIssue::warning(
                format!("{SRC}:pushd.vapid"),
                "this is Stoat's public sample VAPID key; a new key pair is used \
                 (browsers subscribe again)",
            ));
        }
        (Some(private), Some(public)) => match VapidKeys::parse(private, public) {
            Ok(v) => secrets.vapid = v,
            Err(e) => err(&mut errors, "pushd.vapid", e.0),
        },
        _ => notes.push(FieldIssue::warning(
            format!("{SRC}:pushd.vapid"),
            "no VAPID keys found; a new key pair is used",
        )),
    }
    match get_str(&table, "files.encryption_key") {
        Some(key) => match FilesKey::parse(key) {
            Ok(k) => {
                if PUBLIC_SAMPLE_SECRETS.contains(&key) {
                    notes.push(
                        FieldIssue::warning(
                            format!("{SRC}:files.encryption_key"),
                            "this is Stoat's public sample files key; it is kept because \
                         changing it makes every stored file unreadable, but anyone can \
                         decrypt these files",
                        )
                        .with_fix("re-encrypt the files with a new key, then force a key change"),
                    );
                }
                secrets.files_encryption_key = k;
            }
            Err(e) => err(&mut errors, "files.encryption_key", e.0),
        },
        None => notes.push(FieldIssue::warning(
            format!("{SRC}:files.encryption_key"),
            "no files key found; a new key is used (existing files would be unreadable)",
        )),
    }
    if let Some(Ok(k)) = livekit_key {
        secrets.livekit_key = k;
    }
    if let Some(Ok(s)) = livekit_secret {
        secrets.livekit_secret = s;
    }

    // Infrastructure: Burrow runs its own, with authentication.
    for k in [
        "database.mongodb",
        "database.redis",
        "rabbit.host",
        "rabbit.port",
        "rabbit.username",
        "rabbit.password",
        "files.s3.endpoint",
        "files.s3.path_style_buckets",
        "files.s3.region",
        "files.s3.access_key_id",
        "files.s3.secret_access_key",
        "files.s3.default_bucket",
    ] {
        used.insert(k.to_string());
    }
    notes.push(FieldIssue::warning(
        format!("{SRC}:database"),
        "Burrow runs MongoDB (replica set, with authentication), KeyDB, RabbitMQ and \
         MinIO with new credentials: existing data must be migrated into the new volumes",
    ));
    if let Some(endpoint) = get_str(&table, "files.s3.endpoint") {
        if endpoint != "http://minio:9000" {
            notes.push(FieldIssue::warning(
                format!("{SRC}:files.s3.endpoint"),
                format!("external S3 ({endpoint}) is not supported yet; files go to MinIO"),
            ));
        }
    }

    let apps = Apps {
        gifbox: get(&table, "hosts.gifbox").is_some(),
        voice_ingress: livekit.enabled,
        ..Apps::default()
    };

    // Everything else that was set is reported, not silently dropped.
    let mut all = Vec::new();
    leaves("", &Value::Table(table.clone()), &mut all);
    for path in all {
        if !used.contains(&path) {
            notes.push(FieldIssue::warning(
                format!("{SRC}:{path}"),
                "not managed by Burrow; not carried over",
            ));
        }
    }

    if !errors.is_empty() {
        errors.extend(notes);
        return Err(errors);
    }
    let domain = domain.expect("no errors means a domain");
    let mut config = StackConfig::new(domain);
    // Caddy in self-hosted gets its certificate by ACME without an e-mail.
    config.tls = TlsMode::Acme {
        email: None,
        directory: HttpsUrl::parse(LETS_ENCRYPT_DIRECTORY).expect("valid URL"),
        directory_ca: None,
    };
    config.smtp = smtp;
    config.registration = registration;
    config.livekit = livekit;
    config.apps = apps;
    notes.extend(config.check());
    Ok(Imported {
        config,
        secrets,
        notes,
    })
}

fn read_livekit_yml(
    yml: &str,
    livekit: &mut LiveKit,
    notes: &mut Vec<FieldIssue>,
    errors: &mut Vec<FieldIssue>,
) {
    const SRC: &str = "livekit.yml";
    let doc: Yaml = match serde_yaml::from_str(yml) {
        Ok(d) => d,
        Err(e) => {
            errors.push(FieldIssue::error(SRC, format!("not valid YAML: {e}")));
            return;
        }
    };
    let rtc = &doc["rtc"];
    let port = |v: &Yaml| v.as_i64().and_then(|p| Port::try_from(p).ok());
    if let (Some(a), Some(b)) = (port(&rtc["port_range_start"]), port(&rtc["port_range_end"])) {
        match PortRange::new(a, b) {
            Ok(r) => livekit.udp_ports = r,
            Err(e) => errors.push(FieldIssue::error(
                format!("{SRC}:rtc.port_range_start"),
                e.0,
            )),
        }
    }
    if let Some(p) = port(&rtc["tcp_port"]) {
        livekit.tcp_port = p;
    }
    if let Some(ip) = rtc["node_ip"].as_str() {
        match IpAddress::parse(ip) {
            Ok(ip) => livekit.ip = LiveKitIp::Fixed(ip),
            Err(e) => errors.push(FieldIssue::error(format!("{SRC}:rtc.node_ip"), e.0)),
        }
    }
    if doc["turn"]["enabled"].as_bool() == Some(true) {
        notes.push(FieldIssue::warning(
            format!("{SRC}:turn"),
            "LiveKit's TURN server is not managed by Burrow; not carried over",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Seed;

    fn fresh() -> Secrets {
        Secrets::derive(&Seed::parse("fresh").unwrap())
    }
    #[test]
    fn self_hosted_generate_config_output() {
        let revolt = r#"
[hosts]
app = "https://chat.example.com"
api = "https://chat.example.com/api"
events = "wss://chat.example.com/ws"
autumn = "https://chat.example.com/autumn"
january = "https://chat.example.com/january"
gifbox = "https://chat.example.com/gifbox"

[hosts.livekit]
worldwide = "wss://chat.example.com/livekit"

[api.livekit.nodes.worldwide]
url = "http://livekit:7880"
lat = 0.0
lon = 0.0

[api.security]
tenor_key = "abc"
"#;
        let v = Secrets::derive(&Seed::parse("old").unwrap());
        let env = format!(
            "# comment\nREVOLT__PUSHD__VAPID__PRIVATE_KEY='{}'\nREVOLT__PUSHD__VAPID__PUBLIC_KEY='{}'\n\
             REVOLT__FILES__ENCRYPTION_KEY='{}'\n\
             REVOLT__API__LIVEKIT__NODES__WORLDWIDE__SECRET='{}'\nREVOLT__API__LIVEKIT__NODES__WORLDWIDE__KEY='{}'\n",
            v.vapid.private_key(),
            v.vapid.public_key(),
            v.files_encryption_key.expose(),
            v.livekit_secret.expose(),
            v.livekit_key.expose()
        );
        let yml = "rtc:\n  use_external_ip: true\n  port_range_start: 50000\n  port_range_end: 50100\n  tcp_port: 7881\n";
        let imported = from_stoat(
            &StoatInstall {
                revolt_toml: revolt,
                secrets_env: Some(&env),
                livekit_yml: Some(yml),
            },
            &fresh(),
        )
        .unwrap();
        assert_eq!(imported.config.domain.as_str(), "chat.example.com");
        assert!(imported.config.livekit.enabled);
        assert!(imported.config.apps.gifbox && imported.config.apps.voice_ingress);
        assert_eq!(imported.secrets.vapid, v.vapid);
        assert_eq!(
            imported.secrets.files_encryption_key,
            v.files_encryption_key
        );
        assert_eq!(imported.secrets.livekit_key, v.livekit_key);
        assert!(imported
            .notes
            .iter()
            .any(|n| n.field == "Revolt.toml:api.security.tenor_key"));
    }

    #[test]
    fn sample_vapid_is_replaced() {
        let revolt = format!(
            "[hosts]\napp = 'https://a.example.com'\n[pushd.vapid]\nprivate_key = '{}'\npublic_key = '{}='\n",
            PUBLIC_SAMPLE_SECRETS[0], PUBLIC_SAMPLE_SECRETS[1]
        );
        let imported = from_stoat(
            &StoatInstall {
                revolt_toml: &revolt,
                ..StoatInstall::default()
            },
            &fresh(),
        )
        .unwrap();
        assert_eq!(imported.secrets.vapid, fresh().vapid);
    }
}
