//! Publishing snapshots. A node's reader takes and keeps the snapshot lease and, while
//! it holds it, a [`Publisher`]: a second copy of the state, kept on a thread of its
//! own, which takes, encodes and uploads the snapshots and trims the stream. The
//! publisher's own reader publishes and trims from its copy while the node's lease
//! lasts.
//!
//! Taking a snapshot of a large state locks every stripe while it is copied, and
//! encoding and uploading it takes seconds at a million entries; on the stream
//! reader, that is time in which none of the node's own batches is applied and its
//! writers wait. The publisher reads the stream on its own connection into its own
//! engine (started from the published snapshot), so the node's reader's only part is
//! to keep the lease; the cost is a second copy of the state in memory on that one
//! node while it holds the lease.
//!
//! A publisher reports its position to the trimmer as `<node>-snapshots`, never takes
//! the announcer's lease, and reports its failures to the node's [`Monitor`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use super::{BLOCK, State};
use crate::background::stop_and_join;
use crate::engine::EngineBuilder;
use crate::error::Error;
use crate::health::Monitor;
use crate::replicate::snapshot;
use crate::replicate::{FIRST_BACKOFF, MAX_BACKOFF, Replica};
use crate::write::Pipeline;

/// Who publishes snapshots: a node's reader keeps the lease and a publisher while it
/// holds it; the publisher publishes while the lease lasts.
pub(crate) enum Publishing {
    /// A node's reader: takes the snapshot lease itself and, while it holds it, keeps
    /// a [`Publisher`] with a copy of the state `builder` builds.
    Lease {
        builder: EngineBuilder,
        publisher: Option<Publisher>,
        /// Publishers told to stop after the lease was lost, joined once they end.
        retired: Vec<Publisher>,
    },
    /// A publisher's reader: publishes until the node's lease ends, and reports what it
    /// published and what failed to the node's health.
    Delegated { until: Until, report: Arc<Monitor> },
}

impl State {
    /// Whether a snapshot is due (`snapshot_every`) or a trim (`trim_every`); resets
    /// the timers of what is.
    fn due(&mut self) -> (bool, bool) {
        let config = &self.replica.config;
        let pending = self.replica.applied.lock().since_snapshot;
        let snapshot = pending >= config.snapshot_every
            || (pending > 0 && self.snapshot_tried.elapsed() >= config.snapshot_interval);
        let trim = self.trim_tried.elapsed() >= config.trim_interval();
        if snapshot {
            self.snapshot_tried = Instant::now();
        }
        if snapshot || trim {
            self.trim_tried = Instant::now();
        }
        (snapshot, trim)
    }

    /// A node's part in publishing: when a snapshot or a trim is due, takes (or keeps)
    /// the snapshot lease, and while it holds it keeps a publisher that does the work
    /// off this thread (a [`Publisher`]); a node that lost the lease stops its own.
    pub(in crate::replicate) fn maybe_publish(&mut self, pipe: &Pipeline) -> Result<(), Error> {
        if let Publishing::Delegated { .. } = self.publishing {
            return self.publish_delegated(pipe);
        }
        let (snapshot, trim) = self.due();
        if let Publishing::Lease { retired, .. } = &mut self.publishing {
            retired.retain(|p| !p.finished());
        }
        if !snapshot && !trim {
            return Ok(());
        }
        let config = &self.replica.config;
        // Renewed when a job is due, after a read that may wait a whole `BLOCK`: held
        // long enough that a node idle between entries keeps it (and its publisher).
        let hold = (config.snapshot_interval.min(config.trim_interval()) * 2).max(BLOCK * 4);
        let replica = Arc::clone(&self.replica);
        let conn = self.reading()?;
        let held = snapshot::lease(&replica, conn, hold)?;
        replica.applied.lock().since_snapshot = 0;
        let Publishing::Lease {
            builder,
            publisher,
            retired,
        } = &mut self.publishing
        else {
            unreachable!("a publisher's reader returned above");
        };
        if !held {
            if let Some(gone) = publisher.take() {
                gone.retire();
                retired.push(gone);
            }
            return Ok(());
        }
        let until = Instant::now() + hold;
        match publisher {
            Some(running) if !running.finished() => running.renew(until),
            // Started when a snapshot is first due: a node that only trims keeps no
            // second copy of its state.
            _ if snapshot => {
                *publisher = Some(Publisher::start(
                    &replica,
                    builder.clone(),
                    Arc::clone(&pipe.monitor),
                    until,
                ));
            }
            _ => {
                *publisher = None;
                snapshot::trim(&replica, self.reading()?)?;
            }
        }
        Ok(())
    }

