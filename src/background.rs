//! A named background thread that runs one step at a time until it is dropped; the
//! engine's sweeper and the log's sync thread are both one. A step that panics (a
//! user's clock or subscriber, say) is caught and reported to the engine's monitor, and
//! the thread carries on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::health::{Monitor, panic_message};

/// How long a thread whose first step panicked waits before the next.
const FIRST_WAIT: Duration = Duration::from_millis(10);

/// The thread; stopped and joined on drop.
pub(crate) struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    name: String,
    monitor: Arc<Monitor>,
}

impl Background {
    /// Runs `step` until dropped, sleeping for as long as each step asks (at least 1 ms).
    /// After a panicking step it waits as long as the last step that returned asked.
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start a thread.
    pub fn spawn(
        name: &str,
        monitor: Arc<Monitor>,
        mut step: impl FnMut() -> Duration + Send + 'static,
    ) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread_name = name.to_owned();
        let reporter = Arc::clone(&monitor);
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut wait = FIRST_WAIT;
                while !flag.load(Ordering::Acquire) {
                    match catch_unwind(AssertUnwindSafe(&mut step)) {
                        Ok(next) => wait = next,
                        Err(payload) => {
                            monitor.background_panicked(&thread_name, &panic_message(&*payload));
                        }
                    }
                    thread::park_timeout(wait.max(Duration::from_millis(1)));
                }
            })
            .expect("spawn a background thread");
        Background {
            stop,
            thread: Some(thread),
            name: name.to_owned(),
            monitor: reporter,
        }
    }
}

impl Background {
    /// The thread, to wake it early with `unpark`.
    pub fn thread(&self) -> &std::thread::Thread {
        self.thread
            .as_ref()
            .expect("the thread is joined only on drop")
            .thread()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Steps run under `catch_unwind`: only a panic outside them (the thread's own
        // loop) ends the thread with one.
        stop_and_join(&self.stop, self.thread.take(), &self.name, &self.monitor);
    }
}

/// Raises `stop`, wakes `thread` and joins it; a panic that ended the thread is
/// reported to `monitor` under `name`, not dropped.
pub(crate) fn stop_and_join(
    stop: &AtomicBool,
    thread: Option<JoinHandle<()>>,
    name: &str,
    monitor: &Monitor,
) {
    stop.store(true, Ordering::Release);
    if let Some(t) = thread {
        t.thread().unpark();
        if let Err(payload) = t.join() {
            monitor.background_panicked(name, &panic_message(&*payload));
        }
    }
}
