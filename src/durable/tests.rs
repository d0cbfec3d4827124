//! Failures injected at each file operation of the store (the `Faults` seam): a refused
//! mutation is never in the state, in memory or after reopening; failed compactions are
//! reported and retried with backoff; failed syncs stop the store.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Faults, Step};
use crate::{Engine, Error, ManualClock, MuteFor, SyncPolicy, Target};

const T0: u64 = 1_700_000_000_000;
const EIO: i32 = 5;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;

fn open(
    dir: &Path,
    clock: &ManualClock,
    policy: SyncPolicy,
    faults: &Arc<Faults>,
) -> Result<Engine, Error> {
    Engine::builder()
        .clock(clock.clone())
        .sync(policy)
        .compact_after(2048)
        .faults(Arc::clone(faults))
        .open(dir)
}

fn muted(e: &Engine, user: &str) -> bool {
    !e.can_send(user, Target::room("r"))
}

fn mute(e: &Engine, user: &str) -> Result<(), Error> {
    e.mute_members("r", [user], MuteFor::Forever).map(drop)
}

fn io_op(e: &Error) -> &'static str {
    match e {
        Error::Io { op, .. } => op,
        other => panic!("expected an i/o error, got {other}"),
    }
}

/// A new store on a manual clock with a fault seam: its directory, clock, seam and
/// engine.
fn store(policy: SyncPolicy) -> (tempfile::TempDir, ManualClock, Arc<Faults>, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let faults = Arc::new(Faults::default());
    let e = open(dir.path(), &clock, policy, &faults).unwrap();
    (dir, clock, faults, e)
}

/// Opens `dir` again with no faults and says which of `users` are muted there.
fn after_reopen(dir: &Path, clock: &ManualClock, users: &[&str]) -> Vec<bool> {
    let e = open(dir, clock, SyncPolicy::Never, &Arc::default()).expect("reopen");
    e.verify_consistency().expect("consistent");
    users.iter().map(|u| muted(&e, u)).collect()
}

#[test]
fn a_failed_fsync_refuses_the_mutation_and_it_stays_refused_after_reopen() {
    let (dir, clock, faults, e) = store(SyncPolicy::EveryWrite);
    mute(&e, "a").unwrap();
    faults.fail_later(Step::SyncLog, 0, 1, EIO, None);
    let err = mute(&e, "b").unwrap_err();
    assert_eq!(io_op(&err), "fsync", "{err}");
    assert!(err.to_string().contains("ops.log"), "{err}");
    assert!(!muted(&e, "b"), "a refused mutation is not applied");
    // The log was cut back and synced: the store goes on.
    mute(&e, "c").unwrap();
    assert!(e.health().stopped.is_none());
    drop(e);
    assert_eq!(
        after_reopen(dir.path(), &clock, &["a", "b", "c"]),
        [true, false, true]
    );
}

#[test]
fn a_partial_write_on_a_full_disk_leaves_no_partial_record() {
    for policy in [SyncPolicy::EveryWrite, SyncPolicy::Never] {
        let (dir, clock, faults, e) = store(policy);
        mute(&e, "a").unwrap();
        let before = std::fs::metadata(dir.path().join("ops.log")).unwrap().len();
        faults.fail_later(Step::Append, 0, 1, ENOSPC, Some(7));
        let err = mute(&e, "b").unwrap_err();
        assert_eq!(io_op(&err), "write");
        assert!(err.to_string().contains("No space left"), "{err}");
        let after = std::fs::metadata(dir.path().join("ops.log")).unwrap().len();
        assert_eq!(after, before, "the partial record was cut off");
        mute(&e, "c").unwrap();
        drop(e);
        assert_eq!(
            after_reopen(dir.path(), &clock, &["a", "b", "c"]),
            [true, false, true]
        );
    }
}

#[test]
fn a_store_that_cannot_cut_back_a_refused_record_stops() {
    let (dir, clock, faults, e) = store(SyncPolicy::EveryWrite);
    mute(&e, "a").unwrap();
    faults.fail_later(Step::Append, 0, 1, EIO, Some(3));
    faults.fail_later(Step::Truncate, 0, 1, EIO, None);
    mute(&e, "b").unwrap_err();
    let stopped = e.health().stopped.expect("stopped");
    assert!(stopped.to_string().contains("cut back"), "{stopped}");
    // Every later mutation is refused, naming the earlier failure; checks still answer.
    let err = mute(&e, "c").unwrap_err();
    assert!(err.to_string().contains("reopen"), "{err}");
    assert!(muted(&e, "a") && !muted(&e, "c"));
    drop(e);
    // The partial record is a torn tail: dropped on reopen.
    assert_eq!(
        after_reopen(dir.path(), &clock, &["a", "b", "c"]),
        [true, false, false]
    );
}

#[test]
fn a_failed_compaction_is_reported_retried_with_backoff_and_loses_nothing() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    // A read-only directory: no temporary file can be made.
    let opened = faults.seen(Step::CreateTmp);
    faults.fail(Step::CreateTmp, EROFS);
    let users: Vec<String> = (0..400).map(|i| format!("u{i}")).collect();
    for u in &users {
        mute(&e, u).expect("mutations are acknowledged while compaction fails");
    }
    let h = e.health();
    assert_eq!(
        h.compaction_failures, 1,
        "one attempt within the backoff: {h:?}"
    );
    assert_eq!(faults.seen(Step::CreateTmp) - opened, 1);
    let err = h.last_compaction_error.clone().expect("reported");
    assert_eq!(io_op(&err), "create");
    assert!(err.to_string().contains("state.tmp"), "{err}");
    assert_eq!(h.compaction_retry_at_ms, Some(T0 + 1_000));
    assert!(!h.is_healthy());
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
    let h = e.health();
    assert!(h.is_healthy(), "{h:?}");
    assert_eq!(h.compactions, 1);
    drop(e);
    let all: Vec<&str> = users
        .iter()
        .map(String::as_str)
        .chain(["x1", "x2", "x3"])
        .collect();
    assert!(after_reopen(dir.path(), &clock, &all).iter().all(|&m| m));
}

