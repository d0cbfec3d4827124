//! Values by member id, laid out for fan-out: one pass over a room's members asks it
//! once per member, and most members have no value. A room's notification settings
//! are one; the engine's index of users with personal rules another.
//!
//! Each member id is hashed once (the engine's id hash: foldhash, seeded per process); the hash picks a bit in
//! a small one-hash Bloom filter of the room's members with settings, and only when the
//! bit is set is the settings table probed, with the same hash. A clear bit is a sure
//! "no setting", so a member on default settings costs one short hash and one bit test.
//! Stale bits (settings since removed) only cost a probe; they are cleared when the
//! filter is rebuilt. Member ids are spelled inline when short, else in the room's own
//! buffer: an entry is 32 bytes and no allocation of its own.

use hashbrown::HashTable;

use crate::ids::{Buffer, Spelling, hash_id as hash_bytes, hash_with, id_hasher as hasher};
use crate::notify::Setting;

/// Filter bits per setting: about 6% false "maybe"s when full.
const BITS_PER_ENTRY: usize = 16;
const MIN_BITS: usize = 512;

/// The fan-out hash of an id: the engine's one id hash, [`hash_id`](crate::ids::hash_id).
#[inline]
pub(crate) fn hash(id: &str) -> u64 {
    crate::ids::hash_str(id)
}

/// One member's value (a setting: 32 bytes; a push rule: 40), the id first: what a
/// probe reads first, and then the value's first bytes beside it.
#[derive(Clone, Debug)]
#[repr(C)]
struct Member<V> {
    id: Spelling,
    value: V,
}

/// Values by member id: a room's notification settings (`Fanout<Setting>`), or the
/// engine's index of users with personal rules.
#[derive(Clone, Debug)]
pub(crate) struct Fanout<V = Setting> {
    entries: HashTable<Member<V>>,
    /// The bytes of long member ids.
    ids: Buffer,
    /// A one-hash Bloom filter of the ids in `entries` (and of some removed since).
    bits: Box<[u64]>,
    /// Ids removed since the filter was built (their bits may still be set).
    stale: usize,
}

impl<V> Default for Fanout<V> {
    fn default() -> Fanout<V> {
        Fanout {
            entries: HashTable::new(),
            ids: Buffer::default(),
            bits: Box::default(),
            stale: 0,
        }
    }
}

impl<V: Clone> Fanout<V> {
    /// The bit of a hash: its middle bits (hashbrown uses the low and the top ones).
    #[inline]
    fn bit(&self, h: u64) -> (usize, u64) {
        let i = (h >> 20) as usize & (self.bits.len() * 64 - 1);
        (i / 64, 1 << (i % 64))
    }

    /// `id`'s value, if stored.
    #[inline]
    pub fn get(&self, id: &str) -> Option<&V> {
        self.get_hashed(hash(id), id)
    }

    /// `id`'s value, its [`hash`] given: a bit test, then a probe if the bit is set.
    #[inline]
    pub fn get_hashed(&self, h: u64, id: &str) -> Option<&V> {
        if self.bits.is_empty() {
            return None;
        }
        let (word, mask) = self.bit(h);
        if self.bits[word] & mask == 0 {
            return None;
        }
        self.find(h, id)
    }

    /// `id`'s value, its hash given: the table probed without the bit test first (one
    /// memory access fewer where the id is likely stored; about the same where not).
    #[inline]
    pub fn find(&self, h: u64, id: &str) -> Option<&V> {
        self.entries
            .find(h, |m| m.id.bytes(&self.ids) == id.as_bytes())
            .map(|m| &m.value)
    }

    /// Calls `f` with each of `members` and its value, if any, in order: one hash
    /// and one bit test per member, a table probe only where the bit is set.
    #[inline]
    pub fn for_each_member<'m, S: AsRef<str>>(
        &self,
        members: &'m [S],
        mut f: impl FnMut(&'m S, u64, Option<&V>),
    ) {
        let state = hasher();
        if self.bits.is_empty() {
            return members
                .iter()
                .for_each(|m| f(m, hash_with(state, m.as_ref().as_bytes()), None));
        }
        let bits = &*self.bits;
        let mask = bits.len() * 64 - 1;
        for m in members {
            let id = m.as_ref();
            let h = hash_with(state, id.as_bytes());
            let b = (h >> 20) as usize & mask;
            let value = if bits[b / 64] >> (b % 64) & 1 == 0 {
                None
            } else {
                self.find(h, id)
            };
            f(m, h, value);
        }
    }

