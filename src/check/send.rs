//! May this user send here? `can_send`, `check_send`, `can_act` and their `_as` forms,
//! and slow mode's `try_send`, on the engine and on an [`At`] view: the member's,
//! room's and module's facts, copied out under one shard guard at a time, judged by
//! `decide::send`.

use super::At;
use crate::action::Action;
use crate::clock::Now;
use crate::decide::{self, Denied, DenyReason, SendFacts};
use crate::engine::Engine;
use crate::expiry::{Expiry, NONE};
use crate::ids::{Handle, hash_str, pair_hash};
use crate::module::Target;
use crate::role::Role;
use crate::store::RoomState;

impl Engine {
    /// Whether `user` may send to `target` now, as an ordinary member.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, Target};
    ///
    /// let engine = Engine::new();
    /// engine.mute_room("r1", MuteFor::Forever)?;
    /// assert!(!engine.can_send("ann", Target::room("r1")));
    /// assert!(engine.can_send("ann", Target::p2p("bob"))); // room rules stop at the room
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn can_send(&self, user: &str, target: Target<'_>) -> bool {
        self.at_now().can_send(user, target)
    }

    /// Whether `user` may send to `target` now, as an ordinary member; if not, why and
    /// until when.
    ///
    /// # Errors
    ///
    /// [`Denied`] with the highest-precedence reason (module mute, then member mute, then
    /// room mute) and the time sending would next be allowed.
    pub fn check_send(&self, user: &str, target: Target<'_>) -> Result<(), Denied> {
        self.at_now().check_send(user, target)
    }

    /// [`check_send`](Engine::check_send) for a sender with `role` in the room: exempt
    /// roles (default owner and admin) may speak through a room-wide mute.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `check_send`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, Role, Target};
    ///
    /// let engine = Engine::new();
    /// engine.mute_room("t1", MuteFor::Forever)?;
    /// assert!(engine.check_send_as("boss", Target::team("t1"), Role::Owner).is_ok());
    /// assert!(engine.check_send_as("ann", Target::team("t1"), Role::Member).is_err());
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn check_send_as(&self, user: &str, target: Target<'_>, role: Role) -> Result<(), Denied> {
        self.at_now().check_send_as(user, target, role)
    }

    /// Whether `user` may do `action` in `target` now, as an ordinary member: the
    /// general form of [`can_send`](Engine::can_send) (which is `Action::SendMessage`).
    ///
    /// A mute blocks the actions of its scope; an unscoped one blocks every action.
    /// Slow mode only counts messages: other actions are not slowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Action, Engine, MuteFor, Target};
    ///
    /// let engine = Engine::new();
    /// engine.mute_members("r1", ["bob"], MuteFor::Forever)?; // unscoped: every action
    /// assert!(!engine.can_act("bob", Target::room("r1"), Action::React));
    /// engine.mute_members_scoped("r1", ["ann"], MuteFor::Forever, Action::JoinVoice)?;
    /// assert!(engine.can_act("ann", Target::room("r1"), Action::React));
    /// assert!(!engine.can_act("ann", Target::room("r1"), Action::JoinVoice));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn can_act(&self, user: &str, target: Target<'_>, action: Action) -> bool {
        self.at_now().can_act(user, target, action)
    }

    /// [`check_send_as`](Engine::check_send_as) for any action: whether `user` with
    /// `role` may do `action` in `target` now; if not, why and until when.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `check_send`, from the mutes whose scope holds `action`.
    pub fn check_act_as(
        &self,
        user: &str,
        target: Target<'_>,
        action: Action,
        role: Role,
    ) -> Result<(), Denied> {
        self.at_now().check_act_as(user, target, action, role)
    }
}

/// The hashes of a check's ids, each taken once: the filters, the tables and slow
/// mode's log all take these.
struct Hashes {
    user: u64,
    /// The target room's (0 for a target that is no room: nothing reads it then).
    room: u64,
}

impl Hashes {
    #[inline]
    fn of(user: &str, target: Target<'_>) -> Hashes {
        Hashes {
            user: hash_str(user),
            room: if target.is_room() {
                hash_str(target.id)
            } else {
                0
            },
        }
    }

    /// The (room, user) pair's hash.
    #[inline]
    fn pair(&self) -> u64 {
        pair_hash(self.room, self.user)
    }
}

