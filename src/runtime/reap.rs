//! Reaping completions: each one goes to the receive side, the transmit
//! pool or the wake-up, and the turn's bulk accounting follows.

use super::ring::{TAG_MASK, TAG_RX_MULTI, TAG_RX_POLL, TAG_TX, TAG_WAKE};
use super::rx::Rx;
use super::setup::frame_size;
use super::uring;
use super::{BULK_TURN_BYTES, Driver};
use crate::time::Instant;
use std::io;

impl Driver {
    /// Processes every completion that has arrived, and returns the time
    /// it read (once for the whole batch) for the rest of the turn.
    pub(super) fn reap(&mut self) -> io::Result<Instant> {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.clear();
        cqes.append(&mut self.stashed);
        cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut published = false;
        let mut polled = false;
        let read_before = self.stats.bytes_read;
        // One clock read per batch, not per packet.
        let now = self.now();
        for &(ud, res, flags) in &cqes {
            match ud & TAG_MASK {
                TAG_RX_MULTI => {
                    if !io_uring::cqueue::more(flags) {
                        self.rx_armed = false;
                    }
                    if res < 0 {
                        let err = -res;
                        if err == libc::EINVAL || err == libc::EOPNOTSUPP {
                            // Multishot reads unsupported: fall back.
                            self.rx = Rx::Poll(vec![0u8; frame_size(&self.tun)]);
                            self.stats.multishot = false;
                        } else if err == libc::ENOBUFS {
                            self.stats.rx_rearms += 1;
                        } else if err != libc::ECANCELED {
                            self.stats.read_errors += 1;
                        }
                        continue;
                    }
                    let Some(bid) = io_uring::cqueue::buffer_select(flags) else {
                        continue;
                    };
                    let Rx::Multi(br) = &mut self.rx else {
                        continue;
                    };
                    let frame = br.buf(bid, res as usize);
                    let whole = self
                        .edge
                        .receive(&mut self.stack, &mut self.stats, now, frame);
                    br.push(bid);
                    published = true;
                    if whole {
                        self.answer_now(now)?;
                    }
                }
                TAG_RX_POLL => {
                    if !io_uring::cqueue::more(flags) {
                        self.rx_armed = false;
                    }
                    if res < 0 {
                        continue;
                    }
                    self.read_batch(now)?;
                    polled = true;
                }
                TAG_TX => {
                    self.tx.give((ud & 0xffff) as u16);
                    self.tx_inflight -= 1;
                    if res < 0 {
                        self.stats.write_errors += 1;
                    } else {
                        self.stats.packets_written += 1;
                        self.stats.bytes_written += res as u64;
                    }
                }
                TAG_WAKE => {
                    if !io_uring::cqueue::more(flags) {
                        self.wake_armed = false;
                    }
                    uring::eventfd_drain(&self.wake_fd);
                    self.woke = true;
                }
                _ => {}
            }
        }
        if published && let Rx::Multi(br) = &self.rx {
            br.publish();
        }
        if self.rx_leftover && !polled {
            self.read_batch(now)?;
        }
        // Bulk until a turn reads less, or a spin runs out; a turn that
        // only reaped write completions (our ACKs) changes nothing. (Keeping
        // it through short reads too kept the loop at 100% of its core for
        // no more throughput: the sender is already the bottleneck.)
        match self.stats.bytes_read - read_before {
            0 => {}
            n => {
                self.bulk_turn = n >= BULK_TURN_BYTES;
                if self.spin_ended_on_completion {
                    self.stats.bulk_spin_hits += 1;
                }
            }
        }
        self.spin_ended_on_completion = false;
        self.cqes = cqes;
        if self.stop.is_none() {
            self.arm_rx()?;
            self.arm_wake()?;
        }
        Ok(now)
    }
}
