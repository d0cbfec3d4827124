//! Sweeping ended entries: the sweeper thread, and one sweep, which frees what ended
//! and announces it (or, on a replicated node that is not its cluster's announcer,
//! frees it silently: its [`Stream`](super::Stream) plans which).

use std::sync::Arc;
use std::time::Duration;

use super::Pipeline;
use crate::background::Background;
use crate::change::{self, Change, Timed};
use crate::event::Event;
use crate::observe;

/// Starts the background sweeper: sweeps, then sleeps until the next end, but never
/// longer than `every` (a mutation may have added an earlier end meanwhile).
pub(crate) fn spawn_sweeper(inner: Arc<Pipeline>, every: Duration) -> Background {
    let monitor = Arc::clone(&inner.monitor);
    Background::spawn("mutegate-sweeper", monitor, move || {
        inner.sweep();
        let now = inner.clock.now_ms();
        inner.next_expiry().map_or(every, |t| {
            Duration::from_millis(t.saturating_sub(now)).min(every)
        })
    })
}

impl Pipeline {
    /// The events `changes` amount to, if anyone is listening.
    fn events(&self, changes: &[Change], now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        if !changes.is_empty() && !self.subscribers.is_empty() {
            events.reserve(changes.len());
            change::events(changes, now, &mut events);
        }
        events
    }

    /// Up to when a sweep at `now` frees ended entries silently, then up to when it
    /// frees and announces them: nothing silently and all up to `now` announced, but for
    /// a replicated engine (its stream decides).
    fn sweep_plan(&self, now: u64) -> (u64, Option<u64>) {
        if let Some(stream) = self.stream.get() {
            return stream.sweep_plan(now);
        }
        (0, Some(now))
    }

    /// The next end after now in the expiry index, if any.
    pub(crate) fn next_expiry(&self) -> Option<u64> {
        self.stripes.next_after(self.clock.now_ms())
    }

    /// Clears one ended entry (the sweeper's, holding every stripe).
    fn clear(&self, key: Timed, now: u64, changes: &mut Vec<Change>) {
        if let Some(op) = self.tables.clearing_op(key) {
            self.tables.apply(op, now, changes);
        }
    }

    /// Frees every entry that ended by now; returns how many mutes it freed.
    pub(crate) fn sweep(&self) -> usize {
        let started = std::time::Instant::now();
        let writer = self.writer.lock();
        let mut held = self.stripes.lock_all();
        let now = self.clock.now_ms();
        let (silent, loud) = self.sweep_plan(now);
        let mut changes = Vec::new();
        // Only a replicated engine that is not its cluster's announcer frees ends
        // silently; for every other engine `silent` is 0 and this pass is skipped.
        let quiet = if silent == 0 {
            Vec::new()
        } else {
            held.take_due(silent)
        };
        for &key in &quiet {
            self.clear(key, now, &mut changes);
        }
        self.entries.track(change::counted(&changes));
        held.track(std::mem::take(&mut changes));
        let due = loud.map_or_else(Vec::new, |upto| held.take_due(upto));
        for &key in &due {
            self.clear(key, now, &mut changes);
        }
        let events = self.events(&changes, now);
        self.entries.track(change::counted(&changes));
        held.track(changes);
        drop(held);
        drop(writer);
        // Decayed strikes are freed too, but they are not mutes.
        let freed = quiet
            .iter()
            .chain(&due)
            .filter(|k| !matches!(k, Timed::Strikes(..)))
            .count();
        observe::swept(freed, started.elapsed());
        self.subscribers.deliver(&events, &self.monitor);
        if let (Some(_), Some(stream)) = (loud, self.stream.get()) {
            // Announced: the mark may move past them now.
            stream.swept(now);
        }
        freed
    }
}
