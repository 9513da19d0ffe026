//! A stateless service behind Caddy replaced without a failed request, the
//! way kamal-proxy switches an app: the new container starts beside the old
//! one under its own name, is gated by the same health rule as any service,
//! then Caddy's upstream is pointed at it with a graceful reload (Caddy is
//! never recreated for this); the old one drains, then stops (parked for a
//! rollback, or removed), and the new one takes the service's name.
//!
//! While a switch is under way Caddy is *pinned*: its upstream for the
//! service is an address (the old container's, then the new one's) instead
//! of the service's name, which both containers answer to while they run
//! side by side. Once the old one is stopped, the name is the new one's
//! alone and Caddy goes back to the rendered Caddyfile. An apply that finds
//! Caddy's Caddyfile differing from the rendered one (a switch cut short)
//! loads the rendered one first.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::ExecConfig;
use bollard::query_parameters::RenameContainerOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use stack::model::Service;

use super::files::FileEntry;
use crate::deploy::DeployError;

/// The services that can run twice for a moment: stateless, behind Caddy.
/// Databases, queues, crond, pushd, LiveKit and Caddy itself are parked
/// first and started after (they cannot run twice).
pub const SWITCHED: [Service; 6] = [
    Service::Api,
    Service::Events,
    Service::Autumn,
    Service::January,
    Service::Gifbox,
    Service::Web,
];

/// How long the old container keeps serving what reached it before the
/// switch (longer than a container's stop timeout): `BURROW_DRAIN_S`, else
/// 30 s.
pub fn default_drain() -> Duration {
    std::env::var("BURROW_DRAIN_S")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(30), Duration::from_secs)
}

/// Whether `service` is switched without downtime.
pub fn is_switched(service: &str) -> bool {
    SWITCHED.iter().any(|s| s.name() == service)
}

/// The name the new container of `name` starts under during a switch.
pub(super) fn next_name(name: &str, tag: &str) -> String {
    format!("{name}--next-{tag}")
}

/// Caddy's Caddyfile, pinned per service while switches are under way; the
/// apply's service tasks share it.
pub(super) struct Switchboard<'a> {
    docker: &'a Docker,
    /// Caddy's container.
    caddy: String,
    /// The rendered Caddyfile as it is delivered into Caddy (path, mode).
    rendered: FileEntry,
    /// Caddy's image user (the file's owner).
    user: String,
    /// The pins wanted, and how many changes were asked for.
    pins: std::sync::Mutex<(BTreeMap<Service, String>, u64)>,
    /// Held while Caddy reloads; how many changes it has loaded.
    loaded: tokio::sync::Mutex<u64>,
}

impl<'a> Switchboard<'a> {
    pub(super) fn new(
        docker: &'a Docker,
        caddy: String,
        rendered: FileEntry,
        user: String,
    ) -> Self {
        Self {
            docker,
            caddy,
            rendered,
            user,
            pins: std::sync::Mutex::new((BTreeMap::new(), 0)),
            loaded: tokio::sync::Mutex::new(0),
        }
    }

    /// Loads the rendered Caddyfile when Caddy runs another (a switch that
    /// was cut short left it pinned).
    pub(super) async fn settle(&self) -> Result<(), DeployError> {
        let running =
            super::files::read_file(self.docker, &self.caddy, &self.rendered.target).await;
        if running.as_deref().map(str::as_bytes) == Some(self.rendered.content.as_slice()) {
            return Ok(());
        }
        tracing::info!(caddy = %self.caddy, "Caddy runs another Caddyfile than the rendered one: loading it");
        self.load(self.rendered.content.clone()).await
    }

    /// Points Caddy's upstream for `service` at `host` (`None`: back to the
    /// service's name), with a graceful reload. Every reload costs the
    /// WebSockets Caddy holds and reloads its certificates, so pins asked
    /// for while a reload runs go together in the next one (a reload that
    /// already carried this change is not repeated).
    pub(super) async fn pin(
        &self,
        service: Service,
        host: Option<&str>,
    ) -> Result<(), DeployError> {
        let mine = {
            let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
            match host {
                Some(h) => pins.0.insert(service, h.to_owned()),
                None => pins.0.remove(&service),
            };
            pins.1 += 1;
            pins.1
        };
        let mut loaded = self.loaded.lock().await;
        if *loaded >= mine {
            return Ok(());
        }
        let (text, wanted) = {
            let pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
            let text = String::from_utf8_lossy(&self.rendered.content).into_owned();
            let text = pins.0.iter().fold(text, |t, (s, h)| {
                stack::render::caddy_with_upstream(&t, *s, h)
            });
            (text, pins.1)
        };
        self.load(text.into_bytes()).await?;
        *loaded = wanted;
        Ok(())
    }

    /// Writes `content` as Caddy's Caddyfile and has Caddy reload it
    /// (`caddy reload`: the running servers finish what they serve).
    async fn load(&self, content: Vec<u8>) -> Result<(), DeployError> {
        let entry = FileEntry {
            content,
            ..self.rendered.clone()
        };
        super::files::deliver(self.docker, &self.caddy, &self.user, &[entry]).await?;
        let cmd = [
            "caddy",
            "reload",
            "--config",
            self.rendered.target.as_str(),
            "--adapter",
            "caddyfile",
        ];
        let (code, output) = exec(self.docker, &self.caddy, &cmd)
            .await
            .map_err(|e| DeployError::docker(format!("reloading Caddy in {}", self.caddy))(e))?;
        if code != Some(0) {
            return Err(DeployError::Conflict {
                message: format!(
                    "Caddy in {} refused the new Caddyfile ({}): {}",
                    self.caddy,
                    code.map_or("no exit code".to_owned(), |c| format!("exit code {c}")),
                    output.trim()
                ),
            });
        }
        Ok(())
    }
}

/// Runs `cmd` in `container`; its exit code and output.
async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
) -> Result<(Option<i64>, String), bollard::errors::Error> {
    use bollard::exec::StartExecResults;
    let exec = docker
        .create_exec(
            container,
            ExecConfig {
                cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await?
    {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&chunk.to_string());
        }
    }
    Ok((docker.inspect_exec(&exec.id).await?.exit_code, text))
}

/// The address of `container` on the stack's network `network`.
pub(super) async fn address(
    docker: &Docker,
    container: &str,
    network: &str,
) -> Result<String, DeployError> {
    let info = docker
        .inspect_container(container, None)
        .await
        .map_err(DeployError::docker(format!("inspecting {container}")))?;
    info.network_settings
        .and_then(|n| n.networks)
        .and_then(|mut n| n.remove(network))
        .and_then(|e| e.ip_address)
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| DeployError::Conflict {
            message: format!("{container} has no address on network {network}"),
        })
}

/// Renames `from` to `to`.
pub(super) async fn rename(docker: &Docker, from: &str, to: &str) -> Result<(), DeployError> {
    docker
        .rename_container(from, RenameContainerOptionsBuilder::new().name(to).build())
        .await
        .map_err(DeployError::docker(format!("renaming {from} to {to}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stateless_services_behind_caddy_are_switched() {
        for s in ["api", "events", "autumn", "january", "gifbox", "web"] {
            assert!(is_switched(s), "{s}");
        }
        for s in [
            "database", "redis", "rabbit", "minio", "crond", "pushd", "livekit", "caddy",
        ] {
            assert!(!is_switched(s), "{s}");
        }
        assert_eq!(next_name("chat-api", "r7"), "chat-api--next-r7");
    }
}
