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
//! expects to complete.
//!
//! No I/O, no clock, no `unsafe`; no input makes these functions panic.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};
use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::PROTO_TCP;
use super::{SeqNum, WireError, be16, be32, put16, put32};

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

/// The eight control bits of byte 13 of the header (RFC 9293 section 3.1;
/// ECE and CWR from RFC 3168).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from the sender; occupies one sequence number.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers (opening handshake); occupies one
    /// sequence number.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection (RFC 9293 3.5.2, RFC 5961 3).
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push: deliver to the application without waiting for more.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgement number is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is significant (not supported by this stack).
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168 6.1).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168 6.1).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// No flag set.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// True if every flag set in `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag set in `other` is set in `self`.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// True if no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if [`Self::FIN`] is set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// True if [`Self::SYN`] is set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// True if [`Self::RST`] is set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// True if [`Self::PSH`] is set.
    #[inline]
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    /// True if [`Self::ACK`] is set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// True if [`Self::URG`] is set.
    #[inline]
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
    /// True if [`Self::ECE`] is set.
    #[inline]
    pub const fn ece(self) -> bool {
        self.contains(Self::ECE)
    }
    /// True if [`Self::CWR`] is set.
    #[inline]
    pub const fn cwr(self) -> bool {
        self.contains(Self::CWR)
    }

    /// `self` with the flags of `other` cleared.
    #[inline]
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    /// Prints the set flags like `SYN|ACK`, in header order from FIN up;
    /// no flag prints `(none)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        if self.0 == 0 {
            return f.write_str("(none)");
        }
        let mut first = true;
        for (bit, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A checked view of a TCP segment (header, options, payload).
///
/// [`TcpPacket::new_checked`] guarantees that the header and its options lie
/// inside the buffer. The payload is everything after the header: pass the
/// IPv4 payload (already trimmed to the IPv4 total length).
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks the lengths: fewer than 20 bytes is [`WireError::Truncated`];
    /// a data offset below 5, or a header (with options) longer than the
    /// buffer, is [`WireError::BadDataOffset`]. Options and checksum are
    /// not checked here.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let buf = buffer.as_ref();
        if buf.len() < TCP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(buf[field::DATA_OFF] >> 4) * 4;
        if header_len < TCP_HEADER_LEN || header_len > buf.len() {
            return Err(WireError::BadDataOffset);
        }
        Ok(TcpPacket { buffer })
    }

    /// Gives back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buf(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buf(), field::DST_PORT)
    }

    /// Sequence number of the segment's first octet (of the SYN, if set).
    #[inline]
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(be32(self.buf(), field::SEQ))
    }

    /// Acknowledgement number: the next sequence number the sender expects
    /// (meaningful only with ACK).
    #[inline]
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(be32(self.buf(), field::ACK))
    }

    /// Header length in bytes (data offset × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf()[field::DATA_OFF] >> 4) * 4
    }

    /// The eight control bits. (The obsolete NS bit of RFC 3540, in byte
    /// 12, is ignored.)
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buf()[field::FLAGS])
    }

    /// The window field, not scaled.
    #[inline]
    pub fn window_len(&self) -> u16 {
        be16(self.buf(), field::WINDOW)
    }

    /// The checksum field as carried (see [`Self::verify_checksum`]).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf(), field::CHECKSUM)
    }

    /// The urgent pointer field (meaningful only with URG).
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        be16(self.buf(), field::URGENT)
    }

    /// The raw option bytes (`20..header_len`); see [`TcpOptions::parse`].
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buf()[TCP_HEADER_LEN..self.header_len()]
    }

    /// Everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf()[self.header_len()..]
    }

    /// Length of the whole segment (header and payload).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.buf().len()
    }

    /// True if the checksum over the pseudo-header and the whole segment is
    /// correct. A segment longer than 65535 bytes cannot be checksummed and
    /// is reported as wrong.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let seg = self.buf();
        let Ok(len) = u16::try_from(seg.len()) else {
            return false;
        };
        let pseudo = checksum::pseudo_header_sum(src, dst, PROTO_TCP, len);
        checksum::fold(checksum::ones_sum(seg, pseudo)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Writes the source port field.
    pub fn set_src_port(&mut self, port: u16) {
        put16(self.buf_mut(), field::SRC_PORT, port);
    }

    /// Writes the destination port field.
    pub fn set_dst_port(&mut self, port: u16) {
        put16(self.buf_mut(), field::DST_PORT, port);
    }

    /// Writes the sequence number field.
    pub fn set_seq_number(&mut self, seq: SeqNum) {
        put32(self.buf_mut(), field::SEQ, seq.0);
    }

    /// Writes the acknowledgement number field.
    pub fn set_ack_number(&mut self, ack: SeqNum) {
        put32(self.buf_mut(), field::ACK, ack.0);
    }

    /// Writes the eight control bits (byte 13).
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buf_mut()[field::FLAGS] = flags.0;
    }

    /// Writes the window field as is (any window scaling is the caller's).
    pub fn set_window_len(&mut self, window: u16) {
        put16(self.buf_mut(), field::WINDOW, window);
    }

    /// Writes `value` into the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        put16(self.buf_mut(), field::CHECKSUM, value);
    }

    /// Computes and writes the full checksum (see [`fill_checksum`]).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        fill_checksum(self.buf_mut(), src, dst);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buf_mut()[start..]
    }
}

