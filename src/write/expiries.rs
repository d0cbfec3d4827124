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

/// One bucket: each entry and the low bits of its end, and the earliest of them with
/// how many entries share it, so the next end and "anything due?" are answered without
/// a pass over the bucket (a batch of a million mutes shares one bucket).
#[derive(Debug, Default)]
struct Bucket {
    ends: HashMap<Timed, u16, Seeded>,
    /// The least low bits in `ends` while `at_min > 0`; else unknown (recomputed on need).
    min: u16,
    at_min: usize,
}

impl Bucket {
    fn insert(&mut self, key: Timed, low: u16) {
        if let Some(old) = self.ends.insert(key, low) {
            self.forget(old);
        }
        if self.at_min > 0 && low < self.min {
            (self.min, self.at_min) = (low, 1);
        } else if self.at_min > 0 && low == self.min {
            self.at_min += 1;
        }
    }

    fn remove(&mut self, key: &Timed) {
        if let Some(old) = self.ends.remove(key) {
            self.forget(old);
        }
    }

    /// An entry at `low` left: the minimum's count drops if it was there.
    fn forget(&mut self, low: u16) {
        if self.at_min > 0 && low == self.min {
            self.at_min -= 1;
        }
    }

    /// The least low bits in the bucket (it is not empty), recomputed if unknown.
    fn min(&mut self) -> u16 {
        if self.at_min == 0 {
            self.min = self.ends.values().copied().min().unwrap_or(u16::MAX);
            self.at_min = self.ends.values().filter(|&&l| l == self.min).count();
        }
        self.min
    }

    /// The least low bits at or after `from` (a pass only when the minimum is before it).
    fn first_from(&mut self, from: u16) -> Option<u16> {
        let min = self.min();
        if min >= from {
            return Some(min);
        }
        self.ends.values().copied().filter(|&l| l >= from).min()
    }
}

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
                && bucket.ends.get(&key) == Some(&low)
            {
                bucket.remove(&key);
                if bucket.ends.is_empty() {
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
            let mut ends = HashMap::with_capacity_and_hasher(group.len(), Seeded);
            ends.extend(group.iter().map(|&(end, key)| (key, split(end).1)));
            let bucket = Bucket {
                ends,
                min: 0,
                at_min: 0,
            };
            self.by_bucket.insert(split(group[0].0).0, bucket);
        }
    }

    /// The earliest end after `now` of an entry still in force.
    pub fn next_after(&mut self, now: u64) -> Option<u64> {
        let after = now.saturating_add(1);
        let (first, from) = split(after);
        self.by_bucket.range_mut(first..).find_map(|(&b, bucket)| {
            let from = if b == first { from } else { 0 };
            bucket.first_from(from).map(|low| join(b, low))
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
                let ends = entry.remove().ends;
                due.extend(ends.into_iter().map(|(key, l)| (join(b, l), key)));
                continue;
            }
            // The bucket `now` falls in: only its entries that ended by `now` (no pass
            // over it while its earliest end is still to come).
            let bucket = entry.into_mut();
            if bucket.min() > low {
                break;
            }
            bucket.ends.retain(|&key, &mut l| {
                let ended = l <= low;
                if ended {
                    due.push((join(b, l), key));
                }
                !ended
            });
            bucket.at_min = 0;
            if bucket.ends.is_empty() {
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
