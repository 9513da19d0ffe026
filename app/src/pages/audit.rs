//! Audit: every security-relevant and operational action with who, from
//! where, when and how it ended; filtered by action and actor (a plain GET
//! form, so it works without JavaScript); exported as CSV; and whether the
//! log's hash chain holds.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::audit::{get_audit, AuditView};
use crate::components::field::LoadError;

/// The CSV export (a server route).
pub const CSV_URL: &str = "/audit.csv";

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| {
            (
                q.get("action").unwrap_or_default(),
                q.get("actor").unwrap_or_default(),
            )
        })
    };
    let data = crate::codec::page_data(filter, |(action, actor)| get_audit(action, actor));
    view! {
        <Title text="Audit" />
        <h1>"Audit"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(view) => view! { <AuditLog view /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn AuditLog(view: AuditView) -> impl IntoView {
    let chain_class = if view.intact {
        "notice ok"
    } else {
        "notice problem"
    };
    let query = filter_query(&view.action, &view.actor);
    let csv = format!("{CSV_URL}{query}");
    let shown = view.entries.len();
    view! {
        <div class=chain_class role="status" data-testid="audit-chain">{view.chain.clone()}</div>
        <form class="log-controls" method="get" action="/audit">
            <label for="action">"Action"</label>
            <select id="action" name="action">
                <option value="" selected=view.action.is_empty()>"All actions"</option>
                {view.actions.iter().map(|a| view! {
                    <option value=a.clone() selected=*a == view.action>{a.clone()}</option>
                }).collect_view()}
            </select>
            <label for="actor">"Who"</label>
            <input id="actor" name="actor" type="search" placeholder="username" value=view.actor.clone() />
            <button type="submit">"Show"</button>
            <a class="button secondary" href=csv rel="external" download="">"Export CSV"</a>
        </form>
        <div class="card">
            <div class="table-wrap">
                <table class="activity" data-testid="audit-entries">
                    <thead>
                        <tr><th>"#"</th><th>"When (UTC)"</th><th>"Who"</th><th>"From"</th><th>"Action"</th><th>"Outcome"</th><th>"Detail"</th></tr>
                    </thead>
                    <tbody>
                        {view.entries.into_iter().map(|e| {
                            let badge = format!("badge {}", e.outcome);
                            view! {
                                <tr>
                                    <td>{e.id}</td>
                                    <td><time datetime=e.at.clone()>{e.at.replace('T', " ").trim_end_matches('Z').to_owned()}</time></td>
                                    <td>{e.actor}</td>
                                    <td>{e.ip}</td>
                                    <td>{e.action}</td>
                                    <td>
                                        <span class=badge>{e.outcome}</span>
                                        {(e.repeats > 1).then(|| format!(" ×{}", e.repeats))}
                                    </td>
                                    <td>{e.detail}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {(shown == 0).then(|| view! { <p class="muted">"No entries match."</p> })}
            {(shown as i64 >= AuditView::LIMIT).then(|| view! {
                <p class="muted">{format!("The newest {} entries; the CSV export has them all.", AuditView::LIMIT)}</p>
            })}
        </div>
    }
}

/// `?action=…&actor=…` for the filter in use (empty: nothing).
fn filter_query(action: &str, actor: &str) -> String {
    let parts: Vec<String> = [("action", action), ("actor", actor)]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", wire::url_component(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_export_keeps_the_filter() {
        assert_eq!(super::filter_query("", ""), "");
        assert_eq!(
            super::filter_query("login", "a b&c"),
            "?action=login&actor=a%20b%26c"
        );
    }
}
