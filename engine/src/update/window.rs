//! Automatic updates inside a maintenance window: the window the operator
//! sets (days of the week and a time span, in UTC), and the pure decision
//! whether to install an offered release now. The driver is
//! [`super::auto`]; this module does no IO, so every case is a unit test.

use time::{Duration, OffsetDateTime, Weekday};

/// Days in the order the page shows them (Monday first), with the names
/// the form sends.
pub const DAYS: [(Weekday, &str, &str); 7] = [
    (Weekday::Monday, "mon", "Mondays"),
    (Weekday::Tuesday, "tue", "Tuesdays"),
    (Weekday::Wednesday, "wed", "Wednesdays"),
    (Weekday::Thursday, "thu", "Thursdays"),
    (Weekday::Friday, "fri", "Fridays"),
    (Weekday::Saturday, "sat", "Saturdays"),
    (Weekday::Sunday, "sun", "Sundays"),
];

/// A weekly window: on each of `days`, from `start` to `end` (minutes after
/// midnight UTC). An end at or before the start runs past midnight into
/// the next day (22:00-02:00); a window belongs to the day it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Bit `n`: the `n`th day of [`DAYS`].
    pub days: u8,
    pub start: u16,
    pub end: u16,
}

/// The policy: whether updates install themselves, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub enabled: bool,
    pub window: Window,
}

impl Default for Policy {
    /// Off; when turned on without changes, Sundays 03:00-05:00 UTC.
    fn default() -> Self {
        Self {
            enabled: false,
            window: Window {
                days: 1 << 6,
                start: 3 * 60,
                end: 5 * 60,
            },
        }
    }
}

fn bit(day: Weekday) -> u8 {
    1 << day.number_days_from_monday()
}

/// `HH:MM` or `H:MM` (24 hours) as minutes after midnight.
fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn format_time(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl Window {
    /// The window from the form: day names (`mon`...`sun`), `HH:MM` start
    /// and end. Problems by field (`days`, `start`, `end`).
    pub fn parse(days: &[String], start: &str, end: &str) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut bits = 0u8;
        for name in days {
            match DAYS.iter().find(|(_, n, _)| n == &name.as_str()) {
                Some((day, _, _)) => bits |= bit(*day),
                None => problems.push(("days".to_owned(), format!("`{name}` is not a day."))),
            }
        }
        if bits == 0 && problems.is_empty() {
            problems.push((
                "days".to_owned(),
                "Choose at least one day for the window.".to_owned(),
            ));
        }
        let time = |field: &str, text: &str, problems: &mut Vec<(String, String)>| {
            parse_time(text).or_else(|| {
                problems.push((
                    field.to_owned(),
                    format!(
                        "`{}` is not a time: give hours and minutes, like 03:00.",
                        text.trim()
                    ),
                ));
                None
            })
        };
        let start = time("start", start, &mut problems);
        let end = time("end", end, &mut problems);
        if let (Some(s), Some(e)) = (start, end) {
            if s == e {
                problems.push((
                    "end".to_owned(),
                    "The window ends when it starts: give it a length.".to_owned(),
                ));
            }
        }
        match (problems.is_empty(), start, end) {
            (true, Some(start), Some(end)) => Ok(Self {
                days: bits,
                start,
                end,
            }),
            _ => Err(problems),
        }
    }

    /// The form's day names.
    pub fn day_names(&self) -> Vec<String> {
        DAYS.iter()
            .filter(|(d, _, _)| self.days & bit(*d) != 0)
            .map(|(_, n, _)| (*n).to_owned())
            .collect()
    }

    fn length(&self) -> Duration {
        let minutes = if self.end > self.start {
            self.end - self.start
        } else {
            self.end + 24 * 60 - self.start
        };
        Duration::minutes(i64::from(minutes))
    }

    /// The window `now` is in: its start and end.
    pub fn current(&self, now: OffsetDateTime) -> Option<(OffsetDateTime, OffsetDateTime)> {
        // Today's window, or yesterday's running past midnight.
        [0, 1].into_iter().find_map(|back| {
            let day = now.date() - Duration::days(back);
            if self.days & bit(day.weekday()) == 0 {
                return None;
            }
            let start = day.midnight().assume_utc() + Duration::minutes(i64::from(self.start));
            let end = start + self.length();
            (start <= now && now < end).then_some((start, end))
        })
    }

    /// When the next window opens after `now` (not the one `now` is in).
    pub fn next_start(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        (0..=7).find_map(|ahead| {
            let day = now.date() + Duration::days(ahead);
            let start = day.midnight().assume_utc() + Duration::minutes(i64::from(self.start));
            (self.days & bit(day.weekday()) != 0 && start > now).then_some(start)
        })
    }

    /// "Sundays and Wednesdays, 03:00-05:00 UTC".
    pub fn describe(&self) -> String {
        let names: Vec<&str> = DAYS
            .iter()
            .filter(|(d, _, _)| self.days & bit(*d) != 0)
            .map(|(_, _, plural)| *plural)
            .collect();
        let days = match names.len() {
            7 => "Every day".to_owned(),
            1 => names[0].to_owned(),
            n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
        };
        let past_midnight = if self.end <= self.start {
            " (into the next day)"
        } else {
            ""
        };
        format!(
            "{days}, {}-{} UTC{past_midnight}",
            format_time(self.start),
            format_time(self.end)
        )
    }
}

