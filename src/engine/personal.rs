//! A user's own push rules (quiet hours, snooze, bypass rules, sender mutes) and a
//! room's setting for room-wide mentions.

use super::pages::cut;
use super::submit::{expiry, flag, lasting, unit};
use super::*;
use crate::quiet::{Bypass, QuietHours, Schedule};
use crate::write::{Check, Derive};

/// One sender a user has muted, with the mute's end.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MutedSender {
    /// The sender.
    pub sender: String,
    /// When the mute ends.
    pub expiry: Expiry,
}

impl Submit<'_> {
    /// [`Engine::set_quiet_hours`], as a ticket.
    pub fn set_quiet_hours(&self, user: &str, schedule: Schedule) -> Ticket<()> {
        let op = Op::SetQuietHours {
            user: user.into(),
            schedule: Some(schedule),
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Unit), unit)
    }

    /// [`Engine::clear_quiet_hours`], as a ticket.
    pub fn clear_quiet_hours(&self, user: &str) -> Ticket<bool> {
        let op = Op::SetQuietHours {
            user: user.into(),
            schedule: None,
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::AnyChange), flag)
    }

    /// [`Engine::snooze_until`], as a ticket.
    pub fn snooze_until(&self, user: &str, until: Expiry) -> Ticket<()> {
        let op = Op::Snooze {
            user: user.into(),
            until: Some(until),
        };
        let finish = move |_: &mut Op, now| match until {
            Expiry::At(ms) if ms <= now => Err(Error::SnoozeInPast {
                until_ms: ms,
                now_ms: now,
            }),
            _ => Ok(Derive::Unit),
        };
        self.request(op, 0, Check::None, finish, unit)
    }

    /// [`Engine::unsnooze`], as a ticket.
    pub fn unsnooze(&self, user: &str) -> Ticket<bool> {
        let op = Op::Snooze {
            user: user.into(),
            until: None,
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Lifted), flag)
    }

    /// [`Engine::set_bypass`], as a ticket.
    pub fn set_bypass(&self, user: &str, bypass: Bypass) -> Ticket<()> {
        let op = Op::SetBypass {
            user: user.into(),
            bypass,
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Unit), unit)
    }

    /// [`Engine::mute_sender`], as a ticket.
    pub fn mute_sender(&self, user: &str, sender: &str, duration: MuteFor) -> Ticket<Expiry> {
        let op = Op::MuteSender {
            user: user.into(),
            sender: sender.into(),
            until: Expiry::Never,
        };
        self.request(op, 0, Check::None, lasting(duration), expiry)
    }

    /// [`Engine::unmute_sender`], as a ticket.
    pub fn unmute_sender(&self, user: &str, sender: &str) -> Ticket<bool> {
        let op = Op::UnmuteSender {
            user: user.into(),
            sender: sender.into(),
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Lifted), flag)
    }

    /// [`Engine::set_room_mentions`], as a ticket.
    pub fn set_room_mentions(&self, room: &str, notify: bool) -> Ticket<()> {
        let op = Op::SetRoomMentions {
            room: room.into(),
            notify,
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Unit), unit)
    }
}

