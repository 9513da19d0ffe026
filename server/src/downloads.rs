//! File downloads behind the sign-in gate: Burrow's CA certificate (each
//! download is in the audit log) and the audit log as CSV.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

use app::error::AppError;
use app::state::AppState;
use engine::audit::Outcome;

/// The signed-in user's name (the guard let the request in).
async fn who(state: &AppState, session: &Session) -> String {
    let Some(id) = app::api::signed_in_user(session).await else {
        return "unknown".to_owned();
    };
    match state.store.user_by_id(id).await {
        Ok(Some(user)) => user.username,
        _ => "unknown".to_owned(),
    }
}

/// Writes a download to the audit log; a failure to write is logged, the
/// download goes on.
async fn audit_download(state: &AppState, session: &Session, peer: SocketAddr, what: &str) {
    let actor = who(state, session).await;
    let ip = peer.ip().to_string();
    if let Err(e) = state
        .store
        .record(&actor, Some(&ip), "download", Outcome::Success, Some(what))
        .await
    {
        tracing::warn!(error = %e, "could not record a download");
    }
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub actor: String,
}

/// The audit log (filtered like the page) as CSV, every matching entry.
pub async fn audit_csv(
    State(state): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let filter = engine::audit::AuditFilter {
        action: Some(q.action),
        actor: Some(q.actor),
    };
    match state.store.audit_entries(&filter, i64::MAX).await {
        Ok(entries) => {
            audit_download(&state, &session, peer, "audit log (CSV)").await;
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"burrow-audit.csv\"",
                    ),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                engine::audit::to_csv(&entries),
            )
                .into_response()
        }
        Err(e) => AppError::from(e).into_response(),
    }
}

fn attachment(content_type: &'static str, name: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                if name.ends_with(".pem") {
                    "attachment; filename=\"burrow-ca.pem\""
                } else {
                    "attachment; filename=\"burrow-ca.crt\""
                },
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub async fn ca_pem(
    State(state): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    audit_download(&state, &session, peer, "Burrow CA (PEM)").await;
    match state.store.burrow_ca(&state.vault).await {
        Ok(ca) => attachment(
            "application/x-pem-file",
            "burrow-ca.pem",
            ca.ca_pem().as_bytes().to_vec(),
        ),
        Err(e) => AppError::from(e).into_response(),
    }
}

pub async fn ca_der(
    State(state): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    audit_download(&state, &session, peer, "Burrow CA (DER)").await;
    match state.store.burrow_ca(&state.vault).await {
        Ok(ca) => attachment(
            "application/pkix-cert",
            "burrow-ca.crt",
            ca.ca_der().to_vec(),
        ),
        Err(e) => AppError::from(e).into_response(),
    }
}
