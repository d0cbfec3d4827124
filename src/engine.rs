//! The [`Engine`]: its builder, its mutations and its listings. Checks are in `check.rs`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::background::Background;
use crate::change::{self, Change, Expiries};
use crate::clock::{Clock, SystemClock};
use crate::codec;
use crate::durable::{self, Faults, Log, SyncPolicy};
use crate::error::{Error, IdKind, check_id};
use crate::event::{Event, Subscribers};
use crate::expiry::{Expiry, MuteFor, NONE, active};
use crate::health::{Health, Monitor};
use crate::limits::Limits;
use crate::module::{Module, ModuleChange, ModuleStatus};
use crate::notify::{NotifyLevel, NotifySetting};
use crate::observe::{self, Mutation};
use crate::op::Op;
use crate::role::{AllowPolicy, RoleSet};
use crate::stats::Stats;
use crate::store::{Key, Tables};

/// The mute engine: all four kinds of mute state, and the checks over them.
///
/// `Send + Sync`; share it with `Arc`. Every method takes `&self`. See the
/// [crate docs](crate) for the consistency model.
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, MuteFor, Target};
///
/// let engine = Engine::new();
/// engine.mute_members("room1", ["bob"], MuteFor::Forever)?;
/// assert!(!engine.can_send("bob", Target::room("room1")));
/// assert!(engine.can_send("ann", Target::room("room1")));
/// # Ok::<(), mutegate::Error>(())
/// ```
pub struct Engine {
    /// Declared first so it is stopped before anything else is dropped.
    _sweeper: Option<Background>,
    pub(crate) inner: Arc<Inner>,
}

/// The engine's state, shared with its background sweeper.
pub(crate) struct Inner {
    pub(crate) tables: Tables,
    /// Serializes mutations: each is one operation, applied whole before the next.
    writer: Mutex<Writer>,
    pub(crate) clock: Box<dyn Clock>,
    limits: Limits,
    pub(crate) exempt: RoleSet,
    pub(crate) policy: AllowPolicy,
    subscribers: Subscribers,
    /// What background work and the store have run into.
    monitor: Arc<Monitor>,
    /// Entries stored, by kind, for the `mutegate_entries` gauge.
    entries: observe::Entries,
}

/// What only the (serialized) writer touches.
#[derive(Default)]
struct Writer {
    expiries: Expiries,
    /// The operation log, for an engine opened on a directory.
    log: Option<Log>,
}

/// Starts the background sweeper: sweeps, then sleeps until the next end, but never
/// longer than `every` (a mutation may have added an earlier end meanwhile).
fn spawn_sweeper(inner: Arc<Inner>, every: Duration) -> Background {
    let monitor = Arc::clone(&inner.monitor);
    Background::spawn("mutegate-sweeper", monitor, move || {
        inner.sweep();
        let now = inner.clock.now_ms();
        inner.next_expiry().map_or(every, |t| {
            Duration::from_millis(t.saturating_sub(now)).min(every)
        })
    })
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("users", &self.inner.tables.users.len())
            .field("rooms", &self.inner.tables.rooms.len())
            .field("limits", &self.inner.limits)
            .field("exempt", &self.inner.exempt)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

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
pub struct EngineBuilder {
    clock: Box<dyn Clock>,
    limits: Limits,
    exempt: RoleSet,
    policy: AllowPolicy,
    shards: Option<NonZeroUsize>,
    capacity_hint: usize,
    sweep_every: Option<Duration>,
    sync: SyncPolicy,
    compact_after: u64,
    faults: Arc<Faults>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("limits", &self.limits)
            .field("exempt", &self.exempt)
            .field("policy", &self.policy)
            .field("shards", &self.shards)
            .field("capacity_hint", &self.capacity_hint)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// The clock to read time from (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
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
    /// four one-byte counters per expected id in each of three filters (between 4 KiB
    /// and 16 MiB each). A low hint costs speed, never correctness.
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
        };
        let recovered = durable::open(dir.as_ref(), options)?;
        let engine = self.build_with(monitor);
        {
            let mut writer = engine.inner.writer.lock();
            let tables = &engine.inner.tables;
            for record in recovered.records {
                tables.apply(record.op, record.at, &mut change::Ignore);
            }
            writer.expiries.rebuild(tables);
            writer.log = Some(recovered.log);
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
        self.build_with(Arc::default())
    }

    fn build_with(self, monitor: Arc<Monitor>) -> Engine {
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
        let inner = Arc::new(Inner {
            tables: Tables::new(shards, filter_slots),
            writer: Mutex::new(Writer::default()),
            clock: self.clock,
            limits: self.limits,
            exempt: self.exempt,
            policy: self.policy,
            subscribers: Subscribers::default(),
            monitor,
            entries: observe::Entries::default(),
        });
        let sweeper = self
            .sweep_every
            .map(|every| spawn_sweeper(Arc::clone(&inner), every));
        Engine {
            _sweeper: sweeper,
            inner,
        }
    }
}

