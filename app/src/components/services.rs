//! The dashboard's service board: every service with state, health,
//! restarts, uptime, image and ports, live over SSE; and whether the chat
//! server answers through Caddy.

use leptos::prelude::*;

use wire::{ClusterEvent, ProbeResult, ServiceStatus};

use crate::api::services::{get_services, ServicesView};
use crate::components::field::LoadError;
use crate::components::live::{seconds_ticker, subscribe};

fn uptime(secs: Option<u64>) -> String {
    match secs {
        None => "—".to_owned(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        Some(s) if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        Some(s) => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[component]
pub fn ServicesBoard() -> impl IntoView {
    let data = crate::codec::page_data(|| (), |_| get_services());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading services…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(view) => view! { <Board view /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn Board(view: ServicesView) -> impl IntoView {
    let Some(stack) = view.stack.clone() else {
        if let Some(step) = view.resume_step.clone() {
            return view! {
                <section class="card">
                    <h2>"Services"</h2>
                    <p data-testid="resume-setup">"The setup is in progress: nothing is deployed yet. "
                        <a class="button primary" href=format!("/wizard/{step}") rel="external">"Continue the setup"</a>
                    </p>
                </section>
            }
            .into_any();
        }
        return view! {
            <section class="card">
                <h2>"Services"</h2>
                <p data-testid="no-config">"Nothing is configured yet. "<a href="/wizard" rel="external">"Start the setup"</a>" or "<a href="/deploy">"paste a stack.toml"</a>"."</p>
            </section>
        }
        .into_any();
    };
    let services = RwSignal::new(view.services.clone());
    let probes = RwSignal::new(view.probes.clone());
    let problem = RwSignal::new(view.problem.clone());
    // A cluster's dashboard: pods with their node, and the namespace's
    // events.
    let cluster = view.events.is_some();
    let events = RwSignal::new(view.events.clone().unwrap_or_default());
    let events_problem = RwSignal::new(view.events_problem.clone());
    // Uptimes age between updates: the status stream only speaks when
    // something other than uptime changes.
    let ticks = seconds_ticker();
    let told_at = RwSignal::new(0u64);
    subscribe(
        || Some("/live/status".to_owned()),
        &["status", "app", "problem", "events", "events-problem"],
        move |name, data| match name {
            "status" => {
                if let Ok(list) = crate::codec::decode::<Vec<ServiceStatus>>(&data) {
                    told_at.set(ticks.get_untracked());
                    services.set(list);
                    problem.set(None);
                }
            }
            "app" => {
                if let Ok(list) = crate::codec::decode::<Vec<ProbeResult>>(&data) {
                    probes.set(list);
                }
            }
            "events" => {
                if let Ok(list) = crate::codec::decode::<Vec<ClusterEvent>>(&data) {
                    events.set(list);
                    events_problem.set(None);
                }
            }
            "events-problem" => events_problem.set(crate::codec::decode(&data).ok()),
            _ => problem.set(crate::codec::decode(&data).ok()),
        },
    );
    let answers = move || {
        probes.with(|p| {
            if p.is_empty() {
                None
            } else {
                Some(p.iter().all(|p| p.ok))
            }
        })
    };
    view! {
        <section class="card">
            <h2>"Chat server"</h2>
            {move || match answers() {
                Some(true) => view! { <p data-testid="chat-answers"><span class="badge ok">"up"</span>" The chat server answers."</p> }.into_any(),
                Some(false) => view! { <p data-testid="chat-answers"><span class="badge failed">"down"</span>" The chat server does not answer properly."</p> }.into_any(),
                None => view! { <p class="muted" data-testid="chat-answers">"Not checked yet."</p> }.into_any(),
            }}
            <ul class="plain">
                {move || probes.get().into_iter().map(|p| view! {
                    <li><code>{p.path}</code>" — "{p.detail}</li>
                }).collect_view()}
            </ul>
        </section>
        <section class="card">
            <h2>"Services of "<code>{stack}</code>
                {view.revision.map(|r| view! { <span class="muted">" · revision "<a href="/history" data-testid="watched-revision">{r}</a></span> })}
            </h2>
            {move || problem.get().map(|p| view! { <div class="form-error" role="alert">{p}</div> })}
            <div class="table-wrap">
                <table class="services" data-testid="services">
                    <thead><tr>
                        <th>"Service"</th><th>"State"</th><th>"Health"</th><th>"Restarts"</th>
                        <th>"Up for"</th><th>"Image"</th>
                        {if cluster { view! { <th>"Node"</th> }.into_any() } else { view! { <th>"Ports"</th> }.into_any() }}
                    </tr></thead>
                    <tbody>
                        {move || {
                            let list = services.get();
                            if list.is_empty() {
                                return view! { <tr><td colspan="7" class="muted">"No containers: deploy the stack from the Deploy page."</td></tr> }.into_any();
                            }
                            list.into_iter().map(|s| {
                                let trouble = s.is_trouble();
                                let state = match (s.one_shot, s.exit_code) {
                                    (true, Some(0)) => "completed".to_owned(),
                                    (_, Some(code)) if s.state != "running" => format!("{} ({code})", s.state),
                                    _ => s.state.clone(),
                                };
                                view! {
                                    <tr class:trouble=trouble data-service=s.service.clone() data-state=s.state.clone() data-health=s.health.as_str()>
                                        <td><strong>{s.service.clone()}</strong>
                                            // A service's pods each have a row: named.
                                            {cluster.then(|| view! { <br/><small class="muted" data-testid="pod">{s.container.clone()}</small> })}
                                        </td>
                                        <td><span class=format!("badge {}", if trouble { "failed" } else { "ok" })>{state}</span></td>
                                        <td><span class=format!("badge {}", s.health.as_str())>{s.health.label()}</span></td>
                                        <td>{s.restart_count}</td>
                                        <td class="uptime">{move || {
                                            let aged = ticks.get().saturating_sub(told_at.get_untracked());
                                            uptime(s.uptime_secs.map(|u| u + aged))
                                        }}</td>
                                        <td class="image"><code>{s.image.clone()}</code></td>
                                        {if cluster {
                                            view! { <td class="node">{s.node.clone().unwrap_or_else(|| "not scheduled".to_owned())}</td> }.into_any()
                                        } else {
                                            // One mapping per line: the column stays narrow.
                                            view! { <td class="ports">{s.ports.iter().map(|p| view! { <span>{p.clone()}</span> }).collect_view()}</td> }.into_any()
                                        }}
                                    </tr>
                                }
                            }).collect_view().into_any()
                        }}
                    </tbody>
                </table>
            </div>
        </section>
        {cluster.then(|| view! { <ClusterEvents events problem=events_problem /> })}
    }
    .into_any()
}

/// "2026-12-06 04:00:01 UTC" from an RFC 3339 time.
fn seen_at(rfc3339: Option<&str>) -> String {
    match rfc3339 {
        Some(t) if t.len() >= 19 => format!("{} UTC", t[..19].replace('T', " ")),
        Some(t) => t.to_owned(),
        None => "—".to_owned(),
    }
}

/// The namespace's newest events, warnings marked, live.
#[component]
fn ClusterEvents(
    events: RwSignal<Vec<ClusterEvent>>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Cluster events"</h2>
            {move || problem.get().map(|p| view! { <div class="form-error" role="alert">{p}</div> })}
            <div class="table-wrap">
                <table class="events" data-testid="cluster-events">
                    <thead><tr>
                        <th>"Type"</th><th>"Reason"</th><th>"Object"</th><th>"Message"</th><th>"Count"</th><th>"Last seen"</th>
                    </tr></thead>
                    <tbody>
                        {move || {
                            let list = events.get();
                            if list.is_empty() {
                                return view! { <tr><td colspan="6" class="muted">"No events recorded in the namespace (a cluster keeps them for about an hour)."</td></tr> }.into_any();
                            }
                            list.into_iter().map(|e| {
                                let warning = e.is_warning();
                                view! {
                                    <tr class:trouble=warning data-reason=e.reason.clone()>
                                        <td><span class=format!("badge {}", if warning { "failed" } else { "ok" })>{e.kind.clone()}</span></td>
                                        <td>{e.reason.clone()}</td>
                                        <td><code>{e.object.clone()}</code></td>
                                        <td>{e.message.clone()}</td>
                                        <td>{e.count}</td>
                                        <td class="seen">{seen_at(e.last_seen.as_deref())}</td>
                                    </tr>
                                }
                            }).collect_view().into_any()
                        }}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{seen_at, uptime};

    #[test]
    fn an_events_time_reads_as_utc() {
        assert_eq!(
            seen_at(Some("2026-12-06T04:00:01.5+00:00")),
            "2026-12-06 04:00:01 UTC"
        );
        assert_eq!(seen_at(None), "—");
    }

    #[test]
    fn uptime_counts_seconds_for_the_first_hour() {
        assert_eq!(uptime(None), "—");
        assert_eq!(uptime(Some(42)), "42 s");
        assert_eq!(uptime(Some(125)), "2 min 5 s");
        assert_eq!(uptime(Some(3_720)), "1 h 2 min");
        assert_eq!(uptime(Some(90_000)), "1 d 1 h");
    }
}
