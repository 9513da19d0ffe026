//! Publishing an update channel (`burrow release`): a directory whose
//! `channel/` is served as is by any static web server, and whose `keys/`
//! never leave the publisher's machine.
//!
//! ```text
//! DIR/name                     the channel's name (stable)
//! DIR/release.json             the release staged by `add`, published by `sign`
//! DIR/keys/root-1.pk8 …        Ed25519 keys, PKCS#8 DER, 0600
//! DIR/keys/{targets,snapshot,timestamp}.pk8
//! DIR/keys/retired/v<N>/       keys of root version N after a rotation
//! DIR/channel/metadata/        N.root.json, N.targets.json, N.snapshot.json, timestamp.json
//! DIR/channel/targets/         <sha256>.release.json (consistent snapshots)
//! ```
//!
//! Every role is signed with tough's editor; roots are written here (tough
//! has no root builder), the next version signed by the old root keys and
//! the new ones.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use tough::editor::signed::{PathExists, SignedRole};
use tough::editor::RepositoryEditor;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root, Signed, Timestamp};

use super::release::{Release, RELEASE_TARGET};

/// How long each role's metadata is valid after signing.
pub const ROOT_DAYS: i64 = 365;
pub const TARGETS_DAYS: i64 = 90;
pub const SNAPSHOT_DAYS: i64 = 90;
/// Refresh it before then (`burrow release refresh-timestamp`, e.g. daily
/// from cron): a channel whose timestamp expired offers nothing.
pub const TIMESTAMP_DAYS: i64 = 7;

const ROLES: [&str; 3] = ["targets", "snapshot", "timestamp"];

/// A channel directory.
#[derive(Debug, Clone)]
pub struct ChannelDir(PathBuf);

fn days(n: i64) -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * n)
}

