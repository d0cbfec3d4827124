//! Storage integrity: no fault a disk can make loses acknowledged mutes silently.
//! Damaged headers, a missing log, zero-filled tails, a panicking clock in the
//! sweeper, the directory lock while other threads fork, and files that are not ours.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::T0;
use mutegate::{Clock, Engine, Error, Event, ManualClock, MuteFor, SyncPolicy, Target};

/// Length of a format-2 header.
const HEADER: usize = 28;

fn open(dir: &Path) -> Result<Engine, Error> {
    Engine::builder()
        .clock(ManualClock::new(T0))
        .sync(SyncPolicy::EveryWrite)
        .compact_after(2048)
        .open(dir)
}

fn user(i: usize) -> String {
    format!("user{i}")
}

/// A store of `n` acknowledged member mutes, compacted at least once so that both a
/// snapshot and a log with records after its header exist.
fn store(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path()).unwrap();
    for i in 0..n {
        e.mute_members("lobby", [user(i)], MuteFor::Forever)
            .unwrap();
    }
    drop(e);
    let log = fs::metadata(dir.path().join("ops.log")).unwrap().len();
    assert!(
        dir.path().join("state.snap").exists(),
        "compacted at least once"
    );
    assert!(
        log > HEADER as u64,
        "the log has records after the snapshot"
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for f in fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

fn all_present(e: &Engine, n: usize) -> bool {
    (0..n).all(|i| !e.can_send(&user(i), Target::room("lobby")))
}

/// Opens `dir`: either every one of the `n` mutes is there, or the error is `Corrupt`
/// naming `file`. Returns whether it opened.
fn opens_whole_or_names(dir: &Path, n: usize, file: &str, what: &str) -> bool {
    match open(dir) {
        Ok(e) => {
            assert!(
                all_present(&e, n),
                "{what}: opened with acknowledged mutes missing"
            );
            e.verify_consistency().unwrap();
            true
        }
        Err(Error::Corrupt { path, .. }) => {
            assert!(path.ends_with(file), "{what}: blamed {path}, not {file}");
            false
        }
        Err(other) => panic!("{what}: unexpected error {other}"),
    }
}

#[test]
fn a_flipped_generation_is_reported_not_replayed_as_an_empty_log() {
    // The issue's reproduction: raising the snapshot's generation or lowering the log's
    // used to open Ok with every mutation since the last compaction gone.
    let src = store(100);
    for (file, byte, bit) in [
        ("state.snap", 15, 6),
        ("state.snap", 12, 0),
        ("ops.log", 12, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(src.path(), dir.path());
        let path = dir.path().join(file);
        let mut bytes = fs::read(&path).unwrap();
        bytes[byte] ^= 1 << bit;
        fs::write(&path, bytes).unwrap();
        let err = open(dir.path()).expect_err("damage in a generation must not open");
        match err {
            Error::Corrupt { path, what, .. } => {
                assert!(path.ends_with(file), "blamed {path} for {file}");
                assert!(what.contains("header checksum"), "{what}");
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn every_single_bit_flip_in_either_header_opens_whole_or_names_the_file() {
    let n = 100;
    let src = store(n);
    let (mut opened, mut refused) = (0, 0);
    for file in ["state.snap", "ops.log"] {
        for bit in 0..HEADER * 8 {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(src.path(), dir.path());
            let path = dir.path().join(file);
            let mut bytes = fs::read(&path).unwrap();
            bytes[bit / 8] ^= 1 << (bit % 8);
            fs::write(&path, bytes).unwrap();
            let what = format!("{file} bit {bit}");
            if opens_whole_or_names(dir.path(), n, file, &what) {
                opened += 1;
            } else {
                refused += 1;
            }
        }
    }
    assert_eq!(opened + refused, 2 * HEADER * 8);
    // Every header field is covered by the checksum, magic or version: none opens.
    assert_eq!(opened, 0);
}

#[test]
fn a_missing_log_or_snapshot_is_damage_naming_the_missing_file() {
    // No crash leaves a snapshot without its log, or a compacted log without the
    // snapshot it follows.
    for missing in ["ops.log", "state.snap"] {
        let src = store(100);
        fs::remove_file(src.path().join(missing)).unwrap();
        match open(src.path()).unwrap_err() {
            Error::Corrupt { path, what, .. } => {
                assert!(path.ends_with(missing), "{path}");
                assert!(what.contains("missing"), "{what}");
            }
            other => panic!("{other}"),
        }
        assert!(!src.path().join(missing).exists(), "nothing was created");
    }
}

#[test]
fn zeros_after_the_last_record_are_a_torn_tail() {
    for zeros in [1usize, 512, 4096, 10_000] {
        let src = store(100);
        let log = src.path().join("ops.log");
        let len = fs::metadata(&log).unwrap().len();
        let mut bytes = fs::read(&log).unwrap();
        bytes.resize(bytes.len() + zeros, 0);
        fs::write(&log, &bytes).unwrap();
        let e = open(src.path()).unwrap_or_else(|err| panic!("{zeros} zeros: {err}"));
        assert!(all_present(&e, 100));
        assert_eq!(
            fs::metadata(&log).unwrap().len(),
            len,
            "the zeros were cut off"
        );
        // And the log goes on from there.
        e.mute_members("lobby", ["late"], MuteFor::Forever).unwrap();
        drop(e);
        let e = open(src.path()).unwrap();
        assert!(!e.can_send("late", Target::room("lobby")));
    }
}

#[test]
fn zeros_followed_by_data_stay_damage() {
    let src = store(100);
    let log = src.path().join("ops.log");
    let mut bytes = fs::read(&log).unwrap();
    let end = bytes.len() as u64;
    bytes.resize(bytes.len() + 512, 0);
    bytes.push(0x17);
    fs::write(&log, &bytes).unwrap();
    match open(src.path()).unwrap_err() {
        Error::Corrupt { path, offset, .. } => {
            assert!(path.ends_with("ops.log"));
            assert_eq!(offset, end);
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        fs::read(&log).unwrap(),
        bytes,
        "a damaged log is left as it is"
    );
}

/// A clock that panics in the sweeper thread while `failing` is set.
#[derive(Clone)]
struct Flaky {
    inner: ManualClock,
    failing: Arc<AtomicBool>,
}

impl Clock for Flaky {
    fn now_ms(&self) -> u64 {
        let sweeper = std::thread::current().name() == Some("mutegate-sweeper");
        if sweeper && self.failing.load(Ordering::Acquire) {
            panic!("the clock is broken");
        }
        self.inner.now_ms()
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_sweeper_survives_a_panicking_clock_and_reports_it() {
    let clock = Flaky {
        inner: ManualClock::new(T0),
        failing: Arc::new(AtomicBool::new(true)),
    };
    let engine = Engine::builder()
        .clock(clock.clone())
        .sweeper(Duration::from_millis(1))
        .build();
    let expired = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&expired);
    engine.subscribe(move |e| {
        if matches!(e, Event::Expired { .. }) {
            seen.store(true, Ordering::Release);
        }
    });
    engine
        .mute_members("r", ["bob"], MuteFor::millis(10))
        .unwrap();
    wait_for("a reported panic", || {
        engine.health().background_panics >= 2
    });
    let h = engine.health();
    assert!(
        h.last_panic
            .as_deref()
            .unwrap()
            .contains("the clock is broken"),
        "{h:?}"
    );
    // The clock recovers; the sweeper is still there to announce the end.
    clock.failing.store(false, Ordering::Release);
    clock.inner.advance(Duration::from_millis(20));
    wait_for("the Expired event", || expired.load(Ordering::Acquire));
    engine.verify_consistency().unwrap();
}

#[test]
fn a_panicking_subscriber_is_counted() {
    let engine = Engine::new();
    engine.subscribe(|_| panic!("subscriber bug"));
    engine.mute_room("r", MuteFor::Forever).unwrap();
    let h = engine.health();
    assert_eq!(h.subscriber_panics, 1);
    assert!(h.last_panic.unwrap().contains("subscriber bug"));
}

#[test]
fn dropping_an_engine_frees_its_directory_while_other_threads_spawn_children() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut children = 0u32;
            while !stop.load(Ordering::Acquire) {
                std::process::Command::new("true")
                    .status()
                    .expect("spawn true");
                children += 1;
            }
            children
        })
    };
    // A damaged store: each open fails after taking the lock, and must free it too.
    let damaged = store(100);
    fs::remove_file(damaged.path().join("ops.log")).unwrap();
    let (mut reopened, mut refused, mut corrupt) = (0u32, 0u32, 0u32);
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        match Engine::builder().sync(SyncPolicy::Never).open(dir.path()) {
            Ok(e) => {
                reopened += 1;
                drop(e);
            }
            Err(Error::Locked { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
        match Engine::builder().open(damaged.path()) {
            Err(Error::Corrupt { .. }) => corrupt += 1,
            Err(Error::Locked { .. }) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(corrupt > 10);
    stop.store(true, Ordering::Release);
    let children = spawner.join().unwrap();
    assert!(
        children > 10 && reopened > 10,
        "{children} children, {reopened} reopens"
    );
    assert_eq!(
        refused, 0,
        "{refused} spurious Locked in {reopened} reopens"
    );
}

fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for f in fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        if p.is_dir() {
            out.extend(tree(&p));
        } else {
            out.push((p.clone(), fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn files_that_are_not_the_stores_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra");
    fs::create_dir(&extra).unwrap();
    // A copy of a valid log under another name, a note, a nested file.
    let src = store(100);
    fs::copy(src.path().join("ops.log"), dir.path().join("ops.log.bak")).unwrap();
    fs::write(dir.path().join("README.txt"), "the operator's notes").unwrap();
    fs::write(extra.join("state.snap"), "not a snapshot").unwrap();
    let before: Vec<_> = tree(dir.path());
    let e = open(dir.path()).unwrap();
    for i in 0..200 {
        e.mute_members("lobby", [user(i)], MuteFor::Forever)
            .unwrap();
    }
    drop(e);
    assert!(dir.path().join("state.snap").exists(), "compacted");
    let e = open(dir.path()).unwrap();
    assert!(all_present(&e, 200));
    drop(e);
    let after: Vec<_> = tree(dir.path())
        .into_iter()
        .filter(|(p, _)| {
            let name = p.file_name().unwrap();
            !(p.parent() == Some(dir.path())
                && ["ops.log", "state.snap", "lock"].iter().any(|f| name == *f))
        })
        .collect();
    assert_eq!(after, before);
}
