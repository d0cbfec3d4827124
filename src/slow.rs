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
//! [`Op::SetSlowMode`]: crate::Op::SetSlowMode

use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::ids::pair;

/// Shards of the soft state.
const SHARDS: usize = 64;

/// The longest cooldown: entries older than this are never needed again.
pub const MAX_COOLDOWN_MS: u64 = 6 * 3_600_000;

/// The shortest cooldown.
pub const MIN_COOLDOWN_MS: u64 = 1_000;

/// One (room, member) pair and when the member last sent there: the pair's full hash
/// (compared first) and its ids in one allocation, the room's length first.
#[derive(Debug)]
struct Sent {
    hash: u64,
    room_len: u32,
    ids: Box<str>,
    at: u64,
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
}

impl Default for SlowLog {
    fn default() -> SlowLog {
        SlowLog {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
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
        self.try_record_hashed(pair(room, user), room, user, cooldown_ms, now)
    }

    /// Records a send as `try_record` does (one critical section), the pair's
    /// [`pair_hash`](crate::ids::pair_hash) given.
    pub fn try_record_hashed(
        &self,
        h: u64,
        room: &str,
        user: &str,
        cooldown_ms: u64,
        now: u64,
    ) -> Result<(), u64> {
        let mut guard = self.shard(h).lock();
        let shard = &mut *guard;
        if let Some(s) = shard.sent.find_mut(h, |s| s.is(h, room, user)) {
            let next = s.at.saturating_add(cooldown_ms);
            // A clock read earlier than the last send counts from the last send.
            if now < next {
                return Err(next);
            }
            s.at = now;
            return Ok(());
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
            ids: [room, user].concat().into_boxed_str(),
            at: now,
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
