//! The tcp parser on arbitrary bytes, with an emit round trip for what
//! parses (see `ringtcp_fuzz::wire_checks::tcp`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::wire_checks::tcp(data));
