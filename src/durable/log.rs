//! The open operation log: appending records, rolling back refused ones, syncing, and
//! switching to the next generation when it is compacted.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::RwLock;

use super::compactor::{self, Compactor, Job};
use super::fault::{Faults, Step};
use super::files::{self, DirLock, Unwritten, io_error};
use super::{LOG_FILE, PREV_FILE, SyncPolicy};
use crate::background::Background;
use crate::codec::{self, HEADER, LOG_MAGIC};
use crate::error::Error;
use crate::health::Monitor;
use crate::observe;
use crate::op::Op;
use crate::write::{Compaction, Sequencer, Waiter};

/// The log file currently appended to, shared with the sync thread.
type Slot = Arc<RwLock<Arc<File>>>;

/// What the log shares with its sync thread.
struct Shared {
    slot: Slot,
    dirty: AtomicBool,
    path: PathBuf,
    monitor: Arc<Monitor>,
    faults: Arc<Faults>,
}

impl Shared {
    /// Syncs the log; on failure, the error naming the file.
    fn sync_data(&self) -> Result<(), Error> {
        let file = Arc::clone(&self.slot.read());
        let started = Instant::now();
        let synced = self
            .faults
            .check(Step::SyncLog)
            .and_then(|()| file.sync_data());
        observe::fsync(started.elapsed(), synced.is_ok());
        synced.map_err(|e| io_error("fsync", &self.path, &e))
    }

    /// Syncs the log for a caller, who gets the failure; it is also recorded in the
    /// monitor, and stops the store: after a failed sync the log cannot say which of its
    /// acknowledged records reached the disk (the kernel may have dropped the pages it
    /// failed to write and will not report them again).
    fn sync(&self) -> Result<(), Error> {
        self.sync_data()
            .inspect_err(|error| self.monitor.sync_failed(error.clone()))
    }

    /// Syncs the log for the sync thread, which has no caller to tell: a failure goes
    /// to the monitor alone (`health()`, and the traced and counted store stop).
    fn sync_in_background(&self) {
        if let Err(error) = self.sync_data() {
            self.monitor.sync_failed(error);
        }
    }
}

/// The open operation log.
pub(crate) struct Log {
    dir: PathBuf,
    shared: Arc<Shared>,
    /// Bytes in the log: every one a whole, acknowledged record (or the header).
    len: u64,
    generation: u32,
    policy: SyncPolicy,
    compact_after: u64,
    buf: Vec<u8>,
    /// The finished generation in `ops.prev.log`, until it is folded into the snapshot.
    prev: Option<Job>,
    /// Shared so that its lock can be held while the log switches generations.
    compactor: Arc<Compactor>,
    /// Declared before the lock, so the thread is stopped before the lock is released.
    _flusher: Option<Background>,
    /// The directory's lock, held until the log is dropped.
    _lock: DirLock,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("len", &self.len)
            .field("generation", &self.generation)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What a new log is made of.
pub(crate) struct Parts {
    pub dir: PathBuf,
    pub file: File,
    pub len: u64,
    pub generation: u32,
    pub policy: SyncPolicy,
    pub compact_after: u64,
    pub monitor: Arc<Monitor>,
    pub faults: Arc<Faults>,
    pub history_len: usize,
    pub lock: DirLock,
    /// A finished generation found in `ops.prev.log`, not yet folded.
    pub prev: Option<Job>,
}

impl Sequencer for Log {
    fn commit(&mut self, ops: &[(u64, &Op)]) -> Result<(), Error> {
        self.append(ops)
    }

    fn committed(&mut self, now: u64) {
        // The batch is acknowledged either way: a failed switch leaves the log as it
        // was, is reported in `health()` and is retried after a backoff.
        self.maybe_compact(now);
    }

    fn compact(&mut self, now: u64) -> Result<Compaction, Error> {
        self.compact_now(now)
    }

    fn waiter(&self) -> Option<Waiter> {
        Some(self.compactor.waiter())
    }

