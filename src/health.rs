//! What an engine's store and background threads have run into: [`Health`], read with
//! [`Engine::health`](crate::Engine::health). Failures that no caller would otherwise
//! see (a background fsync, a compaction, a panic in a clock or a subscriber) are
//! counted here instead of being dropped.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::error::Error;

/// A report on an engine's durable store and background work.
///
/// A healthy engine has `stopped == None` and `compaction_failures == 0`. The counters
/// count since the engine was built or opened.
///
/// # Examples
///
/// ```
/// let engine = mutegate::Engine::new();
/// let health = engine.health();
/// assert!(health.is_healthy());
/// assert_eq!(health.background_panics, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Set when the durable store has stopped taking mutations (fail-stop), with the
    /// failure that stopped it: every mutation returns [`Error::Io`] until the directory
    /// is reopened. Checks keep answering from memory. A replicated engine is stopped
    /// with [`Error::Replication`] until it is rebuilt, except at an entry it cannot
    /// apply: then it is stopped until an operator removes the entry
    /// ([`Replication::remove_halted`](crate::Replication::remove_halted)).
    pub stopped: Option<Error>,
    /// Compactions that succeeded.
    pub compactions: u64,
    /// Compactions that failed since the last one that succeeded. Each failure leaves
    /// the log and snapshot as they were (the log keeps growing) and is retried with
    /// backoff: 1 s after the first, doubling to at most 60 s, on the engine's clock.
    pub compaction_failures: u64,
    /// The last compaction failure.
    pub last_compaction_error: Option<Error>,
    /// When (engine clock, ms) the next mutation may try compacting again, while
    /// compactions are failing.
    pub compaction_retry_at_ms: Option<u64>,
    /// Log syncs that failed (in the background thread or in [`Engine::sync`]); each
    /// stops the store, since the log can no longer say what reached the disk.
    ///
    /// [`Engine::sync`]: crate::Engine::sync
    pub sync_failures: u64,
    /// Panics caught in a background thread (the sweeper, the log sync); the thread
    /// carried on.
    pub background_panics: u64,
    /// Panics caught in event subscribers; the other subscribers still ran.
    pub subscriber_panics: u64,
    /// What the last caught panic said, and where.
    pub last_panic: Option<String>,
    /// Failed attempts of a replicated engine to reach its Redis (connections, reads,
    /// appends); each is retried with backoff. A replicated engine whose reader hit an
    /// entry it cannot apply, or lost history, is `stopped` instead.
    pub replication_failures: u64,
    /// The last of those failures.
    pub last_replication_error: Option<Error>,
    /// Snapshots this replicated engine published to Redis.
    pub snapshots_published: u64,
    /// Where a replicated engine is in its stream, as its reader last saw it (it looks
    /// about once a second); `None` for an engine that does not replicate, or before its
    /// reader first looked.
    pub stream: Option<StreamHealth>,
}

/// Where a replicated engine is in its stream: [`Health::stream`].
///
/// Ids are stream ids (`ms-seq`, on Redis's clock); the ages and distances are measured
/// when the reader last looked, so a node that stopped looking shows the figures of
/// its last look (and [`Health::stopped`] says why).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamHealth {
    /// The last entry this node applied (`0-0`: none).
    pub applied_id: String,
    /// The stream's newest entry (`0-0`: the stream is empty).
    pub newest_id: String,
    /// Entries in the stream after `applied_id`, counted up to
    /// [`BEHIND_COUNTED`](crate::BEHIND_COUNTED) (more shows as that many).
    pub behind_entries: u64,
    /// How much later the newest entry was appended than the last one applied, in ms.
    pub behind_ms: u64,
    /// The published snapshot's id (the entries it covers end there), if there is one.
    pub snapshot_id: Option<String>,
    /// How long ago, in ms, that snapshot was published (by Redis's clock). `None`
    /// for a snapshot written by a version that did not record when.
    pub snapshot_age_ms: Option<u64>,
}

