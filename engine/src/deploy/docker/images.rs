//! Every image of a plan on the daemon before anything changes: present ones
//! are only inspected, missing ones pulled with progress. A pull that fails
//! stops the apply while every container is still as it was.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use stack::Plan;
use tokio::sync::mpsc::UnboundedSender;

use crate::deploy::{DeployError, ProgressEvent, PullTally};

/// Progress of one layer is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What the deploy needs to know of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ImageFacts {
    /// `sha256:...`: part of the config hash, so a re-tagged image recreates.
    pub id: String,
    /// The image's `User` (empty: root).
    pub user: String,
}

/// Facts for every image of `plan`, by reference, pulling what is missing.
pub(super) async fn ensure(
    docker: &Docker,
    plan: &Plan,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<HashMap<String, ImageFacts>, DeployError> {
    // First user of each image, in plan order.
    let mut users: Vec<(String, String)> = Vec::new();
    for spec in &plan.services {
        let image = spec.image.as_str().to_string();
        if !users.iter().any(|(i, _)| *i == image) {
            users.push((image, spec.name.clone()));
        }
    }
    let found = futures_util::future::join_all(users.iter().map(|(i, _)| inspect(docker, i))).await;
    let mut facts = HashMap::new();
    for ((image, service), found) in users.into_iter().zip(found) {
        let f = match found? {
            Some(f) => f,
            None => {
                pull(docker, &image, &service, None, progress).await?;
                inspect(docker, &image)
                    .await?
                    .ok_or_else(|| DeployError::Pull {
                        image: image.clone(),
                        message: "the daemon reported success but does not have it".into(),
                    })?
            }
        };
        facts.insert(image, f);
    }
    Ok(facts)
}

impl super::DockerTarget {
    /// Makes every image of `images` (each `repo@sha256:<digest>`) present,
    /// pulling what is missing, and checks that the daemon reports that
    /// digest for it: a release's images are exactly the ones it pins.
    /// `auth`: a private registry's credentials (sent only for its images).
    pub async fn ensure_pinned(
        &self,
        images: &[String],
        auth: Option<&crate::update::registry::RegistryAuth>,
        progress: &UnboundedSender<ProgressEvent>,
    ) -> Result<(), DeployError> {
        for image in images {
            if inspect(&self.docker, image).await?.is_none() {
                let credentials = crate::update::registry::RegistryAuth::for_image(auth, image);
                pull(&self.docker, image, image, credentials, progress).await?;
            }
            let digests = self
                .docker
                .inspect_image(image)
                .await
                .map_err(DeployError::docker(format!("inspecting image {image}")))?
                .repo_digests
                .unwrap_or_default();
            if !digests.iter().any(|d| d == image) {
                return Err(DeployError::Pull {
                    image: image.clone(),
                    message: format!(
                        "the daemon reports the digests {} for it, not the one the release pins",
                        digests.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// Drops each reference of `images` from the daemon (the image itself
    /// goes with its last reference); one a container still uses, or
    /// already gone, is left. The references dropped.
    pub async fn forget_images(&self, images: &[String]) -> Vec<String> {
        let mut dropped = Vec::new();
        for image in images {
            match self
                .docker
                .remove_image(
                    image,
                    Some(bollard::query_parameters::RemoveImageOptionsBuilder::new().build()),
                    None,
                )
                .await
            {
                Ok(_) => dropped.push(image.clone()),
                Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => tracing::info!(%image, error = %e, "an old release's image is kept"),
            }
        }
        dropped
    }

    /// The digest `image`'s registry has for it now (the daemon asks the
    /// registry: `docker buildx imagetools inspect` without buildx), e.g.
    /// `sha256:<64 hex>`.
    pub async fn registry_digest(
        &self,
        image: &str,
        auth: Option<&crate::update::registry::RegistryAuth>,
    ) -> Result<String, DeployError> {
        let credentials = crate::update::registry::RegistryAuth::for_image(auth, image);
        let found = self
            .docker
            .inspect_registry_image(image, credentials)
            .await
            .map_err(|e| DeployError::Pull {
                image: image.to_owned(),
                message: format!("its registry does not answer for it: {e}"),
            })?;
        found
            .descriptor
            .digest
            .filter(|d| crate::update::release::pinned(&format!("x@{d}")))
            .ok_or_else(|| DeployError::Pull {
                image: image.to_owned(),
                message: "its registry names no sha256 digest for it".to_owned(),
            })
    }
}

async fn inspect(docker: &Docker, image: &str) -> Result<Option<ImageFacts>, DeployError> {
    match docker.inspect_image(image).await {
        Ok(i) => Ok(Some(ImageFacts {
            id: i.id.unwrap_or_default(),
            user: i.config.and_then(|c| c.user).unwrap_or_default(),
        })),
        Err(BollardError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(DeployError::docker(format!("inspecting image {image}"))(e)),
    }
}

/// `fromImage` and `tag` for a reference; the tag defaults to `latest`
/// (without one, the daemon would pull every tag).
fn pull_options(image: &str) -> CreateImageOptions {
    let (from_image, tag) = if image.contains('@') {
        (image.to_string(), None)
    } else {
        let last_slash = image.rfind('/').map_or(0, |i| i + 1);
        match image[last_slash..].rfind(':') {
            Some(i) => (
                image[..last_slash + i].to_string(),
                Some(image[last_slash + i + 1..].to_string()),
            ),
            None => (image.to_string(), Some("latest".to_string())),
        }
    };
    CreateImageOptions {
        from_image: Some(from_image),
        tag,
        ..Default::default()
    }
}

async fn pull(
    docker: &Docker,
    image: &str,
    service: &str,
    credentials: Option<bollard::auth::DockerCredentials>,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<(), DeployError> {
    let _ = progress.send(ProgressEvent::PullStarted {
        service: service.to_string(),
        image: image.to_string(),
    });
    let mut last: HashMap<String, (String, Instant)> = HashMap::new();
    let mut layers = Layers::default();
    let mut stream = docker.create_image(Some(pull_options(image)), None, credentials);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| DeployError::Pull {
            image: image.to_string(),
            message: match e {
                BollardError::DockerStreamError { error } => error,
                BollardError::DockerResponseServerError { message, .. } => message,
                other => other.to_string(),
            },
        })?;
        let status = info.status.unwrap_or_default();
        let layer = info.id.unwrap_or_default();
        let detail = info.progress_detail.unwrap_or_default();
        let current = detail.current.and_then(|c| u64::try_from(c).ok());
        let total = detail.total.and_then(|t| u64::try_from(t).ok());
        layers.update(&layer, &status, current, total);
        let now = Instant::now();
        let due = match last.get(&layer) {
            Some((s, at)) => *s != status || now.duration_since(*at) >= PROGRESS_EVERY,
            None => true,
        };
        if !due {
            continue;
        }
        last.insert(layer.clone(), (status.clone(), now));
        let _ = progress.send(ProgressEvent::PullProgress {
            image: image.to_string(),
            status: if layer.is_empty() {
                status
            } else {
                format!("{layer}: {status}")
            },
            current,
            total,
            tally: layers.tally(),
        });
    }
    let _ = progress.send(ProgressEvent::PullDone {
        image: image.to_string(),
    });
    Ok(())
}

/// Each layer's download as the daemon reports it.
#[derive(Default)]
struct Layers(BTreeMap<String, LayerState>);

#[derive(Default, Clone, Copy)]
struct LayerState {
    bytes: u64,
    total: u64,
    done: bool,
}

impl Layers {
    fn update(&mut self, layer: &str, status: &str, current: Option<u64>, total: Option<u64>) {
        // Lines without a layer id are about the image (digest, status).
        if layer.is_empty() || status.starts_with("Pulling from") {
            return;
        }
        let l = self.0.entry(layer.to_string()).or_default();
        match status {
            "Downloading" => {
                l.bytes = current.unwrap_or(l.bytes);
                l.total = total.unwrap_or(l.total);
            }
            "Download complete" | "Verifying Checksum" | "Extracting" => l.bytes = l.total,
            "Pull complete" | "Already exists" => {
                l.bytes = l.total;
                l.done = true;
            }
            _ => {}
        }
    }

    fn tally(&self) -> PullTally {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        PullTally {
            layers: count(self.0.len()),
            layers_done: count(self.0.values().filter(|l| l.done).count()),
            bytes: self.0.values().map(|l| l.bytes).sum(),
            bytes_total: self.0.values().map(|l| l.total).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag() {
        let o = pull_options("ghcr.io/stoatchat/api:v0.16.2");
        assert_eq!(o.from_image.as_deref(), Some("ghcr.io/stoatchat/api"));
        assert_eq!(o.tag.as_deref(), Some("v0.16.2"));
        let o = pull_options("localhost:5000/mongo");
        assert_eq!(o.from_image.as_deref(), Some("localhost:5000/mongo"));
        assert_eq!(o.tag.as_deref(), Some("latest"));
        let digest = format!("mongo@sha256:{}", "a".repeat(64));
        let o = pull_options(&digest);
        assert_eq!(o.from_image.as_deref(), Some(digest.as_str()));
        assert_eq!(o.tag, None);
    }

    #[test]
    fn layers_add_up_to_the_image() {
        let mut l = Layers::default();
        l.update("", "Pulling from burrow/x", None, None);
        l.update("a", "Pulling fs layer", None, None);
        l.update("b", "Already exists", None, None);
        l.update("a", "Downloading", Some(1_000_000), Some(4_000_000));
        let t = l.tally();
        assert_eq!(
            (t.layers, t.layers_done, t.bytes, t.bytes_total),
            (2, 1, 1_000_000, 4_000_000)
        );
        assert_eq!(t.to_string(), "1 of 2 layers, 1.0 of 4.0 MB");
        l.update("a", "Download complete", None, None);
        l.update("a", "Extracting", Some(10), Some(4_000_000));
        l.update("a", "Pull complete", None, None);
        let t = l.tally();
        assert_eq!((t.layers_done, t.bytes), (2, 4_000_000));
    }
}
