//! The console frame every signed-in page sits in: header, navigation, the
//! user menu.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::api::account::{whoami, Logout};

/// Bumped by a page whose action changes what the header shows (the
/// Updates badge), so the header reads it again without a reload.
#[derive(Clone, Copy)]
pub struct HeaderRefresh(pub RwSignal<u32>);

#[component]
pub fn ConsoleLayout() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    provide_context(HeaderRefresh(refresh));
    let user = crate::codec::page_data(move || refresh.get(), |_| whoami());
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <img src="/favicon.svg" alt="" width="28" height="28" />
                <span>"Burrow"</span>
            </a>
            <nav aria-label="Main">
                <A href="/" exact=true>"Dashboard"</A>
                // A server route (it resumes where the draft left off).
                <a href="/wizard" rel="external">"Settings"</a>
                <A href="/deploy">"Deploy"</A>
                <A href="/history">"History"</A>
                <A href="/logs">"Logs"</A>
                <A href="/certificate">"Certificate"</A>
                <A href="/audit">"Audit"</A>
                <A href="/backups">"Backups"</A>
                <A href="/updates">"Updates"
                    <Suspense fallback=|| ()>
                        {move || user.get().and_then(|u| u.ok()).and_then(|u| u.update).map(|v| view! {
                            <span class="badge ok" data-testid="update-badge" title=format!("Release {v} is available")>"new"</span>
                        })}
                    </Suspense>
                </A>
            </nav>
            <details class="user-menu">
                <summary>
                    <span class="avatar" aria-hidden="true">"●"</span>
                    <Suspense fallback=|| "…">
                        {move || user.get().map(|u| u.map(|u| u.username).unwrap_or_default())}
                    </Suspense>
                </summary>
                <div class="menu">
                    // A page load, so the menu closes behind it.
                    <a href="/account/security" rel="external">"Security"</a>
                    <ActionForm action=logout>
                        <button type="submit" class="link">"Sign out"</button>
                    </ActionForm>
                </div>
            </details>
        </header>
        <main class="content">
            <Suspense fallback=|| ()>
                {move || user.get().and_then(|u| u.ok()).and_then(|u| u.alert).map(|a| view! {
                    <div class="notice problem" role="alert" data-testid="operator-alert">
                        {a}" "<a href="/updates">"Updates"</a>
                    </div>
                })}
            </Suspense>
            <Outlet />
        </main>
        <footer class="footer">"Burrow — installer and console for a self-hosted Stoat server"</footer>
    }
}
