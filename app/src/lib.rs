//! Burrow's user interface: the HTML shell, the router, pages and the server
//! functions they call. Compiled twice: with `ssr` into the server binary and
//! with `hydrate` into the wasm bundle.

// The wizard's step views are deeply nested types.
#![recursion_limit = "256"]

pub mod api;
pub mod codec;
pub mod components;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::components::layout::ConsoleLayout;
use crate::pages::{
    audit::AuditPage,
    backups::BackupsPage,
    certificate::CertificatePage,
    deploy::DeployPage,
    history::HistoryPage,
    login::{LoginCodePage, LoginPage},
    logs::LogsPage,
    not_found::NotFound,
    overview::OverviewPage,
    security::SecurityPage,
    setup::SetupPage,
    updates::UpdatesPage,
    wizard::WizardPage,
};

/// Fetches of the wasm bundle's chunks tried again after a network error.
const RETRY_CHUNKS: &str = include_str!("js/retry_chunks.js");

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <script nonce=leptos::nonce::use_nonce() inner_html=RETRY_CHUNKS></script>
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="burrow" href="/pkg/burrow.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Burrow".to_owned() } else { format!("{page} · Burrow") }
        } />
        <Router>
            <Routes fallback=|| {
                mark_hydrated();
                view! { <NotFound /> }
            }>
                <Route path=path!("/login") view={Lazy::<Login>::new()} />
                <Route path=path!("/login/code") view={Lazy::<LoginCode>::new()} />
                <Route path=path!("/setup") view={Lazy::<Setup>::new()} />
                // Console pages render once their data is in, so they are
                // complete without JavaScript (no out-of-order streaming).
                <ParentRoute path=path!("") view=ConsoleLayout ssr=SsrMode::Async>
                    <Route path=path!("") view={Lazy::<Overview>::new()} ssr=SsrMode::Async />
                    <Route path=path!("deploy") view={Lazy::<Deploy>::new()} ssr=SsrMode::Async />
                    <Route path=path!("wizard/:step") view={Lazy::<Wizard>::new()} ssr=SsrMode::Async />
                    <Route path=path!("history") view={Lazy::<History>::new()} ssr=SsrMode::Async />
                    <Route path=path!("audit") view={Lazy::<Audit>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/security") view={Lazy::<Security>::new()} ssr=SsrMode::Async />
                    <Route path=path!("logs") view={Lazy::<Logs>::new()} ssr=SsrMode::Async />
                    <Route path=path!("certificate") view={Lazy::<Certificate>::new()} ssr=SsrMode::Async />
                    <Route path=path!("updates") view={Lazy::<Updates>::new()} ssr=SsrMode::Async />
                    <Route path=path!("backups") view={Lazy::<Backups>::new()} ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Each page is a lazy route: its code (views, the decoding of its data)
/// is a chunk of the wasm bundle of its own, loaded with the page (cargo
/// leptos build --split), so the first visit loads the shared code and one
/// page's, not every page's.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident,)*) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                mark_hydrated();
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    Login => LoginPage,
    LoginCode => LoginCodePage,
    Setup => SetupPage,
    Overview => OverviewPage,
    Deploy => DeployPage,
    Wizard => WizardPage,
    History => HistoryPage,
    Audit => AuditPage,
    Security => SecurityPage,
    Logs => LogsPage,
    Certificate => CertificatePage,
    Updates => UpdatesPage,
    Backups => BackupsPage,
}

/// Flags the document once the wasm bundle has taken over, so tests (and
/// styles) can tell a hydrated page from a server-rendered one. Called by
/// each page's view: its effect runs once the page itself is hydrated,
/// after its chunk of the bundle came in (the layout around it hydrates
/// first).
fn mark_hydrated() {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    Effect::new(|_| {
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