/// The options this stack understands, parsed from or to be emitted into a
/// header.
///
/// Equality compares the meaningful SACK blocks only (`sack()`), not the
/// unused slots of `sack_blocks`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 section 3.7.1), SYN only.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 section 2), SYN only. Parsing
    /// clamps values above 14 to 14, as RFC 7323 section 2.3 requires.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 section 2), SYN only.
    pub sack_permitted: bool,
    /// Timestamps `(TSval, TSecr)` (RFC 7323 section 3).
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks `(left edge, right edge)` (RFC 2018 section 3); only the
    /// first `sack_count` are meaningful. The first block should be the most
    /// recently received one.
    pub sack_blocks: [(SeqNum, SeqNum); MAX_SACK_BLOCKS],
    /// How many of `sack_blocks` are in use, 0 to [`MAX_SACK_BLOCKS`].
    pub sack_count: u8,
}

impl PartialEq for TcpOptions {
    fn eq(&self, other: &TcpOptions) -> bool {
        self.mss == other.mss
            && self.window_scale == other.window_scale
            && self.sack_permitted == other.sack_permitted
            && self.timestamps == other.timestamps
            && self.sack() == other.sack()
    }
}

impl Eq for TcpOptions {}

impl TcpOptions {
    /// Parses option bytes (RFC 9293 section 3.2):
    ///
    /// - End of Option List (kind 0) ends parsing; No-Operation (kind 1) is
    ///   skipped;
    /// - every other option has a length byte; a length below 2 or running
    ///   past the end of `bytes` is [`WireError::BadOptionLength`];
    /// - a known option with a length wrong for its kind (MSS 4, window
    ///   scale 3, SACK-permitted 2, timestamps 10, SACK 2 + 8n with n >= 1)
    ///   is [`WireError::BadOptionLength`];
    /// - unknown kinds are skipped by their length;
    /// - a SACK option with more than 4 blocks keeps the first 4; a window
    ///   scale above 14 is read as 14; when an option repeats, the last one
    ///   wins.
    pub fn parse(bytes: &[u8]) -> Result<TcpOptions, WireError> {
        let mut opts = TcpOptions::default();
        let mut i = 0;
        while let Some(&k) = bytes.get(i) {
            match k {
                kind::EOL => break,
                kind::NOP => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let len = match bytes.get(i + 1) {
                Some(&l) => usize::from(l),
                None => return Err(WireError::BadOptionLength),
            };
            if len < 2 {
                return Err(WireError::BadOptionLength);
            }
            let Some(opt) = bytes.get(i..i + len) else {
                return Err(WireError::BadOptionLength);
            };
            let data = &opt[2..];
            match (k, len) {
                (kind::MSS, 4) => opts.mss = Some(be16(data, 0)),
                (kind::WINDOW_SCALE, 3) => {
                    opts.window_scale = Some(data[0].min(MAX_WINDOW_SCALE));
                }
                (kind::SACK_PERMITTED, 2) => opts.sack_permitted = true,
                (kind::TIMESTAMPS, 10) => opts.timestamps = Some((be32(data, 0), be32(data, 4))),
                (kind::SACK, _) if len >= 10 && (len - 2) % 8 == 0 => {
                    let mut n = 0;
                    for block in data.chunks_exact(8).take(MAX_SACK_BLOCKS) {
                        opts.sack_blocks[n] = (SeqNum(be32(block, 0)), SeqNum(be32(block, 4)));
                        n += 1;
                    }
                    for slot in &mut opts.sack_blocks[n..] {
                        *slot = Default::default();
                    }
                    opts.sack_count = n as u8;
                }
                (
                    kind::MSS
                    | kind::WINDOW_SCALE
                    | kind::SACK_PERMITTED
                    | kind::TIMESTAMPS
                    | kind::SACK,
                    _,
                ) => return Err(WireError::BadOptionLength),
                _ => {} // unknown kind: skipped by length
            }
            i += len;
        }
        Ok(opts)
    }

    /// The meaningful SACK blocks.
    #[inline]
    pub fn sack(&self) -> &[(SeqNum, SeqNum)] {
        &self.sack_blocks[..usize::from(self.sack_count).min(MAX_SACK_BLOCKS)]
    }

    /// Replaces the SACK blocks with the first (at most 4) of `blocks`,
    /// clearing the unused slots.
    pub fn set_sack(&mut self, blocks: &[(SeqNum, SeqNum)]) {
        let n = blocks.len().min(MAX_SACK_BLOCKS);
        self.sack_blocks = Default::default();
        self.sack_blocks[..n].copy_from_slice(&blocks[..n]);
        self.sack_count = n as u8;
    }

    /// Bytes of every option but SACK, as [`emit`](Self::emit) lays them
    /// out.
    fn base_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        len += match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// How many SACK blocks [`emit`](Self::emit) writes: the first
    /// `sack().len()` blocks, fewer if they would not fit in the 40 bytes of
    /// option space next to the other options (with timestamps, at most 3).
    pub fn sack_blocks_emitted(&self) -> usize {
        let base = self.base_len();
        let mut n = self.sack().len();
        while n > 0 && base + 4 + 8 * n > MAX_OPTIONS_LEN {
            n -= 1;
        }
        n
    }

    /// Length of the encoded options: always a multiple of 4 and at most
    /// 40.
    pub fn encoded_len(&self) -> usize {
        let n = self.sack_blocks_emitted();
        self.base_len() + if n > 0 { 4 + 8 * n } else { 0 }
    }

    /// Writes the options into `buf`, in the layout Linux uses, each group
    /// padded with NOPs to a 4-byte boundary:
    ///
    /// ```text
    /// MSS            02 04 mm mm
    /// SACKOK + TS    04 02 08 0a <TSval> <TSecr>   (or 01 01 08 0a ... without SACKOK)
    /// SACKOK alone   01 01 04 02
    /// WS             01 03 03 ss
    /// SACK           01 01 05 len <blocks>
    /// ```
    ///
    /// Returns the number of bytes written, [`encoded_len`](Self::encoded_len).
    /// The total never exceeds 40 bytes: SACK blocks that do not fit are
    /// dropped from the end (see [`sack_blocks_emitted`](Self::sack_blocks_emitted)),
    /// so timestamps with 4 blocks emit only 3. If `buf` is shorter than
    /// `encoded_len()`, nothing is written and 0 is returned.
    #[must_use]
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let total = self.encoded_len();
        let Some(out) = buf.get_mut(..total) else {
            return 0;
        };
        let mut i = 0;
        let mut put = |bytes: &[u8]| {
            out[i..i + bytes.len()].copy_from_slice(bytes);
            i += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[kind::MSS, 4, m[0], m[1]]);
        }
        match (self.sack_permitted, self.timestamps) {
            (sack_ok, Some((tsval, tsecr))) => {
                if sack_ok {
                    put(&[kind::SACK_PERMITTED, 2]);
                } else {
                    put(&[kind::NOP, kind::NOP]);
                }
                put(&[kind::TIMESTAMPS, 10]);
                put(&tsval.to_be_bytes());
                put(&tsecr.to_be_bytes());
            }
            (true, None) => put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            put(&[kind::NOP, kind::WINDOW_SCALE, 3, ws]);
        }
        let n = self.sack_blocks_emitted();
        if n > 0 {
            put(&[kind::NOP, kind::NOP, kind::SACK, (2 + 8 * n) as u8]);
            for &(left, right) in &self.sack()[..n] {
                put(&left.0.to_be_bytes());
                put(&right.0.to_be_bytes());
            }
        }
        i
    }
}

