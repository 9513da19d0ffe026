//! Sign-in form.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::account::{Login, LoginCode};
use crate::components::field::{Field, FormError};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = move || login.value().get().and_then(|r| r.err());
    let field_error =
        move |name: &'static str| Signal::derive(move || error().and_then(|e| e.for_field(name)));
    view! {
        <Title text="Sign in" />
        <main class="auth-page">
            <section class="card auth-card">
                <h1><img src="/favicon.svg" alt="" width="32" height="32" />" Burrow"</h1>
                <p class="lede">"Sign in to manage your Stoat server."</p>
                <ActionForm action=login attr:novalidate=true>
                    <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
                    <Field
                        label="Username"
                        name="username"
                        autocomplete="username"
                        autofocus=true
                        error=field_error("username")
                        value=Signal::derive(move || error().and_then(|e| e.kept("username")))
                    />
                    <Field
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="current-password"
                        error=field_error("password")
                    />
                    <button type="submit" class="primary" disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}

/// The second step of signing in with two-factor sign-in on.
#[component]
pub fn LoginCodePage() -> impl IntoView {
    let code = ServerAction::<LoginCode>::new();
    let error = move || code.value().get().and_then(|r| r.err());
    view! {
        <Title text="Sign-in code" />
        <main class="auth-page">
            <section class="card auth-card">
                <h1><img src="/favicon.svg" alt="" width="32" height="32" />" Burrow"</h1>
                <p class="lede">"Type the six-digit code your authenticator app shows for Burrow."</p>
                <ActionForm action=code attr:novalidate=true>
                    <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
                    <Field
                        label="Code"
                        name="code"
                        autocomplete="one-time-code"
                        autofocus=true
                        hint="Lost your phone? One of your recovery codes works here too, once."
                        error=Signal::derive(move || error().and_then(|e| e.for_field("code")))
                    />
                    <button type="submit" class="primary" disabled=move || code.pending().get()>
                        {move || if code.pending().get() { "Checking…" } else { "Sign in" }}
                    </button>
                </ActionForm>
                <p class="muted"><a href="/login">"Start again with your password"</a></p>
            </section>
        </main>
    }
}
