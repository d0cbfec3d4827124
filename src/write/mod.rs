//! The write pipeline: queue, batch, one write (and one `fsync`), apply, reply.
//!
//! A mutation is validated by the caller's thread and turned into a [`Request`]: the
//! operation (with absolute expiries, counted from the caller's clock read), an optional
//! [`Check`] against the state, and what the caller wants back ([`Derive`]). Requests
//! wait in one queue. Whoever finds the pipeline idle leads it: it takes what is queued
//! as one batch, checks each request against the state in order, hands the accepted
//! operations to the [`Sequencer`] (one write, and under `EveryWrite` one `fsync`, for the
//! whole batch), applies them to the tables in that order, delivers the events, and then
//! answers every caller. While a leader writes, new requests queue up behind it and go
//! out together in the next batch: group commit. Blocking callers lead themselves when
//! the pipeline is idle (no thread hand-off on the fast path); awaiting callers leave the
//! work to the engine's sequencer thread.

mod expiries;
mod leader;
mod sequencer;
mod stripes;
mod sweep;
mod ticket;

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

use parking_lot::Mutex;
use smallvec::SmallVec;

pub(crate) use leader::spawn_sequencer;
pub(crate) use sequencer::{Compaction, InMemory, Sequencer, Stream, Waiter};
pub(crate) use stripes::{Held, Stripes};
pub(crate) use sweep::spawn_sweeper;
pub(crate) use ticket::Slot;
pub use ticket::Ticket;

use crate::action::Actions;
use crate::change::Change;
use crate::clock::Clock;
use crate::error::Error;
use crate::event::{Event, Subscribers};
use crate::expiry::{Expiry, active};
use crate::health::Monitor;
use crate::ids::Key;
use crate::ladder::Strike;
use crate::module::ModuleStatus;
use crate::observe::{self, Mutation};
use crate::op::Op;
use crate::store::Tables;

/// The most requests one batch takes.
const MAX_BATCH: usize = 1024;

/// The pipeline and the state it writes: what the engine's mutations, its background
/// threads, its tickets and a replication stream share. Checks read `tables` directly.
pub(crate) struct Pipeline {
    pub(crate) tables: Tables,
    /// Held by whoever runs the pipeline (or sweeps, or snapshots): batches are applied
    /// one at a time, each whole.
    pub(crate) writer: Mutex<Writer>,
    /// The locks of users and rooms, each with the expiry index of its entries: an
    /// in-memory engine applies mutations of disjoint keys in parallel under them.
    pub(crate) stripes: Stripes,
    /// Mutations waiting for the pipeline.
    pub(crate) queue: Queue,
    /// The thread that runs the pipeline for callers that must not block.
    pub(crate) sequencer_thread: OnceLock<Thread>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) subscribers: Subscribers,
    /// No store: blocking mutations run at once on their caller's thread.
    pub(crate) in_memory: bool,
    /// What background work and the store have run into.
    pub(crate) monitor: Arc<Monitor>,
    /// Entries stored, by kind, for the `mutegate_entries` gauge.
    pub(crate) entries: observe::Entries,
    /// Set for a replicated engine: its mutations go through the stream.
    pub(crate) stream: OnceLock<Arc<dyn Stream>>,
}

impl Pipeline {
    /// An idle pipeline over `tables`, with no store.
    pub(crate) fn new(
        tables: Tables,
        clock: Arc<dyn Clock>,
        monitor: Arc<Monitor>,
        in_memory: bool,
    ) -> Pipeline {
        Pipeline {
            tables,
            writer: Mutex::new(Writer::default()),
            stripes: Stripes::new(),
            queue: Queue::default(),
            sequencer_thread: OnceLock::new(),
            clock,
            subscribers: Subscribers::default(),
            in_memory,
            monitor,
            entries: observe::Entries::default(),
            stream: OnceLock::new(),
        }
    }
}

/// What only the holder of the writer lock touches.
pub(crate) struct Writer {
    /// Where operations become durable: the local log, or nowhere (in memory).
    pub(crate) sequencer: Box<dyn Sequencer>,
}

impl Default for Writer {
    /// An in-memory engine's: no store.
    fn default() -> Writer {
        Writer {
            sequencer: Box::new(InMemory),
        }
    }
}

/// A condition on the state that a request needs at its place in the order.
#[derive(Debug)]
pub(crate) enum Check {
    /// Nothing.
    None,
    /// The user and room of the request's own `SetNotify` have an active notification
    /// setting (else `NotMuted`).
    NotificationSet,
}

/// The user and room a `NotificationSet` check is about: those of its own operation.
fn notify_pair(op: &Op) -> Option<(&Key, &Key)> {
    match op {
        Op::SetNotify { user, room, .. } => Some((user, room)),
        _ => None,
    }
}

