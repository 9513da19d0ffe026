//! Backups against the real daemon: the test-kit stack deployed through
//! the deployer, a file put into Redis' volume, a key into Redis itself
//! (Debian's real server, signed in with the rendered password) and a
//! vhost into RabbitMQ (real too, its Mnesia database), a backup
//! taken (the data services stopped while read and running again after),
//! every volume deleted, the backup restored: the file, key and vhost are back
//! and the stack runs. A damaged archive is refused.

use engine::backup::Backups;
use engine::deploy::Target;

use crate::support::*;

fn running(stack: &str, service: &str) -> bool {
    sh(&format!(
        "docker inspect --format '{{{{.State.Running}}}}' {stack}-{service}"
    ))
    .trim()
        == "true"
}

#[tokio::test]
async fn a_restored_backup_brings_a_volume_file_back() {
    let kit = Kit::new("bt-backup");
    let _cleanup = kit.cleanup();
    let docker = target().await;
    let setup = Setup::new().await;
    setup.deploy_kit(&kit).await;

    let marker = setup.dir.path().join("marker");
    std::fs::write(&marker, "kept by the backup").unwrap();
    sh(&format!(
        "docker cp {} bt-backup-redis:/data/burrow-marker",
        marker.display()
    ));

    // The rendered password works on the real server, another does not.
    assert_eq!(redis_cli("bt-backup", None, "SET burrow:marker kept"), "OK");
    let refused = redis_cli("bt-backup", Some("not-the-password"), "GET burrow:marker");
    assert_eq!(refused, "NOAUTH Authentication required.");
    rabbitmqctl("bt-backup", &["add_vhost", "burrow-marker"]);

    let backups = Backups::new(setup.dir.path(), 5);
    // Room for it is checked first (no backup yet: the margin only).
    backups
        .check_space("bt-backup")
        .unwrap_or_else(|e| panic!("no room for a backup: {e}"));
    let taken = backups
        .create(&setup.deployer, "test")
        .await
        .unwrap_or_else(|e| panic!("backup failed: {e}"));
    let volumes: Vec<&str> = taken.volumes.iter().map(|v| v.volume.as_str()).collect();
    assert_eq!(
        volumes,
        [
            "minio-data",
            "mongo-config",
            "mongo-data",
            "rabbit-data",
            "redis-data"
        ]
    );
    assert!(taken
        .volumes
        .iter()
        .all(|v| v.fingerprint.is_some() && v.bytes > 0));
    for service in ["database", "redis", "rabbit", "minio"] {
        assert!(
            running("bt-backup", service),
            "{service} was not started again"
        );
    }
    assert_eq!(backups.list(), std::slice::from_ref(&taken));
    let archive = setup.dir.path().join(format!("backups/{}.tar", taken.id));
    assert!(archive.is_file());

    // The data is lost...
    let (tx, _rx) = channel();
    docker.remove("bt-backup", true, &tx).await.unwrap();
    assert!(
        sh("docker volume ls -q --filter label=burrow.stack=bt-backup")
            .trim()
            .is_empty()
    );
    // ...and comes back.
    backups
        .restore(&setup.deployer, &taken.id, "test")
        .await
        .unwrap_or_else(|e| panic!("restore failed: {e}"));
    let back = sh("docker cp bt-backup-redis:/data/burrow-marker - | tar -xO");
    assert_eq!(back, "kept by the backup");
    // Redis wrote the key to its append-only file when the backup stopped
    // it, and reads it back from the restored volume.
    assert_eq!(redis_cli("bt-backup", None, "GET burrow:marker"), "kept");
    let vhosts = rabbitmqctl("bt-backup", &["list_vhosts"]);
    assert!(
        vhosts.lines().any(|l| l.trim() == "burrow-marker"),
        "RabbitMQ lost its vhost: {vhosts}"
    );
    let label = sh("docker volume inspect bt-backup_redis-data \
         --format '{{index .Labels \"burrow.secrets-fingerprint\"}}'");
    let redis = taken
        .volumes
        .iter()
        .find(|v| v.volume == "redis-data")
        .unwrap();
    assert_eq!(Some(label.trim()), redis.fingerprint.as_deref());
    assert!(running("bt-backup", "api"));

    // One byte of the archive changed: refused, nothing touched.
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 2000;
    bytes[last] ^= 0x01;
    std::fs::write(&archive, bytes).unwrap();
    let err = backups
        .restore(&setup.deployer, &taken.id, "test")
        .await
        .expect_err("a damaged backup is refused");
    assert!(
        err.to_string().contains("does not match its checksum"),
        "{err}"
    );
    assert!(running("bt-backup", "redis"));
    let unknown = backups
        .restore(&setup.deployer, "../etc", "test")
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().starts_with("There is no backup"),
        "{unknown}"
    );
}
