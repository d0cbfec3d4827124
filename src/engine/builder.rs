//! [`EngineBuilder`]: configuring and opening an engine.

use super::*;

/// Configures an [`Engine`]: clock, limits, exempt roles, allow-list policy, shards.
///
/// # Examples
///
/// ```
/// use mutegate::{AllowPolicy, Engine, ManualClock, Role};
///
/// let engine = Engine::builder()
///     .clock(ManualClock::new(0))
///     .exempt_roles([Role::Owner])
///     .allow_policy(AllowPolicy::AllowListWins)
///     .shards(8)
///     .build();
/// # let _ = engine;
/// ```
#[must_use]
#[derive(Clone)]
pub struct EngineBuilder {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) limits: Limits,
    pub(super) exempt: RoleSet,
    pub(super) policy: AllowPolicy,
    pub(super) shards: Option<NonZeroUsize>,
    pub(super) capacity_hint: usize,
    pub(super) sweep_every: Option<Duration>,
    pub(super) sync: SyncPolicy,
    pub(super) compact_after: u64,
    pub(super) faults: Arc<Faults>,
    pub(super) ladder: Ladder,
    pub(super) history_len: usize,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("limits", &self.limits)
            .field("exempt", &self.exempt)
            .field("policy", &self.policy)
            .field("shards", &self.shards)
            .field("capacity_hint", &self.capacity_hint)
            .field("history_len", &self.history_len)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// The clock to read time from (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Input limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Roles that may speak through a room-wide mute (default: owner and admin).
    pub fn exempt_roles(mut self, roles: impl IntoIterator<Item = crate::Role>) -> Self {
        self.exempt = RoleSet::from_roles(roles);
        self
    }

    /// The escalation ladder of rooms without their own (default [`Ladder::default`]).
    /// Give every node of a cluster the same one: a strike carries the ladder it was
    /// made with, so nodes never disagree on a mute, but which ladder a new strike
    /// gets is the node's.
    pub fn ladder(mut self, ladder: Ladder) -> Self {
        self.ladder = ladder;
        self
    }

    /// How many moderation entries to keep per subject (default
    /// [`DEFAULT_HISTORY_LEN`](crate::DEFAULT_HISTORY_LEN), at most
    /// [`MAX_HISTORY_LEN`](crate::MAX_HISTORY_LEN): a larger `len` is not refused but
    /// taken as that most, 1000, without a word; 0 keeps
    /// no history and announces no [`Event::Moderated`](crate::Event::Moderated): trails
    /// then only travel in the log and the replication stream). Each subject moderated with a trail keeps its last `len` entries,
    /// so the history's memory is at most `len` entries per subject ever moderated,
    /// until [`Engine::remove_user`](crate::Engine::remove_user) or
    /// [`Engine::remove_room`](crate::Engine::remove_room) purges it. A store keeps the
    /// histories of the length it was written with until it is compacted with another.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MAX_HISTORY_LEN};
    ///
    /// assert_eq!(Engine::builder().history_len(20).build().history_len(), 20);
    /// // Over the most is not an error: it is the most.
    /// assert_eq!(Engine::builder().history_len(5_000).build().history_len(), MAX_HISTORY_LEN);
    /// ```
    pub fn history_len(mut self, len: usize) -> Self {
        self.history_len = len.min(crate::trail::MAX_HISTORY_LEN);
        self
    }

    /// What wins when an allow-listed member is individually muted
    /// (default [`AllowPolicy::MuteWins`]).
    pub fn allow_policy(mut self, policy: AllowPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many lock shards each table has. Rounded up to a power of two, at least 2
    /// (default: four per CPU, as DashMap does).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = NonZeroUsize::new(shards.max(2).next_power_of_two());
        self
    }

    /// About how many users and rooms with state the engine will hold (default 65,536).
    ///
    /// Sizes the lock-free filters that let checks on ids with no state skip the tables:
    /// four one-byte counters per expected entry in each of four filters (between 4 KiB
    /// and 16 MiB each; default 65,536 entries). A low hint costs speed, never
    /// correctness.
    ///
    /// Hint the mute entries you expect to hold, not the users you have: the filters
    /// count entries, and filters sized for every user outgrow the cache. Measured
    /// (`BENCHMARKS.md`, "Scaling"): with 5% of users holding state, a hint equal to
    /// the user count made `can_send` 1.4x slower than the default at 100k users and
    /// 1.2x at 1M, while hinting the entries was the fastest or within 8% of it from 10k
    /// to 4M users; past about 1M entries the default saturates and checks on ids
    /// without state start to touch the tables.
    pub fn capacity_hint(mut self, ids: usize) -> Self {
        self.capacity_hint = ids;
        self
    }

    /// Runs a background sweeper thread that frees ended mutes and announces them
    /// ([`Event::Expired`]) within `every` of their end (default: no sweeper). The thread
    /// is stopped and joined when the engine is dropped.
    pub fn sweeper(mut self, every: Duration) -> Self {
        self.sweep_every = Some(every.max(Duration::from_millis(1)));
        self
    }

    /// The same settings without a sweeper (for an engine that only mirrors another's
    /// state, such as a snapshot publisher's copy).
    #[cfg(feature = "redis")]
    pub(crate) fn without_sweeper(mut self) -> Self {
        self.sweep_every = None;
        self
    }

    /// When an engine opened on a directory syncs its log (default
    /// [`SyncPolicy::Every`] 10 ms). Has no effect on an in-memory engine.
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// The log size in bytes past which it is compacted into a snapshot (default 64 MiB).
    pub fn compact_after(mut self, bytes: u64) -> Self {
        self.compact_after = bytes.max(codec::HEADER as u64 + 1);
        self
    }

    /// Opens a durable engine on `dir` (created if missing): every acknowledged mutation
    /// is in its operation log before the call returns, and reopening gives back exactly
    /// the acknowledged state (mutes that ended meanwhile dropped). A torn final record
    /// left by a crash, or zeros after the last record (a filesystem that grew the file
    /// but lost the data in a power cut), is truncated; damage anywhere else, headers
    /// included, is an error naming the file and the byte offset. A store written in
    /// format 1 is read and rewritten in format 2. Files in `dir` other than `ops.log`,
    /// `state.snap`, `lock` and their `.tmp` siblings are never touched.
    ///
    /// The engine holds a lock on the directory (`dir/lock`) until it is dropped: a second
    /// engine on the same directory, in this process or another, is refused. Dropping the
    /// engine frees it at once; the OS releases it when the process ends, crash or not.
    ///
    /// Failures of the store after opening (a failed compaction, a failed background
    /// sync) are reported by [`Engine::health`]; the README's durability section lists
    /// what each fault costs.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if another engine has the directory open, [`Error::Io`] if the
    /// directory or its files cannot be read or written, [`Error::Corrupt`] if a file is
    /// damaged.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, SyncPolicy, Target};
    ///
    /// let dir = std::env::temp_dir().join(format!("mutegate-doc-{}", std::process::id()));
    /// let engine = Engine::builder().sync(SyncPolicy::EveryWrite).open(&dir)?;
    /// engine.mute_members("r1", ["bob"], MuteFor::Forever)?;
    /// drop(engine);
    /// let engine = Engine::builder().open(&dir)?;
    /// assert!(!engine.can_send("bob", Target::room("r1")));
    /// # drop(engine);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn open(self, dir: impl AsRef<std::path::Path>) -> Result<Engine, Error> {
        let monitor = Arc::new(Monitor::default());
        let options = durable::Options {
            policy: self.sync,
            compact_after: self.compact_after,
            monitor: Arc::clone(&monitor),
            faults: Arc::clone(&self.faults),
            history_len: self.history_len,
        };
        let recovered = durable::open(dir.as_ref(), options)?;
        let engine = self.build_with(monitor, false);
        {
            let mut writer = engine.inner.writer.lock();
            let tables = &engine.inner.tables;
            for record in recovered.records {
                tables.apply(record.op, record.at, &mut change::Ignore);
            }
            engine.inner.stripes.lock_all().rebuild(tables);
            writer.sequencer = Box::new(recovered.log);
            // A generation a crash left unfolded goes to the compactor now.
            writer.sequencer.committed(engine.inner.clock.now_ms());
        }
        // Mutes that ended while the engine was closed go now (no subscriber yet).
        engine.inner.sweep();
        #[cfg(feature = "metrics")]
        {
            let s = engine.stats();
            engine.inner.entries.set([
                s.notification_mutes,
                s.member_mutes,
                s.module_mutes,
                s.room_mutes,
                s.allow_entries,
                s.sender_mutes,
            ]);
        }
        Ok(engine)
    }

    /// Injects I/O failures into the store (tests only).
    #[cfg(test)]
    pub(crate) fn faults(mut self, faults: Arc<Faults>) -> Self {
        self.faults = faults;
        self
    }

    /// Builds the engine.
    #[must_use]
    pub fn build(self) -> Engine {
        self.build_with(Arc::default(), true)
    }

    pub(crate) fn build_with(self, monitor: Arc<Monitor>, in_memory: bool) -> Engine {
        let shards = self.shards.map_or_else(
            || {
                let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
                (cpus * 4).next_power_of_two()
            },
            NonZeroUsize::get,
        );
        let filter_slots = self
            .capacity_hint
            .saturating_mul(4)
            .clamp(1 << 12, 1 << 24)
            .next_power_of_two();
        let tables = Tables::new(shards, filter_slots, self.history_len);
        let inner = Arc::new(Pipeline::new(tables, self.clock, monitor, in_memory));
        let sweeper = self
            .sweep_every
            .map(|every| spawn_sweeper(Arc::clone(&inner), every));
        let sequencer = spawn_sequencer(&inner);
        Engine {
            _sweeper: sweeper,
            _attached: None,
            _sequencer: Some(sequencer),
            inner,
            limits: self.limits,
            exempt: self.exempt,
            policy: self.policy,
            ladder: self.ladder,
        }
    }
}
