//! History: every config revision, newest first, with what changed, which
//! one runs and the deployments made from each; two revisions compared file
//! by file; "Deploy this revision" on any of them (its progress shows on the
//! Deploy page). Plain forms, so it works without JavaScript too.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::deploy::StartDeploy;
use crate::api::history::{get_history, get_revision_diff, History, RevisionDiff};
use crate::components::field::FormError;
use crate::pages::deploy::when;

#[component]
pub fn HistoryPage() -> impl IntoView {
    let query = use_query_map();
    let pair = move || {
        query.with(|q| {
            let n = |k: &str| q.get(k).and_then(|v| v.trim().parse::<i64>().ok());
            n("from").zip(n("to"))
        })
    };
    let deploy = ServerAction::<StartDeploy>::new();
    let data = crate::codec::page_data(move || deploy.version().get(), |_| get_history());
    let diff = crate::codec::page_data(pair, |pair| async move {
        match pair {
            Some((from, to)) => Some(get_revision_diff(from, to).await),
            None => None,
        }
    });
    view! {
        <Title text="History" />
        <h1>"History"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(history) => view! { <HistoryView history pair=pair() deploy /> }.into_any(),
                        Err(e) => view! { <div class="form-error" role="alert">{e.to_string()}</div> }.into_any(),
                    })
            }}
            {move || diff.get().flatten().map(|result| match result {
                Ok(d) => view! { <DiffView diff=d /> }.into_any(),
                Err(e) => view! { <div class="form-error" role="alert" data-testid="diff-error">{e.to_string()}</div> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn HistoryView(
    history: History,
    pair: Option<(i64, i64)>,
    deploy: ServerAction<StartDeploy>,
) -> impl IntoView {
    if history.entries.is_empty() {
        return view! {
            <section class="card">
                <p data-testid="no-revisions">"No configuration has been saved yet. "<a href="/wizard" rel="external">"Start the setup"</a>"."</p>
            </section>
        }
        .into_any();
    }
    let ids: Vec<i64> = history.entries.iter().map(|e| e.id).collect();
    let (from, to) = pair.unwrap_or((ids.get(1).copied().unwrap_or(ids[0]), ids[0]));
    let running = history.running;
    let error = move || {
        deploy
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    let options = move |selected: i64| {
        ids.iter()
            .map(|id| view! { <option value=id.to_string() selected=*id == selected>{format!("revision {id}")}</option> })
            .collect_view()
    };
    view! {
        <section class="card">
            <h2>"Compare two revisions"</h2>
            <form method="get" action="/history" class="inline-form">
                <label for="from">"From"</label>
                <select id="from" name="from" data-testid="diff-from">{options(from)}</select>
                <label for="to">"to"</label>
                <select id="to" name="to" data-testid="diff-to">{options(to)}</select>
                <button type="submit" data-testid="compare">"Compare"</button>
            </form>
            <p class="hint">"The files each revision renders (Revolt.toml, Caddyfile, livekit.yml, compose.yml, Kubernetes objects), secrets masked."</p>
        </section>
        <section class="card">
            <h2>"Revisions"</h2>
            <FormError message=Signal::derive(error) />
            {running.map(|id| view! {
                <p class="muted">"Deployment "<a href=format!("/deploy?d={id}")>{id}</a>" is running; wait for it to finish before deploying another revision."</p>
            })}
            <div class="table-wrap">
                <table class="history" data-testid="revisions">
                    <thead><tr>
                        <th>"Revision"</th><th>"Saved"</th><th>"What changed"</th><th>"Target"</th><th>"Deployments"</th><th></th>
                    </tr></thead>
                    <tbody>
                        {history.entries.into_iter().map(|e| {
                            let id = e.id;
                            let blocked = e.undeployable.clone();
                            let label = if e.deployed { "Deploy again" } else { "Deploy this revision" };
                            view! {
                                <tr data-revision=id.to_string() class:deployed=e.deployed>
                                    <td>
                                        <strong>{id}</strong>
                                        {e.deployed.then(|| view! { " "<span class="badge succeeded" data-testid="deployed-badge">"deployed"</span> })}
                                    </td>
                                    <td>{when(e.created_at)}<br /><span class="muted">{format!("by {}", e.author)}{e.note.map(|n| format!(" ({n})"))}</span></td>
                                    <td data-testid="changes">{e.changes}</td>
                                    <td>{e.target}</td>
                                    <td>
                                        {if e.deployments.is_empty() {
                                            view! { <span class="muted">"never deployed"</span> }.into_any()
                                        } else {
                                            view! {
                                                <ul class="plain">
                                                    {e.deployments.into_iter().take(5).map(|d| view! {
                                                        <li title=d.summary.clone().unwrap_or_default()>
                                                            <span class=format!("badge {}", d.status)>{d.status.as_str()}</span>
                                                            {format!(" #{} by {}, {}", d.id, d.actor, when(d.started_at))}
                                                        </li>
                                                    }).collect_view()}
                                                </ul>
                                            }.into_any()
                                        }}
                                    </td>
                                    <td>
                                        {match blocked {
                                            Some(why) => view! { <p class="field-error" data-testid="undeployable">{why}</p> }.into_any(),
                                            None => view! {
                                                <ActionForm action=deploy>
                                                    <input type="hidden" name="revision" value=id.to_string() />
                                                    <button type="submit" data-testid=format!("deploy-{id}")
                                                        disabled=move || running.is_some() || deploy.pending().get()>{label}</button>
                                                </ActionForm>
                                            }.into_any(),
                                        }}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn DiffView(diff: RevisionDiff) -> impl IntoView {
    view! {
        <section class="card" data-testid="revision-diff">
            <h2>{format!("Revision {} → revision {}", diff.from, diff.to)}</h2>
            {diff.note.map(|n| view! { <p class="muted">{n}</p> })}
            {diff.files.is_empty().then(|| view! { <p data-testid="diff-same">"Both render the same files."</p> })}
            {diff.files.into_iter().map(|f| view! {
                <details open=true>
                    <summary><code>{f.name.clone()}</code>{format!(" +{} −{}", f.added, f.removed)}</summary>
                    <pre class="diff" data-file=f.name.clone()>
                        {f.lines.into_iter().map(|l| view! {
                            <div class=match l.sign { '+' => "add", '-' => "del", '…' => "gap", _ => "same" }>
                                {if l.sign == '…' { "⋯".to_owned() } else { format!("{} {}", l.sign, l.text) }}
                            </div>
                        }).collect_view()}
                    </pre>
                </details>
            }).collect_view()}
            {(!diff.unchanged.is_empty()).then(|| view! {
                <p class="muted">{format!("Unchanged: {}", diff.unchanged.join(", "))}</p>
            })}
        </section>
    }
}
