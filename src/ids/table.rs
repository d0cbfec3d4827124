//! [`Table`]: a sharded map from id to state that interns its ids.
//!
//! Each shard keeps its ids' bytes in one buffer, a place per id (where its bytes are,
//! its generation, how many entries elsewhere point at it, its state), and a hash index
//! of places. An id has a place while it has state or something points at it (a member
//! mute or an allow entry in a room points at its user; a public handle pins its id);
//! when neither holds, the place is given back, with a new generation, and its bytes
//! are reclaimed once enough of the buffer is dead.
//!
//! The low bits of a [`Slot`] are the id's lane: the low bits of its hash, which name
//! its shard and (the low six) its stripe, so the owner of an entry is known from its
//! slot without hashing the id again.

use hashbrown::HashTable;
use parking_lot::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};

use std::collections::HashMap;

use super::spelling::{Buffer, Spelling};
use super::{Handle, Key, Seeded, Slot, hash_id};

/// A state that is dropped from its table once it holds nothing.
pub(crate) trait Entry: Default {
    /// Whether the state holds nothing.
    fn is_empty(&self) -> bool;
}

impl<T: Entry> Entry for Box<T> {
    fn is_empty(&self) -> bool {
        T::is_empty(self)
    }
}

/// One interned id: 32 bytes for the users' table (whose state is a box).
#[derive(Debug)]
struct Place<S> {
    spelling: Spelling,
    generation: u32,
    /// Entries elsewhere that point at this id, and public handles that pin it.
    refs: u32,
    /// Inline: a table whose ids mostly have no state of their own stores a box.
    state: Option<S>,
}

#[derive(Debug)]
struct Shard<S> {
    /// Places, found by the id's hash.
    index: HashTable<u32>,
    places: Vec<Place<S>>,
    free: Vec<u32>,
    /// The bytes of long ids.
    buffer: Buffer,
    /// Pins by public handles, by place (few places have any). A pinned place holds one
    /// reference of its own, whatever its pin count.
    pins: HashMap<u32, u32, Seeded>,
    /// Places with state.
    states: usize,
}

impl<S> Default for Shard<S> {
    fn default() -> Self {
        Shard {
            index: HashTable::new(),
            places: Vec::new(),
            free: Vec::new(),
            buffer: Buffer::default(),
            pins: HashMap::default(),
            states: 0,
        }
    }
}

/// The bytes of place `p`'s id (`places` and `buffer` of one shard).
#[inline]
fn bytes_of<'a, S>(places: &'a [Place<S>], buffer: &'a Buffer, p: u32) -> &'a [u8] {
    places[p as usize].spelling.bytes(buffer)
}

impl<S> Shard<S> {
    #[inline]
    fn find(&self, hash: u64, id: &str) -> Option<u32> {
        self.index
            .find(hash, |&p| {
                bytes_of(&self.places, &self.buffer, p) == id.as_bytes()
            })
            .copied()
    }

    fn id(&self, p: u32) -> &str {
        self.places[p as usize].spelling.id(&self.buffer)
    }

    /// Gives place `p` back if nothing holds it any more.
    fn reclaim(&mut self, p: u32) {
        let place = &self.places[p as usize];
        if place.refs != 0 || place.state.is_some() {
            return;
        }
        let hash = hash_id(bytes_of(&self.places, &self.buffer, p));
        if let Ok(found) = self.index.find_entry(hash, |&q| q == p) {
            found.remove();
        }
        let place = &mut self.places[p as usize];
        place.spelling.free(&mut self.buffer);
        place.generation = place.generation.wrapping_add(1);
        self.free.push(p);
        if self.buffer.wants_compaction() {
            self.buffer
                .compact(self.places.iter_mut().map(|p| &mut p.spelling));
        }
    }
}

