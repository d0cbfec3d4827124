//! Change events, expiry sweeping and `apply`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{T0, engine};
use mutegate::{
    Engine, Error, Event, Expiry, ManualClock, Module, ModuleChange, Mute, MuteFor, NotifyLevel,
    Op, Target,
};

type Seen = Arc<Mutex<Vec<Event>>>;

fn collect(e: &Engine) -> Seen {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    e.subscribe(move |ev: &Event| sink.lock().unwrap().push(ev.clone()));
    seen
}

fn take(seen: &Seen) -> Vec<Event> {
    std::mem::take(&mut *seen.lock().unwrap())
}

fn member(room: &str, user: &str) -> Mute {
    Mute::Member {
        room: room.into(),
        user: user.into(),
    }
}

#[test]
fn each_kind_of_change_is_announced() {
    let (e, _) = engine();
    let seen = collect(&e);
    e.mute_members("r", ["u"], MuteFor::Forever).unwrap();
    e.unmute_members("r", ["u", "nobody"]).unwrap();
    e.set_module_mutes("u", ModuleChange::new().set(Module::Team, true))
        .unwrap();
    e.mute_room("r", MuteFor::secs(1)).unwrap();
    e.unmute_room("r").unwrap();
    e.allow("r", ["v", "v"]).unwrap();
    e.disallow("r", ["v"]).unwrap();
    e.set_notification_level("u", "r", NotifyLevel::MentionsOnly, MuteFor::Forever)
        .unwrap();
    e.unmute_notifications("u", "r").unwrap();
    assert_eq!(
        take(&seen),
        [
            Event::Muted {
                mute: member("r", "u"),
                expiry: Expiry::Never,
                actions: mutegate::Actions::ALL,
            },
            Event::Unmuted {
                mute: member("r", "u")
            },
            Event::Muted {
                mute: Mute::Module {
                    user: "u".into(),
                    module: Module::Team
                },
                expiry: Expiry::Never,
                actions: mutegate::Actions::ALL,
            },
            Event::Muted {
                mute: Mute::Room { room: "r".into() },
                expiry: Expiry::At(T0 + 1000),
                actions: mutegate::Actions::ALL,
            },
            Event::Unmuted {
                mute: Mute::Room { room: "r".into() }
            },
            Event::AllowListChanged {
                room: "r".into(),
                user: "v".into(),
                allowed: true
            },
            Event::AllowListChanged {
                room: "r".into(),
                user: "v".into(),
                allowed: false
            },
            Event::LevelChanged {
                user: "u".into(),
                room: "r".into(),
                level: NotifyLevel::MentionsOnly,
                expiry: Expiry::Never
            },
            Event::LevelChanged {
                user: "u".into(),
                room: "r".into(),
                level: NotifyLevel::All,
                expiry: Expiry::Never
            },
        ]
    );
    // A refused call announces nothing.
    assert!(e.unmute_notifications("u", "r").is_err());
    assert!(take(&seen).is_empty());
}

#[test]
fn sweep_announces_each_end_once_and_never_early() {
    let (e, clock) = engine();
    let seen = collect(&e);
    e.mute_members("r", ["a"], MuteFor::millis(100)).unwrap();
    e.set_notification_level("a", "r", NotifyLevel::Off, MuteFor::millis(200))
        .unwrap();
    take(&seen);
    clock.advance(Duration::from_millis(99));
    assert_eq!(e.sweep(), 0);
    assert!(take(&seen).is_empty(), "never before its time");
    clock.advance(Duration::from_millis(1));
    assert_eq!(e.sweep(), 1);
    assert_eq!(
        take(&seen),
        [Event::Expired {
            mute: member("r", "a"),
            at_ms: T0 + 100
        }]
    );
    assert_eq!(e.sweep(), 0, "none twice");
    clock.advance(Duration::from_millis(500));
    assert_eq!(e.sweep(), 1);
    assert_eq!(
        take(&seen),
        [Event::Expired {
            mute: Mute::Notification {
                user: "a".into(),
                room: "r".into()
            },
            at_ms: T0 + 200
        }]
    );
    assert_eq!(e.stats().users + e.stats().rooms, 0, "swept state is freed");
}

