//! What one applied operation changed, entry by entry. From the changes the engine keeps
//! its expiry index and derives the events its subscribers see.

use std::collections::{BTreeMap, HashSet};

use crate::action::Actions;
use crate::event::{Event, Mute};
use crate::expiry::{Expiry, FOREVER, NONE, Raw, active};
use crate::ids::{Key, Seeded, Slot};
use crate::ladder::Ladder;
use crate::module::Module;
use crate::notify::NotifyLevel;
use crate::quiet::{Bypass, Schedule};
use crate::store::Setting;
use crate::trail::{ModerationEntry, Subject};

/// One entry's change: its value before and after (`NONE` / `None` = absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Notify {
        user: Key,
        room: Key,
        old: Option<Setting>,
        new: Option<Setting>,
        at: Timed,
    },
    /// `scope`: what the new mute blocks (every action when lifted).
    Member {
        room: Key,
        user: Key,
        old: Raw,
        new: Raw,
        scope: Actions,
        at: Timed,
    },
    Module {
        user: Key,
        module: Module,
        old: Raw,
        new: Raw,
        scope: Actions,
        at: Timed,
    },
    Room {
        room: Key,
        old: Raw,
        new: Raw,
        scope: Actions,
        at: Timed,
    },
    Allow {
        room: Key,
        user: Key,
        allowed: bool,
    },
    Sender {
        user: Key,
        sender: Key,
        old: Raw,
        new: Raw,
        at: Timed,
    },
    Snooze {
        user: Key,
        old: Raw,
        new: Raw,
        at: Timed,
    },
    Quiet {
        user: Key,
        schedule: Option<Schedule>,
    },
    Bypass {
        user: Key,
        bypass: Bypass,
    },
    RoomMentions {
        room: Key,
        notify: bool,
    },
    SlowMode {
        room: Key,
        cooldown_ms: u64,
    },
    Ladder {
        room: Key,
        ladder: Option<Ladder>,
    },
    /// A member's strikes: how many are in force before and after, and the latest
    /// decay before and after (`NONE`: no entry), which the expiry index follows.
    Strikes {
        room: Key,
        user: Key,
        before: usize,
        after: usize,
        old: Raw,
        new: Raw,
        at: Timed,
    },
    /// An entry added to a subject's moderation history.
    History {
        subject: Subject,
        entry: std::sync::Arc<ModerationEntry>,
    },
}

/// Where [`Tables::apply`](crate::store::Tables::apply) reports changes. A change is
/// built only if the sink wants it, so replaying a log pays for no copies of ids.
pub(crate) trait Changes {
    fn record(&mut self, change: impl FnOnce() -> Change);
}

impl Changes for Vec<Change> {
    #[inline]
    fn record(&mut self, change: impl FnOnce() -> Change) {
        self.push(change());
    }
}

/// A sink that wants no changes (replay, whose index is rebuilt afterwards).
pub(crate) struct Ignore;

impl Changes for Ignore {
    #[inline]
    fn record(&mut self, _: impl FnOnce() -> Change) {}
}

/// An entry that can end by itself, by the slots of its ids (which the entry keeps
/// alive while it is stored, so the expiry index needs no copy of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Timed {
    /// (user, room)
    Notify(Slot, Slot),
    /// (room, user)
    Member(Slot, Slot),
    Module(Slot, Module),
    Room(Slot),
    /// (user, sender)
    Sender(Slot, Slot),
    Snooze(Slot),
    /// (room, user): a member's strikes, by their latest decay.
    Strikes(Slot, Slot),
}

impl Timed {
    /// The slot of the id that owns the entry: its stripe holds the entry's end.
    pub fn owner(self) -> Slot {
        match self {
            Timed::Notify(user, _)
            | Timed::Module(user, _)
            | Timed::Sender(user, _)
            | Timed::Snooze(user) => user,
            Timed::Member(room, _) | Timed::Room(room) | Timed::Strikes(room, _) => room,
        }
    }
}

