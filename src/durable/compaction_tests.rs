//! Compaction's failures, injected at each file operation of the switch (on the write
//! path) and of the fold (on the compactor thread), and the files a crash between them
//! leaves: every failure is reported and retried with backoff, and nothing acknowledged
//! is lost, in memory or after reopening.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Step;
use super::tests::{EIO, EROFS, T0, after_reopen, io_op, mute, muted, open, store};
use crate::{ManualClock, SyncPolicy};

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("u{i}")).collect()
}

fn names(users: &[String]) -> Vec<&str> {
    users.iter().map(String::as_str).collect()
}

/// Mutes every one of `users`, each acknowledged.
fn mute_all(e: &crate::Engine, users: &[String]) {
    for u in users {
        mute(e, u).expect("acknowledged");
    }
}

/// Whether every one of `users` is muted after reopening `dir` with no faults.
fn all_muted_after_reopen(dir: &Path, clock: &ManualClock, users: &[String]) -> bool {
    after_reopen(dir, clock, &names(users)).iter().all(|&m| m)
}

fn exists(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}

#[test]
fn a_switch_that_fails_is_reported_retried_with_backoff_and_loses_nothing() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    // A read-only directory: the next log's temporary file cannot be made.
    let opened = faults.seen(Step::CreateTmp);
    faults.fail(Step::CreateTmp, EROFS);
    let users = users(400);
    mute_all(&e, &users);
    let h = e.health();
    assert_eq!(
        h.compaction_failures, 1,
        "one attempt within the backoff: {h:?}"
    );
    assert_eq!(faults.seen(Step::CreateTmp) - opened, 1);
    let err = h.last_compaction_error.clone().expect("reported");
    assert_eq!(io_op(&err), "create");
    assert!(err.to_string().contains("ops.tmp"), "{err}");
    assert_eq!(h.compaction_retry_at_ms, Some(T0 + 1_000));
    assert!(!h.is_healthy());
    assert!(
        !exists(dir.path(), "ops.prev.log"),
        "the link is taken back"
    );
    // After the backoff: one more attempt, then the wait doubles.
    clock.advance(Duration::from_millis(1_000));
    mute(&e, "x1").unwrap();
    mute(&e, "x2").unwrap();
    let h = e.health();
    assert_eq!(
        (h.compaction_failures, faults.seen(Step::CreateTmp) - opened),
        (2, 2)
    );
    assert_eq!(h.compaction_retry_at_ms, Some(T0 + 3_000));
    // The disk comes back: the next attempt after the backoff compacts.
    faults.clear();
    clock.advance(Duration::from_millis(2_000));
    mute(&e, "x3").unwrap();
    e.settle();
    let h = e.health();
    assert!(h.is_healthy(), "{h:?}");
    assert_eq!(h.compactions, 1);
    assert!(!exists(dir.path(), "ops.prev.log"), "folded and removed");
    drop(e);
    let mut all = users;
    all.extend(["x1", "x2", "x3"].map(String::from));
    assert!(all_muted_after_reopen(dir.path(), &clock, &all));
}

#[test]
fn a_fold_that_fails_keeps_the_finished_log_and_is_retried_with_backoff() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    // The switch's temporary log is made; every snapshot's temporary file is refused.
    faults.fail_later(Step::CreateTmp, 1, u32::MAX, EROFS, None);
    let users = users(400);
    mute_all(&e, &users);
    e.settle();
    let h = e.health();
    assert_eq!(h.compaction_failures, 1, "{h:?}");
    let err = h.last_compaction_error.clone().expect("reported");
    assert!(err.to_string().contains("state.tmp"), "{err}");
    assert_eq!(h.compaction_retry_at_ms, Some(T0 + 1_000));
    assert!(
        exists(dir.path(), "ops.prev.log"),
        "kept until it is folded"
    );
    let switched = faults.seen(Step::Link);
    assert_eq!(switched, 1);
    // The retry folds the same generation again; no second switch meanwhile.
    clock.advance(Duration::from_millis(1_000));
    mute(&e, "x1").unwrap();
    e.settle();
    assert_eq!(e.health().compaction_failures, 2);
    assert_eq!(e.health().compaction_retry_at_ms, Some(T0 + 3_000));
    assert_eq!(faults.seen(Step::Link), switched);
    faults.clear();
    clock.advance(Duration::from_millis(2_000));
    mute(&e, "x2").unwrap();
    e.settle();
    let h = e.health();
    assert!(h.is_healthy(), "{h:?}");
    assert_eq!(h.compactions, 1);
    assert!(!exists(dir.path(), "ops.prev.log"));
    // The log that grew meanwhile is compacted by the next mutation.
    mute(&e, "x3").unwrap();
    e.settle();
    assert_eq!(e.health().compactions, 2);
    drop(e);
    let mut all = users;
    all.extend(["x1", "x2", "x3"].map(String::from));
    assert!(all_muted_after_reopen(dir.path(), &clock, &all));
}

