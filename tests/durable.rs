//! The embedded durable store: reopen, torn tails, bit flips, compaction, snapshots.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::thread;

use common::T0;
use mutegate::{
    Engine, Error, Expiry, ManualClock, Module, ModuleChange, MuteFor, NotifyLevel, SyncPolicy,
    Target,
};

fn open(dir: &Path, clock: &ManualClock) -> Result<Engine, Error> {
    Engine::builder()
        .clock(clock.clone())
        .sync(SyncPolicy::Never)
        .open(dir)
}

/// Everything observable about the ids these tests use.
fn state(e: &Engine) -> String {
    common::history::dump_ids(e, &["a", "b", "c", "d"], &["r1", "r2", "r3"])
}

fn mutate(e: &Engine, i: usize) {
    let users = ["a", "b", "c", "d"];
    let rooms = ["r1", "r2", "r3"];
    let (u, r) = (users[i % 4], rooms[i % 3]);
    match i % 7 {
        0 => e.mute_members(r, [u], MuteFor::secs(60)).map(drop),
        1 => e.set_notification_level(u, r, NotifyLevel::MentionsOnly, MuteFor::Forever),
        2 => e
            .set_module_mutes(
                u,
                ModuleChange::new().set(Module::Team, i.is_multiple_of(2)),
            )
            .map(drop),
        3 => e.mute_room(r, MuteFor::Forever).map(drop),
        4 => e.allow(r, [u]),
        5 => e.unmute_members(r, [u]).map(drop),
        _ => e.mute_notifications(u, r),
    }
    .unwrap();
}

#[test]
fn reopening_gives_back_exactly_the_acknowledged_state() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock).unwrap();
    for i in 0..200 {
        mutate(&e, i);
    }
    let before = state(&e);
    drop(e);
    let e = open(dir.path(), &clock).unwrap();
    assert_eq!(state(&e), before);
    e.verify_consistency().unwrap();
}

#[test]
fn mutes_that_ended_while_closed_are_dropped_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock).unwrap();
    e.mute_members("r1", ["a"], MuteFor::secs(1)).unwrap();
    e.mute_members("r1", ["b"], MuteFor::Forever).unwrap();
    drop(e);
    clock.advance(std::time::Duration::from_secs(5));
    let e = open(dir.path(), &clock).unwrap();
    assert_eq!(e.muted_members("r1").len(), 1);
    assert_eq!(e.stats().member_mutes, 1);
    assert!(e.can_send("a", Target::room("r1")));
}

