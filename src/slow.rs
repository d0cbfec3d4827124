//! Slow mode's soft state: when each member last sent in each slow-mode room.
//!
//! These times change on every message, so they are node-local: never logged, never
//! replicated, never in a snapshot. In a cluster each node enforces the cooldown for
//! the sends it admits; a restart forgets them (every member may send once at once).
//! The room's cooldown itself is an ordinary operation ([`Op::SetSlowMode`]).
//!
//! Sharded by the (room, user) hash, one mutex per shard: "may this member send now,
//! and if so count it" is one critical section per pair, and sends in one room by
//! different members rarely meet on a shard.
//!
//! An entry also remembers the room's cooldown as it was judged, and the *gates epoch*
//! it was judged at: a counter the tables bump after every change to any room's send
//! gates (its mute, its slow mode, its allow list, a member mute in a room that may
//! have slow mode; a module mute; a room or user removed). While the epoch is the same,
//! nothing that bears on the send has changed, so the send is judged from the entry
//! alone, without reading the room or a filter ([`SlowLog::try_send_cached`]). The
//! epoch is read before the room is, and bumped after the room changed: an entry
//! stamped with an epoch never holds a room state older than that epoch. The price:
//! the epoch is one counter, so any such change sends every member's next send in
//! every slow-mode room back to the room once.
//!
//! [`Op::SetSlowMode`]: crate::Op::SetSlowMode

use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::ids::pair;

/// Shards of the soft state.
const SHARDS: usize = 64;

/// The longest cooldown: entries older than this are never needed again.
pub const MAX_COOLDOWN_MS: u64 = 6 * 3_600_000;

/// The shortest cooldown.
pub const MIN_COOLDOWN_MS: u64 = 1_000;

/// An epoch no entry is judged at: the stamp of an entry whose room cannot be judged
/// from the entry (the counter starts at 0 and would take centuries to get here).
const UNCACHED: u64 = u64::MAX;

/// One (room, member) pair and when the member last sent there: the pair's full hash
/// (compared first) and its ids in one allocation, the room's length first; the room's
/// cooldown and the gates epoch it was judged at (see the module docs).
#[derive(Debug)]
struct Sent {
    hash: u64,
    room_len: u32,
    /// The room's cooldown in ms when the entry was judged at `epoch`.
    cooldown: u32,
    ids: Box<str>,
    at: u64,
    /// The gates epoch `cooldown` holds for ([`UNCACHED`]: none).
    epoch: u64,
}

impl Sent {
    #[inline]
    fn is(&self, h: u64, room: &str, user: &str) -> bool {
        self.hash == h
            && self.room_len as usize == room.len()
            && self.ids.len() == room.len() + user.len()
            && self.ids.starts_with(room)
            && self.ids.ends_with(user)
    }

    /// Counts a send at `now` unless `cooldown_ms` since the last one has not passed;
    /// then answers when the next is allowed (a clock read earlier than the last send
    /// counts from the last send).
    #[inline]
    fn count(&mut self, cooldown_ms: u64, now: u64) -> Result<(), u64> {
        let next = self.at.saturating_add(cooldown_ms);
        if now < next {
            return Err(next);
        }
        self.at = now;
        Ok(())
    }

    fn room(&self) -> &str {
        &self.ids[..self.room_len as usize]
    }

    fn user(&self) -> &str {
        &self.ids[self.room_len as usize..]
    }
}

#[derive(Debug, Default)]
struct Shard {
    sent: HashTable<Sent>,
    /// The size past which the next insert first drops entries older than any cooldown.
    prune_at: usize,
}

/// When each member last sent in each slow-mode room (see the module docs).
#[derive(Debug)]
pub(crate) struct SlowLog {
    shards: Box<[Mutex<Shard>]>,
    /// The gates epoch (see the module docs).
    epoch: AtomicU64,
}

impl Default for SlowLog {
    fn default() -> SlowLog {
        SlowLog {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            epoch: AtomicU64::new(0),
        }
    }
}

