//! Seeded fault injection for packets crossing the device: loss,
//! duplication, reordering and corruption, decided per packet.
//!
//! Pure logic: no I/O, no clock, no OS randomness. The runtime keeps one
//! [`FaultInjector`] per direction (see [`Faults`]) and asks it about every
//! packet; the same seed and the same packet sequence give the same
//! decisions, so a failing run can be replayed.
//!
//! Every call to [`FaultInjector::apply`] draws exactly five numbers from the
//! generator whatever the rates are, so changing one rate does not shift the
//! decisions made for the others.
//!
//! Corruption flips one random bit *after the IPv4 header* (after `IHL * 4`
//! bytes, at least 20): the packet still parses as IP and reaches its
//! transport, where the TCP/ICMP checksum must reject it. That tests the
//! checksum paths rather than the kernel's silent IP-header drop. Caveats: a
//! UDP packet with checksum 0 is not protected, and a packet with a partial
//! checksum (`NEEDS_CSUM`) would get its checksum computed *after* the flip,
//! hiding it. The runtime therefore hands the injector what a wire would
//! carry: super-packets cut into segments and every checksum complete
//! (`wire::vnet::segment_tcp4`). Packets of 20 bytes or less are never
//! corrupted. The injector sees IP packets: a caller using a vnet header
//! passes the bytes after it.

/// Fault rates for one direction. Each rate is a probability in `0.0..=1.0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability that a packet is dropped.
    pub loss: f64,
    /// Probability that a delivered packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a delivered packet is held back and released after
    /// the next delivered one.
    pub reorder: f64,
    /// Probability that a delivered packet gets one bit flipped.
    pub corrupt: f64,
    /// Seed of the generator; the same seed gives the same decisions.
    pub seed: u64,
}

impl FaultConfig {
    /// No faults at all.
    pub const NONE: FaultConfig = FaultConfig {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        corrupt: 0.0,
        seed: 0,
    };

    /// Whether this configuration never changes a packet.
    pub fn is_noop(&self) -> bool {
        self.loss == 0.0 && self.duplicate == 0.0 && self.reorder == 0.0 && self.corrupt == 0.0
    }

    /// Check that every rate is a probability; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, rate) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "fault rate {field} = {rate} is not a probability (0.0..=1.0)"
                ));
            }
        }
        Ok(())
    }
}

/// Fault rates for both directions of a device.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Packets read from the device (kernel to stack).
    pub rx: FaultConfig,
    /// Packets written to the device (stack to kernel).
    pub tx: FaultConfig,
}

impl Faults {
    /// The same rates both ways, with distinct seeds derived from `seed` so
    /// the two directions do not make correlated decisions.
    pub fn symmetric(rates: FaultConfig, seed: u64) -> Faults {
        let mut mix = SplitMix64::new(seed);
        Faults {
            rx: FaultConfig {
                seed: mix.next_u64(),
                ..rates
            },
            tx: FaultConfig {
                seed: mix.next_u64(),
                ..rates
            },
        }
    }

    /// One injector per direction: `(rx, tx)`.
    #[track_caller]
    pub fn injectors(&self) -> (FaultInjector, FaultInjector) {
        (FaultInjector::new(self.rx), FaultInjector::new(self.tx))
    }
}

/// What to do with one packet.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Send it on. If a packet is being held, send the held one right after.
    Deliver,
    /// Throw it away.
    Drop,
    /// Send it twice. If a packet is being held, send that one after both.
    Duplicate,
    /// Keep it; send it right after the next packet that is delivered (or
    /// when the caller gives up waiting and calls [`FaultInjector::flush`]).
    Hold,
}

/// Counters of what an injector decided, for tests and statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Packets seen (every call to [`FaultInjector::apply`]).
    pub packets: u64,
    /// Packets dropped ([`FaultAction::Drop`]).
    pub dropped: u64,
    /// Packets sent twice ([`FaultAction::Duplicate`]).
    pub duplicated: u64,
    /// Packets held back behind the next one ([`FaultAction::Hold`]).
    pub held: u64,
    /// Packets with one bit flipped (they are still delivered, duplicated
    /// or held as decided).
    pub corrupted: u64,
}

/// Decides, packet by packet, what happens to traffic in one direction.
///
/// Contract with the caller for reordering: at most one packet is held at a
/// time. After [`FaultAction::Hold`] the caller keeps that packet; the next
/// `Deliver` or `Duplicate` means "send this one, then the held one", after
/// which nothing is held. `Drop`s in between keep it held. A caller that
/// stops waiting (a timer, shutdown) sends the held packet itself and calls
/// [`FaultInjector::flush`].
#[derive(Clone, Debug)]
pub struct FaultInjector {
    cfg: FaultConfig,
    rng: SplitMix64,
    holding: bool,
    stats: FaultStats,
}

