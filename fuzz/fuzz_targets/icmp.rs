//! The icmp parser on arbitrary bytes, with an emit round trip for what
//! parses (see `ringtcp_fuzz::wire_checks::icmp`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::wire_checks::icmp(data));
