//! The checks across kinds: precedence and `until`, pushes and fan-out, explicit time,
//! clock reads, housekeeping and bad input.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{T0, engine};
use mutegate::{
    Clock, DenyReason, Engine, Error, Expiry, IdKind, Limits, ManualClock, Mentions, Module,
    ModuleChange, MuteFor, NotifyLevel, Role, Stats, Target,
};

static_assertions::assert_impl_all!(Engine: Send, Sync);
static_assertions::assert_impl_all!(ManualClock: Send, Sync, Clone);

#[test]
fn reasons_come_in_precedence_order_module_member_room() {
    let (e, _) = engine();
    let t = Target::team("t1");
    e.mute_room("t1", MuteFor::secs(30)).unwrap();
    assert_eq!(
        e.check_send("u", t).unwrap_err().reason,
        DenyReason::RoomMuted
    );
    e.mute_members("t1", ["u"], MuteFor::secs(20)).unwrap();
    assert_eq!(
        e.check_send("u", t).unwrap_err().reason,
        DenyReason::MemberMuted
    );
    e.set_module_mutes(
        "u",
        ModuleChange::new()
            .set(Module::Team, true)
            .lasting(MuteFor::secs(10)),
    )
    .unwrap();
    let denied = e.check_send("u", t).unwrap_err();
    assert_eq!(denied.reason, DenyReason::ModuleMuted(Module::Team));
    assert_eq!(
        denied.until,
        Expiry::At(T0 + 30_000),
        "latest of all blocking rules"
    );
}

#[test]
fn until_is_never_when_any_blocking_rule_is_permanent() {
    let (e, _) = engine();
    e.mute_members("r", ["u"], MuteFor::secs(5)).unwrap();
    e.mute_room("r", MuteFor::Forever).unwrap();
    assert_eq!(
        e.check_send("u", Target::room("r")).unwrap_err().until,
        Expiry::Never
    );
}

#[test]
fn until_is_when_sending_actually_becomes_possible() {
    let (e, clock) = engine();
    e.mute_members("r", ["u"], MuteFor::secs(5)).unwrap();
    e.mute_room("r", MuteFor::secs(9)).unwrap();
    let Expiry::At(until) = e.check_send("u", Target::room("r")).unwrap_err().until else {
        panic!("finite");
    };
    clock.set(until - 1);
    assert!(!e.can_send("u", Target::room("r")));
    clock.set(until);
    assert!(e.can_send("u", Target::room("r")));
}

#[test]
fn room_rules_do_not_apply_to_p2p_and_modules_do_not_leak() {
    let (e, _) = engine();
    e.mute_room("bob", MuteFor::Forever).unwrap();
    e.mute_members("bob", ["ann"], MuteFor::Forever).unwrap();
    assert!(
        e.can_send("ann", Target::p2p("bob")),
        "a room named like a peer is not the peer"
    );
    e.set_module_mutes("ann", ModuleChange::new().set(Module::Room, true))
        .unwrap();
    assert!(e.can_send("ann", Target::qchat("c1")));
    assert!(!e.can_send("ann", Target::room("c1")));
}

