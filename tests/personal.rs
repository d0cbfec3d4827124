//! A user's own push rules through the public API: the precedence table, events (and
//! their absence when a window opens or closes), sender mutes when either side is
//! removed, typed errors that change nothing, and everything surviving a reopen.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{T0, engine};
use mutegate::{
    Bypass, Engine, Error, Event, Expiry, ManualClock, Mentions, Message, Mute, MuteFor,
    NotifyLevel, Schedule, Window,
};

const HOUR: u64 = 3_600_000;

fn events(e: &Engine) -> Arc<Mutex<Vec<Event>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    e.subscribe(move |ev| sink.lock().unwrap().push(ev.clone()));
    seen
}

/// T0 is Tuesday 2023-11-14 22:13:20 UTC; this window holds it.
fn tuesday_night() -> Schedule {
    Schedule::new("UTC", ["tue 22:00-23:00".parse::<Window>().unwrap()]).unwrap()
}

#[test]
fn precedence_table() {
    use NotifyLevel::*;
    // (level, mention: 0 none / 1 direct / 2 room-wide, room-wide counts, sender muted,
    //  quiet, bypass mentions, urgent message + bypass urgent) -> push
    type Row = (NotifyLevel, u8, bool, bool, bool, bool, bool, bool);
    let rows: &[Row] = &[
        (All, 0, true, false, false, false, false, true),
        (All, 2, false, false, false, false, false, true),
        (MentionsOnly, 0, true, false, false, false, false, false),
        (MentionsOnly, 1, true, false, false, false, false, true),
        (MentionsOnly, 2, true, false, false, false, false, true),
        (MentionsOnly, 2, false, false, false, false, false, false),
        (DirectMentions, 2, true, false, false, false, false, false),
        (DirectMentions, 1, true, false, false, false, false, true),
        (Off, 1, true, false, false, false, false, false),
        (Off, 1, true, false, true, true, true, false),
        (All, 0, true, true, false, false, false, false),
        (All, 1, true, true, false, true, true, false),
        (All, 0, true, false, true, false, false, false),
        (All, 1, true, false, true, false, false, false),
        (All, 1, true, false, true, true, false, true),
        (All, 2, true, false, true, true, false, false),
        (All, 0, true, false, true, false, true, true),
        (MentionsOnly, 2, true, false, true, true, false, false),
        (MentionsOnly, 2, true, false, true, false, true, true),
    ];
    for (i, &(level, mention, counts, muted, quiet, by_mention, urgent, want)) in
        rows.iter().enumerate()
    {
        let (e, _) = engine();
        let room = format!("r{i}");
        if level != All {
            e.set_notification_level("ann", &room, level, MuteFor::Forever)
                .unwrap();
        }
        e.set_room_mentions(&room, counts).unwrap();
        if muted {
            e.mute_sender("ann", "bob", MuteFor::Forever).unwrap();
        }
        if quiet {
            e.set_quiet_hours("ann", tuesday_night()).unwrap();
        }
        e.set_bypass(
            "ann",
            Bypass {
                mentions: by_mention,
                urgent,
            },
        )
        .unwrap();
        let ann = ["ann"];
        let mut msg = Message::new().sent_by("bob");
        msg = match mention {
            1 => msg.mentioning(&ann),
            2 => msg.mentioning_everyone(),
            _ => msg,
        };
        if urgent {
            msg = msg.urgent();
        }
        assert_eq!(
            e.should_push_message("ann", &room, &msg),
            want,
            "row {i}: {:?}",
            rows[i]
        );
        let targets = e.push_targets_for(&room, &["ann", "cat"], &msg);
        assert_eq!(targets.contains(&&"ann"), want, "row {i} in bulk");
        assert!(targets.contains(&&"cat"), "row {i}: a member without rules");
    }
}

