//! A connection's timers (RFC 9293 3.8, RFC 6298, RFC 1122 4.2.3.6,
//! RFC 8985 6 and 7): one table of deadlines keyed by [`Timer`], with one place
//! that computes the next deadline, and what each timer does when it
//! fires.

use super::*;
use crate::tcp::Keepalive;
use crate::time::PackedInstant;

/// The timers a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Retransmission timeout (RFC 6298).
    Rto,
    /// Delayed ACK (RFC 9293 3.8.6.3, RFC 5681 4.2).
    DelayedAck,
    /// Zero-window probe (RFC 9293 3.8.6.1).
    Persist,
    /// Keepalive probe (RFC 1122 4.2.3.6).
    Keepalive,
    /// Tail loss probe (RFC 8985 7.2).
    Tlp,
    /// RACK reorder timer (RFC 8985 6.2 step 5): a segment sent before
    /// the last one delivered becomes overdue.
    Rack,
    /// How long an orphaned connection waits in FIN-WAIT-2 for the peer's
    /// FIN (Linux's `tcp_fin_timeout`).
    FinWait2,
}

impl Timer {
    const COUNT: usize = 7;
}

/// Deadlines by timer kind, packed ([`PackedInstant`]: none when a timer
/// is not running).
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    at: [PackedInstant; Timer::COUNT],
    /// Zero-window probes sent without the window opening (backoff).
    pub(super) persist_backoff: u32,
    /// Keepalive probes sent without an answer.
    pub(super) keepalive_sent: u32,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            at: [PackedInstant::NONE; Timer::COUNT],
            persist_backoff: 0,
            keepalive_sent: 0,
        }
    }
}

impl Timers {
    /// Starts (or restarts) `t` to fire at `at`.
    pub(crate) fn arm(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = PackedInstant::new(at);
    }

    /// Starts `t` unless it is running already.
    pub(crate) fn arm_if_idle(&mut self, t: Timer, at: Instant) {
        if !self.is_armed(t) {
            self.arm(t, at);
        }
    }

    pub(crate) fn cancel(&mut self, t: Timer) {
        self.at[t as usize] = PackedInstant::NONE;
    }

    /// Stops every timer.
    pub(crate) fn clear(&mut self) {
        self.at = [PackedInstant::NONE; Timer::COUNT];
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize].get()
    }

    pub(crate) fn is_armed(&self, t: Timer) -> bool {
        self.at[t as usize].is_some()
    }

    /// `t` is running and its deadline has come.
    pub(crate) fn is_due(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }

    /// Stops `t` if it is due; true if it was.
    pub(crate) fn take_due(&mut self, t: Timer, now: Instant) -> bool {
        let due = self.is_due(t, now);
        if due {
            self.cancel(t);
        }
        due
    }

    /// The earliest deadline of all (none sorts last).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().min().and_then(|at| at.get())
    }
}

impl Tcb {
    pub(crate) fn clear_timers(&mut self) {
        self.timers.clear();
    }

    pub(crate) fn arm_keepalive(&mut self, now: Instant) {
        if let Some(Keepalive { idle, .. }) = self.cfg.keepalive {
            self.timers.arm(Timer::Keepalive, now + idle);
        }
    }

    /// Zero-window probing (RFC 9293 3.8.6.1), and the override timeout
    /// of sender silly-window avoidance (RFC 1122 4.2.3.4): armed while
    /// data waits with nothing in flight and the peer's window cannot take
    /// a full segment (nor all that waits). A window that is closed gets
    /// probes; one that is open but small gets what fits when the timer
    /// fires (`poll_probe`), as Linux's tcp_write_wakeup does. Without it
    /// a window left small (by a peer, or by a forged segment the window
    /// rule of RFC 9293 3.10.7.4 trusted) held the data forever: no data
    /// in flight, so no ACK would come to open it.
    pub(crate) fn update_persist(&mut self, now: Instant) {
        let unsent = self.snd.unsent();
        let held = (self.snd.wnd as usize) < unsent.min(self.snd.mss);
        if held && unsent > 0 && self.snd.max == self.snd.una {
            let at = now + self.persist_interval();
            self.timers.arm_if_idle(Timer::Persist, at);
        } else {
            self.timers.cancel(Timer::Persist);
            self.timers.persist_backoff = 0;
        }
    }

    pub(super) fn persist_interval(&self) -> Duration {
        let base = self.rtt.rto().max(self.cfg.min_rto);
        (base * (1u32 << self.timers.persist_backoff.min(16))).min(self.cfg.max_rto)
    }

