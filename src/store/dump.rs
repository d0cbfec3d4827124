//! Reading the tables whole: their timed entries (for the expiry index), the live state
//! as operations (for snapshots), and a consistency check.
//!
//! Entries point at other ids by handle; their ids are looked up after the entry's
//! shard is released, so no reader holds two shard guards at once.

use std::sync::Arc;

use crate::action::Actions;
use crate::change::Timed;
use crate::expiry::{Expiry, Raw, active};
use crate::ids::{Entry, Handle, Key};
use crate::module::Module;
use crate::notify::NotifyLevel;
use crate::op::Op;
use crate::quiet::Bypass;
use crate::trail::Subject;

use super::Tables;

impl Tables {
    /// Calls `f` with the end and the key of every stored entry that can end.
    pub fn timed_entries(&self, mut f: impl FnMut(Raw, Timed)) {
        self.users.for_each(|uh, _, u| {
            for (room, s) in &u.notify {
                f(s.until, Timed::Notify(uh.slot(), room.slot()));
            }
            for (module, raw) in Module::ALL.into_iter().zip(u.modules()) {
                f(raw, Timed::Module(uh.slot(), module));
            }
            if let Some(p) = &u.personal {
                f(p.snooze, Timed::Snooze(uh.slot()));
                for (sender, raw) in &p.senders {
                    f(*raw, Timed::Sender(uh.slot(), sender.slot()));
                }
            }
        });
        self.rooms.for_each(|rh, _, r| {
            for (user, &raw) in &r.members {
                f(raw, Timed::Member(rh.slot(), user.slot()));
            }
            f(r.mute, Timed::Room(rh.slot()));
            for (user, ends) in r.strikes.iter().flat_map(|m| m.iter()) {
                if let Some(&end) = ends.last() {
                    f(end, Timed::Strikes(rh.slot(), user.slot()));
                }
            }
        });
    }

    /// The operation that clears a stored timed entry (the sweeper's); `None` if the
    /// entry's ids are no longer interned.
    pub fn clearing_op(&self, key: Timed) -> Option<Op> {
        Some(match key {
            Timed::Notify(user, room) => Op::SetNotify {
                user: self.users.id(user)?.0,
                room: self.rooms.id(room)?.0,
                level: NotifyLevel::All,
                until: Expiry::Never,
            },
            Timed::Member(room, user) => Op::UnmuteMembers {
                room: self.rooms.id(room)?.0,
                users: vec![self.users.id(user)?.0],
            },
            Timed::Module(user, module) => {
                let mut change = [None; 4];
                change[module.index()] = Some(false);
                Op::SetModules {
                    user: self.users.id(user)?.0,
                    change,
                    until: Expiry::Never,
                    actions: Actions::ALL,
                }
            }
            Timed::Room(room) => Op::UnmuteRoom {
                room: self.rooms.id(room)?.0,
            },
            Timed::Sender(user, sender) => Op::UnmuteSender {
                user: self.users.id(user)?.0,
                sender: self.users.id(sender)?.0,
            },
            Timed::Snooze(user) => Op::Snooze {
                user: self.users.id(user)?.0,
                until: None,
            },
            Timed::Strikes(room, user) => Op::SetStrikes {
                room: self.rooms.id(room)?.0,
                user: self.users.id(user)?.0,
                ends_ms: Vec::new(),
            },
        })
    }

