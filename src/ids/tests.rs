//! The interning table on its own: places given back and reused, stale handles, the
//! id buffer compacted, pins apart from references.

use super::{Entry, Table};

/// A state that is a number (zero: empty).
#[derive(Debug, Default)]
struct Count(u32);

impl Entry for Count {
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

fn table(shards: usize) -> Table<Count> {
    Table::new(shards)
}

#[test]
fn an_id_is_held_while_it_has_state_or_references_and_given_back_after() {
    let t = table(2);
    let h = t.acquire("bob");
    assert_eq!(t.find("bob"), Some(h));
    assert_eq!(t.id_of(h).as_deref(), Some("bob"));
    t.edit("bob", true, |_, c| c.0 = 3);
    t.release(h);
    assert_eq!(t.interned(), 1, "state still holds it");
    assert_eq!(t.get("bob").map(|c| c.0), Some(3));
    t.edit("bob", false, |_, c| c.0 = 0);
    assert_eq!((t.interned(), t.len()), (0, 0));
    assert_eq!(t.find("bob"), None);
    assert_eq!(t.id_of(h), None, "the handle is stale");
    // An edit that leaves a new state empty keeps nothing.
    assert_eq!(t.edit("ann", true, |_, _| 7), Some(7));
    assert_eq!(t.interned(), 0);
}

#[test]
fn a_reused_place_has_a_new_generation_so_old_handles_match_nothing() {
    let t = table(2);
    let old = t.acquire("old");
    t.release(old);
    // The freed place goes to the next id of its shard; ids whose lane differs are let go
    // again, until one lands in the very slot the old id had.
    let reused = (0..100_000).map(|i| format!("new{i}")).find_map(|id| {
        let h = t.acquire(&id);
        if h.slot() == old.slot() {
            Some((id, h))
        } else {
            t.release(h);
            None
        }
    });
    let (id, new) = reused.expect("some id takes the old slot");
    assert_ne!(new, old, "same slot, new generation");
    assert_eq!(t.id_of(old), None);
    assert_eq!(t.id_of(new).as_deref(), Some(id.as_str()));
    assert!(t.read_handle(old, |_| ()).is_none());
    assert!(!t.unpin(old), "a stale handle unpins nothing");
}

#[test]
fn pins_are_counted_apart_from_references() {
    let t = table(2);
    let pinned = t.pin("bob");
    assert_eq!(t.pin("bob"), pinned, "the same id, the same handle");
    let entry = t.acquire("bob");
    assert_eq!(entry, pinned);
    assert!(t.unpin(pinned));
    assert!(t.unpin(pinned));
    assert!(
        !t.unpin(pinned),
        "two pins, two unpins; the entry's reference stays"
    );
    assert_eq!(t.id_of(entry).as_deref(), Some("bob"));
    t.release(entry);
    assert_eq!(t.interned(), 0);
}

#[test]
fn the_id_buffer_is_compacted_and_every_live_id_still_resolves() {
    let t = table(2);
    // Long enough to live in the shard's buffer (short ids live in their place).
    let ids: Vec<String> = (0..20_000)
        .map(|i| format!("a-user-with-a-long-id-{i:08}"))
        .collect();
    let handles: Vec<_> = ids.iter().map(|id| t.acquire(id)).collect();
    // Give back all but every tenth: well past the compaction threshold.
    for (i, &h) in handles.iter().enumerate() {
        if i % 10 != 0 {
            t.release(h);
        }
    }
    assert_eq!(t.interned(), 2_000);
    let bytes = t.buffered_bytes();
    assert!(
        bytes < 20_000 * 30 / 2,
        "{bytes} bytes buffered for 2000 ids of 30 bytes: not compacted"
    );
    for (i, id) in ids.iter().enumerate() {
        let found = t.find(id);
        if i % 10 == 0 {
            assert_eq!(found, Some(handles[i]), "{id}");
            assert_eq!(t.id_of(handles[i]).as_deref(), Some(id.as_str()));
        } else {
            assert_eq!(found, None, "{id}");
        }
    }
    // Freed places are reused before the table grows.
    for id in &ids[..1_000] {
        t.acquire(&format!("again-{id}"));
    }
    assert_eq!(t.interned(), 3_000);
}

#[test]
fn short_ids_live_in_their_place_and_long_ones_in_the_buffer() {
    let t = table(2);
    let short = t.acquire("twelve-bytes");
    assert_eq!(t.buffered_bytes(), 0);
    let long = t.acquire("thirteen-byte");
    assert_eq!(t.buffered_bytes(), 13);
    assert_eq!(t.id_of(short).as_deref(), Some("twelve-bytes"));
    assert_eq!(t.id_of(long).as_deref(), Some("thirteen-byte"));
    assert_eq!(t.find("twelve-byte"), None, "a prefix is another id");
    assert_eq!(t.find("thirteen-byte"), Some(long));
}

#[test]
fn for_each_mut_drops_states_it_empties_and_gives_their_ids_back() {
    let t = table(4);
    for i in 0..100 {
        t.edit(&format!("u{i}"), true, |_, c| c.0 = i % 2 + 1);
    }
    t.for_each_mut(|_, _, c| c.0 -= 1);
    assert_eq!((t.len(), t.interned()), (50, 50));
    let mut seen = 0;
    t.for_each(|h, id, c| {
        assert_eq!(c.0, 1);
        assert_eq!(t.find(id), Some(h));
        seen += 1;
    });
    assert_eq!(seen, 50);
}
