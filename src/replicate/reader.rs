//! The stream reader: applies every entry of the stream, in order, once (see `apply`),
//! answers this node's callers whose entries its leader left to it, publishes snapshots
//! and writes the node's own copy of its state.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use super::apply::Applied;
use super::entry::StreamId;
use super::journal::{self, Journal};
use super::link::{self, Purpose, connect, unavailable};
use super::{FIRST_BACKOFF, MAX_BACKOFF, Parked, Replica};
use super::{checkpoint, snapshot};
use crate::background::stop_and_join;
use crate::codec;
use crate::codec::Record;
use crate::error::Error;
use crate::health::Monitor;
use crate::write::Pipeline;
use crate::write::{Derive, Finished, Held};

mod halting;
mod publishing;

pub(crate) use publishing::Publishing;

/// The most entries one read takes.
const READ_COUNT: usize = 1024;

/// How long one blocking read waits for new entries (and so how long dropping an
/// engine may wait for its reader).
const BLOCK: Duration = Duration::from_millis(500);

/// How often a reader checks that the stream still has the history it applied.
const HISTORY_CHECK: Duration = Duration::from_secs(1);

/// What the reader keeps between reads.
pub(crate) struct State {
    replica: Arc<Replica>,
    /// The engine's health, where the reader reports its position.
    monitor: Arc<Monitor>,
    conn: Option<Connection>,
    backoff: Duration,
    /// When the stream's history was last checked.
    checked: Instant,
    snapshot_tried: Instant,
    /// When the stream was last trimmed (or tried).
    trim_tried: Instant,
    checkpointed: Instant,
    /// When this node last reported its position (see `snapshot::heartbeat`).
    reported: Option<Instant>,
    /// The stream was trimmed past this node's position (it must start again).
    pub(super) behind: bool,
    /// The entry this node could not apply and halted the cluster at, while it waits
    /// for an operator to remove it (see `halting`).
    halted: Option<String>,
    /// Its part in publishing snapshots.
    publishing: Publishing,
}

impl State {
    pub fn new(replica: Arc<Replica>, monitor: Arc<Monitor>, publishing: Publishing) -> State {
        State {
            replica,
            monitor,
            conn: None,
            backoff: FIRST_BACKOFF,
            checked: Instant::now(),
            snapshot_tried: Instant::now(),
            trim_tried: Instant::now(),
            checkpointed: Instant::now(),
            reported: None,
            behind: false,
            halted: None,
            publishing,
        }
    }

    /// Loads the published snapshot, if there is one, then reads and applies the rest
    /// of the stream as it is now.
    pub fn catch_up(&mut self, pipe: &Pipeline) -> Result<(), Error> {
        let replica = Arc::clone(&self.replica);
        let mut conn = connect(&replica.client, replica.config.timeout, Purpose::Commands)?;
        replica.check_epoch(&mut conn, "(starting)")?;
        // Holds the trim at the stream's start until the first real report: whatever
        // snapshot or local copy this node starts from, the entries after it stay.
        snapshot::heartbeat(&replica, &mut conn, StreamId::default())?;
        self.reported = Some(Instant::now());
        let local = match &replica.local {
            Some(local) => local.read()?,
            None => None,
        };
        let trimmed = snapshot::trimmed(&replica, &mut conn)?;
        match local {
            Some(own) if own.epoch != replica.epoch => {
                return Err(Error::Replication {
                    id: own.id.to_string(),
                    what: format!(
                        "this node's local state ({}) belongs to a history the stream no longer \
                         has (epoch {}, the stream's is {}): remove the file to rejoin from the \
                         snapshot in Redis",
                        checkpoint::FILE,
                        own.epoch,
                        replica.epoch
                    ),
                });
            }
            _ => {}
        }
        let journal = match &replica.local {
            Some(local) => Journal::read(local.dir(), &replica.epoch)?,
            None => journal::Read::default(),
        };
        if let Some(damage) = journal.damage {
            // Only a shortcut is lost: what the journal lacks is read from the stream.
            pipe.monitor.replication_failed(damage);
        }
        let base = local.as_ref().map(|own| own.id).unwrap_or_default();
        let reach = journal::reach(base, &journal.batches);
        let mut fresh = false;
        match local {
            // Its own copy and journal, if the stream still has every entry after them.
            Some(own) if reach >= trimmed => {
                self.load(pipe, own.id, own.seen, &own.state)?;
                fresh = self.replay(pipe, &journal.batches) > 0;
            }
            None if reach > base && reach >= trimmed => {
                fresh = self.replay(pipe, &journal.batches) > 0;
            }
            _ => {
                if let Some(published) = snapshot::read(&replica, &mut conn)? {
                    self.load(pipe, published.id, published.seen, &published.state)?;
                    fresh = true;
                }
            }
        }
        if let Some(local) = &replica.local {
            // The journal starts again from here, so what it held is covered first.
            if fresh {
                self.checkpoint(pipe, local)?;
            }
            let started = Journal::start(local.dir(), &replica.epoch)?;
            replica.applied.lock().journal = Some(started);
        }
        while self.step(pipe, false)? > 0 {}
        Ok(())
    }

