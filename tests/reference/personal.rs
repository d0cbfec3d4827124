//! The reference for a user's own push rules: quiet hours (recomputed from the wall
//! clock at every question, no caching, no merging), snoozes, bypass rules, sender mutes
//! and rooms' room-wide mention policy, written out again from the contract.

use jiff::Timestamp;
use jiff::civil::Date;
use mutegate::{Error, Expiry, NotifyLevel, Schedule, Weekday, Window};

use super::{Model, on};

/// A schedule the steps can set: a zone and windows as (day, start, end) minutes.
pub type Spec = (&'static str, &'static [(Weekday, u16, u16)]);

use Weekday::*;

/// The schedules the steps pick from; the last ones are refused (by the index in
/// [`spec`]: unknown zone, a window ending when it starts, overlapping, too many).
pub const SPECS: [Spec; 6] = [
    // Thursday 1970-01-01 00:16-00:17 UTC: the model's clock starts inside it.
    ("UTC", &[(Thu, 16, 17)]),
    // The New York spring-forward Sunday: 01:00-03:00 ends on the change (07:00 UTC).
    ("America/New_York", &[(Sun, 60, 180), (Sun, 210, 240)]),
    // Berlin: a window across the fall-back hour, one across midnight.
    ("Europe/Berlin", &[(Sat, 22 * 60, 60), (Sun, 150, 180)]),
    ("Mars/Base", &[(Mon, 60, 120)]),
    ("UTC", &[(Mon, 420, 420)]),
    ("UTC", &[(Mon, 22 * 60, 7 * 60), (Tue, 6 * 60, 8 * 60)]),
];

/// Index of the spec with too many windows (built, not listed).
pub const TOO_MANY: usize = SPECS.len();

/// The windows of spec `i` (index [`TOO_MANY`]: 29 short ones).
pub fn spec(i: usize) -> (&'static str, Vec<Window>) {
    if i == TOO_MANY {
        let windows = (0..29u16)
            .map(|k| Window::new(Weekday::ALL[usize::from(k % 7)], k * 10, k * 10 + 5))
            .collect();
        return ("UTC", windows);
    }
    let (zone, ws) = SPECS[i % SPECS.len()];
    (
        zone,
        ws.iter().map(|&(d, s, e)| Window::new(d, s, e)).collect(),
    )
}

/// The engine's side: the schedule as a caller builds it.
pub fn build(i: usize) -> Result<Schedule, Error> {
    let (zone, windows) = spec(i);
    Schedule::new(zone, windows)
}

/// Instants the clock may leap to: two seconds before a boundary of the specs above,
/// around both of 2026's changes in New York and Berlin.
pub const LEAPS: [&str; 7] = [
    "2026-03-08T05:59:58Z",
    "2026-03-08T06:59:58Z",
    "2026-03-08T07:29:58Z",
    "2026-10-24T22:59:58Z",
    "2026-10-25T00:29:58Z",
    "2026-10-25T00:59:58Z",
    "2026-10-25T01:59:58Z",
];

pub fn leap(i: usize) -> u64 {
    let ts: Timestamp = LEAPS[i % LEAPS.len()].parse().expect("instant");
    ts.as_millisecond() as u64
}

/// The rules a schedule is held to, checked the plain way: minutes of the week marked
/// one by one.
pub fn validate(zone: &str, windows: &[Window]) -> Result<(), Error> {
    if jiff::tz::db().get(zone).is_err() {
        return Err(Error::UnknownTimeZone { zone: zone.into() });
    }
    if windows.len() > mutegate::MAX_WINDOWS {
        return Err(Error::TooManyWindows {
            len: windows.len(),
            max: mutegate::MAX_WINDOWS,
        });
    }
    for w in windows {
        if w.start >= 1440 || w.end >= 1440 || w.start == w.end {
            return Err(Error::InvalidWindow {
                window: String::new(),
                what: "",
            });
        }
    }
    let mut week = vec![false; 7 * 1440];
    for w in windows {
        let start = w.day.index() * 1440 + usize::from(w.start);
        let len = (usize::from(w.end) + 1440 - usize::from(w.start)) % 1440;
        for m in start..start + len {
            if std::mem::replace(&mut week[m % (7 * 1440)], true) {
                return Err(Error::OverlappingWindows {
                    first: String::new(),
                    second: String::new(),
                });
            }
        }
    }
    Ok(())
}

