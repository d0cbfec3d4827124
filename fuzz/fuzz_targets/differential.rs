//! Differential fuzzing: arbitrary operation sequences (every mutation, clock advance,
//! sweep, snapshot + restore, close + reopen) on a durable engine and on the reference
//! model of the test suite; any disagreement is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/reference/mod.rs"]
mod reference;

fuzz_target!(|data: &[u8]| {
    let (policy, shards, steps) = reference::from_bytes(data);
    // Long inputs add little and slow every run down.
    if steps.len() > 80 {
        return;
    }
    if let Err(disagreement) = reference::run(policy, shards, &steps) {
        panic!("engine and model disagree: {disagreement}");
    }
});
