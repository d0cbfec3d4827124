//! Who runs the pipeline, and how one batch runs: leadership handed from caller to
//! caller, a lone writer's fast path, and check, commit, apply, reply.

use std::sync::Arc;
use std::time::Duration;

use smallvec::SmallVec;

use super::Held;
use super::{Batch, Derive, Finished, MAX_BATCH, Outcome, Pipeline, Request, Writer};
use crate::background::Background;
use crate::change;
use crate::error::Error;
use crate::event::Event;
use crate::op::Op;

impl Pipeline {
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
        if let Some(stream) = self.stream.get() {
            // Sends the batch and reads replies, or reads a reply still in flight.
            let more_queued = || !self.queue.lock().is_empty();
            let Some(finished) = stream.pump(self, batch, &more_queued) else {
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
        self.stream.get().is_some()
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
        self.entries.track(change::counted(&changes));
        held.track(changes);
        outcome
    }
}

/// Starts the thread that runs the pipeline when an awaited ticket asks for it.
pub(crate) fn spawn_sequencer(inner: &Arc<Pipeline>) -> Background {
    let weak = Arc::downgrade(inner);
    let thread = Background::spawn(
        "mutegate-sequencer",
        Arc::clone(&inner.monitor),
        move || match weak.upgrade() {
            Some(inner) => {
                inner.lead();
                // Another thread held the pipeline and requests are still queued: look
                // again soon rather than at the next idle tick.
                if inner.queue.lock().is_empty() {
                    Duration::from_millis(100)
                } else {
                    Duration::from_millis(1)
                }
            }
            None => Duration::from_millis(100),
        },
    );
    inner
        .sequencer_thread
        .set(thread.thread().clone())
        .expect("an engine's sequencer thread is started once, when it is built");
    thread
}
