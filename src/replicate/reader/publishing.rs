//! The reader's part in publishing snapshots: a node's reader takes and keeps the
//! snapshot lease and, while it holds it, a publisher (see `replicate::publisher`);
//! a publisher's reader publishes and trims from its copy of the state while the
//! node's lease lasts.

use std::sync::Arc;
use std::time::Instant;

use super::{BLOCK, State};
use crate::engine::{EngineBuilder, Inner};
use crate::error::Error;
use crate::health::Monitor;
use crate::replicate::publisher::{Publisher, Until};
use crate::replicate::snapshot;

/// Who publishes snapshots: a node's reader keeps the lease and a publisher while it
/// holds it; the publisher publishes while the lease lasts.
pub(crate) enum Publishing {
    /// A node's reader: takes the snapshot lease itself and, while it holds it, keeps
    /// a publisher (see `publisher`) with a copy of the state `builder` builds.
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
    /// off this thread (see `publisher`); a node that lost the lease stops its own.
    pub(in crate::replicate) fn maybe_publish(&mut self, inner: &Inner) -> Result<(), Error> {
        if let Publishing::Delegated { .. } = self.publishing {
            return self.publish_delegated(inner);
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
                    Arc::clone(&inner.monitor),
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
    fn publish_delegated(&mut self, inner: &Inner) -> Result<(), Error> {
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
        let covered = self.state(inner, |a| Ok(a.since_snapshot))?;
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
