//! Fuzz target: see `palaver::fuzzing::rest_body` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palaver::fuzzing::rest_body(data));
