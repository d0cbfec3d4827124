//! The embedded durable store: an operation log in a directory, compacted into a
//! snapshot once it grows past a size.
//!
//! Files: `ops.log` (header, then one record per acknowledged mutation) and
//! `state.snap` (header, then the state as operations). Both headers carry a generation:
//! compaction writes the snapshot of generation g+1 and only then starts the log of
//! generation g+1, each by writing a temporary file and renaming it, so a crash between
//! the two leaves a log that reopening knows the snapshot already covers.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crate::background::Background;
use crate::codec::{self, HEADER, LOG_MAGIC, Record, Tail};
use crate::error::Error;
use crate::op::Op;

const LOG_FILE: &str = "ops.log";
const SNAP_FILE: &str = "state.snap";
/// Held locked (an OS file lock, released when the process ends however it ends) for as
/// long as an engine has the directory open.
const LOCK_FILE: &str = "lock";

/// When the operation log is flushed to stable storage. Every acknowledged mutation is
/// written to the log (handed to the operating system) before the call returns, so a
/// crash of the process loses nothing under any policy; the policy decides what a crash
/// of the machine can lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// `fsync` before every mutation returns: nothing acknowledged is ever lost.
    EveryWrite,
    /// A background thread syncs the log this often: a machine crash loses at most the
    /// mutations of the last interval.
    Every(Duration),
    /// Never sync; the operating system writes back when it likes.
    Never,
}

impl Default for SyncPolicy {
    /// Every 10 ms.
    fn default() -> Self {
        SyncPolicy::Every(Duration::from_millis(10))
    }
}

