//! Burrow's user interface: the HTML shell, the router, pages and the server
//! functions they call. Compiled twice: with `ssr` into the server binary and
//! with `hydrate` into the wasm bundle.

// The wizard's step views are deeply nested types.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

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

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    api::content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
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
    mark_hydrated();
    view! {
        <Stylesheet id="burrow" href="/pkg/burrow.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Burrow".to_owned() } else { format!("{page} · Burrow") }
        } />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/login/code") view=LoginCodePage />
                <Route path=path!("/setup") view=SetupPage />
                // Console pages render once their data is in, so they are
                // complete without JavaScript (no out-of-order streaming).
                <ParentRoute path=path!("") view=ConsoleLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=OverviewPage ssr=SsrMode::Async />
                    <Route path=path!("deploy") view=DeployPage ssr=SsrMode::Async />
                    <Route path=path!("wizard/:step") view=WizardPage ssr=SsrMode::Async />
                    <Route path=path!("history") view=HistoryPage ssr=SsrMode::Async />
                    <Route path=path!("audit") view=AuditPage ssr=SsrMode::Async />
                    <Route path=path!("account/security") view=SecurityPage ssr=SsrMode::Async />
                    <Route path=path!("logs") view=LogsPage ssr=SsrMode::Async />
                    <Route path=path!("certificate") view=CertificatePage ssr=SsrMode::Async />
                    <Route path=path!("updates") view=UpdatesPage ssr=SsrMode::Async />
                    <Route path=path!("backups") view=BackupsPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Flags the document once the wasm bundle has taken over, so tests (and
/// styles) can tell a hydrated page from a server-rendered one.
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
