//! The wizard's steps over HTTP: per-field errors with what was typed kept,
//! nothing saved on invalid input, order enforced, resume, secrets never
//! sent back, and the finished wizard becoming revision 1.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// Posts `step` with `fields` (as the page's `form[...]` inputs) to the
/// wizard endpoint `endpoint`.
async fn post_step(
    app: &TestApp,
    cookie: &Cookie,
    endpoint: &str,
    step: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form: Vec<(String, String)> = vec![("step".into(), step.into())];
    for (k, v) in fields {
        form.push((format!("form[{k}]"), v.to_string()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = app.call(endpoint, &pairs, Some(cookie)).await;
    let status = res.status();
    (status, json(res).await)
}

pub(crate) async fn save(
    app: &TestApp,
    cookie: &Cookie,
    step: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    post_step(app, cookie, "/api/wizard/save", step, fields).await
}

pub(crate) async fn view(app: &TestApp, cookie: &Cookie, step: &str) -> Value {
    let res = app
        .call("/api/wizard/view", &[("step", step)], Some(cookie))
        .await;
    assert_status(&res, StatusCode::OK);
    json(res).await
}

fn field_error<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body["Fields"]["errors"]
        .as_array()?
        .iter()
        .find(|e| e[0] == field)
        .and_then(|e| e[1].as_str())
}

#[tokio::test]
async fn every_step_validates_saves_and_resumes() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    assert_redirect(&app.get("/wizard", Some(&cookie)).await, "/wizard/domain");

    // Domain: a bad name is refused beside the field, kept, nothing saved.
    let (status, body) = save(&app, &cookie, "domain", &[("domain", "not a domain!")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(field_error(&body, "domain").is_some(), "{body}");
    assert!(
        body.to_string().contains("not a domain!"),
        "typed value kept: {body}"
    );
    assert!(view(&app, &cookie, "domain").await["values"]
        .get("domain")
        .is_none());
    // Later steps wait for the earlier ones.
    let (status, _) = save(&app, &cookie, "smtp", &[("smtp.enabled", "false")]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, body) = save(
        &app,
        &cookie,
        "domain",
        &[
            ("domain", "chat.example.com"),
            ("network.http_port", "8080"),
            ("network.https_port", "8080"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "network.https_port").is_some(), "{body}");
    let (status, body) = save(&app, &cookie, "domain", &[("domain", "chat.example.com")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = view(&app, &cookie, "domain").await;
    assert_eq!(v["values"]["domain"], "chat.example.com");
    assert!(
        !v["checks"].as_array().unwrap().is_empty(),
        "DNS and ports checked: {v}"
    );
    // Resume: the next visit continues at TLS.
    assert_redirect(&app.get("/wizard", Some(&cookie)).await, "/wizard/tls");

    // TLS: own certificate that is not PEM.
    let (status, body) = save(
        &app,
        &cookie,
        "tls",
        &[
            ("tls.mode", "own"),
            ("tls.cert_pem", "hello"),
            ("tls.key_pem", "world"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "tls.cert_pem").is_some(), "{body}");
    assert!(
        !body.to_string().contains("world"),
        "a key is never echoed: {body}"
    );
    let (status, _) = save(&app, &cookie, "tls", &[("tls.mode", "self-signed")]).await;
    assert_eq!(status, StatusCode::OK);

    // SMTP: a From that is no address is refused; the password is kept
    // sealed and never sent back.
    let smtp = [
        ("smtp.enabled", "true"),
        ("smtp.host", "smtp.example.com"),
        ("smtp.port", "587"),
        ("smtp.security", "tls"),
        ("smtp.username", "stoat"),
        ("smtp.password", "s3cret-smtp-pass"),
        ("smtp.from", "noreply"),
    ];
    let (status, body) = save(&app, &cookie, "smtp", &smtp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(field_error(&body, "smtp.from").is_some(), "{body}");
    assert!(!body.to_string().contains("s3cret-smtp-pass"));
    assert!(
        view(&app, &cookie, "smtp").await["values"]
            .get("smtp.host")
            .is_none(),
        "nothing saved"
    );
    let mut fixed = smtp;
    fixed[6] = ("smtp.from", "noreply@example.com");
    let (status, _) = save(&app, &cookie, "smtp", &fixed).await;
    assert_eq!(status, StatusCode::OK);
    let v = view(&app, &cookie, "smtp").await;
    assert_eq!(v["smtp_password_set"], true);
    // 587 with implicit TLS works only as a warning with its fix (#170).
    assert!(
        v["warnings"].to_string().contains("smtp.security")
            || v["warnings"].to_string().contains("587"),
        "{v}"
    );
    assert!(!v.to_string().contains("s3cret-smtp-pass"));
    // Saving again without a password keeps the stored one.
    let (status, _) = save(&app, &cookie, "smtp", &fixed[..5]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "from is required");
    let mut again: Vec<(&str, &str)> = fixed.to_vec();
    again.retain(|(k, _)| *k != "smtp.password");
    let (status, _) = save(&app, &cookie, "smtp", &again).await;
    assert_eq!(status, StatusCode::OK);

    // Voice: a latitude must be a number.
    let (status, body) = save(
        &app,
        &cookie,
        "voice",
        &[("livekit.enabled", "true"), ("livekit.lat", "north")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "livekit.lat").is_some(), "{body}");
    // With voice off too: what was typed is checked, not dropped.
    let (status, body) = save(&app, &cookie, "voice", &[("livekit.lat", "north")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "livekit.lat").is_some(), "{body}");
    let (status, _) = save(
        &app,
        &cookie,
        "voice",
        &[("livekit.enabled", "true"), ("livekit.lat", "48.85")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Apps: unchecked boxes are off; voice-ingress needs LiveKit (on here).
    let (status, _) = save(
        &app,
        &cookie,
        "apps",
        &[
            ("apps.api", "true"),
            ("apps.web", "true"),
            ("apps.events", "true"),
            ("registration", "open"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v = view(&app, &cookie, "apps").await;
    assert_eq!(v["values"]["apps.autumn"], "false");

    // Target: a Docker address must be a socket or TCP URL.
    let (status, body) = save(
        &app,
        &cookie,
        "target",
        &[("target", "docker"), ("target.docker_url", "http://nope")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "target.docker_url").is_some(), "{body}");
    // A kubeconfig sent with a bad namespace is not kept either.
    let (status, body) = save(
        &app,
        &cookie,
        "target",
        &[
            ("target", "kubernetes"),
            ("target.kube_namespace", "Not_Valid"),
            (
                "target.kubeconfig",
                "apiVersion: v1\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n",
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        field_error(&body, "target.kube_namespace").is_some(),
        "{body}"
    );
    assert!(
        !body.to_string().contains("6443"),
        "kubeconfig never echoed"
    );
    assert_eq!(view(&app, &cookie, "target").await["kubeconfig_set"], false);
    let vault = engine::sealed::Vault::open(&app.data.path().join("secrets.key")).unwrap();
    assert_eq!(
        app.db().await.draft_kubeconfig(&vault).await.unwrap(),
        None,
        "nothing half-saved"
    );
    // An Ingress class Burrow does not render routes for, or an issuer
    // name Kubernetes would refuse: each beside its field.
    let (status, body) = save(
        &app,
        &cookie,
        "target",
        &[
            ("target", "kubernetes"),
            ("target.kube_source", "in-cluster"),
            ("target.kube_ingress_class", "haproxy"),
            ("target.kube_issuer", "Corp ACME"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        field_error(&body, "target.kube_ingress_class")
            .is_some_and(|m| m.contains("nginx or traefik")),
        "{body}"
    );
    assert!(field_error(&body, "target.kube_issuer").is_some(), "{body}");
    // traefik with the operator's issuer is kept, and shown again.
    let (status, _) = save(
        &app,
        &cookie,
        "target",
        &[
            ("target", "kubernetes"),
            ("target.kube_source", "in-cluster"),
            ("target.kube_ingress_class", "traefik"),
            ("target.kube_issuer", "corp-acme"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v = view(&app, &cookie, "target").await;
    assert_eq!(
        (v["kube_ingress_class"].as_str(), v["kube_issuer"].as_str()),
        (Some("traefik"), Some("corp-acme")),
        "{v}"
    );
    let (status, _) = save(&app, &cookie, "target", &[("target", "docker")]).await;
    assert_eq!(status, StatusCode::OK);

    // Review: everything rendered, secrets masked.
    let v = view(&app, &cookie, "review").await;
    let review = &v["review"];
    assert!(
        review["blocking"].as_array().unwrap().is_empty(),
        "{review}"
    );
    // The domain and port checks run again, now on the chosen target's host.
    let titles: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"DNS:") && titles.contains(&"Ports:"),
        "{v}"
    );
    let files: Vec<&str> = review["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "Revolt.toml",
            "secrets.env",
            "Caddyfile",
            "livekit.yml",
            "compose.yml"
        ]
    );
    let secrets = app
        .db()
        .await
        .stack_secrets(&engine::sealed::Vault::open(&app.data.path().join("secrets.key")).unwrap())
        .await
        .unwrap()
        .unwrap();
    let text = v.to_string();
    for (name, value) in secrets.values() {
        assert!(!text.contains(value), "{name} shown on the review page");
    }
    assert!(!text.contains("s3cret-smtp-pass"));

    // Deploy: revision 1 exists and a deployment was started.
    let res = app.call("/api/wizard/deploy", &[], Some(&cookie)).await;
    assert_status(&res, StatusCode::OK);
    let store = app.db().await;
    let vault = engine::sealed::Vault::open(&app.data.path().join("secrets.key")).unwrap();
    let rev = store.latest_revision(&vault).await.unwrap().unwrap();
    assert_eq!(rev.meta.id, 1);
    assert_eq!(
        rev.config.smtp.as_ref().unwrap().password,
        "s3cret-smtp-pass"
    );
    assert_eq!(store.recent_deployments(5).await.unwrap().len(), 1);
    // The wizard now edits settings, starting from the revision.
    let v = view(&app, &cookie, "domain").await;
    assert_eq!(v["editing"], true);
    assert_eq!(v["values"]["domain"], "chat.example.com");
}

async fn check(
    app: &TestApp,
    cookie: &Cookie,
    step: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    post_step(app, cookie, "/api/wizard/check", step, fields).await
}

/// What the hydrated wizard asks while the operator types: the problems by
/// field, the same as saving would report, with nothing saved either way.
#[tokio::test]
async fn checking_a_step_reports_problems_and_saves_nothing() {
    let app = spawn_app().await;
    let cookie = app.claim().await;

    let (status, body) = check(&app, &cookie, "domain", &[("domain", "chat..example.com")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let problems = body.as_array().unwrap();
    assert_eq!(problems.len(), 1, "{body}");
    assert_eq!(problems[0][0], "domain");
    assert!(
        problems[0][1].as_str().unwrap().contains("empty labels"),
        "{body}"
    );
    let (_, saved) = save(&app, &cookie, "domain", &[("domain", "chat..example.com")]).await;
    assert_eq!(
        field_error(&saved, "domain"),
        problems[0][1].as_str(),
        "the same message as saving"
    );

    let (status, body) = check(&app, &cookie, "domain", &[("domain", "chat.example.com")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!([]));
    let v = view(&app, &cookie, "domain").await;
    assert!(v["values"].get("domain").is_none(), "nothing saved: {v}");
    assert_eq!(
        v["steps"][0],
        serde_json::json!(["domain", false]),
        "the step is not done: {v}"
    );

    // Later steps wait for the earlier ones, as when saving.
    let (status, _) = check(&app, &cookie, "smtp", &[("smtp.enabled", "true")]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A certificate alone (a file just loaded) is judged before its key.
    let (status, _) = save(&app, &cookie, "domain", &[("domain", "chat.example.com")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = check(
        &app,
        &cookie,
        "tls",
        &[("tls.mode", "own"), ("tls.cert_pem", "not a certificate")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fields: Vec<(&str, &str)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect();
    assert!(
        fields
            .iter()
            .any(|(f, m)| *f == "tls.cert_pem" && m.starts_with("No certificate was found")),
        "{body}"
    );
    assert_eq!(
        fields.iter().filter(|(f, _)| *f == "tls.key_pem").count(),
        1,
        "one message for the missing key: {body}"
    );
    // Signed out, nothing is answered.
    let res = app
        .call("/api/wizard/check", &[("step", "domain")], None)
        .await;
    assert_status(&res, StatusCode::UNAUTHORIZED);
}

/// Takes every step with valid values (SMTP on, a short password, Docker at
/// `docker_url`).
pub(crate) async fn complete_steps(app: &TestApp, cookie: &Cookie, domain: &str, docker_url: &str) {
    let steps: [(&str, Vec<(&str, &str)>); 6] = [
        ("domain", vec![("domain", domain)]),
        ("tls", vec![("tls.mode", "self-signed")]),
        (
            "smtp",
            vec![
                ("smtp.enabled", "true"),
                ("smtp.host", "smtp.example.com"),
                ("smtp.port", "587"),
                ("smtp.username", "stoat"),
                ("smtp.password", "pw42"),
                ("smtp.from", "noreply@example.com"),
            ],
        ),
        ("voice", vec![("livekit.enabled", "false")]),
        (
            "apps",
            vec![
                ("apps.api", "true"),
                ("apps.web", "true"),
                ("apps.events", "true"),
                ("registration", "open"),
            ],
        ),
        (
            "target",
            vec![("target", "docker"), ("target.docker_url", docker_url)],
        ),
    ];
    for (step, fields) in steps {
        let (status, body) = save(app, cookie, step, &fields).await;
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
    }
}

/// Waits until no deployment runs (the test's target refuses connections,
/// so each ends quickly).
pub(crate) async fn settled(app: &TestApp) {
    let store = app.db().await;
    for _ in 0..100 {
        let running = store
            .recent_deployments(5)
            .await
            .unwrap()
            .iter()
            .any(|d| d.finished_at.is_none());
        if !running {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("a deployment is still running");
}

/// Settings after the first deploy: the same steps, starting from the
/// revision and the saved target; the review shows what changes against
/// the deployed revision; finishing makes revision 2.
#[tokio::test]
async fn settings_edit_the_deployed_revision_and_make_the_next() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    // Nothing listens there: the deployments fail fast, which is all this
    // test needs of them.
    let docker = "tcp://127.0.0.1:9";
    complete_steps(&app, &cookie, "chat.example.com", docker).await;

    // A 4-character SMTP password is masked in the rendered files too.
    let v = view(&app, &cookie, "review").await;
    let files = v["review"]["files"].to_string();
    assert!(files.contains("smtp.example.com"), "{files}");
    assert!(!files.contains("pw42"), "short password shown: {files}");
    assert!(files.contains("••••••••"));
    assert!(v["review"]["diff"].is_null(), "nothing deployed yet");

    let res = app.call("/api/wizard/deploy", &[], Some(&cookie)).await;
    assert_status(&res, StatusCode::OK);
    settled(&app).await;
    let store = app.db().await;
    let vault = engine::sealed::Vault::open(&app.data.path().join("secrets.key")).unwrap();
    assert_eq!(
        store.secret(&vault, "draft_smtp_password").await.unwrap(),
        None,
        "the draft's password goes with the draft"
    );
    // Revision 1 counts as deployed from here on.
    let id = store
        .begin_deployment(Some(1), engine::deployments::DeploymentKind::Apply, "test")
        .await
        .unwrap_or_else(|_| panic!("no deployment may be running"));
    store
        .finish_deployment(id, engine::deployments::DeploymentStatus::Succeeded, "test")
        .await
        .unwrap();

    // Settings start from the revision, with the target as it was chosen.
    let v = view(&app, &cookie, "target").await;
    assert_eq!(v["editing"], true);
    assert_eq!(v["docker_url"], docker, "{v}");
    assert_eq!(v["values"]["registration"], "open");

    // E-mail off: the invite-only offer on the SMTP step is taken.
    let (status, body) = save(
        &app,
        &cookie,
        "smtp",
        &[("smtp.enabled", "false"), ("registration", "invite-only")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        view(&app, &cookie, "apps").await["values"]["registration"],
        "invite-only"
    );
    let (status, _) = save(&app, &cookie, "domain", &[("domain", "talk.example.com")]).await;
    assert_eq!(status, StatusCode::OK);

    let v = view(&app, &cookie, "review").await;
    let diff = &v["review"]["diff"];
    assert_eq!(diff[0], 1, "against the deployed revision: {diff}");
    let lines: Vec<(String, String)> = diff[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["sign"].as_str().unwrap().to_owned(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let has = |sign: &str, text: &str| lines.iter().any(|(s, t)| s == sign && t.contains(text));
    assert!(
        has("-", "chat.example.com") && has("+", "talk.example.com"),
        "{lines:?}"
    );
    assert!(has("-", "open") && has("+", "invite-only"), "{lines:?}");
    assert!(!v.to_string().contains("pw42"));

    let res = app.call("/api/wizard/deploy", &[], Some(&cookie)).await;
    assert_status(&res, StatusCode::OK);
    settled(&app).await;
    let rev = store.latest_revision(&vault).await.unwrap().unwrap();
    assert_eq!(rev.meta.id, 2);
    assert_eq!(rev.config.domain.as_str(), "talk.example.com");
    assert!(rev.config.smtp.is_none());
    assert_eq!(view(&app, &cookie, "target").await["docker_url"], docker);

    // Deploy page: the volume choice is read; a garbled one is refused.
    let res = app
        .call(
            "/api/deploy/start",
            &[("prune_volumes", "maybe")],
            Some(&cookie),
        )
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = app
        .call(
            "/api/deploy/start",
            &[("prune_volumes", "true")],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::OK);
    settled(&app).await;
    let last = &store.recent_deployments(1).await.unwrap()[0];
    assert_eq!(last.revision_id, Some(2));
}

/// ACME: e-mail and the Let's Encrypt directory by default; the staging
/// toggle switches the directory and back.
#[tokio::test]
async fn acme_defaults_to_lets_encrypt_and_staging_toggles() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let (status, _) = save(&app, &cookie, "domain", &[("domain", "chat.example.com")]).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = save(
        &app,
        &cookie,
        "tls",
        &[("tls.mode", "acme"), ("tls.email", "ops")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body, "tls.email").is_some(), "{body}");

    let acme = [("tls.mode", "acme"), ("tls.email", "ops@example.com")];
    let (status, body) = save(&app, &cookie, "tls", &acme).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = view(&app, &cookie, "tls").await;
    assert_eq!(v["values"]["tls.email"], "ops@example.com");

    let mut staging = acme.to_vec();
    staging.push(("tls.staging", "true"));
    let (status, _) = save(&app, &cookie, "tls", &staging).await;
    assert_eq!(status, StatusCode::OK);
    let v = view(&app, &cookie, "tls").await;
    let staging_url = v["values"]["tls.directory"].as_str().unwrap().to_owned();
    assert!(staging_url.contains("acme-staging-v02"), "{v}");

    // Unticked, with the staging URL still in the directory field.
    let mut back = acme.to_vec();
    back.push(("tls.directory", &staging_url));
    let (status, _) = save(&app, &cookie, "tls", &back).await;
    assert_eq!(status, StatusCode::OK);
    let v = view(&app, &cookie, "tls").await;
    assert_eq!(
        v["values"]["tls.directory"],
        "https://acme-v02.api.letsencrypt.org/directory"
    );

    // The rendered Caddyfile asks that CA for the domain.
    for (step, fields) in [
        ("smtp", vec![("smtp.enabled", "false")]),
        ("voice", vec![("livekit.enabled", "false")]),
        ("apps", vec![("apps.api", "true"), ("apps.web", "true")]),
        ("target", vec![("target", "docker")]),
    ] {
        let (status, body) = save(&app, &cookie, step, &fields).await;
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
    }
    let v = view(&app, &cookie, "review").await;
    let caddyfile = v["review"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Caddyfile")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        caddyfile.contains("acme-v02.api.letsencrypt.org"),
        "{caddyfile}"
    );
    assert!(caddyfile.contains("ops@example.com"), "{caddyfile}");
}

/// "Test connection" of the Docker target, through the HTTP API, with the
/// values as typed (nothing saved): the daemon's version and API version
/// from the real local daemon, and a sentence with the fix for an address
/// nothing listens on.
#[tokio::test]
async fn test_connection_names_the_daemon_or_the_fix() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    complete_steps(&app, &cookie, "chat.example.com", "tcp://127.0.0.1:9").await;
    let (status, result) = post_step(
        &app,
        &cookie,
        "/api/wizard/test-target",
        "target",
        &[
            ("target", "docker"),
            ("target.docker_url", "unix:///var/run/docker.sock"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["ok"], true, "{result}");
    let sentence = result["sentence"].as_str().unwrap();
    // The version the real daemon reports, and the API spoken with it.
    let daemon = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&daemon.stdout).trim().to_owned();
    assert!(!version.is_empty(), "docker version printed nothing");
    assert!(
        sentence.starts_with(&format!("Connected to Docker {version} (API 1.")),
        "{sentence}"
    );

    // The page that ran the test shows the address as typed, with the
    // outcome beside it...
    let v = view(&app, &cookie, "target").await;
    assert_eq!(v["docker_url"], "unix:///var/run/docker.sock", "{v}");
    assert_eq!(v["last_target"]["ok"], true, "{v}");
    // ...but the test saved nothing: another session sees the draft with
    // the address saved before.
    let other = app.sign_in().await;
    let v = view(&app, &other, "target").await;
    assert_eq!(v["docker_url"], "tcp://127.0.0.1:9", "{v}");

    // Nothing listens on port 9: the sentence names the address and the fix.
    let (status, result) = post_step(
        &app,
        &cookie,
        "/api/wizard/test-target",
        "target",
        &[
            ("target", "docker"),
            ("target.docker_url", "tcp://127.0.0.1:9"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["ok"], false, "{result}");
    let sentence = result["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("tcp://127.0.0.1:9") && sentence.contains("Is dockerd running?"),
        "{sentence}"
    );

    // A typed address that is no Docker address is refused beside its field.
    let (status, body) = post_step(
        &app,
        &cookie,
        "/api/wizard/test-target",
        "target",
        &[("target", "docker"), ("target.docker_url", "http://wrong")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(field_error(&body, "target.docker_url").is_some(), "{body}");

    // Signed out, nothing is tested.
    let res = app.call("/api/wizard/test-target", &[], None).await;
    assert!(res.status().is_client_error(), "{}", res.status());
}

/// A returning operator with a draft in progress is offered "Continue the
/// setup" at the step where they left off, not "Nothing is configured yet".
#[tokio::test]
async fn a_setup_in_progress_is_offered_on_the_dashboard() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let fresh = json(app.call("/api/services", &[], Some(&cookie)).await).await;
    assert!(fresh["resume_step"].is_null(), "{fresh}");
    let (status, body) = save(&app, &cookie, "domain", &[("domain", "chat.example.com")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = save(&app, &cookie, "tls", &[("tls.mode", "self-signed")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = json(app.call("/api/services", &[], Some(&cookie)).await).await;
    assert_eq!(view["resume_step"], "smtp", "{view}");
    let page = app.get("/", Some(&cookie)).await.text().await.unwrap();
    assert!(
        page.contains("Continue the setup"),
        "the dashboard offers it"
    );
    assert!(page.contains("href=\"/wizard/smtp\""));
}

/// A daemon on another machine over plain TCP is root for anyone on the
/// network path: the Target step says so beside a box the operator must
/// tick; loopback and sockets need nothing. (Checked, not saved, so no
/// connection to that address is ever tried.)
#[tokio::test]
async fn plain_tcp_to_another_machine_must_be_accepted() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    complete_steps(&app, &cookie, "chat.example.com", "tcp://127.0.0.1:9").await;
    let remote = [
        ("target", "docker"),
        ("target.docker_url", "tcp://192.0.2.7:2375"),
    ];
    let (status, body) = check(&app, &cookie, "target", &remote).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let problems = body.as_array().unwrap();
    assert_eq!(problems.len(), 1, "{body}");
    assert_eq!(problems[0][0], "target.docker_plain_ok");
    assert!(
        problems[0][1].as_str().unwrap().contains("SSH tunnel"),
        "{body}"
    );
    let accepted = [
        ("target", "docker"),
        ("target.docker_url", "tcp://192.0.2.7:2375"),
        ("target.docker_plain_ok", "true"),
    ];
    let (_, body) = check(&app, &cookie, "target", &accepted).await;
    assert_eq!(body, serde_json::json!([]));
    for local in [
        "tcp://127.0.0.1:2375",
        "tcp://localhost:2375",
        "unix:///var/run/docker.sock",
        "",
    ] {
        let (_, body) = check(
            &app,
            &cookie,
            "target",
            &[("target", "docker"), ("target.docker_url", local)],
        )
        .await;
        assert_eq!(body, serde_json::json!([]), "{local}");
    }
}
