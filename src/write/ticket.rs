//! [`Ticket`]: a mutation on its way through the write pipeline, both `.wait()`-able
//! and awaitable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::Outcome;
use super::Pipeline;
use crate::error::Error;

/// How many times a waiter checks its slot before it sleeps: a batch usually answers
/// within a few microseconds in memory, far sooner than a sleep and a wake-up take.
const SPINS: u32 = 2_000;

/// Where the pipeline leaves one request's answer.
#[derive(Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
    /// Set with the answer: waiters spin on it before they sleep.
    done: AtomicBool,
    /// Bumped when the waiter should try to lead (the previous leader is done).
    kicks: AtomicU32,
}

#[derive(Default)]
struct SlotState {
    answer: Option<Result<Outcome, Error>>,
    waker: Option<Waker>,
}

impl Slot {
    /// Leaves the answer and wakes whoever waits for it.
    pub fn complete(&self, answer: Result<Outcome, Error>) {
        let waker = {
            let mut s = self.state.lock();
            s.answer = Some(answer);
            self.done.store(true, Ordering::Release);
            s.waker.take()
        };
        self.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn take(&self) -> Option<Result<Outcome, Error>> {
        self.state.lock().answer.take()
    }

    /// Asks the waiter to try leading the pipeline (it is at the front of the queue).
    /// Returns whether the request is awaited rather than waited for: no thread will
    /// wake for it, so the sequencer thread has to run it.
    pub fn kick(&self) -> bool {
        let s = self.state.lock();
        self.kicks.fetch_add(1, Ordering::Release);
        self.ready.notify_all();
        s.waker.is_some()
    }

    /// Waits for the answer or a kick: spins a little, then sleeps up to `limit`.
    fn wait_for(&self, limit: Duration) {
        let kicks = self.kicks.load(Ordering::Acquire);
        let changed =
            || self.done.load(Ordering::Acquire) || self.kicks.load(Ordering::Acquire) != kicks;
        for i in 0..SPINS {
            if changed() {
                return;
            }
            if i % 64 == 63 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        let mut s = self.state.lock();
        if !changed() {
            self.ready.wait_for(&mut s, limit);
        }
    }

    /// The answer if there is one; else remembers `waker` for when it comes.
    fn poll(&self, waker: &Waker) -> Option<Result<Outcome, Error>> {
        let mut s = self.state.lock();
        match s.answer.take() {
            Some(answer) => Some(answer),
            None => {
                s.waker = Some(waker.clone());
                None
            }
        }
    }
}

/// A mutation handed to the write pipeline, returned by the methods of
/// [`Submit`](crate::Submit) before the mutation is applied.
///
/// `.wait()` blocks until the mutation is durable and applied (the calling thread may
/// do the pipeline's work itself, as the blocking mutation methods do); `.await`
/// (the ticket is a [`Future`]) never blocks: the engine's sequencer thread does the I/O.
/// A ticket dropped unfinished still has its mutation applied; only the answer is lost.
/// A ticket holds a share of its engine's state: one kept after its engine was dropped
/// keeps the store's directory locked until the ticket is dropped too.
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, MuteFor, Target};
///
/// let engine = Engine::new();
/// let ticket = engine.submit().mute_room("r1", MuteFor::Forever);
/// ticket.wait()?;
/// assert!(!engine.can_send("ann", Target::room("r1")));
/// # Ok::<(), mutegate::Error>(())
/// ```
#[must_use = "a ticket does nothing to the caller unless waited or awaited"]
pub struct Ticket<T> {
    state: State,
    map: fn(Outcome) -> T,
}

enum State {
    /// Queued: the answer comes through the slot.
    Queued {
        inner: Arc<Pipeline>,
        slot: Arc<Slot>,
        /// Set once the answer was taken, or the sequencer thread was asked to run.
        settled: bool,
    },
    /// Answered already (refused before it was queued, or run at once).
    Answered(Option<Result<Outcome, Error>>),
}

impl<T> std::fmt::Debug for Ticket<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").finish_non_exhaustive()
    }
}

impl<T> Ticket<T> {
    pub(crate) fn new(inner: Arc<Pipeline>, slot: Arc<Slot>, map: fn(Outcome) -> T) -> Ticket<T> {
        Ticket {
            state: State::Queued {
                inner,
                slot,
                settled: false,
            },
            map,
        }
    }

    /// A ticket already answered (a mutation refused before it was queued, or run at
    /// once).
    pub(crate) fn answered(answer: Result<Outcome, Error>, map: fn(Outcome) -> T) -> Ticket<T> {
        Ticket {
            state: State::Answered(Some(answer)),
            map,
        }
    }

    /// Blocks until the mutation is durable and applied; its result.
    ///
    /// Locking behaviour: if no other thread is running the pipeline, this one does,
    /// including the log write and, under [`SyncPolicy::EveryWrite`], the `fsync` for
    /// every mutation queued with it.
    ///
    /// [`SyncPolicy::EveryWrite`]: crate::SyncPolicy::EveryWrite
    ///
    /// # Errors
    ///
    /// The mutation's error; the engine is unchanged by it.
    pub fn wait(mut self) -> Result<T, Error> {
        let map = self.map;
        match &mut self.state {
            State::Answered(answer) => answer.take().expect("answered once").map(map),
            State::Queued {
                inner,
                slot,
                settled,
            } => {
                *settled = true;
                loop {
                    if let Some(answer) = slot.take() {
                        return answer.map(map);
                    }
                    // Run a batch if the pipeline is idle; else wait for the answer, or
                    // for the leader to hand over (then try again; the timeout is only a
                    // safety net).
                    if !inner.lead_once() {
                        slot.wait_for(Duration::from_millis(1));
                    }
                }
            }
        }
    }
}

impl<T> Future for Ticket<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let map = this.map;
        match &mut this.state {
            State::Answered(answer) => {
                Poll::Ready(answer.take().expect("polled after it was ready").map(map))
            }
            State::Queued {
                inner,
                slot,
                settled,
            } => {
                if let Some(answer) = slot.poll(cx.waker()) {
                    *settled = true;
                    return Poll::Ready(answer.map(map));
                }
                if !*settled {
                    *settled = true;
                    inner.wake_sequencer();
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Unpin for Ticket<T> {}

impl<T> Drop for Ticket<T> {
    fn drop(&mut self) {
        if let State::Queued {
            inner,
            settled: false,
            ..
        } = &self.state
        {
            inner.wake_sequencer();
        }
    }
}
