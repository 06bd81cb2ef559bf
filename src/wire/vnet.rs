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

use super::{WireError, checksum};

/// Length of the header on the wire.
pub const VNET_HDR_LEN: usize = 12;

/// A parsed (or to be emitted) virtio-net header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Length of the headers (IP + TCP) of a super-packet: a hint.
    pub hdr_len: u16,
    /// Payload bytes per segment of a super-packet.
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub const NEEDS_CSUM: u8 = 1;
    pub const DATA_VALID: u8 = 2;
    pub const GSO_NONE: u8 = 0;
    pub const GSO_TCPV4: u8 = 1;
    pub const GSO_UDP: u8 = 3;
    pub const GSO_TCPV6: u8 = 4;
    pub const GSO_UDP_L4: u8 = 5;
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
        let sum = !checksum::fold(checksum::ones_sum(&packet[start..], 0));
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

#[cfg(test)]
mod tests {
    use super::*;

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
