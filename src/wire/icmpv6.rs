//! ICMPv6 (RFC 4443): echo request and reply, and the four error messages
//! (destination unreachable, packet too big, time exceeded, parameter
//! problem).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Identifier, Sequence Number / MTU / Pointer / Unused          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data (echo) / as much of the invoking packet as fits      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Unlike ICMPv4's, the checksum covers the IPv6 pseudo-header (RFC 4443
//! 2.3, RFC 8200 8.1, next header 58) and is mandatory. An error emitted
//! here quotes at most [`MAX_INVOKING_LEN`] bytes of the invoking packet,
//! so that with its 40-byte IPv6 header it never exceeds the minimum MTU
//! of 1280 bytes (RFC 4443 2.4 (c)). The packet quoted in an error can be
//! read with [`parse_quoted_tcp`] to find the connection it concerns.
//!
//! Other types are [`WireError::UnsupportedIcmp`]; RFC 4443 2.4 (a)-(b)
//! says what the caller does with them: an unknown error (type below 128)
//! is passed to the upper layer the quoted packet names, an unknown
//! informational message (128 and up, neighbour discovery included)
//! is dropped silently. When an error may be sent at all (never about an
//! ICMPv6 error, a multicast destination with exceptions, a source that is
//! not a unicast address; rate-limited) is RFC 4443 2.4 (e)-(f), the
//! caller's.
//!
//! No I/O, no clock, no `unsafe`; no input makes these functions panic.

use std::net::Ipv6Addr;

use super::checksum;
use super::ipv6::{IPV6_HEADER_LEN, Ipv6Repr, MIN_MTU, next_header, skip_ext_headers};
use super::{SeqNum, WireError, be16, be32, put16, put32};

/// Length of the fixed ICMPv6 header (type, code, checksum, 4 more bytes).
pub const ICMPV6_HEADER_LEN: usize = 8;
/// Most bytes of the invoking packet an emitted error quotes: the minimum
/// MTU less the IPv6 and ICMPv6 headers (RFC 4443 2.4 (c)).
pub const MAX_INVOKING_LEN: usize = MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;

/// ICMPv6 type of a destination-unreachable error (RFC 4443 3.1).
pub const TYPE_DEST_UNREACHABLE: u8 = 1;
/// ICMPv6 type of a packet-too-big error (RFC 4443 3.2).
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
/// ICMPv6 type of a time-exceeded error (RFC 4443 3.3).
pub const TYPE_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 type of a parameter-problem error (RFC 4443 3.4).
pub const TYPE_PARAMETER_PROBLEM: u8 = 4;
/// ICMPv6 type of an echo request (RFC 4443 4.1).
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// ICMPv6 type of an echo reply (RFC 4443 4.2).
pub const TYPE_ECHO_REPLY: u8 = 129;

/// Destination-unreachable codes (RFC 4443 3.1).
pub mod dest_unreachable {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication with destination administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable.
    pub const ADDRESS_UNREACHABLE: u8 = 3;
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 4;
    /// Source address failed ingress/egress policy.
    pub const SOURCE_POLICY: u8 = 5;
    /// Reject route to destination.
    pub const REJECT_ROUTE: u8 = 6;
}

