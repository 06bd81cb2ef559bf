//! The extension header walk (RFC 8200 section 4): hop-by-hop options,
//! routing, fragment and destination options headers, in any order and any
//! number of times except that hop-by-hop comes first, within the bounds
//! [`MAX_EXT_HEADERS`] and [`MAX_EXT_HEADERS_LEN`].
//!
//! ```text
//!  Hop-by-hop / destination options (RFC 8200 4.3, 4.6), routing (4.4):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |  Hdr Ext Len  |  Options... / Routing Type, Segments Left
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  (Hdr Ext Len + 1) * 8 bytes in all.
//!
//!  Option (RFC 8200 4.2); Pad1 is the single byte 0:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
//! |  Option Type  |  Opt Data Len |  Option Data
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
//! ```

use super::frag::{FRAGMENT_HEADER_LEN, FragmentHeader, check_first_fragment};
use super::{IPV6_HEADER_LEN, Ipv6Error, MAX_PAYLOAD_LEN, field, next_header, param_problem};
use crate::wire::WireError;

/// Most extension headers a packet may carry; more is
/// [`WireError::TooManyExtHeaders`]. RFC 8200 sets no limit; RFC 8504 5.3
/// lets a host set one, and Linux's default for options headers is 8.
pub const MAX_EXT_HEADERS: usize = 8;
/// Most bytes the extension headers of one packet may take together; more
/// is [`WireError::ExtHeadersTooLong`]. 1024 bytes leave room for any
/// legitimate chain (RFC 7112 expects one to fit the first fragment of a
/// 1280-byte packet) while bounding the work per packet.
pub const MAX_EXT_HEADERS_LEN: usize = 1024;

/// Where an IPv6 packet's upper layer starts, read by [`Ipv6Headers::walk`].
///
/// Offsets count from the first byte of the IPv6 header, like the pointer
/// of an ICMPv6 Parameter Problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Headers {
    /// The upper-layer protocol ([`next_header::TCP`],
    /// [`next_header::ICMPV6`], or [`next_header::NO_NEXT_HEADER`], which
    /// RFC 8200 4.7 says to ignore). For a fragment that is not atomic:
    /// the fragment header's next header, the first header of the
    /// fragmentable part.
    pub next_header: u8,
    /// Offset of the Next Header field that holds `next_header`: the
    /// pointer to report if the upper layer turns out unknown.
    pub next_header_at: usize,
    /// Offset of the upper-layer header; for a fragment that is not atomic,
    /// of the fragment's data.
    pub payload_offset: usize,
    /// The last fragment header, if any, and its offset. The walk stops at
    /// one that is not atomic (RFC 6946): what follows is fragment data.
    pub fragment: Option<(FragmentHeader, usize)>,
    /// How many extension headers the walk went through.
    pub ext_headers: usize,
}

