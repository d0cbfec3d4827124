//! The open operation log: appending records, rolling back refused ones, syncing, and
//! compacting into a snapshot.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::RwLock;

use super::fault::{Faults, Step};
use super::files::{self, DirLock, Unwritten, io_error};
use super::{LOG_FILE, SNAP_FILE, SyncPolicy};
use crate::background::Background;
use crate::codec::{self, HEADER, LOG_MAGIC};
use crate::error::Error;
use crate::health::Monitor;
use crate::observe;
use crate::op::Op;

/// The first wait before a failed compaction is tried again; it doubles per failure.
const FIRST_RETRY_MS: u64 = 1_000;
/// The longest wait between two compaction attempts.
const LAST_RETRY_MS: u64 = 60_000;

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
    /// Consecutive compaction failures, and when the next attempt may run.
    failures: u32,
    retry_at: u64,
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
    pub lock: DirLock,
}

impl crate::write::Sequencer for Log {
    fn commit(&mut self, ops: &[(u64, &Op)]) -> Result<(), Error> {
        self.append(ops)
    }

    fn committed(&mut self, now: u64, tables: &crate::store::Tables) {
        if self.wants_compaction(now) {
            // The batch is acknowledged either way: a failed compaction leaves the log
            // and snapshot as they were, is reported in `health()` and is retried after
            // a backoff, so it costs at most this one batch one attempt.
            self.compact(now, &tables.to_ops(now));
        }
    }

    fn sync(&self) -> Result<(), Error> {
        Log::sync(self)
    }
}

impl Log {
    /// The log over an open file, with its sync thread if the policy has one.
    pub fn new(p: Parts) -> Log {
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
            failures: 0,
            retry_at: 0,
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

    /// Whether the log has grown past its compaction size and no failed compaction is
    /// waiting out its backoff at `now`.
    pub fn wants_compaction(&self, now: u64) -> bool {
        // A clock that went back by more than the longest wait does not hold retries up.
        let waited = now >= self.retry_at || self.retry_at - now > LAST_RETRY_MS;
        self.len > self.compact_after && waited
    }

    /// Writes a snapshot of `ops` (the whole state at `at`, which covers this log up to
    /// its end), then starts the next log generation.
    ///
    /// Crash-safe at every step, and nothing is lost on a failure: the snapshot names
    /// the log and the offset it covers, so if the new log cannot be started the old
    /// one goes on taking writes and reopening replays it from that offset. A failure is
    /// reported to the monitor and retried with backoff; only a failed directory sync
    /// after the new log was renamed into place stops the store (the switch may not be
    /// durable).
    pub fn compact(&mut self, at: u64, ops: &[Op]) {
        let started = Instant::now();
        let snapshot =
            codec::snapshot_bytes(self.generation, self.len, ops.iter().map(|op| (at, op)));
        let result = self.try_compact(&snapshot);
        observe::compaction(snapshot.len(), started.elapsed(), &result);
        match result {
            Ok(()) => {
                self.failures = 0;
                self.retry_at = 0;
                self.shared.monitor.compaction_done();
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                let wait = FIRST_RETRY_MS
                    .saturating_mul(1 << self.failures.min(16).saturating_sub(1))
                    .min(LAST_RETRY_MS);
                self.retry_at = at.saturating_add(wait);
                self.shared.monitor.compaction_failed(e, self.retry_at);
            }
        }
    }

    /// Writes `snapshot` (this log up to its end), then starts the next log.
    fn try_compact(&mut self, snapshot: &[u8]) -> Result<(), Error> {
        let faults = &*self.shared.faults;
        files::write_whole(&self.dir.join(SNAP_FILE), snapshot, faults).map_err(|u| u.error)?;
        let next = self.generation + 1;
        let header = codec::header(LOG_MAGIC, next, 0);
        let file = match files::write_whole(self.path(), &header, faults) {
            Ok(file) => file,
            Err(Unwritten {
                error,
                renamed: false,
            }) => return Err(error),
            Err(Unwritten {
                error,
                renamed: true,
            }) => {
                self.shared.monitor.stop(error.clone());
                return Err(error);
            }
        };
        *self.shared.slot.write() = Arc::new(file);
        self.len = HEADER as u64;
        self.generation = next;
        Ok(())
    }

    /// Syncs the log now.
    pub fn sync(&self) -> Result<(), Error> {
        self.shared.sync()
    }
}
