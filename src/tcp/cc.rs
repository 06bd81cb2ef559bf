//! Congestion control behind one small trait.
//!
//! The loss-recovery machinery (duplicate-ACK counting, fast retransmit,
//! NewReno's recovery point, RTO go-back-N) lives in the connection; an
//! algorithm only decides how the congestion window moves on each kind of
//! event, so a new algorithm plugs in without touching the state machine.

use crate::time::{Instant, PackedInstant};
use std::time::Duration;

/// Which algorithm a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgorithm {
    /// RFC 5681 slow start and congestion avoidance (with RFC 6582 or
    /// RFC 6675 recovery in the connection).
    NewReno,
    /// RFC 9438.
    #[default]
    Cubic,
}

impl core::fmt::Display for CcAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CcAlgorithm::NewReno => f.write_str("newreno"),
            CcAlgorithm::Cubic => f.write_str("cubic"),
        }
    }
}

impl core::str::FromStr for CcAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "newreno" | "reno" => Ok(CcAlgorithm::NewReno),
            "cubic" => Ok(CcAlgorithm::Cubic),
            _ => Err(format!(
                "unknown congestion control '{s}' (use cubic or newreno)"
            )),
        }
    }
}

/// How a congestion window reacts to the events the connection reports.
pub trait CongestionControl: core::fmt::Debug {
    /// `acked` new bytes were acknowledged outside loss recovery while the
    /// connection was limited by the congestion window (RFC 7661: a window
    /// the sender does not use must not grow). In slow start the connection
    /// has already applied the per-ACK limit of byte counting (RFC 3465)
    /// and any HyStart++ slowing: the window grows by `acked`.
    fn on_ack(&mut self, now: Instant, acked: usize, flight: usize, srtt: Option<Duration>);
    /// Loss detected by duplicate ACKs or SACK: the multiplicative decrease.
    /// Afterwards cwnd == ssthresh; the connection adds any temporary
    /// inflation its recovery algorithm calls for.
    fn on_congestion(&mut self, now: Instant, flight: usize);
    /// Recovery ended (the ACK covered the recovery point).
    fn on_recovery_end(&mut self, now: Instant, flight: usize);
    /// The retransmission timer expired.
    fn on_rto(&mut self, now: Instant, flight: usize);
    /// Which algorithm this is.
    fn algorithm(&self) -> CcAlgorithm;
    /// The window every algorithm keeps.
    fn window(&self) -> &Window;
    /// The window, for the connection to adjust (a lowered MSS, say).
    fn window_mut(&mut self) -> &mut Window;
    /// Forgets what the algorithm knows of the current growth epoch, when
    /// the window is set from outside it. Nothing to forget by default.
    fn new_epoch(&mut self) {}
    /// Starts over as a new controller for segments of `mss` (the
    /// handshake has told the peer's MSS), in place.
    fn restart(&mut self, mss: usize);

    /// The connection sat idle for longer than an RTO (RFC 5681 4.1).
    fn on_idle_restart(&mut self) {
        let w = self.window_mut();
        w.cwnd = w.cwnd.min(initial_window(w.mss));
        self.new_epoch();
    }
    /// Congestion window in bytes.
    fn cwnd(&self) -> usize {
        self.window().cwnd
    }
    /// Temporarily inflate or deflate during recovery (RFC 6582 3.2).
    fn set_cwnd(&mut self, cwnd: usize) {
        let w = self.window_mut();
        w.cwnd = cwnd.max(w.mss);
    }
    /// Slow-start threshold in bytes (RFC 5681 3.1).
    fn ssthresh(&self) -> usize {
        self.window().ssthresh
    }
    /// Puts back the window of before a congestion event that turned out
    /// spurious (RFC 3522 / RFC 2883 undo).
    fn restore(&mut self, cwnd: usize, ssthresh: usize) {
        let w = self.window_mut();
        w.cwnd = w.cwnd.max(cwnd);
        w.ssthresh = w.ssthresh.max(ssthresh);
        self.new_epoch();
    }
    /// Leaves slow start now (HyStart++, RFC 9406 4.2): ssthresh = cwnd.
    fn exit_slow_start(&mut self) {
        let w = self.window_mut();
        w.ssthresh = w.cwnd;
        self.new_epoch();
    }
}

