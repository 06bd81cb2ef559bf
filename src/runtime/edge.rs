//! [`Edge`]: how frames cross the device boundary, with the virtio-net
//! header, the capture and the fault injectors; and the way in, through the
//! receive faults, to the stack.

use super::RuntimeStats;
use crate::device::{FaultAction, FaultInjector, PcapWriter};
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::VnetHdr;
use crate::wire::vnet::segment_tcp4;
use std::io::BufWriter;

/// How frames cross the device boundary: the virtio-net header in front of
/// each, the capture, and the fault injectors with what they hold back.
pub(super) struct Edge {
    /// Bytes of virtio-net header in front of every frame (0 or 12).
    pub(super) hdr: usize,
    pub(super) pcap: Option<PcapWriter<BufWriter<std::fs::File>>>,
    /// Receive and transmit injectors.
    pub(super) faults: Option<(FaultInjector, FaultInjector)>,
    /// A received packet held back by the reorder fault, with its header.
    pub(super) rx_held: Option<(VnetHdr, Vec<u8>)>,
    /// Where received super-packets are cut into segments for the faults
    /// (empty without faults).
    pub(super) rx_scratch: Vec<u8>,
}

impl Edge {
    /// One frame from the device (a `hdr`-byte virtio-net header, then
    /// the packet) into the stack, through the faults. True if it was a
    /// TCP super-packet.
    pub(super) fn receive(
        &mut self,
        stack: &mut Stack,
        stats: &mut RuntimeStats,
        now: Instant,
        frame: &mut [u8],
    ) -> bool {
        let hdr = self.hdr;
        stats.packets_read += 1;
        stats.bytes_read += frame.len() as u64;
        let mut vnet = VnetHdr::default();
        if hdr > 0 {
            match VnetHdr::parse(frame) {
                Ok(h) if frame.len() > hdr => vnet = h,
                _ => {
                    stats.rx_bad_frames += 1;
                    return false;
                }
            }
        }
        let pkt = &mut frame[hdr..];
        if let Some(p) = self.pcap.as_mut() {
            let _ = p.write_packet(now.total_micros(), pkt);
        }
        let Some((rx, _)) = self.faults.as_mut() else {
            stack.handle_frame(now, &vnet, pkt);
            return vnet.is_gso();
        };
        if vnet.is_gso() || vnet.needs_csum() {
            // Faults act on what a wire would carry: super-packets cut into
            // segments, checksums complete (and so verified after a flip).
            let mut index = 0;
            let (scratch, held) = (&mut self.rx_scratch, &mut self.rx_held);
            while let Ok(Some(n)) = segment_tcp4(&vnet, pkt, index, scratch) {
                let plain = VnetHdr::default();
                stats.rx_cut_segments += 1;
                deliver_faulty(stack, rx, held, stats, now, plain, &mut scratch[..n]);
                index += 1;
            }
            if index == 0 {
                stats.rx_bad_frames += 1;
            }
            return false;
        }
        if rx.config().corrupt > 0.0 {
            // A flipped bit must be verified, as on a wire.
            vnet.flags &= !VnetHdr::DATA_VALID;
        }
        deliver_faulty(stack, rx, &mut self.rx_held, stats, now, vnet, pkt);
        false
    }
}

/// One packet (as a wire would carry it) through the receive faults.
fn deliver_faulty(
    stack: &mut Stack,
    rx: &mut FaultInjector,
    held: &mut Option<(VnetHdr, Vec<u8>)>,
    stats: &mut RuntimeStats,
    now: Instant,
    vnet: VnetHdr,
    pkt: &mut [u8],
) {
    match rx.apply(pkt) {
        FaultAction::Deliver => {
            stack.handle_frame(now, &vnet, pkt);
            if let Some((v, h)) = held.take() {
                stack.handle_frame(now, &v, &h);
            }
        }
        FaultAction::Drop => stats.faults_dropped += 1,
        FaultAction::Duplicate => {
            stats.faults_duplicated += 1;
            stack.handle_frame(now, &vnet, pkt);
            stack.handle_frame(now, &vnet, pkt);
            if let Some((v, h)) = held.take() {
                stack.handle_frame(now, &v, &h);
            }
        }
        FaultAction::Hold => {
            stats.faults_reordered += 1;
            if let Some((v, h)) = held.take() {
                stack.handle_frame(now, &v, &h);
            }
            *held = Some((vnet, pkt.to_vec()));
        }
    }
}