/// Takes the directory's lock, or says who has it.
fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error(&path, &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: path.display().to_string(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(io_error(&path, &e)),
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn corrupt(path: &Path, offset: usize, what: String) -> Error {
    Error::Corrupt {
        path: path.display().to_string(),
        offset: offset as u64,
        what,
    }
}

/// Writes `path` whole: a temporary file, synced, then renamed over it.
fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let done = (|| {
        let mut f = File::create(&tmp)?;
        write(&mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            // Make the rename itself durable (not supported everywhere; best effort).
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    done.map_err(|e| io_error(path, &e))
}

/// The log file currently appended to, shared with the flusher thread.
type Slot = Arc<RwLock<Arc<File>>>;

/// Starts the thread that syncs the log every `every` while it has unsynced writes.
fn spawn_flusher(slot: Slot, dirty: Arc<AtomicBool>, every: Duration) -> Background {
    Background::spawn("mutegate-log-sync", move || {
        if dirty.swap(false, Ordering::AcqRel) {
            let file = Arc::clone(&slot.read());
            let _ = file.sync_data();
        }
        every
    })
}

/// The open operation log.
pub(crate) struct Log {
    dir: PathBuf,
    slot: Slot,
    len: u64,
    generation: u32,
    policy: SyncPolicy,
    compact_after: u64,
    buf: Vec<u8>,
    dirty: Arc<AtomicBool>,
    /// Set when the log can no longer be trusted to follow the state; refuses writes.
    broken: Option<String>,
    _flusher: Option<Background>,
    /// The directory's lock, held until the log is dropped.
    _lock: File,
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

/// What was found in a store directory.
pub(crate) struct Recovered {
    pub log: Log,
    pub snapshot: Vec<Record>,
    pub records: Vec<Record>,
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match File::open(path) {
        Ok(mut f) => {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(|e| io_error(path, &e))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, &e)),
    }
}

/// Opens (or creates) the store in `dir`: reads the snapshot and the log, truncates a
/// torn final record, and returns the log ready for appending.
pub(crate) fn open(dir: &Path, policy: SyncPolicy, compact_after: u64) -> Result<Recovered, Error> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    // Lock first: nothing is read or repaired under another engine's feet.
    let lock = lock_dir(dir)?;
    let snap_path = dir.join(SNAP_FILE);
    let log_path = dir.join(LOG_FILE);

    let (snap_gen, snapshot) = match read_file(&snap_path)? {
        None => (0, Vec::new()),
        Some(bytes) => codec::read_snapshot(&mut bytes.as_slice())
            .map_err(|(off, what)| corrupt(&snap_path, off, what))?,
    };

    let mut records = Vec::new();
    let fresh_log = match read_file(&log_path)? {
        // No log, or one cut short before its header was whole: start one.
        None => true,
        Some(bytes) if bytes.len() < HEADER => true,
        Some(bytes) => {
            let log_gen = codec::read_header(&bytes, LOG_MAGIC)
                .map_err(|what| corrupt(&log_path, 0, what))?;
            if log_gen > snap_gen {
                return Err(corrupt(
                    &log_path,
                    12,
                    format!(
                        "log generation {log_gen} is newer than the snapshot's {snap_gen}: snapshot missing?"
                    ),
                ));
            }
            if log_gen < snap_gen {
                // Compaction stopped after the snapshot: it already holds this log.
                true
            } else {
                let (found, tail) = codec::decode_all(&bytes, HEADER)
                    .map_err(|(off, what)| corrupt(&log_path, off, what))?;
                if let Tail::Torn(at) = tail {
                    // A crash mid-write: drop the partial record, keep the rest.
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&log_path)
                        .map_err(|e| io_error(&log_path, &e))?;
                    f.set_len(at as u64)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| io_error(&log_path, &e))?;
                }
                records = found;
                false
            }
        }
    };
    if fresh_log {
        replace_file(&log_path, |f| {
            f.write_all(&codec::header(LOG_MAGIC, snap_gen))
        })?;
    }
    let file = OpenOptions::new()
        .append(true)
        .open(&log_path)
        .map_err(|e| io_error(&log_path, &e))?;
    let len = file.metadata().map_err(|e| io_error(&log_path, &e))?.len();
    let slot: Slot = Arc::new(RwLock::new(Arc::new(file)));
    let dirty = Arc::new(AtomicBool::new(false));
    let flusher = match policy {
        SyncPolicy::Every(every) => {
            Some(spawn_flusher(Arc::clone(&slot), Arc::clone(&dirty), every))
        }
        _ => None,
    };
    let log = Log {
        dir: dir.to_path_buf(),
        slot,
        len,
        generation: snap_gen,
        policy,
        compact_after,
        buf: Vec::with_capacity(256),
        dirty,
        broken: None,
        _flusher: flusher,
        _lock: lock,
    };
    Ok(Recovered {
        log,
        snapshot,
        records,
    })
}

impl Log {
    fn path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Appends one operation; on return it is in the log (and synced, per the policy).
    /// On failure the log is left as it was and the mutation must not be applied.
    pub fn append(&mut self, at: u64, op: &Op) -> Result<(), Error> {
        if let Some(why) = &self.broken {
            return Err(Error::Io {
                path: self.path().display().to_string(),
                message: format!("log refuses writes after an earlier failure: {why}"),
            });
        }
        self.buf.clear();
        codec::encode(&mut self.buf, at, op);
        let file = Arc::clone(&self.slot.read());
        if let Err(e) = (&*file).write_all(&self.buf) {
            // Roll back a partial record so the log stays a sequence of whole records.
            if let Err(e2) = file.set_len(self.len) {
                self.broken = Some(format!("could not roll back a failed write: {e2}"));
            }
            return Err(io_error(&self.path(), &e));
        }
        self.len += self.buf.len() as u64;
        match self.policy {
            SyncPolicy::EveryWrite => file.sync_data().map_err(|e| io_error(&self.path(), &e))?,
            SyncPolicy::Every(_) => self.dirty.store(true, Ordering::Release),
            SyncPolicy::Never => {}
        }
        Ok(())
    }

    /// Whether the log has grown past its compaction size.
    pub fn wants_compaction(&self) -> bool {
        self.len > self.compact_after
    }

    /// Replaces the log by a snapshot of `ops` (the whole state at `at`) and an empty log.
    pub fn compact(&mut self, at: u64, ops: &[Op]) -> Result<(), Error> {
        let next = self.generation + 1;
        replace_file(&self.dir.join(SNAP_FILE), |f| {
            codec::write_snapshot(f, next, at, ops)
        })?;
        // From here the old log is covered by the snapshot; a new one must follow or the
        // log must stop taking writes (they would be ignored on reopen).
        let log_path = self.path();
        let reset = replace_file(&log_path, |f| f.write_all(&codec::header(LOG_MAGIC, next)))
            .and_then(|()| {
                OpenOptions::new()
                    .append(true)
                    .open(&log_path)
                    .map_err(|e| io_error(&log_path, &e))
            });
        match reset {
            Ok(file) => {
                *self.slot.write() = Arc::new(file);
                self.len = HEADER as u64;
                self.generation = next;
                Ok(())
            }
            Err(e) => {
                self.broken = Some(format!("compaction could not start a new log: {e}"));
                Err(e)
            }
        }
    }

    /// Syncs the log now.
    pub fn sync(&self) -> Result<(), Error> {
        let file = Arc::clone(&self.slot.read());
        file.sync_data().map_err(|e| io_error(&self.path(), &e))
    }
}
