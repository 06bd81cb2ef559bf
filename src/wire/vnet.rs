//! The virtio-net header a TUN device opened with `IFF_VNET_HDR` puts in
//! front of every packet (`struct virtio_net_hdr_v1`, 12 bytes, little-endian
//! fields: the device is set to little-endian with `TUNSETVNETLE`).
//!
//! It says two things about the packet behind it (virtio 1.2, section
//! 5.1.6):
//!
//! - Checksum state. [`VnetHdr::NEEDS_CSUM`]: the checksum field holds only
//!   the pseudo-header sum and the rest is to be summed from `csum_start`,
//!   the result stored at `csum_start + csum_offset` (the packet was made on
//!   this host and never crossed a wire; Linux's `CHECKSUM_PARTIAL`).
//!   [`VnetHdr::DATA_VALID`]: the device already validated it. Neither: the
//!   checksum is complete and must be verified.
//! - Segmentation. `gso_type` other than [`VnetHdr::GSO_NONE`] marks a TCP
//!   super-packet whose payload is to be cut into `gso_size`-byte segments,
//!   each with a copy of the headers. An endpoint may take it as one large
//!   segment.
//!
//! No I/O, no clock, no `unsafe`; parsing never panics.

use super::ipv4::{Ipv4Packet, PROTO_TCP};
use super::tcp::{TcpFlags, TcpPacket};
use super::{WireError, checksum};

/// Length of the header on the wire.
pub const VNET_HDR_LEN: usize = 12;

/// A parsed (or to be emitted) virtio-net header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// [`VnetHdr::NEEDS_CSUM`] and/or [`VnetHdr::DATA_VALID`], or 0.
    pub flags: u8,
    /// [`VnetHdr::GSO_NONE`] for a plain packet, else the segmentation kind
    /// ([`VnetHdr::GSO_TCPV4`] for us), possibly with [`VnetHdr::GSO_ECN`].
    pub gso_type: u8,
    /// Length of the headers (IP + TCP) of a super-packet: a hint.
    pub hdr_len: u16,
    /// Payload bytes per segment of a super-packet.
    pub gso_size: u16,
    /// With [`VnetHdr::NEEDS_CSUM`]: offset from the start of the packet
    /// (IP header) where checksumming starts, i.e. the TCP header.
    pub csum_start: u16,
    /// With [`VnetHdr::NEEDS_CSUM`]: offset from `csum_start` of the checksum
    /// field (16 for TCP).
    pub csum_offset: u16,
}

impl VnetHdr {
    /// `flags`: the checksum is partial (pseudo-header sum only); sum from
    /// `csum_start` and store at `csum_start + csum_offset`.
    pub const NEEDS_CSUM: u8 = 1;
    /// `flags`: the device has validated the checksum.
    pub const DATA_VALID: u8 = 2;
    /// `gso_type`: a plain packet, not to be segmented.
    pub const GSO_NONE: u8 = 0;
    /// `gso_type`: a TCP/IPv4 super-packet (TSO).
    pub const GSO_TCPV4: u8 = 1;
    /// `gso_type`: a UDP super-packet to be fragmented (UFO); not used here.
    pub const GSO_UDP: u8 = 3;
    /// `gso_type`: a TCP/IPv6 super-packet; not used here (IPv4 only).
    pub const GSO_TCPV6: u8 = 4;
    /// `gso_type`: a UDP super-packet to be cut into datagrams (USO); not
    /// used here.
    pub const GSO_UDP_L4: u8 = 5;
    /// `gso_type` bit: the TCP super-packet has CWR set and needs ECN
    /// handling when segmented.
    pub const GSO_ECN: u8 = 0x80;