    /// The live state as operations that rebuild it (ended entries left out), in an
    /// order that keeps each user's notification list oldest first. Every handle an
    /// entry holds names an interned id (`verify` checks it); one that did not would
    /// leave its entry out rather than write an id nobody gave.
    pub fn to_ops(&self, now: u64) -> Vec<Op> {
        let mut ops = Vec::new();
        // Handles first, ids after each table's pass (never two shards held).
        let mut settings: Vec<(Key, Handle, NotifyLevel, Raw)> = Vec::new();
        let mut senders: Vec<(Key, Handle, Raw)> = Vec::new();
        self.users.for_each(|_, user, u| {
            if let Some(p) = &u.personal {
                if let Some(q) = &p.quiet {
                    ops.push(Op::SetQuietHours {
                        user: user.into(),
                        schedule: Some(q.schedule.clone()),
                    });
                }
                if p.bypass != Bypass::default() {
                    ops.push(Op::SetBypass {
                        user: user.into(),
                        bypass: p.bypass,
                    });
                }
                if active(p.snooze, now) {
                    ops.push(Op::Snooze {
                        user: user.into(),
                        until: Some(Expiry::from_raw(p.snooze)),
                    });
                }
                for &(sender, raw) in p.senders.iter().filter(|(_, raw)| active(*raw, now)) {
                    senders.push((user.into(), sender, raw));
                }
            }
            for (room, s) in &u.notify {
                if active(s.until, now) {
                    settings.push((user.into(), *room, s.level, s.until));
                }
            }
            for (module, raw) in Module::ALL.into_iter().zip(u.modules()) {
                if active(raw, now) {
                    let mut change = [None; 4];
                    change[module.index()] = Some(true);
                    ops.push(Op::SetModules {
                        user: user.into(),
                        change,
                        until: Expiry::from_raw(raw),
                        actions: u.module_scope(module),
                    });
                }
            }
        });
        ops.extend(
            settings
                .into_iter()
                .filter_map(|(user, room, level, until)| {
                    Some(Op::SetNotify {
                        user,
                        room: self.rooms.id_of(room)?,
                        level,
                        until: Expiry::from_raw(until),
                    })
                }),
        );
        ops.extend(senders.into_iter().filter_map(|(user, sender, raw)| {
            Some(Op::MuteSender {
                user,
                sender: self.users.id_of(sender)?,
                until: Expiry::from_raw(raw),
            })
        }));
        let mut members: Vec<(Key, Handle, Raw, Actions)> = Vec::new();
        let mut allowed: Vec<(Key, Vec<Handle>)> = Vec::new();
        let mut strikes: Vec<(Key, Handle, Vec<u64>)> = Vec::new();
        self.rooms.for_each(|_, room, r| {
            if r.plain_room_mentions {
                ops.push(Op::SetRoomMentions {
                    room: room.into(),
                    notify: false,
                });
            }
            if let Some(ladder) = &r.ladder {
                ops.push(Op::SetLadder {
                    room: room.into(),
                    ladder: Some((**ladder).clone()),
                });
            }
            for (&user, ends) in r.strikes.iter().flat_map(|m| m.iter()) {
                let ends: Vec<u64> = ends.iter().copied().filter(|&e| e > now).collect();
                if !ends.is_empty() {
                    strikes.push((room.into(), user, ends));
                }
            }
            if r.slow_mode != 0 {
                ops.push(Op::SetSlowMode {
                    room: room.into(),
                    cooldown_ms: Some(r.slow_mode),
                });
            }
            for (&user, &raw) in r.members.iter().filter(|&(_, &raw)| active(raw, now)) {
                members.push((room.into(), user, raw, r.member_scope(user)));
            }
            if active(r.mute, now) {
                ops.push(Op::MuteRoom {
                    room: room.into(),
                    until: Expiry::from_raw(r.mute),
                    actions: r.mute_scope,
                });
            }
            let list: Vec<Handle> = r.allow_list().collect();
            if !list.is_empty() {
                allowed.push((room.into(), list));
            }
        });
        ops.extend(
            members
                .into_iter()
                .filter_map(|(room, user, raw, actions)| {
                    Some(Op::MuteMembers {
                        room,
                        users: vec![self.users.id_of(user)?],
                        until: Expiry::from_raw(raw),
                        actions,
                    })
                }),
        );
        ops.extend(strikes.into_iter().filter_map(|(room, user, ends_ms)| {
            Some(Op::SetStrikes {
                room,
                user: self.users.id_of(user)?,
                ends_ms,
            })
        }));
        ops.extend(allowed.into_iter().filter_map(|(room, list)| {
            let users: Vec<Key> = list
                .into_iter()
                .filter_map(|u| self.users.id_of(u))
                .collect();
            (!users.is_empty()).then_some(Op::Allow { room, users })
        }));
        ops.extend(self.history.to_ops());
        ops
    }

