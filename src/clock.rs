//! Time, injected: the [`Clock`] trait, the real [`SystemClock`] and a shared [`ManualClock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of Unix time in milliseconds.
///
/// The engine reads its clock at most once per call, and only when the answer depends on
/// time (a user with no mute state never costs a clock read).
///
/// # Examples
///
/// ```
/// use mutegate::Clock;
///
/// /// A clock that is always at the same instant.
/// struct Frozen(u64);
/// impl Clock for Frozen {
///     fn now_ms(&self) -> u64 {
///         self.0
///     }
/// }
/// let engine = mutegate::Engine::builder().clock(Frozen(42)).build();
/// # let _ = engine;
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current Unix time in milliseconds.
    fn now_ms(&self) -> u64;
}

/// The operating system's wall clock ([`SystemTime`]).
///
/// # Examples
///
/// ```
/// use mutegate::{Clock, SystemClock};
/// assert!(SystemClock.now_ms() > 1_600_000_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock set before 1970 reads as 0 rather than panicking.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX - 1))
    }
}

/// A clock moved by hand, for tests and simulations. Clones share one time.
///
/// # Examples
///
/// ```
/// use mutegate::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new(1_000);
/// let same = clock.clone();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(same.now_ms(), 3_000);
/// same.set(10);
/// assert_eq!(clock.now_ms(), 10);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    #[must_use]
    pub fn new(start_ms: u64) -> ManualClock {
        ManualClock {
            now: Arc::new(AtomicU64::new(start_ms)),
        }
    }

    /// Sets the time to `ms` (it may go backwards).
    pub fn set(&self, ms: u64) {
        self.now.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (saturating at `u64::MAX - 1` ms), returning the new time.
    pub fn advance(&self, by: Duration) -> u64 {
        let step = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let mut cur = self.now.load(Ordering::SeqCst);
        loop {
            let next = cur.saturating_add(step).min(u64::MAX - 1);
            match self
                .now
                .compare_exchange(cur, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(actual) => cur = actual,
            }
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// "Now" for one call: fixed, or read from the clock on first need and then kept.
pub(crate) enum Now<'c> {
    Fixed(u64),
    Lazy(&'c dyn Clock),
}

impl Now<'_> {
    #[inline]
    pub(crate) fn get(&mut self) -> u64 {
        match *self {
            Now::Fixed(ms) => ms,
            Now::Lazy(clock) => {
                let ms = clock.now_ms();
                *self = Now::Fixed(ms);
                ms
            }
        }
    }
}
