//! What the engine tells `tracing` and `metrics` (the cargo features of the same names).
//!
//! Every hook here compiles to nothing without its feature. With `metrics`, the engine
//! only ever calls the `metrics` facade: a library never installs a recorder, so
//! without one the calls are no-ops too. The check path reports denials only (rare), never
//! allowed checks. Names and labels are listed in the README's "Operating it" section.

#[cfg(feature = "metrics")]
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
#[cfg(any(feature = "tracing", feature = "metrics"))]
use std::time::Instant;

use crate::decide::Denied;
use crate::error::Error;
use crate::module::Target;
use crate::op::Op;

impl Op {
    /// The operation's kind, as spans and metric labels name it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Op::SetNotify { .. } => "set_notify",
            Op::MuteMembers { .. } => "mute_members",
            Op::UnmuteMembers { .. } => "unmute_members",
            Op::SetModules { .. } => "set_modules",
            Op::MuteRoom { .. } => "mute_room",
            Op::UnmuteRoom { .. } => "unmute_room",
            Op::Allow { .. } => "allow",
            Op::Disallow { .. } => "disallow",
            Op::RemoveUser { .. } => "remove_user",
            Op::RemoveRoom { .. } => "remove_room",
            Op::SetQuietHours { .. } => "set_quiet_hours",
            Op::Snooze { .. } => "snooze",
            Op::SetBypass { .. } => "set_bypass",
            Op::MuteSender { .. } => "mute_sender",
            Op::UnmuteSender { .. } => "unmute_sender",
            Op::SetRoomMentions { .. } => "set_room_mentions",
            Op::SetSlowMode { .. } => "set_slow_mode",
            Op::SetLadder { .. } => "set_ladder",
            Op::Strike { .. } => "strike",
            Op::SetStrikes { .. } => "set_strikes",
            Op::Moderated { op, .. } => op.kind(),
            Op::Remember { .. } => "remember",
        }
    }

    /// The user and room the operation names, where it names one.
    #[cfg(feature = "tracing")]
    fn ids(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Op::SetNotify { user, room, .. } => (Some(user), Some(room)),
            Op::SetModules { user, .. }
            | Op::RemoveUser { user }
            | Op::SetQuietHours { user, .. }
            | Op::Snooze { user, .. }
            | Op::SetBypass { user, .. }
            | Op::MuteSender { user, .. }
            | Op::UnmuteSender { user, .. } => (Some(user), None),
            Op::MuteMembers { room, .. }
            | Op::UnmuteMembers { room, .. }
            | Op::Allow { room, .. }
            | Op::Disallow { room, .. }
            | Op::MuteRoom { room, .. }
            | Op::UnmuteRoom { room }
            | Op::RemoveRoom { room }
            | Op::SetRoomMentions { room, .. }
            | Op::SetSlowMode { room, .. }
            | Op::SetLadder { room, .. } => (None, Some(room)),
            Op::Strike { room, user, .. } | Op::SetStrikes { room, user, .. } => {
                (Some(user), Some(room))
            }
            Op::Moderated { op, .. } => op.ids(),
            Op::Remember { subject, .. } => (subject.user_id(), subject.room_id()),
        }
    }
}

/// How a mutation ended, as metric labels and span fields say it.
fn outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(Error::Io { .. } | Error::Corrupt { .. }) => "failed",
        Err(_) => "refused",
    }
}

/// One mutation, from the call to its answer: a `mutegate.mutation` span (kind, user,
/// room, outcome, duration) and the mutation counter and latency histogram.
pub(crate) struct Mutation {
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    started: Instant,
    /// Not entered: the mutation is made in the caller's thread and may be applied by
    /// another (the pipeline's leader).
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    kind: &'static str,
}

impl Mutation {
    #[inline]
    pub fn start() -> Mutation {
        Mutation {
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            started: Instant::now(),
            #[cfg(feature = "tracing")]
            span: tracing::debug_span!(
                "mutegate.mutation",
                kind = tracing::field::Empty,
                user = tracing::field::Empty,
                room = tracing::field::Empty,
                outcome = tracing::field::Empty,
                duration_us = tracing::field::Empty,
            ),
            kind: "unknown",
        }
    }

