//! A real pull: Debian's `docker-registry` on a loopback port serves an
//! image that is not on this machine; applying a plan that uses it pulls it
//! with per-layer progress, then the service starts from it.

use std::process::Command;

use engine::deploy::{ApplyOptions, ProgressEvent, Target};

use crate::support::*;

#[tokio::test]
async fn missing_image_is_pulled_from_a_registry_with_progress() {
    let kit = Kit::new("bt-realpull");
    let _cleanup = kit.cleanup();
    let target = target().await;
    let registry = start_registry();

    // An image only the registry has: the Redis stand-in plus a layer of
    // random bytes (so there is something to download), pushed, then
    // removed here.
    let base = kit.subset(&["redis"]).services[0]
        .image
        .as_str()
        .to_string();
    let image = format!(
        "127.0.0.1:{}/burrow-test/redis:pull-{}",
        registry.port,
        std::process::id()
    );
    let ctx = tempfile::tempdir().unwrap();
    let blob: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(ctx.path().join("blob"), blob).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY blob /pull-test-blob\n"),
    )
    .unwrap();
    sh(&format!(
        "docker build -q -t {image} {} >/dev/null && docker push -q {image} >/dev/null && docker rmi {image} >/dev/null",
        ctx.path().display()
    ));
    let _image_cleanup = ImageCleanup(image.clone());
    assert!(
        !Command::new("docker")
            .args(["image", "inspect", &image])
            .output()
            .unwrap()
            .status
            .success(),
        "the image must not be on this machine before the apply"
    );

    let mut plan = kit.subset(&["redis"]);
    plan.services[0].image = stack::model::ImageRef::parse(&image).unwrap();
    let (tx, mut rx) = channel();
    let report = target
        .apply(&kit.request_for(plan, 1), &ApplyOptions::default(), &tx)
        .await
        .unwrap_or_else(|e| panic!("apply with a pull failed: {e}"));
    assert_eq!(names(&report.created), ["redis"].into());
    let events = drain(&mut rx);

    let started = events
        .iter()
        .position(|e| matches!(e, ProgressEvent::PullStarted { service, image: i } if service == "redis" && *i == image))
        .unwrap_or_else(|| panic!("no PullStarted: {events:#?}"));
    let done = events
        .iter()
        .position(|e| matches!(e, ProgressEvent::PullDone { image: i } if *i == image))
        .unwrap_or_else(|| panic!("no PullDone: {events:#?}"));
    assert!(started < done);
    let progress: Vec<_> = events[started..done]
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::PullProgress {
                image: i,
                status,
                current,
                total,
                ..
            } if *i == image => Some((status.clone(), *current, *total)),
            _ => None,
        })
        .collect();
    eprintln!(
        "{} progress events, e.g. {:?}",
        progress.len(),
        progress.iter().find(|(s, _, _)| s.contains("Downloading"))
    );
    assert!(
        progress
            .iter()
            .any(|(s, c, t)| s.contains("Downloading") && c.is_some() && t.is_some_and(|t| t > 0)),
        "a layer download reports bytes: {progress:#?}"
    );
    assert!(
        progress.iter().any(|(s, _, _)| s.contains("Pull complete")),
        "{progress:#?}"
    );
    // The image's totals: every layer done, every byte counted.
    let last = events[started..done]
        .iter()
        .rev()
        .find_map(|e| match e {
            ProgressEvent::PullProgress { tally, .. } => Some(*tally),
            _ => None,
        })
        .unwrap();
    assert!(last.layers >= 1, "{last:?}");
    assert_eq!(last.layers_done, last.layers, "{last:?}");
    assert!(
        last.bytes_total > 0 && last.bytes == last.bytes_total,
        "{last:?}"
    );
    // Containers are created only after every image is there.
    let first_create = events
        .iter()
        .position(|e| matches!(e, ProgressEvent::Creating { .. }))
        .unwrap_or_else(|| panic!("nothing created: {events:#?}"));
    assert!(done < first_create, "{events:#?}");

    let status = target.status(&kit.stack).await.unwrap();
    let redis = status.iter().find(|s| s.service == "redis").unwrap();
    assert_eq!(redis.image, image);
    sh(&format!("docker image inspect {image} >/dev/null"));
}

/// Removes the pulled image, whatever the test did.
struct ImageCleanup(String);

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker ps -aq --filter ancestor={0} | xargs -r docker rm -f >/dev/null 2>&1; docker rmi -f {0} >/dev/null 2>&1",
                self.0
            ))
            .status();
    }
}

/// A private registry (htpasswd): an image pinned by digest is pulled with
/// the credentials for that registry, refused without them, and the
/// credentials are not sent to a registry they are not for; a tag resolves
/// to its digest with them (`release add --config`).
#[tokio::test]
async fn a_private_registry_is_pulled_from_with_its_credentials() {
    use engine::update::registry::RegistryAuth;
    let kit = Kit::new("bt-privpull");
    let target = target().await;
    let password = format!("pw-{}", std::process::id());
    let registry = start_private_registry("ci", &password);
    let host = format!("127.0.0.1:{}", registry.port);
    let base = kit.subset(&["redis"]).services[0]
        .image
        .as_str()
        .to_string();
    let tag = format!("{host}/kit/redis:private-{}", std::process::id());
    // Pushed with a login that is gone again afterwards; the local copy
    // removed, so the daemon must pull.
    let pushed = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'FROM {base}\\nLABEL burrow.test=private\\n' | docker build -q -t {tag} - >/dev/null \
             && echo \"$PW\" | docker login {host} -u ci --password-stdin >/dev/null 2>&1 \
             && docker push -q {tag} >/dev/null; rc=$?; docker logout {host} >/dev/null 2>&1; \
             [ $rc -eq 0 ] && docker inspect --format '{{{{range .RepoDigests}}}}{{{{println .}}}}{{{{end}}}}' {tag}"
        ))
        .env("PW", &password)
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let pinned = String::from_utf8(pushed.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{host}/kit/redis@")))
        .expect("a digest from the registry")
        .to_owned();
    sh(&format!("docker rmi -f {tag} {pinned} >/dev/null"));

    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let anonymous = target
        .ensure_pinned(std::slice::from_ref(&pinned), None, &tx)
        .await;
    assert!(anonymous.is_err(), "pulled without credentials");
    let elsewhere = RegistryAuth {
        username: "ci".into(),
        password: password.clone(),
        serveraddress: "registry.example:5000".into(),
    };
    let other = target
        .ensure_pinned(std::slice::from_ref(&pinned), Some(&elsewhere), &tx)
        .await;
    assert!(other.is_err(), "credentials for another registry were sent");
    let auth = RegistryAuth::parse(&format!(
        r#"{{"username":"ci","password":"{password}","serveraddress":"{host}"}}"#
    ))
    .unwrap();
    target
        .ensure_pinned(std::slice::from_ref(&pinned), Some(&auth), &tx)
        .await
        .unwrap_or_else(|e| panic!("pull with credentials: {e}"));
    let digest = target.registry_digest(&tag, Some(&auth)).await.unwrap();
    assert!(
        pinned.ends_with(&format!("@{digest}")),
        "{pinned} vs {digest}"
    );
    assert!(target.registry_digest(&tag, None).await.is_err());
    let err = anonymous.unwrap_err().to_string();
    assert!(!err.contains(&password));
    sh(&format!("docker rmi -f {pinned} >/dev/null"));
}
