//! [`TcpRepr`]: a parsed segment, and emitting one into a caller buffer.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    TCP_HEADER_LEN, TcpFlags, TcpOptions, TcpPacket, field, fill_checksum, fill_checksum_v6,
};
use crate::wire::{SeqNum, WireError, put16, put32};

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
        Self::parse_unchecked(pkt)
    }

    /// [`parse`](Self::parse) for a segment carried over IPv6: the checksum
    /// covers the IPv6 pseudo-header (RFC 8200 section 8.1).
    pub fn parse_v6(
        pkt: &TcpPacket<&'a [u8]>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>, WireError> {
        if verify_checksum && !pkt.verify_checksum_v6(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Self::parse_unchecked(pkt)
    }

    /// The fields of a view whose checksum has been dealt with.
    fn parse_unchecked(pkt: &TcpPacket<&'a [u8]>) -> Result<TcpRepr<'a>, WireError> {
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
    /// [`fill_checksum`] or
    /// [`fill_partial_checksum`](super::fill_partial_checksum) over the
    /// whole segment. [`WireError::BufferTooSmall`] if `buf` is shorter than
    /// the header; nothing is written then.
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
        let seg = self.emit_unchecksummed(buf)?;
        fill_checksum(seg, src, dst);
        Ok(seg.len())
    }

    /// [`emit`](Self::emit) for a segment carried over IPv6: the checksum
    /// covers the IPv6 pseudo-header (RFC 8200 section 8.1). Same errors.
    pub fn emit_v6(
        &self,
        buf: &mut [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<usize, WireError> {
        let seg = self.emit_unchecksummed(buf)?;
        fill_checksum_v6(seg, src, dst);
        Ok(seg.len())
    }

    /// Header and payload into `buf[..buffer_len()]`, checksum left zero;
    /// returns the segment written.
    fn emit_unchecksummed<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], WireError> {
        let len = self.buffer_len();
        if u16::try_from(len).is_err() {
            return Err(WireError::BadTotalLength);
        }
        let Some(seg) = buf.get_mut(..len) else {
            return Err(WireError::BufferTooSmall);
        };
        let header_len = self.emit_header(seg)?;
        seg[header_len..].copy_from_slice(self.payload);
        Ok(seg)
    }
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

/// Parses a TCP segment carried over IPv6 (the upper-layer payload after
/// any extension headers): [`TcpPacket::new_checked`] then
/// [`TcpRepr::parse_v6`].
pub fn parse_tcp_v6<'a>(
    segment: &'a [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    verify_checksum: bool,
) -> Result<TcpRepr<'a>, WireError> {
    let pkt = TcpPacket::new_checked(segment)?;
    TcpRepr::parse_v6(&pkt, src, dst, verify_checksum)
}
