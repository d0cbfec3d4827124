//! The moderation trail: mutations made with a [`Trail`], and each subject's history.

use super::*;
use crate::op::ModerationEntry;
use crate::trail::Subject;

impl<'e> Submit<'e> {
    /// These mutations, each made with `trail` (see [`Engine::with_trail`]).
    #[must_use]
    pub fn with_trail(self, trail: &'e Trail) -> Submit<'e> {
        Submit {
            trail: Some(trail),
            ..self
        }
    }
}

impl Engine {
    /// The mutations made with `trail`: who acts, why, through what.
    ///
    /// **Moderation calls only, checked when they run.** The returned [`Submit`] offers
    /// every mutation, but with a trail only the moderation ones are taken: any other
    /// (a notification level, quiet hours, a purge) compiles and is then refused with
    /// [`Error::InvalidCombination`], changing nothing. The type does not tell them
    /// apart, so the compiler cannot.
    ///
    /// Each moderation
    /// mutation made here (member, module and room-wide mutes and their lifting, allow
    /// lists, slow mode, ladders, strikes) is logged and replicated with its trail
    /// ([`Op::Moderated`]), announced by [`Event::Moderated`] after its own events, and
    /// added to the history of each subject it is about
    /// ([`moderation_history`](Engine::moderation_history)). A mutation of another kind
    /// (notification levels, personal rules, purges) is refused with
    /// [`Error::InvalidCombination`], and a trail whose actor is not a valid user id or
    /// whose reason is longer than [`MAX_REASON_LEN`](crate::MAX_REASON_LEN) bytes
    /// with its own error; nothing is changed then.
    ///
    /// The methods return [`Ticket`]s: `.wait()` for them, or on an async runtime use
    /// `engine.submit().with_trail(&trail)` and `.await` them.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, MuteFor, Source, Subject, Trail};
    ///
    /// let engine = Engine::new();
    /// let trail = Trail::by("mod-7").reason("flooding").source(Source::Manual);
    /// engine.with_trail(&trail).mute_members("lobby", ["bob"], MuteFor::minutes(10)).wait()?;
    ///
    /// let history = engine.moderation_history(&Subject::member("lobby", "bob"));
    /// assert_eq!(history.len(), 1);
    /// assert_eq!(history[0].trail.actor.as_deref(), Some("mod-7"));
    /// assert_eq!(history[0].trail.reason.as_deref(), Some("flooding"));
    ///
    /// // Not a moderation call: it compiles, and is refused when it runs.
    /// let refused = engine.with_trail(&trail).mute_notifications("bob", "lobby").wait();
    /// assert!(matches!(refused, Err(mutegate::Error::InvalidCombination { .. })));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn with_trail<'e>(&'e self, trail: &'e Trail) -> Submit<'e> {
        self.blocking().with_trail(trail)
    }

    /// The last moderation operations made with a trail about `subject`, oldest first:
    /// at most [`EngineBuilder::history_len`] of them (default
    /// [`DEFAULT_HISTORY_LEN`](crate::DEFAULT_HISTORY_LEN)). A batch mute of several
    /// members is an entry in each member's history, naming only that member. Histories
    /// are state like mutes: logged, replicated, in snapshots, purged with
    /// [`remove_user`](Engine::remove_user) and [`remove_room`](Engine::remove_room).
    #[must_use]
    pub fn moderation_history(&self, subject: &Subject) -> Vec<ModerationEntry> {
        self.inner.tables.history.get(subject)
    }

    /// How many moderation entries the engine keeps per subject
    /// ([`EngineBuilder::history_len`]).
    #[must_use]
    pub fn history_len(&self) -> usize {
        self.inner.tables.history.len()
    }
}