    /// Parses the first [`VNET_HDR_LEN`] bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<VnetHdr, WireError> {
        let b = buf.get(..VNET_HDR_LEN).ok_or(WireError::Truncated)?;
        let le = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Ok(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        })
    }

    /// Writes the header into `buf[..VNET_HDR_LEN]` (`num_buffers` zero).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let b = buf
            .get_mut(..VNET_HDR_LEN)
            .ok_or(WireError::BufferTooSmall)?;
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b[10..12].copy_from_slice(&0u16.to_le_bytes());
        Ok(())
    }

    /// The checksum of the packet behind the header is partial (only the
    /// pseudo-header sum is in place).
    pub fn needs_csum(&self) -> bool {
        self.flags & Self::NEEDS_CSUM != 0
    }

    /// The device validated the checksum.
    pub fn data_valid(&self) -> bool {
        self.flags & Self::DATA_VALID != 0
    }

    /// A super-packet to be segmented (any GSO type, ECN bit ignored).
    pub fn is_gso(&self) -> bool {
        self.gso_type & !Self::GSO_ECN != Self::GSO_NONE
    }

    /// Whether the transport checksum of an IPv4 packet whose TCP header
    /// starts at `l4_start` may be taken as correct without summing it:
    /// the device validated it, or it is a partial checksum laid out exactly
    /// where a TCP checksum lives (anything else is verified as usual, and
    /// a partial checksum elsewhere then fails verification and is counted).
    pub fn checksum_trusted(&self, l4_start: usize) -> bool {
        if self.data_valid() {
            return true;
        }
        self.needs_csum() && usize::from(self.csum_start) == l4_start && self.csum_offset == 16
    }

    /// Does what a device does with a partial checksum: sums `packet` from
    /// `csum_start` (the pseudo-header sum already sits in the checksum
    /// field) and stores the complement at `csum_start + csum_offset`, then
    /// clears [`VnetHdr::NEEDS_CSUM`]. `packet` starts at the IP header.
    /// Nothing to do without `NEEDS_CSUM`; [`WireError::Truncated`] if the
    /// offsets do not fit the packet.
    pub fn complete_checksum(&mut self, packet: &mut [u8]) -> Result<(), WireError> {
        if !self.needs_csum() {
            return Ok(());
        }
        let start = usize::from(self.csum_start);
        let at = start + usize::from(self.csum_offset);
        if at + 2 > packet.len() {
            return Err(WireError::Truncated);
        }
        let sum = checksum::checksum(&packet[start..]);
        packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        self.flags &= !Self::NEEDS_CSUM;
        Ok(())
    }

    /// The header for a TCP/IPv4 packet we built: a partial checksum
    /// (`NEEDS_CSUM`, summed from the TCP header at `l4_start`, stored at
    /// offset 16) and, when `gso_size` is nonzero, a TSO super-packet whose
    /// headers take `hdr_len` bytes.
    pub fn tcp4_partial(l4_start: u16, hdr_len: u16, gso_size: u16) -> VnetHdr {
        VnetHdr {
            flags: Self::NEEDS_CSUM,
            gso_type: if gso_size > 0 {
                Self::GSO_TCPV4
            } else {
                Self::GSO_NONE
            },
            hdr_len,
            gso_size,
            csum_start: l4_start,
            csum_offset: 16,
        }
    }
}

