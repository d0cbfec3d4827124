//! Agora Chat / Easemob chat room mute list, "mute all" and allow list (seed 004).

mod common;

use std::time::Duration;

use common::{T0, engine, engine_with_policy};
use mutegate::{AllowPolicy, DenyReason, Error, Expiry, MuteFor, MutedMember, Role, Target};

const ROOM: Target<'static> = Target::room("room1");

#[test]
fn a_muted_member_cannot_send_in_the_room() {
    let (e, _) = engine();
    e.mute_members("room1", ["user1"], MuteFor::millis(60_000))
        .unwrap();
    let denied = e.check_send("user1", ROOM).unwrap_err();
    assert_eq!(denied.reason, DenyReason::MemberMuted);
    assert_eq!(denied.until, Expiry::At(T0 + 60_000));
    assert!(e.can_send("user1", Target::room("room2")), "only that room");
    assert!(e.can_send("user2", ROOM), "only that member");
}

#[test]
fn mute_duration_is_milliseconds_from_now_and_ends_on_time() {
    let (e, clock) = engine();
    let expire = e
        .mute_members("room1", ["user1"], MuteFor::millis(1500))
        .unwrap();
    assert_eq!(expire, Expiry::At(T0 + 1500));
    clock.advance(Duration::from_millis(1499));
    assert!(!e.can_send("user1", ROOM));
    clock.advance(Duration::from_millis(1));
    assert!(e.can_send("user1", ROOM));
    assert!(e.muted_members("room1").is_empty());
}

#[test]
fn minus_one_is_forever() {
    let (e, clock) = engine();
    assert_eq!(
        e.mute_members("room1", ["user1"], MuteFor::Forever)
            .unwrap(),
        Expiry::Never
    );
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    assert_eq!(
        e.check_send("user1", ROOM).unwrap_err().until,
        Expiry::Never
    );
}

#[test]
fn a_batch_mutes_every_listed_member() {
    let (e, _) = engine();
    let users: Vec<String> = (0..60).map(|i| format!("user{i}")).collect();
    e.mute_members("room1", &users, MuteFor::Forever).unwrap();
    assert_eq!(e.muted_members("room1").len(), 60);
    assert!(users.iter().all(|u| !e.can_send(u, ROOM)));
}

#[test]
fn a_batch_with_one_bad_id_is_rejected_whole() {
    let (e, _) = engine();
    let long = "x".repeat(65);
    for bad in ["", long.as_str()] {
        let err = e
            .mute_members("room1", ["user1", bad, "user2"], MuteFor::Forever)
            .unwrap_err();
        assert!(
            matches!(err, Error::EmptyId { .. } | Error::IdTooLong { .. }),
            "{err}"
        );
        assert!(e.muted_members("room1").is_empty());
        assert!(e.can_send("user1", ROOM));
    }
}

#[test]
fn a_batch_over_the_limit_or_empty_is_rejected() {
    let (e, _) = engine();
    let users: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let err = e
        .mute_members("room1", &users, MuteFor::Forever)
        .unwrap_err();
    assert_eq!(
        err,
        Error::BatchTooLarge {
            len: 1001,
            max: 1000
        }
    );
    assert_eq!(
        e.mute_members("room1", Vec::<String>::new(), MuteFor::Forever),
        Err(Error::EmptyBatch)
    );
    assert_eq!(e.stats().rooms, 0);
}

#[test]
fn re_muting_overwrites_the_expiry_longer_or_shorter() {
    let (e, _) = engine();
    e.mute_members("room1", ["user1"], MuteFor::secs(60))
        .unwrap();
    e.mute_members("room1", ["user1"], MuteFor::secs(10))
        .unwrap();
    assert_eq!(
        e.member_mute("room1", "user1"),
        Some(Expiry::At(T0 + 10_000))
    );
    e.mute_members("room1", ["user1"], MuteFor::Forever)
        .unwrap();
    assert_eq!(e.member_mute("room1", "user1"), Some(Expiry::Never));
    assert_eq!(e.muted_members("room1").len(), 1);
}

#[test]
fn listing_returns_active_members_with_their_expire() {
    let (e, clock) = engine();
    e.mute_members("room1", ["user2"], MuteFor::secs(5))
        .unwrap();
    e.mute_members("room1", ["user1"], MuteFor::Forever)
        .unwrap();
    e.mute_members("room1", ["user3"], MuteFor::secs(1))
        .unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        e.muted_members("room1"),
        [
            MutedMember {
                user: "user1".into(),
                expiry: Expiry::Never,
                actions: mutegate::Actions::ALL,
                trail: None,
            },
            MutedMember {
                user: "user2".into(),
                expiry: Expiry::At(T0 + 5_000),
                actions: mutegate::Actions::ALL,
                trail: None,
            },
        ]
    );
}

#[test]
fn unmuting_lets_the_members_speak_and_counts_who_was_muted() {
    let (e, _) = engine();
    e.mute_members("room1", ["user1", "user2", "user3"], MuteFor::Forever)
        .unwrap();
    assert_eq!(
        e.unmute_members("room1", ["user1", "user2", "user1", "nobody"])
            .unwrap(),
        2
    );
    assert!(e.can_send("user1", ROOM) && e.can_send("user2", ROOM));
    assert!(!e.can_send("user3", ROOM));
}

