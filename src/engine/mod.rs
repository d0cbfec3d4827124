//! The [`Engine`]: a facade over the tables (read by the checks in `check`) and the
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

use std::any::Any;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::action::Actions;
use crate::background::Background;
use crate::change::{self};
use crate::clock::{Clock, SystemClock};
use crate::codec;
use crate::durable::{self, Faults, SyncPolicy};
use crate::error::Error;
use crate::event::Event;
use crate::expiry::Raw;
use crate::expiry::{Expiry, MuteFor, active};
use crate::health::{Health, Monitor};
use crate::ids::Handle;
use crate::ladder::{Ladder, Strike};
use crate::limits::Limits;
use crate::module::{Module, ModuleChange, ModuleStatus};
use crate::notify::Setting;
use crate::notify::{NotifyLevel, NotifySetting};
use crate::observe;
use crate::op::Op;
use crate::role::{AllowPolicy, RoleSet};
use crate::stats::Stats;
use crate::store::Tables;
use crate::trail::Trail;
use crate::write::{Compaction, Pipeline, Ticket, spawn_sequencer, spawn_sweeper};

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
    /// What a plug-in keeps running for this engine (a replicated engine's stream
    /// reader), stopped before the sequencer.
    _attached: Option<Box<dyn Any + Send + Sync>>,
    _sequencer: Option<Background>,
    /// The state and the write pipeline, shared with background threads and tickets.
    pub(crate) inner: Arc<Pipeline>,
    pub(crate) limits: Limits,
    pub(crate) exempt: RoleSet,
    pub(crate) policy: AllowPolicy,
    /// The ladder of rooms without their own.
    pub(crate) ladder: Ladder,
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

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("users", &self.inner.tables.users.len())
            .field("rooms", &self.inner.tables.rooms.len())
            .field("limits", &self.limits)
            .field("exempt", &self.exempt)
            .field("policy", &self.policy)
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
        self.limits
    }

    /// The engine's state and write pipeline: what a plug-in (replication) works on.
    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "plug-ins only"))]
    pub(crate) fn pipeline(&self) -> &Arc<Pipeline> {
        &self.inner
    }

    /// Keeps `running` (a plug-in's thread, such as a stream reader) until the engine
    /// is dropped; it is stopped before the engine's own sequencer.
    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "plug-ins only"))]
    pub(crate) fn attach(&mut self, running: impl Any + Send + Sync) {
        self._attached = Some(Box::new(running));
    }

    /// The current time on the engine's clock.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }
}
