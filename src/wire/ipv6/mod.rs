//! IPv6 (RFC 8200): a checked view over received bytes, [`Ipv6Packet`], the
//! walk over its extension headers that applies RFC 8200 section 4's rules
//! ([`Ipv6Packet::headers`]), the representation the stack uses,
//! [`Ipv6Repr`], and fragments ([`Ipv6Fragment`], RFC 8200 section 4.5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                         Source Address                        +
//! |                          (128 bits)                           |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                      Destination Address                      +
//! |                          (128 bits)                           |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Read first: RFC 8200 sections 3 and 4 (header, extension headers and
//! their order, options and their action bits, routing and fragment
//! headers), RFC 6946 (atomic fragments), RFC 7112 (the header chain in the
//! first fragment), RFC 4443 section 2.4 (when an ICMPv6 error may be sent).
//!
//! What a receiver must do with a packet is the [`Ipv6Error`] a parser
//! returns: drop it silently ([`Ipv6Error::Malformed`],
//! [`Ipv6Error::Discard`]) or drop it and answer with an ICMPv6 Parameter
//! Problem ([`Ipv6Error::ParameterProblem`], built with
//! [`Icmpv6Repr::ParameterProblem`](super::icmpv6::Icmpv6Repr::ParameterProblem)).
//! Nothing here sends anything.
//!
//! Jumbograms (RFC 2675) are not supported: a payload length of 0 with a
//! hop-by-hop header is [`WireError::Jumbogram`]. Bytes past the payload
//! length (link-layer padding) are ignored.
//!
//! No I/O, no clock, no `unsafe`; no input makes these functions panic.

mod ext;
mod frag;
#[cfg(test)]
mod tests;

use std::net::Ipv6Addr;

use super::{WireError, be16, be32, put16, put32};

pub use ext::{Ipv6Headers, MAX_EXT_HEADERS, MAX_EXT_HEADERS_LEN, skip_ext_headers};
pub use frag::{
    FRAGMENT_HEADER_LEN, FragmentHeader, Ipv6Fragment, check_first_fragment, parse_ipv6_fragment,
};

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// The IPv6 minimum link MTU (RFC 8200 section 5): every link carries
/// packets of this size, and ICMPv6 errors never exceed it (RFC 4443 2.4).
pub const MIN_MTU: usize = 1280;
/// Most payload an IPv6 packet without a jumbo payload option carries: its
/// payload length field is 16 bits.
pub const MAX_PAYLOAD_LEN: usize = 65_535;
/// Hop limit of the packets this stack sends unless told otherwise
/// (Linux's default `net.ipv6.conf.*.hop_limit`).
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Next header values (IANA "Assigned Internet Protocol Numbers"; RFC 8200
/// section 4 for the extension headers).
pub mod next_header {
    /// Hop-by-hop options header (RFC 8200 4.3); only right after the
    /// IPv6 header.
    pub const HOP_BY_HOP: u8 = 0;
    /// TCP (RFC 9293).
    pub const TCP: u8 = 6;
    /// Routing header (RFC 8200 4.4).
    pub const ROUTING: u8 = 43;
    /// Fragment header (RFC 8200 4.5).
    pub const FRAGMENT: u8 = 44;
    /// ICMPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
    /// No next header (RFC 8200 4.7): nothing follows.
    pub const NO_NEXT_HEADER: u8 = 59;
    /// Destination options header (RFC 8200 4.6).
    pub const DEST_OPTIONS: u8 = 60;
}

/// ICMPv6 Parameter Problem codes (RFC 4443 3.4, RFC 7112 for code 3): the
/// `code` of an [`Ipv6Error::ParameterProblem`].
pub mod param_problem {
    /// Erroneous header field encountered.
    pub const ERRONEOUS_FIELD: u8 = 0;
    /// Unrecognized Next Header type encountered.
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    /// Unrecognized IPv6 option encountered.
    pub const UNRECOGNIZED_OPTION: u8 = 2;
    /// The first fragment does not hold the whole header chain (RFC 7112).
    pub const INCOMPLETE_CHAIN: u8 = 3;
}

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// What a receiver must do with an IPv6 packet a parser refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Ipv6Error {
    /// Malformed, truncated or beyond this stack's bounds: drop silently.
    Malformed(WireError),
    /// RFC 8200 says to discard the packet without an ICMPv6 error: an
    /// unrecognised option whose action bits are 01, or a parameter
    /// problem that RFC 4443 2.4 (e.3) forbids reporting because the
    /// destination is multicast.
    Discard,
    /// Discard the packet and send an ICMPv6 Parameter Problem to its
    /// source (RFC 4443 3.4), subject to the caller's rate limit and to
    /// RFC 4443 2.4 (e.4-6) on the source address. The multicast rule of
    /// 2.4 (e.3) is already applied.
    ParameterProblem {
        /// One of [`param_problem`]'s codes.
        code: u8,
        /// Offset of the offending byte from the start of the IPv6 header.
        pointer: u32,
    },
}

