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
pub(crate) use table::{Entry, Table, hash_id};

/// The hasher of the tables, the filters and the stripes.
pub(crate) type Hasher = ahash::RandomState;
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