impl Ipv6Headers {
    /// Walks the extension headers of `packet` (a whole IPv6 packet trimmed
    /// to its payload length, as [`Ipv6Packet::packet`](super::Ipv6Packet::packet)
    /// gives) as its destination must (RFC 8200 section 4):
    ///
    /// - hop-by-hop options anywhere but right after the IPv6 header:
    ///   Parameter Problem code 1 at the Next Header field naming it (RFC
    ///   8200 4.1, as RFC 2460 specified and Linux does);
    /// - options (RFC 8200 4.2): Pad1 and PadN are skipped, and so are
    ///   unrecognised ones whose type starts with bits 00; 01 discards the
    ///   packet; 10 is a Parameter Problem code 2 at the option type, even
    ///   for a multicast destination; 11 the same unless the destination is
    ///   multicast. An option running past its header is
    ///   [`WireError::BadExtHeader`];
    /// - a routing header (RFC 8200 4.4): this host recognises no routing
    ///   type (type 0 is deprecated by RFC 5095 and treated as unknown);
    ///   with Segments Left 0 it is skipped, else Parameter Problem code 0
    ///   at the Routing Type field;
    /// - a fragment header (RFC 8200 4.5): an atomic one (RFC 6946) is
    ///   skipped; any other ends the walk. With M set, a fragment length not
    ///   a multiple of 8 is Parameter Problem code 0 at the Payload Length
    ///   field (byte 4); a fragment reaching past 65,535 bytes of
    ///   reassembled payload is code 0 at its Fragment Offset field; a first
    ///   fragment without the whole header chain is code 3 at byte 0 (RFC
    ///   7112, [`check_first_fragment`]);
    /// - any next header other than these, TCP, ICMPv6 and No Next Header:
    ///   Parameter Problem code 1 at its Next Header field (RFC 8200 4);
    /// - more than [`MAX_EXT_HEADERS`] headers or [`MAX_EXT_HEADERS_LEN`]
    ///   bytes of them, or a header cut short: [`Ipv6Error::Malformed`].
    ///
    /// Parameter problems of code 0 and 1 about a packet sent to a
    /// multicast address are [`Ipv6Error::Discard`] (RFC 4443 2.4 (e.3)).
    pub fn walk(packet: &[u8]) -> Result<Ipv6Headers, Ipv6Error> {
        let Some(hdr) = packet.get(..IPV6_HEADER_LEN) else {
            return Err(WireError::Truncated.into());
        };
        let dst = super::addr_at(hdr, field::DST);
        let mut walk = Walk {
            packet,
            dst_multicast: dst.is_multicast(),
            nh: hdr[field::NEXT_HEADER],
            nh_at: field::NEXT_HEADER,
            off: IPV6_HEADER_LEN,
            count: 0,
            fragment: None,
        };
        loop {
            match walk.nh {
                next_header::TCP | next_header::ICMPV6 | next_header::NO_NEXT_HEADER => {
                    return Ok(walk.done(walk.off));
                }
                next_header::HOP_BY_HOP if walk.off != IPV6_HEADER_LEN => {
                    return Err(walk.problem(param_problem::UNRECOGNIZED_NEXT_HEADER, walk.nh_at));
                }
                next_header::HOP_BY_HOP | next_header::DEST_OPTIONS => {
                    let len = walk.enter(None)?;
                    walk.options(len)?;
                    walk.advance(len);
                }
                next_header::ROUTING => {
                    let len = walk.enter(None)?;
                    // 8 bytes at least: the routing type and segments left
                    // are in bounds.
                    if packet[walk.off + 3] != 0 {
                        return Err(walk.problem(param_problem::ERRONEOUS_FIELD, walk.off + 2));
                    }
                    walk.advance(len);
                }
                next_header::FRAGMENT => {
                    let len = walk.enter(Some(FRAGMENT_HEADER_LEN))?;
                    let frag = FragmentHeader::parse(&packet[walk.off..])?;
                    walk.fragment = Some((frag, walk.off));
                    if !frag.is_atomic() {
                        walk.check_fragment(frag)?;
                        return Ok(walk.done(walk.off + len));
                    }
                    walk.advance(len);
                }
                _ => {
                    return Err(walk.problem(param_problem::UNRECOGNIZED_NEXT_HEADER, walk.nh_at));
                }
            }
        }
    }
}

/// The state of one walk.
struct Walk<'a> {
    packet: &'a [u8],
    dst_multicast: bool,
    /// The next header value to process, and where it was read.
    nh: u8,
    nh_at: usize,
    /// Offset of the header `nh` names.
    off: usize,
    count: usize,
    fragment: Option<(FragmentHeader, usize)>,
}

