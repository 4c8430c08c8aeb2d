//! Fuzz target: see `palaver_fuzz_checks::position_keys` for the invariants it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palaver_fuzz_checks::position_keys(data));
