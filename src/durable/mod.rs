//! The embedded durable store: an operation log in a directory, compacted into a
//! snapshot once it grows past a size.
//!
//! Files: `ops.log` (header, then one record per acknowledged mutation), `state.snap`
//! (header, then the state as records), `ops.prev.log` while a compaction runs, and
//! `lock`. Every header is checksummed (see `codec`). A log's header carries its
//! generation; a snapshot's carries the generation and byte offset of the log it covers.
//!
//! Compaction is off the write path. The writer only switches generations: it syncs log
//! `g`, links it as `ops.prev.log`, and starts log `g + 1` under `ops.log` (a temporary
//! file renamed into place). The compactor thread then folds the snapshot and log `g`
//! into a snapshot of `g` up to its end, and removes `ops.prev.log` (`compactor.rs`).
//! Reopening replays, after the snapshot, a log of generation `g` from the offset the
//! snapshot covers and a log of generation `g + 1` whole, for `ops.prev.log` then
//! `ops.log`; any other pairing is damage, reported as such.
//!
//! Stores of format 1 (unchecksummed headers) are read and rewritten in format 2 on open.

#[cfg(test)]
mod compaction_tests;
mod compactor;
mod fault;
pub(crate) mod files;
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
/// The finished log generation being folded into the snapshot by the compactor.
pub(crate) const PREV_FILE: &str = "ops.prev.log";
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
    /// The moderation entries kept per subject (compactions keep as many).
    pub history_len: usize,
}

/// What was found in a store directory.
pub(crate) struct Recovered {
    pub log: Log,
    /// The snapshot's records, then the log's: applied in this order, they give back
    /// the acknowledged state.
    pub records: Vec<Record>,
}

/// What of a log of format 2 is left to replay after the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Covered {
    /// The records from this offset on.
    From(usize),
    /// Nothing: the snapshot holds the whole log.
    All,
}

