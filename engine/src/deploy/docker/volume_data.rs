//! A stack volume's files in and out, for backups: through a helper
//! container that mounts the volume and is never started (Docker's archive
//! API reads and writes a created container's mounts), so no image needs a
//! shell or tar. The helper uses an image already on the machine (the
//! service's own).

use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptions, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, UploadToContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{label, volume_name, DockerTarget};
use crate::deploy::DeployError;

/// Where the helper mounts the volume; the archive's top directory.
const MOUNT: &str = "/burrow-volume";
/// On helper containers (never part of a stack).
const HELPER: &str = "burrow.helper";

/// A created (not started) helper container, removed when dropped.
struct Helper<'a> {
    docker: &'a Docker,
    name: String,
}

impl<'a> Helper<'a> {
    async fn create(
        docker: &'a Docker,
        stack: &str,
        volume: &str,
        image: &str,
    ) -> Result<Helper<'a>, DeployError> {
        let name = format!("{stack}-volume-helper-{volume}");
        // A helper left by a killed run goes first.
        let _ = docker
            .remove_container(
                &name,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await;
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            labels: Some([(HELPER.to_owned(), "volume".to_owned())].into()),
            host_config: Some(HostConfig {
                mounts: Some(vec![Mount {
                    target: Some(MOUNT.to_owned()),
                    source: Some(volume_name(stack, volume)),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        docker
            .create_container(
                Some(CreateContainerOptionsBuilder::new().name(&name).build()),
                body,
            )
            .await
            .map_err(DeployError::docker(format!(
                "creating the helper for {volume}"
            )))?;
        Ok(Helper { docker, name })
    }

    async fn remove(self) {
        let _ = self
            .docker
            .remove_container(
                &self.name,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await;
    }
}

impl DockerTarget {
    /// Writes the files of the stack's `volume` to `out` as a tar whose top
    /// directory is `burrow-volume/`; the size written.
    pub async fn export_volume_to(
        &self,
        stack: &str,
        volume: &str,
        image: &str,
        out: &Path,
    ) -> Result<u64, DeployError> {
        let helper = Helper::create(&self.docker, stack, volume, image).await?;
        let result = async {
            let mut file = tokio::fs::File::create(out)
                .await
                .map_err(|e| io_error(out, e))?;
            let mut stream = self.docker.download_from_container(
                &helper.name,
                Some(DownloadFromContainerOptions {
                    path: MOUNT.to_owned(),
                }),
            );
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(DeployError::docker(format!("reading volume {volume}")))?;
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(|e| io_error(out, e))?;
            }
            file.sync_all().await.map_err(|e| io_error(out, e))?;
            Ok(size)
        }
        .await;
        helper.remove().await;
        result
    }

    /// Replaces the stack's `volume` with the files of `tar` (as
    /// [`DockerTarget::export_volume_to`] wrote it): the volume is removed,
    /// made again with its labels (and `fingerprint`), and filled. No
    /// container may use it (remove the stack's containers first).
    pub async fn import_volume_from(
        &self,
        stack: &str,
        volume: &str,
        image: &str,
        tar: &Path,
        fingerprint: Option<&str>,
    ) -> Result<(), DeployError> {
        let name = volume_name(stack, volume);
        match self
            .docker
            .remove_volume(&name, Some(RemoveVolumeOptionsBuilder::new().build()))
            .await
        {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(DeployError::docker(format!("removing volume {name}"))(e)),
        }
        let mut labels =
            std::collections::HashMap::from([(label::STACK.to_owned(), stack.to_owned())]);
        if let Some(fp) = fingerprint {
            labels.insert(label::SECRETS.to_owned(), fp.to_owned());
        }
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(DeployError::docker(format!("creating volume {name}")))?;
        let helper = Helper::create(&self.docker, stack, volume, image).await?;
        let result = async {
            let bytes = tokio::fs::read(tar).await.map_err(|e| io_error(tar, e))?;
            self.docker
                .upload_to_container(
                    &helper.name,
                    Some(UploadToContainerOptions {
                        // The archive's top directory is the mount's name.
                        path: "/".to_owned(),
                        ..Default::default()
                    }),
                    bollard::body_full(bytes.into()),
                )
                .await
                .map_err(DeployError::docker(format!("restoring volume {name}")))
        }
        .await;
        helper.remove().await;
        result
    }
}

impl DockerTarget {
    /// Stops the running containers of `services` (SIGTERM, 10 s); the
    /// ones it stopped.
    pub async fn stop_services(
        &self,
        stack: &str,
        services: &[String],
    ) -> Result<Vec<String>, DeployError> {
        let mut stopped = Vec::new();
        for service in services {
            let name = format!("{stack}-{service}");
            let running = match self.docker.inspect_container(&name, None).await {
                Ok(c) => c.state.and_then(|s| s.running).unwrap_or(false),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => false,
                Err(e) => return Err(DeployError::docker(format!("inspecting {name}"))(e)),
            };
            if running && !stopped.contains(service) {
                self.docker
                    .stop_container(
                        &name,
                        Some(
                            bollard::query_parameters::StopContainerOptionsBuilder::new()
                                .t(10)
                                .build(),
                        ),
                    )
                    .await
                    .map_err(DeployError::docker(format!("stopping {name}")))?;
                stopped.push(service.clone());
            }
        }
        Ok(stopped)
    }

    /// Starts the containers of `services` again.
    pub async fn start_services(
        &self,
        stack: &str,
        services: &[String],
    ) -> Result<(), DeployError> {
        for service in services {
            let name = format!("{stack}-{service}");
            self.docker
                .start_container(
                    &name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(DeployError::docker(format!("starting {name}")))?;
        }
        Ok(())
    }
}

fn io_error(path: &Path, e: std::io::Error) -> DeployError {
    DeployError::InvalidPlan {
        message: format!("{}: {e}", path.display()),
    }
}