/// A parsed TCP segment, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first octet (SEG.SEQ).
    pub seq: SeqNum,
    /// Acknowledgement number (SEG.ACK), meaningful only with ACK.
    pub ack: SeqNum,
    /// The control bits.
    pub flags: TcpFlags,
    /// The window field as carried, not scaled.
    pub window: u16,
    /// The urgent pointer field as carried.
    pub urgent: u16,
    /// The options this stack understands; others are skipped.
    pub options: TcpOptions,
    /// The segment's data.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Reads a segment from a checked view. With `verify_checksum`, a wrong
    /// checksum over the pseudo-header (`src`, `dst`) and segment is
    /// [`WireError::BadChecksum`]; malformed options are
    /// [`WireError::BadOptionLength`].
    pub fn parse(
        pkt: &TcpPacket<&'a [u8]>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>, WireError> {
        if verify_checksum && !pkt.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let options = TcpOptions::parse(pkt.options())?;
        let buf: &'a [u8] = pkt.buffer;
        Ok(TcpRepr {
            src_port: pkt.src_port(),
            dst_port: pkt.dst_port(),
            seq: pkt.seq_number(),
            ack: pkt.ack_number(),
            flags: pkt.flags(),
            window: pkt.window_len(),
            urgent: pkt.urgent_at(),
            options,
            payload: &buf[pkt.header_len()..],
        })
    }

    /// Header length: 20 plus the encoded options (a multiple of 4, at most
    /// 60).
    #[inline]
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.encoded_len()
    }

    /// Header plus payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload length, plus one for
    /// SYN and one for FIN (RFC 9293 section 3.4, SEG.LEN).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Writes the header, options included, into `buf[..header_len()]`,
    /// with a zero checksum field, and returns `header_len()`.
    ///
    /// The payload is **not** written: the caller copies it straight to
    /// `buf[header_len..]` (the zero-copy send path), then calls
    /// [`fill_checksum`] or [`fill_partial_checksum`] over the whole
    /// segment. [`WireError::BufferTooSmall`] if `buf` is shorter than the
    /// header; nothing is written then.
    pub fn emit_header(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let header_len = self.header_len();
        let Some(hdr) = buf.get_mut(..header_len) else {
            return Err(WireError::BufferTooSmall);
        };
        put16(hdr, field::SRC_PORT, self.src_port);
        put16(hdr, field::DST_PORT, self.dst_port);
        put32(hdr, field::SEQ, self.seq.0);
        put32(hdr, field::ACK, self.ack.0);
        hdr[field::DATA_OFF] = ((header_len / 4) as u8) << 4;
        hdr[field::FLAGS] = self.flags.0;
        put16(hdr, field::WINDOW, self.window);
        put16(hdr, field::CHECKSUM, 0);
        put16(hdr, field::URGENT, self.urgent);
        let written = self.options.emit(&mut hdr[TCP_HEADER_LEN..]);
        debug_assert_eq!(TCP_HEADER_LEN + written, header_len);
        Ok(header_len)
    }

    /// Writes the whole segment, header then payload, into
    /// `buf[..buffer_len()]` and fills the checksum. A convenience for tests
    /// and the simulator; the send path uses [`emit_header`](Self::emit_header).
    /// [`WireError::BufferTooSmall`] if `buf` is too short,
    /// [`WireError::BadTotalLength`] if the segment exceeds 65535 bytes.
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<usize, WireError> {
        let len = self.buffer_len();
        if u16::try_from(len).is_err() {
            return Err(WireError::BadTotalLength);
        }
        let Some(seg) = buf.get_mut(..len) else {
            return Err(WireError::BufferTooSmall);
        };
        let header_len = self.emit_header(seg)?;
        seg[header_len..].copy_from_slice(self.payload);
        fill_checksum(seg, src, dst);
        Ok(len)
    }
}

