//! A named background thread that runs one step at a time until it is dropped; the
//! engine's sweeper and the log's sync thread are both one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The thread; stopped and joined on drop.
pub(crate) struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Runs `step` until dropped, sleeping for as long as each step asks (at least 1 ms).
    pub fn spawn(name: &str, mut step: impl FnMut() -> Duration + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    let wait = step();
                    thread::park_timeout(wait.max(Duration::from_millis(1)));
                }
            })
            .expect("spawn a background thread");
        Background {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
