//! Fuzz target: see `palaver::fuzzing::client_frame` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palaver::fuzzing::client_frame(data));
