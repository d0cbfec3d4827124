//! Lock-free "is there anything here at all?" filters in front of the tables.
//!
//! A filter is an array of small counters indexed by a hash: each counts the stored
//! entries whose key hashes to it. A reader that finds a zero knows there is no entry
//! and skips the table (and its shard lock) entirely; a non-zero count only means
//! "look in the table". Most users and most (room, user) pairs have no state, so most
//! checks take no lock and write no shared cache line, which is what lets readers on
//! several cores scale.
//!
//! Writers of different keys run in parallel (under different stripes) and eight
//! counters share a word, so a counter is updated with an atomic read-modify-write of
//! its word. A counter that reaches `u8::MAX` sticks there (a permanent "maybe"), so it
//! can never wrap to a false zero.
//!
//! Ordering: a writer counts an entry up *before* inserting it and down *after*
//! removing it, so a reader never sees a zero while the entry is in the table.
//!
//! A filter is given a key's hash, not the key: an id's [`hash_id`](crate::ids::hash_id)
//! (or a pair's [`pair_hash`](crate::ids::pair_hash)), the same hash the tables probe
//! with, so a check hashes each id once. Each filter mixes it with a seed of its own,
//! so the filters' counters fall apart from each other and from the tables' lanes.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ids::fold;

/// One counting filter: one-byte counters, eight to a word.
pub(crate) struct Filter {
    words: Box<[AtomicU64]>,
    mask: u64,
    /// This filter's seed (odd: a multiplier), random per filter.
    seed: u64,
}

/// A random odd seed for a filter.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8) | 1
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("slots", &(self.mask + 1))
            .finish()
    }
}

impl Filter {
    /// A filter with `slots` counters (a power of two, at least 8).
    pub fn new(slots: usize) -> Filter {
        debug_assert!(slots.is_power_of_two() && slots >= 8);
        Filter {
            words: (0..slots / 8).map(|_| AtomicU64::new(0)).collect(),
            mask: slots as u64 - 1,
            seed: seed(),
        }
    }

    /// The word holding the counter of the key hashed to `hash`, and the counter's bit
    /// offset in it.
    #[inline]
    fn slot(&self, hash: u64) -> (&AtomicU64, u32) {
        let i = fold(hash, self.seed) & self.mask;
        // `i >> 3` is below `words.len()` because the mask is `slots - 1`.
        (&self.words[(i >> 3) as usize], ((i & 7) * 8) as u32)
    }

    /// `false` if no entry with the key hashed to `hash` is stored; `true` if one may be.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        let (word, shift) = self.slot(hash);
        (word.load(Ordering::Acquire) >> shift) & 0xFF != 0
    }

    /// Moves `key`'s counter by `up`/down one unless it is stuck at the top; the other
    /// counters of its word may be moved by other writers meanwhile.
    fn step(&self, hash: u64, up: bool) {
        let (word, shift) = self.slot(hash);
        // `Err` only when the counter stays as it is.
        let _ = word.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            let next = match ((w >> shift) & 0xFF, up) {
                (0xFF, _) | (0, false) => return None,
                (c, true) => c + 1,
                (c, false) => c - 1,
            };
            Some((w & !(0xFF << shift)) | (next << shift))
        });
    }

    /// Counts an entry in, its key's hash given (call before inserting it).
    pub fn add(&self, hash: u64) {
        self.step(hash, true);
    }

    /// Counts an entry out, its key's hash given (call after removing it).
    pub fn remove(&self, hash: u64) {
        self.step(hash, false);
    }
}

/// The filters the engine keeps.
#[derive(Debug)]
pub(crate) struct Filters {
    /// Users with a notification setting (what `should_push` asks).
    pub notify_users: Filter,
    /// Users with a module mute (what `can_send` asks of the sender).
    pub module_users: Filter,
    /// Rooms with a room-wide mute stored.
    pub room_mutes: Filter,
    /// (room, user) pairs with a member mute or an allow entry stored: a sender the
    /// filter does not count is neither muted in the room nor on its allow list.
    pub members: Filter,
}

impl Filters {
    pub fn new(slots: usize) -> Filters {
        Filters {
            notify_users: Filter::new(slots),
            module_users: Filter::new(slots),
            room_mutes: Filter::new(slots),
            members: Filter::new(slots),
        }
    }
}

/// A test key's hash, as the engine hashes ids.
#[cfg(test)]
fn h(key: &str) -> u64 {
    crate::ids::hash_str(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_and_out_and_sticks_at_the_top() {
        let f = Filter {
            words: vec![AtomicU64::new(0)].into(),
            mask: 0, // a single counter, so every key shares it
            seed: 1,
        };
        assert!(!f.may_contain(h("a")));
        f.add(h("a"));
        f.add(h("b"));
        f.remove(h("a"));
        assert!(f.may_contain(h("a")), "b shares the only counter");
        f.remove(h("b"));
        assert!(!f.may_contain(h("a")));
        f.remove(h("b")); // no underflow
        assert!(!f.may_contain(h("a")));
        for _ in 0..300 {
            f.add(h("x"));
        }
        for _ in 0..300 {
            f.remove(h("x"));
        }
        assert!(f.may_contain(h("x")), "saturated counters stay non-zero");
    }
}

#[cfg(test)]
mod packing {
    use super::*;

    #[test]
    fn neighbouring_counters_in_one_word_do_not_disturb_each_other() {
        let f = Filter::new(8);
        let keys: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
        for k in &keys {
            f.add(h(k));
        }
        for (i, k) in keys.iter().enumerate() {
            f.remove(h(k));
            // Every key not yet removed must still read as present.
            assert!(keys[i + 1..].iter().all(|k| f.may_contain(h(k))));
        }
        assert!(keys.iter().all(|k| !f.may_contain(h(k))));
    }
}

#[cfg(test)]
mod parallel {
    use super::*;

    /// Writers of different keys step counters of one word at the same time: no step
    /// may be lost, or a counter could read zero while its entry is stored.
    #[test]
    fn writers_of_one_word_on_several_threads_lose_no_step() {
        let f = Filter::new(8);
        let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        std::thread::scope(|s| {
            for k in &keys {
                let f = &f;
                s.spawn(move || {
                    for _ in 0..200_000 {
                        f.add(h(k));
                        f.remove(h(k));
                    }
                });
            }
        });
        // Every add had its remove: every counter is back at zero, none stuck at the
        // top or left above it.
        for k in &keys {
            assert!(!f.may_contain(h(k)), "{k}'s counter lost a step");
        }
    }
}
