//! [`TcpPacket`]: the checked, zero-copy view over a segment's bytes, with
//! field accessors and setters.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{TCP_HEADER_LEN, TcpFlags, field, fill_checksum, fill_checksum_v6};
use crate::wire::ipv4::PROTO_TCP;
use crate::wire::{SeqNum, WireError, be16, be32, checksum, put16, put32};

/// A checked view of a TCP segment (header, options, payload).
///
/// [`TcpPacket::new_checked`] guarantees that the header and its options lie
/// inside the buffer. The payload is everything after the header: pass the
/// IPv4 payload (already trimmed to the IPv4 total length).
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    /// Read directly by [`TcpRepr::parse`](super::TcpRepr::parse) to lend
    /// the payload for the buffer's lifetime.
    pub(super) buffer: T,
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

    /// The raw option bytes (`20..header_len`); see
    /// [`TcpOptions::parse`](super::TcpOptions::parse).
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
        self.verify_with(|len| checksum::pseudo_header_sum(src, dst, PROTO_TCP, len))
    }

    /// [`verify_checksum`](Self::verify_checksum) over the IPv6
    /// pseudo-header (RFC 8200 section 8.1). A segment longer than 65535
    /// bytes (only a jumbogram could carry one) is reported as wrong.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.verify_with(|len| checksum::pseudo_header_sum_v6(src, dst, PROTO_TCP, u32::from(len)))
    }

    /// The segment sums to all ones over the pseudo-header sum `pseudo`
    /// gives for its length.
    #[inline]
    fn verify_with(&self, pseudo: impl FnOnce(u16) -> u32) -> bool {
        let seg = self.buf();
        let Ok(len) = u16::try_from(seg.len()) else {
            return false;
        };
        checksum::fold(checksum::ones_sum(seg, pseudo(len))) == 0xffff
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

    /// Computes and writes the full checksum over the IPv6 pseudo-header
    /// (see [`fill_checksum_v6`]).
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        fill_checksum_v6(self.buf_mut(), src, dst);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buf_mut()[start..]
    }
}
