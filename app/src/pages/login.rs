//! Sign-in form.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::account::Login;
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
