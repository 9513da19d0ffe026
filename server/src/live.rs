//! Live views over Server-Sent Events, behind the sign-in gate: deployment
//! progress (replayed from the store, so a reload sees it all), service
//! status, and logs. Plus the log download.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use app::error::AppError;
use app::state::AppState;
use stack::model::StackConfig;

fn sse(rx: mpsc::Receiver<Result<Event, Infallible>>) -> impl IntoResponse {
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event(name)
        .data(serde_json::to_string(value).unwrap_or_default()))
}

/// Progress of deployment `id`: every stored event (after `Last-Event-ID`
/// when the browser reconnects), then new ones as they are stored, then a
/// `done` event with the outcome.
#[derive(Debug, Deserialize)]
pub struct After {
    /// Events already shown (the page rendered them).
    pub after: Option<i64>,
}

pub async fn deployment(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<After>,
    headers: HeaderMap,
) -> Response {
    let after: i64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(q.after)
        .unwrap_or(0);
    match state.store.deployment(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return AppError::NotFound("No such deployment.".to_owned()).into_response(),
        Err(e) => return AppError::from(e).into_response(),
    }
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut last = after;
        loop {
            let rows = match state.store.events_since(id, last).await {
                Ok(e) => e,
                Err(_) => break,
            };
            let newest = rows.last().map(|r| r.id);
            for (event_id, e) in rows.iter().filter_map(|r| Some((r.id, r.progress()?))) {
                let event = Event::default()
                    .event("progress")
                    .id(event_id.to_string())
                    .data(serde_json::to_string(&e).unwrap_or_default());
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if let Some(newest) = newest {
                last = newest;
            } else {
                match state.store.deployment(id).await {
                    Ok(Some(d)) if d.finished_at.is_some() => {
                        let _ = tx.send(json_event("done", &d.done())).await;
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    sse(rx).into_response()
}

/// Rollout `id` as the Updates page shows it: `rollout` at once and
/// whenever its journal row or step log changes (its state, the step log,
/// the pull progress line), then `done` with the last of it when it ends.
/// Read from the journal, so every browser sees the same, reloaded or not.
pub async fn update(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    let mut reader = engine::update::watch::RolloutReader::new(id);
    let first = match reader.read(&state.store).await {
        Ok(Some(r)) => r,
        Ok(None) => return AppError::NotFound("No such update.".to_owned()).into_response(),
        Err(e) => return AppError::from(e).into_response(),
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut sent: Option<wire::updates::RolloutView> = None;
        let mut now = Some(first);
        loop {
            let Some(view) = now.take() else { return };
            let ended = view.finished_at.is_some();
            if sent.as_ref() != Some(&view) {
                if tx.send(json_event("rollout", &view)).await.is_err() {
                    return;
                }
                sent = Some(view.clone());
            }
            if ended {
                let _ = tx.send(json_event("done", &view)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            if tx.is_closed() {
                return;
            }
            now = match reader.read(&state.store).await {
                Ok(r) => r,
                Err(_) => return,
            };
        }
    });
    sse(rx).into_response()
}

/// `/wizard`: where the operator left off.
pub async fn wizard_resume(State(state): State<AppState>) -> Response {
    let step = match state.store.wizard_draft(&state.vault).await {
        Ok(d) => d.resume_step(),
        Err(_) => engine::wizard::Step::Domain,
    };
    axum::response::Redirect::to(&format!("/wizard/{step}")).into_response()
}

/// What runs: the revision last deployed (or the newest), and its own
/// target from the factory.
async fn current(
    state: &AppState,
) -> Result<(i64, StackConfig, std::sync::Arc<dyn engine::deploy::Target>), Response> {
    match state.deployer.running().await {
        Ok(Some((rev, Ok(target)))) => Ok((rev.meta.id, rev.config, target)),
        Ok(Some((_, Err(e)))) => Err(AppError::from(e).into_response()),
        Ok(None) => {
            Err(AppError::NotFound("Nothing is configured yet.".to_owned()).into_response())
        }
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

/// Service snapshots (`status`, whenever something changes) and the chat
/// probes through Caddy (`app`, every few seconds), from the one watch every
/// open dashboard shares (`engine::dashboard`): the latest values at once,
/// then each change.
pub async fn status(State(state): State<AppState>) -> Response {
    let (revision, config, target) = match current(&state).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let ca = state.store.probe_ca_pem(&state.vault, &config).await;
    let feed = state.dashboard.subscribe(revision, &config, ca, target);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut status = feed.status.clone();
        let mut probes = feed.probes.clone();
        let mut events = feed.events.clone();
        let mut events_open = true;
        status.mark_changed();
        probes.mark_changed();
        events.mark_changed();
        loop {
            let event = tokio::select! {
                changed = status.changed() => {
                    if changed.is_err() { return; }
                    match status.borrow_and_update().clone() {
                        Some(Ok(services)) => json_event("status", &services),
                        Some(Err(problem)) => json_event("problem", &problem),
                        None => continue,
                    }
                }
                changed = probes.changed() => {
                    if changed.is_err() { return; }
                    match probes.borrow_and_update().clone() {
                        Some(results) => json_event("app", &results),
                        None => continue,
                    }
                }
                // A target that records no events (Docker) closes this
                // channel at once: the others go on.
                changed = events.changed(), if events_open => {
                    if changed.is_err() {
                        events_open = false;
                        continue;
                    }
                    match events.borrow_and_update().clone() {
                        Some(Ok(list)) => json_event("events", &list),
                        Some(Err(problem)) => json_event("events-problem", &problem),
                        None => continue,
                    }
                }
                // The page closed: let go of the shared watch.
                () = tx.closed() => return,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    sse(rx).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// One service, or all when absent or empty.
    pub service: Option<String>,
    pub tail: Option<usize>,
}

/// The one service asked for (`Ok(None)`: all of them). Only a service the
/// running revision has is taken: the name goes into a container name and a
/// download's file name, so anything else is refused with 404.
fn service_of(q: &LogQuery, config: &StackConfig) -> Result<Option<String>, AppError> {
    let Some(asked) = q
        .service
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "all")
    else {
        return Ok(None);
    };
    match stack::model::Service::from_name(asked) {
        Some(service) if config.services().contains(&service) => {
            Ok(Some(service.name().to_owned()))
        }
        _ => Err(AppError::NotFound(
            "This stack has no such service; pick one from the list.".to_owned(),
        )),
    }
}

/// Lines that arrive together go out as one `lines` event (a JSON array):
/// a busy log costs one event per batch, not per line, and a quiet one
/// still gets each line at once.
const LOG_BATCH: usize = 500;

/// The last lines, then every new one (`lines` events).
pub async fn logs(State(state): State<AppState>, Query(q): Query<LogQuery>) -> Response {
    let (_, config, target) = match current(&state).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let service = match service_of(&q, &config) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let (tx, rx) = mpsc::channel(256);
    let tail = q.tail.unwrap_or(200).min(5000);
    tokio::spawn(async move {
        let mut stream = target
            .logs(config.name.as_str(), service.as_deref(), tail, true)
            .ready_chunks(LOG_BATCH);
        while let Some(batch) = stream.next().await {
            let mut lines = Vec::with_capacity(batch.len());
            let mut problem = None;
            for item in batch {
                match item {
                    Ok(line) => lines.push(line),
                    Err(e) => problem = Some(e.to_string()),
                }
            }
            if !lines.is_empty() && tx.send(json_event("lines", &lines)).await.is_err() {
                return;
            }
            if let Some(p) = problem {
                if tx.send(json_event("problem", &p)).await.is_err() {
                    return;
                }
            }
        }
    });
    sse(rx).into_response()
}

/// The last lines as a text file.
pub async fn download_logs(State(state): State<AppState>, Query(q): Query<LogQuery>) -> Response {
    let (_, config, target) = match current(&state).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let service = match service_of(&q, &config) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let tail = q.tail.unwrap_or(5000).min(100_000);
    let lines: Vec<String> = target
        .logs(config.name.as_str(), service.as_deref(), tail, false)
        .filter_map(|l| async move { l.ok() })
        .map(|l| {
            format!(
                "{} {} | {}",
                l.timestamp.unwrap_or_default(),
                l.service,
                l.text
            )
        })
        .collect()
        .await;
    let name = format!(
        "attachment; filename=\"{}-{}.log\"",
        config.name.as_str(),
        service.as_deref().unwrap_or("all")
    );
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        lines.join("\n") + "\n",
    )
        .into_response()
}
