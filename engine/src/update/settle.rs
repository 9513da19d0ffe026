//! The settle after an update's switch, as a pure transition function: the
//! whole stack must stay green for the hold (every long-running service
//! running, not unhealthy, no restart counted), and, when Caddy runs, the
//! chat server must answer through it. The driver (the updater) takes a
//! status snapshot or runs the probes when told, and reports back with the
//! time it *asked*.
//!
//! Only a snapshot asked for once the hold is over decides, and when the
//! probes ran, only one asked for after they passed: a snapshot asked for
//! just before the end of the hold (and slow to arrive) saw the stack as
//! it was then, so a crash between it and the probes' success went unseen
//! (a release whose api crashes 1.5 s after every start completed in CI).

use std::time::{Duration, Instant};

use crate::deploy::ServiceStatus;

/// How often the stack is looked at during the hold.
const EVERY: Duration = Duration::from_millis(500);

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Wait `after`, then take a status snapshot and report it with
    /// [`Settle::looked`].
    Look { after: Duration },
    /// Probe the chat server through Caddy and report with
    /// [`Settle::probed`].
    Probe,
    /// The settle's outcome: `Err` is the sentence of why it failed.
    Done(Result<(), String>),
}

/// One settle's state.
#[derive(Debug)]
pub struct Settle {
    begun: Instant,
    hold: Duration,
    /// How long after the hold a failing probe is given.
    probe_for: Duration,
    /// The update's bound, and the sentence for passing it.
    until: Instant,
    over_time: String,
    /// The first snapshot: restarts count from there (by container; a
    /// cluster's pod that is new since counts from zero).
    first: Option<Vec<ServiceStatus>>,
    /// When the probes last all passed.
    answered: Option<Instant>,
}

impl Settle {
    pub fn new(
        begun: Instant,
        hold: Duration,
        probe_for: Duration,
        until: Instant,
        over_time: String,
    ) -> Self {
        Self {
            begun,
            hold,
            probe_for,
            until,
            over_time,
            first: None,
            answered: None,
        }
    }

    /// The first step.
    pub fn start(&self) -> Next {
        Next::Look {
            after: Duration::ZERO,
        }
    }

    /// A snapshot asked for at `asked`, reported at `now`.
    pub fn looked(&mut self, asked: Instant, status: &[ServiceStatus], now: Instant) -> Next {
        let first = self.first.get_or_insert_with(|| status.to_vec());
        for s in status.iter().filter(|s| !s.one_shot) {
            if s.is_trouble() {
                return Next::Done(Err(format!(
                    "{} is {} after the update",
                    s.service, s.state
                )));
            }
            let before = first
                .iter()
                .find(|f| f.container == s.container)
                .map_or(0, |f| f.restart_count);
            if s.restart_count > before {
                return Next::Done(Err(format!(
                    "{} restarted {} time(s) after the update",
                    s.service,
                    s.restart_count - before
                )));
            }
        }
        if now >= self.until {
            return Next::Done(Err(self.over_time.clone()));
        }
        if asked.saturating_duration_since(self.begun) < self.hold {
            return Next::Look {
                after: EVERY.min(self.hold),
            };
        }
        let caddy = status.iter().any(|s| s.service == "caddy");
        match self.answered {
            _ if !caddy => Next::Done(Ok(())),
            Some(at) if asked >= at => Next::Done(Ok(())),
            _ => Next::Probe,
        }
    }

