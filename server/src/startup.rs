//! Building the console (state, router, layers) and serving it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::header::LOCATION;
use axum::middleware::{from_fn, from_fn_with_state, map_response, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;

use app::api::IDLE_TIMEOUT_SECS;
use app::state::AppState;
use app::{shell, App};
use engine::console_tls::ConsoleCert;
use engine::sealed::Vault;
use engine::setup_token::SetupToken;
use engine::Store;

use crate::config::Settings;
use crate::{downloads, guard, health, live};

/// Largest request body accepted; forms here are a few hundred bytes.
const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error("session store: {0}")]
    Sessions(#[from] sqlx::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

/// How the console is served.
pub enum Transport {
    Http,
    Https(ConsoleCert),
}

/// Opens the store, hands out a setup token if no admin exists yet, and
/// builds the router with every layer.
pub async fn build(settings: &Settings, https: bool) -> Result<(Router, AppState), StartupError> {
    // Behind a TLS-terminating proxy the browser's side is HTTPS.
    let https = https || !settings.trusted_proxy.is_empty();
    let store = Store::open(&settings.data_dir).await?;
    let vault = Vault::open(&settings.secrets_key_path())?;
    // The stack's credentials are generated once, on first start, and kept.
    store.ensure_stack_secrets(&vault).await?;
    let setup_token = if store.admin_exists().await? {
        let stale = settings.data_dir.join(engine::setup_token::FILE_NAME);
        if stale.exists() {
            std::fs::remove_file(stale)?;
        }
        None
    } else {
        Some(SetupToken::create(&settings.data_dir)?)
    };
    let leptos_options = LeptosOptions::builder()
        .output_name("burrow")
        .site_root(settings.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(settings.listen)
        .build();
    let stale = store.interrupt_stale_deployments().await?;
    if stale > 0 {
        tracing::warn!(
            stale,
            "deployments left running by a previous start marked interrupted"
        );
    }
    tokio::spawn(prune_audit_daily(store.clone(), settings.audit_keep_days));
    let targets = Arc::new(engine::targets::Targets::new(settings.docker_host.clone()));
    let deployer = Arc::new(engine::deployer::Deployer::new(
        store.clone(),
        vault.clone(),
        targets,
    ));
    // A channel given by the environment wins over the Updates page's; a
    // broken one is said at start-up and the page says why it is unused.
    let environment = match (&settings.channel_url, &settings.channel_root) {
        (None, None) => None,
        _ => match crate::update_cli::channel_settings(settings) {
            Ok(channel) => Some(channel),
            Err(why) => {
                tracing::warn!(%why, "the update channel from the environment is not used");
                None
            }
        },
    };
    let updates = Arc::new(engine::update::Updates::new(
        environment,
        settings.data_dir.clone(),
    ));
    engine::update::watch::spawn_schedule(
        updates.clone(),
        store.clone(),
        engine::update::watch::CHECK_EVERY,
    );
    let updater = Arc::new(engine::update::updater::Updater::new(
        deployer.clone(),
        engine::backup::Backups::new(&settings.data_dir, settings.backup_keep),
        crate::update_cli::pacing(settings),
    ));
    engine::update::auto::spawn(
        updates.clone(),
        updater.clone(),
        engine::update::auto::TICK_EVERY,
    );
    // An update interrupted by a stop is finished (rolled back, or
    // committed) before the console serves.
    match updater.resume_unfinished().await {
        Ok(resumed) => {
            for r in resumed {
                tracing::warn!(rollout = r.id, phase = ?r.phase, "interrupted update finished");
            }
        }
        Err(e) => tracing::error!(error = %e, "an interrupted update could not be finished"),
    }
    let state = AppState {
        deployer,
        updater,
        updates,
        dashboard: Arc::default(),
        leptos_options,
        store,
        vault,
        data_dir: settings.data_dir.clone(),
        setup_token: Arc::new(Mutex::new(setup_token)),
        started: Instant::now(),
        https,
        trusted_proxies: Arc::new(settings.trusted_proxy.clone()),
    };
    let hosts = console_hosts(settings, https);
    let router = router(state.clone(), https)
        .await?
        .layer(from_fn_with_state(hosts, guard::known_host))
        .layer(from_fn(browser_defences));
    Ok((router, state))
}

async fn router(state: AppState, https: bool) -> Result<Router, StartupError> {
    let sessions = SqliteStore::new(state.store.pool().clone())
        .with_table_name("sessions")
        .map_err(|e| StartupError::Tls(e.to_string()))?;
    sessions.migrate().await?;
    tokio::spawn({
        let sessions = sessions.clone();
        async move {
            use tower_sessions::ExpiredDeletion;
            if let Err(e) = sessions
                .continuously_delete_expired(Duration::from_secs(600))
                .await
            {
                tracing::warn!(error = %e, "expired-session cleanup stopped");
            }
        }
    });
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name(if https {
            "__Host-burrow"
        } else {
            "burrow_session"
        })
        .with_secure(https)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        // Saved when it changes (sign-in, and activity at most once a
        // minute, see app::api::signed_in_user), not on every request.
        .with_always_save(false)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            IDLE_TIMEOUT_SECS,
        )));

    let routes = generate_route_list(App);
    let context = {
        let state = state.clone();
        move || {
            provide_context(state.clone());
            app::api::provide_page_nonce();
        }
    };
    let render = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    let mut router = Router::new();
    for route in hand_routes() {
        router = router.route(route.path, route.handler);
    }
    Ok(router
        .leptos_routes_with_context(&state, routes, context.clone(), render)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(map_response(without_empty_query))
        .layer(from_fn_with_state(state.clone(), guard::require_session))
        .layer(session_layer)
        .layer(from_fn_with_state(state.clone(), guard::csrf))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .with_state(state))
}