/// What every algorithm keeps: the segment size, cwnd and ssthresh, in
/// bytes.
#[derive(Debug, Clone)]
pub struct Window {
    /// Sender MSS: the unit of growth and the floor of cwnd.
    pub mss: usize,
    /// Congestion window.
    pub cwnd: usize,
    /// Slow-start threshold; `usize::MAX` until slow start first ends.
    pub ssthresh: usize,
}

impl Window {
    /// The initial window (RFC 6928), ssthresh unbounded.
    pub fn new(mss: usize) -> Window {
        Window {
            mss,
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
        }
    }
}

/// RFC 5681 / RFC 6582.
#[derive(Debug, Clone)]
pub struct NewReno {
    w: Window,
    /// Bytes acknowledged during congestion avoidance since cwnd last grew
    /// (RFC 5681 3.1, the byte-counting form of equation 3).
    ca_acked: usize,
}

impl NewReno {
    /// A controller with the initial window for `mss`-byte segments.
    pub fn new(mss: usize) -> NewReno {
        NewReno {
            w: Window::new(mss),
            ca_acked: 0,
        }
    }
}

/// RFC 6928: an initial window of ten segments (capped at 14600 bytes).
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min(14600.max(2 * mss))
}

impl CongestionControl for NewReno {
    fn restart(&mut self, mss: usize) {
        *self = NewReno::new(mss);
    }

    fn on_ack(&mut self, _now: Instant, acked: usize, _flight: usize, _srtt: Option<Duration>) {
        if self.w.cwnd < self.w.ssthresh {
            // Slow start: byte counting (the connection applies RFC 3465's
            // per-ACK limit before the call).
            self.w.cwnd += acked;
        } else {
            self.ca_acked += acked;
            if self.ca_acked >= self.w.cwnd {
                self.ca_acked -= self.w.cwnd;
                self.w.cwnd += self.w.mss;
            }
        }
    }

    fn on_congestion(&mut self, _now: Instant, flight: usize) {
        // RFC 5681 (4)
        self.w.ssthresh = (flight / 2).max(2 * self.w.mss);
        self.w.cwnd = self.w.ssthresh;
        self.ca_acked = 0;
    }

    fn on_recovery_end(&mut self, _now: Instant, flight: usize) {
        // RFC 6582 3.2 (3), option 1 guarded as the RFC suggests.
        self.w.cwnd = self.w.ssthresh.min(flight.max(self.w.mss) + self.w.mss);
    }

    fn on_rto(&mut self, _now: Instant, flight: usize) {
        // RFC 5681 (4) and the loss window of one segment.
        self.w.ssthresh = (flight / 2).max(2 * self.w.mss);
        self.w.cwnd = self.w.mss;
        self.ca_acked = 0;
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::NewReno
    }

    fn window(&self) -> &Window {
        &self.w
    }

    fn window_mut(&mut self) -> &mut Window {
        &mut self.w
    }
}

/// CUBIC's constant C (RFC 9438 4.1), in segments per second cubed.
pub const CUBIC_C: f64 = 0.4;
/// CUBIC's multiplicative decrease factor (RFC 9438 4.6).
pub const CUBIC_BETA: f64 = 0.7;

/// RFC 9438: the window grows as a cubic function of the time since the
/// last congestion event, W_cubic(t) = C (t - K)^3 + W_max, with a
/// Reno-friendly floor (4.3) and fast convergence (4.7).
#[derive(Debug, Clone)]
pub struct Cubic {
    w: Window,
    /// Window before the last reduction, in segments.
    w_max: f64,
    /// Time for the curve to climb back to W_max, in seconds.
    k: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch: PackedInstant,
    /// The Reno-friendly estimate (4.3), in segments.
    w_est: f64,
    /// Window at the start of the epoch, in segments.
    cwnd_epoch: f64,
    /// cwnd when ssthresh was last set (cwnd_prior, 4.3), in segments.
    cwnd_prior: f64,
}