impl SlowLog {
    fn shard(&self, h: u64) -> &Mutex<Shard> {
        &self.shards[(h >> 40) as usize % SHARDS]
    }

    /// When `user` may next send in `room` under `cooldown_ms`, if that is after `now`
    /// (`None`: now is fine). A pure read.
    pub fn next_allowed(&self, room: &str, user: &str, cooldown_ms: u64, now: u64) -> Option<u64> {
        self.next_allowed_hashed(pair(room, user), room, user, cooldown_ms, now)
    }

    /// [`next_allowed`](SlowLog::next_allowed), the pair's
    /// [`pair_hash`](crate::ids::pair_hash) given.
    pub fn next_allowed_hashed(
        &self,
        h: u64,
        room: &str,
        user: &str,
        cooldown_ms: u64,
        now: u64,
    ) -> Option<u64> {
        let shard = self.shard(h).lock();
        let last = shard.sent.find(h, |s| s.is(h, room, user))?.at;
        let next = last.saturating_add(cooldown_ms);
        (now < next).then_some(next)
    }

    /// Records a send of `user` in `room` at `now` unless the cooldown since their last
    /// one has not passed; then answers when the next is allowed. One critical section.
    #[cfg(test)]
    pub fn try_record(
        &self,
        room: &str,
        user: &str,
        cooldown_ms: u64,
        now: u64,
    ) -> Result<(), u64> {
        self.try_record_hashed(pair(room, user), room, user, cooldown_ms, now, None)
    }

    /// The gates epoch now: read before the room a send is judged from.
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Called after any room's send gates changed (see the module docs): every entry
    /// judged before is judged from its room again.
    pub fn gates_changed(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// A send of `user` in `room`, judged from the pair's entry alone if it was judged
    /// at gates epoch `epoch` (nothing about the room has changed since): counted, or
    /// refused with when the next is allowed. `None` (nothing counted) if there is no
    /// such entry: the caller judges from the room. `now` is read only for an entry.
    #[inline]
    pub fn try_send_cached(
        &self,
        h: u64,
        room: &str,
        user: &str,
        epoch: u64,
        now: impl FnOnce() -> u64,
    ) -> Option<Result<(), u64>> {
        let mut shard = self.shard(h).lock();
        let s = shard
            .sent
            .find_mut(h, |s| s.is(h, room, user))
            .filter(|s| s.epoch == epoch)?;
        Some(s.count(u64::from(s.cooldown), now()))
    }

    /// Records a send as `try_record` does (one critical section), the pair's
    /// [`pair_hash`](crate::ids::pair_hash) given. `judged`: the gates epoch the room
    /// was read at, if the cooldown is all that gates this pair's sends there (no room
    /// mute, no member or module mute, not allow-listed), so later sends may be judged
    /// from the entry ([`try_send_cached`](SlowLog::try_send_cached)).
    pub fn try_record_hashed(
        &self,
        h: u64,
        room: &str,
        user: &str,
        cooldown_ms: u64,
        now: u64,
        judged: Option<u64>,
    ) -> Result<(), u64> {
        // A cooldown too long to keep in the entry (none is: the longest fits) is
        // judged from the room every time.
        let (cooldown, epoch) = match (u32::try_from(cooldown_ms), judged) {
            (Ok(cooldown), Some(epoch)) => (cooldown, epoch),
            _ => (0, UNCACHED),
        };
        let mut guard = self.shard(h).lock();
        let shard = &mut *guard;
        if let Some(s) = shard.sent.find_mut(h, |s| s.is(h, room, user)) {
            (s.cooldown, s.epoch) = (cooldown, epoch);
            return s.count(cooldown_ms, now);
        }
        if shard.sent.len() >= shard.prune_at {
            shard
                .sent
                .retain(|s| now.saturating_sub(s.at) < MAX_COOLDOWN_MS);
            shard.prune_at = (shard.sent.len() * 2).max(64);
        }
        let Ok(room_len) = u32::try_from(room.len()) else {
            // No id is that long (ids are checked on every mutation); nothing to count.
            return Ok(());
        };
        let sent = Sent {
            hash: h,
            room_len,
            cooldown,
            ids: [room, user].concat().into_boxed_str(),
            at: now,
            epoch,
        };
        shard.sent.insert_unique(h, sent, |s| s.hash);
        Ok(())
    }

    /// Forgets every send in `room` (its slow mode was lifted or the room removed).
    pub fn forget_room(&self, room: &str) {
        for shard in &*self.shards {
            shard.lock().sent.retain(|s| s.room() != room);
        }
    }

    /// Forgets every send of `user`.
    pub fn forget_user(&self, user: &str) {
        for shard in &*self.shards {
            shard.lock().sent.retain(|s| s.user() != user);
        }
    }

    /// Pairs remembered (entries past every cooldown included until pruned).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().sent.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_judges_a_send_alone_only_at_the_epoch_it_was_judged_at() {
        let log = SlowLog::default();
        let h = pair("r", "u");
        let e = log.epoch();
        assert_eq!(log.try_send_cached(h, "r", "u", e, || 0), None);
        assert_eq!(
            log.try_record_hashed(h, "r", "u", 1_000, 0, Some(e)),
            Ok(())
        );
        assert_eq!(
            log.try_send_cached(h, "r", "u", e, || 500),
            Some(Err(1_000))
        );
        assert_eq!(log.try_send_cached(h, "r", "u", e, || 1_000), Some(Ok(())));
        log.gates_changed();
        assert_eq!(
            log.try_send_cached(h, "r", "u", log.epoch(), || 5_000),
            None
        );
        // Judged again, with what the room says now.
        let e = log.epoch();
        assert_eq!(
            log.try_record_hashed(h, "r", "u", 9_000, 5_000, Some(e)),
            Err(10_000)
        );
        assert_eq!(log.try_send_cached(h, "r", "u", e, || 10_000), Some(Ok(())));
        assert_eq!(
            log.try_send_cached(h, "r", "u", e, || 11_000),
            Some(Err(19_000))
        );
        // An entry whose room was not judged by its cooldown alone is never used alone.
        assert_eq!(
            log.try_record_hashed(h, "r", "u", 1_000, 20_000, None),
            Ok(())
        );
        assert_eq!(log.try_send_cached(h, "r", "u", e, || 30_000), None);
    }