    /// The operation is known (its ids are valid).
    #[inline]
    pub fn op(&mut self, op: &Op) {
        self.kind = op.kind();
        #[cfg(feature = "tracing")]
        {
            let (user, room) = op.ids();
            self.span.record("kind", self.kind);
            if let Some(user) = user {
                self.span.record("user", user);
            }
            if let Some(room) = room {
                self.span.record("room", room);
            }
        }
    }

    /// The mutation's answer.
    #[inline]
    pub fn finish<T>(self, result: &Result<T, Error>) {
        let outcome = outcome(result);
        let _ = (&self.kind, outcome);
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        let elapsed = self.started.elapsed();
        #[cfg(feature = "tracing")]
        {
            self.span.record("outcome", outcome);
            self.span.record(
                "duration_us",
                u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            );
            if let Err(e) = result {
                tracing::debug!(parent: &self.span, error = %e, "mutation not applied");
            }
        }
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("mutegate_mutations_total", "kind" => self.kind, "outcome" => outcome)
                .increment(1);
            metrics::histogram!("mutegate_mutation_seconds", "kind" => self.kind)
                .record(elapsed.as_secs_f64());
        }
    }
}

/// A check that said no.
#[inline]
pub(crate) fn denied(user: &str, target: Target<'_>, denied: &Denied) {
    let _ = (user, target, denied);
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    let reason = match denied.reason {
        crate::decide::DenyReason::ModuleMuted(_) => "module_muted",
        crate::decide::DenyReason::MemberMuted => "member_muted",
        crate::decide::DenyReason::RoomMuted => "room_muted",
        crate::decide::DenyReason::SlowMode => "slow_mode",
    };
    #[cfg(feature = "tracing")]
    tracing::trace!(user, target = target.id, module = %target.module, reason, "send denied");
    #[cfg(feature = "metrics")]
    metrics::counter!("mutegate_checks_denied_total", "reason" => reason).increment(1);
}

/// Events handed to subscribers, by kind (`Event::kind`).
#[inline]
pub(crate) fn events(kinds: impl Iterator<Item = &'static str>) {
    let _ = &kinds;
    #[cfg(feature = "metrics")]
    for kind in kinds {
        metrics::counter!("mutegate_events_total", "kind" => kind).increment(1);
    }
}

/// One sweep that freed `freed` ended mutes.
#[inline]
pub(crate) fn swept(freed: usize, took: Duration) {
    let _ = (freed, took);
    #[cfg(feature = "tracing")]
    if freed > 0 {
        tracing::debug!(freed, took_us = took.as_micros() as u64, "mutegate sweep");
    }
    #[cfg(feature = "metrics")]
    if freed > 0 {
        metrics::counter!("mutegate_expired_total").increment(freed as u64);
    }
}

/// Bytes appended to the operation log.
#[inline]
pub(crate) fn log_written(bytes: usize) {
    let _ = bytes;
    #[cfg(feature = "metrics")]
    metrics::counter!("mutegate_log_bytes_total").increment(bytes as u64);
}

/// One `fdatasync` of the log, and whether it worked.
#[inline]
pub(crate) fn fsync(took: Duration, ok: bool) {
    let _ = (took, ok);
    #[cfg(feature = "tracing")]
    tracing::trace!(took_us = took.as_micros() as u64, ok, "mutegate log sync");
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("mutegate_fsyncs_total", "outcome" => if ok { "ok" } else { "failed" })
            .increment(1);
        metrics::histogram!("mutegate_fsync_seconds").record(took.as_secs_f64());
    }
}

/// One compaction: the snapshot's size, how long it took, and how it ended.
pub(crate) fn compaction(bytes: usize, took: Duration, result: &Result<(), Error>) {
    let _ = (bytes, took, result);
    #[cfg(feature = "tracing")]
    match result {
        Ok(()) => tracing::info!(
            snapshot_bytes = bytes,
            took_ms = took.as_millis() as u64,
            "mutegate compaction"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            took_ms = took.as_millis() as u64,
            "mutegate compaction failed; retried after a backoff"
        ),
    }
    #[cfg(feature = "metrics")]
    {
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("mutegate_compactions_total", "outcome" => outcome).increment(1);
        metrics::histogram!("mutegate_compaction_seconds").record(took.as_secs_f64());
    }
}