#[test]
fn a_zero_or_overflowing_duration_is_refused() {
    let (e, _) = engine();
    let err = e
        .mute_members("room1", ["user1"], MuteFor::millis(0))
        .unwrap_err();
    assert!(matches!(err, Error::ZeroDuration { .. }));
    let err = e
        .mute_members("room1", ["user1"], MuteFor::For(Duration::from_micros(999)))
        .unwrap_err();
    assert!(matches!(err, Error::ZeroDuration { .. }), "under 1 ms");
    let err = e
        .mute_members("room1", ["user1"], MuteFor::millis(u64::MAX))
        .unwrap_err();
    assert!(matches!(err, Error::DurationOverflow { .. }));
    assert!(err.to_string().contains(&u64::MAX.to_string()), "{err}");
    let err = e
        .mute_room("room1", MuteFor::For(Duration::MAX))
        .unwrap_err();
    assert!(matches!(err, Error::DurationOverflow { .. }));
    assert_eq!(e.stats().rooms, 0);
}

#[test]
fn leaving_and_rejoining_does_not_lift_a_mute() {
    // Mutes are keyed by room and user: the engine has no membership to forget.
    let (e, _) = engine();
    e.mute_members("room1", ["user1"], MuteFor::Forever)
        .unwrap();
    let members = ["user2"]; // user1 left...
    let _ = e.push_targets("room1", &members, mutegate::Mentions::None);
    assert!(!e.can_send("user1", ROOM), "...and came back, still muted");
}

#[test]
fn mute_all_lets_only_the_allow_list_speak() {
    let (e, _) = engine();
    e.allow("room1", ["user1"]).unwrap();
    let expire = e.mute_room("room1", MuteFor::secs(60)).unwrap();
    assert_eq!(e.room_mute("room1"), Some(expire));
    assert!(e.can_send("user1", ROOM));
    let denied = e.check_send("user2", ROOM).unwrap_err();
    assert_eq!(
        (denied.reason, denied.until),
        (DenyReason::RoomMuted, expire)
    );
}

#[test]
fn mute_all_has_no_connection_with_the_mute_list() {
    let (e, _) = engine();
    e.mute_members("room1", ["user1"], MuteFor::Forever)
        .unwrap();
    e.mute_room("room1", MuteFor::Forever).unwrap();
    assert_eq!(
        e.muted_members("room1").len(),
        1,
        "muting all adds nobody to the list"
    );
    assert!(e.unmute_room("room1").unwrap());
    assert!(
        !e.can_send("user1", ROOM),
        "unmuting all does not lift member mutes"
    );
    assert!(e.can_send("user2", ROOM));
    assert!(!e.unmute_room("room1").unwrap(), "was not muted any more");
    e.mute_room("room1", MuteFor::Forever).unwrap();
    e.unmute_members("room1", ["user1"]).unwrap();
    assert_eq!(e.room_mute("room1"), Some(Expiry::Never), "and vice versa");
}

#[test]
fn an_individually_muted_member_stays_muted_on_the_allow_list_by_default() {
    let (e, _) = engine();
    e.allow("room1", ["user1"]).unwrap();
    e.mute_members("room1", ["user1"], MuteFor::Forever)
        .unwrap();
    assert_eq!(
        e.check_send("user1", ROOM).unwrap_err().reason,
        DenyReason::MemberMuted
    );
    e.mute_room("room1", MuteFor::Forever).unwrap();
    assert_eq!(
        e.check_send("user1", ROOM).unwrap_err().reason,
        DenyReason::MemberMuted
    );
}

#[test]
fn with_allow_list_wins_the_allow_list_lifts_a_member_mute() {
    let (e, _) = engine_with_policy(AllowPolicy::AllowListWins);
    e.allow("room1", ["user1"]).unwrap();
    e.mute_members("room1", ["user1", "user2"], MuteFor::Forever)
        .unwrap();
    e.mute_room("room1", MuteFor::Forever).unwrap();
    assert!(e.can_send("user1", ROOM));
    assert_eq!(
        e.check_send("user2", ROOM).unwrap_err().reason,
        DenyReason::MemberMuted
    );
}

#[test]
fn owner_and_admin_may_speak_through_mute_all_by_default() {
    let (e, _) = engine();
    e.mute_room("room1", MuteFor::Forever).unwrap();
    assert!(e.check_send_as("o", ROOM, Role::Owner).is_ok());
    assert!(e.check_send_as("a", ROOM, Role::Admin).is_ok());
    assert!(e.check_send_as("m", ROOM, Role::Member).is_err());
    // Exemption is from the room-wide mute only, not from an individual mute.
    e.mute_members("room1", ["a"], MuteFor::Forever).unwrap();
    assert!(e.check_send_as("a", ROOM, Role::Admin).is_err());
}

#[test]
fn exempt_roles_are_configurable() {
    let clock = mutegate::ManualClock::new(T0);
    let e = mutegate::Engine::builder()
        .clock(clock)
        .exempt_roles([Role::Owner])
        .build();
    e.mute_room("room1", MuteFor::Forever).unwrap();
    assert!(e.check_send_as("o", ROOM, Role::Owner).is_ok());
    assert!(e.check_send_as("a", ROOM, Role::Admin).is_err());
}

#[test]
fn allow_list_add_remove_and_list() {
    let (e, _) = engine();
    e.allow("room1", ["user2", "user1", "user2"]).unwrap();
    assert_eq!(e.allow_list("room1"), ["user1", "user2"]);
    assert_eq!(e.disallow("room1", ["user2", "user3"]).unwrap(), 1);
    assert_eq!(e.allow_list("room1"), ["user1"]);
    e.mute_room("room1", MuteFor::Forever).unwrap();
    assert!(!e.can_send("user2", ROOM));
}

#[test]
fn a_timed_mute_all_ends_by_itself() {
    let (e, clock) = engine();
    e.mute_room("room1", MuteFor::secs(1)).unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(e.can_send("user1", ROOM));
    assert_eq!(e.room_mute("room1"), None);
    assert!(!e.unmute_room("room1").unwrap());
}
