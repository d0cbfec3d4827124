//! What one applied operation changed, entry by entry. From the changes the engine keeps
//! its expiry index and derives the events its subscribers see.

use crate::action::Actions;
use crate::event::{Event, Mute};
use crate::expiry::{Expiry, FOREVER, NONE, Raw, active};
use crate::ids::{Key, Slot};
use crate::ladder::Ladder;
use crate::module::Module;
use crate::notify::NotifyLevel;
use crate::notify::Setting;
use crate::observe::EntryKind;
use crate::op::ModerationEntry;
use crate::quiet::{Bypass, Schedule};
use crate::trail::Subject;

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

/// The events `changes` amount to at `now`.
/// What `changes` added to (+1) and removed from (-1) the stored entries, by kind (for
/// the `mutegate_entries` gauge).
pub(crate) fn counted(changes: &[Change]) -> impl Iterator<Item = (EntryKind, i64)> + '_ {
    let delta = |old: bool, new: bool| i64::from(new) - i64::from(old);
    changes.iter().filter_map(move |c| {
        Some(match c {
            Change::Notify { old, new, .. } => {
                (EntryKind::Notification, delta(old.is_some(), new.is_some()))
            }
            Change::Member { old, new, .. } => (EntryKind::Member, delta(*old != 0, *new != 0)),
            Change::Module { old, new, .. } => (EntryKind::Module, delta(*old != 0, *new != 0)),
            Change::Room { old, new, .. } => (EntryKind::Room, delta(*old != 0, *new != 0)),
            Change::Allow { allowed, .. } => (EntryKind::Allow, if *allowed { 1 } else { -1 }),
            Change::Sender { old, new, .. } => (EntryKind::Sender, delta(*old != 0, *new != 0)),
            Change::Snooze { .. }
            | Change::Quiet { .. }
            | Change::Bypass { .. }
            | Change::RoomMentions { .. }
            | Change::SlowMode { .. }
            | Change::Ladder { .. }
            | Change::Strikes { .. }
            | Change::History { .. } => return None,
        })
    })
}

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