#[test]
fn an_ended_mute_touched_before_any_sweep_is_announced_by_that_touch() {
    let (e, clock) = engine();
    let seen = collect(&e);
    e.mute_members("r", ["a", "b"], MuteFor::millis(10))
        .unwrap();
    take(&seen);
    clock.advance(Duration::from_millis(50));
    e.mute_members("r", ["a"], MuteFor::Forever).unwrap();
    e.unmute_members("r", ["b"]).unwrap();
    assert_eq!(
        take(&seen),
        [
            Event::Expired {
                mute: member("r", "a"),
                at_ms: T0 + 10
            },
            Event::Muted {
                mute: member("r", "a"),
                expiry: Expiry::Never,
                actions: mutegate::Actions::ALL,
            },
            Event::Expired {
                mute: member("r", "b"),
                at_ms: T0 + 10
            },
        ],
        "an ended mute is not 'unmuted'"
    );
    assert_eq!(e.sweep(), 0);
    assert!(take(&seen).is_empty());
}

#[test]
fn next_expiry_is_the_earliest_end_still_ahead() {
    let (e, clock) = engine();
    assert_eq!(e.next_expiry(), None);
    e.mute_room("r", MuteFor::Forever).unwrap();
    assert_eq!(e.next_expiry(), None, "forever has no end");
    e.mute_members("r", ["a"], MuteFor::secs(5)).unwrap();
    e.set_module_mutes(
        "b",
        ModuleChange::new()
            .set(Module::P2p, true)
            .lasting(MuteFor::secs(2)),
    )
    .unwrap();
    assert_eq!(e.next_expiry(), Some(Expiry::At(T0 + 2000)));
    clock.advance(Duration::from_secs(2));
    assert_eq!(e.next_expiry(), Some(Expiry::At(T0 + 5000)));
    e.unmute_members("r", ["a"]).unwrap();
    assert_eq!(e.next_expiry(), None);
}

#[test]
fn a_panicking_subscriber_cannot_hurt_the_engine_or_the_others() {
    let (e, _) = engine();
    e.subscribe(|_: &Event| panic!("subscriber bug"));
    let seen = collect(&e);
    e.mute_room("r", MuteFor::Forever).unwrap();
    e.mute_room("s", MuteFor::Forever).unwrap();
    assert_eq!(take(&seen).len(), 2);
    assert!(!e.can_send("u", Target::room("r")));
    e.verify_consistency().unwrap();
}

#[test]
fn subscribers_run_with_no_lock_held_and_may_call_the_engine() {
    let (e, _) = engine();
    let e = Arc::new(e);
    let weak = Arc::downgrade(&e);
    let answers = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&answers);
    e.subscribe(move |ev: &Event| {
        if let (
            Some(e),
            Event::Muted {
                mute: Mute::Room { room },
                ..
            },
        ) = (weak.upgrade(), ev)
        {
            sink.lock()
                .unwrap()
                .push(e.can_send("u", Target::room(room)));
            e.allow(room, ["vip"]).unwrap(); // a mutation from inside a callback
        }
    });
    e.mute_room("r", MuteFor::Forever).unwrap();
    assert_eq!(*answers.lock().unwrap(), [false]);
    assert_eq!(e.allow_list("r"), ["vip"]);
}

#[test]
fn the_background_sweeper_announces_ends_within_its_interval_and_stops_on_drop() {
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .clock(clock.clone())
        .sweeper(Duration::from_millis(5))
        .build();
    let seen = collect(&e);
    e.mute_members("r", ["a"], MuteFor::millis(100)).unwrap();
    take(&seen);
    clock.advance(Duration::from_millis(100));
    let start = Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "sweeper announced nothing"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        take(&seen),
        [Event::Expired {
            mute: member("r", "a"),
            at_ms: T0 + 100
        }]
    );
    drop(e); // joins the sweeper thread; a hang here fails the test by timeout
}