impl Change {
    /// The entry a change of a timed kind is about, as events name it.
    fn mute(&self) -> Option<Mute> {
        Some(match self {
            Change::Notify { user, room, .. } => Mute::Notification {
                user: user.to_string(),
                room: room.to_string(),
            },
            Change::Member { room, user, .. } => Mute::Member {
                room: room.to_string(),
                user: user.to_string(),
            },
            Change::Module { user, module, .. } => Mute::Module {
                user: user.to_string(),
                module: *module,
            },
            Change::Room { room, .. } => Mute::Room {
                room: room.to_string(),
            },
            Change::Sender { user, sender, .. } => Mute::Sender {
                user: user.to_string(),
                sender: sender.to_string(),
            },
            Change::Snooze { user, .. } => Mute::Snooze {
                user: user.to_string(),
            },
            Change::Allow { .. }
            | Change::Quiet { .. }
            | Change::Bypass { .. }
            | Change::RoomMentions { .. }
            | Change::SlowMode { .. }
            | Change::Ladder { .. }
            | Change::Strikes { .. }
            | Change::History { .. } => return None,
        })
    }

    /// What the entry's new value blocks (every action for the kinds without a scope).
    fn scope(&self) -> Actions {
        match self {
            Change::Member { scope, .. }
            | Change::Module { scope, .. }
            | Change::Room { scope, .. } => *scope,
            _ => Actions::ALL,
        }
    }

    /// The old and new end of the entry, for the kinds that can end.
    fn ends(&self) -> Option<(Raw, Raw)> {
        let raw = |s: &Option<Setting>| s.map_or(NONE, |s| s.until);
        match self {
            Change::Notify { old, new, .. } => Some((raw(old), raw(new))),
            Change::Member { old, new, .. }
            | Change::Module { old, new, .. }
            | Change::Room { old, new, .. }
            | Change::Sender { old, new, .. }
            | Change::Snooze { old, new, .. } => Some((*old, *new)),
            Change::Allow { .. }
            | Change::Quiet { .. }
            | Change::Bypass { .. }
            | Change::RoomMentions { .. }
            | Change::SlowMode { .. }
            | Change::Ladder { .. }
            | Change::History { .. } => None,
            Change::Strikes { old, new, .. } => Some((*old, *new)),
        }
    }

    /// Whether the change is to the state (not an entry added to a moderation history).
    pub(crate) fn is_state(&self) -> bool {
        !matches!(self, Change::History { .. })
    }

    /// Whether the change ended an entry that was in force at `now`.
    pub(crate) fn lifted(&self, now: u64) -> bool {
        self.ends()
            .is_some_and(|(old, new)| new == NONE && active(old, now))
    }

    /// The timed entry this change is about, with its old and new end, if either end is
    /// finite (what the expiry index follows).
    pub(crate) fn timed_ends(&self) -> Option<(Timed, Raw, Raw)> {
        let (old, new) = self.ends()?;
        if !finite(old) && !finite(new) {
            return None;
        }
        match self {
            Change::Notify { at, .. }
            | Change::Member { at, .. }
            | Change::Module { at, .. }
            | Change::Room { at, .. }
            | Change::Sender { at, .. }
            | Change::Snooze { at, .. }
            | Change::Strikes { at, .. } => Some((*at, old, new)),
            _ => None,
        }
    }
}

/// A finite expiry (not "no rule", not "forever").
pub(crate) fn finite(raw: Raw) -> bool {
    raw != NONE && raw != FOREVER
}

/// Every stored timed entry by its end time. Entries are grouped by end time (many mutes
/// share one, e.g. a batch), so an insert is one tree step and one hash insert, and never
/// compares ids.
#[derive(Debug, Default)]
pub(crate) struct Expiries {
    by_end: BTreeMap<Raw, HashSet<Timed, Seeded>>,
}

