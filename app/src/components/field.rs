//! A labelled form input with its error message right under it.

use crate::error::AppError;
use leptos::prelude::*;

#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] autofocus: bool,
    /// The message for this field, when the last submission was refused.
    #[prop(into)]
    error: Signal<Option<String>>,
    /// A value to put back after a refused submission.
    #[prop(optional, into)]
    value: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = {
        let error_id = error_id.clone();
        let hint_id = hint_id.clone();
        move || {
            let mut ids = Vec::new();
            if !hint.is_empty() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=(!autocomplete.is_empty()).then_some(autocomplete)
                autofocus=autofocus
                required
                prop:value=move || value.get().unwrap_or_default()
                value=move || value.get()
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described
            />
            {(!hint.is_empty()).then(|| view! { <p class="hint" id=hint_id>{hint}</p> })}
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="field-error" id=error_id.clone() role="alert">
                                {message}
                            </p>
                        }
                    })
            }}
        </div>
    }
}

/// A message about the whole form (wrong password, too many attempts).
#[component]
pub fn FormError(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message
            .get()
            .map(|m| view! { <div class="form-error" role="alert">{m}</div> })
    }
}

/// A page's data could not be loaded: the sentence, and where a stored
/// revision that cannot be used any more is the reason, the two ways out
/// (another revision from History, or a corrected stack.toml).
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    let message = error.to_string();
    let fix = match error {
        AppError::Unusable { revision, .. } => Some(view! {
            <p class="fix" data-testid="unusable-fix">
                "The stack keeps running as it was. To manage it again, deploy another revision from "
                <a href="/history">"History"</a>
                {format!(" (revision {revision} is listed there with this reason), or paste a corrected stack.toml on the ")}
                <a href="/deploy">"Deploy"</a>
                " page."
            </p>
        }),
        _ => None,
    };
    view! {
        <div class="form-error" role="alert">
            <p>{message}</p>
            {fix}
        </div>
    }
}
