//! A hierarchical timer wheel with 1 ms slots, for retransmission (RFC 6298),
//! delayed ACK (RFC 9293 section 3.8.6.3 / RFC 1122 4.2.3.2), persist (RFC
//! 9293 section 3.8.6.1), keepalive (RFC 1122 4.2.3.6) and TIME-WAIT (RFC
//! 9293 section 3.6, 2*MSL).
//!
//! The design follows Varghese and Lauck, "Hashed and Hierarchical Timing
//! Wheels" (SOSP 1987), scheme 7: [`LEVELS`] levels of 64 slots each; a slot
//! of level `l` spans `64^l` ms, so the wheel covers `64^6` ms (about 795
//! days) ahead of its current tick, and an overflow list holds anything
//! beyond. An entry sits at the level of the highest 6-bit digit in which its
//! deadline's tick differs from the wheel's current tick, and moves down
//! ("cascades") when the wheel reaches the start of its slot.
//!
//! # Guarantees
//!
//! - [`insert`](TimerWheel::insert) is O(1) and, once the entry pool has
//!   grown to the peak number of pending timers, never allocates: entries live
//!   in one pool with a free list, and every slot is an intrusive singly-linked
//!   list through it.
//! - A timer never fires early. Slots are keyed by the deadline rounded
//!   *down* to the millisecond, and every entry keeps its exact microsecond
//!   deadline: [`expire`](TimerWheel::expire) fires every entry of the slots
//!   wholly before `now`'s millisecond, and from `now`'s own slot only the
//!   entries whose exact deadline is `<= now`; the rest stay until due. So
//!   an entry fires at the first `expire` call whose `now >= deadline`, never
//!   before and never at a later call.
//! - [`next_deadline`](TimerWheel::next_deadline) is cheap (one
//!   `trailing_zeros` per level over occupied-slot bitmaps) and exact: every
//!   slot remembers the earliest exact deadline it holds, and the first
//!   occupied slot of the lowest occupied level always holds the earliest
//!   pending entry. Callers may rely on it being no later than the earliest
//!   deadline, so sleeping until it never oversleeps a timer.
//! - Deadlines in the past fire at the next `expire` call.
//!
//! # Cancellation is lazy and belongs to the caller
//!
//! There is no `cancel`. A key should carry enough to recognise a stale
//! timer, typically `(handle, generation)`: re-arming or cancelling a
//! connection's timer bumps the generation stored in the connection, and when
//! an entry fires with an old generation the caller drops it. Stale entries
//! cost a pool slot until their deadline; that is cheaper than unlinking on
//! every re-arm, which in TCP happens on almost every ACK.
//!
//! # Time
//!
//! Sans-IO: the wheel never reads a clock. `now` must not go backwards
//! between calls; if it does, nothing fires early, but entries may fire only
//! once `now` has caught up with the wheel again. Entries due in the same
//! millisecond fire in an unspecified (but deterministic) order.

use crate::time::Instant;

/// Number of levels in the wheel.
pub const LEVELS: usize = 6;
/// Slots per level.
pub const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
/// Ticks (ms) covered by the whole wheel: `64^LEVELS`.
const WHEEL_BITS: u32 = SLOT_BITS * LEVELS as u32;
/// Marks the end of a list.
const NIL: u32 = u32::MAX;
/// One millisecond, the tick.
const TICK_US: u64 = 1000;

#[derive(Clone, Copy, Debug)]
struct Entry<K> {
    /// Exact deadline, in microseconds.
    deadline: u64,
    key: K,
    /// Next entry in the same slot (or in the free list), or `NIL`.
    next: u32,
}

/// The head of an intrusive list, with the earliest exact deadline on it.
#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    min: u64,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        min: u64::MAX,
    };
}

#[derive(Clone, Debug)]
struct Level {
    /// Bit `s` is set when slot `s` is non-empty.
    occupied: u64,
    slots: [List; SLOTS],
}

/// A hierarchical timer wheel over small `Copy` keys. See the module docs.
#[derive(Clone, Debug)]
pub struct TimerWheel<K: Copy> {
    /// The current tick (ms): every slot wholly before it has been processed.
    /// Entries with a tick `<= elapsed` live in level 0's slot for `elapsed`.
    elapsed: u64,
    levels: Box<[Level; LEVELS]>,
    /// Entries in a later `64^LEVELS` ms block than `elapsed`.
    overflow: List,
    pool: Vec<Entry<K>>,
    free: u32,
    len: usize,
}

