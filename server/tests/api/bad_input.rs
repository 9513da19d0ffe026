//! Bad input gets a clear 4xx, never a panic or a 500, and changes nothing.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn oversized_odd_and_malformed_input() {
    let app = spawn_app().await;
    let token = app.setup_token();

    // A 1 MB username: refused for size before anything is parsed.
    let huge = "a".repeat(1_000_000);
    let res = app.setup(&token, &huge, PASSWORD).await;
    assert_status(&res, StatusCode::PAYLOAD_TOO_LARGE);

    // A long one that fits the body limit: a field error.
    let long = "a".repeat(10_000);
    let res = app.setup(&token, &long, PASSWORD).await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json(res).await["Invalid"]["field"], "username");

    // SQL-looking text is just text.
    let res = app
        .setup(&token, "x'; DROP TABLE users; --", PASSWORD)
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!app.db().await.admin_exists().await.unwrap());
    app.claim().await;
    let res = app.login("admin' OR '1'='1", "' OR '1'='1' --").await;
    assert_status(&res, StatusCode::UNAUTHORIZED);

    // Missing fields and bytes that are not UTF-8.
    let res = app.call("/api/login", &[("username", ADMIN)], None).await;
    assert_status(&res, StatusCode::BAD_REQUEST);
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let res = app
        .client
        .post(app.url("/api/login"))
        .headers(headers)
        .body(vec![
            b'u', b's', b'e', b'r', b'n', b'a', b'm', b'e', b'=', 0xff, 0xfe, b'&', b'p', b'=',
            0xc3,
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());

    // Empty fields get their own messages.
    let res = app.login("", "").await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json(res).await["Invalid"]["field"], "username");
    let res = app.login(ADMIN, "").await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json(res).await["Invalid"]["field"], "password");

    // The server is still fine after all of that.
    assert!(app.sign_in().await.0.starts_with("burrow_session="));
}

#[tokio::test]
async fn a_plain_form_post_comes_back_to_the_form_with_the_error() {
    let app = spawn_app().await;
    app.claim().await;
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    headers.insert("accept", HeaderValue::from_static("text/html"));
    headers.insert(
        "referer",
        HeaderValue::from_str(&app.url("/login")).unwrap(),
    );
    let res = app
        .post(
            "/api/login",
            &[("username", ADMIN), ("password", "wrong password!")],
            None,
            headers,
        )
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("/login") && location.contains("__err"),
        "{location}"
    );
    assert!(
        !location.contains("wrong password"),
        "the password never travels back"
    );
    let page = app
        .client
        .get(&location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Wrong username or password."),
        "error shown on the page"
    );
    assert!(
        page.contains(&format!("value=\"{ADMIN}\"")),
        "the username is kept"
    );
}

/// A service name goes into a container name and a download's file name:
/// only the stack's own services are taken, anything else is a 404 with a
/// sentence (a CR/LF in it once reached the Content-Disposition header).
#[tokio::test]
async fn log_requests_take_only_the_stacks_own_services() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let res = app
        .call(
            "/api/deploy/config",
            &[("stack_toml", "domain = \"chat.example.com\"\n")],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::OK);
    for service in [
        "api%0d%0aSet-Cookie:%20x=1",
        "..%2F..%2Fetc",
        "gifbox", // a real service, but not one this stack runs
        "nosuch",
    ] {
        for path in ["/logs/download", "/live/logs"] {
            let res = app
                .get(&format!("{path}?service={service}"), Some(&cookie))
                .await;
            assert_status(&res, StatusCode::NOT_FOUND);
            assert!(
                res.headers()
                    .get_all("set-cookie")
                    .iter()
                    .all(|c| !c.to_str().unwrap_or_default().starts_with("x=")),
                "no header from the name"
            );
            assert!(res.headers().get("content-disposition").is_none());
            let text = res.text().await.unwrap();
            assert!(text.contains("no such service"), "{path} {service}: {text}");
        }
    }
    let res = app.get("/logs/download?service=api", Some(&cookie)).await;
    assert_status(&res, StatusCode::OK);
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"stoat-api.log\""
    );
}

