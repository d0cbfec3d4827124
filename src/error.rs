//! The engine's typed errors. Every error leaves the engine's state unchanged.

use std::fmt;
use std::time::Duration;

/// Which kind of id an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A user (account) id.
    User,
    /// A room id (team, chat room, QChat channel).
    Room,
    /// The id of a [`Target`](crate::Target) (a peer for P2P, else a room).
    Target,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::User => "user",
            IdKind::Room => "room",
            IdKind::Target => "target",
        })
    }
}

/// Why a call was refused. The engine is unchanged after any error.
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, Error};
///
/// let engine = Engine::new();
/// let err = engine.unmute_notifications("aaa", "demo").unwrap_err();
/// assert!(matches!(err, Error::NotMuted { .. }));
/// assert_eq!(err.to_string(), "room \"demo\" is not in the notification mute list of user \"aaa\"");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An id was the empty string.
    #[error("{kind} id is empty")]
    EmptyId {
        /// Which id.
        kind: IdKind,
    },
    /// An id was longer than [`Limits::max_id_len`](crate::Limits::max_id_len) bytes.
    #[error("{kind} id {id:?} is {len} bytes, over the limit of {max}")]
    IdTooLong {
        /// Which id.
        kind: IdKind,
        /// The id (its first 80 bytes or so, for very long ids).
        id: String,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// Unmuting notifications of a room that the user has not muted (IMKit `ROOM_NOT_MUTED`).
    #[error("room {room:?} is not in the notification mute list of user {user:?}")]
    NotMuted {
        /// The user.
        user: String,
        /// The room.
        room: String,
    },
    /// A module change named no module (NetEase 414).
    #[error("no module given: set at least one of p2p, team, room, qchat")]
    NoModuleGiven,
    /// A mute duration under one millisecond.
    #[error("mute duration {duration:?} is under 1 ms; use an unmute call to lift a mute")]
    ZeroDuration {
        /// The duration given.
        duration: Duration,
    },
    /// A mute duration whose expiry would not fit in `u64` milliseconds.
    #[error("mute duration of {duration_ms} ms from now ({now_ms} ms) overflows the time range")]
    DurationOverflow {
        /// The duration in milliseconds.
        duration_ms: u128,
        /// The time it was counted from.
        now_ms: u64,
    },
    /// A batch held more ids than [`Limits::max_batch`](crate::Limits::max_batch).
    #[error("batch of {len} user ids is over the limit of {max}")]
    BatchTooLarge {
        /// How many ids were given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A batch held no ids.
    #[error("batch of user ids is empty")]
    EmptyBatch,
    /// A combination of arguments that has no meaning.
    #[error("invalid combination: {0}")]
    InvalidCombination(&'static str),
    /// A page of a listing was asked for with a limit of 0 or over
    /// [`MAX_PAGE_LEN`](crate::MAX_PAGE_LEN).
    #[error("page limit {limit} is not between 1 and {max}")]
    PageLimit {
        /// The limit asked for.
        limit: usize,
        /// The largest limit allowed.
        max: usize,
    },
    /// A time zone that is not an IANA name in the compiled-in database.
    #[error("unknown time zone {zone:?} (expected an IANA name such as \"Europe/Berlin\")")]
    UnknownTimeZone {
        /// The name given.
        zone: String,
    },
    /// A quiet-hours window that cannot be: a time not below 24:00, an end equal to its
    /// start, or text that is not `day hh:mm-hh:mm`.
    #[error("invalid quiet-hours window {window:?}: {what}")]
    InvalidWindow {
        /// The window, as given.
        window: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// Two windows of one schedule overlap (they are refused, not merged).
    #[error("quiet-hours windows {first:?} and {second:?} overlap")]
    OverlappingWindows {
        /// The earlier window.
        first: String,
        /// The window it runs into.
        second: String,
    },
    /// A schedule with more windows than [`MAX_WINDOWS`](crate::MAX_WINDOWS).
    #[error("schedule of {len} windows is over the limit of {max}")]
    TooManyWindows {
        /// Windows given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A snooze ending at or before the engine's current time.
    #[error("snooze until {until_ms} ms is not after now ({now_ms} ms)")]
    SnoozeInPast {
        /// The end asked for.
        until_ms: u64,
        /// The engine's time.
        now_ms: u64,
    },
    /// A slow-mode cooldown outside the range the engine takes (zero included).
    #[error("slow-mode cooldown of {cooldown_ms} ms is not between {min_ms} and {max_ms} ms")]
    CooldownOutOfRange {
        /// The cooldown given.
        cooldown_ms: u64,
        /// The shortest cooldown.
        min_ms: u64,
        /// The longest cooldown.
        max_ms: u64,
    },
    /// An escalation ladder that cannot be: no step, too many, or a step or decay out of
    /// range.
    #[error("invalid ladder {ladder}: {what}")]
    InvalidLadder {
        /// The ladder, as given.
        ladder: String,
        /// What is wrong with it.
        what: String,
    },
    /// A moderation reason longer than [`MAX_REASON_LEN`](crate::MAX_REASON_LEN) bytes.
    #[error("reason is {len} bytes long, more than the {max} kept")]
    ReasonTooLong {
        /// The reason's length in bytes.
        len: usize,
        /// The longest reason kept.
        max: usize,
    },
    /// A name that is not an [`Action`](crate::Action) (over HTTP, in JSON, in text).
    #[error(
        "unknown action {name:?} (expected one of send_message, react, edit, upload_media, start_thread, join_voice)"
    )]
    UnknownAction {
        /// The name given.
        name: String,
    },
    /// A mute scoped to no action at all (a mute must block something; leave the scope
    /// out to block every action).
    #[error("empty action scope: name at least one action, or none for every action")]
    NoActionGiven,
    /// Reading or writing a store file failed; the mutation was not applied (see the
    /// README's durability section for what each failure leaves behind).
    #[error("i/o error: {op} {path}: {message}")]
    Io {
        /// The operation that failed: `open`, `read`, `write`, `fsync`, `truncate`,
        /// `create`, `rename`, `sync directory`, `lock`, `append`...
        op: &'static str,
        /// The file or directory.
        path: String,
        /// What the operating system said.
        message: String,
    },
    /// The store directory is held by another engine, in this process or another; it is
    /// free again once that engine is dropped or its process ends (even by a crash).
    #[error("{path} is locked: another engine has this directory open")]
    Locked {
        /// The lock file.
        path: String,
    },
    /// A store file or snapshot is damaged (not merely cut short by a crash).
    #[error("{path} is damaged at byte {offset}: {what}")]
    Corrupt {
        /// The file (or `"snapshot"` for a reader).
        path: String,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        what: String,
    },
    /// A replicated engine cannot reach its Redis, or cannot tell what became of the
    /// mutation: **the outcome is unknown**. Checks keep answering from the last applied
    /// state. When Redis was unreachable the mutation was not applied and is not queued;
    /// but if Redis may have taken the entry — the connection broke before it answered,
    /// the node stopped or was dropped before applying it, it did not apply it within
    /// [`Replication::apply_timeout`](crate::Replication::apply_timeout) — it is in force
    /// on every node that applies past it, and the caller cannot know which (as with
    /// any remote write whose reply is lost). With
    /// [`Replication::acknowledged_by`](crate::Replication::acknowledged_by), too few
    /// Redis replicas acknowledging in time is this error as well, and then the
    /// mutation *is* applied everywhere: only the acknowledgement is missing (`what`
    /// says how many replicas answered).
    #[error("replication unavailable: {what}")]
    Unavailable {
        /// What failed: the connection, the command, Redis's reply.
        what: String,
    },
    /// A replicated engine stopped applying its stream: an entry it cannot decode, an
    /// entry of a newer format, a stream that lost history this node had applied, or a
    /// position the stream was trimmed past. The node keeps its state as of the entry
    /// before, answers checks from it, and refuses mutations with this error until it
    /// is rebuilt; a node stopped at an entry it cannot apply resumes by itself once an
    /// operator removed that entry (see
    /// [`Replication::remove_halted`](crate::Replication::remove_halted)). **A mutation answered with it is in force nowhere**: it was refused
    /// before it was appended, by the node or by Redis's append script (which refuses
    /// a batch from a node whose position was trimmed past, while a node has halted the
    /// cluster at a bad entry, or when the stream lost its history).
    #[error("replication stopped at stream entry {id}: {what}")]
    Replication {
        /// The stream id of the entry (or the stream position) concerned.
        id: String,
        /// What is wrong.
        what: String,
    },
    /// [`Replication::remove_halted`](crate::Replication::remove_halted) was asked to
    /// remove an entry the cluster is not halted at (it is halted at another, or not
    /// at all); nothing was removed.
    #[error("the cluster is not halted at stream entry {id} ({}); nothing was removed", halted_at(.halted.as_deref()))]
    NotHalted {
        /// The entry asked for.
        id: String,
        /// The entry the cluster is halted at, if it is halted.
        halted: Option<String>,
    },
}

/// Where a cluster is halted, as [`Error::NotHalted`] says it.
fn halted_at(halted: Option<&str>) -> String {
    match halted {
        Some(id) => format!("it is halted at {id}"),
        None => "it is not halted".to_owned(),
    }
}

/// How much of an over-long id an error message keeps.
const SHOWN_ID_BYTES: usize = 80;

/// Checks an id against the emptiness and length rules.
pub(crate) fn check_id(kind: IdKind, id: &str, max: usize) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::EmptyId { kind });
    }
    if id.len() > max {
        let mut cut = SHOWN_ID_BYTES.min(id.len());
        while !id.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut shown = id[..cut].to_owned();
        if cut < id.len() {
            shown.push('…');
        }
        return Err(Error::IdTooLong {
            kind,
            id: shown,
            len: id.len(),
            max,
        });
    }
    Ok(())
}