/// The level at which an entry due at `tick` sits when the wheel is at
/// `elapsed` (`tick >= elapsed`), or `None` for the overflow list.
#[inline]
fn level_for(elapsed: u64, tick: u64) -> Option<usize> {
    // `| (SLOTS - 1)` puts equal ticks and differences in the lowest digit at
    // level 0.
    let diff = (elapsed ^ tick) | (SLOTS as u64 - 1);
    let significant = 63 - diff.leading_zeros();
    let level = (significant / SLOT_BITS) as usize;
    (level < LEVELS).then_some(level)
}

impl<K: Copy> TimerWheel<K> {
    /// An empty wheel whose current tick is `now`'s millisecond.
    pub fn new(now: Instant) -> Self {
        Self::with_capacity(now, 0)
    }

    /// An empty wheel with room for `capacity` pending timers before it
    /// allocates.
    pub fn with_capacity(now: Instant, capacity: usize) -> Self {
        TimerWheel {
            elapsed: now.total_micros() / TICK_US,
            levels: Box::new(core::array::from_fn(|_| Level {
                occupied: 0,
                slots: [List::EMPTY; SLOTS],
            })),
            overflow: List::EMPTY,
            pool: Vec::with_capacity(capacity),
            free: NIL,
            len: 0,
        }
    }

    /// Number of pending timers (stale ones included: cancellation is lazy).
    pub fn len(&self) -> usize {
        self.len
    }

    /// No timers are pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `key` to fire at the first [`expire`](Self::expire) call with
    /// `now >= deadline`. O(1); does not allocate once the pool has grown to
    /// the peak number of pending timers.
    pub fn insert(&mut self, deadline: Instant, key: K) {
        let entry = Entry {
            deadline: deadline.total_micros(),
            key,
            next: NIL,
        };
        let idx = if self.free != NIL {
            let idx = self.free;
            let slot = &mut self.pool[idx as usize];
            self.free = slot.next;
            *slot = entry;
            idx
        } else {
            let idx = self.pool.len();
            assert!(idx < NIL as usize, "TimerWheel: too many timers");
            self.pool.push(entry);
            idx as u32
        };
        self.link(idx);
        self.len += 1;
    }

    /// Puts pool entry `idx` on the list its deadline belongs to now.
    #[inline]
    fn link(&mut self, idx: u32) {
        let entry = &mut self.pool[idx as usize];
        let tick = (entry.deadline / TICK_US).max(self.elapsed);
        let list = match level_for(self.elapsed, tick) {
            Some(level) => {
                let slot = ((tick >> (SLOT_BITS * level as u32)) as usize) & (SLOTS - 1);
                let level = &mut self.levels[level];
                level.occupied |= 1 << slot;
                &mut level.slots[slot]
            }
            None => &mut self.overflow,
        };
        entry.next = list.head;
        list.head = idx;
        list.min = list.min.min(entry.deadline);
    }

    /// Returns pool entry `idx` to the free list.
    #[inline]
    fn release(&mut self, idx: u32) {
        self.pool[idx as usize].next = self.free;
        self.free = idx;
        self.len -= 1;
    }

    /// Empties slot `slot` of `level` and returns its list head.
    #[inline]
    fn take_slot(&mut self, level: usize, slot: usize) -> u32 {
        let level = &mut self.levels[level];
        level.occupied &= !(1 << slot);
        core::mem::replace(&mut level.slots[slot], List::EMPTY).head
    }

