//! The naive store a competent engineer writes: one map per kind of mute, keyed so that
//! every lookup borrows the caller's `&str` ids (nested maps, no key built per lookup),
//! hashed with ahash, each behind a `parking_lot::RwLock`. Every "faster than naive"
//! figure is against this one; [`Naive`](super::Naive) (owned `String` pairs per lookup,
//! SipHash) is kept beside it.

use std::collections::{HashMap, HashSet};

use mutegate::{Module, NotifyLevel};
use parking_lot::RwLock;

type Map<V> = HashMap<String, V, ahash::RandomState>;
type Set = HashSet<String, ahash::RandomState>;

/// See the module docs.
#[derive(Default)]
pub struct Honest {
    /// room -> user -> level: indexed by room, so a fan-out looks the room up once and
    /// then each member in one flat map (the hand-written filter).
    notify: RwLock<Map<Map<NotifyLevel>>>,
    /// room -> user -> end (ms).
    members: RwLock<Map<Map<u64>>>,
    /// user -> end per module (ms; 0: none).
    modules: RwLock<Map<[u64; 4]>>,
    /// room -> end (ms).
    room_mutes: RwLock<Map<u64>>,
    /// room -> allowed users.
    allow: RwLock<Map<Set>>,
}

fn slot(m: Module) -> usize {
    match m {
        Module::P2p => 0,
        Module::Team => 1,
        Module::Room => 2,
        Module::QChat => 3,
    }
}

impl Honest {
    /// The hand-written fan-out into a caller's buffer: one read lock and one room
    /// lookup, then one flat probe per member (what [`push_targets`] does, without the
    /// allocation).
    ///
    /// [`push_targets`]: super::Baseline::push_targets
    pub fn push_into<'a, 'm>(
        &self,
        room: &str,
        members: &'a [&'m str],
        out: &mut Vec<&'a &'m str>,
    ) {
        let notify = self.notify.read();
        match notify.get(room) {
            None => out.extend(members.iter()),
            Some(settings) => out.extend(
                members
                    .iter()
                    .filter(|m| settings.get(**m).is_none_or(|&l| l == NotifyLevel::All)),
            ),
        }
    }
}

impl super::Baseline for Honest {
    fn mute_member(&self, room: &str, user: &str, until: u64) {
        let mut members = self.members.write();
        let room = members.entry(room.to_owned()).or_default();
        if until == 0 {
            room.remove(user);
        } else {
            room.insert(user.to_owned(), until);
        }
    }

    fn set_level(&self, user: &str, room: &str, level: NotifyLevel) {
        self.notify
            .write()
            .entry(room.to_owned())
            .or_default()
            .insert(user.to_owned(), level);
    }

    fn mute_module(&self, user: &str, m: Module, until: u64) {
        self.modules.write().entry(user.to_owned()).or_default()[slot(m)] = until;
    }

    fn mute_room(&self, room: &str, until: u64) {
        self.room_mutes.write().insert(room.to_owned(), until);
    }

    fn allow(&self, room: &str, user: &str) {
        self.allow
            .write()
            .entry(room.to_owned())
            .or_default()
            .insert(user.to_owned());
    }

    fn can_send(&self, user: &str, module: Module, room: &str, now: u64) -> bool {
        if self
            .modules
            .read()
            .get(user)
            .is_some_and(|ends| now < ends[slot(module)])
        {
            return false;
        }
        if self
            .members
            .read()
            .get(room)
            .and_then(|r| r.get(user))
            .is_some_and(|&end| now < end)
        {
            return false;
        }
        if self
            .room_mutes
            .read()
            .get(room)
            .is_some_and(|&end| now < end)
        {
            return self
                .allow
                .read()
                .get(room)
                .is_some_and(|a| a.contains(user));
        }
        true
    }

    fn should_push(&self, user: &str, room: &str) -> bool {
        self.notify
            .read()
            .get(room)
            .and_then(|users| users.get(user))
            .is_none_or(|&l| l == NotifyLevel::All)
    }

    fn push_targets<'m>(&self, room: &str, members: &[&'m str]) -> Vec<&'m str> {
        // One read lock and one room lookup for the whole fan-out, then a flat
        // `HashMap<String, NotifyLevel>` probe per member: the hand-written filter.
        let notify = self.notify.read();
        let Some(settings) = notify.get(room) else {
            return members.to_vec();
        };
        members
            .iter()
            .copied()
            .filter(|m| settings.get(*m).is_none_or(|&l| l == NotifyLevel::All))
            .collect()
    }
}