impl Engine {
    /// Sets `user`'s weekly quiet hours (replacing any): while a window is in force,
    /// pushes to the user are held back except what their [`Bypass`] rules let through.
    /// Sending is never affected.
    ///
    /// # Errors
    ///
    /// An empty or over-long id. (A [`Schedule`] is checked when it is made.)
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, ManualClock, Schedule};
    ///
    /// // Monday 2026-11-30 21:30 in Berlin (20:30 UTC).
    /// let clock = ManualClock::new(1_796_070_600_000);
    /// let engine = Engine::builder().clock(clock.clone()).build();
    /// let nights = Schedule::new("Europe/Berlin", ["mon 22:00-07:00".parse()?])?;
    /// engine.set_quiet_hours("ann", nights)?;
    /// assert!(engine.should_push("ann", "r1"));
    /// clock.advance(std::time::Duration::from_secs(30 * 60)); // 22:00
    /// assert!(!engine.should_push("ann", "r1"));
    /// assert!(engine.is_quiet("ann"));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn set_quiet_hours(&self, user: &str, schedule: Schedule) -> Result<(), Error> {
        self.blocking().set_quiet_hours(user, schedule).wait()
    }

    /// Removes `user`'s quiet-hours schedule; returns whether there was one.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn clear_quiet_hours(&self, user: &str) -> Result<bool, Error> {
        self.blocking().clear_quiet_hours(user).wait()
    }

    /// Holds back every push to `user` until `until` (Slack's and Sendbird's snooze),
    /// replacing any snooze; [`Bypass`] rules apply as in quiet hours.
    ///
    /// # Errors
    ///
    /// [`Error::SnoozeInPast`] for an end at or before the engine's time; an empty or
    /// over-long id.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Error, Expiry, ManualClock};
    ///
    /// let engine = Engine::builder().clock(ManualClock::new(1_000)).build();
    /// engine.snooze_until("ann", Expiry::At(5_000))?;
    /// assert!(!engine.should_push("ann", "r1"));
    /// assert!(engine.at(5_000).should_push("ann", "r1"));
    /// assert!(matches!(engine.snooze_until("ann", Expiry::At(1_000)), Err(Error::SnoozeInPast { .. })));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn snooze_until(&self, user: &str, until: Expiry) -> Result<(), Error> {
        self.blocking().snooze_until(user, until).wait()
    }

    /// Ends `user`'s snooze; returns whether one was in force.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn unsnooze(&self, user: &str) -> Result<bool, Error> {
        self.blocking().unsnooze(user).wait()
    }

    /// Sets what breaks through `user`'s quiet hours and snoozes (both off by default).
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn set_bypass(&self, user: &str, bypass: Bypass) -> Result<(), Error> {
        self.blocking().set_bypass(user, bypass).wait()
    }

    /// `user`'s quiet hours: schedule, snooze in force, bypass rules.
    #[must_use]
    pub fn quiet_hours(&self, user: &str) -> QuietHours {
        let now = self.inner.clock.now_ms();
        let Some(u) = self.inner.tables.users.get(user) else {
            return QuietHours::default();
        };
        let Some(p) = u.personal.as_deref() else {
            return QuietHours::default();
        };
        QuietHours {
            schedule: p.quiet.as_ref().map(|q| q.schedule.clone()),
            snoozed_until: active(p.snooze, now).then(|| Expiry::from_raw(p.snooze)),
            bypass: p.bypass,
        }
    }

    /// Whether `user` is in quiet time now (a window of their schedule, or a snooze).
    #[must_use]
    pub fn is_quiet(&self, user: &str) -> bool {
        let now = self.inner.clock.now_ms();
        self.inner
            .tables
            .personal
            .with(user, |r| r.quiet_at(now))
            .unwrap_or(false)
    }

    /// Drops pushes of `sender`'s messages to `user` for `duration` (Stream's user
    /// mute, Matrix's sender rule); re-muting replaces the end. Returns the end.
    ///
    /// # Errors
    ///
    /// An empty or over-long id; a zero or overflowing duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Message, MuteFor};
    ///
    /// let engine = Engine::new();
    /// engine.mute_sender("ann", "bob", MuteFor::hours(1))?;
    /// assert!(!engine.should_push_message("ann", "r1", &Message::new().sent_by("bob")));
    /// assert!(engine.should_push_message("ann", "r1", &Message::new().sent_by("cat")));
    /// assert_eq!(engine.muted_senders("ann")[0].sender, "bob");
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_sender(
        &self,
        user: &str,
        sender: &str,
        duration: MuteFor,
    ) -> Result<Expiry, Error> {
        self.blocking().mute_sender(user, sender, duration).wait()
    }

    /// Lifts `user`'s mute of `sender`; returns whether one was in force.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn unmute_sender(&self, user: &str, sender: &str) -> Result<bool, Error> {
        self.blocking().unmute_sender(user, sender).wait()
    }

    /// The senders `user` has muted, with the mutes' ends, oldest first.
    #[must_use]
    pub fn muted_senders(&self, user: &str) -> Vec<MutedSender> {
        let now = self.inner.clock.now_ms();
        let tables = &self.inner.tables;
        // Handles under the user's guard, ids after it is released.
        let senders: Vec<(Handle, Raw)> = match tables.users.get(user) {
            None => return Vec::new(),
            Some(u) => u.personal.as_deref().map_or_else(Vec::new, |p| {
                p.senders
                    .iter()
                    .filter(|(_, raw)| active(*raw, now))
                    .copied()
                    .collect()
            }),
        };
        senders
            .into_iter()
            .filter_map(|(h, raw)| {
                Some(MutedSender {
                    sender: tables.users.id_of(h)?.into(),
                    expiry: Expiry::from_raw(raw),
                })
            })
            .collect()
    }

    /// [`muted_senders`](Engine::muted_senders) a page at a time, in sender id order.
    ///
    /// # Errors
    ///
    /// [`Error::PageLimit`] for a limit of 0 or over [`MAX_PAGE_LEN`].
    pub fn muted_senders_page(
        &self,
        user: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<MutedSender>, Error> {
        cut(self.muted_senders(user), |m| &m.sender, after, limit)
    }

    /// Sets whether room-wide mentions (`@all`, `@here`) in `room` notify as mentions
    /// (`true`, the default) or count as ordinary messages (`false`): an admin's
    /// setting, as Discord's "suppress @everyone".
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn set_room_mentions(&self, room: &str, notify: bool) -> Result<(), Error> {
        self.blocking().set_room_mentions(room, notify).wait()
    }

    /// Whether room-wide mentions in `room` notify as mentions.
    #[must_use]
    pub fn room_mentions(&self, room: &str) -> bool {
        self.inner
            .tables
            .rooms
            .get(room)
            .is_none_or(|r| !r.plain_room_mentions)
    }
}
