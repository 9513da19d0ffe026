//! Security: two-factor sign-in for the signed-in account. Set it up with a
//! QR code (or the secret as text), confirm with one code, keep the
//! recovery codes shown once; turn it off with the password. Plain forms,
//! so it works without JavaScript too.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::security::{
    get_security, ConfirmTwoFactor, SecurityView, StartTwoFactor, StopTwoFactor,
};
use crate::components::field::{Field, FormError, LoadError};

#[component]
pub fn SecurityPage() -> impl IntoView {
    let start = ServerAction::<StartTwoFactor>::new();
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let stop = ServerAction::<StopTwoFactor>::new();
    let data = crate::codec::page_data(
        move || {
            (
                start.version().get(),
                confirm.version().get(),
                stop.version().get(),
            )
        },
        |_| get_security(),
    );
    view! {
        <Title text="Security" />
        <h1>"Security"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(view) => view! { <TwoFactorCard view start confirm stop /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn TwoFactorCard(
    view: SecurityView,
    start: ServerAction<StartTwoFactor>,
    confirm: ServerAction<ConfirmTwoFactor>,
    stop: ServerAction<StopTwoFactor>,
) -> impl IntoView {
    let confirm_error = move || confirm.value().get().and_then(|r| r.err());
    let stop_error = move || stop.value().get().and_then(|r| r.err());
    let body = match view.two_factor.as_str() {
        "pending" => view! {
            <p>"Scan this code with an authenticator app (Aegis, 2FAS, Google Authenticator, 1Password…), or type the secret into it."</p>
            <div class="qr" data-testid="two-factor-qr" inner_html=view.qr_svg.clone().unwrap_or_default()></div>
            <p>"Secret: "<code data-testid="two-factor-secret">{view.secret.clone().unwrap_or_default()}</code></p>
            <ActionForm action=confirm attr:novalidate=true>
                <FormError message=Signal::derive(move || confirm_error().and_then(|e| e.form_message())) />
                <Field
                    label="Code from the app"
                    name="code"
                    autocomplete="one-time-code"
                    error=Signal::derive(move || confirm_error().and_then(|e| e.for_field("code")))
                />
                <button type="submit" class="primary">"Turn on"</button>
            </ActionForm>
        }
        .into_any(),
        "on" => view! {
            <p data-testid="two-factor-state">
                {format!("Two-factor sign-in is on. {} recovery codes are left.", view.recovery_left)}
            </p>
        }
        .into_any(),
        _ => view! {
            <p data-testid="two-factor-state">"Two-factor sign-in is off: a password alone signs in."</p>
            <ActionForm action=start>
                <button type="submit" class="primary">"Set up two-factor sign-in"</button>
            </ActionForm>
        }
        .into_any(),
    };
    // Shown once: from the page's data after a plain form post, or from
    // the answer to the hydrated form.
    let codes = if view.new_codes.is_empty() {
        confirm
            .value()
            .get_untracked()
            .and_then(Result::ok)
            .filter(|_| view.two_factor == "on")
            .unwrap_or_default()
    } else {
        view.new_codes.clone()
    };
    let can_stop = view.two_factor != "off";
    let (stop_title, stop_button) = if view.two_factor == "pending" {
        ("Cancel the set-up", "Cancel set-up")
    } else {
        ("Turn two-factor sign-in off", "Turn off")
    };
    view! {
        <section class="card">
            <h2>"Two-factor sign-in"</h2>
            {(!codes.is_empty()).then(|| view! {
                <div class="notice ok" role="status">
                    <p><strong>"Two-factor sign-in is on."</strong>" Keep these recovery codes somewhere safe: each signs in once without your phone, and they are shown only now."</p>
                    <ul class="recovery-codes" data-testid="recovery-codes">
                        {codes.iter().map(|c| view! { <li><code>{c.clone()}</code></li> }).collect_view()}
                    </ul>
                </div>
            })}
            {body}
            {can_stop.then(|| view! {
                <details class="advanced">
                    <summary>{stop_title}</summary>
                    <ActionForm action=stop attr:novalidate=true>
                        <FormError message=Signal::derive(move || stop_error().and_then(|e| e.form_message())) />
                        <Field
                            label="Your password"
                            name="password"
                            kind="password"
                            autocomplete="current-password"
                            error=Signal::derive(move || stop_error().and_then(|e| e.for_field("password")))
                        />
                        <button type="submit" class="secondary">{stop_button}</button>
                    </ActionForm>
                </details>
            })}
        </section>
    }
}
