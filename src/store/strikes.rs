//! Escalation: rooms' ladders, members' strikes, and the mute a strike brings.

use std::collections::hash_map::Entry as Slot;

use smallvec::SmallVec;

use super::Tables;
use crate::action::Actions;
use crate::change::{Change, Changes, Timed};
use crate::expiry::{FOREVER, NONE, active};
use crate::ids::Key;
use crate::ladder::{Ladder, MAX_STRIKES};

impl Tables {
    pub(super) fn set_ladder(&self, room: Key, ladder: Option<Ladder>, changes: &mut impl Changes) {
        self.edit_room(&room, ladder.is_some(), |_, r| {
            if r.ladder.as_deref() != ladder.as_ref() {
                changes.record(|| Change::Ladder {
                    room: room.clone(),
                    ladder: ladder.clone(),
                });
            }
            r.ladder = ladder.map(Box::new);
        });
    }

    /// A strike at `now`: its decay recorded (decayed ones dropped), then the member
    /// muted for the ladder's step, or left with a longer mute in force.
    pub(super) fn strike(
        &self,
        room: Key,
        user: Key,
        ladder: &Ladder,
        now: u64,
        changes: &mut impl Changes,
    ) {
        let end = now.saturating_add(ladder.decay_ms()).min(FOREVER - 1);
        let mut strikes = 0;
        let mut current = NONE;
        let mut again = false;
        self.each_user(&room, vec![user.clone()], true, |rh, r, user, h| {
            current = r.members.get(&h).copied().unwrap_or(NONE);
            let before = r.strikes_at(h, now);
            let map = r.strikes.get_or_insert_with(Box::default);
            let (ends, kept) = match map.entry(h) {
                Slot::Occupied(e) => (e.into_mut(), false),
                Slot::Vacant(e) => (e.insert(SmallVec::new()), true),
            };
            // A strike is known by its decay: one already there is this operation
            // applied again (a replay over a snapshot that holds it), which changes
            // nothing more.
            if ends.contains(&end) {
                again = true;
                return kept;
            }
            let old = ends.last().copied().unwrap_or(NONE);
            ends.retain(|e| *e > now);
            // Kept in order of decay (a ladder's decay may have changed since).
            let at = ends.partition_point(|e| *e <= end);
            ends.insert(at, end);
            if ends.len() > MAX_STRIKES {
                ends.remove(0);
            }
            strikes = ends.len();
            let new = ends.last().copied().unwrap_or(NONE);
            changes.record(|| Change::Strikes {
                room: room.clone(),
                user,
                before,
                after: strikes,
                old,
                new,
                at: Timed::Strikes(rh.slot(), h.slot()),
            });
            kept
        });
        if again {
            return;
        }
        let step = now.saturating_add(ladder.step_ms(strikes)).min(FOREVER - 1);
        let until = if active(current, now) {
            current.max(step)
        } else {
            step
        };
        self.mute_members(room, vec![user], until, Actions::ALL, changes);
    }

    /// Replaces a member's strikes (empty: a pardon, whose entry and reference go).
    pub(super) fn set_strikes(
        &self,
        room: Key,
        user: Key,
        mut ends: Vec<u64>,
        now: u64,
        changes: &mut impl Changes,
    ) {
        ends.retain(|e| *e > now);
        ends.sort_unstable();
        ends.truncate(MAX_STRIKES);
        let add = !ends.is_empty();
        self.each_user(&room, vec![user], add, |rh, r, user, h| {
            let before = r.strikes_at(h, now);
            let old = r
                .strikes
                .as_ref()
                .and_then(|m| m.get(&h))
                .and_then(|e| e.last().copied())
                .unwrap_or(NONE);
            let map = r.strikes.get_or_insert_with(Box::default);
            if add {
                map.insert(h, ends.iter().copied().collect());
            } else {
                map.remove(&h);
            }
            if map.is_empty() {
                r.strikes = None;
            }
            let new = ends.last().copied().unwrap_or(NONE);
            if old != NONE || new != NONE {
                changes.record(|| Change::Strikes {
                    room: room.clone(),
                    user,
                    before,
                    after: ends.len(),
                    old,
                    new,
                    at: Timed::Strikes(rh.slot(), h.slot()),
                });
            }
            // Adding: the entry keeps its reference if it is new. Removing: it gives
            // one back if there was an entry.
            let had = old != NONE;
            if add { !had } else { had }
        });
    }
}
