//! The services of a Stoat stack and the built-in image catalog.

use std::collections::BTreeMap;

use super::values::ImageRef;

/// The Stoat release the built-in catalog pins (the backend images share one tag).
pub const DEFAULT_RELEASE: &str = "v0.16.2";

/// Every service Burrow can run, in dependency order (a service only depends
/// on services before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    Database,
    Redis,
    Rabbit,
    Minio,
    Createbuckets,
    Livekit,
    Api,
    Events,
    Autumn,
    January,
    Gifbox,
    Crond,
    Pushd,
    VoiceIngress,
    Web,
    Caddy,
}

impl Service {
    pub const ALL: [Service; 16] = [
        Service::Database,
        Service::Redis,
        Service::Rabbit,
        Service::Minio,
        Service::Createbuckets,
        Service::Livekit,
        Service::Api,
        Service::Events,
        Service::Autumn,
        Service::January,
        Service::Gifbox,
        Service::Crond,
        Service::Pushd,
        Service::VoiceIngress,
        Service::Web,
        Service::Caddy,
    ];

    /// The container / Kubernetes name (the upstream compose service name).
    pub fn name(self) -> &'static str {
        match self {
            Service::Database => "database",
            Service::Redis => "redis",
            Service::Rabbit => "rabbit",
            Service::Minio => "minio",
            Service::Createbuckets => "createbuckets",
            Service::Livekit => "livekit",
            Service::Api => "api",
            Service::Events => "events",
            Service::Autumn => "autumn",
            Service::January => "january",
            Service::Gifbox => "gifbox",
            Service::Crond => "crond",
            Service::Pushd => "pushd",
            Service::VoiceIngress => "voice-ingress",
            Service::Web => "web",
            Service::Caddy => "caddy",
        }
    }

    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// A Stoat backend image (distroless: no shell, reads /Revolt.toml).
    pub fn is_stoat_backend(self) -> bool {
        matches!(
            self,
            Service::Api
                | Service::Events
                | Service::Autumn
                | Service::January
                | Service::Gifbox
                | Service::Crond
                | Service::Pushd
                | Service::VoiceIngress
        )
    }

    /// Who the built-in image runs as: the user it starts as (its
    /// `USER`), and the user its server process ends up as after the
    /// entrypoint's privilege drop. Files mounted into the container must
    /// be readable by whichever of the two opens them.
    pub fn image_user(self) -> ImageUser {
        const ROOT: (u32, u32) = (0, 0);
        let same = |name: &'static str, id: (u32, u32)| ImageUser {
            start: id,
            server: id,
            server_name: name,
        };
        let drops = |name: &'static str, id: (u32, u32)| ImageUser {
            start: ROOT,
            server: id,
            server_name: name,
        };
        match self {
            // gcr.io/distroless/cc-debian12:nonroot + `USER nonroot`
            // (crates/*/Dockerfile in stoatchat/stoatchat).
            s if s.is_stoat_backend() => same("nonroot", (65532, 65532)),
            // docker-library/mongo: gosu mongodb (999:999) after chowning
            // /data/db and /data/configdb.
            Service::Database => drops("mongodb", (999, 999)),
            // KeyDB's pkg/docker entrypoint: `exec gosu keydb` (useradd -r:
            // 999:999 on its Ubuntu base), chowning only its working dir.
            Service::Redis => drops("keydb", (999, 999)),
            // docker-library/rabbitmq: gosu rabbitmq (999:999).
            Service::Rabbit => drops("rabbitmq", (999, 999)),
            // MinIO, mc, LiveKit, Caddy and the web client run as root.
            _ => same("root", ROOT),
        }
    }

    fn default_image(self) -> String {
        let stoat = |name: &str| format!("ghcr.io/stoatchat/{name}:{DEFAULT_RELEASE}");
        match self {
            Service::Database => "docker.io/library/mongo:7.0".into(),
            Service::Redis => "docker.io/eqalpha/keydb:latest".into(),
            Service::Rabbit => "docker.io/library/rabbitmq:4".into(),
            Service::Minio => "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z".into(),
            Service::Createbuckets => "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z".into(),
            Service::Livekit => "ghcr.io/stoatchat/livekit-server:v1.9.13".into(),
            Service::Api => stoat("api"),
            Service::Events => stoat("events"),
            Service::Autumn => stoat("file-server"),
            Service::January => stoat("proxy"),
            Service::Gifbox => stoat("gifbox"),
            Service::Crond => stoat("crond"),
            Service::Pushd => stoat("pushd"),
            Service::VoiceIngress => stoat("voice-ingress"),
            Service::Web => "ghcr.io/stoatchat/for-web:746bee5".into(),
            Service::Caddy => "docker.io/library/caddy:2".into(),
        }
    }
}

/// Users of an image, as uid/gid pairs; see [`Service::image_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageUser {
    pub start: (u32, u32),
    pub server: (u32, u32),
    /// The server user's name in the image's /etc/passwd.
    pub server_name: &'static str,
}

/// One image per service. Starts from the built-in catalog; the operator (or
/// a verified release) overrides single entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    images: BTreeMap<Service, ImageRef>,
}

impl Default for ImageSet {
    fn default() -> Self {
        Self {
            images: Service::ALL
                .iter()
                .map(|s| {
                    let image = ImageRef::parse(&s.default_image())
                        .expect("the built-in catalog holds valid references");
                    (*s, image)
                })
                .collect(),
        }
    }
}

impl ImageSet {
    pub fn get(&self, service: Service) -> &ImageRef {
        &self.images[&service]
    }

    pub fn set(&mut self, service: Service, image: ImageRef) {
        self.images.insert(service, image);
    }

    /// Entries that differ from the built-in catalog.
    pub fn overrides(&self) -> BTreeMap<Service, &ImageRef> {
        let defaults = ImageSet::default();
        self.images
            .iter()
            .filter(|(s, i)| defaults.get(**s) != *i)
            .map(|(s, i)| (*s, i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_complete_and_ordered() {
        let set = ImageSet::default();
        for s in Service::ALL {
            assert!(!set.get(s).as_str().is_empty());
            assert_eq!(Service::from_name(s.name()), Some(s));
        }
        let mut sorted = Service::ALL;
        sorted.sort();
        assert_eq!(sorted, Service::ALL);
        assert!(set.overrides().is_empty());
    }
}