/// What opening a store found.
pub(crate) fn recovered(records: usize, torn_bytes: u64, migrated: bool, took: Duration) {
    let _ = (records, torn_bytes, migrated, took);
    #[cfg(feature = "tracing")]
    tracing::info!(
        records,
        torn_bytes,
        migrated_from_format_1 = migrated,
        took_ms = took.as_millis() as u64,
        "mutegate store opened"
    );
}

/// The store stopped taking mutations.
pub(crate) fn stopped(why: &Error) {
    let _ = why;
    #[cfg(feature = "tracing")]
    tracing::error!(error = %why, "mutegate store stopped taking mutations until reopened");
    #[cfg(feature = "metrics")]
    metrics::counter!("mutegate_store_stops_total").increment(1);
}

/// A replicated engine stopped at a bad entry reads on: the entry was removed.
pub(crate) fn resumed(why: &Error) {
    let _ = why;
    #[cfg(feature = "tracing")]
    tracing::warn!(stopped = %why, "mutegate replication resumed: the entry it stopped at was removed");
    #[cfg(feature = "metrics")]
    metrics::counter!("mutegate_replication_resumes_total").increment(1);
}

/// A replicated engine failed to reach its Redis (it retries with backoff).
pub(crate) fn replication_failed(why: &Error) {
    let _ = why;
    #[cfg(feature = "tracing")]
    tracing::warn!(error = %why, "mutegate replication failed; retrying with backoff");
    #[cfg(feature = "metrics")]
    metrics::counter!("mutegate_replication_failures_total").increment(1);
}

/// Where a replicated engine's reader saw it was in its stream: entries and
/// milliseconds behind its end, and the age of the newest snapshot, if there is one.
pub(crate) fn stream_seen(behind_entries: u64, behind_ms: u64, snapshot_age_ms: Option<u64>) {
    let _ = (behind_entries, behind_ms, snapshot_age_ms);
    #[cfg(feature = "metrics")]
    {
        metrics::gauge!("mutegate_stream_behind_entries").set(behind_entries as f64);
        metrics::gauge!("mutegate_stream_behind_ms").set(behind_ms as f64);
        if let Some(age) = snapshot_age_ms {
            metrics::gauge!("mutegate_snapshot_age_ms").set(age as f64);
        }
    }
}

/// A panic caught in a background thread or a subscriber.
pub(crate) fn panicked(place: &str, message: &str) {
    let _ = (place, message);
    #[cfg(feature = "tracing")]
    tracing::error!(place, message, "mutegate caught a panic and carried on");
    #[cfg(feature = "metrics")]
    metrics::counter!("mutegate_panics_total").increment(1);
}

/// Entries stored, by kind, kept from the changes of each mutation and sweep (never by
/// walking the tables) and published as the `mutegate_entries` gauge. An ended mute
/// counts until a sweep (or the next mutation touching it) frees it.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    #[cfg(feature = "metrics")]
    counts: [AtomicI64; 6],
}

/// A kind of stored entry, as the `mutegate_entries` gauge counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Notification,
    Member,
    Module,
    Room,
    Allow,
    Sender,
}

/// The gauge's label of each [`EntryKind`], in its order.
#[cfg(feature = "metrics")]
const ENTRY_KINDS: [&str; 6] = [
    "notification",
    "member",
    "module",
    "room",
    "allow",
    "sender",
];

impl Entries {
    /// Starts from known totals (after a store was replayed).
    #[cfg(feature = "metrics")]
    pub fn set(&self, totals: [usize; 6]) {
        for (c, t) in self.counts.iter().zip(totals) {
            c.store(t as i64, Ordering::Relaxed);
        }
        self.publish();
    }

    /// Counts what the changes of one application added (+1) and removed (-1), by
    /// kind (see `change::counted`).
    #[inline]
    pub fn track(&self, deltas: impl Iterator<Item = (EntryKind, i64)>) {
        let _ = &deltas;
        #[cfg(feature = "metrics")]
        {
            let mut any = false;
            for (i, d) in deltas {
                self.counts[i as usize].fetch_add(d, Ordering::Relaxed);
                any = true;
            }
            if any {
                self.publish();
            }
        }
    }

    #[cfg(feature = "metrics")]
    fn publish(&self) {
        for (c, kind) in self.counts.iter().zip(ENTRY_KINDS) {
            metrics::gauge!("mutegate_entries", "kind" => kind)
                .set(c.load(Ordering::Relaxed) as f64);
        }
    }
}