/// Time-exceeded codes (RFC 4443 3.3).
pub mod time_exceeded {
    /// Hop limit exceeded in transit.
    pub const HOP_LIMIT: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

/// Parameter-problem codes: the same as [`ipv6::param_problem`](super::ipv6::param_problem).
pub use super::ipv6::param_problem;

/// A parsed ICMPv6 message, borrowing its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    /// A ping (type 128); answered with an [`Icmpv6Repr::EchoReply`]
    /// carrying the same identifier, sequence number and data (RFC 4443
    /// 4.2).
    EchoRequest {
        /// Identifier chosen by the sender to match replies.
        ident: u16,
        /// Sequence number chosen by the sender to match replies.
        seq_no: u16,
        /// The data to echo back.
        data: &'a [u8],
    },
    /// The answer to a ping (type 129).
    EchoReply {
        /// The request's identifier.
        ident: u16,
        /// The request's sequence number.
        seq_no: u16,
        /// The request's data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 1).
    DestUnreachable {
        /// One of [`dest_unreachable`]'s codes.
        code: u8,
        /// As much of the invoking packet as was quoted.
        invoking: &'a [u8],
    },
    /// Packet too big (type 2, code 0): the path MTU discovery signal (RFC
    /// 8201).
    PacketTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
        /// As much of the invoking packet as was quoted.
        invoking: &'a [u8],
    },
    /// Time exceeded (type 3).
    TimeExceeded {
        /// One of [`time_exceeded`]'s codes.
        code: u8,
        /// As much of the invoking packet as was quoted.
        invoking: &'a [u8],
    },
    /// Parameter problem (type 4).
    ParameterProblem {
        /// One of [`param_problem`]'s codes.
        code: u8,
        /// Offset in the invoking packet of the byte at fault.
        pointer: u32,
        /// As much of the invoking packet as was quoted.
        invoking: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Parses an ICMPv6 message (the upper-layer payload of a packet from
    /// `src` to `dst`). Fewer than 8 bytes is [`WireError::Truncated`];
    /// with `verify_checksum`, a wrong checksum over the pseudo-header and
    /// message is [`WireError::BadChecksum`]; a type this module does not
    /// handle is [`WireError::UnsupportedIcmp`]. Codes are carried as
    /// received; the code of echo messages and packet too big is not
    /// checked. The quoted packet of an error is not validated.
    pub fn parse(
        bytes: &'a [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        verify_checksum: bool,
    ) -> Result<Icmpv6Repr<'a>, WireError> {
        if bytes.len() < ICMPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if verify_checksum {
            let len = u32::try_from(bytes.len()).map_err(|_| WireError::BadChecksum)?;
            let pseudo = checksum::pseudo_header_sum_v6(src, dst, next_header::ICMPV6, len);
            if checksum::fold(checksum::ones_sum(bytes, pseudo)) != 0xffff {
                return Err(WireError::BadChecksum);
            }
        }
        let rest = &bytes[ICMPV6_HEADER_LEN..];
        let code = bytes[1];
        Ok(match bytes[0] {
            TYPE_ECHO_REQUEST => Icmpv6Repr::EchoRequest {
                ident: be16(bytes, 4),
                seq_no: be16(bytes, 6),
                data: rest,
            },
            TYPE_ECHO_REPLY => Icmpv6Repr::EchoReply {
                ident: be16(bytes, 4),
                seq_no: be16(bytes, 6),
                data: rest,
            },
            TYPE_DEST_UNREACHABLE => Icmpv6Repr::DestUnreachable {
                code,
                invoking: rest,
            },
            TYPE_PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig {
                mtu: be32(bytes, 4),
                invoking: rest,
            },
            TYPE_TIME_EXCEEDED => Icmpv6Repr::TimeExceeded {
                code,
                invoking: rest,
            },
            TYPE_PARAMETER_PROBLEM => Icmpv6Repr::ParameterProblem {
                code,
                pointer: be32(bytes, 4),
                invoking: rest,
            },
            _ => return Err(WireError::UnsupportedIcmp),
        })
    }

    /// True for the four error messages (types below 128, RFC 4443 2.1).
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            Icmpv6Repr::EchoRequest { .. } | Icmpv6Repr::EchoReply { .. }
        )
    }

    /// Type, code, the second 32-bit word, and the body as emitted (the
    /// invoking packet cut to [`MAX_INVOKING_LEN`]).
    fn fields(&self) -> (u8, u8, u32, &'a [u8]) {
        let echo = |ident: u16, seq_no: u16| u32::from(ident) << 16 | u32::from(seq_no);
        let quote = |b: &'a [u8]| &b[..b.len().min(MAX_INVOKING_LEN)];
        match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REQUEST, 0, echo(ident, seq_no), data),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REPLY, 0, echo(ident, seq_no), data),
            Icmpv6Repr::DestUnreachable { code, invoking } => {
                (TYPE_DEST_UNREACHABLE, code, 0, quote(invoking))
            }
            Icmpv6Repr::PacketTooBig { mtu, invoking } => {
                (TYPE_PACKET_TOO_BIG, 0, mtu, quote(invoking))
            }
            Icmpv6Repr::TimeExceeded { code, invoking } => {
                (TYPE_TIME_EXCEEDED, code, 0, quote(invoking))
            }
            Icmpv6Repr::ParameterProblem {
                code,
                pointer,
                invoking,
            } => (TYPE_PARAMETER_PROBLEM, code, pointer, quote(invoking)),
        }
    }

    /// Length of the message [`emit`](Self::emit) writes. For an error it
    /// is at most 1240 bytes: the invoking packet is cut to
    /// [`MAX_INVOKING_LEN`].
    pub fn buffer_len(&self) -> usize {
        ICMPV6_HEADER_LEN + self.fields().3.len()
    }

    /// Writes the message from `src` to `dst` into `buf[..buffer_len()]`,
    /// checksum over the IPv6 pseudo-header filled, and returns
    /// `buffer_len()`. An error quotes at most [`MAX_INVOKING_LEN`] bytes
    /// of its invoking packet. [`WireError::BufferTooSmall`] if `buf` is
    /// too short, [`WireError::BadPayloadLength`] if an echo message does
    /// not fit an IPv6 payload; nothing is written on error.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<usize, WireError> {
        let (ty, code, word, body) = self.fields();
        let len = ICMPV6_HEADER_LEN + body.len();
        let len32 = u32::try_from(len)
            .ok()
            .filter(|&l| l <= 65_535)
            .ok_or(WireError::BadPayloadLength)?;
        let Some(out) = buf.get_mut(..len) else {
            return Err(WireError::BufferTooSmall);
        };
        out[0] = ty;
        out[1] = code;
        put16(out, 2, 0);
        put32(out, 4, word);
        out[ICMPV6_HEADER_LEN..].copy_from_slice(body);
        let pseudo = checksum::pseudo_header_sum_v6(src, dst, next_header::ICMPV6, len32);
        let sum = !checksum::fold(checksum::ones_sum(out, pseudo));
        put16(out, 2, sum);
        Ok(len)
    }

    /// The message in a whole IPv6 packet from `src` to `dst` with hop
    /// limit `hop_limit` and no extension headers, written into `buf`;
    /// returns its length (at most 1280 for an error). Errors as
    /// [`emit`](Self::emit); nothing is written on error.
    pub fn emit_packet(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        buf: &mut [u8],
    ) -> Result<usize, WireError> {
        let len = self.buffer_len();
        let total = IPV6_HEADER_LEN + len;
        let Some(out) = buf.get_mut(..total) else {
            return Err(WireError::BufferTooSmall);
        };
        let ip = Ipv6Repr {
            src,
            dst,
            next_header: next_header::ICMPV6,
            payload_len: len,
            hop_limit,
        };
        // `emit` checks the length before writing anything; the header
        // cannot fail after it.
        self.emit(&mut out[IPV6_HEADER_LEN..], src, dst)?;
        ip.emit(out)?;
        Ok(total)
    }
}

