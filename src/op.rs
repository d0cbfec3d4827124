//! The one operation type: every mutation of the engine is one [`Op`]. Operations carry
//! absolute expiries, so the state is a fold of operations — what persistence and
//! replication build on.

use serde::{Deserialize, Serialize};

use crate::expiry::Expiry;
use crate::notify::NotifyLevel;
use crate::store::Key;

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
    },
    /// Mutes a whole room until `until`.
    MuteRoom {
        /// The room.
        room: Key,
        /// When the mute ends.
        until: Expiry,
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
    /// The rules every operation obeys whatever an engine's limits: ids are not empty,
    /// batches are not empty, a module change names a module. Records read from a store
    /// are held to them, so a damaged record that still checksums cannot plant state
    /// that no call could have made.
    pub(crate) fn well_formed(&self) -> Result<(), String> {
        let ids: Vec<&str> = match self {
            Op::SetNotify { user, room, .. } => vec![user, room],
            Op::MuteMembers { room, users, .. }
            | Op::UnmuteMembers { room, users }
            | Op::Allow { room, users }
            | Op::Disallow { room, users } => {
                if users.is_empty() {
                    return Err("empty batch of users".into());
                }
                std::iter::once(room).chain(users).map(|k| &**k).collect()
            }
            Op::SetModules { user, change, .. } => {
                if change.iter().all(Option::is_none) {
                    return Err("module change names no module".into());
                }
                vec![user]
            }
            Op::MuteRoom { room, .. } | Op::UnmuteRoom { room } | Op::RemoveRoom { room } => {
                vec![room]
            }
            Op::RemoveUser { user } => vec![user],
        };
        if ids.iter().any(|id| id.is_empty()) {
            return Err("empty id".into());
        }
        Ok(())
    }
}
