//! The channel this install follows (set on the Updates page, or by
//! `BURROW_CHANNEL_*`, which win), checks of it (now, and on a schedule)
//! recorded with their outcome, and the latest outcome for the pages.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wire::updates::{ChannelView, CheckView, ReleaseView, RolloutView, StepView, UpdatesView};

use super::channel::{self, ChannelSettings};
use super::release::Release;
use crate::{now_unix, EngineError, Store};

/// How often the channel is checked by default.
pub const CHECK_EVERY: Duration = Duration::from_secs(6 * 60 * 60);
/// Checks kept in the database.
const KEEP_CHECKS: i64 = 100;

/// Updates for one install.
pub struct Updates {
    /// From the environment; wins over the page's.
    environment: Option<ChannelSettings>,
    data_dir: PathBuf,
    /// One check at a time.
    checking: tokio::sync::Mutex<()>,
    /// Automatic updates inside the maintenance window.
    pub auto: super::auto::Auto,
}

impl Updates {
    pub fn new(environment: Option<ChannelSettings>, data_dir: PathBuf) -> Self {
        Self {
            environment,
            data_dir,
            checking: tokio::sync::Mutex::new(()),
            auto: super::auto::Auto::default(),
        }
    }

    /// The channel followed, and whether the environment set it.
    pub async fn channel(
        &self,
        store: &Store,
    ) -> Result<Option<(ChannelSettings, bool)>, EngineError> {
        if let Some(env) = &self.environment {
            return Ok(Some((env.clone(), true)));
        }
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT url, root, name FROM update_channel WHERE id = 1")
                .fetch_optional(store.pool())
                .await?;
        Ok(row.map(|(url, root, name)| {
            (
                ChannelSettings {
                    url,
                    root: root.into_bytes(),
                    name,
                },
                false,
            )
        }))
    }