impl Cubic {
    /// A controller with the initial window for `mss`-byte segments.
    pub fn new(mss: usize) -> Cubic {
        Cubic {
            w: Window::new(mss),
            w_max: 0.0,
            k: 0.0,
            epoch: PackedInstant::NONE,
            w_est: 0.0,
            cwnd_epoch: 0.0,
            cwnd_prior: 0.0,
        }
    }

    /// W_cubic(t) in segments (RFC 9438 eq. 1).
    pub fn w_cubic(&self, t: f64) -> f64 {
        CUBIC_C * (t - self.k).powi(3) + self.w_max
    }

    /// K (RFC 9438 eq. 2): seconds from the epoch start until the curve
    /// reaches W_max again.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// W_max in segments: the window before the last reduction.
    pub fn w_max_segments(&self) -> f64 {
        self.w_max
    }

    fn segs(&self, bytes: usize) -> f64 {
        bytes as f64 / self.w.mss as f64
    }

    fn reduce(&mut self, flight: usize) {
        let cwnd = self.segs(self.w.cwnd);
        self.cwnd_prior = cwnd;
        // 4.7 fast convergence: release bandwidth to newer flows.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + CUBIC_BETA) / 2.0
        } else {
            cwnd
        };
        // 4.6: ssthresh from the window actually used.
        let base = self.w.cwnd.min(flight.max(self.w.mss));
        self.w.ssthresh = ((base as f64 * CUBIC_BETA) as usize).max(2 * self.w.mss);
        self.epoch = PackedInstant::NONE;
    }
}

impl CongestionControl for Cubic {
    fn restart(&mut self, mss: usize) {
        *self = Cubic::new(mss);
    }

    fn on_ack(&mut self, now: Instant, acked: usize, _flight: usize, srtt: Option<Duration>) {
        if self.w.cwnd < self.w.ssthresh {
            // Slow start as in RFC 5681 (RFC 9438 4.10), byte counting as
            // for NewReno.
            self.w.cwnd += acked;
            return;
        }
        let cwnd = self.segs(self.w.cwnd);
        let epoch = match self.epoch.get() {
            Some(e) => e,
            None => {
                // 4.2: a new epoch starts at the first ACK in avoidance.
                self.epoch = PackedInstant::new(now);
                self.cwnd_epoch = cwnd;
                self.w_est = cwnd;
                self.k = if self.w_max > cwnd {
                    ((self.w_max - cwnd) / CUBIC_C).cbrt()
                } else {
                    0.0
                };
                if self.w_max < cwnd {
                    self.w_max = cwnd;
                }
                now
            }
        };
        let rtt = srtt.unwrap_or(Duration::from_millis(100)).as_secs_f64();
        let t = (now - epoch).as_secs_f64();
        // 4.2: aim for the window one RTT ahead, within [cwnd, 1.5 cwnd].
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        // 4.3: the Reno-friendly estimate with alpha = 3(1-b)/(1+b), and
        // alpha = 1 once W_est has regained cwnd_prior, so that it grows as
        // fast as Reno from there.
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA)
        };
        self.w_est += alpha * self.segs(acked) / cwnd;
        let grow = if self.w_cubic(t) < self.w_est {
            // Reno-friendly region: follow W_est.
            (self.w_est - cwnd).max(0.0)
        } else {
            // Concave or convex region (4.4, 4.5): (target - cwnd) / cwnd
            // per segment acknowledged.
            (target - cwnd) / cwnd * self.segs(acked)
        };
        self.w.cwnd += (grow * self.w.mss as f64) as usize;
    }

    fn on_congestion(&mut self, _now: Instant, flight: usize) {
        self.reduce(flight);
        self.w.cwnd = self.w.ssthresh;
    }

    fn on_recovery_end(&mut self, _now: Instant, _flight: usize) {
        self.w.cwnd = self.w.ssthresh;
    }

    fn on_rto(&mut self, _now: Instant, flight: usize) {
        // 4.8: as a congestion event, then one segment.
        self.reduce(flight);
        self.w.cwnd = self.w.mss;
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Cubic
    }

    fn window(&self) -> &Window {
        &self.w
    }

    fn window_mut(&mut self) -> &mut Window {
        &mut self.w
    }

    fn new_epoch(&mut self) {
        self.epoch = PackedInstant::NONE;
    }
}

