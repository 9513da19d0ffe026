//! Every page and server function is behind the sign-in, except the public
//! list; every non-GET must come from our own origin.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;

use crate::helpers::*;

const PUBLIC_PAGES: &[&str] = &["/login", "/login/code", "/setup"];

#[tokio::test]
async fn every_page_and_server_function_requires_a_session() {
    let app = spawn_app().await;
    let cookie = app.claim().await;

    // Enumerated from the app itself, so a new route is covered automatically.
    let pages: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|r| {
            r.path()
                .replace(":step", "domain")
                .replace("{step}", "domain")
        })
        .collect();
    assert!(pages.iter().any(|p| p == "/"), "{pages:?}");
    let mut checked = 0;
    for page in pages.iter().filter(|p| !PUBLIC_PAGES.contains(&p.as_str())) {
        assert_redirect(&app.get(page, None).await, "/login");
        assert_status(&app.get(page, Some(&cookie)).await, StatusCode::OK);
        checked += 1;
    }
    assert!(checked >= 1);
    // Routes registered by hand, beside the Leptos ones: the router's own
    // list, so a new one is covered automatically.
    let hand = burrow_server::startup::hand_routes();
    assert!(hand.iter().any(|r| r.path == "/live/status"));
    let mut gated = 0;
    for route in &hand {
        let path = route.path.replace("{id}", "1");
        let res = app.get(&path, None).await;
        if route.public {
            assert_status(&res, StatusCode::OK);
        } else {
            assert_redirect(&res, "/login");
            gated += 1;
        }
    }
    assert!(gated >= 7, "{gated}");
    for path in [
        "/live/logs?service=api",
        "/logs/download?service=api",
        "/history?from=1&to=2",
    ] {
        assert_redirect(&app.get(path, None).await, "/login");
    }
    assert!(pages.iter().any(|p| p == "/history"), "{pages:?}");
    // Unknown addresses are not a way around the gate either.
    assert_redirect(&app.get("/no/such/page", None).await, "/login");

    let fns: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p)
        .collect();
    for expected in [
        "/api/login",
        "/api/setup",
        "/api/logout",
        "/api/whoami",
        "/api/overview",
        "/api/history",
        "/api/history/diff",
        "/api/deploy/start",
    ] {
        assert!(
            fns.contains(&expected),
            "{expected} not registered: {fns:?}"
        );
    }
    for path in fns
        .iter()
        .filter(|p| !app::api::PUBLIC_SERVER_FNS.contains(p))
    {
        let res = app.call(path, &[], None).await;
        assert_status(&res, StatusCode::UNAUTHORIZED);
        assert_eq!(json(res).await, serde_json::json!("Unauthorized"));
    }
    // A tampered or made-up cookie is simply not a session.
    let forged = Cookie("burrow_session=AAAAAAAAAAAAAAAAAAAAAA".into());
    assert_status(
        &app.call("/api/whoami", &[], Some(&forged)).await,
        StatusCode::UNAUTHORIZED,
    );
    let garbage = Cookie("burrow_session=%00%ff<script>".into());
    assert_redirect(&app.get("/", Some(&garbage)).await, "/login");

    // Health and static assets stay public.
    assert_status(&app.get("/healthz", None).await, StatusCode::OK);
    assert_status(&app.get("/readyz", None).await, StatusCode::OK);
    let css = app.get("/pkg/burrow.css", None).await;
    assert!(
        !css.status().is_redirection(),
        "assets are not behind the sign-in"
    );
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app().await;
    let cookie = app.claim().await;

    let mut cross_site = HeaderMap::new();
    cross_site.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    let res = app
        .post("/api/logout", &[], Some(&cookie), cross_site)
        .await;
    assert_status(&res, StatusCode::FORBIDDEN);

    let mut same_site = HeaderMap::new();
    same_site.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
    assert_status(
        &app.post("/api/logout", &[], Some(&cookie), same_site).await,
        StatusCode::FORBIDDEN,
    );

    let mut foreign_origin = HeaderMap::new();
    foreign_origin.insert("origin", HeaderValue::from_static("http://evil.example"));
    assert_status(
        &app.post("/api/logout", &[], Some(&cookie), foreign_origin)
            .await,
        StatusCode::FORBIDDEN,
    );

    // Neither header: refused (no browser would send that).
    assert_status(
        &app.post("/api/logout", &[], Some(&cookie), HeaderMap::new())
            .await,
        StatusCode::FORBIDDEN,
    );
    // The sign-in form is protected too.
    let mut cross_site = HeaderMap::new();
    cross_site.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    assert_status(
        &app.post(
            "/api/login",
            &[("username", ADMIN), ("password", PASSWORD)],
            None,
            cross_site,
        )
        .await,
        StatusCode::FORBIDDEN,
    );

    // Still signed in: none of the refused requests did anything.
    assert_status(
        &app.call("/api/whoami", &[], Some(&cookie)).await,
        StatusCode::OK,
    );

    // An exact Origin match is accepted where Sec-Fetch-Site is absent.
    let mut own_origin = HeaderMap::new();
    own_origin.insert(
        "origin",
        HeaderValue::from_str(&format!("http://{}", app.addr)).unwrap(),
    );
    own_origin.insert("accept", HeaderValue::from_static("application/json"));
    let res = app
        .post("/api/whoami", &[], Some(&cookie), own_origin)
        .await;
    assert_status(&res, StatusCode::OK);
}

