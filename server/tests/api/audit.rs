//! The Audit page, its CSV export and `burrow audit verify`: what happened
//! is listed and filtered, downloads are recorded, and a changed entry is
//! found and named.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn the_audit_log_is_listed_filtered_exported_and_verified() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    assert_status(
        &app.login("mallory", "not the password").await,
        StatusCode::UNAUTHORIZED,
    );
    let ca = app
        .get(app::pages::certificate::PEM_URL, Some(&cookie))
        .await;
    assert_status(&ca, StatusCode::OK);

    // Everything so far, newest first, and the chain intact.
    let all = json(
        app.call(
            "/api/audit",
            &[("action", ""), ("actor", "")],
            Some(&cookie),
        )
        .await,
    )
    .await;
    assert_eq!(all["intact"], true, "{all}");
    assert!(all["chain"].as_str().unwrap().contains("intact"), "{all}");
    let actions: Vec<&str> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["download", "login", "setup"], "{all}");
    assert_eq!(all["entries"][0]["detail"], "Burrow CA (PEM)");
    assert_eq!(all["entries"][0]["actor"], ADMIN);

    // Filtered by action and by actor (any case).
    let logins = json(
        app.call(
            "/api/audit",
            &[("action", "login"), ("actor", "MALLORY")],
            Some(&cookie),
        )
        .await,
    )
    .await;
    let rows = logins["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{logins}");
    assert_eq!(rows[0]["outcome"], "failure");

    // No JavaScript: the page shows the chain, the rows and the filter.
    let page = app.get("/audit?action=login", Some(&cookie)).await;
    assert_status(&page, StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-testid=\"audit-chain\""), "{html}");
    assert!(html.contains("The audit log is intact"), "{html}");
    assert!(html.contains("mallory"));
    assert!(
        html.contains("href=\"/audit.csv?action=login\""),
        "export keeps the filter"
    );

    // The export: a header and one line per entry, itself recorded.
    let csv = app.get("/audit.csv?action=login", Some(&cookie)).await;
    assert_status(&csv, StatusCode::OK);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,time_utc,actor,address,action,outcome,times,detail"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains(",mallory,127.0.0.1,login,failure,1,"),
        "{text}"
    );

    // From the shell: intact, then a changed entry is named.
    let verify = || app.burrow(&["audit", "verify"], "");
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));
    let db = app.db().await;
    sqlx::query("UPDATE audit_log SET actor = 'someone-else' WHERE action = 'login'")
        .execute(db.pool())
        .await
        .unwrap();
    let login_id: i64 = sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'login'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let broken = verify();
    assert!(!broken.status.success());
    let said = String::from_utf8_lossy(&broken.stderr);
    assert!(said.contains(&format!("entry {login_id} ")), "{said}");
    let page = json(
        app.call(
            "/api/audit",
            &[("action", ""), ("actor", "")],
            Some(&cookie),
        )
        .await,
    )
    .await;
    assert_eq!(page["intact"], false);
    assert!(
        page["chain"].as_str().unwrap().contains("was changed"),
        "{page}"
    );
}
