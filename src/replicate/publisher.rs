//! The snapshot publisher: a second copy of the state, kept on a thread of its own by
//! the node that holds the snapshot lease, which takes, encodes and uploads the
//! snapshots and trims the stream.
//!
//! Taking a snapshot of a large state locks every stripe while it is copied, and
//! encoding and uploading it takes seconds at a million entries; on the stream
//! reader, that is time in which none of the node's own batches is applied and its
//! writers wait. The publisher reads the stream on its own connection into its own
//! engine (started from the published snapshot), so the reader's only part is to keep
//! the lease; the cost is a second copy of the state in memory on that one node while
//! it holds the lease.
//!
//! It reports its position to the trimmer as `<node>-snapshots`, never takes the
//! announcer's lease, and reports its failures to the node's [`Monitor`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use super::reader::{Publishing, State};
use super::{FIRST_BACKOFF, MAX_BACKOFF, Replica};
use crate::background::stop_and_join;
use crate::engine::EngineBuilder;
use crate::error::Error;
use crate::health::Monitor;

/// The publisher thread's name.
const THREAD: &str = "mutegate-snapshot-publisher";

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
            .name(THREAD.into())
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
        stop_and_join(&self.stop, self.thread.take(), THREAD, &self.monitor);
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
    let inner = &engine.inner;
    let own = Arc::clone(&inner.monitor);
    let publishing = Publishing::Delegated {
        until,
        report: Arc::clone(report),
    };
    let mut state = State::new(Arc::clone(replica), own, publishing);
    let mut backoff = FIRST_BACKOFF;
    let mut caught_up = false;
    while !stop.load(Ordering::Acquire) {
        let step = if caught_up {
            state.step(inner, true).map(drop)
        } else {
            state.catch_up(inner).map(|()| caught_up = true)
        }
        .and_then(|()| state.maybe_publish(inner));
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