    /// Withdraws this node's position from the trimmer after a failed build (else its
    /// last report would hold the trim back for the liveness window). Best effort:
    /// the build's own error is what the caller gets.
    pub fn forget(&mut self) {
        let replica = Arc::clone(&self.replica);
        let conn = match self.conn.take() {
            Some(conn) => Some(conn),
            None => connect(&replica.client, replica.config.timeout, Purpose::Commands).ok(),
        };
        if let Some(mut conn) = conn {
            let _: redis::RedisResult<Value> = redis::cmd("HDEL")
                .arg(&replica.keys.nodes)
                .arg(&replica.me)
                .query(&mut conn);
        }
    }

    /// Applies the journal's `batches` that continue from this node's position, up to
    /// the first that does not; how many it applied.
    fn replay(&mut self, pipe: &Pipeline, batches: &[journal::Batch]) -> usize {
        let mut applied = self.replica.applied.lock();
        let mut held = pipe.stripes.lock_all();
        let mut n = 0;
        for batch in batches {
            if journal::id(batch.last) <= applied.last {
                continue;
            }
            if journal::id(batch.after) != applied.last {
                break;
            }
            let Ok(records) = batch.records() else {
                // Not reached: reading the journal decoded every record it kept.
                break;
            };
            restore(pipe, &mut held, records);
            for &(node, seq) in &batch.seen {
                applied.seen.insert(node, seq);
            }
            applied.last = journal::id(batch.last);
            applied.last_at = applied.last_at.max(batch.last_at);
            n += 1;
        }
        n
    }

    /// The state as a snapshot covers it — every entry, ended ones too (the state as
    /// of the last applied id, on no node's clock), in canonical order — with that id,
    /// the op numbers seen, and what `pending` counted then.
    fn state(
        &self,
        pipe: &Pipeline,
        pending: impl FnOnce(&mut Applied) -> Result<u64, Error>,
    ) -> Result<Covered, Error> {
        let (ops, last_at, id, seen, pending) = {
            let mut applied = self.replica.applied.lock();
            let pending = pending(&mut applied)?;
            let _all = pipe.stripes.lock_all();
            let ops = pipe.tables.to_ops(0);
            let seen = applied.seen.clone();
            (ops, applied.last_at, applied.last, seen, pending)
        };
        Ok(Covered {
            state: codec::canonical_snapshot(ops, last_at),
            id,
            seen,
            pending,
        })
    }

    /// Writes this node's own copy of its state, if it keeps one and it is due (or
    /// `now`, when the reader stops).
    fn maybe_checkpoint(&mut self, pipe: &Pipeline, now: bool) -> Result<(), Error> {
        let Some(local) = &self.replica.local else {
            return Ok(());
        };
        let (every, interval) = self.replica.config.checkpoints();
        let pending = self.replica.applied.lock().since_checkpoint;
        let due =
            pending >= every || (pending > 0 && (now || self.checkpointed.elapsed() >= interval));
        if !due {
            return Ok(());
        }
        self.checkpointed = Instant::now();
        self.checkpoint(pipe, local)
    }

