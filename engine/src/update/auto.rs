//! The driver of automatic updates: once a minute it gathers the facts
//! ([`window::decide`] decides), asks LiveKit's room list when all else says
//! yes, and starts the update the way "Update now" does. Its last word is
//! kept for the Updates page; deferrals are recorded in the audit log when
//! their reason changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stack::model::{Service, StackConfig};
use time::OffsetDateTime;
use wire::updates::AutoUpdateView;

use super::updater::Updater;
use super::window::{self, Calls, Decision, Facts, Policy, Window};
use super::Updates;
use crate::{now_unix, EngineError, Store};

/// How often the driver looks.
pub const TICK_EVERY: Duration = Duration::from_secs(60);
/// Inside the window, an older check is made again first.
const FRESH_CHECK_S: i64 = 60 * 60;
/// Who automatic updates are by, in the journal and the audit log.
pub const ACTOR: &str = "automatic update";

/// The policy stored (the default, off, when none is).
pub async fn policy(store: &Store) -> Result<Policy, EngineError> {
    let row: Option<(bool, i64, i64, i64)> = sqlx::query_as(
        "SELECT enabled, days, start_minute, end_minute FROM update_policy WHERE id = 1",
    )
    .fetch_optional(store.pool())
    .await?;
    Ok(match row {
        None => Policy::default(),
        // Stored values out of range (by hand) fall back to the default
        // window; they are never an error.
        Some((enabled, days, start, end)) => {
            let fits = |m: i64| u16::try_from(m).ok().filter(|m| *m < 24 * 60);
            match (
                u8::try_from(days)
                    .ok()
                    .filter(|d| *d & 0x7f != 0 && *d < 0x80),
                fits(start),
                fits(end),
            ) {
                (Some(days), Some(start), Some(end)) if start != end => Policy {
                    enabled,
                    window: Window { days, start, end },
                },
                _ => Policy {
                    enabled,
                    ..Policy::default()
                },
            }
        }
    })
}

/// Saves the policy from the Updates page's form; problems by field
/// (`days`, `start`, `end`), nothing saved then.
pub async fn save_policy(
    store: &Store,
    enabled: bool,
    days: &[String],
    start: &str,
    end: &str,
    actor: &str,
) -> Result<Policy, Vec<(String, String)>> {
    let window = Window::parse(days, start, end)?;
    let saved = sqlx::query(
        "INSERT INTO update_policy (id, enabled, days, start_minute, end_minute, updated_at) \
         VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, \
         days = excluded.days, start_minute = excluded.start_minute, \
         end_minute = excluded.end_minute, updated_at = excluded.updated_at",
    )
    .bind(enabled)
    .bind(i64::from(window.days))
    .bind(i64::from(window.start))
    .bind(i64::from(window.end))
    .bind(now_unix())
    .execute(store.pool())
    .await;
    if let Err(e) = saved {
        return Err(vec![(
            "days".to_owned(),
            format!("It could not be saved: {e}."),
        )]);
    }
    let detail = if enabled {
        format!("on, {}", window.describe())
    } else {
        "off".to_owned()
    };
    let _ = store
        .record(
            actor,
            None,
            "automatic updates",
            crate::audit::Outcome::Success,
            Some(&detail),
        )
        .await;
    Ok(Policy { enabled, window })
}

/// What the Updates page shows of the policy and the driver's last word.
pub fn view(policy: &Policy, now: OffsetDateTime, last: Option<(i64, String)>) -> AutoUpdateView {
    AutoUpdateView {
        enabled: policy.enabled,
        days: policy.window.day_names(),
        start: window::format_time(policy.window.start),
        end: window::format_time(policy.window.end),
        window: policy.window.describe(),
        open_now: policy.window.current(now).is_some(),
        next_window: policy.window.next_start(now).map(|t| t.unix_timestamp()),
        // Said while on: off, the status says all.
        last_word_at: last.as_ref().filter(|_| policy.enabled).map(|(at, _)| *at),
        last_word: last.filter(|_| policy.enabled).map(|(_, word)| word),
    }
}