    /// Checks that the two indexes agree, that every handle an entry holds names an
    /// interned id, and that no empty entry is kept.
    pub fn verify(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut pairs: Vec<(Key, Handle, crate::notify::Setting)> = Vec::new();
        let mut senders: Vec<(Key, Handle)> = Vec::new();
        self.users.for_each(|_, user, u| {
            if u.is_empty() {
                problems.push(format!("user {user:?} has an empty entry"));
            }
            if !u.notify.is_empty()
                && !self
                    .filters
                    .notify_users
                    .may_contain(crate::ids::hash_str(user))
            {
                problems.push(format!(
                    "user {user:?} has settings but its filter says absent"
                ));
            }
            let scoped = u.module_scopes();
            for (module, raw) in Module::ALL.into_iter().zip(u.modules()) {
                let scope = scoped[module.index()];
                if scope.is_empty() || (raw == crate::expiry::NONE && !scope.is_all()) {
                    problems.push(format!(
                        "user {user:?} keeps scope {scope:?} for {module:?}"
                    ));
                }
            }
            if u.module_scopes.as_deref() == Some(&[Actions::ALL; 4]) {
                problems.push(format!("user {user:?} keeps an unscoped scope table"));
            }
            if u.modules.is_some()
                && !self
                    .filters
                    .module_users
                    .may_contain(crate::ids::hash_str(user))
            {
                problems.push(format!(
                    "user {user:?} has module mutes but its filter says absent"
                ));
            }
            for &(room, s) in &u.notify {
                pairs.push((user.into(), room, s));
            }
            if let Some(p) = &u.personal {
                if p.is_empty() {
                    problems.push(format!("user {user:?} keeps empty personal rules"));
                }
                let indexed = self.personal.with(user, |r| Arc::ptr_eq(&r.personal, p));
                if indexed != Some(true) {
                    problems.push(format!(
                        "user {user:?} has personal rules the index does not hold"
                    ));
                }
                senders.extend(p.senders.iter().map(|&(s, _)| (Key::from(user), s)));
            }
        });
        for (user, sender) in senders {
            if self.users.id_of(sender).is_none() {
                problems.push(format!("user {user:?} mutes a sender no longer interned"));
            }
        }
        let user_pairs = pairs.len();
        for (user, room, s) in pairs {
            let Some(id) = self.rooms.id_of(room) else {
                problems.push(format!(
                    "user {user:?} has a setting for a room no longer interned"
                ));
                continue;
            };
            let found = self.rooms.get(&id).and_then(|r| r.setting(&user));
            if found != Some(s) {
                problems.push(format!(
                    "user {user:?} room {id:?}: user-major {s:?}, room-major {found:?}"
                ));
            }
        }
        let mut room_pairs = 0usize;
        // (room, user, whether the pair filter must count the pair)
        let mut pointed: Vec<(Key, Handle, bool)> = Vec::new();
        self.rooms.for_each(|_, room, r| {
            if r.is_empty() {
                problems.push(format!("room {room:?} has an empty entry"));
            }
            room_pairs += r.notify.as_ref().map_or(0, |m| m.len());
            if r.notify.as_ref().is_some_and(|m| m.is_empty()) {
                problems.push(format!("room {room:?} keeps an empty settings map"));
            }
            if (r.mute != crate::expiry::NONE || r.slow_mode != 0)
                && !self
                    .filters
                    .room_mutes
                    .may_contain(crate::ids::hash_str(room))
            {
                problems.push(format!(
                    "room {room:?} is muted or slow but its filter says absent"
                ));
            }
            if (r.mute == crate::expiry::NONE && !r.mute_scope.is_all()) || r.mute_scope.is_empty()
            {
                problems.push(format!("room {room:?} keeps mute scope {:?}", r.mute_scope));
            }
            for (u, scope) in r.member_scopes.iter().flat_map(|m| m.iter()) {
                if !r.members.contains_key(u) || scope.is_all() || scope.is_empty() {
                    problems.push(format!(
                        "room {room:?} keeps a stray member scope {scope:?}"
                    ));
                }
            }
            if r.member_scopes.as_ref().is_some_and(|m| m.is_empty()) {
                problems.push(format!("room {room:?} keeps an empty scope map"));
            }
            pointed.extend(r.members.keys().map(|&u| (Key::from(room), u, true)));
            pointed.extend(r.allow_list().map(|u| (Key::from(room), u, true)));
            for (&u, ends) in r.strikes.iter().flat_map(|m| m.iter()) {
                pointed.push((Key::from(room), u, false));
                if ends.is_empty() || ends.windows(2).any(|w| w[0] > w[1]) {
                    problems.push(format!("room {room:?} keeps strikes out of order"));
                }
            }
            if r.strikes.as_ref().is_some_and(|m| m.is_empty()) {
                problems.push(format!("room {room:?} keeps an empty strike map"));
            }
        });
        for (room, user, counted) in pointed {
            match self.users.id_of(user) {
                None => problems.push(format!("room {room:?} points at a user no longer interned")),
                // Member mutes and allow entries are both counted in the pair filter.
                Some(u)
                    if counted
                        && !self
                            .filters
                            .members
                            .may_contain(crate::ids::pair(&room, &u)) =>
                {
                    problems.push(format!(
                        "member {u:?} of room {room:?} is muted or allowed but its filter says absent"
                    ))
                }
                Some(_) => {}
            }
        }
        if user_pairs != room_pairs {
            problems.push(format!(
                "{user_pairs} settings user-major but {room_pairs} room-major"
            ));
        }
        problems.into_iter().next().map_or(Ok(()), Err)
    }
}

