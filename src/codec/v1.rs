//! The record payload of format 1, read (never written) so that stores and snapshots
//! written by mutegate 0.1's first format still open.
//!
//! Format 1 was postcard over the public `Op` as it was declared then: a varint
//! variant index in declaration order, then the fields in order. The types below
//! freeze that layout, so the public types may change without breaking this reader.
//! Do not reorder anything here.

use serde::Deserialize;

use super::Record;
use crate::action::Actions;
use crate::expiry::Expiry;
use crate::ids::Key;
use crate::notify::NotifyLevel;
use crate::op::Op;

#[derive(Deserialize)]
struct V1Record {
    at: u64,
    op: V1Op,
}

#[derive(Deserialize)]
enum V1Expiry {
    Never,
    At(u64),
}

#[derive(Deserialize)]
enum V1Level {
    All,
    MentionsOnly,
    Off,
}

#[derive(Deserialize)]
enum V1Op {
    SetNotify {
        user: Key,
        room: Key,
        level: V1Level,
        until: V1Expiry,
    },
    MuteMembers {
        room: Key,
        users: Vec<Key>,
        until: V1Expiry,
    },
    UnmuteMembers {
        room: Key,
        users: Vec<Key>,
    },
    SetModules {
        user: Key,
        change: [Option<bool>; 4],
        until: V1Expiry,
    },
    MuteRoom {
        room: Key,
        until: V1Expiry,
    },
    UnmuteRoom {
        room: Key,
    },
    Allow {
        room: Key,
        users: Vec<Key>,
    },
    Disallow {
        room: Key,
        users: Vec<Key>,
    },
    RemoveUser {
        user: Key,
    },
    RemoveRoom {
        room: Key,
    },
}

impl From<V1Expiry> for Expiry {
    fn from(e: V1Expiry) -> Expiry {
        match e {
            V1Expiry::Never => Expiry::Never,
            V1Expiry::At(ms) => Expiry::At(ms),
        }
    }
}

impl From<V1Level> for NotifyLevel {
    fn from(l: V1Level) -> NotifyLevel {
        match l {
            V1Level::All => NotifyLevel::All,
            V1Level::MentionsOnly => NotifyLevel::MentionsOnly,
            V1Level::Off => NotifyLevel::Off,
        }
    }
}

impl From<V1Op> for Op {
    fn from(op: V1Op) -> Op {
        match op {
            V1Op::SetNotify {
                user,
                room,
                level,
                until,
            } => Op::SetNotify {
                user,
                room,
                level: level.into(),
                until: until.into(),
            },
            V1Op::MuteMembers { room, users, until } => Op::MuteMembers {
                actions: Actions::ALL,
                room,
                users,
                until: until.into(),
            },
            V1Op::UnmuteMembers { room, users } => Op::UnmuteMembers { room, users },
            V1Op::SetModules {
                user,
                change,
                until,
            } => Op::SetModules {
                actions: Actions::ALL,
                user,
                change,
                until: until.into(),
            },
            V1Op::MuteRoom { room, until } => Op::MuteRoom {
                actions: Actions::ALL,
                room,
                until: until.into(),
            },
            V1Op::UnmuteRoom { room } => Op::UnmuteRoom { room },
            V1Op::Allow { room, users } => Op::Allow { room, users },
            V1Op::Disallow { room, users } => Op::Disallow { room, users },
            V1Op::RemoveUser { user } => Op::RemoveUser { user },
            V1Op::RemoveRoom { room } => Op::RemoveRoom { room },
        }
    }
}

/// Decodes one format-1 payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Record, String> {
    let (r, rest) = postcard::take_from_bytes::<V1Record>(payload).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(Record {
        at: r.at,
        op: r.op.into(),
    })
}