#[test]
fn denied_says_why_and_until_when() {
    let (e, _) = engine();
    e.mute_members("r", ["u"], MuteFor::millis(10)).unwrap();
    let msg = e
        .check_send("u", Target::room("r"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        format!("sender is muted in this room until {} ms", T0 + 10)
    );
}

#[test]
fn push_targets_filters_by_level_and_mentions() {
    let (e, _) = engine();
    e.mute_notifications("off", "r").unwrap();
    e.set_notification_level("men", "r", NotifyLevel::MentionsOnly, MuteFor::Forever)
        .unwrap();
    e.mute_notifications("all", "other-room").unwrap();
    let members = ["all", "off", "men", "new"];
    assert_eq!(
        e.push_targets("r", &members, Mentions::None),
        [&"all", &"new"]
    );
    assert_eq!(
        e.push_targets("r", &members, Mentions::Users(&["men", "off"])),
        [&"all", &"men", &"new"]
    );
    assert_eq!(
        e.push_targets("r", &members, Mentions::Everyone),
        [&"all", &"men", &"new"]
    );
    // Owned strings work too, and results agree with should_push member by member.
    let owned: Vec<String> = members.iter().map(|s| s.to_string()).collect();
    let pushed = e.push_targets("r", &owned, Mentions::None);
    for m in &owned {
        assert_eq!(pushed.contains(&m), e.should_push(m, "r"), "{m}");
    }
}

#[test]
fn push_targets_in_a_room_with_no_settings_returns_everyone() {
    let (e, _) = engine();
    e.mute_notifications("u", "elsewhere").unwrap();
    let members: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    assert_eq!(e.push_targets("quiet", &members, Mentions::None).len(), 100);
    let mut buf = Vec::new();
    e.push_targets_into("quiet", &members[..3], Mentions::None, &mut buf);
    e.push_targets_into("quiet", &members[3..5], Mentions::None, &mut buf);
    assert_eq!(buf.len(), 5, "appends");
}

#[test]
fn expired_notification_settings_push_again() {
    let (e, clock) = engine();
    e.set_notification_level("u", "r", NotifyLevel::Off, MuteFor::secs(1))
        .unwrap();
    assert!(e.push_targets("r", &["u"], Mentions::None).is_empty());
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(e.push_targets("r", &["u"], Mentions::None), [&"u"]);
    assert_eq!(e.notification_level("u", "r"), NotifyLevel::All);
}

#[test]
fn at_checks_at_the_given_time_without_moving_the_clock() {
    let (e, clock) = engine();
    e.mute_members("r", ["u"], MuteFor::secs(1)).unwrap();
    e.set_notification_level("u", "r", NotifyLevel::Off, MuteFor::secs(1))
        .unwrap();
    let before = e.at(T0 + 999);
    let after = e.at(T0 + 1000);
    assert_eq!(before.now_ms(), T0 + 999);
    assert!(!before.can_send("u", Target::room("r")));
    assert!(
        after
            .check_send_as("u", Target::room("r"), Role::Member)
            .is_ok()
    );
    assert!(!before.should_push("u", "r") && after.should_push_mentioned("u", "r", false));
    assert!(before.push_targets("r", &["u"], Mentions::None).is_empty());
    assert_eq!(after.push_targets("r", &["u"], Mentions::None).len(), 1);
    assert_eq!(clock.now_ms(), T0);
    assert!(!e.can_send("u", Target::room("r")));
}

/// A clock that counts how often it is read.
#[derive(Clone, Default)]
struct CountingClock(Arc<AtomicUsize>);
impl Clock for CountingClock {
    fn now_ms(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst);
        T0
    }
}

#[test]
fn checks_read_the_clock_at_most_once_and_never_for_users_without_state() {
    let clock = CountingClock::default();
    let e = Engine::builder().clock(clock.clone()).build();
    e.mute_members("r", ["u"], MuteFor::secs(5)).unwrap();
    e.mute_room("r", MuteFor::secs(5)).unwrap();
    e.set_module_mutes("u", ModuleChange::new().set(Module::Room, true))
        .unwrap();
    e.set_notification_level("m", "r", NotifyLevel::Off, MuteFor::secs(5))
        .unwrap();
    e.set_notification_level("n", "r", NotifyLevel::Off, MuteFor::secs(5))
        .unwrap();
    let reads = |f: &dyn Fn()| {
        let before = clock.0.load(Ordering::SeqCst);
        f();
        clock.0.load(Ordering::SeqCst) - before
    };
    assert_eq!(
        reads(&|| assert!(e.can_send("v", Target::room("quiet")))),
        0
    );
    assert_eq!(reads(&|| assert!(e.should_push("v", "r"))), 0);
    assert_eq!(reads(&|| assert!(!e.can_send("u", Target::room("r")))), 1);
    assert_eq!(reads(&|| assert!(!e.should_push("m", "r"))), 1);
    let members = ["a", "m", "n", "b"];
    assert_eq!(
        reads(&|| assert_eq!(e.push_targets("r", &members, Mentions::None).len(), 2)),
        1
    );
    assert_eq!(
        reads(&|| assert_eq!(e.push_targets("quiet", &members, Mentions::None).len(), 4)),
        0
    );
}

#[test]
fn remove_user_purges_every_trace() {
    let (e, _) = engine();
    e.mute_notifications("u", "r1").unwrap();
    e.mute_members("r2", ["u", "keep"], MuteFor::Forever)
        .unwrap();
    e.allow("r3", ["u"]).unwrap();
    e.set_module_mutes("u", ModuleChange::new().set(Module::P2p, true))
        .unwrap();
    assert!(e.remove_user("u").unwrap());
    assert!(e.muted_rooms("u").is_empty());
    assert!(e.push_targets("r1", &["u"], Mentions::None).len() == 1);
    assert_eq!(e.muted_members("r2").len(), 1);
    assert!(e.allow_list("r3").is_empty());
    assert!(e.module_status("u").is_clear());
    assert!(!e.remove_user("u").unwrap(), "nothing left");
    let stats = e.stats();
    assert_eq!((stats.users, stats.rooms, stats.member_mutes), (0, 1, 1));
    e.verify_consistency().unwrap();
}

#[test]
fn remove_room_purges_every_trace() {
    let (e, _) = engine();
    e.mute_notifications("u", "r").unwrap();
    e.mute_notifications("u", "other").unwrap();
    e.mute_members("r", ["v"], MuteFor::Forever).unwrap();
    e.mute_room("r", MuteFor::Forever).unwrap();
    e.allow("r", ["w"]).unwrap();
    assert!(e.remove_room("r").unwrap());
    assert_eq!(e.muted_rooms("u"), ["other"]);
    assert!(e.muted_members("r").is_empty() && e.allow_list("r").is_empty());
    assert_eq!(e.room_mute("r"), None);
    assert!(e.can_send("v", Target::room("r")));
    assert!(!e.remove_room("r").unwrap());
    e.verify_consistency().unwrap();
}