    /// Writes this node's own copy of its state now: the state and position, taken
    /// while the journal is set aside (it then holds only what comes after), then
    /// written whole; the journal's set-aside file is dropped once it is.
    fn checkpoint(&self, pipe: &Pipeline, local: &checkpoint::Local) -> Result<(), Error> {
        let covered = self.state(pipe, |a| {
            if let Some(journal) = a.journal.as_mut() {
                journal.rotate()?;
            }
            Ok(a.since_checkpoint)
        })?;
        let written = local.write(&checkpoint::Checkpoint {
            epoch: self.replica.epoch.clone(),
            id: covered.id,
            seen: covered.seen,
            state: covered.state,
        });
        // Counted as written even when writing failed (the failure is reported; the
        // next attempt waits for the next interval).
        let mut applied = self.replica.applied.lock();
        applied.since_checkpoint = applied.since_checkpoint.saturating_sub(covered.pending);
        written?;
        match &applied.journal {
            Some(journal) => journal.checkpointed(),
            None => Ok(()),
        }
    }

    /// Applies a snapshot's `state`, covering the stream up to `id`, to this (new,
    /// empty) engine.
    fn load(
        &mut self,
        pipe: &Pipeline,
        id: StreamId,
        seen: HashMap<u64, u64>,
        state: &[u8],
    ) -> Result<(), Error> {
        let (_, records) =
            codec::read_snapshot(state).map_err(|(offset, what)| Error::Replication {
                id: id.to_string(),
                what: format!("the snapshot's state is damaged at byte {offset}: {what}"),
            })?;
        let mut applied = self.replica.applied.lock();
        let mut held = pipe.stripes.lock_all();
        for record in &records {
            applied.last_at = applied.last_at.max(record.at);
        }
        restore(pipe, &mut held, records);
        applied.last = id;
        applied.seen = seen;
        Ok(())
    }

