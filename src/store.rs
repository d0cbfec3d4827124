//! The sharded tables behind the engine, and the single function that changes them.
//!
//! Two DashMaps: user-major (`users`: a user's notification settings, oldest first, and
//! module mutes) and room-major (`rooms`: the room's notification settings for fan-out,
//! member mutes, room-wide mute and allow list). Notification settings live in both and
//! are kept equal. Writers of one user or room are serialized by the engine (its key
//! stripes, or the writer lock), so [`Tables::apply`] never races another writer of the
//! same entry; writers of disjoint ids may run at once, each entry edited under its
//! shard's guard. Readers take one shard guard at a time and never two at once.

use std::collections::hash_map::Entry as Slot;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use smallvec::SmallVec;

use crate::change::{Change, Changes, Timed};
use crate::expiry::{Expiry, NONE, Raw, active};
use crate::filter::Filters;
use crate::module::Module;
use crate::notify::NotifyLevel;
use crate::op::Op;

/// The hasher of the sharded tables.
pub(crate) type Hasher = ahash::RandomState;
/// An owned id.
pub(crate) type Key = Box<str>;

/// The hasher of the small per-room maps: zero-sized, so each map does not carry its own
/// 32-byte state, yet randomly seeded once per process (ids come from users, so the
/// seed must not be guessable).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seeded;

impl BuildHasher for Seeded {
    type Hasher = ahash::AHasher;
    #[inline]
    fn build_hasher(&self) -> ahash::AHasher {
        static STATE: OnceLock<ahash::RandomState> = OnceLock::new();
        STATE.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

/// A per-room map keyed by user id.
pub(crate) type Map<V> = HashMap<Key, V, Seeded>;

/// One stored notification setting (never `All`, which is the absence of a setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    pub level: NotifyLevel,
    pub until: Raw,
}

/// What the engine knows about one user.
#[derive(Debug, Default)]
pub(crate) struct UserState {
    /// Notification settings in the order they were made (oldest first).
    pub notify: SmallVec<[(Key, Setting); 1]>,
    /// Module mutes, indexed by `Module::index`; boxed because few users have any.
    pub modules: Option<Box<[Raw; 4]>>,
}

impl UserState {
    /// The user's mute in one module (`NONE` if none), without copying the others.
    #[inline]
    pub fn module(&self, module: Module) -> Raw {
        self.modules.as_deref().map_or(NONE, |m| m[module.index()])
    }

    /// The user's module mutes (`NONE` where there is none).
    #[inline]
    pub fn modules(&self) -> [Raw; 4] {
        self.modules.as_deref().copied().unwrap_or([NONE; 4])
    }

    #[inline]
    pub fn setting(&self, room: &str) -> Option<Setting> {
        self.notify
            .iter()
            .find(|(r, _)| &**r == room)
            .map(|&(_, s)| s)
    }
}

/// What the engine knows about one room.
#[derive(Debug, Default)]
pub(crate) struct RoomState {
    /// Notification settings of the room's users (the fan-out index); `None` when there
    /// are none. Shared so a fan-out iterates a snapshot without holding the shard:
    /// writers copy it only while such a snapshot is in use.
    pub notify: Option<Arc<Map<Setting>>>,
    /// Individual speech mutes.
    pub members: Map<Raw>,
    /// Room-wide mute (`NONE` when unset).
    pub mute: Raw,
    /// Users who may speak through a room-wide mute; boxed because few rooms have one.
    #[expect(
        clippy::box_collection,
        reason = "one pointer instead of a 32-byte empty set in every room without a list"
    )]
    pub allow: Option<Box<HashSet<Key, Seeded>>>,
}

impl RoomState {
    /// Whether `user` is on the allow list.
    #[inline]
    pub fn allows(&self, user: &str) -> bool {
        self.allow.as_ref().is_some_and(|a| a.contains(user))
    }

