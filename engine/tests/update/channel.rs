//! The update channel end to end: `burrow release`'s publisher makes a real
//! TUF repository in a temporary directory, served over loopback HTTP (and
//! read as file:// too), and the client verifies it with tough. Every
//! refusal the issue lists gets its own sentence; none of them touches a
//! container (the check reads metadata only).

use std::net::SocketAddr;
use std::path::Path;

use engine::update::publish::ChannelDir;
use engine::update::{check, ChannelSettings, Installed, Release};

/// A release pinning every service of the stack.
fn release(sequence: u64, version: &str) -> Release {
    Release {
        schema: 1,
        channel: "stable".into(),
        sequence,
        version: version.into(),
        min_from_version: None,
        released_at: "2026-12-01T10:00:00Z".into(),
        notes: "Fixes.".into(),
        requires_backup: true,
        images: engine::update::release::services()
            .into_iter()
            .map(|s| {
                (
                    s.to_owned(),
                    format!("127.0.0.1:5000/stoat/{s}@sha256:{}", "7e".repeat(32)),
                )
            })
            .collect(),
        health: Default::default(),
        migrations: Vec::new(),
    }
}

/// A published channel with release `sequence`, and its directory.
async fn published(sequence: u64) -> (tempfile::TempDir, ChannelDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let channel = ChannelDir::new(dir.path().join("stable"));
    let root = channel.init("stable", 2, 1).await.unwrap();
    channel.add(release(sequence, "0.16.3")).unwrap();
    channel.sign().await.unwrap();
    let root = std::fs::read(root).unwrap();
    (dir, channel, root)
}

/// Serves `dir` on loopback, as any static web server would.
async fn serve(dir: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(dir));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/")
}

fn settings(url: &str, root: &[u8]) -> ChannelSettings {
    ChannelSettings {
        url: url.to_owned(),
        root: root.to_vec(),
        name: "stable".into(),
    }
}