#[test]
fn window_boundaries_are_time_not_events() {
    let (e, clock) = engine();
    let seen = events(&e);
    e.set_quiet_hours("ann", tuesday_night()).unwrap();
    assert!(matches!(
        &seen.lock().unwrap()[..],
        [Event::QuietHoursChanged { user, schedule: Some(_) }] if user == "ann"
    ));
    assert!(!e.should_push("ann", "r"));
    // 22:13:20 -> 23:00 ends the window; a sweep on either side says nothing.
    clock.advance(Duration::from_millis(46 * 60_000 + 40_000 - 1));
    assert!(!e.should_push("ann", "r"));
    e.sweep();
    clock.advance(Duration::from_millis(1));
    assert!(e.should_push("ann", "r"));
    e.sweep();
    assert_eq!(seen.lock().unwrap().len(), 1, "{:?}", seen.lock().unwrap());
    // The same schedule again is no change; clearing is one.
    e.set_quiet_hours("ann", tuesday_night()).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(e.clear_quiet_hours("ann").unwrap());
    assert!(!e.clear_quiet_hours("ann").unwrap());
    assert!(matches!(
        seen.lock().unwrap().last(),
        Some(Event::QuietHoursChanged { schedule: None, .. })
    ));
}

#[test]
fn snoozes_and_sender_mutes_end_with_events() {
    let (e, clock) = engine();
    let seen = events(&e);
    e.snooze_until("ann", Expiry::At(T0 + 1_000)).unwrap();
    e.mute_sender("ann", "bob", MuteFor::millis(500)).unwrap();
    e.set_room_mentions("r", false).unwrap();
    e.set_bypass(
        "ann",
        Bypass {
            mentions: true,
            urgent: false,
        },
    )
    .unwrap();
    clock.advance(Duration::from_millis(1_000));
    assert_eq!(e.sweep(), 2);
    let got = seen.lock().unwrap().clone();
    let snooze = Mute::Snooze { user: "ann".into() };
    let sender = Mute::Sender {
        user: "ann".into(),
        sender: "bob".into(),
    };
    assert_eq!(
        got[..4],
        [
            Event::Muted {
                mute: snooze.clone(),
                expiry: Expiry::At(T0 + 1_000),
                actions: mutegate::Actions::ALL,
            },
            Event::Muted {
                mute: sender.clone(),
                expiry: Expiry::At(T0 + 500),
                actions: mutegate::Actions::ALL,
            },
            Event::RoomMentionsChanged {
                room: "r".into(),
                notify: false
            },
            Event::BypassChanged {
                user: "ann".into(),
                bypass: Bypass {
                    mentions: true,
                    urgent: false
                }
            },
        ]
    );
    let mut expired: Vec<_> = got[4..].to_vec();
    expired.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        expired,
        [
            Event::Expired {
                mute: sender,
                at_ms: T0 + 500
            },
            Event::Expired {
                mute: snooze,
                at_ms: T0 + 1_000
            },
        ]
    );
    assert!(!e.unsnooze("ann").unwrap());
    assert!(!e.unmute_sender("ann", "bob").unwrap());
}

#[test]
fn removing_a_sender_lifts_every_mute_of_them_and_frees_their_id() {
    let (e, _) = engine();
    for u in ["ann", "cat", "dan"] {
        e.mute_sender(u, "bob", MuteFor::Forever).unwrap();
    }
    e.mute_sender("bob", "ann", MuteFor::Forever).unwrap();
    assert_eq!(e.stats().sender_mutes, 4);
    assert!(e.remove_user("bob").unwrap());
    for u in ["ann", "cat", "dan"] {
        assert!(e.muted_senders(u).is_empty(), "{u}");
        assert!(e.should_push_message(u, "r", &Message::new().sent_by("bob")));
    }
    assert_eq!(e.stats().sender_mutes, 0);
    assert_eq!(e.stats().users, 0);
    assert_eq!(e.stats().interned_ids, 0);
    e.verify_consistency().unwrap();
}

#[test]
fn bad_input_is_refused_by_name_and_changes_nothing_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let open = || common::durable(dir.path(), &clock);
    let e = open();
    e.set_quiet_hours("ann", tuesday_night()).unwrap();
    e.snooze_until("ann", Expiry::At(T0 + HOUR)).unwrap();
    let before = e.quiet_hours("ann");
    let err = e.snooze_until("ann", Expiry::At(T0)).unwrap_err();
    assert_eq!(
        err,
        Error::SnoozeInPast {
            until_ms: T0,
            now_ms: T0
        }
    );
    assert_eq!(
        err.to_string(),
        format!("snooze until {T0} ms is not after now ({T0} ms)")
    );
    let err = Schedule::new("Europe/Atlantis", []).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown time zone \"Europe/Atlantis\" (expected an IANA name such as \"Europe/Berlin\")"
    );
    let err = "mon 07:00-07:00".parse::<Window>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid quiet-hours window \"mon 07:00-07:00\": it ends when it starts"
    );
    assert!(matches!(
        e.set_quiet_hours("", tuesday_night()),
        Err(Error::EmptyId { .. })
    ));
    assert!(matches!(
        e.mute_sender("ann", "bob", MuteFor::millis(0)),
        Err(Error::ZeroDuration { .. })
    ));
    assert_eq!(e.quiet_hours("ann"), before);
    assert!(e.muted_senders("ann").is_empty());
    drop(e);
    let e = open();
    assert_eq!(e.quiet_hours("ann"), before);
    assert!(e.muted_senders("ann").is_empty());
}

