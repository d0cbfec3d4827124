//! Purges: every trace of a user or a room, each stored entry reported as a change;
//! their moderation histories go too (not reported: a history is not a mute).

use super::*;

impl Tables {
    pub(super) fn remove_user(&self, user: &Key, now: u64, changes: &mut impl Changes) {
        self.history.forget_user(user);
        let mut held = Vec::new();
        if let Some((uh, mut state)) = self.users.take(user) {
            count(
                &self.filters.notify_users,
                user,
                !state.notify.is_empty(),
                false,
            );
            count(
                &self.filters.module_users,
                user,
                state.modules.is_some(),
                false,
            );
            if let Some(p) = state.personal.take() {
                self.personal.set(user, None);
                held = self.personal_removed(user, uh, &p, changes);
            }
            let modules = state.modules();
            for (room, setting) in state.notify {
                // The room's copy of the setting keeps the room interned.
                let Some(id) = self.rooms.id_of(room) else {
                    continue;
                };
                changes.record(|| Change::Notify {
                    user: user.clone(),
                    room: id,
                    old: Some(setting),
                    new: None,
                    at: Timed::Notify(uh.slot(), room.slot()),
                });
            }
            for (module, old) in Module::ALL.into_iter().zip(modules) {
                if old != NONE {
                    changes.record(|| Change::Module {
                        user: user.clone(),
                        module,
                        old,
                        new: NONE,
                        scope: Actions::ALL,
                        at: Timed::Module(uh.slot(), module),
                    });
                }
            }
        }
        // The senders the user had muted: their references go back.
        for sh in held {
            self.users.release(sh);
        }
        self.slow.forget_user(user);
        // Member mutes and allow entries are only indexed by room: visit every room.
        // Whatever still holds the user's id is one of them. Both are counted in the
        // member-pair filter.
        let handle = self.users.find(user);
        let members = &self.filters.members;
        let mut freed = 0;
        self.rooms.for_each_mut(|rh, room, r| {
            r.clear_setting(user);
            let Some(h) = handle else { return };
            if let Some(old) = r.members.remove(&h) {
                r.scope_member(h, Actions::ALL);
                freed += 1;
                members.remove(crate::ids::pair(room, user));
                changes.record(|| Change::Member {
                    room: room.into(),
                    user: user.clone(),
                    old,
                    new: NONE,
                    scope: Actions::ALL,
                    at: Timed::Member(rh.slot(), h.slot()),
                });
            }
            if let Some(m) = &mut r.strikes
                && let Some(ends) = m.remove(&h)
            {
                freed += 1;
                if m.is_empty() {
                    r.strikes = None;
                }
                changes.record(|| Change::Strikes {
                    room: room.into(),
                    user: user.clone(),
                    before: ends.iter().filter(|&&e| e > now).count(),
                    after: 0,
                    old: ends.last().copied().unwrap_or(NONE),
                    new: NONE,
                    at: Timed::Strikes(rh.slot(), h.slot()),
                });
            }
            if r.disallow(h) {
                freed += 1;
                members.remove(crate::ids::pair(room, user));
                changes.record(|| Change::Allow {
                    room: room.into(),
                    user: user.clone(),
                    allowed: false,
                });
            }
        });
        if let Some(h) = handle {
            // Other users' mutes of this user as a sender.
            freed += self.forget_sender(user, h, changes);
            for _ in 0..freed {
                self.users.release(h);
            }
        }
    }

    pub(super) fn remove_room(&self, room: &Key, now: u64, changes: &mut impl Changes) {
        self.history.forget_room(room);
        let Some((rh, state)) = self.rooms.take(room) else {
            return;
        };
        for (h, old) in state.members {
            if let Some(user) = self.users.id_of(h) {
                self.filters.members.remove(crate::ids::pair(room, &user));
                let at = Timed::Member(rh.slot(), h.slot());
                changes.record(|| member_lifted(room, user, old, at));
            }
            self.users.release(h);
        }
        if state.plain_room_mentions {
            changes.record(|| Change::RoomMentions {
                room: room.clone(),
                notify: true,
            });
        }
        if state.mute != NONE || state.slow_mode != 0 {
            self.filters.room_mutes.remove(crate::ids::hash_str(room));
        }
        if state.slow_mode != 0 {
            self.slow.forget_room(room);
            changes.record(|| Change::SlowMode {
                room: room.clone(),
                cooldown_ms: 0,
            });
        }
        if state.mute != NONE {
            changes.record(|| Change::Room {
                room: room.clone(),
                old: state.mute,
                new: NONE,
                scope: Actions::ALL,
                at: Timed::Room(rh.slot()),
            });
        }
        if state.ladder.is_some() {
            changes.record(|| Change::Ladder {
                room: room.clone(),
                ladder: None,
            });
        }
        for (h, ends) in state.strikes.into_iter().flat_map(|m| m.into_iter()) {
            if let Some(user) = self.users.id_of(h) {
                changes.record(|| Change::Strikes {
                    room: room.clone(),
                    user,
                    before: ends.iter().filter(|&&e| e > now).count(),
                    after: 0,
                    old: ends.last().copied().unwrap_or(NONE),
                    new: NONE,
                    at: Timed::Strikes(rh.slot(), h.slot()),
                });
            }
            self.users.release(h);
        }
        for h in state.allow.into_iter().flat_map(|a| a.into_iter()) {
            if let Some(user) = self.users.id_of(h) {
                self.filters.members.remove(crate::ids::pair(room, &user));
                changes.record(|| Change::Allow {
                    room: room.clone(),
                    user,
                    allowed: false,
                });
            }
            self.users.release(h);
        }
        for (user, setting) in state.notify.iter().flat_map(|m| m.iter()) {
            let uh = self.edit_user(user, false, |uh, u| {
                u.notify.retain(|(r, _)| *r != rh);
                uh
            });
            if let Some(uh) = uh {
                changes.record(|| Change::Notify {
                    user: user.into(),
                    room: room.clone(),
                    old: Some(*setting),
                    new: None,
                    at: Timed::Notify(uh.slot(), rh.slot()),
                });
            }
        }
    }
}
