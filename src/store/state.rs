//! What the tables keep per user and per room.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use smallvec::SmallVec;

use super::fanout::Fanout;
use crate::action::{Action, Actions};
use crate::expiry::{NONE, Raw, active};
use crate::ids::{Entry, Handle, Seeded};
use crate::ladder::Ladder;
use crate::module::Module;
use crate::notify::Setting;
use crate::quiet::{Bypass, Cached, Compiled};

/// What the engine knows about one user.
#[derive(Debug, Default)]
pub(crate) struct UserState {
    /// Notification settings by room handle, in the order they were made (oldest first).
    pub notify: SmallVec<[(Handle, Setting); 1]>,
    /// Module mutes, indexed by `Module::index`; boxed because few users have any.
    pub modules: Option<Box<[Raw; 4]>>,
    /// The scopes of the module mutes, when one of them does not block every action.
    pub module_scopes: Option<Box<[Actions; 4]>>,
    /// Quiet hours, snooze, bypass rules and sender mutes; shared with the engine's
    /// index of users with such rules (a change makes a new one).
    pub personal: Option<Arc<Personal>>,
}

/// A user's own push rules, beside their per-room levels.
#[derive(Clone, Debug, Default)]
pub(crate) struct Personal {
    /// The quiet-hours schedule, compiled.
    pub quiet: Option<Compiled>,
    /// The end of a snooze (`NONE`: none).
    pub snooze: Raw,
    /// What breaks through quiet hours and snoozes.
    pub bypass: Bypass,
    /// Muted senders by user handle (each holds a reference on its user), oldest first.
    pub senders: SmallVec<[(Handle, Raw); 1]>,
    /// The last quiet/loud answer (for checks by handle; the index keeps its own).
    pub cache: Cached,
}

impl Personal {
    pub fn is_empty(&self) -> bool {
        self.quiet.is_none()
            && self.snooze == NONE
            && self.bypass == Bypass::default()
            && self.senders.is_empty()
    }

    /// Whether pushes are held back at `now` (a snooze or a quiet window), through
    /// this state's own cache.
    #[inline]
    pub fn quiet_at(&self, now: u64) -> bool {
        self.cache.get(now, || self.state_at(now))
    }

    /// Whether pushes are held back at `now`, until when that holds, and since when at
    /// the latest (a snooze that ended at or before `now`; else 0).
    pub fn state_at(&self, now: u64) -> (bool, u64, u64) {
        let (quiet, until) = self
            .quiet
            .as_ref()
            .map_or((false, u64::MAX), |q| q.state_at(now));
        if active(self.snooze, now) {
            (true, until.min(self.snooze), 0)
        } else if self.snooze != NONE {
            (quiet, until, self.snooze)
        } else {
            (quiet, until, 0)
        }
    }
}

impl UserState {
    /// The user's mute in one module (`NONE` if none), without copying the others.
    #[inline]
    pub fn module(&self, module: Module) -> Raw {
        self.modules.as_deref().map_or(NONE, |m| m[module.index()])
    }

    /// The user's mute in one module if it blocks `action` (`NONE` if none does).
    #[inline]
    pub fn module_blocking(&self, module: Module, action: Action) -> Raw {
        let raw = self.module(module);
        if raw == NONE || self.module_scope(module).contains(action) {
            raw
        } else {
            NONE
        }
    }

    /// The scope of the user's mute in one module (every action if unscoped or none).
    #[inline]
    pub fn module_scope(&self, module: Module) -> Actions {
        self.module_scopes
            .as_deref()
            .map_or(Actions::ALL, |s| s[module.index()])
    }

    /// The scopes of the user's module mutes (every action where unscoped or none).
    #[inline]
    pub fn module_scopes(&self) -> [Actions; 4] {
        self.module_scopes
            .as_deref()
            .copied()
            .unwrap_or([Actions::ALL; 4])
    }

    /// The user's module mutes (`NONE` where there is none).
    #[inline]
    pub fn modules(&self) -> [Raw; 4] {
        self.modules.as_deref().copied().unwrap_or([NONE; 4])
    }

    /// The setting for the room `room` stands for, if stored.
    #[inline]
    pub fn setting(&self, room: Handle) -> Option<Setting> {
        self.notify
            .iter()
            .find(|(r, _)| *r == room)
            .map(|&(_, s)| s)
    }
}

impl Entry for UserState {
    fn is_empty(&self) -> bool {
        self.notify.is_empty() && self.modules.is_none() && self.personal.is_none()
    }
}

/// Members' strikes in one room: by user handle, when each strike decays, in order.
/// Boxed in the room: one pointer instead of an empty map in every room without any.
pub(crate) type Strikes = HashMap<Handle, SmallVec<[u64; 2]>, Seeded>;

