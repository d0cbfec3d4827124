//! The bounded moderation history of each subject: the last `len` entries by time.
//!
//! Entries are kept in time order (ties in the order applied), so the history is a fold
//! of the operations whatever order replays bring them in: an entry equal to one kept
//! (same time, operation and trail) is not kept twice, and one older than every entry
//! of a full history is not kept at all. Memory is at most `len` entries per subject
//! moderated; [`Op::RemoveUser`](crate::Op::RemoveUser) and
//! [`Op::RemoveRoom`](crate::Op::RemoveRoom) drop the histories of what they purge.

use std::collections::VecDeque;
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;

use crate::change::{Change, Changes};
use crate::expiry::Expiry;
use crate::op::ModerationEntry;
use crate::op::Op;
use crate::trail::{MAX_HISTORY_LEN, Subject, SubjectRef, Trail};

/// Shards of the histories (each a mutex over a map).
const SHARDS: usize = 16;

/// Entries are shared with the change that reports them (no copy per mutation); a
/// [`SubjectRef`] looks a subject up without copying its ids.
type Shard = HashMap<Subject, VecDeque<Arc<ModerationEntry>>, ahash::RandomState>;

/// Every subject's history.
#[derive(Debug)]
pub(crate) struct History {
    shards: Box<[Mutex<Shard>]>,
    hasher: ahash::RandomState,
    len: usize,
}

impl History {
    /// Histories of at most `len` entries each (clamped to [`MAX_HISTORY_LEN`]; 0 keeps
    /// none).
    pub fn new(len: usize) -> History {
        History {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: ahash::RandomState::new(),
            len: len.min(MAX_HISTORY_LEN),
        }
    }

    /// The entries kept per subject.
    pub fn len(&self) -> usize {
        self.len
    }

    fn shard(&self, subject: SubjectRef<'_>) -> &Mutex<Shard> {
        let h = self.hasher.hash_one(subject.owner());
        &self.shards[(h >> 32) as usize % SHARDS]
    }

    /// Adds `entry` to `subject`'s history; whether it was kept (not there already, and
    /// not older than every entry of a full history).
    pub fn push(&self, subject: &Subject, entry: &Arc<ModerationEntry>) -> bool {
        if self.len == 0 {
            return false;
        }
        let key = subject.borrowed();
        let mut shard = self.shard(key).lock();
        // One probe; the ids are copied only for a subject's first entry.
        let entries = shard.entry_ref(&key).or_default();
        let at = entries.partition_point(|e| e.at_ms <= entry.at_ms);
        let same_time = entries
            .range(..at)
            .rev()
            .take_while(|e| e.at_ms == entry.at_ms);
        if same_time.into_iter().any(|e| **e == **entry) {
            return false;
        }
        if entries.len() == self.len && at == 0 {
            return false;
        }
        entries.insert(at, Arc::clone(entry));
        if entries.len() > self.len {
            entries.pop_front();
        }
        true
    }

    /// Replaces `subject`'s history by the last `len` of `entries` (sorted by time).
    pub fn replace(&self, subject: Subject, mut entries: Vec<ModerationEntry>) {
        entries.sort_by_key(|e| e.at_ms);
        entries.dedup();
        let skip = entries.len().saturating_sub(self.len);
        let kept: VecDeque<_> = entries.into_iter().skip(skip).map(Arc::new).collect();
        let mut shard = self.shard(subject.borrowed()).lock();
        if kept.is_empty() {
            shard.remove(&subject);
        } else {
            shard.insert(subject, kept);
        }
    }

    /// `subject`'s history, oldest first.
    pub fn get(&self, subject: &Subject) -> Vec<ModerationEntry> {
        self.shard(subject.borrowed())
            .lock()
            .get(subject)
            .map(|e| e.iter().map(|e| (**e).clone()).collect())
            .unwrap_or_default()
    }