#[test]
fn apply_is_idempotent_and_validates() {
    let (e, clock) = engine();
    let ops = [
        Op::MuteMembers {
            room: "r".into(),
            users: vec!["a".into(), "b".into()],
            until: Expiry::At(T0 + 500),
            actions: mutegate::Actions::ALL,
        },
        Op::SetNotify {
            user: "a".into(),
            room: "r".into(),
            level: NotifyLevel::Off,
            until: Expiry::Never,
        },
        Op::SetModules {
            user: "a".into(),
            change: [Some(true), None, None, None],
            until: Expiry::Never,
            actions: mutegate::Actions::ALL,
        },
        Op::Allow {
            room: "r".into(),
            users: vec!["c".into()],
        },
        Op::MuteRoom {
            room: "r".into(),
            until: Expiry::Never,
            actions: mutegate::Actions::ALL,
        },
    ];
    for op in &ops {
        e.apply(op.clone()).unwrap();
    }
    let once = (
        e.stats(),
        e.muted_members("r"),
        e.muted_rooms("a"),
        e.allow_list("r"),
    );
    for op in &ops {
        e.apply(op.clone()).unwrap();
    }
    assert_eq!(
        once,
        (
            e.stats(),
            e.muted_members("r"),
            e.muted_rooms("a"),
            e.allow_list("r")
        )
    );
    assert!(!e.can_send("a", Target::p2p("x")));
    clock.advance(Duration::from_millis(500));
    assert_eq!(e.member_mute("r", "b"), None, "absolute expiries");

    let bad = [
        (Op::RemoveUser { user: "".into() }, "empty"),
        (
            Op::MuteRoom {
                room: "x".repeat(65).into(),
                until: Expiry::Never,
                actions: mutegate::Actions::ALL,
            },
            "over the limit",
        ),
        (
            Op::Allow {
                room: "r".into(),
                users: vec![],
            },
            "empty",
        ),
        (
            Op::SetModules {
                user: "a".into(),
                change: [None; 4],
                until: Expiry::Never,
                actions: mutegate::Actions::ALL,
            },
            "no module",
        ),
    ];
    let before = e.stats();
    for (op, words) in bad {
        let err: Error = e.apply(op).unwrap_err();
        assert!(err.to_string().contains(words), "{err}");
    }
    assert_eq!(e.stats(), before);
}

#[test]
fn operations_and_events_round_trip_through_serde() {
    let ops = [
        Op::MuteMembers {
            room: "r".into(),
            users: vec!["a".into(), "b".into()],
            until: Expiry::At(5),
            actions: mutegate::Actions::ALL,
        },
        Op::SetNotify {
            user: "a".into(),
            room: "r".into(),
            level: NotifyLevel::MentionsOnly,
            until: Expiry::Never,
        },
        Op::SetModules {
            user: "a".into(),
            change: [Some(true), None, Some(false), None],
            until: Expiry::At(9),
            actions: mutegate::Actions::ALL,
        },
        Op::MuteRoom {
            room: "r".into(),
            until: Expiry::Never,
            actions: mutegate::Actions::only(mutegate::Action::JoinVoice),
        },
        Op::RemoveRoom { room: "r".into() },
    ];
    for op in ops {
        let bytes = postcard::to_stdvec(&op).unwrap();
        assert_eq!(postcard::from_bytes::<Op>(&bytes).unwrap(), op);
    }
    let event = Event::Expired {
        mute: member("r", "a"),
        at_ms: 5,
    };
    let bytes = postcard::to_stdvec(&event).unwrap();
    assert_eq!(postcard::from_bytes::<Event>(&bytes).unwrap(), event);
    let event = Event::Muted {
        mute: member("r", "a"),
        expiry: Expiry::Never,
        actions: mutegate::Actions::of([mutegate::Action::React, mutegate::Action::Edit]),
    };
    let bytes = postcard::to_stdvec(&event).unwrap();
    assert_eq!(postcard::from_bytes::<Event>(&bytes).unwrap(), event);
}
