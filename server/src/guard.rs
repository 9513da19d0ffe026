//! The two gates every request passes: a CSRF check on anything that is not
//! a read, and the sign-in requirement on everything but a short public list.
//! Both sit in front of the whole router, so a new route is protected by
//! default.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use app::api::{signed_in_user, PUBLIC_SERVER_FNS};
use app::state::AppState;

/// Refuses a state-changing request unless the browser says it came from
/// this origin (`Sec-Fetch-Site: same-origin`), or, from a client that does
/// not send that header, its `Origin` is exactly ours.
pub async fn csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let allowed = match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin",
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()));
            let scheme = if state.https { "https" } else { "http" };
            match (
                headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
                host,
            ) {
                (Some(origin), Some(host)) => origin == format!("{scheme}://{host}"),
                _ => false,
            }
        }
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            "Cross-site request refused: this form must be sent from Burrow's own pages.",
        )
            .into_response()
    }
}

/// Serves only requests for the console's own names (DNS rebinding: a page
/// on a name that now points here carries that name in `Host`); others get
/// 421 with a sentence, before anything else runs.
pub async fn known_host(
    State(hosts): State<engine::console_hosts::ConsoleHosts>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    if hosts.permits(host) {
        return next.run(req).await;
    }
    let shown: String = host.chars().filter(|c| !c.is_control()).take(100).collect();
    tracing::warn!(host = %shown, "request for a name this console does not answer to");
    (
        axum::http::StatusCode::MISDIRECTED_REQUEST,
        format!(
            "Burrow does not answer to the name {shown:?}. If you reach it through this name \
             on purpose, add it to BURROW_HOSTNAMES."
        ),
    )
        .into_response()
}

/// Routes open without a session: the health checks a supervisor polls.
pub const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz"];

fn is_public_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg" || path == "/favicon.ico"
}

/// Lets through only signed-in requests, except the public list; sends a
/// page request to the sign-in (or, before the first admin, setup) page and
/// answers a server-function call with 401.
pub async fn require_session(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if is_public_asset(path) || PUBLIC_PATHS.contains(&path) {
        return next.run(req).await;
    }
    let setup_open = state.setup_open();
    if path == "/setup" || path == "/api/setup" {
        return if setup_open {
            next.run(req).await
        } else {
            not_found()
        };
    }
    let user = signed_in_user(&session).await;
    let is_server_fn = path.starts_with("/api/");
    if path == "/login" && req.method() == Method::GET {
        if setup_open {
            return Redirect::to("/setup").into_response();
        }
        if user.is_some() {
            return Redirect::to("/").into_response();
        }
    }
    if PUBLIC_SERVER_FNS.contains(&path)
        || path == "/login"
        || path == "/login/code"
        || user.is_some()
    {
        return next.run(req).await;
    }
    if is_server_fn {
        let mut res = (StatusCode::UNAUTHORIZED, "\"Unauthorized\"").into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("valid header"),
        );
        res
    } else if setup_open {
        Redirect::to("/setup").into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

fn not_found() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · Burrow</title>\
             <link rel=\"stylesheet\" href=\"/pkg/burrow.css\"></head><body><main class=\"auth-page\">\
             <section class=\"card auth-card\"><h1>Setup is complete</h1>\
             <p class=\"lede\">An administrator already exists. <a href=\"/login\">Sign in</a>.</p>\
             </section></main></body></html>",
        ))
        .expect("static response")
}
