//! Ids: the owned id type, the hashers, and the handles that stand for ids inside the
//! tables.
//!
//! Every user and room id the engine holds state for is interned once, in its
//! [`Table`], which gives it a [`Handle`]: 8 bytes, compared and hashed as an integer.
//! Member mutes, allow lists, notification lists and the expiry index hold handles,
//! not copies of the id. Handles are per process: nothing written to disk or to a
//! stream depends on them, and an id whose last entry goes away gives its slot back.

mod spelling;
mod table;
#[cfg(test)]
mod tests;

use std::hash::BuildHasher;
use std::sync::OnceLock;

pub(crate) use spelling::{Buffer, Spelling};
pub(crate) use table::{Entry, Table};

/// The id hash's state, seeded once per process (a loop hashing many ids takes it once).
#[inline]
pub(crate) fn id_hasher() -> &'static foldhash::fast::RandomState {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::RandomState::default)
}

/// The hash of an id's bytes, one per process: what the tables' shards, lanes and
/// stripes place it by, what the filters derive their counters from, and what the
/// fan-out and push indexes probe with. One function for all of them, so a check hashes
/// each id it is given once. Its bytes go in one write (no terminator: this hash only
/// ever sees whole ids).
#[inline]
pub(crate) fn hash_id(id: &[u8]) -> u64 {
    hash_with(id_hasher(), id)
}

/// [`hash_id`] with the state taken once by the caller ([`id_hasher`]).
#[inline]
pub(crate) fn hash_with(state: &foldhash::fast::RandomState, id: &[u8]) -> u64 {
    use std::hash::Hasher as _;
    let mut h = state.build_hasher();
    h.write(id);
    h.finish()
}

/// [`hash_id`] of an id given as `&str`.
#[inline]
pub(crate) fn hash_str(id: &str) -> u64 {
    hash_id(id.as_bytes())
}

/// [`pair_hash`] of two ids given as `&str`.
#[inline]
pub(crate) fn pair(room: &str, user: &str) -> u64 {
    pair_hash(hash_str(room), hash_str(user))
}

/// The hash of a (room, user) pair, from the two ids' [`hash_id`]s: one multiply, and
/// not symmetric (the pair (a, b) and the pair (b, a) hash apart).
#[inline]
pub(crate) fn pair_hash(room: u64, user: u64) -> u64 {
    fold(room.rotate_left(29) ^ user, 0x9E37_79B9_7F4A_7C15)
}

/// A 64x64 -> 128-bit multiply folded to 64 bits: mixes every bit of `x` into every bit
/// of the result (the filters' and the pairs' mixer).
#[inline]
pub(crate) fn fold(x: u64, k: u64) -> u64 {
    let m = u128::from(x) * u128::from(k);
    // The two halves of the product.
    (m as u64) ^ ((m >> 64) as u64)
}
/// An owned id, as operations, changes and events carry it.
pub(crate) type Key = Box<str>;

/// The hasher of the small per-room maps: zero-sized, so each map does not carry its own
/// 32-byte state, yet randomly seeded once per process (ids come from users, so the
/// seed must not be guessable).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seeded;

impl BuildHasher for Seeded {
    type Hasher = ahash::AHasher;
    #[inline]
    fn build_hasher(&self) -> ahash::AHasher {
        static STATE: OnceLock<ahash::RandomState> = OnceLock::new();
        STATE.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

/// An interned id: its slot's generation in the high 32 bits, its [`Slot`] in the low
/// 32. A handle whose slot was given back and reused by another id carries the old
/// generation, so it never matches the new id's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Handle(u64);

impl Handle {
    #[inline]
    pub(crate) fn new(slot: Slot, generation: u32) -> Handle {
        Handle(u64::from(generation) << 32 | u64::from(slot.0))
    }

    /// The slot, without the generation.
    #[inline]
    pub(crate) fn slot(self) -> Slot {
        // The low half.
        Slot(self.0 as u32)
    }

    #[inline]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// Where an id lives in its table: its lane (the low bits: its hash, which also names
/// its stripe and shard) and its place in the shard. 4 bytes; what the expiry index
/// keeps, since the entries it points at hold their ids alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Slot(pub(crate) u32);
