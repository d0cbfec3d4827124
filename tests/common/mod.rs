//! Shared test setup.
#![allow(dead_code)]

pub mod history;

use mutegate::{AllowPolicy, Engine, ManualClock};

/// The time every test engine starts at.
pub const T0: u64 = 1_700_000_000_000;

/// An engine on a manual clock at [`T0`], and the clock.
pub fn engine() -> (Engine, ManualClock) {
    let clock = ManualClock::new(T0);
    (Engine::builder().clock(clock.clone()).build(), clock)
}

/// A durable engine on `dir` (no fsync) on `clock`: reopen it by calling again.
pub fn durable(dir: &std::path::Path, clock: &ManualClock) -> Engine {
    Engine::builder()
        .clock(clock.clone())
        .sync(mutegate::SyncPolicy::Never)
        .open(dir)
        .expect("open")
}

/// Like [`engine`], with an allow-list policy.
pub fn engine_with_policy(policy: AllowPolicy) -> (Engine, ManualClock) {
    let clock = ManualClock::new(T0);
    let engine = Engine::builder()
        .clock(clock.clone())
        .allow_policy(policy)
        .build();
    (engine, clock)
}

/// Tells writer threads to stop when dropped (also when the reader panics, so a failing
/// test fails instead of hanging).
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
