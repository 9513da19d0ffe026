//! The first-run wizard (and, once deployed, the settings): one step per
//! URL, each a plain form that works without JavaScript, saved as a draft
//! when submitted.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use std::collections::{BTreeMap, BTreeSet};

use crate::api::wizard::{
    get_wizard, CheckStep, FinishWizard, SaveStep, SendTestMail, Step, TestOutcome, TestTarget,
    WizardView, LE_STAGING,
};
use crate::components::field::FormError;
use crate::error::AppError;

#[component]
pub fn WizardPage() -> impl IntoView {
    let params = use_params_map();
    let step = move || {
        params
            .with(|p| p.get("step"))
            .unwrap_or_else(|| "domain".to_owned())
    };
    // Saving re-reads the step (the domain step stays and shows its checks).
    let save = ServerAction::<SaveStep>::new();
    let data = crate::codec::page_data(
        move || (step(), save.version().get()),
        |(s, _)| get_wizard(s),
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(view) => view! { <Wizard view save /> }.into_any(),
                        Err(e) => view! { <div class="form-error" role="alert">{e.to_string()}</div> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// What the step's inputs show: the last refused submission (its messages
/// and the values to put back) and, once hydrated, the problems found while
/// the operator edits, for the fields they changed since.
#[derive(Clone, Copy)]
struct LastError {
    submitted: Signal<Option<AppError>>,
    live: RwSignal<Option<BTreeMap<String, String>>>,
    touched: RwSignal<BTreeSet<String>>,
}

impl LastError {
    /// The message beside `path`, if any.
    fn message(self, path: &str) -> Option<String> {
        if self.touched.with(|t| t.contains(path)) {
            if let Some(live) = self.live.get() {
                return live.get(path).cloned();
            }
        }
        self.submitted.get().and_then(|e| e.for_field(path))
    }

    /// What was submitted for `path` when the submission was refused.
    fn kept(self, path: &str) -> Option<String> {
        self.submitted.get().and_then(|e| e.kept(path))
    }

    fn form_message(self) -> Option<String> {
        self.submitted.get().and_then(|e| e.form_message())
    }
}

/// The form's fields by key path (`form[smtp.host]` -> `smtp.host`) and the
/// path of `input`, the field that changed.
#[cfg(feature = "hydrate")]
fn changed_form(input: &web_sys::Element) -> Option<(String, BTreeMap<String, String>)> {
    use wasm_bindgen::JsCast;
    let path = input
        .get_attribute("name")?
        .strip_prefix("form[")?
        .strip_suffix(']')?
        .to_owned();
    let form: web_sys::HtmlFormElement = input.closest("form").ok()??.dyn_into().ok()?;
    let data = web_sys::FormData::new_with_form(&form).ok()?;
    Some((path, form_fields(&data)?))
}

/// The element an event happened on and whether it is typed into (text
/// fields are checked once typing pauses; boxes, choices and selects at
/// once).
#[cfg(feature = "hydrate")]
fn event_field(ev: &leptos::ev::Event) -> Option<(web_sys::Element, bool)> {
    use wasm_bindgen::JsCast;
    let el = ev.target()?.dyn_into::<web_sys::Element>().ok()?;
    let typed = match el.tag_name().as_str() {
        "TEXTAREA" => true,
        "INPUT" => !matches!(
            el.get_attribute("type").as_deref(),
            Some("checkbox" | "radio")
        ),
        _ => false,
    };
    Some((el, typed))
}

/// After typing stops this long, the field is checked.
#[cfg(feature = "hydrate")]
const TYPING_PAUSE: std::time::Duration = std::time::Duration::from_millis(600);

#[component]
fn Wizard(view: WizardView, save: ServerAction<SaveStep>) -> impl IntoView {
    let check = ServerAction::<CheckStep>::new();
    // The tests use the values as typed: their refusals go beside the
    // fields like a refused save.
    let send = ServerAction::<SendTestMail>::new();
    let test = ServerAction::<TestTarget>::new();
    let error = LastError {
        submitted: Signal::derive(move || {
            save.value()
                .get()
                .and_then(|r| r.err())
                .or_else(|| send.value().get().and_then(|r| r.err()))
                .or_else(|| test.value().get().and_then(|r| r.err()))
        }),
        live: RwSignal::new(None),
        touched: RwSignal::new(BTreeSet::new()),
    };
    // A check that fails (e.g. the session ended) leaves the messages as they were.
    Effect::new(move |_| {
        if let Some(Ok(problems)) = check.value().get() {
            error.live.set(Some(problems.into_iter().collect()));
        }
    });
    // Hydrated, fields are checked as they change, never moving the page
    // under a pressed button: a pending check of typed text is dropped when
    // a step button is pressed (the submission checks everything anyway).
    let pending_check = StoredValue::new(None::<leptos::prelude::TimeoutHandle>);
    let cancel_pending = move || {
        if let Some(h) = pending_check.get_value() {
            h.clear();
        }
        pending_check.set_value(None);
    };
    let step_name = StoredValue::new(view.step.slug().to_owned());
    #[cfg(feature = "hydrate")]
    let run_check = move |input: &web_sys::Element| {
        if let Some((path, form)) = changed_form(input) {
            error.touched.update(|t| {
                t.insert(path);
            });
            check.dispatch(CheckStep {
                step: step_name.get_value(),
                form,
            });
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        if let Some((input, true)) = event_field(&ev) {
            cancel_pending();
            pending_check
                .set_value(set_timeout_with_handle(move || run_check(&input), TYPING_PAUSE).ok());
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, step_name, check, cancel_pending);
    };
    let on_change = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        if let Some((input, false)) = event_field(&ev) {
            run_check(&input);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let title = view.step.title();
    let heading = if view.editing {
        "Settings"
    } else {
        "Set up your Stoat server"
    };
    let step = view.step;
    let view = StoredValue::new(view);
    let body = match step {
        Step::Domain => view! { <DomainStep view error /> }.into_any(),
        Step::Tls => view! { <TlsStep view error /> }.into_any(),
        Step::Smtp => view! { <SmtpStep view error /> }.into_any(),
        Step::Voice => view! { <VoiceStep view error /> }.into_any(),
        Step::Apps => view! { <AppsStep view error /> }.into_any(),
        Step::Target => view! { <TargetStep view error /> }.into_any(),
        Step::Review => view! { <ReviewStep view /> }.into_any(),
    };
    let is_review = step == Step::Review;
    // The test comes after the step's buttons, so Enter in a field saves.
    let tests = match step {
        Step::Smtp => Some(
            view! { <TestMailCard send error last=view.with_value(|v| v.last_mail.clone()) /> }
                .into_any(),
        ),
        Step::Target => Some(
            view! { <TestTargetCard test last=view.with_value(|v| v.last_target.clone()) /> }
                .into_any(),
        ),
        _ => None,
    };
    view! {
        <Title text=format!("{title} · {heading}") />
        <h1>{heading}</h1>
        <Stepper view />
        <section class="card wizard">
            <h2>{title}</h2>
            {view.with_value(|v| v.warnings.clone()).into_iter().map(|w| view! {
                <div class="notice warning" role="status">{w.message}</div>
            }).collect_view()}
            {if is_review {
                body
            } else {
                view! {
                    <ActionForm action=save attr:novalidate=true attr:class="wizard-form">
                        <input type="hidden" name="step" value=step.slug() />
                        <FormError message=Signal::derive(move || error.form_message()) />
                        <div class="step-fields" on:input=on_input on:change=on_change>{body}</div>
                        <div on:pointerdown=move |_| cancel_pending()>
                            <StepButtons view pending=save.pending() />
                        </div>
                        {tests}
                    </ActionForm>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Stepper(view: StoredValue<WizardView>) -> impl IntoView {
    let (steps, current) = view.with_value(|v| (v.steps.clone(), v.step));
    let at = steps.iter().position(|(s, _)| *s == current).unwrap_or(0);
    view! {
        <nav aria-label="Setup steps">
            <ol class="stepper">
                {steps.into_iter().enumerate().map(|(i, (step, done))| {
                    let (slug, title) = (step.slug(), step.title());
                    let here = step == current;
                    let class = if here { "current" } else if done { "done" } else { "todo" };
                    let reachable = done || here || i <= at;
                    view! {
                        <li class=class aria-current=here.then_some("step")>
                            {if reachable {
                                view! { <a href=format!("/wizard/{slug}")>{format!("{}. {title}", i + 1)}</a> }.into_any()
                            } else {
                                view! { <span>{format!("{}. {title}", i + 1)}</span> }.into_any()
                            }}
                            {done.then(|| view! { <span class="sr-only">" (done)"</span> })}
                        </li>
                    }
                }).collect_view()}
            </ol>
        </nav>
    }
}

#[component]
fn StepButtons(view: StoredValue<WizardView>, pending: Memo<bool>) -> impl IntoView {
    let (prev, step) = view.with_value(|v| (v.step.previous(), v.step));
    let label = if step == Step::Domain {
        "Save and check"
    } else {
        "Save and continue"
    };
    view! {
        <div class="step-buttons">
            {prev.map(|p| view! { <a class="button secondary" href=format!("/wizard/{p}")>"Back"</a> })}
            <button type="submit" class="primary" disabled=move || pending.get()>
                {move || if pending.get() { "Saving…" } else { label }}
            </button>
        </div>
    }
}

/// What was submitted for `path` when the last submission was refused.
fn kept_value(error: LastError, path: &str) -> Option<String> {
    error.kept(path)
}

/// Name of the input carrying `path` (`form[smtp.host]`).
fn input_name(path: &str) -> String {
    format!("form[{path}]")
}

fn input_id(path: &str) -> String {
    format!("f-{}", path.replace(['.', '_'], "-"))
}

/// A text input bound to a `stack.toml` key path.
#[component]
fn TextIn(
    view: StoredValue<WizardView>,
    error: LastError,
    path: &'static str,
    label: &'static str,
    #[prop(optional)] hint: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] autofocus: bool,
    /// Shown when the draft has no value.
    #[prop(optional)]
    default: &'static str,
) -> impl IntoView {
    let id = input_id(path);
    let err_id = format!("{id}-error");
    let saved = view
        .with_value(|v| v.value(path))
        .unwrap_or_else(|| default.to_owned());
    let message = Signal::derive(move || error.message(path));
    let value = move || {
        error
            .kept(&input_name(path))
            .or_else(|| error.kept(path))
            .unwrap_or_else(|| saved.clone())
    };
    view! {
        <div class="field" class:has-error=move || message.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input id=id.clone() name=input_name(path) type=kind placeholder=placeholder autofocus=autofocus
                prop:value=value.clone() value=value
                aria-invalid=move || message.get().is_some().then_some("true")
                aria-describedby=move || message.get().is_some().then(|| err_id.clone()) />
            {(!hint.is_empty()).then(|| view! { <p class="hint">{hint}</p> })}
            {move || message.get().map(|m| view! { <p class="field-error" id=format!("{}-error", input_id(path)) role="alert">{m}</p> })}
        </div>
    }
}

#[component]
fn CheckIn(
    view: StoredValue<WizardView>,
    error: LastError,
    path: &'static str,
    label: &'static str,
    #[prop(optional)] hint: &'static str,
    default: bool,
) -> impl IntoView {
    let id = input_id(path);
    let on = view.with_value(|v| v.flag(path, default));
    let message = Signal::derive(move || error.message(path));
    view! {
        <div class="check" class:has-error=move || message.get().is_some()>
            <input id=id.clone() type="checkbox" name=input_name(path) value="true"
                checked=move || kept_value(error, path).map(|v| v == "true").unwrap_or(on) />
            <label for=id>{label}</label>
            {(!hint.is_empty()).then(|| view! { <p class="hint">{hint}</p> })}
            {move || message.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </div>
    }
}

#[component]
fn Choice(
    view: StoredValue<WizardView>,
    error: LastError,
    path: &'static str,
    legend: &'static str,
    options: &'static [(&'static str, &'static str, &'static str)],
    default: &'static str,
) -> impl IntoView {
    let current = view
        .with_value(|v| v.value(path))
        .unwrap_or_else(|| default.to_owned());
    let message = Signal::derive(move || error.message(path));
    view! {
        <fieldset class="choice" class:has-error=move || message.get().is_some()>
            <legend>{legend}</legend>
            {options.iter().map(|(value, title, explain)| {
                let id = format!("{}-{value}", input_id(path));
                view! {
                    <div class="option">
                        <input type="radio" id=id.clone() name=input_name(path) value=*value
                            checked={
                                let current = current.clone();
                                move || kept_value(error, path).unwrap_or_else(|| current.clone()) == *value
                            } />
                        <label for=id><strong>{*title}</strong>" — "{*explain}</label>
                    </div>
                }
            }).collect_view()}
            {move || message.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </fieldset>
    }
}

#[component]
fn DomainStep(view: StoredValue<WizardView>, error: LastError) -> impl IntoView {
    let checks = view.with_value(|v| v.checks.clone());
    let checked = view.with_value(|v| v.is_completed(Step::Domain));
    view! {
        <p class="lead">"The public name people type to reach your Stoat server, e.g. chat.example.com."</p>
        <TextIn view error path="domain" label="Domain" placeholder="chat.example.com" autofocus=true
            hint="A fully qualified domain name whose DNS A/AAAA record points at this machine." />
        <details class="advanced">
            <summary>"Ports and addresses (advanced)"</summary>
            <TextIn view error path="network.bind" label="Publish on address" default="0.0.0.0"
                hint="0.0.0.0 listens on every address of this machine." />
            <TextIn view error path="network.http_port" label="HTTP port" default="80" />
            <TextIn view error path="network.https_port" label="HTTPS port" default="443" />
            <TextIn view error path="name" label="Stack name" default="stoat"
                hint="Prefix of container, network and volume names." />
        </details>
        {checked.then(|| view! {
            <div class="checks" data-testid="domain-checks">
                <h3>"Checks"</h3>
                <CheckList checks />
                <p><a class="button" href="/wizard/tls">"Continue to TLS"</a></p>
            </div>
        })}
    }
}

/// The DNS and port checks, one line each.
#[component]
fn CheckList(checks: Vec<wire::wizard::Check>) -> impl IntoView {
    if checks.is_empty() {
        return view! { <p class="muted">"No checks ran."</p> }.into_any();
    }
    checks
        .into_iter()
        .map(|c| {
            view! {
                <div class=format!("check-result {}", c.level)>
                    <strong>{c.title}</strong>" "{c.detail}
                </div>
            }
        })
        .collect_view()
        .into_any()
}

#[component]
fn TlsStep(view: StoredValue<WizardView>, error: LastError) -> impl IntoView {
    let has_own = view.with_value(|v| v.value("tls.cert_file").is_some());
    let staging = view.with_value(|v| v.value("tls.directory").as_deref() == Some(LE_STAGING));
    view! {
        <Choice view error path="tls.mode" legend="Where the certificate comes from" default="self-signed" options=&[
            ("self-signed", "Burrow's own CA", "works anywhere, also on a LAN; install the CA on your devices once (Certificate page)."),
            ("acme", "ACME (Let's Encrypt)", "a publicly trusted certificate; the domain must be reachable from the internet on port 80/443."),
            ("own", "Your own certificate", "paste a certificate and key you already have."),
        ] />
        <fieldset class="sub">
            <legend>"ACME"</legend>
            <TextIn view error path="tls.email" label="E-mail for expiry notices" kind="email" placeholder="ops@example.com" />
            <TextIn view error path="tls.directory" label="Directory URL" default="https://acme-v02.api.letsencrypt.org/directory"
                hint="Let's Encrypt by default; any ACME CA works." />
            <DirectoryCa view error />
            <div class="check">
                <input id="f-tls-staging" type="checkbox" name=input_name("tls.staging") value="true"
                    checked=move || kept_value(error, "tls.staging").map(|v| v == "true").unwrap_or(staging) />
                <label for="f-tls-staging">"Use Let's Encrypt's staging CA (for trying things out; browsers do not trust it)"</label>
            </div>
        </fieldset>
        <fieldset class="sub">
            <legend>"Your own certificate"</legend>
            {has_own.then(|| view! { <p class="muted">"A certificate is saved; paste new ones only to replace it."</p> })}
            <PemIn error path="tls.cert_pem" label="Certificate chain (PEM)" hint="The server certificate first, then the intermediates." />
            <PemIn error path="tls.key_pem" label="Private key (PEM)" hint="Kept readable by Burrow only; never shown again." />
        </fieldset>
    }
}

/// Files bigger than this are not a certificate, key or kubeconfig.
#[cfg(feature = "hydrate")]
const LOAD_LIMIT: f64 = 256.0 * 1024.0;

/// "Or load it from a file": puts a chosen file's text into the textarea
/// `target`, then checks it like typed text. Shown once hydrated; without
/// JavaScript the text is pasted.
#[component]
pub(crate) fn LoadFile(target: String) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let note = RwSignal::new(None::<String>);
    let target = StoredValue::new(target);
    let on_pick = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        load_into(&ev, target.get_value(), note);
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, target, note);
    };
    view! {
        <Show when=move || hydrated.get()>
            <div class="file-load">
                <label>"Or load it from a file: "
                    <input type="file" data-load-into=target.get_value() on:change=on_pick />
                </label>
                {move || note.get().map(|n| view! { <p class="field-error" role="alert">{n}</p> })}
            </div>
        </Show>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
fn load_into(ev: &leptos::ev::Event, target: String, note: RwSignal<Option<String>>) {
    use wasm_bindgen::JsCast;
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    if file.size() > LOAD_LIMIT {
        note.set(Some(format!(
            "{} is {} KB; a certificate, key or kubeconfig is a few KB. Pick that file instead.",
            file.name(),
            file.size() as u64 / 1024
        )));
        return;
    }
    note.set(None);
    leptos::task::spawn_local(async move {
        let text = match wasm_bindgen_futures::JsFuture::from(file.text()).await {
            Ok(t) => t.as_string().unwrap_or_default(),
            Err(_) => {
                note.set(Some(format!("{} could not be read.", file.name())));
                return;
            }
        };
        let area = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&target))
            .and_then(|e| e.dyn_into::<web_sys::HtmlTextAreaElement>().ok());
        let Some(area) = area else { return };
        area.set_value(&text);
        // Checked like typed text (the form listens for input).
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        if let Ok(ev) = web_sys::Event::new_with_event_init_dict("input", &init) {
            let _ = area.dispatch_event(&ev);
        }
    });
}

/// A private ACME directory's root CA: public, so the saved one is shown.
#[component]
fn DirectoryCa(view: StoredValue<WizardView>, error: LastError) -> impl IntoView {
    let path = "tls.directory_ca";
    let id = input_id(path);
    let saved = view.with_value(|v| v.value(path)).unwrap_or_default();
    let message = Signal::derive(move || error.message(path));
    view! {
        <div class="field" class:has-error=move || message.get().is_some()>
            <label for=id.clone()>"Directory's root CA (PEM, optional)"</label>
            <textarea id=id.clone() name=input_name(path) rows="4" class="code" spellcheck="false"
                aria-invalid=move || message.get().is_some().then_some("true")
                prop:value=move || error.kept(path).unwrap_or_else(|| saved.clone())
            >{saved.clone()}</textarea>
            <LoadFile target=id />
            <p class="hint">"Only for a private ACME server (step-ca, your company's): the CA its HTTPS certificate chains to. Caddy trusts it for the directory; public CAs need none."</p>
            {move || message.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </div>
    }
}

#[component]
fn PemIn(
    error: LastError,
    path: &'static str,
    label: &'static str,
    hint: &'static str,
) -> impl IntoView {
    let id = input_id(path);
    let message = Signal::derive(move || error.message(path));
    // A key is never sent back to the page.
    let keep = !path.contains("key");
    view! {
        <div class="field" class:has-error=move || message.get().is_some()>
            <label for=id.clone()>{label}</label>
            <textarea id=id.clone() name=input_name(path) rows="6" class="code" spellcheck="false"
                aria-invalid=move || message.get().is_some().then_some("true")
                prop:value=move || if keep { error.kept(path).unwrap_or_default() } else { String::new() }
            ></textarea>
            <LoadFile target=id />
            <p class="hint">{hint}</p>
            {move || message.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </div>
    }
}

#[component]
fn SmtpStep(view: StoredValue<WizardView>, error: LastError) -> impl IntoView {
    let pw_set = view.with_value(|v| v.smtp_password_set);
    let open = view.with_value(|v| v.value("registration").as_deref() == Some("open"));
    let off = !view.with_value(|v| v.flag("smtp.enabled", false));
    view! {
        <p class="lead">"Stoat sends verification and password-reset mail through an SMTP relay."</p>
        {(open && off).then(|| view! {
            <div class="notice warning">
                "Without e-mail, open registration lets anyone sign up with an unverified address. "
                <label><input type="checkbox" name="form[registration]" value="invite-only" checked=true />" Make registration invite-only"</label>
            </div>
        })}
        <CheckIn view error path="smtp.enabled" label="Send e-mail" default=false
            hint="Leave off to run without e-mail (no verification, no password reset)." />
        <TextIn view error path="smtp.host" label="SMTP host" placeholder="smtp.example.com" />
        <TextIn view error path="smtp.port" label="Port" default="587"
            hint="587: STARTTLS. 465: implicit TLS. 25: plain, for a relay on a trusted network." />
        <div class="field">
            <label for="f-smtp-security">"Security"</label>
            <select id="f-smtp-security" name=input_name("smtp.security")>
                {let cur = view.with_value(|v| v.value("smtp.security")).unwrap_or_default();
                 let cur = kept_value(error, "smtp.security").unwrap_or(cur);
                 [("", "Follow the port (587 STARTTLS, 465 TLS, 25 none)"), ("starttls", "STARTTLS"), ("tls", "Implicit TLS"), ("none", "None")]
                    .into_iter().map(|(v, t)| view! { <option value=v selected=cur == v>{t}</option> }).collect_view()}
            </select>
            {move || error.message("smtp.security").map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </div>
        <TextIn view error path="smtp.username" label="Username" />
        <div class="field" class:has-error=move || error.message("smtp.password").is_some()>
            <label for="f-smtp-password">"Password"</label>
            <input id="f-smtp-password" name=input_name("smtp.password") type="password" autocomplete="new-password"
                placeholder=if pw_set { "(kept; type to replace)" } else { "" } />
            <p class="hint">"Stored encrypted; never shown again."</p>
            {move || error.message("smtp.password").map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </div>
        <TextIn view error path="smtp.from" label="From address" kind="email" placeholder="noreply@example.com" />
    }
}

/// "Send a test mail" with the SMTP settings as typed above, saved or not.
/// Without JavaScript the button posts the whole form to the test (the
/// page comes back with the values as typed, the password excepted).
#[component]
fn TestMailCard(
    send: ServerAction<SendTestMail>,
    error: LastError,
    last: Option<TestOutcome>,
) -> impl IntoView {
    // This session's last result until a new one comes in.
    let result = move || send.value().get().or_else(|| last.clone().map(Ok));
    let run = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            ev.prevent_default();
            if let Some((form, to)) = typed_form(&ev, "to") {
                send.dispatch(SendTestMail { form, to });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let enter = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" {
            run(ev.into());
        }
    };
    view! {
        <fieldset class="test-card">
            <legend>"Send a test mail"</legend>
            <p class="muted">"Uses the settings as typed above; nothing is saved until you save the step."</p>
            <div class="inline-form" class:has-error=move || error.message("to").is_some()>
                <label for="test-to">"Send to"</label>
                <input id="test-to" name="to" type="email" placeholder="you@example.com" on:keydown=enter
                    prop:value=move || error.kept("to").unwrap_or_default() />
                <button type="submit" class="secondary" formaction={<SendTestMail as leptos::server_fn::ServerFn>::PATH} formnovalidate=true
                    on:click=move |ev| run(ev.into()) disabled=move || send.pending().get()>
                    {move || if send.pending().get() { "Sending…" } else { "Send test mail" }}
                </button>
            </div>
            {move || result().map(|r| match r {
                Ok(t) => view! {
                    <div class=if t.ok { "notice ok" } else { "notice problem" } role="status" data-testid="mail-result">{t.sentence}</div>
                }.into_any(),
                Err(e) => view! {
                    <div class="notice problem" role="alert" data-testid="mail-result">{e.for_field("to").unwrap_or_else(|| e.to_string())}</div>
                }.into_any(),
            })}
        </fieldset>
    }
}

/// The form around the event's element, by key path (`form[x]` -> `x`),
/// and the value of its field `extra` (a name outside `form[...]`).
#[cfg(feature = "hydrate")]
fn typed_form(ev: &leptos::ev::Event, extra: &str) -> Option<(BTreeMap<String, String>, String)> {
    use wasm_bindgen::JsCast;
    let el = ev.target()?.dyn_into::<web_sys::Element>().ok()?;
    let form: web_sys::HtmlFormElement = el.closest("form").ok()??.dyn_into().ok()?;
    let data = web_sys::FormData::new_with_form(&form).ok()?;
    let value = data.get(extra).as_string().unwrap_or_default();
    Some((form_fields(&data)?, value))
}

/// A form's `form[x]` fields by key path.
#[cfg(feature = "hydrate")]
fn form_fields(data: &web_sys::FormData) -> Option<BTreeMap<String, String>> {
    use wasm_bindgen::JsCast;
    let mut fields = BTreeMap::new();
    for entry in js_sys::try_iter(data).ok()?? {
        let pair: js_sys::Array = entry.ok()?.dyn_into().ok()?;
        let Some(key) = pair.get(0).as_string() else {
            continue;
        };
        if let Some(key) = key.strip_prefix("form[").and_then(|k| k.strip_suffix(']')) {
            fields.insert(key.to_owned(), pair.get(1).as_string().unwrap_or_default());
        }
    }
    Some(fields)
}

#[component]
fn VoiceStep(view: StoredValue<WizardView>, error: LastError) -> impl IntoView {
    let tcp = view
        .with_value(|v| v.value("livekit.tcp_port"))
        .unwrap_or_else(|| "7881".into());
    let udp = view
        .with_value(|v| v.value("livekit.udp_ports"))
        .unwrap_or_else(|| "50000-50100".into());
    view! {
        <p class="lead">"Voice and video calls run on LiveKit. Its keys are generated for you."</p>
        <CheckIn view error path="livekit.enabled" label="Enable voice and video" default=false />
        <TextIn view error path="livekit.node" label="Node name" default="worldwide" />
        <div class="row">
            <TextIn view error path="livekit.lat" label="Latitude" default="0" />
            <TextIn view error path="livekit.lon" label="Longitude" default="0" />
        </div>
        <TextIn view error path="livekit.udp_ports" label="UDP port range" default="50000-50100"
            hint="Media ports; each is published by Docker, so keep the range small." />
        <TextIn view error path="livekit.tcp_port" label="TCP port" default="7881" />
        <Choice view error path="livekit.ip_mode" legend="Address clients use" default="external" options=&[
            ("external", "Public, found with STUN", "for servers reachable from the internet."),
            ("fixed", "A fixed address", "for LAN installs: give this machine's address below."),
        ] />
        <TextIn view error path="livekit.node_ip" label="Node IP (fixed mode)" placeholder="192.168.1.10" />
        <p class="notice" data-testid="firewall">{format!("Firewall: open TCP 80 and 443, TCP {tcp} and UDP {udp} to this machine.")}</p>
    }
}

#[component]
fn AppsStep(view: StoredValue<WizardView>, error: LastError) -> impl IntoView {
    // voice-ingress follows voice unless chosen: the default never warns.
    let voice = view.with_value(|v| v.flag("livekit.enabled", false));
    view! {
        <p class="lead">"Choose what runs. The database, Redis, RabbitMQ and the proxy always run."</p>
        <CheckIn view error path="apps.api" label="API (delta)" default=true hint="Everything else needs it." />
        <CheckIn view error path="apps.events" label="Events (bonfire)" default=true hint="Live updates over WebSocket." />
        <CheckIn view error path="apps.web" label="Web client" default=true hint="Stoat in the browser at your domain." />
        <CheckIn view error path="apps.autumn" label="File uploads (autumn)" default=true hint="Attachments and avatars, stored in MinIO." />
        <CheckIn view error path="apps.january" label="Link previews (january)" default=true hint="Embeds and the media proxy." />
        <CheckIn view error path="apps.gifbox" label="GIF search (gifbox)" default=false hint="Stays empty without a Tenor API key, which Burrow does not set yet; leave it off for now." />
        <CheckIn view error path="apps.crond" label="Scheduled jobs (crond)" default=true hint="Clean-up of deleted files and expired data." />
        <CheckIn view error path="apps.pushd" label="Push notifications (pushd)" default=true />
        <CheckIn view error path="apps.voice_ingress" label="Voice events (voice-ingress)" default=voice
            hint="Tells Stoat who joins and leaves calls; needs voice and video (LiveKit) enabled." />
        <div class="field">
            <label for="f-registration">"Registration"</label>
            <select id="f-registration" name=input_name("registration")>
                {let cur = view.with_value(|v| v.value("registration")).unwrap_or_else(|| "invite-only".into());
                 let cur = kept_value(error, "registration").unwrap_or(cur);
                 [("invite-only", "Invite-only: an invite code is needed"), ("open", "Open: anyone can sign up")]
                    .into_iter().map(|(v, t)| view! { <option value=v selected=cur == v>{t}</option> }).collect_view()}
            </select>
            {move || error.message("registration").map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </div>
    }
}

#[component]
fn TargetStep(view: StoredValue<WizardView>, error: LastError) -> impl IntoView {
    let (docker_url, source, context, ns, kc_set, tls_set) = view.with_value(|v| {
        (
            v.docker_url.clone(),
            v.kube_source.clone(),
            v.kube_context.clone(),
            v.kube_namespace.clone(),
            v.kubeconfig_set,
            v.docker_tls_set,
        )
    });
    let (class, issuer) =
        view.with_value(|v| (v.kube_ingress_class.clone(), v.kube_issuer.clone()));
    let class = kept_value(error, "target.kube_ingress_class").unwrap_or(class);
    let tls_open = move || {
        tls_set
            || [
                "target.docker_tls_ca",
                "target.docker_tls_cert",
                "target.docker_tls_key",
            ]
            .iter()
            .any(|f| error.message(f).is_some() || error.kept(f).is_some_and(|v| !v.is_empty()))
    };
    let field_err = move |f: &'static str| {
        move || {
            error
                .message(f)
                .map(|m| view! { <p class="field-error" role="alert">{m}</p> })
        }
    };
    let kept = move |f: &'static str, saved: String| {
        move || error.kept(f).unwrap_or_else(|| saved.clone())
    };
    view! {
        <Choice view error path="target" legend="Where Stoat runs" default="docker" options=&[
            ("docker", "Docker", "a Docker daemon: this machine's, or another one over TCP."),
            ("kubernetes", "Kubernetes", "a cluster, with a kubeconfig or in-cluster credentials."),
        ] />
        <fieldset class="sub">
            <legend>"Docker"</legend>
            <div class="field" class:has-error=move || error.message("target.docker_url").is_some()>
                <label for="f-target-docker-url">"Daemon address"</label>
                <input id="f-target-docker-url" name=input_name("target.docker_url") placeholder="unix:///var/run/docker.sock"
                    prop:value=kept("target.docker_url", docker_url.clone()) value=docker_url.clone() />
                <p class="hint">"Empty: this machine's Docker (DOCKER_HOST or the local socket)."</p>
                {field_err("target.docker_url")}
            </div>
            <details class="sub" open=tls_open>
                <summary>"TLS: a daemon started with --tlsverify"</summary>
                <p class="hint">"For tcp://host:2376 on another machine: the files the docker CLI takes from DOCKER_CERT_PATH. Only this CA is trusted for the daemon."</p>
                {tls_set.then(|| view! { <p class="muted">"TLS settings are saved; paste all three only to replace them."</p> })}
                <PemIn error path="target.docker_tls_ca" label="CA certificate (ca.pem)" hint="The CA that signed the daemon's --tlscert." />
                <PemIn error path="target.docker_tls_cert" label="Client certificate (cert.pem)" hint="Signed by the CA the daemon trusts (its --tlscacert), made for client authentication." />
                <PemIn error path="target.docker_tls_key" label="Client key (key.pem)" hint="Kept sealed by Burrow; never shown again." />
                {tls_set.then(|| view! {
                    <CheckIn view error path="target.docker_tls_forget" default=false
                        label="Forget the saved TLS settings (connect without TLS)" />
                })}
            </details>
            <CheckIn view error path="target.docker_plain_ok" default=false
                label="Use a daemon on another machine over plain TCP anyway"
                hint="Only for tcp:// on another machine without TLS: anyone on the network between can run containers as root there. TLS above, or an SSH tunnel to its socket, is safer." />
        </fieldset>
        <fieldset class="sub">
            <legend>"Kubernetes"</legend>
            <div class="field">
                <label for="f-target-kube-source">"Credentials"</label>
                <select id="f-target-kube-source" name=input_name("target.kube_source")>
                    <option value="kubeconfig" selected=source != "in-cluster">"A kubeconfig (pasted below)"</option>
                    <option value="in-cluster" selected=source == "in-cluster">"In-cluster (Burrow runs in the cluster)"</option>
                </select>
            </div>
            <div class="field">
                <label for="f-target-kubeconfig">"Kubeconfig"</label>
                <textarea id="f-target-kubeconfig" name=input_name("target.kubeconfig") rows="6" class="code" spellcheck="false"
                    placeholder=if kc_set { "(kept; paste to replace)" } else { "" }></textarea>
                <LoadFile target="f-target-kubeconfig".to_owned() />
                {field_err("target.kubeconfig")}
            </div>
            <div class="field">
                <label for="f-target-kube-context">"Context"</label>
                <input id="f-target-kube-context" name=input_name("target.kube_context") placeholder="(the kubeconfig's current context)"
                    prop:value=kept("target.kube_context", context.clone()) value=context.clone() />
            </div>
            <div class="field">
                <label for="f-target-kube-namespace">"Namespace"</label>
                <input id="f-target-kube-namespace" name=input_name("target.kube_namespace") placeholder="stoat"
                    prop:value=kept("target.kube_namespace", ns.clone()) value=ns.clone() />
                {field_err("target.kube_namespace")}
            </div>
            <div class="field">
                <label for="f-target-kube-ingress-class">"Ingress class"</label>
                <select id="f-target-kube-ingress-class" name=input_name("target.kube_ingress_class")>
                    <option value="nginx" selected=class != "traefik">"nginx (ingress-nginx: Burrow's own routes)"</option>
                    <option value="traefik" selected=class == "traefik">"traefik (every path to Caddy, which routes)"</option>
                </select>
                {field_err("target.kube_ingress_class")}
            </div>
            <div class="field">
                <label for="f-target-kube-issuer">"cert-manager issuer"</label>
                <input id="f-target-kube-issuer" name=input_name("target.kube_issuer") placeholder="letsencrypt"
                    prop:value=kept("target.kube_issuer", issuer.clone()) value=issuer.clone() />
                <p class="hint">"With ACME: the ClusterIssuer cert-manager gets the certificate from."</p>
                {field_err("target.kube_issuer")}
            </div>
        </fieldset>
    }
}

/// "Test the connection" to the target as typed above, saved or not.
#[component]
fn TestTargetCard(test: ServerAction<TestTarget>, last: Option<TestOutcome>) -> impl IntoView {
    let result = move || test.value().get().or_else(|| last.clone().map(Ok));
    let run = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            ev.prevent_default();
            if let Some((form, _)) = typed_form(&ev, "") {
                test.dispatch(TestTarget { form });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <fieldset class="test-card">
            <legend>"Test the connection"</legend>
            <p class="muted">"Connects with the settings as typed above; nothing is saved."</p>
            <button type="submit" class="secondary" formaction={<TestTarget as leptos::server_fn::ServerFn>::PATH} formnovalidate=true
                on:click=run disabled=move || test.pending().get()>
                {move || if test.pending().get() { "Connecting…" } else { "Test connection" }}
            </button>
            {move || result().map(|r| match r {
                Ok(t) => view! { <div class=if t.ok { "notice ok" } else { "notice problem" } role="status" data-testid="target-result">{t.sentence}</div> }.into_any(),
                Err(e) => view! { <div class="notice problem" role="alert" data-testid="target-result">{e.to_string()}</div> }.into_any(),
            })}
        </fieldset>
    }
}

#[component]
fn ReviewStep(view: StoredValue<WizardView>) -> impl IntoView {
    let finish = ServerAction::<FinishWizard>::new();
    let Some(review) = view.with_value(|v| v.review.clone()) else {
        return view! { <p>"Nothing to review."</p> }.into_any();
    };
    let blocked = !review.blocking.is_empty();
    let checks = view.with_value(|v| v.checks.clone());
    view! {
        {review.blocking.iter().map(|n| view! { <div class="notice problem" role="alert">{n.message.clone()}</div> }).collect_view()}
        <dl class="facts" data-testid="summary">
            {review.summary.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> }).collect_view()}
        </dl>
        <div class="checks" data-testid="review-checks">
            <h3>"Domain and ports, where the stack will run"</h3>
            <CheckList checks />
            <p class="muted">"Change them on the "<a href="/wizard/domain">"Domain"</a>" step."</p>
        </div>
        {review.diff.clone().map(|(rev, lines)| view! {
            <h3>{format!("Changes against revision {rev} (deployed)")}</h3>
            <pre class="diff" data-testid="diff">
                {lines.into_iter().map(|l| view! {
                    <div class=match l.sign { '+' => "add", '-' => "del", _ => "same" }>{format!("{} {}", l.sign, l.text)}</div>
                }).collect_view()}
            </pre>
        })}
        <h3>"Services"</h3>
        <div class="table-wrap">
            <table>
                <thead><tr><th>"Service"</th><th>"Image"</th></tr></thead>
                <tbody>
                    {review.services.iter().map(|(s, i)| view! { <tr><td>{s.clone()}</td><td><code>{i.clone()}</code></td></tr> }).collect_view()}
                </tbody>
            </table>
        </div>
        <h3>"Rendered files"</h3>
        <p class="muted">"Read-only; secret values are masked."</p>
        {review.files.iter().map(|f| view! {
            <details class="file">
                <summary>{f.name.clone()}</summary>
                <pre class="viewer" data-file=f.name.clone()>{f.content.clone()}</pre>
            </details>
        }).collect_view()}
        <ActionForm action=finish>
            <FormError message=Signal::derive(move || finish.value().get().and_then(|r| r.err()).map(|e| e.to_string())) />
            <div class="step-buttons">
                <a class="button secondary" href="/wizard/target">"Back"</a>
                <button type="submit" class="primary" data-testid="wizard-deploy" disabled=move || blocked || finish.pending().get()>
                    {move || if finish.pending().get() { "Starting…" } else { "Deploy" }}
                </button>
            </div>
        </ActionForm>
    }
    .into_any()
}
