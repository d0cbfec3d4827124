use super::*;

fn ms(iso: &str) -> u64 {
    let ts: Timestamp = iso.parse().expect("timestamp");
    ts.as_millisecond() as u64
}

/// A compiled schedule and a cache in front of it, as the engine keeps them.
struct Cachedule {
    c: Compiled,
    cache: Cached,
}

impl Cachedule {
    fn quiet_at(&self, now: u64) -> bool {
        self.cache.get(now, || {
            let (quiet, until) = self.c.state_at(now);
            (quiet, until, 0)
        })
    }
}

fn compiled(zone: &str, windows: &[&str]) -> Cachedule {
    let windows = windows.iter().map(|w| w.parse().expect("window"));
    let c = Compiled::new(Schedule::new(zone, windows).expect("schedule")).expect("compiled");
    Cachedule {
        c,
        cache: Cached::default(),
    }
}

/// The quiet spans between `from` and `to` (UTC ISO), found by asking the state at each
/// transition it reports.
fn spans(c: &Cachedule, from: &str, to: &str) -> Vec<(String, String)> {
    let (mut now, end) = (ms(from), ms(to));
    let mut out = Vec::new();
    let mut start = None;
    while now < end {
        let (quiet, until) = c.c.state_at(now);
        assert_eq!(
            quiet,
            c.quiet_at(now),
            "cache and direct answer differ at {now}"
        );
        match (quiet, start) {
            (true, None) => start = Some(now),
            (false, Some(s)) => {
                out.push((iso(s), iso(now)));
                start = None;
            }
            _ => {}
        }
        now = until;
    }
    if let Some(s) = start {
        out.push((iso(s), iso(now)));
    }
    out
}

fn iso(ms: u64) -> String {
    Timestamp::from_millisecond(ms as i64).unwrap().to_string()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

#[test]
fn window_crossing_midnight_and_the_week_end() {
    // Sunday 23:00 to Monday 06:00 UTC, seen from Wednesday before.
    let c = compiled("UTC", &["sun 23:00-06:00"]);
    assert_eq!(
        spans(&c, "2026-12-02T00:00:00Z", "2026-12-09T00:00:00Z"),
        [pair("2026-12-06T23:00:00Z", "2026-12-07T06:00:00Z")]
    );
}

#[test]
fn touching_windows_make_one_quiet_span() {
    let c = compiled("UTC", &["mon 22:00-00:00", "tue 00:00-07:00"]);
    assert_eq!(
        spans(&c, "2026-11-30T00:00:00Z", "2026-12-02T00:00:00Z"),
        [pair("2026-11-30T22:00:00Z", "2026-12-01T07:00:00Z")]
    );
}

#[test]
fn new_york_spring_forward() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT. 01:00-05:00 lasts 3 hours; 02:15-02:45
    // lies in the gap and happens as 03:15-03:45 EDT.
    let c = compiled("America/New_York", &["sun 01:00-05:00"]);
    assert_eq!(
        spans(&c, "2026-03-07T12:00:00Z", "2026-03-09T00:00:00Z"),
        [pair("2026-03-08T06:00:00Z", "2026-03-08T09:00:00Z")]
    );
    let c = compiled("America/New_York", &["sun 02:15-02:45"]);
    assert_eq!(
        spans(&c, "2026-03-07T12:00:00Z", "2026-03-09T00:00:00Z"),
        [pair("2026-03-08T07:15:00Z", "2026-03-08T07:45:00Z")]
    );
}

#[test]
fn new_york_fall_back() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST. 00:00-03:00 lasts 4 hours; a boundary in
    // the repeated hour (01:30) takes its first occurrence (EDT).
    let c = compiled("America/New_York", &["sun 00:00-03:00"]);
    assert_eq!(
        spans(&c, "2026-10-31T12:00:00Z", "2026-11-02T00:00:00Z"),
        [pair("2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z")]
    );
    let c = compiled("America/New_York", &["sun 01:30-02:30"]);
    assert_eq!(
        spans(&c, "2026-10-31T12:00:00Z", "2026-11-02T00:00:00Z"),
        [pair("2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z")]
    );
}

#[test]
fn berlin_both_changes() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST; 2026-10-25: 03:00 CEST becomes 02:00 CET.
    let c = compiled("Europe/Berlin", &["sun 01:00-04:00"]);
    assert_eq!(
        spans(&c, "2026-03-28T12:00:00Z", "2026-03-30T00:00:00Z"),
        [pair("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")]
    );
    let c = compiled("Europe/Berlin", &["sat 23:00-04:00"]);
    assert_eq!(
        spans(&c, "2026-10-24T12:00:00Z", "2026-10-26T00:00:00Z"),
        [pair("2026-10-24T21:00:00Z", "2026-10-25T03:00:00Z")]
    );
}

