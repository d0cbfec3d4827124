//! The hot path: `can_send` / `check_send` and `should_push` / `push_targets`, on the
//! engine (clock read lazily, at most once) and on an [`At`] view (time given).
//!
//! Each check takes one shard guard at a time, copies out the few facts it needs, and
//! lets [`decide`](crate::decide) judge them. Nothing here allocates (but the `Vec` that
//! `push_targets` returns) or calls user code while a guard is held, besides `AsRef<str>`.

use crate::action::Action;
use crate::clock::Now;
use crate::decide::{self, Denied, DenyReason, PersonalFacts, SendFacts};
use crate::engine::Engine;
use crate::expiry::{Expiry, NONE, Raw, active};
use crate::ids::{Handle, hash_str, pair_hash};
use crate::module::Target;
use crate::notify::{Mentions, Message, NotifyLevel};
use crate::role::Role;
use crate::store::{RoomState, Setting, fanout_hash};

impl Engine {
    /// The checks at the clock's time, read lazily (at most once per call).
    #[inline]
    pub(crate) fn at_now(&self) -> At<'_> {
        At {
            engine: self,
            fixed: None,
        }
    }

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

    /// Whether a message in `room` that does not mention `user` pushes to them now.
    #[must_use]
    pub fn should_push(&self, user: &str, room: &str) -> bool {
        self.at_now().should_push(user, room)
    }

    /// Whether a message in `room` pushes to `user` now, given whether it mentions them
    /// by name: `Off` beats mentions, `MentionsOnly` and `DirectMentions` let them
    /// through. Quiet hours apply; no sender is named, so sender mutes do not.
    #[must_use]
    pub fn should_push_mentioned(&self, user: &str, room: &str, mentioned: bool) -> bool {
        self.at_now().should_push_mentioned(user, room, mentioned)
    }

    /// The members of `room` that one message should push to, in the order given.
    ///
    /// Members on default settings cost O(1) each; when nobody in the room has a setting
    /// and nobody has personal rules (quiet hours, snooze, sender mutes), no member is
    /// looked up at all. `Mentions::Everyone` is a room-wide mention; quiet hours apply,
    /// sender mutes need a sender ([`push_targets_for`](Engine::push_targets_for)).
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Mentions, MuteFor, NotifyLevel};
    ///
    /// let engine = Engine::new();
    /// engine.mute_notifications("bob", "r1")?;
    /// engine.set_notification_level("cat", "r1", NotifyLevel::MentionsOnly, MuteFor::Forever)?;
    /// let members = ["ann", "bob", "cat"];
    /// assert_eq!(engine.push_targets("r1", &members, Mentions::None), [&"ann"]);
    /// assert_eq!(engine.push_targets("r1", &members, Mentions::Users(&["cat"])), [&"ann", &"cat"]);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn push_targets<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        mentions: Mentions<'_>,
    ) -> Vec<&'m S> {
        self.at_now().push_targets(room, members, mentions)
    }

    /// [`push_targets`](Engine::push_targets) appending to a caller's buffer, so a
    /// pipeline can reuse one allocation.
    pub fn push_targets_into<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        mentions: Mentions<'_>,
        out: &mut Vec<&'m S>,
    ) {
        self.at_now()
            .push_targets_into(room, members, mentions, out);
    }

    /// Whether one message in `room` pushes to `user` now, with everything that bears
    /// on it: the user's level for the room, how the message mentions them (and the
    /// room's policy for room-wide mentions), their mute of its sender, their quiet
    /// hours or snooze and its bypass rules. The README's precedence table says how
    /// these combine.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Bypass, Engine, Expiry, Message};
    ///
    /// let engine = Engine::new();
    /// engine.snooze_until("ann", Expiry::Never)?;
    /// engine.set_bypass("ann", Bypass { mentions: false, urgent: true })?;
    /// assert!(!engine.should_push_message("ann", "r1", &Message::new()));
    /// assert!(engine.should_push_message("ann", "r1", &Message::new().urgent()));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn should_push_message(&self, user: &str, room: &str, msg: &Message<'_>) -> bool {
        self.at_now().should_push_message(user, room, msg)
    }

    /// The members of `room` that one message should push to, in the order given: the
    /// bulk form of [`should_push_message`](Engine::should_push_message).
    ///
    /// As [`push_targets`](Engine::push_targets), members without settings or personal
    /// rules cost one hash or two each; a member with quiet hours costs a lookup of
    /// their state, and converts no time zone until their quiet or loud time ends.
    #[must_use]
    pub fn push_targets_for<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        msg: &Message<'_>,
    ) -> Vec<&'m S> {
        self.at_now().push_targets_for(room, members, msg)
    }

    /// [`push_targets_for`](Engine::push_targets_for) appending to a caller's buffer.
    pub fn push_targets_for_into<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        msg: &Message<'_>,
        out: &mut Vec<&'m S>,
    ) {
        self.at_now().push_targets_for_into(room, members, msg, out);
    }

    /// A view of the engine at a fixed time, so a pipeline reads the clock once per batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, ManualClock, MuteFor, Target};
    ///
    /// let engine = Engine::builder().clock(ManualClock::new(0)).build();
    /// engine.mute_members("r1", ["bob"], MuteFor::millis(100))?;
    /// assert!(!engine.at(99).can_send("bob", Target::room("r1")));
    /// assert!(engine.at(100).can_send("bob", Target::room("r1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn at(&self, now_ms: u64) -> At<'_> {
        At {
            engine: self,
            fixed: Some(now_ms),
        }
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

