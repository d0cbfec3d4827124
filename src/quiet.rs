//! Quiet hours (do not disturb): a user's weekly [`Schedule`] of [`Window`]s in an IANA
//! time zone, a one-off snooze, and the [`Bypass`] rules that let some pushes through.
//!
//! # Windows and wall-clock time
//!
//! A window is wall-clock time in the schedule's zone: `Mon 22:00-07:00` starts at
//! 22:00 local time every Monday and ends at 07:00 local time on Tuesday (a window whose
//! end is before its start crosses midnight). Where a boundary falls on a local time
//! that does not exist or exists twice, the usual ("compatible") rule applies:
//!
//! - **spring forward** (a skipped hour, e.g. 02:00-03:00 in America/New_York on the
//!   second Sunday of March): a boundary inside the gap moves forward by the gap's
//!   length (02:30 is read as 03:30). A window 01:00-05:00 that day lasts 3 hours, and
//!   one lying wholly inside the gap (02:15-02:45) happens that much later (03:15-03:45;
//!   in Australia/Lord_Howe, whose gap is 30 minutes, 30 minutes later). A window whose
//!   start moves onto or past its end (02:15-03:15 in New York) vanishes that day.
//! - **fall back** (a repeated hour, 01:00-02:00 in New York on the first Sunday of
//!   November): a boundary inside the fold takes its first occurrence. A window
//!   00:00-03:00 that day lasts 4 hours.
//!
//! The time zone database is compiled in (jiff's bundled copy), so every node of a
//! cluster judges the same schedule the same way, whatever its system files.
//!
//! # Rules
//!
//! At most [`MAX_WINDOWS`] windows; each starts and ends on a whole minute below 24:00,
//! its end differs from its start, and no two windows of a schedule overlap (touching is
//! allowed: `Mon 22:00-00:00` and `Tue 00:00-07:00` make one quiet night). Overlapping
//! windows are refused rather than merged, so what a user reads back is what they set.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The most windows one schedule may hold (four a day).
pub const MAX_WINDOWS: usize = 28;

const MINUTES_PER_DAY: u16 = 24 * 60;
const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY as u32;

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Every day, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Monday 0 .. Sunday 6.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The lowercase three-letter name (`mon`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self as usize]
    }

    fn of(date: Date) -> Weekday {
        Weekday::ALL[date.weekday().to_monday_zero_offset() as usize]
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One quiet window: from `start` on `day` to `end` (on the next day if `end < start`),
/// both in minutes after local midnight.
///
/// # Examples
///
/// ```
/// use mutegate::{Weekday, Window};
///
/// let w: Window = "fri 22:30-07:00".parse()?;
/// assert_eq!(w, Window::new(Weekday::Fri, 22 * 60 + 30, 7 * 60));
/// assert!(w.crosses_midnight());
/// assert_eq!(w.to_string(), "fri 22:30-07:00");
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// The day the window starts on.
    pub day: Weekday,
    /// Start, in minutes after midnight (below 1440).
    pub start: u16,
    /// End, in minutes after midnight (below 1440); before `start` means the next day.
    pub end: u16,
}

impl Window {
    /// A window from `start` to `end` minutes after midnight, starting on `day`.
    #[must_use]
    pub const fn new(day: Weekday, start: u16, end: u16) -> Window {
        Window { day, start, end }
    }

    /// Whether the window ends on the day after it starts.
    #[must_use]
    pub const fn crosses_midnight(&self) -> bool {
        self.end < self.start
    }

    /// Minutes the window lasts on a day without a time change.
    fn len(&self) -> u32 {
        (u32::from(self.end) + u32::from(MINUTES_PER_DAY) - u32::from(self.start))
            % u32::from(MINUTES_PER_DAY)
    }

    /// Start as minutes after Monday 00:00.
    fn week_start(&self) -> u32 {
        self.day.index() as u32 * u32::from(MINUTES_PER_DAY) + u32::from(self.start)
    }

    fn check(&self) -> Result<(), Error> {
        if self.start >= MINUTES_PER_DAY || self.end >= MINUTES_PER_DAY {
            return Err(Error::InvalidWindow {
                window: self.to_string(),
                what: "a time is not below 24:00",
            });
        }
        if self.start == self.end {
            return Err(Error::InvalidWindow {
                window: self.to_string(),
                what: "it ends when it starts",
            });
        }
        Ok(())
    }
}

fn hhmm(f: &mut fmt::Formatter<'_>, minutes: u16) -> fmt::Result {
    write!(f, "{:02}:{:02}", minutes / 60, minutes % 60)
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.day)?;
        hhmm(f, self.start)?;
        f.write_str("-")?;
        hhmm(f, self.end)
    }
}

impl std::str::FromStr for Window {
    type Err = Error;