    /// The earliest deadline among this connection's timers.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Runs the timers that are due. Returns an error if the connection
    /// gave up. (FIN-WAIT-2's timer is the state's own: see
    /// `Conn::handle_timeout`.)
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        syn_state: bool,
    ) -> Result<(), ConnError> {
        if self.timers.take_due(Timer::DelayedAck, now) {
            self.ack_now = true;
        }
        // A probe due with the RTO goes in its place (RFC 8985 7.2, 7.3);
        // RACK's timer marks losses before the RTO would.
        if self.timers.take_due(Timer::Tlp, now) {
            self.on_tlp_timeout(now);
        }
        if self.timers.take_due(Timer::Rack, now) {
            self.on_rack_timeout(now);
        }
        if self.timers.is_due(Timer::Rto, now) {
            self.on_rto(now, syn_state)?;
        }
        if self.timers.is_due(Timer::Persist, now) {
            self.probe_pending = true;
            self.stats.zero_window_probes += 1;
            self.timers.persist_backoff += 1;
            self.timers
                .arm(Timer::Persist, now + self.persist_interval());
        }
        if self.timers.is_due(Timer::Keepalive, now)
            && let Some(ka) = self.cfg.keepalive
        {
            if self.timers.keepalive_sent >= ka.probes {
                return Err(self.soft_error.unwrap_or(ConnError::TimedOut));
            }
            self.timers.keepalive_sent += 1;
            self.probe_pending = true;
            self.timers.arm(Timer::Keepalive, now + ka.interval);
        }
        Ok(())
    }

    /// RFC 6298 5.4-5.7: the retransmission timer expired. Gives up after
    /// `syn_retries` (SYN-SENT), `synack_retries` (SYN-RECEIVED: the
    /// peer's SYN is in) or `max_retries`; otherwise backs off,
    /// collapses the window (RFC 5681 (4)) and goes back to SND.UNA.
    pub(super) fn on_rto(&mut self, now: Instant, syn_state: bool) -> Result<(), ConnError> {
        let limit = if syn_state && self.opt.has_peer_syn() {
            self.cfg.synack_retries
        } else if syn_state {
            self.cfg.syn_retries
        } else {
            self.cfg.max_retries
        };
        if self.retries >= limit {
            return Err(self.soft_error.unwrap_or(ConnError::TimedOut));
        }
        self.retries += 1;
        self.stats.timeouts += 1;
        self.rtt.back_off();
        if !syn_state {
            if self.rec.undo.is_none() || self.rec.in_recovery() {
                self.rec.undo = Some((self.cc.cwnd(), self.cc.ssthresh()));
                self.rec.episode_rtx = 0;
                self.rec.episode_dsack = 0;
            }
            self.cc.on_rto(now, self.snd.flight());
        }
        self.rec.recover = None;
        self.go_back_to_una(now);
        // RFC 6675 5.1: the go-back-N resend skips what the peer has
        // SACKed. After a second timeout in a row the SACK information
        // is dropped (RFC 2018 8: the receiver may have reneged).
        if self.retries >= 2 {
            self.rec.scoreboard.clear();
        }
        if syn_state {
            self.syn_pending = true;
        }
        Ok(())
    }

    /// RFC 8985 7.3: the probe timeout fired; a probe goes out on the next
    /// poll, and the RTO runs again from now (the probe may stand in for
    /// it). No probe if recovery started, nothing is in flight, or no RTT
    /// sample came since the last probe: then the RTO keeps its deadline
    /// (from the oldest data, as Linux re-arms it), which a probe capped
    /// at the RTO shares.
    pub(super) fn on_tlp_timeout(&mut self, now: Instant) {
        if self.snd.max == self.snd.una || self.rec.in_recovery() || self.rec.tlp_need_rtt {
            return;
        }
        self.rec.tlp_pending = true;
        self.rec.tlp_out = true;
        self.rec.tlp_need_rtt = true;
        self.stats.tlp_probes += 1;
        self.timers.arm(Timer::Rto, now + self.rtt.rto());
    }
}

