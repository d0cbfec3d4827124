//! Action-scoped mutes: an unscoped mute blocks every action, a scoped one only its
//! scope; scopes show in listings and events, survive a restart, and bad scopes are
//! refused with nothing changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mutegate::{
    Action, Actions, DenyReason, Engine, Error, Event, Expiry, ManualClock, Module, ModuleChange,
    Mute, MuteFor, Role, Target,
};

const T0: u64 = 1_000_000;

fn engine() -> (Engine, ManualClock) {
    let clock = ManualClock::new(T0);
    (Engine::builder().clock(clock.clone()).build(), clock)
}

#[test]
fn an_unscoped_mute_blocks_every_action() {
    let (e, _) = engine();
    e.mute_members("r", ["bob"], MuteFor::Forever).unwrap();
    e.set_module_mutes("ann", ModuleChange::new().set(Module::P2p, true))
        .unwrap();
    e.mute_room("quiet", MuteFor::Forever).unwrap();
    for action in Action::ALL {
        assert!(!e.can_act("bob", Target::room("r"), action), "{action}");
        assert!(!e.can_act("ann", Target::p2p("x"), action), "{action}");
        assert!(!e.can_act("cat", Target::room("quiet"), action), "{action}");
        assert!(e.can_act("cat", Target::room("r"), action), "{action}");
    }
    assert_eq!(e.member_mute_actions("r", "bob"), Some(Actions::ALL));
    assert_eq!(e.room_mute_actions("quiet"), Some(Actions::ALL));
}

#[test]
fn a_scoped_mute_blocks_its_scope_only_and_a_new_mute_replaces_the_scope() {
    let (e, _) = engine();
    let scope = Actions::of([Action::React, Action::Edit]);
    e.mute_members_scoped("r", ["bob"], MuteFor::Forever, scope)
        .unwrap();
    for action in Action::ALL {
        let blocked = scope.contains(action);
        assert_eq!(
            e.can_act("bob", Target::room("r"), action),
            !blocked,
            "{action}"
        );
    }
    let denied = e
        .check_act_as("bob", Target::room("r"), Action::Edit, Role::Member)
        .unwrap_err();
    assert_eq!(denied.reason, DenyReason::MemberMuted);
    assert!(e.can_send("bob", Target::room("r")));
    // Re-muting without a scope widens it to every action; with one, narrows it again.
    e.mute_members("r", ["bob"], MuteFor::Forever).unwrap();
    assert!(!e.can_send("bob", Target::room("r")));
    assert_eq!(e.member_mute_actions("r", "bob"), Some(Actions::ALL));
    e.mute_members_scoped("r", ["bob"], MuteFor::Forever, Action::JoinVoice)
        .unwrap();
    assert!(e.can_act("bob", Target::room("r"), Action::React));
    assert!(!e.can_act("bob", Target::room("r"), Action::JoinVoice));
    assert_eq!(
        e.muted_members("r")[0].actions,
        Actions::only(Action::JoinVoice)
    );
    // Lifting and muting again starts unscoped.
    e.unmute_members("r", ["bob"]).unwrap();
    assert_eq!(e.member_mute_actions("r", "bob"), None);
    e.mute_members("r", ["bob"], MuteFor::Forever).unwrap();
    assert!(!e.can_act("bob", Target::room("r"), Action::React));
}

#[test]
fn module_and_room_scopes_combine_with_the_other_mutes() {
    let (e, clock) = engine();
    e.set_module_mutes(
        "ann",
        ModuleChange::new()
            .set(Module::Team, true)
            .lasting(MuteFor::millis(100))
            .only(Action::UploadMedia),
    )
    .unwrap();
    let status = e.module_status("ann");
    assert_eq!(
        status.actions(Module::Team),
        Some(Actions::only(Action::UploadMedia))
    );
    assert_eq!(status.actions(Module::P2p), None);
    assert!(e.can_send("ann", Target::team("t")));
    assert!(!e.can_act("ann", Target::team("t"), Action::UploadMedia));
    // A room-wide mute of threads: the allow list and exempt roles pass as for sends.
    e.mute_room_scoped("t", MuteFor::Forever, Action::StartThread)
        .unwrap();
    e.allow("t", ["vip"]).unwrap();
    let t = Target::team("t");
    assert!(!e.can_act("bob", t, Action::StartThread));
    assert!(e.can_act("vip", t, Action::StartThread));
    assert!(
        e.check_act_as("bob", t, Action::StartThread, Role::Admin)
            .is_ok()
    );
    assert!(e.can_act("bob", t, Action::UploadMedia));
    // A thread by ann: her module mute (uploads only) does not apply, the room's does.
    let denied = e
        .check_act_as("ann", t, Action::StartThread, Role::Member)
        .unwrap_err();
    assert_eq!(denied.reason, DenyReason::RoomMuted);
    clock.advance(Duration::from_millis(100));
    assert!(e.can_act("ann", t, Action::UploadMedia));
    assert_eq!(e.module_status("ann").actions(Module::Team), None);
}

