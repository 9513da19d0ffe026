//! Everything the Burrow console does without UI. The web layer (`app`,
//! `server`) parses input, calls one function here, and maps the error.

pub mod accounts;
pub mod acme_log;
pub mod audit;
pub mod backup;
pub mod certs;
pub mod chat_probe;
pub mod console_hosts;
pub mod console_tls;
pub mod dashboard;
pub mod data_dir;
pub mod deploy;
pub mod deployer;
pub mod deployments;
pub mod devices;
pub mod error;
pub mod history;
pub mod mail;
pub mod preflight;
pub mod revisions;
pub mod sealed;
pub mod self_container;
pub mod setup_token;
pub mod stack_tls;
pub mod store;
pub mod targets;
pub mod throttle;
pub mod two_factor;
pub mod update;
pub mod wizard;

pub use error::EngineError;
pub use store::Store;

/// Seconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