    /// A publisher's part: publishes a snapshot of its copy of the state if one is due,
    /// and trims the stream below it as far as the live nodes' positions allow, after
    /// each snapshot and once a trim interval, while the node's lease lasts.
    fn publish_delegated(&mut self, pipe: &Pipeline) -> Result<(), Error> {
        let Publishing::Delegated { until, report } = &self.publishing else {
            unreachable!("called for a publisher only");
        };
        let (until, report) = (Arc::clone(until), Arc::clone(report));
        if Instant::now() >= *until.lock() {
            return Ok(());
        }
        let (snapshot_due, trim_due) = self.due();
        if !snapshot_due && !trim_due {
            return Ok(());
        }
        let replica = Arc::clone(&self.replica);
        if !snapshot_due {
            snapshot::trim(&replica, self.reading()?)?;
            return Ok(());
        }
        let covered = self.state(pipe, |a| Ok(a.since_snapshot))?;
        let conn = self.reading()?;
        let publishing = !covered.state.is_empty();
        snapshot::publish(&replica, conn, covered.id, &covered.seen, covered.state)?;
        if publishing {
            let mut applied = replica.applied.lock();
            applied.since_snapshot = applied.since_snapshot.saturating_sub(covered.pending);
            report.snapshot_published();
        }
        Ok(())
    }
}

/// The publisher thread's name.
const PUBLISHER_THREAD: &str = "mutegate-snapshot-publisher";

/// Until when the node's lease lets its publisher publish.
pub(crate) type Until = Arc<Mutex<Instant>>;

/// A running publisher; stopped (and joined) when dropped.
pub(crate) struct Publisher {
    stop: Arc<AtomicBool>,
    until: Until,
    thread: Option<JoinHandle<()>>,
    monitor: Arc<Monitor>,
}

impl Publisher {
    /// Starts a publisher for `node`, in an engine `builder` builds, allowed to publish
    /// until `until`; it reports to `monitor`.
    pub fn start(
        node: &Replica,
        builder: EngineBuilder,
        monitor: Arc<Monitor>,
        until: Instant,
    ) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let until = Arc::new(Mutex::new(until));
        let replica = Arc::new(node.publisher());
        let (flag, lease, report) = (Arc::clone(&stop), Arc::clone(&until), Arc::clone(&monitor));
        let thread = std::thread::Builder::new()
            .name(PUBLISHER_THREAD.into())
            .spawn(move || run(&replica, builder, &flag, lease, &report))
            .expect("spawn the snapshot publisher thread");
        Publisher {
            stop,
            until,
            thread: Some(thread),
            monitor,
        }
    }

    /// The node renewed its lease: the publisher may publish until `until`.
    pub fn renew(&self, until: Instant) {
        *self.until.lock() = until;
    }

    /// Whether the publisher ended by itself (its error was reported).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks the publisher to stop without waiting for it (it may be in the middle of
    /// an upload): it publishes nothing more.
    pub fn retire(&self) {
        *self.until.lock() = Instant::now();
        self.stop.store(true, Ordering::Release);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        stop_and_join(
            &self.stop,
            self.thread.take(),
            PUBLISHER_THREAD,
            &self.monitor,
        );
    }
}

/// The publisher's thread: catches up, then reads, applies and publishes until asked
/// to stop or stopped by an entry it cannot apply.
fn run(
    replica: &Arc<Replica>,
    builder: EngineBuilder,
    stop: &AtomicBool,
    until: Until,
    report: &Arc<Monitor>,
) {
    let engine = builder
        .without_sweeper()
        .build_with(Arc::new(Monitor::default()), true);
    let pipe = engine.pipeline();
    let own = Arc::clone(&pipe.monitor);
    let publishing = Publishing::Delegated {
        until,
        report: Arc::clone(report),
    };
    let mut state = State::new(Arc::clone(replica), own, publishing);
    let mut backoff = FIRST_BACKOFF;
    let mut caught_up = false;
    while !stop.load(Ordering::Acquire) {
        let step = if caught_up {
            state.step(pipe, true).map(drop)
        } else {
            state.catch_up(pipe).map(|()| caught_up = true)
        }
        .and_then(|()| state.maybe_publish(pipe));
        match step {
            Ok(()) => backoff = FIRST_BACKOFF,
            Err(e @ Error::Replication { .. }) => {
                // The node's reader meets the same entry (or gap) and stops; the
                // publisher is started again, from the newest snapshot, if it goes on.
                report.replication_failed(e);
                break;
            }
            Err(e) => {
                report.replication_failed(e);
                std::thread::park_timeout(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    state.forget();
}