    /// The allow list (empty if none).
    pub fn allow_list(&self) -> impl Iterator<Item = &Key> {
        self.allow.iter().flat_map(|a| a.iter())
    }

    /// Takes `user` off the allow list; returns whether they were on it.
    fn disallow(&mut self, user: &str) -> bool {
        let Some(a) = &mut self.allow else {
            return false;
        };
        let removed = a.remove(user);
        if a.is_empty() {
            self.allow = None;
        }
        removed
    }

    /// `user`'s notification setting in this room, if stored.
    #[inline]
    pub fn setting(&self, user: &str) -> Option<Setting> {
        self.notify.as_ref()?.get(user).copied()
    }

    fn set_setting(&mut self, user: Key, setting: Setting) {
        Arc::make_mut(self.notify.get_or_insert_with(Arc::default)).insert(user, setting);
    }

    fn clear_setting(&mut self, user: &str) {
        let Some(map) = &mut self.notify else { return };
        if map.contains_key(user) {
            let map = Arc::make_mut(map);
            map.remove(user);
            if map.is_empty() {
                self.notify = None;
            }
        }
    }
}

/// An entry that is dropped from its table once it holds nothing.
trait Entry: Default {
    fn is_empty(&self) -> bool;
}

impl Entry for UserState {
    fn is_empty(&self) -> bool {
        self.notify.is_empty() && self.modules.is_none()
    }
}

impl Entry for RoomState {
    fn is_empty(&self) -> bool {
        self.notify.is_none()
            && self.members.is_empty()
            && self.mute == NONE
            && self.allow.is_none()
    }
}

/// Edits `key`'s entry; creates it first if `create`; drops it if it ends up empty.
/// `created` runs before a new entry is inserted, `dropped` after an entry is removed
/// (the filters count entries in before and out after). Holds one shard guard at a
/// time. Callers hold the stripe of `key`.
fn edit<V: Entry>(
    map: &DashMap<Key, V, Hasher>,
    key: &str,
    create: bool,
    hooks: (impl FnOnce(), impl FnOnce()),
    f: impl FnOnce(&mut V),
) {
    let (created, dropped) = hooks;
    let emptied = match map.get_mut(key) {
        Some(mut entry) => {
            f(&mut entry);
            entry.is_empty()
        }
        None if create => {
            let mut fresh = V::default();
            f(&mut fresh);
            if !fresh.is_empty() {
                created();
                map.insert(key.into(), fresh);
            }
            return;
        }
        None => false,
    };
    if emptied && map.remove_if(key, |_, v| v.is_empty()).is_some() {
        dropped();
    }
}

/// No hooks: for tables no filter counts by entry.
const NO_HOOKS: (fn(), fn()) = (|| {}, || {});

/// The two indexes and the filters in front of them.
#[derive(Debug)]
pub(crate) struct Tables {
    pub users: DashMap<Key, UserState, Hasher>,
    pub rooms: DashMap<Key, RoomState, Hasher>,
    pub filters: Filters,
}

impl Tables {
    pub fn new(shards: usize, filter_slots: usize) -> Tables {
        Tables {
            users: DashMap::with_hasher_and_shard_amount(Hasher::new(), shards),
            rooms: DashMap::with_hasher_and_shard_amount(Hasher::new(), shards),
            filters: Filters::new(filter_slots),
        }
    }

    fn edit_user(&self, user: &str, create: bool, f: impl FnOnce(&mut UserState)) {
        let users = &self.filters.users;
        edit(
            &self.users,
            user,
            create,
            (|| users.add(user), || users.remove(user)),
            f,
        );
    }

    fn edit_room(&self, room: &str, create: bool, f: impl FnOnce(&mut RoomState)) {
        edit(&self.rooms, room, create, NO_HOOKS, f);
    }