fn fail(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl ChannelDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    pub fn keys(&self) -> PathBuf {
        self.0.join("keys")
    }

    pub fn metadata(&self) -> PathBuf {
        self.0.join("channel").join("metadata")
    }

    pub fn targets(&self) -> PathBuf {
        self.0.join("channel").join("targets")
    }

    /// The directory a web server publishes.
    pub fn published(&self) -> PathBuf {
        self.0.join("channel")
    }

    pub fn staged_release(&self) -> PathBuf {
        self.0.join(RELEASE_TARGET)
    }

    /// The channel's name, as `init` wrote it.
    pub fn name(&self) -> Result<String, String> {
        std::fs::read_to_string(self.0.join("name"))
            .map(|n| n.trim().to_owned())
            .map_err(|e| {
                format!(
                    "{} is not a channel made by `burrow release init` ({e}).",
                    self.0.display()
                )
            })
    }

    /// A new channel: keys (`root_keys` for the root, `threshold` of them
    /// needed), root version 1. Returns the root's path, the file every
    /// Burrow following the channel is given.
    pub async fn init(
        &self,
        name: &str,
        root_keys: usize,
        threshold: usize,
    ) -> Result<PathBuf, String> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!(
                "{name:?} is not a channel name: letters, digits and '-' (e.g. stable)."
            ));
        }
        if threshold == 0 || threshold > root_keys {
            return Err(format!(
                "A threshold of {threshold} root keys out of {root_keys} cannot be met: give a \
                 threshold from 1 to {root_keys}."
            ));
        }
        if self.newest_root_version().is_ok() {
            return Err(format!(
                "{} is a channel already: sign new releases into it, or rotate its root.",
                self.0.display()
            ));
        }
        crate::data_dir::tighten(&self.keys()).map_err(|e| fail("the keys folder", e))?;
        std::fs::create_dir_all(self.metadata()).map_err(|e| fail("the channel folder", e))?;
        std::fs::create_dir_all(self.targets()).map_err(|e| fail("the channel folder", e))?;
        std::fs::write(self.0.join("name"), format!("{name}\n"))
            .map_err(|e| fail("the channel's name", e))?;
        let set = self.new_keys(root_keys)?;
        let root = root_with(&set, threshold, NonZeroU64::MIN).await?;
        let signed = SignedRole::new(
            root.clone(),
            &KeyHolder::Root(root),
            &sources(&set.root),
            &SystemRandom::new(),
        )
        .await
        .map_err(|e| fail("signing the root", e))?;
        signed
            .write(self.metadata(), true)
            .await
            .map_err(|e| fail("writing the root", e))?;
        Ok(self.metadata().join("1.root.json"))
    }

    /// Stages `release` (checked) to be published by the next `sign`. A
    /// sequence of 0 takes the staged release's sequence plus one.
    pub fn add(&self, mut release: Release) -> Result<Release, String> {
        let name = self.name()?;
        if release.channel.is_empty() {
            release.channel = name.clone();
        }
        if release.channel != name {
            return Err(format!(
                "This channel is {name:?}; a release for {:?} does not belong in it.",
                release.channel
            ));
        }
        let previous = std::fs::read(self.staged_release())
            .ok()
            .and_then(|b| Release::parse(&b).ok());
        if release.sequence == 0 {
            release.sequence = previous.as_ref().map_or(1, |p| p.sequence + 1);
        }
        if let Some(p) = &previous {
            if release.sequence <= p.sequence {
                return Err(format!(
                    "Sequence {} is not above the last release's {} ({}): every release needs a \
                     higher one.",
                    release.sequence, p.sequence, p.version
                ));
            }
        }
        release.check()?;
        let text = serde_json::to_vec_pretty(&release).map_err(|e| fail("release.json", e))?;
        std::fs::write(self.staged_release(), text).map_err(|e| fail("release.json", e))?;
        Ok(release)
    }

    /// Publishes the staged release: targets, snapshot and timestamp signed
    /// with the role keys of the newest root, each version one above the
    /// last timestamp's. Returns that version.
    pub async fn sign(&self) -> Result<u64, String> {
        let release = self.staged_release();
        if !release.is_file() {
            return Err("There is no release to sign: `burrow release add` one first.".into());
        }
        let (root_path, _) = self.newest_root()?;
        let version =
            NonZeroU64::new(self.timestamp_version().unwrap_or(0) + 1).unwrap_or(NonZeroU64::MIN);
        let mut editor = RepositoryEditor::new(&root_path)
            .await
            .map_err(|e| fail("reading the root", e))?;
        editor
            .targets_version(version)
            .map_err(|e| fail("targets", e))?
            .targets_expires(days(TARGETS_DAYS))
            .map_err(|e| fail("targets", e))?
            .snapshot_version(version)
            .snapshot_expires(days(SNAPSHOT_DAYS))
            .timestamp_version(version)
            .timestamp_expires(days(TIMESTAMP_DAYS));
        editor
            .add_target_path(&release)
            .await
            .map_err(|e| fail("adding release.json", e))?;
        let keys = self.role_key_sources()?;
        let signed = editor
            .sign(&keys)
            .await
            .map_err(|e| fail("signing (are the role keys in keys/?)", e))?;
        signed
            .copy_target(&release, &self.targets(), PathExists::Replace, None)
            .await
            .map_err(|e| fail("publishing release.json", e))?;
        signed
            .write(self.metadata())
            .await
            .map_err(|e| fail("writing the metadata", e))?;
        Ok(version.get())
    }

    /// Signs the timestamp again, one version up, valid until `expires`
    /// (nothing else changes). Returns its version.
    pub async fn refresh_timestamp(&self, expires: jiff::Timestamp) -> Result<u64, String> {
        self.timestamp_signed_with(expires, &sources(&[self.keys().join("timestamp.pk8")]))
            .await
    }

    /// The timestamp one version up, valid until `expires`, signed with
    /// `keys` against the newest root (tests sign with retired keys).
    pub async fn timestamp_signed_with(
        &self,
        expires: jiff::Timestamp,
        keys: &[Box<dyn KeySource>],
    ) -> Result<u64, String> {
        let path = self.metadata().join("timestamp.json");
        let bytes = std::fs::read(&path)
            .map_err(|_| "Nothing is signed yet: `burrow release sign` first.".to_owned())?;
        let mut timestamp: Signed<Timestamp> =
            serde_json::from_slice(&bytes).map_err(|e| fail("timestamp.json", e))?;
        let version = timestamp.signed.version.get() + 1;
        timestamp.signed.version = NonZeroU64::new(version).unwrap_or(NonZeroU64::MIN);
        timestamp.signed.expires = expires;
        let (_, root) = self.newest_root()?;
        let signed = SignedRole::new(
            timestamp.signed,
            &KeyHolder::Root(root.signed.clone()),
            keys,
            &SystemRandom::new(),
        )
        .await
        .map_err(|e| fail("signing the timestamp (is keys/timestamp.pk8 there?)", e))?;
        signed
            .write(self.metadata(), root.signed.consistent_snapshot)
            .await
            .map_err(|e| fail("writing timestamp.json", e))?;
        Ok(version)
    }

    /// The next root: new keys for every role (the old ones moved to
    /// `keys/retired/v<N>/`), signed by the old root keys and the new
    /// ones, then the release signed again with the new role keys. Returns
    /// the new root's version.
    pub async fn rotate_root(&self) -> Result<u64, String> {
        let (_, old) = self.newest_root()?;
        let old_version = old.signed.version.get();
        let threshold = old.signed.roles[&RoleType::Root].threshold.get() as usize;
        let old_root_keys: Vec<PathBuf> = self.root_key_files()?;
        let retired = self.keys().join("retired").join(format!("v{old_version}"));
        crate::data_dir::tighten(&retired).map_err(|e| fail("keys/retired", e))?;
        let mut moved = Vec::new();
        for file in old_root_keys
            .iter()
            .cloned()
            .chain(ROLES.iter().map(|r| self.keys().join(format!("{r}.pk8"))))
        {
            let to = retired.join(file.file_name().unwrap_or_default());
            std::fs::rename(&file, &to).map_err(|e| fail("retiring a key", e))?;
            moved.push(to);
        }
        let set = self.new_keys(old_root_keys.len())?;
        let version = NonZeroU64::new(old_version + 1).unwrap_or(NonZeroU64::MIN);
        let root = root_with(&set, threshold, version).await?;
        let rng = SystemRandom::new();
        let by_new = SignedRole::new(
            root.clone(),
            &KeyHolder::Root(root.clone()),
            &sources(&set.root),
            &rng,
        )
        .await
        .map_err(|e| fail("signing the new root", e))?;
        let old_keys: Vec<PathBuf> = moved
            .iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("root-"))
            })
            .cloned()
            .collect();
        let by_old = SignedRole::new(
            root.clone(),
            &KeyHolder::Root(old.signed.clone()),
            &sources(&old_keys),
            &rng,
        )
        .await
        .map_err(|e| fail("signing the new root with the old keys", e))?;
        let both = by_new
            .add_old_signatures(by_old.signed().signatures.clone())
            .map_err(|e| fail("joining the signatures", e))?;
        both.write(self.metadata(), true)
            .await
            .map_err(|e| fail("writing the new root", e))?;
        if self.staged_release().is_file() {
            self.sign().await?;
        }
        Ok(version.get())
    }

    /// Fresh Ed25519 keys: `root_keys` root keys and one per other role.
    fn new_keys(&self, root_keys: usize) -> Result<KeySet, String> {
        let rng = SystemRandom::new();
        let write = |name: String| -> Result<PathBuf, String> {
            let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|e| fail("making a key", e))?;
            let path = self.keys().join(name);
            stack::files::write_file(&path, pkcs8.as_ref(), 0o600)
                .map_err(|e| fail("writing a key", e))?;
            Ok(path)
        };
        let root = (1..=root_keys)
            .map(|i| write(format!("root-{i}.pk8")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut roles = HashMap::new();
        for role in ROLES {
            roles.insert(role, write(format!("{role}.pk8"))?);
        }
        Ok(KeySet { root, roles })
    }

    fn root_key_files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.keys())
            .map_err(|e| fail("keys/", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("root-"))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    fn role_key_sources(&self) -> Result<Vec<Box<dyn KeySource>>, String> {
        let files: Vec<PathBuf> = ROLES
            .iter()
            .map(|r| self.keys().join(format!("{r}.pk8")))
            .collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(format!("{} is missing.", missing.display()));
        }
        Ok(sources(&files))
    }

    fn newest_root_version(&self) -> Result<u64, String> {
        let mut newest = None;
        for entry in std::fs::read_dir(self.metadata()).map_err(|e| fail("metadata/", e))? {
            let name = entry.map_err(|e| fail("metadata/", e))?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".root.json")
                .and_then(|n| n.parse::<u64>().ok())
            {
                newest = newest.max(Some(n));
            }
        }
        newest.ok_or_else(|| "There is no root: `burrow release init` first.".to_owned())
    }

    /// The newest root's path and content.
    pub fn newest_root(&self) -> Result<(PathBuf, Signed<Root>), String> {
        let version = self.newest_root_version()?;
        let path = self.metadata().join(format!("{version}.root.json"));
        let bytes = std::fs::read(&path).map_err(|e| fail("the root", e))?;
        let root = serde_json::from_slice(&bytes).map_err(|e| fail("the root", e))?;
        Ok((path, root))
    }

    fn timestamp_version(&self) -> Option<u64> {
        let bytes = std::fs::read(self.metadata().join("timestamp.json")).ok()?;
        let ts: Signed<Timestamp> = serde_json::from_slice(&bytes).ok()?;
        Some(ts.signed.version.get())
    }
}