impl Walk<'_> {
    /// Counts the header at `off` and checks it lies inside the packet and
    /// the bounds; returns its length (`fixed`, else from Hdr Ext Len).
    fn enter(&mut self, fixed: Option<usize>) -> Result<usize, Ipv6Error> {
        self.count += 1;
        if self.count > MAX_EXT_HEADERS {
            return Err(WireError::TooManyExtHeaders.into());
        }
        let Some(&hdr_ext_len) = self.packet.get(self.off + 1) else {
            return Err(WireError::Truncated.into());
        };
        let len = fixed.unwrap_or((usize::from(hdr_ext_len) + 1) * 8);
        let end = self.off + len;
        if end - IPV6_HEADER_LEN > MAX_EXT_HEADERS_LEN {
            return Err(WireError::ExtHeadersTooLong.into());
        }
        if end > self.packet.len() {
            return Err(WireError::Truncated.into());
        }
        Ok(len)
    }

    /// Moves past the header at `off`, of length `len`, to the one it names.
    fn advance(&mut self, len: usize) {
        self.nh = self.packet[self.off];
        self.nh_at = self.off;
        self.off += len;
    }

    fn done(&self, payload_offset: usize) -> Ipv6Headers {
        let (next_header, next_header_at) = match self.fragment {
            Some((f, at)) if !f.is_atomic() => (f.next_header, at),
            _ => (self.nh, self.nh_at),
        };
        Ipv6Headers {
            next_header,
            next_header_at,
            payload_offset,
            fragment: self.fragment,
            ext_headers: self.count,
        }
    }

    /// A parameter problem, or a silent discard where RFC 4443 2.4 (e.3)
    /// forbids the error because the destination is multicast.
    fn problem(&self, code: u8, pointer: usize) -> Ipv6Error {
        if self.dst_multicast {
            return Ipv6Error::Discard;
        }
        Ipv6Error::ParameterProblem {
            code,
            // Within a 16-bit payload length plus the header.
            pointer: pointer as u32,
        }
    }

    /// The options of the header at `off` (RFC 8200 4.2).
    fn options(&self, len: usize) -> Result<(), Ipv6Error> {
        let end = self.off + len;
        let mut i = self.off + 2;
        while i < end {
            let ty = self.packet[i];
            if ty == PAD1 {
                i += 1;
                continue;
            }
            let opt_len = match self.packet.get(i + 1) {
                Some(&l) if i + 2 + usize::from(l) <= end => usize::from(l),
                _ => return Err(WireError::BadExtHeader.into()),
            };
            if ty != PADN {
                // No other option is recognised: act on the two
                // high-order bits of its type.
                match ty >> 6 {
                    0b00 => {}
                    0b01 => return Err(Ipv6Error::Discard),
                    0b10 => {
                        return Err(Ipv6Error::ParameterProblem {
                            code: param_problem::UNRECOGNIZED_OPTION,
                            pointer: i as u32,
                        });
                    }
                    _ => return Err(self.problem(param_problem::UNRECOGNIZED_OPTION, i)),
                }
            }
            i += 2 + opt_len;
        }
        Ok(())
    }

    /// RFC 8200 4.5's checks on a fragment that is not atomic, whose header
    /// is at `off`.
    fn check_fragment(&self, frag: FragmentHeader) -> Result<(), Ipv6Error> {
        let data = &self.packet[self.off + FRAGMENT_HEADER_LEN..];
        if frag.more && data.len() % 8 != 0 {
            return Err(self.problem(param_problem::ERRONEOUS_FIELD, field::PAYLOAD_LEN));
        }
        // The unfragmentable extension headers come back in the
        // reassembled packet's payload.
        let unfragmentable = self.off - IPV6_HEADER_LEN;
        if unfragmentable + frag.offset + data.len() > MAX_PAYLOAD_LEN {
            return Err(self.problem(param_problem::ERRONEOUS_FIELD, self.off + 2));
        }
        if frag.offset == 0 {
            check_first_fragment(frag.next_header, data).map_err(|e| match e {
                Ipv6Error::ParameterProblem { code, pointer } => {
                    self.problem(code, pointer as usize)
                }
                e => e,
            })?;
        }
        Ok(())
    }
}

const PAD1: u8 = 0;
const PADN: u8 = 1;

/// Skips extension headers without acting on them, from a header of type
/// `nh` at `bytes[off]` up to the first header that is not an extension
/// header; returns that header's type and offset. For reading packets this
/// host sent and an ICMPv6 error quotes, and the fragmentable part of a
/// first fragment: options are not looked at, any routing header is
/// skipped, and a fragment header with offset 0 is skipped.
///
/// Errors: [`WireError::Truncated`] if a header runs past `bytes`;
/// [`WireError::Fragmented`] at a fragment header with a nonzero offset
/// (no upper-layer header follows it);
/// [`WireError::TooManyExtHeaders`] past [`MAX_EXT_HEADERS`].
pub fn skip_ext_headers(
    bytes: &[u8],
    mut nh: u8,
    mut off: usize,
) -> Result<(u8, usize), WireError> {
    for _ in 0..=MAX_EXT_HEADERS {
        let len = match nh {
            next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTIONS => {
                let Some(&l) = bytes.get(off + 1) else {
                    return Err(WireError::Truncated);
                };
                (usize::from(l) + 1) * 8
            }
            next_header::FRAGMENT => {
                let Some(h) = bytes.get(off..off + FRAGMENT_HEADER_LEN) else {
                    return Err(WireError::Truncated);
                };
                if FragmentHeader::parse(h)?.offset != 0 {
                    return Err(WireError::Fragmented);
                }
                FRAGMENT_HEADER_LEN
            }
            _ => return Ok((nh, off)),
        };
        if off + len > bytes.len() {
            return Err(WireError::Truncated);
        }
        nh = bytes[off];
        off += len;
    }
    Err(WireError::TooManyExtHeaders)
}
