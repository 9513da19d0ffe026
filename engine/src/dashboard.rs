//! One watch per running stack, shared by every open dashboard: the target's
//! status stream (the Docker event stream plus its poll) and the chat probes
//! through Caddy (with ACME, also Caddy's word on its certificate) run once, and each page subscribes to the latest values.
//! Ten open dashboards cost what one does. The watch ends when the last page
//! closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use stack::model::StackConfig;
use tokio::sync::watch;

use crate::chat_probe::{probe_chat_on, ProbeResult};
use crate::deploy::{ClusterEvent, ServiceStatus, Target};

/// How often the target is looked at besides its event stream (which tells
/// starts, stops, restarts and Docker's health at once): for Burrow's own
/// HTTP/TCP probes.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);
/// How often the chat server is probed through Caddy.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);

/// The latest status snapshot (or why there is none), as the watch saw it.
pub type StatusUpdate = Result<Vec<ServiceStatus>, String>;

/// The latest events the target recorded (a cluster's), or why there are
/// none.
pub type EventsUpdate = Result<Vec<ClusterEvent>, String>;

/// What every page watching one revision shares.
pub struct Feed {
    pub status: watch::Receiver<Option<StatusUpdate>>,
    pub probes: watch::Receiver<Option<Vec<ProbeResult>>>,
    /// Stays `None` on a target that records no events (Docker).
    pub events: watch::Receiver<Option<EventsUpdate>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What a running watch saw last (`None`: nothing yet).
#[derive(Debug, Default)]
pub struct Seen {
    pub status: Option<StatusUpdate>,
    pub probes: Option<Vec<ProbeResult>>,
    pub events: Option<EventsUpdate>,
}

/// The shared watches, one per revision being watched.
#[derive(Default)]
pub struct Hub {
    feeds: Mutex<HashMap<i64, Weak<Feed>>>,
}

impl Hub {
    /// The feed for `revision` on `target`, started on first use and shared
    /// while any subscriber holds it.
    pub fn subscribe(
        &self,
        revision: i64,
        config: &StackConfig,
        ca_pem: Option<String>,
        target: Arc<dyn Target>,
    ) -> Arc<Feed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.retain(|_, f| f.strong_count() > 0);
        if let Some(feed) = feeds.get(&revision).and_then(Weak::upgrade) {
            return feed;
        }
        let (status_tx, status) = watch::channel(None);
        let (probes_tx, probes) = watch::channel(None);
        let (events_tx, events) = watch::channel(None);
        let stack = config.name.as_str().to_owned();
        let logs_from = target.clone();
        let mut tasks = Vec::new();
        if let Some(mut stream) = target.watch_events(&stack) {
            tasks.push(tokio::spawn(async move {
                while let Some(item) = stream.next().await {
                    if events_tx
                        .send(Some(item.map_err(|e| e.to_string())))
                        .is_err()
                    {
                        return;
                    }
                }
            }));
        }
        let watcher = tokio::spawn(async move {
            let mut stream = target.watch_status(&stack, STATUS_EVERY);
            while let Some(item) = stream.next().await {
                if status_tx
                    .send(Some(item.map_err(|e| e.to_string())))
                    .is_err()
                {
                    return;
                }
            }
        });
        let config = config.clone();
        let prober = tokio::spawn(async move {
            loop {
                let mut results =
                    probe_chat_on(logs_from.as_ref(), &config, ca_pem.as_deref()).await;
                // With ACME, what Caddy's log says about the certificate.
                results.extend(crate::acme_log::acme_probe(logs_from.as_ref(), &config).await);
                if probes_tx.send(Some(results)).is_err() {
                    return;
                }
                tokio::time::sleep(PROBE_EVERY).await;
            }
        });
        tasks.extend([watcher, prober]);
        let feed = Arc::new(Feed {
            status,
            probes,
            events,
            tasks,
        });
        feeds.insert(revision, Arc::downgrade(&feed));
        feed
    }

    /// What the running watch of `revision` saw last, without starting
    /// one: a page's first load takes it instead of asking the target
    /// again while other pages keep the watch alive. `None` when no page
    /// watches `revision`.
    pub fn latest(&self, revision: i64) -> Option<Seen> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let feed = feeds.get(&revision)?.upgrade()?;
        let seen = Seen {
            status: feed.status.borrow().clone(),
            probes: feed.probes.borrow().clone(),
            events: feed.events.borrow().clone(),
        };
        Some(seen)
    }

    /// Revisions being watched now (for tests and the log).
    pub fn active(&self) -> usize {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.values().filter(|f| f.strong_count() > 0).count()
    }
}