impl Check {
    /// The check as a stream entry carries it (see `replicate::entry`).
    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "replication only"))]
    pub(crate) fn code(&self) -> u8 {
        match self {
            Check::None => 0,
            Check::NotificationSet => 1,
        }
    }

    /// The check a stream entry's code names.
    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "replication only"))]
    pub(crate) fn from_code(code: u8) -> Option<Check> {
        match code {
            0 => Some(Check::None),
            1 => Some(Check::NotificationSet),
            _ => None,
        }
    }

    /// Whether `earlier`, before `own` in the same batch, could change what this check
    /// sees: then the batch ends before this request, which goes first in the next one.
    fn touched_by(&self, own: &Op, earlier: &Op) -> bool {
        let (Check::NotificationSet, Some((user, room))) = (self, notify_pair(own)) else {
            return false;
        };
        match earlier {
            Op::SetNotify {
                user: u, room: r, ..
            } => u == user && r == room,
            Op::RemoveUser { user: u } => u == user,
            Op::RemoveRoom { room: r } => r == room,
            _ => false,
        }
    }

    pub(crate) fn verify(&self, own: &Op, tables: &Tables, now: u64) -> Result<(), Error> {
        let (Check::NotificationSet, Some((user, room))) = (self, notify_pair(own)) else {
            return Ok(());
        };
        match tables.active_setting(user, room, now) {
            Some(_) => Ok(()),
            None => Err(Error::NotMuted {
                user: user.to_string(),
                room: room.to_string(),
            }),
        }
    }
}

/// What a caller gets back from its applied operation.
#[derive(Debug)]
pub(crate) enum Derive {
    /// Nothing.
    Unit,
    /// This expiry (computed when the request was made).
    Expiry(Expiry),
    /// How many active member mutes the operation lifted.
    MembersLifted,
    /// Whether an active timed entry (a room-wide mute, a sender mute, a snooze) was
    /// lifted.
    Lifted,
    /// How many entries changed.
    Changed,
    /// Whether anything changed.
    AnyChange,
    /// The user's module status after the operation.
    Modules(Key),
    /// The member's strikes in force and mute after a strike in (room, user).
    Strike(Key, Key),
}

/// A caller's answer, before the typed conversion of its method.
#[derive(Debug)]
pub(crate) enum Outcome {
    Unit,
    Expiry(Expiry),
    Count(usize),
    Flag(bool),
    Modules(ModuleStatus),
    Strike(Strike),
}

impl Derive {
    pub(crate) fn outcome(&self, tables: &Tables, changes: &[Change], now: u64) -> Outcome {
        match self {
            Derive::Unit => Outcome::Unit,
            Derive::Expiry(e) => Outcome::Expiry(*e),
            Derive::MembersLifted => Outcome::Count(
                changes
                    .iter()
                    .filter(|c| matches!(c, Change::Member { old, .. } if active(*old, now)))
                    .count(),
            ),
            Derive::Lifted => Outcome::Flag(changes.iter().any(|c| c.lifted(now))),
            Derive::Changed => Outcome::Count(changes.iter().filter(|c| c.is_state()).count()),
            Derive::AnyChange => Outcome::Flag(changes.iter().any(Change::is_state)),
            Derive::Strike(room, user) => {
                let (strikes, raw) = tables
                    .users
                    .find(user)
                    .and_then(|h| {
                        let r = tables.rooms.get(room)?;
                        let raw = r.members.get(&h).copied().unwrap_or(crate::expiry::NONE);
                        Some((r.strikes_at(h, now), raw))
                    })
                    .unwrap_or((0, crate::expiry::NONE));
                Outcome::Strike(Strike {
                    strikes,
                    expiry: Expiry::from_raw(raw),
                })
            }
            Derive::Modules(user) => {
                let (raw, scopes) = tables
                    .users
                    .get(user)
                    .map_or(([0; 4], [Actions::ALL; 4]), |u| {
                        (u.modules(), u.module_scopes())
                    });
                Outcome::Modules(ModuleStatus::from_raw(&raw, scopes, now))
            }
        }
    }
}

/// One queued mutation.
pub(crate) struct Request {
    pub op: Op,
    /// The caller's clock read when it made the request.
    pub now: u64,
    pub check: Check,
    pub derive: Derive,
    /// Where the answer goes; `None` for a request run at once by its own caller.
    pub slot: Option<Arc<Slot>>,
    pub mutation: Mutation,
}

/// Answers to hand out and events to deliver, once the writer lock is released.
/// One caller's answer: where it goes, the mutation's report, the answer.
pub(crate) type Answer = (Option<Arc<Slot>>, Mutation, Result<Outcome, Error>);

pub(crate) struct Finished {
    pub answers: SmallVec<[Answer; 4]>,
    pub events: Vec<Event>,
}

impl Finished {
    /// Delivers the events, then answers the callers waiting on slots; returns the
    /// answer of a request that had none (run by its own caller).
    pub(crate) fn hand_out(self, pipe: &Pipeline) -> Option<Result<Outcome, Error>> {
        pipe.subscribers.deliver(&self.events, &pipe.monitor);
        let mut own = None;
        for (slot, mutation, answer) in self.answers {
            mutation.finish(&answer);
            match slot {
                Some(slot) => slot.complete(answer),
                None => own = Some(answer),
            }
        }
        own
    }
}

/// One batch of requests.
pub(crate) type Batch = SmallVec<[Request; 4]>;

/// The queue of requests waiting for the pipeline.
pub(crate) type Queue = parking_lot::Mutex<VecDeque<Request>>;
