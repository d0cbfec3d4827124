//! The tables behind the engine, and the single function that changes them.
//!
//! Two interning tables: user-major (`users`: a user's notification settings, oldest
//! first, and module mutes) and room-major (`rooms`: the room's notification settings
//! for fan-out, member mutes, room-wide mute and allow list). Notification settings live
//! in both and are kept equal. Entries point at other ids by [`Handle`]: a member mute
//! or an allow entry holds a reference on its user, so the user's id stays interned
//! while anything points at it; a user's notification setting points at its room, which
//! the room's own copy of the setting keeps alive.
//!
//! Writers of one user or room are serialized by the engine (its key stripes, or the
//! writer lock), so [`Tables::apply`] never races another writer of the same entry;
//! writers of disjoint ids may run at once, each entry edited under its shard's guard.
//! Readers and writers take one shard guard at a time and never two at once.

mod dump;
mod fanout;
mod history;
mod personal;
mod personal_index;
mod purge;
mod state;
mod strikes;
#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry as Slot;

use smallvec::SmallVec;

pub(crate) use dump::canonical;
pub(crate) use fanout::hash as fanout_hash;
pub(crate) use history::History;
pub(crate) use personal_index::PersonalIndex;
pub(crate) use state::{Personal, RoomState, UserState};

use crate::action::Actions;
use crate::change::{Change, Changes, Timed};
use crate::expiry::{Expiry, NONE, Raw, active};
use crate::filter::Filters;
use crate::ids::{Handle, Key, Table, hash_str, pair};
use crate::module::Module;
use crate::notify::{NotifyLevel, Setting};
use crate::op::Op;
use crate::slow::SlowLog;

/// Counts `key` into `filter` or out of it as it gains or loses what the filter counts.
fn count(filter: &crate::filter::Filter, key: &str, had: bool, has: bool) {
    match (had, has) {
        (false, true) => filter.add(hash_str(key)),
        (true, false) => filter.remove(hash_str(key)),
        _ => {}
    }
}

/// The change of a member mute lifted or purged (`old` its end).
fn member_lifted(room: &Key, user: Key, old: Raw, at: Timed) -> Change {
    Change::Member {
        room: room.clone(),
        user,
        old,
        new: NONE,
        scope: Actions::ALL,
        at,
    }
}

/// Whether `op` may change what gates sends in a room: its mute, its slow mode, its
/// allow list, a module mute of a user (which gates every room), or the room or a user
/// removed. A member mute gates one room, so [`Tables::mute_members`] asks on its own
/// whether the room may have slow mode. A moderated call applies its operation through
/// [`Tables::apply`], which asks again.
fn changes_gates(op: &Op) -> bool {
    match op {
        Op::MuteRoom { .. }
        | Op::UnmuteRoom { .. }
        | Op::Allow { .. }
        | Op::Disallow { .. }
        | Op::SetSlowMode { .. }
        | Op::RemoveRoom { .. }
        | Op::RemoveUser { .. } => true,
        Op::SetModules { change, .. } => change.contains(&Some(true)),
        _ => false,
    }
}

/// The two indexes and the filters in front of them.
#[derive(Debug)]
pub(crate) struct Tables {
    /// Boxed states: most interned users only have entries pointing at them.
    pub users: Table<Box<UserState>>,
    pub rooms: Table<RoomState>,
    pub filters: Filters,
    /// Users with personal rules, for the push checks.
    pub personal: PersonalIndex,
    /// Slow mode's soft state (never logged, replicated or dumped).
    pub slow: SlowLog,
    /// Each subject's moderation history.
    pub history: History,
}

impl Tables {
    pub fn new(shards: usize, filter_slots: usize, history_len: usize) -> Tables {
        Tables {
            users: Table::new(shards),
            rooms: Table::new(shards),
            filters: Filters::new(filter_slots),
            personal: PersonalIndex::default(),
            slow: SlowLog::default(),
            history: History::new(history_len),
        }
    }

