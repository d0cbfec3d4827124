//! Decoder fuzzing: arbitrary bytes as a snapshot, as an operation log (bare and behind a
//! valid header, so the records are reached) and as a store's snapshot file. Opening or
//! restoring may fail, but never panic and never hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/decode.rs"]
mod decode;

fuzz_target!(|data: &[u8]| {
    decode::try_all(data);
});