/// A sharded map from id to state `S` that gives each id a [`Handle`].
pub(crate) struct Table<S> {
    shards: Box<[RwLock<Shard<S>>]>,
    /// log2 of the lanes: at least 64 (the stripes) and at least the shards.
    lane_bits: u32,
}

impl<S> std::fmt::Debug for Table<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl<S: Entry> Table<S> {
    /// A table of `shards` shards (a power of two), placing ids by [`hash_id`].
    pub fn new(shards: usize) -> Table<S> {
        debug_assert!(shards.is_power_of_two());
        Table {
            shards: (0..shards).map(|_| RwLock::default()).collect(),
            lane_bits: shards.max(64).trailing_zeros(),
        }
    }

    /// The hash of an id, as the shards, the lanes and the stripes use it.
    #[inline]
    pub fn hash(&self, id: &str) -> u64 {
        hash_id(id.as_bytes())
    }

    /// The lane of a hash.
    #[inline]
    fn lane(&self, hash: u64) -> u32 {
        (hash & ((1 << self.lane_bits) - 1)) as u32
    }

    #[inline]
    fn shard(&self, lane: u32) -> &RwLock<Shard<S>> {
        &self.shards[lane as usize & (self.shards.len() - 1)]
    }

    #[inline]
    fn slot(&self, lane: u32, place: u32) -> Slot {
        Slot(place << self.lane_bits | lane)
    }

    /// The lane and the place of a slot.
    #[inline]
    fn split(&self, slot: Slot) -> (u32, u32) {
        (
            slot.0 & ((1 << self.lane_bits) - 1),
            slot.0 >> self.lane_bits,
        )
    }

    /// The handle of place `p` of a shard (lane from its hash).
    fn handle_of(&self, shard: &Shard<S>, p: u32) -> Handle {
        let lane = self.lane(self.hash(shard.id(p)));
        Handle::new(self.slot(lane, p), shard.places[p as usize].generation)
    }