#[test]
fn cache_answers_backwards_and_forwards_in_time() {
    let c = compiled("Europe/Berlin", &["mon 09:00-10:00"]);
    let inside = ms("2026-11-30T08:30:00Z");
    let before = ms("2026-11-30T07:59:59Z");
    let after = ms("2026-11-30T09:00:00Z");
    for _ in 0..2 {
        assert!(c.quiet_at(inside));
        assert!(!c.quiet_at(before));
        assert!(!c.quiet_at(after));
        assert!(c.quiet_at(after - 1));
    }
}

#[test]
fn bad_schedules_are_refused_by_name() {
    let w = |s: &str| s.parse::<Window>().unwrap();
    assert!(matches!(
        Schedule::new("Mars/Base", [w("mon 01:00-02:00")]),
        Err(Error::UnknownTimeZone { zone }) if zone == "Mars/Base"
    ));
    // A POSIX TZ string is not an IANA name.
    assert!(matches!(
        Schedule::new("EST5EDT,M3.2.0,M11.1.0", []),
        Err(Error::UnknownTimeZone { .. })
    ));
    assert!(matches!(
        "mon 07:00-07:00".parse::<Window>(),
        Err(Error::InvalidWindow {
            what: "it ends when it starts",
            ..
        })
    ));
    assert!(matches!(
        Schedule::new("UTC", [Window::new(Weekday::Mon, 60, 60)]),
        Err(Error::InvalidWindow { .. })
    ));
    assert!(matches!(
        Schedule::new("UTC", [Window::new(Weekday::Mon, 60, 1440)]),
        Err(Error::InvalidWindow { .. })
    ));
    for bad in [
        "mon 24:00-01:00",
        "funday 01:00-02:00",
        "mon 1:00-2:00",
        "mon",
        "mon 01:00",
    ] {
        assert!(
            matches!(bad.parse::<Window>(), Err(Error::InvalidWindow { .. })),
            "{bad}"
        );
    }
    let err = Schedule::new("UTC", [w("mon 22:00-07:00"), w("tue 06:00-08:00")]).unwrap_err();
    assert_eq!(
        err,
        Error::OverlappingWindows {
            first: "mon 22:00-07:00".into(),
            second: "tue 06:00-08:00".into()
        }
    );
    // Across the week's end, and two windows starting together.
    assert!(Schedule::new("UTC", [w("mon 00:00-01:00"), w("sun 23:00-00:30")]).is_err());
    assert!(Schedule::new("UTC", [w("mon 00:00-01:00"), w("mon 00:00-00:30")]).is_err());
    assert!(Schedule::new("UTC", [w("mon 00:00-01:00"), w("sun 23:00-00:00")]).is_ok());
    let many =
        (0..29u16).map(|i| Window::new(Weekday::ALL[usize::from(i % 7)], i * 10, i * 10 + 5));
    assert_eq!(
        Schedule::new("UTC", many).unwrap_err(),
        Error::TooManyWindows {
            len: 29,
            max: MAX_WINDOWS
        }
    );
}

#[test]
fn a_change_within_a_second_is_not_cached_back_across() {
    let cache = Cached::default();
    // Quiet until 5.5 s (a snooze), then loud: asked at 5.7 s, the loud answer must not
    // be served for 5.2 s.
    let state = |now: u64| {
        if now < 5_500 {
            (true, 5_500, 0)
        } else {
            (false, u64::MAX, 5_500)
        }
    };
    assert!(!cache.get(5_700, || state(5_700)));
    assert!(cache.get(5_200, || state(5_200)));
    assert!(!cache.get(5_700, || state(5_700)));
    assert!(!cache.get(9_000, || panic!("cached from 6 s on")));
}

#[test]
fn lord_howe_spring_forward_moves_by_the_half_hour_gap() {
    // 2026-10-04: 02:00 LHST (UTC+10:30) becomes 02:30 LHDT (UTC+11). A boundary in the
    // gap moves by the gap's length, 30 minutes, not an hour: 02:15 happens as 02:45.
    let c = compiled("Australia/Lord_Howe", &["sun 02:15-04:00"]);
    assert_eq!(
        spans(&c, "2026-10-03T00:00:00Z", "2026-10-04T12:00:00Z"),
        [pair("2026-10-03T15:45:00Z", "2026-10-03T17:00:00Z")]
    );
    // A window wholly in the gap moves whole, and still happens.
    let c = compiled("Australia/Lord_Howe", &["sun 02:05-02:25"]);
    assert_eq!(
        spans(&c, "2026-10-03T00:00:00Z", "2026-10-04T12:00:00Z"),
        [pair("2026-10-03T15:35:00Z", "2026-10-03T15:55:00Z")]
    );
}

#[test]
fn a_window_that_moves_onto_its_own_end_vanishes_that_day() {
    // New York, 2026-03-08: 02:15 moves to 03:15 EDT, where the window ends: nothing is
    // quiet that day; the next Sunday it is an hour long again.
    let c = compiled("America/New_York", &["sun 02:15-03:15"]);
    assert_eq!(
        spans(&c, "2026-03-07T12:00:00Z", "2026-03-16T00:00:00Z"),
        [pair("2026-03-15T06:15:00Z", "2026-03-15T07:15:00Z")]
    );
}
