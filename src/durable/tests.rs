//! Failures injected at each file operation of the store (the `Faults` seam): a refused
//! mutation is never in the state, in memory or after reopening; failed syncs stop the
//! store. Compaction's failures are in `compaction_tests.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Faults, Step};
use crate::{Engine, Error, ManualClock, MuteFor, SyncPolicy, Target};

pub(super) const T0: u64 = 1_700_000_000_000;
pub(super) const EIO: i32 = 5;
const ENOSPC: i32 = 28;
pub(super) const EROFS: i32 = 30;

pub(super) fn open(
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

pub(super) fn muted(e: &Engine, user: &str) -> bool {
    !e.can_send(user, Target::room("r"))
}

pub(super) fn mute(e: &Engine, user: &str) -> Result<(), Error> {
    e.mute_members("r", [user], MuteFor::Forever).map(drop)
}

pub(super) fn io_op(e: &Error) -> &'static str {
    match e {
        Error::Io { op, .. } => op,
        other => panic!("expected an i/o error, got {other}"),
    }
}

/// A new store on a manual clock with a fault seam: its directory, clock, seam and
/// engine.
pub(super) fn store(policy: SyncPolicy) -> (tempfile::TempDir, ManualClock, Arc<Faults>, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let faults = Arc::new(Faults::default());
    let e = open(dir.path(), &clock, policy, &faults).unwrap();
    (dir, clock, faults, e)
}

/// Opens `dir` again with no faults and says which of `users` are muted there.
pub(super) fn after_reopen(dir: &Path, clock: &ManualClock, users: &[&str]) -> Vec<bool> {
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