    /// Stores `id`'s value (replacing any).
    pub fn insert(&mut self, id: &str, value: V) {
        let h = hash(id);
        let Fanout { entries, ids, .. } = self;
        let found = entries.find_mut(h, |m| m.id.bytes(ids) == id.as_bytes());
        match found {
            Some(m) => m.value = value,
            None => {
                let member = Member {
                    id: Spelling::new(id, ids),
                    value,
                };
                entries.insert_unique(h, member, |m| hash_bytes(m.id.bytes(ids)));
            }
        }
        if self.entries.len() * BITS_PER_ENTRY > self.bits.len() * 64 {
            self.rebuild();
        } else {
            let (word, mask) = self.bit(h);
            self.bits[word] |= mask;
        }
    }

    /// Removes `id`'s value; returns whether there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        let Fanout { entries, ids, .. } = self;
        let Ok(found) = entries.find_entry(hash(id), |m| m.id.bytes(ids) == id.as_bytes()) else {
            return false;
        };
        let (mut member, _) = found.remove();
        member.id.free(ids);
        if ids.wants_compaction() {
            ids.compact(entries.iter_mut().map(|m| &mut m.id));
        }
        self.stale += 1;
        if self.stale > self.entries.len() {
            self.rebuild();
        }
        true
    }

    /// Sizes the filter for the entries stored and sets exactly their bits.
    fn rebuild(&mut self) {
        let bits = (self.entries.len() * BITS_PER_ENTRY)
            .next_power_of_two()
            .max(MIN_BITS);
        self.bits = vec![0; bits / 64].into_boxed_slice();
        self.stale = 0;
        let hashes: Vec<u64> = self
            .entries
            .iter()
            .map(|m| hash_bytes(m.id.bytes(&self.ids)))
            .collect();
        for h in hashes {
            let (word, mask) = self.bit(h);
            self.bits[word] |= mask;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every (member id, value), in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|m| (m.id.id(&self.ids), &m.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotifyLevel;

    fn off() -> Setting {
        Setting {
            level: NotifyLevel::Off,
            until: u64::MAX,
        }
    }

    /// Short ids (spelled inline) and long ones (in the room's buffer, compacted as
    /// they are removed).
    #[test]
    fn finds_what_is_stored_and_nothing_else_through_growth_and_removals() {
        for long in [false, true] {
            let mut f: Fanout = Fanout::default();
            assert_eq!(f.get("a"), None);
            let ids: Vec<String> = (0..5_000)
                .map(|i| {
                    if long {
                        format!("a-member-with-a-long-id-{i}")
                    } else {
                        format!("member{i}")
                    }
                })
                .collect();
            for id in ids.iter().step_by(2) {
                f.insert(id, off());
            }
            assert_eq!(f.len(), 2_500);
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(f.get(id).is_some(), i % 2 == 0, "{id}");
            }
            // Remove most: the filter is rebuilt, no stored id is lost, no removed one
            // found.
            for id in ids.iter().step_by(2).skip(100) {
                assert!(f.remove(id));
                assert!(!f.remove(id));
            }
            assert_eq!(f.len(), 100);
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(f.get(id).is_some(), i % 2 == 0 && i < 200, "{id}");
            }
            let mut listed: Vec<&str> = f.iter().map(|(id, _)| id).collect();
            listed.sort_unstable();
            let mut kept: Vec<&str> = ids
                .iter()
                .step_by(2)
                .take(100)
                .map(String::as_str)
                .collect();
            kept.sort_unstable();
            assert_eq!(listed, kept);
            assert!(
                f.bits.len() * 64 <= 4 * 100 * BITS_PER_ENTRY,
                "the filter shrank"
            );
            assert!(f.ids.len() < 2_500 * 28 / 2, "the id buffer was compacted");
            assert_eq!(f.ids.len() == 0, !long, "short ids are spelled inline");
        }
    }

    #[test]
    fn the_filter_turns_most_absent_ids_away_before_the_table() {
        let mut f: Fanout = Fanout::default();
        for i in 0..500 {
            f.insert(&format!("in{i}"), off());
        }
        let maybe = (0..10_000)
            .filter(|i| {
                let (word, mask) = f.bit(hash(&format!("out{i}")));
                f.bits[word] & mask != 0
            })
            .count();
        assert!(maybe < 1_500, "{maybe} of 10000 absent ids pass the filter");
    }
}