    /// The reader's connection: opened if there is none, and checked against the
    /// stream's history when new and at least once a second (a `FLUSHALL` or a failover
    /// to a copy that lacks entries leaves a connection open but the history gone).
    ///
    /// The connection serves both the catch-up's plain reads and the thread's blocking
    /// ones, so its reply timeout always allows for [`BLOCK`].
    fn reading(&mut self) -> Result<&mut Connection, Error> {
        let config = &self.replica.config;
        let fresh = self.conn.is_none();
        if fresh {
            let purpose = Purpose::Reading(BLOCK);
            self.conn = Some(connect(&self.replica.client, config.timeout, purpose)?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        if fresh || self.checked.elapsed() >= HISTORY_CHECK {
            let last = self.replica.applied.lock().last;
            let applied = last.to_string();
            let checked = self
                .replica
                .check_epoch(conn, &applied)
                .and_then(|()| link::last_id(conn, &self.replica.keys.stream));
            let newest = match checked {
                Ok(newest) => newest,
                Err(e) => {
                    if matches!(e, Error::Unavailable { .. }) {
                        self.conn = None;
                    }
                    return Err(e);
                }
            };
            let behind = snapshot::trimmed(&self.replica, conn).and_then(|trimmed| {
                let now = snapshot::heartbeat(&self.replica, conn, last)?;
                if let Publishing::Lease { .. } = self.publishing {
                    self.replica.announcer.renew(&self.replica, conn)?;
                }
                Ok((trimmed, now))
            });
            let (trimmed, now) = match behind {
                Ok(behind) => behind,
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            };
            if let Err(e) = look(&self.replica, &self.monitor, conn, last, newest, now) {
                self.conn = None;
                return Err(e);
            }
            let reported = self.reported.replace(Instant::now());
            if last < trimmed {
                self.behind = true;
                return Err(Error::Replication {
                    id: applied,
                    what: format!(
                        "the stream was trimmed below {trimmed}, past this node's position: \
                         entries it needs are gone ({}); build the engine again: a new one \
                         starts from the published snapshot",
                        silence(reported)
                    ),
                });
            }
            if last > StreamId::default() && newest.is_none_or(|n| n < last) {
                return Err(Error::Replication {
                    id: applied,
                    what: format!(
                        "the stream lost history this node applied: its newest entry is {}",
                        newest.map_or_else(|| "none".to_owned(), |n| n.to_string())
                    ),
                });
            }
            self.checked = Instant::now();
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Reads once (waiting up to [`BLOCK`] for entries if `block`) and applies what
    /// came; how many entries came.
    pub(super) fn step(&mut self, pipe: &Pipeline, block: bool) -> Result<usize, Error> {
        let replica = Arc::clone(&self.replica);
        let stream = &replica.keys.stream;
        let after = replica.applied.lock().last.to_string();
        let conn = self.reading()?;
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(READ_COUNT);
        if block {
            cmd.arg("BLOCK").arg(BLOCK.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(stream).arg(&after);
        let reply: Value = match cmd.query(conn) {
            Ok(reply) => reply,
            Err(e) => {
                self.conn = None;
                return Err(unavailable(format_args!("XREAD {stream}: {e}")));
            }
        };
        let list = link::read_reply(reply).map_err(|e| {
            self.conn = None;
            unavailable(format_args!("XREAD {stream}: {e}"))
        })?;
        let n = list.len();
        let items = list
            .into_iter()
            .map(|(raw, fields)| match StreamId::parse(&raw) {
                Some(id) => Ok((id, fields)),
                None => Err(Error::Replication {
                    id: raw,
                    what: "not a stream id".into(),
                }),
            });
        if let Err(e) = replica.apply(pipe, items) {
            self.halt(pipe, &e);
            return Err(e);
        }
        Ok(n)
    }

    /// Answers callers whose entries this node has not applied within the apply
    /// timeout (or all of them, with `error`, when the reader stops).
    fn expire(&self, pipe: &Pipeline, all: Option<&Error>) {
        let limit = self.replica.config.apply_timeout;
        let now = Instant::now();
        let late: Vec<Parked> = {
            let mut parked = self.replica.parked.lock();
            let seqs: Vec<u64> = parked
                .iter()
                .filter(|(_, p)| {
                    // One applied and awaiting its acknowledgement is answered by the
                    // appender (with its error, if the connection is lost).
                    all.is_some() || (p.held.is_none() && now.duration_since(p.since) >= limit)
                })
                .map(|(seq, _)| *seq)
                .collect();
            seqs.into_iter().filter_map(|s| parked.remove(&s)).collect()
        };
        if late.is_empty() {
            return;
        }
        let error = all.map(unknown).unwrap_or_else(|| {
            unavailable(format_args!(
                "the entry is in the stream, but this node did not apply it within {limit:?}"
            ))
        });
        let answers = late
            .into_iter()
            .map(|p| (p.slot, p.mutation, Err(error.clone())))
            .collect();
        Finished {
            answers,
            events: Vec::new(),
        }
        .hand_out(pipe);
    }
}

/// Reports in [`Health::stream`](crate::Health::stream) where this node is: its
/// position `last`, the stream's `newest` entry and the published snapshot, at
/// Redis's time `now` (ms).
fn look(
    replica: &Replica,
    monitor: &Monitor,
    conn: &mut Connection,
    last: StreamId,
    newest: Option<StreamId>,
    now: u64,
) -> Result<(), Error> {
    let newest = newest.unwrap_or_default();
    let behind_entries = if newest > last {
        link::count_after(conn, &replica.keys.stream, last, crate::BEHIND_COUNTED)?
    } else {
        0
    };
    let (snapshot_id, at) = snapshot::published(replica, conn)?;
    monitor.stream_seen(crate::StreamHealth {
        applied_id: last.to_string(),
        newest_id: newest.to_string(),
        behind_entries,
        behind_ms: newest.ms.saturating_sub(last.ms),
        snapshot_id: snapshot_id.map(|id| id.to_string()),
        snapshot_age_ms: at.map(|at| now.saturating_sub(at)),
    });
    Ok(())
}

/// What a caller parked when the reader stopped with `why` is answered: its entry is
/// in the stream (or its reply is still unread), so it is in force on every node that
/// applies past it; the outcome is unknown.
fn unknown(why: &Error) -> Error {
    match why {
        Error::Unavailable { .. } => why.clone(),
        _ => unavailable(format_args!(
            "the outcome is unknown: the entry was sent to the stream, but this node \
             stopped before applying it ({why}); nodes that apply past it have it in force"
        )),
    }
}

/// Why a node's position was trimmed past, from when it last reported it.
fn silence(reported: Option<Instant>) -> String {
    let window = snapshot::FRESH_MS / 1000;
    match reported {
        Some(at) if at.elapsed().as_millis() > u128::from(snapshot::FRESH_MS) => format!(
            "this node was silent for {} s (stalled or cut off), over the {window} s the trim \
             waits for",
            at.elapsed().as_secs()
        ),
        Some(at) => format!(
            "although this node reported its position {} ms ago, within the {window} s the \
             trim waits for: another node trimmed past it",
            at.elapsed().as_millis()
        ),
        None => format!("this node had not reported its position; the trim waits {window} s"),
    }
}

/// Applies `records` that were applied before (from a snapshot, checkpoint or
/// journal): no checks, no events.
fn restore(pipe: &Pipeline, held: &mut Held<'_>, records: Vec<Record>) {
    let mut events = Vec::new();
    for record in records {
        pipe.apply_one(
            held,
            record.op,
            record.at,
            &Derive::Unit,
            false,
            &mut events,
        );
    }
}

/// A node's state as a snapshot or checkpoint covers it.
struct Covered {
    state: Vec<u8>,
    id: StreamId,
    seen: HashMap<u64, u64>,
    /// Entries the counter asked about had counted since the last one.
    pending: u64,
}

/// The reader thread's name.
const THREAD: &str = "mutegate-stream-reader";

/// The reader's thread; stopped and joined on drop.
pub(crate) struct Reader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    monitor: Arc<Monitor>,
}

impl Reader {
    /// Starts reading after what `state` applied.
    pub fn spawn(mut state: State, pipe: Arc<Pipeline>) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let monitor = Arc::clone(&pipe.monitor);
        let thread = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    if let Err(e) = state.maybe_checkpoint(&pipe, false) {
                        pipe.monitor.replication_failed(e);
                    }
                    match state
                        .step(&pipe, true)
                        .and_then(|_| state.maybe_publish(&pipe))
                    {
                        Ok(()) => state.backoff = FIRST_BACKOFF,
                        Err(e @ Error::Replication { .. }) => {
                            pipe.monitor.stop(e.clone());
                            state.expire(&pipe, Some(&e));
                            // At an entry it could not apply, the node waits for an
                            // operator to remove it, then reads on; otherwise it is done.
                            if !state.await_removal(&pipe, &e, &flag) {
                                break;
                            }
                        }
                        Err(e) => {
                            pipe.monitor.replication_failed(e);
                            std::thread::park_timeout(state.backoff);
                            state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                    state.expire(&pipe, None);
                }
                if let Some(conn) = state.conn.as_mut()
                    && let Err(e) = state.replica.announcer.resign(&state.replica, conn)
                {
                    pipe.monitor.replication_failed(e);
                }
                if pipe.monitor.stopped().is_none()
                    && let Err(e) = state.maybe_checkpoint(&pipe, true)
                {
                    pipe.monitor.replication_failed(e);
                }
                // Stopped (or fail-stopped): nobody will apply what is still parked.
                let gone = pipe.monitor.stopped().unwrap_or_else(|| {
                    unavailable("the engine was dropped before it applied the entry")
                });
                state.expire(&pipe, Some(&gone));
            })
            .expect("spawn the stream reader thread");
        Reader {
            stop,
            thread: Some(thread),
            monitor,
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // A blocking read returns within the block time.
        stop_and_join(&self.stop, self.thread.take(), THREAD, &self.monitor);
    }
}
