//! The TCP checksum over the IPv4 pseudo-header (RFC 9293 section 3.1) or
//! the IPv6 one (RFC 8200 section 8.1), in full or left partial for a
//! device with checksum offload. The `_v6` functions mirror the IPv4 ones.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{TCP_HEADER_LEN, field};
use crate::wire::ipv4::PROTO_TCP;
use crate::wire::{checksum, put16};

/// Computes the checksum over the pseudo-header and the complete segment
/// (header and payload) and writes it into the checksum field (RFC 9293
/// section 3.1). The field's old value is ignored.
///
/// Does nothing if `segment` is shorter than 20 bytes or longer than 65535
/// (no valid segment is): those are caller bugs, not input.
pub fn fill_checksum(segment: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    fill_full(segment, |len| {
        checksum::pseudo_header_sum(src, dst, PROTO_TCP, len)
    });
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
    fill_partial(segment, |len| {
        checksum::pseudo_header_sum(src, dst, PROTO_TCP, len)
    });
}

/// [`fill_checksum`] over the IPv6 pseudo-header (RFC 8200 section 8.1):
/// `src`, `dst`, the segment length as 32 bits and next header 6.
/// `segment` is the TCP header and data only, without IPv6 extension
/// headers.
///
/// Does nothing if `segment` is shorter than 20 bytes or longer than 65535
/// (without jumbograms no valid segment is).
pub fn fill_checksum_v6(segment: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    fill_full(segment, |len| {
        checksum::pseudo_header_sum_v6(src, dst, PROTO_TCP, u32::from(len))
    });
}

/// [`fill_partial_checksum`] over the IPv6 pseudo-header: writes the folded
/// pseudo-header sum, not complemented, for a device to complete from the
/// start of the TCP header (`csum_offset = 16`). With TSO, `segment` is the
/// whole super-segment; the device recomputes the length per segment.
/// Does nothing if `segment` is shorter than 20 bytes or longer than 65535.
pub fn fill_partial_checksum_v6(segment: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    fill_partial(segment, |len| {
        checksum::pseudo_header_sum_v6(src, dst, PROTO_TCP, u32::from(len))
    });
}

/// The complete checksum of `segment` over the pseudo-header sum that
/// `pseudo` gives for its length, into the checksum field.
#[inline]
fn fill_full(segment: &mut [u8], pseudo: impl FnOnce(u16) -> u32) {
    let Some(len) = checksummable_len(segment) else {
        return;
    };
    put16(segment, field::CHECKSUM, 0);
    let sum = !checksum::fold(checksum::ones_sum(segment, pseudo(len)));
    put16(segment, field::CHECKSUM, sum);
}

/// The folded pseudo-header sum alone, for a device to complete.
#[inline]
fn fill_partial(segment: &mut [u8], pseudo: impl FnOnce(u16) -> u32) {
    let Some(len) = checksummable_len(segment) else {
        return;
    };
    put16(segment, field::CHECKSUM, checksum::fold(pseudo(len)));
}

/// The segment's length for a pseudo-header, or `None` for a segment no
/// valid packet carries (shorter than a header, or longer than a 16-bit
/// length allows).
fn checksummable_len(segment: &[u8]) -> Option<u16> {
    let len = u16::try_from(segment.len()).ok()?;
    (segment.len() >= TCP_HEADER_LEN).then_some(len)
}
