//! The embedded durable store: an operation log in a directory, compacted into a
//! snapshot once it grows past a size.
//!
//! Files: `ops.log` (header, then one record per acknowledged mutation), `state.snap`
//! (header, then the state as records) and `lock`. Every header is checksummed (see
//! `codec`). A log's header carries its generation; a snapshot's carries the generation
//! and byte offset of the log it covers. Compaction writes the snapshot of log `g` up to
//! its end, then starts log `g + 1`, each by writing a temporary file and renaming it;
//! reopening replays a log of generation `g` from the offset the snapshot covers, and a
//! log of generation `g + 1` whole. Any other pairing is damage, reported as such.
//!
//! Stores of format 1 (unchecksummed headers) are read and rewritten in format 2 on open.

mod fault;
mod files;
mod log;
#[cfg(test)]
mod tests;

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::fault::{Faults, Step};
use self::files::{corrupt, io_error};
pub(crate) use self::log::Log;
use crate::codec::{self, HEADER, Header, LOG_MAGIC, Record, Tail};
use crate::error::Error;
use crate::health::Monitor;

pub(crate) const LOG_FILE: &str = "ops.log";
pub(crate) const SNAP_FILE: &str = "state.snap";
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

/// How the store is opened.
pub(crate) struct Options {
    pub policy: SyncPolicy,
    pub compact_after: u64,
    pub monitor: Arc<Monitor>,
    pub faults: Arc<Faults>,
}

/// What was found in a store directory.
pub(crate) struct Recovered {
    pub log: Log,
    /// The snapshot's records, then the log's: applied in this order, they give back
    /// the acknowledged state.
    pub records: Vec<Record>,
}

/// Where the log to append to comes from.
enum Plan {
    /// Replay the existing log (of this header) from this offset, then append to it.
    Replay(Header, usize),
    /// The snapshot covers everything: start an empty log of this generation.
    Fresh(u32),
}

/// Decides how the snapshot (if any) and the log (if any) fit together.
fn plan(
    snap: Option<&Header>,
    log: Option<(&Header, usize)>,
    snap_path: &Path,
    log_path: &Path,
) -> Result<Plan, Error> {
    let Some(s) = snap else {
        return match log {
            None => Ok(Plan::Fresh(0)),
            Some((l, _)) if l.generation == 0 => Ok(Plan::Replay(*l, l.len)),
            Some((l, _)) => Err(corrupt(
                snap_path,
                0,
                format!(
                    "missing, but ops.log has generation {}: the snapshot it follows is gone",
                    l.generation
                ),
            )),
        };
    };
    let Some((l, log_len)) = log else {
        return Err(corrupt(
            log_path,
            0,
            format!(
                "missing beside state.snap (generation {}): no crash leaves a snapshot without a log",
                s.generation
            ),
        ));
    };
    let (sg, lg) = (s.generation, l.generation);
    match (s.version, l.version) {
        // The snapshot covers this log up to `covers`; a log shorter than that (its
        // unsynced tail lost with the machine) is covered whole.
        (2, 2) if lg == sg => match usize::try_from(s.covers) {
            Ok(at) if at < HEADER => Err(corrupt(
                snap_path,
                16,
                format!("covers offset {at} is inside the log header"),
            )),
            Ok(at) if at <= log_len => Ok(Plan::Replay(*l, at)),
            _ => Ok(Plan::Fresh(sg + 1)),
        },
        (2, 2) if Some(lg) == sg.checked_add(1) => Ok(Plan::Replay(*l, l.len)),
        // A format-1 log beside a format-2 snapshot: the migration wrote the snapshot
        // (holding that log whole) and stopped before replacing the log.
        (2, 1) if lg < sg => Ok(Plan::Fresh(sg)),
        (1, 1) if lg == sg => Ok(Plan::Replay(*l, l.len)),
        // Format 1's compaction stopped after the snapshot: it holds this log.
        (1, 1) if lg < sg => Ok(Plan::Fresh(sg)),
        _ => Err(corrupt(
            log_path,
            12,
            format!(
                "log generation {lg} (format {}) does not follow state.snap's generation {sg} (format {}): files from different stores or points in time",
                l.version, s.version
            ),
        )),
    }
}

