//! The rollout of a release as a pure state machine: which step comes next
//! in a phase, the phase a step's outcome leads to, and where a rollout
//! that was interrupted (Burrow killed at any point) resumes. The I/O
//! driver writes the phase to the journal *before* taking each step and
//! makes every step idempotent, so resuming from the journal always ends
//! with the whole stack on the new release (Completed) or the whole stack
//! on the old one (RolledBack), never half of each, never a parked
//! container left behind.
//!
//! ```text
//! Verified -> Preflight -> BackedUp -> Migrated -> Rolling(0..n) -> Finalizing -> Completed
//!     \___________\___________\______ Aborted (nothing changed)
//! Rolling(i) fails, or is interrupted -> RollingBack(i+1 .. 0) -> RolledBack
//!     (a release that migrates the stored data: RollingBack(0) restores
//!      the backup taken before it, then RolledBack)
//! a rollback step fails -> NeedsOperator
//! ```

use serde::{Deserialize, Serialize};

/// Where a rollout stands; stored in its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// The release is verified; nothing has been done.
    Verified,
    /// Pulling and checking images, disk, the migrations' dry run: changes
    /// nothing.
    Preflight,
    /// The backup exists.
    BackedUp,
    /// The migrated config is saved as a new revision (not deployed).
    Migrated,
    /// `services[..next]` run the new release; `services[next]` is being
    /// switched (parked old, new started, waited for).
    Rolling {
        next: usize,
    },
    /// Every service runs the new release and the stack is green; parked
    /// containers are being removed.
    Finalizing,
    Completed,
    /// Stopped before anything changed.
    Aborted {
        why: String,
    },
    /// `services[..left]` are being put back, last first.
    RollingBack {
        left: usize,
        why: String,
    },
    RolledBack {
        why: String,
    },
    /// A rollback step failed: the operator must look (a banner on every
    /// page says what to do); no retry loop.
    NeedsOperator {
        why: String,
    },
}

impl Phase {
    /// Whether the rollout is over.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Completed
                | Phase::Aborted { .. }
                | Phase::RolledBack { .. }
                | Phase::NeedsOperator { .. }
        )
    }
}

/// What the machine knows of a rollout besides its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// How many switch steps it takes.
    pub services: usize,
    /// The release migrates the stored data (and a backup was taken): a
    /// rollback restores the backup once every service is put back.
    pub restores_data: bool,
}

impl Shape {
    /// `services` switch steps, no data to restore.
    pub fn of(services: usize) -> Self {
        Self {
            services,
            restores_data: false,
        }
    }
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Preflight,
    Backup,
    Migrate,
    /// Nothing to do but journal `Rolling { next: 0 }`, so the first
    /// switch is taken in a phase that resumes as a rollback.
    BeginRolling,
    /// Park the old container of the service, start the new one, wait until
    /// it is healthy. Idempotent: a service already new and healthy is done.
    Switch(usize),
    /// The whole stack green for the settle time.
    Settle,
    /// Remove every parked container. Idempotent.
    Finalize,
    /// Put the old container of the service back (remove a new one, unpark
    /// the old, start it). Idempotent.
    Restore(usize),
    /// Every service is back: replace the data volumes with the backup
    /// taken before the update and start the previous release on them.
    /// Idempotent.
    RestoreData,
    /// Nothing: the rollout is over.
    Done,
}

/// The step `phase` takes next, for a rollout of `shape`.
pub fn next_step(phase: &Phase, shape: Shape) -> Step {
    let services = shape.services;
    match phase {
        Phase::Verified => Step::Preflight,
        Phase::Preflight => Step::Backup,
        Phase::BackedUp => Step::Migrate,
        Phase::Migrated => Step::BeginRolling,
        Phase::Rolling { next } if *next < services => Step::Switch(*next),
        Phase::Rolling { .. } => Step::Settle,
        Phase::Finalizing => Step::Finalize,
        Phase::RollingBack { left, .. } if *left > 0 => Step::Restore(left - 1),
        Phase::RollingBack { .. } if shape.restores_data => Step::RestoreData,
        Phase::RollingBack { .. } => Step::Done,
        _ => Step::Done,
    }
}