struct KeySet {
    root: Vec<PathBuf>,
    roles: HashMap<&'static str, PathBuf>,
}

fn sources(files: &[PathBuf]) -> Vec<Box<dyn KeySource>> {
    files
        .iter()
        .map(|path| Box::new(LocalKeySource { path: path.clone() }) as Box<dyn KeySource>)
        .collect()
}

/// The key id and TUF key of a key file.
async fn tuf_key(path: &Path) -> Result<(Decoded<Hex>, tough::schema::key::Key), String> {
    let source = LocalKeySource {
        path: path.to_path_buf(),
    };
    let sign = source
        .as_sign()
        .await
        .map_err(|e| fail(&path.display().to_string(), e))?;
    let key = sign.tuf_key();
    let id = key.key_id().map_err(|e| fail("a key id", e))?;
    Ok((id, key))
}

/// A root naming `set`'s keys.
async fn root_with(set: &KeySet, threshold: usize, version: NonZeroU64) -> Result<Root, String> {
    let mut keys = HashMap::new();
    let mut roles = HashMap::new();
    let mut root_ids = Vec::new();
    for path in &set.root {
        let (id, key) = tuf_key(path).await?;
        root_ids.push(id.clone());
        keys.insert(id, key);
    }
    let role_keys = |ids: Vec<Decoded<Hex>>, threshold: usize| RoleKeys {
        keyids: ids,
        threshold: NonZeroU64::new(threshold as u64).unwrap_or(NonZeroU64::MIN),
        _extra: HashMap::new(),
    };
    roles.insert(RoleType::Root, role_keys(root_ids, threshold));
    for (role, kind) in [
        ("targets", RoleType::Targets),
        ("snapshot", RoleType::Snapshot),
        ("timestamp", RoleType::Timestamp),
    ] {
        let (id, key) = tuf_key(&set.roles[role]).await?;
        keys.insert(id.clone(), key);
        roles.insert(kind, role_keys(vec![id], 1));
    }
    Ok(Root {
        spec_version: "1.0.0".to_owned(),
        consistent_snapshot: true,
        version,
        expires: days(ROOT_DAYS),
        keys,
        roles,
        _extra: HashMap::new(),
    })
}

