//! `/healthz` (the process answers) and `/readyz` (and its database does).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use app::state::{AppState, VERSION};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_secs: u64,
    db_healthy: bool,
}

async fn report(state: &AppState) -> Health {
    let db_healthy = state.store.is_healthy().await;
    Health {
        status: if db_healthy { "ok" } else { "degraded" },
        version: VERSION,
        uptime_secs: state.started.elapsed().as_secs(),
        db_healthy,
    }
}

pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    Json(report(&state).await)
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let health = report(&state).await;
    let code = if health.db_healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health))
}
