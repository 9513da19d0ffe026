//! File downloads behind the sign-in gate: Burrow's CA certificate.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use app::error::AppError;
use app::state::AppState;

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

pub async fn ca_pem(State(state): State<AppState>) -> Response {
    match state.store.burrow_ca(&state.vault).await {
        Ok(ca) => attachment(
            "application/x-pem-file",
            "burrow-ca.pem",
            ca.ca_pem().as_bytes().to_vec(),
        ),
        Err(e) => AppError::from(e).into_response(),
    }
}

pub async fn ca_der(State(state): State<AppState>) -> Response {
    match state.store.burrow_ca(&state.vault).await {
        Ok(ca) => attachment(
            "application/pkix-cert",
            "burrow-ca.crt",
            ca.ca_der().to_vec(),
        ),
        Err(e) => AppError::from(e).into_response(),
    }
}