/// A pasted stack.toml naming files on Burrow's machine as its own
/// certificate (its key file, /etc/passwd) is refused beside the text and
/// nothing is saved: the deploy would read them and upload them into a
/// container.
#[tokio::test]
async fn a_pasted_config_cannot_name_burrows_own_files() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let key = app.data.path().join("secrets.key");
    for (cert, key) in [
        ("/etc/passwd", key.to_str().unwrap()),
        ("/etc/passwd", "/etc/passwd"),
    ] {
        let text = format!(
            "domain = \"chat.example.com\"\n[tls]\nmode = \"own\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n"
        );
        let res = app
            .call(
                "/api/deploy/config",
                &[("stack_toml", &text)],
                Some(&cookie),
            )
            .await;
        assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
        let body = json(res).await;
        assert_eq!(body["Invalid"]["field"], "stack_toml");
        assert!(
            body["Invalid"]["message"]
                .as_str()
                .unwrap()
                .contains("never from other files"),
            "{body}"
        );
    }
    let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
    assert!(
        history["entries"].as_array().unwrap().is_empty(),
        "nothing saved"
    );
}

/// A refused stack.toml is shown again beside its field, but never with a
/// password in it: without JavaScript that text travels in the address.
#[tokio::test]
async fn a_refused_paste_is_shown_again_without_its_password() {
    use base64::Engine;
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let text = "domain = \"chat..example.com\"\n[smtp]\nhost = \"smtp.example.com\"\nport = 587\nusername = \"stoat\"\npassword = \"pw-in-a-refused-paste\"\nfrom = \"noreply@example.com\"\n";
    let res = app
        .call("/api/deploy/config", &[("stack_toml", text)], Some(&cookie))
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(res).await;
    let shown = body.to_string();
    assert!(!shown.contains("pw-in-a-refused-paste"), "{shown}");
    assert!(
        shown.contains("smtp.example.com"),
        "the rest is kept: {shown}"
    );
    assert!(
        body["Invalid"]["message"]
            .as_str()
            .unwrap()
            .contains("type it again"),
        "{body}"
    );

    // The form without JavaScript: back to the page, the error in the address.
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    headers.insert("accept", HeaderValue::from_static("text/html"));
    headers.insert(
        "referer",
        HeaderValue::from_str(&app.url("/deploy")).unwrap(),
    );
    let res = app
        .post(
            "/api/deploy/config",
            &[("stack_toml", text)],
            Some(&cookie),
            headers,
        )
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let err = location
        .split("__err=")
        .nth(1)
        .expect("the error travels in the address")
        .split('&')
        .next()
        .unwrap();
    let err = err
        .replace("%3D", "=")
        .replace("%2B", "+")
        .replace("%2F", "/");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(err.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(err.as_bytes()))
        .expect("base64");
    let decoded = String::from_utf8_lossy(&decoded);
    assert!(decoded.contains("smtp.example.com"), "{decoded}");
    assert!(!decoded.contains("pw-in-a-refused-paste"), "{decoded}");
}

/// The Deploy page's Docker address asks, like the wizard, for plain TCP to
/// another machine to be accepted; nothing is saved until it is. (Saving
/// connects to nothing.)
#[tokio::test]
async fn a_pasted_revision_for_a_plain_tcp_daemon_elsewhere_must_be_accepted() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let text = "domain = \"chat.example.com\"\n";
    let remote = [("stack_toml", text), ("docker_url", "tcp://192.0.2.7:2375")];
    let res = app.call("/api/deploy/config", &remote, Some(&cookie)).await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(res).await;
    assert_eq!(body["Invalid"]["field"], "docker_plain_ok", "{body}");
    let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
    assert!(
        history["entries"].as_array().unwrap().is_empty(),
        "nothing saved"
    );
    let accepted = [
        ("stack_toml", text),
        ("docker_url", "tcp://192.0.2.7:2375"),
        ("docker_plain_ok", "true"),
    ];
    let res = app
        .call("/api/deploy/config", &accepted, Some(&cookie))
        .await;
    assert_status(&res, StatusCode::OK);
    let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
    assert_eq!(
        history["entries"][0]["target"],
        "Docker at tcp://192.0.2.7:2375"
    );
}
