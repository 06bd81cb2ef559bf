//! Wire formats: zero-copy, bounds-checked views over packet bytes and
//! emitters that write into caller-owned buffers. No I/O, no clock.
//!
//! This module owns the byte layouts of IPv4 (RFC 791), IPv6 and its
//! extension headers (RFC 8200), TCP (RFC 9293 3.1, with the options of
//! RFC 7323 and RFC 2018), ICMPv4 (RFC 792, RFC 1191), ICMPv6 (RFC 4443) and
//! the Internet checksum (RFC 1071, RFC 1624), and the virtio-net header a
//! TUN device with offloads puts in front of packets. It knows nothing about
//! connections, timers or devices, performs no I/O, never reads a clock and
//! contains no `unsafe` code.
//!
//! Two layers per protocol, in the manner of smoltcp:
//!
//! - a raw *packet* view (`Ipv4Packet<T>`, `TcpPacket<T>`) whose
//!   `new_checked` validates the lengths once so that every accessor after
//!   it is in bounds;
//! - a validated *representation* (`Ipv4Repr`, `TcpRepr`, `IcmpRepr`) that
//!   the upper layers work with, parsed from a view and emitted into a
//!   caller buffer.
//!
//! Every parser returns a [`WireError`] on malformed input and never panics,
//! whatever the bytes; `tests/wire_props.rs` checks that with property tests.
//!
//! Read first: RFC 791 section 3.1 (IPv4 header), RFC 8200 sections 3-4
//! (IPv6 header and extension headers), RFC 9293 section 3.1 (TCP header),
//! RFC 1071 (checksum).

#![forbid(unsafe_code)]

pub mod checksum;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod seq;
pub mod tcp;
pub mod vnet;

pub use seq::SeqNum;

pub use icmp::IcmpRepr;
pub use icmpv6::Icmpv6Repr;
pub use ipv4::{
    IPV4_HEADER_LEN, Ipv4Fragment, Ipv4Packet, Ipv4Repr, MAX_IPV4_PACKET, PROTO_ICMP, PROTO_TCP,
    parse_ipv4, parse_ipv4_fragment,
};
pub use ipv6::{
    IPV6_HEADER_LEN, Ipv6Error, Ipv6Fragment, Ipv6Packet, Ipv6Repr, parse_ipv6, parse_ipv6_fragment,
};
pub use tcp::{
    MAX_SACK_BLOCKS, TCP_HEADER_LEN, TcpFlags, TcpOptions, TcpPacket, TcpRepr, parse_tcp,
    parse_tcp_v6,
};
pub use vnet::{VNET_HDR_LEN, VnetHdr};

use core::fmt;

/// Why a packet could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer ends before the header (or the length the header
    /// announces) does.
    Truncated,
    /// The version field is not the one expected (4 for IPv4, 6 for IPv6).
    BadVersion,
    /// IPv4 IHL is below 5 (20 bytes).
    BadIhl,
    /// IPv4 total length is smaller than the header, or a datagram to emit
    /// would not fit the 16-bit total length.
    BadTotalLength,
    /// The header (IPv4) or segment (TCP, ICMP) checksum is wrong.
    BadChecksum,
    /// The IPv4 datagram is a fragment (MF set or offset nonzero): it must
    /// be reassembled (see [`ipv4::parse_ipv4_fragment`]) before its
    /// payload can be parsed.
    Fragmented,
    /// TCP data offset is below 5 or points past the end of the segment.
    BadDataOffset,
    /// A TCP option has a length that is invalid for its kind, below 2, or
    /// runs past the end of the option space.
    BadOptionLength,
    /// The datagram does not carry TCP (e.g. the datagram quoted in an ICMP
    /// error).
    NotTcp,
    /// An ICMP type this stack does not handle.
    UnsupportedIcmp,
    /// The caller's output buffer is too small for what is to be emitted.
    BufferTooSmall,
    /// An IPv6 payload length of 0 with a hop-by-hop header: a jumbogram
    /// (RFC 2675), which this stack does not support.
    Jumbogram,
    /// An IPv6 packet to emit would not fit the 16-bit payload length, or
    /// a fragment offset is not a multiple of 8 or beyond the 13-bit field.
    BadPayloadLength,
    /// More IPv6 extension headers than
    /// [`ipv6::MAX_EXT_HEADERS`].
    TooManyExtHeaders,
    /// IPv6 extension headers longer together than
    /// [`ipv6::MAX_EXT_HEADERS_LEN`].
    ExtHeadersTooLong,
    /// An option in an IPv6 hop-by-hop or destination options header runs
    /// past the end of its header.
    BadExtHeader,
    /// The IPv6 packet carries no fragment header (or only an atomic one,
    /// RFC 6946): there is nothing to reassemble.
    NotFragment,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            WireError::Truncated => "packet truncated",
            WireError::BadVersion => "wrong IP version",
            WireError::BadIhl => "IPv4 header length below 20 bytes",
            WireError::BadTotalLength => "bad IPv4 total length",
            WireError::BadChecksum => "bad checksum",
            WireError::Fragmented => "IPv4 fragment (to be reassembled first)",
            WireError::BadDataOffset => "bad TCP data offset",
            WireError::BadOptionLength => "bad TCP option length",
            WireError::NotTcp => "not a TCP datagram",
            WireError::UnsupportedIcmp => "unsupported ICMP type",
            WireError::BufferTooSmall => "output buffer too small",
            WireError::Jumbogram => "IPv6 jumbogram (not supported)",
            WireError::BadPayloadLength => "bad IPv6 payload length or fragment offset",
            WireError::TooManyExtHeaders => "too many IPv6 extension headers",
            WireError::ExtHeadersTooLong => "IPv6 extension headers too long",
            WireError::BadExtHeader => "malformed IPv6 extension header option",
            WireError::NotFragment => "not an IPv6 fragment",
        };
        f.write_str(s)
    }
}

impl std::error::Error for WireError {}

/// Big-endian u16 at `off`. Callers have checked `off + 2 <= buf.len()`.
#[inline]
fn be16(buf: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([buf[off], buf[off + 1]])
}

/// Big-endian u32 at `off`. Callers have checked `off + 4 <= buf.len()`.
#[inline]
fn be32(buf: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

#[inline]
fn put16(buf: &mut [u8], off: usize, v: u16) {
    buf[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_be_bytes());
}
