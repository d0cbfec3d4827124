//! Slow mode: the counting check under threads, the cooldown's bounds, who is exempt,
//! and soft state forgotten on restart while the setting survives.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{T0, engine};
use mutegate::{DenyReason, Error, Expiry, ManualClock, MuteFor, Role, Target};

/// Four threads send as the same few members into one slow-mode room while a fifth
/// moves the clock; every admitted send is recorded with the time it was judged at.
/// No member may have two admitted sends closer than the cooldown.
#[test]
fn four_threads_never_get_a_member_two_messages_within_the_cooldown() {
    const COOLDOWN: u64 = 1_000;
    let (e, clock) = engine();
    e.set_slow_mode("r", Duration::from_millis(COOLDOWN))
        .unwrap();
    let admitted: Mutex<Vec<(usize, u64)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let tries = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (e, clock, admitted, stop, tries) = (&e, &clock, &admitted, &stop, &tries);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let member = i % 3;
                    // The time is read once and the check made at it, so the record
                    // says exactly when the engine judged the send.
                    let now = mutegate::Clock::now_ms(clock);
                    if e.at(now)
                        .try_send(&format!("m{member}"), Target::room("r"))
                        .is_ok()
                    {
                        admitted.lock().unwrap().push((member, now));
                    }
                    tries.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        let _stop = common::StopOnDrop(&stop);
        // The clock moves only as the senders make progress, so each tick sees tries.
        for _ in 0..2_000 {
            let seen = tries.load(Ordering::Relaxed);
            while tries.load(Ordering::Relaxed) < seen + 8 {
                std::thread::yield_now();
            }
            clock.advance(Duration::from_millis(7));
        }
    });
    let mut admitted = admitted.into_inner().unwrap();
    admitted.sort();
    for pair in admitted.windows(2) {
        let ((a, t1), (b, t2)) = (pair[0], pair[1]);
        if a == b {
            assert!(t2 - t1 >= COOLDOWN, "m{a} admitted at {t1} and {t2}");
        }
    }
    // 14 s of clock, three members: about 14 sends each got through, out of many tries.
    assert!(admitted.len() >= 3 * 10, "{} admitted", admitted.len());
    assert!(tries.load(Ordering::Relaxed) > admitted.len() as u64 * 2);
}

#[test]
fn exempt_roles_and_the_allow_list_are_not_slowed_and_checks_do_not_count() {
    let (e, clock) = engine();
    e.set_slow_mode("r", Duration::from_secs(5)).unwrap();
    e.allow("r", ["vip"]).unwrap();
    for _ in 0..3 {
        assert!(e.try_send("vip", Target::room("r")).is_ok());
        assert!(e.try_send_as("mod", Target::room("r"), Role::Admin).is_ok());
        // can_send and check_send never count a send.
        assert!(e.can_send("ann", Target::room("r")));
    }
    assert!(e.try_send("ann", Target::room("r")).is_ok());
    let denied = e.check_send("ann", Target::room("r")).unwrap_err();
    assert_eq!(
        (denied.reason, denied.until),
        (DenyReason::SlowMode, Expiry::At(T0 + 5_000))
    );
    // A send refused for another reason is not counted either.
    e.mute_members("r", ["bob"], MuteFor::secs(1)).unwrap();
    assert_eq!(
        e.try_send("bob", Target::room("r")).unwrap_err().reason,
        DenyReason::MemberMuted
    );
    clock.advance(Duration::from_secs(1));
    assert!(e.try_send("bob", Target::room("r")).is_ok());
    // Other rooms and p2p are not slowed.
    assert!(e.try_send("ann", Target::room("other")).is_ok());
    assert!(e.try_send("ann", Target::p2p("bob")).is_ok());
    // Lifting slow mode forgets the sends.
    assert!(e.clear_slow_mode("r").unwrap());
    assert!(!e.clear_slow_mode("r").unwrap());
    assert!(e.try_send("ann", Target::room("r")).is_ok());
    assert!(e.try_send("ann", Target::room("r")).is_ok());
}