/// Puts `ops` (from [`Tables::to_ops`]) in a canonical order: a user's operations by
/// user id (keeping their notification list's and muted senders' order), then a room's by room id, each
/// room's member mutes by user id, allow lists sorted. The same state gives the same
/// sequence whatever order the tables iterate in.
pub(crate) fn canonical(ops: &mut [Op]) {
    fn key(op: &Op) -> (u8, &str, u8, &str) {
        match op {
            Op::SetNotify { user, .. } => (0, user, 0, ""),
            Op::SetModules { user, .. } => (0, user, 1, ""),
            Op::MuteMembers { room, users, .. } => (1, room, 0, users.first().map_or("", |u| &**u)),
            Op::MuteRoom { room, .. } => (1, room, 1, ""),
            Op::Allow { room, .. } => (1, room, 2, ""),
            Op::UnmuteMembers { room, .. }
            | Op::UnmuteRoom { room }
            | Op::Disallow { room, .. }
            | Op::RemoveRoom { room } => (1, room, 3, ""),
            Op::SetQuietHours { user, .. } => (0, user, 3, ""),
            Op::SetBypass { user, .. } => (0, user, 4, ""),
            Op::Snooze { user, .. } => (0, user, 5, ""),
            Op::MuteSender { user, .. } => (0, user, 6, ""),
            Op::UnmuteSender { user, .. } | Op::RemoveUser { user } => (0, user, 7, ""),
            Op::SetRoomMentions { room, .. } => (1, room, 4, ""),
            Op::SetSlowMode { room, .. } => (1, room, 5, ""),
            Op::SetLadder { room, .. } => (1, room, 6, ""),
            Op::SetStrikes { room, user, .. } => (1, room, 7, user),
            Op::Strike { room, .. } => (1, room, 8, ""),
            Op::Moderated { op, .. } => key(op),
            Op::Remember { subject, .. } => match subject {
                Subject::Member { room, user } => (1, room, 9, user),
                Subject::Room { room } => (1, room, 10, ""),
                Subject::User { user } => (0, user, 8, ""),
            },
        }
    }
    for op in ops.iter_mut() {
        if let Op::Allow { users, .. } = op {
            users.sort_unstable();
        }
    }
    // Stable: a user's notification settings keep their order.
    ops.sort_by(|a, b| key(a).cmp(&key(b)));
}