/// The deadline table on its own (issue 11).
#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn arm_restarts_and_cancel_stops() {
        // RFC 6298 5.1/5.3: the retransmission timer is started, restarted
        // ("with a timeout of RTO") and turned off; restarting replaces the
        // deadline, whichever is earlier.
        let mut tm = Timers::default();
        assert!(!tm.is_armed(Timer::Rto));
        assert_eq!(tm.get(Timer::Rto), None);
        tm.arm(Timer::Rto, t(100));
        assert_eq!(tm.get(Timer::Rto), Some(t(100)));
        tm.arm(Timer::Rto, t(300));
        assert_eq!(tm.get(Timer::Rto), Some(t(300)));
        tm.arm(Timer::Rto, t(50));
        assert_eq!(tm.get(Timer::Rto), Some(t(50)));
        // Timers are independent.
        assert!(!tm.is_armed(Timer::DelayedAck));
        tm.cancel(Timer::Rto);
        assert!(!tm.is_armed(Timer::Rto));
        tm.cancel(Timer::Rto);
        assert_eq!(tm.get(Timer::Rto), None);
    }

    #[test]
    fn arm_if_idle_keeps_a_running_deadline() {
        // RFC 6298 5.1: "if the timer is not running, start it" - a
        // running timer is not pushed back (the persist and delayed-ACK
        // timers are armed the same way).
        let mut tm = Timers::default();
        tm.arm_if_idle(Timer::Persist, t(200));
        assert_eq!(tm.get(Timer::Persist), Some(t(200)));
        tm.arm_if_idle(Timer::Persist, t(500));
        assert_eq!(tm.get(Timer::Persist), Some(t(200)));
        tm.arm_if_idle(Timer::Persist, t(100));
        assert_eq!(tm.get(Timer::Persist), Some(t(200)));
        tm.cancel(Timer::Persist);
        tm.arm_if_idle(Timer::Persist, t(500));
        assert_eq!(tm.get(Timer::Persist), Some(t(500)));
    }

    #[test]
    fn is_due_from_the_deadline_on() {
        // A timer expires when its deadline is reached (RFC 6298 5.4:
        // "when the retransmission timer expires"), not a tick later.
        let mut tm = Timers::default();
        assert!(!tm.is_due(Timer::Rto, t(1_000_000)));
        tm.arm(Timer::Rto, t(100));
        assert!(!tm.is_due(Timer::Rto, t(99)));
        assert!(!tm.is_due(Timer::Rto, Instant::from_micros(99_999)));
        assert!(tm.is_due(Timer::Rto, t(100)));
        assert!(tm.is_due(Timer::Rto, t(500)));
        // is_due does not stop it.
        assert!(tm.is_armed(Timer::Rto));
    }

    #[test]
    fn take_due_stops_only_a_due_timer() {
        // One-shot timers (delayed ACK, RFC 9293 3.8.6.3; TLP, RFC 8985
        // 7.3) fire once and stop; a timer not yet due keeps running.
        let mut tm = Timers::default();
        assert!(!tm.take_due(Timer::DelayedAck, t(10)));
        tm.arm(Timer::DelayedAck, t(40));
        assert!(!tm.take_due(Timer::DelayedAck, t(39)));
        assert_eq!(tm.get(Timer::DelayedAck), Some(t(40)));
        assert!(tm.take_due(Timer::DelayedAck, t(40)));
        assert!(!tm.is_armed(Timer::DelayedAck));
        assert!(!tm.take_due(Timer::DelayedAck, t(41)));
    }

    #[test]
    fn next_is_the_earliest_running_deadline() {
        // RFC 9293 3.8: the connection wakes for whichever timer is first.
        let mut tm = Timers::default();
        assert_eq!(tm.next(), None);
        tm.arm(Timer::Keepalive, t(7200));
        tm.arm(Timer::Rto, t(300));
        tm.arm(Timer::DelayedAck, t(40));
        tm.arm(Timer::FinWait2, t(60_000));
        assert_eq!(tm.next(), Some(t(40)));
        tm.cancel(Timer::DelayedAck);
        assert_eq!(tm.next(), Some(t(300)));
        // The last kind in the table counts as well.
        tm.arm(Timer::FinWait2, t(1));
        assert_eq!(tm.next(), Some(t(1)));
        tm.arm(Timer::Tlp, Instant::ZERO);
        assert_eq!(tm.next(), Some(Instant::ZERO));
    }

    #[test]
    fn clear_stops_every_timer() {
        // RFC 9293 3.10.7.1 (RST) and CLOSED: all timers are turned off.
        let mut tm = Timers::default();
        for (i, k) in [
            Timer::Rto,
            Timer::DelayedAck,
            Timer::Persist,
            Timer::Keepalive,
            Timer::Tlp,
            Timer::Rack,
            Timer::FinWait2,
        ]
        .into_iter()
        .enumerate()
        {
            tm.arm(k, t(i as u64 + 1));
            assert!(tm.is_armed(k));
        }
        assert_eq!(tm.next(), Some(t(1)));
        tm.clear();
        assert_eq!(tm.next(), None);
        assert!(!tm.is_due(Timer::Rto, t(1_000_000)));
    }
}
