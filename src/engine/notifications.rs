//! Notification mutes (IMKit): set, lift and list a user's per-room notification levels.

use super::*;

impl Engine {
    /// Mutes `room`'s notifications for `user` until unmuted (IMKit `POST .../mute/{room}`).
    ///
    /// Muting a muted room keeps one entry, in its place; the new call's level and
    /// expiry replace the old. Sending is never affected.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    ///
    /// # Examples
    ///
    /// ```
    /// let engine = mutegate::Engine::new();
    /// engine.mute_notifications("aaa", "demo")?;
    /// engine.mute_notifications("aaa", "demo")?;
    /// assert_eq!(engine.muted_rooms("aaa"), ["demo"]);
    /// assert!(!engine.should_push("aaa", "demo"));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn mute_notifications(&self, user: &str, room: &str) -> Result<(), Error> {
        self.blocking().mute_notifications(user, room).wait()
    }

    /// Sets `user`'s notification level for `room`, lasting `duration`
    /// ("mute for 8 hours", "mentions only").
    ///
    /// [`NotifyLevel::All`] with [`MuteFor::Forever`] restores the default (no error if
    /// there was no setting).
    ///
    /// # Errors
    ///
    /// An empty or over-long id; a zero or overflowing duration;
    /// [`Error::InvalidCombination`] for `All` with a finite duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, ManualClock, MuteFor, NotifyLevel};
    ///
    /// let clock = ManualClock::new(0);
    /// let engine = Engine::builder().clock(clock.clone()).build();
    /// engine.set_notification_level("u", "r", NotifyLevel::MentionsOnly, MuteFor::hours(8))?;
    /// assert!(!engine.should_push("u", "r"));
    /// assert!(engine.should_push_mentioned("u", "r", true));
    /// clock.advance(std::time::Duration::from_secs(8 * 3600));
    /// assert!(engine.should_push("u", "r"));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn set_notification_level(
        &self,
        user: &str,
        room: &str,
        level: NotifyLevel,
        duration: MuteFor,
    ) -> Result<(), Error> {
        self.blocking()
            .set_notification_level(user, room, level, duration)
            .wait()
    }

    /// Lifts `user`'s notification mute of `room` (IMKit `DELETE .../mute/{room}`).
    ///
    /// # Errors
    ///
    /// [`Error::NotMuted`] if the room has no active setting for the user (nothing
    /// changes); an empty or over-long id.
    ///
    /// # Examples
    ///
    /// ```
    /// let engine = mutegate::Engine::new();
    /// engine.mute_notifications("aaa", "demo")?;
    /// engine.unmute_notifications("aaa", "demo")?;
    /// assert!(engine.muted_rooms("aaa").is_empty());
    /// assert!(engine.unmute_notifications("aaa", "demo").is_err());
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn unmute_notifications(&self, user: &str, room: &str) -> Result<(), Error> {
        self.blocking().unmute_notifications(user, room).wait()
    }

    /// The rooms whose notifications `user` has muted or limited, oldest first (IMKit's
    /// `mute` array).
    #[must_use]
    pub fn muted_rooms(&self, user: &str) -> Vec<String> {
        self.notification_settings(user)
            .into_iter()
            .map(|s| s.room)
            .collect()
    }

    /// `user`'s active non-default notification settings with level and expiry, oldest first.
    #[must_use]
    pub fn notification_settings(&self, user: &str) -> Vec<NotifySetting> {
        let now = self.inner.clock.now_ms();
        let tables = &self.inner.tables;
        // Handles under the user's guard, ids after it is released.
        let settings: Vec<(Handle, Setting)> = match tables.users.get(user) {
            None => return Vec::new(),
            Some(u) => u
                .notify
                .iter()
                .filter(|(_, s)| active(s.until, now))
                .copied()
                .collect(),
        };
        settings
            .into_iter()
            .filter_map(|(room, s)| {
                Some(NotifySetting {
                    room: tables.rooms.id_of(room)?.into(),
                    level: s.level,
                    expiry: Expiry::from_raw(s.until),
                })
            })
            .collect()
    }

    /// `user`'s notification level for `room` now ([`NotifyLevel::All`] if none is set).
    #[must_use]
    pub fn notification_level(&self, user: &str, room: &str) -> NotifyLevel {
        self.inner
            .tables
            .active_setting(user, room, self.inner.clock.now_ms())
            .map_or(NotifyLevel::All, |s| s.level)
    }
}
