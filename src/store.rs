//! The sharded tables behind the engine, and the single function that changes them.
//!
//! Two DashMaps: user-major (`users`: a user's notification settings, oldest first, and
//! module mutes) and room-major (`rooms`: the room's notification settings for fan-out,
//! member mutes, room-wide mute and allow list). Notification settings live in both and
//! are kept equal. Writers are serialized by the engine, so [`Tables::apply`] never races
//! another writer; readers take one shard guard at a time and never two at once.

use std::collections::{HashMap, HashSet};

use dashmap::DashMap;
use smallvec::SmallVec;

use crate::expiry::{NONE, Raw, active};
use crate::notify::NotifyLevel;
use crate::op::Op;

/// The hasher used by every table.
pub(crate) type Hasher = ahash::RandomState;
/// An owned id.
pub(crate) type Key = Box<str>;
type Map<V> = HashMap<Key, V, Hasher>;

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
    /// Module mutes, indexed by `Module::index`.
    pub modules: [Raw; 4],
}

impl UserState {
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
    /// Notification settings of the room's users (the fan-out index).
    pub notify: Map<Setting>,
    /// Individual speech mutes.
    pub members: Map<Raw>,
    /// Room-wide mute (`NONE` when unset).
    pub mute: Raw,
    /// Users who may speak through a room-wide mute.
    pub allow: HashSet<Key, Hasher>,
}

/// An entry that is dropped from its table once it holds nothing.
trait Entry: Default {
    fn is_empty(&self) -> bool;
}

impl Entry for UserState {
    fn is_empty(&self) -> bool {
        self.notify.is_empty() && self.modules == [NONE; 4]
    }
}

impl Entry for RoomState {
    fn is_empty(&self) -> bool {
        self.notify.is_empty()
            && self.members.is_empty()
            && self.mute == NONE
            && self.allow.is_empty()
    }
}

/// Edits `key`'s entry; creates it first if `create`; drops it if it ends up empty.
/// Holds one shard guard at a time. Callers are serialized writers.
fn edit<V: Entry>(map: &DashMap<Key, V, Hasher>, key: &str, create: bool, f: impl FnOnce(&mut V)) {
    let emptied = match map.get_mut(key) {
        Some(mut entry) => {
            f(&mut entry);
            entry.is_empty()
        }
        None if create => {
            let mut fresh = V::default();
            f(&mut fresh);
            if !fresh.is_empty() {
                map.insert(key.into(), fresh);
            }
            false
        }
        None => false,
    };
    if emptied {
        map.remove_if(key, |_, v| v.is_empty());
    }
}

/// The two indexes.
#[derive(Debug)]
pub(crate) struct Tables {
    pub users: DashMap<Key, UserState, Hasher>,
    pub rooms: DashMap<Key, RoomState, Hasher>,
}

impl Tables {
    pub fn new(shards: usize) -> Tables {
        Tables {
            users: DashMap::with_hasher_and_shard_amount(Hasher::new(), shards),
            rooms: DashMap::with_hasher_and_shard_amount(Hasher::new(), shards),
        }
    }

    /// The active notification setting of (user, room), if any.
    pub fn active_setting(&self, user: &str, room: &str, now: u64) -> Option<Setting> {
        let s = self.users.get(user)?.setting(room)?;
        active(s.until, now).then_some(s)
    }

    /// Applies one operation. `now` only decides whether an existing notification setting
    /// had already ended (a new setting then goes to the end of the user's list).
    pub fn apply(&self, op: Op, now: u64) {
        match op {
            Op::SetNotify {
                user,
                room,
                level,
                until,
            } => self.set_notify(user, room, level, until.raw(), now),
            Op::MuteMembers { room, users, until } => edit(&self.rooms, &room, true, |r| {
                for user in users {
                    r.members.insert(user, until.raw());
                }
            }),
            Op::UnmuteMembers { room, users } => edit(&self.rooms, &room, false, |r| {
                for user in &users {
                    r.members.remove(user);
                }
            }),
            Op::SetModules {
                user,
                change,
                until,
            } => {
                let create = change.contains(&Some(true));
                edit(&self.users, &user, create, |u| {
                    for (slot, c) in u.modules.iter_mut().zip(change) {
                        match c {
                            Some(true) => *slot = until.raw(),
                            Some(false) => *slot = NONE,
                            None => {}
                        }
                    }
                });
            }
            Op::MuteRoom { room, until } => {
                edit(&self.rooms, &room, true, |r| r.mute = until.raw())
            }
            Op::UnmuteRoom { room } => edit(&self.rooms, &room, false, |r| r.mute = NONE),
            Op::Allow { room, users } => edit(&self.rooms, &room, true, |r| r.allow.extend(users)),
            Op::Disallow { room, users } => edit(&self.rooms, &room, false, |r| {
                for user in &users {
                    r.allow.remove(user);
                }
            }),
            Op::RemoveUser { user } => {
                self.users.remove(&user);
                // Member mutes and allow entries are only indexed by room: visit every room.
                self.rooms.retain(|_, r| {
                    r.notify.remove(&user);
                    r.members.remove(&user);
                    r.allow.remove(&user);
                    !r.is_empty()
                });
            }
            Op::RemoveRoom { room } => {
                if let Some((_, state)) = self.rooms.remove(&room) {
                    for user in state.notify.keys() {
                        edit(&self.users, user, false, |u| {
                            u.notify.retain(|(r, _)| **r != *room);
                        });
                    }
                }
            }
        }
    }

    fn set_notify(&self, user: Key, room: Key, level: NotifyLevel, until: Raw, now: u64) {
        if level == NotifyLevel::All {
            edit(&self.users, &user, false, |u| {
                u.notify.retain(|(r, _)| *r != room)
            });
            edit(&self.rooms, &room, false, |r| {
                r.notify.remove(&user);
            });
            return;
        }
        let setting = Setting { level, until };
        edit(&self.users, &user, true, |u| {
            match u.notify.iter().position(|(r, _)| *r == room) {
                // Still in force: update in place, keeping its place in the list.
                Some(i) if active(u.notify[i].1.until, now) => u.notify[i].1 = setting,
                // Ended: it is a new mute, so it moves to the end.
                Some(i) => {
                    u.notify.remove(i);
                    u.notify.push((room.clone(), setting));
                }
                None => u.notify.push((room.clone(), setting)),
            }
        });
        edit(&self.rooms, &room, true, |r| {
            r.notify.insert(user, setting);
        });
    }

    /// Checks that the two indexes agree and that no empty entry is kept.
    pub fn verify(&self) -> Result<(), String> {
        let mut user_pairs = 0usize;
        for u in &self.users {
            if u.is_empty() {
                return Err(format!("user {:?} has an empty entry", u.key()));
            }
            for (room, s) in &u.notify {
                user_pairs += 1;
                let found = self
                    .rooms
                    .get(room)
                    .and_then(|r| r.notify.get(u.key()).copied());
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
            room_pairs += r.notify.len();
        }
        if user_pairs != room_pairs {
            return Err(format!(
                "{user_pairs} settings user-major but {room_pairs} room-major"
            ));
        }
        Ok(())
    }
}
