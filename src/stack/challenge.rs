//! The stack-wide budget of challenge ACKs (RFC 5961 7: "implementations
//! SHOULD include an ACK throttling mechanism"), on top of each
//! connection's own limit: Linux's `tcp_challenge_ack_limit`.

use super::rand::Rng;
use crate::time::Instant;

/// Challenge ACKs left in the current second of stack time.
#[derive(Debug)]
pub(super) struct ChallengeBudget {
    /// Draws each second's budget (seeded by the stack).
    rng: Rng,
    /// The second (of `now`) the budget is for.
    second: u64,
    left: u32,
}

impl ChallengeBudget {
    pub(super) fn new(rng: Rng) -> ChallengeBudget {
        ChallengeBudget {
            rng,
            second: u64::MAX,
            left: 0,
        }
    }

    /// Takes one challenge ACK from the budget of `now`'s second, which
    /// holds between `limit / 2` and `limit * 3 / 2` of them (drawn anew
    /// each second, as Linux does since CVE-2016-5696: a fixed count would
    /// let an off-path attacker learn, by exhausting it, whether his
    /// guesses drew challenges). `false` when it is spent.
    pub(super) fn take(&mut self, now: Instant, limit: u32) -> bool {
        let second = now.total_micros() / 1_000_000;
        if second != self.second {
            self.second = second;
            self.left = if limit == 0 {
                0
            } else {
                (limit / 2).saturating_add(self.rng.gen_range(0..limit))
            };
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_between_half_and_one_and_a_half_limits_per_second() {
        let mut b = ChallengeBudget::new(Rng::new(1));
        for s in 0..50u64 {
            let now = Instant::from_millis(s * 1000 + 10);
            let n = (0..2000).take_while(|_| b.take(now, 100)).count();
            assert!((50..150).contains(&n), "second {s}: {n}");
            // Still spent later in the same second.
            assert!(!b.take(Instant::from_millis(s * 1000 + 999), 100));
        }
        assert!(!ChallengeBudget::new(Rng::new(1)).take(Instant::ZERO, 0));
    }
}