/// The log's length after each of `n` mutations.
fn log_lengths(dir: &Path, clock: &ManualClock, n: usize) -> Vec<u64> {
    let e = open(dir, clock).unwrap();
    (0..n)
        .map(|i| {
            mutate(&e, i);
            fs::metadata(dir.join("ops.log")).unwrap().len()
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for f in fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
}

#[test]
fn a_torn_final_record_is_truncated_at_every_byte_offset() {
    let src = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let lengths = log_lengths(src.path(), &clock, 30);
    let (start, end) = (lengths[28], lengths[29]);
    // The state with and without the last record, for comparison.
    let without = {
        let d = tempfile::tempdir().unwrap();
        let e = open(d.path(), &clock).unwrap();
        (0..29).for_each(|i| mutate(&e, i));
        state(&e)
    };
    let with = state(&open(src.path(), &clock).unwrap());
    for cut in start..=end {
        let d = tempfile::tempdir().unwrap();
        copy_dir(src.path(), d.path());
        let log = fs::OpenOptions::new()
            .write(true)
            .open(d.path().join("ops.log"))
            .unwrap();
        log.set_len(cut).unwrap();
        drop(log);
        let e = open(d.path(), &clock).unwrap_or_else(|err| panic!("cut at {cut}: {err}"));
        let want = if cut == end { &with } else { &without };
        assert_eq!(&state(&e), want, "cut at {cut}");
        // The truncated log takes new writes and reopens cleanly.
        mutate(&e, 99);
        let after = state(&e);
        drop(e);
        assert_eq!(
            state(&open(d.path(), &clock).unwrap()),
            after,
            "cut at {cut}, reopened"
        );
    }
}

#[test]
fn a_flipped_bit_anywhere_in_the_log_is_an_error_naming_file_and_offset() {
    let src = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let lengths = log_lengths(src.path(), &clock, 12);
    let len = *lengths.last().unwrap();
    let original = fs::read(src.path().join("ops.log")).unwrap();
    for pos in 0..len as usize {
        let d = tempfile::tempdir().unwrap();
        copy_dir(src.path(), d.path());
        let mut bytes = original.clone();
        bytes[pos] ^= 1 << (pos % 8);
        fs::write(d.path().join("ops.log"), &bytes).unwrap();
        match open(d.path(), &clock) {
            Err(Error::Corrupt { path, offset, .. }) => {
                assert!(path.ends_with("ops.log"), "{path}");
                assert!(offset <= pos as u64, "damage at {pos} reported at {offset}");
            }
            Err(other) => panic!("flip at {pos}: unexpected {other}"),
            Ok(_) => panic!("flip at {pos} went unnoticed"),
        }
    }
}

#[test]
fn compaction_keeps_the_state_and_bounds_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let builder = || {
        Engine::builder()
            .clock(clock.clone())
            .sync(SyncPolicy::Never)
            .compact_after(2_000)
    };
    let e = builder().open(dir.path()).unwrap();
    for i in 0..2_000 {
        mutate(&e, i);
    }
    let before = state(&e);
    // The same history with compaction off, for the size of a log that is never cut.
    let uncut_dir = tempfile::tempdir().unwrap();
    let uncut = Engine::builder()
        .clock(clock.clone())
        .sync(SyncPolicy::Never)
        .compact_after(u64::MAX)
        .open(uncut_dir.path())
        .unwrap();
    for i in 0..2_000 {
        mutate(&uncut, i);
    }
    drop(uncut);
    let uncut_len = fs::metadata(uncut_dir.path().join("ops.log"))
        .unwrap()
        .len();
    // The first time the log passed 2,000 bytes no fold was running, so it was switched
    // from generation 0 (a fresh store's) for the next one; how many switches followed
    // depends on how fast the background folds ran (the log is not switched while one
    // is), so only the first is certain. What the log holds now is the tail since the
    // last switch: at most the whole history less that first generation's records,
    // which were more than 2,000 bytes less its 28-byte header.
    let log = fs::read(dir.path().join("ops.log")).unwrap();
    assert!(
        generation(&log) >= 1,
        "generation {}; {:?}",
        generation(&log),
        e.health()
    );
    assert!(
        (log.len() as u64) < uncut_len - (2_000 - 28),
        "log {} bytes, whole history {uncut_len}",
        log.len()
    );
    e.compact().unwrap();
    assert!(dir.path().join("state.snap").exists());
    assert_eq!(fs::metadata(dir.path().join("ops.log")).unwrap().len(), 28);
    drop(e);
    let e = builder().open(dir.path()).unwrap();
    assert_eq!(state(&e), before);
}

/// The generation in a log file's header.
fn generation(log: &[u8]) -> u32 {
    u32::from_le_bytes(log[12..16].try_into().unwrap())
}

#[test]
fn a_crash_between_the_switch_and_the_fold_reopens_from_the_finished_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .clock(clock.clone())
        .sync(SyncPolicy::Never)
        .compact_after(600)
        .open(dir.path())
        .unwrap();
    let read = |name: &str| fs::read(dir.path().join(name)).ok();
    let mut crashes = 0u64;
    for i in 0..300 {
        // The compactor folds each finished generation in the background, so the files
        // read here are one point in time only once the fold of the last switch is done
        // (a fold finishing between the two reads would pair an older snapshot with a
        // later log, which no crash leaves).
        let waited = std::time::Instant::now();
        while e.health().compactions < crashes {
            assert!(
                waited.elapsed().as_secs() < 60,
                "fold {crashes} never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let (snap, log, expected) = (read("state.snap"), read("ops.log").unwrap(), state(&e));
        mutate(&e, i);
        let next = read("ops.log").unwrap();
        if generation(&next) == generation(&log) {
            continue;
        }
        // Mutation `i` ended generation `g`. The files as a crash could leave them
        // before it was acknowledged and before the compactor wrote anything: the old
        // snapshot, log `g` as it was, linked as ops.prev.log, and log `g + 1` empty.
        assert_eq!(next.len(), 28, "the next log starts empty");
        let image = tempfile::tempdir().unwrap();
        if let Some(snap) = &snap {
            fs::write(image.path().join("state.snap"), snap).unwrap();
        }
        fs::write(image.path().join("ops.prev.log"), &log).unwrap();
        fs::write(image.path().join("ops.log"), &next).unwrap();
        let reopened = open(image.path(), &clock).unwrap();
        assert_eq!(state(&reopened), expected, "crash at mutation {i}");
        // The open handed it to the compactor: once that is done, a second open reads
        // it from the snapshot.
        reopened.compact().unwrap();
        drop(reopened);
        assert!(!image.path().join("ops.prev.log").exists());
        let reopened = open(image.path(), &clock).unwrap();
        assert_eq!(state(&reopened), expected, "reopened after the fold {i}");
        crashes += 1;
    }
    assert!(crashes >= 3, "{crashes} switches");
}

#[test]
fn a_damaged_snapshot_is_an_error_and_restores_nothing() {
    let clock = ManualClock::new(T0);
    let e = Engine::builder().clock(clock.clone()).build();
    (0..50).for_each(|i| mutate(&e, i));
    let mut bytes = Vec::new();
    e.snapshot(&mut bytes).unwrap();
    let copy = Engine::builder().clock(clock.clone()).build();
    assert!(copy.restore(&mut bytes.as_slice()).unwrap() > 0);
    assert_eq!(state(&copy), state(&e));
    for pos in [0, 9, 20, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x10;
        let fresh = Engine::builder().clock(clock.clone()).build();
        assert!(
            matches!(
                fresh.restore(&mut bad.as_slice()),
                Err(Error::Corrupt { .. })
            ),
            "flip at {pos}"
        );
        assert_eq!(fresh.stats(), Default::default(), "nothing applied");
    }
    let fresh = Engine::new();
    assert!(matches!(
        fresh.restore(&mut &bytes[..bytes.len() - 3]),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn a_snapshot_taken_while_others_write_plus_the_later_log_gives_the_live_state() {
    // Compaction snapshots under concurrent writers; reopening replays the log after it.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Arc::new(
        Engine::builder()
            .clock(clock.clone())
            .sync(SyncPolicy::Never)
            .compact_after(4_000)
            .open(dir.path())
            .unwrap(),
    );
    let handles: Vec<_> = (0..3)
        .map(|t| {
            let e = Arc::clone(&e);
            thread::spawn(move || {
                for i in 0..1_500 {
                    let room = format!("t{t}r{}", i % 5);
                    let user = format!("u{}", i % 11);
                    if i % 3 == 0 {
                        e.unmute_members(&room, [&user]).unwrap();
                    } else {
                        e.mute_members(&room, [&user], MuteFor::Forever).unwrap();
                    }
                    if i % 4 == 0 {
                        e.set_notification_level(&user, &room, NotifyLevel::Off, MuteFor::Forever)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let listing = |e: &Engine| {
        let mut out = Vec::new();
        for t in 0..3 {
            for r in 0..5 {
                let room = format!("t{t}r{r}");
                out.push(format!("{room} {:?}", e.muted_members(&room)));
            }
        }
        for u in 0..11 {
            out.push(format!("u{u} {:?}", e.muted_rooms(&format!("u{u}"))));
        }
        out
    };
    let live = (listing(&e), e.stats());
    drop(Arc::into_inner(e).expect("threads joined"));
    let e = open(dir.path(), &clock).unwrap();
    assert_eq!((listing(&e), e.stats()), live);
    e.verify_consistency().unwrap();
}

#[test]
fn every_sync_policy_persists_across_a_clean_reopen() {
    for policy in [
        SyncPolicy::EveryWrite,
        SyncPolicy::Every(std::time::Duration::from_millis(1)),
        SyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let e = Engine::builder()
            .clock(clock.clone())
            .sync(policy)
            .open(dir.path())
            .unwrap();
        e.mute_room("r1", MuteFor::Forever).unwrap();
        e.sync().unwrap();
        drop(e);
        let e = open(dir.path(), &clock).unwrap();
        assert_eq!(e.room_mute("r1"), Some(Expiry::Never), "{policy:?}");
    }
}

#[test]
fn an_unwritable_directory_is_an_io_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = Engine::builder().open(file.path().join("sub")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn a_directory_is_locked_while_an_engine_has_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let first = open(dir.path(), &clock).unwrap();
    mutate(&first, 0);
    let before = state(&first);
    // A second engine, on this thread or another, is refused and touches nothing.
    let err = open(dir.path(), &clock).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path } if path.ends_with("lock")),
        "{err}"
    );
    assert!(err.to_string().contains("another engine"), "{err}");
    let path = dir.path().to_path_buf();
    let other = thread::spawn(move || Engine::builder().open(path).map(|_| ()));
    assert!(matches!(other.join().unwrap(), Err(Error::Locked { .. })));
    mutate(&first, 1);
    assert_ne!(state(&first), before, "the first engine still writes");
    let after = state(&first);
    drop(first);
    let reopened = open(dir.path(), &clock).unwrap();
    assert_eq!(state(&reopened), after);
}
