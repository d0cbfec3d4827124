//! The [`Engine`]: a facade over the tables (read by the checks in `check.rs`) and the
//! write pipeline (`write`). Each concept's methods live in a file of their own:
//! notifications, members, modules, rooms, housekeeping, operations; mutations are
//! validated into requests by `submit`; the builder opens and builds engines.

mod builder;
mod history;
mod housekeeping;
mod members;
mod modules;
mod notifications;
mod operations;
mod pages;
mod personal;
mod rooms;
mod slow_mode;
mod strikes;
mod submit;

pub use builder::EngineBuilder;
pub use pages::{MAX_PAGE_LEN, Page};
pub use personal::MutedSender;
pub use submit::Submit;

use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::action::Actions;
use crate::background::Background;
use crate::change::{self, Change};
use crate::clock::{Clock, SystemClock};
use crate::codec;
use crate::durable::{self, Compaction, Faults, SyncPolicy};
use crate::error::Error;
use crate::event::{Event, Subscribers};
use crate::expiry::Raw;
use crate::expiry::{Expiry, MuteFor, active};
use crate::health::{Health, Monitor};
use crate::ids::Handle;
use crate::ladder::{Ladder, Strike};
use crate::limits::Limits;
use crate::module::{Module, ModuleChange, ModuleStatus};
use crate::notify::{NotifyLevel, NotifySetting};
use crate::observe;
use crate::op::Op;
use crate::role::{AllowPolicy, RoleSet};
use crate::stats::Stats;
use crate::store::{Setting, Tables};
use crate::trail::Trail;
use crate::write::{InMemory, Queue, Sequencer, Stripes, Ticket};

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
    /// Declared first so they are stopped before anything else is dropped.
    _sweeper: Option<Background>,
    /// A replicated engine's stream reader.
    #[cfg(feature = "redis")]
    pub(crate) _reader: Option<crate::replicate::Reader>,
    _sequencer: Option<Background>,
    pub(crate) inner: Arc<Inner>,
}

/// The engine's state, shared with its background threads and with tickets.
pub(crate) struct Inner {
    pub(crate) tables: Tables,
    /// Held by whoever runs the pipeline (or sweeps, or snapshots): batches are applied
    /// one at a time, each whole.
    pub(crate) writer: Mutex<Writer>,
    /// The locks of users and rooms, each with the expiry index of its entries: an
    /// in-memory engine applies mutations of disjoint keys in parallel under them.
    pub(crate) stripes: Stripes,
    /// Mutations waiting for the pipeline.
    pub(crate) queue: Queue,
    /// The thread that runs the pipeline for callers that must not block.
    pub(crate) sequencer_thread: OnceLock<Thread>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Limits,
    pub(crate) exempt: RoleSet,
    pub(crate) policy: AllowPolicy,
    /// The ladder of rooms without their own.
    pub(crate) ladder: Ladder,
    pub(crate) subscribers: Subscribers,
    /// No store: blocking mutations run at once on their caller's thread.
    pub(crate) in_memory: bool,
    /// What background work and the store have run into.
    pub(crate) monitor: Arc<Monitor>,
    /// Entries stored, by kind, for the `mutegate_entries` gauge.
    pub(crate) entries: observe::Entries,
    /// Set for a replicated engine: its mutations go through the stream.
    #[cfg(feature = "redis")]
    pub(crate) replica: OnceLock<Arc<crate::replicate::Replica>>,
}

/// What only the holder of the writer lock touches.
pub(crate) struct Writer {
    /// Where operations become durable: the local log, or nowhere (in memory).
    pub(crate) sequencer: Box<dyn Sequencer>,
}

impl Default for Writer {
    /// An in-memory engine's: no store.
    fn default() -> Writer {
        Writer {
            sequencer: Box::new(InMemory),
        }
    }
}

