//! Applying stream entries in stream order, once.
//!
//! Two threads apply: the stream reader, everything the stream brings; and the
//! pipeline's leader, its own batch, right after Redis took it — but only when the
//! entry before the batch in the stream is the last one this node applied, so nothing
//! can come between. Its callers are then answered without waiting for the reader's
//! next read; the reader skips those entries when they arrive (their ids are at or
//! below the last applied). Either way entries are applied under one lock, in the
//! stream's order, each once, and each batch that moved the node's position is
//! recorded in its journal, if it keeps one (see `journal`).

use std::collections::HashMap;

use smallvec::SmallVec;

use super::Replica;
use super::entry::{self, Entry, StreamId};
use super::journal::{self, Journal};
use crate::error::Error;
use crate::write::Pipeline;
use crate::write::{Derive, Finished};

/// What a node has applied of its stream.
#[derive(Default)]
pub(crate) struct Applied {
    /// The last entry applied (or skipped as a duplicate); reads continue after it.
    pub last: StreamId,
    /// The highest op number applied per node: an op seen again is not applied again.
    pub seen: HashMap<u64, u64>,
    /// The engine time of the newest entry applied.
    pub last_at: u64,
    /// Entries applied since this node last published (or tried to publish) a snapshot.
    pub since_snapshot: u64,
    /// Entries applied since this node last wrote its own copy of its state.
    pub since_checkpoint: u64,
    /// Where each applied batch is recorded, if the node keeps its own copy of its
    /// state (set once it has caught up with its copy).
    pub journal: Option<Journal>,
}

/// An entry as it reaches a node: fields read from the stream, or one of the node's
/// own entries, never encoded and decoded.
pub(crate) trait Arrival {
    /// The entry, or what is wrong with it.
    fn into_entry(self) -> Result<Entry, String>;
}

impl Arrival for Entry {
    fn into_entry(self) -> Result<Entry, String> {
        Ok(self)
    }
}

impl Arrival for Vec<(Vec<u8>, Vec<u8>)> {
    fn into_entry(self) -> Result<Entry, String> {
        entry::decode(&self)
    }
}

impl Replica {
    /// Applies `items` in order, skipping what this node applied already; stops at
    /// the first item that is an error or does not decode (those before it stay
    /// applied and answered) and returns that error.
    pub(crate) fn apply<A: Arrival>(
        &self,
        pipe: &Pipeline,
        items: impl IntoIterator<Item = Result<(StreamId, A), Error>>,
    ) -> Result<(), Error> {
        let (finished, result) =
            self.apply_locked(pipe, &mut self.applied.lock(), items, self.holds_answers());
        finished.hand_out(pipe);
        result
    }

    /// Applies this node's own `entries`, which Redis just appended with `ids` right
    /// after the entry `before`, if that is the last entry this node applied (so none
    /// can come between); otherwise leaves them to the reader. Whether it applied them.
    pub(crate) fn apply_own(
        &self,
        pipe: &Pipeline,
        before: StreamId,
        ids: &[StreamId],
        entries: Vec<Entry>,
    ) -> bool {
        let finished = {
            let mut applied = self.applied.lock();
            if applied.last != before || ids.len() != entries.len() {
                return false;
            }
            let items = ids.iter().copied().zip(entries).map(Ok);
            // Own entries always decode, and nothing else stops applying them.
            let (finished, _) = self.apply_locked(pipe, &mut applied, items, false);
            finished
        };
        finished.hand_out(pipe);
        true
    }

    /// Whether the reader keeps the answers to this node's own entries for the
    /// appender, which gives them once the Redis replicas it asks for acknowledged them.
    fn holds_answers(&self) -> bool {
        self.config.replicas.is_some()
    }

    /// [`Replica::apply`] with the applied position locked by the caller; the answers
    /// and events are for the caller to hand out once it released the lock. With `hold`,
    /// answers to this node's own entries are kept with their callers instead.
    fn apply_locked<A: Arrival>(
        &self,
        pipe: &Pipeline,
        applied: &mut Applied,
        items: impl IntoIterator<Item = Result<(StreamId, A), Error>>,
        hold: bool,
    ) -> (Finished, Result<(), Error>) {
        let listening = !pipe.subscribers.is_empty();
        let mut answers = SmallVec::new();
        let mut events = Vec::new();
        let mut failed = None;
        let mut record = applied.journal.as_ref().map(|_| journal::Batch {
            after: journal::pair(applied.last),
            ..journal::Batch::default()
        });
        let mut held = pipe.stripes.lock_all();
        for item in items {
            let (id, arrival) = match item {
                Ok(item) => item,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            if id <= applied.last {
                continue;
            }
            let entry = match arrival.into_entry() {
                Ok(entry) => entry,
                Err(what) => {
                    failed = Some(Error::Replication {
                        id: id.to_string(),
                        what,
                    });
                    break;
                }
            };
            applied.last = id;
            applied.last_at = applied.last_at.max(entry.at);
            applied.since_snapshot += 1;
            applied.since_checkpoint += 1;
            let seen = applied.seen.entry(entry.node).or_insert(0);
            if entry.seq <= *seen {
                continue;
            }
            *seen = entry.seq;
            if let Some(record) = &mut record {
                record.seen.push((entry.node, entry.seq));
            }
            // This node's own entry: its caller waits in `parked` (locked while the
            // entry is applied, so the appender sees it either before or after).
            let mut parked = (entry.node == self.node).then(|| self.parked.lock());
            let caller = parked.as_mut().and_then(|p| p.get_mut(&entry.seq));
            let derive = caller.as_ref().map_or(&Derive::Unit, |p| &p.derive);
            let answer = entry
                .check
                .verify(&entry.op, &pipe.tables, entry.at)
                .map(|()| {
                    if let Some(record) = &mut record {
                        record.push(entry.at, &entry.op);
                    }
                    pipe.apply_one(
                        &mut held,
                        entry.op,
                        entry.at,
                        derive,
                        listening,
                        &mut events,
                    )
                });
            match caller {
                Some(p) if hold && !p.acknowledged => p.held = Some(answer),
                Some(_) => {
                    let p = parked
                        .as_mut()
                        .and_then(|p| p.remove(&entry.seq))
                        .expect("found above");
                    answers.push((p.slot, p.mutation, answer));
                }
                None => {}
            }
        }
        drop(held);
        if let (Some(mut record), Some(journal)) = (record, applied.journal.as_mut())
            && journal::id(record.after) != applied.last
        {
            record.last = journal::pair(applied.last);
            record.last_at = applied.last_at;
            if let Err(e) = journal.append(&record) {
                pipe.monitor.replication_failed(e);
            }
        }
        events.retain(|e| self.announcer.keeps(e));
        let result = match failed {
            Some(e) => Err(e),
            None => Ok(()),
        };
        (Finished { answers, events }, result)
    }
}
