//! The first page after sign-in: the console's own health and who has been
//! signing in.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::overview::{get_overview, Overview};
use crate::components::field::LoadError;
use crate::components::services::ServicesBoard;

fn uptime_text(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let data = crate::codec::page_data(|| (), |_| get_overview());
    view! {
        <Title text="Dashboard" />
        <h1>"Dashboard"</h1>
        <ServicesBoard />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(o) => view! { <OverviewCards o /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn OverviewCards(o: Overview) -> impl IntoView {
    let db_state = if o.database_healthy { "ok" } else { "degraded" };
    view! {
        <section class="cards">
            <article class="card stat">
                <h2>"Console"</h2>
                <dl>
                    <dt>"Version"</dt><dd data-testid="version">{o.version}</dd>
                    <dt>"Up for"</dt><dd>{uptime_text(o.uptime_secs)}</dd>
                    <dt>"Transport"</dt>
                    <dd>{if o.https { "HTTPS" } else { "HTTP (loopback only)" }}</dd>
                </dl>
            </article>
            <article class="card stat">
                <h2>"Database"</h2>
                <dl>
                    <dt>"State"</dt>
                    <dd><span class=format!("badge {db_state}")>{db_state}</span></dd>
                    <dt>"File"</dt><dd><code>{o.database}</code></dd>
                </dl>
            </article>
        </section>
        <section class="card">
            <h2>"Recent activity"</h2>
            <div class="table-wrap">
                <table class="activity">
                    <thead>
                        <tr><th>"When (UTC)"</th><th>"Who"</th><th>"Action"</th><th>"Outcome"</th><th>"From"</th></tr>
                    </thead>
                    <tbody>
                        {o.activity
                            .into_iter()
                            .map(|a| {
                                let outcome_class = format!("badge {}", a.outcome);
                                view! {
                                    <tr>
                                        <td><time datetime=a.at.clone()>{a.at.replace('T', " ").trim_end_matches('Z').to_owned()}</time></td>
                                        <td>{a.actor}</td>
                                        <td>{a.action}</td>
                                        <td>
                                            <span class=outcome_class>{a.outcome}</span>
                                            {(a.repeats > 1).then(|| format!(" ×{}", a.repeats))}
                                        </td>
                                        <td>{a.ip}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::uptime_text;

    #[test]
    fn uptime_reads_naturally() {
        assert_eq!(uptime_text(5), "5 s");
        assert_eq!(uptime_text(125), "2 min");
        assert_eq!(uptime_text(3_720), "1 h 2 min");
        assert_eq!(uptime_text(90_000), "1 d 1 h");
    }
}
