//! `release.json`, the one target of an update channel: what a release is,
//! checked strictly (schema 1), and whether it may be offered to this
//! install (its channel, a sequence above the installed one, the version it
//! must be updated from).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The TUF target name of the release.
pub const RELEASE_TARGET: &str = "release.json";

/// The schema this Burrow reads.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub schema: u32,
    pub channel: String,
    /// Strictly increasing per channel.
    pub sequence: u64,
    /// `major.minor.patch`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_from_version: Option<String>,
    /// RFC 3339.
    pub released_at: String,
    /// Markdown shown on the Updates page.
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub requires_backup: bool,
    /// Service name -> image pinned by digest (`repo@sha256:<64 hex>`).
    pub images: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub health: BTreeMap<String, HealthOverride>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<Migration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy_s: Option<u64>,
}

/// A migration declared as data: of the config (applied by the rollout to
/// a copy of the config as a new revision; never code from the channel),
/// or of the stored data (done by the release's images; rolled back by
/// restoring the backup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    pub id: String,
    pub description: String,
    pub kind: String,
    #[serde(default)]
    pub ops: Vec<serde_json::Value>,
}

/// What an install runs now, as far as updates are concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub channel: String,
    pub sequence: u64,
    pub version: String,
}

/// The services a release must pin: every image of the stack.
pub fn services() -> Vec<&'static str> {
    stack::model::Service::ALL
        .iter()
        .map(|s| s.name())
        .collect()
}

impl Release {
    /// `bytes` as a release, every field checked; `Err` says what is wrong
    /// (one sentence per problem).
    pub fn parse(bytes: &[u8]) -> Result<Release, String> {
        let release: Release = serde_json::from_slice(bytes)
            .map_err(|e| format!("release.json is not a release (schema {SCHEMA}): {e}."))?;
        release.check()?;
        Ok(release)
    }

    /// Every rule of schema 1.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.schema != SCHEMA {
            problems.push(format!(
                "its schema is {}, and this Burrow reads schema {SCHEMA}: update Burrow itself first.",
                self.schema
            ));
        }
        if self.channel.trim().is_empty() {
            problems.push("it names no channel.".to_owned());
        }
        if self.sequence == 0 {
            problems.push("its sequence must be 1 or more.".to_owned());
        }
        if Version::parse(&self.version).is_none() {
            problems.push(format!(
                "its version {:?} is not major.minor.patch.",
                self.version
            ));
        }
        if let Some(min) = &self.min_from_version {
            if Version::parse(min).is_none() {
                problems.push(format!(
                    "its min_from_version {min:?} is not major.minor.patch."
                ));
            }
        }
        if jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%Q%:z", &self.released_at).is_err()
            && self.released_at.parse::<jiff::Timestamp>().is_err()
        {
            problems.push(format!(
                "its released_at {:?} is not an RFC 3339 time.",
                self.released_at
            ));
        }
        let known = services();
        for name in &known {
            match self.images.get(*name) {
                None => problems.push(format!("it pins no image for {name}.")),
                Some(image) if !pinned(image) => problems.push(format!(
                    "its image for {name}, {image:?}, is not pinned by digest \
                     (repo@sha256:<64 hex>)."
                )),
                Some(_) => {}
            }
        }
        for m in &self.migrations {
            if let Err(why) = super::migrate::check(m) {
                problems.push(why);
            }
        }
        if super::migrate::changes_data(&self.migrations) && !self.requires_backup {
            problems.push(
                "it migrates the stored data (a \"data\" migration) without requires_backup: \
                 such a release can only be rolled back by restoring a backup."
                    .to_owned(),
            );
        }
        for name in self.images.keys().chain(self.health.keys()) {
            if !known.contains(&name.as_str()) {
                problems.push(format!("{name:?} is no service of the stack."));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("release.json is refused: {}", problems.join(" ")))
        }
    }

    /// Why this release is not offered to `installed` on `channel`, if it
    /// is not.
    pub fn refusal(&self, channel: &str, installed: Option<&Installed>) -> Option<String> {
        if self.channel != channel {
            return Some(format!(
                "Release {} is for the channel {:?}, and this Burrow follows {channel:?}: refusing \
                 it (change the channel on purpose, never by a release).",
                self.version, self.channel
            ));
        }
        let installed = installed?;
        if self.sequence == installed.sequence {
            return Some(format!(
                "This install runs release {} (sequence {}) already: up to date.",
                installed.version, installed.sequence
            ));
        }
        if self.sequence < installed.sequence {
            return Some(format!(
                "Release {} (sequence {}) is not newer than the installed {} (sequence {}): a \
                 channel never goes back, so this is refused as a downgrade.",
                self.version, self.sequence, installed.version, installed.sequence
            ));
        }
        if let (Some(min), Some(now)) = (
            self.min_from_version.as_deref().and_then(Version::parse),
            Version::parse(&installed.version),
        ) {
            if now < min {
                return Some(format!(
                    "Release {} needs at least {} installed first, and this stack runs {}: \
                     update to {} first.",
                    self.version, min, installed.version, min
                ));
            }
        }
        None
    }
}