#[test]
fn slow_mode_counts_messages_only() {
    let (e, _) = engine();
    e.set_slow_mode("r", Duration::from_secs(10)).unwrap();
    e.try_send("bob", Target::room("r")).unwrap();
    let denied = e.check_send("bob", Target::room("r")).unwrap_err();
    assert_eq!(denied.reason, DenyReason::SlowMode);
    for action in Action::ALL.into_iter().skip(1) {
        assert!(e.can_act("bob", Target::room("r"), action), "{action}");
    }
}

#[test]
fn events_carry_the_scope() {
    let (e, _) = engine();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    e.subscribe(move |ev: &Event| sink.lock().unwrap().push(ev.clone()));
    e.mute_members_scoped("r", ["bob"], MuteFor::Forever, Action::React)
        .unwrap();
    e.mute_room("r", MuteFor::Forever).unwrap();
    e.set_module_mutes(
        "bob",
        ModuleChange::new()
            .set(Module::QChat, true)
            .only(Actions::of([Action::Edit, Action::React])),
    )
    .unwrap();
    let events = seen.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            Event::Muted {
                mute: Mute::Member {
                    room: "r".into(),
                    user: "bob".into()
                },
                expiry: Expiry::Never,
                actions: Actions::only(Action::React),
            },
            Event::Muted {
                mute: Mute::Room { room: "r".into() },
                expiry: Expiry::Never,
                actions: Actions::ALL,
            },
            Event::Muted {
                mute: Mute::Module {
                    user: "bob".into(),
                    module: Module::QChat
                },
                expiry: Expiry::Never,
                actions: Actions::of([Action::React, Action::Edit]),
            },
        ]
    );
}

#[test]
fn an_empty_scope_is_refused_and_changes_nothing_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = || Engine::builder().open(dir.path()).unwrap();
    let e = open();
    e.mute_members_scoped("r", ["bob"], MuteFor::Forever, Action::Edit)
        .unwrap();
    let before = (e.stats(), e.muted_members("r"), e.room_mute("r"));
    let err = e
        .mute_members_scoped("r", ["bob"], MuteFor::Forever, Actions::NONE)
        .unwrap_err();
    assert!(matches!(err, Error::NoActionGiven));
    assert!(err.to_string().contains("empty action scope"), "{err}");
    assert!(matches!(
        e.mute_room_scoped("r", MuteFor::Forever, Actions::NONE),
        Err(Error::NoActionGiven)
    ));
    assert!(matches!(
        e.set_module_mutes(
            "bob",
            ModuleChange::new()
                .set(Module::P2p, true)
                .only(Actions::NONE)
        ),
        Err(Error::NoActionGiven)
    ));
    assert_eq!((e.stats(), e.muted_members("r"), e.room_mute("r")), before);
    drop(e);
    let e = open();
    assert_eq!((e.stats(), e.muted_members("r"), e.room_mute("r")), before);
    assert_eq!(
        e.member_mute_actions("r", "bob"),
        Some(Actions::only(Action::Edit))
    );
    assert!(e.module_status("bob").is_clear());
}

#[test]
fn unknown_action_names_are_typed_errors() {
    let err = "sing".parse::<Action>().unwrap_err();
    assert!(matches!(&err, Error::UnknownAction { name } if name == "sing"));
    assert!(err.to_string().contains("\"sing\""), "{err}");
    assert_eq!(
        "react, join_voice".parse::<Actions>().unwrap(),
        Actions::of([Action::React, Action::JoinVoice])
    );
}
