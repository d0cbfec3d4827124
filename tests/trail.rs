//! The moderation trail: who did what and why travels in the operation, the events, the
//! listings and a bounded per-subject history that survives restarts and compactions,
//! is purged with its user or room, and refuses bad input with nothing changed.

mod common;

use std::sync::{Arc, Mutex};

use common::{T0, durable};
use mutegate::{
    Engine, Error, Event, MAX_HISTORY_LEN, MAX_REASON_LEN, ManualClock, Module, ModuleChange,
    MuteFor, Op, Source, Subject, Target, Trail,
};

fn engine(history_len: usize) -> (Engine, ManualClock) {
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .clock(clock.clone())
        .history_len(history_len)
        .build();
    (e, clock)
}

fn reasons(e: &Engine, s: &Subject) -> Vec<String> {
    e.moderation_history(s)
        .into_iter()
        .map(|h| h.trail.reason.unwrap_or_default())
        .collect()
}

#[test]
fn a_trail_travels_in_the_history_the_events_and_the_listing() {
    let (e, clock) = engine(8);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    e.subscribe(move |ev: &Event| sink.lock().unwrap().push(ev.clone()));
    let trail = Trail::by("mod-1").reason("spam").source(Source::Automatic);
    e.with_trail(&trail)
        .mute_members("lobby", ["bob", "eve"], MuteFor::minutes(10))
        .wait()
        .unwrap();

    // One entry per member, each naming only that member.
    for user in ["bob", "eve"] {
        let h = e.moderation_history(&Subject::member("lobby", user));
        assert_eq!(h.len(), 1, "{user}");
        assert_eq!(h[0].at_ms, T0);
        assert_eq!(h[0].trail, trail);
        match &h[0].op {
            Op::MuteMembers { users, .. } => assert_eq!(users.len(), 1),
            op => panic!("{op:?}"),
        }
        assert!(format!("{:?}", h[0].op).contains(user));
    }
    // The mutes' events, then one `Moderated` per subject.
    let seen = events.lock().unwrap().clone();
    let kinds: Vec<&str> = seen
        .iter()
        .map(|ev| match ev {
            Event::Muted { .. } => "muted",
            Event::Moderated { .. } => "moderated",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["muted", "muted", "moderated", "moderated"]);
    let Event::Moderated { subject, entry } = &seen[2] else {
        unreachable!()
    };
    assert_eq!(*subject, Subject::member("lobby", "bob"));
    assert_eq!(entry.trail.actor.as_deref(), Some("mod-1"));

    // The listing shows who muted whom, until a mute without a trail replaces it.
    let listed = e.muted_members("lobby");
    assert!(listed.iter().all(|m| m.trail.as_ref() == Some(&trail)));
    clock.advance(std::time::Duration::from_secs(1));
    e.mute_members("lobby", ["bob"], MuteFor::minutes(30))
        .unwrap();
    let listed = e.muted_members("lobby");
    assert_eq!(listed[0].user, "bob");
    assert_eq!(listed[0].trail, None, "bob's mute in force has no trail");
    assert_eq!(listed[1].trail.as_ref(), Some(&trail));
    assert_eq!(
        e.moderation_history(&Subject::member("lobby", "bob")).len(),
        1
    );

    // Mutations without a trail leave no history and no `Moderated` event.
    let before = events.lock().unwrap().len();
    e.mute_room("hall", MuteFor::Forever).unwrap();
    assert!(e.moderation_history(&Subject::room("hall")).is_empty());
    assert!(
        events.lock().unwrap()[before..]
            .iter()
            .all(|ev| !matches!(ev, Event::Moderated { .. }))
    );
}

#[test]
fn every_moderation_kind_goes_to_its_subjects_history() {
    let (e, _clock) = engine(8);
    let t = |why: &str| Trail::by("mod").reason(why);
    let (a, b, c, d, f, g) = (t("a"), t("b"), t("c"), t("d"), t("f"), t("g"));
    e.with_trail(&a)
        .mute_room("r", MuteFor::Forever)
        .wait()
        .unwrap();
    e.with_trail(&b).allow("r", ["u"]).wait().unwrap();
    e.with_trail(&c).strike("r", "u").wait().unwrap();
    e.with_trail(&d)
        .set_module_mutes("u", ModuleChange::new().set(Module::P2p, true))
        .wait()
        .unwrap();
    e.with_trail(&f)
        .set_slow_mode("r", std::time::Duration::from_secs(5))
        .wait()
        .unwrap();
    e.with_trail(&g).unmute_room("r").wait().unwrap();
    assert_eq!(reasons(&e, &Subject::room("r")), ["a", "f", "g"]);
    assert_eq!(reasons(&e, &Subject::member("r", "u")), ["b", "c"]);
    assert_eq!(reasons(&e, &Subject::user("u")), ["d"]);
    assert_eq!(e.stats().moderation_entries, 6);
}

#[test]
fn the_history_keeps_the_last_n_entries_per_subject() {
    let (e, clock) = engine(3);
    assert_eq!(e.history_len(), 3);
    for i in 0..10 {
        let trail = Trail::by("mod").reason(format!("r{i}"));
        e.with_trail(&trail)
            .mute_members("r", ["bob"], MuteFor::minutes(1))
            .wait()
            .unwrap();
        clock.advance(std::time::Duration::from_millis(1));
    }
    let subject = Subject::member("r", "bob");
    assert_eq!(reasons(&e, &subject), ["r7", "r8", "r9"]);
    assert_eq!(e.stats().moderation_entries, 3);
    // Other subjects have their own bound.
    let trail = Trail::by("mod");
    e.with_trail(&trail)
        .mute_members("r", ["eve"], MuteFor::Forever)
        .wait()
        .unwrap();
    assert_eq!(e.stats().moderation_entries, 4);

    // 0 keeps nothing (the trail still travels in the operation and its mute applies);
    // more than the most is the most.
    let (none, _) = engine(0);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    none.subscribe(move |ev: &Event| sink.lock().unwrap().push(ev.clone()));
    none.with_trail(&trail)
        .mute_members("r", ["bob"], MuteFor::Forever)
        .wait()
        .unwrap();
    assert!(none.moderation_history(&subject).is_empty());
    let seen = events.lock().unwrap().clone();
    assert!(matches!(seen[..], [Event::Muted { .. }]), "{seen:?}");
    assert!(!none.can_send("bob", Target::room("r")));
    assert_eq!(engine(usize::MAX).0.history_len(), MAX_HISTORY_LEN);
    assert_eq!(Engine::new().history_len(), mutegate::DEFAULT_HISTORY_LEN);
}

#[test]
fn the_same_operation_applied_twice_is_remembered_once() {
    let (e, clock) = engine(8);
    let op = Op::Moderated {
        trail: Trail::by("mod").reason("x"),
        op: Box::new(Op::UnmuteRoom { room: "r".into() }),
    };
    e.apply(op.clone()).unwrap();
    e.apply(op.clone()).unwrap();
    assert_eq!(e.moderation_history(&Subject::room("r")).len(), 1);
    clock.advance(std::time::Duration::from_millis(1));
    e.apply(op).unwrap();
    assert_eq!(e.moderation_history(&Subject::room("r")).len(), 2);
}

fn histories(e: &Engine) -> Vec<Vec<mutegate::ModerationEntry>> {
    [
        Subject::member("r", "bob"),
        Subject::member("r", "eve"),
        Subject::room("r"),
        Subject::user("bob"),
    ]
    .iter()
    .map(|s| e.moderation_history(s))
    .collect()
}

#[test]
fn histories_survive_a_restart_a_compaction_and_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = durable(dir.path(), &clock);
    let by = |who: &str| Trail::by(who).reason(format!("by {who}"));
    let (m1, m2, m3) = (by("m1"), by("m2"), by("m3").source(Source::Ladder));
    e.with_trail(&m1)
        .mute_members("r", ["bob", "eve"], MuteFor::Forever)
        .wait()
        .unwrap();
    clock.advance(std::time::Duration::from_secs(1));
    e.with_trail(&m2)
        .mute_room("r", MuteFor::minutes(5))
        .wait()
        .unwrap();
    e.with_trail(&m3).strike("r", "bob").wait().unwrap();
    let before = histories(&e);
    assert_eq!(before[0].len(), 2);
    drop(e);

    let e = durable(dir.path(), &clock);
    assert_eq!(histories(&e), before, "after replaying the log");
    e.compact().unwrap();
    drop(e);
    let e = durable(dir.path(), &clock);
    assert_eq!(histories(&e), before, "after the snapshot");
    let listed = e.muted_members("r");
    assert_eq!(
        listed[0].trail.as_ref(),
        Some(&m3),
        "bob's mute came from the strike"
    );
    assert_eq!(listed[1].trail.as_ref(), Some(&m1));

    let mut bytes = Vec::new();
    e.snapshot(&mut bytes).unwrap();
    let copy = Engine::new();
    copy.restore(&mut bytes.as_slice()).unwrap();
    assert_eq!(histories(&copy), before, "in a snapshot stream");

    // A store reopened with a smaller bound keeps the latest entries.
    drop(e);
    let e = Engine::builder()
        .clock(clock.clone())
        .history_len(1)
        .open(dir.path())
        .unwrap();
    assert_eq!(
        e.moderation_history(&Subject::member("r", "bob")),
        [before[0][1].clone()]
    );
}

