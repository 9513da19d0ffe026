//! `spawn_app()` and one helper per thing a client does.

use std::net::SocketAddr;
use std::path::PathBuf;

use burrow_server::config::Settings;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    pub client: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings changed by `change`.
pub async fn spawn_app_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut settings = Settings::new(addr, data.path().to_owned());
    change(&mut settings);
    let (router, _state) = burrow_server::startup::build(&settings, false)
        .await
        .expect("build app");
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    // A request that never finishes fails its test instead of holding the
    // whole run (once, a first run of the gates tests waited 20 minutes).
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("client");
    TestApp { addr, data, client }
}

/// A session cookie as sent back to the server (`name=value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie(pub String);

pub fn session_cookie(res: &Response) -> Option<Cookie> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("burrow_session="))
        .map(|v| Cookie(v.split(';').next().unwrap_or_default().to_owned()))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn token_file(&self) -> PathBuf {
        self.data.path().join("setup-token")
    }

    pub fn setup_token(&self) -> String {
        std::fs::read_to_string(self.token_file())
            .expect("setup-token file")
            .trim()
            .to_owned()
    }

    pub async fn get(&self, path: &str, cookie: Option<&Cookie>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header(COOKIE, &c.0);
        }
        req.send().await.expect("GET")
    }

    /// Calls a server function the way the hydrated page does: a same-origin
    /// form-encoded POST that wants JSON back.
    pub async fn call(
        &self,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&Cookie>,
    ) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        self.post(path, form, cookie, headers).await
    }

    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&Cookie>,
        headers: HeaderMap,
    ) -> Response {
        let body = serde_urlencoded(form);
        let mut req = self
            .client
            .post(self.url(path))
            .headers(headers)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            req = req.header(COOKIE, &c.0);
        }
        req.send().await.expect("POST")
    }

    pub async fn setup(&self, token: &str, username: &str, password: &str) -> Response {
        self.call(
            "/api/setup",
            &[
                ("token", token),
                ("username", username),
                ("password", password),
                ("confirm", password),
            ],
            None,
        )
        .await
    }

    /// Claims the install with the default admin.
    pub async fn claim(&self) -> Cookie {
        let res = self.setup(&self.setup_token(), ADMIN, PASSWORD).await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{}",
            res.status()
        );
        session_cookie(&res).expect("setup signs the admin in")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.call(
            "/api/login",
            &[("username", username), ("password", password)],
            None,
        )
        .await
    }

    /// Signs in as the default admin and returns the session cookie.
    pub async fn sign_in(&self) -> Cookie {
        let res = self.login(ADMIN, PASSWORD).await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{}",
            res.status()
        );
        session_cookie(&res).expect("session cookie")
    }

    /// Runs the `burrow` command line on this app's data dir with `stdin`.
    pub fn burrow(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_burrow"))
            .args(args)
            .env("BURROW_DATA_DIR", self.data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("burrow runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin written");
        child.wait_with_output().expect("burrow ends")
    }

    pub async fn db(&self) -> engine::Store {
        engine::Store::open(self.data.path())
            .await
            .expect("open store")
    }
}

pub fn serde_urlencoded(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn json(res: Response) -> serde_json::Value {
    let text = res.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn assert_redirect(res: &Response, to: &str) {
    assert!(
        res.status().is_redirection(),
        "expected redirect, got {}",
        res.status()
    );
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(to)
    );
}

pub fn assert_status(res: &Response, status: StatusCode) {
    assert_eq!(res.status(), status, "unexpected status for {}", res.url());
}

/// The fields a refused form names, in order (`AppError::Fields`).
pub fn field_names(body: &serde_json::Value) -> Vec<&str> {
    body["Fields"]["errors"]
        .as_array()
        .expect("a refusal by field")
        .iter()
        .map(|e| e[0].as_str().unwrap())
        .collect()
}
