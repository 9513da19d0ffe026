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
    let fields = field_names(&body);
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

/// Reads the SSE stream `res` until an event named `name` whose data
/// contains `needle`; its data. Fails after 20 s.
async fn event_until(
    res: &mut reqwest::Response,
    buf: &mut String,
    name: &str,
    needle: &str,
) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("");
            if event == name && data.contains(needle) {
                return data.to_owned();
            }
        }
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {name} event with {needle:?}; last: {buf}"))
            .unwrap();
        match chunk {
            Some(bytes) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            None => panic!("the stream ended before a {name} event with {needle:?}"),
        }
    }
}

/// A running update's row, as the page follows it: the live view sends it
/// at once (its pull progress), again when the journal moves on (a step
/// logged, the phase changed), and `done` when it ends; an unknown update
/// is a 404 with a sentence, and the stream is behind the sign-in gate.
#[tokio::test]
async fn a_running_update_is_followed_live_from_its_journal() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let res = app.get("/live/updates/41", Some(&cookie)).await;
    assert_status(&res, StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("No such update."));

    let store = app.db().await;
    let release = engine::update::Release {
        schema: 1,
        channel: "stable".into(),
        sequence: 3,
        version: "0.3.0".into(),
        min_from_version: None,
        released_at: "2026-12-01T10:00:00Z".into(),
        notes: String::new(),
        requires_backup: false,
        images: Default::default(),
        health: Default::default(),
        migrations: Vec::new(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO rollouts (started_at, actor, release, from_revision, phase, owner_pid, \
         owner_host, heartbeat_at, progress) VALUES (?, 'admin', ?, 1, ?, ?, 'box', ?, ?) \
         RETURNING id",
    )
    .bind(now)
    .bind(serde_json::to_string(&release).unwrap())
    .bind(r#"{"phase":"preflight"}"#)
    .bind(i64::from(std::process::id()))
    .bind(now)
    .bind("Pulling kit/api: 1 of 2 layers, 3 of 9 MB (0 of 16 images pulled so far)")
    .fetch_one(store.pool())
    .await
    .unwrap();

    let mut live = app.get(&format!("/live/updates/{id}"), Some(&cookie)).await;
    assert_status(&live, StatusCode::OK);
    let mut buf = String::new();
    let first = event_until(&mut live, &mut buf, "rollout", "Pulling kit/api").await;
    let first: wire::updates::RolloutView = serde_json::from_str(&first).unwrap();
    assert_eq!((first.id, first.state.as_str()), (id, "running"));
    assert!(first.steps.is_empty() && first.finished_at.is_none());

    // The journal moves on: the preflight is logged, the backup begins.
    sqlx::query(
        "INSERT INTO rollout_steps (rollout_id, step, started_ms, took_ms) VALUES (?, 'preflight', 0, 1500)",
    )
    .bind(id)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE rollouts SET phase = ?, progress = NULL WHERE id = ?")
        .bind(r#"{"phase":"backed_up"}"#)
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    let moved = event_until(
        &mut live,
        &mut buf,
        "rollout",
        "Pulled and checked every image",
    )
    .await;
    let moved: wire::updates::RolloutView = serde_json::from_str(&moved).unwrap();
    assert_eq!(moved.progress, None);
    assert_eq!(moved.steps[0].took_ms, 1500);

    // It ends: `done` with the outcome, then the stream closes.
    sqlx::query("UPDATE rollouts SET phase = ?, finished_at = ? WHERE id = ?")
        .bind(r#"{"phase":"aborted","why":"the disk is full"}"#)
        .bind(now + 2)
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
    let done = event_until(&mut live, &mut buf, "done", "the disk is full").await;
    let done: wire::updates::RolloutView = serde_json::from_str(&done).unwrap();
    assert_eq!(done.state, "aborted");
    let rest = tokio::time::timeout(std::time::Duration::from_secs(5), live.chunk())
        .await
        .expect("the stream closes after done")
        .unwrap();
    assert!(rest.is_none(), "{rest:?}");

    // Behind the gate.
    assert_redirect(
        &app.get(&format!("/live/updates/{id}"), None).await,
        "/login",
    );
}

#[tokio::test]
async fn automatic_updates_are_set_and_a_bad_window_is_refused_by_field() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    assert_eq!(view["auto"]["enabled"], false, "{view}");
    assert_eq!(view["auto"]["window"], "Sundays, 03:00-05:00 UTC", "{view}");

    // No day, a start that is no time, an end past the day: each named.
    let res = app
        .call(
            "/api/updates/auto",
            &[("enabled", "true"), ("start", "3am"), ("end", "24:00")],
            Some(&cookie),
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(res).await;
    let fields = field_names(&body);
    assert_eq!(fields, ["days", "start", "end"], "{body}");
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    assert_eq!(view["auto"]["enabled"], false, "nothing saved: {view}");

    let res = app
        .call(
            "/api/updates/auto",
            &[
                ("enabled", "true"),
                ("wed", "true"),
                ("sat", "true"),
                ("start", "23:30"),
                ("end", "1:15"),
            ],
            Some(&cookie),
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let view = json(app.call("/api/updates", &[], Some(&cookie)).await).await;
    let auto = &view["auto"];
    assert_eq!(auto["enabled"], true, "{view}");
    assert_eq!(auto["days"], serde_json::json!(["wed", "sat"]));
    assert_eq!(
        (auto["start"].as_str(), auto["end"].as_str()),
        (Some("23:30"), Some("01:15"))
    );
    assert_eq!(
        auto["window"],
        "Wednesdays and Saturdays, 23:30-01:15 UTC (into the next day)"
    );
    assert!(
        auto["next_window"].as_i64().is_some() || auto["open_now"] == true,
        "{auto}"
    );
    let page = app
        .get("/updates", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("On: Wednesdays and Saturdays, 23:30-01:15 UTC (into the next day)."),
        "{page}"
    );
    let audit = app.get("/audit", Some(&cookie)).await.text().await.unwrap();
    assert!(audit.contains("automatic updates"), "{audit}");
}
