//! The handle API: ids resolved once, checks that take the resolved form.
//!
//! A pipeline that keeps integer ids, or that sees the same sender for a whole
//! connection, resolves a user or room id to a handle once ([`Engine::user_handle`],
//! [`Engine::room_handle`]) and passes handles to the checks: no id is hashed or
//! compared, and no counting filter is consulted, on the check itself.
//!
//! A handle pins its id inside the engine (about 40 bytes) until it is released
//! ([`Engine::release_user_handle`]); a released handle that is used again answers as an
//! id with no state would, never as another id's state. Handles are per engine and per
//! process: nothing stored or replicated depends on them.

use crate::action::Action;
use crate::check::At;
use crate::decide::{self, Denied, PersonalFacts, SendFacts};
use crate::engine::Engine;
use crate::error::{Error, IdKind, check_id};
use crate::expiry::active;
use crate::ids::Handle;
use crate::module::Module;
use crate::notify::{Mention, NotifyLevel};
use crate::role::Role;

/// A user id resolved by [`Engine::user_handle`]: 8 bytes, `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserHandle(Handle);

/// A room id resolved by [`Engine::room_handle`]: 8 bytes, `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoomHandle(Handle);

/// Where a message goes, by handle: the module, and the room for any module but P2P
/// (a direct message is judged by the sender's module mute alone).
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, Module, TargetHandle};
///
/// let engine = Engine::new();
/// let room = engine.room_handle("r1")?;
/// assert_eq!(TargetHandle::room(room).module, Module::Room);
/// assert_eq!(TargetHandle::p2p().room, None);
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetHandle {
    /// The module the message goes through.
    pub module: Module,
    /// The room, for every module but P2P.
    pub room: Option<RoomHandle>,
}

impl TargetHandle {
    /// A direct message (the peer plays no part in the check).
    #[must_use]
    pub const fn p2p() -> Self {
        TargetHandle {
            module: Module::P2p,
            room: None,
        }
    }

    /// A message to `room` through `module` (for [`Module::P2p`], the room is ignored).
    #[must_use]
    pub const fn new(module: Module, room: RoomHandle) -> Self {
        TargetHandle {
            module,
            room: if matches!(module, Module::P2p) {
                None
            } else {
                Some(room)
            },
        }
    }

    /// A message to team `room`.
    #[must_use]
    pub const fn team(room: RoomHandle) -> Self {
        TargetHandle::new(Module::Team, room)
    }

    /// A message to chat room `room`.
    #[must_use]
    pub const fn room(room: RoomHandle) -> Self {
        TargetHandle::new(Module::Room, room)
    }

    /// A message to QChat channel `room`.
    #[must_use]
    pub const fn qchat(room: RoomHandle) -> Self {
        TargetHandle::new(Module::QChat, room)
    }
}

impl Engine {
    /// Resolves `user` to a handle for the handle checks, pinning the id until
    /// [`release_user_handle`](Engine::release_user_handle). Resolving the same id
    /// again gives the same handle (and pins it once more).
    ///
    /// # Errors
    ///
    /// An empty or over-long id, as for the mutations.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, TargetHandle};
    ///
    /// let engine = Engine::new();
    /// let (bob, r1) = (engine.user_handle("bob")?, engine.room_handle("r1")?);
    /// assert!(engine.can_send_handle(bob, TargetHandle::room(r1)));
    /// engine.mute_members("r1", ["bob"], MuteFor::Forever)?;
    /// assert!(!engine.can_send_handle(bob, TargetHandle::room(r1)));
    /// assert_eq!(engine.user_id(bob).as_deref(), Some("bob"));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn user_handle(&self, user: &str) -> Result<UserHandle, Error> {
        check_id(IdKind::User, user, self.limits.max_id_len())?;
        Ok(UserHandle(self.inner.tables.users.pin(user)))
    }

    /// Resolves `room` to a handle for the handle checks, pinning the id until
    /// [`release_room_handle`](Engine::release_room_handle).
    ///
    /// # Errors
    ///
    /// An empty or over-long id, as for the mutations.
    pub fn room_handle(&self, room: &str) -> Result<RoomHandle, Error> {
        check_id(IdKind::Room, room, self.limits.max_id_len())?;
        Ok(RoomHandle(self.inner.tables.rooms.pin(room)))
    }

    /// Unpins a user handle's id once; returns `false` (and changes nothing) for a
    /// handle that no longer pins anything. The id's memory is given back when nothing
    /// else holds it.
    pub fn release_user_handle(&self, user: UserHandle) -> bool {
        self.inner.tables.users.unpin(user.0)
    }

    /// Unpins a room handle's id once; returns `false` for a handle that no longer pins
    /// anything.
    pub fn release_room_handle(&self, room: RoomHandle) -> bool {
        self.inner.tables.rooms.unpin(room.0)
    }

    /// The id a user handle stands for; `None` once it was released and its id let go.
    #[must_use]
    pub fn user_id(&self, user: UserHandle) -> Option<String> {
        self.inner.tables.users.id_of(user.0).map(String::from)
    }

    /// The id a room handle stands for; `None` once it was released and its id let go.
    #[must_use]
    pub fn room_id(&self, room: RoomHandle) -> Option<String> {
        self.inner.tables.rooms.id_of(room.0).map(String::from)
    }

    /// [`can_send`](Engine::can_send) by handle.
    #[must_use]
    pub fn can_send_handle(&self, user: UserHandle, target: TargetHandle) -> bool {
        self.at_now().can_send_handle(user, target)
    }

    /// [`check_send_as`](Engine::check_send_as) by handle.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `check_send`.
    pub fn check_send_handle(
        &self,
        user: UserHandle,
        target: TargetHandle,
        role: Role,
    ) -> Result<(), Denied> {
        self.at_now().check_send_handle(user, target, role)
    }

    /// [`check_act_as`](Engine::check_act_as) by handle.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `check_act_as`.
    pub fn check_act_handle(
        &self,
        user: UserHandle,
        target: TargetHandle,
        action: Action,
        role: Role,
    ) -> Result<(), Denied> {
        self.at_now().check_act_handle(user, target, action, role)
    }

    /// [`should_push_mentioned`](Engine::should_push_mentioned) by handle.
    #[must_use]
    pub fn should_push_handle(&self, user: UserHandle, room: RoomHandle, mentioned: bool) -> bool {
        self.at_now().should_push_handle(user, room, mentioned)
    }
}

