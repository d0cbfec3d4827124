//! The index of every stored timed entry by its end time: what the sweeper takes due
//! entries from, and what says when the next one ends.
//!
//! Ends are bucketed by their millisecond with the low [`BUCKET_BITS`] dropped (about a
//! second per bucket); a bucket maps each entry to the low bits of its end. An entry
//! costs one 16-byte slot in its bucket's hash map, whether it shares its end with a
//! batch or, as mutes made one at a time do, ends at a millisecond of its own (an index
//! keyed by exact end paid a tree slot and a set of its own per distinct end: about 140
//! bytes per entry). An insert or a removal is one tree step and one hash operation and
//! never compares ids; only the sweep and [`Expiries::next_after`] look inside a bucket.

use std::collections::{BTreeMap, HashMap};

use crate::change::Timed;
use crate::expiry::Raw;
use crate::ids::Seeded;

/// The low bits of an end that its bucket keeps per entry.
const BUCKET_BITS: u32 = 10;
const LOW: u64 = (1 << BUCKET_BITS) - 1;

/// One bucket: each entry and the low bits of its end.
type Bucket = HashMap<Timed, u16, Seeded>;

/// The index (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Expiries {
    by_bucket: BTreeMap<u64, Bucket>,
}

#[inline]
fn split(end: Raw) -> (u64, u16) {
    // The mask keeps the low bits below 2^10.
    (end >> BUCKET_BITS, (end & LOW) as u16)
}

#[inline]
fn join(bucket: u64, low: u16) -> Raw {
    bucket << BUCKET_BITS | u64::from(low)
}

impl Expiries {
    /// Moves `key` from its old end to its new one (either may be no end at all).
    pub fn track(&mut self, key: Timed, old: Raw, new: Raw) {
        if crate::change::finite(old) {
            let (b, low) = split(old);
            if let Some(bucket) = self.by_bucket.get_mut(&b)
                && bucket.get(&key) == Some(&low)
            {
                bucket.remove(&key);
                if bucket.is_empty() {
                    self.by_bucket.remove(&b);
                }
            }
        }
        if crate::change::finite(new) {
            let (b, low) = split(new);
            self.by_bucket.entry(b).or_default().insert(key, low);
        }
    }

    /// Replaces the index by one of `entries` (each with its finite end), each bucket
    /// sized before it is filled.
    pub fn rebuild(&mut self, mut entries: Vec<(Raw, Timed)>) {
        entries.sort_unstable_by_key(|(raw, _)| *raw);
        self.by_bucket.clear();
        for group in entries.chunk_by(|a, b| split(a.0).0 == split(b.0).0) {
            let mut bucket = Bucket::with_capacity_and_hasher(group.len(), Seeded);
            bucket.extend(group.iter().map(|&(end, key)| (key, split(end).1)));
            self.by_bucket.insert(split(group[0].0).0, bucket);
        }
    }

    /// The earliest end after `now` of an entry still in force.
    pub fn next_after(&self, now: u64) -> Option<u64> {
        let after = now.saturating_add(1);
        self.by_bucket
            .range(split(after).0..)
            .find_map(|(&b, bucket)| {
                bucket
                    .values()
                    .map(|&low| join(b, low))
                    .filter(|&end| end >= after)
                    .min()
            })
    }

    /// Removes and returns every entry that has ended by `now`, earliest end first.
    pub fn take_due(&mut self, now: u64) -> Vec<Timed> {
        let mut due: Vec<(Raw, Timed)> = Vec::new();
        let (last, low) = split(now);
        while let Some(entry) = self.by_bucket.first_entry() {
            let b = *entry.key();
            if b > last {
                break;
            }
            if b < last {
                due.extend(entry.remove().into_iter().map(|(key, l)| (join(b, l), key)));
                continue;
            }
            // The bucket `now` falls in: only its entries that ended by `now`.
            let bucket = entry.into_mut();
            bucket.retain(|&key, &mut l| {
                let ended = l <= low;
                if ended {
                    due.push((join(b, l), key));
                }
                !ended
            });
            if bucket.is_empty() {
                self.by_bucket.remove(&b);
            }
            break;
        }
        due.sort_unstable_by_key(|&(end, _)| end);
        due.into_iter().map(|(_, key)| key).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::{FOREVER, NONE};
    use crate::ids::Slot;

    fn member(i: u32) -> Timed {
        Timed::Member(Slot(1), Slot(i))
    }

    #[test]
    fn entries_come_due_in_end_order_across_and_inside_buckets() {
        let mut x = Expiries::default();
        // Ends inside one bucket, across buckets, and one shared by two entries.
        let ends = [5_000, 1_030, 1_025, 3_000_000, 1_025, 2_047, 2_048];
        for (i, &end) in ends.iter().enumerate() {
            x.track(member(i as u32), NONE, end);
        }
        assert_eq!(x.next_after(0), Some(1_025));
        assert_eq!(x.next_after(1_025), Some(1_030));
        assert_eq!(x.next_after(2_047), Some(2_048));
        assert_eq!(x.next_after(3_000_000), None);
        // Up to 1_030: the two at 1_025 (either order), then 1_030; not 2_047.
        let due = x.take_due(1_030);
        assert_eq!(due.len(), 3);
        assert!(due[..2].contains(&member(2)) && due[..2].contains(&member(4)));
        assert_eq!(due[2], member(1));
        assert_eq!(x.take_due(2_047), vec![member(5)]);
        assert_eq!(x.take_due(10_000), vec![member(6), member(0)]);
        assert_eq!(x.next_after(0), Some(3_000_000));
        assert_eq!(x.take_due(u64::MAX - 2), vec![member(3)]);
        assert!(x.by_bucket.is_empty());
    }

    #[test]
    fn a_move_takes_the_entry_from_its_old_end_only() {
        let mut x = Expiries::default();
        x.track(member(1), NONE, 1_500);
        // A stale old end (not where the entry is) leaves it where it is.
        x.track(member(1), 1_501, NONE);
        assert_eq!(x.next_after(0), Some(1_500));
        // Moved within its bucket, then to another, then to forever.
        x.track(member(1), 1_500, 1_600);
        assert_eq!(x.next_after(0), Some(1_600));
        x.track(member(1), 1_600, 90_000);
        assert_eq!(x.next_after(0), Some(90_000));
        x.track(member(1), 90_000, FOREVER);
        assert_eq!(x.next_after(0), None);
        assert!(x.by_bucket.is_empty(), "empty buckets are dropped");
    }

    #[test]
    fn a_rebuild_holds_what_tracking_would() {
        let ends: Vec<(Raw, Timed)> = (0..3_000u32)
            .map(|i| (u64::from(i) * 7 % 5_000 + 1, member(i)))
            .collect();
        let mut tracked = Expiries::default();
        for &(end, key) in &ends {
            tracked.track(key, NONE, end);
        }
        let mut rebuilt = Expiries::default();
        rebuilt.rebuild(ends);
        for now in [0, 1, 999, 1_024, 2_500, 4_999] {
            assert_eq!(tracked.next_after(now), rebuilt.next_after(now));
        }
        let ends_of = |x: &mut Expiries| -> Vec<Timed> { x.take_due(3_000) };
        let (a, b) = (ends_of(&mut tracked), ends_of(&mut rebuilt));
        assert_eq!(a.len(), b.len());
        assert_eq!(tracked.next_after(0), rebuilt.next_after(0));
    }
}
