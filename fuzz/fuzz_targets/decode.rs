//! Decoder fuzzing. Arbitrary bytes as a snapshot and as store files (most stop at a
//! checksum), and the same bytes shaped into a store with valid headers and frames around
//! arbitrary payloads, so that record decoding, format versions and the pairing of
//! snapshot and log are reached. Opening or restoring may fail, but never panic, and a
//! store that opens is consistent and opens again to the same state.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/decode.rs"]
mod decode;

fuzz_target!(|data: &[u8]| {
    decode::try_all(data);
    decode::try_framed(data);
});