/// Computes the checksum over the pseudo-header and the complete segment
/// (header and payload) and writes it into the checksum field (RFC 9293
/// section 3.1). The field's old value is ignored.
///
/// Does nothing if `segment` is shorter than 20 bytes or longer than 65535
/// (no valid segment is): those are caller bugs, not input.
pub fn fill_checksum(segment: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let Ok(len) = u16::try_from(segment.len()) else {
        return;
    };
    if segment.len() < TCP_HEADER_LEN {
        return;
    }
    put16(segment, field::CHECKSUM, 0);
    let pseudo = checksum::pseudo_header_sum(src, dst, PROTO_TCP, len);
    let sum = !checksum::fold(checksum::ones_sum(segment, pseudo));
    put16(segment, field::CHECKSUM, sum);
}

/// Writes only the folded pseudo-header sum, not complemented, into the
/// checksum field: the device completes it by summing from the start of the
/// TCP header and storing the complement at offset 16. This is what a
/// virtio-net header with `VIRTIO_NET_HDR_F_NEEDS_CSUM`, `csum_start` at
/// the TCP header and `csum_offset = 16` expects (Linux's
/// `CHECKSUM_PARTIAL`).
///
/// With TSO, `segment` is the whole super-segment; the device recomputes
/// the length per segment. Does nothing if `segment` is shorter than 20
/// bytes or longer than 65535.
pub fn fill_partial_checksum(segment: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let Ok(len) = u16::try_from(segment.len()) else {
        return;
    };
    if segment.len() < TCP_HEADER_LEN {
        return;
    }
    let pseudo = checksum::fold(checksum::pseudo_header_sum(src, dst, PROTO_TCP, len));
    put16(segment, field::CHECKSUM, pseudo);
}