/// A member's speech mute in a room, as listed by [`Engine::muted_members`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MutedMember {
    /// The muted user.
    pub user: String,
    /// When the mute ends (Agora's `expire`).
    pub expiry: Expiry,
}

impl Engine {
    /// An engine on the system clock with default limits and policies.
    #[must_use]
    pub fn new() -> Engine {
        Engine::builder().build()
    }

    /// A builder for an engine with a chosen clock, limits or policies.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            clock: Box::new(SystemClock),
            limits: Limits::default(),
            exempt: RoleSet::default(),
            policy: AllowPolicy::default(),
            shards: None,
            capacity_hint: 1 << 16,
            sweep_every: None,
            sync: SyncPolicy::default(),
            compact_after: 64 << 20,
            faults: Arc::default(),
        }
    }

    /// The limits this engine enforces.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The current time on the engine's clock.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    // ----- validation -----

    fn id(&self, kind: IdKind, id: &str) -> Result<Key, Error> {
        check_id(kind, id, self.inner.limits.max_id_len())?;
        Ok(id.into())
    }

    fn batch<I, S>(&self, users: I) -> Result<Vec<Key>, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let max = self.inner.limits.max_batch();
        let mut keys = Vec::new();
        let mut len = 0usize;
        for user in users {
            len += 1;
            if len <= max {
                keys.push(self.id(IdKind::User, user.as_ref())?);
            }
        }
        if len > max {
            return Err(Error::BatchTooLarge { len, max });
        }
        if keys.is_empty() {
            return Err(Error::EmptyBatch);
        }
        Ok(keys)
    }

    // ----- notification mutes -----

    /// Mutes `room`'s notifications for `user` until unmuted (IMKit `POST .../mute/{room}`).
    ///
    /// Muting a muted room keeps one entry, in its place; the new call's level and
    /// expiry replace the old. Sending is never affected.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    ///
    /// # Examples
    ///
    /// ```
    /// let engine = mutegate::Engine::new();
    /// engine.mute_notifications("aaa", "demo")?;
    /// engine.mute_notifications("aaa", "demo")?;
    /// assert_eq!(engine.muted_rooms("aaa"), ["demo"]);
    /// assert!(!engine.should_push("aaa", "demo"));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_notifications(&self, user: &str, room: &str) -> Result<(), Error> {
        self.set_notification_level(user, room, NotifyLevel::Off, MuteFor::Forever)
    }

    /// Sets `user`'s notification level for `room`, lasting `duration`
    /// ("mute for 8 hours", "mentions only").
    ///
    /// [`NotifyLevel::All`] with [`MuteFor::Forever`] restores the default (no error if
    /// there was no setting).
    ///
    /// # Errors
    ///
    /// An empty or over-long id; a zero or overflowing duration;
    /// [`Error::InvalidCombination`] for `All` with a finite duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, ManualClock, MuteFor, NotifyLevel};
    ///
    /// let clock = ManualClock::new(0);
    /// let engine = Engine::builder().clock(clock.clone()).build();
    /// engine.set_notification_level("u", "r", NotifyLevel::MentionsOnly, MuteFor::hours(8))?;
    /// assert!(!engine.should_push("u", "r"));
    /// assert!(engine.should_push_mentioned("u", "r", true));
    /// clock.advance(std::time::Duration::from_secs(8 * 3600));
    /// assert!(engine.should_push("u", "r"));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn set_notification_level(
        &self,
        user: &str,
        room: &str,
        level: NotifyLevel,
        duration: MuteFor,
    ) -> Result<(), Error> {
        let user = self.id(IdKind::User, user)?;
        let room = self.id(IdKind::Room, room)?;
        if level == NotifyLevel::All && duration != MuteFor::Forever {
            return Err(Error::InvalidCombination(
                "notification level All is the default and takes no duration",
            ));
        }
        self.inner.write(|_, now| {
            let until = duration.expiry_from(now)?;
            let op = Op::SetNotify {
                user,
                room,
                level,
                until,
            };
            Ok((op, ()))
        })
    }

    /// Lifts `user`'s notification mute of `room` (IMKit `DELETE .../mute/{room}`).
    ///
    /// # Errors
    ///
    /// [`Error::NotMuted`] if the room has no active setting for the user (nothing
    /// changes); an empty or over-long id.
    ///
    /// # Examples
    ///
    /// ```
    /// let engine = mutegate::Engine::new();
    /// engine.mute_notifications("aaa", "demo")?;
    /// engine.unmute_notifications("aaa", "demo")?;
    /// assert!(engine.muted_rooms("aaa").is_empty());
    /// assert!(engine.unmute_notifications("aaa", "demo").is_err());
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn unmute_notifications(&self, user: &str, room: &str) -> Result<(), Error> {
        let user = self.id(IdKind::User, user)?;
        let room = self.id(IdKind::Room, room)?;
        self.inner.write(|tables, now| {
            if tables.active_setting(&user, &room, now).is_none() {
                return Err(Error::NotMuted {
                    user: user.to_string(),
                    room: room.to_string(),
                });
            }
            let op = Op::SetNotify {
                user,
                room,
                level: NotifyLevel::All,
                until: Expiry::Never,
            };
            Ok((op, ()))
        })
    }

    /// The rooms whose notifications `user` has muted or limited, oldest first (IMKit's
    /// `mute` array).
    #[must_use]
    pub fn muted_rooms(&self, user: &str) -> Vec<String> {
        self.notification_settings(user)
            .into_iter()
            .map(|s| s.room)
            .collect()
    }

    /// `user`'s active non-default notification settings with level and expiry, oldest first.
    #[must_use]
    pub fn notification_settings(&self, user: &str) -> Vec<NotifySetting> {
        let now = self.inner.clock.now_ms();
        let Some(u) = self.inner.tables.users.get(user) else {
            return Vec::new();
        };
        u.notify
            .iter()
            .filter(|(_, s)| active(s.until, now))
            .map(|(room, s)| NotifySetting {
                room: room.to_string(),
                level: s.level,
                expiry: Expiry::from_raw(s.until),
            })
            .collect()
    }

    /// `user`'s notification level for `room` now ([`NotifyLevel::All`] if none is set).
    #[must_use]
    pub fn notification_level(&self, user: &str, room: &str) -> NotifyLevel {
        self.inner
            .tables
            .active_setting(user, room, self.inner.clock.now_ms())
            .map_or(NotifyLevel::All, |s| s.level)
    }

    // ----- speech mutes of members -----

    /// Speech-mutes `users` in `room` for `duration` (Agora `POST .../mute`). Returns the
    /// expiry given to every one of them.
    ///
    /// The whole batch is validated first; one bad id refuses it all. Re-muting a muted
    /// member replaces the expiry (longer or shorter). Membership is not consulted:
    /// leaving and rejoining the room does not lift a mute.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty batch or one over
    /// [`Limits::max_batch`], a zero or overflowing duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Expiry, ManualClock, MuteFor};
    ///
    /// let engine = Engine::builder().clock(ManualClock::new(1_000)).build();
    /// let expiry = engine.mute_members("r1", ["ann", "bob"], MuteFor::millis(500))?;
    /// assert_eq!(expiry, Expiry::At(1_500));
    /// assert_eq!(engine.muted_members("r1").len(), 2);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_members<I, S>(
        &self,
        room: &str,
        users: I,
        duration: MuteFor,
    ) -> Result<Expiry, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let room = self.id(IdKind::Room, room)?;
        let users = self.batch(users)?;
        self.inner.write(|_, now| {
            let until = duration.expiry_from(now)?;
            Ok((Op::MuteMembers { room, users, until }, until))
        })
    }

    /// Lifts the speech mutes of `users` in `room` (Agora `DELETE .../mute/{member}`).
    /// Returns how many of them were muted.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty or over-large batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor};
    ///
    /// let engine = Engine::new();
    /// engine.mute_members("r1", ["ann"], MuteFor::Forever)?;
    /// assert_eq!(engine.unmute_members("r1", ["ann", "bob"])?, 1);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn unmute_members<I, S>(&self, room: &str, users: I) -> Result<usize, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let room = self.id(IdKind::Room, room)?;
        let users = self.batch(users)?;
        self.inner.write_then(
            |_, _| Ok((Op::UnmuteMembers { room, users }, ())),
            |(), _, changes, now| {
                changes
                    .iter()
                    .filter(|c| matches!(c, Change::Member { old, .. } if active(*old, now)))
                    .count()
            },
        )
    }

    /// The members of `room` with an active speech mute, with their expiry, by user id.
    #[must_use]
    pub fn muted_members(&self, room: &str) -> Vec<MutedMember> {
        let now = self.inner.clock.now_ms();
        let mut out: Vec<MutedMember> = match self.inner.tables.rooms.get(room) {
            None => return Vec::new(),
            Some(r) => r
                .members
                .iter()
                .filter(|&(_, &e)| active(e, now))
                .map(|(u, &e)| MutedMember {
                    user: u.to_string(),
                    expiry: Expiry::from_raw(e),
                })
                .collect(),
        };
        out.sort_unstable_by(|a, b| a.user.cmp(&b.user));
        out
    }

    /// When `user`'s speech mute in `room` ends, or `None` if not muted there.
    #[must_use]
    pub fn member_mute(&self, room: &str, user: &str) -> Option<Expiry> {
        let now = self.inner.clock.now_ms();
        let e = *self.inner.tables.rooms.get(room)?.members.get(user)?;
        active(e, now).then(|| Expiry::from_raw(e))
    }

    // ----- module mutes -----

    /// Mutes or unmutes `user` in whole modules (NetEase `muteModule`), returning the
    /// user's status in all four afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::NoModuleGiven`] when the change names no module; an empty or over-long
    /// id; a zero or overflowing duration; [`Error::InvalidCombination`] for a finite
    /// duration on a change that mutes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Module, ModuleChange, Target};
    ///
    /// let engine = Engine::new();
    /// engine.set_module_mutes("u1", ModuleChange::new().set(Module::P2p, true))?;
    /// assert!(!engine.can_send("u1", Target::p2p("u2")));
    /// assert!(engine.can_send("u1", Target::team("t1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn set_module_mutes(
        &self,
        user: &str,
        change: ModuleChange,
    ) -> Result<ModuleStatus, Error> {
        let user = self.id(IdKind::User, user)?;
        let flags = change.as_array();
        if flags.iter().all(Option::is_none) {
            return Err(Error::NoModuleGiven);
        }
        if !flags.contains(&Some(true)) && change.duration != MuteFor::Forever {
            return Err(Error::InvalidCombination(
                "a mute duration was given but the change mutes no module",
            ));
        }
        let key = user.clone();
        self.inner.write_then(
            |_, now| {
                let until = change.duration.expiry_from(now)?;
                let op = Op::SetModules {
                    user,
                    change: flags,
                    until,
                };
                Ok((op, ()))
            },
            |(), tables, _, now| {
                let raw = tables.users.get(&key).map_or([NONE; 4], |u| u.modules());
                ModuleStatus::from_raw(&raw, now)
            },
        )
    }

    /// `user`'s mute status in each of the four modules.
    #[must_use]
    pub fn module_status(&self, user: &str) -> ModuleStatus {
        let now = self.inner.clock.now_ms();
        let raw = self
            .inner
            .tables
            .users
            .get(user)
            .map_or([0; 4], |u| u.modules());
        ModuleStatus::from_raw(&raw, now)
    }

    /// When `user`'s mute in `module` ends, or `None` if not muted there.
    #[must_use]
    pub fn module_mute(&self, user: &str, module: Module) -> Option<Expiry> {
        self.module_status(user).expiry(module)
    }

    // ----- room-wide mutes and allow lists -----

    /// Mutes the whole of `room` for `duration` (Agora "mute all", `POST .../ban`):
    /// only allow-listed users and exempt roles may send. Returns the expiry. Member
    /// mutes are untouched.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, a zero or overflowing duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, Target};
    ///
    /// let engine = Engine::new();
    /// engine.allow("r1", ["vip"])?;
    /// engine.mute_room("r1", MuteFor::Forever)?;
    /// assert!(engine.can_send("vip", Target::room("r1")));
    /// assert!(!engine.can_send("ann", Target::room("r1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_room(&self, room: &str, duration: MuteFor) -> Result<Expiry, Error> {
        let room = self.id(IdKind::Room, room)?;
        self.inner.write(|_, now| {
            let until = duration.expiry_from(now)?;
            Ok((Op::MuteRoom { room, until }, until))
        })
    }

    /// Lifts `room`'s room-wide mute (Agora `DELETE .../ban`). Returns whether it was muted.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn unmute_room(&self, room: &str) -> Result<bool, Error> {
        let room = self.id(IdKind::Room, room)?;
        self.inner.write_then(
            |_, _| Ok((Op::UnmuteRoom { room }, ())),
            |(), _, changes, now| {
                changes
                    .iter()
                    .any(|c| matches!(c, Change::Room { old, .. } if active(*old, now)))
            },
        )
    }

    /// When `room`'s room-wide mute ends, or `None` if it is not muted.
    #[must_use]
    pub fn room_mute(&self, room: &str) -> Option<Expiry> {
        let now = self.inner.clock.now_ms();
        let raw = self.inner.tables.rooms.get(room)?.mute;
        active(raw, now).then(|| Expiry::from_raw(raw))
    }

    /// Adds `users` to `room`'s allow list (Agora `POST .../white/users`).
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty or over-large batch.
    pub fn allow<I, S>(&self, room: &str, users: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let room = self.id(IdKind::Room, room)?;
        let users = self.batch(users)?;
        self.inner.write(|_, _| Ok((Op::Allow { room, users }, ())))
    }

    /// Removes `users` from `room`'s allow list. Returns how many were on it.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty or over-large batch.
    pub fn disallow<I, S>(&self, room: &str, users: I) -> Result<usize, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let room = self.id(IdKind::Room, room)?;
        let users = self.batch(users)?;
        self.inner.write_then(
            |_, _| Ok((Op::Disallow { room, users }, ())),
            |(), _, changes, _| changes.len(),
        )
    }

    /// `room`'s allow list, by user id.
    #[must_use]
    pub fn allow_list(&self, room: &str) -> Vec<String> {
        let mut out: Vec<String> = match self.inner.tables.rooms.get(room) {
            None => return Vec::new(),
            Some(r) => r.allow_list().map(|u| u.to_string()).collect(),
        };
        out.sort_unstable();
        out
    }

    /// Whether `user` is on `room`'s allow list.
    #[must_use]
    pub fn is_allowed(&self, room: &str, user: &str) -> bool {
        self.inner
            .tables
            .rooms
            .get(room)
            .is_some_and(|r| r.allows(user))
    }

    // ----- housekeeping -----

    /// Purges every trace of `user`: notification settings, module mutes, member mutes
    /// and allow-list entries in every room. Returns whether anything was removed.
    /// Visits every room (member mutes are indexed by room only).
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn remove_user(&self, user: &str) -> Result<bool, Error> {
        let user = self.id(IdKind::User, user)?;
        self.inner.write_then(
            |_, _| Ok((Op::RemoveUser { user }, ())),
            |(), _, changes, _| !changes.is_empty(),
        )
    }

    /// Purges every trace of `room`: its users' notification settings for it, its member
    /// mutes, room-wide mute and allow list. Returns whether anything was removed.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn remove_room(&self, room: &str) -> Result<bool, Error> {
        let room = self.id(IdKind::Room, room)?;
        self.inner.write_then(
            |_, _| Ok((Op::RemoveRoom { room }, ())),
            |(), _, changes, _| !changes.is_empty(),
        )
    }

    /// Counts the active entries of each kind. Visits all state: for monitoring, not for
    /// the hot path.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats::collect(&self.inner.tables, self.inner.clock.now_ms())
    }

    /// Checks the engine's internal invariants (the user-major and room-major indexes
    /// agree; no empty entries are kept), between mutations. Visits all state.
    ///
    /// # Errors
    ///
    /// A description of the first disagreement found.
    pub fn verify_consistency(&self) -> Result<(), String> {
        let _writer = self.inner.writer.lock();
        self.inner.tables.verify()
    }

    // ----- operations, events and expiry -----

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
    /// use mutegate::{Engine, Expiry, Op, Target};
    ///
    /// let engine = Engine::new();
    /// let op = Op::MuteRoom { room: "r1".into(), until: Expiry::Never };
    /// engine.apply(op.clone())?;
    /// engine.apply(op)?;
    /// assert!(!engine.can_send("ann", Target::room("r1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn apply(&self, op: Op) -> Result<(), Error> {
        self.validate(&op)?;
        self.inner.write(|_, _| Ok((op, ())))
    }

    fn validate(&self, op: &Op) -> Result<(), Error> {
        let max = self.inner.limits.max_id_len();
        let batch = |users: &[Key]| -> Result<(), Error> {
            let most = self.inner.limits.max_batch();
            if users.is_empty() {
                return Err(Error::EmptyBatch);
            }
            if users.len() > most {
                return Err(Error::BatchTooLarge {
                    len: users.len(),
                    max: most,
                });
            }
            users
                .iter()
                .try_for_each(|u| check_id(IdKind::User, u, max))
        };
        match op {
            Op::SetNotify { user, room, .. } => {
                check_id(IdKind::User, user, max)?;
                check_id(IdKind::Room, room, max)
            }
            Op::MuteMembers { room, users, .. }
            | Op::UnmuteMembers { room, users }
            | Op::Allow { room, users }
            | Op::Disallow { room, users } => {
                check_id(IdKind::Room, room, max)?;
                batch(users)
            }
            Op::SetModules { user, change, .. } => {
                check_id(IdKind::User, user, max)?;
                if change.iter().all(Option::is_none) {
                    return Err(Error::NoModuleGiven);
                }
                Ok(())
            }
            Op::MuteRoom { room, .. } | Op::UnmuteRoom { room } | Op::RemoveRoom { room } => {
                check_id(IdKind::Room, room, max)
            }
            Op::RemoveUser { user } => check_id(IdKind::User, user, max),
        }
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
        let (now, ops) = {
            let _writer = self.inner.writer.lock();
            let now = self.inner.clock.now_ms();
            (now, self.inner.tables.to_ops(now))
        };
        let bytes = codec::snapshot_bytes(0, 0, now, &ops);
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Error::Io {
                op: "write",
                path: "snapshot".into(),
                message: e.to_string(),
            })
    }

    /// Reads a snapshot written by [`snapshot`](Engine::snapshot) and applies it to this
    /// engine (logged, if the engine is durable). The whole snapshot is decoded and
    /// checked before anything is applied. Returns how many operations it held.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the snapshot is damaged (nothing is applied), or a log
    /// error of a durable engine.
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
        for record in records {
            self.inner.write(|_, _| Ok((record.op, ())))?;
        }
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
        writer.log.as_ref().map_or(Ok(()), Log::sync)
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

