//! Setup, sign-in, sign-out, session rotation, throttling.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn setup_refuses_a_wrong_token_and_closes_after_the_first_admin() {
    let app = spawn_app().await;
    assert_status(&app.get("/setup", None).await, StatusCode::OK);
    // Before the first admin every page leads to setup.
    assert_redirect(&app.get("/", None).await, "/setup");
    assert_redirect(&app.get("/login", None).await, "/setup");

    let res = app.setup("not-the-token", ADMIN, PASSWORD).await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(res).await;
    assert_eq!(body["Invalid"]["field"], "token");
    assert!(app.token_file().exists());
    assert!(!app.db().await.admin_exists().await.unwrap());

    let cookie = app.claim().await;
    assert!(
        !app.token_file().exists(),
        "token file deleted once claimed"
    );
    assert!(app.db().await.admin_exists().await.unwrap());
    let page = app.get("/", Some(&cookie)).await;
    assert_status(&page, StatusCode::OK);

    assert_status(&app.get("/setup", None).await, StatusCode::NOT_FOUND);
    assert_status(
        &app.get("/setup", Some(&cookie)).await,
        StatusCode::NOT_FOUND,
    );
    let again = app.setup("anything", "intruder", PASSWORD).await;
    assert_status(&again, StatusCode::NOT_FOUND);
    assert!(app
        .db()
        .await
        .verify_login("intruder", PASSWORD)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn setup_validates_each_field_and_saves_nothing_on_error() {
    let app = spawn_app().await;
    let token = app.setup_token();
    let cases: [(&str, &str, &str, &str); 4] = [
        ("", PASSWORD, PASSWORD, "username"),
        ("bad name!", PASSWORD, PASSWORD, "username"),
        (ADMIN, "short", "short", "password"),
        (ADMIN, PASSWORD, "something else entirely", "confirm"),
    ];
    for (username, password, confirm, field) in cases {
        let res = app
            .call(
                "/api/setup",
                &[
                    ("token", &token),
                    ("username", username),
                    ("password", password),
                    ("confirm", confirm),
                ],
                None,
            )
            .await;
        assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
        let body = json(res).await;
        assert_eq!(body["Invalid"]["field"], field, "{body}");
        assert!(!body.to_string().contains(password) || password == username);
    }
    assert!(!app.db().await.admin_exists().await.unwrap());
    assert!(
        app.token_file().exists(),
        "token still valid after refused attempts"
    );
}

#[tokio::test]
async fn login_and_logout() {
    let app = spawn_app().await;
    app.claim().await;

    let wrong = app.login(ADMIN, "wrong password here").await;
    assert_status(&wrong, StatusCode::UNAUTHORIZED);
    let body = json(wrong).await;
    assert!(body.get("BadCredentials").is_some(), "{body}");

    let res = app.login(ADMIN, PASSWORD).await;
    let cookie = session_cookie(&res).expect("cookie");
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");

    let who = app.call("/api/whoami", &[], Some(&cookie)).await;
    assert_status(&who, StatusCode::OK);
    assert_eq!(json(who).await["username"], ADMIN);
    let page = app.get("/", Some(&cookie)).await;
    assert_status(&page, StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Dashboard"));
    // Signed in, the sign-in page sends you on.
    assert_redirect(&app.get("/login", Some(&cookie)).await, "/");

    let out = app.call("/api/logout", &[], Some(&cookie)).await;
    assert!(
        out.status().is_success() || out.status().is_redirection(),
        "{}",
        out.status()
    );
    assert_status(
        &app.call("/api/whoami", &[], Some(&cookie)).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_redirect(&app.get("/", Some(&cookie)).await, "/login");

    let log = app.db().await.recent_audit(10).await.unwrap();
    let kinds: Vec<(String, String)> = log
        .iter()
        .map(|e| (e.action.clone(), e.outcome.clone()))
        .collect();
    assert!(
        kinds.contains(&("login".into(), "failure".into())),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("login".into(), "success".into())));
    assert!(kinds.contains(&("logout".into(), "success".into())));
    assert!(log.iter().all(|e| e.ip.as_deref() == Some("127.0.0.1")));
}

#[tokio::test]
async fn session_id_is_rotated_at_login() {
    let app = spawn_app().await;
    app.claim().await;
    let first = app.sign_in().await;
    // Signing in again on the same session hands out a new id…
    let res = app
        .call(
            "/api/login",
            &[("username", ADMIN), ("password", PASSWORD)],
            Some(&first),
        )
        .await;
    let second = session_cookie(&res).expect("new cookie");
    assert_ne!(first, second);
    // …and the old one is dead.
    assert_status(
        &app.call("/api/whoami", &[], Some(&first)).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_status(
        &app.call("/api/whoami", &[], Some(&second)).await,
        StatusCode::OK,
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_and_recorded() {
    let app = spawn_app().await;
    app.claim().await;
    for _ in 0..5 {
        assert_status(
            &app.login(ADMIN, "not my password").await,
            StatusCode::UNAUTHORIZED,
        );
    }
    // Even the right password is refused while throttled.
    let res = app.login(ADMIN, PASSWORD).await;
    assert_status(&res, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body = json(res).await;
    assert!(body.get("TooManyAttempts").is_some(), "{body}");
    // Another account from the same address is throttled too.
    assert_status(
        &app.login("someone", "whatever it is").await,
        StatusCode::TOO_MANY_REQUESTS,
    );

    let log = app.db().await.recent_audit(20).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.outcome == "failure" && e.action == "login")
            .count(),
        5
    );
    assert!(log.iter().any(|e| e.outcome == "throttled"));
}

/// Thirty wrong passwords sent at once: each attempt is counted before its
/// password is checked, so only the first five are checked at all and the
/// rest are throttled; the log holds exactly that, nothing left pending.
#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    let app = spawn_app().await;
    app.claim().await;
    let attempts = (0..30).map(|i| {
        let app = &app;
        async move {
            app.login(ADMIN, &format!("wrong password {i}"))
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, throttled), (5, 25), "{statuses:?}");

    // Each attempt is in the log once: a row, or a repeat counted on one
    // (refusals in a row are one row with a count).
    let log = app.db().await.recent_audit(100).await.unwrap();
    let logins: Vec<(&str, i64)> = log
        .iter()
        .filter(|e| e.action == "login")
        .map(|e| (e.outcome.as_str(), e.repeats))
        .collect();
    let times = |outcome: &str| -> i64 {
        logins
            .iter()
            .filter(|(o, _)| *o == outcome)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(times("failure"), 5, "{logins:?}");
    assert_eq!(times("throttled"), 25, "{logins:?}");
    assert_eq!(times("pending"), 0, "{logins:?}");
}

/// Five wrong passwords for `admin` from elsewhere lock out unknown devices
/// (and that address), not the browser the admin signed in with before:
/// it carries a device cookie and is throttled on its own failures only.
#[tokio::test]
async fn an_attacker_cannot_lock_the_admin_out_of_a_known_browser() {
    let app = spawn_app().await;
    app.claim().await;
    let res = app.login(ADMIN, PASSWORD).await;
    let device = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("burrow_device="))
        .expect("a device cookie at sign-in")
        .to_owned();
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Strict"),
        "{device}"
    );
    let device = Cookie(device.split(';').next().unwrap().to_owned());

    for _ in 0..5 {
        assert_status(
            &app.login(ADMIN, "an attacker's guess").await,
            StatusCode::UNAUTHORIZED,
        );
    }
    // Unknown devices are locked out, the right password included.
    assert_status(
        &app.login(ADMIN, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    );
    let with = |cookie: Cookie, password: &'static str| {
        let app = &app;
        async move {
            app.call(
                "/api/login",
                &[("username", ADMIN), ("password", password)],
                Some(&cookie),
            )
            .await
        }
    };
    // A made-up or another user's token is no known device.
    let forged = Cookie(format!(
        "burrow_device={}.{}",
        "ab".repeat(16),
        "00".repeat(32)
    ));
    assert_status(&with(forged, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    // The admin's browser gets in.
    let res = with(device.clone(), PASSWORD).await;
    assert!(
        session_cookie(&res).is_some(),
        "signed in: {}",
        res.status()
    );

    // The known device has a limit of its own.
    for _ in 0..5 {
        assert_status(
            &with(device.clone(), "typo").await,
            StatusCode::UNAUTHORIZED,
        );
    }
    assert_status(&with(device, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);

    // Who was throttled is recorded: the unknown device twice (one row
    // counting both), the known device once on a row of its own.
    let log = app.db().await.recent_audit(50).await.unwrap();
    let throttled: Vec<(Option<&str>, i64)> = log
        .iter()
        .filter(|e| e.action == "login" && e.outcome == "throttled")
        .map(|e| (e.detail.as_deref(), e.repeats))
        .collect();
    assert_eq!(
        throttled.iter().map(|(_, n)| n).sum::<i64>(),
        3,
        "{throttled:?}"
    );
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    assert!(
        throttled
            .iter()
            .any(|(d, n)| d.is_some_and(|d| d.starts_with("device ")) && *n == 1),
        "{throttled:?}"
    );
}

/// A flood of refused sign-ins cannot grow the audit log without bound:
/// repeats are counted on one row, and a username is cut short.
#[tokio::test]
async fn refused_sign_ins_in_a_row_are_one_row() {
    let app = spawn_app().await;
    app.claim().await;
    let long = "x".repeat(5000);
    for _ in 0..5 {
        assert_status(
            &app.login(&long, "wrong guess").await,
            StatusCode::UNAUTHORIZED,
        );
    }
    for _ in 0..40 {
        assert_status(
            &app.login(&long, "wrong guess").await,
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let db = app.db().await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(rows <= 8, "setup, five failures, one throttled row: {rows}");
    let log = db.recent_audit(10).await.unwrap();
    assert_eq!(log[0].outcome, "throttled");
    assert_eq!(log[0].repeats, 40);
    assert!(
        log.iter().all(|e| e.actor.chars().count() <= 128),
        "{:?}",
        log[0].actor.len()
    );
}

#[tokio::test]
async fn reset_password_from_the_command_line() {
    let app = spawn_app().await;
    app.claim().await;
    let cookie = app.sign_in().await;
    let out = app.burrow(
        &["admin", "reset-password", ADMIN],
        "a brand new passphrase\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("a brand new passphrase"));
    assert_status(&app.login(ADMIN, PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert!(app
        .login(ADMIN, "a brand new passphrase")
        .await
        .status()
        .is_success());
    // Every earlier session is signed out.
    assert_status(
        &app.call("/api/whoami", &[], Some(&cookie)).await,
        StatusCode::UNAUTHORIZED,
    );

    // A too-short password is refused with the rule, and nothing changes.
    let out = app.burrow(&["admin", "reset-password", ADMIN], "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));
}

/// A session is written when it changes, not on every request: static
/// assets and a burst of page loads right after sign-in save nothing.
#[tokio::test]
async fn sessions_are_saved_only_when_they_change() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let db = app.db().await;
    sqlx::query("CREATE TABLE session_saves (n INTEGER)")
        .execute(db.pool())
        .await
        .unwrap();
    for event in ["INSERT", "UPDATE"] {
        sqlx::query(&format!(
            "CREATE TRIGGER count_{event} AFTER {event} ON sessions \
             BEGIN INSERT INTO session_saves VALUES (1); END"
        ))
        .execute(db.pool())
        .await
        .unwrap();
    }
    for path in [
        "/pkg/burrow.css",
        "/favicon.svg",
        "/",
        "/history",
        "/pkg/burrow.css",
    ] {
        app.get(path, Some(&cookie)).await;
    }
    assert_status(
        &app.call("/api/whoami", &[], Some(&cookie)).await,
        StatusCode::OK,
    );
    let saves: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_saves")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(saves, 0, "nothing changed, nothing written");
    // Signing out changes it (deleted), and the next sign-in writes one.
    let fresh = app.sign_in().await;
    assert_status(
        &app.call("/api/whoami", &[], Some(&fresh)).await,
        StatusCode::OK,
    );
    let saves: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_saves")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(saves >= 1, "a sign-in is saved");
}

/// Behind a TLS-terminating proxy (BURROW_TRUSTED_PROXY) the browser talks
/// HTTPS, so the cookies are Secure (`__Host-`); the client address of a
/// request from the proxy is the one it forwarded. Without the setting,
/// `X-Forwarded-For` is not believed.
#[tokio::test]
async fn behind_a_trusted_proxy_cookies_are_secure_and_the_forwarded_address_counts() {
    use reqwest::header::{HeaderMap, HeaderValue};
    async fn login(app: &TestApp, user: &str, ip: &'static str) -> StatusCode {
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.insert("x-forwarded-for", HeaderValue::from_static(ip));
        app.post(
            "/api/login",
            &[("username", user), ("password", "not it at all")],
            None,
            headers,
        )
        .await
        .status()
    }

    let proxied = spawn_app_with(|s| s.trusted_proxy = vec!["127.0.0.1".parse().unwrap()]).await;
    let token = proxied.setup_token();
    let res = proxied.setup(&token, ADMIN, PASSWORD).await;
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-burrow="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(session.contains("Secure"), "{session}");
    for i in 0..5 {
        let status = login(&proxied, &format!("guess{i}"), "198.51.100.7, 203.0.113.5").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The forwarded address is throttled, another one is not.
    assert_eq!(
        login(&proxied, "someone", "203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&proxied, "someone", "203.0.113.6").await,
        StatusCode::UNAUTHORIZED
    );
    let log = proxied.db().await.recent_audit(3).await.unwrap();
    assert_eq!(log[0].ip.as_deref(), Some("203.0.113.6"));

    // Not trusted: the header changes nothing, the peer is throttled.
    let plain = spawn_app().await;
    plain.claim().await;
    for i in 0..5 {
        assert_eq!(
            login(&plain, &format!("guess{i}"), "203.0.113.5").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&plain, "someone", "203.0.113.6").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