    /// The first occupied slot of the lowest occupied level, as `(level,
    /// slot, start tick)`. Invariant: at level 0 no occupied slot precedes
    /// `elapsed`'s digit, and at higher levels every occupied slot follows
    /// it, so the lowest set bit is the next slot in time.
    #[inline]
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (l, level) in self.levels.iter().enumerate() {
            if level.occupied != 0 {
                let slot = level.occupied.trailing_zeros() as usize;
                let shift = SLOT_BITS * l as u32;
                let block = self.elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
                let start = block + ((slot as u64) << shift);
                debug_assert!(start >= self.elapsed, "slot behind the wheel");
                return Some((l, slot, start));
            }
        }
        None
    }

    /// The earliest pending deadline: the earliest time at which
    /// [`expire`](Self::expire) would return something. Never later than any
    /// pending deadline (it is exact; it may be in the past if a timer was
    /// inserted with a past deadline). `None` when empty.
    pub fn next_deadline(&self) -> Option<Instant> {
        let min = match self.next_slot() {
            Some((level, slot, _)) => self.levels[level].slots[slot].min,
            None if self.overflow.head != NIL => self.overflow.min,
            None => return None,
        };
        Some(Instant::from_micros(min))
    }

    /// Removes every timer whose deadline is `<= now` and calls
    /// `fire(deadline, key)` for each, in millisecond order. Returns how many
    /// fired. Timers whose deadline is in `now`'s millisecond but after `now`
    /// stay pending.
    ///
    /// `fire` cannot touch the wheel; to re-arm from a fired timer, collect
    /// the keys first (e.g. into a reused `Vec`) and insert afterwards.
    pub fn expire(&mut self, now: Instant, mut fire: impl FnMut(Instant, K)) -> usize {
        let now_us = now.total_micros();
        let now_tick = now_us / TICK_US;
        let mut fired = 0;
        loop {
            if let Some((level, slot, start)) = self.next_slot() {
                if start > now_tick {
                    break;
                }
                self.elapsed = self.elapsed.max(start);
                let mut idx = self.take_slot(level, slot);
                if level > 0 {
                    // Cascade: the slot's entries all share `start`'s digits
                    // from `level` up, so they land on lower levels.
                    while idx != NIL {
                        let next = self.pool[idx as usize].next;
                        self.link(idx);
                        idx = next;
                    }
                    continue;
                }
                // Level 0: one tick. Fire what is due; keep the rest (only
                // possible in `now`'s own millisecond).
                while idx != NIL {
                    let Entry {
                        deadline,
                        key,
                        next,
                    } = self.pool[idx as usize];
                    if deadline <= now_us {
                        self.release(idx);
                        fired += 1;
                        fire(Instant::from_micros(deadline), key);
                    } else {
                        debug_assert_eq!(start, now_tick);
                        self.link(idx);
                    }
                    idx = next;
                }
                if start == now_tick {
                    // Everything before `now`'s slot is done, and the rest of
                    // that slot is not due yet.
                    break;
                }
            } else if self.overflow.head != NIL {
                // The wheel is empty. Move into the block of the earliest
                // overflow entry once it begins, and re-sort the overflow:
                // entries of that block enter the wheel.
                let block_mask = (1u64 << WHEEL_BITS) - 1;
                let start = (self.overflow.min / TICK_US) & !block_mask;
                if start > now_tick {
                    break;
                }
                self.elapsed = self.elapsed.max(start);
                let mut idx = core::mem::replace(&mut self.overflow, List::EMPTY).head;
                while idx != NIL {
                    let next = self.pool[idx as usize].next;
                    self.link(idx);
                    idx = next;
                }
            } else {
                break;
            }
        }
        // Nothing remains in a slot that starts before `now_tick`, so the
        // wheel can stand at `now_tick`; overflow entries are all in later
        // blocks than it (else the loop would have moved them in).
        self.elapsed = self.elapsed.max(now_tick);
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::rand::Rng;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn us(micros: u64) -> Instant {
        Instant::from_micros(micros)
    }

    fn ms(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    fn collect(w: &mut TimerWheel<u32>, now: Instant) -> Vec<(Instant, u32)> {
        let mut out = Vec::new();
        w.expire(now, |d, k| out.push((d, k)));
        out.sort_by_key(|&(d, k)| (d, k));
        out
    }

    /// A reference model: drives the wheel and a sorted map side by side and
    /// checks, after every step, that exactly the due entries fired and that
    /// `next_deadline` is the true earliest deadline.
    struct Model {
        wheel: TimerWheel<u32>,
        pending: BTreeMap<(u64, u32), ()>,
        next_key: u32,
        now: u64,
    }

    impl Model {
        fn new(start: u64) -> Model {
            Model {
                wheel: TimerWheel::new(us(start)),
                pending: BTreeMap::new(),
                next_key: 0,
                now: start,
            }
        }

        fn insert(&mut self, deadline: u64) {
            let key = self.next_key;
            self.next_key += 1;
            self.wheel.insert(us(deadline), key);
            self.pending.insert((deadline, key), ());
            self.check_next();
        }

        #[track_caller]
        fn advance_to(&mut self, now: u64) {
            assert!(now >= self.now);
            self.now = now;
            let mut fired = Vec::new();
            let n = self
                .wheel
                .expire(us(now), |d, k| fired.push((d.total_micros(), k)));
            assert_eq!(n, fired.len());
            fired.sort();
            let due: Vec<(u64, u32)> = self
                .pending
                .range(..=(now, u32::MAX))
                .map(|(&e, _)| e)
                .collect();
            for e in &due {
                self.pending.remove(e);
            }
            // Exactly the due ones: none early, none late, none twice.
            assert_eq!(fired, due, "at now = {now}");
            self.check_next();
        }

        #[track_caller]
        fn check_next(&self) {
            assert_eq!(self.wheel.len(), self.pending.len());
            assert_eq!(self.wheel.is_empty(), self.pending.is_empty());
            let truth = self.pending.keys().next().map(|&(d, _)| d);
            let got = self.wheel.next_deadline().map(Instant::total_micros);
            match (got, truth) {
                (None, None) => {}
                (Some(g), Some(t)) => {
                    assert!(g <= t, "next_deadline {g} after earliest {t}");
                    assert_eq!(g, t, "next_deadline not exact");
                }
                _ => panic!("next_deadline {got:?}, earliest {truth:?}"),
            }
        }
    }

    #[test]
    fn sub_millisecond_deadlines_never_fire_early() {
        let mut w = TimerWheel::new(ms(10));
        w.insert(us(10_500), 1);
        w.insert(us(10_400), 2);
        w.insert(us(10_999), 3);
        assert_eq!(w.next_deadline(), Some(us(10_400)));
        assert_eq!(collect(&mut w, us(10_399)), []);
        assert_eq!(collect(&mut w, us(10_400)), [(us(10_400), 2)]);
        assert_eq!(w.next_deadline(), Some(us(10_500)));
        assert_eq!(collect(&mut w, us(10_499)), []);
        assert_eq!(collect(&mut w, us(10_998)), [(us(10_500), 1)]);
        assert_eq!(w.next_deadline(), Some(us(10_999)));
        assert_eq!(collect(&mut w, us(11_000)), [(us(10_999), 3)]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn past_deadlines_fire_at_next_expire() {
        let mut w = TimerWheel::new(ms(1000));
        w.insert(ms(3), 1);
        w.insert(ms(1000), 2);
        assert_eq!(w.next_deadline(), Some(ms(3)));
        assert_eq!(collect(&mut w, ms(1000)), [(ms(3), 1), (ms(1000), 2)]);
        w.insert(Instant::ZERO, 3);
        assert_eq!(collect(&mut w, ms(1000)), [(Instant::ZERO, 3)]);
    }

    #[test]
    fn many_timers_in_the_same_millisecond() {
        let mut w = TimerWheel::new(Instant::ZERO);
        for k in 0..10_000u32 {
            w.insert(us(5_000 + u64::from(k % 1000)), k);
        }
        assert_eq!(w.len(), 10_000);
        assert_eq!(w.next_deadline(), Some(ms(5)));
        assert_eq!(w.expire(us(4_999), |_, _| panic!("early")), 0);
        let fired = collect(&mut w, us(5_499));
        assert_eq!(fired.len(), 5_000);
        assert!(fired.iter().all(|&(d, k)| d <= us(5_499) && k % 1000 < 500));
        assert_eq!(w.next_deadline(), Some(us(5_500)));
        assert_eq!(collect(&mut w, us(5_999)).len(), 5_000);
        assert!(w.is_empty());
    }

    #[test]
    fn long_deadlines_cascade_through_every_level() {
        let ms_us = 1000;
        let hour_us = 3_600_000 * ms_us;
        let start = 123_456;
        let mut m = Model::new(start);
        for d in [
            hour_us,
            2 * hour_us + 500, // 2 h and half a millisecond
            25 * hour_us,
            3 * 24 * hour_us + 7,
            40 * 24 * hour_us,
            64 * ms_us + 1,         // level 1
            4096 * ms_us,           // level 2
            262_144 * ms_us - 1,    // level 2, last slot
            16_777_216 * ms_us + 3, // level 4
        ] {
            m.insert(start + d);
        }
        // March in big and small steps, including just before each deadline.
        let deadlines: Vec<u64> = m.pending.keys().map(|&(d, _)| d).collect();
        for d in deadlines {
            m.advance_to(d - 1);
            assert_eq!(m.pending.keys().next().unwrap().0, d);
            m.advance_to(d);
        }
        assert!(m.wheel.is_empty());
    }

    #[test]
    fn deadlines_beyond_the_wheel_use_overflow() {
        let block = 1u64 << WHEEL_BITS; // ms in 64^6 ms
        // Start just before a block boundary so that short deadlines cross it.
        let start = (block - 10) * 1000;
        let mut m = Model::new(start);
        m.insert(start + 5_000); // same block
        m.insert(start + 20_000); // next block, 20 ms away
        m.insert(start + 20_001);
        m.insert(start + 3 * block * 1000); // far beyond the wheel
        m.insert(start + 3 * block * 1000 + 1);
        m.insert(u64::MAX - 1);
        m.advance_to(start + 19_999);
        m.advance_to(start + 20_000);
        m.advance_to(start + 20_000);
        m.advance_to(start + 3 * block * 1000);
        m.advance_to(start + 3 * block * 1000 + 1);
        m.advance_to(u64::MAX - 2);
        m.advance_to(u64::MAX);
        assert!(m.wheel.is_empty());
    }

    #[test]
    fn jump_over_a_long_idle_period_fires_everything_in_order() {
        let mut w = TimerWheel::new(Instant::ZERO);
        let mut rng = Rng::new(1);
        for k in 0..1000 {
            w.insert(us(rng.gen_range(0..86_400_000_000u64)), k);
        }
        let mut last = Instant::ZERO;
        let mut n = 0;
        w.expire(ms(86_400_000), |d, _| {
            // Millisecond order across slots.
            assert!(d.total_millis() >= last.total_millis());
            last = d;
            n += 1;
        });
        assert_eq!(n, 1000);
        assert!(w.is_empty());
    }

    #[test]
    fn steady_state_does_not_grow_the_pool() {
        let mut w = TimerWheel::with_capacity(Instant::ZERO, 1024);
        let mut rng = Rng::new(2);
        let mut now = 0u64;
        for k in 0..1000u32 {
            w.insert(us(now + rng.gen_range(1..200_000u64)), k);
        }
        let mut fired = Vec::with_capacity(1024);
        for _ in 0..20_000 {
            now += 1000;
            fired.clear();
            w.expire(us(now), |_, k| fired.push(k));
            for &k in &fired {
                w.insert(us(now + rng.gen_range(1..200_000u64)), k);
            }
            assert_eq!(w.len(), 1000);
        }
        assert_eq!(w.pool.len(), 1000);
        assert_eq!(w.pool.capacity(), 1024);
    }

    #[test]
    fn lazy_cancellation_with_generations() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        struct Key {
            handle: u32,
            generation: u32,
        }
        let mut generation = [0u32; 2];
        let mut w = TimerWheel::new(Instant::ZERO);
        w.insert(
            ms(10),
            Key {
                handle: 0,
                generation: 0,
            },
        );
        w.insert(
            ms(10),
            Key {
                handle: 1,
                generation: 0,
            },
        );
        // Re-arm handle 0: bump its generation, insert the new deadline.
        generation[0] += 1;
        w.insert(
            ms(20),
            Key {
                handle: 0,
                generation: 1,
            },
        );
        let mut live = Vec::new();
        for now in [ms(10), ms(20)] {
            w.expire(now, |_, k| {
                if k.generation == generation[k.handle as usize] {
                    live.push((now, k.handle));
                }
            });
        }
        assert_eq!(live, [(ms(10), 1), (ms(20), 0)]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Insert a timer at `now + offset` (offset may be negative: past).
        Insert(i64),
        /// Call `expire` at `now + step`.
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            // Within a few ms, microsecond precision.
            4 => (-2_000i64..5_000).prop_map(Op::Insert),
            // Up to a minute.
            3 => (0i64..60_000_000).prop_map(Op::Insert),
            // Hours to weeks.
            1 => (0i64..1_000_000_000_000).prop_map(Op::Insert),
            // Beyond the wheel (64^6 ms is about 6.9e13 µs).
            1 => (60_000_000_000_000i64..200_000_000_000_000).prop_map(Op::Insert),
            5 => (0u64..3_000).prop_map(Op::Advance),
            2 => (0u64..100_000_000).prop_map(Op::Advance),
            1 => (0u64..100_000_000_000_000).prop_map(Op::Advance),
        ]
    }

    fn start() -> impl Strategy<Value = u64> {
        let block_us = (1u64 << WHEEL_BITS) * 1000;
        prop_oneof![
            0u64..10_000_000,
            // Near level and block boundaries, where cascading is delicate.
            (0u64..5_000_000).prop_map(move |d| block_us - d),
            (0u64..5_000_000).prop_map(|d| (1u64 << 30) * 1000 - d),
            any::<u32>().prop_map(u64::from),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn fires_exactly_once_never_early_never_late(
            start in start(),
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let mut m = Model::new(start);
            for op in ops {
                match op {
                    Op::Insert(off) => {
                        let d = m.now.saturating_add_signed(off);
                        m.insert(d);
                    }
                    Op::Advance(step) => {
                        let now = m.now.saturating_add(step);
                        m.advance_to(now);
                    }
                }
            }
            // Drain: everything fires once time passes every deadline.
            while let Some(&(d, _)) = m.pending.keys().next() {
                m.advance_to(d.max(m.now));
            }
            prop_assert!(m.wheel.is_empty());
        }
    }
}