/// Whether `windows` in `zone` hold `now`: some window that began yesterday or today
/// (local dates) has begun and not ended, boundaries read the "compatible" way.
pub fn quiet_at(zone: &str, windows: &[Window], now: u64) -> bool {
    let tz = jiff::tz::db().get(zone).expect("validated");
    let instant = |d: Date, minutes: u16| -> i64 {
        let dt = d.at((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
        tz.to_ambiguous_timestamp(dt)
            .compatible()
            .expect("in range")
            .as_millisecond()
    };
    let now = now as i64;
    let today = Timestamp::from_millisecond(now)
        .expect("in range")
        .to_zoned(tz.clone())
        .date();
    [today.yesterday().expect("in range"), today]
        .into_iter()
        .any(|d| {
            let day = Weekday::ALL[d.weekday().to_monday_zero_offset() as usize];
            windows.iter().filter(|w| w.day == day).any(|w| {
                let end_day = if w.end < w.start {
                    d.tomorrow().expect("in range")
                } else {
                    d
                };
                instant(d, w.start) <= now && now < instant(end_day, w.end)
            })
        })
}

/// One message of the alphabet the comparisons ask about.
#[derive(Clone, Copy, Debug)]
pub struct Msg {
    pub sender: Option<&'static str>,
    pub direct: &'static [&'static str],
    pub room_wide: bool,
    pub urgent: bool,
}

impl Msg {
    pub fn to_message(self) -> mutegate::Message<'static> {
        let mut m = mutegate::Message::new().mentioning(self.direct);
        if let Some(s) = self.sender {
            m = m.sent_by(s);
        }
        if self.room_wide {
            m = m.mentioning_everyone();
        }
        if self.urgent {
            m = m.urgent();
        }
        m
    }
}

/// Every message of the alphabet.
pub fn messages() -> Vec<Msg> {
    let mut out = Vec::new();
    for sender in [None, Some("u0"), Some("u1")] {
        for direct in [&[][..], only("u1")] {
            for room_wide in [false, true] {
                for urgent in [false, true] {
                    out.push(Msg {
                        sender,
                        direct,
                        room_wide,
                        urgent,
                    });
                }
            }
        }
    }
    out
}

impl Model {
    /// Whether one message in `r` pushes to `u`, by the precedence table.
    pub fn push(&self, u: &str, r: &str, m: &Msg) -> bool {
        let direct = m.direct.contains(&u);
        let room_wide = m.room_wide && !self.plain.contains(r);
        let level_ok = match self.level(u, r) {
            NotifyLevel::All => true,
            NotifyLevel::MentionsOnly => direct || room_wide,
            NotifyLevel::DirectMentions => direct,
            _ => false,
        };
        let sender_muted = m.sender.is_some_and(|s| {
            self.senders
                .get(&(u.to_string(), s.to_string()))
                .is_some_and(|&(e, _)| on(e, self.now))
        });
        let (mentions, urgent) = self.bypass.get(u).copied().unwrap_or_default();
        level_ok
            && !sender_muted
            && (!self.quiet(u) || (mentions && direct) || (urgent && m.urgent))
    }

    /// Whether `u` is in quiet time (a snooze, or a window of their schedule).
    pub fn quiet(&self, u: &str) -> bool {
        self.snooze.get(u).is_some_and(|&e| on(e, self.now))
            || self.quiet.get(u).is_some_and(|&i| {
                let (zone, windows) = spec(i);
                quiet_at(zone, &windows, self.now)
            })
    }

    /// `u`'s muted senders in force, oldest first.
    pub fn muted_senders(&self, u: &str) -> Vec<(String, Expiry)> {
        let mut v: Vec<_> = self
            .senders
            .iter()
            .filter(|((x, _), (e, _))| x == u && on(*e, self.now))
            .map(|((_, s), &(e, seq))| (seq, s.clone(), e))
            .collect();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|(_, s, e)| (s, e)).collect()
    }
}

/// `[u]` for a user of the alphabet (a message mentioning just them).
pub fn only(u: &str) -> &'static [&'static str] {
    match u {
        "u0" => &["u0"],
        "u1" => &["u1"],
        "u2" => &["u2"],
        _ => &[],
    }
}