    /// Parses `"mon 22:00-07:00"` (day names in any case, 24-hour times).
    fn from_str(s: &str) -> Result<Window, Error> {
        let bad = |what| Error::InvalidWindow {
            window: s.chars().take(40).collect(),
            what,
        };
        let (day, times) = s
            .trim()
            .split_once(' ')
            .ok_or(bad("expected 'day hh:mm-hh:mm'"))?;
        let day = Weekday::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(day))
            .ok_or(bad("unknown day (mon..sun)"))?;
        let (start, end) = times
            .trim()
            .split_once('-')
            .ok_or(bad("expected 'hh:mm-hh:mm'"))?;
        let time = |t: &str| -> Result<u16, Error> {
            let (h, m) = t.split_once(':').ok_or(bad("expected hh:mm"))?;
            let (h, m): (u16, u16) = (
                h.parse().map_err(|_| bad("hour is not a number"))?,
                m.parse().map_err(|_| bad("minute is not a number"))?,
            );
            if h > 23 || m > 59 || t.len() != 5 {
                return Err(bad("a time is not hh:mm below 24:00"));
            }
            Ok(h * 60 + m)
        };
        let window = Window::new(day, time(start)?, time(end)?);
        window.check()?;
        Ok(window)
    }
}

/// A weekly quiet-hours schedule in an IANA time zone.
///
/// # Examples
///
/// ```
/// use mutegate::Schedule;
///
/// let s = Schedule::new("Europe/Berlin", ["mon 22:00-07:00".parse()?, "sat 13:00-15:00".parse()?])?;
/// assert_eq!(s.windows().len(), 2);
/// assert!(Schedule::new("Mars/Olympus", []).is_err());
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schedule {
    zone: String,
    windows: Vec<Window>,
}

impl Schedule {
    /// A schedule of `windows` (kept in week order) in the IANA zone `zone`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTimeZone`], [`Error::InvalidWindow`] (a time not below 24:00, or
    /// an end equal to its start), [`Error::TooManyWindows`] (over [`MAX_WINDOWS`]),
    /// [`Error::OverlappingWindows`].
    pub fn new(
        zone: impl Into<String>,
        windows: impl IntoIterator<Item = Window>,
    ) -> Result<Schedule, Error> {
        let mut windows: Vec<Window> = windows.into_iter().collect();
        windows.sort_by_key(Window::week_start);
        let schedule = Schedule {
            zone: zone.into(),
            windows,
        };
        schedule.check()?;
        Ok(schedule)
    }

    /// The IANA time zone name.
    #[must_use]
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The windows, in week order (Monday 00:00 first).
    #[must_use]
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The schedule's rules (see the [module docs](self)); also what a decoded record
    /// is held to.
    pub(crate) fn check(&self) -> Result<TimeZone, Error> {
        let zone = time_zone(&self.zone)?;
        if self.windows.len() > MAX_WINDOWS {
            return Err(Error::TooManyWindows {
                len: self.windows.len(),
                max: MAX_WINDOWS,
            });
        }
        for w in &self.windows {
            w.check()?;
        }
        if !self.windows.is_sorted_by_key(Window::week_start) {
            return Err(Error::InvalidWindow {
                window: self.windows[0].to_string(),
                what: "windows are not in week order",
            });
        }
        // In week order, each window can only overlap the next (the last: the first, a
        // week on; a lone window: itself, a week on).
        let n = self.windows.len();
        for (i, a) in self.windows.iter().enumerate() {
            let b = &self.windows[(i + 1) % n];
            let gap = if n == 1 {
                MINUTES_PER_WEEK
            } else {
                (b.week_start() + MINUTES_PER_WEEK - a.week_start()) % MINUTES_PER_WEEK
            };
            if a.len() > gap {
                return Err(Error::OverlappingWindows {
                    first: a.to_string(),
                    second: b.to_string(),
                });
            }
        }
        Ok(zone)
    }
}

/// The zone named `name` from the compiled-in database.
pub(crate) fn time_zone(name: &str) -> Result<TimeZone, Error> {
    // Only IANA names: jiff would also take a POSIX TZ string, which no user means.
    let unknown = || Error::UnknownTimeZone {
        zone: name.chars().take(80).collect(),
    };
    if name.is_empty() || name.len() > 64 || name.contains(|c: char| c.is_whitespace()) {
        return Err(unknown());
    }
    jiff::tz::db().get(name).map_err(|_| unknown())
}

/// Which pushes break through quiet hours and snoozes. Both off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bypass {
    /// Messages that mention the user directly (not `@all`/`@here`) still push.
    pub mentions: bool,
    /// Messages the caller marks urgent still push.
    pub urgent: bool,
}