/// The most entries [`StreamHealth::behind_entries`] counts.
pub const BEHIND_COUNTED: u64 = 1024;

impl Health {
    /// Whether the store takes writes and compactions are not failing.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.stopped.is_none() && self.compaction_failures == 0
    }
}

/// The engine's shared, internal record of its health.
#[derive(Debug, Default)]
pub(crate) struct Monitor {
    stopped: AtomicBool,
    health: Mutex<Health>,
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".into())
}

impl Monitor {
    /// A copy of the current report.
    pub fn report(&self) -> Health {
        self.health.lock().clone()
    }

    /// The failure that stopped the store, if it is stopped.
    #[inline]
    pub fn stopped(&self) -> Option<Error> {
        if !self.stopped.load(Ordering::Acquire) {
            return None;
        }
        self.health.lock().stopped.clone()
    }

    /// Stops the store (the first failure is kept).
    pub fn stop(&self, why: Error) {
        let mut h = self.health.lock();
        if h.stopped.is_none() {
            crate::observe::stopped(&why);
            h.stopped = Some(why);
        }
        self.stopped.store(true, Ordering::Release);
    }

    /// Lifts the stop if `why` is what stopped the store (a replicated node whose bad
    /// entry was removed); whether it did.
    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "replication only"))]
    pub fn resume(&self, why: &Error) -> bool {
        let mut h = self.health.lock();
        if h.stopped.as_ref() != Some(why) {
            return false;
        }
        crate::observe::resumed(why);
        h.stopped = None;
        self.stopped.store(false, Ordering::Release);
        true
    }

    /// Gives the stop a new reason, `now`, if `why` is what stopped the store (a
    /// replicated node that met a failure it cannot wait out while it waited at a bad
    /// entry); stops the store with `now` if it is not stopped.
    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "replication only"))]
    pub fn stop_instead(&self, why: &Error, now: Error) {
        let mut h = self.health.lock();
        if h.stopped.is_none() || h.stopped.as_ref() == Some(why) {
            crate::observe::stopped(&now);
            h.stopped = Some(now);
        }
        self.stopped.store(true, Ordering::Release);
    }

    pub fn sync_failed(&self, error: Error) {
        self.health.lock().sync_failures += 1;
        self.stop(error);
    }

    pub fn compaction_failed(&self, error: Error, retry_at_ms: u64) {
        let mut h = self.health.lock();
        h.compaction_failures += 1;
        h.last_compaction_error = Some(error);
        h.compaction_retry_at_ms = Some(retry_at_ms);
    }

    pub fn compaction_done(&self) {
        let mut h = self.health.lock();
        h.compactions += 1;
        h.compaction_failures = 0;
        h.compaction_retry_at_ms = None;
    }

    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "replication only"))]
    pub fn replication_failed(&self, error: Error) {
        crate::observe::replication_failed(&error);
        let mut h = self.health.lock();
        h.replication_failures += 1;
        h.last_replication_error = Some(error);
    }

    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "replication only"))]
    pub fn stream_seen(&self, stream: StreamHealth) {
        crate::observe::stream_seen(
            stream.behind_entries,
            stream.behind_ms,
            stream.snapshot_age_ms,
        );
        self.health.lock().stream = Some(stream);
    }

    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "replication only"))]
    pub fn snapshot_published(&self) {
        self.health.lock().snapshots_published += 1;
    }

    pub fn background_panicked(&self, thread: &str, message: &str) {
        crate::observe::panicked(thread, message);
        let mut h = self.health.lock();
        h.background_panics += 1;
        h.last_panic = Some(format!("background thread {thread}: {message}"));
    }

    pub fn subscriber_panicked(&self, message: &str) {
        crate::observe::panicked("event subscriber", message);
        let mut h = self.health.lock();
        h.subscriber_panics += 1;
        h.last_panic = Some(format!("event subscriber: {message}"));
    }
}
