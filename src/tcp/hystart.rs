//! HyStart++ (RFC 9406).

use crate::time::PackedDuration;
use crate::wire::SeqNum;
use std::time::Duration;

/// HyStart++ (RFC 9406): leave slow start when the round-trip time of a
/// round grows by more than a threshold, through a few rounds of
/// conservative slow start, instead of overshooting the path's queue by up
/// to a whole window.
///
/// RTTs are packed ([`PackedDuration`]), none for none.
#[derive(Debug, Clone)]
pub(crate) struct HyStart {
    /// The round ends when SND.UNA passes this.
    round_end: SeqNum,
    /// Rounds of conservative slow start done (with `css_baseline`).
    css_rounds: u32,
    last_round_min: PackedDuration,
    cur_round_min: PackedDuration,
    /// In conservative slow start: the baseline RTT.
    css_baseline: PackedDuration,
    done: bool,
}

/// No RTT: none measured, or not in conservative slow start.
const NONE: PackedDuration = PackedDuration::NONE;

impl Default for HyStart {
    fn default() -> Self {
        HyStart {
            round_end: SeqNum::default(),
            css_rounds: 0,
            last_round_min: NONE,
            cur_round_min: NONE,
            css_baseline: NONE,
            done: false,
        }
    }
}

/// RFC 9406 4.3 constants.
const HS_MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const HS_MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const HS_CSS_GROWTH_DIVISOR: usize = 4;
const HS_CSS_ROUNDS: u32 = 5;

impl HyStart {
    /// Stops HyStart++ for good (a loss ended slow start).
    pub(crate) fn finish(&mut self) {
        self.done = true;
    }

    /// In conservative slow start (RFC 9406 4.2): cwnd grows by a
    /// quarter of the acknowledged bytes.
    pub(crate) fn in_css(&self) -> bool {
        self.css_baseline != NONE
    }

    /// Divides slow start's growth in conservative slow start.
    pub(crate) fn growth_divisor(&self) -> usize {
        if self.in_css() {
            HS_CSS_GROWTH_DIVISOR
        } else {
            1
        }
    }

    /// An RTT sample within the current round.
    pub(crate) fn on_rtt_sample(&mut self, rtt: Duration) {
        if !self.done {
            self.cur_round_min = self.cur_round_min.min(PackedDuration::new(rtt));
        }
    }

    /// An ACK of `ack` while `in_slow_start`; `snd_max` starts the next
    /// round. At the end of each round of slow start, RFC 9406 4.2: enter
    /// conservative slow start on an RTT increase, leave it if the RTT
    /// falls back, leave slow start after CSS_ROUNDS. Returns true when
    /// slow start must end now.
    pub(crate) fn on_ack(&mut self, ack: SeqNum, snd_max: SeqNum, in_slow_start: bool) -> bool {
        if self.done || ack < self.round_end {
            return false;
        }
        self.round_end = snd_max;
        let last = self.last_round_min.get();
        let cur = core::mem::replace(&mut self.cur_round_min, NONE).get();
        if !in_slow_start {
            self.done = true;
            return false;
        }
        let Some(cur) = cur else {
            return false;
        };
        self.last_round_min = PackedDuration::new(cur);
        match self.css_baseline.get() {
            None => {
                if let Some(last) = last {
                    let thresh = (last / 8).clamp(HS_MIN_RTT_THRESH, HS_MAX_RTT_THRESH);
                    if cur >= last + thresh {
                        self.css_baseline = PackedDuration::new(cur);
                        self.css_rounds = 0;
                    }
                }
                false
            }
            Some(baseline) if cur < baseline => {
                self.css_baseline = NONE;
                false
            }
            Some(_) => {
                if self.css_rounds + 1 >= HS_CSS_ROUNDS {
                    self.done = true;
                    self.css_baseline = NONE;
                    true
                } else {
                    self.css_rounds += 1;
                    false
                }
            }
        }
    }
}
