//! Compaction off the write path: the compactor thread folds a finished log generation
//! (`ops.prev.log`) into the snapshot, while writers go on appending to the next one.
//!
//! The writer's part is the switch (in `log.rs`): sync the log, hard-link it as
//! `ops.prev.log`, start the next generation under `ops.log`. The cut is consistent by
//! construction: the compactor replays the snapshot and the previous log from disk into
//! tables of its own, never reading the live ones. It then writes the snapshot of that
//! whole generation, which names the generation and the offset it covers, and removes
//! `ops.prev.log`. A crash at any step leaves files that `plan` in `mod.rs` reads back.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::fault::Faults;
use super::files::{self, corrupt, io_error};
use super::{Covered, PREV_FILE, SNAP_FILE, covered};
use crate::background::Background;
use crate::codec::{self, Header, LOG_MAGIC, Record, Tail};
use crate::error::Error;
use crate::health::{Monitor, panic_message};
use crate::observe;
use crate::store::Tables;
use crate::write::Waiter;

/// The first wait before a failed compaction is tried again; it doubles per failure.
const FIRST_RETRY_MS: u64 = 1_000;
/// The longest wait between two compaction attempts.
const LAST_RETRY_MS: u64 = 60_000;
/// How long the idle compactor thread sleeps between looks (it is woken for a job).
const IDLE: Duration = Duration::from_secs(1);

/// A finished log generation to fold into the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Job {
    /// The generation of `ops.prev.log`.
    pub generation: u32,
    /// Its length: every byte a whole, synced record (or the header).
    pub len: u64,
    /// The engine clock when the job was handed over: entries ended by then are left
    /// out of the snapshot.
    pub at: u64,
}

/// What the writer and the compactor thread share, under one lock.
#[derive(Debug, Default)]
struct State {
    /// Handed over, not yet taken by the thread.
    queued: Option<Job>,
    running: bool,
    /// The last generation folded into the snapshot.
    folded: Option<u32>,
    /// How the last attempt (a switch or a fold) ended.
    last: Option<Result<(), Error>>,
    /// Consecutive failures, and when (engine clock) the next attempt may run.
    failures: u32,
    retry_at: u64,
}

impl State {
    /// Records how an attempt at `at` ended, in the state and in the monitor.
    fn ended(&mut self, result: Result<(), Error>, at: u64, monitor: &Monitor) {
        match &result {
            Ok(()) => {
                self.failures = 0;
                self.retry_at = 0;
                monitor.compaction_done();
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                let wait = FIRST_RETRY_MS
                    .saturating_mul(1 << self.failures.min(16).saturating_sub(1))
                    .min(LAST_RETRY_MS);
                self.retry_at = at.saturating_add(wait);
                monitor.compaction_failed(e.clone(), self.retry_at);
            }
        }
        self.last = Some(result);
    }
}

/// What the compactor's handles share with its thread.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a job ends.
    idle: Condvar,
    dir: PathBuf,
    monitor: Arc<Monitor>,
    faults: Arc<Faults>,
    /// The moderation entries kept per subject in a snapshot.
    history_len: usize,
}

/// The compactor: its thread (stopped and joined on drop) and the state it shares with
/// the writer.
pub(crate) struct Compactor {
    shared: Arc<Shared>,
    thread: Background,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor")
            .field("state", &*self.shared.state.lock())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Waits until no job is queued or running; returns how the last attempt ended
    /// (`Ok` if none was made).
    fn wait_idle(&self) -> Result<(), Error> {
        let mut state = self.state.lock();
        while state.running || state.queued.is_some() {
            self.idle.wait(&mut state);
        }
        state.last.clone().unwrap_or(Ok(()))
    }
}

/// The writer's view of the compactor at one moment, taken under its lock.
pub(crate) struct Turn<'a> {
    state: parking_lot::MutexGuard<'a, State>,
    shared: &'a Shared,
    thread: &'a Background,
}

impl Turn<'_> {
    /// Whether a job is queued or running.
    pub fn busy(&self) -> bool {
        self.state.running || self.state.queued.is_some()
    }

    /// Whether generation `g` has been folded into the snapshot.
    pub fn folded(&self, g: u32) -> bool {
        self.state.folded == Some(g)
    }

    /// Whether no failed attempt is waiting out its backoff at `now`. A clock that went
    /// back by more than the longest wait does not hold retries up.
    pub fn waited(&self, now: u64) -> bool {
        let retry_at = self.state.retry_at;
        now >= retry_at || retry_at - now > LAST_RETRY_MS
    }

    /// Hands `job` to the thread.
    pub fn hand_over(mut self, job: Job) {
        self.state.queued = Some(job);
        drop(self.state);
        self.thread.thread().unpark();
    }

    /// Records a failed switch at `at`: reported, and retried after the backoff.
    pub fn switch_failed(mut self, error: Error, at: u64) {
        observe::compaction(0, Duration::ZERO, &Err(error.clone()));
        self.state.ended(Err(error), at, &self.shared.monitor);
        self.shared.idle.notify_all();
    }
}

