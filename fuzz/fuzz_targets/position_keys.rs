//! Fuzz target: see `palaver::fuzzing::position_keys` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palaver::fuzzing::position_keys(data));
