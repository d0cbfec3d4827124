//! Per-app call rates (governor's GCRA) on the engine's clock, with an optional block
//! for apps that go over (NetEase refuses them for 10 s).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::Engine;

/// The engine's clock as governor's: tests that drive a `ManualClock` drive the limits
/// too, and "the 101st call in a second" means exactly that.
#[derive(Clone)]
pub(crate) struct EngineClock(pub(crate) Arc<Engine>);

impl GovernorClock for EngineClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms())
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, EngineClock, NoOpMiddleware<Duration>>;

/// One app's allowance: `per_second` calls a second (a full second's worth may come at
/// once), then refusal; with a block, refusal for `block` from the first call over.
pub(crate) struct AppLimiter {
    gcra: Gcra,
    block_ms: u64,
    blocked_until: AtomicU64,
}

impl AppLimiter {
    pub(crate) fn new(per_second: u32, block: Duration, clock: EngineClock) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        AppLimiter {
            gcra: RateLimiter::direct_with_clock(Quota::per_second(rate), clock),
            block_ms: u64::try_from(block.as_millis()).unwrap_or(u64::MAX),
            blocked_until: AtomicU64::new(0),
        }
    }

    /// Counts one call; `false` if the app is over its rate or blocked.
    pub(crate) fn admit(&self) -> bool {
        let now = self.gcra.clock().0.now_ms();
        if now < self.blocked_until.load(Ordering::Acquire) {
            return false;
        }
        if self.gcra.check().is_ok() {
            return true;
        }
        if self.block_ms > 0 {
            self.blocked_until
                .fetch_max(now.saturating_add(self.block_ms), Ordering::AcqRel);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn limiter(block: Duration) -> (ManualClock, AppLimiter) {
        let clock = ManualClock::new(1_000_000);
        let engine = Arc::new(Engine::builder().clock(clock.clone()).build());
        (clock, AppLimiter::new(100, block, EngineClock(engine)))
    }

    #[test]
    fn the_101st_call_in_a_second_is_refused_and_the_block_lasts() {
        let (clock, l) = limiter(Duration::from_secs(10));
        assert!((0..100).all(|_| l.admit()));
        assert!(!l.admit());
        clock.advance(Duration::from_millis(9_999));
        assert!(!l.admit(), "still blocked");
        clock.advance(Duration::from_millis(1));
        assert!(
            (0..100).all(|_| l.admit()),
            "a full second's allowance after the block"
        );
        assert!(!l.admit());
    }

    #[test]
    fn without_a_block_the_rate_refills() {
        let (clock, l) = limiter(Duration::ZERO);
        assert!((0..100).all(|_| l.admit()));
        assert!(!l.admit());
        clock.advance(Duration::from_millis(10));
        assert!(l.admit(), "one call's worth after 10 ms");
        assert!(!l.admit());
    }
}
