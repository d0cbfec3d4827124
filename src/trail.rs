//! The moderation trail: who made a moderation operation, why, and through what
//! ([`Trail`]), and what it was about ([`Subject`]). Which operations are moderation,
//! and the entries of a subject's history, are the operation's (`op::moderation`).

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IdKind, check_id};

/// The longest [`Trail::reason`] kept, in bytes (UTF-8).
pub const MAX_REASON_LEN: usize = 512;

/// How many entries an engine keeps per subject unless told otherwise
/// ([`EngineBuilder::history_len`](crate::EngineBuilder::history_len)).
pub const DEFAULT_HISTORY_LEN: usize = 8;

/// The most entries an engine can be told to keep per subject.
pub const MAX_HISTORY_LEN: usize = 1000;

/// What made a moderation operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// A moderator, by hand (the default).
    #[default]
    Manual,
    /// An automatic rule (a spam filter, a bot).
    Automatic,
    /// An escalation ladder's strike.
    Ladder,
    /// A call of the HTTP API.
    Api,
}

impl Source {
    /// Every source, in code order (the record format's codes are the indexes).
    pub const ALL: [Source; 4] = [
        Source::Manual,
        Source::Automatic,
        Source::Ladder,
        Source::Api,
    ];

    /// The source's name, as JSON spells it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Source::Manual => "manual",
            Source::Automatic => "automatic",
            Source::Ladder => "ladder",
            Source::Api => "api",
        }
    }

    /// The code the record format writes.
    pub(crate) fn code(self) -> u8 {
        match self {
            Source::Manual => 0,
            Source::Automatic => 1,
            Source::Ladder => 2,
            Source::Api => 3,
        }
    }

    /// The source a record's code stands for.
    pub(crate) fn from_code(code: u8) -> Result<Source, String> {
        Source::ALL
            .get(usize::from(code))
            .copied()
            .ok_or_else(|| format!("unknown trail source code {code}"))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who made a moderation operation, why, and through what. Give one to
/// [`Engine::with_trail`](crate::Engine::with_trail); it travels in the operation
/// ([`Op::Moderated`](crate::Op::Moderated)), in [`Event::Moderated`](crate::Event::Moderated) and in the
/// subject's history ([`Engine::moderation_history`](crate::Engine::moderation_history)).
///
/// # Examples
///
/// ```
/// use mutegate::{Source, Trail};
///
/// let trail = Trail::by("mod-1").reason("spam").source(Source::Automatic);
/// assert_eq!(trail.actor.as_deref(), Some("mod-1"));
/// assert_eq!(trail.reason.as_deref(), Some("spam"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Trail {
    /// Who acted (a user id), if known.
    #[serde(default)]
    pub actor: Option<String>,
    /// Why, at most [`MAX_REASON_LEN`] bytes.
    #[serde(default)]
    pub reason: Option<String>,
    /// Through what.
    #[serde(default)]
    pub source: Source,
}

impl Trail {
    /// A trail with no actor, no reason, and `source`.
    #[must_use]
    pub fn new(source: Source) -> Trail {
        Trail {
            actor: None,
            reason: None,
            source,
        }
    }

    /// A manual trail by `actor`.
    #[must_use]
    pub fn by(actor: impl Into<String>) -> Trail {
        Trail {
            actor: Some(actor.into()),
            ..Trail::default()
        }
    }

    /// This trail with `reason`.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Trail {
        self.reason = Some(reason.into());
        self
    }

    /// This trail with `source`.
    #[must_use]
    pub fn source(mut self, source: Source) -> Trail {
        self.source = source;
        self
    }

    /// Checks the actor as a user id (non-empty, within `max_id_len`) and the reason's
    /// length.
    pub(crate) fn check(&self, max_id_len: usize) -> Result<(), Error> {
        if let Some(actor) = &self.actor {
            check_id(IdKind::User, actor, max_id_len)?;
        }
        match &self.reason {
            Some(r) if r.len() > MAX_REASON_LEN => Err(Error::ReasonTooLong {
                len: r.len(),
                max: MAX_REASON_LEN,
            }),
            _ => Ok(()),
        }
    }
}

