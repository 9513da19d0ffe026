//! Deploy: the configuration that would run, a Deploy button, and the live
//! progress of the newest deployment (stored, so a reload shows it too).

use leptos::prelude::*;
use leptos_meta::Title;
use wire::{ChangeAction, DeploymentDone, DeploymentStatus, ProgressEvent};

use crate::api::deploy::{
    get_deploy_page, DeployPage, DeploymentInfo, RevisionInfo, SaveStackToml, StartDeploy,
};
use crate::components::field::FormError;
use crate::components::live::{subscribe, NoScriptReload};

/// One service's line in the progress view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub service: String,
    pub state: String,
    pub detail: String,
}

/// Folds progress events into one line per service, plus the messages of
/// failures that belong to no service.
pub fn fold(events: &[(i64, ProgressEvent)]) -> (Vec<Step>, Vec<String>) {
    let mut steps: Vec<Step> = Vec::new();
    let mut general = Vec::new();
    fn set(steps: &mut Vec<Step>, service: &str, state: &str, detail: String) {
        match steps.iter_mut().find(|s| s.service == service) {
            Some(s) => {
                s.state = state.to_owned();
                s.detail = detail;
            }
            None => steps.push(Step {
                service: service.to_owned(),
                state: state.to_owned(),
                detail,
            }),
        }
    }
    // Image -> the service whose line shows its pull.
    let mut pulls: Vec<(&str, &str)> = Vec::new();
    let puller = |pulls: &Vec<(&str, &str)>, image: &str| {
        pulls
            .iter()
            .find(|(i, _)| *i == image)
            .map(|(_, s)| s.to_string())
    };
    for (_, e) in events {
        match e {
            ProgressEvent::Planned { changes } => {
                for c in changes {
                    let (state, detail) = match c.action {
                        ChangeAction::Unchanged => ("done", "unchanged"),
                        ChangeAction::Recreate => {
                            ("pending", "will be recreated: its configuration changed")
                        }
                        ChangeAction::Remove => ("pending", "will be removed"),
                        ChangeAction::Start => ("pending", "will be started"),
                        ChangeAction::Create => ("pending", "will be created"),
                    };
                    set(&mut steps, &c.service, state, detail.to_owned());
                }
            }
            ProgressEvent::PullStarted { service, image } => {
                pulls.push((image, service));
                set(&mut steps, service, "working", format!("pulling {image}"));
            }
            ProgressEvent::PullProgress { image, tally, .. } => {
                if let Some(s) = puller(&pulls, image) {
                    set(
                        &mut steps,
                        &s,
                        "working",
                        format!("pulling {image}: {tally}"),
                    );
                }
            }
            ProgressEvent::PullDone { image } => {
                if let Some(s) = puller(&pulls, image) {
                    set(&mut steps, &s, "working", format!("pulled {image}"));
                }
            }
            ProgressEvent::Creating { service } => {
                set(&mut steps, service, "working", "creating".into())
            }
            ProgressEvent::Started { service } => {
                set(&mut steps, service, "working", "started".into())
            }
            ProgressEvent::WaitingHealthy { service } => set(
                &mut steps,
                service,
                "working",
                "waiting until healthy".into(),
            ),
            ProgressEvent::Healthy { service, after_ms } => set(
                &mut steps,
                service,
                "done",
                format!("healthy after {} s", wire::tenths(*after_ms, 1000)),
            ),
            ProgressEvent::Completed { service } => {
                set(&mut steps, service, "done", "completed".into())
            }
            ProgressEvent::Unchanged { service } => {
                set(&mut steps, service, "done", "unchanged".into())
            }
            ProgressEvent::Removed { service } => {
                set(&mut steps, service, "done", "removed".into())
            }
            ProgressEvent::VolumesRemoved { volumes } => set(
                &mut steps,
                "volumes",
                "done",
                format!("deleted {}", volumes.join(", ")),
            ),
            ProgressEvent::Failed {
                service, message, ..
            } => match service {
                Some(s) => set(&mut steps, s, "failed", message.clone()),
                None => general.push(message.clone()),
            },
            ProgressEvent::Finished { .. } => {}
        }
    }
    (steps, general)
}

