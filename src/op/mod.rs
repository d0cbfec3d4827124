//! The one operation type: every mutation of the engine is one [`Op`]. Operations carry
//! absolute expiries, so the state is a fold of operations — what persistence and
//! replication build on.

use serde::{Deserialize, Serialize};

use crate::action::Actions;
use crate::error::{Error, IdKind, check_id};
use crate::expiry::Expiry;
use crate::ids::Key;
use crate::ladder::{Ladder, MAX_STRIKES};
use crate::limits::Limits;
use crate::notify::NotifyLevel;
use crate::quiet::{Bypass, Schedule};
use crate::slow::{MAX_COOLDOWN_MS, MIN_COOLDOWN_MS};
use crate::trail::{MAX_HISTORY_LEN, Subject, Trail};

mod moderation;

pub use moderation::ModerationEntry;
pub(crate) use moderation::subjects;

/// One mutation, as the engine applies and logs it.
///
/// Every public mutation call becomes one `Op`; [`Engine::apply`](crate::Engine::apply)
/// applies one directly (for replication or replay). Expiries are absolute, so applying
/// an operation later gives the same state, and applying it twice changes nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Op {
    /// Sets (user, room)'s notification level; `All` removes the setting.
    SetNotify {
        /// The user.
        user: Key,
        /// The room.
        room: Key,
        /// The level.
        level: NotifyLevel,
        /// When the level ends.
        until: Expiry,
    },
    /// Speech-mutes members of a room until `until`.
    MuteMembers {
        /// The room.
        room: Key,
        /// The members.
        users: Vec<Key>,
        /// When the mutes end.
        until: Expiry,
        /// The actions the mutes block ([`Actions::ALL`]: every one, an unscoped mute).
        #[serde(default)]
        actions: Actions,
    },
    /// Lifts members' speech mutes.
    UnmuteMembers {
        /// The room.
        room: Key,
        /// The members.
        users: Vec<Key>,
    },
    /// Mutes (`Some(true)`, until `until`) or unmutes (`Some(false)`) modules for a user.
    SetModules {
        /// The user.
        user: Key,
        /// Per module, in [`Module::ALL`](crate::Module::ALL) order: mute, unmute, or leave.
        change: [Option<bool>; 4],
        /// When the mutes set here end.
        until: Expiry,
        /// The actions the mutes block ([`Actions::ALL`]: every one, an unscoped mute).
        #[serde(default)]
        actions: Actions,
    },
    /// Mutes a whole room until `until`.
    MuteRoom {
        /// The room.
        room: Key,
        /// When the mute ends.
        until: Expiry,
        /// The actions the mutes block ([`Actions::ALL`]: every one, an unscoped mute).
        #[serde(default)]
        actions: Actions,
    },
    /// Lifts a room-wide mute.
    UnmuteRoom {
        /// The room.
        room: Key,
    },
    /// Adds users to a room's allow list.
    Allow {
        /// The room.
        room: Key,
        /// The users.
        users: Vec<Key>,
    },
    /// Removes users from a room's allow list.
    Disallow {
        /// The room.
        room: Key,
        /// The users.
        users: Vec<Key>,
    },
    /// Sets (`Some`) or clears (`None`) a user's quiet-hours schedule.
    SetQuietHours {
        /// The user.
        user: Key,
        /// The schedule.
        schedule: Option<Schedule>,
    },
    /// Snoozes every push to a user until `until` (`Some`), or ends a snooze (`None`).
    Snooze {
        /// The user.
        user: Key,
        /// When the snooze ends.
        until: Option<Expiry>,
    },
    /// Sets which pushes break through a user's quiet hours and snoozes.
    SetBypass {
        /// The user.
        user: Key,
        /// The rules (the default clears them).
        bypass: Bypass,
    },
    /// Drops pushes of `sender`'s messages to `user` until `until`.
    MuteSender {
        /// The user who mutes.
        user: Key,
        /// The sender muted.
        sender: Key,
        /// When the mute ends.
        until: Expiry,
    },
    /// Lifts a user's mute of one sender.
    UnmuteSender {
        /// The user.
        user: Key,
        /// The sender.
        sender: Key,
    },
    /// Says whether room-wide mentions (`@all`, `@here`) in a room notify as mentions
    /// (`true`, the default) or count as ordinary messages (`false`).
    SetRoomMentions {
        /// The room.
        room: Key,
        /// Whether room-wide mentions notify.
        notify: bool,
    },
    /// Sets (`Some`, in ms) or lifts (`None`) a room's slow mode: the cooldown between
    /// two messages of one member.
    SetSlowMode {
        /// The room.
        room: Key,
        /// The cooldown in milliseconds.
        cooldown_ms: Option<u64>,
    },
    /// Sets (`Some`) or clears (`None`, back to the engine's) a room's escalation ladder.
    SetLadder {
        /// The room.
        room: Key,
        /// The ladder.
        ladder: Option<Ladder>,
    },
    /// Records a strike against `user` in `room` at the operation's time, and mutes them
    /// (every action) for the step of `ladder` their strikes in force reach, unless a
    /// longer mute is in force. The ladder is the one in force when the strike was
    /// made, so replaying the operation gives the same mute on every node.
    Strike {
        /// The room.
        room: Key,
        /// The member.
        user: Key,
        /// The ladder applied.
        ladder: Ladder,
    },
    /// Replaces `user`'s strikes in `room` by strikes ending at `ends_ms` (empty: a
    /// pardon; the mute in force is left alone). What a snapshot restores strikes with.
    SetStrikes {
        /// The room.
        room: Key,
        /// The member.
        user: Key,
        /// When each strike decays (Unix ms), at most [`MAX_STRIKES`](crate::MAX_STRIKES).
        ends_ms: Vec<u64>,
    },
    /// A moderation operation with its trail: who made it, why, through what. Applied as
    /// `op`, and remembered in the history of each subject it is about
    /// ([`Engine::moderation_history`](crate::Engine::moderation_history)).
    Moderated {
        /// Who, why, through what.
        trail: Trail,
        /// The operation (a moderation one; never another `Moderated` or a `Remember`).
        op: Box<Op>,
    },
    /// Replaces a subject's moderation history by `entries` (oldest first); what a
    /// snapshot restores histories with.
    Remember {
        /// The subject.
        subject: Subject,
        /// Its entries, at most [`MAX_HISTORY_LEN`](crate::MAX_HISTORY_LEN).
        entries: Vec<ModerationEntry>,
    },
    /// Purges every trace of a user.
    RemoveUser {
        /// The user.
        user: Key,
    },
    /// Purges every trace of a room.
    RemoveRoom {
        /// The room.
        room: Key,
    },
}