async fn refusal(
    settings: &ChannelSettings,
    store: &Path,
    installed: Option<&Installed>,
) -> String {
    match check(settings, store, installed).await {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_signed_release_is_read_over_http_and_from_a_directory() {
    let (_dir, channel, root) = published(42).await;
    let url = serve(&channel.published()).await;
    let store = tempfile::tempdir().unwrap();
    let checked = check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checked.release, release(42, "0.16.3"));
    assert_eq!(checked.root_version, 1);
    // The verified metadata is kept: a second check starts from it.
    let again = check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap();
    assert_eq!(again.timestamp_version, checked.timestamp_version);
    assert!(store.path().join("timestamp.json").is_file());

    let file_url = url::Url::from_directory_path(channel.published()).unwrap();
    let other = tempfile::tempdir().unwrap();
    let from_disk = check(&settings(file_url.as_str(), &root), other.path(), None)
        .await
        .unwrap();
    assert_eq!(from_disk.release.sequence, 42);

    // An address with nothing there says so.
    let nowhere = format!("{url}nothing-here/");
    let said = refusal(
        &settings(&nowhere, &root),
        tempfile::tempdir().unwrap().path(),
        None,
    )
    .await;
    assert!(said.starts_with("The channel has no http://"), "{said}");
}

#[tokio::test]
async fn downgrades_and_other_channels_are_refused() {
    let (_dir, channel, root) = published(42).await;
    let url = serve(&channel.published()).await;
    let store = tempfile::tempdir().unwrap();
    let installed = Installed {
        channel: "stable".into(),
        sequence: 43,
        version: "0.16.4".into(),
    };
    // Validly signed, but below what runs.
    let said = refusal(&settings(&url, &root), store.path(), Some(&installed)).await;
    assert!(said.contains("refused as a downgrade"), "{said}");
    // The very release that runs: nothing to offer.
    let same = Installed {
        sequence: 42,
        version: "0.16.3".into(),
        ..installed.clone()
    };
    let said = refusal(&settings(&url, &root), store.path(), Some(&same)).await;
    assert!(said.contains("already: up to date"), "{said}");
    let older = Installed {
        sequence: 41,
        ..installed
    };
    assert!(check(&settings(&url, &root), store.path(), Some(&older))
        .await
        .is_ok());
    let mut beta = settings(&url, &root);
    beta.name = "beta".into();
    let said = refusal(&beta, store.path(), None).await;
    assert!(said.contains("is for the channel \"stable\""), "{said}");
}

#[tokio::test]
async fn an_expired_timestamp_and_a_clock_set_back_are_refused() {
    let (_dir, channel, root) = published(1).await;
    let url = serve(&channel.published()).await;
    let store = tempfile::tempdir().unwrap();
    check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap();

    // The clock: Burrow saw the channel "later" than the machine says now.
    let known = store.path().join("latest_known_time.json");
    let seen = std::fs::read_to_string(&known).unwrap();
    std::fs::write(&known, "\"2999-01-01T00:00:00Z\"").unwrap();
    let said = refusal(&settings(&url, &root), store.path(), None).await;
    assert!(said.contains("the clock was set back"), "{said}");
    std::fs::write(&known, seen).unwrap();

    channel
        .refresh_timestamp(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1))
        .await
        .unwrap();
    let said = refusal(&settings(&url, &root), store.path(), None).await;
    assert!(
        said.starts_with("The channel's timestamp metadata has expired"),
        "{said}"
    );
    // Refreshed, it is offered again.
    channel
        .refresh_timestamp(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
        .await
        .unwrap();
    check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_flipped_byte_and_a_replayed_timestamp_are_refused() {
    let (_dir, channel, root) = published(1).await;
    let url = serve(&channel.published()).await;
    let store = tempfile::tempdir().unwrap();
    check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap();

    // A replay: the timestamp Burrow trusted before comes back after a newer one.
    let ts = channel.metadata().join("timestamp.json");
    let old = std::fs::read(&ts).unwrap();
    channel
        .refresh_timestamp(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
        .await
        .unwrap();
    check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap();
    std::fs::write(&ts, &old).unwrap();
    let said = refusal(&settings(&url, &root), store.path(), None).await;
    assert!(said.contains("already trusted version 2"), "{said}");
    channel
        .refresh_timestamp(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
        .await
        .unwrap();

    // One byte of the published release.json changed.
    let target = std::fs::read_dir(channel.targets())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".release.json"))
        .unwrap();
    let mut bytes = std::fs::read(&target).unwrap();
    let at = bytes.iter().position(|b| *b == b'6').unwrap();
    bytes[at] = b'7';
    std::fs::write(&target, bytes).unwrap();
    let said = refusal(&settings(&url, &root), store.path(), None).await;
    assert!(
        said.starts_with("release.json does not match the hash its signed metadata lists"),
        "{said}"
    );
}

#[tokio::test]
async fn a_rotated_root_is_followed_and_the_retired_keys_are_refused() {
    let (_dir, channel, root) = published(1).await;
    let url = serve(&channel.published()).await;
    let store = tempfile::tempdir().unwrap();
    assert_eq!(
        check(&settings(&url, &root), store.path(), None)
            .await
            .unwrap()
            .root_version,
        1
    );
    assert_eq!(channel.rotate_root().await.unwrap(), 2);
    // Burrow, given root 1 only, follows to root 2.
    let checked = check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap();
    assert_eq!(checked.root_version, 2);
    // tough's editor will not sign with a key the root no longer names
    // (so `burrow release` cannot make this mistake)...
    let retired = channel.keys().join("retired/v1/timestamp.pk8");
    let keys: Vec<Box<dyn tough::key_source::KeySource>> =
        vec![Box::new(tough::key_source::LocalKeySource {
            path: retired.clone(),
        })];
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    assert!(channel.timestamp_signed_with(soon, &keys).await.is_err());
    // ...and a timestamp signed with it by hand is refused.
    forge_timestamp(&channel, &retired).await;
    let said = refusal(&settings(&url, &root), store.path(), None).await;
    assert!(
        said.contains("timestamp metadata is not signed by enough of the keys"),
        "{said}"
    );
    // The next check still starts from root 2 (kept), even given root 1.
    channel
        .refresh_timestamp(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
        .await
        .unwrap();
    let checked = check(&settings(&url, &root), store.path(), None)
        .await
        .unwrap();
    assert_eq!(checked.root_version, 2);
}

/// A timestamp one version up signed with `key` (which the root no longer
/// names), written over the published one.
async fn forge_timestamp(channel: &ChannelDir, key: &Path) {
    use tough::key_source::{KeySource, LocalKeySource};
    use tough::schema::{Signature, Signed, Timestamp};
    let path = channel.metadata().join("timestamp.json");
    let mut ts: Signed<Timestamp> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    ts.signed.version = std::num::NonZeroU64::new(ts.signed.version.get() + 1).unwrap();
    let mut canonical = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut canonical,
        olpc_cjson::CanonicalFormatter::new(),
    );
    serde::Serialize::serialize(&ts.signed, &mut ser).unwrap();
    let signer = LocalKeySource {
        path: key.to_path_buf(),
    }
    .as_sign()
    .await
    .unwrap();
    let sig = signer
        .sign(&canonical, &aws_lc_rs::rand::SystemRandom::new())
        .await
        .unwrap();
    ts.signatures = vec![Signature {
        keyid: signer.tuf_key().key_id().unwrap(),
        sig: sig.into(),
    }];
    std::fs::write(&path, serde_json::to_vec_pretty(&ts).unwrap()).unwrap();
}