    #[test]
    fn a_send_is_counted_only_when_allowed() {
        let log = SlowLog::default();
        assert_eq!(log.next_allowed("r", "u", 1_000, 0), None);
        assert_eq!(log.try_record("r", "u", 1_000, 0), Ok(()));
        assert_eq!(log.next_allowed("r", "u", 1_000, 999), Some(1_000));
        assert_eq!(log.try_record("r", "u", 1_000, 999), Err(1_000));
        // A refused try does not move the window.
        assert_eq!(log.try_record("r", "u", 1_000, 1_000), Ok(()));
        assert_eq!(log.try_record("r", "u", 1_000, 1_500), Err(2_000));
        // Other pairs are their own.
        assert_eq!(log.try_record("r", "v", 1_000, 1_500), Ok(()));
        assert_eq!(log.try_record("q", "u", 1_000, 1_500), Ok(()));
        // An earlier clock read counts from the last send.
        assert_eq!(log.try_record("r", "u", 1_000, 10), Err(2_000));
    }

    #[test]
    fn entries_past_every_cooldown_are_pruned() {
        let log = SlowLog::default();
        for i in 0..10_000 {
            log.try_record("r", &format!("u{i}"), 1_000, 0).unwrap();
        }
        let later = MAX_COOLDOWN_MS + 1;
        for i in 0..10_000 {
            log.try_record("r", &format!("w{i}"), 1_000, later).unwrap();
        }
        assert!(log.len() < 15_000, "{} remembered", log.len());
        log.forget_room("r");
        assert_eq!(log.len(), 0);
    }
}
