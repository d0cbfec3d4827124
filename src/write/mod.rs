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
mod stripes;
mod ticket;

use std::collections::VecDeque;
use std::sync::Arc;

use smallvec::SmallVec;

pub(crate) use stripes::{Held, Stripes};
pub(crate) use ticket::Slot;
pub use ticket::Ticket;

use crate::action::Actions;
use crate::change::Change;
use crate::durable::{Compaction, Waiter};
use crate::engine::{Inner, Writer};
use crate::error::Error;
use crate::event::Event;
use crate::expiry::{Expiry, active};
use crate::ids::Key;
use crate::ladder::Strike;
use crate::module::ModuleStatus;
use crate::observe::Mutation;
use crate::op::Op;
use crate::store::Tables;

/// The most requests one batch takes.
const MAX_BATCH: usize = 1024;

/// Decides that an operation is next, and makes it durable: the seam between the
/// pipeline and where operations are kept (the local log; a replicated stream later).
pub(crate) trait Sequencer: Send {
    /// Makes `ops` (each with the engine time it is applied at) durable, in this
    /// order: all of them, or (on an error) none of them.
    fn commit(&mut self, ops: &[(u64, &Op)]) -> Result<(), Error>;

    /// The batch was applied, as of `now`: time for background work (compaction) to
    /// start, if it is due. Never waits for that work.
    fn committed(&mut self, now: u64);

    /// Makes everything committed so far durable now.
    fn sync(&self) -> Result<(), Error>;

    /// Starts compacting everything committed so far, if there is anything to compact.
    fn compact(&mut self, _now: u64) -> Result<Compaction, Error> {
        Ok(Compaction::Nothing)
    }

    /// A handle that waits for background work in flight, if the sequencer has any.
    #[cfg_attr(not(test), expect(dead_code, reason = "tests wait for the compactor"))]
    fn waiter(&self) -> Option<Waiter> {
        None
    }
}

/// An engine with no store: every batch is "durable" at once.
pub(crate) struct InMemory;

