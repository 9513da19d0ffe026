//! The History page and its server functions: revisions with what changed,
//! the diff of two, and "Deploy this revision" refusing what it cannot do
//! with a sentence (never a 500), before anything is recorded; a
//! Kubernetes revision deployed to its own cluster only.

use reqwest::StatusCode;

use crate::helpers::*;

const BASE: &str = r#"
domain = "chat.example.com"
[smtp]
enabled = true
host = "smtp.example.com"
port = 587
username = "stoat"
password = "a-very-secret-smtp-password"
from = "noreply@example.com"
"#;

async fn paste(app: &TestApp, cookie: &Cookie, text: &str) -> i64 {
    let res = app
        .call("/api/deploy/config", &[("stack_toml", text)], Some(cookie))
        .await;
    assert_status(&res, StatusCode::OK);
    json(res).await.as_i64().unwrap()
}

#[tokio::test]
async fn history_lists_revisions_diffs_them_and_refuses_what_cannot_deploy() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    assert_eq!(paste(&app, &cookie, BASE).await, 1);
    let gifbox = format!("{BASE}\n[apps]\ngifbox = true\n");
    assert_eq!(paste(&app, &cookie, &gifbox).await, 2);
    let kube = format!("target = \"kubernetes\"\n{gifbox}");
    assert_eq!(paste(&app, &cookie, &kube).await, 3);

    let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
    let entries = history["entries"].as_array().unwrap();
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![3, 2, 1], "newest first");
    assert_eq!(entries[2]["changes"], "First revision");
    assert_eq!(entries[1]["changes"], "Gifbox turned on");
    assert!(
        entries[0]["changes"]
            .as_str()
            .unwrap()
            .starts_with("Target changed to Kubernetes"),
        "{}",
        entries[0]
    );
    // Kubernetes revisions deploy too.
    assert!(entries[0]["undeployable"].is_null(), "{}", entries[0]);
    assert!(entries[1]["undeployable"].is_null());

    // 1 against 2: the files that render gifbox differ, secrets masked.
    let diff = json(
        app.call(
            "/api/history/diff",
            &[("from", "1"), ("to", "2")],
            Some(&cookie),
        )
        .await,
    )
    .await;
    let files: Vec<&str> = diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(files.contains(&"Caddyfile"), "{files:?}");
    assert!(files.contains(&"compose.yml"), "{files:?}");
    let text = diff.to_string();
    assert!(text.contains("gifbox"));
    assert!(
        !text.contains("a-very-secret-smtp-password"),
        "password masked"
    );

    // No JavaScript: the page itself shows the table and the diff.
    let page = app.get("/history?from=1&to=2", Some(&cookie)).await;
    assert_status(&page, StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Revision 1 → revision 2"),
        "diff section shown"
    );
    assert!(html.contains("Gifbox turned on"));
    assert!(
        html.contains("name=\"revision\" value=\"2\""),
        "a deploy form per revision"
    );

    let res = app
        .call("/api/deploy/start", &[("revision", "99")], Some(&cookie))
        .await;
    assert_status(&res, StatusCode::NOT_FOUND);
    let res = app
        .call(
            "/api/history/diff",
            &[("from", "1"), ("to", "99")],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::NOT_FOUND);
    let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
    assert!(history["running"].is_null());
    for e in history["entries"].as_array().unwrap() {
        assert!(e["deployments"].as_array().unwrap().is_empty(), "{e}");
    }

    // Deploying the Kubernetes revision goes to its cluster, and nowhere
    // else: pasted without a kubeconfig, it has none, which its
    // deployment says (it never falls back to a kubeconfig on this
    // machine).
    let res = app
        .call("/api/deploy/start", &[("revision", "3")], Some(&cookie))
        .await;
    assert_status(&res, StatusCode::OK);
    let mut outcome = serde_json::Value::Null;
    for _ in 0..100 {
        let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
        let rev3 = history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == 3)
            .unwrap()
            .clone();
        outcome = rev3["deployments"][0].clone();
        if outcome["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(outcome["status"], "failed", "{outcome}");
    assert!(
        outcome["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("it was saved without a kubeconfig"),
        "{outcome}"
    );

    // The Docker address beside the pasted config is checked there, and
    // nothing is saved when it is wrong; a good one is the revision's own.
    let res = app
        .call(
            "/api/deploy/config",
            &[("stack_toml", BASE), ("docker_url", "ftp://nowhere")],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(res).await.to_string();
    assert!(
        body.contains("docker_url") && body.contains("unix://"),
        "{body}"
    );
    let res = app
        .call(
            "/api/deploy/config",
            &[("stack_toml", BASE), ("docker_url", "tcp://127.0.0.1:2375")],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::OK);
    let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
    assert_eq!(history["entries"].as_array().unwrap().len(), 4);
    assert_eq!(
        history["entries"][0]["target"],
        "Docker at tcp://127.0.0.1:2375"
    );

    // A garbled revision number is a client error, not a 500.
    let res = app
        .call("/api/deploy/start", &[("revision", "two")], Some(&cookie))
        .await;
    assert_status(&res, StatusCode::BAD_REQUEST);
}

/// A newest revision whose stored text no longer reads (or validates) is
/// the reason on the Deploy page, never an error page: the page still
/// offers the form, and a corrected paste becomes the next revision.
#[tokio::test]
async fn a_newest_revision_that_no_longer_loads_is_explained_on_the_deploy_page() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    assert_eq!(paste(&app, &cookie, BASE).await, 1);
    let store = app.db().await;
    sqlx::query("UPDATE config_revisions SET stack_toml = 'domain = [' WHERE id = 1")
        .execute(store.pool())
        .await
        .unwrap();

    let res = app.call("/api/deploy/page", &[], Some(&cookie)).await;
    assert_status(&res, StatusCode::OK);
    let page = json(res).await;
    assert!(page["latest"].is_null(), "{page}");
    let why = page["latest_problem"].as_str().unwrap();
    assert!(why.contains("revision 1 is not readable"), "{why}");
    let html = app.get("/deploy", Some(&cookie)).await;
    assert_status(&html, StatusCode::OK);
    let html = html.text().await.unwrap();
    assert!(
        html.contains("The newest revision cannot be deployed"),
        "{html}"
    );
    assert!(html.contains("Save as new revision"));

    // The pages that watch the running revision say why, with the way out,
    // and the live streams answer with the same sentence: 409, not 500.
    let res = app.call("/api/services", &[], Some(&cookie)).await;
    assert_status(&res, StatusCode::CONFLICT);
    let body = json(res).await;
    assert_eq!(body["Unusable"]["revision"], 1, "{body}");
    // (The page's status follows its data's error, as every page's does.)
    for path in ["/", "/logs", "/certificate"] {
        let res = app.get(path, Some(&cookie)).await;
        assert_status(&res, StatusCode::CONFLICT);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("revision 1 is not readable"),
            "{path}: {html}"
        );
        assert!(
            html.contains("data-testid=\"unusable-fix\""),
            "{path}: {html}"
        );
        assert!(html.contains("href=\"/history\""), "{path}");
    }
    for path in ["/live/status", "/live/logs", "/logs/download"] {
        let res = app.get(path, Some(&cookie)).await;
        assert_status(&res, StatusCode::CONFLICT);
        let text = res.text().await.unwrap();
        assert!(
            text.contains("revision 1 is not readable"),
            "{path}: {text}"
        );
    }

    assert_eq!(paste(&app, &cookie, BASE).await, 2);
    let page = json(app.call("/api/deploy/page", &[], Some(&cookie)).await).await;
    assert_eq!(page["latest"]["id"], 2);
    assert!(page["latest_problem"].is_null(), "{page}");

    // A stored Docker address Burrow never understood is a conflict to fix
    // (409 with the sentence), not an outage (503).
    sqlx::query(
        "UPDATE config_revisions SET target = '{\"kind\":\"docker\",\"url\":\"ftp://nowhere\"}' \
         WHERE id = 2",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let res = app.get("/live/status", Some(&cookie)).await;
    assert_status(&res, StatusCode::CONFLICT);
    let text = res.text().await.unwrap();
    assert!(text.contains("ftp://nowhere"), "{text}");
}

/// Pasting the newest revision's configuration again saves nothing and says
/// so beside the text, which is kept.
#[tokio::test]
async fn an_identical_paste_is_not_saved_twice_and_says_so() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    assert_eq!(paste(&app, &cookie, BASE).await, 1);
    let res = app
        .call("/api/deploy/config", &[("stack_toml", BASE)], Some(&cookie))
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("revision 1, the newest"), "{body}");
    assert!(body.contains("nothing new was saved"), "{body}");
    let history = json(app.call("/api/history", &[], Some(&cookie)).await).await;
    assert_eq!(history["entries"].as_array().unwrap().len(), 1);
}
