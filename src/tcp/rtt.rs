//! Retransmission timeout per RFC 6298.
//!
//! SRTT and RTTVAR follow (2.2) and (2.3) with alpha = 1/8 and beta = 1/4;
//! RTO = SRTT + max(G, 4 * RTTVAR), clamped to [min_rto, max_rto]. The clock
//! granularity G is 1 ms (the timer wheel's). Karn's rule (section 3) is
//! applied by the caller: samples come only from segments that were not
//! retransmitted. Backoff (5.5) doubles the RTO up to the ceiling.

use crate::time::Instant;
use crate::wire::SeqNum;
use std::time::Duration;

const GRANULARITY: Duration = Duration::from_millis(1);
/// RFC 6298 5.7: the RTO once data flows after a SYN timed out.
const SYN_FALLBACK_RTO: Duration = Duration::from_secs(3);

/// SRTT, RTTVAR and the RTO with its exponential backoff (RFC 6298).
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// RTO before backoff.
    base_rto: Duration,
    /// Number of consecutive backoffs applied.
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    /// (2.1): until a measurement is made, RTO is the initial value (1 s).
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: initial_rto.clamp(min_rto, max_rto),
            backoff: 0,
            min_rto,
            max_rto,
        }
    }

    /// Feeds one round-trip measurement.
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                // (2.2)
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // (2.3): RTTVAR first, with the old SRTT.
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        let rto = srtt + GRANULARITY.max(self.rttvar * 4);
        // (2.4) and (2.5): the floor and the ceiling.
        self.base_rto = rto.clamp(self.min_rto, self.max_rto);
        // A new sample ends any backoff (5.7 keeps the backed-off value only
        // until then).
        self.backoff = 0;
    }

    /// The current RTO, backoff included.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        (self.base_rto * factor).min(self.max_rto)
    }

    /// (5.5): double the RTO after a timeout.
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// (5.7): the handshake is complete after a SYN (or SYN-ACK) timed out
    /// and no round trip could be measured: the RTO starts from 3 s for the
    /// data, not from the backed-off SYN timer nor the 1 s initial value.
    /// A measured connection keeps its own RTO, as Linux does.
    pub fn after_syn_timeout(&mut self) {
        if self.srtt.is_none() && self.backoff > 0 {
            self.base_rto = SYN_FALLBACK_RTO.clamp(self.min_rto, self.max_rto);
            self.backoff = 0;
        }
    }

    /// Smoothed RTT; `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation; zero before the first sample.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Consecutive backoffs since the last sample (RFC 6298 5.5).
    pub fn backoffs(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn initial_rto_is_one_second() {
        assert_eq!(est().rto(), Duration::from_secs(1));
    }

    #[test]
    fn first_sample() {
        let mut e = est();
        e.sample(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar(), Duration::from_millis(50));
        // 100 + 4 * 50 = 300 ms
        assert_eq!(e.rto(), Duration::from_millis(300));
    }

    #[test]
    fn floor_applies() {
        let mut e = est();
        for _ in 0..50 {
            e.sample(Duration::from_millis(1));
        }
        assert_eq!(e.rto(), Duration::from_millis(200));
    }

    #[test]
    fn backoff_doubles_up_to_ceiling() {
        let mut e = est();
        e.back_off();
        assert_eq!(e.rto(), Duration::from_secs(2));
        for _ in 0..10 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.rto(), Duration::from_millis(300));
    }

    #[test]
    fn smoothing() {
        let mut e = est();
        e.sample(Duration::from_millis(100));
        e.sample(Duration::from_millis(200));
        // rttvar = (3*50 + 100)/4 = 62.5; srtt = (7*100+200)/8 = 112.5
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
    }
}

/// Segments being timed: (the sequence number that ACKs each, send time),
/// oldest first, in a fixed ring so timing costs no allocation. Karn's
/// rule: the ring is emptied whenever anything is retransmitted.
#[derive(Debug, Clone, Default)]
pub(crate) struct RttProbes {
    q: [(SeqNum, Instant); RttProbes::SLOTS],
    head: usize,
    len: usize,
}

impl RttProbes {
    pub(crate) const SLOTS: usize = 8;

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn last(&self) -> Option<SeqNum> {
        (self.len > 0).then(|| self.q[(self.head + self.len - 1) % Self::SLOTS].0)
    }

    /// The oldest segment being timed.
    pub(crate) fn oldest(&self) -> Option<(SeqNum, Instant)> {
        (self.len > 0).then(|| self.q[self.head])
    }

    pub(crate) fn push(&mut self, seq: SeqNum, t: Instant) {
        if self.len < Self::SLOTS {
            self.q[(self.head + self.len) % Self::SLOTS] = (seq, t);
            self.len += 1;
        }
    }

    /// Drops every probe `ack` covers; the send time of the newest of them.
    pub(crate) fn take_acked(&mut self, ack: SeqNum) -> Option<Instant> {
        let mut sent = None;
        while self.len > 0 && self.q[self.head].0 <= ack {
            sent = Some(self.q[self.head].1);
            self.head = (self.head + 1) % Self::SLOTS;
            self.len -= 1;
        }
        sent
    }
}