impl Sequencer for InMemory {
    fn commit(&mut self, _: &[(u64, &Op)]) -> Result<(), Error> {
        Ok(())
    }
    fn committed(&mut self, _: u64) {}
    fn sync(&self) -> Result<(), Error> {
        Ok(())
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
    pub(crate) fn hand_out(self, inner: &Inner) -> Option<Result<Outcome, Error>> {
        inner.subscribers.deliver(&self.events, &inner.monitor);
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

impl Inner {
    /// Queues `request` for the pipeline.
    pub(crate) fn enqueue(&self, request: Request) {
        self.queue.lock().push_back(request);
    }

    /// Runs one batch on this thread if no other thread is running the pipeline.
    /// Returns whether it ran one. Leadership is handed over after each batch: the
    /// caller whose request is next in the queue is woken to lead the following one, so
    /// while one batch is written (and synced) the next one fills up.
    pub(crate) fn lead_once(&self) -> bool {
        let Some(mut writer) = self.writer.try_lock() else {
            return false;
        };
        let batch: Batch = {
            let mut queue = self.queue.lock();
            let n = queue.len().min(MAX_BATCH);
            queue.drain(..n).collect()
        };
        #[cfg(feature = "redis")]
        if let Some(replica) = self.replica.get() {
            // Sends the batch and reads replies, or reads a reply still in flight.
            let more_queued = || !self.queue.lock().is_empty();
            let Some(finished) = replica.pump(self, batch, more_queued) else {
                return false;
            };
            drop(writer);
            self.kick_next();
            finished.hand_out(self);
            return true;
        }
        if batch.is_empty() {
            return false;
        }
        let finished = self.run_batch(&mut writer, batch);
        drop(writer);
        self.kick_next();
        finished.hand_out(self);
        true
    }

    /// Runs the request in `request` at once on this thread as a batch of its own, if
    /// the pipeline is idle and nothing is queued before it: a lone writer then pays for
    /// no queue and no hand-off. Takes the request and returns its answer if it ran;
    /// otherwise leaves it, for the caller to queue.
    pub(crate) fn run_alone(
        &self,
        request: &mut Option<Request>,
    ) -> Option<Result<Outcome, Error>> {
        if self.replicated() {
            // Its answer comes from the stream reader, through a slot.
            return None;
        }
        let mut writer = self.writer.try_lock()?;
        if !self.queue.lock().is_empty() {
            return None;
        }
        let mut batch = Batch::new();
        batch.push(request.take()?);
        let finished = self.run_batch(&mut writer, batch);
        drop(writer);
        self.kick_next();
        finished.hand_out(self)
    }

    /// Runs `request` at once on this thread, holding only the stripes of its users and
    /// rooms: for an engine with no store, where there is no I/O to share, so writers
    /// of disjoint keys apply in parallel and a queue would only add hand-offs.
    pub(crate) fn run_now(&self, request: Request) -> Result<Outcome, Error> {
        let Request {
            op,
            now,
            check,
            derive,
            mutation,
            ..
        } = request;
        let mut events = Vec::new();
        let mut held = self.stripes.lock(&op);
        let answer = check.verify(&op, &self.tables, now).map(|()| {
            let listening = !self.subscribers.is_empty();
            self.apply_one(&mut held, op, now, &derive, listening, &mut events)
        });
        drop(held);
        self.subscribers.deliver(&events, &self.monitor);
        mutation.finish(&answer);
        answer
    }

    /// Tells the caller of the next queued request that the pipeline is free (it leads
    /// the next batch); wakes the sequencer thread instead if that request is awaited.
    fn kick_next(&self) {
        let awaited = self
            .queue
            .lock()
            .front()
            .and_then(|r| r.slot.as_ref())
            .is_some_and(|slot| slot.kick());
        if awaited {
            // No thread waits for the next request: the sequencer thread runs it.
            self.wake_sequencer();
        }
    }

    /// Whether mutations go through a replication stream (their answers come from the
    /// stream reader).
    pub(crate) fn replicated(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.replica.get().is_some();
        #[cfg(not(feature = "redis"))]
        false
    }

    /// Runs batches on this thread until the queue is empty or another thread leads.
    pub(crate) fn lead(&self) {
        while self.lead_once() {}
    }

    /// Asks the sequencer thread to run the pipeline (for callers that must not block).
    pub(crate) fn wake_sequencer(&self) {
        if let Some(thread) = self.sequencer_thread.get() {
            thread.unpark();
        }
    }

    /// Checks, commits and applies one batch, in order. Requests after one whose check
    /// an earlier request of the batch could change go back to the front of the queue.
    fn run_batch(&self, writer: &mut Writer, batch: Batch) -> Finished {
        // An in-memory engine's other writers hold stripes, not the writer lock: the
        // batch holds them all from its checks to its last application. A durable
        // engine's writers all hold the writer lock; each operation takes its own
        // stripes only for their expiry indexes.
        let mut all = self.in_memory.then(|| self.stripes.lock_all());
        let mut answers = SmallVec::new();
        let mut accepted: Batch = SmallVec::new();
        let mut back: Vec<Request> = Vec::new();
        let mut requests = batch.into_iter();
        while let Some(request) = requests.next() {
            if accepted
                .iter()
                .any(|a| request.check.touched_by(&request.op, &a.op))
            {
                back.push(request);
                back.extend(requests.by_ref());
                break;
            }
            match request.check.verify(&request.op, &self.tables, request.now) {
                Ok(()) => accepted.push(request),
                Err(e) => answers.push((request.slot, request.mutation, Err(e))),
            }
        }
        if !back.is_empty() {
            // They go first in the next batch, in their order.
            let mut queue = self.queue.lock();
            for r in back.into_iter().rev() {
                queue.push_front(r);
            }
        }
        let mut events = Vec::new();
        if accepted.is_empty() {
            return Finished { answers, events };
        }
        let committed = {
            let ops: SmallVec<[(u64, &Op); 4]> = accepted.iter().map(|r| (r.now, &r.op)).collect();
            writer.sequencer.commit(&ops)
        };
        if let Err(e) = committed {
            answers.extend(
                accepted
                    .into_iter()
                    .map(|r| (r.slot, r.mutation, Err(e.clone()))),
            );
            return Finished { answers, events };
        }
        let listening = !self.subscribers.is_empty();
        let mut last = 0;
        for request in accepted {
            let Request {
                op,
                now,
                derive,
                slot,
                mutation,
                ..
            } = request;
            last = last.max(now);
            let outcome = match &mut all {
                Some(held) => self.apply_one(held, op, now, &derive, listening, &mut events),
                None => {
                    let mut held = self.stripes.lock(&op);
                    self.apply_one(&mut held, op, now, &derive, listening, &mut events)
                }
            };
            answers.push((slot, mutation, Ok(outcome)));
        }
        writer.sequencer.committed(last);
        Finished { answers, events }
    }

    /// Applies one committed operation at `at`, holding its stripes: the tables, the
    /// expiry index, the entry gauges and (if anyone listens) its events; what its
    /// caller gets back.
    pub(crate) fn apply_one(
        &self,
        held: &mut Held<'_>,
        op: Op,
        at: u64,
        derive: &Derive,
        listening: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let mut changes = Vec::new();
        self.tables.apply(op, at, &mut changes);
        let outcome = derive.outcome(&self.tables, &changes, at);
        if listening {
            crate::change::events(&changes, at, events);
        }
        self.entries.track(&changes);
        held.track(changes);
        outcome
    }
}

/// One batch of requests.
pub(crate) type Batch = SmallVec<[Request; 4]>;

/// The queue of requests waiting for the pipeline.
pub(crate) type Queue = parking_lot::Mutex<VecDeque<Request>>;