impl At<'_> {
    /// [`Engine::can_send`] at this view's time.
    #[must_use]
    pub fn can_send(&self, user: &str, target: Target<'_>) -> bool {
        self.check_send(user, target).is_ok()
    }

    /// [`Engine::check_send`] at this view's time.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `Engine::check_send`.
    pub fn check_send(&self, user: &str, target: Target<'_>) -> Result<(), Denied> {
        self.check_send_as(user, target, Role::Member)
    }

    /// [`Engine::check_send_as`] at this view's time.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `Engine::check_send`.
    pub fn check_send_as(&self, user: &str, target: Target<'_>, role: Role) -> Result<(), Denied> {
        self.check_act_as(user, target, Action::SendMessage, role)
    }

    /// [`Engine::can_act`] at this view's time.
    #[must_use]
    pub fn can_act(&self, user: &str, target: Target<'_>, action: Action) -> bool {
        self.check_act_as(user, target, action, Role::Member)
            .is_ok()
    }

    /// [`Engine::check_act_as`] at this view's time.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `Engine::check_act_as`.
    pub fn check_act_as(
        &self,
        user: &str,
        target: Target<'_>,
        action: Action,
        role: Role,
    ) -> Result<(), Denied> {
        let mut now = self.clock();
        let ids = Hashes::of(user, target);
        let facts = self.send_facts(user, target, &ids, action, role, &mut now, true);
        self.judge_send(user, target, &facts, &mut now)
    }

    /// [`Engine::try_send_as`] at this view's time.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `Engine::try_send`.
    pub fn try_send_as(&self, user: &str, target: Target<'_>, role: Role) -> Result<(), Denied> {
        let mut now = self.clock();
        // The cooldown is judged (and the send counted) in one step below.
        let ids = Hashes::of(user, target);
        let slow = &self.engine.inner.tables.slow;
        // Read before the room is: an entry judged from this room state carries it.
        let epoch = slow.epoch();
        if let Some(counted) = self.try_send_cached(user, target, &ids, role, epoch, &mut now) {
            return counted;
        }
        let facts = self.send_facts(
            user,
            target,
            &ids,
            Action::SendMessage,
            role,
            &mut now,
            false,
        );
        if let Err(mut denied) = self.judge_send(user, target, &facts, &mut now) {
            // Denied for another reason: `until` is when every block has ended, the
            // cooldown too (read only on this path).
            if facts.slowed()
                && let Some(next) =
                    slow.next_allowed_hashed(ids.pair(), target.id, user, facts.cooldown, now.get())
            {
                denied.until = denied.until.later(Expiry::At(next));
            }
            return Err(denied);
        }
        if !facts.slowed() {
            return Ok(());
        }
        // Only the cooldown gates this pair's sends: later ones may be judged from the
        // entry while the room's gates stay as they are.
        let cooldown_only = facts.module == NONE && facts.member == NONE && facts.room == NONE;
        slow.try_record_hashed(
            ids.pair(),
            target.id,
            user,
            facts.cooldown,
            now.get(),
            cooldown_only.then_some(epoch),
        )
        .map_err(|next| slowed_down(user, target, next))
    }

    /// `try_send` judged from slow mode's entry for the pair alone, if it was judged
    /// from the room at gates epoch `epoch`: then the room's cooldown is all that gates
    /// the send (a member or module mute made since would have moved the epoch). `None`:
    /// the caller judges from the tables.
    #[inline]
    fn try_send_cached(
        &self,
        user: &str,
        target: Target<'_>,
        ids: &Hashes,
        role: Role,
        epoch: u64,
        now: &mut Now<'_>,
    ) -> Option<Result<(), Denied>> {
        let engine = self.engine;
        let tables = &engine.inner.tables;
        // Exempt roles skip slow mode, which the entry does not know; only a room with
        // gates (here: slow mode) has entries.
        if !target.is_room()
            || engine.exempt.contains(role)
            || !tables.filters.room_mutes.may_contain(ids.room)
        {
            return None;
        }
        let counted = tables
            .slow
            .try_send_cached(ids.pair(), target.id, user, epoch, || now.get())?;
        Some(counted.map_err(|next| slowed_down(user, target, next)))
    }

    /// [`Engine::try_send`] at this view's time.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `Engine::try_send`.
    pub fn try_send(&self, user: &str, target: Target<'_>) -> Result<(), Denied> {
        self.try_send_as(user, target, Role::Member)
    }

    /// Judges gathered facts (a sender with no rule at all reads no clock).
    fn judge_send(
        &self,
        user: &str,
        target: Target<'_>,
        facts: &SendFacts,
        now: &mut Now<'_>,
    ) -> Result<(), Denied> {
        if !facts.any() {
            return Ok(());
        }
        let verdict = decide::send(facts, target.module, self.engine.policy, now.get());
        if let Err(denied) = &verdict {
            crate::observe::denied(user, target, denied);
        }
        verdict
    }

    /// Everything that bears on `user` doing `action` in `target` as `role`; with
    /// `slow`, also when slow mode next lets them send.
    #[expect(
        clippy::too_many_arguments,
        reason = "the check's inputs, each read once"
    )]
    fn send_facts(
        &self,
        user: &str,
        target: Target<'_>,
        ids: &Hashes,
        action: Action,
        role: Role,
        now: &mut Now<'_>,
        slow: bool,
    ) -> SendFacts {
        let engine = self.engine;
        let tables = &engine.inner.tables;
        let filters = &tables.filters;
        let mut facts = SendFacts::default();
        // Each filter that says "nothing here" saves a table lookup and its shard lock.
        // The pair filter counts member mutes and allow entries: a clear bit means the
        // sender is neither muted in the room nor on its allow list.
        let member_maybe = target.is_room() && filters.members.may_contain(ids.pair());
        // A possible member mute reads the room anyway, and with it its room-wide mute
        // and slow mode: the room-mute filter is probed only when that read is not coming.
        let room_muted = || filters.room_mutes.may_contain(ids.room);
        let room_maybe = target.is_room() && !member_maybe && room_muted();
        // The user's handle (what the room's entries are keyed by) comes with their
        // state, read if they may have a member mute, an allow entry or a module mute;
        // once it is read anyway, its module mutes are asked of it, not of the filter.
        let looked_up = member_maybe || filters.module_users.may_contain(ids.user);
        let me = if looked_up {
            tables.users.read_hashed(ids.user, user, |h, u| {
                if let Some(u) = u {
                    facts.module = u.module_blocking(target.module, action);
                }
                h
            })
        } else {
            None
        };
        // An id that is not interned has no member mute (the filter was wrong).
        // Without the handle (the pair filter was clear) the sender is on no allow list.
        if room_maybe || (member_maybe && (me.is_some() || room_muted())) {
            tables.rooms.read_hashed(ids.room, target.id, |_, r| {
                if let Some(r) = r {
                    self.room_facts(r, me, action, &mut facts);
                }
            });
        }
        if facts.cooldown != 0 {
            facts.exempt = engine.exempt.contains(role);
            if slow && facts.slowed() {
                facts.slow = tables
                    .slow
                    .next_allowed_hashed(ids.pair(), target.id, user, facts.cooldown, now.get())
                    .unwrap_or(NONE);
            }
        }
        if facts.any() {
            facts.exempt = engine.exempt.contains(role);
        }
        facts
    }

    /// What a room's state says about a sender with handle `me` (`None`: the sender's
    /// id is not interned, so nothing in the room points at them) doing `action`: the
    /// mutes whose scope holds it, and slow mode for a message.
    #[inline]
    pub(crate) fn room_facts(
        &self,
        r: &RoomState,
        me: Option<Handle>,
        action: Action,
        facts: &mut SendFacts,
    ) {
        if let Some(me) = me
            && !r.members.is_empty()
        {
            facts.member = r.members.get(&me).copied().unwrap_or(NONE);
            if facts.member != NONE && !r.member_scope(me).contains(action) {
                facts.member = NONE;
            }
        }
        if r.mute_scope.contains(action) {
            facts.room = r.mute;
        }
        if action == Action::SendMessage {
            facts.cooldown = r.slow_mode;
        }
        if facts.allow_matters(self.engine.policy) {
            facts.allowed = me.is_some_and(|me| r.allows(me));
        }
    }
}

/// The denial of a send slow mode holds back until `next`, observed.
fn slowed_down(user: &str, target: Target<'_>, next: u64) -> Denied {
    let denied = Denied {
        reason: DenyReason::SlowMode,
        until: Expiry::At(next),
    };
    crate::observe::denied(user, target, &denied);
    denied
}
