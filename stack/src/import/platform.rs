//! stoatchat-platform: an `environments/<name>.yaml` and its secret files.

use serde_yaml::Value as Yaml;

use super::Imported;
use crate::model::{
    Apps, DomainName, EmailAddress, FieldIssue, HttpsUrl, LiveKit, Port, PortRange, Registration,
    Smtp, SmtpSecurity, StackConfig, TlsMode, LETS_ENCRYPT_DIRECTORY,
};
use crate::secrets::{FilesKey, LiveKitKey, LiveKitSecret, Password, Secrets, Seed, VapidKeys};

/// The files of a stoatchat-platform environment.
#[derive(Debug, Clone, Default)]
pub struct PlatformInstall<'a> {
    /// `environments/<name>.yaml`.
    pub environment: &'a str,
    /// Further values files merged over it, in order: `vapid.secret.yaml`,
    /// `files.secret.yaml`, `<name>.secret-overrides.yaml`.
    pub extra: Vec<(&'a str, &'a str)>,
}

fn merge(base: &mut Yaml, over: Yaml) {
    match (base, over) {
        (Yaml::Mapping(b), Yaml::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn yaml_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a stoatchat-platform environment (over the platform's own defaults).
/// Seed-derived credentials come out identical; `secretOverrides` win.
pub fn from_platform(
    install: &PlatformInstall<'_>,
    fresh: &Secrets,
) -> Result<Imported, Vec<FieldIssue>> {
    let mut doc: Yaml = serde_yaml::from_str(PLATFORM_DEFAULTS).expect("built-in defaults parse");
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let sources =
        std::iter::once(("environment", install.environment)).chain(install.extra.iter().copied());
    for (name, text) in sources {
        match serde_yaml::from_str::<Yaml>(text) {
            Ok(Yaml::Null) => {}
            Ok(v @ Yaml::Mapping(_)) => merge(&mut doc, v),
            Ok(_) => errors.push(FieldIssue::error(name, "expected a YAML mapping")),
            Err(e) => errors.push(FieldIssue::error(name, format!("not valid YAML: {e}"))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    const SRC: &str = "environment";
    let text = |path: &[&str]| {
        let mut cur = &doc;
        for p in path {
            cur = cur.get(*p)?;
        }
        yaml_text(cur)
    };
    let flag = |path: &[&str], default: bool| {
        let mut cur = &doc;
        for p in path {
            match cur.get(*p) {
                Some(v) => cur = v,
                None => return default,
            }
        }
        cur.as_bool().unwrap_or(default)
    };
    let err = |errors: &mut Vec<FieldIssue>, path: &str, msg: String| {
        errors.push(FieldIssue::error(format!("{SRC}:{path}"), msg));
    };

    let domain = DomainName::parse(&text(&["domain"]).unwrap_or_default())
        .map_err(|e| err(&mut errors, "domain", e.0))
        .ok();

    let tls = match text(&["tls", "issuer"]).as_deref() {
        Some("letsencrypt") => {
            let email = text(&["adminEmail"]).and_then(|e| {
                EmailAddress::parse(&e)
                    .map_err(|e| err(&mut errors, "adminEmail", e.0))
                    .ok()
            });
            TlsMode::Acme {
                email,
                directory: HttpsUrl::parse(LETS_ENCRYPT_DIRECTORY).expect("valid URL"),
                directory_ca: None,
            }
        }
        _ => TlsMode::SelfSigned,
    };

    let smtp = match text(&["smtp", "host"]).unwrap_or_default().as_str() {
        "" => None,
        host => {
            let use_tls = flag(&["smtp", "useTls"], false);
            let starttls = flag(&["smtp", "useStarttls"], false);
            let security = if starttls {
                SmtpSecurity::StartTls
            } else if use_tls {
                SmtpSecurity::ImplicitTls
            } else {
                SmtpSecurity::None
            };
            let host =
                crate::model::MailHost::parse(host).map_err(|e| err(&mut errors, "smtp.host", e.0));
            let port = Port::parse(&text(&["smtp", "port"]).unwrap_or_else(|| "587".into()))
                .map_err(|e| err(&mut errors, "smtp.port", e.0));
            let from = EmailAddress::parse(&text(&["smtp", "fromAddress"]).unwrap_or_default())
                .map_err(|e| err(&mut errors, "smtp.fromAddress", e.0));
            if text(&["smtp", "replyTo"]).is_some_and(|r| !r.is_empty()) {
                notes.push(FieldIssue::warning(
                    format!("{SRC}:smtp.replyTo"),
                    "a reply-to address is not managed by Burrow; not carried over",
                ));
            }
            match (host, port, from) {
                (Ok(host), Ok(port), Ok(from)) => Some(Smtp {
                    host,
                    port,
                    username: text(&["smtp", "username"]).unwrap_or_default(),
                    password: text(&["smtp", "password"]).unwrap_or_default(),
                    from,
                    security,
                }),
                _ => None,
            }
        }
    };

    let mut livekit = LiveKit {
        enabled: flag(&["livekit", "enabled"], false),
        ..LiveKit::default()
    };
    if let (Some(a), Some(b)) = (
        text(&["livekit", "rtcPortRangeStart"]),
        text(&["livekit", "rtcPortRangeEnd"]),
    ) {
        match PortRange::parse(&format!("{a}-{b}")) {
            Ok(r) => livekit.udp_ports = r,
            Err(e) => err(&mut errors, "livekit.rtcPortRangeStart", e.0),
        }
    }

    let apps = Apps {
        api: flag(&["apps", "api", "enabled"], true),
        events: flag(&["apps", "events", "enabled"], true),
        autumn: flag(&["apps", "fileServer", "enabled"], true),
        january: flag(&["apps", "proxy", "enabled"], true),
        gifbox: flag(&["apps", "gifbox", "enabled"], false),
        crond: flag(&["apps", "crond", "enabled"], true),
        pushd: flag(&["apps", "pushd", "enabled"], true),
        voice_ingress: flag(&["apps", "voiceIngress", "enabled"], false),
        web: flag(&["apps", "client", "enabled"], true),
    };

    for (path, what) in [
        (["mongodb", "enabled"], "an external MongoDB"),
        (["redis", "enabled"], "an external Redis"),
        (["rabbitmq", "enabled"], "an external RabbitMQ"),
        (["minio", "enabled"], "external S3 storage"),
    ] {
        if !flag(&path, true) {
            notes.push(FieldIssue::warning(
                format!("{SRC}:{}", path.join(".")),
                format!("{what} is not supported yet; Burrow runs its own"),
            ));
        }
    }
    if text(&["apps", "gifbox", "tenorKey"]).is_some() {
        notes.push(FieldIssue::warning(
            format!("{SRC}:apps.gifbox.tenorKey"),
            "the Tenor key is not managed by Burrow yet; not carried over",
        ));
    }

    let mut secrets = fresh.clone();
    match text(&["secretSeed"]).filter(|s| !s.is_empty()) {
        Some(seed) => match Seed::parse(&seed) {
            Ok(seed) => {
                let derived = Secrets::derive(&seed);
                secrets.mongo_root_password = derived.mongo_root_password;
                secrets.mongo_user_password = derived.mongo_user_password;
                secrets.redis_password = derived.redis_password;
                secrets.rabbit_password = derived.rabbit_password;
                secrets.s3_access_key = derived.s3_access_key;
                secrets.s3_secret_key = derived.s3_secret_key;
                secrets.livekit_key = derived.livekit_key;
                secrets.livekit_secret = derived.livekit_secret;
            }
            Err(e) => err(&mut errors, "secretSeed", e.0),
        },
        None => notes.push(FieldIssue::warning(
            format!("{SRC}:secretSeed"),
            "no seed: new credentials are used",
        )),
    }
    if let Some(Yaml::Mapping(overrides)) = doc.get("secretOverrides") {
        for (k, v) in overrides {
            let (Some(id), Some(value)) = (k.as_str(), yaml_text(v)) else {
                continue;
            };
            let path = format!("secretOverrides.{id}");
            let pw = |errors: &mut Vec<FieldIssue>| {
                Password::parse(&value)
                    .map_err(|e| errors.push(FieldIssue::error(format!("{SRC}:{path}"), e.0)))
                    .ok()
            };
            match id {
                "mongo-root" => {
                    secrets.mongo_root_password =
                        pw(&mut errors).unwrap_or(secrets.mongo_root_password)
                }
                "mongo-user" => {
                    secrets.mongo_user_password =
                        pw(&mut errors).unwrap_or(secrets.mongo_user_password)
                }
                "redis" => {
                    secrets.redis_password = pw(&mut errors).unwrap_or(secrets.redis_password)
                }
                "rabbit-user" => {
                    secrets.rabbit_password = pw(&mut errors).unwrap_or(secrets.rabbit_password)
                }
                "s3-access" => {
                    secrets.s3_access_key = pw(&mut errors).unwrap_or(secrets.s3_access_key)
                }
                "s3-secret" => {
                    secrets.s3_secret_key = pw(&mut errors).unwrap_or(secrets.s3_secret_key)
                }
                "livekit-key" => match LiveKitKey::parse(&value) {
                    Ok(k) => secrets.livekit_key = k,
                    Err(e) => errors.push(FieldIssue::error(format!("{SRC}:{path}"), e.0)),
                },
                "livekit-secret" => match LiveKitSecret::parse(&value) {
                    Ok(k) => secrets.livekit_secret = k,
                    Err(e) => errors.push(FieldIssue::error(format!("{SRC}:{path}"), e.0)),
                },
                _ => notes.push(FieldIssue::warning(
                    format!("{SRC}:{path}"),
                    "unknown secret id; not carried over",
                )),
            }
        }
    }
    match (
        text(&["vapid", "privateKey"]),
        text(&["vapid", "publicKey"]),
    ) {
        (Some(private), Some(public)) => match VapidKeys::parse(&private, &public) {
            Ok(v) => secrets.vapid = v,
            Err(e) => err(&mut errors, "vapid", e.0),
        },
        _ => notes.push(FieldIssue::warning(
            format!("{SRC}:vapid"),
            "no VAPID keys (vapid.secret.yaml); a new key pair is used",
        )),
    }
    match text(&["files", "encryptionKey"]) {
        Some(key) => match FilesKey::parse(&key) {
            Ok(k) => secrets.files_encryption_key = k,
            Err(e) => err(&mut errors, "files.encryptionKey", e.0),
        },
        None => notes.push(
            FieldIssue::warning(
                format!("{SRC}:files"),
                "no files key (files.secret.yaml): a new key is used, so files stored \
                 under the old key would be unreadable",
            )
            .with_fix("import with files.secret.yaml"),
        ),
    }

    if !errors.is_empty() {
        errors.extend(notes);
        return Err(errors);
    }
    let mut config = StackConfig::new(domain.expect("no errors means a domain"));
    config.tls = tls;
    config.smtp = smtp;
    // The platform has no registration switch: Stoat's default (open).
    config.registration = Registration::Open;
    config.livekit = livekit;
    config.apps = apps;
    config.target = crate::model::TargetKind::Kubernetes;
    notes.extend(config.check());
    Ok(Imported {
        config,
        secrets,
        notes,
    })
}

/// stoatchat-platform's `environments/_defaults.yaml` (the parts that matter).
const PLATFORM_DEFAULTS: &str = r#"
domain: stoatchat.local
apps:
  api: {enabled: true}
  events: {enabled: true}
  fileServer: {enabled: true}
  proxy: {enabled: true}
  gifbox: {enabled: false}
  crond: {enabled: true}
  pushd: {enabled: true}
  voiceIngress: {enabled: false}
  client: {enabled: true}
mongodb: {enabled: true}
redis: {enabled: true}
rabbitmq: {enabled: true}
minio: {enabled: true}
livekit: {enabled: false}
tls: {issuer: selfsigned}
smtp: {host: ""}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Seed;

    fn fresh() -> Secrets {
        Secrets::derive(&Seed::parse("fresh").unwrap())
    }
    #[test]
    fn platform_seed_gives_platform_credentials() {
        let env = "domain: chat.example.com\nsecretSeed: \"abc123\"\nlivekit:\n  enabled: true\n  rtcPortRangeStart: 50000\n  rtcPortRangeEnd: 50100\napps:\n  voiceIngress:\n    enabled: true\nsmtp:\n  host: smtp.example.com\n  port: 587\n  fromAddress: noreply@example.com\n  useTls: false\n  useStarttls: true\n";
        let overrides = "secretOverrides:\n  redis: \"over-ride\"\n";
        let imported = from_platform(
            &PlatformInstall {
                environment: env,
                extra: vec![("overrides", overrides)],
            },
            &fresh(),
        )
        .unwrap();
        let seed = Seed::parse("abc123").unwrap();
        assert_eq!(
            imported.secrets.mongo_user_password.expose(),
            crate::secrets::derive_secret(&seed, "mongo-user", 50)
        );
        assert_eq!(imported.secrets.redis_password.expose(), "over-ride");
        assert_eq!(imported.secrets.livekit_key.expose().len(), 12);
        assert_eq!(
            imported.config.smtp.as_ref().unwrap().security,
            SmtpSecurity::StartTls
        );
        assert!(imported.config.livekit.enabled);
        assert!(imported
            .notes
            .iter()
            .any(|n| n.field == "environment:files"));
    }
}