/// `repo@sha256:<64 lower-case hex>`.
pub fn pinned(image: &str) -> bool {
    let Some((repo, digest)) = image.split_once("@sha256:") else {
        return false;
    };
    !repo.is_empty()
        && !repo.chars().any(char::is_whitespace)
        && digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `major.minor.patch`, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(u64, u64, u64);

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().trim_start_matches('v').split('.');
        let mut next = || parts.next()?.parse::<u64>().ok();
        let v = Version(next()?, next()?, next()?);
        parts.next().is_none().then_some(v)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(sequence: u64, version: &str) -> Release {
        Release {
            schema: 1,
            channel: "stable".into(),
            sequence,
            version: version.into(),
            min_from_version: None,
            released_at: "2026-12-01T10:00:00Z".into(),
            notes: String::new(),
            requires_backup: true,
            images: services()
                .into_iter()
                .map(|s| {
                    (
                        s.to_owned(),
                        format!("registry.example/stoat/{s}@sha256:{}", "ab".repeat(32)),
                    )
                })
                .collect(),
            health: BTreeMap::new(),
            migrations: Vec::new(),
        }
    }

    #[test]
    fn a_release_round_trips_and_every_rule_is_checked() {
        let r = sample(42, "0.16.3");
        let bytes = serde_json::to_vec(&r).unwrap();
        assert_eq!(Release::parse(&bytes).unwrap(), r);

        let mut bad = sample(0, "0.16");
        bad.schema = 2;
        bad.images
            .insert("api".into(), "registry.example/stoat/api:0.16.3".into());
        bad.images.remove("web");
        bad.images
            .insert("worker".into(), format!("x@sha256:{}", "0".repeat(64)));
        bad.released_at = "yesterday".into();
        let err = bad.check().unwrap_err();
        for says in [
            "schema is 2",
            "sequence must be 1 or more",
            "\"0.16\" is not major.minor.patch",
            "released_at \"yesterday\"",
            "image for api, \"registry.example/stoat/api:0.16.3\", is not pinned",
            "pins no image for web",
            "\"worker\" is no service",
        ] {
            assert!(err.contains(says), "{says}: {err}");
        }
        // A data migration needs the backup that rolls it back.
        let mut migrating = sample(43, "0.16.4");
        migrating.migrations = vec![Migration {
            id: "2026-12-db-revision-53".into(),
            description: "the api migrates MongoDB to revision 53".into(),
            kind: "data".into(),
            ops: Vec::new(),
        }];
        assert_eq!(migrating.check(), Ok(()));
        migrating.requires_backup = false;
        let unbacked = migrating.check().unwrap_err();
        assert!(unbacked.contains("without requires_backup"), "{unbacked}");
        let unknown = br#"{"schema":1,"channel":"stable","sequence":1,"version":"1.0.0","released_at":"2026-12-01T10:00:00Z","images":{},"surprise":true}"#;
        assert!(Release::parse(unknown).unwrap_err().contains("surprise"));
    }

    #[test]
    fn downgrades_other_channels_and_skipped_versions_are_refused() {
        let installed = Installed {
            channel: "stable".into(),
            sequence: 42,
            version: "0.16.3".into(),
        };
        assert_eq!(
            sample(43, "0.16.4").refusal("stable", Some(&installed)),
            None
        );
        assert_eq!(sample(1, "0.1.0").refusal("stable", None), None);
        let older = sample(41, "0.16.2")
            .refusal("stable", Some(&installed))
            .unwrap();
        assert!(older.contains("refused as a downgrade"), "{older}");
        let same = sample(42, "0.16.3")
            .refusal("stable", Some(&installed))
            .unwrap();
        assert!(same.contains("already: up to date"), "{same}");
        let beta = sample(50, "0.17.0")
            .refusal("beta", Some(&installed))
            .unwrap();
        assert!(beta.contains("for the channel \"stable\""), "{beta}");
        let mut jump = sample(50, "0.18.0");
        jump.min_from_version = Some("0.17.0".into());
        let jump = jump.refusal("stable", Some(&installed)).unwrap();
        assert!(
            jump.contains("needs at least 0.17.0 installed first"),
            "{jump}"
        );
    }

    #[test]
    fn versions_and_digests() {
        assert!(Version::parse("0.16.10") > Version::parse("0.16.9"));
        assert_eq!(Version::parse("v1.2.3"), Some(Version(1, 2, 3)));
        assert_eq!(Version::parse("1.2"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert!(pinned(&format!(
            "ghcr.io/stoatchat/api@sha256:{}",
            "a1".repeat(32)
        )));
        assert!(!pinned(&format!(
            "ghcr.io/stoatchat/api@sha256:{}",
            "A1".repeat(32)
        )));
        assert!(!pinned("ghcr.io/stoatchat/api:latest"));
        assert!(!pinned(&format!("@sha256:{}", "a1".repeat(32))));
    }
}