impl Op {
    /// Checks the operation against `limits`: every id non-empty and within
    /// [`Limits::max_id_len`], every batch non-empty and within [`Limits::max_batch`], a
    /// module change naming at least one module. Every mutation passes here, whether it
    /// comes from a method or from [`Engine::apply`](crate::Engine::apply).
    pub(crate) fn validate(&self, limits: &Limits) -> Result<(), Error> {
        let max = limits.max_id_len();
        let batch = |users: &[Key]| -> Result<(), Error> {
            if users.is_empty() {
                return Err(Error::EmptyBatch);
            }
            if users.len() > limits.max_batch() {
                return Err(Error::BatchTooLarge {
                    len: users.len(),
                    max: limits.max_batch(),
                });
            }
            users
                .iter()
                .try_for_each(|u| check_id(IdKind::User, u, max))
        };
        let scope = |actions: Actions| {
            if actions.is_empty() {
                return Err(Error::NoActionGiven);
            }
            Ok(())
        };
        match self {
            Op::SetNotify { user, room, .. } => {
                check_id(IdKind::User, user, max)?;
                check_id(IdKind::Room, room, max)
            }
            Op::MuteMembers {
                room,
                users,
                actions,
                ..
            } => {
                check_id(IdKind::Room, room, max)?;
                batch(users)?;
                scope(*actions)
            }
            Op::UnmuteMembers { room, users }
            | Op::Allow { room, users }
            | Op::Disallow { room, users } => {
                check_id(IdKind::Room, room, max)?;
                batch(users)
            }
            Op::SetModules {
                user,
                change,
                actions,
                ..
            } => {
                check_id(IdKind::User, user, max)?;
                if change.iter().all(Option::is_none) {
                    return Err(Error::NoModuleGiven);
                }
                scope(*actions)
            }
            Op::MuteRoom { room, actions, .. } => {
                check_id(IdKind::Room, room, max)?;
                scope(*actions)
            }
            Op::UnmuteRoom { room } | Op::RemoveRoom { room } => check_id(IdKind::Room, room, max),
            Op::RemoveUser { user }
            | Op::Snooze { user, .. }
            | Op::SetBypass { user, .. }
            | Op::SetQuietHours {
                user,
                schedule: None,
            } => check_id(IdKind::User, user, max),
            Op::SetQuietHours {
                user,
                schedule: Some(schedule),
            } => {
                check_id(IdKind::User, user, max)?;
                schedule.check().map(drop)
            }
            Op::MuteSender { user, sender, .. } | Op::UnmuteSender { user, sender } => {
                check_id(IdKind::User, user, max)?;
                check_id(IdKind::User, sender, max)
            }
            Op::SetRoomMentions { room, .. }
            | Op::SetLadder {
                room, ladder: None, ..
            } => check_id(IdKind::Room, room, max),
            Op::SetLadder {
                room,
                ladder: Some(ladder),
            } => {
                check_id(IdKind::Room, room, max)?;
                ladder.check()
            }
            Op::Strike { room, user, ladder } => {
                check_id(IdKind::Room, room, max)?;
                check_id(IdKind::User, user, max)?;
                ladder.check()
            }
            Op::SetStrikes {
                room,
                user,
                ends_ms,
            } => {
                check_id(IdKind::Room, room, max)?;
                check_id(IdKind::User, user, max)?;
                if ends_ms.len() > MAX_STRIKES {
                    return Err(Error::InvalidCombination("more strikes than are kept"));
                }
                if ends_ms.iter().any(|&e| e == 0 || e == u64::MAX) {
                    return Err(Error::InvalidCombination("a strike's end is not a time"));
                }
                Ok(())
            }
            Op::Moderated { trail, op } => {
                op.check_trail(trail, max)?;
                op.validate(limits)
            }
            Op::Remember { subject, entries } => {
                subject.check(max)?;
                if entries.len() > MAX_HISTORY_LEN {
                    return Err(Error::InvalidCombination(
                        "more history entries than are kept",
                    ));
                }
                entries.iter().try_for_each(|e| {
                    e.op.check_trail(&e.trail, max)?;
                    e.op.validate(limits)
                })
            }
            Op::SetSlowMode { room, cooldown_ms } => {
                check_id(IdKind::Room, room, max)?;
                match *cooldown_ms {
                    Some(ms) if !(MIN_COOLDOWN_MS..=MAX_COOLDOWN_MS).contains(&ms) => {
                        Err(Error::CooldownOutOfRange {
                            cooldown_ms: ms,
                            min_ms: MIN_COOLDOWN_MS,
                            max_ms: MAX_COOLDOWN_MS,
                        })
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// The rules every operation obeys whatever an engine's limits ([`Op::validate`]
    /// with no length or batch limit). Records read from a store are held to them, so a
    /// damaged record that still checksums cannot plant state that no call could make.
    pub(crate) fn well_formed(&self) -> Result<(), String> {
        self.validate(&Limits::unbounded())
            .map_err(|e| e.to_string())
    }
}
