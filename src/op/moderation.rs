//! Moderation operations: which operations are moderation (and may carry a trail), what
//! each is about, and the entries of a subject's history ([`ModerationEntry`]).

use serde::{Deserialize, Serialize};

use super::Op;
use crate::error::Error;
use crate::ids::Key;
use crate::trail::{Subject, Trail};

impl Op {
    /// Checks that this operation may carry a trail (a moderation operation), then
    /// `trail`.
    pub(crate) fn check_trail(&self, trail: &Trail, max_id_len: usize) -> Result<(), Error> {
        if !is_moderation(self) {
            return Err(Error::InvalidCombination(
                "a trail goes only on a moderation operation",
            ));
        }
        trail.check(max_id_len)
    }
}

/// One moderation operation in a subject's history: when, what (the operation, narrowed
/// to the subject: a batch mute of three members is one entry in each member's
/// history, each naming only that member), and its trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModerationEntry {
    /// When the operation was applied (Unix ms, the engine's clock).
    pub at_ms: u64,
    /// The operation, narrowed to the subject.
    pub op: Op,
    /// Who, why, through what.
    pub trail: Trail,
}

impl ModerationEntry {
    /// An entry (what a history restore, [`Op::Remember`], is built from).
    #[must_use]
    pub fn new(at_ms: u64, op: Op, trail: Trail) -> ModerationEntry {
        ModerationEntry { at_ms, op, trail }
    }
}

/// What a moderation operation is about, borrowed from it.
enum About<'a> {
    /// Each member of a batch.
    Members(&'a str, &'a [Key]),
    /// One member.
    Member(&'a str, &'a str),
    Room(&'a str),
    User(&'a str),
}

/// What `op` is about; `None` for an operation that is not moderation (which takes no
/// trail). The one list of which operations are moderation.
fn about(op: &Op) -> Option<About<'_>> {
    Some(match op {
        Op::MuteMembers { room, users, .. }
        | Op::UnmuteMembers { room, users }
        | Op::Allow { room, users }
        | Op::Disallow { room, users } => About::Members(room, users),
        Op::Strike { room, user, .. } | Op::SetStrikes { room, user, .. } => {
            About::Member(room, user)
        }
        Op::MuteRoom { room, .. }
        | Op::UnmuteRoom { room }
        | Op::SetSlowMode { room, .. }
        | Op::SetLadder { room, .. } => About::Room(room),
        Op::SetModules { user, .. } => About::User(user),
        Op::SetNotify { .. }
        | Op::SetQuietHours { .. }
        | Op::Snooze { .. }
        | Op::SetBypass { .. }
        | Op::MuteSender { .. }
        | Op::UnmuteSender { .. }
        | Op::SetRoomMentions { .. }
        | Op::RemoveUser { .. }
        | Op::RemoveRoom { .. }
        | Op::Moderated { .. }
        | Op::Remember { .. } => return None,
    })
}

/// A batch operation's members, replaced by `to`.
fn set_users(op: &mut Op, to: Vec<Key>) {
    if let Op::MuteMembers { users, .. }
    | Op::UnmuteMembers { users, .. }
    | Op::Allow { users, .. }
    | Op::Disallow { users, .. } = op
    {
        *users = to;
    }
}

/// The subjects `op` is about, each with `op` narrowed to it (a batch gives one
/// operation per member, naming only that member); empty for an operation that is not
/// moderation.
pub(crate) fn subjects(op: &Op) -> Vec<(Subject, Op)> {
    match about(op) {
        None => Vec::new(),
        Some(About::Members(room, users)) => {
            // The batch copied once without its members, then once per member.
            let mut shell = op.clone();
            set_users(&mut shell, Vec::new());
            users
                .iter()
                .map(|u| {
                    let mut one = shell.clone();
                    set_users(&mut one, vec![u.clone()]);
                    (Subject::member(room, &**u), one)
                })
                .collect()
        }
        Some(About::Member(room, user)) => vec![(Subject::member(room, user), op.clone())],
        Some(About::Room(room)) => vec![(Subject::room(room), op.clone())],
        Some(About::User(user)) => vec![(Subject::user(user), op.clone())],
    }
}

/// Whether `op` is a moderation operation (one that may carry a trail).
pub(crate) fn is_moderation(op: &Op) -> bool {
    about(op).is_some()
}
