//! Retransmission timeout per RFC 6298.
//!
//! SRTT and RTTVAR follow (2.2) and (2.3) with alpha = 1/8 and beta = 1/4;
//! RTO = SRTT + max(G, 4 * RTTVAR), clamped to [min_rto, max_rto]. The clock
//! granularity G is 1 ms (the timer wheel's). Karn's rule (section 3) is
//! applied by the caller: samples come only from segments that were not
//! retransmitted. Backoff (5.5) doubles the RTO up to the ceiling.

use crate::time::PackedDuration;
use std::time::Duration;

const GRANULARITY: Duration = Duration::from_millis(1);
/// RFC 6298 5.7: the RTO once data flows after a SYN timed out.
const SYN_FALLBACK_RTO: Duration = Duration::from_secs(3);

/// SRTT, RTTVAR and the RTO with its exponential backoff (RFC 6298).
///
/// Durations are packed (`time::PackedDuration`: half the room of a
/// `Duration`); the arithmetic is done on `Duration`s.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    /// SRTT; none before the first measurement.
    srtt: PackedDuration,
    rttvar: PackedDuration,
    /// RTO before backoff.
    base_rto: PackedDuration,
    min_rto: PackedDuration,
    max_rto: PackedDuration,
    /// Number of consecutive backoffs applied.
    backoff: u32,
}