    /// Edits `user`'s state, keeping the two user filters' counts: a user is counted
    /// in while they have a notification setting, and while they have a module mute.
    /// Counts move under the user's shard lock, up before and down after a reader could
    /// see the change.
    fn edit_user<R>(
        &self,
        user: &str,
        create: bool,
        f: impl FnOnce(Handle, &mut Box<UserState>) -> R,
    ) -> Option<R> {
        let filters = &self.filters;
        self.users.edit(user, create, |h, u| {
            let had = (!u.notify.is_empty(), u.modules.is_some());
            let out = f(h, u);
            let has = (!u.notify.is_empty(), u.modules.is_some());
            count(&filters.notify_users, user, had.0, has.0);
            count(&filters.module_users, user, had.1, has.1);
            out
        })
    }

    pub(super) fn edit_room<R>(
        &self,
        room: &str,
        create: bool,
        f: impl FnOnce(Handle, &mut RoomState) -> R,
    ) -> Option<R> {
        self.rooms.edit(room, create, f)
    }

    /// Sets or clears a room-wide mute, keeping the room-mute filter's count.
    fn set_room_mute(&self, room: Key, raw: Raw, scope: Actions, changes: &mut impl Changes) {
        let scope = if raw == NONE { Actions::ALL } else { scope };
        self.edit_gates(&room, raw != NONE, |h, r| {
            if r.mute != NONE || raw != NONE {
                changes.record(|| Change::Room {
                    room: room.clone(),
                    old: r.mute,
                    new: raw,
                    scope,
                    at: Timed::Room(h.slot()),
                });
            }
            r.mute = raw;
            r.mute_scope = scope;
        });
    }

    /// Edits what gates sends in `room` (its mute, its slow mode), keeping its count in
    /// the room-mute filter: counted while either is set.
    fn edit_gates(&self, room: &str, create: bool, f: impl FnOnce(Handle, &mut RoomState)) {
        let filter = &self.filters.room_mutes;
        self.edit_room(room, create, |h, r| {
            let had = r.gates_sends();
            f(h, r);
            count(filter, room, had, r.gates_sends());
        });
    }

    fn set_slow_mode(&self, room: Key, cooldown_ms: u64, changes: &mut impl Changes) {
        self.edit_gates(&room, cooldown_ms != 0, |_, r| {
            if r.slow_mode != cooldown_ms {
                changes.record(|| Change::SlowMode {
                    room: room.clone(),
                    cooldown_ms,
                });
            }
            r.slow_mode = cooldown_ms;
        });
        if cooldown_ms == 0 {
            self.slow.forget_room(&room);
        }
    }

    /// The active notification setting of (user, room), if any.
    pub fn active_setting(&self, user: &str, room: &str, now: u64) -> Option<Setting> {
        let room = self.rooms.find(room)?;
        let s = self.users.get(user)?.setting(room)?;
        active(s.until, now).then_some(s)
    }

    /// Applies one operation, reporting every entry it changed to `changes`. `now` only
    /// decides whether an existing notification setting had already ended (a new setting
    /// then goes to the end of the user's list).
    pub fn apply(&self, op: Op, now: u64, changes: &mut impl Changes) {
        let gates = changes_gates(&op);
        self.apply_op(op, now, changes);
        if gates {
            // After the room changed: slow mode's entries judged before are stale.
            self.slow.gates_changed();
        }
    }

