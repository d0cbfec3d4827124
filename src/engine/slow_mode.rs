//! Slow mode: a room's cooldown between two messages of one member, and the check that
//! counts a send.

use super::submit::{flag, unit};
use super::*;
use crate::decide::Denied;
use crate::module::Target;
use crate::role::Role;
use crate::write::{Check, Derive};

impl Submit<'_> {
    /// [`Engine::set_slow_mode`], as a ticket.
    pub fn set_slow_mode(&self, room: &str, cooldown: Duration) -> Ticket<()> {
        let op = Op::SetSlowMode {
            room: room.into(),
            cooldown_ms: Some(u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX)),
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Unit), unit)
    }

    /// [`Engine::clear_slow_mode`], as a ticket.
    pub fn clear_slow_mode(&self, room: &str) -> Ticket<bool> {
        let op = Op::SetSlowMode {
            room: room.into(),
            cooldown_ms: None,
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::AnyChange), flag)
    }
}

impl Engine {
    /// Puts `room` in slow mode: a member may send one message per `cooldown` (Discord,
    /// Stream, Telegram). Allow-listed members and exempt roles (default owner and
    /// admin) are not slowed, as for a room-wide mute. Replaces any cooldown.
    ///
    /// The setting is an ordinary operation (logged, replicated, in snapshots). When
    /// each member last sent is soft state: node-local, never logged or replicated, and
    /// forgotten on restart — in a cluster each node enforces the cooldown for the sends
    /// it admits ([`try_send`](Engine::try_send)).
    ///
    /// # Errors
    ///
    /// [`Error::CooldownOutOfRange`] for a cooldown under 1 s or over 6 h (zero
    /// included); an empty or over-long id.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mutegate::{DenyReason, Engine, Expiry, ManualClock, Target};
    ///
    /// let clock = ManualClock::new(0);
    /// let engine = Engine::builder().clock(clock.clone()).build();
    /// engine.set_slow_mode("r1", Duration::from_secs(10))?;
    /// assert!(engine.try_send("ann", Target::room("r1")).is_ok());
    /// let denied = engine.try_send("ann", Target::room("r1")).unwrap_err();
    /// assert_eq!((denied.reason, denied.until), (DenyReason::SlowMode, Expiry::At(10_000)));
    /// assert!(!engine.can_send("ann", Target::room("r1"))); // reported, not counted
    /// clock.advance(Duration::from_secs(10));
    /// assert!(engine.try_send("ann", Target::room("r1")).is_ok());
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn set_slow_mode(&self, room: &str, cooldown: Duration) -> Result<(), Error> {
        self.blocking().set_slow_mode(room, cooldown).wait()
    }

    /// Lifts `room`'s slow mode (and forgets its members' last sends); returns whether
    /// it had one.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn clear_slow_mode(&self, room: &str) -> Result<bool, Error> {
        self.blocking().clear_slow_mode(room).wait()
    }

    /// `room`'s slow-mode cooldown, if it has one.
    #[must_use]
    pub fn slow_mode(&self, room: &str) -> Option<Duration> {
        let cooldown = self.inner.tables.rooms.get(room).map_or(0, |r| r.slow_mode);
        (cooldown != 0).then(|| Duration::from_millis(cooldown))
    }

    /// May `user` send to `target` now, as an ordinary member — and if so, count the
    /// send against slow mode. [`check_send`](Engine::check_send) and
    /// [`can_send`](Engine::can_send) report slow mode without counting.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `check_send`, with [`DenyReason::SlowMode`](crate::DenyReason::SlowMode)
    /// and the instant the next message is allowed when only the cooldown stands in the way.
    pub fn try_send(&self, user: &str, target: Target<'_>) -> Result<(), Denied> {
        self.at_now().try_send(user, target)
    }

    /// [`try_send`](Engine::try_send) for a member with `role`.
    ///
    /// # Errors
    ///
    /// [`Denied`], as for `try_send`.
    pub fn try_send_as(&self, user: &str, target: Target<'_>, role: Role) -> Result<(), Denied> {
        self.at_now().try_send_as(user, target, role)
    }
}
