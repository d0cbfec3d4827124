//! Should this user get a push? `should_push`, `should_push_mentioned`,
//! `should_push_message` and the fan-out `push_targets` family, on the engine and on an
//! [`At`] view: the user's level for the room, then their own rules (quiet hours,
//! snooze, muted senders), judged by `decide`.

use super::At;
use crate::clock::Now;
use crate::decide::{self, PersonalFacts};
use crate::engine::Engine;
use crate::expiry::{NONE, Raw, active};
use crate::ids::{Handle, hash_str};
use crate::notify::{Mentions, Message, NotifyLevel, Setting};
use crate::store::fanout_hash;

impl Engine {
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
}

impl At<'_> {
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
