//! Service specs: what runs, from which image, with which files, ports,
//! dependencies and health checks. The Docker deploy, the compose export and
//! the Kubernetes objects are all built from these.

use std::collections::BTreeMap;

use super::caddy::ROUTES;
use super::{
    Condition, ConfigFile, Dependency, HealthCheck, Mount, Probe, Protocol, PublishedPort,
    Resources, Restart, ServiceSpec, Urls, BUCKET, REPLICA_SET, SELF_SIGNED_CA_SOURCE,
    SELF_SIGNED_CERT_SOURCE, SELF_SIGNED_KEY_SOURCE, TLS_CERT_PATH, TLS_KEY_PATH, TRUSTED_CA_PATH,
};
use crate::model::{Service, StackConfig, TlsMode};
use crate::secrets::Secrets;

/// Where mongod finds the replica-set key (copied from the read-only mount
/// with the owner and mode mongod insists on).
const MONGO_KEYFILE_MOUNT: &str = "/run/stoat/mongo-keyfile";
/// Where keydb.conf (it holds the password) is mounted. The image starts as
/// root and its entrypoint drops to user `keydb` before keydb-server reads
/// the file, so the start script copies it, as root, to a file that user
/// owns: a mount owned by root (Kubernetes) or by whoever exported the
/// compose files stays unreadable to `keydb`.
const KEYDB_CONF_MOUNT: &str = "/run/stoat/keydb.conf";
const KEYDB_CONF: &str = "/etc/keydb/keydb.conf";

/// The legacy bucket names Stoat still addresses (virtual-host style).
const LEGACY_BUCKETS: [&str; 6] = [
    "attachments",
    "avatars",
    "backgrounds",
    "icons",
    "banners",
    "emojis",
];

fn dotenv(vars: &[(&str, &str)]) -> ConfigFile {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ConfigFile::secret(super::dotenv::write(&vars))
}

/// Secret and auxiliary files the services need besides Revolt.toml,
/// Caddyfile and livekit.yml.
pub(super) fn files(config: &StackConfig, secrets: &Secrets) -> BTreeMap<String, ConfigFile> {
    let mut files = BTreeMap::new();
    files.insert(
        "database.env".into(),
        dotenv(&[
            ("MONGO_INITDB_ROOT_USERNAME", "root"),
            (
                "MONGO_INITDB_ROOT_PASSWORD",
                secrets.mongo_root_password.expose(),
            ),
            ("STOAT_DB_PASSWORD", secrets.mongo_user_password.expose()),
        ]),
    );
    files.insert(
        "mongo-keyfile".into(),
        ConfigFile::secret(format!("{}\n", secrets.mongo_keyfile.expose())),
    );
    // Runs once, on an empty data directory, inside the official image's init
    // phase; the password comes from the environment, not from this file.
    files.insert(
        "mongo-init.js".into(),
        ConfigFile::public(
            "// Rendered by Burrow: Stoat's database user.\n\
             db.getSiblingDB('revolt').createUser({\n  \
             user: 'stoatchat',\n  \
             pwd: process.env.STOAT_DB_PASSWORD,\n  \
             roles: [{ role: 'dbOwner', db: 'revolt' }],\n\
             });\n"
                .into(),
        ),
    );
    files.insert(
        "keydb.conf".into(),
        ConfigFile::secret(format!(
            "# Rendered by Burrow; holds secrets.\nrequirepass {}\nappendonly yes\ndir /data\n",
            secrets.redis_password.expose()
        )),
    );
    files.insert(
        "rabbit.env".into(),
        dotenv(&[
            ("RABBITMQ_DEFAULT_USER", "stoatchat"),
            ("RABBITMQ_DEFAULT_PASS", secrets.rabbit_password.expose()),
        ]),
    );
    if config.runs(Service::Minio) {
        files.insert(
            "minio.env".into(),
            dotenv(&[
                ("MINIO_ROOT_USER", secrets.s3_access_key.expose()),
                ("MINIO_ROOT_PASSWORD", secrets.s3_secret_key.expose()),
            ]),
        );
        // mc reads MC_HOST_<alias>: no credentials on a command line.
        let host = format!(
            "http://{}:{}@minio:9000",
            super::revolt::uri_escape(secrets.s3_access_key.expose()),
            super::revolt::uri_escape(secrets.s3_secret_key.expose())
        );
        files.insert(
            "createbuckets.env".into(),
            dotenv(&[("MC_HOST_minio", &host)]),
        );
    }
    files
}