    /// [`apply`](Tables::apply) without the gates epoch.
    fn apply_op(&self, op: Op, now: u64, changes: &mut impl Changes) {
        match op {
            Op::SetNotify {
                user,
                room,
                level,
                until,
            } => self.set_notify(user, room, level, until.raw(), now, changes),
            Op::MuteMembers {
                room,
                users,
                until,
                actions,
            } => {
                self.mute_members(room, users, until.raw(), actions, changes);
            }
            Op::UnmuteMembers { room, users } => self.unmute_members(room, users, changes),
            Op::SetModules {
                user,
                change,
                until,
                actions,
            } => {
                let create = change.contains(&Some(true));
                self.edit_user(&user, create, |h, u| {
                    let mut modules = u.modules();
                    let mut scopes = u.module_scopes();
                    for ((slot, c), module) in modules.iter_mut().zip(change).zip(Module::ALL) {
                        let (new, scope) = match c {
                            Some(true) => (until.raw(), actions),
                            Some(false) => (NONE, Actions::ALL),
                            None => continue,
                        };
                        scopes[module.index()] = scope;
                        if *slot != NONE || new != NONE {
                            changes.record(|| Change::Module {
                                user: user.clone(),
                                module,
                                old: *slot,
                                new,
                                scope,
                                at: Timed::Module(h.slot(), module),
                            });
                        }
                        *slot = new;
                    }
                    u.modules = (modules != [NONE; 4]).then(|| Box::new(modules));
                    u.module_scopes = (scopes != [Actions::ALL; 4]).then(|| Box::new(scopes));
                });
            }
            Op::MuteRoom {
                room,
                until,
                actions,
            } => self.set_room_mute(room, until.raw(), actions, changes),
            Op::UnmuteRoom { room } => self.set_room_mute(room, NONE, Actions::ALL, changes),
            Op::Allow { room, users } => self.allow(room, users, changes),
            Op::Disallow { room, users } => self.disallow(room, users, changes),
            Op::RemoveUser { user } => self.remove_user(&user, now, changes),
            Op::RemoveRoom { room } => self.remove_room(&room, now, changes),
            Op::SetQuietHours { user, schedule } => self.set_quiet_hours(user, schedule, changes),
            Op::Snooze { user, until } => {
                self.snooze(user, until.map_or(NONE, Expiry::raw), changes);
            }
            Op::SetBypass { user, bypass } => self.set_bypass(user, bypass, changes),
            Op::MuteSender {
                user,
                sender,
                until,
            } => self.mute_sender(user, sender, until.raw(), changes),
            Op::UnmuteSender { user, sender } => self.unmute_sender(user, sender, changes),
            Op::SetRoomMentions { room, notify } => self.set_room_mentions(room, notify, changes),
            Op::SetSlowMode { room, cooldown_ms } => {
                self.set_slow_mode(room, cooldown_ms.unwrap_or(0), changes);
            }
            Op::SetLadder { room, ladder } => self.set_ladder(room, ladder, changes),
            Op::Strike { room, user, ladder } => self.strike(room, user, &ladder, now, changes),
            Op::SetStrikes {
                room,
                user,
                ends_ms,
            } => self.set_strikes(room, user, ends_ms, now, changes),
            Op::Moderated { trail, op } => self.moderated(trail, *op, now, changes),
            Op::Remember { subject, entries } => self.history.replace(subject, entries),
        }
    }

    /// Edits `room` once per user of `users`, with the user's handle. Adding (`add`):
    /// a reference on each user is taken first (never two shards locked at once) and
    /// `f` says whether its entry kept it (`false`: the user was there already, so it
    /// is given back). Removing: users are looked up (one not interned has no entry)
    /// and `f` says whether it dropped an entry, whose reference is then given back.
    pub(super) fn each_user(
        &self,
        room: &str,
        users: Vec<Key>,
        add: bool,
        mut f: impl FnMut(Handle, &mut RoomState, Key, Handle) -> bool,
    ) {
        let handles: SmallVec<[Option<Handle>; 4]> = users
            .iter()
            .map(|u| {
                if add {
                    Some(self.users.acquire(u))
                } else {
                    self.users.find(u)
                }
            })
            .collect();
        let mut release: SmallVec<[Handle; 4]> = SmallVec::new();
        self.edit_room(room, add, |rh, r| {
            for (user, h) in users.into_iter().zip(handles) {
                if let Some(h) = h
                    && f(rh, r, user, h) != add
                {
                    release.push(h);
                }
            }
        });
        for h in release {
            self.users.release(h);
        }
    }

