//! Reaping completions: each one goes to the receive side, the transmit
//! pool or the wake-up, and the turn's bulk accounting follows.

use super::ring::{TAG_MASK, TAG_RX_MULTI, TAG_RX_POLL, TAG_TX, TAG_WAKE};
use super::rx::Rx;
use super::setup::frame_size;
use super::uring;
use super::{BULK_TURN_BYTES, Driver};
use crate::time::Instant;
use std::io;

/// (user_data, result, flags) of one completion.
type Cqe = (u64, i32, u32);

impl Driver {
    /// Processes every completion that has arrived, and returns the time
    /// it read (once for the whole batch) for the rest of the turn.
    pub(super) fn reap(&mut self) -> io::Result<Instant> {
        let cqes = self.take_completions();
        let mut published = false;
        let mut polled = false;
        let read_before = self.stats.bytes_read;
        // One clock read per batch, not per packet.
        let now = self.now();
        for &(ud, res, flags) in &cqes {
            match ud & TAG_MASK {
                TAG_RX_MULTI => published |= self.complete_rx_multi(now, res, flags)?,
                TAG_RX_POLL => polled |= self.complete_rx_poll(now, res, flags)?,
                TAG_TX => self.complete_tx(ud, res),
                TAG_WAKE => self.complete_wake(flags),
                _ => {}
            }
        }
        if published && let Rx::Multi(br) = &self.rx {
            br.publish();
        }
        if self.rx_leftover && !polled {
            self.read_batch(now)?;
        }
        self.account_bulk(read_before);
        self.cqes = cqes;
        if self.stop.is_none() {
            self.arm_rx()?;
            self.arm_wake()?;
        }
        Ok(now)
    }

    /// This turn's completions: those `submit` stashed, then those posted
    /// since, in the reused `cqes` vector.
    fn take_completions(&mut self) -> Vec<Cqe> {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.clear();
        cqes.append(&mut self.stashed);
        cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        cqes
    }

    /// A multishot read completed: hands its frame to the stack and gives
    /// the buffer back to the ring. True if a buffer was given back (the
    /// ring's tail must be published).
    fn complete_rx_multi(&mut self, now: Instant, res: i32, flags: u32) -> io::Result<bool> {
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
            return Ok(false);
        }
        let Some(bid) = io_uring::cqueue::buffer_select(flags) else {
            return Ok(false);
        };
        let Rx::Multi(br) = &mut self.rx else {
            return Ok(false);
        };
        let frame = br.buf(bid, res as usize);
        let whole = self
            .edge
            .receive(&mut self.stack, &mut self.stats, now, frame);
        br.push(bid);
        if whole {
            self.answer_now(now)?;
        }
        Ok(true)
    }

    /// The fallback's readiness poll fired: reads a batch. True if it did.
    fn complete_rx_poll(&mut self, now: Instant, res: i32, flags: u32) -> io::Result<bool> {
        if !io_uring::cqueue::more(flags) {
            self.rx_armed = false;
        }
        if res < 0 {
            return Ok(false);
        }
        self.read_batch(now)?;
        Ok(true)
    }

    /// A write to the device completed: its buffer goes back to the pool.
    fn complete_tx(&mut self, ud: u64, res: i32) {
        self.tx.give((ud & 0xffff) as u16);
        self.tx_inflight -= 1;
        if res < 0 {
            self.stats.write_errors += 1;
        } else {
            self.stats.packets_written += 1;
            self.stats.bytes_written += res as u64;
        }
    }

    /// Another thread woke the loop: the handler hears of it this turn.
    fn complete_wake(&mut self, flags: u32) {
        if !io_uring::cqueue::more(flags) {
            self.wake_armed = false;
        }
        uring::eventfd_drain(&self.wake_fd);
        self.woke = true;
    }

    /// Whether this turn was bulk, given the bytes read before it began,
    /// and whether the bulk spin that preceded it was a hit.
    fn account_bulk(&mut self, read_before: u64) {
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
    }
}
