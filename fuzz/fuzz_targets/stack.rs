//! The whole stack: a stack with connections in many states, fed packets,
//! frames, time and application commands from the input (see
//! `ringtcp_fuzz::stack_harness` for the input format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::stack_harness::run(data));
