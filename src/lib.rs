#![doc = include_str!("../README.md")]
//!
//! # Consistency model
//!
//! - **Mutations are linearizable with respect to each other.** Each public mutation is
//!   validated on the caller's thread and turned into one operation, which joins one
//!   queue. The write pipeline takes what is queued as a batch, checks each operation
//!   against the state in queue order, makes the batch durable with one log write, then
//!   applies it in that same order before it answers any caller: the log's order is the
//!   order of application, and a call returns only after its operation is applied. An
//!   error leaves the state unchanged, and reaches only the callers it concerns.
//!   An engine with no store has no log to order: a blocking mutation is checked and
//!   applied on its caller's thread holding the locks of the users and rooms it touches
//!   (key stripes), so mutations of disjoint ids run in parallel and mutations sharing
//!   an id are serialized; removing a user or a room, a sweep and a snapshot hold every
//!   stripe. Holding its locks from check to application, each mutation still takes
//!   effect at one instant between its call and its return.
//! - **Checks never take the writer lock.** A check reads one shard at a time and sees each
//!   fact (a member's mute, a module mute, a room-wide mute) either before or after a
//!   concurrent mutation, never half-written. A batch call (`mute_members` and friends)
//!   changes one room entry at once, so a check sees the whole batch or none of it.
//!   A notification setting is written to the user-major index, then the room-major one;
//!   for that instant `should_push` (user-major) may already see a change that
//!   `push_targets` (room-major) does not yet.
//! - **A fan-out sees one snapshot.** `push_targets` takes a snapshot of the room's
//!   settings (an `Arc` clone) and filters the members against it without holding any
//!   lock, so a large room never holds up writers.
//! - **Checks on ids with no state take no lock.** Lock-free counting filters in front of
//!   the tables answer "nothing stored here" for most users and pairs, so readers on
//!   several cores do not contend (see [`EngineBuilder::capacity_hint`]).
//! - **Expiry is lazy.** Expired state reads as absent from the millisecond it ends, whether
//!   or not anything has cleaned it up.
//! - **Durability** (an engine opened on a directory): a mutation is written to the
//!   operation log (with the rest of its batch) before it is applied and before the call
//!   returns; checks never see an operation that is not yet in the log. See [`SyncPolicy`] for what a machine crash can lose.
//!   A mutation that returned an error is not in the log. After a failure that leaves the
//!   log unsure of what reached the disk (a failed fsync), the store stops taking
//!   mutations until it is reopened; [`Engine::health`] says so.
//! - **Events** are delivered after the mutation that caused them has released every
//!   lock; events of concurrent mutations may be delivered in either order.
//! - **Time** comes from the [`Clock`] given to the builder. Checks read it at most once,
//!   and only when some rule could apply. The clock must not call into the engine.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod action;
mod background;
mod change;
mod check;
mod clock;
mod codec;
mod decide;
mod durable;
mod engine;
mod error;
mod event;
mod expiry;
mod filter;
mod handle;
mod health;
mod hex;
mod ids;
mod ladder;
mod limits;
mod module;
mod notify;
mod observe;
mod op;
mod quiet;
#[cfg(feature = "redis")]
mod replicate;
mod role;
mod slow;
mod stats;
mod store;
mod trail;
mod write;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

pub use action::{Action, Actions};
pub use check::At;
pub use clock::{Clock, ManualClock, SystemClock};
pub use decide::{Denied, DenyReason};
pub use durable::SyncPolicy;
pub use engine::{Engine, EngineBuilder, MAX_PAGE_LEN, MutedMember, MutedSender, Page, Submit};
pub use error::{Error, IdKind};
pub use event::{Event, Mute};
pub use expiry::{Expiry, MuteFor};
pub use handle::{RoomHandle, TargetHandle, UserHandle};
pub use health::{BEHIND_COUNTED, Health, StreamHealth};
pub use ladder::{Ladder, MAX_STEPS, MAX_STRIKES, Strike};
pub use limits::Limits;
pub use module::{Module, ModuleChange, ModuleStatus, Target};
pub use notify::{Mentions, Message, NotifyLevel, NotifySetting};
pub use op::{ModerationEntry, Op};
pub use quiet::{Bypass, MAX_WINDOWS, QuietHours, Schedule, Weekday, Window};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use replicate::{HaltedEntry, Replication};
pub use role::{AllowPolicy, Role, RoleSet};
pub use stats::Stats;
pub use trail::{DEFAULT_HISTORY_LEN, MAX_HISTORY_LEN, MAX_REASON_LEN, Source, Subject, Trail};
pub use write::Ticket;