#[test]
fn a_switch_that_fails_at_any_step_leaves_the_log_taking_writes() {
    for (step, op) in [
        (Step::Link, "link"),
        (Step::CreateTmp, "create"),
        (Step::WriteTmp, "write"),
        (Step::SyncTmp, "fsync"),
        (Step::Rename, "rename"),
    ] {
        let (dir, clock, faults, e) = store(SyncPolicy::EveryWrite);
        faults.fail(step, EIO);
        let users = users(200);
        mute_all(&e, &users);
        let h = e.health();
        assert_eq!(h.compaction_failures, 1, "{step:?}: {h:?}");
        assert_eq!(io_op(h.last_compaction_error.as_ref().unwrap()), op);
        assert!(h.stopped.is_none(), "{step:?}");
        for name in ["ops.prev.log", "ops.tmp"] {
            assert!(!exists(dir.path(), name), "{step:?}: {name} is left");
        }
        drop(e);
        assert!(
            all_muted_after_reopen(dir.path(), &clock, &users),
            "{step:?}"
        );
    }
}

#[test]
fn a_failed_directory_sync_after_switching_logs_stops_the_store() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    faults.fail_later(Step::SyncDir, 0, 1, EIO, None);
    let mut acked = Vec::new();
    for u in users(200) {
        if mute(&e, &u).is_ok() {
            acked.push(u);
        }
    }
    let stopped = e.health().stopped.expect("stopped");
    assert_eq!(io_op(&stopped), "sync directory");
    assert!(acked.len() < 200, "mutations after the stop are refused");
    drop(e);
    assert!(all_muted_after_reopen(dir.path(), &clock, &acked));
}

#[test]
fn a_fold_cut_short_by_a_crash_is_finished_after_reopening() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    faults.fail_later(Step::CreateTmp, 1, u32::MAX, EROFS, None);
    let users = users(300);
    mute_all(&e, &users);
    e.settle();
    drop(e);
    assert!(exists(dir.path(), "ops.prev.log"));
    // Opening replays the snapshot, the finished log and the log after it, then hands
    // the finished one to the compactor.
    let e = open(dir.path(), &clock, SyncPolicy::Never, &Arc::default()).unwrap();
    assert!(users.iter().all(|u| muted(&e, u)), "replayed");
    e.settle();
    assert_eq!(e.health().compactions, 1);
    assert!(!exists(dir.path(), "ops.prev.log"));
    drop(e);
    assert!(all_muted_after_reopen(dir.path(), &clock, &users));
}

#[test]
fn a_folded_log_left_behind_by_a_crash_is_removed_on_reopen() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    // The switch syncs the directory; the fold's snapshot is renamed into place, but
    // its directory sync fails, so the finished log is not removed.
    faults.fail_later(Step::SyncDir, 1, u32::MAX, EIO, None);
    let users = users(100);
    mute_all(&e, &users);
    e.settle();
    assert_eq!(e.health().compaction_failures, 1);
    drop(e);
    assert!(exists(dir.path(), "ops.prev.log"));
    let e = open(dir.path(), &clock, SyncPolicy::Never, &Arc::default()).unwrap();
    assert!(
        !exists(dir.path(), "ops.prev.log"),
        "covered by the snapshot"
    );
    drop(e);
    assert!(all_muted_after_reopen(dir.path(), &clock, &users));
}

#[test]
fn a_second_name_of_the_log_left_by_a_crashed_switch_is_removed_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock, SyncPolicy::Never, &Arc::default()).unwrap();
    mute(&e, "a").unwrap();
    drop(e);
    // The crash came after the link, before the next log was renamed into place.
    std::fs::hard_link(dir.path().join("ops.log"), dir.path().join("ops.prev.log")).unwrap();
    assert_eq!(after_reopen(dir.path(), &clock, &["a"]), [true]);
    assert!(!exists(dir.path(), "ops.prev.log"));
}

#[test]
fn compact_folds_the_log_now_and_reports_a_failure() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    e.compact().expect("an empty log: nothing to do");
    assert_eq!(e.health().compactions, 0);
    mute(&e, "a").unwrap();
    e.compact().unwrap();
    assert_eq!(e.health().compactions, 1);
    assert!(!exists(dir.path(), "ops.prev.log"));
    mute(&e, "b").unwrap();
    faults.fail_later(Step::CreateTmp, 1, 1, EROFS, None);
    let err = e.compact().unwrap_err();
    assert!(err.to_string().contains("state.tmp"), "{err}");
    assert_eq!(e.health().compaction_failures, 1);
    // Asked again, it folds the generation left behind, then the log after it.
    mute(&e, "c").unwrap();
    e.compact().unwrap();
    assert_eq!(e.health().compactions, 3);
    assert!(e.health().is_healthy());
    drop(e);
    assert_eq!(
        after_reopen(dir.path(), &clock, &["a", "b", "c"]),
        [true, true, true]
    );
}