impl From<WireError> for Ipv6Error {
    fn from(e: WireError) -> Self {
        Ipv6Error::Malformed(e)
    }
}

impl core::fmt::Display for Ipv6Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Ipv6Error::Malformed(e) => e.fmt(f),
            Ipv6Error::Discard => f.write_str("discarded as RFC 8200 says"),
            Ipv6Error::ParameterProblem { code, pointer } => {
                write!(f, "parameter problem code {code} at byte {pointer}")
            }
        }
    }
}

impl std::error::Error for Ipv6Error {}

/// A checked view of an IPv6 packet.
///
/// [`Ipv6Packet::new_checked`] guarantees that the 40-byte header and the
/// payload length it announces lie inside the buffer, so every accessor is
/// in bounds. Extension headers are not looked at until
/// [`headers`](Self::headers).
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Validates the fixed header (RFC 8200 section 3):
    ///
    /// - version is 6, else [`WireError::BadVersion`];
    /// - the 40 bytes lie inside the buffer, else [`WireError::Truncated`];
    /// - payload length 0 with next header hop-by-hop is a jumbogram (RFC
    ///   2675 section 3), [`WireError::Jumbogram`];
    /// - `40 + payload length` is at most the buffer length, else
    ///   [`WireError::Truncated`]; trailing bytes are ignored.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let buf = buffer.as_ref();
        let Some(&first) = buf.first() else {
            return Err(WireError::Truncated);
        };
        if first >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        if buf.len() < IPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let payload_len = usize::from(be16(buf, field::PAYLOAD_LEN));
        if payload_len == 0 && buf[field::NEXT_HEADER] == next_header::HOP_BY_HOP {
            return Err(WireError::Jumbogram);
        }
        if IPV6_HEADER_LEN + payload_len > buf.len() {
            return Err(WireError::Truncated);
        }
        Ok(Ipv6Packet { buffer })
    }

    /// The underlying buffer, as given (not trimmed to the payload length).
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version field (always 6 after `new_checked`).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buf()[0] >> 4
    }

    /// Traffic class: DSCP and ECN (RFC 2474, RFC 3168).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((be16(self.buf(), field::VER_TC_FLOW) >> 4) & 0xff) as u8
    }

    /// Flow label, 20 bits (RFC 6437).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.buf(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload length: bytes after the fixed header, extension headers
    /// included.
    #[inline]
    pub fn payload_len(&self) -> usize {
        usize::from(be16(self.buf(), field::PAYLOAD_LEN))
    }

    /// The next header field of the fixed header: the first extension
    /// header, or the upper-layer protocol.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buf()[field::NEXT_HEADER]
    }

    /// Hop limit: hops left.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buf()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buf(), field::SRC)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buf(), field::DST)
    }

    /// The packet trimmed to `40 + payload length`: header, extension
    /// headers and upper-layer data, link-layer padding cut off.
    #[inline]
    pub fn packet(&self) -> &[u8] {
        &self.buf()[..IPV6_HEADER_LEN + self.payload_len()]
    }

    /// The payload: extension headers and upper-layer data.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.packet()[IPV6_HEADER_LEN..]
    }

    /// Walks the extension headers as a destination does (RFC 8200
    /// section 4) and says where the upper layer starts; see
    /// [`Ipv6Headers`] and the rules on [`Ipv6Headers::walk`].
    pub fn headers(&self) -> Result<Ipv6Headers, Ipv6Error> {
        Ipv6Headers::walk(self.packet())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Writes the traffic class.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = be32(self.buf(), field::VER_TC_FLOW);
        let w = (w & 0xf00f_ffff) | (u32::from(tc) << 20);
        put32(self.buf_mut(), field::VER_TC_FLOW, w);
    }

    /// Writes the flow label; only its low 20 bits are kept.
    pub fn set_flow_label(&mut self, label: u32) {
        let w = be32(self.buf(), field::VER_TC_FLOW);
        let w = (w & 0xfff0_0000) | (label & 0x000f_ffff);
        put32(self.buf_mut(), field::VER_TC_FLOW, w);
    }

    /// Writes the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buf_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Writes the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buf_mut()[field::SRC..field::SRC + 16].copy_from_slice(&addr.octets());
    }

    /// Writes the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buf_mut()[field::DST..field::DST + 16].copy_from_slice(&addr.octets());
    }
}

/// The 16-byte address at `off`. Callers have checked the bounds.
fn addr_at(buf: &[u8], off: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&buf[off..off + 16]);
    Ipv6Addr::from(a)
}