/// The phase after `step` (taken in `phase`) ended with `outcome`
/// (`Err`: why it failed).
pub fn after(phase: &Phase, step: &Step, outcome: Result<(), String>, shape: Shape) -> Phase {
    let services = shape.services;
    match (phase, step, outcome) {
        (_, Step::Done, _) => match phase {
            Phase::RollingBack { why, .. } => Phase::RolledBack { why: why.clone() },
            other => other.clone(),
        },
        // Before anything changed: a failure aborts.
        (Phase::Verified, Step::Preflight, Ok(())) => Phase::Preflight,
        (Phase::Preflight, Step::Backup, Ok(())) => Phase::BackedUp,
        (Phase::BackedUp, Step::Migrate, Ok(())) => Phase::Migrated,
        (Phase::Verified | Phase::Preflight | Phase::BackedUp, _, Err(why)) => {
            Phase::Aborted { why }
        }
        (Phase::Migrated, Step::BeginRolling, _) => Phase::Rolling { next: 0 },
        (Phase::Rolling { .. }, Step::Switch(i), Ok(())) => Phase::Rolling { next: i + 1 },
        (Phase::Rolling { .. }, Step::Switch(i), Err(why)) => Phase::RollingBack {
            left: (i + 1).min(services),
            why,
        },
        (Phase::Rolling { .. }, Step::Settle, Ok(())) => Phase::Finalizing,
        (Phase::Rolling { .. }, Step::Settle, Err(why)) => Phase::RollingBack {
            left: services,
            why,
        },
        (Phase::Finalizing, Step::Finalize, Ok(())) => Phase::Completed,
        // Removing parked containers failing leaves the new release running.
        (Phase::Finalizing, Step::Finalize, Err(why)) => Phase::NeedsOperator {
            why: format!(
                "the new release runs, but its parked containers could not be removed: {why}"
            ),
        },
        (Phase::RollingBack { left, why }, Step::Restore(_), Ok(())) => Phase::RollingBack {
            left: left.saturating_sub(1),
            why: why.clone(),
        },
        (Phase::RollingBack { why, .. }, Step::Restore(i), Err(e)) => Phase::NeedsOperator {
            why: format!("rolling back after \"{why}\" failed at service {i}: {e}"),
        },
        (Phase::RollingBack { why, .. }, Step::RestoreData, Ok(())) => {
            Phase::RolledBack { why: why.clone() }
        }
        (Phase::RollingBack { why, .. }, Step::RestoreData, Err(e)) => Phase::NeedsOperator {
            why: format!(
                "rolling back after \"{why}\" put every service back, but restoring the data \
                 failed: {e}"
            ),
        },
        (other, _, _) => other.clone(),
    }
}

