//! Escalation ladders: strikes climb the ladder, decay lazily, survive a restart and a
//! snapshot, and bad ladders are refused by name with nothing changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mutegate::{Engine, Error, Event, Expiry, Ladder, ManualClock, Mute, MuteFor, Target};

const T0: u64 = 1_000_000;
const MIN: Duration = Duration::from_secs(60);

fn ladder() -> Ladder {
    Ladder::new([MIN, 10 * MIN, 60 * MIN], 120 * MIN).unwrap()
}

#[test]
fn strikes_climb_the_ladder_and_decay() {
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .clock(clock.clone())
        .ladder(ladder())
        .build();
    let at = |d: Duration| Expiry::At(clock_ms(&clock) + d.as_millis() as u64);
    let first = e.strike("r", "bob").unwrap();
    assert_eq!((first.strikes, first.expiry), (1, at(MIN)));
    assert!(!e.can_send("bob", Target::room("r")));
    clock.advance(2 * MIN);
    assert!(e.can_send("bob", Target::room("r")));
    assert_eq!(e.strike("r", "bob").unwrap().expiry, at(10 * MIN));
    clock.advance(20 * MIN);
    let third = e.strike("r", "bob").unwrap();
    assert_eq!((third.strikes, third.expiry), (3, at(60 * MIN)));
    // The last step repeats.
    clock.advance(61 * MIN);
    assert_eq!(e.strike("r", "bob").unwrap().expiry, at(60 * MIN));
    assert_eq!(e.strikes("r", "bob"), 4);
    // The first strike (made at T0) decays 120 min after it was made; the others later.
    clock.advance(Duration::from_millis(T0 + 120 * 60_000 - clock_ms(&clock)));
    assert_eq!(e.strikes("r", "bob"), 3);
    assert_eq!(e.strikes("other", "bob"), 0, "strikes are per room");
    // A pardon forgets the strikes, not the mute in force.
    let muted = e.member_mute("r", "bob");
    assert!(e.clear_strikes("r", "bob").unwrap());
    assert!(!e.clear_strikes("r", "bob").unwrap());
    assert_eq!(e.strikes("r", "bob"), 0);
    assert_eq!(e.member_mute("r", "bob"), muted);
    assert_eq!(e.strike("r", "bob").unwrap().strikes, 1);
    e.verify_consistency().unwrap();
}

fn clock_ms(c: &ManualClock) -> u64 {
    use mutegate::Clock as _;
    c.now_ms()
}

#[test]
fn a_longer_mute_in_force_is_kept_and_a_room_ladder_wins() {
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .clock(clock.clone())
        .ladder(ladder())
        .build();
    e.mute_members("r", ["bob"], MuteFor::Forever).unwrap();
    assert_eq!(e.strike("r", "bob").unwrap().expiry, Expiry::Never);
    let short = Ladder::new([Duration::from_secs(5)], MIN).unwrap();
    e.set_ladder("q", short.clone()).unwrap();
    assert_eq!(e.ladder("q"), short);
    assert_eq!(e.ladder("r"), ladder());
    assert_eq!(e.strike("q", "bob").unwrap().expiry, Expiry::At(T0 + 5_000));
    assert!(e.clear_ladder("q").unwrap());
    assert!(!e.clear_ladder("q").unwrap());
    assert_eq!(e.ladder("q"), ladder());
    assert_eq!(Engine::new().ladder("any"), Ladder::default());
}

#[test]
fn strikes_and_ladders_survive_a_restart_and_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let open = || {
        Engine::builder()
            .clock(clock.clone())
            .ladder(ladder())
            .open(dir.path())
            .unwrap()
    };
    let e = open();
    let short = Ladder::new([Duration::from_secs(5), MIN], 30 * MIN).unwrap();
    e.set_ladder("q", short.clone()).unwrap();
    e.strike("r", "bob").unwrap();
    // One millisecond apart: two strikes in the same millisecond count once.
    clock.advance(Duration::from_millis(1));
    e.strike("r", "bob").unwrap();
    e.strike("q", "ann").unwrap();
    drop(e);
    clock.advance(MIN);
    let e = open();
    assert_eq!(e.strikes("r", "bob"), 2);
    assert_eq!(e.strikes("q", "ann"), 1);
    assert_eq!(e.ladder("q"), short);
    let mut bytes = Vec::new();
    e.snapshot(&mut bytes).unwrap();
    let fresh = Engine::builder().clock(clock.clone()).build();
    fresh.restore(&mut bytes.as_slice()).unwrap();
    assert_eq!(fresh.strikes("r", "bob"), 2);
    assert_eq!(fresh.ladder("q"), short);
    // The next strike climbs on from the restored ones.
    assert_eq!(fresh.strike("q", "ann").unwrap().strikes, 2);
    drop(e);
    // Decayed while closed: gone on reopen (and the room with them).
    clock.advance(200 * MIN);
    let e = open();
    assert_eq!(e.strikes("r", "bob"), 0);
    e.verify_consistency().unwrap();
}