/// Deletes audit entries past their time now and then once a day.
async fn prune_audit_daily(store: Store, keep_days: u32) {
    loop {
        match store.prune_audit(keep_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, keep_days, "old audit entries deleted"),
            Err(e) => tracing::warn!(error = %e, "pruning the audit log failed"),
        }
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    }
}

/// A route registered by hand, beside the Leptos pages.
pub struct HandRoute {
    /// As axum takes it (`/live/deployments/{id}`).
    pub path: &'static str,
    /// Open without a session ([`guard::PUBLIC_PATHS`]).
    pub public: bool,
    pub handler: axum::routing::MethodRouter<AppState>,
}

/// Every route registered beside the Leptos pages: the router takes them
/// from here, and the gate test checks each one.
pub fn hand_routes() -> Vec<HandRoute> {
    let route = |path: &'static str, handler| HandRoute {
        path,
        public: guard::PUBLIC_PATHS.contains(&path),
        handler,
    };
    vec![
        route("/healthz", get(health::healthz)),
        route("/readyz", get(health::readyz)),
        route(app::pages::certificate::PEM_URL, get(downloads::ca_pem)),
        route(app::pages::certificate::DER_URL, get(downloads::ca_der)),
        route(app::pages::audit::CSV_URL, get(downloads::audit_csv)),
        route("/live/deployments/{id}", get(live::deployment)),
        route("/live/updates/{id}", get(live::update)),
        route("/live/status", get(live::status)),
        route("/wizard", get(live::wizard_resume)),
        route("/live/logs", get(live::logs)),
        route("/logs/download", get(live::download_logs)),
    ]
}

