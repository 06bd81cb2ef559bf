//! IPv4 header (RFC 791 section 3.1): a checked view over received bytes,
//! [`Ipv4Packet`], and the representation the stack uses, [`Ipv4Repr`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP/ECN    |          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Fragments (RFC 791 section 2.3, 3.2) are reported as
//! [`WireError::Fragmented`] by [`Ipv4Repr::parse`]; [`parse_ipv4_fragment`]
//! reads what reassembly needs from one ([`Ipv4Fragment`]), and
//! [`Ipv4Repr::emit_fragment`] writes the header of one. Every datagram the
//! stack itself sends whole has DF set (path MTU discovery, RFC 1191). Received IP options are
//! skipped, never emitted. The DSCP/ECN byte (RFC 2474, RFC 3168) is exposed
//! raw. The link layer may pad a datagram: bytes after `total_len` are
//! ignored.
//!
//! No I/O, no clock, no `unsafe`; no input makes these functions panic.

use std::net::Ipv4Addr;

use super::checksum;
use super::{WireError, be16, put16};

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Protocol number of ICMP (RFC 792).
pub const PROTO_ICMP: u8 = 1;
/// Protocol number of TCP (RFC 9293).
pub const PROTO_TCP: u8 = 6;

/// TTL of the datagrams this stack sends unless told otherwise (Linux's
/// default `net.ipv4.ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;

/// Most bytes of one IPv4 packet: its total length field is 16 bits.
pub const MAX_IPV4_PACKET: usize = 65_535;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A checked view of an IPv4 datagram.
///
/// [`Ipv4Packet::new_checked`] guarantees that the whole header and the
/// `total_len` bytes it announces lie inside the buffer, so every accessor
/// is in bounds. Bytes past `total_len` (link-layer padding) are ignored by
/// [`payload`](Self::payload).
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Validates the header lengths (RFC 791 section 3.1):
    ///
    /// - version is 4, else [`WireError::BadVersion`];
    /// - IHL is at least 5, else [`WireError::BadIhl`];
    /// - the header lies inside the buffer, else [`WireError::Truncated`];
    /// - total length is at least the header length, else
    ///   [`WireError::BadTotalLength`];
    /// - total length is at most the buffer length, else
    ///   [`WireError::Truncated`]. A shorter total length is fine: the
    ///   trailing bytes are ignored.
    ///
    /// The checksum is not verified here (see [`verify_checksum`](Self::verify_checksum)).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let buf = buffer.as_ref();
        let Some(&ver_ihl) = buf.first() else {
            return Err(WireError::Truncated);
        };
        if ver_ihl >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN {
            return Err(WireError::BadIhl);
        }
        if buf.len() < header_len {
            return Err(WireError::Truncated);
        }
        let total_len = usize::from(be16(buf, field::LENGTH));
        if total_len < header_len {
            return Err(WireError::BadTotalLength);
        }
        if total_len > buf.len() {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    /// The underlying buffer, as given (not trimmed to `total_len`).
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version field (always 4 after `new_checked`).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buf()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP/ECN byte (former type of service).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buf()[field::DSCP_ECN]
    }

    /// Total length of the datagram in bytes, header included.
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.buf(), field::LENGTH))
    }

    /// The identification field (groups the fragments of one datagram).
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buf(), field::IDENT)
    }

    /// The Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(self.buf(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buf(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buf(), field::FLG_OFF) & FRAG_OFFSET_MASK) << 3
    }

    /// True if this datagram is a fragment: MF set or a nonzero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(self.buf(), field::FLG_OFF) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live: hops left.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buf()[field::TTL]
    }

    /// The payload's protocol number ([`PROTO_TCP`], [`PROTO_ICMP`], ...).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buf()[field::PROTOCOL]
    }

    /// The header checksum field, as received.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buf();
        Ipv4Addr::new(
            b[field::SRC],
            b[field::SRC + 1],
            b[field::SRC + 2],
            b[field::SRC + 3],
        )
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buf();
        Ipv4Addr::new(
            b[field::DST],
            b[field::DST + 1],
            b[field::DST + 2],
            b[field::DST + 3],
        )
    }

    /// True if the header checksum is correct (RFC 791: the one's complement
    /// sum of the header, checksum field included, is 0xffff).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::ones_sum(self.header(), 0)) == 0xffff
    }

    /// The whole header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buf()[..self.header_len()]
    }

    /// The IP options (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buf()[IPV4_HEADER_LEN..self.header_len()]
    }

    /// The payload: bytes `header_len..total_len`. Trailing link-layer
    /// padding is not included.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the TTL. The checksum is not updated: call
    /// [`fill_checksum`](Self::fill_checksum) after the last change, or use
    /// [`checksum::update`].
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buf_mut()[field::TTL] = ttl;
    }

    /// Writes the identification field. The checksum is not updated.
    pub fn set_ident(&mut self, ident: u16) {
        put16(self.buf_mut(), field::IDENT, ident);
    }

    /// Writes the DSCP/ECN byte. The checksum is not updated.
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buf_mut()[field::DSCP_ECN] = v;
    }

    /// Writes the source address. The checksum is not updated.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buf_mut()[field::SRC..field::SRC + 4].copy_from_slice(&addr.octets());
    }

    /// Writes the destination address. The checksum is not updated.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buf_mut()[field::DST..field::DST + 4].copy_from_slice(&addr.octets());
    }

    /// Writes `value` into the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        put16(self.buf_mut(), field::CHECKSUM, value);
    }

    /// Recomputes the header checksum over the header (options included).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.header());
        self.set_checksum(sum);
    }

    /// The payload, mutable (`header_len..total_len`).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.total_len());
        &mut self.buf_mut()[start..end]
    }
}