/// The engine's checks at a fixed time, from [`Engine::at`].
#[derive(Clone, Copy, Debug)]
pub struct At<'e> {
    engine: &'e Engine,
    /// `None`: the engine's own checks, reading the clock on first need.
    fixed: Option<u64>,
}

impl At<'_> {
    #[inline]
    fn clock(&self) -> Now<'_> {
        match self.fixed {
            Some(ms) => Now::Fixed(ms),
            None => Now::Lazy(&*self.engine.inner.clock),
        }
    }

    /// The engine this view reads.
    #[inline]
    pub(crate) fn engine(&self) -> &Engine {
        self.engine
    }

    /// The time this view checks at.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.clock().get()
    }

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
        let facts = self.send_facts(
            user,
            target,
            &ids,
            Action::SendMessage,
            role,
            &mut now,
            false,
        );
        let slow = &self.engine.inner.tables.slow;
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
        slow.try_record_hashed(ids.pair(), target.id, user, facts.cooldown, now.get())
            .map_err(|next| {
                let denied = Denied {
                    reason: DenyReason::SlowMode,
                    until: Expiry::At(next),
                };
                crate::observe::denied(user, target, &denied);
                denied
            })
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
        let verdict = decide::send(facts, target.module, self.engine.inner.policy, now.get());
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
        let member_maybe = target.is_room() && filters.members.may_contain(ids.pair());
        // A possible member mute reads the room anyway, and with it its room-wide mute
        // and slow mode: the room-mute filter is probed only when that read is not coming.
        let room_muted = || filters.room_mutes.may_contain(ids.room);
        let room_maybe = target.is_room() && !member_maybe && room_muted();
        // The user's handle (what the room's entries are keyed by) comes with their
        // state, read if they may have a member or module mute; else only if the room
        // turns out to have an allow list that matters.
        let module_maybe = filters.module_users.may_contain(ids.user);
        let looked_up = member_maybe || module_maybe;
        let mut me = if looked_up {
            tables.users.read_hashed(ids.user, user, |h, u| {
                if module_maybe && let Some(u) = u {
                    facts.module = u.module_blocking(target.module, action);
                }
                h
            })
        } else {
            None
        };
        // An id that is not interned has no member mute (the filter was wrong).
        if room_maybe || (member_maybe && (me.is_some() || room_muted())) {
            let allow_list = tables.rooms.read_hashed(ids.room, target.id, |_, r| {
                r.is_some_and(|r| {
                    self.room_facts(r, me, action, &mut facts);
                    r.allow.is_some()
                })
            });
            if allow_list == Some(true)
                && !looked_up
                && facts.allow_matters(self.engine.inner.policy)
            {
                me = tables.users.find_hashed(ids.user, user);
                if let Some(h) = me {
                    facts.allowed = tables
                        .rooms
                        .read_hashed(ids.room, target.id, |_, r| r.is_some_and(|r| r.allows(h)))
                        .unwrap_or(false);
                }
            }
        }
        if facts.cooldown != 0 {
            facts.exempt = engine.inner.exempt.contains(role);
            if slow && facts.slowed() {
                facts.slow = tables
                    .slow
                    .next_allowed_hashed(ids.pair(), target.id, user, facts.cooldown, now.get())
                    .unwrap_or(NONE);
            }
        }
        if facts.any() {
            facts.exempt = engine.inner.exempt.contains(role);
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
        if facts.allow_matters(self.engine.inner.policy) {
            facts.allowed = me.is_some_and(|me| r.allows(me));
        }
    }

    /// [`Engine::should_push`] at this view's time.
    #[must_use]
    pub fn should_push(&self, user: &str, room: &str) -> bool {
        self.should_push_mentioned(user, room, false)
    }

    /// [`Engine::should_push_mentioned`] at this view's time.
    #[must_use]
    pub fn should_push_mentioned(&self, user: &str, room: &str, mentioned: bool) -> bool {
        let users = [user];
        let msg = if mentioned {
            Message::new().mentioning(&users)
        } else {
            Message::new()
        };
        self.should_push_message(user, room, &msg)
    }

    /// [`Engine::should_push_message`] at this view's time.
    #[must_use]
    pub fn should_push_message(&self, user: &str, room: &str, msg: &Message<'_>) -> bool {
        let tables = &self.engine.inner.tables;
        // The user's id is hashed once, for the filter, the push index and the table.
        let hu = hash_str(user);
        let notify_maybe = tables.filters.notify_users.may_contain(hu);
        let mut now = self.clock();
        // The user's rule, read under the index shard's guard alone; the sender's
        // handle after it (one guard at a time).
        let rule = tables.personal.with_hashed(hu, user, |r| {
            let senders =
                (r.mutes_senders && msg.sender().is_some()).then(|| r.personal.senders.clone());
            (r.quiet_at(now.get()), r.bypass, senders)
        });
        if !notify_maybe && rule.is_none() {
            return true;
        }
        let level = if notify_maybe {
            // A setting points at its room's handle; no handle, no setting.
            tables.rooms.find(room).map_or(NotifyLevel::All, |rh| {
                tables
                    .users
                    .get_hashed(hu, user)
                    .and_then(|u| u.setting(rh))
                    .filter(|s| active(s.until, now.get()))
                    .map_or(NotifyLevel::All, |s| s.level)
            })
        } else {
            NotifyLevel::All
        };
        // The room's policy only matters where a room-wide mention could decide.
        let counts = msg.is_room_wide()
            && level == NotifyLevel::MentionsOnly
            && tables
                .rooms
                .get(room)
                .is_none_or(|r| !r.plain_room_mentions);
        let mention = msg.mention(user, counts);
        if !decide::level_admits(level, mention) {
            return false;
        }
        let Some((quiet, bypass, senders)) = rule else {
            return true;
        };
        let sender_muted = senders.is_some_and(|senders| {
            let sh = msg.sender().and_then(|s| tables.users.find(s));
            muted_in(&senders, sh, &mut now)
        });
        let facts = PersonalFacts {
            sender_muted,
            quiet,
            bypass,
        };
        decide::personal_admits(&facts, mention, msg.is_urgent())
    }

    /// [`Engine::push_targets`] at this view's time.
    #[must_use]
    pub fn push_targets<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        mentions: Mentions<'_>,
    ) -> Vec<&'m S> {
        self.push_targets_for(room, members, &Message::from(mentions))
    }

    /// [`Engine::push_targets_into`] at this view's time.
    pub fn push_targets_into<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        mentions: Mentions<'_>,
        out: &mut Vec<&'m S>,
    ) {
        self.push_targets_for_into(room, members, &Message::from(mentions), out);
    }

    /// [`Engine::push_targets_for`] at this view's time.
    #[must_use]
    pub fn push_targets_for<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        msg: &Message<'_>,
    ) -> Vec<&'m S> {
        let mut out = Vec::new();
        self.push_targets_for_into(room, members, msg, &mut out);
        out
    }

    /// [`Engine::push_targets_for_into`] at this view's time.
    pub fn push_targets_for_into<'m, S: AsRef<str>>(
        &self,
        room: &str,
        members: &'m [S],
        msg: &Message<'_>,
        out: &mut Vec<&'m S>,
    ) {
        let tables = &self.engine.inner.tables;
        // A snapshot of the room's settings: the shard is held only to clone an `Arc`,
        // so writers are never held up by a fan-out, however large the room.
        let (settings, plain) = tables
            .rooms
            .get(room)
            .map_or((None, false), |r| (r.notify.clone(), r.plain_room_mentions));
        let any_personal = !tables.personal.is_empty();
        if settings.is_none() && !any_personal {
            // Nobody in the room has a setting and nobody anywhere has personal rules:
            // no per-member work at all.
            out.extend(members);
            return;
        }
        let mut now = self.clock();
        out.reserve(members.len());
        if let (Some(map), false) = (&settings, any_personal) {
            // Room levels only: a member without a setting is pushed at once.
            return map.for_each_member(members, |member, _, setting| {
                let pushes = setting.is_none_or(|s| {
                    !active(s.until, now.get())
                        || decide::level_admits(s.level, msg.mention(member.as_ref(), !plain))
                });
                if pushes {
                    out.push(member);
                }
            });
        }
        let sh = msg.sender().and_then(|s| tables.users.find(s));
        let mut rules = tables.personal.reader();
        let mut judge = |member: &'m S, h: u64, setting: Option<Setting>| {
            let id = member.as_ref();
            let rule = rules.get(h, id);
            if setting.is_none() && rule.is_none() {
                // No level, no rules: the common member.
                return out.push(member);
            }
            let mention = msg.mention(id, !plain);
            let level = setting
                .filter(|s| active(s.until, now.get()))
                .map_or(NotifyLevel::All, |s| s.level);
            if !decide::level_admits(level, mention) {
                return;
            }
            if let Some(r) = rule {
                let facts = PersonalFacts {
                    sender_muted: r.mutes_senders && muted_in(&r.personal.senders, sh, &mut now),
                    quiet: r.quiet_at(now.get()),
                    bypass: r.bypass,
                };
                if !decide::personal_admits(&facts, mention, msg.is_urgent()) {
                    return;
                }
            }
            out.push(member);
        };
        match settings {
            Some(map) => map.for_each_member(members, |m, h, s| judge(m, h, s.copied())),
            None => members
                .iter()
                .for_each(|m| judge(m, fanout_hash(m.as_ref()), None)),
        }
    }
}

/// Whether `senders` (a user's muted senders) holds the sender with handle `sender` at
/// `now` (`None`: a sender whose id is not interned, whom nobody mutes).
#[inline]
fn muted_in(senders: &[(Handle, Raw)], sender: Option<Handle>, now: &mut Now<'_>) -> bool {
    sender.is_some_and(|s| {
        senders
            .iter()
            .any(|&(x, raw)| x == s && raw != NONE && active(raw, now.get()))
    })
}
