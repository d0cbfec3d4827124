//! Feeds arbitrary bytes to every decoder: shared by the decode test and the fuzzer.

use mutegate::{Engine, SyncPolicy};

/// A valid log header (magic, format version 1, generation 0), so that arbitrary bytes
/// after it reach the record decoder.
pub const LOG_HEADER: [u8; 16] = *b"MUTEGLOG\x01\0\0\0\0\0\0\0";

/// Tries `data` as a snapshot, as a log and as a store snapshot file; returns how many
/// of those attempts were accepted. Never panics on any input.
pub fn try_all(data: &[u8]) -> usize {
    let mut accepted = usize::from(Engine::new().restore(&mut &data[..]).is_ok());
    let dir = tempfile::tempdir().expect("temp dir");
    for (file, bytes) in [
        ("ops.log", data.to_vec()),
        ("ops.log", [&LOG_HEADER[..], data].concat()),
        ("state.snap", data.to_vec()),
    ] {
        let _ = std::fs::remove_file(dir.path().join("ops.log"));
        let _ = std::fs::remove_file(dir.path().join("state.snap"));
        std::fs::write(dir.path().join(file), bytes).expect("write");
        let opened = Engine::builder().sync(SyncPolicy::Never).open(dir.path());
        accepted += usize::from(opened.is_ok());
    }
    accepted
}