impl Inner {
    /// Runs one mutation: under the writer lock, reads the clock, lets `build` validate
    /// against the current state and produce the operation, then applies it whole. The
    /// events it caused are delivered after the lock is released.
    pub(crate) fn write<T>(
        &self,
        build: impl FnOnce(&Tables, u64) -> Result<(Op, T), Error>,
    ) -> Result<T, Error> {
        self.write_then(build, |out, _, _, _| out)
    }

    /// [`write`](Inner::write), then `then` derives the call's result from what `build`
    /// returned, the tables and the changes the operation made — still under the writer
    /// lock, so it sees exactly this operation's outcome, with no second look-up.
    pub(crate) fn write_then<T, U>(
        &self,
        build: impl FnOnce(&Tables, u64) -> Result<(Op, T), Error>,
        then: impl FnOnce(T, &Tables, &[Change], u64) -> U,
    ) -> Result<U, Error> {
        let mut mutation = Mutation::start();
        let mut writer = self.writer.lock();
        let now = self.clock.now_ms();
        let logged = build(&self.tables, now).and_then(|(op, built)| {
            mutation.op(&op);
            match writer.log.as_mut() {
                Some(log) => log.append(now, &op).map(|()| (op, built)),
                None => Ok((op, built)),
            }
        });
        let (op, built) = match logged {
            Ok(logged) => logged,
            Err(e) => {
                drop(writer);
                let refused = Err(e);
                mutation.finish(&refused);
                return refused;
            }
        };
        let mut changes = Vec::new();
        self.tables.apply(op, now, &mut changes);
        let out = then(built, &self.tables, &changes, now);
        let events = self.events(&changes, now);
        self.entries.track(&changes);
        writer.expiries.track(changes);
        if let Some(log) = writer.log.as_mut().filter(|l| l.wants_compaction(now)) {
            // The mutation is acknowledged either way: a failed compaction leaves the
            // log and snapshot as they were, is reported in `health()` and is retried
            // after a backoff, so it costs at most this one mutation one attempt.
            log.compact(now, &self.tables.to_ops(now));
        }
        drop(writer);
        let done = Ok(out);
        mutation.finish(&done);
        self.subscribers.deliver(&events, &self.monitor);
        done
    }

    /// The events `changes` amount to, if anyone is listening.
    fn events(&self, changes: &[Change], now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        if !changes.is_empty() && !self.subscribers.is_empty() {
            events.reserve(changes.len());
            change::events(changes, now, &mut events);
        }
        events
    }

    pub(crate) fn next_expiry(&self) -> Option<u64> {
        let writer = self.writer.lock();
        writer.expiries.next_after(self.clock.now_ms())
    }

    pub(crate) fn sweep(&self) -> usize {
        let started = std::time::Instant::now();
        let mut writer = self.writer.lock();
        let now = self.clock.now_ms();
        let due = writer.expiries.take_due(now);
        let mut changes = Vec::new();
        for key in &due {
            self.tables.apply(key.clearing_op(), now, &mut changes);
        }
        let events = self.events(&changes, now);
        self.entries.track(&changes);
        writer.expiries.track(changes);
        drop(writer);
        observe::swept(due.len(), started.elapsed());
        self.subscribers.deliver(&events, &self.monitor);
        due.len()
    }
}
