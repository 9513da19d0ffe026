//! The CA download: behind the sign-in, the same CA as PEM and DER, stable
//! across requests, matching the fingerprint the page shows.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn ca_downloads_are_gated_and_agree_with_the_page() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    assert_redirect(&app.get("/certificate/burrow-ca.pem", None).await, "/login");

    let pem = app.get("/certificate/burrow-ca.pem", Some(&cookie)).await;
    assert_status(&pem, StatusCode::OK);
    assert!(pem.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("burrow-ca.pem"));
    let pem = pem.text().await.unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(!pem.contains("PRIVATE KEY"));

    let der = app.get("/certificate/burrow-ca.der", Some(&cookie)).await;
    assert_status(&der, StatusCode::OK);
    let der = der.bytes().await.unwrap();
    // The PEM is the DER in base64: same certificate.
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
        der.to_vec()
    );

    let again = app.get("/certificate/burrow-ca.pem", Some(&cookie)).await;
    assert_eq!(again.text().await.unwrap(), pem, "one CA, kept");

    let info = json(app.call("/api/certificate", &[], Some(&cookie)).await).await;
    use sha2::Digest;
    let fp: Vec<String> = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(info["fingerprint"], fp.join(":"));

    let page = app
        .get("/certificate", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&fp.join(":")),
        "the page shows the fingerprint"
    );
    for platform in ["macOS", "Windows", "Linux", "Firefox", "Android", "iOS"] {
        assert!(page.contains(platform), "install steps for {platform}");
    }
}