    fn sync(&self) -> Result<(), Error> {
        Log::sync(self)
    }
}

impl Log {
    /// The log over an open file, with its sync thread if the policy has one.
    pub fn new(p: Parts) -> Log {
        let compactor = Arc::new(Compactor::new(
            &p.dir,
            Arc::clone(&p.monitor),
            Arc::clone(&p.faults),
            p.history_len,
        ));
        let shared = Arc::new(Shared {
            slot: Arc::new(RwLock::new(Arc::new(p.file))),
            dirty: AtomicBool::new(false),
            path: p.dir.join(LOG_FILE),
            monitor: p.monitor,
            faults: p.faults,
        });
        let flusher = match p.policy {
            SyncPolicy::Every(every) => {
                let shared = Arc::clone(&shared);
                Some(Background::spawn(
                    "mutegate-log-sync",
                    Arc::clone(&shared.monitor),
                    move || {
                        if shared.dirty.swap(false, Ordering::AcqRel)
                            && shared.monitor.stopped().is_none()
                        {
                            shared.sync_in_background();
                        }
                        every
                    },
                ))
            }
            _ => None,
        };
        Log {
            dir: p.dir,
            shared,
            len: p.len,
            generation: p.generation,
            policy: p.policy,
            compact_after: p.compact_after,
            buf: Vec::with_capacity(256),
            prev: p.prev,
            compactor,
            _flusher: flusher,
            _lock: p.lock,
        }
    }

    fn path(&self) -> &Path {
        &self.shared.path
    }

    fn refused_after_stop(&self, why: &Error) -> Error {
        Error::Io {
            op: "append",
            path: self.path().display().to_string(),
            message: format!(
                "the store stopped taking writes after an earlier failure ({why}); reopen it"
            ),
        }
    }

    /// Appends a batch of operations with one write (and, under `EveryWrite`, one
    /// `fsync`); on return they are in the log (and synced, per the policy).
    ///
    /// On failure the mutation must not be applied, and the log is cut back to where it
    /// was, so the refused record is not replayed after a restart. If even that fails,
    /// the store stops (every later append fails until it is reopened).
    pub fn append(&mut self, ops: &[(u64, &Op)]) -> Result<(), Error> {
        if let Some(why) = self.shared.monitor.stopped() {
            return Err(self.refused_after_stop(&why));
        }
        self.buf.clear();
        for (at, op) in ops {
            codec::encode(&mut self.buf, *at, op);
        }
        let file = Arc::clone(&self.shared.slot.read());
        if let Err(e) = self.shared.faults.write(Step::Append, &file, &self.buf) {
            let error = io_error("write", self.path(), &e);
            self.roll_back(&file, &error);
            return Err(error);
        }
        match self.policy {
            SyncPolicy::EveryWrite => {
                let started = Instant::now();
                let synced = self
                    .shared
                    .faults
                    .check(Step::SyncLog)
                    .and_then(|()| file.sync_data());
                observe::fsync(started.elapsed(), synced.is_ok());
                if let Err(e) = synced {
                    let error = io_error("fsync", self.path(), &e);
                    self.roll_back(&file, &error);
                    return Err(error);
                }
            }
            SyncPolicy::Every(_) => self.shared.dirty.store(true, Ordering::Release),
            SyncPolicy::Never => {}
        }
        self.len += self.buf.len() as u64;
        observe::log_written(self.buf.len());
        Ok(())
    }

    /// Cuts the log back to its last acknowledged record and makes that durable; stops
    /// the store if it cannot.
    fn roll_back(&self, file: &File, cause: &Error) {
        let cut = self
            .shared
            .faults
            .check(Step::Truncate)
            .and_then(|()| file.set_len(self.len))
            .and_then(|()| self.shared.faults.check(Step::SyncLog))
            .and_then(|()| file.sync_data());
        if let Err(e) = cut {
            let error = Error::Io {
                op: "truncate",
                path: self.path().display().to_string(),
                message: format!(
                    "could not cut back a refused record ({e}) after: {cause}; the refused record may be replayed on reopen"
                ),
            };
            self.shared.monitor.stop(error);
        }
    }

