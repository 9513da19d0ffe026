//! Logs: one service or all, followed live, filtered, paused, downloaded.
//! Colours are rendered from ANSI codes; markup in a line stays text.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use wire::LogLine;

use crate::api::services::{get_logs, LogsView};
use crate::components::ansi::segments;
use crate::components::field::LoadError;
use crate::components::live::subscribe;

/// Lines kept in the page; older ones scroll away.
const KEEP: usize = 2000;

/// Appends `more` to `lines`, keeping the newest [`KEEP`].
fn append_kept(lines: &mut Vec<LogLine>, more: &mut Vec<LogLine>) {
    lines.append(more);
    if lines.len() > KEEP {
        lines.drain(..lines.len() - KEEP);
    }
}

#[component]
pub fn LogsPage() -> impl IntoView {
    let query = use_query_map();
    let service = move || {
        query
            .with(|q| q.get("service"))
            .filter(|s| !s.is_empty() && s != "all")
    };
    let filter = move || query.with(|q| q.get("q")).unwrap_or_default();
    let data = crate::codec::page_data(service, get_logs);
    view! {
        <Title text="Logs" />
        <h1>"Logs"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(view) => view! { <LogViewer view service=service() filter=filter() /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// Picking a service shows its lines (a page load, as the "Show" button
/// does without JavaScript; no inline handler, which the CSP forbids).
fn submit_form(ev: leptos::ev::Event) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let form = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
            .and_then(|select| select.form());
        if let Some(form) = form {
            let _ = form.submit();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

fn matches(line: &LogLine, filter: &str) -> bool {
    filter.is_empty()
        || line.text.to_lowercase().contains(&filter.to_lowercase())
        || line.service.contains(filter)
}

#[component]
fn LogViewer(view: LogsView, service: Option<String>, filter: String) -> impl IntoView {
    let lines = RwSignal::new(view.lines.clone());
    let held = RwSignal::new(Vec::<LogLine>::new());
    let paused = RwSignal::new(false);
    let filter_text = RwSignal::new(filter.clone());
    let problem = RwSignal::new(view.problem.clone());
    let configured = !view.services.is_empty();
    let url_service = service.clone().unwrap_or_default();
    subscribe(
        move || configured.then(|| format!("/live/logs?service={url_service}&tail=0")),
        &["lines", "problem"],
        move |name, data| {
            if name == "problem" {
                problem.set(crate::codec::decode(&data).ok());
                return;
            }
            let Ok(mut batch) = crate::codec::decode::<Vec<LogLine>>(&data) else {
                return;
            };
            let into = if paused.get_untracked() { held } else { lines };
            into.update(|l| append_kept(l, &mut batch));
        },
    );
    let toggle = move |_| {
        if paused.get_untracked() {
            let mut waiting = held.try_update(std::mem::take).unwrap_or_default();
            lines.update(|l| append_kept(l, &mut waiting));
        }
        paused.update(|p| *p = !*p);
    };
    let selected = service.clone().unwrap_or_else(|| "all".to_owned());
    let download = format!(
        "/logs/download?service={}",
        service.clone().unwrap_or_default()
    );
    let shown = move || {
        let f = filter_text.get();
        lines.with(|l| {
            l.iter()
                .filter(|line| matches(line, &f))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        {(!configured).then(|| view! { <p data-testid="no-config">"Nothing is deployed yet, so there are no logs."</p> })}
        <form class="log-controls" method="get" action="/logs">
            <label for="service">"Service"</label>
            <select id="service" name="service" on:change=submit_form>
                <option value="all" selected=selected == "all">"All services"</option>
                {view.services.iter().map(|s| view! {
                    <option value=s.clone() selected=selected == *s>{s.clone()}</option>
                }).collect_view()}
            </select>
            <label for="q">"Filter"</label>
            <input id="q" name="q" type="search" placeholder="text to look for" value=filter
                on:input=move |ev| filter_text.set(event_target_value(&ev)) />
            <noscript><button type="submit">"Show"</button></noscript>
            <button type="button" data-testid="pause" on:click=toggle>
                {move || if paused.get() { format!("Resume ({} new)", held.with(Vec::len)) } else { "Pause".to_owned() }}
            </button>
            <a class="button secondary" href=download rel="external" download="">"Download"</a>
        </form>
        {move || problem.get().map(|p| view! { <div class="form-error" role="alert">{p}</div> })}
        <pre class="log" data-testid="log" aria-live="polite">
            {move || shown().into_iter().map(|line| view! { <LogLineView line /> }).collect_view()}
        </pre>
    }
}

#[component]
fn LogLineView(line: LogLine) -> impl IntoView {
    let time = line
        .timestamp
        .as_deref()
        .and_then(|t| t.get(11..19))
        .unwrap_or("")
        .to_owned();
    view! {
        <div class=format!("line {}", line.stream.as_str()) data-service=line.service.clone()>
            <span class="ts">{time}</span>" "
            <span class="svc">{line.service.clone()}</span>" "
            {segments(&line.text).into_iter().map(|s| {
                if s.classes.is_empty() {
                    view! { <span>{s.text}</span> }.into_any()
                } else {
                    view! { <span class=s.classes>{s.text}</span> }.into_any()
                }
            }).collect_view()}
        </div>
    }
}
