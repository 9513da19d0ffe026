//! Taking a whole stack down: every container labelled with it, its network,
//! and its volumes only when asked (they hold the database and uploads).

use std::time::Instant;

use bollard::Docker;
use tokio::sync::mpsc::UnboundedSender;

use super::{resources, stack_containers};
use crate::deploy::error::stack_name;
use crate::deploy::{DeployError, ProgressEvent};

#[tracing::instrument(skip(docker, progress))]
pub(super) async fn remove(
    docker: &Docker,
    url: &str,
    stack: &str,
    remove_volumes: bool,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<Vec<String>, DeployError> {
    let result = remove_inner(docker, stack, remove_volumes, progress)
        .await
        .map_err(|e| e.on_daemon(url));
    if let Err(e) = &result {
        let _ = progress.send(ProgressEvent::Failed {
            service: e.service().map(str::to_string),
            message: e.summary(),
            last_logs: Vec::new(),
        });
    }
    result
}

async fn remove_inner(
    docker: &Docker,
    stack: &str,
    remove_volumes: bool,
    progress: &UnboundedSender<ProgressEvent>,
) -> Result<Vec<String>, DeployError> {
    let begun = Instant::now();
    stack_name(stack)?;
    let containers = stack_containers(docker, stack).await?;
    let mut services: Vec<(String, String)> = containers
        .into_iter()
        .map(|(service, c)| (service, c.id.unwrap_or_default()))
        .collect();
    services.sort();
    let results = futures_util::future::join_all(services.iter().map(|(service, id)| async move {
        resources::stop_and_remove(docker, id).await?;
        let _ = progress.send(ProgressEvent::Removed {
            service: service.clone(),
        });
        Ok::<_, DeployError>(())
    }))
    .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    // A rollout's parked containers go with the stack.
    for c in super::every_stack_container(docker, stack).await? {
        resources::stop_and_remove(docker, c.id.as_deref().unwrap_or_default()).await?;
    }
    resources::remove_network(docker, stack).await?;
    if remove_volumes {
        let volumes = resources::remove_volumes(docker, stack, &[]).await?;
        tracing::info!(?volumes, "removed volumes");
    }
    let removed: Vec<String> = services.into_iter().map(|(s, _)| s).collect();
    let _ = progress.send(ProgressEvent::Finished {
        created: 0,
        recreated: 0,
        unchanged: 0,
        removed: u32::try_from(removed.len()).unwrap_or(u32::MAX),
        elapsed_ms: u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    Ok(removed)
}