    pub(super) fn mute_members(
        &self,
        room: Key,
        users: Vec<Key>,
        raw: Raw,
        scope: Actions,
        changes: &mut impl Changes,
    ) {
        let filter = &self.filters.members;
        self.each_user(&room, users, true, |rh, r, user, h| {
            r.scope_member(h, scope);
            let (old, kept) = match r.members.entry(h) {
                Slot::Occupied(mut e) => (e.insert(raw), false),
                Slot::Vacant(e) => {
                    filter.add(pair(&room, &user));
                    e.insert(raw);
                    (NONE, true)
                }
            };
            changes.record(|| Change::Member {
                room: room.clone(),
                user,
                old,
                new: raw,
                scope,
                at: Timed::Member(rh.slot(), h.slot()),
            });
            kept
        });
        // After the room changed. A room slow mode is counted in the room-mute filter
        // before its slow mode is seen, so a clear bit means no entry judged in this
        // room can be stale: one set later bumps the epoch itself.
        if self.filters.room_mutes.may_contain(hash_str(&room)) {
            self.slow.gates_changed();
        }
    }

    fn unmute_members(&self, room: Key, users: Vec<Key>, changes: &mut impl Changes) {
        let filter = &self.filters.members;
        self.each_user(&room, users, false, |rh, r, user, h| {
            let Some(old) = r.members.remove(&h) else {
                return false;
            };
            r.scope_member(h, Actions::ALL);
            filter.remove(pair(&room, &user));
            let at = Timed::Member(rh.slot(), h.slot());
            changes.record(|| member_lifted(&room, user, old, at));
            true
        });
    }

    fn allow(&self, room: Key, users: Vec<Key>, changes: &mut impl Changes) {
        let filter = &self.filters.members;
        self.each_user(&room, users, true, |_, r, user, h| {
            let kept = r.allow.get_or_insert_with(Box::default).insert(h);
            if kept {
                filter.add(pair(&room, &user));
                changes.record(|| Change::Allow {
                    room: room.clone(),
                    user,
                    allowed: true,
                });
            }
            kept
        });
    }

    fn disallow(&self, room: Key, users: Vec<Key>, changes: &mut impl Changes) {
        let filter = &self.filters.members;
        self.each_user(&room, users, false, |_, r, user, h| {
            let dropped = r.disallow(h);
            if dropped {
                filter.remove(pair(&room, &user));
                changes.record(|| Change::Allow {
                    room: room.clone(),
                    user,
                    allowed: false,
                });
            }
            dropped
        });
    }

    fn set_notify(
        &self,
        user: Key,
        room: Key,
        level: NotifyLevel,
        until: Raw,
        now: u64,
        changes: &mut impl Changes,
    ) {
        let mut old = None;
        if level == NotifyLevel::All {
            // A user's setting points at a room that holds the same setting: no room
            // handle, no setting.
            let Some(rh) = self.rooms.find(&room) else {
                return;
            };
            let uh = self.edit_user(&user, false, |uh, u| {
                if let Some(i) = u.notify.iter().position(|(r, _)| *r == rh) {
                    old = Some(u.notify.remove(i).1);
                }
                uh
            });
            self.edit_room(&room, false, |_, r| r.clear_setting(&user));
            if let (Some(uh), Some(_)) = (uh, old) {
                changes.record(|| Change::Notify {
                    user,
                    room,
                    old,
                    new: None,
                    at: Timed::Notify(uh.slot(), rh.slot()),
                });
            }
            return;
        }
        let setting = Setting { level, until };
        // The room first: the user's list points at the room's handle, which the room's
        // copy of the setting keeps alive.
        let rh = self
            .edit_room(&room, true, |rh, r| {
                r.set_setting(&user, setting);
                rh
            })
            .expect("a room with a setting is stored");
        let uh = self
            .edit_user(&user, true, |uh, u| {
                match u.notify.iter().position(|(r, _)| *r == rh) {
                    // Still in force: update in place, keeping its place in the list.
                    Some(i) if active(u.notify[i].1.until, now) => {
                        old = Some(u.notify[i].1);
                        u.notify[i].1 = setting;
                    }
                    // Ended: it is a new mute, so it moves to the end.
                    Some(i) => {
                        old = Some(u.notify.remove(i).1);
                        u.notify.push((rh, setting));
                    }
                    None => u.notify.push((rh, setting)),
                }
                uh
            })
            .expect("a user with a setting is stored");
        changes.record(|| Change::Notify {
            user,
            room,
            old,
            new: Some(setting),
            at: Timed::Notify(uh.slot(), rh.slot()),
        });
    }
}
