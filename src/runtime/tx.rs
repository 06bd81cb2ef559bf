//! The transmit side: what the stack wants to send goes into transmit
//! buffers, through the transmit faults, and out as write operations.

use super::Driver;
use super::ring::TAG_TX;
use crate::device::FaultAction;
use crate::time::Instant;
use crate::wire::VnetHdr;
use crate::wire::vnet::segment_tcp4;
use io_uring::{opcode, types};
use std::io;
use std::os::fd::AsRawFd;

impl Driver {
    /// A super-packet is a burst's worth of data: what it calls for (its
    /// ACK) goes to the kernel at once, not after the rest of the batch.
    /// The kernel's sender is clocked by it (measured: 11-15 Gbit/s
    /// batched, ~18 at once). Plain packets keep batching: one ACK for many.
    pub(super) fn answer_now(&mut self, now: Instant) -> io::Result<()> {
        if self.stop.is_some() {
            return Ok(());
        }
        let queued = self.tx_inflight;
        self.flush_tx(now)?;
        if self.tx_inflight > queued {
            self.submit()?;
        }
        Ok(())
    }

    /// Moves everything the stack wants to send into write operations.
    pub(super) fn flush_tx(&mut self, now: Instant) -> io::Result<()> {
        // A held packet is released at the latest on the next turn.
        loop {
            let Some(idx) = self.tx.take() else {
                if self.stack.may_transmit() {
                    self.stats.tx_pool_exhausted += 1;
                }
                break;
            };
            let hdr = self.edge.hdr;
            let frame = self.tx.buf(idx);
            let Some((n, vnet)) = self.stack.poll_transmit_frame(now, &mut frame[hdr..]) else {
                self.tx.give(idx);
                break;
            };
            if hdr > 0 {
                // The buffer holds the header's 12 bytes: cannot fail.
                let _ = vnet.emit(frame);
            }
            let len = hdr + n;
            if let Some(p) = self.edge.pcap.as_mut() {
                let _ = p.write_packet(now.total_micros(), &frame[hdr..len]);
            }
            if self.edge.faults.is_some() && (vnet.is_gso() || vnet.needs_csum()) {
                // Faults act on what a wire would carry: cut the
                // super-segment and complete the checksums first, each
                // segment in a transmit buffer of its own. Segments that
                // find no free buffer are lost (and counted).
                self.tx_scratch[..n].copy_from_slice(&frame[hdr..len]);
                self.tx.give(idx);
                let mut index = 0;
                loop {
                    let Some(j) = self.tx.take() else {
                        // These segments are lost, not deferred: always
                        // counted.
                        self.stats.tx_pool_exhausted += 1;
                        break;
                    };
                    let buf = self.tx.buf(j);
                    match segment_tcp4(&vnet, &self.tx_scratch[..n], index, &mut buf[hdr..]) {
                        Ok(Some(m)) => {
                            // The header's 12 bytes fit: cannot fail.
                            let _ = VnetHdr::default().emit(buf);
                            self.stats.tx_cut_segments += 1;
                            self.send_faulty(j, hdr + m)?;
                            index += 1;
                        }
                        _ => {
                            self.tx.give(j);
                            break;
                        }
                    }
                }
                continue;
            }
            self.send_faulty(idx, len)?;
        }
        if let Some((h, hl)) = self.tx_held.take()
            && self.stack.poll_timeout().is_none_or(|t| t > now)
        {
            // Nothing followed it this turn: let it go rather than stall.
            self.write(h, hl)?;
        }
        Ok(())
    }

    /// Writes transmit buffer `idx` (`len` bytes, header included) through
    /// the transmit faults, if any.
    fn send_faulty(&mut self, idx: u16, len: usize) -> io::Result<()> {
        let hdr = self.edge.hdr;
        let action = match self.edge.faults.as_mut() {
            Some((_, tx)) => tx.apply(&mut self.tx.buf(idx)[hdr..len]),
            None => FaultAction::Deliver,
        };
        match action {
            FaultAction::Deliver => {
                self.write(idx, len)?;
                if let Some((h, hl)) = self.tx_held.take() {
                    self.write(h, hl)?;
                }
            }
            FaultAction::Drop => {
                self.stats.faults_dropped += 1;
                self.tx.give(idx);
            }
            FaultAction::Duplicate => {
                self.stats.faults_duplicated += 1;
                if let Some(copy) = self.tx.take() {
                    let (a, b) = (self.tx.ptr(idx), self.tx.buf(copy).as_mut_ptr());
                    // SAFETY: two distinct buffers of the pool, both taken
                    // by us and not in the kernel's hands.
                    unsafe { std::ptr::copy_nonoverlapping(a, b, len) };
                    self.write(copy, len)?;
                }
                self.write(idx, len)?;
            }
            FaultAction::Hold => {
                self.stats.faults_reordered += 1;
                if let Some((h, hl)) = self.tx_held.replace((idx, len)) {
                    self.write(h, hl)?;
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, idx: u16, len: usize) -> io::Result<()> {
        let sqe = opcode::Write::new(
            types::Fd(self.tun.as_raw_fd()),
            self.tx.ptr(idx),
            len as u32,
        )
        .build()
        .user_data(TAG_TX | u64::from(idx));
        self.push_sqe(&sqe)?;
        self.tx_inflight += 1;
        Ok(())
    }
}