/// What the snapshot `snap` leaves to replay of a log of format 2 with header `log`
/// and `log_len` bytes: the log the snapshot covers from its offset on, the log after it
/// whole, an older log nothing. Any other pairing is damage.
pub(crate) fn covered(
    snap: Option<&Header>,
    log: &Header,
    log_len: usize,
    snap_path: &Path,
) -> Result<Covered, Error> {
    let gap = |sg: u32| {
        corrupt(
            snap_path,
            12,
            format!(
                "generation {sg} is not followed by log generation {}: files from different stores or points in time",
                log.generation
            ),
        )
    };
    let Some(s) = snap else {
        return if log.generation == 0 {
            Ok(Covered::From(log.len))
        } else {
            Err(corrupt(
                snap_path,
                0,
                format!(
                    "missing, but log generation {} follows one: the snapshot it follows is gone",
                    log.generation
                ),
            ))
        };
    };
    if s.version != 2 {
        return Err(gap(s.generation));
    }
    match s.generation {
        // The snapshot covers this log up to `covers`; a log shorter than that (its
        // unsynced tail lost with the machine) is covered whole.
        sg if sg == log.generation => match usize::try_from(s.covers) {
            Ok(at) if at < HEADER => Err(corrupt(
                snap_path,
                16,
                format!("covers offset {at} is inside the log header"),
            )),
            Ok(at) if at < log_len => Ok(Covered::From(at)),
            _ => Ok(Covered::All),
        },
        sg if sg.checked_add(1) == Some(log.generation) => Ok(Covered::From(log.len)),
        sg if sg > log.generation => Ok(Covered::All),
        sg => Err(gap(sg)),
    }
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
            Some((l, len)) if l.version == 2 => {
                covered(None, l, len, snap_path).map(|_| Plan::Replay(*l, l.len))
            }
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
        // A snapshot is never of a later generation than the log appended to.
        (2, 2) if lg >= sg => match covered(Some(s), l, log_len, snap_path)? {
            Covered::From(at) => Ok(Plan::Replay(*l, at)),
            Covered::All => Ok(Plan::Fresh(sg + 1)),
        },
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

/// What becomes of `ops.prev.log`, the generation before `ops.log`.
enum PrevPlan {
    /// There is none.
    None,
    /// The snapshot holds it already, or it is a second name of `ops.log` (a crash
    /// during the switch): remove it.
    Remove,
    /// Replay it from this offset before `ops.log`, and fold it into the snapshot.
    Fold(Header, usize),
}

/// Decides how `ops.prev.log` (if any) fits between the snapshot and `ops.log`.
fn plan_prev(
    snap: Option<&Header>,
    prev: Option<(&Header, usize)>,
    log: Option<&Header>,
    paths: [&Path; 3],
) -> Result<PrevPlan, Error> {
    let [snap_path, prev_path, log_path] = paths;
    let Some((p, prev_len)) = prev else {
        return Ok(PrevPlan::None);
    };
    let Some(l) = log else {
        return Err(corrupt(
            log_path,
            0,
            "missing beside ops.prev.log: no crash leaves a finished log without the next",
        ));
    };
    if p.version != 2 || l.version != 2 {
        return Err(corrupt(
            prev_path,
            8,
            format!(
                "format {} beside ops.log of format {}: only format 2 has a previous log",
                p.version, l.version
            ),
        ));
    }
    if p.generation == l.generation {
        return Ok(PrevPlan::Remove);
    }
    if p.generation.checked_add(1) != Some(l.generation) {
        return Err(corrupt(
            prev_path,
            12,
            format!(
                "generation {} is not followed by ops.log's generation {}",
                p.generation, l.generation
            ),
        ));
    }
    Ok(match covered(snap, p, prev_len, snap_path)? {
        Covered::All => PrevPlan::Remove,
        Covered::From(at) => PrevPlan::Fold(*p, at),
    })
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
    let prev_path = dir.join(PREV_FILE);

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
    let prev_bytes = files::read_file(&prev_path)?;
    let prev_header = match &prev_bytes {
        None => None,
        Some(bytes) => {
            Some(codec::read_header(bytes, LOG_MAGIC).map_err(|w| corrupt(&prev_path, 0, w))?)
        }
    };
    let snap_header = snap.as_ref().map(|(h, _)| h);
    let prev_plan = plan_prev(
        snap_header,
        prev_header.as_ref().zip(prev_bytes.as_ref().map(Vec::len)),
        log_header.as_ref(),
        [&snap_path, &prev_path, &log_path],
    )?;
    let plan = match (&prev_plan, &log_header) {
        // The log after a generation still to fold is replayed whole.
        (PrevPlan::Fold(..), Some(l)) => Plan::Replay(*l, l.len),
        _ => plan(
            snap_header,
            log_header.as_ref().zip(log_bytes.as_ref().map(Vec::len)),
            &snap_path,
            &log_path,
        )?,
    };
    let legacy = snap.as_ref().is_some_and(|(h, _)| h.version == 1)
        || matches!(&plan, Plan::Replay(h, _) if h.version == 1);
    let snap_generation = snap.as_ref().map(|(h, _)| h.generation);
    let mut records = snap.map(|(_, r)| r).unwrap_or_default();
    let mut torn = 0u64;
    let prev = match prev_plan {
        PrevPlan::None => None,
        PrevPlan::Remove => {
            compactor::remove_prev(dir, &o.faults)?;
            None
        }
        PrevPlan::Fold(header, from) => {
            let bytes = prev_bytes.as_deref().unwrap_or_default();
            records.extend(compactor::decode_finished(
                bytes, from, &header, &prev_path,
            )?);
            Some(compactor::Job {
                generation: header.generation,
                len: bytes.len() as u64,
                at: 0,
            })
        }
    };

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
        history_len: o.history_len,
        lock,
        prev,
    });
    crate::observe::recovered(records.len(), torn, legacy, started.elapsed());
    Ok(Recovered { log, records })
}
