//! The one state struct shared by the page renderer and server functions.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::FromRef;
use engine::setup_token::SetupToken;
use engine::Store;
use leptos::config::LeptosOptions;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    /// Seals and opens the secrets kept in the store.
    pub vault: engine::sealed::Vault,
    pub data_dir: PathBuf,
    /// Present until the first admin exists.
    pub setup_token: Arc<Mutex<Option<SetupToken>>>,
    pub started: Instant,
    /// Whether browsers reach the console over HTTPS (served so, or through
    /// a TLS-terminating proxy): cookies are then Secure.
    pub https: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// Deploys revisions and records their progress; holds the target
    /// factory (shared connections).
    pub deployer: Arc<engine::deployer::Deployer>,
    /// The dashboards' shared watch of the running stack.
    pub dashboard: Arc<engine::dashboard::Hub>,
    /// The update channel followed and its checks.
    pub updates: Arc<engine::update::Updates>,
    /// Applies releases (journalled rollouts).
    pub updater: Arc<engine::update::updater::Updater>,
}

impl AppState {
    pub fn setup_open(&self) -> bool {
        self.setup_token
            .lock()
            .map(|t| t.is_some())
            .unwrap_or(false)
    }
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
