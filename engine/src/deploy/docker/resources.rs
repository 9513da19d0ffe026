//! The stack's network and volumes, and taking containers down.

use std::collections::HashMap;

use bollard::errors::Error as BollardError;
use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;

use super::{label, volume_name};
use crate::deploy::DeployError;

/// Seconds Docker waits after SIGTERM before it kills a container.
const STOP_TIMEOUT_S: i32 = 10;

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn stack_labels(stack: &str) -> HashMap<String, String> {
    HashMap::from([(label::STACK.to_string(), stack.to_string())])
}

/// The network named `stack`, if there is one: its id and whether Burrow
/// made it for this stack.
async fn find_network(docker: &Docker, stack: &str) -> Result<Option<(String, bool)>, DeployError> {
    let filters = HashMap::from([("name", vec![stack.to_string()])]);
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(DeployError::docker(format!(
            "listing networks named {stack}"
        )))?;
    // The name filter matches substrings.
    Ok(networks
        .into_iter()
        .find(|n| n.name.as_deref() == Some(stack))
        .map(|n| {
            let ours = n
                .labels
                .as_ref()
                .and_then(|l| l.get(label::STACK))
                .is_some_and(|s| s == stack);
            (n.id.unwrap_or_default(), ours)
        }))
}

/// Creates the stack's bridge network unless it exists. (API 1.41 would
/// happily create a second network of the same name, hence the look first.)
pub(super) async fn ensure_network(docker: &Docker, stack: &str) -> Result<(), DeployError> {
    match find_network(docker, stack).await? {
        Some((_, true)) => Ok(()),
        Some((_, false)) => Err(DeployError::Conflict {
            message: format!(
                "a Docker network named {stack} exists that Burrow did not create: remove it \
                 (docker network rm {stack}) or choose another stack name"
            ),
        }),
        None => {
            docker
                .create_network(NetworkCreateRequest {
                    name: stack.to_string(),
                    driver: Some("bridge".to_string()),
                    labels: Some(stack_labels(stack)),
                    ..Default::default()
                })
                .await
                .map_err(DeployError::docker(format!("creating network {stack}")))?;
            Ok(())
        }
    }
}