#[test]
fn cooldowns_out_of_range_are_refused_by_value_and_change_nothing() {
    let (e, _) = engine();
    e.set_slow_mode("r", Duration::from_secs(30)).unwrap();
    for bad in [0, 999, 6 * 3_600_000 + 1] {
        let err = e
            .set_slow_mode("r", Duration::from_millis(bad))
            .unwrap_err();
        assert_eq!(
            err,
            Error::CooldownOutOfRange {
                cooldown_ms: bad,
                min_ms: 1_000,
                max_ms: 21_600_000
            }
        );
        assert!(err.to_string().contains(&format!("{bad} ms")), "{err}");
    }
    assert_eq!(e.slow_mode("r"), Some(Duration::from_secs(30)));
}

#[test]
fn a_restart_forgets_who_sent_when_but_keeps_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let open = || common::durable(dir.path(), &clock);
    let e = open();
    e.set_slow_mode("r", Duration::from_secs(60)).unwrap();
    assert!(e.try_send("ann", Target::room("r")).is_ok());
    assert!(e.try_send("ann", Target::room("r")).is_err());
    drop(e);
    let e = open();
    assert_eq!(e.slow_mode("r"), Some(Duration::from_secs(60)));
    // As documented: the last sends were soft state, so ann may send at once.
    assert!(e.try_send("ann", Target::room("r")).is_ok());
    assert!(e.try_send("ann", Target::room("r")).is_err());
}

/// A member who has sent in a slow-mode room is judged again from the room after any
/// change to what gates sends there: every change below is made between two of ann's
/// sends, and the next send answers as the room now says.
#[test]
fn every_change_to_the_room_is_seen_by_the_next_send_of_a_member_who_sent_before() {
    let (e, clock) = engine();
    let room = || Target::room("r");
    let wait = |s| clock.advance(Duration::from_secs(s));
    e.set_slow_mode("r", Duration::from_secs(5)).unwrap();
    assert!(e.try_send("ann", room()).is_ok());
    // As an exempt role she is not slowed (and not counted).
    assert!(e.try_send_as("ann", room(), Role::Admin).is_ok());
    // A longer cooldown holds from the last send.
    e.set_slow_mode("r", Duration::from_secs(30)).unwrap();
    wait(10);
    let denied = e.try_send("ann", room()).unwrap_err();
    assert_eq!(
        (denied.reason, denied.until),
        (DenyReason::SlowMode, Expiry::At(T0 + 30_000))
    );
    // A shorter one lets her send at once.
    e.set_slow_mode("r", Duration::from_secs(5)).unwrap();
    assert!(e.try_send("ann", room()).is_ok());
    // A room-wide mute.
    wait(10);
    e.mute_room("r", MuteFor::Forever).unwrap();
    assert_eq!(
        e.try_send("ann", room()).unwrap_err().reason,
        DenyReason::RoomMuted
    );
    // The allow list lifts the room mute and slow mode alike.
    e.allow("r", ["ann"]).unwrap();
    assert!(e.try_send("ann", room()).is_ok());
    assert!(e.try_send("ann", room()).is_ok());
    e.disallow("r", ["ann"]).unwrap();
    e.unmute_room("r").unwrap();
    // Back to slow mode alone: her sends while allowed were not counted.
    assert!(e.try_send("ann", room()).is_ok());
    assert!(e.try_send("ann", room()).is_err());
    // A module mute.
    wait(10);
    e.set_module_mutes(
        "ann",
        mutegate::ModuleChange::new().set(mutegate::Module::Room, true),
    )
    .unwrap();
    assert_eq!(
        e.try_send("ann", room()).unwrap_err().reason,
        DenyReason::ModuleMuted(mutegate::Module::Room)
    );
    e.set_module_mutes(
        "ann",
        mutegate::ModuleChange::new().set(mutegate::Module::Room, false),
    )
    .unwrap();
    assert!(e.try_send("ann", room()).is_ok());
    // A member mute.
    wait(10);
    e.mute_members("r", ["ann"], MuteFor::secs(1)).unwrap();
    assert_eq!(
        e.try_send("ann", room()).unwrap_err().reason,
        DenyReason::MemberMuted
    );
    wait(1);
    assert!(e.try_send("ann", room()).is_ok());
    // Removing the room forgets its slow mode.
    e.remove_room("r").unwrap();
    assert!(e.try_send("ann", room()).is_ok());
    assert!(e.try_send("ann", room()).is_ok());
}
