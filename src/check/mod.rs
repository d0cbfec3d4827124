//! The hot path: `can_send` / `check_send` and `should_push` / `push_targets`, on the
//! engine (clock read lazily, at most once) and on an [`At`] view (time given).
//!
//! Each check takes one shard guard at a time, copies out the few facts it needs, and
//! lets [`decide`](crate::decide) judge them. Nothing here allocates (but the `Vec` that
//! `push_targets` returns) or calls user code while a guard is held, besides `AsRef<str>`.
//! The send checks (with slow mode's `try_send`) are in `send`, the push checks in
//! `push`; this module holds the [`At`] view they share.

mod push;
mod send;

use crate::clock::Now;
use crate::engine::Engine;

impl Engine {
    /// The checks at the clock's time, read lazily (at most once per call).
    #[inline]
    pub(crate) fn at_now(&self) -> At<'_> {
        At {
            engine: self,
            fixed: None,
        }
    }

    /// A view of the engine at a fixed time, so a pipeline reads the clock once per batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use mutegate::{Engine, ManualClock, MuteFor, Target};
    ///
    /// let engine = Engine::builder().clock(ManualClock::new(0)).build();
    /// engine.mute_members("r1", ["bob"], MuteFor::millis(100))?;
    /// assert!(!engine.at(99).can_send("bob", Target::room("r1")));
    /// assert!(engine.at(100).can_send("bob", Target::room("r1")));
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn at(&self, now_ms: u64) -> At<'_> {
        At {
            engine: self,
            fixed: Some(now_ms),
        }
    }
}

/// The engine's checks at a fixed time, from [`Engine::at`].
#[derive(Clone, Copy, Debug)]
pub struct At<'e> {
    engine: &'e Engine,
    /// `None`: the engine's own checks, reading the clock on first need.
    fixed: Option<u64>,
}

impl At<'_> {
    #[inline]
    fn clock(&self) -> Now<'_> {
        match self.fixed {
            Some(ms) => Now::Fixed(ms),
            None => Now::Lazy(&*self.engine.inner.clock),
        }
    }

    /// The engine this view reads.
    #[inline]
    pub(crate) fn engine(&self) -> &Engine {
        self.engine
    }

    /// The time this view checks at.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.clock().get()
    }
}