/// Opens (or creates) the store in `dir`: reads the snapshot and the log, truncates a
/// torn tail, rewrites a format-1 store in format 2, and returns the log ready for
/// appending with the records to replay.
pub(crate) fn open(dir: &Path, o: Options) -> Result<Recovered, Error> {
    let started = std::time::Instant::now();
    fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, &e))?;
    // Lock first: nothing is read or repaired under another engine's feet.
    let lock = files::lock_dir(&dir.join(LOCK_FILE))?;
    let snap_path = dir.join(SNAP_FILE);
    let log_path = dir.join(LOG_FILE);

    let snap = match files::read_file(&snap_path)? {
        None => None,
        Some(bytes) => Some(
            codec::read_snapshot(&bytes).map_err(|(off, what)| corrupt(&snap_path, off, what))?,
        ),
    };
    let log_bytes = files::read_file(&log_path)?;
    let log_header = match &log_bytes {
        None => None,
        Some(bytes) => {
            Some(codec::read_header(bytes, LOG_MAGIC).map_err(|w| corrupt(&log_path, 0, w))?)
        }
    };
    let plan = plan(
        snap.as_ref().map(|(h, _)| h),
        log_header.as_ref().zip(log_bytes.as_ref().map(Vec::len)),
        &snap_path,
        &log_path,
    )?;
    let legacy = snap.as_ref().is_some_and(|(h, _)| h.version == 1)
        || matches!(&plan, Plan::Replay(h, _) if h.version == 1);
    let snap_generation = snap.as_ref().map(|(h, _)| h.generation);
    let mut records = snap.map(|(_, r)| r).unwrap_or_default();
    let mut torn = 0u64;

    let (file, len, generation) = match plan {
        Plan::Replay(header, from) => {
            let bytes = log_bytes.as_deref().unwrap_or_default();
            let (found, tail) = codec::decode_all(bytes, from, header.version)
                .map_err(|(off, what)| corrupt(&log_path, off, what))?;
            records.extend(found);
            let end = match tail {
                Tail::Clean => bytes.len(),
                Tail::Torn(at) => at,
            };
            torn = (bytes.len() - end) as u64;
            if legacy {
                (None, 0, header.generation)
            } else {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&log_path)
                    .map_err(|e| io_error("open", &log_path, &e))?;
                if end < bytes.len() {
                    // A crash mid-write, or zeros the filesystem left: drop them.
                    o.faults
                        .check(Step::Truncate)
                        .and_then(|()| file.set_len(end as u64))
                        .and_then(|()| file.sync_all())
                        .map_err(|e| io_error("truncate", &log_path, &e))?;
                }
                (Some(file), end as u64, header.generation)
            }
        }
        Plan::Fresh(generation) if !legacy => {
            let header = codec::header(LOG_MAGIC, generation, 0);
            let file = files::write_whole(&log_path, &header, &o.faults).map_err(|u| u.error)?;
            (Some(file), HEADER as u64, generation)
        }
        Plan::Fresh(generation) => (None, 0, generation),
    };
    let (file, len, generation) = match file {
        Some(file) => (file, len, generation),
        None => {
            // Format 1: write everything as one format-2 snapshot covering the start of
            // a new log, then that log. A crash between the two leaves a format-1 log
            // beside a newer format-2 snapshot, which `plan` knows is covered.
            let next = generation.max(snap_generation.unwrap_or(0)) + 1;
            let snapshot =
                codec::snapshot_bytes(next, HEADER as u64, records.iter().map(|r| (r.at, &r.op)));
            files::write_whole(&snap_path, &snapshot, &o.faults).map_err(|u| u.error)?;
            let header = codec::header(LOG_MAGIC, next, 0);
            let file = files::write_whole(&log_path, &header, &o.faults).map_err(|u| u.error)?;
            (file, HEADER as u64, next)
        }
    };
    let log = Log::new(log::Parts {
        dir: dir.to_path_buf(),
        file,
        len,
        generation,
        policy: o.policy,
        compact_after: o.compact_after,
        monitor: o.monitor,
        faults: o.faults,
        lock,
    });
    crate::observe::recovered(records.len(), torn, legacy, started.elapsed());
    Ok(Recovered { log, records })
}