#[test]
fn everything_survives_a_reopen_and_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let open = |dir: &std::path::Path| common::durable(dir, &clock);
    let e = open(dir.path());
    e.set_quiet_hours("ann", tuesday_night()).unwrap();
    e.snooze_until("cat", Expiry::Never).unwrap();
    e.set_bypass(
        "cat",
        Bypass {
            mentions: false,
            urgent: true,
        },
    )
    .unwrap();
    e.mute_sender("dan", "bob", MuteFor::hours(1)).unwrap();
    e.mute_sender("dan", "ann", MuteFor::Forever).unwrap();
    e.set_room_mentions("r", false).unwrap();
    e.set_notification_level("dan", "r", NotifyLevel::DirectMentions, MuteFor::Forever)
        .unwrap();
    let observe = |e: &Engine| {
        let members = ["ann", "bob", "cat", "dan"];
        let msgs = [
            Message::new(),
            Message::new().sent_by("bob").mentioning(&["dan"]),
            Message::new().mentioning_everyone().urgent(),
            Message::from(Mentions::Everyone),
        ];
        let targets: Vec<Vec<&&str>> = msgs
            .iter()
            .map(|m| e.push_targets_for("r", &members, m))
            .collect();
        format!(
            "{:?} {:?} {:?} {:?} {:?} {}",
            targets,
            e.quiet_hours("ann"),
            e.quiet_hours("cat"),
            e.muted_senders("dan"),
            e.stats(),
            e.room_mentions("r")
        )
    };
    let want = observe(&e);
    let mut snapshot = Vec::new();
    e.snapshot(&mut snapshot).unwrap();
    drop(e);
    let e = open(dir.path());
    assert_eq!(observe(&e), want);
    let other = tempfile::tempdir().unwrap();
    let restored = open(other.path());
    restored.restore(&mut snapshot.as_slice()).unwrap();
    assert_eq!(observe(&restored), want);
    let mut again = Vec::new();
    restored.snapshot(&mut again).unwrap();
    assert_eq!(
        again, snapshot,
        "the same state gives the same snapshot bytes"
    );
}

/// Writers add and drop rules of many users (every index shard copied on write while
/// fan-outs hold snapshots) while readers fan out: members whose rules never change are
/// always judged by them, never by a neighbour's.
#[test]
fn fan_outs_under_concurrent_rule_writers_see_every_stable_rule() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (e, _) = engine();
    let stable: Vec<String> = (0..200).map(|i| format!("stable{i}")).collect();
    let snoozed: Vec<String> = (0..50).map(|i| format!("snoozed{i}")).collect();
    for u in &snoozed {
        e.snooze_until(u, Expiry::Never).unwrap();
    }
    let members: Vec<&str> = stable.iter().chain(&snoozed).map(String::as_str).collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2 {
            let (e, stop) = (&e, &stop);
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let u = format!("churn{t}-{}", i % 500);
                    if i.is_multiple_of(2) {
                        e.set_quiet_hours(&u, tuesday_night()).unwrap();
                        e.mute_sender(&u, "bob", MuteFor::Forever).unwrap();
                    } else {
                        e.remove_user(&u).unwrap();
                    }
                    i += 1;
                }
            });
        }
        let _stop = common::StopOnDrop(&stop);
        for _ in 0..2_000 {
            let got = e.push_targets_for("r", &members, &Message::new().sent_by("bob"));
            assert_eq!(got.len(), stable.len());
            assert!(got.iter().all(|m| m.starts_with("stable")));
        }
    });
    e.verify_consistency().unwrap();
}
