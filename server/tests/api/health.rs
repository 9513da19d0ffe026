use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_report_status_version_uptime_and_database() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let res = app.get(path, None).await;
        assert_status(&res, StatusCode::OK);
        let body = json(res).await;
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert!(body["uptime_secs"].as_u64().is_some());
        assert_eq!(body["db_healthy"], true);
    }
}

#[tokio::test]
async fn stack_secrets_are_generated_once_and_sealed() {
    let app = spawn_app().await;
    let key = app.data.path().join("secrets.key");
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 32);
    let vault = engine::sealed::Vault::open(&key).unwrap();
    let secrets = app
        .db()
        .await
        .stack_secrets(&vault)
        .await
        .unwrap()
        .expect("kept at startup");
    let raw = std::fs::read(app.data.path().join("burrow.db")).unwrap();
    let wal = std::fs::read(app.data.path().join("burrow.db-wal")).unwrap_or_default();
    for (name, value) in secrets.values() {
        let found = |bytes: &[u8]| bytes.windows(value.len()).any(|w| w == value.as_bytes());
        assert!(
            !found(&raw) && !found(&wal),
            "{name} readable in the database"
        );
    }
}
