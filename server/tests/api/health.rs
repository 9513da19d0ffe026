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