    /// Sets or clears a room-wide mute, keeping the room-mute filter's count.
    fn set_room_mute(&self, room: Key, raw: Raw, changes: &mut impl Changes) {
        let filter = &self.filters.room_mutes;
        self.edit_room(&room, raw != NONE, |r| {
            match (r.mute != NONE, raw != NONE) {
                (false, true) => filter.add(&*room),
                (true, false) => filter.remove(&*room),
                _ => {}
            }
            if r.mute != NONE || raw != NONE {
                changes.record(|| Change::Room {
                    room: room.clone(),
                    old: r.mute,
                    new: raw,
                });
            }
            r.mute = raw;
        });
    }

    /// The active notification setting of (user, room), if any.
    pub fn active_setting(&self, user: &str, room: &str, now: u64) -> Option<Setting> {
        let s = self.users.get(user)?.setting(room)?;
        active(s.until, now).then_some(s)
    }

    /// Applies one operation, reporting every entry it changed to `changes`. `now` only
    /// decides whether an existing notification setting had already ended (a new setting
    /// then goes to the end of the user's list).
    pub fn apply(&self, op: Op, now: u64, changes: &mut impl Changes) {
        match op {
            Op::SetNotify {
                user,
                room,
                level,
                until,
            } => self.set_notify(user, room, level, until.raw(), now, changes),
            Op::MuteMembers { room, users, until } => {
                let filter = &self.filters.members;
                self.edit_room(&room, true, |r| {
                    for user in users {
                        let old = match r.members.entry(user.clone()) {
                            Slot::Occupied(mut e) => e.insert(until.raw()),
                            Slot::Vacant(e) => {
                                filter.add((&*room, &*user));
                                e.insert(until.raw());
                                NONE
                            }
                        };
                        changes.record(|| Change::Member {
                            room: room.clone(),
                            user,
                            old,
                            new: until.raw(),
                        });
                    }
                });
            }
            Op::UnmuteMembers { room, users } => {
                let filter = &self.filters.members;
                self.edit_room(&room, false, |r| {
                    for user in users {
                        if let Some(old) = r.members.remove(&user) {
                            filter.remove((&*room, &*user));
                            changes.record(|| Change::Member {
                                room: room.clone(),
                                user,
                                old,
                                new: NONE,
                            });
                        }
                    }
                });
            }
            Op::SetModules {
                user,
                change,
                until,
            } => {
                let create = change.contains(&Some(true));
                self.edit_user(&user, create, |u| {
                    let old = u.modules();
                    let mut modules = old;
                    for ((slot, c), module) in modules.iter_mut().zip(change).zip(Module::ALL) {
                        let new = match c {
                            Some(true) => until.raw(),
                            Some(false) => NONE,
                            None => continue,
                        };
                        if *slot != NONE || new != NONE {
                            changes.record(|| Change::Module {
                                user: user.clone(),
                                module,
                                old: *slot,
                                new,
                            });
                        }
                        *slot = new;
                    }
                    u.modules = (modules != [NONE; 4]).then(|| Box::new(modules));
                });
            }
            Op::MuteRoom { room, until } => self.set_room_mute(room, until.raw(), changes),
            Op::UnmuteRoom { room } => self.set_room_mute(room, NONE, changes),
            Op::Allow { room, users } => self.edit_room(&room, true, |r| {
                let allow = r.allow.get_or_insert_with(Box::default);
                for user in users {
                    if allow.insert(user.clone()) {
                        changes.record(|| Change::Allow {
                            room: room.clone(),
                            user,
                            allowed: true,
                        });
                    }
                }
            }),
            Op::Disallow { room, users } => self.edit_room(&room, false, |r| {
                for user in users {
                    if r.disallow(&user) {
                        changes.record(|| Change::Allow {
                            room: room.clone(),
                            user,
                            allowed: false,
                        });
                    }
                }
            }),
            Op::RemoveUser { user } => self.remove_user(&user, changes),
            Op::RemoveRoom { room } => self.remove_room(&room, changes),
        }
    }