/// Builds the algorithm a connection asked for.
pub fn new_controller(algo: CcAlgorithm, mss: usize) -> Box<dyn CongestionControl + Send> {
    match algo {
        CcAlgorithm::NewReno => Box::new(NewReno::new(mss)),
        CcAlgorithm::Cubic => Box::new(Cubic::new(mss)),
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
        assert_eq!(cc.cwnd(), 20_000);
        cc.on_recovery_end(Instant::ZERO, 30_000);
        assert_eq!(cc.cwnd(), 20_000);
    }

    /// RFC 9438's curve, followed over a long run with an ACK clock of one
    /// window per RTT: after a loss at W_max = 100 segments the window must
    /// track max(W_cubic(t), W_est(t)) within 5% for 20 simulated seconds
    /// (at a 20 ms RTT the Reno-friendly estimate leads for the first
    /// seconds, then the convex cubic curve takes over).
    #[test]
    fn cubic_follows_the_rfc_curve() {
        let mss = 1000;
        let rtt = Duration::from_millis(20);
        let mut cc = Cubic::new(mss);
        cc.set_cwnd(100 * mss);
        cc.w.ssthresh = 50 * mss;
        let mut now = Instant::from_millis(1_000);
        cc.on_congestion(now, 100 * mss);
        assert_eq!(cc.cwnd(), 70 * mss, "beta = 0.7");
        let w_max = 100.0;
        let k = ((w_max * (1.0 - CUBIC_BETA)) / CUBIC_C).cbrt();
        let start = now;
        let mut worst: f64 = 0.0;
        for _ in 0..1000 {
            // One RTT: each segment of the window is acknowledged.
            let segs = cc.cwnd() / mss;
            let step = rtt / segs as u32;
            for _ in 0..segs {
                now += step;
                cc.on_ack(now, mss, cc.cwnd(), Some(rtt));
            }
            let t = (now - start).as_secs_f64();
            // RFC 9438 4.3: the window is the larger of the cubic curve and
            // the Reno-friendly estimate W_est(t) = W_max*b + a*t/RTT.
            // Alpha is 3(1-b)/(1+b) until W_est regains cwnd_prior (= W_max
            // here), then 1.
            let alpha = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
            let rounds = t / rtt.as_secs_f64();
            let to_prior = (w_max - w_max * CUBIC_BETA) / alpha;
            let w_est = if rounds <= to_prior {
                w_max * CUBIC_BETA + alpha * rounds
            } else {
                w_max + (rounds - to_prior)
            };
            let w_cubic = CUBIC_C * (t + rtt.as_secs_f64() - k).powi(3) + w_max;
            let expect = w_cubic.max(w_est);
            let got = cc.cwnd() as f64 / mss as f64;
            if std::env::var_os("CUBIC_DEBUG").is_some() {
                eprintln!("t {t:.2} got {got:.1} expect {expect:.1}");
            }
            if t > 1.0 {
                worst = worst.max((got - expect).abs() / expect);
            }
        }
        assert!((cc.k() - k).abs() < 1e-9, "K = {} expected {k}", cc.k());
        assert!(
            worst < 0.05,
            "worst deviation from the curve {:.1}%",
            worst * 100.0
        );
    }

    #[test]
    fn cubic_fast_convergence_and_rto() {
        let mut cc = Cubic::new(1000);
        cc.set_cwnd(100_000);
        cc.on_congestion(Instant::ZERO, 100_000);
        assert_eq!(cc.w_max_segments(), 100.0);
        // A second loss below W_max lowers W_max further (4.7).
        cc.on_congestion(Instant::ZERO, 70_000);
        assert!((cc.w_max_segments() - 70.0 * 0.85).abs() < 1e-9);
        cc.on_rto(Instant::ZERO, 49_000);
        assert_eq!(cc.cwnd(), 1000);
        assert_eq!(cc.ssthresh(), 34_300);
    }
}