#[test]
fn bad_ladders_are_refused_by_name() {
    let cases: [(Vec<Duration>, Duration, &str); 5] = [
        (vec![], MIN, "no steps"),
        (vec![MIN; 17], MIN, "17 steps"),
        (vec![MIN, Duration::ZERO], MIN, "step 2 of 0 ms"),
        (vec![MIN], Duration::ZERO, "decay of 0 ms"),
        (
            vec![Duration::from_secs(400 * 24 * 3_600 * 365)],
            MIN,
            "step 1 of",
        ),
    ];
    for (steps, decay, named) in cases {
        let err = Ladder::new(steps, decay).unwrap_err();
        assert!(matches!(err, Error::InvalidLadder { .. }), "{err}");
        assert!(err.to_string().contains(named), "{named}: {err}");
    }
}

/// The same rules hold for an operation applied directly (JSON through serde_json, which
/// the `http` feature brings), and nothing changes.
#[cfg(feature = "http")]
#[test]
fn a_bad_ladder_in_an_applied_operation_is_refused() {
    let e = Engine::new();
    let json = r#"{"SetLadder":{"room":"r","ladder":{"steps_ms":[],"decay_ms":5}}}"#;
    let op: mutegate::Op = serde_json::from_str(json).unwrap();
    let err = e.apply(op).unwrap_err();
    assert!(err.to_string().contains("no steps"), "{err}");
    assert_eq!(e.ladder("r"), Ladder::default());
    assert_eq!(e.stats().rooms, 0);
}

#[test]
fn events_tell_strikes_ladders_and_the_mute() {
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .clock(clock.clone())
        .ladder(ladder())
        .build();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    e.subscribe(move |ev: &Event| sink.lock().unwrap().push(ev.clone()));
    let short = Ladder::new([MIN], MIN).unwrap();
    e.set_ladder("r", short.clone()).unwrap();
    e.strike("r", "bob").unwrap();
    e.clear_strikes("r", "bob").unwrap();
    let events = seen.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            Event::LadderChanged {
                room: "r".into(),
                ladder: Some(short),
            },
            Event::StrikesChanged {
                room: "r".into(),
                user: "bob".into(),
                strikes: 1,
            },
            Event::Muted {
                mute: Mute::Member {
                    room: "r".into(),
                    user: "bob".into()
                },
                expiry: Expiry::At(T0 + 60_000),
                actions: mutegate::Actions::ALL,
            },
            Event::StrikesChanged {
                room: "r".into(),
                user: "bob".into(),
                strikes: 0,
            },
        ]
    );
}

#[test]
fn strikes_survive_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Engine::builder()
            .compact_after(200)
            .sync(mutegate::SyncPolicy::Never)
            .open(dir.path())
            .unwrap()
    };
    let e = open();
    for i in 0..50 {
        e.strike(&format!("r{}", i % 7), &format!("u{i}")).unwrap();
    }
    drop(e);
    let e = open();
    for i in 0..50 {
        assert_eq!(
            e.strikes(&format!("r{}", i % 7), &format!("u{i}")),
            1,
            "u{i}"
        );
    }
}

#[test]
fn a_strike_applied_again_changes_nothing_more() {
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .clock(clock.clone())
        .ladder(ladder())
        .build();
    let op = mutegate::Op::Strike {
        room: "r".into(),
        user: "bob".into(),
        ladder: ladder(),
    };
    e.apply(op.clone()).unwrap();
    let once = (e.strikes("r", "bob"), e.member_mute("r", "bob"), e.stats());
    e.apply(op.clone()).unwrap();
    assert_eq!(
        (e.strikes("r", "bob"), e.member_mute("r", "bob"), e.stats()),
        once
    );
    // A millisecond later it is another strike.
    clock.advance(Duration::from_millis(1));
    e.apply(op).unwrap();
    assert_eq!(e.strikes("r", "bob"), 2);
}