fn http(path: &str, port: u16) -> Option<HealthCheck> {
    Some(HealthCheck {
        probe: Probe::Http {
            path: path.into(),
            port,
        },
        interval_s: 10,
        timeout_s: 5,
        retries: 5,
        start_period_s: 10,
    })
}

fn tcp(port: u16) -> Option<HealthCheck> {
    Some(HealthCheck {
        probe: Probe::Tcp { port },
        interval_s: 10,
        timeout_s: 5,
        retries: 5,
        start_period_s: 10,
    })
}

fn exec(command: &[&str], start_period_s: u32) -> Option<HealthCheck> {
    Some(HealthCheck {
        probe: Probe::Exec {
            command: command.iter().map(|s| s.to_string()).collect(),
        },
        interval_s: 10,
        timeout_s: 10,
        retries: 5,
        start_period_s,
    })
}

fn dep(service: Service, condition: Condition) -> Dependency {
    Dependency {
        service: service.name().into(),
        condition,
    }
}

fn file(name: &str, target: &str) -> Mount {
    Mount::File {
        file: name.into(),
        target: target.into(),
    }
}

fn volume(name: &str, target: &str) -> Mount {
    Mount::Volume {
        name: name.into(),
        target: target.into(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Mongo's health check initiates the single-member replica set on first
/// run (idempotent) and is healthy once this member is the writable primary.
fn mongo_health_script() -> String {
    format!(
        "mongosh --quiet -u root -p \"$MONGO_INITDB_ROOT_PASSWORD\" \
         --authenticationDatabase admin --eval \"\
         try {{ rs.status() }} catch (e) {{ rs.initiate({{_id: '{REPLICA_SET}', \
         members: [{{_id: 0, host: 'database:27017'}}]}}) }}; \
         quit(db.hello().isWritablePrimary ? 0 : 1)\""
    )
}

pub(super) fn specs(config: &StackConfig) -> Vec<ServiceSpec> {
    config
        .services()
        .into_iter()
        .map(|s| spec(config, s))
        .collect()
}

fn spec(config: &StackConfig, service: Service) -> ServiceSpec {
    let urls = Urls::of(config);
    let name = service.name().to_string();
    let mut spec = ServiceSpec {
        service,
        name: name.clone(),
        image: config.images.get(service).clone(),
        hostname: name.clone(),
        entrypoint: None,
        command: Vec::new(),
        env: BTreeMap::new(),
        env_files: Vec::new(),
        ports: Vec::new(),
        internal_port: None,
        mounts: Vec::new(),
        aliases: Vec::new(),
        depends_on: Vec::new(),
        health: None,
        restart: Restart::Always,
        requests: Resources {
            cpu_millis: 50,
            memory_mib: 64,
        },
    };
    if service.is_stoat_backend() {
        spec.mounts.push(file("Revolt.toml", "/Revolt.toml"));
        spec.env_files = vec![super::SECRETS_ENV.to_string()];
        if config.tls == TlsMode::SelfSigned {
            spec.mounts.push(Mount::Host {
                source: SELF_SIGNED_CA_SOURCE.into(),
                target: TRUSTED_CA_PATH.into(),
            });
            spec.env
                .insert("SSL_CERT_DIR".into(), "/etc/ssl/certs".into());
        }
        spec.requests = Resources {
            cpu_millis: 50,
            memory_mib: 128,
        };
    }
    let backend_port = ROUTES
        .iter()
        .find(|(_, s, _)| *s == service)
        .map(|(_, _, p)| *p);
    match service {
        Service::Database => {
            spec.entrypoint = Some(strings(&["bash", "-c"]));
            spec.command = vec![format!(
                "install -m 0400 -o mongodb -g mongodb {MONGO_KEYFILE_MOUNT} /tmp/mongo-keyfile \
                 && exec docker-entrypoint.sh mongod --replSet {REPLICA_SET} --bind_ip_all \
                 --keyFile /tmp/mongo-keyfile"
            )];
            spec.env_files = strings(&["database.env"]);
            spec.internal_port = Some(27017);
            spec.mounts = vec![
                volume("mongo-data", "/data/db"),
                volume("mongo-config", "/data/configdb"),
                file("mongo-keyfile", MONGO_KEYFILE_MOUNT),
                file("mongo-init.js", "/docker-entrypoint-initdb.d/stoat-user.js"),
            ];
            spec.health = exec(&["bash", "-c", &mongo_health_script()], 20);
            spec.requests = Resources {
                cpu_millis: 250,
                memory_mib: 512,
            };
        }
        Service::Redis => {
            spec.entrypoint = Some(strings(&["sh", "-c"]));
            spec.command = vec![format!(
                "install -m 0400 -o keydb -g keydb {KEYDB_CONF_MOUNT} {KEYDB_CONF} \
                 && exec docker-entrypoint.sh keydb-server {KEYDB_CONF}"
            )];
            spec.internal_port = Some(6379);
            spec.mounts = vec![
                volume("redis-data", "/data"),
                file("keydb.conf", KEYDB_CONF_MOUNT),
            ];
            spec.health = tcp(6379);
            spec.requests = Resources {
                cpu_millis: 100,
                memory_mib: 128,
            };
        }
        Service::Rabbit => {
            spec.env_files = strings(&["rabbit.env"]);
            spec.internal_port = Some(5672);
            spec.mounts = vec![volume("rabbit-data", "/var/lib/rabbitmq")];
            // Stoat's `ping`, once the server has written its Erlang cookie:
            // the CLI, run as root by `docker exec` in the first second,
            // would write it itself, owned by root, and the server (user
            // rabbitmq) then dies on "Error when reading
            // /var/lib/rabbitmq/.erlang.cookie: eacces" (seen in the tests
            // with the real RabbitMQ). `ping` passes when the node is up, a
            // few seconds before the broker takes clients: api, pushd and
            // voice-ingress retry until it does. (`check_port_connectivity`
            // waits for that, but took the real broker past the tests' 8 s
            // deadlines on a loaded 2-core machine.)
            spec.health = exec(
                &[
                    "sh",
                    "-c",
                    "test -e /var/lib/rabbitmq/.erlang.cookie \
                     && exec rabbitmq-diagnostics -q ping",
                ],
                20,
            );
            spec.requests = Resources {
                cpu_millis: 200,
                memory_mib: 256,
            };
        }
        Service::Minio => {
            spec.command = strings(&["server", "/data"]);
            spec.env.insert("MINIO_DOMAIN".into(), "minio".into());
            spec.env_files = strings(&["minio.env"]);
            spec.internal_port = Some(9000);
            spec.mounts = vec![volume("minio-data", "/data")];
            spec.aliases = std::iter::once(BUCKET)
                .chain(LEGACY_BUCKETS)
                .map(|b| format!("{b}.minio"))
                .collect();
            spec.health = http("/minio/health/live", 9000);
            spec.requests = Resources {
                cpu_millis: 100,
                memory_mib: 256,
            };
        }
        Service::Createbuckets => {
            spec.entrypoint = Some(strings(&["/bin/sh", "-c"]));
            spec.command = vec![format!(
                "until mc ready minio; do echo 'waiting for minio'; sleep 1; done; \
                 mc mb --ignore-existing minio/{BUCKET}"
            )];
            spec.env_files = strings(&["createbuckets.env"]);
            spec.depends_on = vec![dep(Service::Minio, Condition::Started)];
            spec.restart = Restart::OnFailure;
            spec.requests = Resources {
                cpu_millis: 10,
                memory_mib: 32,
            };
        }
        Service::Livekit => {
            spec.command = strings(&["--config", "/etc/livekit.yml"]);
            spec.internal_port = Some(7880);
            spec.mounts = vec![file("livekit.yml", "/etc/livekit.yml")];
            let lk = &config.livekit;
            let host_ip = config.network.host_ip();
            spec.ports = vec![
                PublishedPort {
                    start: lk.tcp_port.get(),
                    end: lk.tcp_port.get(),
                    protocol: Protocol::Tcp,
                    host_ip,
                    host_start: lk.tcp_port.get(),
                },
                PublishedPort {
                    start: lk.udp_ports.start().get(),
                    end: lk.udp_ports.end().get(),
                    protocol: Protocol::Udp,
                    host_ip,
                    host_start: lk.udp_ports.start().get(),
                },
            ];
            spec.depends_on = vec![dep(Service::Redis, Condition::Healthy)];
            spec.health = http("/", 7880);
            spec.requests = Resources {
                cpu_millis: 200,
                memory_mib: 256,
            };
        }
        Service::Api => {
            // Stoat's SMTP client says EHLO with the container's hostname
            // (#223), which must be a fully qualified name. Not the public
            // domain itself: Docker maps a container's hostname to its own
            // address in /etc/hosts, which would shadow Caddy's alias for
            // the domain and send the API's calls to its own public URL
            // (january's embeds, the web client's config) back to itself.
            spec.hostname = format!("api.{}", config.domain);
            spec.depends_on = vec![
                dep(Service::Database, Condition::Healthy),
                dep(Service::Redis, Condition::Healthy),
                dep(Service::Rabbit, Condition::Healthy),
            ];
            spec.health = http("/", 14702);
        }
        Service::Events => {
            spec.depends_on = vec![
                dep(Service::Database, Condition::Healthy),
                dep(Service::Redis, Condition::Healthy),
            ];
            spec.health = tcp(14703);
        }
        Service::Autumn => {
            spec.depends_on = vec![
                dep(Service::Database, Condition::Healthy),
                dep(Service::Createbuckets, Condition::Completed),
            ];
            spec.health = http("/", 14704);
        }
        Service::January => {
            spec.health = http("/", 14705);
        }
        Service::Gifbox => {
            spec.depends_on = vec![dep(Service::Database, Condition::Healthy)];
            spec.health = http("/", 14706);
        }
        Service::Crond => {
            spec.depends_on = vec![
                dep(Service::Database, Condition::Healthy),
                dep(Service::Redis, Condition::Healthy),
                dep(Service::Rabbit, Condition::Healthy),
                dep(Service::Minio, Condition::Started),
            ];
        }
        Service::Pushd => {
            spec.depends_on = vec![
                dep(Service::Database, Condition::Healthy),
                dep(Service::Redis, Condition::Healthy),
                dep(Service::Rabbit, Condition::Healthy),
            ];
        }
        Service::VoiceIngress => {
            spec.depends_on = vec![
                dep(Service::Database, Condition::Healthy),
                dep(Service::Redis, Condition::Healthy),
                dep(Service::Rabbit, Condition::Healthy),
            ];
            spec.health = tcp(8500);
        }
        Service::Web => {
            let video = config.runs(Service::Livekit).to_string();
            // A service that does not run gets no URL: the web app would
            // call it and fail.
            let env = [
                ("HOSTNAME", urls.app.as_str()),
                ("PORT", "5000"),
                ("REVOLT_PUBLIC_URL", urls.api.as_str()),
                ("VITE_API_URL", urls.api.as_str()),
                ("VITE_WS_URL", urls.advertised(config, Service::Events)),
                ("VITE_MEDIA_URL", urls.advertised(config, Service::Autumn)),
                ("VITE_PROXY_URL", urls.advertised(config, Service::January)),
                ("VITE_GIFBOX_URL", urls.advertised(config, Service::Gifbox)),
                ("VITE_CFG_ENABLE_VIDEO", video.as_str()),
                ("VITE_HCAPTCHA_SITEKEY", ""),
            ];
            spec.env = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            spec.internal_port = Some(5000);
            spec.health = http("/", 5000);
        }
        Service::Caddy => {
            // Caddy listens inside on the ports it is published on (the
            // Caddyfile sets them when they are not 80/443): its redirect
            // and the public URLs name the port clients reach, and services
            // that call the public URL through the domain alias below reach
            // Caddy on that same port.
            let net = &config.network;
            let (http, https) = (net.http_port.get(), net.https_port.get());
            spec.internal_port = Some(http);
            let publish = |port: u16, protocol| PublishedPort {
                start: port,
                end: port,
                protocol,
                host_ip: net.host_ip(),
                host_start: port,
            };
            spec.ports = vec![
                publish(http, Protocol::Tcp),
                publish(https, Protocol::Tcp),
                // HTTP/3
                publish(https, Protocol::Udp),
            ];
            spec.mounts = vec![
                file("Caddyfile", super::CADDYFILE_PATH),
                volume("caddy-data", "/data"),
                volume("caddy-config", "/config"),
            ];
            if let TlsMode::Acme {
                directory_ca: Some(_),
                ..
            } = &config.tls
            {
                spec.mounts
                    .push(file(super::ACME_CA_ROOT_FILE, super::ACME_CA_ROOT_PATH));
            }
            let (cert, key) = match &config.tls {
                TlsMode::SelfSigned => (
                    Some(SELF_SIGNED_CERT_SOURCE.to_string()),
                    Some(SELF_SIGNED_KEY_SOURCE.to_string()),
                ),
                TlsMode::OwnCertificate {
                    cert_file,
                    key_file,
                } => (Some(cert_file.to_string()), Some(key_file.to_string())),
                TlsMode::Acme { .. } => (None, None),
            };
            if let (Some(cert), Some(key)) = (cert, key) {
                spec.mounts.push(Mount::Host {
                    source: cert,
                    target: TLS_CERT_PATH.into(),
                });
                spec.mounts.push(Mount::Host {
                    source: key,
                    target: TLS_KEY_PATH.into(),
                });
            }
            // Services inside the stack that call the public URL reach Caddy.
            spec.aliases = vec![config.domain.to_string()];
            spec.health = tcp(http);
        }
    }
    if spec.internal_port.is_none() {
        spec.internal_port = backend_port;
    }
    spec
}
