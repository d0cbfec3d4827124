//! Escalation ladders and strikes: a strike mutes a member for the next step of the
//! room's ladder.

use super::submit::{flag, unit};
use super::*;
use crate::write::{Check, Derive, Outcome};

fn strike(o: Outcome) -> Strike {
    match o {
        Outcome::Strike(s) => s,
        o => unreachable!("a strike answers with its strike, not {o:?}"),
    }
}

impl Submit<'_> {
    /// [`Engine::strike`], as a ticket.
    pub fn strike(&self, room: &str, user: &str) -> Ticket<Strike> {
        let op = Op::Strike {
            room: room.into(),
            user: user.into(),
            ladder: self.engine.ladder(room),
        };
        let derive = Derive::Strike(room.into(), user.into());
        self.request(op, 0, Check::None, |_, _| Ok(derive), strike)
    }

    /// [`Engine::clear_strikes`], as a ticket.
    pub fn clear_strikes(&self, room: &str, user: &str) -> Ticket<bool> {
        let op = Op::SetStrikes {
            room: room.into(),
            user: user.into(),
            ends_ms: Vec::new(),
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Lifted), flag)
    }

    /// [`Engine::set_ladder`], as a ticket.
    pub fn set_ladder(&self, room: &str, ladder: Ladder) -> Ticket<()> {
        let op = Op::SetLadder {
            room: room.into(),
            ladder: Some(ladder),
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Unit), unit)
    }

    /// [`Engine::clear_ladder`], as a ticket.
    pub fn clear_ladder(&self, room: &str) -> Ticket<bool> {
        let op = Op::SetLadder {
            room: room.into(),
            ladder: None,
        };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::AnyChange), flag)
    }
}

impl Engine {
    /// Records a strike against `user` in `room` and mutes them (every action) for the
    /// next step of the room's ladder ([`ladder`](Engine::ladder)): strike `n` of those
    /// that have not decayed gets step `n`, the last step repeating. A longer mute in
    /// force is kept. Returns the strikes in force and the mute's end.
    ///
    /// Strikes are state like mutes (logged, replicated, in snapshots) and decay lazily
    /// at the ladder's decay after they were made. A strike is known by the instant it
    /// decays, so applying its operation again changes nothing (what replays and
    /// replication rely on): two strikes of one member in one room in the same
    /// millisecond count once.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use mutegate::{Engine, Expiry, Ladder, ManualClock};
    ///
    /// let clock = ManualClock::new(0);
    /// let engine = Engine::builder().clock(clock.clone()).build();
    /// let minute = Duration::from_secs(60);
    /// engine.set_ladder("r1", Ladder::new([minute, 10 * minute], 60 * minute)?)?;
    /// assert_eq!(engine.strike("r1", "bob")?.expiry, Expiry::At(60_000));
    /// clock.advance(2 * minute);
    /// let second = engine.strike("r1", "bob")?;
    /// assert_eq!((second.strikes, second.expiry), (2, Expiry::At(720_000)));
    /// clock.advance(60 * minute); // the first strike decayed, the second too
    /// assert_eq!(engine.strikes("r1", "bob"), 0);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn strike(&self, room: &str, user: &str) -> Result<Strike, Error> {
        self.blocking().strike(room, user).wait()
    }

    /// Pardons `user` in `room`: forgets their strikes (their mute in force stays).
    /// Returns whether they had strikes in force.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn clear_strikes(&self, room: &str, user: &str) -> Result<bool, Error> {
        self.blocking().clear_strikes(room, user).wait()
    }

    /// `user`'s strikes in force in `room`.
    #[must_use]
    pub fn strikes(&self, room: &str, user: &str) -> usize {
        let now = self.inner.clock.now_ms();
        let tables = &self.inner.tables;
        let Some(h) = tables.users.find(user) else {
            return 0;
        };
        tables.rooms.get(room).map_or(0, |r| r.strikes_at(h, now))
    }

    /// Gives `room` a ladder of its own.
    ///
    /// # Errors
    ///
    /// An empty or over-long id. (A [`Ladder`] is checked when it is made.)
    pub fn set_ladder(&self, room: &str, ladder: Ladder) -> Result<(), Error> {
        self.blocking().set_ladder(room, ladder).wait()
    }

    /// Puts `room` back on the engine's ladder; returns whether it had its own.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn clear_ladder(&self, room: &str) -> Result<bool, Error> {
        self.blocking().clear_ladder(room).wait()
    }

    /// Whether `room` has a ladder of its own.
    #[must_use]
    pub fn has_own_ladder(&self, room: &str) -> bool {
        self.inner
            .tables
            .rooms
            .get(room)
            .is_some_and(|r| r.ladder.is_some())
    }

    /// The ladder a strike in `room` follows: the room's own, else the engine's
    /// ([`EngineBuilder::ladder`]).
    #[must_use]
    pub fn ladder(&self, room: &str) -> Ladder {
        self.inner
            .tables
            .rooms
            .get(room)
            .and_then(|r| r.ladder.as_deref().cloned())
            .unwrap_or_else(|| self.ladder.clone())
    }
}