    /// Saves the channel typed on the page; problems by field (`url`,
    /// `root`, `name`), nothing saved then.
    pub async fn save_channel(
        &self,
        store: &Store,
        url: &str,
        root: &str,
        name: &str,
        actor: &str,
    ) -> Result<(), Vec<(String, String)>> {
        let mut problems = Vec::new();
        if self.environment.is_some() {
            problems.push((
                "url".to_owned(),
                "The channel is set by BURROW_CHANNEL_URL and BURROW_CHANNEL_ROOT: change it \
                 there."
                    .to_owned(),
            ));
            return Err(problems);
        }
        if let Err(e) = channel::base_url(url) {
            problems.push(("url".to_owned(), e.to_string()));
        }
        if let Err(why) = root_version(root.as_bytes()) {
            problems.push(("root".to_owned(), why));
        }
        let name = if name.trim().is_empty() {
            "stable"
        } else {
            name.trim()
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            problems.push((
                "name".to_owned(),
                "A channel name is letters, digits and '-' (e.g. stable).".to_owned(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let saved = sqlx::query(
            "INSERT INTO update_channel (id, url, root, name, updated_at) VALUES (1, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, root = excluded.root, \
             name = excluded.name, updated_at = excluded.updated_at",
        )
        .bind(url.trim())
        .bind(root.trim())
        .bind(name)
        .bind(now_unix())
        .execute(store.pool())
        .await;
        if let Err(e) = saved {
            return Err(vec![(
                "url".to_owned(),
                format!("It could not be saved: {e}."),
            )]);
        }
        let _ = store
            .record(
                actor,
                None,
                "update channel",
                crate::audit::Outcome::Success,
                Some(url.trim()),
            )
            .await;
        Ok(())
    }

    /// Checks the channel now and records the outcome.
    pub async fn check_now(&self, store: &Store, actor: &str) -> Result<CheckView, EngineError> {
        Ok(self.check_release(store, actor).await?.0)
    }

    /// Checks the channel now (recorded); the release verified, for an
    /// update to start from, or the sentence why there is none.
    pub async fn verified_release(
        &self,
        store: &Store,
        actor: &str,
    ) -> Result<Result<Release, String>, EngineError> {
        Ok(self.check_release(store, actor).await?.1)
    }

    async fn check_release(
        &self,
        store: &Store,
        actor: &str,
    ) -> Result<(CheckView, Result<Release, String>), EngineError> {
        let _one = self.checking.lock().await;
        let outcome = match self.channel(store).await? {
            None => Err(
                "No update channel is set: give its address and root metadata below \
                         (or BURROW_CHANNEL_URL and BURROW_CHANNEL_ROOT)."
                    .to_owned(),
            ),
            Some((settings, _)) => {
                let datastore = channel::datastore_for(&self.data_dir, &settings);
                let installed = super::updater::installed_release(store).await?;
                channel::check(&settings, &datastore, installed.as_ref())
                    .await
                    .map(|c| c.release)
                    .map_err(|e| e.0)
            }
        };
        let now = now_unix();
        let (release, refusal) = match &outcome {
            Ok(r) => (serde_json::to_string(r).ok(), None),
            Err(why) => (None, Some(why.clone())),
        };
        sqlx::query("INSERT INTO update_checks (checked_at, release, refusal) VALUES (?, ?, ?)")
            .bind(now)
            .bind(&release)
            .bind(&refusal)
            .execute(store.pool())
            .await?;
        sqlx::query(
            "DELETE FROM update_checks WHERE id NOT IN \
             (SELECT id FROM update_checks ORDER BY id DESC LIMIT ?)",
        )
        .bind(KEEP_CHECKS)
        .execute(store.pool())
        .await?;
        let detail = match &outcome {
            Ok(r) => format!("{} (sequence {}) offered", r.version, r.sequence),
            Err(why) => why.clone(),
        };
        store
            .record(
                actor,
                None,
                "update check",
                if outcome.is_ok() {
                    crate::audit::Outcome::Success
                } else {
                    crate::audit::Outcome::Failure
                },
                Some(&detail),
            )
            .await?;
        Ok((view_of(now, outcome.clone()), outcome))
    }

    /// The last check's outcome.
    pub async fn last_check(&self, store: &Store) -> Result<Option<CheckView>, EngineError> {
        let row: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT checked_at, release, refusal FROM update_checks ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(store.pool())
        .await?;
        Ok(row.map(|(at, release, refusal)| {
            // A stored release that no longer reads is shown as the reason.
            let outcome = match (release, refusal) {
                (Some(json), _) => Release::parse(json.as_bytes()),
                (None, Some(why)) => Err(why),
                (None, None) => Err("The check recorded no outcome.".to_owned()),
            };
            view_of(at, outcome)
        }))
    }

    /// What the Updates page shows (`vault`: to read the running
    /// revision, which the offer is compared with).
    pub async fn view(
        &self,
        store: &Store,
        vault: &crate::sealed::Vault,
    ) -> Result<UpdatesView, EngineError> {
        let channel = self.channel(store).await?.map(|(s, env)| ChannelView {
            url: s.url.clone(),
            name: s.name.clone(),
            root_version: root_version(&s.root).unwrap_or(0),
            from_environment: env,
        });
        let rollouts = super::updater::history(store).await?;
        let installed = super::updater::installed_release(store).await?;
        let installed_sequence = installed.as_ref().map(|i| i.sequence);
        let mut views = Vec::with_capacity(rollouts.len());
        for r in rollouts {
            let cluster = store.revision_is_cluster(r.from_revision).await?;
            views.push(rollout_view(r, installed_sequence, cluster));
        }
        let mut last_check = self.last_check(store).await?;
        if let Some(offer) = last_check.as_mut().and_then(|c| c.release.as_mut()) {
            if let Some(running) = store.running_revision(vault).await? {
                offer.pauses = pauses(&offer.images, &running);
            }
            if let Some((at, why)) =
                super::updater::rolled_back_before(store, &offer.channel, offer.sequence).await?
            {
                let when = time::OffsetDateTime::from_unix_timestamp(at)
                    .map(|t| {
                        format!(
                            "{}-{:02}-{:02} {:02}:{:02} UTC",
                            t.year(),
                            u8::from(t.month()),
                            t.day(),
                            t.hour(),
                            t.minute()
                        )
                    })
                    .unwrap_or_default();
                offer.failed_before = Some(format!(
                    "It failed to install on {when} and was rolled back ({why}); it is not \
                     announced again. Update now tries once more."
                ));
            }
        }
        Ok(UpdatesView {
            channel,
            last_check,
            installed: installed.map(|i| format!("{} (sequence {})", i.version, i.sequence)),
            rollouts: views,
            registry: None,
            registry_problem: None,
            auto: Some(super::auto::view(
                &super::auto::policy(store).await?,
                time::OffsetDateTime::now_utc(),
                self.auto.last_word(),
            )),
        })
    }

    /// The release the last check found on offer, unless it failed to
    /// install before (rolled back).
    pub async fn offer(&self, store: &Store) -> Result<Option<ReleaseView>, EngineError> {
        let Some(offered) = self.last_check(store).await?.and_then(|c| c.release) else {
            return Ok(None);
        };
        let failed =
            super::updater::rolled_back_before(store, &offered.channel, offered.sequence).await?;
        Ok(failed.is_none().then_some(offered))
    }

    /// The version a check found on offer, for the header's badge; not a
    /// release that failed to install before.
    pub async fn available(&self, store: &Store) -> Option<String> {
        self.offer(store).await.ok().flatten().map(|r| r.version)
    }
}

/// What the Updates page shows of rollout `r` (`installed`: the sequence
/// installed now, which cannot be gone back to; `cluster`: whether it ran
/// on a Kubernetes cluster, which its steps' titles say).
pub fn rollout_view(
    r: super::updater::Rollout,
    installed: Option<u64>,
    cluster: bool,
) -> RolloutView {
    let (state, detail) = super::updater::describe(&r.phase);
    let running = !r.phase.is_terminal();
    RolloutView {
        id: r.id,
        state: state.to_owned(),
        can_go_back: r.phase == super::rollout::Phase::Completed
            && installed != Some(r.release.sequence),
        detail,
        progress: r.progress.filter(|_| running),
        driver: running
            .then(|| r.owner.as_ref().map(|o| format!("Burrow {}", o.describe())))
            .flatten(),
        steps: r
            .steps
            .iter()
            .map(|s| StepView {
                what: super::updater::step_title(&s.step, cluster).to_owned(),
                took_ms: u64::try_from(s.took_ms).unwrap_or(0),
                error: s.error.clone(),
            })
            .collect(),
        version: r.release.version,
        sequence: r.release.sequence,
        actor: r.actor,
        started_at: r.started_at,
        finished_at: r.finished_at,
    }
}

/// Rollout `id` as the Updates page shows it (what its live view sends),
/// read again on every [`RolloutReader::read`]; the kind of target it ran
/// on never changes, so it is looked up once.
pub struct RolloutReader {
    id: i64,
    cluster: Option<bool>,
}

impl RolloutReader {
    pub fn new(id: i64) -> Self {
        Self { id, cluster: None }
    }

    pub async fn read(&mut self, store: &Store) -> Result<Option<RolloutView>, EngineError> {
        let installed = super::updater::installed_release(store)
            .await?
            .map(|i| i.sequence);
        let Some(r) = super::updater::one(store, self.id).await? else {
            return Ok(None);
        };
        let cluster = match self.cluster {
            Some(cluster) => cluster,
            None => *self
                .cluster
                .insert(store.revision_is_cluster(r.from_revision).await?),
        };
        Ok(Some(rollout_view(r, installed, cluster)))
    }
}

/// Which services an update to `images` replaces without a pause and which
/// pause briefly, against what `running` runs, as the Updates page says
/// it; `None` when no image changes.
pub fn pauses(
    images: &std::collections::BTreeMap<String, String>,
    running: &crate::revisions::Revision,
) -> Option<String> {
    use crate::deploy::docker::switch::is_switched;
    let changed: Vec<&str> = images
        .iter()
        .filter(|(service, image)| {
            stack::model::Service::from_name(service)
                .is_none_or(|s| running.config.images.get(s).to_string() != **image)
        })
        .map(|(service, _)| service.as_str())
        .collect();
    if changed.is_empty() {
        return None;
    }
    if let crate::targets::TargetSettings::Kubernetes { .. } = running.target {
        return Some(format!(
            "The cluster rolls out {}: a Deployment's new pod is ready before its old one \
             goes, a StatefulSet's restarts in place.",
            changed.join(", ")
        ));
    }
    if changed.contains(&"caddy") {
        return Some(format!(
            "Caddy itself changes, so every changed service restarts with a brief pause: {}.",
            changed.join(", ")
        ));
    }
    let (switched, paused): (Vec<&str>, Vec<&str>) = changed.iter().partition(|s| is_switched(s));
    let mut said = Vec::new();
    if !switched.is_empty() {
        said.push(format!(
            "Switched without a pause (the new container serves before the old one stops): {}.",
            switched.join(", ")
        ));
    }
    if !paused.is_empty() {
        said.push(format!(
            "Restarted with a brief pause (they cannot run twice): {}.",
            paused.join(", ")
        ));
    }
    Some(said.join(" "))
}

fn view_of(at: i64, outcome: Result<Release, String>) -> CheckView {
    match outcome {
        Ok(r) => CheckView {
            checked_at: at,
            release: Some(ReleaseView {
                version: r.version,
                sequence: r.sequence,
                channel: r.channel,
                released_at: r.released_at,
                notes: r.notes,
                requires_backup: r.requires_backup,
                failed_before: None,
                images: r.images,
                pauses: None,
            }),
            refusal: None,
        },
        Err(why) => CheckView {
            checked_at: at,
            release: None,
            refusal: Some(why),
        },
    }
}

/// The version of a TUF root given as text, or why it is none.
pub fn root_version(root: &[u8]) -> Result<u64, String> {
    let parsed: tough::schema::Signed<tough::schema::Root> =
        serde_json::from_slice(root).map_err(|e| {
            format!(
                "This is not a TUF root (the channel's 1.root.json): {e}. Paste the file \
                 `burrow release init` made."
            )
        })?;
    Ok(parsed.signed.version.get())
}

/// Checks the channel every `every` (the first time after a minute), as
/// `system`, while the process runs.
pub fn spawn_schedule(updates: Arc<Updates>, store: Store, every: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60).min(every)).await;
        loop {
            if let Ok(Some(_)) = updates.channel(&store).await {
                if let Err(e) = updates.check_now(&store, "system").await {
                    tracing::warn!(error = %e, "scheduled update check failed");
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

#[cfg(test)]
mod pause_tests {
    use super::pauses;
    use crate::revisions::{Revision, RevisionMeta, SecretRefs};
    use crate::targets::TargetSettings;

    fn running(target: TargetSettings) -> Revision {
        let config = stack::model::parse_stack_toml(include_str!("../../../testkit/stack.toml"))
            .unwrap()
            .config;
        Revision {
            meta: RevisionMeta {
                id: 1,
                created_at: 0,
                author: "test".into(),
                note: None,
            },
            config,
            target,
            secrets: SecretRefs::default(),
        }
    }

    #[test]
    fn the_offer_says_which_services_pause() {
        let docker = running(TargetSettings::Docker {
            url: None,
            tls: None,
        });
        let mut images: std::collections::BTreeMap<String, String> = stack::model::Service::ALL
            .iter()
            .map(|s| {
                (
                    s.name().to_owned(),
                    docker.config.images.get(*s).to_string(),
                )
            })
            .collect();
        assert_eq!(pauses(&images, &docker), None, "nothing changes");
        images.insert("api".into(), "r.example/api@sha256:1".into());
        images.insert("web".into(), "r.example/web@sha256:1".into());
        images.insert("database".into(), "r.example/db@sha256:1".into());
        let said = pauses(&images, &docker).unwrap();
        assert!(
            said.starts_with("Switched without a pause")
                && said.contains(": api, web.")
                && said.contains("brief pause (they cannot run twice): database."),
            "{said}"
        );
        images.insert("caddy".into(), "r.example/caddy@sha256:1".into());
        let said = pauses(&images, &docker).unwrap();
        assert!(said.starts_with("Caddy itself changes"), "{said}");
        let cluster = running(TargetSettings::Kubernetes {
            in_cluster: true,
            context: None,
            namespace: "chat".into(),
            ingress_class: None,
            issuer: None,
        });
        assert!(pauses(&images, &cluster)
            .unwrap()
            .starts_with("The cluster rolls out"));
    }
}