impl FaultInjector {
    /// An injector for `cfg`. Panics if a rate is not a probability (see
    /// [`FaultConfig::validate`]).
    #[track_caller]
    pub fn new(cfg: FaultConfig) -> FaultInjector {
        if let Err(e) = cfg.validate() {
            panic!("{e}");
        }
        FaultInjector {
            cfg,
            rng: SplitMix64::new(cfg.seed),
            holding: false,
            stats: FaultStats::default(),
        }
    }

    /// Decide the fate of `pkt`, corrupting it in place if so drawn.
    /// Order: loss; then, for a packet that survives, corruption (in place,
    /// independent of the rest), duplication, and reordering (only when no
    /// packet is held already, and never for a duplicated packet).
    pub fn apply(&mut self, pkt: &mut [u8]) -> FaultAction {
        let loss = self.rng.next_f64();
        let corrupt = self.rng.next_f64();
        let duplicate = self.rng.next_f64();
        let reorder = self.rng.next_f64();
        let bit = self.rng.next_u64();
        self.stats.packets += 1;

        if loss < self.cfg.loss {
            self.stats.dropped += 1;
            return FaultAction::Drop;
        }
        if corrupt < self.cfg.corrupt && flip_bit_after_ip_header(pkt, bit) {
            self.stats.corrupted += 1;
        }
        if duplicate < self.cfg.duplicate {
            self.stats.duplicated += 1;
            self.holding = false;
            return FaultAction::Duplicate;
        }
        if !self.holding && reorder < self.cfg.reorder {
            self.stats.held += 1;
            self.holding = true;
            return FaultAction::Hold;
        }
        self.holding = false;
        FaultAction::Deliver
    }

    /// Whether a packet is currently held (the last non-drop decision was
    /// [`FaultAction::Hold`]).
    pub fn holding(&self) -> bool {
        self.holding
    }

    /// The caller released the held packet on its own; forget it.
    pub fn flush(&mut self) {
        self.holding = false;
    }

    /// Counters so far.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    /// The configuration in use.
    pub fn config(&self) -> &FaultConfig {
        &self.cfg
    }
}

