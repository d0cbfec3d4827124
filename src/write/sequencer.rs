//! The seams between the pipeline and where operations are kept: a [`Sequencer`] makes a
//! batch durable on this node (the local log, or nowhere); a [`Stream`] takes whole
//! batches to a log it shares with other nodes and answers them from its own reader
//! (replication). The pipeline names only these traits; what implements them names the
//! pipeline, never the other way round.

use std::fmt;
use std::sync::Arc;

use super::{Batch, Finished, Pipeline};
use crate::error::Error;
use crate::op::Op;

/// Decides that an operation is next, and makes it durable: the seam between the
/// pipeline and where operations are kept on this node (the local log).
pub(crate) trait Sequencer: Send {
    /// Makes `ops` (each with the engine time it is applied at) durable, in this
    /// order: all of them, or (on an error) none of them.
    fn commit(&mut self, ops: &[(u64, &Op)]) -> Result<(), Error>;

    /// The batch was applied, as of `now`: time for background work (compaction) to
    /// start, if it is due. Never waits for that work.
    fn committed(&mut self, now: u64);

    /// Makes everything committed so far durable now.
    fn sync(&self) -> Result<(), Error>;

    /// Starts compacting everything committed so far, if there is anything to compact.
    fn compact(&mut self, _now: u64) -> Result<Compaction, Error> {
        Ok(Compaction::Nothing)
    }

    /// A handle that waits for background work in flight, if the sequencer has any.
    #[cfg_attr(not(test), expect(dead_code, reason = "tests wait for the compactor"))]
    fn waiter(&self) -> Option<Waiter> {
        None
    }
}

/// An engine with no store: every batch is "durable" at once.
pub(crate) struct InMemory;

impl Sequencer for InMemory {
    fn commit(&mut self, _: &[(u64, &Op)]) -> Result<(), Error> {
        Ok(())
    }
    fn committed(&mut self, _: u64) {}
    fn sync(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// What asking a sequencer for a compaction now started.
#[derive(Debug)]
pub(crate) enum Compaction {
    /// Nothing is kept that could be compacted.
    Nothing,
    /// A compaction covering everything committed so far: wait for it.
    Covering(Waiter),
    /// An earlier compaction is running: wait for it, then ask again.
    Busy(Waiter),
}

/// A handle that waits for a sequencer's background work to be idle.
#[derive(Clone)]
pub(crate) struct Waiter(Arc<dyn Fn() -> Result<(), Error> + Send + Sync>);

impl Waiter {
    /// A handle whose [`wait`](Waiter::wait) calls `wait`.
    pub fn new(wait: impl Fn() -> Result<(), Error> + Send + Sync + 'static) -> Waiter {
        Waiter(Arc::new(wait))
    }

    /// Waits until no background work is queued or running; returns how the last
    /// attempt ended (`Ok` if none was made).
    pub fn wait(&self) -> Result<(), Error> {
        (self.0)()
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waiter")
    }
}

/// A log shared with other nodes that orders this node's batches among theirs
/// (replication, feature `redis`): it takes whole batches, and its callers are answered
/// once their node applied their entries, which its own reader does.
pub(crate) trait Stream: Send + Sync {
    /// Sends `batch` (if it holds anything) and reads the replies of batches in flight;
    /// `None` if there was nothing to send or read. `more_queued` says whether requests
    /// wait behind this batch (a pipelining stream may then send without waiting).
    fn pump(
        &self,
        pipe: &Pipeline,
        batch: Batch,
        more_queued: &dyn Fn() -> bool,
    ) -> Option<Finished>;

    /// Up to when a sweep at `now` frees ended entries silently (0: nothing), then up to
    /// when it frees and announces them (`None`: nothing).
    fn sweep_plan(&self, now: u64) -> (u64, Option<u64>);

    /// A sweep announced every entry that ended up to `now`.
    fn swept(&self, now: u64);
}
