//! What one applied operation changed, entry by entry. From the changes the engine keeps
//! its expiry index and derives the events its subscribers see.

use std::collections::BTreeSet;

use crate::event::{Event, Mute};
use crate::expiry::{Expiry, FOREVER, NONE, Raw, active};
use crate::module::Module;
use crate::notify::NotifyLevel;
use crate::op::Op;
use crate::store::{Key, Setting};

/// One entry's change: its value before and after (`NONE` / `None` = absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Notify {
        user: Key,
        room: Key,
        old: Option<Setting>,
        new: Option<Setting>,
    },
    Member {
        room: Key,
        user: Key,
        old: Raw,
        new: Raw,
    },
    Module {
        user: Key,
        module: Module,
        old: Raw,
        new: Raw,
    },
    Room {
        room: Key,
        old: Raw,
        new: Raw,
    },
    Allow {
        room: Key,
        user: Key,
        allowed: bool,
    },
}

/// An entry that can end by itself.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timed {
    Notify(Key, Key),
    Member(Key, Key),
    Module(Key, Module),
    Room(Key),
}

impl Timed {
    fn mute(&self) -> Mute {
        match self {
            Timed::Notify(user, room) => Mute::Notification {
                user: user.to_string(),
                room: room.to_string(),
            },
            Timed::Member(room, user) => Mute::Member {
                room: room.to_string(),
                user: user.to_string(),
            },
            Timed::Module(user, module) => Mute::Module {
                user: user.to_string(),
                module: *module,
            },
            Timed::Room(room) => Mute::Room {
                room: room.to_string(),
            },
        }
    }

    /// The operation that clears this entry (used by the sweeper).
    pub fn clearing_op(&self) -> Op {
        match self.clone() {
            Timed::Notify(user, room) => Op::SetNotify {
                user,
                room,
                level: NotifyLevel::All,
                until: Expiry::Never,
            },
            Timed::Member(room, user) => Op::UnmuteMembers {
                room,
                users: vec![user],
            },
            Timed::Module(user, module) => {
                let mut change = [None; 4];
                change[module.index()] = Some(false);
                Op::SetModules {
                    user,
                    change,
                    until: Expiry::Never,
                }
            }
            Timed::Room(room) => Op::UnmuteRoom { room },
        }
    }
}

impl Change {
    /// The timed entry this change is about, with its old and new expiry.
    fn timed(&self) -> Option<(Timed, Raw, Raw)> {
        let raw = |s: &Option<Setting>| s.map_or(NONE, |s| s.until);
        Some(match self {
            Change::Notify {
                user,
                room,
                old,
                new,
            } => (
                Timed::Notify(user.clone(), room.clone()),
                raw(old),
                raw(new),
            ),
            Change::Member {
                room,
                user,
                old,
                new,
            } => (Timed::Member(room.clone(), user.clone()), *old, *new),
            Change::Module {
                user,
                module,
                old,
                new,
            } => (Timed::Module(user.clone(), *module), *old, *new),
            Change::Room { room, old, new } => (Timed::Room(room.clone()), *old, *new),
            Change::Allow { .. } => return None,
        })
    }
}

/// A finite expiry (not "no rule", not "forever").
fn finite(raw: Raw) -> bool {
    raw != NONE && raw != FOREVER
}

/// Every stored timed entry by its end time.
#[derive(Debug, Default)]
pub(crate) struct Expiries {
    set: BTreeSet<(Raw, Timed)>,
}

impl Expiries {
    /// Follows `changes` into the index.
    pub fn track(&mut self, changes: &[Change]) {
        for c in changes {
            let Some((key, old, new)) = c.timed() else {
                continue;
            };
            if finite(old) {
                self.set.remove(&(old, key.clone()));
            }
            if finite(new) {
                self.set.insert((new, key));
            }
        }
    }

    /// The earliest end after `now` of an entry still in force.
    pub fn next_after(&self, now: u64) -> Option<u64> {
        self.set.iter().map(|(raw, _)| *raw).find(|&raw| raw > now)
    }

    /// Removes and returns every entry that has ended by `now`.
    pub fn take_due(&mut self, now: u64) -> Vec<Timed> {
        let mut due = Vec::new();
        while let Some(first) = self.set.first() {
            if first.0 > now {
                break;
            }
            let (_, key) = self.set.pop_first().expect("first exists");
            due.push(key);
        }
        due
    }
}

/// The events `changes` amount to at `now`.
pub(crate) fn events(changes: &[Change], now: u64, out: &mut Vec<Event>) {
    for c in changes {
        if let Some((key, old, _)) = c.timed() {
            if finite(old) && old <= now {
                out.push(Event::Expired {
                    mute: key.mute(),
                    at_ms: old,
                });
            }
        }
        match c {
            Change::Notify {
                user,
                room,
                old,
                new,
            } => {
                let (level, expiry) = match new {
                    Some(s) => (s.level, Expiry::from_raw(s.until)),
                    None if old.is_some_and(|o| active(o.until, now)) => {
                        (NotifyLevel::All, Expiry::Never)
                    }
                    None => continue,
                };
                out.push(Event::LevelChanged {
                    user: user.to_string(),
                    room: room.to_string(),
                    level,
                    expiry,
                });
            }
            Change::Allow {
                room,
                user,
                allowed,
            } => out.push(Event::AllowListChanged {
                room: room.to_string(),
                user: user.to_string(),
                allowed: *allowed,
            }),
            _ => {
                let (key, old, new) = c.timed().expect("timed kinds");
                if new != NONE {
                    out.push(Event::Muted {
                        mute: key.mute(),
                        expiry: Expiry::from_raw(new),
                    });
                } else if active(old, now) {
                    out.push(Event::Unmuted { mute: key.mute() });
                }
            }
        }
    }
}