/// The fields of an IPv4 header that the stack acts on.
///
/// Parsing drops the identification, flags (after checking this is not a
/// fragment), DSCP/ECN and options; emitting writes a 20-byte header with DF
/// set and no options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The payload's protocol number ([`PROTO_TCP`], [`PROTO_ICMP`]).
    pub protocol: u8,
    /// Length of the payload (total length minus header length).
    pub payload_len: usize,
    /// Time to live: hops left.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Reads a representation from a checked view. With `verify_checksum`,
    /// a wrong header checksum gives [`WireError::BadChecksum`] (checked
    /// first, so a corrupted flags field is reported as such). Fragments
    /// give [`WireError::Fragmented`].
    pub fn parse<T: AsRef<[u8]>>(
        pkt: &Ipv4Packet<T>,
        verify_checksum: bool,
    ) -> Result<Ipv4Repr, WireError> {
        if verify_checksum && !pkt.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if pkt.is_fragment() {
            return Err(WireError::Fragmented);
        }
        Ok(Ipv4Repr {
            src: pkt.src_addr(),
            dst: pkt.dst_addr(),
            protocol: pkt.protocol(),
            payload_len: pkt.total_len() - pkt.header_len(),
            ttl: pkt.ttl(),
        })
    }

    /// Length of the header [`emit`](Self::emit) writes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        IPV4_HEADER_LEN
    }

    /// Length of the whole datagram: header plus payload.
    #[inline]
    pub const fn total_len(&self) -> usize {
        IPV4_HEADER_LEN + self.payload_len
    }

    /// Writes exactly 20 bytes into `buf[..20]`: version 4, IHL 5, DSCP/ECN
    /// 0, total length `20 + payload_len`, `ident`, DF set, offset 0, the
    /// TTL and protocol, the addresses, and the header checksum. The payload
    /// is not touched (the caller writes it at `buf[20..]`).
    ///
    /// Errors: [`WireError::BufferTooSmall`] if `buf` is shorter than 20
    /// bytes, [`WireError::BadTotalLength`] if `20 + payload_len` exceeds
    /// 65535. Nothing is written on error.
    pub fn emit(&self, buf: &mut [u8], ident: u16) -> Result<(), WireError> {
        self.emit_with(buf, ident, FLAG_DF)
    }

    /// Writes the 20-byte header of one fragment of a datagram (RFC 791
    /// section 3.2): as [`emit`](Self::emit), but with DF clear, MF set if
    /// `more`, and the fragment offset `offset` (in bytes). `payload_len` is
    /// this fragment's payload, not the whole datagram's.
    ///
    /// Errors: as [`emit`](Self::emit); also [`WireError::BadTotalLength`]
    /// if `offset` is not a multiple of 8 or beyond the 13-bit field
    /// (65,528 bytes). Nothing is written on error.
    pub fn emit_fragment(
        &self,
        buf: &mut [u8],
        ident: u16,
        offset: usize,
        more: bool,
    ) -> Result<(), WireError> {
        if offset % 8 != 0 || offset / 8 > usize::from(FRAG_OFFSET_MASK) {
            return Err(WireError::BadTotalLength);
        }
        let mf = if more { FLAG_MF } else { 0 };
        // Fits: checked against the mask just above.
        self.emit_with(buf, ident, mf | (offset / 8) as u16)
    }

    /// [`emit`](Self::emit) with the flags and fragment offset field given.
    fn emit_with(&self, buf: &mut [u8], ident: u16, flags_off: u16) -> Result<(), WireError> {
        if buf.len() < IPV4_HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        let total = u16::try_from(self.total_len()).map_err(|_| WireError::BadTotalLength)?;
        let hdr = &mut buf[..IPV4_HEADER_LEN];
        hdr[field::VER_IHL] = 0x45;
        hdr[field::DSCP_ECN] = 0;
        put16(hdr, field::LENGTH, total);
        put16(hdr, field::IDENT, ident);
        put16(hdr, field::FLG_OFF, flags_off);
        hdr[field::TTL] = self.ttl;
        hdr[field::PROTOCOL] = self.protocol;
        put16(hdr, field::CHECKSUM, 0);
        hdr[field::SRC..field::SRC + 4].copy_from_slice(&self.src.octets());
        hdr[field::DST..field::DST + 4].copy_from_slice(&self.dst.octets());
        let sum = checksum::checksum(hdr);
        put16(hdr, field::CHECKSUM, sum);
        Ok(())
    }
}

