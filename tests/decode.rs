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
            prop_assert!(accepted >= 2, "an empty log and an empty log with a header open");
        }
    }
}

#[test]
fn the_shared_header_is_the_one_the_engine_writes() {
    let dir = tempfile::tempdir().unwrap();
    drop(mutegate::Engine::builder().open(dir.path()).unwrap());
    let log = std::fs::read(dir.path().join("ops.log")).unwrap();
    assert_eq!(log, decode::LOG_HEADER);
}
