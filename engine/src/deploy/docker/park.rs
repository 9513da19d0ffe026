//! A rollout's parked containers: put back (rollback) or removed (commit).
//! Both are idempotent, so a rollout resumed after a crash can run them
//! again at any point.

use bollard::query_parameters::RenameContainerOptionsBuilder;

use super::{every_stack_container, label, resources, DockerTarget};
use crate::deploy::DeployError;

fn name_of(summary: &bollard::models::ContainerSummary) -> Option<String> {
    summary
        .names
        .as_ref()?
        .first()
        .map(|n| n.trim_start_matches('/').to_owned())
}

impl DockerTarget {
    pub(super) async fn unpark_rollout(
        &self,
        stack: &str,
        rollout: &str,
    ) -> Result<Vec<String>, DeployError> {
        let suffix = format!("--parked-{rollout}");
        let all = every_stack_container(&self.docker, stack).await?;
        let names: Vec<String> = all.iter().filter_map(name_of).collect();
        let mut restored = Vec::new();
        for c in &all {
            let Some(parked) = name_of(c) else { continue };
            let Some(base) = parked.strip_suffix(&suffix) else {
                continue;
            };
            // What runs under the name now is the rollout's (or half made).
            if names.iter().any(|n| n == base) {
                resources::stop_and_remove(&self.docker, base).await?;
            }
            self.docker
                .rename_container(
                    &parked,
                    RenameContainerOptionsBuilder::new().name(base).build(),
                )
                .await
                .map_err(DeployError::docker(format!("putting {base} back")))?;
            let labels = c.labels.clone().unwrap_or_default();
            if labels.get(label::ONE_SHOT).map(String::as_str) != Some("true") {
                self.docker
                    .start_container(base, None)
                    .await
                    .map_err(DeployError::docker(format!("starting {base} again")))?;
            }
            restored.push(labels.get(label::SERVICE).cloned().unwrap_or_default());
            crate::update::faults::point("unparked-one");
        }
        // A switch of this rollout cut short: its new container goes.
        let next = format!("--next-{rollout}");
        for name in &names {
            if name.ends_with(&next) {
                resources::stop_and_remove(&self.docker, name).await?;
            }
        }
        restored.sort();
        Ok(restored)
    }

    pub(super) async fn drop_parked_rollout(
        &self,
        stack: &str,
        rollout: &str,
    ) -> Result<Vec<String>, DeployError> {
        let suffix = format!("--parked-{rollout}");
        let mut dropped = Vec::new();
        for c in every_stack_container(&self.docker, stack).await? {
            let Some(name) = name_of(&c) else { continue };
            if name.ends_with(&suffix) {
                resources::stop_and_remove(&self.docker, &name).await?;
                dropped.push(
                    c.labels
                        .as_ref()
                        .and_then(|l| l.get(label::SERVICE).cloned())
                        .unwrap_or_default(),
                );
                crate::update::faults::point("dropped-one");
            }
        }
        dropped.sort();
        Ok(dropped)
    }
}