impl Compactor {
    /// Starts the compactor thread for the store in `dir`.
    pub fn new(
        dir: &Path,
        monitor: Arc<Monitor>,
        faults: Arc<Faults>,
        history_len: usize,
    ) -> Compactor {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            idle: Condvar::new(),
            dir: dir.to_path_buf(),
            monitor: Arc::clone(&monitor),
            faults,
            history_len,
        });
        let worker = Arc::clone(&shared);
        let thread = Background::spawn("mutegate-compactor", monitor, move || {
            if let Some(job) = worker.take() {
                worker.run(job);
            }
            IDLE
        });
        Compactor { shared, thread }
    }

    /// The compactor's state, locked, for the writer to decide what to do.
    pub fn turn(&self) -> Turn<'_> {
        Turn {
            state: self.shared.state.lock(),
            shared: &self.shared,
            thread: &self.thread,
        }
    }

    /// A handle that waits for the compactor.
    pub fn waiter(&self) -> Waiter {
        let shared = Arc::clone(&self.shared);
        Waiter::new(move || shared.wait_idle())
    }
}

impl Drop for Compactor {
    /// Runs a job still queued before the thread stops (a job running is finished by the
    /// thread): closing the engine leaves no finished log unfolded. Nothing would be lost
    /// otherwise (opening folds it), but the directory is left tidy and the work is
    /// reported.
    fn drop(&mut self) {
        if let Some(job) = self.shared.take() {
            self.shared.run(job);
        }
    }
}

impl Shared {
    /// Takes the queued job, if any, marking it running.
    fn take(&self) -> Option<Job> {
        let mut state = self.state.lock();
        let job = state.queued.take()?;
        state.running = true;
        Some(job)
    }

    /// Runs one job taken from the queue, and records how it ended.
    fn run(&self, job: Job) {
        let started = Instant::now();
        // A panic here must still end the job, or its waiters would wait for ever.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.fold(job)))
            .unwrap_or_else(|payload| {
                let message = panic_message(&*payload);
                self.monitor
                    .background_panicked("mutegate-compactor", &message);
                Err(Error::Io {
                    op: "compact",
                    path: self.dir.join(SNAP_FILE).display().to_string(),
                    message: format!("the compaction panicked: {message}"),
                })
            });
        let written = result.as_ref().map_or(0, |&n| n);
        let result = result.map(drop);
        observe::compaction(written, started.elapsed(), &result);
        let mut state = self.state.lock();
        state.running = false;
        if result.is_ok() {
            state.folded = Some(job.generation);
        }
        state.ended(result, job.at, &self.monitor);
        drop(state);
        self.idle.notify_all();
    }

    /// Folds the snapshot and `ops.prev.log` into a snapshot of that generation, then
    /// removes `ops.prev.log`. Returns the snapshot's size.
    fn fold(&self, job: Job) -> Result<usize, Error> {
        let snap_path = self.dir.join(SNAP_FILE);
        let prev_path = self.dir.join(PREV_FILE);
        let snap = files::read_file(&snap_path)?
            .map(|bytes| {
                codec::read_snapshot(&bytes).map_err(|(off, what)| corrupt(&snap_path, off, what))
            })
            .transpose()?;
        let prev = files::read_file(&prev_path)?.ok_or_else(|| {
            corrupt(
                &prev_path,
                0,
                format!(
                    "missing while generation {} was being folded",
                    job.generation
                ),
            )
        })?;
        let header = codec::read_header(&prev, LOG_MAGIC).map_err(|w| corrupt(&prev_path, 0, w))?;
        let len = usize::try_from(job.len).unwrap_or(usize::MAX);
        if header.generation != job.generation || prev.len() < len {
            return Err(corrupt(
                &prev_path,
                0,
                format!(
                    "holds generation {} of {} bytes, expected generation {} of at least {len} bytes",
                    header.generation,
                    prev.len(),
                    job.generation
                ),
            ));
        }
        let from = match covered(snap.as_ref().map(|(h, _)| h), &header, len, &snap_path)? {
            Covered::From(at) => at,
            // Already folded (a crash after the snapshot, before the removal).
            Covered::All => len,
        };
        let records = decode_finished(&prev[..len], from, &header, &prev_path)?;
        let tables = Tables::new(4, 1 << 12, self.history_len);
        let base = snap.map(|(_, r)| r).unwrap_or_default();
        for record in base.into_iter().chain(records) {
            tables.apply(record.op, record.at, &mut crate::change::Ignore);
        }
        let ops = tables.to_ops(job.at);
        drop(tables);
        let snapshot =
            codec::snapshot_bytes(job.generation, job.len, ops.iter().map(|op| (job.at, op)));
        files::write_whole(&snap_path, &snapshot, &self.faults).map_err(|u| u.error)?;
        remove_prev(&self.dir, &self.faults)?;
        Ok(snapshot.len())
    }
}

/// The records of a finished log (`ops.prev.log`, of header `header`) from `from` on.
/// It was synced whole before the next log began: a record cut short there is a hole in
/// the middle of the history, not a torn tail, and is reported as damage.
pub(crate) fn decode_finished(
    bytes: &[u8],
    from: usize,
    header: &Header,
    path: &Path,
) -> Result<Vec<Record>, Error> {
    match codec::decode_all(bytes, from, header.version) {
        Ok((records, Tail::Clean)) => Ok(records),
        Ok((_, Tail::Torn(at))) => Err(corrupt(path, at, "a finished log ends inside a record")),
        Err((at, what)) => Err(corrupt(path, at, what)),
    }
}

/// Removes `ops.prev.log` (if it is there) and makes the removal durable.
pub(crate) fn remove_prev(dir: &Path, faults: &Faults) -> Result<(), Error> {
    let path = dir.join(PREV_FILE);
    match fs::remove_file(&path) {
        Ok(()) => files::sync_dir(dir, faults),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", &path, &e)),
    }
}