/// Where a rollout found unfinished in its journal (the process died in
/// `phase`, possibly in the middle of the step it had started) resumes:
/// before any change it is aborted; in the middle of switching services it
/// is rolled back, the service that was being switched included; while
/// finalizing it finishes (the new release is complete); a rollback goes
/// on where it was.
pub fn resume(phase: &Phase, shape: Shape) -> Phase {
    let services = shape.services;
    let why = "Burrow stopped in the middle of the update".to_owned();
    match phase {
        Phase::Verified | Phase::Preflight | Phase::BackedUp | Phase::Migrated => {
            Phase::Aborted { why }
        }
        Phase::Rolling { next } => Phase::RollingBack {
            left: (next + 1).min(services),
            why,
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// One service as a fake target holds it: the container that runs
    /// (its release), and a parked one.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    struct Slot {
        current: Option<u8>,
        parked: Option<u8>,
    }

    const OLD: u8 = 1;
    const NEW: u8 = 2;

    /// The fake target: every step as the Docker driver takes it, in
    /// sub-actions, each of which a crash can follow.
    #[derive(Debug, Clone)]
    struct Fake {
        slots: Vec<Slot>,
        /// Sub-actions left before the "process" dies (`None`: never).
        crash_after: Option<usize>,
        /// Services whose new release never turns healthy.
        unhealthy: Vec<usize>,
        fail_preflight: bool,
        /// The release migrates the stored data when its services start.
        migrates: bool,
        /// Which release's shape the stored data has.
        data: u8,
        /// Restoring the backup fails.
        fail_restore_data: bool,
    }

    #[derive(Debug)]
    struct Killed;

    impl Fake {
        fn new(n: usize) -> Self {
            Self {
                slots: vec![
                    Slot {
                        current: Some(OLD),
                        parked: None
                    };
                    n
                ],
                crash_after: None,
                unhealthy: Vec::new(),
                fail_preflight: false,
                migrates: false,
                data: OLD,
                fail_restore_data: false,
            }
        }

        fn shape(&self) -> Shape {
            Shape {
                services: self.slots.len(),
                restores_data: self.migrates,
            }
        }

        fn tick(&mut self) -> Result<(), Killed> {
            match &mut self.crash_after {
                Some(0) => Err(Killed),
                Some(n) => {
                    *n -= 1;
                    Ok(())
                }
                None => Ok(()),
            }
        }

        /// Runs `step`: `Ok(Ok)` done, `Ok(Err)` failed, `Err(Killed)` the
        /// process died in the middle.
        fn take(&mut self, step: &Step) -> Result<Result<(), String>, Killed> {
            self.tick()?;
            Ok(match step {
                Step::Preflight if self.fail_preflight => Err("image digest differs".into()),
                Step::Preflight
                | Step::Backup
                | Step::Migrate
                | Step::BeginRolling
                | Step::Done => Ok(()),
                Step::Switch(i) => {
                    let s = &mut self.slots[*i];
                    if s.current == Some(NEW) {
                        // Already switched (a resumed step).
                    } else {
                        if s.current == Some(OLD) {
                            s.parked = s.current.take();
                        }
                        self.tick()?;
                        let s = &mut self.slots[*i];
                        s.current = Some(NEW);
                        self.tick()?;
                        if self.migrates {
                            // The new release's first start migrates.
                            self.data = NEW;
                            self.tick()?;
                        }
                    }
                    if self.unhealthy.contains(i) {
                        Err(format!("service {i} did not become healthy"))
                    } else {
                        Ok(())
                    }
                }
                Step::Settle => Ok(()),
                Step::Finalize => {
                    for i in 0..self.slots.len() {
                        if self.slots[i].parked.is_some() {
                            self.slots[i].parked = None;
                            self.tick()?;
                        }
                    }
                    Ok(())
                }
                Step::Restore(i) => {
                    let s = &mut self.slots[*i];
                    if s.current == Some(NEW) {
                        s.current = None;
                        self.tick()?;
                    }
                    let s = &mut self.slots[*i];
                    if let Some(old) = s.parked.take() {
                        s.current = Some(old);
                        self.tick()?;
                    }
                    Ok(())
                }
                Step::RestoreData if self.fail_restore_data => {
                    Err("the backup's copy of the database does not match its checksum".into())
                }
                Step::RestoreData => {
                    // Every container removed, the volumes replaced, the
                    // old release started on them: each a point to die at.
                    for s in &mut self.slots {
                        s.current = None;
                    }
                    self.tick()?;
                    self.data = OLD;
                    self.tick()?;
                    for s in &mut self.slots {
                        s.current = Some(OLD);
                    }
                    Ok(())
                }
            })
        }
    }

    /// Drives `phase` to its end on `fake` as the I/O driver does: the
    /// phase is journalled before each step. Returns the last journalled
    /// phase and whether the process died.
    fn drive(mut phase: Phase, fake: &mut Fake) -> (Phase, bool) {
        let shape = fake.shape();
        loop {
            if phase.is_terminal() {
                return (phase, false);
            }
            let step = next_step(&phase, shape);
            match fake.take(&step) {
                Err(Killed) => return (phase, true),
                Ok(outcome) => {
                    let next = after(&phase, &step, outcome, shape);
                    if next == phase && step == Step::Done {
                        return (phase, false);
                    }
                    phase = next;
                }
            }
        }
    }

    /// Every service on `release`, nothing parked, and (when the release
    /// migrates it) the stored data in that release's shape.
    fn all(fake: &Fake, release: u8) -> bool {
        (!fake.migrates || fake.data == release)
            && fake
                .slots
                .iter()
                .all(|s| s.current == Some(release) && s.parked.is_none())
    }

    #[test]
    fn a_clean_rollout_completes_and_a_failing_service_rolls_everything_back() {
        let mut fake = Fake::new(4);
        let (end, died) = drive(Phase::Verified, &mut fake);
        assert!(!died);
        assert_eq!(end, Phase::Completed);
        assert!(all(&fake, NEW));

        let mut fake = Fake::new(4);
        fake.unhealthy = vec![2];
        let (end, _) = drive(Phase::Verified, &mut fake);
        assert!(
            matches!(&end, Phase::RolledBack { why } if why.contains("service 2")),
            "{end:?}"
        );
        assert!(all(&fake, OLD), "{fake:?}");

        let mut fake = Fake::new(4);
        fake.fail_preflight = true;
        let (end, _) = drive(Phase::Verified, &mut fake);
        assert_eq!(
            end,
            Phase::Aborted {
                why: "image digest differs".into()
            }
        );
        assert!(all(&fake, OLD));
    }

    #[test]
    fn a_release_that_migrates_the_data_gets_it_back_from_the_backup_on_rollback() {
        let mut fake = Fake::new(3);
        fake.migrates = true;
        let (end, _) = drive(Phase::Verified, &mut fake);
        assert_eq!(end, Phase::Completed);
        assert!(all(&fake, NEW), "{fake:?}");

        // Service 2 fails after services 0..2 migrated the data: every
        // service is put back, then the data.
        let mut fake = Fake::new(3);
        fake.migrates = true;
        fake.unhealthy = vec![2];
        let (end, _) = drive(Phase::Verified, &mut fake);
        assert!(matches!(&end, Phase::RolledBack { .. }), "{end:?}");
        assert!(all(&fake, OLD), "{fake:?}");
        assert_eq!(
            next_step(
                &Phase::RollingBack {
                    left: 0,
                    why: "x".into()
                },
                fake.shape()
            ),
            Step::RestoreData
        );
        assert_eq!(
            next_step(
                &Phase::RollingBack {
                    left: 0,
                    why: "x".into()
                },
                Shape::of(3)
            ),
            Step::Done
        );

        // The restore failing is for the operator, with both reasons.
        let mut fake = Fake::new(3);
        fake.migrates = true;
        fake.unhealthy = vec![0];
        fake.fail_restore_data = true;
        let (end, _) = drive(Phase::Verified, &mut fake);
        assert!(
            matches!(&end, Phase::NeedsOperator { why }
                if why.contains("service 0 did not become healthy")
                    && why.contains("restoring the data failed")
                    && why.contains("does not match its checksum")),
            "{end:?}"
        );
    }

    #[test]
    fn resuming_before_any_change_aborts_and_while_finalizing_completes() {
        for phase in [
            Phase::Verified,
            Phase::Preflight,
            Phase::BackedUp,
            Phase::Migrated,
        ] {
            assert!(
                matches!(resume(&phase, Shape::of(3)), Phase::Aborted { .. }),
                "{phase:?}"
            );
        }
        assert_eq!(resume(&Phase::Finalizing, Shape::of(3)), Phase::Finalizing);
        assert_eq!(
            resume(&Phase::Rolling { next: 1 }, Shape::of(3)),
            Phase::RollingBack {
                left: 2,
                why: "Burrow stopped in the middle of the update".into()
            }
        );
    }

    /// Runs a rollout of `n` services killed after `kills[0]` sub-actions,
    /// then resumed and killed after `kills[1]`, and so on; the end phase.
    fn killed(
        n: usize,
        unhealthy: Option<usize>,
        migrates: bool,
        kills: &[usize],
    ) -> (Phase, Fake) {
        let mut fake = Fake::new(n);
        fake.migrates = migrates;
        fake.unhealthy = unhealthy.into_iter().collect();
        let mut kills = kills.iter().copied();
        fake.crash_after = kills.next();
        let (mut phase, mut died) = drive(Phase::Verified, &mut fake);
        while died {
            fake.crash_after = kills.next();
            phase = resume(&phase, fake.shape());
            (phase, died) = drive(phase, &mut fake);
        }
        (phase, fake)
    }

    fn fully_old_or_new(phase: &Phase, fake: &Fake) -> bool {
        match phase {
            Phase::Completed => all(fake, NEW),
            Phase::Aborted { .. } | Phase::RolledBack { .. } => all(fake, OLD),
            _ => false,
        }
    }

    /// Every kill point of every rollout of up to 4 services, with each
    /// service failing or none, and a second kill at every point of the
    /// resumed run.
    #[test]
    fn every_kill_point_and_a_second_one_while_resuming() {
        let mut runs = 0;
        for n in 1..=4 {
            for migrates in [false, true] {
                for unhealthy in std::iter::once(None).chain((0..n).map(Some)) {
                    for first in 0..(6 + 5 * n + 4) {
                        for second in std::iter::once(None).chain((0..(4 + 3 * n)).map(Some)) {
                            let kills: Vec<usize> = std::iter::once(first).chain(second).collect();
                            let (phase, fake) = killed(n, unhealthy, migrates, &kills);
                            assert!(
                                fully_old_or_new(&phase, &fake),
                                "n={n} migrates={migrates} unhealthy={unhealthy:?} \
                                 kills={kills:?}: {phase:?} {fake:?}",
                            );
                            runs += 1;
                        }
                    }
                }
            }
        }
        assert!(runs > 1000, "{runs}");
    }

    proptest! {
        /// Killed after any number of sub-actions (every point, with a
        /// failing service or not), resumed from the journal, and possibly
        /// killed again while resuming: the stack ends fully old (rolled
        /// back, aborted) or fully new (completed), never mixed, never a
        /// parked container left, the stored data in the same release's
        /// shape (a migrating release's backup restored on rollback).
        #[test]
        fn every_kill_point_ends_fully_old_or_fully_new(
            n in 1usize..6,
            first in 0usize..40,
            second in proptest::option::of(0usize..20),
            unhealthy in proptest::option::of(0usize..6),
            migrates in any::<bool>(),
        ) {
            let mut fake = Fake::new(n);
            fake.migrates = migrates;
            fake.unhealthy = unhealthy.filter(|u| *u < n).into_iter().collect();
            fake.crash_after = Some(first);
            let (mut phase, mut died) = drive(Phase::Verified, &mut fake);
            let mut kills = vec![second];
            while died {
                fake.crash_after = kills.pop().flatten();
                phase = resume(&phase, fake.shape());
                (phase, died) = drive(phase, &mut fake);
            }
            prop_assert!(phase.is_terminal(), "{:?}", phase);
            let state: (u8, BTreeMap<usize, Slot>) =
                (fake.data, fake.slots.iter().cloned().enumerate().collect());
            match &phase {
                Phase::Completed => prop_assert!(all(&fake, NEW), "{:?}", state),
                Phase::Aborted { .. } | Phase::RolledBack { .. } => {
                    prop_assert!(all(&fake, OLD), "{:?} {:?}", phase, state)
                }
                other => prop_assert!(false, "ended in {:?} with {:?}", other, state),
            }
        }
    }
}
