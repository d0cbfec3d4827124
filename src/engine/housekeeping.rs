//! Purging users and rooms, counting and checking the state.

use super::*;

impl Engine {
    /// Purges every trace of `user`: notification settings, module mutes, member mutes
    /// and allow-list entries in every room. Returns whether anything was removed.
    /// Visits every room (member mutes are indexed by room only).
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn remove_user(&self, user: &str) -> Result<bool, Error> {
        self.blocking().remove_user(user).wait()
    }

    /// Purges every trace of `room`: its users' notification settings for it, its member
    /// mutes, room-wide mute and allow list. Returns whether anything was removed.
    ///
    /// # Errors
    ///
    /// An empty or over-long id.
    pub fn remove_room(&self, room: &str) -> Result<bool, Error> {
        self.blocking().remove_room(room).wait()
    }

    /// Counts the active entries of each kind. Visits all state: for monitoring, not for
    /// the hot path.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats::collect(&self.inner.tables, self.inner.clock.now_ms())
    }

    /// Checks the engine's internal invariants (the user-major and room-major indexes
    /// agree; no empty entries are kept), between mutations. Visits all state.
    ///
    /// # Errors
    ///
    /// A description of the first disagreement found.
    pub fn verify_consistency(&self) -> Result<(), String> {
        let _writer = self.inner.writer.lock();
        let _all = self.inner.stripes.lock_all();
        self.inner.tables.verify()
    }
}