    /// Starts compacting if the log has grown past its compaction size, or retries
    /// folding a generation a failed attempt left behind, unless the compactor is busy
    /// or a failure is waiting out its backoff at `now`. The writer's part is the
    /// switch to the next log generation; the compactor thread does the rest.
    fn maybe_compact(&mut self, now: u64) {
        let grown = self.len > self.compact_after;
        if self.prev.is_none() && !grown {
            return;
        }
        let compactor = Arc::clone(&self.compactor);
        let turn = compactor.turn();
        if turn.busy() || !turn.waited(now) {
            return;
        }
        if let Some(prev) = self.prev
            && turn.folded(prev.generation)
        {
            self.prev = None;
            if !grown {
                return;
            }
        }
        let job = match self.prev {
            Some(prev) => prev,
            None => match self.switch(now) {
                Ok(job) => job,
                Err(e) => return turn.switch_failed(e, now),
            },
        };
        self.prev = Some(job);
        turn.hand_over(Job { at: now, ..job });
    }

    /// Compacts whatever the log holds now, whatever its size and the backoff.
    fn compact_now(&mut self, now: u64) -> Result<Compaction, Error> {
        let compactor = Arc::clone(&self.compactor);
        let turn = compactor.turn();
        if turn.busy() {
            return Ok(Compaction::Busy(self.compactor.waiter()));
        }
        if let Some(prev) = self.prev {
            if !turn.folded(prev.generation) {
                // The generation before this one first; the caller asks again.
                turn.hand_over(Job { at: now, ..prev });
                return Ok(Compaction::Busy(self.compactor.waiter()));
            }
            self.prev = None;
        }
        if self.len <= HEADER as u64 {
            return Ok(Compaction::Nothing);
        }
        match self.switch(now) {
            Ok(job) => {
                self.prev = Some(job);
                turn.hand_over(job);
                Ok(Compaction::Covering(self.compactor.waiter()))
            }
            Err(e) => {
                turn.switch_failed(e.clone(), now);
                Err(e)
            }
        }
    }

    /// Ends this log generation and starts the next: syncs the log, links it as
    /// `ops.prev.log`, and puts a new log under `ops.log`. Returns the finished
    /// generation, for the compactor.
    ///
    /// Crash-safe at every step: until the new log is renamed into place, `ops.prev.log`
    /// is a second name of `ops.log` (same generation), which opening removes. A failure
    /// before the rename leaves the log taking writes as before; a failed directory sync
    /// after it stops the store (the switch may not be durable).
    fn switch(&mut self, at: u64) -> Result<Job, Error> {
        let faults = &*self.shared.faults;
        // Every record of this generation reaches the disk before any of the next.
        self.shared.sync()?;
        compactor::remove_prev(&self.dir, faults)?;
        let prev = self.dir.join(PREV_FILE);
        faults
            .check(Step::Link)
            .and_then(|()| std::fs::hard_link(self.path(), &prev))
            .map_err(|e| io_error("link", &prev, &e))?;
        let next = self.generation + 1;
        let header = codec::header(LOG_MAGIC, next, 0);
        let file = match files::write_whole(self.path(), &header, faults) {
            Ok(file) => file,
            Err(Unwritten {
                error,
                renamed: false,
            }) => {
                // Best effort: opening removes a second name of the log anyway.
                let _ = std::fs::remove_file(&prev);
                return Err(error);
            }
            Err(Unwritten {
                error,
                renamed: true,
            }) => {
                self.shared.monitor.stop(error.clone());
                return Err(error);
            }
        };
        *self.shared.slot.write() = Arc::new(file);
        let job = Job {
            generation: self.generation,
            len: self.len,
            at,
        };
        self.len = HEADER as u64;
        self.generation = next;
        Ok(job)
    }

    /// Syncs the log now.
    pub fn sync(&self) -> Result<(), Error> {
        self.shared.sync()
    }
}