impl RttEstimator {
    /// (2.1): until a measurement is made, RTO is the initial value (1 s).
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt: PackedDuration::NONE,
            rttvar: PackedDuration::new(Duration::ZERO),
            base_rto: PackedDuration::new(initial_rto.clamp(min_rto, max_rto)),
            min_rto: PackedDuration::new(min_rto),
            max_rto: PackedDuration::new(max_rto),
            backoff: 0,
        }
    }

    fn clamp(&self, rto: Duration) -> PackedDuration {
        PackedDuration::new(rto.clamp(self.min_rto.or_zero(), self.max_rto.or_zero()))
    }

    /// Feeds one round-trip measurement.
    pub fn sample(&mut self, rtt: Duration) {
        let (srtt, rttvar) = match self.srtt() {
            // (2.2)
            None => (rtt, rtt / 2),
            Some(srtt) => {
                // (2.3): RTTVAR first, with the old SRTT.
                let delta = srtt.abs_diff(rtt);
                ((srtt * 7 + rtt) / 8, (self.rttvar() * 3 + delta) / 4)
            }
        };
        self.srtt = PackedDuration::new(srtt);
        self.rttvar = PackedDuration::new(rttvar);
        // (2.4) and (2.5): the floor and the ceiling.
        self.base_rto = self.clamp(srtt + GRANULARITY.max(rttvar * 4));
        // A new sample ends any backoff (5.7 keeps the backed-off value only
        // until then).
        self.backoff = 0;
    }

    /// The current RTO, backoff included.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        (self.base_rto.or_zero() * factor).min(self.max_rto.or_zero())
    }

    /// (5.5): double the RTO after a timeout.
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// (5.7): the handshake is complete after a SYN (or SYN-ACK) timed out
    /// and no round trip could be measured: the RTO starts from 3 s for the
    /// data, not from the backed-off SYN timer nor the 1 s initial value.
    /// Only an RTO below 3 s is raised ("if ... using an RTO less than 3
    /// seconds"): a larger configured initial RTO stays. A measured
    /// connection keeps its own RTO, as Linux does.
    pub fn after_syn_timeout(&mut self) {
        if self.srtt.get().is_none() && self.backoff > 0 {
            self.base_rto = self.clamp(SYN_FALLBACK_RTO.max(self.base_rto.or_zero()));
            self.backoff = 0;
        }
    }

    /// Smoothed RTT; `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.get()
    }

    /// RTT variation; zero before the first sample.
    pub fn rttvar(&self) -> Duration {
        self.rttvar.or_zero()
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

/// RFC 6298 arithmetic of [`RttEstimator`], checked on
/// values chosen so that every step is exact (issue 11: each TCB part on
/// its own). Named apart from `tests` above, which covers the basics.
#[cfg(test)]
mod rfc6298_tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn est(initial: u64, min: u64, max: u64) -> RttEstimator {
        RttEstimator::new(ms(initial), ms(min), ms(max))
    }

    #[test]
    fn initial_rto_is_clamped_to_floor_and_ceiling() {
        // RFC 6298 (2.1) sets RTO to 1 s before any sample; (2.4)/(2.5)
        // bound every RTO value by the floor and the ceiling.
        assert_eq!(est(100, 200, 60_000).rto(), ms(200));
        assert_eq!(est(90_000, 200, 60_000).rto(), ms(60_000));
        let e = est(1000, 200, 60_000);
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
        assert_eq!(e.backoffs(), 0);
    }

    #[test]
    fn first_sample_sets_srtt_rttvar_and_rto() {
        // RFC 6298 (2.2): SRTT <- R, RTTVAR <- R/2,
        // RTO <- SRTT + max(G, K*RTTVAR) with K = 4: 400 + 4*200 = 1200 ms.
        let mut e = est(1000, 0, 60_000);
        e.sample(ms(400));
        assert_eq!(e.srtt(), Some(ms(400)));
        assert_eq!(e.rttvar(), ms(200));
        assert_eq!(e.rto(), ms(1200));
    }

    #[test]
    fn first_sample_rto_is_clamped() {
        // RFC 6298 (2.4): 10 + 4*5 = 30 ms is raised to the 200 ms floor;
        // (2.5): 30 s + 4*15 s = 90 s is cut to the 60 s ceiling.
        let mut e = est(1000, 200, 60_000);
        e.sample(ms(10));
        assert_eq!(e.rto(), ms(200));
        let mut e = est(1000, 200, 60_000);
        e.sample(ms(30_000));
        assert_eq!(e.srtt(), Some(ms(30_000)));
        assert_eq!(e.rttvar(), ms(15_000));
        assert_eq!(e.rto(), ms(60_000));
    }

    #[test]
    fn later_samples_use_alpha_eighth_beta_quarter() {
        // RFC 6298 (2.3), RTTVAR updated first with the old SRTT:
        // RTTVAR <- 3/4 * RTTVAR + 1/4 * |SRTT - R'|
        // SRTT   <- 7/8 * SRTT + 1/8 * R'
        let mut e = est(1000, 0, 60_000);
        e.sample(ms(800)); // SRTT 800, RTTVAR 400
        e.sample(ms(1600));
        // RTTVAR = 3/4*400 + 1/4*|800-1600| = 300 + 200 = 500
        // SRTT   = 7/8*800 + 1/8*1600 = 700 + 200 = 900
        // RTO    = 900 + 4*500 = 2900
        assert_eq!(e.rttvar(), ms(500));
        assert_eq!(e.srtt(), Some(ms(900)));
        assert_eq!(e.rto(), ms(2900));
        // A sample below SRTT: |900 - 100| = 800.
        e.sample(ms(100));
        // RTTVAR = 3/4*500 + 1/4*800 = 375 + 200 = 575
        // SRTT   = 7/8*900 + 1/8*100 = 787.5 + 12.5 = 800
        // RTO    = 800 + 4*575 = 3100
        assert_eq!(e.rttvar(), ms(575));
        assert_eq!(e.srtt(), Some(ms(800)));
        assert_eq!(e.rto(), ms(3100));
    }

    #[test]
    fn rttvar_uses_old_srtt() {
        // RFC 6298 (2.3) note: RTTVAR must be computed with the SRTT from
        // before this sample. With the new SRTT (7/8*80 + 1/8*160 = 90)
        // RTTVAR would be 3/4*40 + 1/4*70 = 47.5 instead of 50.
        let mut e = est(1000, 0, 60_000);
        e.sample(ms(80));
        e.sample(ms(160));
        assert_eq!(e.srtt(), Some(ms(90)));
        assert_eq!(e.rttvar(), ms(50));
    }

    #[test]
    fn granularity_term_when_rttvar_vanishes() {
        // RFC 6298 (2.2)/(2.3): RTO = SRTT + max(G, K*RTTVAR). Identical
        // samples shrink RTTVAR by 3/4 each time: after 40 of them it is
        // 50 ms * (3/4)^40 (about 0.5 us), so K*RTTVAR < G = 1 ms and the
        // RTO is SRTT + G exactly (floor 0 so the clamp does not hide it).
        let mut e = est(1000, 0, 60_000);
        for _ in 0..41 {
            e.sample(ms(100));
        }
        assert_eq!(e.srtt(), Some(ms(100)));
        assert!(e.rttvar() * 4 < GRANULARITY);
        assert_eq!(e.rto(), ms(101));
    }

    #[test]
    fn back_off_doubles_until_the_ceiling() {
        // RFC 6298 (5.5): RTO <- RTO * 2 on each expiry; the (2.5) maximum
        // bounds it. 300 ms base: 600, 1200, 2400, 4800, then the 5 s cap.
        let mut e = est(1000, 200, 5000);
        e.sample(ms(100)); // 100 + 4*50 = 300
        assert_eq!(e.rto(), ms(300));
        let expect = [600, 1200, 2400, 4800, 5000, 5000];
        for (i, &want) in expect.iter().enumerate() {
            e.back_off();
            assert_eq!(e.backoffs(), i as u32 + 1);
            assert_eq!(e.rto(), ms(want), "after {} backoffs", i + 1);
        }
        // Many more backoffs neither overflow nor leave the ceiling.
        for _ in 0..100 {
            e.back_off();
        }
        assert_eq!(e.rto(), ms(5000));
    }

    #[test]
    fn sample_after_backoff_recomputes_from_the_estimators() {
        // RFC 6298 5 (after 5.7): once a new RTT is measured the RTO is
        // recomputed by (2.3), which ends the backoff. Karn's rule keeps
        // backoff for samples from retransmitted segments, which the caller
        // never feeds.
        let mut e = est(1000, 0, 60_000);
        e.sample(ms(100)); // SRTT 100, RTTVAR 50
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(), ms(1200));
        e.sample(ms(100));
        // RTTVAR = 3/4*50 + 0 = 37.5; SRTT = 100; RTO = 100 + 150 = 250.
        assert_eq!(e.backoffs(), 0);
        assert_eq!(e.rttvar(), Duration::from_micros(37_500));
        assert_eq!(e.rto(), ms(250));
    }

    #[test]
    fn after_syn_timeout_resets_to_three_seconds() {
        // RFC 6298 5.7: the SYN timed out and no RTT was measured: the RTO
        // for data is 3 s, whatever the backed-off SYN timer had reached.
        let mut e = est(1000, 200, 60_000);
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(), ms(4000));
        e.after_syn_timeout();
        assert_eq!(e.backoffs(), 0);
        assert_eq!(e.rto(), ms(3000));
        // A first sample afterwards still follows (2.2).
        e.sample(ms(100));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn after_syn_timeout_without_timeout_keeps_initial_rto() {
        // RFC 6298 5.7 applies only "if the timer expires awaiting the ACK
        // of a SYN": a handshake that never timed out keeps (2.1)'s 1 s.
        let mut e = est(1000, 200, 60_000);
        e.after_syn_timeout();
        assert_eq!(e.rto(), ms(1000));
    }

    #[test]
    fn after_syn_timeout_keeps_a_measured_rto() {
        // The SYN timed out but the SYN-ACK round trip was then measured:
        // (2.2) gave an RTO from a real sample; 5.7's 3 s is only for a
        // connection with nothing measured (the code's documented choice,
        // as Linux). The pending backoff is left alone as well.
        let mut e = est(1000, 200, 60_000);
        e.sample(ms(100));
        e.back_off();
        e.after_syn_timeout();
        assert_eq!(e.backoffs(), 1);
        assert_eq!(e.rto(), ms(600));
    }

    /// RFC 6298 5.7 raises only an RTO below 3 s: a configured initial RTO
    /// of 5 s stays 5 s after a SYN timeout.
    #[test]
    fn after_syn_timeout_keeps_a_larger_initial_rto() {
        let mut e = est(5000, 200, 60_000);
        e.back_off();
        e.after_syn_timeout();
        assert_eq!(e.rto(), ms(5000));
        assert_eq!(e.backoffs(), 0);
    }

    #[test]
    fn after_syn_timeout_fallback_is_clamped() {
        // (2.4)/(2.5) bound every RTO, the 5.7 fallback included.
        let mut e = est(1000, 200, 2000);
        e.back_off();
        e.after_syn_timeout();
        assert_eq!(e.rto(), ms(2000));
    }
}
