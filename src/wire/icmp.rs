//! ICMPv4 (RFC 792): echo request and reply, and destination unreachable
//! with the next-hop MTU of RFC 1191 section 4 for path MTU discovery.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Identifier / unused         | Sequence Number / Next-Hop MTU|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data (echo) / Internet Header + 64 bits of Original Data  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The checksum covers the whole ICMP message (no pseudo-header). Other
//! ICMP types are [`WireError::UnsupportedIcmp`]. The datagram quoted in a
//! destination-unreachable message can be read with [`parse_quoted_tcp`]
//! to find the connection it concerns (RFC 5927 explains why the quoted
//! sequence number should then be checked against the send window).
//!
//! No I/O, no clock, no `unsafe`; no input makes these functions panic.

use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, PROTO_ICMP, PROTO_TCP};
use super::{SeqNum, WireError, be16, be32, put16};

/// Length of the fixed ICMP header (type, code, checksum, 4 more bytes).
pub const ICMP_HEADER_LEN: usize = 8;

/// ICMP type of an echo reply (RFC 792).
pub const TYPE_ECHO_REPLY: u8 = 0;
/// ICMP type of a destination-unreachable error (RFC 792); see [`codes`].
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
/// ICMP type of an echo request, a ping (RFC 792).
pub const TYPE_ECHO_REQUEST: u8 = 8;

/// Destination-unreachable codes (RFC 792; RFC 1191 for `FRAG_NEEDED`;
/// RFC 1122 3.2.2.1 and RFC 1812 5.2.7.1 for 6 and up).
pub mod codes {
    /// No route to the destination network.
    pub const NET_UNREACHABLE: u8 = 0;
    /// The destination host does not answer (e.g. ARP failed).
    pub const HOST_UNREACHABLE: u8 = 1;
    /// The destination host does not speak the transport protocol.
    pub const PROTO_UNREACHABLE: u8 = 2;
    /// No socket on the destination port (used by UDP; TCP answers with
    /// RST instead).
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Fragmentation needed and DF set; carries the next-hop MTU.
    pub const FRAG_NEEDED: u8 = 4;
    /// A source route in the datagram's options could not be followed.
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
    /// The destination network is unknown.
    pub const NET_UNKNOWN: u8 = 6;
    /// The destination host is unknown.
    pub const HOST_UNKNOWN: u8 = 7;
    /// The source host is isolated (obsolete).
    pub const HOST_ISOLATED: u8 = 8;
    /// Communication with the destination network is administratively
    /// prohibited.
    pub const NET_PROHIBITED: u8 = 9;
    /// Communication with the destination host is administratively
    /// prohibited.
    pub const HOST_PROHIBITED: u8 = 10;
    /// The network is unreachable for the requested type of service.
    pub const NET_UNREACHABLE_TOS: u8 = 11;
    /// The host is unreachable for the requested type of service.
    pub const HOST_UNREACHABLE_TOS: u8 = 12;
    /// Communication administratively prohibited (a filter: Linux's
    /// `prohibit` routes and `REJECT --reject-with icmp-admin-prohibited`).
    pub const COMM_PROHIBITED: u8 = 13;
}
pub use codes::*;

/// A parsed ICMPv4 message, borrowing its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr<'a> {
    /// A ping (type 8); answered with an [`IcmpRepr::EchoReply`] carrying
    /// the same identifier, sequence number and data.
    EchoRequest {
        /// Identifier chosen by the sender to match replies (RFC 792).
        ident: u16,
        /// Sequence number chosen by the sender to match replies.
        seq_no: u16,
        /// The data to echo back.
        data: &'a [u8],
    },
    /// The answer to a ping (type 0).
    EchoReply {
        /// The request's identifier.
        ident: u16,
        /// The request's sequence number.
        seq_no: u16,
        /// The request's data.
        data: &'a [u8],
    },
    /// A destination-unreachable error (type 3) about a datagram we sent.
    DestUnreachable {
        /// One of [`codes`].
        code: u8,
        /// Next-hop MTU (RFC 1191 section 4), meaningful only with
        /// [`FRAG_NEEDED`]; for other codes the field is unused (0 when we
        /// emit) and is carried as received.
        next_hop_mtu: u16,
        /// The offending datagram's IP header and at least its first 8
        /// payload bytes (RFC 792; routers following RFC 1812 may quote
        /// more). Not validated by [`IcmpRepr::parse`].
        original: &'a [u8],
    },
}