/// What a moderation operation is about: a member of a room, a room, or a user (their
/// module mutes). Each has its own history.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum Subject {
    /// A member of a room: their speech mutes, allow-list entries and strikes there.
    Member {
        /// The room.
        room: String,
        /// The member.
        user: String,
    },
    /// A room: its room-wide mute, slow mode and ladder.
    Room {
        /// The room.
        room: String,
    },
    /// A user: their module mutes.
    User {
        /// The user.
        user: String,
    },
}

impl Subject {
    /// A member of a room.
    #[must_use]
    pub fn member(room: impl Into<String>, user: impl Into<String>) -> Subject {
        Subject::Member {
            room: room.into(),
            user: user.into(),
        }
    }

    /// A room.
    #[must_use]
    pub fn room(room: impl Into<String>) -> Subject {
        Subject::Room { room: room.into() }
    }

    /// A user.
    #[must_use]
    pub fn user(user: impl Into<String>) -> Subject {
        Subject::User { user: user.into() }
    }

    /// The room the subject is in or is (`None` for a user).
    #[must_use]
    pub fn room_id(&self) -> Option<&str> {
        match self {
            Subject::Member { room, .. } | Subject::Room { room } => Some(room),
            Subject::User { .. } => None,
        }
    }

    /// The user the subject is or is about (`None` for a room).
    #[must_use]
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Subject::Member { user, .. } | Subject::User { user } => Some(user),
            Subject::Room { .. } => None,
        }
    }

    /// The id whose stripe serializes writes of the subject (the room, or the user).
    pub(crate) fn owner(&self) -> &str {
        self.borrowed().owner()
    }

    /// The subject by borrowed ids.
    pub(crate) fn borrowed(&self) -> SubjectRef<'_> {
        match self {
            Subject::Member { room, user } => SubjectRef::Member(room, user),
            Subject::Room { room } => SubjectRef::Room(room),
            Subject::User { user } => SubjectRef::User(user),
        }
    }

    pub(crate) fn check(&self, max_id_len: usize) -> Result<(), Error> {
        if let Some(room) = self.room_id() {
            check_id(IdKind::Room, room, max_id_len)?;
        }
        if let Some(user) = self.user_id() {
            check_id(IdKind::User, user, max_id_len)?;
        }
        Ok(())
    }
}

/// Hashed as its borrowed form (`SubjectRef`), so either finds it in a map.
impl Hash for Subject {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.borrowed().hash(state);
    }
}

/// A [`Subject`] by borrowed ids: what looks a history up without copying them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SubjectRef<'a> {
    /// (room, user)
    Member(&'a str, &'a str),
    Room(&'a str),
    User(&'a str),
}

impl<'a> SubjectRef<'a> {
    /// See [`Subject::owner`].
    pub(crate) fn owner(self) -> &'a str {
        match self {
            SubjectRef::Member(room, _) | SubjectRef::Room(room) => room,
            SubjectRef::User(user) => user,
        }
    }
}

impl From<&SubjectRef<'_>> for Subject {
    fn from(s: &SubjectRef<'_>) -> Subject {
        match *s {
            SubjectRef::Member(room, user) => Subject::member(room, user),
            SubjectRef::Room(room) => Subject::room(room),
            SubjectRef::User(user) => Subject::user(user),
        }
    }
}

impl hashbrown::Equivalent<Subject> for SubjectRef<'_> {
    fn equivalent(&self, key: &Subject) -> bool {
        *self == key.borrowed()
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Member { room, user } => write!(f, "member {user:?} of room {room:?}"),
            Subject::Room { room } => write!(f, "room {room:?}"),
            Subject::User { user } => write!(f, "user {user:?}"),
        }
    }
}
