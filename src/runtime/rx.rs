//! The receive side: how TUN reads stay armed (a multishot read over a
//! buffer ring, or a readiness poll followed by a batch of plain reads).

use super::Driver;
use super::ring::{TAG_RX_MULTI, TAG_RX_POLL};
use super::uring::BufRing;
use crate::time::Instant;
use io_uring::{opcode, types};
use std::io;
use std::os::fd::AsRawFd;

/// Plain reads per readiness notification in the fallback mode.
const FALLBACK_BATCH: usize = 64;

pub(super) enum Rx {
    Multi(BufRing),
    /// Poll for readiness, then read in a batch into this buffer.
    Poll(Vec<u8>),
}

impl Driver {
    pub(super) fn arm_rx(&mut self) -> io::Result<()> {
        if self.rx_armed {
            return Ok(());
        }
        let fd = types::Fd(self.tun.as_raw_fd());
        let sqe = match &self.rx {
            // Length 0: each read takes the whole selected buffer (the
            // kernel refuses a length with multishot reads: EINVAL).
            Rx::Multi(br) => opcode::ReadMulti::new(fd, 0, br.bgid)
                .build()
                .user_data(TAG_RX_MULTI),
            Rx::Poll(_) => opcode::PollAdd::new(fd, libc::POLLIN as u32)
                .multi(true)
                .build()
                .user_data(TAG_RX_POLL),
        };
        self.push_sqe(&sqe)?;
        self.rx_armed = true;
        Ok(())
    }

    /// The poll-and-read fallback: reads up to a batch of packets. A poll
    /// completion comes with a wake-up, not with each packet, so what a full
    /// batch leaves behind is read on the next turn, which does not sleep
    /// first (`rx_leftover`).
    pub(super) fn read_batch(&mut self, now: Instant) -> io::Result<()> {
        let Rx::Poll(buf) = &mut self.rx else {
            self.rx_leftover = false;
            return Ok(());
        };
        let mut whole = false;
        self.rx_leftover = true;
        for _ in 0..FALLBACK_BATCH {
            match self.tun.read(buf) {
                Ok(n) => {
                    whole |=
                        self.edge
                            .receive(&mut self.stack, &mut self.stats, now, &mut buf[..n]);
                }
                // Interrupted: the packets are still there, read on next turn.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        self.stats.read_errors += 1;
                    }
                    self.rx_leftover = false;
                    break;
                }
            }
        }
        if whole {
            self.answer_now(now)?;
        }
        Ok(())
    }
}
