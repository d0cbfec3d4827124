//! NetEase Yunxin module mutes (seed 003): `muteModule` with four optional flags.

mod common;

use std::time::Duration;

use common::engine;
use mutegate::{DenyReason, Error, Expiry, Module, ModuleChange, MuteFor, Target};

fn target(module: Module) -> Target<'static> {
    match module {
        Module::P2p => Target::p2p("peer"),
        _ => Target::new(module, "room1"),
    }
}

#[test]
fn a_module_muted_account_cannot_send_in_that_module_anywhere() {
    let (e, _) = engine();
    e.set_module_mutes("123123", ModuleChange::new().set(Module::Team, true))
        .unwrap();
    for room in ["t1", "t2", "t3"] {
        let denied = e.check_send("123123", Target::team(room)).unwrap_err();
        assert_eq!(denied.reason, DenyReason::ModuleMuted(Module::Team));
        assert_eq!(denied.until, Expiry::Never);
    }
}

#[test]
fn each_flag_mutes_only_its_own_module() {
    for muted in Module::ALL {
        let (e, _) = engine();
        e.set_module_mutes("u", ModuleChange::new().set(muted, true))
            .unwrap();
        for m in Module::ALL {
            assert_eq!(
                e.can_send("u", target(m)),
                m != muted,
                "muted {muted:?}, sending in {m:?}"
            );
        }
    }
}

#[test]
fn receiving_and_pushes_are_unaffected() {
    let (e, _) = engine();
    let all = ModuleChange::new()
        .set(Module::P2p, true)
        .set(Module::Team, true)
        .set(Module::Room, true)
        .set(Module::QChat, true);
    e.set_module_mutes("u", all).unwrap();
    assert!(e.should_push("u", "room1"));
    assert!(
        e.can_send("other", Target::p2p("u")),
        "others may still message them"
    );
}

#[test]
fn a_change_that_names_no_module_is_414_and_changes_nothing() {
    let (e, _) = engine();
    e.set_module_mutes("u", ModuleChange::new().set(Module::Room, true))
        .unwrap();
    assert_eq!(
        e.set_module_mutes("u", ModuleChange::new()),
        Err(Error::NoModuleGiven)
    );
    assert!(e.module_status("u").is_muted(Module::Room));
}

#[test]
fn the_response_reports_all_four_modules() {
    let (e, _) = engine();
    // The seed's sample: only muteTeam ends up true.
    e.set_module_mutes("123123", ModuleChange::new().set(Module::P2p, true))
        .unwrap();
    let status = e
        .set_module_mutes(
            "123123",
            ModuleChange {
                p2p: Some(false),
                team: Some(true),
                room: Some(false),
                qchat: Some(false),
                ..ModuleChange::default()
            },
        )
        .unwrap();
    let flags: Vec<bool> = Module::ALL.iter().map(|&m| status.is_muted(m)).collect();
    assert_eq!(flags, [false, true, false, false]);
    assert_eq!(e.module_status("123123"), status);
}

#[test]
fn unspecified_flags_leave_their_module_as_it_was() {
    let (e, _) = engine();
    e.set_module_mutes("u", ModuleChange::new().set(Module::P2p, true))
        .unwrap();
    let status = e
        .set_module_mutes("u", ModuleChange::new().set(Module::QChat, true))
        .unwrap();
    assert!(status.is_muted(Module::P2p) && status.is_muted(Module::QChat));
    let status = e
        .set_module_mutes("u", ModuleChange::new().set(Module::P2p, false))
        .unwrap();
    assert!(!status.is_muted(Module::P2p) && status.is_muted(Module::QChat));
}

#[test]
fn a_timed_module_mute_ends_by_itself() {
    let (e, clock) = engine();
    let status = e
        .set_module_mutes(
            "u",
            ModuleChange::new()
                .set(Module::P2p, true)
                .lasting(MuteFor::secs(30)),
        )
        .unwrap();
    let end = status.expiry(Module::P2p).unwrap();
    assert_eq!(end, Expiry::At(common::T0 + 30_000));
    assert_eq!(e.check_send("u", Target::p2p("v")).unwrap_err().until, end);
    clock.advance(Duration::from_secs(30));
    assert!(e.can_send("u", Target::p2p("v")));
    assert!(e.module_status("u").is_clear());
}

#[test]
fn a_duration_on_a_change_that_mutes_nothing_is_refused() {
    let (e, _) = engine();
    let err = e
        .set_module_mutes(
            "u",
            ModuleChange::new()
                .set(Module::P2p, false)
                .lasting(MuteFor::secs(5)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCombination(_)));
}

#[test]
fn unmuting_every_module_leaves_no_state() {
    let (e, _) = engine();
    e.set_module_mutes("u", ModuleChange::new().set(Module::Team, true))
        .unwrap();
    e.set_module_mutes("u", ModuleChange::new().set(Module::Team, false))
        .unwrap();
    assert_eq!(e.stats().users, 0);
    assert_eq!(e.stats().module_mutes, 0);
}

#[test]
fn an_empty_or_over_long_accid_is_refused() {
    let (e, _) = engine();
    let change = ModuleChange::new().set(Module::P2p, true);
    assert!(matches!(
        e.set_module_mutes("", change),
        Err(Error::EmptyId { .. })
    ));
    let long = "a".repeat(65);
    let err = e.set_module_mutes(&long, change).unwrap_err();
    assert!(err.to_string().contains("65 bytes"), "{err}");
    assert_eq!(e.stats(), Default::default());
}
