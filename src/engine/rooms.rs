//! Room-wide mutes and allow lists (Agora "mute all" and white list).

use super::*;

impl Engine {
    /// Mutes the whole of `room` for `duration` (Agora "mute all", `POST .../ban`):
    /// only allow-listed users and exempt roles may send. Returns the expiry. Member
    /// mutes are untouched.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, a zero or overflowing duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, Target};
    ///
    /// let engine = Engine::new();
    /// engine.allow("r1", ["vip"])?;
    /// engine.mute_room("r1", MuteFor::Forever)?;
    /// assert!(engine.can_send("vip", Target::room("r1")));
    /// assert!(!engine.can_send("ann", Target::room("r1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_room(&self, room: &str, duration: MuteFor) -> Result<Expiry, Error> {
        self.blocking().mute_room(room, duration).wait()
    }

    /// [`mute_room`](Engine::mute_room) scoped to `actions`: members may still do what
    /// the scope leaves out (a room-wide mute of voice alone lets them type).
    ///
    /// # Errors
    ///
    /// As for `mute_room`, and [`Error::NoActionGiven`] for an empty scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Action, Engine, MuteFor, Target};
    ///
    /// let engine = Engine::new();
    /// engine.mute_room_scoped("r1", MuteFor::Forever, Action::UploadMedia)?;
    /// assert!(engine.can_send("ann", Target::room("r1")));
    /// assert!(!engine.can_act("ann", Target::room("r1"), Action::UploadMedia));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_room_scoped(
        &self,
        room: &str,
        duration: MuteFor,
        actions: impl Into<Actions>,
    ) -> Result<Expiry, Error> {
        self.blocking()
            .mute_room_scoped(room, duration, actions)
            .wait()
    }

    /// Lifts `room`'s room-wide mute (Agora `DELETE .../ban`). Returns whether it was muted.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn unmute_room(&self, room: &str) -> Result<bool, Error> {
        self.blocking().unmute_room(room).wait()
    }

    /// When `room`'s room-wide mute ends, or `None` if it is not muted.
    #[must_use]
    pub fn room_mute(&self, room: &str) -> Option<Expiry> {
        let now = self.inner.clock.now_ms();
        let raw = self.inner.tables.rooms.get(room)?.mute;
        active(raw, now).then(|| Expiry::from_raw(raw))
    }

    /// What `room`'s room-wide mute blocks, or `None` if it is not muted.
    #[must_use]
    pub fn room_mute_actions(&self, room: &str) -> Option<Actions> {
        let now = self.inner.clock.now_ms();
        let r = self.inner.tables.rooms.get(room)?;
        active(r.mute, now).then_some(r.mute_scope)
    }

    /// Adds `users` to `room`'s allow list (Agora `POST .../white/users`).
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty or over-large batch.
    pub fn allow<I, S>(&self, room: &str, users: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.blocking().allow(room, users).wait()
    }

    /// Removes `users` from `room`'s allow list. Returns how many were on it.
    ///
    /// # Errors
    ///
    /// An empty or over-long id, an empty or over-large batch.
    pub fn disallow<I, S>(&self, room: &str, users: I) -> Result<usize, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.blocking().disallow(room, users).wait()
    }

    /// `room`'s allow list, by user id (in the order of the ids' UTF-8 bytes, not a
    /// locale's collation).
    #[must_use]
    pub fn allow_list(&self, room: &str) -> Vec<String> {
        let tables = &self.inner.tables;
        // Handles under the room's guard, ids after it is released.
        let list: Vec<Handle> = match tables.rooms.get(room) {
            None => return Vec::new(),
            Some(r) => r.allow_list().collect(),
        };
        let mut out: Vec<String> = list
            .into_iter()
            .filter_map(|u| Some(tables.users.id_of(u)?.into()))
            .collect();
        out.sort_unstable();
        out
    }

    /// Whether `user` is on `room`'s allow list.
    #[must_use]
    pub fn is_allowed(&self, room: &str, user: &str) -> bool {
        let tables = &self.inner.tables;
        tables
            .users
            .find(user)
            .is_some_and(|user| tables.rooms.get(room).is_some_and(|r| r.allows(user)))
    }
}
