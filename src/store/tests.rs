//! The tables under an interleaving a reader can meet: a sender resolved to a handle,
//! then the sender's id given back and its slot taken by another id that is muted or
//! allow-listed, then the room read with the old handle.

use crate::decide::SendFacts;
use crate::engine::Engine;
use crate::expiry::NONE;
use crate::ids::Handle;
use crate::{MuteFor, Target};

/// Gives `old`'s slot to a new id (trying ids until one lands in it) and returns it.
fn take_slot(engine: &Engine, old: Handle) -> String {
    let users = &engine.inner.tables.users;
    (0..1_000_000)
        .map(|i| format!("taker{i}"))
        .find(|id| {
            let h = users.acquire(id);
            users.release(h);
            h.slot() == old.slot()
        })
        .expect("some id lands in the freed slot")
}

/// The facts a reader that resolved the sender to `me` earlier finds in `room` now.
fn facts_with(engine: &Engine, room: &str, me: Handle) -> SendFacts {
    let mut facts = SendFacts::default();
    let at = engine.at(0);
    engine.inner.tables.rooms.read(room, |_, r| {
        at.room_facts(
            r.expect("room stored"),
            Some(me),
            crate::Action::SendMessage,
            &mut facts,
        );
    });
    facts
}

#[test]
fn a_reader_with_a_stale_handle_never_sees_the_new_owner_of_its_slot() {
    let engine = Engine::builder().shards(2).build();
    engine.mute_room("hot", MuteFor::Forever).unwrap();
    engine
        .mute_members("cold", ["probe"], MuteFor::Forever)
        .unwrap();
    // The reader resolves the probe...
    let probe = engine.inner.tables.users.find("probe").unwrap();
    // ...the probe's id is given back, another id takes its slot and is allow-listed
    // and muted in the room the reader is about to read...
    engine.unmute_members("cold", ["probe"]).unwrap();
    let taker = take_slot(&engine, probe);
    engine.allow("hot", [&taker]).unwrap();
    engine
        .mute_members("hot", [&taker], MuteFor::Forever)
        .unwrap();
    assert_eq!(
        engine.inner.tables.users.find(&taker).unwrap().slot(),
        probe.slot()
    );
    // ...and the reader finds none of it: the probe was never on the list or muted.
    let facts = facts_with(&engine, "hot", probe);
    assert_eq!(facts.member, NONE, "another id's member mute");
    assert!(!facts.allowed, "another id's allow entry");
    assert!(!engine.can_send("probe", Target::room("hot")));
    assert!(
        !engine.can_send(&taker, Target::room("hot")),
        "muted, allow list or not"
    );
}