    /// The probes' outcome, reported at `now`: `failing` is the first that
    /// failed (its path and why).
    pub fn probed(&mut self, failing: Option<(String, String)>, now: Instant) -> Next {
        match failing {
            None => {
                self.answered = Some(now);
                Next::Look {
                    after: Duration::ZERO,
                }
            }
            Some((path, detail))
                if now.saturating_duration_since(self.begun) >= self.hold + self.probe_for =>
            {
                Next::Done(Err(format!(
                    "the chat server does not answer through Caddy after the update \
                     ({path}: {detail})"
                )))
            }
            Some(_) if now >= self.until => Next::Done(Err(self.over_time.clone())),
            Some(_) => Next::Look { after: EVERY },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::Health;

    fn service(name: &str, restarts: u64) -> ServiceStatus {
        ServiceStatus {
            service: name.into(),
            container: format!("s-{name}"),
            state: "running".into(),
            health: Health::Healthy,
            restart_count: restarts,
            started_at: None,
            uptime_secs: Some(1),
            image: String::new(),
            ports: Vec::new(),
            exit_code: None,
            revision: None,
            one_shot: false,
            node: None,
        }
    }

    fn stack(api_restarts: u64) -> Vec<ServiceStatus> {
        vec![service("api", api_restarts), service("caddy", 0)]
    }

    const HOLD: Duration = Duration::from_secs(2);

    fn settle(t0: Instant) -> Settle {
        Settle::new(
            t0,
            HOLD,
            Duration::from_secs(10),
            t0 + Duration::from_secs(60),
            "too long".into(),
        )
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_green_stack_is_probed_after_the_hold_then_looked_at_once_more() {
        let t0 = Instant::now();
        let mut s = settle(t0);
        assert_eq!(
            s.start(),
            Next::Look {
                after: Duration::ZERO
            }
        );
        assert_eq!(
            s.looked(t0, &stack(0), at(t0, 300)),
            Next::Look { after: EVERY }
        );
        assert_eq!(s.looked(at(t0, 2000), &stack(0), at(t0, 2300)), Next::Probe);
        assert_eq!(
            s.probed(None, at(t0, 2500)),
            Next::Look {
                after: Duration::ZERO
            }
        );
        assert_eq!(
            s.looked(at(t0, 2500), &stack(0), at(t0, 2800)),
            Next::Done(Ok(()))
        );
    }

    /// What CI saw: the last snapshot was asked for before the hold ended
    /// and arrived after it; the api crashed after that snapshot and was
    /// answering again when the probes ran.
    #[test]
    fn a_snapshot_asked_for_before_the_end_of_the_hold_does_not_decide() {
        let t0 = Instant::now();
        let mut s = settle(t0);
        s.looked(t0, &stack(0), at(t0, 200));
        assert_eq!(
            s.looked(at(t0, 1700), &stack(0), at(t0, 2200)),
            Next::Look { after: EVERY }
        );
        assert_eq!(
            s.looked(at(t0, 2700), &stack(1), at(t0, 2900)),
            Next::Done(Err("api restarted 1 time(s) after the update".into()))
        );
    }

    #[test]
    fn a_restart_between_the_probes_and_the_last_look_fails_the_settle() {
        let t0 = Instant::now();
        let mut s = settle(t0);
        s.looked(t0, &stack(0), at(t0, 200));
        assert_eq!(s.looked(at(t0, 2100), &stack(0), at(t0, 2200)), Next::Probe);
        s.probed(None, at(t0, 2600));
        assert_eq!(
            s.looked(at(t0, 2600), &stack(2), at(t0, 2700)),
            Next::Done(Err("api restarted 2 time(s) after the update".into()))
        );
    }

    #[test]
    fn a_snapshot_older_than_the_probes_success_does_not_decide() {
        let t0 = Instant::now();
        let mut s = settle(t0);
        s.looked(t0, &stack(0), at(t0, 200));
        s.looked(at(t0, 2100), &stack(0), at(t0, 2200));
        s.probed(None, at(t0, 2600));
        assert_eq!(s.looked(at(t0, 2500), &stack(0), at(t0, 2700)), Next::Probe);
    }

    #[test]
    fn trouble_fails_at_once_and_restarts_count_by_container() {
        let t0 = Instant::now();
        let mut s = settle(t0);
        let mut crashing = stack(3);
        crashing[0].state = "restarting".into();
        assert_eq!(
            s.looked(t0, &crashing, at(t0, 100)),
            Next::Done(Err("api is restarting after the update".into()))
        );

        // A container that is new since the first look counts from zero;
        // a one-shot that completed is no trouble.
        let mut s = settle(t0);
        s.looked(t0, &stack(3), at(t0, 100));
        let mut replaced = stack(0);
        replaced[0].container = "s-api-2".into();
        let mut job = service("createbuckets", 0);
        job.one_shot = true;
        job.state = "exited".into();
        job.exit_code = Some(0);
        replaced.push(job);
        assert_eq!(
            s.looked(at(t0, 500), &replaced, at(t0, 600)),
            Next::Look { after: EVERY }
        );
        replaced[0].restart_count = 1;
        assert_eq!(
            s.looked(at(t0, 1000), &replaced, at(t0, 1100)),
            Next::Done(Err("api restarted 1 time(s) after the update".into()))
        );
    }

    #[test]
    fn without_caddy_the_first_look_after_the_hold_decides() {
        let t0 = Instant::now();
        let mut s = settle(t0);
        let alone = vec![service("api", 0)];
        s.looked(t0, &alone, at(t0, 100));
        assert_eq!(
            s.looked(at(t0, 2000), &alone, at(t0, 2100)),
            Next::Done(Ok(()))
        );
    }

    #[test]
    fn a_failing_probe_is_given_its_time_then_named() {
        let t0 = Instant::now();
        let mut s = settle(t0);
        s.looked(t0, &stack(0), at(t0, 100));
        s.looked(at(t0, 2000), &stack(0), at(t0, 2100));
        let refused = || Some(("/ws".to_owned(), "101 expected, got 502".to_owned()));
        assert_eq!(
            s.probed(refused(), at(t0, 2500)),
            Next::Look { after: EVERY }
        );
        assert_eq!(
            s.probed(refused(), at(t0, 12_000)),
            Next::Done(Err(
                "the chat server does not answer through Caddy after the update \
                 (/ws: 101 expected, got 502)"
                    .into()
            ))
        );
    }

    #[test]
    fn the_updates_bound_ends_the_settle() {
        let t0 = Instant::now();
        let mut s = Settle::new(
            t0,
            HOLD,
            Duration::from_secs(120),
            at(t0, 5000),
            "the update took longer than its bound of 5 s".into(),
        );
        s.looked(t0, &stack(0), at(t0, 100));
        assert_eq!(
            s.looked(at(t0, 4900), &stack(0), at(t0, 5100)),
            Next::Done(Err("the update took longer than its bound of 5 s".into()))
        );
        let mut s = Settle::new(
            t0,
            HOLD,
            Duration::from_secs(120),
            at(t0, 5000),
            "late".into(),
        );
        s.looked(t0, &stack(0), at(t0, 100));
        s.looked(at(t0, 2000), &stack(0), at(t0, 2100));
        assert_eq!(
            s.probed(Some(("/api".into(), "502".into())), at(t0, 5000)),
            Next::Done(Err("late".into()))
        );
    }
}