/// A LiveKit access token allowed to list rooms, valid for a minute.
fn room_list_token(key: &str, secret: &str) -> Result<String, String> {
    #[derive(serde::Serialize)]
    struct Video {
        #[serde(rename = "roomList")]
        room_list: bool,
    }
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        sub: &'a str,
        nbf: i64,
        exp: i64,
        video: Video,
    }
    let now = now_unix();
    let signing = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .map_err(|e| format!("the access token could not be made: {e}"))?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Claims {
            iss: key,
            sub: "burrow",
            nbf: now - 10,
            exp: now + 60,
            video: Video { room_list: true },
        },
        &signing,
    )
    .map_err(|e| format!("the access token could not be made: {e}"))
}

/// Rooms with someone in them, from LiveKit's `ListRooms` answer
/// (protojson: a room without participants has no `numParticipants`).
pub fn rooms_in_use(body: &[u8]) -> Result<usize, String> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("LiveKit's room list is not JSON: {e}"))?;
    let rooms = doc
        .get("rooms")
        .map(|r| {
            r.as_array()
                .ok_or("LiveKit's room list has no list of rooms")
        })
        .transpose()?
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(rooms
        .iter()
        .filter(|r| {
            r.get("numParticipants")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
                > 0
        })
        .count())
}

/// Asks LiveKit (through the stack's proxy, where the clients reach it)
/// how many calls are running.
pub async fn calls(
    config: &StackConfig,
    livekit: Option<(&str, &str)>,
    ca_pem: Option<&str>,
    entry: &crate::chat_probe::Entry,
) -> Calls {
    if !config.runs(Service::Livekit) {
        return Calls::NoVoice;
    }
    let Some((key, secret)) = livekit else {
        return Calls::Unknown("the stack's LiveKit key is not readable".to_owned());
    };
    let token = match room_list_token(key, secret) {
        Ok(t) => t,
        Err(why) => return Calls::Unknown(why),
    };
    let client = crate::chat_probe::Client::new(config, ca_pem);
    let answer = client
        .call(
            entry,
            http::Method::POST,
            "/livekit/twirp/livekit.RoomService/ListRooms",
            &[
                (http::header::AUTHORIZATION, format!("Bearer {token}")),
                (http::header::CONTENT_TYPE, "application/json".to_owned()),
            ],
            bytes::Bytes::from_static(b"{}"),
            Duration::from_secs(10),
        )
        .await;
    match answer {
        Ok((200, body)) => match rooms_in_use(&body) {
            Ok(n) => Calls::Running(n),
            Err(why) => Calls::Unknown(why),
        },
        Ok((status, body)) => Calls::Unknown(format!(
            "LiveKit answered its room list with HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
        Err(why) => Calls::Unknown(format!("LiveKit's room list: {why}")),
    }
}

/// The automatic updater: the last word for the page.
#[derive(Default)]
pub struct Auto {
    last: Mutex<Option<(i64, String)>>,
}

impl Auto {
    /// The driver's last word ("2.0.0 waits: 1 voice call is running ...")
    /// and when it was said.
    pub fn last_word(&self) -> Option<(i64, String)> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps `word`; true when it differs from the one before.
    fn say(&self, word: String) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let changed = last.as_ref().map(|(_, w)| w) != Some(&word);
        *last = Some((now_unix(), word));
        changed
    }

    /// One look: installs the offered release when the policy and the
    /// calls allow it. The decision taken.
    pub async fn tick(
        &self,
        updates: &Updates,
        updater: &Arc<Updater>,
        now: OffsetDateTime,
    ) -> Result<Decision, EngineError> {
        let deployer = updater.deployer();
        let store = deployer.store();
        let policy = policy(store).await?;
        let mut facts = Facts {
            policy,
            now,
            offered: None,
            updating: false,
            calls: None,
        };
        // Off (the default): nothing else is read, minute after minute.
        if !policy.enabled {
            let decision = window::decide(&facts);
            if let Decision::Idle(why) = &decision {
                self.say(why.clone());
            }
            return Ok(decision);
        }
        facts.updating = updater.unfinished().await?.is_some();
        // Inside the window, a stale check is made again before deciding.
        if policy.window.current(now).is_some() {
            let stale = updates
                .last_check(store)
                .await?
                .is_none_or(|c| now.unix_timestamp() - c.checked_at > FRESH_CHECK_S);
            if stale && updates.channel(store).await?.is_some() {
                updates.check_now(store, ACTOR).await?;
            }
        }
        // On offer: newer than what is installed, and not rolled back before.
        let installed = super::updater::installed_release(store)
            .await?
            .map(|i| i.sequence);
        let offered = updates
            .offer(store)
            .await?
            .filter(|r| installed.is_none_or(|i| r.sequence > i))
            .map(|r| r.version);
        facts.offered = offered.as_deref();
        let mut decision = window::decide(&facts);
        if decision == Decision::Install {
            let calls = self.ask_livekit(updater).await?;
            facts.calls = Some(&calls);
            decision = window::decide(&facts);
        }
        let decision = match decision {
            Decision::Install => match self.install(updates, updater).await? {
                Ok(word) => {
                    self.say(word);
                    Decision::Install
                }
                // Refused after all (the check again, the updater): said
                // like a deferral.
                Err(why) => Decision::Defer(why),
            },
            other => other,
        };
        match &decision {
            Decision::Install => {}
            Decision::Defer(why) => {
                if self.say(why.clone()) {
                    let _ = store
                        .record(
                            ACTOR,
                            None,
                            "automatic update deferred",
                            crate::audit::Outcome::Failure,
                            Some(why),
                        )
                        .await;
                }
            }
            Decision::Idle(why) => {
                self.say(why.clone());
            }
        }
        Ok(decision)
    }

    /// Checks the channel again and starts the update it offers, in the
    /// background: what was started, or why nothing was.
    async fn install(
        &self,
        updates: &Updates,
        updater: &Arc<Updater>,
    ) -> Result<Result<String, String>, EngineError> {
        let store = updater.deployer().store();
        let release = match updates.verified_release(store, ACTOR).await? {
            Ok(release) => release,
            Err(why) => return Ok(Err(why)),
        };
        let version = release.version.clone();
        Ok(match updater.start(release, ACTOR).await {
            Ok(id) => {
                updater.run_in_background(id);
                Ok(format!(
                    "Installing {version} (update {id}), started in the window."
                ))
            }
            Err(e) => Err(format!("{version} could not start: {e}")),
        })
    }

    async fn ask_livekit(&self, updater: &Updater) -> Result<Calls, EngineError> {
        let deployer = updater.deployer();
        let (store, vault) = (deployer.store(), deployer.vault());
        let Some(revision) = store.running_revision(vault).await? else {
            return Ok(Calls::Unknown("no stack is deployed".to_owned()));
        };
        let secrets = match revision.secrets.stack {
            Some(id) => Some(store.stack_secrets_at(vault, id).await?),
            None => store.stack_secrets(vault).await?,
        };
        let livekit = secrets
            .as_ref()
            .map(|s| (s.livekit_key.expose(), s.livekit_secret.expose()));
        let entry = match deployer.target_for(&revision).await {
            Ok(target) => {
                crate::chat_probe::entry_of(target.as_ref(), revision.config.name.as_str()).await
            }
            Err(e) => crate::chat_probe::Entry::Unreachable(e.to_string()),
        };
        let ca = store.probe_ca_pem(vault, &revision.config).await;
        Ok(calls(&revision.config, livekit, ca.as_deref(), &entry).await)
    }
}

/// Looks every `every` for the life of the process.
pub fn spawn(updates: Arc<Updates>, updater: Arc<Updater>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let now = OffsetDateTime::now_utc();
            if let Err(e) = updates.auto.tick(&updates, &updater, now).await {
                tracing::warn!(error = %e, "automatic update look failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_with_participants_are_calls() {
        let body = br#"{"rooms":[{"name":"a","numParticipants":2},{"name":"b"},{"name":"c","numParticipants":1}]}"#;
        assert_eq!(rooms_in_use(body), Ok(2));
        assert_eq!(rooms_in_use(b"{}"), Ok(0));
        assert_eq!(rooms_in_use(br#"{"rooms":[]}"#), Ok(0));
        assert!(rooms_in_use(b"<html>").unwrap_err().contains("not JSON"));
        assert!(rooms_in_use(br#"{"rooms":7}"#).is_err());
    }

    #[test]
    fn the_token_is_an_hs256_jwt_for_listing_rooms() {
        let token = room_list_token("APIkey", "secret-secret-secret-secret-secret").unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&["APIkey"]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"secret-secret-secret-secret-secret").unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims["video"]["roomList"], true);
        assert!(jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"another-secret").unwrap(),
            &validation,
        )
        .is_err());
    }
}
