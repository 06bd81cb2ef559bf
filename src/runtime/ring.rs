//! Talking to the io_uring: the tags that say which operation a completion
//! belongs to, pushing and submitting entries, arming the wake-up poll, and
//! waiting for completions (sleeping, or spinning when configured to).

use super::Driver;
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

// user_data tags (top byte) for completions.
const TAG_SHIFT: u32 = 56;
pub(super) const TAG_RX_MULTI: u64 = 1 << TAG_SHIFT;
pub(super) const TAG_RX_POLL: u64 = 2 << TAG_SHIFT;
pub(super) const TAG_TX: u64 = 3 << TAG_SHIFT;
pub(super) const TAG_WAKE: u64 = 4 << TAG_SHIFT;
pub(super) const TAG_CANCEL: u64 = 5 << TAG_SHIFT;
pub(super) const TAG_MASK: u64 = 0xff << TAG_SHIFT;
/// `IORING_ENTER_GETEVENTS`: run deferred task work and post completions.
const IORING_ENTER_GETEVENTS: u32 = 1;

impl Driver {
    pub(super) fn push_sqe(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry pushed refers to memory that outlives the
            // operation: the buffer ring and transmit pool are owned by this
            // driver and freed only after `drain` has seen every completion.
            let pushed = unsafe { self.ring.submission().push(sqe).is_ok() };
            if pushed {
                return Ok(());
            }
            // Queue full: hand what we have to the kernel, then retry.
            self.submit()?;
        }
    }

    pub(super) fn submit(&mut self) -> io::Result<()> {
        self.stats.submits += 1;
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // The completion queue is full: move its entries aside for
                // the next reap (not processed here: submit runs inside
                // reap and wait), then try again.
                self.stash_completions();
                self.ring.submit().map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every posted completion into `stashed`, unprocessed.
    fn stash_completions(&mut self) {
        self.stashed.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
    }

    pub(super) fn arm_wake(&mut self) -> io::Result<()> {
        if self.wake_armed {
            return Ok(());
        }
        let sqe = opcode::PollAdd::new(types::Fd(self.wake_fd.as_raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(TAG_WAKE);
        self.push_sqe(&sqe)?;
        self.wake_armed = true;
        Ok(())
    }

    /// Watches the rings until a completion is there to reap (true) or
    /// `limit` has passed since `start` (false).
    fn spin_for(&mut self, start: std::time::Instant, limit: Duration) -> io::Result<bool> {
        loop {
            if !self.ring.completion().is_empty() || !self.stashed.is_empty() {
                return Ok(true);
            }
            if !self.taskrun_flag || self.ring.submission().taskrun() {
                // Completions wait as deferred task work: an enter with
                // GETEVENTS that waits for nothing has them posted.
                self.stats.submits += 1;
                // SAFETY: no submissions, no argument: the call only runs
                // task work and flushes completions.
                let r = unsafe {
                    self.ring.submitter().enter::<libc::sigset_t>(
                        0,
                        0,
                        IORING_ENTER_GETEVENTS,
                        None,
                    )
                };
                if let Err(e) = r
                    && !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY))
                {
                    return Err(e);
                }
                if !self.ring.completion().is_empty() {
                    return Ok(true);
                }
            }
            // A clock read is tens of nanoseconds, small beside the yield
            // below: a 10 µs spin ends after 10 µs, not 32 yields.
            if start.elapsed() >= limit {
                return Ok(false);
            }
            // Yield rather than spin: a peer sharing this core (a pinned
            // benchmark, the kernel's side of a TUN) gets to run. Measured
            // pinned to one core, p99.9: 217 us spinning, ~50 yielding; on
            // two cores p50 stays 17 us either way.
            std::thread::yield_now();
        }
    }

    /// Submits this turn's operations and sleeps until a completion arrives
    /// or `timeout` passes.
    pub(super) fn wait(&mut self, mut timeout: Option<Duration>) -> io::Result<()> {
        if !self.stashed.is_empty() || self.rx_leftover {
            // Completions, or packets, are waiting already: do not sleep.
            timeout = Some(Duration::ZERO);
        }
        let bulk = self.cfg.busy_poll.is_none() && self.bulk_turn;
        let spin = match bulk {
            true => self.cfg.bulk_spin,
            false => self.cfg.busy_poll,
        };
        if let Some(spin) = spin
            && timeout.is_none_or(|t| !t.is_zero())
            && self.stop.is_none()
        {
            // Hand this turn's submissions over, then watch the rings in
            // shared memory: no system call and no wake-up until there is
            // something to reap.
            self.submit()?;
            let start = std::time::Instant::now();
            let limit = timeout.map_or(spin, |t| t.min(spin));
            if bulk {
                self.stats.bulk_spins += 1;
            }
            if self.spin_for(start, limit)? {
                // A bulk spin's hit is counted by the reap that follows, if
                // it reads data: the first completion is often our write's.
                match bulk {
                    true => self.spin_ended_on_completion = true,
                    false => self.stats.busy_poll_hits += 1,
                }
                return Ok(());
            }
            timeout = timeout.map(|t| t.saturating_sub(start.elapsed()));
            // A spin cut short by a timer that falls due is not the end of
            // the bulk transfer; a whole one is.
            if bulk && limit == spin {
                self.bulk_turn = false;
                self.stats.bulk_spin_misses += 1;
            }
        }
        self.stats.submits += 1;
        let res = match timeout {
            Some(t) if t.is_zero() => self.ring.submit(),
            Some(t) => {
                let ts = types::Timespec::new()
                    .sec(t.as_secs())
                    .nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
