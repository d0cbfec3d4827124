//! Arbitrary bytes as snapshots and logs: errors, never panics (the fuzzer's decode
//! target runs the same code for longer, with coverage guidance).

#[path = "common/decode.rs"]
mod decode;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(data in prop::collection::vec(any::<u8>(), 0..300)) {
        decode::try_all(&data);
    }

    #[test]
    fn records_after_a_valid_header_are_decoded_or_refused(tail in prop::collection::vec(any::<u8>(), 0..64)) {
        // An empty tail is a valid empty log; anything else is torn, damaged, or valid.
        let accepted = decode::try_all(&tail);
        prop_assert!(accepted <= 4);
        if tail.is_empty() {
            prop_assert!(accepted >= 1, "an empty log behind a valid header opens");
        }
    }

    #[test]
    fn framed_payloads_are_decoded_or_refused(data in prop::collection::vec(any::<u8>(), 0..200)) {
        decode::try_framed(&data);
    }
}

#[test]
fn the_shared_header_is_the_one_the_engine_writes() {
    let dir = tempfile::tempdir().unwrap();
    drop(mutegate::Engine::builder().open(dir.path()).unwrap());
    let log = std::fs::read(dir.path().join("ops.log")).unwrap();
    assert_eq!(log, decode::header(b"MUTEGLOG", 0, 0));
}

#[test]
fn framed_inputs_reach_the_records() {
    // A MuteRoom record (tag 5) for room "r" that never ends, at time 7, as format 2.
    let payload = [7u8, 5, 1, b'r', 0];
    let data = [&[0u8, payload.len() as u8][..], &payload[..]].concat();
    assert_eq!(
        decode::try_framed(&data),
        2,
        "restore and open both accept it"
    );
    // The same frame with an unknown tag: the empty snapshot restores, the log is refused.
    let payload = [7u8, 99, 1, b'r', 0];
    let data = [&[0u8, payload.len() as u8][..], &payload[..]].concat();
    assert_eq!(decode::try_framed(&data), 1, "an unknown tag is refused");
}
