//! Wire formats: zero-copy, bounds-checked views over packet bytes and
//! emitters that write into caller-owned buffers. No I/O, no clock.

pub mod checksum;
pub mod icmp;
pub mod ipv4;
pub mod seq;
pub mod tcp;

pub use seq::SeqNum;