impl<'a> IcmpRepr<'a> {
    /// Parses an ICMP message (the IPv4 payload). Fewer than 8 bytes is
    /// [`WireError::Truncated`]; with `verify_checksum`, a wrong checksum is
    /// [`WireError::BadChecksum`]; a type other than echo request, echo
    /// reply or destination unreachable is [`WireError::UnsupportedIcmp`].
    /// The code of echo messages is not checked.
    pub fn parse(bytes: &'a [u8], verify_checksum: bool) -> Result<IcmpRepr<'a>, WireError> {
        if bytes.len() < ICMP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if verify_checksum && checksum::fold(checksum::ones_sum(bytes, 0)) != 0xffff {
            return Err(WireError::BadChecksum);
        }
        let rest = &bytes[ICMP_HEADER_LEN..];
        match bytes[0] {
            TYPE_ECHO_REQUEST => Ok(IcmpRepr::EchoRequest {
                ident: be16(bytes, 4),
                seq_no: be16(bytes, 6),
                data: rest,
            }),
            TYPE_ECHO_REPLY => Ok(IcmpRepr::EchoReply {
                ident: be16(bytes, 4),
                seq_no: be16(bytes, 6),
                data: rest,
            }),
            TYPE_DEST_UNREACHABLE => Ok(IcmpRepr::DestUnreachable {
                code: bytes[1],
                next_hop_mtu: be16(bytes, 6),
                original: rest,
            }),
            _ => Err(WireError::UnsupportedIcmp),
        }
    }

    /// Length of the message [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        ICMP_HEADER_LEN
            + match self {
                IcmpRepr::EchoRequest { data, .. } | IcmpRepr::EchoReply { data, .. } => data.len(),
                IcmpRepr::DestUnreachable { original, .. } => original.len(),
            }
    }

    /// Writes the message into `buf[..buffer_len()]`, checksum filled, and
    /// returns `buffer_len()`. [`WireError::BufferTooSmall`] if `buf` is too
    /// short (nothing is written). The caller keeps the quoted `original` of
    /// a destination-unreachable within the 576-byte limit of RFC 1812
    /// section 4.3.2.3 if it cares.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.buffer_len();
        let Some(out) = buf.get_mut(..len) else {
            return Err(WireError::BufferTooSmall);
        };
        let (ty, code, word1, word2, body) = match *self {
            IcmpRepr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REQUEST, 0, ident, seq_no, data),
            IcmpRepr::EchoReply {
                ident,
                seq_no,
                data,
            } => (TYPE_ECHO_REPLY, 0, ident, seq_no, data),
            IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            } => (TYPE_DEST_UNREACHABLE, code, 0, next_hop_mtu, original),
        };
        out[0] = ty;
        out[1] = code;
        put16(out, 2, 0);
        put16(out, 4, word1);
        put16(out, 6, word2);
        out[ICMP_HEADER_LEN..].copy_from_slice(body);
        let sum = checksum::checksum(out);
        put16(out, 2, sum);
        Ok(len)
    }

    /// The message in a whole IPv4 datagram from `src` to `dst` (TTL `ttl`,
    /// identification `ident`), written into `buf`; returns its length,
    /// or [`WireError::BufferTooSmall`] (nothing is written).
    pub fn emit_datagram(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        ident: u16,
        buf: &mut [u8],
    ) -> Result<usize, WireError> {
        let len = self.buffer_len();
        let total = IPV4_HEADER_LEN + len;
        let Some(out) = buf.get_mut(..total) else {
            return Err(WireError::BufferTooSmall);
        };
        let ip = Ipv4Repr {
            src,
            dst,
            protocol: PROTO_ICMP,
            payload_len: len,
            ttl,
        };
        ip.emit(&mut out[..IPV4_HEADER_LEN], ident)?;
        self.emit(&mut out[IPV4_HEADER_LEN..])?;
        Ok(total)
    }
}