pub fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map(|t| format!("{} UTC", t.replace('T', " ").trim_end_matches('Z')))
        .unwrap_or_default()
}

#[component]
pub fn DeployPage() -> impl IntoView {
    let start = ServerAction::<StartDeploy>::new();
    let save = ServerAction::<SaveStackToml>::new();
    // Re-read after either action: the redirect may land on this same page.
    let data = crate::codec::page_data(
        move || (start.version().get(), save.version().get()),
        |_| get_deploy_page(),
    );
    view! {
        <Title text="Deploy" />
        <h1>"Deploy"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(page) => view! { <DeployView page start save /> }.into_any(),
                        Err(e) => view! { <div class="form-error" role="alert">{e.to_string()}</div> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn DeployView(
    page: DeployPage,
    start: ServerAction<StartDeploy>,
    save: ServerAction<SaveStackToml>,
) -> impl IntoView {
    let running = page
        .current
        .as_ref()
        .is_some_and(|d| d.status == DeploymentStatus::Running);
    let nothing = page.latest.is_none();
    let start_error = move || {
        start
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    view! {
        <section class="card">
            <h2>"Configuration"</h2>
            {match page.latest.clone() {
                Some(rev) => view! { <RevisionCard rev deployed=page.deployed_revision /> }.into_any(),
                None => match page.latest_problem.clone() {
                    Some(why) => view! {
                        <div class="notice warning" role="status" data-testid="latest-problem">
                            {format!("The newest revision cannot be deployed: {why}. Paste a corrected stack.toml below to save a new revision; History lists every earlier one.")}
                        </div>
                    }.into_any(),
                    None => view! {
                        <p data-testid="no-config">"Nothing is configured yet. Paste a stack.toml below (the setup wizard writes one for you)."</p>
                    }.into_any(),
                },
            }}
            <ActionForm action=start>
                <FormError message=Signal::derive(start_error) />
                <div class="check">
                    <input type="checkbox" id="prune_volumes" name="prune_volumes" value="true" data-testid="prune-volumes" />
                    <label for="prune_volumes">"Also delete the data of services that are turned off"</label>
                    <p class="hint">"Their volumes are kept otherwise, so turning a service back on finds its data. Deleted only once the stack is up; this cannot be undone."</p>
                </div>
                <button type="submit" class="primary" data-testid="deploy"
                    disabled=move || nothing || start.pending().get()>
                    {move || if start.pending().get() { "Starting…" } else if running { "Deploy (one is running)" } else { "Deploy" }}
                </button>
            </ActionForm>
        </section>
        {page.current.map(|d| view! { <Progress deployment=d /> }.into_any())}
        <StackTomlForm open=nothing save docker_url=page.docker_url.clone() />
        {(!page.history.is_empty()).then(|| view! { <History items=page.history /> }.into_any())}
    }
}

#[component]
fn RevisionCard(rev: RevisionInfo, deployed: Option<i64>) -> impl IntoView {
    let state = match deployed {
        Some(d) if d == rev.id => "deployed".to_owned(),
        Some(d) => format!("not deployed yet (revision {d} runs)"),
        None => "not deployed yet".to_owned(),
    };
    view! {
        <dl class="facts">
            <dt>"Revision"</dt><dd data-testid="revision">{rev.id}" — "{state}</dd>
            <dt>"Saved"</dt><dd>{when(rev.created_at)}" by "{rev.author}</dd>
            <dt>"Stack"</dt><dd><code>{rev.stack}</code></dd>
            <dt>"Domain"</dt><dd>{rev.domain}</dd>
        </dl>
        <details>
            <summary>{format!("{} services and their images", rev.services.len())}</summary>
            <ul class="plain">
                {rev.services.into_iter().map(|(s, i)| view! { <li><strong>{s}</strong>" "<code>{i}</code></li> }).collect_view()}
            </ul>
        </details>
    }
}

#[component]
fn Progress(deployment: DeploymentInfo) -> impl IntoView {
    let id = deployment.id;
    let events = RwSignal::new(deployment.events.clone());
    let status = RwSignal::new(deployment.status);
    let summary = RwSignal::new(deployment.summary.clone());
    let after = deployment.events.last().map(|(i, _)| *i).unwrap_or(0);
    let live = deployment.status == DeploymentStatus::Running;
    subscribe(
        move || live.then(|| format!("/live/deployments/{id}?after={after}")),
        &["progress", "done"],
        move |name, data| {
            if name == "done" {
                if let Ok(done) = crate::codec::decode::<DeploymentDone>(&data) {
                    status.set(done.status);
                    summary.set(done.summary);
                }
            } else if let Ok(event) = crate::codec::decode::<ProgressEvent>(&data) {
                events.update(|list| {
                    let next = list.last().map(|(i, _)| i + 1).unwrap_or(1);
                    list.push((next, event));
                });
            }
        },
    );
    let folded = Memo::new(move |_| fold(&events.get()));
    view! {
        <section class="card" data-testid="progress">
            <h2>
                {format!("Deployment {id} ({}) ", deployment.kind)}
                <span class=move || format!("badge {}", status.get()) data-testid="deploy-status">{move || status.get().as_str()}</span>
            </h2>
            <p class="muted">{format!("Started {} by {}", when(deployment.started_at), deployment.actor)}</p>
            {move || summary.get().map(|s| view! { <p data-testid="deploy-summary">{s}</p> })}
            {move || {
                let (_, general) = folded.get();
                general.into_iter().map(|m| view! { <div class="form-error" role="alert">{m}</div> }).collect_view()
            }}
            <div class="table-wrap">
                <table class="steps">
                    <thead><tr><th>"Service"</th><th>"State"</th><th>"Detail"</th></tr></thead>
                    <tbody>
                        <For each=move || folded.get().0 key=|s| (s.service.clone(), s.state.clone(), s.detail.clone()) let:step>
                            <tr class=format!("step {}", step.state) data-service=step.service.clone()>
                                <td>{step.service.clone()}</td>
                                <td><span class=format!("badge {}", step.state)>{step.state.clone()}</span></td>
                                <td><pre class="detail">{step.detail.clone()}</pre></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            // Without JavaScript there is no live stream: the page reloads
            // itself until the deployment ends.
            {live.then(|| view! { <NoScriptReload what="the deployment" /> })}
        </section>
    }
}

#[component]
fn StackTomlForm(
    open: bool,
    save: ServerAction<SaveStackToml>,
    docker_url: String,
) -> impl IntoView {
    let error = move || save.value().get().and_then(|r| r.err());
    view! {
        // Open while it shows a refusal: the page re-reads its data after
        // every save and would otherwise fold the message away.
        <details class="card" open=move || open || error().is_some()>
            <summary><h2 class="inline">"Use a stack.toml"</h2></summary>
            <p class="muted">"Paste a complete stack configuration; it becomes the next revision when every key is valid."</p>
            <ActionForm action=save attr:novalidate=true>
                <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
                <label for="stack_toml">"stack.toml"</label>
                <textarea id="stack_toml" name="stack_toml" rows="14" spellcheck="false" class="code"
                    aria-invalid=move || error().and_then(|e| e.for_field("stack_toml")).is_some().to_string()
                    aria-describedby="stack_toml-error"
                    prop:value=move || error().and_then(|e| e.kept("stack_toml")).unwrap_or_default()
                ></textarea>
                {move || error().and_then(|e| e.for_field("stack_toml")).map(|m| view! {
                    <pre class="field-error" id="stack_toml-error" role="alert">{m}</pre>
                })}
                <label for="docker_url">"Docker daemon address"</label>
                <input id="docker_url" name="docker_url" type="text" spellcheck="false" autocomplete="off"
                    placeholder="empty: the Docker daemon on this machine"
                    aria-invalid=move || error().and_then(|e| e.for_field("docker_url")).is_some().to_string()
                    aria-describedby="docker_url-hint docker_url-error"
                    prop:value=move || error().and_then(|e| e.kept("docker_url")).unwrap_or_else(|| docker_url.clone()) />
                <p class="hint" id="docker_url-hint">"Where this revision deploys: unix:///var/run/docker.sock, tcp://127.0.0.1:2375 (e.g. an SSH tunnel to another machine's socket), or empty for this machine. Used when the stack.toml says target = \"docker\". A daemon reached over TLS keeps the newest revision's certificates for the same address; set them on the wizard's Target step."</p>
                {move || error().and_then(|e| e.for_field("docker_url")).map(|m| view! {
                    <p class="field-error" id="docker_url-error" role="alert">{m}</p>
                })}
                <div class="check" class:has-error=move || error().and_then(|e| e.for_field("docker_plain_ok")).is_some()>
                    <input id="docker_plain_ok" name="docker_plain_ok" type="checkbox" value="true" />
                    <label for="docker_plain_ok">"Use a daemon on another machine over plain TCP anyway"</label>
                    {move || error().and_then(|e| e.for_field("docker_plain_ok")).map(|m| view! {
                        <p class="field-error" id="docker_plain_ok-error" role="alert">{m}</p>
                    })}
                </div>
                <button type="submit" disabled=move || save.pending().get()>"Save as new revision"</button>
            </ActionForm>
        </details>
    }
}

#[component]
fn History(items: Vec<DeploymentInfo>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Earlier deployments"</h2>
            <ul class="plain">
                {items.into_iter().map(|d| view! {
                    <li>
                        <span class=format!("badge {}", d.status)>{d.status.as_str()}</span>
                        {format!(" #{} {} by {} at {}: {}", d.id, d.kind, d.actor, when(d.started_at), d.summary.unwrap_or_default())}
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::fold;
    use wire::ProgressEvent;

    /// Events as the server sends them (their JSON shape, typed here).
    fn events(rows: &[serde_json::Value]) -> Vec<(i64, ProgressEvent)> {
        rows.iter()
            .enumerate()
            .map(|(i, v)| (i as i64 + 1, serde_json::from_value(v.clone()).unwrap()))
            .collect()
    }

    #[test]
    fn events_fold_into_one_line_per_service() {
        use serde_json::json;
        let (steps, general) = fold(&events(&[
            json!({"kind": "planned", "changes": [
                {"service": "database", "action": "create"},
                {"service": "web", "action": "unchanged"}]}),
            json!({"kind": "creating", "service": "database"}),
            json!({"kind": "healthy", "service": "database", "after_ms": 1500}),
            json!({"kind": "failed", "service": null, "message": "daemon gone"}),
        ]));
        assert_eq!(steps.len(), 2);
        let (pull, _) = fold(&events(&[
            json!({"kind": "pull_started", "service": "api", "image": "x/api:1"}),
            json!({"kind": "pull_progress", "image": "x/api:1", "status": "a: Downloading",
                "current": 5, "total": 10,
                "tally": {"layers": 3, "layers_done": 1, "bytes": 2_500_000, "bytes_total": 10_000_000}}),
        ]));
        assert_eq!(
            pull[0].detail,
            "pulling x/api:1: 1 of 3 layers, 2.5 of 10.0 MB"
        );
        assert_eq!(steps[0].state, "done");
        assert_eq!(steps[0].detail, "healthy after 1.5 s");
        assert_eq!(steps[1].detail, "unchanged");
        assert_eq!(general, vec!["daemon gone".to_owned()]);

        let (rows, _) = fold(&events(&[
            json!({"kind": "volumes_removed", "volumes": ["s_minio-data", "s_x"]}),
        ]));
        assert_eq!(
            (rows[0].service.as_str(), rows[0].detail.as_str()),
            ("volumes", "deleted s_minio-data, s_x")
        );
    }
}