impl Expiries {
    /// Moves `key` from its old end to its new one (either may be no end at all).
    pub fn track(&mut self, key: Timed, old: Raw, new: Raw) {
        if finite(old)
            && let Some(set) = self.by_end.get_mut(&old)
        {
            set.remove(&key);
            if set.is_empty() {
                self.by_end.remove(&old);
            }
        }
        if finite(new) {
            self.by_end.entry(new).or_default().insert(key);
        }
    }

    /// Replaces the index by one of `entries` (each with its finite end), each group of
    /// one end time sized before it is filled.
    pub fn rebuild(&mut self, mut entries: Vec<(Raw, Timed)>) {
        entries.sort_unstable_by_key(|(raw, _)| *raw);
        let groups: Vec<(Raw, usize)> = entries
            .chunk_by(|a, b| a.0 == b.0)
            .map(|group| (group[0].0, group.len()))
            .collect();
        // The keys move into their groups: no copy of any id.
        let mut keys = entries.into_iter().map(|(_, key)| key);
        self.by_end.clear();
        for (end, len) in groups {
            let mut set = HashSet::with_capacity_and_hasher(len, Seeded);
            set.extend(keys.by_ref().take(len));
            self.by_end.insert(end, set);
        }
    }

    /// The earliest end after `now` of an entry still in force.
    pub fn next_after(&self, now: u64) -> Option<u64> {
        self.by_end
            .range(now.saturating_add(1)..)
            .next()
            .map(|(&end, _)| end)
    }

    /// Removes and returns every entry that has ended by `now`.
    pub fn take_due(&mut self, now: u64) -> Vec<Timed> {
        let mut due = Vec::new();
        while let Some(entry) = self.by_end.first_entry() {
            if *entry.key() > now {
                break;
            }
            due.extend(entry.remove());
        }
        due
    }
}

/// The events `changes` amount to at `now`.
pub(crate) fn events(changes: &[Change], now: u64, out: &mut Vec<Event>) {
    for c in changes {
        if let Some((old, _)) = c.ends()
            && finite(old)
            && old <= now
            && let Some(mute) = c.mute()
        {
            out.push(Event::Expired { mute, at_ms: old });
        }
        match c {
            Change::Notify {
                user,
                room,
                old,
                new,
                ..
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
            Change::Quiet { user, schedule } => out.push(Event::QuietHoursChanged {
                user: user.to_string(),
                schedule: schedule.clone(),
            }),
            Change::Bypass { user, bypass } => out.push(Event::BypassChanged {
                user: user.to_string(),
                bypass: *bypass,
            }),
            Change::RoomMentions { room, notify } => out.push(Event::RoomMentionsChanged {
                room: room.to_string(),
                notify: *notify,
            }),
            Change::SlowMode { room, cooldown_ms } => out.push(Event::SlowModeChanged {
                room: room.to_string(),
                cooldown_ms: (*cooldown_ms != 0).then_some(*cooldown_ms),
            }),
            Change::Ladder { room, ladder } => out.push(Event::LadderChanged {
                room: room.to_string(),
                ladder: ladder.clone(),
            }),
            Change::Strikes {
                room,
                user,
                before,
                after,
                ..
            } => {
                if before != after {
                    out.push(Event::StrikesChanged {
                        room: room.to_string(),
                        user: user.to_string(),
                        strikes: *after,
                    });
                }
            }
            Change::History { subject, entry } => out.push(Event::Moderated {
                subject: subject.clone(),
                entry: (**entry).clone(),
            }),
            _ => {
                let (Some((old, new)), Some(mute)) = (c.ends(), c.mute()) else {
                    continue;
                };
                if new != NONE {
                    out.push(Event::Muted {
                        mute,
                        expiry: Expiry::from_raw(new),
                        actions: c.scope(),
                    });
                } else if active(old, now) {
                    out.push(Event::Unmuted { mute });
                }
            }
        }
    }
}