    /// `id`'s state, read-locked (its shard's readers may share it).
    #[inline]
    pub fn get(&self, id: &str) -> Option<MappedRwLockReadGuard<'_, S>> {
        self.get_hashed(self.hash(id), id)
    }

    /// [`get`](Table::get), the id's [`hash_id`] given.
    #[inline]
    pub fn get_hashed(&self, hash: u64, id: &str) -> Option<MappedRwLockReadGuard<'_, S>> {
        let shard = self.shard(self.lane(hash)).read();
        RwLockReadGuard::try_map(shard, |s| {
            let p = s.find(hash, id)?;
            s.places[p as usize].state.as_ref()
        })
        .ok()
    }

    /// Runs `f` on `id`'s handle and state (if it has state) under its shard's read lock;
    /// `None` if the id holds no place.
    #[inline]
    pub fn read<R>(&self, id: &str, f: impl FnOnce(Handle, Option<&S>) -> R) -> Option<R> {
        self.read_hashed(self.hash(id), id, f)
    }

    /// [`read`](Table::read), the id's [`hash_id`] given.
    #[inline]
    pub fn read_hashed<R>(
        &self,
        hash: u64,
        id: &str,
        f: impl FnOnce(Handle, Option<&S>) -> R,
    ) -> Option<R> {
        let lane = self.lane(hash);
        let shard = self.shard(lane).read();
        let p = shard.find(hash, id)?;
        let place = &shard.places[p as usize];
        Some(f(
            Handle::new(self.slot(lane, p), place.generation),
            place.state.as_ref(),
        ))
    }

    /// Runs `f` on the state of the id `handle` stands for; `None` if the handle is stale
    /// (its id gave its place back).
    #[inline]
    pub fn read_handle<R>(&self, handle: Handle, f: impl FnOnce(Option<&S>) -> R) -> Option<R> {
        let (lane, p) = self.split(handle.slot());
        let shard = self.shard(lane).read();
        let place = shard.places.get(p as usize)?;
        (!place.spelling.is_free() && place.generation == handle.generation())
            .then(|| f(place.state.as_ref()))
    }

    /// `id`'s handle, if it holds a place.
    pub fn find(&self, id: &str) -> Option<Handle> {
        self.read(id, |h, _| h)
    }

    /// The id in `slot` and its handle, if the slot holds one.
    pub fn id(&self, slot: Slot) -> Option<(Key, Handle)> {
        let (lane, p) = self.split(slot);
        let shard = self.shard(lane).read();
        let place = shard.places.get(p as usize)?;
        (!place.spelling.is_free())
            .then(|| (Key::from(shard.id(p)), Handle::new(slot, place.generation)))
    }

    /// The id a handle stands for, unless the handle is stale.
    pub fn id_of(&self, handle: Handle) -> Option<Key> {
        self.id(handle.slot())
            .and_then(|(id, current)| (current == handle).then_some(id))
    }

    /// The place of `id` in a write-locked shard, made if `create`.
    fn place(&self, shard: &mut Shard<S>, hash: u64, id: &str, create: bool) -> Option<u32> {
        if let Some(p) = shard.find(hash, id) {
            return Some(p);
        }
        if !create {
            return None;
        }
        let fresh = Place {
            spelling: Spelling::new(id, &mut shard.buffer),
            generation: 0,
            refs: 0,
            state: None,
        };
        let p = match shard.free.pop() {
            Some(p) => {
                let generation = shard.places[p as usize].generation;
                shard.places[p as usize] = Place {
                    generation,
                    ..fresh
                };
                p
            }
            None => {
                let p = u32::try_from(shard.places.len())
                    .ok()
                    .filter(|p| p >> (32 - self.lane_bits) == 0)
                    .expect("a table shard holds under 2^26 ids");
                shard.places.push(fresh);
                p
            }
        };
        let Shard {
            index,
            places,
            buffer,
            ..
        } = shard;
        index.insert_unique(hash, p, |&q| hash_id(bytes_of(places, buffer, q)));
        Some(p)
    }

    /// Edits `id`'s state under its shard's write lock: makes it first if `create` (and
    /// the id's place, if needed), drops it if it ends up empty (and the place, if
    /// nothing else holds it). `None` if there was no state and `create` was false.
    pub fn edit<R>(
        &self,
        id: &str,
        create: bool,
        f: impl FnOnce(Handle, &mut S) -> R,
    ) -> Option<R> {
        let hash = self.hash(id);
        let lane = self.lane(hash);
        let mut shard = self.shard(lane).write();
        let p = self.place(&mut shard, hash, id, create)?;
        let place = &mut shard.places[p as usize];
        let handle = Handle::new(self.slot(lane, p), place.generation);
        match &mut place.state {
            Some(state) => {
                let out = f(handle, state);
                if state.is_empty() {
                    place.state = None;
                    shard.states -= 1;
                    shard.reclaim(p);
                }
                Some(out)
            }
            None if create => {
                let mut state = S::default();
                let out = f(handle, &mut state);
                if state.is_empty() {
                    shard.reclaim(p);
                } else {
                    place.state = Some(state);
                    shard.states += 1;
                }
                Some(out)
            }
            None => None,
        }
    }

    /// Removes `id`'s state, returning it with the id's handle (valid until the caller
    /// releases whatever else held the place).
    pub fn take(&self, id: &str) -> Option<(Handle, S)> {
        let hash = self.hash(id);
        let lane = self.lane(hash);
        let mut shard = self.shard(lane).write();
        let p = shard.find(hash, id)?;
        let place = &mut shard.places[p as usize];
        let handle = Handle::new(self.slot(lane, p), place.generation);
        let state = place.state.take()?;
        shard.states -= 1;
        shard.reclaim(p);
        Some((handle, state))
    }

    /// `id`'s handle, with one more reference held on its place (made if needed).
    pub fn acquire(&self, id: &str) -> Handle {
        self.hold(id, false)
    }

    /// `id`'s handle, pinned once more (made if needed): what a public handle holds.
    pub fn pin(&self, id: &str) -> Handle {
        self.hold(id, true)
    }

    fn hold(&self, id: &str, pin: bool) -> Handle {
        let hash = self.hash(id);
        let lane = self.lane(hash);
        let mut shard = self.shard(lane).write();
        let p = self
            .place(&mut shard, hash, id, true)
            .expect("create makes a place");
        let s = &mut *shard;
        let first_pin = pin && {
            let pins = s.pins.entry(p).or_insert(0);
            *pins = pins.checked_add(1).expect("under 2^32 pins of one id");
            *pins == 1
        };
        let place = &mut s.places[p as usize];
        if !pin || first_pin {
            place.refs = place
                .refs
                .checked_add(1)
                .expect("under 2^32 references to one id");
        }
        Handle::new(self.slot(lane, p), place.generation)
    }

    /// Gives back one reference taken by [`acquire`](Table::acquire). A stale handle
    /// changes nothing.
    pub fn release(&self, handle: Handle) {
        self.let_go(handle, false);
    }

    /// Gives back one pin taken by [`pin`](Table::pin); `false` (and nothing changed)
    /// for a stale handle or one whose id is not pinned.
    pub fn unpin(&self, handle: Handle) -> bool {
        self.let_go(handle, true)
    }

    fn let_go(&self, handle: Handle, pin: bool) -> bool {
        let (lane, p) = self.split(handle.slot());
        let mut shard = self.shard(lane).write();
        let s = &mut *shard;
        let Some(place) = s.places.get_mut(p as usize) else {
            return false;
        };
        if place.spelling.is_free() || place.generation != handle.generation() || place.refs == 0 {
            return false;
        }
        if pin {
            let Some(pins) = s.pins.get_mut(&p) else {
                return false;
            };
            *pins -= 1;
            if *pins > 0 {
                return true;
            }
            s.pins.remove(&p);
        }
        place.refs -= 1;
        s.reclaim(p);
        true
    }

    /// Calls `f` with every id that has state, one shard read-locked at a time.
    pub fn for_each(&self, mut f: impl FnMut(Handle, &str, &S)) {
        for shard in &*self.shards {
            let shard = shard.read();
            for (p, place) in shard.places.iter().enumerate() {
                if let Some(state) = &place.state {
                    f(self.handle_of(&shard, p as u32), shard.id(p as u32), state);
                }
            }
        }
    }

    /// Calls `f` with every id that has state, write-locked one shard at a time; drops
    /// the states `f` leaves empty.
    pub fn for_each_mut(&self, mut f: impl FnMut(Handle, &str, &mut S)) {
        for shard in &*self.shards {
            let mut shard = shard.write();
            for p in 0..shard.places.len() as u32 {
                let handle = match shard.places[p as usize].state {
                    Some(_) => self.handle_of(&shard, p),
                    None => continue,
                };
                let s = &mut *shard;
                let place = &mut s.places[p as usize];
                let id = place.spelling.id(&s.buffer);
                let state = place.state.as_mut().expect("checked above");
                f(handle, id, state);
                if state.is_empty() {
                    place.state = None;
                    s.states -= 1;
                    s.reclaim(p);
                }
            }
        }
    }

    /// How many ids have state.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().states).sum()
    }

    /// Bytes the shards keep for ids, dead ones included (tests of compaction).
    #[cfg(test)]
    pub fn buffered_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().buffer.len()).sum()
    }

    /// How many ids hold a place (state, references or pins).
    pub fn interned(&self) -> usize {
        self.shards.iter().map(|s| s.read().index.len()).sum()
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn a_users_place_is_32_bytes() {
        // What every interned user costs before its index slot (and a long id's bytes).
        assert_eq!(
            std::mem::size_of::<super::Place<Box<crate::store::UserState>>>(),
            32
        );
    }
}