#[test]
fn removing_a_user_or_a_room_purges_their_histories() {
    let (e, _clock) = engine(8);
    let trail = Trail::by("mod");
    let t = e.with_trail(&trail);
    t.mute_members("r", ["bob", "eve"], MuteFor::Forever)
        .wait()
        .unwrap();
    t.mute_members("q", ["bob"], MuteFor::Forever)
        .wait()
        .unwrap();
    t.mute_room("r", MuteFor::Forever).wait().unwrap();
    t.set_module_mutes("bob", ModuleChange::new().set(Module::P2p, true))
        .wait()
        .unwrap();
    assert_eq!(e.stats().moderation_entries, 5);
    e.remove_user("bob").unwrap();
    assert!(
        e.moderation_history(&Subject::member("q", "bob"))
            .is_empty()
    );
    assert!(e.moderation_history(&Subject::user("bob")).is_empty());
    assert_eq!(e.stats().moderation_entries, 2);
    e.remove_room("r").unwrap();
    assert_eq!(e.stats().moderation_entries, 0);
}

#[test]
fn bad_trails_are_refused_by_name_with_nothing_changed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = durable(dir.path(), &clock);
    let long = Trail::by("mod").reason("x".repeat(MAX_REASON_LEN + 1));
    let err = e
        .with_trail(&long)
        .mute_members("r", ["bob"], MuteFor::Forever)
        .wait()
        .unwrap_err();
    assert_eq!(
        err,
        Error::ReasonTooLong {
            len: MAX_REASON_LEN + 1,
            max: MAX_REASON_LEN
        }
    );
    assert!(err.to_string().contains("513"), "{err}");
    // Exactly the limit is fine.
    let at_limit = Trail::by("mod").reason("é".repeat(MAX_REASON_LEN / 2));
    e.with_trail(&at_limit)
        .mute_room("ok", MuteFor::Forever)
        .wait()
        .unwrap();

    let nobody = Trail::by("");
    assert!(matches!(
        e.with_trail(&nobody)
            .mute_room("r", MuteFor::Forever)
            .wait(),
        Err(Error::EmptyId { .. })
    ));
    // A trail goes only on moderation: not on a user's own notification settings.
    let trail = Trail::by("mod");
    assert!(matches!(
        e.with_trail(&trail).mute_notifications("bob", "r").wait(),
        Err(Error::InvalidCombination(_))
    ));
    assert!(matches!(
        e.with_trail(&trail).remove_user("bob").wait(),
        Err(Error::InvalidCombination(_))
    ));
    let nested = Op::Moderated {
        trail: trail.clone(),
        op: Box::new(Op::Moderated {
            trail: trail.clone(),
            op: Box::new(Op::UnmuteRoom { room: "r".into() }),
        }),
    };
    assert!(matches!(e.apply(nested), Err(Error::InvalidCombination(_))));

    let unchanged = |e: &Engine| {
        assert!(e.can_send("bob", Target::room("r")));
        assert!(e.notification_settings("bob").is_empty());
        assert!(
            e.moderation_history(&Subject::member("r", "bob"))
                .is_empty()
        );
        assert!(e.moderation_history(&Subject::room("r")).is_empty());
        assert_eq!(e.stats().moderation_entries, 1);
    };
    unchanged(&e);
    drop(e);
    unchanged(&durable(dir.path(), &clock));
}