/// What the engine knows about one room.
#[derive(Debug, Default)]
pub(crate) struct RoomState {
    /// Notification settings of the room's users by user id (the fan-out index, which
    /// is given ids, not handles); `None` when there are none. Shared so a fan-out
    /// iterates a snapshot without holding the shard: writers copy it only while such a
    /// snapshot is in use.
    pub notify: Option<Arc<Fanout>>,
    /// Individual speech mutes, by user handle (each holds a reference on its user).
    pub members: HashMap<Handle, Raw, Seeded>,
    /// The scopes of the member mutes that do not block every action (few rooms have
    /// any, so one pointer in every other room).
    #[expect(
        clippy::box_collection,
        reason = "one pointer instead of an empty map in every room without scoped mutes"
    )]
    pub member_scopes: Option<Box<HashMap<Handle, Actions, Seeded>>>,
    /// Room-wide mute (`NONE` when unset).
    pub mute: Raw,
    /// The room-wide mute's scope (every action when there is none).
    pub mute_scope: Actions,
    /// Users who may speak through a room-wide mute, by handle (each holds a reference
    /// on its user); boxed because few rooms have one.
    #[expect(
        clippy::box_collection,
        reason = "one pointer instead of a 32-byte empty set in every room without a list"
    )]
    pub allow: Option<Box<HashSet<Handle, Seeded>>>,
    /// Room-wide mentions count as ordinary messages here (an admin's setting).
    pub plain_room_mentions: bool,
    /// Slow mode's cooldown in ms (0: off).
    pub slow_mode: u64,
    /// The room's own escalation ladder (the engine's when `None`).
    pub ladder: Option<Box<Ladder>>,
    /// Strikes by user handle (each entry holds a reference on its user): when each
    /// decays, oldest first. Decayed ones are dropped at the member's next strike.
    pub strikes: Option<Box<Strikes>>,
}

impl RoomState {
    /// Whether the room-mute filter counts this room: a room-wide mute or slow mode,
    /// what a send check must read the room for.
    #[inline]
    pub fn gates_sends(&self) -> bool {
        self.mute != NONE || self.slow_mode != 0
    }

    /// The scope of `user`'s member mute (every action if unscoped or none).
    #[inline]
    pub fn member_scope(&self, user: Handle) -> Actions {
        self.member_scopes
            .as_ref()
            .and_then(|s| s.get(&user).copied())
            .unwrap_or(Actions::ALL)
    }

    /// Records the scope of `user`'s member mute (`ALL` keeps no entry).
    pub(super) fn scope_member(&mut self, user: Handle, scope: Actions) {
        if scope.is_all() {
            if let Some(s) = &mut self.member_scopes {
                s.remove(&user);
                if s.is_empty() {
                    self.member_scopes = None;
                }
            }
        } else {
            self.member_scopes
                .get_or_insert_with(Box::default)
                .insert(user, scope);
        }
    }

    /// `user`'s strikes in force at `now`.
    pub fn strikes_at(&self, user: Handle, now: u64) -> usize {
        self.strikes
            .as_ref()
            .and_then(|s| s.get(&user))
            .map_or(0, |ends| ends.iter().filter(|&&e| e > now).count())
    }

    /// Whether `user` is on the allow list.
    #[inline]
    pub fn allows(&self, user: Handle) -> bool {
        self.allow.as_ref().is_some_and(|a| a.contains(&user))
    }

    /// The allow list (empty if none).
    pub fn allow_list(&self) -> impl Iterator<Item = Handle> + '_ {
        self.allow.iter().flat_map(|a| a.iter().copied())
    }

    /// Takes `user` off the allow list; returns whether they were on it.
    pub(super) fn disallow(&mut self, user: Handle) -> bool {
        let Some(a) = &mut self.allow else {
            return false;
        };
        let removed = a.remove(&user);
        if a.is_empty() {
            self.allow = None;
        }
        removed
    }

    /// `user`'s notification setting in this room, if stored.
    #[inline]
    pub fn setting(&self, user: &str) -> Option<Setting> {
        self.notify.as_ref()?.get(user).copied()
    }

    pub(super) fn set_setting(&mut self, user: &str, setting: Setting) {
        Arc::make_mut(self.notify.get_or_insert_with(Arc::default)).insert(user, setting);
    }

    pub(super) fn clear_setting(&mut self, user: &str) {
        let Some(map) = &mut self.notify else { return };
        if map.get(user).is_some() {
            let map = Arc::make_mut(map);
            map.remove(user);
            if map.is_empty() {
                self.notify = None;
            }
        }
    }
}

impl Entry for RoomState {
    fn is_empty(&self) -> bool {
        self.notify.is_none()
            && self.members.is_empty()
            && self.mute == NONE
            && self.allow.is_none()
            && !self.plain_room_mentions
            && self.slow_mode == 0
            && self.ladder.is_none()
            && self.strikes.is_none()
    }
}
