//! The reader at an entry it cannot apply: it halts the cluster there (see
//! `replicate::halt`) and waits, stopped, until an operator removes the entry; then it
//! reads on from the entry before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::State;
use crate::error::Error;
use crate::replicate::halt;
use crate::replicate::{FIRST_BACKOFF, MAX_BACKOFF};
use crate::write::Pipeline;

/// How often a halted node looks whether its entry was removed.
const POLL: Duration = Duration::from_millis(250);

impl State {
    /// Halts the cluster at the entry `e` names, which this node could not apply:
    /// every later append is refused (so none is answered with an error and applied
    /// once the entry is removed). Best effort here: while it waits for the entry's
    /// removal the node sets the key again, and a failure is reported.
    pub(super) fn halt(&mut self, pipe: &Pipeline, e: &Error) {
        let Error::Replication { id, .. } = e else {
            return;
        };
        self.halted = Some(id.clone());
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if let Err(failed) = halt::set(&self.replica.keys, conn, id) {
            self.conn = None;
            pipe.monitor.replication_failed(failed);
        }
    }

    /// After the reader stopped with `why`: if it stopped at an entry it could not
    /// apply, waits (reporting its position as usual) until the entry is gone from the
    /// stream, then lifts the stop and returns `true` for the reader to read on. Returns
    /// `false` for any other stop, when asked to `stop`, or when the node meets a
    /// failure it cannot wait out meanwhile (that failure becomes the stop's reason).
    pub(super) fn await_removal(
        &mut self,
        pipe: &Pipeline,
        why: &Error,
        stop: &AtomicBool,
    ) -> bool {
        let Some(id) = self.halted.clone() else {
            return false;
        };
        let mut wait = POLL;
        while !stop.load(Ordering::Acquire) {
            std::thread::park_timeout(wait);
            if stop.load(Ordering::Acquire) {
                break;
            }
            let replica = std::sync::Arc::clone(&self.replica);
            let looked = self
                .reading()
                .and_then(|conn| halt::removed(&replica.keys, conn, &id));
            match looked {
                Ok(false) => wait = POLL,
                Ok(true) => {
                    self.halted = None;
                    return pipe.monitor.resume(why);
                }
                Err(e @ Error::Replication { .. }) => {
                    pipe.monitor.stop_instead(why, e);
                    return false;
                }
                Err(e) => {
                    self.conn = None;
                    pipe.monitor.replication_failed(e);
                    wait = (wait.max(FIRST_BACKOFF) * 2).min(MAX_BACKOFF);
                }
            }
        }
        false
    }
}