/// Flip bit `bit % (payload bits)` of the bytes after the IPv4 header.
/// Returns false (and leaves `pkt` alone) when there is no such byte.
fn flip_bit_after_ip_header(pkt: &mut [u8], bit: u64) -> bool {
    let ihl = pkt.first().map_or(20, |b| usize::from(b & 0x0f) * 4);
    let start = ihl.max(20);
    if pkt.len() <= start {
        return false;
    }
    let bits = (pkt.len() - start) as u64 * 8;
    let bit = bit % bits;
    pkt[start + (bit / 8) as usize] ^= 1 << (bit % 8);
    true
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush, and
/// any seed including 0 is fine. Local so `device` does not depend on
/// `stack`.
#[derive(Clone, Debug)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: u64 = 100_000;

    fn packet() -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x45;
        p
    }

    fn run(cfg: FaultConfig) -> (FaultStats, Vec<FaultAction>) {
        let mut inj = FaultInjector::new(cfg);
        let mut actions = Vec::with_capacity(N as usize);
        for _ in 0..N {
            let mut p = packet();
            actions.push(inj.apply(&mut p));
        }
        (inj.stats(), actions)
    }

    /// Within 5 standard deviations of the binomial mean (plus a little for
    /// tiny rates): never flaky, still catches a wrong rate.
    #[track_caller]
    fn assert_rate(count: u64, trials: u64, p: f64) {
        let mean = trials as f64 * p;
        let sd = (trials as f64 * p * (1.0 - p)).sqrt();
        let diff = (count as f64 - mean).abs();
        assert!(
            diff <= 5.0 * sd + 1.0,
            "count {count} of {trials}, expected about {mean:.0} (p = {p})"
        );
    }

    #[test]
    fn rates_are_within_tolerance() {
        let cfg = FaultConfig {
            loss: 0.1,
            duplicate: 0.05,
            reorder: 0.02,
            corrupt: 0.03,
            seed: 42,
        };
        let (s, _) = run(cfg);
        assert_eq!(s.packets, N);
        assert_rate(s.dropped, N, 0.1);
        let survivors = N - s.dropped;
        assert_rate(s.corrupted, survivors, 0.03);
        assert_rate(s.duplicated, survivors, 0.05);
        // Hold needs a non-duplicated survivor and nothing held already.
        let eligible = survivors - s.duplicated - s.held;
        assert_rate(s.held, eligible, 0.02);
    }

    #[test]
    fn each_rate_alone_is_accurate() {
        for (i, rate) in [0.0, 0.01, 0.5, 1.0].into_iter().enumerate() {
            let seed = 7 + i as u64;
            let (s, _) = run(FaultConfig {
                loss: rate,
                seed,
                ..FaultConfig::NONE
            });
            assert_rate(s.dropped, N, rate);
            let (s, _) = run(FaultConfig {
                duplicate: rate,
                seed,
                ..FaultConfig::NONE
            });
            assert_rate(s.duplicated, N, rate);
            let (s, _) = run(FaultConfig {
                corrupt: rate,
                seed,
                ..FaultConfig::NONE
            });
            assert_rate(s.corrupted, N, rate);
        }
    }

    #[test]
    fn same_seed_same_decisions_other_seed_other_decisions() {
        let cfg = FaultConfig {
            loss: 0.2,
            duplicate: 0.1,
            reorder: 0.1,
            corrupt: 0.1,
            seed: 0xdead_beef,
        };
        let mut a = FaultInjector::new(cfg);
        let mut b = FaultInjector::new(cfg);
        for _ in 0..N {
            let (mut pa, mut pb) = (packet(), packet());
            assert_eq!(a.apply(&mut pa), b.apply(&mut pb));
            assert_eq!(pa, pb, "same corruption");
        }
        let (_, x) = run(cfg);
        let (_, y) = run(FaultConfig { seed: 1, ..cfg });
        assert_ne!(x, y);
    }

    #[test]
    fn changing_one_rate_does_not_shift_the_others() {
        let base = FaultConfig {
            loss: 0.1,
            seed: 3,
            ..FaultConfig::NONE
        };
        let (_, a) = run(base);
        let (_, b) = run(FaultConfig {
            corrupt: 0.5,
            ..base
        });
        let drops = |v: &[FaultAction]| -> Vec<bool> {
            v.iter().map(|&x| x == FaultAction::Drop).collect()
        };
        assert_eq!(drops(&a), drops(&b));
    }

    #[test]
    fn no_faults_delivers_everything_untouched() {
        let mut inj = FaultInjector::new(FaultConfig {
            seed: 9,
            ..FaultConfig::NONE
        });
        assert!(inj.config().is_noop());
        for _ in 0..1000 {
            let mut p = packet();
            assert_eq!(inj.apply(&mut p), FaultAction::Deliver);
            assert_eq!(p, packet());
        }
    }

    #[test]
    fn corruption_flips_exactly_one_bit_after_the_ip_header() {
        let mut inj = FaultInjector::new(FaultConfig {
            corrupt: 1.0,
            seed: 5,
            ..FaultConfig::NONE
        });
        let mut seen_last_byte = false;
        for _ in 0..10_000 {
            let mut p = packet();
            let _ = inj.apply(&mut p);
            let diff: Vec<usize> = (0..p.len()).filter(|&i| p[i] != packet()[i]).collect();
            assert_eq!(diff.len(), 1);
            assert!(diff[0] >= 20);
            assert_eq!((p[diff[0]] ^ packet()[diff[0]]).count_ones(), 1);
            seen_last_byte |= diff[0] == p.len() - 1;
        }
        assert!(seen_last_byte);
        // IP options are skipped too; header-only packets are left alone.
        let mut p = vec![0u8; 28];
        p[0] = 0x46;
        assert!(flip_bit_after_ip_header(&mut p, 3));
        assert_eq!(p[24], 1 << 3);
        let mut short = vec![0x45; 20];
        assert!(!flip_bit_after_ip_header(&mut short, 0));
        assert!(!flip_bit_after_ip_header(&mut [], 0));
    }

    #[test]
    fn at_most_one_packet_is_held_and_drops_keep_it_held() {
        let mut inj = FaultInjector::new(FaultConfig {
            reorder: 1.0,
            seed: 11,
            ..FaultConfig::NONE
        });
        let mut p = packet();
        assert_eq!(inj.apply(&mut p), FaultAction::Hold);
        assert!(inj.holding());
        assert_eq!(inj.apply(&mut p), FaultAction::Deliver);
        assert!(!inj.holding());
        assert_eq!(inj.apply(&mut p), FaultAction::Hold);
        inj.flush();
        assert_eq!(inj.apply(&mut p), FaultAction::Hold);

        let mut lossy = FaultInjector::new(FaultConfig {
            reorder: 1.0,
            loss: 0.5,
            seed: 12,
            ..FaultConfig::NONE
        });
        for _ in 0..1000 {
            let was = lossy.holding();
            match lossy.apply(&mut p) {
                FaultAction::Drop => assert_eq!(lossy.holding(), was),
                FaultAction::Hold => assert!(!was),
                FaultAction::Deliver => assert!(was),
                FaultAction::Duplicate => unreachable!(),
            }
        }
    }

    #[test]
    #[should_panic(expected = "fault rate loss = 1.5 is not a probability")]
    fn bad_rates_panic_with_the_field_name() {
        let _ = FaultInjector::new(FaultConfig {
            loss: 1.5,
            ..FaultConfig::NONE
        });
    }

    #[test]
    fn symmetric_faults_use_distinct_seeds() {
        let f = Faults::symmetric(
            FaultConfig {
                loss: 0.3,
                ..FaultConfig::NONE
            },
            1,
        );
        assert_ne!(f.rx.seed, f.tx.seed);
        assert_eq!(f.rx.loss, f.tx.loss);
        let (mut rx, mut tx) = f.injectors();
        let mut p = packet();
        let a: Vec<_> = (0..64).map(|_| rx.apply(&mut p)).collect();
        let b: Vec<_> = (0..64).map(|_| tx.apply(&mut p)).collect();
        assert_ne!(a, b);
    }
}
