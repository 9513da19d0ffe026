//! Every setting Burrow reads at startup, from flags or `BURROW_*` variables.
//! This is the one place they are documented.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address the console listens on. On a loopback address it serves plain
    /// HTTP; on any other address HTTPS.
    #[arg(long, env = "BURROW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory holding burrow.db, the setup token and the console certificate.
    #[arg(long, env = "BURROW_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Directory of the built site (wasm, JS, CSS). The default works when
    /// Burrow runs from the repository root after a build.
    #[arg(long, env = "BURROW_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Key file that seals stored secrets (created, mode 0600, if missing).
    /// Default: `secrets.key` in the data directory. Keep it out of database
    /// backups: a copy of the database alone then reveals no secret.
    #[arg(long, env = "BURROW_SECRETS_KEY")]
    pub secrets_key: Option<PathBuf>,

    /// PEM certificate (chain) for the console's HTTPS; with --tls-key.
    #[arg(long, env = "BURROW_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "BURROW_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve plain HTTP on a non-loopback address. Passwords and session
    /// cookies then cross the network unencrypted: only behind a TLS proxy.
    #[arg(long, env = "BURROW_INSECURE_HTTP", default_value_t = false)]
    pub insecure_http: bool,

    /// The Docker daemon to deploy to: unix:///path/to/docker.sock or
    /// tcp://host:port. Default: DOCKER_HOST, else the local socket.
    #[arg(long, env = "BURROW_DOCKER_HOST")]
    pub docker_host: Option<String>,

    /// More names the console answers to, comma-separated (e.g. the name a
    /// reverse proxy forwards as `Host`). IP addresses, localhost and the
    /// names in the console's certificate are always answered; any other
    /// name gets 421, so a page on a rebinding domain cannot reach it.
    #[arg(long, env = "BURROW_HOSTNAMES", value_delimiter = ',')]
    pub hostnames: Vec<String>,

    /// Addresses of a TLS-terminating reverse proxy in front of the console
    /// (comma-separated). Browsers then reach it over HTTPS: its cookies
    /// are Secure, and the client address of a request from the proxy is
    /// the last one the proxy added to `X-Forwarded-For` (otherwise that
    /// header is never trusted).
    #[arg(long, env = "BURROW_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<std::net::IpAddr>,

    /// Days the audit log keeps an entry; older ones are deleted at start-up
    /// and once a day.
    #[arg(long, env = "BURROW_AUDIT_KEEP_DAYS", default_value_t = 365)]
    pub audit_keep_days: u32,

    /// The update channel: the address that holds its metadata/ and
    /// targets/ (https://…, http://… or file:///…).
    #[arg(long, env = "BURROW_CHANNEL_URL")]
    pub channel_url: Option<String>,

    /// The channel's root metadata (its 1.root.json, or a later root),
    /// trusted as given: every release is verified from it.
    #[arg(long, env = "BURROW_CHANNEL_ROOT")]
    pub channel_root: Option<PathBuf>,

    /// The channel this install follows; a release for another is refused.
    #[arg(long, env = "BURROW_CHANNEL_NAME", default_value = "stable")]
    pub channel_name: String,

    /// Backups kept under the data dir (the oldest go first).
    #[arg(long, env = "BURROW_BACKUP_KEEP", default_value_t = engine::backup::KEEP)]
    pub backup_keep: usize,

    /// Seconds the whole stack must stay green after an update before it
    /// commits (every service running, none unhealthy, no restart).
    #[arg(long, env = "BURROW_UPDATE_SETTLE_S", default_value_t = 60)]
    pub update_settle_s: u64,

    /// Seconds one service may take to turn healthy during an update.
    #[arg(long, env = "BURROW_UPDATE_DEADLINE_S", default_value_t = 120)]
    pub update_deadline_s: u64,

    /// Seconds a service's restart count must not move after an update
    /// (a release's `health.<service>.min_healthy_s` overrides it).
    #[arg(long, env = "BURROW_UPDATE_MIN_HEALTHY_S", default_value_t = 10)]
    pub update_min_healthy_s: u64,

    /// Seconds the whole update may take, from the preflight to the end of
    /// the settle; past it the update is rolled back.
    #[arg(long, env = "BURROW_UPDATE_TOTAL_S", default_value_t = 900)]
    pub update_total_s: u64,

    /// How many releases installed last keep their images on the daemon
    /// (older and failed releases' images are dropped after an update).
    #[arg(long, env = "BURROW_UPDATE_KEEP_RELEASES", default_value_t = engine::update::updater::KEEP_RELEASES)]
    pub update_keep_releases: usize,
}

impl Settings {
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join(engine::sealed::KEY_FILE))
    }

    /// Defaults for a console on `listen` keeping its data in `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            site_root: PathBuf::from("target/site"),
            secrets_key: None,
            tls_cert: None,
            tls_key: None,
            insecure_http: false,
            docker_host: None,
            hostnames: Vec::new(),
            audit_keep_days: 365,
            trusted_proxy: Vec::new(),
            channel_url: None,
            channel_root: None,
            channel_name: "stable".to_owned(),
            backup_keep: engine::backup::KEEP,
            update_settle_s: 60,
            update_deadline_s: 120,
            update_min_healthy_s: 10,
            update_total_s: 900,
            update_keep_releases: engine::update::updater::KEEP_RELEASES,
        }
    }
}
