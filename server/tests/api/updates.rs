//! The Updates page over HTTP: the channel set (refused beside its field
//! when it is no channel), a verified check of a real published channel
//! (file://), the offer on the page and as the header's badge, a refusal
//! as its sentence, a channel from the environment read-only.

use reqwest::StatusCode;

use crate::helpers::*;

/// A channel published by `burrow release`'s publisher in a temp dir:
/// (dir, file:// URL, root text).
async fn published() -> (
    tempfile::TempDir,
    engine::update::publish::ChannelDir,
    String,
    String,
) {
    let dir = tempfile::tempdir().unwrap();
    let channel = engine::update::publish::ChannelDir::new(dir.path().join("stable"));
    let root = channel.init("stable", 1, 1).await.unwrap();
    channel
        .add(engine::update::Release {
            schema: 1,
            channel: "stable".into(),
            sequence: 7,
            version: "0.16.3".into(),
            min_from_version: None,
            released_at: "2026-12-01T10:00:00Z".into(),
            notes: "Calls <b>reconnect</b> faster.".into(),
            requires_backup: true,
            images: engine::update::release::services()
                .into_iter()
                .map(|s| {
                    (
                        s.to_owned(),
                        format!("r.example/{s}@sha256:{}", "d4".repeat(32)),
                    )
                })
                .collect(),
            health: Default::default(),
            migrations: Vec::new(),
        })
        .unwrap();
    channel.sign().await.unwrap();
    let url = format!("file://{}", channel.published().display());
    let root = std::fs::read_to_string(root).unwrap();
    (dir, channel, url, root)
}

#[tokio::test]
async fn a_channel_is_set_checked_and_its_offer_shown() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let page = app
        .get("/updates", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Set the channel below, then check."),
        "{page}"
    );

    // Refused beside each field; nothing saved.
    let res = app
        .call(
            "/api/updates/channel",
            &[
                ("url", "ftp://example.org/"),
                ("root", "{}"),
                ("name", "st able"),
            ],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(res).await;
    let fields: Vec<&str> = body["Fields"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[0].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "root", "name"], "{body}");
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    assert!(view["channel"].is_null(), "{view}");

    let (_dir, channel, url, root) = published().await;
    let res = app
        .call(
            "/api/updates/channel",
            &[("url", &url), ("root", &root), ("name", "stable")],
            Some(&cookie),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let checked = json(app.call("/api/updates/check", &[], Some(&cookie)).await).await;
    assert_eq!(checked["release"]["version"], "0.16.3", "{checked}");
    assert_eq!(checked["release"]["sequence"], 7, "{checked}");

    // The page shows it (notes as text), and the header has the badge.
    let page = app
        .get("/updates", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(
            "Release 0.16.3 (sequence 7) of channel stable, released 2026-12-01T10:00:00Z."
        ),
        "{page}"
    );
    assert!(
        page.contains("Calls &lt;b&gt;reconnect&lt;/b&gt; faster."),
        "notes are text"
    );
    assert!(page.contains("data-testid=\"update-badge\""), "{page}");
    let me = json(app.call("/api/whoami", &[], Some(&cookie)).await).await;
    assert_eq!(me["update"], "0.16.3", "{me}");
    assert!(page.contains("Update to 0.16.3 now"), "{page}");
    assert!(page.contains("No update yet."), "{page}");
    // Nothing deployed: nothing to update, said, nothing journalled.
    let res = app.call("/api/updates/apply", &[], Some(&cookie)).await;
    assert_status(&res, StatusCode::CONFLICT);
    let body = json(res).await;
    assert!(
        body.to_string().contains("Nothing is deployed yet"),
        "{body}"
    );
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    assert_eq!(view["rollouts"], serde_json::json!([]), "{view}");

    // One byte changed on the channel: the next check says why, no offer.
    let target = std::fs::read_dir(channel.targets())
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let text = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, text.replace("faster", "slower")).unwrap();
    let checked = json(app.call("/api/updates/check", &[], Some(&cookie)).await).await;
    assert!(checked["release"].is_null(), "{checked}");
    let why = checked["refusal"].as_str().unwrap();
    assert!(
        why.starts_with("release.json does not match the hash"),
        "{why}"
    );
    let page = app
        .get("/updates", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("release.json does not match the hash"),
        "{page}"
    );
    assert!(
        !page.contains("data-testid=\"update-badge\""),
        "no badge without an offer"
    );

    // Every check is in the audit log (Update now checked once more).
    let audit = app
        .get("/audit.csv", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(audit.matches("update check").count(), 3, "{audit}");
}

#[tokio::test]
async fn a_channel_from_the_environment_is_read_only() {
    let (dir, _channel, url, root) = published().await;
    let root_file = dir.path().join("1.root.json");
    std::fs::write(&root_file, &root).unwrap();
    let app = spawn_app_with(|s| {
        s.channel_url = Some(url.clone());
        s.channel_root = Some(root_file.clone());
    })
    .await;
    let cookie = app.claim().await;
    let page = app
        .get("/updates", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Set by BURROW_CHANNEL_URL"), "{page}");
    assert!(!page.contains("Save channel"), "{page}");
    let res = app
        .call(
            "/api/updates/channel",
            &[("url", "https://elsewhere.example/"), ("root", &root)],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let checked = json(app.call("/api/updates/check", &[], Some(&cookie)).await).await;
    assert_eq!(checked["release"]["version"], "0.16.3", "{checked}");
}

/// Private registry credentials: malformed ones refused beside their field
/// (nothing kept), good ones kept sealed (not in the database file, never on
/// a page or in an answer), then removed.
#[tokio::test]
async fn registry_credentials_are_checked_kept_sealed_and_never_shown() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let secret = "hunter2-registry-secret";
    let bad = format!(r#"{{"username":"ci","password":"{secret}"}}"#);
    let res = app
        .call("/api/updates/registry", &[("auth", &bad)], Some(&cookie))
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(res).await;
    assert_eq!(body["Invalid"]["field"], "auth", "{body}");
    assert!(
        body["Invalid"]["message"]
            .as_str()
            .unwrap()
            .contains("serveraddress"),
        "{body}"
    );
    assert!(!body.to_string().contains(secret));
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    assert!(view["registry"].is_null(), "{view}");

    let good = format!(
        r#"{{"username":"ci","password":"{secret}","serveraddress":"registry.example:5000"}}"#
    );
    let res = app
        .call("/api/updates/registry", &[("auth", &good)], Some(&cookie))
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let page = app
        .get("/updates", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Images from registry.example:5000 are pulled as ci"),
        "{page}"
    );
    assert!(!page.contains(secret));
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    assert_eq!(view["registry"]["host"], "registry.example:5000", "{view}");
    assert!(!view.to_string().contains(secret));
    for file in ["burrow.db", "burrow.db-wal"] {
        let bytes = std::fs::read(app.data.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{file} holds the password in the clear"
        );
    }

    let res = app
        .call("/api/updates/registry/remove", &[], Some(&cookie))
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    assert!(view["registry"].is_null(), "{view}");
}