/// DNS rebinding: a page on a name that now points at this machine makes the
/// browser send that name as `Host`. Only the console's own names are
/// served; the refusal comes before the sign-in, health checks included.
#[tokio::test]
async fn requests_for_foreign_names_are_refused() {
    let app = spawn_app_with(|s| s.hostnames = vec!["console.example.com".into()]).await;
    let port = app.addr.port();
    let with_host = |host: String, path: &'static str| {
        let client = app.client.clone();
        let url = app.url(path);
        async move {
            client
                .get(url)
                .header(reqwest::header::HOST, host)
                .send()
                .await
                .unwrap()
        }
    };
    for host in [
        format!("rebind.evil.example:{port}"),
        "evil.example".to_owned(),
        format!("localhost.evil.example:{port}"),
    ] {
        for path in ["/login", "/healthz", "/api/whoami", "/pkg/burrow.css"] {
            let res = with_host(host.clone(), path).await;
            assert_status(&res, StatusCode::MISDIRECTED_REQUEST);
            let text = res.text().await.unwrap();
            assert!(text.contains("BURROW_HOSTNAMES"), "{text}");
        }
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("console.example.com:{port}"),
        "CONSOLE.example.com.".to_owned(),
    ] {
        assert_status(&with_host(host, "/healthz").await, StatusCode::OK);
    }
    // Without the setting, the operator's name is foreign too.
    let plain = spawn_app().await;
    let res = plain
        .client
        .get(plain.url("/healthz"))
        .header(reqwest::header::HOST, "console.example.com")
        .send()
        .await
        .unwrap();
    assert_status(&res, StatusCode::MISDIRECTED_REQUEST);
}

/// Every response forbids sniffing, referrers and framing; a page's policy
/// allows only the console's scripts and the inline ones Leptos writes with
/// this response's nonce (no inline handlers anywhere), a fresh nonce each
/// time.
#[tokio::test]
async fn pages_carry_a_content_security_policy_with_a_fresh_nonce() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let mut nonces = Vec::new();
    for path in [
        "/login",
        "/",
        "/logs",
        "/deploy",
        "/wizard/domain",
        "/history",
    ] {
        let cookie = (path != "/login").then_some(&cookie);
        let res = app.get(path, cookie).await;
        assert_status(&res, StatusCode::OK);
        let h = res.headers().clone();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        let csp = h["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"))
            .to_owned();
        let html = res.text().await.unwrap();
        let scripts = html.matches("<script").count();
        assert!(scripts >= 1, "{path}");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every inline script carries the nonce"
        );
        for handler in [
            " onchange=",
            " onclick=",
            " onsubmit=",
            " onload=",
            " oninput=",
        ] {
            assert!(!html.contains(handler), "{path}: inline handler {handler}");
        }
        nonces.push(nonce);
    }
    let mut unique = nonces.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), nonces.len(), "{nonces:?}");
    // Not a page: nothing allowed at all.
    let res = app.get("/healthz", None).await;
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    // The redirect to the sign-in carries them too.
    let res = app.get("/", None).await;
    assert_eq!(res.headers()["referrer-policy"], "same-origin");
}