#[test]
fn a_compaction_that_wrote_its_snapshot_but_not_the_new_log_keeps_the_old_log() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    // The snapshot's rename goes through; the new log's does not.
    faults.fail_later(Step::Rename, 1, u32::MAX, EIO, None);
    let users: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    for u in &users {
        mute(&e, u).unwrap();
    }
    assert_eq!(e.health().compaction_failures, 1);
    assert!(dir.path().join("state.snap").exists());
    assert!(
        !dir.path().join("ops.tmp").exists(),
        "the temporary file is removed"
    );
    drop(e);
    let all: Vec<&str> = users.iter().map(String::as_str).collect();
    assert!(after_reopen(dir.path(), &clock, &all).iter().all(|&m| m));
}

#[test]
fn a_failed_directory_sync_after_switching_logs_stops_the_store() {
    let (dir, clock, faults, e) = store(SyncPolicy::Never);
    faults.fail_later(Step::SyncDir, 1, 1, EIO, None);
    let mut acked = Vec::new();
    for i in 0..200 {
        let u = format!("u{i}");
        if mute(&e, &u).is_ok() {
            acked.push(u);
        }
    }
    let stopped = e.health().stopped.expect("stopped");
    assert_eq!(io_op(&stopped), "sync directory");
    assert!(acked.len() < 200, "mutations after the stop are refused");
    drop(e);
    let acked: Vec<&str> = acked.iter().map(String::as_str).collect();
    assert!(after_reopen(dir.path(), &clock, &acked).iter().all(|&m| m));
}

#[test]
fn a_failed_background_sync_stops_the_store_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let faults = Arc::new(Faults::default());
    let e = open(
        dir.path(),
        &clock,
        SyncPolicy::Every(Duration::from_millis(1)),
        &faults,
    )
    .unwrap();
    faults.fail(Step::SyncLog, EIO);
    mute(&e, "a").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.health().sync_failures == 0 {
        assert!(Instant::now() < deadline, "the sync thread never reported");
        std::thread::sleep(Duration::from_millis(1));
    }
    let err = mute(&e, "b").unwrap_err();
    assert!(err.to_string().contains("fsync"), "{err}");
    assert!(matches!(
        e.health().stopped,
        Some(Error::Io { op: "fsync", .. })
    ));
    drop(e);
    assert_eq!(after_reopen(dir.path(), &clock, &["a", "b"]), [true, false]);
}

#[test]
fn a_failed_explicit_sync_stops_the_store() {
    let (_dir, _clock, faults, e) = store(SyncPolicy::Never);
    mute(&e, "a").unwrap();
    faults.fail_later(Step::SyncLog, 0, 1, EIO, None);
    assert_eq!(io_op(&e.sync().unwrap_err()), "fsync");
    assert!(mute(&e, "b").is_err());
    assert_eq!(e.health().sync_failures, 1);
}

#[test]
fn opening_on_a_failing_disk_is_an_error_that_leaves_nothing_behind() {
    for (step, errno, op) in [
        (Step::CreateTmp, EROFS, "create"),
        (Step::WriteTmp, ENOSPC, "write"),
        (Step::SyncTmp, EIO, "fsync"),
        (Step::Rename, EIO, "rename"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let faults = Arc::new(Faults::default());
        faults.fail(step, errno);
        let err = open(dir.path(), &clock, SyncPolicy::Never, &faults).unwrap_err();
        assert_eq!(io_op(&err), op, "{step:?}: {err}");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["lock"], "{step:?}: only the lock file is left");
        // The failed open released the lock, and a healthy disk opens the directory.
        after_reopen(dir.path(), &clock, &[]);
    }
}

#[test]
fn a_torn_tail_that_cannot_be_truncated_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock, SyncPolicy::Never, &Arc::default()).unwrap();
    mute(&e, "a").unwrap();
    drop(e);
    let log = dir.path().join("ops.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&log, &bytes).unwrap();
    let faults = Arc::new(Faults::default());
    faults.fail(Step::Truncate, EROFS);
    let err = open(dir.path(), &clock, SyncPolicy::Never, &faults).unwrap_err();
    assert_eq!(io_op(&err), "truncate");
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "the log is untouched");
    assert_eq!(after_reopen(dir.path(), &clock, &["a"]), [true]);
}

#[test]
fn a_failed_fsync_refuses_every_request_of_its_batch_and_only_those() {
    let (dir, clock, faults, e) = store(SyncPolicy::EveryWrite);
    mute(&e, "a").unwrap();
    faults.fail_later(Step::SyncLog, 0, 1, EIO, None);
    // Queued together, written together, refused together.
    let tickets: Vec<_> = ["b", "c", "d"]
        .iter()
        .map(|u| e.submit().mute_members("r", [*u], MuteFor::Forever))
        .collect();
    for t in tickets {
        assert_eq!(io_op(&t.wait().unwrap_err()), "fsync");
    }
    assert!(!muted(&e, "b") && !muted(&e, "c") && !muted(&e, "d"));
    // The next batch is written as usual.
    mute(&e, "e").unwrap();
    drop(e);
    assert_eq!(
        after_reopen(dir.path(), &clock, &["a", "b", "c", "d", "e"]),
        [true, false, false, false, true]
    );
}
