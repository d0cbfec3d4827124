//! Key stripes: the locks that let mutations of disjoint users and rooms be applied in
//! parallel, each holding the index of the timed entries of its keys.
//!
//! Every user and room id hashes to one of [`STRIPES`] stripes. A mutation locks the
//! stripes of the ids it reads and changes (in ascending order, so two mutations never
//! wait for each other in a cycle) for as long as it checks and applies; one that visits
//! every room (removing a user or a room), a sweep, a snapshot and a consistency check
//! lock them all. Each stripe's mutex guards the expiry index of the entries whose
//! *owning* id hashes to it: a notification setting and a module mute belong to their
//! user, a member mute and a room-wide mute to their room; the operation that changes
//! an entry always holds its owner's stripe.
//!
//! Lock order, for the whole engine: the writer lock (if taken) before any stripe, and
//! stripes in ascending index. The tables' own shard locks are taken inside both, one at
//! a time.

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use super::expiries::Expiries;
use crate::change::{Change, Timed};
use crate::op::Op;
use crate::store::Tables;

/// How many stripes: enough that writers on 2 to 16 cores rarely meet on one.
pub(crate) const STRIPES: usize = 64;

/// The stripes of one engine.
pub(crate) struct Stripes {
    cells: Box<[Mutex<Expiries>]>,
}

impl std::fmt::Debug for Stripes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripes")
            .field("stripes", &self.cells.len())
            .finish_non_exhaustive()
    }
}

impl Stripes {
    /// The stripes of ids placed by [`hash_id`](crate::ids::hash_id), as the tables
    /// place them, so an id's stripe is also the low bits of its slot's lane.
    pub fn new() -> Stripes {
        Stripes {
            cells: (0..STRIPES).map(|_| Mutex::default()).collect(),
        }
    }
}

/// Stripes held: their guards, by ascending index.
pub(crate) struct Held<'a> {
    guards: SmallVec<[(usize, MutexGuard<'a, Expiries>); 2]>,
}

impl Stripes {
    /// The stripe of a user or room id.
    #[inline]
    fn of(&self, id: &str) -> usize {
        // The mask keeps the value below `STRIPES`, so it fits any usize.
        (crate::ids::hash_str(id) & (STRIPES as u64 - 1)) as usize
    }

    /// The stripe whose index holds `key`: its owner's, the low bits of the owner's
    /// slot (its lane is the low bits of the same hash [`Stripes::of`] takes).
    fn owner(key: Timed) -> usize {
        key.owner().0 as usize & (STRIPES - 1)
    }

    /// The stripes `op` reads and changes, ascending; `None` for an operation that
    /// visits every room.
    fn of_op(&self, op: &Op) -> Option<SmallVec<[usize; 2]>> {
        let one = |id: &str| Some(SmallVec::from_buf_and_len([self.of(id), 0], 1));
        match op {
            Op::SetNotify { user, room, .. } => {
                let (a, b) = (self.of(user), self.of(room));
                Some(match a.cmp(&b) {
                    std::cmp::Ordering::Less => SmallVec::from_buf([a, b]),
                    std::cmp::Ordering::Greater => SmallVec::from_buf([b, a]),
                    std::cmp::Ordering::Equal => SmallVec::from_buf_and_len([a, 0], 1),
                })
            }
            Op::SetModules { user, .. }
            | Op::SetQuietHours { user, .. }
            | Op::Snooze { user, .. }
            | Op::SetBypass { user, .. }
            | Op::MuteSender { user, .. }
            | Op::UnmuteSender { user, .. } => one(user),
            Op::SetRoomMentions { room, .. }
            | Op::SetSlowMode { room, .. }
            | Op::SetLadder { room, .. }
            | Op::Strike { room, .. }
            | Op::SetStrikes { room, .. } => one(room),
            Op::MuteMembers { room, .. }
            | Op::UnmuteMembers { room, .. }
            | Op::Allow { room, .. }
            | Op::Disallow { room, .. }
            | Op::MuteRoom { room, .. }
            | Op::UnmuteRoom { room } => one(room),
            Op::Moderated { op, .. } => self.of_op(op),
            Op::Remember { subject, .. } => one(subject.owner()),
            Op::RemoveUser { .. } | Op::RemoveRoom { .. } => None,
        }
    }

    /// Locks the stripes `op` needs, waiting for them.
    pub fn lock(&self, op: &Op) -> Held<'_> {
        match self.of_op(op) {
            Some(ids) => Held {
                guards: ids.into_iter().map(|i| (i, self.cells[i].lock())).collect(),
            },
            None => self.lock_all(),
        }
    }

    /// Locks every stripe, waiting for them.
    pub fn lock_all(&self) -> Held<'_> {
        Held {
            guards: self.cells.iter().map(Mutex::lock).enumerate().collect(),
        }
    }

    /// The earliest end after `now` of an entry still in force (each stripe locked in
    /// turn, not all at once).
    pub fn next_after(&self, now: u64) -> Option<u64> {
        self.cells
            .iter()
            .filter_map(|cell| cell.lock().next_after(now))
            .min()
    }
}

impl Held<'_> {
    /// The index that holds `key`: its owner's stripe, which must be held.
    fn owner_cell(&mut self, key: Timed) -> &mut Expiries {
        // An operation of one id holds one stripe: the owner of every entry it changes.
        let i = if self.guards.len() == 1 {
            debug_assert_eq!(self.guards[0].0, Stripes::owner(key));
            self.guards[0].0
        } else {
            Stripes::owner(key)
        };
        self.cell(i)
    }

    /// The index of stripe `i`, which must be held.
    fn cell(&mut self, i: usize) -> &mut Expiries {
        let at = self
            .guards
            .binary_search_by_key(&i, |(j, _)| *j)
            .unwrap_or_else(|_| {
                unreachable!("stripe {i} changed by an operation that does not hold it")
            });
        &mut self.guards[at].1
    }

    /// Follows `changes` into the expiry indexes of their owners' stripes.
    pub fn track(&mut self, changes: Vec<Change>) {
        for c in &changes {
            if let Some((key, old, new)) = c.timed_ends() {
                self.owner_cell(key).track(key, old, new);
            }
        }
    }

    /// Removes and returns every entry that has ended by `now`, from every stripe held.
    pub fn take_due(&mut self, now: u64) -> Vec<Timed> {
        let mut due = Vec::new();
        for (_, cell) in &mut self.guards {
            due.extend(cell.take_due(now));
        }
        due
    }

    /// Rebuilds every stripe's index from the timed entries in `tables` (all stripes
    /// must be held).
    pub fn rebuild(&mut self, tables: &Tables) {
        // Counted first, so each stripe's list is allocated about once (a million
        // entries would otherwise be copied over and over as the lists grow).
        let mut count = 0;
        tables.timed_entries(|raw, _| count += usize::from(crate::change::finite(raw)));
        let each = count / STRIPES + count / STRIPES / 4 + 16;
        let mut by_stripe: Vec<Vec<_>> = (0..STRIPES).map(|_| Vec::with_capacity(each)).collect();
        tables.timed_entries(|raw, key| {
            if crate::change::finite(raw) {
                by_stripe[Stripes::owner(key)].push((raw, key));
            }
        });
        for (i, entries) in by_stripe.into_iter().enumerate() {
            self.cell(i).rebuild(entries);
        }
    }
}