impl At<'_> {
    /// [`Engine::can_send_handle`] at this view's time.
    #[must_use]
    pub fn can_send_handle(&self, user: UserHandle, target: TargetHandle) -> bool {
        self.check_send_handle(user, target, Role::Member).is_ok()
    }

    /// [`Engine::check_send_handle`] at this view's time.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `Engine::check_send`.
    pub fn check_send_handle(
        &self,
        user: UserHandle,
        target: TargetHandle,
        role: Role,
    ) -> Result<(), Denied> {
        self.check_act_handle(user, target, Action::SendMessage, role)
    }

    /// [`Engine::check_act_handle`] at this view's time.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `Engine::check_act_as`.
    pub fn check_act_handle(
        &self,
        user: UserHandle,
        target: TargetHandle,
        action: Action,
        role: Role,
    ) -> Result<(), Denied> {
        let engine = self.engine();
        let tables = &engine.inner.tables;
        let mut facts = SendFacts::default();
        tables.users.read_handle(user.0, |u| {
            if let Some(u) = u {
                facts.module = u.module_blocking(target.module, action);
            }
        });
        if let Some(room) = target.room {
            tables.rooms.read_handle(room.0, |r| {
                if let Some(r) = r {
                    self.room_facts(r, Some(user.0), action, &mut facts);
                }
            });
            facts.exempt = engine.exempt.contains(role);
            // Slow mode's soft state is kept by id: read only in a slow-mode room.
            if facts.slowed()
                && let (Some(u), Some(r)) = (tables.users.id_of(user.0), tables.rooms.id_of(room.0))
            {
                facts.slow = tables
                    .slow
                    .next_allowed(&r, &u, facts.cooldown, self.now_ms())
                    .unwrap_or(crate::expiry::NONE);
            }
        }
        if !facts.any() {
            return Ok(());
        }
        facts.exempt = engine.exempt.contains(role);
        let verdict = decide::send(&facts, target.module, engine.policy, self.now_ms());
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        if let Err(denied) = &verdict {
            // Ids only for the record, and only when a denial is recorded.
            let user = tables.users.id_of(user.0).unwrap_or_default();
            let room = target.room.and_then(|r| tables.rooms.id_of(r.0));
            let target = crate::module::Target::new(target.module, room.as_deref().unwrap_or(""));
            crate::observe::denied(&user, target, denied);
        }
        verdict
    }

    /// [`Engine::should_push_handle`] at this view's time.
    #[must_use]
    pub fn should_push_handle(&self, user: UserHandle, room: RoomHandle, mentioned: bool) -> bool {
        let mut now = None;
        let mut now_ms = || *now.get_or_insert_with(|| self.now_ms());
        let mention = if mentioned {
            Mention::Direct
        } else {
            Mention::None
        };
        self.engine()
            .inner
            .tables
            .users
            .read_handle(user.0, |u| {
                let Some(u) = u else { return true };
                let level = u
                    .setting(room.0)
                    .filter(|s| active(s.until, now_ms()))
                    .map_or(NotifyLevel::All, |s| s.level);
                decide::level_admits(level, mention)
                    && u.personal.as_deref().is_none_or(|p| {
                        let facts = PersonalFacts {
                            sender_muted: false,
                            quiet: p.quiet_at(now_ms()),
                            bypass: p.bypass,
                        };
                        decide::personal_admits(&facts, mention, false)
                    })
            })
            .unwrap_or(true)
    }
}
