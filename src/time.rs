//! Time as the sans-IO layers see it.
//!
//! The protocol core never reads a clock: every entry point takes `now` as an
//! [`Instant`], a count of microseconds since an epoch the caller chooses (the
//! runtime uses the moment it started; the simulator starts at zero). `now`
//! must never go backwards between calls on the same stack.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in time, in microseconds since the driver's epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// The instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis * 1000,
        }
    }

    /// Microseconds since the epoch.
    pub const fn total_micros(self) -> u64 {
        self.micros
    }

    /// Whole milliseconds since the epoch (rounded down).
    pub const fn total_millis(self) -> u64 {
        self.micros / 1000
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let add = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Instant {
            micros: self.micros.saturating_add(add),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An `Option<Duration>` of the scale of round-trip times and timeouts in
/// 4 bytes instead of 24: whole microseconds (the clock's resolution; the
/// part below is dropped), up to 71 minutes (longer is kept as just under
/// 71.6), `u32::MAX` for none. Ordered with none last, so `min` keeps the
/// shorter of two durations and any duration over none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PackedDuration(u32);

impl PackedDuration {
    /// No duration.
    pub(crate) const NONE: PackedDuration = PackedDuration(u32::MAX);

    /// `d`, in whole microseconds, at most `u32::MAX - 1` of them.
    pub(crate) fn new(d: Duration) -> PackedDuration {
        PackedDuration(
            u32::try_from(d.as_micros())
                .unwrap_or(u32::MAX - 1)
                .min(u32::MAX - 1),
        )
    }

    pub(crate) fn get(self) -> Option<Duration> {
        (self != Self::NONE).then(|| Duration::from_micros(u64::from(self.0)))
    }

    /// The duration; zero for none.
    pub(crate) fn or_zero(self) -> Duration {
        self.get().unwrap_or_default()
    }
}

/// An `Option<Instant>` in 8 bytes instead of 16: `u64::MAX` microseconds
/// for none. Ordered with none last, so the earliest of several deadlines
/// is their `min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PackedInstant(u64);

impl PackedInstant {
    /// No instant.
    pub(crate) const NONE: PackedInstant = PackedInstant(u64::MAX);

    /// `t` (the last microsecond of time is kept just short of none).
    pub(crate) fn new(t: Instant) -> PackedInstant {
        PackedInstant(t.micros.min(u64::MAX - 1))
    }

    pub(crate) fn of(t: Option<Instant>) -> PackedInstant {
        t.map_or(Self::NONE, Self::new)
    }

    pub(crate) fn get(self) -> Option<Instant> {
        (self != Self::NONE).then_some(Instant { micros: self.0 })
    }

    pub(crate) fn is_some(self) -> bool {
        self != Self::NONE
    }
}

#[cfg(test)]
mod packed_tests {
    use super::*;

    #[test]
    fn packed_values_round_trip_and_order_none_last() {
        let d = Duration::from_micros(1_234_567);
        assert_eq!(PackedDuration::new(d).get(), Some(d));
        assert_eq!(
            PackedDuration::new(Duration::from_nanos(1_999)).get(),
            Some(Duration::from_micros(1))
        );
        let long = PackedDuration::new(Duration::from_secs(10_000)).get();
        assert_eq!(long, Some(Duration::from_micros(u64::from(u32::MAX - 1))));
        assert_eq!(PackedDuration::NONE.get(), None);
        assert_eq!(
            PackedDuration::new(d).min(PackedDuration::NONE).get(),
            Some(d)
        );
        assert_eq!(PackedDuration::NONE.or_zero(), Duration::ZERO);
        let t = Instant::from_micros(42);
        assert_eq!(PackedInstant::new(t).get(), Some(t));
        assert_eq!(PackedInstant::of(None), PackedInstant::NONE);
        assert!(PackedInstant::new(t) < PackedInstant::NONE);
        assert!(!PackedInstant::NONE.is_some());
    }
}