/// Headers every response carries: no MIME sniffing, no referrer to other
/// sites, no framing; a page (HTML) the policy of pages with the nonce
/// minted here for it (its scripts carry it: `app::api::provide_page_nonce`),
/// anything else a policy that allows nothing.
async fn browser_defences(mut req: Request, next: Next) -> Response {
    use axum::http::header::{
        CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
        X_FRAME_OPTIONS,
    };
    use axum::http::HeaderValue;
    let nonce = leptos::nonce::Nonce::new().to_string();
    req.extensions_mut()
        .insert(app::api::PageNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    let page = headers
        .get(CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if page && !headers.contains_key(CONTENT_SECURITY_POLICY) {
        if let Ok(value) = HeaderValue::from_str(&app::api::page_policy(&nonce)) {
            headers.insert(CONTENT_SECURITY_POLICY, value);
        }
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Same-origin only: the no-JavaScript forms go back to their page
    // through the Referer (leptos), and no other site learns a console URL.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    res
}

/// A plain form post goes back to its page through leptos, which strips
/// the error a previous post left in the address (`?__err=…`) but leaves an
/// empty `?` (`/wizard/smtp?`): every redirect goes out without it.
async fn without_empty_query(mut res: Response) -> Response {
    let tidy = res
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_suffix('?'))
        .and_then(|l| l.parse().ok());
    if let Some(tidy) = tidy {
        res.headers_mut().insert(LOCATION, tidy);
    }
    res
}

/// The names the console answers to: the operator's, and with HTTPS the
/// names in its certificate.
fn console_hosts(settings: &Settings, https: bool) -> engine::console_hosts::ConsoleHosts {
    let mut names = settings.hostnames.clone();
    if https {
        let cert = settings
            .tls_cert
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("console-cert.pem"));
        if let Ok(pem) = std::fs::read_to_string(&cert) {
            names.extend(engine::certs::pem_dns_names(&pem));
        }
    }
    engine::console_hosts::ConsoleHosts::new(names)
}

/// Decides between HTTP and HTTPS for `settings.listen`.
pub fn transport(settings: &Settings) -> Result<Transport, StartupError> {
    if let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) {
        return Ok(Transport::Https(ConsoleCert::load(cert, key)?));
    }
    let ip = settings.listen.ip();
    if ip.is_loopback() {
        return Ok(Transport::Http);
    }
    if settings.insecure_http {
        tracing::warn!(
            listen = %settings.listen,
            "serving plain HTTP on a non-loopback address: passwords and session cookies \
             cross the network unencrypted. Use this only behind a TLS-terminating proxy."
        );
        return Ok(Transport::Http);
    }
    let mut names = vec!["localhost".to_owned()];
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    Ok(Transport::Https(ConsoleCert::load_or_create(
        &settings.data_dir,
        names,
    )?))
}

/// Runs the console until the process is stopped.
pub async fn serve(settings: Settings) -> Result<(), StartupError> {
    let transport = transport(&settings)?;
    let https = matches!(transport, Transport::Https(_));
    let (router, state) = build(&settings, https).await?;
    let scheme = if https { "https" } else { "http" };
    let url = format!("{scheme}://{}/", settings.listen);
    tracing::info!(
        database = %state.store.path().display(),
        "Burrow {} listening on {url}",
        app::state::VERSION
    );
    if let Ok(guard) = state.setup_token.lock() {
        if let Some(token) = guard.as_ref() {
            tracing::info!(
                "No administrator yet. Open {url}setup and enter the one-time setup token: {} \
                 (also in {})",
                token.reveal(),
                settings
                    .data_dir
                    .join(engine::setup_token::FILE_NAME)
                    .display()
            );
        }
    }
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    match transport {
        Transport::Http => {
            let listener = tokio::net::TcpListener::bind(settings.listen).await?;
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
        Transport::Https(cert) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            tracing::info!(
                "console certificate {} SHA-256 fingerprint {}",
                cert.cert_path.display(),
                cert.fingerprint()?
            );
            let config = axum_server::tls_rustls::RustlsConfig::from_pem(
                cert.cert_pem.into_bytes(),
                cert.key_pem.into_bytes(),
            )
            .await
            .map_err(|e| StartupError::Tls(e.to_string()))?;
            let handle = axum_server::Handle::new();
            tokio::spawn({
                let handle = handle.clone();
                async move {
                    shutdown_signal().await;
                    handle.graceful_shutdown(Some(Duration::from_secs(5)));
                }
            });
            axum_server::bind_rustls(settings.listen, config)
                .handle(handle)
                .serve(service)
                .await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use axum::http::header::LOCATION;
    use axum::response::{IntoResponse, Redirect};

    use super::without_empty_query;

    #[tokio::test]
    async fn a_form_goes_back_without_an_empty_query() {
        let cases = [
            ("http://h/wizard/smtp?", "http://h/wizard/smtp"),
            ("http://h/wizard/smtp", "http://h/wizard/smtp"),
            // A refused post's error stays: the page shows it from there.
            (
                "http://h/wizard/smtp?__path=%2Fapi%2Fx&__err=YWJj",
                "http://h/wizard/smtp?__path=%2Fapi%2Fx&__err=YWJj",
            ),
            (
                "http://h/history?from=1&to=3",
                "http://h/history?from=1&to=3",
            ),
        ];
        for (url, want) in cases {
            let res = without_empty_query(Redirect::to(url).into_response()).await;
            assert_eq!(res.headers()[LOCATION], want, "{url}");
        }
    }
}
