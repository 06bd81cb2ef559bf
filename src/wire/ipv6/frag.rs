//! The fragment header (RFC 8200 section 4.5) and what reassembly needs
//! from one fragment, [`Ipv6Fragment`].
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Identification                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! A packet is the unfragmentable part (the IPv6 header and the extension
//! headers before the fragment header: hop-by-hop, routing) followed by
//! the fragment header and a piece of the fragmentable part (any further
//! extension headers, the upper-layer header and data). Reassembly (RFC
//! 8200 4.5) keys fragments on (source, destination, identification),
//! concatenates the fragmentable part's pieces by offset, and puts fragment
//! zero's unfragmentable part in front, its last Next Header set to fragment
//! zero's fragment-header Next Header
//! ([`Ipv6Fragment::reassembled_header`]); the result is then parsed as if it
//! had come whole ([`parse_ipv6`](super::parse_ipv6)).
//!
//! An atomic fragment (offset 0, M clear, RFC 6946) is not a piece of
//! anything: it is processed in isolation, never queued, and
//! [`parse_ipv6`](super::parse_ipv6) reads it as a whole packet.

use std::net::Ipv6Addr;

use super::ext::skip_ext_headers;
use super::{IPV6_HEADER_LEN, Ipv6Error, Ipv6Packet, field, next_header, param_problem};
use crate::wire::{WireError, be16, be32, put16, put32};

/// Length of the fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

const OFFSET_MASK: u16 = 0xfff8;
const FLAG_M: u16 = 0x0001;

/// A fragment header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// The type of the first header of the fragmentable part. Only fragment
    /// zero's counts in reassembly (RFC 8200 4.5).
    pub next_header: u8,
    /// Where this fragment's data goes in the fragmentable part, in bytes
    /// (the 13-bit field times 8).
    pub offset: usize,
    /// The M flag: more fragments follow.
    pub more: bool,
    /// Identification: with the addresses, names the original packet.
    pub ident: u32,
}

impl FragmentHeader {
    /// Reads the first 8 bytes of `bytes`; [`WireError::Truncated`] if there
    /// are fewer. The reserved fields are ignored (RFC 8200 4.5:
    /// "ignored on reception").
    pub fn parse(bytes: &[u8]) -> Result<FragmentHeader, WireError> {
        let Some(h) = bytes.get(..FRAGMENT_HEADER_LEN) else {
            return Err(WireError::Truncated);
        };
        let off_m = be16(h, 2);
        Ok(FragmentHeader {
            next_header: h[0],
            offset: usize::from(off_m & OFFSET_MASK),
            more: off_m & FLAG_M != 0,
            ident: be32(h, 4),
        })
    }

    /// An atomic fragment (RFC 6946): offset 0 and M clear, a whole packet
    /// that happens to carry a fragment header.
    #[inline]
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }

    /// Writes the 8 bytes into `buf[..8]` (reserved fields 0).
    ///
    /// Errors: [`WireError::BufferTooSmall`]; [`WireError::BadPayloadLength`]
    /// if `offset` is not a multiple of 8 or beyond the 13-bit field
    /// (65,528). Nothing is written on error.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        if self.offset % 8 != 0 || self.offset > usize::from(OFFSET_MASK) {
            return Err(WireError::BadPayloadLength);
        }
        let Some(h) = buf.get_mut(..FRAGMENT_HEADER_LEN) else {
            return Err(WireError::BufferTooSmall);
        };
        h[0] = self.next_header;
        h[1] = 0;
        // Fits: checked against the mask above.
        put16(h, 2, self.offset as u16 | u16::from(self.more));
        put32(h, 4, self.ident);
        Ok(FRAGMENT_HEADER_LEN)
    }
}

/// RFC 8200 4.5 (after RFC 7112): "If the first fragment does not include
/// all headers through an Upper-Layer header, then that fragment should be
/// discarded and an ICMP Parameter Problem, Code 3, message should be sent
/// to the source of the fragment, with the Pointer field set to zero."
///
/// `next_header` is the fragment header's, `data` the first fragment's
/// data. The extension headers in it are skipped
/// ([`skip_ext_headers`]), then the upper-layer header must be there:
/// 20 bytes for TCP, 8 for ICMPv6, none after No Next Header, one byte of
/// anything else (the lengths Linux checks). Returns the Parameter Problem
/// code 3 at 0 when the chain is incomplete, `Malformed` when it is beyond
/// the bounds.
pub fn check_first_fragment(next_header: u8, data: &[u8]) -> Result<(), Ipv6Error> {
    let incomplete = Ipv6Error::ParameterProblem {
        code: param_problem::INCOMPLETE_CHAIN,
        pointer: 0,
    };
    let (upper, off) = match skip_ext_headers(data, next_header, 0) {
        Ok(found) => found,
        Err(WireError::Truncated) => return Err(incomplete),
        Err(e) => return Err(e.into()),
    };
    let needed = match upper {
        next_header::TCP => 20,
        next_header::ICMPV6 => 8,
        next_header::NO_NEXT_HEADER => 0,
        _ => 1,
    };
    if off + needed > data.len() {
        return Err(incomplete);
    }
    Ok(())
}

