//! Feeds arbitrary bytes to every decoder: shared by the decode test and the fuzzer.
//!
//! [`try_all`] hands the bytes over as they are; most of them stop at a checksum.
//! [`try_framed`] builds valid headers and frames (with correct CRCs) around arbitrary
//! payloads, so record decoding, version handling and the snapshot/log pairing rules
//! are what gets exercised.

use mutegate::{Engine, ManualClock, SyncPolicy};

/// The time every engine here runs at.
const T0: u64 = 1_700_000_000_000;
/// Length of a format-2 header.
pub const HEADER: usize = 28;

/// A format-2 header: magic, version 2, generation, covers, CRC-32 of the first 24 bytes.
pub fn header(magic: &[u8; 8], generation: u32, covers: u64) -> Vec<u8> {
    let mut h = magic.to_vec();
    h.extend_from_slice(&2u32.to_le_bytes());
    h.extend_from_slice(&generation.to_le_bytes());
    h.extend_from_slice(&covers.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// A format-1 header: magic, version 1, generation (no checksum).
pub fn header_v1(magic: &[u8; 8], generation: u32) -> Vec<u8> {
    let mut h = magic.to_vec();
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&generation.to_le_bytes());
    h
}

/// A record frame around `payload`: length, inverted length, CRC-32, payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("small payload");
    let mut f = len.to_le_bytes().to_vec();
    f.extend_from_slice(&(!len).to_le_bytes());
    f.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

fn open(dir: &std::path::Path) -> Result<Engine, mutegate::Error> {
    Engine::builder()
        .clock(ManualClock::new(T0))
        .sync(SyncPolicy::Never)
        .open(dir)
}

/// Writes the given files (and only those) into `dir` and opens it. A store that opens
/// must be consistent, and must open again to the same state.
fn open_files(dir: &std::path::Path, files: &[(&str, &[u8])]) -> bool {
    for name in ["ops.log", "state.snap"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    let Ok(engine) = open(dir) else {
        return false;
    };
    engine
        .verify_consistency()
        .expect("a store that opens is consistent");
    let stats = engine.stats();
    drop(engine);
    let again = open(dir).expect("a store that opened once opens again");
    assert_eq!(again.stats(), stats, "reopening changed the state");
    true
}

/// Tries `data` as a snapshot, as a log (bare and behind a valid header) and as a
/// store's snapshot beside an empty log; returns how many of those were accepted.
/// Never panics on any input.
pub fn try_all(data: &[u8]) -> usize {
    let mut accepted = usize::from(Engine::new().restore(&mut &data[..]).is_ok());
    let dir = tempfile::tempdir().expect("temp dir");
    let log_header = header(b"MUTEGLOG", 0, 0);
    let behind_header = [&log_header[..], data].concat();
    for files in [
        &[("ops.log", data)][..],
        &[("ops.log", &behind_header[..])][..],
        &[("state.snap", data), ("ops.log", &log_header[..])][..],
    ] {
        accepted += usize::from(open_files(dir.path(), files));
    }
    accepted
}

/// Builds a store from `data`: its first byte chooses the format, the generations, the
/// offset the snapshot covers and how the records are split between snapshot and log;
/// the rest is a sequence of payloads, each prefixed by its length (one byte), framed
/// with valid checksums. Returns how many of the attempts (restore, open) succeeded.
pub fn try_framed(data: &[u8]) -> usize {
    let Some((&mode, mut rest)) = data.split_first() else {
        return 0;
    };
    let mut frames = Vec::new();
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        frames.push(frame(&tail[..n]));
        rest = &tail[n..];
    }
    let v1 = mode & 1 != 0;
    let snap_gen = u32::from((mode >> 1) & 3);
    let log_gen = snap_gen + u32::from((mode >> 3) & 1);
    let with_snapshot = mode & 0x10 != 0;
    let split = if with_snapshot { frames.len() / 2 } else { 0 };
    let (in_snap, in_log) = frames.split_at(split);
    let log_head = if v1 {
        header_v1(b"MUTEGLOG", log_gen)
    } else {
        header(b"MUTEGLOG", log_gen, 0)
    };
    // The snapshot covers the log from its header, or from its first record on.
    let covers = HEADER
        + if mode & 0x20 != 0 {
            in_log.first().map_or(0, Vec::len)
        } else {
            0
        };
    let snap_head = if v1 {
        header_v1(b"MUTEGSNP", snap_gen)
    } else {
        header(b"MUTEGSNP", snap_gen, covers as u64)
    };
    let snap = [snap_head, in_snap.concat()].concat();
    let mut log = [log_head, in_log.concat()].concat();
    if mode & 0x40 != 0 {
        log.extend_from_slice(&[0u8; 64]);
    }
    let mut accepted = usize::from(Engine::new().restore(&mut &snap[..]).is_ok());
    let dir = tempfile::tempdir().expect("temp dir");
    let files: &[(&str, &[u8])] = if with_snapshot {
        &[("state.snap", &snap), ("ops.log", &log)]
    } else {
        &[("ops.log", &log)]
    };
    accepted += usize::from(open_files(dir.path(), files));
    accepted
}
