//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 3.4).
//!
//! Never compare raw `u32` sequence numbers: `a < b` is wrong across the wrap.
//! [`SeqNum`] orders by the sign of the wrapping difference, which is correct
//! whenever the two values are less than 2^31 apart, as TCP guarantees.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgement) number, ordered modulo 2^32 (RFC 9293
/// 3.4); the field is the raw 32-bit value as it appears on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `other` to `self` (`self - other`).
    #[inline]
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self` lies in the half-open range `[lo, hi)`.
    #[inline]
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.0.wrapping_sub(lo.0) < hi.0.wrapping_sub(lo.0)
    }

    /// The later of the two in sequence space.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self >= other { self } else { other }
    }

    /// The earlier of the two in sequence space.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self <= other { self } else { other }
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeqNum {
    /// Wrapping order. Not a total order over all of u32 (it is not
    /// transitive across more than 2^31), but TCP never compares values that
    /// far apart.
    fn cmp(&self, other: &SeqNum) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<u32> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl AddAssign<usize> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: usize) {
        self.0 = self.0.wrapping_add(rhs as u32);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    /// The forward distance from `rhs` to `self`. Callers must know that
    /// `self >= rhs`; a negative distance is a logic error and saturates to 0
    /// in release builds after a debug assertion.
    #[inline]
    fn sub(self, rhs: SeqNum) -> u32 {
        let d = self.diff(rhs);
        debug_assert!(
            d >= 0,
            "sequence subtraction went negative: {self:?} - {rhs:?}"
        );
        d.max(0) as u32
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_across_the_wrap() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20u32;
        assert_eq!(b.0, 9);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b - a, 20);
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
    }

    #[test]
    fn in_range_wraps() {
        let lo = SeqNum(u32::MAX - 1);
        let hi = lo + 4u32;
        assert!(lo.in_range(lo, hi));
        assert!((lo + 3u32).in_range(lo, hi));
        assert!(!hi.in_range(lo, hi));
        assert!(!(lo - 1).in_range(lo, hi));
        assert!(!lo.in_range(lo, lo));
    }

    #[test]
    fn max_min_wrap() {
        let a = SeqNum(u32::MAX);
        let b = SeqNum(1);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }
}