/// Starts the thread that runs the pipeline when an awaited ticket asks for it.
fn spawn_sequencer(inner: &Arc<Inner>) -> Background {
    let weak = Arc::downgrade(inner);
    let thread = Background::spawn(
        "mutegate-sequencer",
        Arc::clone(&inner.monitor),
        move || match weak.upgrade() {
            Some(inner) => {
                inner.lead();
                // Another thread held the pipeline and requests are still queued: look
                // again soon rather than at the next idle tick.
                if inner.queue.lock().is_empty() {
                    Duration::from_millis(100)
                } else {
                    Duration::from_millis(1)
                }
            }
            None => Duration::from_millis(100),
        },
    );
    inner
        .sequencer_thread
        .set(thread.thread().clone())
        .expect("an engine's sequencer thread is started once, when it is built");
    thread
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Stop the threads, then run whatever is still queued, so that no ticket waits
        // for a sequencer that is gone.
        drop(self._sequencer.take());
        drop(self._sweeper.take());
        self.inner.lead();
    }
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

/// A member's speech mute in a room, as listed by [`Engine::muted_members`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MutedMember {
    /// The muted user.
    pub user: String,
    /// When the mute ends (Agora's `expire`).
    pub expiry: Expiry,
    /// What the mute blocks ([`Actions::ALL`] for an unscoped mute).
    #[serde(default)]
    pub actions: Actions,
    /// Who muted them, why, through what: the trail of the mute in force, if it was
    /// made with one ([`Engine::with_trail`]) and is still in the member's history. A
    /// mute set by a strike shows the strike's trail (a later mute without a trail
    /// that only lengthened it is not told apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trail: Option<Trail>,
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
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
            exempt: RoleSet::default(),
            policy: AllowPolicy::default(),
            shards: None,
            capacity_hint: 1 << 16,
            sweep_every: None,
            sync: SyncPolicy::default(),
            compact_after: 64 << 20,
            faults: Arc::default(),
            ladder: Ladder::default(),
            history_len: crate::trail::DEFAULT_HISTORY_LEN,
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
}

impl Inner {
    /// The events `changes` amount to, if anyone is listening.
    fn events(&self, changes: &[Change], now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        if !changes.is_empty() && !self.subscribers.is_empty() {
            events.reserve(changes.len());
            change::events(changes, now, &mut events);
        }
        events
    }

    /// Up to when a sweep at `now` frees ended entries silently, then up to when it
    /// frees and announces them: nothing silently and all up to `now` announced, but for
    /// a replicated engine (see `replicate::announce`).
    fn sweep_plan(&self, now: u64) -> (u64, Option<u64>) {
        #[cfg(feature = "redis")]
        if let Some(replica) = self.replica.get() {
            return replica.announcer.sweep_plan(now);
        }
        (0, Some(now))
    }

    pub(crate) fn next_expiry(&self) -> Option<u64> {
        self.stripes.next_after(self.clock.now_ms())
    }

    /// Clears one ended entry (the sweeper's, holding every stripe).
    fn clear(&self, key: crate::change::Timed, now: u64, changes: &mut Vec<crate::change::Change>) {
        if let Some(op) = self.tables.clearing_op(key) {
            self.tables.apply(op, now, changes);
        }
    }

    pub(crate) fn sweep(&self) -> usize {
        let started = std::time::Instant::now();
        let writer = self.writer.lock();
        let mut held = self.stripes.lock_all();
        let now = self.clock.now_ms();
        let (silent, loud) = self.sweep_plan(now);
        let mut changes = Vec::new();
        // Only a replicated engine that is not its cluster's announcer frees ends
        // silently; for every other engine `silent` is 0 and this pass is skipped.
        let quiet = if silent == 0 {
            Vec::new()
        } else {
            held.take_due(silent)
        };
        for &key in &quiet {
            self.clear(key, now, &mut changes);
        }
        self.entries.track(&changes);
        held.track(std::mem::take(&mut changes));
        let due = loud.map_or_else(Vec::new, |upto| held.take_due(upto));
        for &key in &due {
            self.clear(key, now, &mut changes);
        }
        let events = self.events(&changes, now);
        self.entries.track(&changes);
        held.track(changes);
        drop(held);
        drop(writer);
        // Decayed strikes are freed too, but they are not mutes.
        let freed = quiet
            .iter()
            .chain(&due)
            .filter(|k| !matches!(k, crate::change::Timed::Strikes(..)))
            .count();
        observe::swept(freed, started.elapsed());
        self.subscribers.deliver(&events, &self.monitor);
        #[cfg(feature = "redis")]
        if let (Some(_), Some(replica)) = (loud, self.replica.get()) {
            // Announced: the mark may move past them now.
            replica.announcer.swept(now);
        }
        freed
    }
}
