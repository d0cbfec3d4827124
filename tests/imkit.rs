//! IMKit notification mutes (seeds 000, 001, 002): mute, unmute, the `mute` array.

mod common;

use std::time::Duration;

use common::engine;
use mutegate::{Error, Mentions, MuteFor, NotifyLevel, Target};

#[test]
fn muting_adds_the_room_to_the_users_mute_list() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    assert_eq!(e.muted_rooms("aaa"), ["demo"]);
}

#[test]
fn muting_twice_keeps_one_entry() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    e.mute_notifications("aaa", "demo").unwrap();
    assert_eq!(e.muted_rooms("aaa"), ["demo"]);
    assert_eq!(e.stats().notification_mutes, 1);
}

#[test]
fn mute_list_is_oldest_first_and_a_repeat_mute_keeps_its_place() {
    let (e, _) = engine();
    for room in ["r3", "r1", "r2"] {
        e.mute_notifications("aaa", room).unwrap();
    }
    e.mute_notifications("aaa", "r3").unwrap();
    assert_eq!(e.muted_rooms("aaa"), ["r3", "r1", "r2"]);
}

#[test]
fn the_later_mute_call_sets_level_and_expiry() {
    let (e, clock) = engine();
    e.set_notification_level("aaa", "demo", NotifyLevel::MentionsOnly, MuteFor::hours(1))
        .unwrap();
    e.mute_notifications("aaa", "demo").unwrap();
    assert_eq!(e.notification_level("aaa", "demo"), NotifyLevel::Off);
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(
        e.notification_level("aaa", "demo"),
        NotifyLevel::Off,
        "the later call was forever"
    );
}

#[test]
fn muting_stops_pushes_but_not_participation() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    assert!(!e.should_push("aaa", "demo"));
    assert!(
        !e.should_push_mentioned("aaa", "demo", true),
        "Off beats mentions"
    );
    assert!(e.can_send("aaa", Target::room("demo")));
    assert!(e.can_send("aaa", Target::team("demo")));
}

#[test]
fn muting_only_affects_that_user_and_that_room() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    assert!(e.should_push("bbb", "demo"));
    assert!(e.should_push("aaa", "other"));
    let members = ["aaa", "bbb"];
    assert_eq!(e.push_targets("demo", &members, Mentions::None), [&"bbb"]);
}

#[test]
fn the_mute_setting_is_persistent_until_cancelled() {
    let (e, clock) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert_eq!(e.muted_rooms("aaa"), ["demo"]);
    assert!(!e.should_push("aaa", "demo"));
}

#[test]
fn unmuting_removes_the_room_and_restores_pushes() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    e.mute_notifications("aaa", "other").unwrap();
    e.unmute_notifications("aaa", "demo").unwrap();
    assert_eq!(e.muted_rooms("aaa"), ["other"]);
    assert!(e.should_push("aaa", "demo"));
}

#[test]
fn unmuting_every_room_leaves_an_empty_array() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    e.unmute_notifications("aaa", "demo").unwrap();
    assert!(e.muted_rooms("aaa").is_empty());
    assert_eq!(e.stats().users, 0, "no empty entry is kept");
}

#[test]
fn unmuting_a_room_not_muted_is_room_not_muted_and_changes_nothing() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "other").unwrap();
    let err = e.unmute_notifications("aaa", "demo").unwrap_err();
    assert_eq!(
        err,
        Error::NotMuted {
            user: "aaa".into(),
            room: "demo".into()
        }
    );
    assert!(err.to_string().contains("\"demo\"") && err.to_string().contains("\"aaa\""));
    assert_eq!(e.muted_rooms("aaa"), ["other"]);
}

#[test]
fn an_expired_timed_mute_reads_as_absent_at_once() {
    let (e, clock) = engine();
    e.set_notification_level("aaa", "demo", NotifyLevel::Off, MuteFor::hours(8))
        .unwrap();
    clock.advance(Duration::from_millis(8 * 3600 * 1000 - 1));
    assert_eq!(e.muted_rooms("aaa"), ["demo"]);
    clock.advance(Duration::from_millis(1));
    assert!(e.muted_rooms("aaa").is_empty());
    assert!(e.should_push("aaa", "demo"));
    assert!(matches!(
        e.unmute_notifications("aaa", "demo"),
        Err(Error::NotMuted { .. })
    ));
}

#[test]
fn re_muting_after_expiry_moves_the_room_to_the_end() {
    let (e, clock) = engine();
    e.set_notification_level("aaa", "r1", NotifyLevel::Off, MuteFor::secs(1))
        .unwrap();
    e.mute_notifications("aaa", "r2").unwrap();
    clock.advance(Duration::from_secs(1));
    e.mute_notifications("aaa", "r1").unwrap();
    assert_eq!(e.muted_rooms("aaa"), ["r2", "r1"]);
}

#[test]
fn a_user_muting_a_room_for_themself_is_the_same_mute() {
    // Seed 002 (`POST /me/mute/:room`) and seed 000 (admin) change the same list.
    let (e, _) = engine();
    e.mute_notifications("1485248560558", "58871b877390be11d5f1ab30")
        .unwrap();
    assert_eq!(e.muted_rooms("1485248560558"), ["58871b877390be11d5f1ab30"]);
}

#[test]
fn mentions_only_lets_mentions_through() {
    let (e, _) = engine();
    e.set_notification_level("aaa", "demo", NotifyLevel::MentionsOnly, MuteFor::Forever)
        .unwrap();
    assert!(!e.should_push("aaa", "demo"));
    assert!(e.should_push_mentioned("aaa", "demo", true));
    assert_eq!(
        e.muted_rooms("aaa"),
        ["demo"],
        "a non-default level is listed"
    );
}

#[test]
fn setting_level_all_restores_the_default() {
    let (e, _) = engine();
    e.mute_notifications("aaa", "demo").unwrap();
    e.set_notification_level("aaa", "demo", NotifyLevel::All, MuteFor::Forever)
        .unwrap();
    assert!(e.muted_rooms("aaa").is_empty());
    // Level All with a duration means nothing.
    let err = e
        .set_notification_level("aaa", "demo", NotifyLevel::All, MuteFor::hours(1))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCombination(_)));
}
