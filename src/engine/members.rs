//! Speech mutes of members (Agora mute list): mute, lift and list.

use super::*;

impl Engine {
    /// Speech-mutes `users` in `room` for `duration` (Agora `POST .../mute`). Returns the
    /// expiry given to every one of them.
    ///
    /// The whole batch is validated first; one bad id refuses it all. Re-muting a muted
    /// member replaces the expiry (longer or shorter). Membership is not consulted:
    /// leaving and rejoining the room does not lift a mute.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty batch or one over
    /// [`Limits::max_batch`], a zero or overflowing duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Expiry, ManualClock, MuteFor};
    ///
    /// let engine = Engine::builder().clock(ManualClock::new(1_000)).build();
    /// let expiry = engine.mute_members("r1", ["ann", "bob"], MuteFor::millis(500))?;
    /// assert_eq!(expiry, Expiry::At(1_500));
    /// assert_eq!(engine.muted_members("r1").len(), 2);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_members<I, S>(
        &self,
        room: &str,
        users: I,
        duration: MuteFor,
    ) -> Result<Expiry, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.blocking().mute_members(room, users, duration).wait()
    }

    /// [`mute_members`](Engine::mute_members) scoped to `actions`: the members may still
    /// do what the scope leaves out (a mute of [`Action::React`](crate::Action::React)
    /// alone lets them send). Re-muting replaces the scope with the new one.
    ///
    /// # Errors
    ///
    /// As for `mute_members`, and [`Error::NoActionGiven`] for an empty scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Action, Actions, Engine, MuteFor, Target};
    ///
    /// let engine = Engine::new();
    /// let scope = Actions::of([Action::React, Action::Edit]);
    /// engine.mute_members_scoped("r1", ["ann"], MuteFor::Forever, scope)?;
    /// assert!(engine.can_send("ann", Target::room("r1")));
    /// assert!(!engine.can_act("ann", Target::room("r1"), Action::React));
    /// assert_eq!(engine.muted_members("r1")[0].actions, scope);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_members_scoped<I, S>(
        &self,
        room: &str,
        users: I,
        duration: MuteFor,
        actions: impl Into<Actions>,
    ) -> Result<Expiry, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.blocking()
            .mute_members_scoped(room, users, duration, actions)
            .wait()
    }

    /// Lifts the speech mutes of `users` in `room` (Agora `DELETE .../mute/{member}`).
    /// Returns how many of them were muted.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty or over-large batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor};
    ///
    /// let engine = Engine::new();
    /// engine.mute_members("r1", ["ann"], MuteFor::Forever)?;
    /// assert_eq!(engine.unmute_members("r1", ["ann", "bob"])?, 1);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn unmute_members<I, S>(&self, room: &str, users: I) -> Result<usize, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.blocking().unmute_members(room, users).wait()
    }

    /// The members of `room` with an active speech mute, with their expiry, by user id
    /// (in the order of the ids' UTF-8 bytes, not a locale's collation).
    #[must_use]
    pub fn muted_members(&self, room: &str) -> Vec<MutedMember> {
        let now = self.inner.clock.now_ms();
        let tables = &self.inner.tables;
        // Handles under the room's guard, ids after it is released.
        let muted: Vec<(Handle, Raw, Actions)> = match tables.rooms.get(room) {
            None => return Vec::new(),
            Some(r) => r
                .members
                .iter()
                .filter(|&(_, &e)| active(e, now))
                .map(|(&u, &e)| (u, e, r.member_scope(u)))
                .collect(),
        };
        let mut out: Vec<MutedMember> = muted
            .into_iter()
            .filter_map(|(u, e, actions)| {
                let user: String = tables.users.id_of(u)?.into();
                let expiry = Expiry::from_raw(e);
                Some(MutedMember {
                    trail: tables.history.mute_trail(room, &user, expiry),
                    user,
                    expiry,
                    actions,
                })
            })
            .collect();
        out.sort_unstable_by(|a, b| a.user.cmp(&b.user));
        out
    }

    /// When `user`'s speech mute in `room` ends, or `None` if not muted there.
    #[must_use]
    pub fn member_mute(&self, room: &str, user: &str) -> Option<Expiry> {
        let now = self.inner.clock.now_ms();
        let tables = &self.inner.tables;
        let user = tables.users.find(user)?;
        let e = *tables.rooms.get(room)?.members.get(&user)?;
        active(e, now).then(|| Expiry::from_raw(e))
    }

    /// `user`'s speech mute in `room` whole (its end, what it blocks, its trail) as
    /// [`muted_members`](Engine::muted_members) lists it, or `None` if not muted there.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Action, Engine, MuteFor, Trail};
    ///
    /// let engine = Engine::new();
    /// let trail = Trail::by("mod-1").reason("spam");
    /// engine.with_trail(&trail).mute_members_scoped("r1", ["bob"], MuteFor::Forever, Action::React).wait()?;
    /// let muted = engine.muted_member("r1", "bob").unwrap();
    /// assert_eq!(muted.actions, Action::React.into());
    /// assert_eq!(muted.trail, Some(trail));
    /// assert!(engine.muted_member("r1", "ann").is_none());
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn muted_member(&self, room: &str, user: &str) -> Option<MutedMember> {
        let now = self.inner.clock.now_ms();
        let tables = &self.inner.tables;
        let h = tables.users.find(user)?;
        // The room's guard is released before the history is read.
        let (raw, actions) = {
            let r = tables.rooms.get(room)?;
            (*r.members.get(&h)?, r.member_scope(h))
        };
        if !active(raw, now) {
            return None;
        }
        let expiry = Expiry::from_raw(raw);
        Some(MutedMember {
            trail: tables.history.mute_trail(room, user, expiry),
            user: user.to_owned(),
            expiry,
            actions,
        })
    }

    /// What `user`'s speech mute in `room` blocks, or `None` if not muted there.
    #[must_use]
    pub fn member_mute_actions(&self, room: &str, user: &str) -> Option<Actions> {
        let now = self.inner.clock.now_ms();
        let tables = &self.inner.tables;
        let user = tables.users.find(user)?;
        let r = tables.rooms.get(room)?;
        let e = *r.members.get(&user)?;
        active(e, now).then(|| r.member_scope(user))
    }
}
