//! Module mutes (NetEase `muteModule`): set and read a user's mutes per module.

use super::*;

impl Engine {
    /// Mutes or unmutes `user` in whole modules (NetEase `muteModule`), returning the
    /// user's status in all four afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::NoModuleGiven`] when the change names no module; an empty or over-long
    /// id; a zero or overflowing duration; [`Error::InvalidCombination`] for a finite
    /// duration on a change that mutes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, Module, ModuleChange, Target};
    ///
    /// let engine = Engine::new();
    /// engine.set_module_mutes("u1", ModuleChange::new().set(Module::P2p, true))?;
    /// assert!(!engine.can_send("u1", Target::p2p("u2")));
    /// assert!(engine.can_send("u1", Target::team("t1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    pub fn set_module_mutes(
        &self,
        user: &str,
        change: ModuleChange,
    ) -> Result<ModuleStatus, Error> {
        self.blocking().set_module_mutes(user, change).wait()
    }

    /// `user`'s mute status in each of the four modules.
    #[must_use]
    pub fn module_status(&self, user: &str) -> ModuleStatus {
        let now = self.inner.clock.now_ms();
        let (raw, scopes) = self
            .inner
            .tables
            .users
            .get(user)
            .map_or(([0; 4], [Actions::ALL; 4]), |u| {
                (u.modules(), u.module_scopes())
            });
        ModuleStatus::from_raw(&raw, scopes, now)
    }

    /// When `user`'s mute in `module` ends, or `None` if not muted there.
    #[must_use]
    pub fn module_mute(&self, user: &str, module: Module) -> Option<Expiry> {
        self.module_status(user).expiry(module)
    }
}