/// Refuses, before anything changes, a plan whose secrets differ from the
/// ones an existing data volume was initialised with (its label). A volume
/// without the label (made before Burrow kept it) cannot tell and passes.
pub(super) async fn check_volume_secrets(
    docker: &Docker,
    stack: &str,
    fingerprints: &std::collections::BTreeMap<String, String>,
) -> Result<(), DeployError> {
    for (v, wanted) in fingerprints {
        let name = volume_name(stack, v);
        let volume = match docker.inspect_volume(&name).await {
            Ok(volume) => volume,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => continue,
            Err(e) => return Err(DeployError::docker(format!("inspecting volume {name}"))(e)),
        };
        if let Some(found) = volume.labels.get(label::SECRETS) {
            if found != wanted {
                return Err(DeployError::SecretsMismatch {
                    volume: name,
                    stack: stack.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Creates `<stack>_<volume>` for each volume (an existing one is kept),
/// labelled with the fingerprint of the secrets its data is made with.
pub(super) async fn ensure_volumes(
    docker: &Docker,
    stack: &str,
    volumes: &[String],
    fingerprints: &std::collections::BTreeMap<String, String>,
) -> Result<(), DeployError> {
    for v in volumes {
        let name = volume_name(stack, v);
        let mut labels = stack_labels(stack);
        if let Some(fingerprint) = fingerprints.get(v) {
            labels.insert(label::SECRETS.to_owned(), fingerprint.clone());
        }
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(DeployError::docker(format!("creating volume {name}")))?;
    }
    Ok(())
}

/// Parks container `id` (named `name`) for rollout `rollout`: stopped and
/// renamed `<name>--parked-<rollout>`, kept with its image. When that name
/// is taken already (a resumed rollout parked the old one before), `id` is
/// a new container half made: it is removed instead.
pub(super) async fn park(
    docker: &Docker,
    id: &str,
    name: &str,
    rollout: &str,
) -> Result<(), DeployError> {
    let parked = super::parked_name(name, rollout);
    match docker.inspect_container(&parked, None).await {
        Ok(_) => return stop_and_remove(docker, id).await,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(DeployError::docker(format!("inspecting {parked}"))(e)),
    }
    match docker
        .stop_container(
            id,
            Some(
                bollard::query_parameters::StopContainerOptionsBuilder::new()
                    .t(10)
                    .build(),
            ),
        )
        .await
    {
        Ok(()) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => {}
        Err(e) => {
            return Err(DeployError::docker(format!("stopping {name} to park it"))(
                e,
            ))
        }
    }
    docker
        .rename_container(
            id,
            bollard::query_parameters::RenameContainerOptionsBuilder::new()
                .name(&parked)
                .build(),
        )
        .await
        .map_err(DeployError::docker(format!("parking {name}")))?;
    // Between parking the old container and starting the new one.
    crate::update::faults::point("parked");
    Ok(())
}

/// Stops a container (SIGTERM, then SIGKILL after 10 s) and removes it.
/// A container that is already gone is fine.
pub(super) async fn stop_and_remove(docker: &Docker, container: &str) -> Result<(), DeployError> {
    match docker
        .stop_container(
            container,
            Some(StopContainerOptionsBuilder::new().t(STOP_TIMEOUT_S).build()),
        )
        .await
    {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(DeployError::docker(format!("stopping {container}"))(e)),
    }
    match docker
        .remove_container(
            container,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(DeployError::docker(format!("removing {container}"))(e)),
    }
}

/// Removes the stack's network if Burrow made it; returns whether it did.
/// Burrow in a container (see [`crate::self_container`]) joins the
/// stack's network, so its probes reach the containers' addresses there
/// and Caddy by name. Idempotent; nothing on a plain host.
pub(super) async fn join_network(docker: &Docker, stack: &str) -> Result<(), DeployError> {
    let Some(candidate) = crate::self_container::candidate() else {
        return Ok(());
    };
    // Only a container this daemon has: a machine that is itself a
    // container of something else is a plain host here.
    let me = match docker.inspect_container(candidate, None).await {
        Ok(info) => info.id.unwrap_or_else(|| candidate.to_owned()),
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => {
            return Err(DeployError::docker(format!(
                "inspecting Burrow's own container {candidate}"
            ))(e))
        }
    };
    crate::self_container::confirm(me.clone());
    let me = me.as_str();
    let joined = docker
        .inspect_network(
            stack,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .map_err(DeployError::docker(format!("inspecting network {stack}")))?
        .containers
        .unwrap_or_default()
        .keys()
        .any(|id| id.starts_with(me));
    if joined {
        return Ok(());
    }
    match docker
        .connect_network(
            stack,
            bollard::models::NetworkConnectRequest {
                container: me.to_owned(),
                ..Default::default()
            },
        )
        .await
    {
        Ok(()) => {
            tracing::info!(
                network = stack,
                "Burrow's container joined the stack's network"
            );
            Ok(())
        }
        // A container name rather than an id, already connected.
        Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            if message.contains("already exists") =>
        {
            Ok(())
        }
        Err(e) => Err(DeployError::docker(format!(
            "connecting Burrow's container {me} to network {stack}"
        ))(e)),
    }
}

pub(super) async fn remove_network(docker: &Docker, stack: &str) -> Result<bool, DeployError> {
    // Burrow's own container leaves it first (it would hold it).
    if let Some(me) = crate::self_container::confirmed() {
        let _ = docker
            .disconnect_network(
                stack,
                bollard::models::NetworkDisconnectRequest {
                    container: me.to_owned(),
                    force: Some(true),
                },
            )
            .await;
    }
    let Some((id, true)) = find_network(docker, stack).await? else {
        return Ok(false);
    };
    // Docker 20.10 releases a removed container's endpoint a moment after
    // the removal returns ("has active endpoints"): asked again shortly.
    let mut tries = 0;
    loop {
        match docker.remove_network(&id).await {
            Ok(()) => return Ok(true),
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("active endpoints") =>
            {
                if tries >= 8 {
                    // Kept: the next deploy of the stack uses it again.
                    tracing::warn!(network = stack, %message, "the stack's network is kept");
                    return Ok(false);
                }
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => return Err(DeployError::docker(format!("removing network {stack}"))(e)),
        }
    }
}

/// Removes every volume labelled with the stack except those named in
/// `keep`; returns the names removed.
pub(super) async fn remove_volumes(
    docker: &Docker,
    stack: &str,
    keep: &[String],
) -> Result<Vec<String>, DeployError> {
    let filters = HashMap::from([("label", vec![format!("{}={stack}", label::STACK)])]);
    let list = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(DeployError::docker(format!(
            "listing the volumes of {stack}"
        )))?;
    let mut removed = Vec::new();
    for v in list.volumes.unwrap_or_default() {
        if keep.contains(&v.name) {
            continue;
        }
        match docker
            .remove_volume(&v.name, Some(RemoveVolumeOptionsBuilder::new().build()))
            .await
        {
            Ok(()) => removed.push(v.name),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(DeployError::docker(format!("removing volume {}", v.name))(
                    e,
                ))
            }
        }
    }
    removed.sort();
    Ok(removed)
}