/// Parses an IPv4 datagram in place: the checked view, then
/// [`Ipv4Repr::parse`]. Returns the representation and the payload
/// (`header_len..total_len`) borrowed from `buf`.
pub fn parse_ipv4(buf: &[u8], verify_checksum: bool) -> Result<(Ipv4Repr, &[u8]), WireError> {
    let pkt = Ipv4Packet::new_checked(buf)?;
    let repr = Ipv4Repr::parse(&pkt, verify_checksum)?;
    let (start, end) = (pkt.header_len(), pkt.total_len());
    Ok((repr, &buf[start..end]))
}

/// What reassembly needs from one IPv4 fragment (RFC 791 section 3.2):
/// the datagram it belongs to, where its payload goes and whether more
/// follows. Read by [`parse_ipv4_fragment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Fragment<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The datagram's protocol number.
    pub protocol: u8,
    /// The identification field: with the addresses and protocol, names
    /// the datagram (RFC 791: "the identification field is used to
    /// distinguish the fragments of one datagram from those of another").
    pub ident: u16,
    /// Time to live: hops left.
    pub ttl: u8,
    /// Where this payload starts in the datagram's payload, in bytes (the
    /// offset field times 8).
    pub offset: usize,
    /// The More Fragments flag: false on the last fragment.
    pub more: bool,
    /// This fragment's header length, options included.
    pub header_len: usize,
    /// This fragment's payload (`header_len..total_len`).
    pub payload: &'a [u8],
}

impl Ipv4Fragment<'_> {
    /// One past the last payload byte this fragment carries, in the
    /// datagram's payload.
    #[inline]
    pub fn end(&self) -> usize {
        self.offset + self.payload.len()
    }
}