/// What reassembly needs from one IPv6 fragment, read by
/// [`parse_ipv6_fragment`]: the packet it belongs to, where its data goes
/// and whether more follows. The reassembly key is (`src`, `dst`, `ident`);
/// the next header takes no part in it (RFC 8200 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Fragment<'a> {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The identification field (32 bits).
    pub ident: u32,
    /// The fragment header's next header: the first header of the
    /// fragmentable part; fragment zero's is the one that counts.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Where this fragment's data goes in the fragmentable part, in bytes.
    pub offset: usize,
    /// The M flag: false on the last fragment.
    pub more: bool,
    /// The IPv6 header and the extension headers before the fragment
    /// header (RFC 8200 4.5's unfragmentable part); fragment zero's heads
    /// the reassembled packet.
    pub unfragmentable: &'a [u8],
    /// Offset in `unfragmentable` of the Next Header field that names the
    /// fragment header (6 when no extension header precedes it).
    pub next_header_at: usize,
    /// This fragment's data.
    pub payload: &'a [u8],
}

impl Ipv6Fragment<'_> {
    /// One past the last byte this fragment carries, in the fragmentable
    /// part.
    #[inline]
    pub fn end(&self) -> usize {
        self.offset + self.payload.len()
    }

    /// This fragment's headers: `unfragmentable` and the fragment header.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.unfragmentable.len() + FRAGMENT_HEADER_LEN
    }

    /// Replaces `out` with the head of the reassembled packet (RFC 8200
    /// 4.5) when `self` is fragment zero and the fragmentable part is
    /// `fragmentable_len` bytes: the unfragmentable part, with the payload
    /// length set to the unfragmentable extension headers plus
    /// `fragmentable_len` and the Next Header field that named the fragment
    /// header set to this fragment's next header. The caller appends the
    /// fragmentable part, then parses the whole with
    /// [`parse_ipv6`](super::parse_ipv6).
    ///
    /// [`WireError::BadPayloadLength`] if the payload length would exceed
    /// 65,535; `out` is left empty then.
    pub fn reassembled_header(
        &self,
        fragmentable_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), WireError> {
        out.clear();
        let payload_len = self.unfragmentable.len() - IPV6_HEADER_LEN + fragmentable_len;
        let len = u16::try_from(payload_len).map_err(|_| WireError::BadPayloadLength)?;
        out.extend_from_slice(self.unfragmentable);
        put16(out, field::PAYLOAD_LEN, len);
        out[self.next_header_at] = self.next_header;
        Ok(())
    }
}

/// Reads a fragment from an IPv6 packet: the checked view (see
/// [`Ipv6Packet::new_checked`]), then the extension header walk with all
/// its outcomes (see [`Ipv6Headers::walk`](super::Ipv6Headers::walk)), which
/// stops at the fragment header. A packet without one, or with only an
/// atomic one, is `Malformed(WireError::NotFragment)`: parse it with
/// [`parse_ipv6`](super::parse_ipv6).
pub fn parse_ipv6_fragment(buf: &[u8]) -> Result<Ipv6Fragment<'_>, Ipv6Error> {
    let pkt = Ipv6Packet::new_checked(buf)?;
    let h = pkt.headers()?;
    let Some((frag, at)) = h.fragment.filter(|(f, _)| !f.is_atomic()) else {
        return Err(WireError::NotFragment.into());
    };
    // The header naming the fragment header: the last one before it.
    let next_header_at = match skip_to(buf, at) {
        Some(nh_at) => nh_at,
        None => return Err(WireError::NotFragment.into()),
    };
    let end = IPV6_HEADER_LEN + pkt.payload_len();
    Ok(Ipv6Fragment {
        src: pkt.src_addr(),
        dst: pkt.dst_addr(),
        ident: frag.ident,
        next_header: frag.next_header,
        hop_limit: pkt.hop_limit(),
        offset: frag.offset,
        more: frag.more,
        unfragmentable: &buf[..at],
        next_header_at,
        payload: &buf[h.payload_offset..end],
    })
}

/// The offset of the Next Header field naming the header at `target`,
/// following the chain from the IPv6 header (already walked, so in bounds).
fn skip_to(buf: &[u8], target: usize) -> Option<usize> {
    let mut nh_at = field::NEXT_HEADER;
    let mut off = IPV6_HEADER_LEN;
    while off < target {
        let len = match buf[nh_at] {
            next_header::FRAGMENT => FRAGMENT_HEADER_LEN,
            _ => (usize::from(*buf.get(off + 1)?) + 1) * 8,
        };
        nh_at = off;
        off += len;
    }
    (off == target).then_some(nh_at)
}