/// `image` without its tag (`repo:tag` -> `repo`; a registry port stays).
fn without_tag(image: &str) -> &str {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => &image[..last_slash + i],
        None => image,
    }
}

/// A release's images from a stack configuration: every service's image
/// pinned by digest, a tag resolved to the digest its registry has for it
/// now (asked through `docker`); an image already pinned is kept as it is.
pub async fn pin_images(
    docker: &crate::deploy::docker::DockerTarget,
    config: &stack::model::StackConfig,
    auth: Option<&super::registry::RegistryAuth>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut resolved: BTreeMap<String, String> = BTreeMap::new();
    for service in stack::model::Service::ALL {
        let image = config.images.get(service).as_str().to_owned();
        let pinned = match image.split_once('@') {
            Some((name, digest)) => format!("{}@{digest}", without_tag(name)),
            None => match resolved.get(&image) {
                Some(p) => p.clone(),
                None => {
                    let digest = docker
                        .registry_digest(&image, auth)
                        .await
                        .map_err(|e| format!("{} ({}): {e}", service.name(), image))?;
                    let p = format!("{}@{digest}", without_tag(&image));
                    resolved.insert(image.clone(), p.clone());
                    p
                }
            },
        };
        out.insert(service.name().to_owned(), pinned);
    }
    Ok(out)
}

#[cfg(test)]
mod pin_tests {
    use super::without_tag;

    #[test]
    fn a_tag_is_taken_off_but_a_registry_port_stays() {
        assert_eq!(
            without_tag("ghcr.io/stoatchat/api:v0.15.1"),
            "ghcr.io/stoatchat/api"
        );
        assert_eq!(
            without_tag("127.0.0.1:5000/kit/api:v2"),
            "127.0.0.1:5000/kit/api"
        );
        assert_eq!(
            without_tag("127.0.0.1:5000/kit/api"),
            "127.0.0.1:5000/kit/api"
        );
        assert_eq!(without_tag("redis"), "redis");
    }
}
