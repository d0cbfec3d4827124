//! Operations, events, snapshots, syncing, expiry and health.

use super::*;

impl Engine {
    /// Applies one operation, as a mutation call would, after validating its ids and
    /// batches. Idempotent: applying the same operation twice leaves the same state.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty or over-large batch, or a module change that
    /// names no module. The engine is unchanged after an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Actions, Engine, Expiry, Op, Target};
    ///
    /// let engine = Engine::new();
    /// let op = Op::MuteRoom { room: "r1".into(), until: Expiry::Never, actions: Actions::ALL };
    /// engine.apply(op.clone())?;
    /// engine.apply(op)?;
    /// assert!(!engine.can_send("ann", Target::room("r1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn apply(&self, op: Op) -> Result<(), Error> {
        self.blocking().apply(op).wait()
    }

    /// Calls `subscriber` with every [`Event`] from now on, after each mutation and each
    /// sweep, with no engine lock held. A panicking subscriber is contained: the engine
    /// and the other subscribers carry on. Events of concurrent mutations may arrive in
    /// either order.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Event, MuteFor};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let engine = Engine::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// engine.subscribe(move |e: &Event| sink.lock().unwrap().push(e.clone()));
    /// engine.mute_room("r1", MuteFor::Forever)?;
    /// assert!(matches!(seen.lock().unwrap()[0], Event::Muted { .. }));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn subscribe(&self, subscriber: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.subscribers.add(Arc::new(subscriber));
    }

    /// Writes the whole state to `out`: a consistent cut, taken between two mutations,
    /// that [`restore`](Engine::restore) reads back. Mutes that have ended are left out.
    /// The state is captured under the writer lock; `out` is written after it is released.
    /// Entries are written in a canonical order (by user, then by room), so two engines
    /// with the same state at the same time write the same bytes, whatever order their
    /// tables keep: converged replicas can be compared byte for byte.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if writing to `out` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, Target};
    ///
    /// let engine = Engine::new();
    /// engine.mute_members("r1", ["bob"], MuteFor::Forever)?;
    /// let mut bytes = Vec::new();
    /// engine.snapshot(&mut bytes)?;
    /// let copy = Engine::new();
    /// copy.restore(&mut bytes.as_slice())?;
    /// assert!(!copy.can_send("bob", Target::room("r1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), Error> {
        write_snapshot(&self.canonical(None), out)
    }

    /// Writes the state in force at `at_ms` (ms since the Unix epoch) to `out`, in the
    /// format of [`snapshot`](Engine::snapshot), every record stamped `at_ms`: the same
    /// bytes on every engine that applied the same mutations, whatever its clock said
    /// when it ran, as long as `at_ms` is no earlier than any of their clocks (each
    /// engine frees ended entries on its own clock, so an instant in its past may lack
    /// what ended on one engine and not yet on another). To compare converged nodes on
    /// the system clock, pick one instant a few seconds ahead and pass it to each (or
    /// compare their [`digest`](Engine::digest)s). [`restore`](Engine::restore) reads
    /// it like any snapshot; mutes that end before `at_ms` are left out.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if writing to `out` fails.
    pub fn snapshot_at(&self, at_ms: u64, out: &mut dyn std::io::Write) -> Result<(), Error> {
        write_snapshot(&self.canonical(Some(at_ms)), out)
    }

    /// The SHA-256 of [`snapshot_at(at_ms)`](Engine::snapshot_at)'s bytes, in lowercase
    /// hex: equal on converged nodes given the same `at_ms` (no earlier than any of
    /// their clocks), and what `sha256sum` prints for the bytes `snapshot_at` wrote.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Actions, Engine, Expiry, Op};
    /// use std::time::{SystemTime, UNIX_EPOCH};
    ///
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    /// let op = Op::MuteRoom { room: "r1".into(), until: Expiry::At(now + 600_000), actions: Actions::ALL };
    /// let (a, b) = (Engine::new(), Engine::new());
    /// a.apply(op.clone())?;
    /// std::thread::sleep(std::time::Duration::from_millis(5)); // their clocks differ
    /// b.apply(op)?;
    /// let at = now + 1_000;
    /// assert_eq!(a.digest(at), b.digest(at));
    /// assert_ne!(a.digest(at), Engine::new().digest(at));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn digest(&self, at_ms: u64) -> String {
        use sha2::Digest as _;
        crate::hex::lower(&sha2::Sha256::digest(self.canonical(Some(at_ms))))
    }

    /// The canonical snapshot of the state in force at `at` (the clock's now if
    /// `None`), taken between two mutations.
    fn canonical(&self, at: Option<u64>) -> Vec<u8> {
        let (at, ops) = {
            let _writer = self.inner.writer.lock();
            let _all = self.inner.stripes.lock_all();
            let at = at.unwrap_or_else(|| self.inner.clock.now_ms());
            (at, self.inner.tables.to_ops(at))
        };
        codec::canonical_snapshot(ops, at)
    }

    /// Reads a snapshot written by [`snapshot`](Engine::snapshot) and applies it to this
    /// engine (logged, if the engine is durable). The whole snapshot is decoded and
    /// checked before anything is applied. Returns how many operations it held.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the snapshot is damaged, an id or batch error if it holds
    /// an operation this engine's limits refuse (in both cases nothing is applied), or a
    /// log error of a durable engine.
    pub fn restore(&self, input: &mut dyn std::io::Read) -> Result<usize, Error> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes).map_err(|e| Error::Io {
            op: "read",
            path: "snapshot".into(),
            message: e.to_string(),
        })?;
        let (_, records) =
            codec::read_snapshot(&bytes).map_err(|(offset, what)| Error::Corrupt {
                path: "snapshot".into(),
                offset: offset as u64,
                what,
            })?;
        let n = records.len();
        records
            .iter()
            .try_for_each(|r| r.op.validate(&self.limits))?;
        // All queued at once, so they go out in large batches.
        let tickets: Vec<Ticket<()>> = records
            .into_iter()
            .map(|r| self.submit().apply(r.op))
            .collect();
        tickets.into_iter().try_for_each(Ticket::wait)?;
        Ok(n)
    }

    /// Syncs a durable engine's log to stable storage now, whatever its policy.
    ///
    /// Locking behaviour: holds the writer lock for one `fdatasync`, so mutations wait.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the sync fails; the store then stops taking mutations until it is
    /// reopened (after a failed fsync the log cannot know what reached the disk), as
    /// [`Engine::health`] shows. An in-memory engine has nothing to sync.
    pub fn sync(&self) -> Result<(), Error> {
        let writer = self.inner.writer.lock();
        writer.sequencer.sync()
    }

    /// Compacts a durable engine's store now and waits for it: the log so far is folded
    /// into the snapshot, so reopening replays only what came after. Compaction also
    /// runs by itself once the log grows past
    /// [`compact_after`](EngineBuilder::compact_after); this is for a caller that wants
    /// it at a moment of its choosing (before a backup of the directory, say).
    ///
    /// Locking behaviour: mutations wait only while the log switches to its next
    /// generation (one `fdatasync`, a link and a small file renamed into place); the
    /// snapshot is written by the compactor thread while they go on. A compaction
    /// already running is waited for first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] (or [`Error::Corrupt`], if a file of the store was damaged under
    /// it) if the compaction failed; nothing is lost, the failure is also reported in
    /// [`Engine::health`], and compaction is retried after a backoff. An in-memory
    /// engine has nothing to compact.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, Target};
    ///
    /// let dir = std::env::temp_dir().join(format!("mutegate-compact-{}", std::process::id()));
    /// let engine = Engine::builder().open(&dir)?;
    /// engine.mute_members("r1", ["bob"], MuteFor::Forever)?;
    /// engine.compact()?;
    /// assert_eq!(engine.health().compactions, 1);
    /// drop(engine);
    /// let engine = Engine::builder().open(&dir)?;
    /// assert!(!engine.can_send("bob", Target::room("r1")));
    /// # drop(engine);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn compact(&self) -> Result<(), Error> {
        loop {
            let started = {
                let mut writer = self.inner.writer.lock();
                let now = self.inner.clock.now_ms();
                writer.sequencer.compact(now)?
            };
            match started {
                Compaction::Nothing => return Ok(()),
                Compaction::Covering(waiter) => return waiter.wait(),
                Compaction::Busy(waiter) => waiter.wait()?,
            }
        }
    }

    /// Waits for background compaction in flight (tests only).
    #[cfg(test)]
    pub(crate) fn settle(&self) {
        let waiter = self.inner.writer.lock().sequencer.waiter();
        if let Some(waiter) = waiter {
            // A failed attempt is in `health()` (counted, with its error and retry time),
            // which is what the tests read.
            let _ = waiter.wait();
        }
    }

    /// What the durable store and the background threads have run into: whether the
    /// store has stopped taking writes, failed compactions and their retry time, failed
    /// syncs, and panics caught in background threads and subscribers. An in-memory
    /// engine reports only the panics. Cheap: copies one small struct under a lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let engine = mutegate::Engine::new();
    /// assert!(engine.health().is_healthy());
    /// ```
    #[must_use]
    pub fn health(&self) -> Health {
        self.inner.monitor.report()
    }

    /// When the next mute still in force ends, if any has an end.
    #[must_use]
    pub fn next_expiry(&self) -> Option<Expiry> {
        self.inner.next_expiry().map(Expiry::At)
    }

    /// Frees every mute that has ended and announces each with one [`Event::Expired`].
    /// Returns how many were freed. Expired state already reads as absent; sweeping
    /// reclaims its memory and tells subscribers.
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }
}

/// Writes snapshot `bytes` to `out`.
fn write_snapshot(bytes: &[u8], out: &mut dyn std::io::Write) -> Result<(), Error> {
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::Io {
            op: "write",
            path: "snapshot".into(),
            message: e.to_string(),
        })
}