    /// The trail of the mute ending at `expiry` of `user` in `room`: that of the latest
    /// mute in their history, if it is a strike or a mute until `expiry` (else the mute
    /// in force was made without a trail, after it).
    pub fn mute_trail(&self, room: &str, user: &str, expiry: Expiry) -> Option<Trail> {
        if self.len == 0 {
            return None;
        }
        let key = SubjectRef::Member(room, user);
        let shard = self.shard(key).lock();
        let latest = shard
            .get(&key)?
            .iter()
            .rev()
            .find(|e| matches!(e.op, Op::MuteMembers { .. } | Op::Strike { .. }))?;
        match &latest.op {
            Op::MuteMembers { until, .. } if *until != expiry => None,
            _ => Some(latest.trail.clone()),
        }
    }

    /// Drops every history about `user` (as a member of any room, or a user).
    pub fn forget_user(&self, user: &str) {
        self.retain(|s| s.user_id() != Some(user));
    }

    /// Drops every history in `room` (the room's own and its members').
    pub fn forget_room(&self, room: &str) {
        self.retain(|s| s.room_id() != Some(room));
    }

    fn retain(&self, keep: impl Fn(&Subject) -> bool) {
        for shard in &*self.shards {
            shard.lock().retain(|s, _| keep(s));
        }
    }

    /// The operations that restore every history.
    pub fn to_ops(&self) -> Vec<Op> {
        self.shards
            .iter()
            .flat_map(|shard| {
                shard
                    .lock()
                    .iter()
                    .map(|(subject, entries)| Op::Remember {
                        subject: subject.clone(),
                        entries: entries.iter().map(|e| (**e).clone()).collect(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Entries kept, over every subject.
    pub fn entries(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().values().map(VecDeque::len).sum::<usize>())
            .sum()
    }
}

impl super::Tables {
    /// Applies a moderation operation and adds it to the history of each subject it
    /// is about, at `now` (the operation's time). With no history kept, the trail is
    /// only carried (in the log, the stream).
    pub(super) fn moderated(&self, trail: Trail, op: Op, now: u64, changes: &mut impl Changes) {
        if self.history.len() == 0 {
            return self.apply(op, now, changes);
        }
        let subjects = crate::op::subjects(&op);
        self.apply(op, now, changes);
        for (subject, op) in subjects {
            let entry = Arc::new(ModerationEntry::new(now, op, trail.clone()));
            if self.history.push(&subject, &entry) {
                changes.record(|| Change::History { subject, entry });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64, reason: &str) -> Arc<ModerationEntry> {
        let op = Op::UnmuteRoom { room: "r".into() };
        Arc::new(ModerationEntry::new(
            at_ms,
            op,
            Trail::by("m").reason(reason),
        ))
    }

    #[test]
    fn keeps_the_last_len_entries_by_time_once_each() {
        let h = History::new(3);
        let s = Subject::room("r");
        for (at, why) in [(5, "a"), (1, "b"), (9, "c"), (7, "d")] {
            h.push(&s, &entry(at, why));
        }
        let got: Vec<u64> = h.get(&s).iter().map(|e| e.at_ms).collect();
        assert_eq!(got, [5, 7, 9]);
        assert!(!h.push(&s, &entry(7, "d")), "a replay is kept once");
        assert!(!h.push(&s, &entry(2, "e")), "older than a full history");
        assert!(h.push(&s, &entry(7, "f")), "same time, other trail");
        let got: Vec<String> = h
            .get(&s)
            .into_iter()
            .map(|e| e.trail.reason.unwrap())
            .collect();
        assert_eq!(got, ["d", "f", "c"]);
        assert_eq!(h.entries(), 3);
    }

    #[test]
    fn nothing_is_kept_with_a_zero_bound() {
        let h = History::new(0);
        assert!(!h.push(&Subject::room("r"), &entry(1, "a")));
        assert!(h.to_ops().is_empty());
    }

    #[test]
    fn forgetting_drops_the_subjects_named() {
        let h = History::new(4);
        for s in [
            Subject::member("r", "u"),
            Subject::member("q", "u"),
            Subject::member("r", "v"),
            Subject::room("r"),
            Subject::user("u"),
        ] {
            h.push(&s, &entry(1, "x"));
        }
        h.forget_user("u");
        assert_eq!(h.entries(), 2);
        h.forget_room("r");
        assert_eq!(h.entries(), 0);
    }
}
