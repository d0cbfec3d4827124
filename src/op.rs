//! The one operation type: every mutation of the engine is one `Op`, applied by
//! [`Tables::apply`](crate::store::Tables::apply). Operations carry absolute expiries, so
//! the state is a fold of operations — what persistence and replication build on.

use serde::{Deserialize, Serialize};

use crate::expiry::Expiry;
use crate::notify::NotifyLevel;
use crate::store::Key;

/// One validated mutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Op {
    /// Sets (user, room)'s notification level; `All` removes the setting.
    SetNotify {
        user: Key,
        room: Key,
        level: NotifyLevel,
        until: Expiry,
    },
    /// Speech-mutes members of a room until `until`.
    MuteMembers {
        room: Key,
        users: Vec<Key>,
        until: Expiry,
    },
    /// Lifts members' speech mutes.
    UnmuteMembers { room: Key, users: Vec<Key> },
    /// Mutes (`Some(true)`, until `until`) or unmutes (`Some(false)`) modules for a user.
    SetModules {
        user: Key,
        change: [Option<bool>; 4],
        until: Expiry,
    },
    /// Mutes a whole room until `until`.
    MuteRoom { room: Key, until: Expiry },
    /// Lifts a room-wide mute.
    UnmuteRoom { room: Key },
    /// Adds users to a room's allow list.
    Allow { room: Key, users: Vec<Key> },
    /// Removes users from a room's allow list.
    Disallow { room: Key, users: Vec<Key> },
    /// Purges every trace of a user.
    RemoveUser { user: Key },
    /// Purges every trace of a room.
    RemoveRoom { room: Key },
}
