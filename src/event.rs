//! Change events: what subscribers are told after each mutation, and when mutes end.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::action::Actions;
use crate::expiry::Expiry;
use crate::health::{Monitor, panic_message};
use crate::ladder::Ladder;
use crate::module::Module;
use crate::notify::NotifyLevel;
use crate::op::ModerationEntry;
use crate::trail::Subject;

/// One mute, named by what it is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Mute {
    /// A user's notification setting for a room.
    Notification {
        /// The user.
        user: String,
        /// The room.
        room: String,
    },
    /// A member's speech mute in a room.
    Member {
        /// The room.
        room: String,
        /// The member.
        user: String,
    },
    /// A user's mute in a whole module.
    Module {
        /// The user.
        user: String,
        /// The module.
        module: Module,
    },
    /// A room-wide mute.
    Room {
        /// The room.
        room: String,
    },
    /// A user's mute of one sender's pushes.
    Sender {
        /// The user who muted.
        user: String,
        /// The sender.
        sender: String,
    },
    /// A user's snooze of every push.
    Snooze {
        /// The user.
        user: String,
    },
}

/// What changed. Delivered to subscribers after every lock is released.
///
/// Every mutation yields the events of the entries it changed; a timed mute that ends
/// yields exactly one [`Event::Expired`], from [`Engine::sweep`](crate::Engine::sweep),
/// the background sweeper, or the mutation that next touches the ended entry —
/// whichever comes first, and never before its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// A member, module or room-wide mute was set (or re-set with a new expiry).
    Muted {
        /// Which mute.
        mute: Mute,
        /// When it ends.
        expiry: Expiry,
        /// What it blocks ([`Actions::ALL`] for an unscoped mute and for the kinds
        /// without a scope: sender mutes, snoozes).
        #[serde(default)]
        actions: Actions,
    },
    /// A member, module or room-wide mute was lifted by hand.
    Unmuted {
        /// Which mute.
        mute: Mute,
    },
    /// A notification level was set; [`NotifyLevel::All`] means the setting was removed.
    LevelChanged {
        /// The user.
        user: String,
        /// The room.
        room: String,
        /// The new level.
        level: NotifyLevel,
        /// When the level ends (`Never` for `All`).
        expiry: Expiry,
    },
    /// A timed mute or notification setting reached its end.
    Expired {
        /// Which mute ([`Mute::Notification`] for a notification setting).
        mute: Mute,
        /// The time it ended.
        at_ms: u64,
    },
    /// A user was added to (`allowed`) or removed from a room's allow list.
    AllowListChanged {
        /// The room.
        room: String,
        /// The user.
        user: String,
        /// Whether the user is now on the list.
        allowed: bool,
    },
    /// A user's quiet-hours schedule (or its time zone) was set or cleared. Entering
    /// and leaving a window is time passing, not a change: it yields no event.
    QuietHoursChanged {
        /// The user.
        user: String,
        /// The new schedule (`None`: cleared).
        schedule: Option<crate::Schedule>,
    },
    /// A user's bypass rules changed.
    BypassChanged {
        /// The user.
        user: String,
        /// The new rules.
        bypass: crate::Bypass,
    },
    /// A room's setting for room-wide mentions changed.
    RoomMentionsChanged {
        /// The room.
        room: String,
        /// Whether room-wide mentions notify.
        notify: bool,
    },
    /// A room's slow mode was set, changed or lifted (`None`).
    SlowModeChanged {
        /// The room.
        room: String,
        /// The cooldown between two messages of one member, in ms.
        cooldown_ms: Option<u64>,
    },
    /// A room's escalation ladder was set, or cleared (`None`: the engine's applies).
    LadderChanged {
        /// The room.
        room: String,
        /// The room's own ladder.
        ladder: Option<Ladder>,
    },
    /// A member's strikes in a room changed: a strike (its mute comes as
    /// [`Event::Muted`]) or a pardon (`strikes: 0`).
    StrikesChanged {
        /// The room.
        room: String,
        /// The member.
        user: String,
        /// Strikes in force.
        strikes: usize,
    },
    /// A moderation operation made with a trail
    /// ([`Engine::with_trail`](crate::Engine::with_trail)) was added to a subject's
    /// history; it follows the events of what the operation changed, one per subject.
    Moderated {
        /// Whom it was about.
        subject: Subject,
        /// When, what (narrowed to the subject), who, why, through what.
        entry: ModerationEntry,
    },
}

impl Event {
    /// The event's kind, as the `mutegate_events_total` counter labels it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Event::Muted { .. } => "muted",
            Event::Unmuted { .. } => "unmuted",
            Event::LevelChanged { .. } => "level_changed",
            Event::Expired { .. } => "expired",
            Event::AllowListChanged { .. } => "allow_list_changed",
            Event::QuietHoursChanged { .. } => "quiet_hours_changed",
            Event::BypassChanged { .. } => "bypass_changed",
            Event::RoomMentionsChanged { .. } => "room_mentions_changed",
            Event::SlowModeChanged { .. } => "slow_mode_changed",
            Event::LadderChanged { .. } => "ladder_changed",
            Event::StrikesChanged { .. } => "strikes_changed",
            Event::Moderated { .. } => "moderated",
        }
    }
}

/// A subscriber callback.
pub(crate) type Subscriber = Arc<dyn Fn(&Event) + Send + Sync>;

/// The engine's subscribers.
#[derive(Default)]
pub(crate) struct Subscribers {
    list: RwLock<Vec<Subscriber>>,
}

impl Subscribers {
    pub fn add(&self, s: Subscriber) {
        self.list.write().push(s);
    }

    pub fn is_empty(&self) -> bool {
        self.list.read().is_empty()
    }

    /// Delivers `events` to every subscriber. Called with no engine lock held; a
    /// panicking subscriber is contained (and counted in the monitor) and the others
    /// still run.
    pub fn deliver(&self, events: &[Event], monitor: &Monitor) {
        if events.is_empty() {
            return;
        }
        crate::observe::events(events.iter().map(Event::kind));
        let list: Vec<Subscriber> = self.list.read().clone();
        for event in events {
            for s in &list {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| s(event))) {
                    monitor.subscriber_panicked(&panic_message(&*payload));
                }
            }
        }
    }
}
