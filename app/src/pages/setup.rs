//! Claiming a fresh install: the setup token proves access to the machine.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::account::CompleteSetup;
use crate::components::field::{Field, FormError};

#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<CompleteSetup>::new();
    let error = move || setup.value().get().and_then(|r| r.err());
    let field_error =
        move |name: &'static str| Signal::derive(move || error().and_then(|e| e.for_field(name)));
    view! {
        <Title text="Set up" />
        <main class="auth-page">
            <section class="card auth-card wide">
                <h1><img src="/favicon.svg" alt="" width="32" height="32" />" Welcome to Burrow"</h1>
                <p class="lede">
                    "Claim this install and create the administrator account. "
                    "The setup token was printed in Burrow's log when it started, and is in the file "
                    <code>"setup-token"</code>" in its data directory."
                </p>
                <ActionForm action=setup attr:novalidate=true>
                    <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
                    <Field
                        label="Setup token"
                        name="token"
                        autocomplete="off"
                        autofocus=true
                        error=field_error("token")
                    />
                    <Field
                        label="Admin username"
                        name="username"
                        autocomplete="username"
                        hint="Letters, digits, dots, dashes and underscores."
                        error=field_error("username")
                        value=Signal::derive(move || error().and_then(|e| e.kept("username")))
                    />
                    <Field
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="new-password"
                        hint="At least 12 characters. A passphrase of several words works well."
                        error=field_error("password")
                    />
                    <Field
                        label="Repeat password"
                        name="confirm"
                        kind="password"
                        autocomplete="new-password"
                        error=field_error("confirm")
                    />
                    <button type="submit" class="primary" disabled=move || setup.pending().get()>
                        {move || if setup.pending().get() { "Creating account…" } else { "Create admin account" }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