/// What a device does with a TCP/IPv4 super-packet on its way to a wire:
/// cuts it into segments of `vnet.gso_size` payload bytes (Linux's
/// `tcp_gso_segment`, done in software). Segment `index` of `packet` (which
/// starts at the IP header) is written into `out`; returns its length, or
/// `None` past the last segment. Each segment gets the headers of the
/// super-packet with its own IP total length, identification (`+ index`)
/// and header checksum, its own sequence number, CWR only on the first and
/// FIN and PSH only on the last, and a complete TCP checksum. A packet that
/// is not a super-packet is segment 0 of itself, with its checksum
/// completed if it was partial.
///
/// [`WireError`] for a packet too short for its headers, a super-packet that
/// is not TCP/IPv4, or an `out` too small for a segment.
pub fn segment_tcp4(
    vnet: &VnetHdr,
    packet: &[u8],
    index: usize,
    out: &mut [u8],
) -> Result<Option<usize>, WireError> {
    if !vnet.is_gso() {
        if index > 0 {
            return Ok(None);
        }
        let out = out
            .get_mut(..packet.len())
            .ok_or(WireError::BufferTooSmall)?;
        out.copy_from_slice(packet);
        let mut v = *vnet;
        v.complete_checksum(out)?;
        return Ok(Some(packet.len()));
    }
    if vnet.gso_type & !VnetHdr::GSO_ECN != VnetHdr::GSO_TCPV4 || vnet.gso_size == 0 {
        return Err(WireError::NotTcp);
    }
    let ip = Ipv4Packet::new_checked(packet)?;
    if ip.protocol() != PROTO_TCP {
        return Err(WireError::NotTcp);
    }
    let ihl = ip.header_len();
    let packet = &packet[..ip.total_len()];
    let tcp = TcpPacket::new_checked(&packet[ihl..])?;
    let hdrs = ihl + tcp.header_len();
    let payload = &packet[hdrs..];
    let mss = usize::from(vnet.gso_size);
    let count = payload.len().div_ceil(mss).max(1);
    if index >= count {
        return Ok(None);
    }
    let piece = &payload[(index * mss).min(payload.len())..((index + 1) * mss).min(payload.len())];
    let len = hdrs + piece.len();
    let out = out.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
    out[..hdrs].copy_from_slice(&packet[..hdrs]);
    out[hdrs..].copy_from_slice(piece);
    // IP: length, identification, header checksum.
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    let mut oip = Ipv4Packet::new_checked(&mut out[..])?;
    oip.set_ident(ip.ident().wrapping_add(index as u16));
    oip.fill_checksum();
    // TCP: sequence number, flags, checksum.
    let mut otcp = TcpPacket::new_checked(&mut out[ihl..])?;
    otcp.set_seq_number(tcp.seq_number() + index * mss);
    let mut flags = tcp.flags().0;
    if index > 0 {
        flags &= !TcpFlags::CWR.0;
    }
    if index + 1 < count {
        flags &= !(TcpFlags::FIN.0 | TcpFlags::PSH.0);
    }
    otcp.set_flags(TcpFlags(flags));
    otcp.fill_checksum(ip.src_addr(), ip.dst_addr());
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn round_trip_is_little_endian() {
        let h = VnetHdr::tcp4_partial(20, 52, 1448);
        let mut b = [0xffu8; VNET_HDR_LEN];
        h.emit(&mut b).unwrap();
        assert_eq!(b, [1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0, 0, 0]);
        assert_eq!(VnetHdr::parse(&b).unwrap(), h);
        assert!(h.is_gso() && h.needs_csum() && !h.data_valid());
    }

    #[test]
    fn completing_a_partial_checksum_gives_the_full_one() {
        use crate::wire::tcp::{fill_checksum, fill_partial_checksum};
        use std::net::Ipv4Addr;
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        // 20 bytes standing in for an IP header, then a segment of odd length.
        let mut pkt: Vec<u8> = (0..20 + 20 + 333).map(|i| (i * 7 + 3) as u8).collect();
        pkt[20 + 12] = 5 << 4;
        let mut full = pkt.clone();
        fill_checksum(&mut full[20..], src, dst);
        fill_partial_checksum(&mut pkt[20..], src, dst);
        assert_ne!(pkt, full);
        let mut h = VnetHdr::tcp4_partial(20, 40, 0);
        h.complete_checksum(&mut pkt).unwrap();
        assert_eq!(pkt, full);
        assert!(!h.needs_csum());
        let mut bad = VnetHdr::tcp4_partial(400, 40, 0);
        assert_eq!(bad.complete_checksum(&mut pkt), Err(WireError::Truncated));
    }

    /// A super-packet of 3000 payload bytes (timestamps option) cut at
    /// 1448: three segments with their own lengths, IDs, sequence numbers
    /// and flags, each of which parses with both checksums verified.
    #[test]
    fn segmenting_a_super_packet_gives_valid_segments() {
        use crate::wire::SeqNum;
        use crate::wire::ipv4::{Ipv4Repr, PROTO_TCP, parse_ipv4};
        use crate::wire::tcp::{TcpOptions, TcpRepr, fill_partial_checksum, parse_tcp};
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 1));
        let payload: Vec<u8> = (0..3000u32).map(|i| (i * 13 + 1) as u8).collect();
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5201,
            seq: SeqNum(u32::MAX - 1000),
            ack: SeqNum(77),
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN | TcpFlags::CWR,
            window: 512,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((5, 6)),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        let thl = tcp.header_len();
        let mut pkt = vec![0u8; 20 + thl + payload.len()];
        let ip = Ipv4Repr {
            src,
            dst,
            protocol: PROTO_TCP,
            payload_len: thl + payload.len(),
            ttl: 64,
        };
        ip.emit(&mut pkt[..20], 0xfffe).unwrap();
        tcp.emit_header(&mut pkt[20..20 + thl]).unwrap();
        pkt[20 + thl..].copy_from_slice(&payload);
        fill_partial_checksum(&mut pkt[20..], src, dst);
        let vnet = VnetHdr::tcp4_partial(20, (20 + thl) as u16, 1448);
        let mut out = vec![0u8; 2000];
        let mut got = Vec::new();
        let mut index = 0;
        while let Some(n) = segment_tcp4(&vnet, &pkt, index, &mut out).unwrap() {
            let (ip, l4) = parse_ipv4(&out[..n], true).expect("IP header checksum");
            let seg = parse_tcp(l4, ip.src, ip.dst, true).expect("TCP checksum");
            let id = u16::from_be_bytes([out[4], out[5]]);
            assert_eq!(id, 0xfffeu16.wrapping_add(index as u16));
            assert_eq!(seg.seq, SeqNum(u32::MAX - 1000) + got.len());
            assert_eq!(
                seg.flags.contains(TcpFlags::CWR),
                index == 0,
                "CWR on the first only"
            );
            let last = got.len() + seg.payload.len() == payload.len();
            assert_eq!(seg.flags.fin(), last, "FIN on the last only");
            assert_eq!(seg.flags.psh(), last, "PSH on the last only");
            assert_eq!(seg.options.timestamps, Some((5, 6)));
            got.extend_from_slice(seg.payload);
            index += 1;
        }
        assert_eq!(index, 3);
        assert_eq!(got, payload);
        // A plain packet with a partial checksum is itself, completed.
        let plain = VnetHdr::tcp4_partial(20, (20 + thl) as u16, 0);
        let n = segment_tcp4(&plain, &pkt, 0, &mut out[..]).unwrap_or(None);
        assert_eq!(n, None, "3040 bytes do not fit a 2000-byte buffer");
        let mut big = vec![0u8; 4000];
        let n = segment_tcp4(&plain, &pkt, 0, &mut big).unwrap().unwrap();
        let (ip, l4) = parse_ipv4(&big[..n], true).unwrap();
        assert!(parse_tcp(l4, ip.src, ip.dst, true).is_ok());
        assert_eq!(segment_tcp4(&plain, &pkt, 1, &mut big), Ok(None));
        // Nonsense is an error, not a panic.
        assert!(segment_tcp4(&vnet, &pkt[..30], 0, &mut big).is_err());
        assert!(segment_tcp4(&vnet, &[], 0, &mut big).is_err());
    }

    #[test]
    fn short_buffers_are_errors() {
        assert_eq!(VnetHdr::parse(&[0; 11]), Err(WireError::Truncated));
        assert_eq!(
            VnetHdr::default().emit(&mut [0; 11]),
            Err(WireError::BufferTooSmall)
        );
    }

    #[test]
    fn trust_needs_the_exact_tcp_layout() {
        let mut h = VnetHdr::tcp4_partial(20, 40, 0);
        assert!(!h.is_gso());
        assert!(h.checksum_trusted(20));
        assert!(!h.checksum_trusted(24), "IP options move the TCP header");
        h.csum_offset = 6; // where a UDP checksum would be
        assert!(!h.checksum_trusted(20));
        assert!(!VnetHdr::default().checksum_trusted(20));
        let valid = VnetHdr {
            flags: VnetHdr::DATA_VALID,
            ..VnetHdr::default()
        };
        assert!(valid.checksum_trusted(20));
        let ecn = VnetHdr {
            gso_type: VnetHdr::GSO_ECN,
            ..VnetHdr::default()
        };
        assert!(!ecn.is_gso());
    }
}
