//! Congestion control behind one small trait.
//!
//! The loss-recovery machinery (duplicate-ACK counting, fast retransmit,
//! NewReno's recovery point, RTO go-back-N) lives in the connection; an
//! algorithm only decides how the congestion window moves on each kind of
//! event, so a new algorithm plugs in without touching the state machine.

use crate::time::Instant;
use std::time::Duration;

/// Which algorithm a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgorithm {
    /// RFC 5681 slow start and congestion avoidance with RFC 6582 recovery.
    #[default]
    NewReno,
}

impl core::fmt::Display for CcAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CcAlgorithm::NewReno => f.write_str("newreno"),
        }
    }
}

/// How a congestion window reacts to the events the connection reports.
pub trait CongestionControl: core::fmt::Debug {
    /// `acked` new bytes were acknowledged outside loss recovery.
    fn on_ack(&mut self, now: Instant, acked: usize, flight: usize, srtt: Option<Duration>);
    /// Loss detected by duplicate ACKs or SACK: entering fast recovery.
    fn on_congestion(&mut self, now: Instant, flight: usize);
    /// Recovery ended (the ACK covered the recovery point).
    fn on_recovery_end(&mut self, now: Instant, flight: usize);
    /// The retransmission timer expired.
    fn on_rto(&mut self, now: Instant, flight: usize);
    /// The connection sat idle for longer than an RTO (RFC 5681 4.1).
    fn on_idle_restart(&mut self);
    fn cwnd(&self) -> usize;
    /// Temporarily inflate or deflate during recovery (RFC 6582 3.2).
    fn set_cwnd(&mut self, cwnd: usize);
    fn ssthresh(&self) -> usize;
    fn algorithm(&self) -> CcAlgorithm;
}

/// RFC 5681 / RFC 6582.
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged during congestion avoidance since cwnd last grew
    /// (RFC 5681 3.1, the byte-counting form of equation 3).
    ca_acked: usize,
}

impl NewReno {
    pub fn new(mss: usize) -> NewReno {
        NewReno {
            mss,
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            ca_acked: 0,
        }
    }
}

/// RFC 6928: an initial window of ten segments (capped at 14600 bytes).
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min(14600.max(2 * mss))
}

impl CongestionControl for NewReno {
    fn on_ack(&mut self, _now: Instant, acked: usize, _flight: usize, _srtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            // Slow start, with appropriate byte counting capped at 2 SMSS
            // per ACK (RFC 3465 L=2).
            self.cwnd += acked.min(2 * self.mss);
        } else {
            self.ca_acked += acked;
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd += self.mss;
            }
        }
    }

    fn on_congestion(&mut self, _now: Instant, flight: usize) {
        // RFC 5681 (4)
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh + 3 * self.mss;
        self.ca_acked = 0;
    }

    fn on_recovery_end(&mut self, _now: Instant, flight: usize) {
        // RFC 6582 3.2 (3), option 1 guarded as the RFC suggests.
        self.cwnd = self.ssthresh.min(flight.max(self.mss) + self.mss);
    }

    fn on_rto(&mut self, _now: Instant, flight: usize) {
        // RFC 5681 (4) and the loss window of one segment.
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.ca_acked = 0;
    }

    fn on_idle_restart(&mut self) {
        self.cwnd = self.cwnd.min(initial_window(self.mss));
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn set_cwnd(&mut self, cwnd: usize) {
        self.cwnd = cwnd.max(self.mss);
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::NewReno
    }
}

/// Builds the algorithm a connection asked for.
pub fn new_controller(algo: CcAlgorithm, mss: usize) -> Box<dyn CongestionControl + Send> {
    match algo {
        CcAlgorithm::NewReno => Box::new(NewReno::new(mss)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_avoidance() {
        let mut cc = NewReno::new(1000);
        assert_eq!(cc.cwnd(), 10_000);
        cc.on_ack(Instant::ZERO, 1000, 0, None);
        assert_eq!(cc.cwnd(), 11_000);
        cc.on_rto(Instant::ZERO, 20_000);
        assert_eq!(cc.cwnd(), 1000);
        assert_eq!(cc.ssthresh(), 10_000);
        for _ in 0..9 {
            cc.on_ack(Instant::ZERO, 1000, 0, None);
        }
        assert_eq!(cc.cwnd(), 10_000);
        // Now in congestion avoidance: one MSS per cwnd of ACKed bytes.
        for _ in 0..10 {
            cc.on_ack(Instant::ZERO, 1000, 0, None);
        }
        assert_eq!(cc.cwnd(), 11_000);
    }

    #[test]
    fn fast_recovery_halves() {
        let mut cc = NewReno::new(1000);
        cc.on_congestion(Instant::ZERO, 40_000);
        assert_eq!(cc.ssthresh(), 20_000);
        assert_eq!(cc.cwnd(), 23_000);
        cc.on_recovery_end(Instant::ZERO, 30_000);
        assert_eq!(cc.cwnd(), 20_000);
    }
}
