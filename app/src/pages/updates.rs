//! Updates: the channel this install follows (set here, or by the
//! environment), the release it offers after a verified check, "Check now".
//! Installing from here comes with the rollout (stack-wide, with automatic
//! rollback). Plain forms: works without JavaScript too.

use leptos::prelude::*;
use leptos_meta::Title;
use wire::updates::{
    AutoUpdateView, ChannelView, CheckView, RegistryView, RolloutView, StepView, UpdatesView,
};

use crate::api::updates::{
    get_updates, CheckUpdates, RemoveRegistry, RollBackTo, SaveAutoUpdate, SaveChannel,
    SaveRegistry, UpdateNow,
};
use crate::components::field::{Field, FormError, LoadError};
use crate::components::layout::HeaderRefresh;
use crate::components::live::{subscribe, NoScriptReload};
use crate::pages::deploy::when;
use crate::pages::wizard::LoadFile;

#[component]
pub fn UpdatesPage() -> impl IntoView {
    let check = ServerAction::<CheckUpdates>::new();
    let save = ServerAction::<SaveChannel>::new();
    let update = ServerAction::<UpdateNow>::new();
    let back = ServerAction::<RollBackTo>::new();
    let auto = ServerAction::<SaveAutoUpdate>::new();
    let registry = RegistryActions {
        save: ServerAction::<SaveRegistry>::new(),
        remove: ServerAction::<RemoveRegistry>::new(),
    };
    // A running update's live view says when it ended: the page reads
    // everything again (installed release, what can be gone back to).
    let ended = RwSignal::new(0usize);
    // The header's badge follows a check (hydrated: no page load).
    if let Some(HeaderRefresh(refresh)) = use_context::<HeaderRefresh>() {
        Effect::new(move |_| {
            if check.version().get() + update.version().get() + back.version().get() + ended.get()
                > 0
            {
                refresh.update(|n| *n += 1);
            }
        });
    }
    let data = crate::codec::page_data(
        move || {
            (
                check.version().get(),
                save.version().get(),
                update.version().get(),
                back.version().get(),
                registry.save.version().get() + registry.remove.version().get(),
                ended.get() + auto.version().get(),
            )
        },
        |_| get_updates(),
    );
    view! {
        <Title text="Updates" />
        <h1>"Updates"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(view) => view! { <UpdatesCards view check save update back registry ended auto /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn UpdatesCards(
    view: UpdatesView,
    check: ServerAction<CheckUpdates>,
    save: ServerAction<SaveChannel>,
    update: ServerAction<UpdateNow>,
    back: ServerAction<RollBackTo>,
    registry: RegistryActions,
    ended: RwSignal<usize>,
    auto: ServerAction<SaveAutoUpdate>,
) -> impl IntoView {
    let back_error = move || back.value().get().and_then(|r| r.err());
    let check_error = move || check.value().get().and_then(|r| r.err());
    let update_error = move || update.value().get().and_then(|r| r.err());
    let has_channel = view.channel.is_some();
    let from_env = view.channel.as_ref().is_some_and(|c| c.from_environment);
    let offered = view
        .last_check
        .as_ref()
        .and_then(|c| c.release.as_ref())
        .map(|r| r.version.clone());
    let running = view
        .rollouts
        .iter()
        .any(|r| r.state == "running" || r.state == "rolling back");
    view! {
        // Hydrated, a running update streams its journal row (SSE);
        // without JavaScript the page reloads itself until it ends.
        {running.then(|| view! { <NoScriptReload what="the update" /> })}
        <p data-testid="update-installed">
            {match view.installed.clone() {
                Some(v) => format!("Installed: release {v}."),
                None => "Installed: no release from the channel yet (the images the configuration names).".to_owned(),
            }}
        </p>
        <section class="card" data-testid="update-offer">
            <h2>"Available"</h2>
            {match view.last_check.clone() {
                Some(last) => view! { <LastCheck last /> }.into_any(),
                None if has_channel => view! { <p class="muted">"Not checked yet."</p> }.into_any(),
                None => view! { <p class="muted">"Set the channel below, then check."</p> }.into_any(),
            }}
            <ActionForm action=check>
                <FormError message=Signal::derive(move || check_error().map(|e| e.to_string())) />
                <button type="submit" class="primary" disabled=!has_channel>"Check now"</button>
            </ActionForm>
            {offered.map(|v| view! {
                <ActionForm action=update>
                    <FormError message=Signal::derive(move || update_error().map(|e| e.to_string())) />
                    <button type="submit" class="primary" disabled=running data-testid="update-now">{format!("Update to {v} now")}</button>
                    <p class="hint">"The channel is checked again, a backup is taken when the release asks for one, and every service is switched; when anything fails, the whole stack goes back to the containers it runs now."</p>
                </ActionForm>
            })}
            <p class="hint">"Burrow also checks every 6 hours."</p>
        </section>
        {view.auto.clone().map(|policy| view! { <AutoUpdateCard policy save=auto /> })}
        <section class="card">
            <h2>"History"</h2>
            {if view.rollouts.is_empty() {
                view! { <p class="muted">"No update yet."</p> }.into_any()
            } else {
                view! {
                    <FormError message=Signal::derive(move || back_error().map(|e| e.to_string())) />
                    <RolloutTable rollouts=view.rollouts.clone() back running ended />
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Channel"</h2>
            {view.channel.clone().map(|c| view! { <ChannelInfo channel=c /> })}
            {(!from_env).then(|| view! { <ChannelForm save channel=view.channel.clone() /> })}
        </section>
        <RegistryCard actions=registry registry=view.registry.clone() problem=view.registry_problem.clone() />
    }
}

#[derive(Clone, Copy)]
struct RegistryActions {
    save: ServerAction<SaveRegistry>,
    remove: ServerAction<RemoveRegistry>,
}

/// A private registry's credentials: what is kept (never the password),
/// a form to replace them, and removing them.
#[component]
fn RegistryCard(
    actions: RegistryActions,
    registry: Option<RegistryView>,
    problem: Option<String>,
) -> impl IntoView {
    let RegistryActions { save, remove } = actions;
    let error = move || save.value().get().and_then(|r| r.err());
    let kept = registry.is_some();
    view! {
        <section class="card" data-testid="registry">
            <h2>"Private registry"</h2>
            {problem.map(|p| view! { <p class="notice problem">{p}</p> })}
            {match registry {
                Some(r) => view! {
                    <p data-testid="registry-kept">{format!("Images from {} are pulled as {}; the password is kept sealed.", r.host, r.username)}</p>
                }.into_any(),
                None => view! { <p class="muted">"No credentials: images are pulled anonymously."</p> }.into_any(),
            }}
            <ActionForm action=save attr:novalidate=true>
                <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
                <div class="field" class:has-error=move || error().and_then(|e| e.for_field("auth")).is_some()>
                    <label for="field-auth">"Registry credentials (JSON)"</label>
                    <textarea id="field-auth" name="auth" rows="4" class="code" spellcheck="false" autocomplete="off"
                        placeholder=r#"{"username": "…", "password": "…", "serveraddress": "registry.example:5000"}"#
                        aria-invalid=move || error().and_then(|e| e.for_field("auth")).is_some().to_string()></textarea>
                    <p class="hint">"Sent to the Docker daemon only for images of that registry."</p>
                    {move || error().and_then(|e| e.for_field("auth")).map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                </div>
                <button type="submit">{if kept { "Replace credentials" } else { "Save credentials" }}</button>
            </ActionForm>
            {kept.then(|| view! {
                <ActionForm action=remove>
                    <button type="submit" class="link">"Remove credentials"</button>
                </ActionForm>
            })}
        </section>
    }
}

#[component]
fn RolloutTable(
    rollouts: Vec<RolloutView>,
    back: ServerAction<RollBackTo>,
    running: bool,
    ended: RwSignal<usize>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="rollouts" data-testid="rollouts">
                <thead><tr><th>"#"</th><th>"Release"</th><th>"Started"</th><th>"Took"</th><th>"By"</th><th>"Outcome"</th></tr></thead>
                <tbody>
                    {rollouts.into_iter().map(|r| view! { <RolloutRow rollout=r back running ended /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// One update in the history; one that runs follows its journal row live
/// (`/live/updates/N`) once hydrated, and says when it ended.
#[component]
fn RolloutRow(
    rollout: RolloutView,
    back: ServerAction<RollBackTo>,
    running: bool,
    ended: RwSignal<usize>,
) -> impl IntoView {
    let id = rollout.id;
    let live = rollout.finished_at.is_none();
    let (version, sequence, started_at, actor) = (
        rollout.version.clone(),
        rollout.sequence,
        rollout.started_at,
        rollout.actor.clone(),
    );
    let can_go_back = rollout.can_go_back;
    let back_label = format!("Roll back to {version}");
    let row = RwSignal::new(rollout);
    subscribe(
        move || live.then(|| format!("/live/updates/{id}")),
        &["rollout", "done"],
        move |name, data| {
            if let Ok(now) = crate::codec::decode::<RolloutView>(&data) {
                row.set(now);
                if name == "done" {
                    ended.update(|n| *n += 1);
                }
            }
        },
    );
    let steps = Memo::new(move |_| row.with(|r| r.steps.clone()));
    let badge = move || {
        row.with(|r| match r.state.as_str() {
            "completed" => "badge ok",
            "running" | "rolling back" => "badge running",
            _ => "badge failed",
        })
    };
    view! {
        <tr data-rollout=id data-version=version.clone()>
            <td>{id}</td>
            <td>{format!("{version} ({sequence})")}</td>
            <td>{when(started_at)}</td>
            <td>{move || row.with(|r| r.finished_at.map(|f| seconds(f - r.started_at)).unwrap_or_else(|| "…".to_owned()))}</td>
            <td>{actor}</td>
            <td>
                <span class=badge data-testid="rollout-state">{move || row.with(|r| r.state.clone())}</span>" "
                <span data-testid="rollout-detail">{move || row.with(|r| r.detail.clone())}</span>
                {move || row.with(|r| r.driver.clone()).map(|d| view! { <span class="muted">{format!(" Driven by {d}.")}</span> })}
                {move || row.with(|r| r.progress.clone()).map(|p| view! { <p class="muted" data-testid="rollout-progress">{p}</p> })}
                {move || { let s = steps.get(); (!s.is_empty()).then(|| view! { <StepLog steps=s /> }) }}
                {can_go_back.then(|| view! {
                    <ActionForm action=back>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" disabled=running>{back_label.clone()}</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

/// "42 s", "3 min 5 s".
fn seconds(s: i64) -> String {
    let s = s.max(0);
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// An update's steps with their durations (folded; opens without JS).
#[component]
fn StepLog(steps: Vec<StepView>) -> impl IntoView {
    view! {
        <details class="step-log" data-testid="step-log">
            <summary>{format!("{} steps", steps.len())}</summary>
            <ol>
                {steps.into_iter().map(|s| {
                    let took = format!("{} s", wire::tenths(s.took_ms, 1000));
                    let failed = s.error.is_some();
                    view! {
                        <li class=if failed { "failed" } else { "" }>
                            {s.what}" — "{took}
                            {s.error.map(|e| view! { <span class="step-error">{format!(": {e}")}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ol>
        </details>
    }
}

#[component]
fn LastCheck(last: CheckView) -> impl IntoView {
    let at = when(last.checked_at);
    match (last.release, last.refusal) {
        (Some(r), _) => view! {
            <p data-testid="update-available">
                <span class="badge ok">"available"</span>
                {format!(" Release {} (sequence {}) of channel {}, released {}.", r.version, r.sequence, r.channel, r.released_at)}
            </p>
            {(!r.notes.trim().is_empty()).then(|| view! { <pre class="notes" data-testid="update-notes">{r.notes.clone()}</pre> })}
            {r.pauses.clone().map(|p| view! { <p data-testid="update-pauses">{p}</p> })}
            {r.requires_backup.then(|| view! { <p class="muted">"It asks for a backup before it is installed."</p> })}
            {r.failed_before.clone().map(|f| view! { <p class="notice warning" data-testid="update-failed-before">{f}</p> })}
            <p class="muted">{format!("Checked {at}; signatures, versions and expiry verified.")}</p>
        }
        .into_any(),
        (None, Some(why)) => view! {
            <p data-testid="update-refusal"><span class="badge failed">"nothing offered"</span>" "{why}</p>
            <p class="muted">{format!("Checked {at}.")}</p>
        }
        .into_any(),
        (None, None) => view! { <p class="muted">{format!("Checked {at}.")}</p> }.into_any(),
    }
}

#[component]
fn ChannelInfo(channel: ChannelView) -> impl IntoView {
    view! {
        <dl class="facts" data-testid="update-channel">
            <dt>"Address"</dt><dd><code>{channel.url.clone()}</code></dd>
            <dt>"Channel"</dt><dd>{channel.name.clone()}</dd>
            <dt>"Root given"</dt><dd>{format!("version {}", channel.root_version)}</dd>
        </dl>
        {channel.from_environment.then(|| view! {
            <p class="muted">"Set by BURROW_CHANNEL_URL and BURROW_CHANNEL_ROOT; change it there."</p>
        })}
    }
}

#[component]
fn ChannelForm(save: ServerAction<SaveChannel>, channel: Option<ChannelView>) -> impl IntoView {
    let error = move || save.value().get().and_then(|r| r.err());
    let (url, name) = channel
        .map(|c| (c.url, c.name))
        .unwrap_or_else(|| (String::new(), "stable".to_owned()));
    let url = StoredValue::new(url);
    let name = StoredValue::new(name);
    view! {
        <ActionForm action=save attr:novalidate=true>
            <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
            <Field
                label="Channel address"
                name="url"
                hint="Where the channel's metadata/ and targets/ are served: https://…, or file:///… for a directory on this machine."
                error=Signal::derive(move || error().and_then(|e| e.for_field("url")))
                value=Signal::derive(move || error().and_then(|e| e.kept("url")).or_else(|| Some(url.get_value())))
            />
            <Field
                label="Channel name"
                name="name"
                hint="A release for another channel is refused."
                error=Signal::derive(move || error().and_then(|e| e.for_field("name")))
                value=Signal::derive(move || error().and_then(|e| e.kept("name")).or_else(|| Some(name.get_value())))
            />
            <div class="field" class:has-error=move || error().and_then(|e| e.for_field("root")).is_some()>
                <label for="field-root">"Root metadata (1.root.json)"</label>
                <textarea id="field-root" name="root" rows="6" class="code" spellcheck="false"
                    aria-invalid=move || error().and_then(|e| e.for_field("root")).is_some().to_string()></textarea>
                <LoadFile target="field-root".to_owned() />
                <p class="hint">"The file its publisher made with `burrow release init`, handed over out of band: every release is verified from it."</p>
                {move || error().and_then(|e| e.for_field("root")).map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
            </div>
            <button type="submit">"Save channel"</button>
        </ActionForm>
    }
}

/// Automatic updates: what the policy is, what the updater last did or
/// waits for, and the form to set the window.
#[component]
fn AutoUpdateCard(policy: AutoUpdateView, save: ServerAction<SaveAutoUpdate>) -> impl IntoView {
    let error = move || save.value().get().and_then(|r| r.err());
    let status = if policy.enabled {
        let when_next = if policy.open_now {
            "The window is open now.".to_owned()
        } else {
            policy
                .next_window
                .map(|t| format!("Next window: {}.", when(t)))
                .unwrap_or_default()
        };
        format!("On: {}. {when_next}", policy.window)
    } else {
        "Off: a release waits for \u{201c}Update now\u{201d}.".to_owned()
    };
    let last = policy
        .last_word
        .clone()
        .map(|word| match policy.last_word_at {
            Some(at) => format!("{word} ({})", when(at)),
            None => word,
        });
    let kept = move |name: &str| error().and_then(|e| e.kept(name));
    let policy = StoredValue::new(policy);
    let day_on = move |day: &'static str| {
        kept("days").map_or_else(
            || policy.with_value(|p| p.days.iter().any(|d| d == day)),
            |days| days.split(',').any(|d| d == day),
        )
    };
    let days = [
        ("mon", "Mon"),
        ("tue", "Tue"),
        ("wed", "Wed"),
        ("thu", "Thu"),
        ("fri", "Fri"),
        ("sat", "Sat"),
        ("sun", "Sun"),
    ];
    view! {
        <section class="card" data-testid="auto-update">
            <h2>"Automatic updates"</h2>
            <p data-testid="auto-status">{status}</p>
            {last.map(|l| view! { <p class="muted" data-testid="auto-last">{l}</p> })}
            <ActionForm action=save attr:novalidate=true>
                <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
                <div class="field">
                    <label class="check">
                        <input type="checkbox" name="enabled" value="true" data-testid="auto-enabled"
                            checked=move || kept("enabled").map_or_else(|| policy.with_value(|p| p.enabled), |v| v == "true") />
                        <span>"Install new releases automatically inside the window"</span>
                    </label>
                </div>
                <fieldset class="choice days" class:has-error=move || error().and_then(|e| e.for_field("days")).is_some()>
                    <legend>"Days"</legend>
                    {days.into_iter().map(|(name, label)| view! {
                        <label class="check">
                            <input type="checkbox" name=name value="true" checked=move || day_on(name) />
                            <span>{label}</span>
                        </label>
                    }).collect_view()}
                    {move || error().and_then(|e| e.for_field("days")).map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                </fieldset>
                <Field
                    label="From (UTC)"
                    name="start"
                    kind="time"
                    error=Signal::derive(move || error().and_then(|e| e.for_field("start")))
                    value=Signal::derive(move || kept("start").or_else(|| Some(policy.with_value(|p| p.start.clone()))))
                />
                <Field
                    label="Until (UTC)"
                    name="end"
                    kind="time"
                    hint="An end before the start runs past midnight (22:00 to 02:00)."
                    error=Signal::derive(move || error().and_then(|e| e.for_field("end")))
                    value=Signal::derive(move || kept("end").or_else(|| Some(policy.with_value(|p| p.end.clone()))))
                />
                <p class="hint">"Inside the window Burrow checks the channel and installs what it offers, as \u{201c}Update now\u{201d} does. It waits while a voice call is running (it asks LiveKit for its rooms) and never installs a release that was rolled back before."</p>
                <button type="submit">"Save"</button>
            </ActionForm>
        </section>
    }
}