/// A user's quiet hours as they read back: schedule, snooze and bypass rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuietHours {
    /// The weekly schedule, if any.
    pub schedule: Option<Schedule>,
    /// The snooze in force, if any.
    pub snoozed_until: Option<crate::Expiry>,
    /// What breaks through.
    pub bypass: Bypass,
}

/// A schedule compiled for checks: the schedule with its zone looked up.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub schedule: Schedule,
    zone: TimeZone,
}

impl PartialEq for Compiled {
    fn eq(&self, other: &Compiled) -> bool {
        self.schedule == other.schedule
    }
}

impl Compiled {
    /// Compiles a schedule (checking it).
    pub fn new(schedule: Schedule) -> Result<Compiled, Error> {
        let zone = schedule.check()?;
        Ok(Compiled { schedule, zone })
    }

    /// Whether the schedule is quiet at `now_ms`, and until when that holds.
    pub fn state_at(&self, now_ms: u64) -> (bool, u64) {
        state_at(&self.zone, &self.schedule.windows, now_ms)
    }
}

/// The last quiet/loud answer and the span of time it holds for, so a check converts no
/// time zone until that span ends: `from_s << 32 | span_s << 1 | quiet` (0: nothing
/// cached), the answer holding on `[from_s, from_s + span_s)` seconds. One word, so a
/// reader sees an answer and its span together; racing writers store equally good ones.
#[derive(Debug, Default)]
pub(crate) struct Cached(AtomicU64);

impl Clone for Cached {
    fn clone(&self) -> Cached {
        Cached(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

impl Cached {
    /// The answer at `now_ms`: cached while its span lasts, else `compute`d — quiet,
    /// until when that holds, and since when at the latest (the last change at or
    /// before now that is not on a whole second, else 0) — and cached.
    #[inline]
    pub fn get(&self, now_ms: u64, compute: impl FnOnce() -> (bool, u64, u64)) -> bool {
        let now_s = now_ms / 1000;
        let packed = self.0.load(Ordering::Relaxed);
        let from = packed >> 32;
        let span = (packed & 0xffff_ffff) >> 1;
        if from <= now_s && now_s < from + span {
            return packed & 1 == 1;
        }
        self.store(now_ms, compute())
    }

    #[cold]
    fn store(&self, now_ms: u64, (quiet, until_ms, since_ms): (bool, u64, u64)) -> bool {
        // The span is whole seconds: from the second `now` is in (or the first whole
        // second after a change within it), to the second the next change starts in.
        // Window boundaries fall on whole seconds (a whole minute less a whole-second
        // offset); a snooze may end on any millisecond.
        let from = (now_ms / 1000).max(since_ms.div_ceil(1000));
        let span = (until_ms / 1000).saturating_sub(from).min((1 << 31) - 1);
        if let Ok(from) = u32::try_from(from) {
            let packed = u64::from(from) << 32 | span << 1 | u64::from(quiet);
            self.0.store(packed, Ordering::Relaxed);
        }
        quiet
    }
}

/// The instant a local date and time stands for in `zone` (gaps: later; folds: earlier).
fn instant(zone: &TimeZone, dt: DateTime) -> Option<i64> {
    let ts = zone.to_ambiguous_timestamp(dt).compatible().ok()?;
    Some(ts.as_millisecond())
}

/// Whether `windows` make `now_ms` quiet in `zone`, and until when that holds (the next
/// start or end of quiet; `u64::MAX` when the schedule has no windows).
pub(crate) fn state_at(zone: &TimeZone, windows: &[Window], now_ms: u64) -> (bool, u64) {
    let Ok(now) = i64::try_from(now_ms) else {
        return (false, u64::MAX);
    };
    let Ok(ts) = Timestamp::from_millisecond(now) else {
        return (false, u64::MAX);
    };
    let today = ts.to_zoned(zone.clone()).date();
    // Every window that could contain now (started yesterday or today) or start within
    // a week, as instants; then merged where they meet.
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for offset in -1..=8i64 {
        let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else {
            continue;
        };
        let day = Weekday::of(date);
        for w in windows.iter().filter(|w| w.day == day) {
            let end_date = if w.crosses_midnight() {
                date.tomorrow().ok()
            } else {
                Some(date)
            };
            let at = |d: Date, m: u16| d.at((m / 60) as i8, (m % 60) as i8, 0, 0);
            let (Some(start), Some(end)) = (
                instant(zone, at(date, w.start)),
                end_date.and_then(|d| instant(zone, at(d, w.end))),
            ) else {
                continue;
            };
            if end > start {
                spans.push((start, end));
            }
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    for (s, e) in merged {
        if now < s {
            return (false, s as u64);
        }
        if now < e {
            return (true, e as u64);
        }
    }
    (false, u64::MAX)
}

#[cfg(test)]
mod tests;