/// The fields of an IPv6 packet that the stack acts on, with extension
/// headers already walked.
///
/// Parsing keeps the upper-layer protocol and the length of its header and
/// data (what the pseudo-header of RFC 8200 8.1 needs) and drops traffic
/// class, flow label and extension headers; emitting writes a 40-byte
/// header with traffic class and flow label 0 and no extension headers, so
/// that `payload_len` is then the payload length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The upper-layer protocol after any extension headers
    /// ([`next_header::TCP`], [`next_header::ICMPV6`], ...).
    pub next_header: u8,
    /// Length of the upper-layer header and data (the payload length less
    /// the extension headers).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Reads the representation from a checked view: the extension header
    /// walk of [`Ipv6Headers::walk`] with its outcomes. A fragment that is
    /// not atomic is [`WireError::Fragmented`]: it goes to reassembly
    /// ([`parse_ipv6_fragment`]). An atomic fragment (RFC 6946) is
    /// processed as the whole packet it is.
    pub fn parse<T: AsRef<[u8]>>(pkt: &Ipv6Packet<T>) -> Result<Ipv6Repr, Ipv6Error> {
        let h = pkt.headers()?;
        if h.fragment.is_some_and(|(f, _)| !f.is_atomic()) {
            return Err(WireError::Fragmented.into());
        }
        Ok(Ipv6Repr {
            src: pkt.src_addr(),
            dst: pkt.dst_addr(),
            next_header: h.next_header,
            payload_len: pkt.packet().len() - h.payload_offset,
            hop_limit: pkt.hop_limit(),
        })
    }

    /// Length of the packet [`emit`](Self::emit) describes: 40 plus the
    /// payload.
    #[inline]
    pub fn total_len(&self) -> usize {
        IPV6_HEADER_LEN + self.payload_len
    }

    /// Writes exactly 40 bytes into `buf[..40]` and returns 40: version 6,
    /// traffic class and flow label 0, payload length, next header, hop
    /// limit and the addresses. The payload is not touched (the caller
    /// writes it at `buf[40..]`).
    ///
    /// Errors: [`WireError::BufferTooSmall`] if `buf` is shorter than 40
    /// bytes, [`WireError::BadPayloadLength`] if `payload_len` exceeds 65535
    /// (no jumbograms). Nothing is written on error.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        self.emit_with(buf, self.next_header, self.payload_len)
    }

    /// Writes the headers of one fragment (RFC 8200 section 4.5): the
    /// 40-byte header with next header 44 and payload length
    /// `8 + payload_len`, then an 8-byte fragment header carrying
    /// `next_header`, `offset` (in bytes), the M flag `more` and `ident`.
    /// `payload_len` is this fragment's data, not the whole packet's.
    /// Returns 48; the caller writes the data at `buf[48..]`.
    ///
    /// Errors: as [`emit`](Self::emit) (with 48 bytes needed);
    /// [`WireError::BadPayloadLength`] also if `offset` is not a multiple of
    /// 8 or beyond the 13-bit field (65,528 bytes). Nothing is written on
    /// error.
    pub fn emit_fragment(
        &self,
        buf: &mut [u8],
        ident: u32,
        offset: usize,
        more: bool,
    ) -> Result<usize, WireError> {
        let frag = FragmentHeader {
            next_header: self.next_header,
            offset,
            more,
            ident,
        };
        let len = IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN;
        let Some(out) = buf.get_mut(..len) else {
            return Err(WireError::BufferTooSmall);
        };
        let payload_len = FRAGMENT_HEADER_LEN + self.payload_len;
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(WireError::BadPayloadLength);
        }
        frag.emit(&mut out[IPV6_HEADER_LEN..])?;
        self.emit_with(out, next_header::FRAGMENT, payload_len)?;
        Ok(len)
    }

    fn emit_with(&self, buf: &mut [u8], nh: u8, payload_len: usize) -> Result<usize, WireError> {
        let Some(hdr) = buf.get_mut(..IPV6_HEADER_LEN) else {
            return Err(WireError::BufferTooSmall);
        };
        let len = u16::try_from(payload_len).map_err(|_| WireError::BadPayloadLength)?;
        put32(hdr, field::VER_TC_FLOW, 6 << 28);
        put16(hdr, field::PAYLOAD_LEN, len);
        hdr[field::NEXT_HEADER] = nh;
        hdr[field::HOP_LIMIT] = self.hop_limit;
        hdr[field::SRC..field::SRC + 16].copy_from_slice(&self.src.octets());
        hdr[field::DST..field::DST + 16].copy_from_slice(&self.dst.octets());
        Ok(IPV6_HEADER_LEN)
    }
}

/// Parses an IPv6 packet in place: the checked view, the extension header
/// walk, then [`Ipv6Repr::parse`]. Returns the representation and the
/// upper-layer header and data borrowed from `buf`. A packet that must be
/// reassembled first is `Malformed(WireError::Fragmented)`.
pub fn parse_ipv6(buf: &[u8]) -> Result<(Ipv6Repr, &[u8]), Ipv6Error> {
    let pkt = Ipv6Packet::new_checked(buf)?;
    let repr = Ipv6Repr::parse(&pkt)?;
    let end = IPV6_HEADER_LEN + pkt.payload_len();
    Ok((repr, &buf[end - repr.payload_len..end]))
}
