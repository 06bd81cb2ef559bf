//! TCP header and options (RFC 9293 section 3.1; window scale and
//! timestamps from RFC 7323; SACK from RFC 2018).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`TcpPacket`] is a checked view over a segment (the IPv4 payload);
//! [`TcpRepr`] is the parsed segment the TCP state machines work with, and
//! [`TcpRepr::emit_header`] writes a header into a caller buffer in front of
//! a payload the caller places itself (the zero-copy send path).
//!
//! The checksum covers an IPv4 pseudo-header (RFC 9293 section 3.1,
//! "Checksum"). [`fill_checksum`] computes it in software;
//! [`fill_partial_checksum`] writes only the pseudo-header sum, which is what
//! a device doing checksum offload (virtio-net `VIRTIO_NET_HDR_F_NEEDS_CSUM`)
//! expects to complete. Over IPv6 the pseudo-header is RFC 8200 section
//! 8.1's; every function that takes IPv4 addresses has a `_v6` twin
//! ([`fill_checksum_v6`], [`parse_tcp_v6`], [`TcpRepr::emit_v6`], ...).
//!
//! No I/O, no clock, no `unsafe`; no input makes these functions panic.
//!
//! Files: `flags` ([`TcpFlags`]), `packet` (the view), `options` (parse and
//! emit of [`TcpOptions`]), `repr` ([`TcpRepr`], [`parse_tcp`]) and
//! `checksum`; this one holds the constants and field offsets they share.

mod checksum;
mod flags;
mod options;
mod packet;
mod repr;

pub use checksum::{
    fill_checksum, fill_checksum_v6, fill_partial_checksum, fill_partial_checksum_v6,
};
pub use flags::TcpFlags;
pub use options::TcpOptions;
pub use packet::TcpPacket;
pub use repr::{TcpRepr, parse_tcp, parse_tcp_v6};

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Most SACK blocks a [`TcpOptions`] holds: 4 is what fits in the 40 bytes
/// of option space (RFC 2018 section 3).
pub const MAX_SACK_BLOCKS: usize = 4;
/// Largest option space: data offset 15 words minus the fixed header.
pub const MAX_OPTIONS_LEN: usize = 40;
/// Largest window scale shift (RFC 7323 section 2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018).
mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

#[cfg(test)]
mod tests;
