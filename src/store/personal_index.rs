//! The engine's index of users with personal rules, by user id, for the push checks: a
//! fan-out asks it once per member, and most members have no rules.
//!
//! Sharded by the id's hash into [`SHARDS`] copy-on-write [`Fanout`]s: a reader takes a
//! shard's guard only to clone its `Arc`, so a fan-out never holds a writer up, and a
//! writer copies at most its shard (only while a reader holds that shard's snapshot).
//! Each entry keeps the user's rules and its own cached quiet/loud answer, so a member
//! with quiet hours costs one probe and one word read while that answer lasts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use super::Personal;
use super::fanout::{self, Fanout};
use crate::quiet::{Bypass, Cached};

/// Shards of the index.
pub(crate) const SHARDS: usize = 64;

/// One user's entry: 24 bytes, laid out so the cached answer sits right after the
/// entry's id (what a probe compares first), in the same cache line most of the time.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct Rule {
    cache: Cached,
    /// Copied out of `personal`, so a member is judged from the entry alone (the
    /// rules themselves are read only to recompute the quiet/loud answer, and for the
    /// muted senders of a user who has any).
    pub bypass: Bypass,
    /// Whether the user muted any sender (`personal.senders` then says whom).
    pub mutes_senders: bool,
    pub personal: Arc<Personal>,
}

impl Rule {
    /// Whether pushes to the user are held back at `now`.
    #[inline]
    pub fn quiet_at(&self, now: u64) -> bool {
        self.cache.get(now, || self.personal.state_at(now))
    }
}

type Shard = Option<Arc<Fanout<Rule>>>;

/// The index.
#[derive(Debug)]
pub(crate) struct PersonalIndex {
    shards: Box<[RwLock<Shard>]>,
    len: AtomicUsize,
}

impl Default for PersonalIndex {
    fn default() -> PersonalIndex {
        PersonalIndex {
            shards: (0..SHARDS).map(|_| RwLock::new(None)).collect(),
            len: AtomicUsize::new(0),
        }
    }
}

/// The shard of an id's fan-out hash (bits neither the table nor the filter leans on).
#[inline]
fn shard_of(h: u64) -> usize {
    (h >> 40) as usize % SHARDS
}

impl PersonalIndex {
    /// Whether no user has rules.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// A snapshot of the shard holding hash `h`.
    #[inline]
    fn snapshot(&self, h: u64) -> Shard {
        self.shards[shard_of(h)].read().clone()
    }

    /// Calls `f` with `user`'s rule, if they have one.
    #[inline]
    pub fn with<R>(&self, user: &str, f: impl FnOnce(&Rule) -> R) -> Option<R> {
        self.with_hashed(fanout::hash(user), user, f)
    }

    /// [`with`](PersonalIndex::with), the user's [`hash_id`](crate::ids::hash_id) given.
    #[inline]
    pub fn with_hashed<R>(&self, h: u64, user: &str, f: impl FnOnce(&Rule) -> R) -> Option<R> {
        if self.is_empty() {
            return None;
        }
        let shard = self.shards[shard_of(h)].read();
        // One user: the table alone (a bit test first would cost a memory access more
        // for a user with rules, and save about one for a user without).
        shard.as_ref()?.find(h, user).map(f)
    }

    /// Stores `user`'s rules (`None`: removes them).
    pub fn set(&self, user: &str, personal: Option<Arc<Personal>>) {
        let h = fanout::hash(user);
        let mut shard = self.shards[shard_of(h)].write();
        match personal {
            Some(personal) => {
                let rule = Rule {
                    bypass: personal.bypass,
                    mutes_senders: !personal.senders.is_empty(),
                    personal,
                    cache: Cached::default(),
                };
                let map = Arc::make_mut(shard.get_or_insert_with(Arc::default));
                if map.get(user).is_none() {
                    self.len.fetch_add(1, Ordering::AcqRel);
                }
                map.insert(user, rule);
            }
            None => {
                let Some(map) = shard.as_mut() else { return };
                if map.get(user).is_none() {
                    return;
                }
                let map = Arc::make_mut(map);
                map.remove(user);
                self.len.fetch_sub(1, Ordering::AcqRel);
                if map.is_empty() {
                    *shard = None;
                }
            }
        }
    }

    /// Snapshots of the shards, taken as members need them: for one fan-out.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            index: self,
            taken: 0,
            shards: [const { None }; SHARDS],
        }
    }
}

/// The index as one fan-out reads it: each shard's snapshot taken once, when a member
/// first needs it.
pub(crate) struct Reader<'i> {
    index: &'i PersonalIndex,
    taken: u64,
    shards: [Shard; SHARDS],
}

impl Reader<'_> {
    /// The rule of the member with fan-out hash `h` and id `id`, if any.
    #[inline]
    pub fn get(&mut self, h: u64, id: &str) -> Option<&Rule> {
        let s = shard_of(h);
        if self.taken & (1 << s) == 0 {
            self.taken |= 1 << s;
            self.shards[s] = self.index.snapshot(h);
        }
        self.shards[s].as_ref()?.get_hashed(h, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_rule_is_24_bytes_with_its_answer_first() {
        assert_eq!(std::mem::size_of::<Rule>(), 24);
        assert_eq!(std::mem::offset_of!(Rule, cache), 0);
    }
}