/// Parses a TCP segment from an IPv4 payload: [`TcpPacket::new_checked`]
/// then [`TcpRepr::parse`].
pub fn parse_tcp<'a>(
    segment: &'a [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    verify_checksum: bool,
) -> Result<TcpRepr<'a>, WireError> {
    let pkt = TcpPacket::new_checked(segment)?;
    TcpRepr::parse(&pkt, src, dst, verify_checksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// The TCP part of a SYN captured from Linux 6.x over loopback,
    /// 192.0.2.1:40000 -> 192.0.2.1:8080, options MSS 65495, SACK-permitted,
    /// timestamps, window scale 10. Loopback used checksum offload, so the
    /// checksum field holds the partial (pseudo-header) sum 0x8431; the full
    /// checksum, computed independently with Python, is 0x4aee.
    const LINUX_SYN: [u8; 40] = [
        0x9c, 0x40, 0x1f, 0x90, 0x3e, 0xeb, 0x33, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xd7, 0x84, 0x31, 0x00, 0x00, // header
        0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x09, 0x76, 0x47, 0xd2, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x0a, // options
    ];

    /// The segment after the SYN exchange carrying "hello" (PSH|ACK,
    /// NOP NOP TS), same capture; full checksum 0x7567.
    const LINUX_DATA: [u8; 37] = [
        0x9c, 0x40, 0x1f, 0x90, 0x3e, 0xeb, 0x33, 0x0d, 0xfa, 0x8b, 0xd2, 0xa7, 0x80, 0x18, 0x00,
        0x40, 0x84, 0x2e, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x09, 0x76, 0x47, 0xd2, 0x0b, 0x2a,
        0xe1, 0xc4, b'h', b'e', b'l', b'l', b'o',
    ];

    fn with_full_checksum<const N: usize>(seg: [u8; N], sum: u16) -> [u8; N] {
        let mut s = seg;
        s[16..18].copy_from_slice(&sum.to_be_bytes());
        s
    }

    #[test]
    fn partial_checksum_matches_linux() {
        let mut seg = LINUX_SYN;
        seg[16] = 0;
        seg[17] = 0;
        fill_partial_checksum(&mut seg, ADDR, ADDR);
        assert_eq!(seg, LINUX_SYN);
        let mut seg = LINUX_DATA;
        seg[16] = 0xff;
        fill_partial_checksum(&mut seg, ADDR, ADDR);
        assert_eq!(seg, LINUX_DATA);
    }

    #[test]
    fn full_checksum_matches_reference() {
        let mut seg = LINUX_SYN;
        fill_checksum(&mut seg, ADDR, ADDR);
        assert_eq!(&seg[16..18], &[0x4a, 0xee]);
        let mut seg = LINUX_DATA;
        fill_checksum(&mut seg, ADDR, ADDR);
        assert_eq!(&seg[16..18], &[0x75, 0x67]);
        assert!(
            TcpPacket::new_checked(&seg[..])
                .unwrap()
                .verify_checksum(ADDR, ADDR)
        );
        // The partial-checksum form does not verify as a full checksum.
        assert!(
            !TcpPacket::new_checked(&LINUX_DATA[..])
                .unwrap()
                .verify_checksum(ADDR, ADDR)
        );
    }

    #[test]
    fn parse_linux_syn() {
        let seg = with_full_checksum(LINUX_SYN, 0x4aee);
        let pkt = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(pkt.src_port(), 40000);
        assert_eq!(pkt.dst_port(), 8080);
        assert_eq!(pkt.seq_number(), SeqNum(0x3eeb330c));
        assert_eq!(pkt.ack_number(), SeqNum(0));
        assert_eq!(pkt.header_len(), 40);
        assert_eq!(pkt.flags(), TcpFlags::SYN);
        assert_eq!(pkt.window_len(), 65495);
        assert_eq!(pkt.checksum(), 0x4aee);
        assert_eq!(pkt.urgent_at(), 0);
        assert_eq!(pkt.options().len(), 20);
        assert!(pkt.payload().is_empty());

        let repr = parse_tcp(&seg, ADDR, ADDR, true).unwrap();
        assert_eq!(repr.options.mss, Some(65495));
        assert!(repr.options.sack_permitted);
        assert_eq!(repr.options.timestamps, Some((0x097647d2, 0)));
        assert_eq!(repr.options.window_scale, Some(10));
        assert!(repr.options.sack().is_empty());
        assert_eq!(repr.segment_len(), 1);
        assert_eq!(repr.header_len(), 40);

        // Our emitter lays the options out exactly as Linux does.
        let mut out = [0u8; 40];
        assert_eq!(repr.emit(&mut out, ADDR, ADDR), Ok(40));
        assert_eq!(out, seg);
        // The unverified capture parses to the same thing.
        assert_eq!(parse_tcp(&LINUX_SYN, ADDR, ADDR, false).unwrap(), repr);
        assert_eq!(
            parse_tcp(&LINUX_SYN, ADDR, ADDR, true),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn parse_linux_data() {
        let seg = with_full_checksum(LINUX_DATA, 0x7567);
        let repr = parse_tcp(&seg, ADDR, ADDR, true).unwrap();
        assert_eq!(repr.flags, TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!(repr.ack, SeqNum(0xfa8bd2a7));
        assert_eq!(repr.window, 64);
        assert_eq!(repr.options.timestamps, Some((0x097647d2, 0x0b2ae1c4)));
        assert_eq!(repr.options.mss, None);
        assert_eq!(repr.payload, b"hello");
        assert_eq!(repr.segment_len(), 5);

        let mut out = [0u8; 64];
        let hl = repr.emit_header(&mut out).unwrap();
        assert_eq!(hl, 32);
        out[hl..hl + 5].copy_from_slice(repr.payload);
        fill_checksum(&mut out[..hl + 5], ADDR, ADDR);
        assert_eq!(&out[..37], &seg[..]);
    }

    #[test]
    fn flags_debug_and_ops() {
        assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "SYN|ACK");
        assert_eq!(
            format!("{:?}", TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK),
            "FIN|PSH|ACK"
        );
        assert_eq!(
            format!("{:?}", TcpFlags(0xff)),
            "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"
        );
        assert_eq!(format!("{:?}", TcpFlags::default()), "(none)");
        let f = TcpFlags::SYN | TcpFlags::ACK;
        assert!(f.syn() && f.ack() && !f.fin() && !f.rst() && !f.psh() && !f.urg());
        assert!(f.contains(TcpFlags::SYN));
        assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!(f.without(TcpFlags::SYN), TcpFlags::ACK);
        assert_eq!(f & TcpFlags::ACK, TcpFlags::ACK);
        let mut g = TcpFlags::empty();
        g |= TcpFlags::RST;
        assert!(g.rst());
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(
            TcpPacket::new_checked(&[0u8; 19][..]).err(),
            Some(WireError::Truncated)
        );
        let mut seg = LINUX_SYN;
        seg[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&seg[..]).err(),
            Some(WireError::BadDataOffset)
        );
        seg[12] = 0xb0; // 44 bytes of header in a 40-byte segment
        assert_eq!(
            TcpPacket::new_checked(&seg[..]).err(),
            Some(WireError::BadDataOffset)
        );
        seg[12] = 0xa0;
        assert_eq!(
            TcpPacket::new_checked(&seg[..39]).err(),
            Some(WireError::BadDataOffset)
        );
        seg[12] = 0x50;
        let pkt = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(pkt.payload().len(), 20);
    }

    fn opts(bytes: &[u8]) -> Result<TcpOptions, WireError> {
        TcpOptions::parse(bytes)
    }

    #[test]
    fn option_errors() {
        use WireError::BadOptionLength as E;
        assert_eq!(opts(&[2, 3, 0]), Err(E)); // MSS length 3
        assert_eq!(opts(&[2, 4, 0]), Err(E)); // runs past the end
        assert_eq!(opts(&[3, 4, 1, 0]), Err(E)); // WS length 4
        assert_eq!(opts(&[4, 3, 0]), Err(E)); // SACKOK length 3
        assert_eq!(opts(&[8, 8, 0, 0, 0, 0, 0, 0]), Err(E)); // TS length 8
        assert_eq!(opts(&[5, 2]), Err(E)); // SACK with no block
        assert_eq!(opts(&[5, 9, 0, 0, 0, 0, 0, 0, 0]), Err(E)); // SACK 7 bytes of block
        assert_eq!(opts(&[99, 0]), Err(E)); // length 0
        assert_eq!(opts(&[99, 1]), Err(E)); // length 1
        assert_eq!(opts(&[99]), Err(E)); // no length byte
        assert_eq!(opts(&[1, 1, 99, 5, 0, 0]), Err(E)); // unknown, past end
    }

    #[test]
    fn option_parsing_rules() {
        // EOL ends parsing, even before garbage.
        assert_eq!(opts(&[2, 4, 5, 0xb4, 0, 2, 3]).unwrap().mss, Some(1460));
        // NOPs and unknown kinds are skipped; WS clamps to 14.
        let o = opts(&[1, 99, 4, 0xde, 0xad, 1, 3, 3, 200, 1]).unwrap();
        assert_eq!(o.window_scale, Some(14));
        assert_eq!(opts(&[]).unwrap(), TcpOptions::default());
        // Five SACK blocks (only possible in a raw byte string) keep 4.
        let mut b = vec![5, 42];
        for i in 0..10u32 {
            b.extend_from_slice(&(i * 100).to_be_bytes());
        }
        let o = opts(&b).unwrap();
        assert_eq!(o.sack().len(), 4);
        assert_eq!(o.sack()[3], (SeqNum(600), SeqNum(700)));
    }

    #[test]
    fn options_layout() {
        let mut o = TcpOptions {
            sack_permitted: true,
            ..Default::default()
        };
        let mut buf = [0u8; 40];
        assert_eq!(o.emit(&mut buf), 4);
        assert_eq!(&buf[..4], &[1, 1, 4, 2]);
        o.sack_permitted = false;
        o.timestamps = Some((1, 2));
        assert_eq!(o.emit(&mut buf), 12);
        assert_eq!(&buf[..12], &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        o.set_sack(&[(SeqNum(10), SeqNum(20))]);
        assert_eq!(o.encoded_len(), 24);
        assert_eq!(o.emit(&mut buf), 24);
        assert_eq!(&buf[12..16], &[1, 1, 5, 10]);
        assert_eq!(opts(&buf[..24]).unwrap(), o);
        // Too small a buffer: nothing written.
        assert_eq!(o.emit(&mut [0u8; 23]), 0);
    }

    #[test]
    fn sack_blocks_capped_at_40_bytes() {
        let blocks: Vec<(SeqNum, SeqNum)> = (0..4u32)
            .map(|i| (SeqNum(i * 1000), SeqNum(i * 1000 + 500)))
            .collect();
        let mut o = TcpOptions::default();
        o.set_sack(&blocks);
        assert_eq!(o.sack_blocks_emitted(), 4);
        assert_eq!(o.encoded_len(), 36);
        o.timestamps = Some((7, 8));
        assert_eq!(o.sack_blocks_emitted(), 3);
        assert_eq!(o.encoded_len(), 40);
        // Everything at once still fits.
        o.mss = Some(1460);
        o.window_scale = Some(7);
        o.sack_permitted = true;
        assert_eq!(o.sack_blocks_emitted(), 2);
        assert_eq!(o.encoded_len(), 40);
        let mut buf = [0u8; 40];
        assert_eq!(o.emit(&mut buf), 40);
        let back = opts(&buf).unwrap();
        assert_eq!(back.sack(), &blocks[..2]);
        assert_eq!(back.timestamps, Some((7, 8)));
        assert_eq!(back.mss, Some(1460));
        assert_eq!(back.window_scale, Some(7));
        assert!(back.sack_permitted);
    }

    #[test]
    fn emit_header_errors_and_roundtrip() {
        let mut options = TcpOptions {
            timestamps: Some((5, 6)),
            ..Default::default()
        };
        options.set_sack(&[(SeqNum(1), SeqNum(2)), (SeqNum(u32::MAX), SeqNum(3))]);
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 65535,
            seq: SeqNum(u32::MAX),
            ack: SeqNum(42),
            flags: TcpFlags::ACK | TcpFlags::FIN | TcpFlags::URG,
            window: 1234,
            urgent: 3,
            options,
            payload: b"xyz",
        };
        assert_eq!(repr.header_len(), 20 + 12 + 20);
        assert_eq!(repr.segment_len(), 4);
        let mut small = [0u8; 51];
        assert_eq!(repr.emit_header(&mut small), Err(WireError::BufferTooSmall));
        assert_eq!(small, [0; 51]);
        let mut buf = [0u8; 100];
        let n = repr
            .emit(&mut buf, ADDR, Ipv4Addr::new(10, 1, 2, 3))
            .unwrap();
        assert_eq!(n, 55);
        let back = parse_tcp(&buf[..n], ADDR, Ipv4Addr::new(10, 1, 2, 3), true).unwrap();
        assert_eq!(back, repr);
        // Wrong pseudo-header address: checksum fails.
        assert_eq!(
            parse_tcp(&buf[..n], ADDR, ADDR, true),
            Err(WireError::BadChecksum)
        );
        assert_eq!(
            repr.emit(&mut buf[..54], ADDR, ADDR),
            Err(WireError::BufferTooSmall)
        );
    }

    #[test]
    fn packet_setters() {
        let mut seg = with_full_checksum(LINUX_DATA, 0x7567);
        let mut pkt = TcpPacket::new_checked(&mut seg[..]).unwrap();
        pkt.set_src_port(1);
        pkt.set_dst_port(2);
        pkt.set_seq_number(SeqNum(3));
        pkt.set_ack_number(SeqNum(4));
        pkt.set_flags(TcpFlags::RST);
        pkt.set_window_len(5);
        pkt.payload_mut()[0] = b'j';
        pkt.fill_checksum(ADDR, ADDR);
        let repr = parse_tcp(&seg, ADDR, ADDR, true).unwrap();
        assert_eq!((repr.src_port, repr.dst_port), (1, 2));
        assert_eq!((repr.seq, repr.ack), (SeqNum(3), SeqNum(4)));
        assert_eq!(repr.flags, TcpFlags::RST);
        assert_eq!(repr.window, 5);
        assert_eq!(repr.payload, b"jello");
    }

    #[test]
    fn fill_checksum_ignores_bad_lengths() {
        let mut short = [0xffu8; 19];
        fill_checksum(&mut short, ADDR, ADDR);
        fill_partial_checksum(&mut short, ADDR, ADDR);
        assert_eq!(short, [0xff; 19]);
    }
}
