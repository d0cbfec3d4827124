//! The on-disk format is a promise: byte-exact encodings of one record of every kind
//! (`tests/golden/format-2.txt`), and a store written by format 1 (`tests/fixtures/`)
//! still opens, with the same state, and is rewritten in format 2.
//!
//! To change the format deliberately, run with `MUTEGATE_BLESS=1` and commit the diff
//! of the golden file beside a new format version and a reader for the old one.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{T0, history};
use mutegate::{Engine, ManualClock, Op, SyncPolicy};

const HEADER: usize = 28;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn open(dir: &Path) -> Engine {
    Engine::builder()
        .clock(ManualClock::new(T0))
        .sync(SyncPolicy::Never)
        .open(dir)
        .expect("open")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind(op: &Op) -> String {
    let debug = format!("{op:?}");
    debug.split([' ', '{', '(']).next().unwrap().to_owned()
}

/// The golden file's text, as this build writes it.
fn golden_now() -> String {
    let mut out = String::from(
        "# mutegate store format 2, byte for byte (see src/codec). Applied at 1700000000000 ms.\n",
    );
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let log = fs::read(dir.path().join("ops.log")).unwrap();
    out += &format!("log header, generation 0: {}\n", hex(&log));
    let mut snapshot = Vec::new();
    Engine::new().snapshot(&mut snapshot).unwrap();
    out += &format!("empty snapshot stream: {}\n", hex(&snapshot));
    let mut seen = Vec::new();
    for op in history::first_part()
        .into_iter()
        .chain(history::second_part())
        .chain(history::third_part())
        .chain(history::fourth_part())
    {
        let k = match &op {
            // The level added later gets a line of its own.
            Op::SetNotify {
                level: mutegate::NotifyLevel::DirectMentions,
                ..
            } => "SetNotify(DirectMentions)".to_owned(),
            // Scoped mutes (tags 18-20) too.
            Op::MuteMembers { actions, .. }
            | Op::SetModules { actions, .. }
            | Op::MuteRoom { actions, .. }
                if !actions.is_all() =>
            {
                format!("{}(scoped)", kind(&op))
            }
            op => kind(op),
        };
        if seen.contains(&k) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path());
        e.apply(op).unwrap();
        drop(e);
        let log = fs::read(dir.path().join("ops.log")).unwrap();
        out += &format!("{k}: {}\n", hex(&log[HEADER..]));
        seen.push(k);
    }
    assert_eq!(seen.len(), 26, "one record of every kind of operation");
    out
}

#[test]
fn every_kind_of_record_encodes_exactly_as_the_golden_file_says() {
    let path = fixtures().join("golden/format-2.txt");
    let now = golden_now();
    if std::env::var_os("MUTEGATE_BLESS").is_some() {
        fs::write(&path, &now).unwrap();
    }
    let golden = fs::read_to_string(&path).expect("golden file");
    assert_eq!(
        now, golden,
        "the on-disk format changed: if deliberate, bump the format version, keep a reader for this one, and bless (MUTEGATE_BLESS=1)"
    );
}

fn copy_fixture(to: &Path) {
    for f in fs::read_dir(fixtures().join("fixtures/v1-store")).unwrap() {
        let f = f.unwrap();
        fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
}

fn expected_state() -> String {
    fs::read_to_string(fixtures().join("fixtures/v1-store.state.txt")).unwrap()
}

fn version(path: &Path) -> u32 {
    let bytes = fs::read(path).unwrap();
    u32::from_le_bytes(bytes[8..12].try_into().unwrap())
}

#[test]
fn a_format_1_store_opens_with_its_state_and_is_rewritten_in_format_2() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    assert_eq!(version(&dir.path().join("state.snap")), 1);
    assert_eq!(version(&dir.path().join("ops.log")), 1);
    let e = open(dir.path());
    assert_eq!(history::dump(&e), expected_state());
    // The same history applied today gives the same state.
    let fresh = Engine::builder().clock(ManualClock::new(T0)).build();
    for op in history::first_part()
        .into_iter()
        .chain(history::second_part())
    {
        fresh.apply(op).unwrap();
    }
    assert_eq!(history::dump(&fresh), expected_state());
    e.verify_consistency().unwrap();
    drop(e);
    assert_eq!(version(&dir.path().join("state.snap")), 2);
    assert_eq!(version(&dir.path().join("ops.log")), 2);
    let e = open(dir.path());
    assert_eq!(history::dump(&e), expected_state());
    e.mute_room("after", mutegate::MuteFor::Forever).unwrap();
    drop(e);
    assert!(open(dir.path()).room_mute("after").is_some());
}

#[test]
fn a_migration_cut_short_after_its_snapshot_opens() {
    // The rewrite writes the format-2 snapshot, then the new log; a crash between the
    // two leaves the old format-1 log beside the new snapshot.
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    drop(open(dir.path()));
    fs::copy(
        fixtures().join("fixtures/v1-store/ops.log"),
        dir.path().join("ops.log"),
    )
    .unwrap();
    let e = open(dir.path());
    assert_eq!(history::dump(&e), expected_state());
    drop(e);
    assert_eq!(version(&dir.path().join("ops.log")), 2);
}

#[test]
fn a_format_1_snapshot_stream_restores() {
    let bytes = fs::read(fixtures().join("fixtures/v1-snapshot.bin")).unwrap();
    assert_eq!(version(&fixtures().join("fixtures/v1-snapshot.bin")), 1);
    let e = Engine::builder().clock(ManualClock::new(T0)).build();
    e.restore(&mut bytes.as_slice()).unwrap();
    assert_eq!(history::dump(&e), expected_state());
}
