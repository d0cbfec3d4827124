//! A room's notification settings by member id, laid out for fan-out: one pass over a
//! room's members asks it once per member, and most members have no setting.
//!
//! Each member id is hashed once (foldhash, seeded per process); the hash picks a bit in
//! a small one-hash Bloom filter of the room's members with settings, and only when the
//! bit is set is the settings table probed, with the same hash. A clear bit is a sure
//! "no setting", so a member on default settings costs one short hash and one bit test.
//! Stale bits (settings since removed) only cost a probe; they are cleared when the
//! filter is rebuilt.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::HashTable;

use super::Setting;
use crate::ids::Key;

/// Filter bits per setting: about 6% false "maybe"s when full.
const BITS_PER_ENTRY: usize = 16;
const MIN_BITS: usize = 512;

/// The hasher of member ids for fan-out, seeded once per process.
#[inline]
fn hasher() -> &'static foldhash::fast::RandomState {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::RandomState::default)
}

/// The hash of a member id for fan-out: its bytes in one write (no terminator: this
/// hash only ever sees whole ids).
#[inline]
fn hash_with(state: &foldhash::fast::RandomState, id: &str) -> u64 {
    use std::hash::Hasher as _;
    let mut h = state.build_hasher();
    h.write(id.as_bytes());
    h.finish()
}

#[inline]
fn hash(id: &str) -> u64 {
    hash_with(hasher(), id)
}

/// The settings of one room's members, by member id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fanout {
    entries: HashTable<(Key, Setting)>,
    /// A one-hash Bloom filter of the ids in `entries` (and of some removed since).
    bits: Box<[u64]>,
    /// Ids removed since the filter was built (their bits may still be set).
    stale: usize,
}

impl Fanout {
    /// The bit of a hash: its middle bits (hashbrown uses the low and the top ones).
    #[inline]
    fn bit(&self, h: u64) -> (usize, u64) {
        let i = (h >> 20) as usize & (self.bits.len() * 64 - 1);
        (i / 64, 1 << (i % 64))
    }

    /// `id`'s setting, if stored.
    #[inline]
    pub fn get(&self, id: &str) -> Option<Setting> {
        if self.bits.is_empty() {
            return None;
        }
        let h = hash(id);
        let (word, mask) = self.bit(h);
        if self.bits[word] & mask == 0 {
            return None;
        }
        self.entries.find(h, |(k, _)| &**k == id).map(|&(_, s)| s)
    }

    /// Calls `f` with each of `members` and its setting, if any, in order: one hash
    /// and one bit test per member, a table probe only where the bit is set.
    #[inline]
    pub fn for_each_member<'m, S: AsRef<str>>(
        &self,
        members: &'m [S],
        mut f: impl FnMut(&'m S, Option<Setting>),
    ) {
        if self.bits.is_empty() {
            return members.iter().for_each(|m| f(m, None));
        }
        let state = hasher();
        let bits = &*self.bits;
        let mask = bits.len() * 64 - 1;
        for m in members {
            let id = m.as_ref();
            let h = hash_with(state, id);
            let b = (h >> 20) as usize & mask;
            let setting = if bits[b / 64] >> (b % 64) & 1 == 0 {
                None
            } else {
                self.entries.find(h, |(k, _)| &**k == id).map(|&(_, s)| s)
            };
            f(m, setting);
        }
    }

    /// Stores `id`'s setting (replacing any).
    pub fn insert(&mut self, id: Key, setting: Setting) {
        let h = hash(&id);
        match self.entries.entry(h, |(k, _)| *k == id, |(k, _)| hash(k)) {
            hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().1 = setting,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((id, setting));
            }
        }
        if self.entries.len() * BITS_PER_ENTRY > self.bits.len() * 64 {
            self.rebuild();
        } else {
            let (word, mask) = self.bit(h);
            self.bits[word] |= mask;
        }
    }

    /// Removes `id`'s setting; returns whether there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        let Ok(found) = self.entries.find_entry(hash(id), |(k, _)| &**k == id) else {
            return false;
        };
        found.remove();
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
        let hashes: Vec<u64> = self.entries.iter().map(|(k, _)| hash(k)).collect();
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

    /// Every (member id, setting), in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Setting)> {
        self.entries.iter().map(|(k, s)| (k, s))
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

    #[test]
    fn finds_what_is_stored_and_nothing_else_through_growth_and_removals() {
        let mut f = Fanout::default();
        assert_eq!(f.get("a"), None);
        let ids: Vec<String> = (0..5_000).map(|i| format!("member{i}")).collect();
        for id in ids.iter().step_by(2) {
            f.insert(id.as_str().into(), off());
        }
        assert_eq!(f.len(), 2_500);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(f.get(id).is_some(), i % 2 == 0, "{id}");
        }
        // Remove most: the filter is rebuilt, no stored id is lost, no removed one found.
        for id in ids.iter().step_by(2).skip(100) {
            assert!(f.remove(id));
            assert!(!f.remove(id));
        }
        assert_eq!(f.len(), 100);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(f.get(id).is_some(), i % 2 == 0 && i < 200, "{id}");
        }
        assert!(
            f.bits.len() * 64 <= 4 * 100 * BITS_PER_ENTRY,
            "the filter shrank"
        );
    }

    #[test]
    fn the_filter_turns_most_absent_ids_away_before_the_table() {
        let mut f = Fanout::default();
        for i in 0..500 {
            f.insert(format!("in{i}").into(), off());
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