/// What identifies a TCP connection in the datagram quoted by an ICMP
/// error: addresses and ports as *we* sent them, and the sequence number of
/// the quoted segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp {
    /// Our address (the quoted datagram's source).
    pub src: Ipv4Addr,
    /// The peer's address (the quoted datagram's destination).
    pub dst: Ipv4Addr,
    /// Our port.
    pub src_port: u16,
    /// The peer's port.
    pub dst_port: u16,
    /// The quoted segment's sequence number (SEG.SEQ as we sent it).
    pub seq: SeqNum,
    /// The quoted datagram's IPv4 total length: how big the packet was
    /// (RFC 1191 5 picks the next plateau below it).
    pub total_len: u16,
}

/// Reads the quoted datagram of a destination-unreachable message: an IPv4
/// header followed by at least 8 bytes of TCP header. The quote is
/// truncated by design, so the IPv4 total length is not checked against it
/// and no checksum is verified.
///
/// Errors: [`WireError::Truncated`] if the header or the 8 TCP bytes are
/// missing, [`WireError::BadVersion`] / [`WireError::BadIhl`] for a bad
/// first byte, [`WireError::NotTcp`] if the quoted protocol is not TCP.
pub fn parse_quoted_tcp(original: &[u8]) -> Result<QuotedTcp, WireError> {
    let Some(&ver_ihl) = original.first() else {
        return Err(WireError::Truncated);
    };
    if ver_ihl >> 4 != 4 {
        return Err(WireError::BadVersion);
    }
    let header_len = usize::from(ver_ihl & 0x0f) * 4;
    if header_len < IPV4_HEADER_LEN {
        return Err(WireError::BadIhl);
    }
    let Some(tcp) = original.get(header_len..header_len + 8) else {
        return Err(WireError::Truncated);
    };
    if original[9] != PROTO_TCP {
        return Err(WireError::NotTcp);
    }
    let addr = |o: usize| {
        Ipv4Addr::new(
            original[o],
            original[o + 1],
            original[o + 2],
            original[o + 3],
        )
    };
    Ok(QuotedTcp {
        src: addr(12),
        dst: addr(16),
        src_port: be16(tcp, 0),
        dst_port: be16(tcp, 2),
        seq: SeqNum(be32(tcp, 4)),
        total_len: be16(original, 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo request shaped like `ping -p 6162 -s 8`: ident 0x1c2b, seq 1,
    /// 8 data bytes; checksum from the naive oracle.
    fn echo_request_bytes() -> Vec<u8> {
        let mut b = vec![
            8, 0, 0, 0, 0x1c, 0x2b, 0x00, 0x01, b'a', b'b', b'a', b'b', b'a', b'b', b'a', b'b',
        ];
        let c = checksum::naive_checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn echo_request_parse_and_reply() {
        let b = echo_request_bytes();
        let req = IcmpRepr::parse(&b, true).unwrap();
        assert_eq!(
            req,
            IcmpRepr::EchoRequest {
                ident: 0x1c2b,
                seq_no: 1,
                data: b"abababab"
            }
        );
        let IcmpRepr::EchoRequest {
            ident,
            seq_no,
            data,
        } = req
        else {
            unreachable!()
        };
        let reply = IcmpRepr::EchoReply {
            ident,
            seq_no,
            data,
        };
        let mut out = [0u8; 32];
        let n = reply.emit(&mut out).unwrap();
        assert_eq!(n, 16);
        assert_eq!(reply.buffer_len(), 16);
        assert_eq!(out[0], TYPE_ECHO_REPLY);
        // Only the type changed: the checksum moved by 0x0800 (RFC 1624).
        let expected = checksum::update(u16::from_be_bytes([b[2], b[3]]), 0x0800, 0x0000);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]), expected);
        assert_eq!(IcmpRepr::parse(&out[..n], true).unwrap(), reply);
    }

    #[test]
    fn datagram_parses_back() {
        let repr = IcmpRepr::EchoReply {
            ident: 7,
            seq_no: 9,
            data: b"abc",
        };
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 1));
        let mut buf = [0u8; 64];
        let n = repr.emit_datagram(src, dst, 64, 5, &mut buf).unwrap();
        assert_eq!(n, IPV4_HEADER_LEN + ICMP_HEADER_LEN + 3);
        let (ip, payload) = crate::wire::ipv4::parse_ipv4(&buf[..n], true).unwrap();
        assert_eq!((ip.src, ip.dst, ip.protocol), (src, dst, PROTO_ICMP));
        assert_eq!(IcmpRepr::parse(payload, true).unwrap(), repr);
        let mut short = [0u8; 30];
        assert_eq!(
            repr.emit_datagram(src, dst, 64, 5, &mut short),
            Err(WireError::BufferTooSmall)
        );
        assert_eq!(short, [0u8; 30], "nothing written");
    }

    #[test]
    fn dest_unreachable_roundtrip_and_quote() {
        // The quoted datagram: an IPv4 header and the first 8 TCP bytes.
        let mut quoted = [0u8; 28];
        quoted[0] = 0x45;
        quoted[2..4].copy_from_slice(&1500u16.to_be_bytes());
        quoted[9] = PROTO_TCP;
        quoted[12..16].copy_from_slice(&[10, 0, 0, 1]);
        quoted[16..20].copy_from_slice(&[10, 0, 0, 2]);
        quoted[20..22].copy_from_slice(&40000u16.to_be_bytes());
        quoted[22..24].copy_from_slice(&80u16.to_be_bytes());
        quoted[24..28].copy_from_slice(&0xdeadbeefu32.to_be_bytes());
        let repr = IcmpRepr::DestUnreachable {
            code: FRAG_NEEDED,
            next_hop_mtu: 1400,
            original: &quoted,
        };
        let mut out = [0u8; 64];
        let n = repr.emit(&mut out).unwrap();
        assert_eq!(n, 36);
        assert_eq!(&out[..8], &[3, 4, out[2], out[3], 0, 0, 0x05, 0x78]);
        let back = IcmpRepr::parse(&out[..n], true).unwrap();
        assert_eq!(back, repr);
        let IcmpRepr::DestUnreachable { original, .. } = back else {
            unreachable!()
        };
        assert_eq!(
            parse_quoted_tcp(original),
            Ok(QuotedTcp {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
                src_port: 40000,
                dst_port: 80,
                seq: SeqNum(0xdeadbeef),
                total_len: 1500,
            })
        );
        assert_eq!(parse_quoted_tcp(&quoted[..27]), Err(WireError::Truncated));
        assert_eq!(parse_quoted_tcp(&[]), Err(WireError::Truncated));
        let mut udp = quoted;
        udp[9] = 17;
        assert_eq!(parse_quoted_tcp(&udp), Err(WireError::NotTcp));
        udp[0] = 0x44;
        assert_eq!(parse_quoted_tcp(&udp), Err(WireError::BadIhl));
        udp[0] = 0x65;
        assert_eq!(parse_quoted_tcp(&udp), Err(WireError::BadVersion));
    }

    #[test]
    fn errors() {
        assert_eq!(
            IcmpRepr::parse(&[8, 0, 0, 0, 0, 0, 0], false),
            Err(WireError::Truncated)
        );
        let mut b = echo_request_bytes();
        b[9] ^= 1;
        assert_eq!(IcmpRepr::parse(&b, true), Err(WireError::BadChecksum));
        assert!(IcmpRepr::parse(&b, false).is_ok());
        // Timestamp request (type 13), redirect (5), time exceeded (11).
        for ty in [13u8, 5, 11] {
            let mut m = [ty, 0, 0, 0, 0, 0, 0, 0];
            let c = checksum::checksum(&m);
            m[2..4].copy_from_slice(&c.to_be_bytes());
            assert_eq!(IcmpRepr::parse(&m, true), Err(WireError::UnsupportedIcmp));
        }
        let repr = IcmpRepr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: &[0; 10],
        };
        let mut small = [0u8; 17];
        assert_eq!(repr.emit(&mut small), Err(WireError::BufferTooSmall));
        assert_eq!(small, [0; 17]);
    }
}
