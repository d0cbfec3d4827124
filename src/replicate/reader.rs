//! The stream reader: applies every entry of the stream, in order, once, and answers
//! this node's callers when their own entries are applied.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use smallvec::SmallVec;

use super::entry::{self, StreamId};
use super::link::{self, Purpose, connect, unavailable};
use super::{FIRST_BACKOFF, MAX_BACKOFF, Parked, Replica};
use super::{checkpoint, snapshot};
use crate::background::stop_and_join;
use crate::codec;
use crate::engine::Inner;
use crate::error::Error;
use crate::health::Monitor;
use crate::write::{Derive, Finished};

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
    conn: Option<Connection>,
    /// The last entry applied (or skipped as a duplicate); reads continue after it.
    last: StreamId,
    /// The highest op number applied per node: an op seen again is not applied again.
    seen: HashMap<u64, u64>,
    backoff: Duration,
    /// When the stream's history was last checked.
    checked: Instant,
    /// The engine time of the newest entry applied.
    last_at: u64,
    /// Entries applied since this node last published (or tried to publish) a snapshot.
    since_snapshot: u64,
    snapshot_tried: Instant,
    /// Entries applied since this node last wrote its own copy of its state.
    since_checkpoint: u64,
    checkpointed: Instant,
}

impl State {
    pub fn new(replica: Arc<Replica>) -> State {
        State {
            replica,
            conn: None,
            last: StreamId::default(),
            seen: HashMap::new(),
            backoff: FIRST_BACKOFF,
            checked: Instant::now(),
            last_at: 0,
            since_snapshot: 0,
            snapshot_tried: Instant::now(),
            since_checkpoint: 0,
            checkpointed: Instant::now(),
        }
    }