/// What identifies a TCP connection in the packet quoted by an ICMPv6
/// error: addresses and ports as *we* sent them, and the sequence number
/// of the quoted segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp6 {
    /// Our address (the quoted packet's source).
    pub src: Ipv6Addr,
    /// The peer's address (the quoted packet's destination).
    pub dst: Ipv6Addr,
    /// Our port.
    pub src_port: u16,
    /// The peer's port.
    pub dst_port: u16,
    /// The quoted segment's sequence number (SEG.SEQ as we sent it); RFC
    /// 5927 says to check it against the send window before acting.
    pub seq: SeqNum,
    /// How long the quoted packet was: 40 plus its payload length field.
    pub packet_len: usize,
}

/// Reads the packet quoted by an ICMPv6 error: an IPv6 header, any
/// extension headers (skipped with
/// [`super::ipv6::skip_ext_headers`]: a fragment with a
/// nonzero offset holds no TCP header), then at least the first 8 bytes of
/// a TCP header. The quote may be cut anywhere after those, so the payload
/// length is not checked against it and no checksum is verified.
///
/// Errors: [`WireError::BadVersion`] if the first nibble is not 6,
/// [`WireError::Truncated`] if the header, an extension header or the 8
/// TCP bytes are missing, [`WireError::NotTcp`] if the upper layer is not
/// TCP, [`WireError::Fragmented`] or [`WireError::TooManyExtHeaders`] from
/// the walk.
pub fn parse_quoted_tcp(invoking: &[u8]) -> Result<QuotedTcp6, WireError> {
    let Some(&first) = invoking.first() else {
        return Err(WireError::Truncated);
    };
    if first >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    let Some(hdr) = invoking.get(..IPV6_HEADER_LEN) else {
        return Err(WireError::Truncated);
    };
    let (upper, off) = skip_ext_headers(invoking, hdr[6], IPV6_HEADER_LEN)?;
    if upper != next_header::TCP {
        return Err(WireError::NotTcp);
    }
    let Some(tcp) = invoking.get(off..off + 8) else {
        return Err(WireError::Truncated);
    };
    let addr = |o: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&hdr[o..o + 16]);
        Ipv6Addr::from(a)
    };
    Ok(QuotedTcp6 {
        src: addr(8),
        dst: addr(24),
        src_port: be16(tcp, 0),
        dst_port: be16(tcp, 2),
        seq: SeqNum(be32(tcp, 4)),
        packet_len: IPV6_HEADER_LEN + usize::from(be16(hdr, 4)),
    })
}

#[cfg(test)]
mod tests;