/// Reads a fragment from an IPv4 datagram: the checked view (see
/// [`Ipv4Packet::new_checked`]), then with `verify_checksum` the header
/// checksum ([`WireError::BadChecksum`]). A datagram that is not a fragment
/// reads as the one fragment of itself (offset 0, `more` false).
pub fn parse_ipv4_fragment(
    buf: &[u8],
    verify_checksum: bool,
) -> Result<Ipv4Fragment<'_>, WireError> {
    let pkt = Ipv4Packet::new_checked(buf)?;
    if verify_checksum && !pkt.verify_checksum() {
        return Err(WireError::BadChecksum);
    }
    let (start, end) = (pkt.header_len(), pkt.total_len());
    Ok(Ipv4Fragment {
        src: pkt.src_addr(),
        dst: pkt.dst_addr(),
        protocol: pkt.protocol(),
        ident: pkt.ident(),
        ttl: pkt.ttl(),
        offset: usize::from(pkt.frag_offset()),
        more: pkt.more_frags(),
        header_len: start,
        payload: &buf[start..end],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN captured from Linux 6.x (loopback, 192.0.2.1:40000 ->
    /// 192.0.2.1:8080), IP header and TCP header with options.
    const LINUX_SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x86, 0xa6, 0x40, 0x00, 0x40, 0x06, 0x30, 0x13, 0xc0, 0x00, 0x02,
        0x01, 0xc0, 0x00, 0x02, 0x01, // IPv4
        0x9c, 0x40, 0x1f, 0x90, 0x3e, 0xeb, 0x33, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xd7, 0x84, 0x31, 0x00, 0x00, // TCP
        0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x09, 0x76, 0x47, 0xd2, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x0a, // options
    ];

    #[test]
    fn parse_real_header() {
        let pkt = Ipv4Packet::new_checked(&LINUX_SYN[..]).unwrap();
        assert_eq!(pkt.version(), 4);
        assert_eq!(pkt.header_len(), 20);
        assert_eq!(pkt.total_len(), 60);
        assert_eq!(pkt.ident(), 0x86a6);
        assert!(pkt.dont_frag());
        assert!(!pkt.more_frags());
        assert_eq!(pkt.frag_offset(), 0);
        assert!(!pkt.is_fragment());
        assert_eq!(pkt.ttl(), 64);
        assert_eq!(pkt.protocol(), PROTO_TCP);
        assert_eq!(pkt.checksum(), 0x3013);
        assert!(pkt.verify_checksum());
        assert_eq!(pkt.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(pkt.dst_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert!(pkt.options().is_empty());
        assert_eq!(pkt.payload(), &LINUX_SYN[20..]);

        let (repr, payload) = parse_ipv4(&LINUX_SYN, true).unwrap();
        assert_eq!(
            repr,
            Ipv4Repr {
                src: Ipv4Addr::new(192, 0, 2, 1),
                dst: Ipv4Addr::new(192, 0, 2, 1),
                protocol: PROTO_TCP,
                payload_len: 40,
                ttl: 64,
            }
        );
        assert_eq!(payload, &LINUX_SYN[20..]);
    }

    #[test]
    fn emit_reproduces_real_header() {
        let (repr, _) = parse_ipv4(&LINUX_SYN, true).unwrap();
        let mut buf = [0u8; 20];
        repr.emit(&mut buf, 0x86a6).unwrap();
        assert_eq!(buf, LINUX_SYN[..20]);
    }

    #[test]
    fn emit_parse_roundtrip() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: PROTO_ICMP,
            payload_len: 5,
            ttl: 3,
        };
        let mut buf = [0xaau8; 25];
        repr.emit(&mut buf, 7).unwrap();
        let pkt = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(pkt.verify_checksum());
        assert_eq!(pkt.ident(), 7);
        assert!(pkt.dont_frag());
        assert_eq!(Ipv4Repr::parse(&pkt, true).unwrap(), repr);
        assert_eq!(pkt.payload(), &[0xaa; 5]);
    }

    #[test]
    fn emit_errors() {
        let mut repr = Ipv4Repr {
            src: Ipv4Addr::LOCALHOST,
            dst: Ipv4Addr::LOCALHOST,
            protocol: PROTO_TCP,
            payload_len: 0,
            ttl: 64,
        };
        assert_eq!(repr.emit(&mut [0; 19], 0), Err(WireError::BufferTooSmall));
        repr.payload_len = 65535 - 20;
        assert_eq!(repr.emit(&mut [0; 20], 0), Ok(()));
        repr.payload_len += 1;
        let mut buf = [0u8; 20];
        assert_eq!(repr.emit(&mut buf, 0), Err(WireError::BadTotalLength));
        assert_eq!(buf, [0; 20], "nothing written on error");
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(
            Ipv4Packet::new_checked(&[][..]).err(),
            Some(WireError::Truncated)
        );
        let mut b = LINUX_SYN;
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadVersion)
        );
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadIhl)
        );
        // IHL 15 = 60 bytes: the header just fits the 60-byte buffer but the
        // total length (60) is fine; IHL with a shorter buffer truncates.
        b[0] = 0x4f;
        assert!(Ipv4Packet::new_checked(&b[..]).is_ok());
        assert_eq!(
            Ipv4Packet::new_checked(&b[..59]).err(),
            Some(WireError::Truncated)
        );
        b[0] = 0x45;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).err(),
            Some(WireError::Truncated)
        );
        b[2] = 0;
        b[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadTotalLength)
        );
        b[3] = 61;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(parse_ipv4(&b, false).err(), Some(WireError::Truncated));
    }

    #[test]
    fn bad_checksum() {
        let mut b = LINUX_SYN;
        b[8] = 63; // TTL changed, checksum not
        assert_eq!(parse_ipv4(&b, true).err(), Some(WireError::BadChecksum));
        assert!(parse_ipv4(&b, false).is_ok());
        // Fixing it with the incremental update makes it verify again.
        let old = u16::from_be_bytes([0x40, 0x06]);
        let new = u16::from_be_bytes([63, 0x06]);
        let c = checksum::update(0x3013, old, new);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(parse_ipv4(&b, true).is_ok());
    }

    #[test]
    fn trailing_bytes_trimmed() {
        let mut b = LINUX_SYN.to_vec();
        b.extend_from_slice(&[0xee; 6]); // Ethernet-style padding
        let (repr, payload) = parse_ipv4(&b, true).unwrap();
        assert_eq!(repr.payload_len, 40);
        assert_eq!(payload, &LINUX_SYN[20..]);
        let pkt = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(pkt.payload().len(), 40);
    }

    #[test]
    fn fragments_detected() {
        for (flags_off, frag_offset) in [(0x2000u16, 0u16), (0x0001, 8), (0x3fff, 0x1fff * 8)] {
            let mut b = LINUX_SYN;
            b[6..8].copy_from_slice(&flags_off.to_be_bytes());
            let mut pkt = Ipv4Packet::new_checked(&mut b[..]).unwrap();
            pkt.fill_checksum();
            assert!(pkt.is_fragment());
            assert_eq!(pkt.frag_offset(), frag_offset);
            assert_eq!(Ipv4Repr::parse(&pkt, true), Err(WireError::Fragmented));
        }
        // DF alone is not a fragment.
        assert!(parse_ipv4(&LINUX_SYN, true).is_ok());
    }

    #[test]
    fn options_and_setters() {
        // A header with 4 bytes of options (NOP NOP NOP EOL).
        let mut b = vec![0u8; 28];
        b[0] = 0x46;
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        b[24..28].copy_from_slice(b"data");
        let mut pkt = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        pkt.set_ttl(9);
        pkt.set_ident(0x1234);
        pkt.set_dscp_ecn(0x02);
        pkt.set_src_addr(Ipv4Addr::new(1, 2, 3, 4));
        pkt.set_dst_addr(Ipv4Addr::new(5, 6, 7, 8));
        pkt.fill_checksum();
        pkt.payload_mut()[0] = b'D';
        assert!(pkt.verify_checksum());
        assert_eq!(pkt.options(), &[1, 1, 1, 0]);
        assert_eq!(pkt.payload(), b"Data");
        let (repr, payload) = parse_ipv4(&b, true).unwrap();
        assert_eq!(repr.ttl, 9);
        assert_eq!(repr.payload_len, 4);
        assert_eq!(repr.src, Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(payload, b"Data");
    }

    #[test]
    fn fragment_emit_parse_roundtrip() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 2),
            protocol: PROTO_ICMP,
            payload_len: 16,
            ttl: 9,
        };
        let mut buf = [0x5au8; 36];
        repr.emit_fragment(&mut buf, 0xbeef, 1480, true).unwrap();
        let pkt = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(!pkt.dont_frag());
        assert!(pkt.is_fragment());
        assert_eq!(Ipv4Repr::parse(&pkt, true), Err(WireError::Fragmented));
        let f = parse_ipv4_fragment(&buf, true).unwrap();
        assert_eq!((f.src, f.dst, f.protocol), (repr.src, repr.dst, PROTO_ICMP));
        assert_eq!((f.ident, f.ttl, f.offset, f.more), (0xbeef, 9, 1480, true));
        assert_eq!(
            (f.header_len, f.payload, f.end()),
            (20, &[0x5a; 16][..], 1496)
        );

        // The last fragment: MF clear, at the highest offset the field holds.
        repr.emit_fragment(&mut buf, 1, 0x1fff * 8, false).unwrap();
        let f = parse_ipv4_fragment(&buf, true).unwrap();
        assert_eq!((f.offset, f.more), (65_528, false));

        // A whole datagram is the one fragment of itself.
        repr.emit(&mut buf, 2).unwrap();
        let f = parse_ipv4_fragment(&buf, true).unwrap();
        assert_eq!((f.offset, f.more), (0, false));
        buf[8] ^= 1;
        assert_eq!(parse_ipv4_fragment(&buf, true), Err(WireError::BadChecksum));
        assert_eq!(
            parse_ipv4_fragment(&buf[..10], false),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn fragment_offsets_out_of_range_are_refused() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::LOCALHOST,
            dst: Ipv4Addr::LOCALHOST,
            protocol: PROTO_TCP,
            payload_len: 0,
            ttl: 64,
        };
        let mut buf = [0u8; 20];
        for offset in [4, 65_536, 1 << 20] {
            assert_eq!(
                repr.emit_fragment(&mut buf, 0, offset, true),
                Err(WireError::BadTotalLength),
                "offset {offset}"
            );
        }
        assert_eq!(buf, [0; 20], "nothing written on error");
    }
}