    fn remove_user(&self, user: &Key, changes: &mut impl Changes) {
        if let Some((_, state)) = self.users.remove(user) {
            self.filters.users.remove(&**user);
            let modules = state.modules();
            for (room, setting) in state.notify {
                changes.record(|| Change::Notify {
                    user: user.clone(),
                    room,
                    old: Some(setting),
                    new: None,
                });
            }
            for (module, old) in Module::ALL.into_iter().zip(modules) {
                if old != NONE {
                    changes.record(|| Change::Module {
                        user: user.clone(),
                        module,
                        old,
                        new: NONE,
                    });
                }
            }
        }
        // Member mutes and allow entries are only indexed by room: visit every room.
        let members = &self.filters.members;
        self.rooms.retain(|room, r| {
            r.clear_setting(user);
            if let Some(old) = r.members.remove(user) {
                members.remove((&**room, &**user));
                changes.record(|| Change::Member {
                    room: room.clone(),
                    user: user.clone(),
                    old,
                    new: NONE,
                });
            }
            if r.disallow(user) {
                changes.record(|| Change::Allow {
                    room: room.clone(),
                    user: user.clone(),
                    allowed: false,
                });
            }
            !r.is_empty()
        });
    }

    fn remove_room(&self, room: &Key, changes: &mut impl Changes) {
        let Some((_, state)) = self.rooms.remove(room) else {
            return;
        };
        for (user, old) in state.members {
            self.filters.members.remove((&**room, &*user));
            changes.record(|| Change::Member {
                room: room.clone(),
                user,
                old,
                new: NONE,
            });
        }
        if state.mute != NONE {
            self.filters.room_mutes.remove(&**room);
            changes.record(|| Change::Room {
                room: room.clone(),
                old: state.mute,
                new: NONE,
            });
        }
        for user in state.allow.into_iter().flat_map(|a| a.into_iter()) {
            changes.record(|| Change::Allow {
                room: room.clone(),
                user,
                allowed: false,
            });
        }
        for (user, setting) in state.notify.iter().flat_map(|m| m.iter()) {
            self.edit_user(user, false, |u| u.notify.retain(|(r, _)| *r != *room));
            changes.record(|| Change::Notify {
                user: user.clone(),
                room: room.clone(),
                old: Some(*setting),
                new: None,
            });
        }
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
            self.edit_user(&user, false, |u| {
                if let Some(i) = u.notify.iter().position(|(r, _)| *r == room) {
                    old = Some(u.notify.remove(i).1);
                }
            });
            self.edit_room(&room, false, |r| r.clear_setting(&user));
            if old.is_some() {
                changes.record(|| Change::Notify {
                    user,
                    room,
                    old,
                    new: None,
                });
            }
            return;
        }
        let setting = Setting { level, until };
        self.edit_user(&user, true, |u| {
            match u.notify.iter().position(|(r, _)| *r == room) {
                // Still in force: update in place, keeping its place in the list.
                Some(i) if active(u.notify[i].1.until, now) => {
                    old = Some(u.notify[i].1);
                    u.notify[i].1 = setting;
                }
                // Ended: it is a new mute, so it moves to the end.
                Some(i) => {
                    old = Some(u.notify.remove(i).1);
                    u.notify.push((room.clone(), setting));
                }
                None => u.notify.push((room.clone(), setting)),
            }
        });
        self.edit_room(&room, true, |r| r.set_setting(user.clone(), setting));
        changes.record(|| Change::Notify {
            user,
            room,
            old,
            new: Some(setting),
        });
    }

    /// Calls `f` with the end and (lazily) the key of every stored entry that can end.
    pub fn timed_entries(&self, mut f: impl FnMut(Raw, &dyn Fn() -> Timed)) {
        for u in &self.users {
            for (room, s) in &u.notify {
                f(s.until, &|| Timed::Notify(u.key().clone(), room.clone()));
            }
            for (module, raw) in Module::ALL.into_iter().zip(u.modules()) {
                f(raw, &|| Timed::Module(u.key().clone(), module));
            }
        }
        for r in &self.rooms {
            for (user, &raw) in &r.members {
                f(raw, &|| Timed::Member(r.key().clone(), user.clone()));
            }
            f(r.mute, &|| Timed::Room(r.key().clone()));
        }
    }

    /// The live state as operations that rebuild it (ended entries left out), in an
    /// order that keeps each user's notification list oldest first.
    pub fn to_ops(&self, now: u64) -> Vec<Op> {
        let mut ops = Vec::new();
        for u in &self.users {
            for (room, s) in &u.notify {
                if active(s.until, now) {
                    ops.push(Op::SetNotify {
                        user: u.key().clone(),
                        room: room.clone(),
                        level: s.level,
                        until: Expiry::from_raw(s.until),
                    });
                }
            }
            for (i, raw) in u.modules().into_iter().enumerate() {
                if active(raw, now) {
                    let mut change = [None; 4];
                    change[i] = Some(true);
                    ops.push(Op::SetModules {
                        user: u.key().clone(),
                        change,
                        until: Expiry::from_raw(raw),
                    });
                }
            }
        }
        for r in &self.rooms {
            let room = r.key();
            for (user, &raw) in r.members.iter().filter(|&(_, &raw)| active(raw, now)) {
                ops.push(Op::MuteMembers {
                    room: room.clone(),
                    users: vec![user.clone()],
                    until: Expiry::from_raw(raw),
                });
            }
            if active(r.mute, now) {
                ops.push(Op::MuteRoom {
                    room: room.clone(),
                    until: Expiry::from_raw(r.mute),
                });
            }
            let allowed: Vec<Key> = r.allow_list().cloned().collect();
            if !allowed.is_empty() {
                ops.push(Op::Allow {
                    room: room.clone(),
                    users: allowed,
                });
            }
        }
        ops
    }

    /// Checks that the two indexes agree and that no empty entry is kept.
    pub fn verify(&self) -> Result<(), String> {
        let mut user_pairs = 0usize;
        for u in &self.users {
            if u.is_empty() {
                return Err(format!("user {:?} has an empty entry", u.key()));
            }
            if !self.filters.users.may_contain(&**u.key()) {
                return Err(format!(
                    "user {:?} is stored but its filter says absent",
                    u.key()
                ));
            }
            for (room, s) in &u.notify {
                user_pairs += 1;
                let found = self.rooms.get(room).and_then(|r| r.setting(u.key()));
                if found != Some(*s) {
                    return Err(format!(
                        "user {:?} room {room:?}: user-major {s:?}, room-major {found:?}",
                        u.key()
                    ));
                }
            }
        }
        let mut room_pairs = 0usize;
        for r in &self.rooms {
            if r.is_empty() {
                return Err(format!("room {:?} has an empty entry", r.key()));
            }
            room_pairs += r.notify.as_ref().map_or(0, |m| m.len());
            if r.notify.as_ref().is_some_and(|m| m.is_empty()) {
                return Err(format!("room {:?} keeps an empty settings map", r.key()));
            }
            if r.mute != NONE && !self.filters.room_mutes.may_contain(&**r.key()) {
                return Err(format!(
                    "room {:?} is muted but its filter says absent",
                    r.key()
                ));
            }
            if let Some(u) = r
                .members
                .keys()
                .find(|u| !self.filters.members.may_contain((&**r.key(), &***u)))
            {
                return Err(format!(
                    "member {u:?} of room {:?} is muted but its filter says absent",
                    r.key()
                ));
            }
        }
        if user_pairs != room_pairs {
            return Err(format!(
                "{user_pairs} settings user-major but {room_pairs} room-major"
            ));
        }
        Ok(())
    }
}

/// Puts `ops` (from [`Tables::to_ops`]) in a canonical order: a user's operations by
/// user id (keeping their notification list's order), then a room's by room id, each
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
            Op::RemoveUser { user } => (0, user, 2, ""),
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