    /// Loads the published snapshot, if there is one, then reads and applies the rest
    /// of the stream as it is now.
    pub fn catch_up(&mut self, inner: &Inner) -> Result<(), Error> {
        let replica = Arc::clone(&self.replica);
        let mut conn = connect(&replica.client, replica.config.timeout, Purpose::Commands)?;
        replica.check_epoch(&mut conn, "(starting)")?;
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
            // Its own copy, if the stream still has every entry after it.
            Some(own) if own.id >= trimmed => self.load(inner, own.id, own.seen, &own.state)?,
            _ => {
                if let Some(published) = snapshot::read(&replica, &mut conn)? {
                    self.load(inner, published.id, published.seen, &published.state)?;
                }
            }
        }
        while self.step(inner, false)? > 0 {}
        Ok(())
    }

    /// The state as a snapshot covers it: every entry, ended ones too (the state as of
    /// the last applied id, on no node's clock), in canonical order.
    fn state(&self, inner: &Inner) -> Vec<u8> {
        let ops = {
            let _all = inner.stripes.lock_all();
            inner.tables.to_ops(0)
        };
        codec::canonical_snapshot(ops, self.last_at)
    }

    /// Writes this node's own copy of its state, if it keeps one and it is due (or
    /// `now`, when the reader stops).
    fn maybe_checkpoint(&mut self, inner: &Inner, now: bool) -> Result<(), Error> {
        let Some(local) = &self.replica.local else {
            return Ok(());
        };
        let config = &self.replica.config;
        let due = self.since_checkpoint >= config.snapshot_every
            || (self.since_checkpoint > 0
                && (now || self.checkpointed.elapsed() >= config.snapshot_interval));
        if !due {
            return Ok(());
        }
        self.checkpointed = Instant::now();
        self.since_checkpoint = 0;
        local.write(&checkpoint::Checkpoint {
            epoch: self.replica.epoch.clone(),
            id: self.last,
            seen: self.seen.clone(),
            state: self.state(inner),
        })
    }

    /// Applies a snapshot's `state`, covering the stream up to `id`, to this (new,
    /// empty) engine.
    fn load(
        &mut self,
        inner: &Inner,
        id: StreamId,
        seen: HashMap<u64, u64>,
        state: &[u8],
    ) -> Result<(), Error> {
        let (_, records) =
            codec::read_snapshot(state).map_err(|(offset, what)| Error::Replication {
                id: id.to_string(),
                what: format!("the snapshot's state is damaged at byte {offset}: {what}"),
            })?;
        let mut held = inner.stripes.lock_all();
        let mut events = Vec::new();
        for record in records {
            self.last_at = self.last_at.max(record.at);
            inner.apply_one(
                &mut held,
                record.op,
                record.at,
                &Derive::Unit,
                false,
                &mut events,
            );
        }
        self.last = id;
        self.seen = seen;
        Ok(())
    }

    /// Publishes a snapshot of this node's state if one is due, and trims the stream
    /// below it as far as the live nodes' positions allow, once an interval, if this
    /// node holds the snapshot lease.
    fn maybe_publish(&mut self, inner: &Inner) -> Result<(), Error> {
        let config = &self.replica.config;
        let full = self.since_snapshot >= config.snapshot_every;
        if !full && self.snapshot_tried.elapsed() < config.snapshot_interval {
            return Ok(());
        }
        self.snapshot_tried = Instant::now();
        let hold = config.snapshot_interval * 2;
        let replica = Arc::clone(&self.replica);
        let conn = self.reading()?;
        if !snapshot::lease(&replica, conn, hold)? {
            self.since_snapshot = 0;
            return Ok(());
        }
        let state = if self.since_snapshot > 0 {
            self.state(inner)
        } else {
            Vec::new()
        };
        let publishing = !state.is_empty();
        let (id, seen) = (self.last, self.seen.clone());
        let conn = self.reading()?;
        snapshot::publish(&replica, conn, id, &seen, state)?;
        if publishing {
            self.since_snapshot = 0;
            inner.monitor.snapshot_published();
        }
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
            let applied = self.last.to_string();
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
                snapshot::heartbeat(&self.replica, conn, self.last)?;
                self.replica.announcer.renew(&self.replica, conn)?;
                Ok(trimmed)
            });
            let trimmed = match behind {
                Ok(trimmed) => trimmed,
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            };
            if self.last < trimmed {
                return Err(Error::Replication {
                    id: applied,
                    what: format!(
                        "the stream was trimmed below {trimmed}, past this node's position: \
                         entries it needs are gone (it was silent for over {} s); build the \
                         engine again: a new one starts from the published snapshot",
                        snapshot::FRESH_MS / 1000
                    ),
                });
            }
            if self.last > StreamId::default() && newest.is_none_or(|n| n < self.last) {
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
    fn step(&mut self, inner: &Inner, block: bool) -> Result<usize, Error> {
        let replica = Arc::clone(&self.replica);
        let stream = &replica.keys.stream;
        let after = self.last.to_string();
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
        self.apply(inner, list)?;
        Ok(n)
    }

    /// Applies `list` in order; stops at the first entry that cannot be applied (the
    /// ones before it stay applied and answered).
    fn apply(&mut self, inner: &Inner, list: Vec<link::RawEntry>) -> Result<(), Error> {
        let listening = !inner.subscribers.is_empty();
        let mut answers = SmallVec::new();
        let mut events = Vec::new();
        let mut failed = None;
        {
            let mut held = inner.stripes.lock_all();
            for (raw, fields) in list {
                let Some(id) = StreamId::parse(&raw) else {
                    failed = Some(Error::Replication {
                        id: raw,
                        what: "not a stream id".into(),
                    });
                    break;
                };
                if id <= self.last {
                    continue;
                }
                let entry = match entry::decode(&fields) {
                    Ok(entry) => entry,
                    Err(what) => {
                        failed = Some(Error::Replication {
                            id: id.to_string(),
                            what,
                        });
                        break;
                    }
                };
                self.last = id;
                self.last_at = self.last_at.max(entry.at);
                self.since_snapshot += 1;
                self.since_checkpoint += 1;
                let seen = self.seen.entry(entry.node).or_insert(0);
                if entry.seq <= *seen {
                    continue;
                }
                *seen = entry.seq;
                let parked = (entry.node == self.replica.node)
                    .then(|| self.replica.parked.lock().remove(&entry.seq))
                    .flatten();
                let derive = parked.as_ref().map_or(&Derive::Unit, |p| &p.derive);
                let answer = entry
                    .check
                    .verify(&entry.op, &inner.tables, entry.at)
                    .map(|()| {
                        inner.apply_one(
                            &mut held,
                            entry.op,
                            entry.at,
                            derive,
                            listening,
                            &mut events,
                        )
                    });
                if let Some(p) = parked {
                    answers.push((p.slot, p.mutation, answer));
                }
            }
        }
        events.retain(|e| self.replica.announcer.keeps(e));
        Finished { answers, events }.hand_out(inner);
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Answers callers whose entries this node has not applied within the apply
    /// timeout (or all of them, with `error`, when the reader stops).
    fn expire(&self, inner: &Inner, all: Option<&Error>) {
        let limit = self.replica.config.apply_timeout;
        let now = Instant::now();
        let late: Vec<Parked> = {
            let mut parked = self.replica.parked.lock();
            let seqs: Vec<u64> = parked
                .iter()
                .filter(|(_, p)| all.is_some() || now.duration_since(p.since) >= limit)
                .map(|(seq, _)| *seq)
                .collect();
            seqs.into_iter().filter_map(|s| parked.remove(&s)).collect()
        };
        if late.is_empty() {
            return;
        }
        let error = all.cloned().unwrap_or_else(|| {
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
        .hand_out(inner);
    }
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
    pub fn spawn(mut state: State, inner: Arc<Inner>) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let monitor = Arc::clone(&inner.monitor);
        let thread = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    if let Err(e) = state.maybe_checkpoint(&inner, false) {
                        inner.monitor.replication_failed(e);
                    }
                    match state
                        .step(&inner, true)
                        .and_then(|_| state.maybe_publish(&inner))
                    {
                        Ok(()) => state.backoff = FIRST_BACKOFF,
                        Err(e @ Error::Replication { .. }) => {
                            inner.monitor.stop(e.clone());
                            state.expire(&inner, Some(&e));
                            break;
                        }
                        Err(e) => {
                            inner.monitor.replication_failed(e);
                            std::thread::park_timeout(state.backoff);
                            state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                    state.expire(&inner, None);
                }
                if let Some(conn) = state.conn.as_mut()
                    && let Err(e) = state.replica.announcer.resign(&state.replica, conn)
                {
                    inner.monitor.replication_failed(e);
                }
                if inner.monitor.stopped().is_none()
                    && let Err(e) = state.maybe_checkpoint(&inner, true)
                {
                    inner.monitor.replication_failed(e);
                }
                // Stopped (or fail-stopped): nobody will apply what is still parked.
                let gone = inner.monitor.stopped().unwrap_or_else(|| {
                    unavailable("the engine was dropped before it applied the entry")
                });
                state.expire(&inner, Some(&gone));
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