#[test]
fn stats_count_active_entries_of_each_kind() {
    let (e, clock) = engine();
    e.mute_notifications("u1", "r1").unwrap();
    e.set_notification_level("u2", "r1", NotifyLevel::Off, MuteFor::secs(1))
        .unwrap();
    e.mute_members("r1", ["a", "b"], MuteFor::Forever).unwrap();
    e.set_module_mutes(
        "u1",
        ModuleChange::new()
            .set(Module::P2p, true)
            .set(Module::Team, true),
    )
    .unwrap();
    e.mute_room("r2", MuteFor::Forever).unwrap();
    e.allow("r2", ["a", "b", "c"]).unwrap();
    let s = e.stats();
    assert_eq!(
        (
            s.notification_mutes,
            s.member_mutes,
            s.module_mutes,
            s.room_mutes,
            s.allow_entries
        ),
        (2, 2, 2, 1, 3)
    );
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(e.stats().notification_mutes, 1);
}

#[test]
fn bad_ids_are_typed_errors_naming_the_value_and_change_nothing() {
    let (e, _) = engine();
    let long = "é".repeat(60); // 120 bytes
    let cases: Vec<Result<(), Error>> = vec![
        e.mute_notifications("", "r"),
        e.mute_notifications("u", ""),
        e.mute_notifications(&long, "r"),
        e.unmute_notifications("u", &long),
        e.mute_members(&long, ["u"], MuteFor::Forever).map(drop),
        e.unmute_members("r", [""]).map(drop),
        e.mute_room("", MuteFor::Forever).map(drop),
        e.unmute_room(&long).map(drop),
        e.allow("r", [long.as_str()]),
        e.disallow("", ["u"]).map(drop),
        e.remove_user("").map(drop),
        e.remove_room(&long).map(drop),
    ];
    for result in cases {
        match result.unwrap_err() {
            Error::EmptyId { .. } => {}
            Error::IdTooLong { id, len, max, kind } => {
                assert_eq!((len, max), (120, 64));
                assert!(
                    id.starts_with("éé") && id.ends_with('…') && id.len() < 90,
                    "{id}"
                );
                assert!(matches!(kind, IdKind::User | IdKind::Room));
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(e.stats(), Stats::default());
    assert_eq!(
        Error::EmptyId { kind: IdKind::Room }.to_string(),
        "room id is empty"
    );
}

#[test]
fn checks_on_malformed_ids_answer_without_panicking() {
    let (e, _) = engine();
    let huge = "x".repeat(1 << 20);
    assert!(e.can_send("", Target::room("")));
    assert!(e.can_send(&huge, Target::room(&huge)));
    assert!(e.should_push(&huge, ""));
    assert!(e.muted_rooms(&huge).is_empty());
}

#[test]
fn limits_are_configurable() {
    let clock = ManualClock::new(T0);
    let limits = Limits::default()
        .with_max_id_len(std::num::NonZeroUsize::new(4).unwrap())
        .with_max_batch(std::num::NonZeroUsize::new(2).unwrap());
    let e = Engine::builder().clock(clock).limits(limits).build();
    assert!(e.mute_notifications("abcd", "r").is_ok());
    assert!(matches!(
        e.mute_notifications("abcde", "r"),
        Err(Error::IdTooLong { max: 4, .. })
    ));
    assert_eq!(
        e.mute_members("r", ["a", "b", "c"], MuteFor::Forever),
        Err(Error::BatchTooLarge { len: 3, max: 2 })
    );
}

#[test]
fn the_engine_works_the_same_with_any_shard_count() {
    for shards in [1, 2, 64] {
        let clock = ManualClock::new(T0);
        let e = Engine::builder().clock(clock).shards(shards).build();
        for i in 0..50 {
            e.mute_notifications(&format!("u{i}"), &format!("r{}", i % 7))
                .unwrap();
            e.mute_members(&format!("r{}", i % 5), [format!("u{i}")], MuteFor::Forever)
                .unwrap();
        }
        assert_eq!(e.stats().notification_mutes, 50);
        assert_eq!(e.stats().member_mutes, 50);
        assert!(!e.can_send("u7", Target::room("r2")));
        e.verify_consistency().unwrap();
    }
}

#[test]
fn the_engine_is_shared_across_threads_by_arc() {
    let (e, _) = engine();
    let e = Arc::new(e);
    let writer = {
        let e = Arc::clone(&e);
        std::thread::spawn(move || e.mute_members("r", ["u"], MuteFor::Forever).unwrap())
    };
    writer.join().unwrap();
    assert!(!e.can_send("u", Target::room("r")));
}