/// What the voice server says about calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Calls {
    /// Voice is off in this stack: nothing to wait for.
    NoVoice,
    /// Rooms with someone in them.
    Running(usize),
    /// LiveKit's room list could not be read, and why.
    Unknown(String),
}

/// What the automatic update does on this tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start installing the offered release.
    Install,
    /// Nothing to do, said for the page ("Outside the window", ...).
    Idle(String),
    /// A release waits, and why (a voice call, LiveKit unreadable).
    Defer(String),
}

/// The facts one tick decides on.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub policy: Policy,
    pub now: OffsetDateTime,
    /// The release the last check offers, unless it failed before: its
    /// version.
    pub offered: Option<&'a str>,
    /// An update (or rollback) runs now.
    pub updating: bool,
    /// Asked only inside the window with a release on offer (`None`: not
    /// asked yet).
    pub calls: Option<&'a Calls>,
}

/// Whether to install now. Calls are asked about last (the driver asks
/// LiveKit only when everything else says yes, then decides again).
pub fn decide(f: &Facts<'_>) -> Decision {
    if !f.policy.enabled {
        return Decision::Idle("Automatic updates are off.".to_owned());
    }
    let Some(version) = f.offered else {
        return Decision::Idle("No release is on offer.".to_owned());
    };
    if f.policy.window.current(f.now).is_none() {
        return Decision::Idle(format!("{version} waits for the maintenance window."));
    }
    if f.updating {
        return Decision::Idle("An update is running.".to_owned());
    }
    match f.calls {
        None | Some(Calls::NoVoice) | Some(Calls::Running(0)) => Decision::Install,
        Some(Calls::Running(n)) => Decision::Defer(format!(
            "{version} waits: {n} voice call{} running; it installs once {} over, inside the \
             window.",
            if *n == 1 { " is" } else { "s are" },
            if *n == 1 { "it is" } else { "they are" }
        )),
        Some(Calls::Unknown(why)) => Decision::Defer(format!(
            "{version} waits: whether a voice call is running is unknown ({why}), and a call is \
             never cut by an automatic update."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `at("2026-12-05 23:30")`, UTC.
    fn at(text: &str) -> OffsetDateTime {
        let n: Vec<u16> = text
            .split(['-', ' ', ':'])
            .map(|p| p.parse().unwrap())
            .collect();
        let month = time::Month::try_from(u8::try_from(n[1]).unwrap()).unwrap();
        time::Date::from_calendar_date(i32::from(n[0]), month, u8::try_from(n[2]).unwrap())
            .unwrap()
            .with_hms(u8::try_from(n[3]).unwrap(), u8::try_from(n[4]).unwrap(), 0)
            .unwrap()
            .assume_utc()
    }

    fn window(days: &[&str], start: &str, end: &str) -> Window {
        let days: Vec<String> = days.iter().map(|d| (*d).to_owned()).collect();
        Window::parse(&days, start, end).unwrap()
    }

    #[test]
    fn a_window_is_parsed_with_problems_by_field() {
        let w = window(&["sun", "wed"], "03:00", "05:30");
        assert_eq!(w.day_names(), ["wed", "sun"]);
        assert_eq!((w.start, w.end), (180, 330));
        assert_eq!(w.describe(), "Wednesdays and Sundays, 03:00-05:30 UTC");

        let err = Window::parse(&[], "3am", "24:00").unwrap_err();
        let fields: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["days", "start", "end"]);
        assert!(err[1].1.contains("`3am` is not a time"), "{err:?}");

        let err = Window::parse(&["sat".into(), "someday".into()], "01:00", "01:00").unwrap_err();
        assert_eq!(err[0], ("days".into(), "`someday` is not a day.".into()));
        assert_eq!(err[1].0, "end");
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_starts() {
        // Saturdays 22:00-02:00: Saturday 23:30 and Sunday 01:59 are in it,
        // Sunday 02:00 and Friday 23:00 are not.
        let w = window(&["sat"], "22:00", "02:00");
        assert!(w.describe().ends_with("(into the next day)"));
        let (start, end) = w.current(at("2026-12-05 23:30")).unwrap();
        assert_eq!(start, at("2026-12-05 22:00"));
        assert_eq!(end, at("2026-12-06 02:00"));
        assert!(w.current(at("2026-12-06 01:59")).is_some());
        assert!(w.current(at("2026-12-06 02:00")).is_none());
        assert!(w.current(at("2026-12-04 23:00")).is_none());
        assert_eq!(
            w.next_start(at("2026-12-05 23:30")),
            Some(at("2026-12-12 22:00"))
        );
        assert_eq!(
            w.next_start(at("2026-12-01 12:00")),
            Some(at("2026-12-05 22:00"))
        );
    }

    #[test]
    fn only_inside_the_window_without_calls_is_an_update_installed() {
        let policy = Policy {
            enabled: true,
            window: window(&["sun"], "03:00", "05:00"),
        };
        let inside = at("2026-12-06 04:00");
        let facts = |now, offered, updating, calls| Facts {
            policy,
            now,
            offered,
            updating,
            calls,
        };
        let v2 = Some("2.0.0");
        assert_eq!(decide(&facts(inside, v2, false, None)), Decision::Install);
        assert_eq!(
            decide(&facts(inside, v2, false, Some(&Calls::NoVoice))),
            Decision::Install
        );
        assert_eq!(
            decide(&facts(inside, v2, false, Some(&Calls::Running(0)))),
            Decision::Install
        );
        let Decision::Defer(why) = decide(&facts(inside, v2, false, Some(&Calls::Running(2))))
        else {
            panic!("a call defers");
        };
        assert!(
            why.starts_with("2.0.0 waits: 2 voice calls are running"),
            "{why}"
        );
        let unknown = Calls::Unknown("LiveKit does not answer".into());
        assert!(matches!(
            decide(&facts(inside, v2, false, Some(&unknown))),
            Decision::Defer(why) if why.contains("LiveKit does not answer")
        ));
        // Outside the window, without an offer, while updating, or off.
        let outside = at("2026-12-06 05:00");
        assert_eq!(
            decide(&facts(outside, v2, false, None)),
            Decision::Idle("2.0.0 waits for the maintenance window.".into())
        );
        assert!(matches!(
            decide(&facts(inside, None, false, None)),
            Decision::Idle(_)
        ));
        assert!(matches!(
            decide(&facts(inside, v2, true, None)),
            Decision::Idle(_)
        ));
        let off = Facts {
            policy: Policy {
                enabled: false,
                ..policy
            },
            ..facts(inside, v2, false, None)
        };
        assert_eq!(
            decide(&off),
            Decision::Idle("Automatic updates are off.".into())
        );
    }

    #[test]
    fn the_default_is_off_on_sunday_mornings() {
        let p = Policy::default();
        assert!(!p.enabled);
        assert_eq!(p.window.describe(), "Sundays, 03:00-05:00 UTC");
    }
}
