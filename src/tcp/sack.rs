//! The sender's SACK scoreboard (RFC 2018, RFC 6675).
//!
//! It holds the ranges above SND.UNA that the peer has selectively
//! acknowledged, sorted and merged. Blocks outside (SND.UNA, SND.MAX] are
//! clipped or ignored and inverted blocks are ignored, and the list is
//! bounded: a peer that SACKs thousands of tiny ranges costs at most
//! [`MAX_RANGES`] entries and O([`MAX_RANGES`]) work per block.

use crate::wire::SeqNum;
use smallvec::SmallVec;

/// Most SACKed ranges remembered: enough for a window with hundreds of
/// scattered losses (a slow-start overshoot), small enough that the O(n)
/// work per block stays bounded. When a new block would exceed it, the
/// highest range is forgotten (it will be SACKed again or retransmitted).
pub const MAX_RANGES: usize = 1024;

/// RFC 6675's DupThresh.
pub const DUP_THRESH: usize = 3;

/// The SACKed ranges above SND.UNA, as sorted, disjoint, half-open
/// `[start, end)` sequence ranges.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    ranges: SmallVec<[(SeqNum, SeqNum); 8]>,
}

impl Scoreboard {
    /// Forgets every range.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Nothing is SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The SACKed ranges, lowest first.
    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    /// Records a SACK block; returns how many bytes it newly SACKed.
    pub fn add(&mut self, start: SeqNum, end: SeqNum, snd_una: SeqNum, snd_max: SeqNum) -> u32 {
        if end <= start {
            return 0;
        }
        let start = start.max(snd_una);
        let end = end.min(snd_max);
        if end <= start {
            return 0;
        }
        let before = self.sacked_bytes();
        // Merge with every range it overlaps or touches.
        let mut s = start;
        let mut e = end;
        let mut i = 0;
        let mut insert_at = self.ranges.len();
        while i < self.ranges.len() {
            let (rs, re) = self.ranges[i];
            if re < s {
                i += 1;
                continue;
            }
            if rs > e {
                insert_at = insert_at.min(i);
                break;
            }
            s = s.min(rs);
            e = e.max(re);
            self.ranges.remove(i);
            insert_at = i;
        }
        let at = insert_at.min(self.ranges.len());
        self.ranges.insert(at, (s, e));
        if self.ranges.len() > MAX_RANGES {
            self.ranges.pop();
        }
        self.sacked_bytes().saturating_sub(before)
    }

    /// Forgets everything below the new SND.UNA.
    pub fn advance(&mut self, snd_una: SeqNum) {
        self.ranges.retain(|r| r.1 > snd_una);
        if let Some(first) = self.ranges.first_mut()
            && first.0 < snd_una
        {
            first.0 = snd_una;
        }
    }

    /// Total bytes SACKed.
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges.iter().map(|&(s, e)| e - s).sum()
    }

    /// The byte at `seq` is SACKed.
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        self.ranges.iter().any(|&(s, e)| seq.in_range(s, e))
    }

    /// The highest SACKed sequence number (HighACK's SACK part).
    pub fn highest(&self) -> Option<SeqNum> {
        self.ranges.last().map(|r| r.1)
    }

    /// RFC 6675 IsLost(seq): more than (DupThresh - 1) * SMSS bytes above
    /// `seq` are SACKed, or DupThresh discontiguous ranges are.
    pub fn is_lost(&self, seq: SeqNum, mss: usize) -> bool {
        let mut bytes = 0u32;
        let mut count = 0usize;
        for &(s, e) in self.ranges.iter().rev() {
            if e <= seq {
                break;
            }
            bytes += e - s.max(seq);
            count += 1;
        }
        bytes as usize > (DUP_THRESH - 1) * mss || count >= DUP_THRESH
    }

    /// The unSACKed holes in [snd_una, snd_max), lowest first.
    pub fn holes(
        &self,
        snd_una: SeqNum,
        snd_max: SeqNum,
    ) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        let mut cursor = snd_una;
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < self.ranges.len() {
                let (s, e) = self.ranges[i];
                i += 1;
                if s > cursor {
                    let hole = (cursor, s);
                    cursor = cursor.max(e);
                    return Some(hole);
                }
                cursor = cursor.max(e);
            }
            if cursor < snd_max {
                let hole = (cursor, snd_max);
                cursor = snd_max;
                return Some(hole);
            }
            None
        })
    }

    /// RFC 6675 SetPipe(): octets thought to be in the network. A hole
    /// counts unless it is lost; its retransmitted part (below `high_rxt`)
    /// counts again.
    pub fn pipe(&self, snd_una: SeqNum, snd_max: SeqNum, high_rxt: SeqNum, mss: usize) -> usize {
        let mut pipe = 0usize;
        for (s, e) in self.holes(snd_una, snd_max) {
            if !self.is_lost(s, mss) {
                pipe += (e - s) as usize;
            }
            if high_rxt > s {
                pipe += (high_rxt.min(e) - s) as usize;
            }
        }
        pipe
    }

    /// RFC 6675 NextSeg() rule 1: the first lost, unSACKed sequence number
    /// at or above `high_rxt`, with the length up to the next SACKed range.
    pub fn next_lost(
        &self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        high_rxt: SeqNum,
        mss: usize,
    ) -> Option<(SeqNum, usize)> {
        let highest = self.highest()?;
        for (s, e) in self.holes(snd_una, snd_max) {
            if s >= highest {
                break;
            }
            let from = s.max(high_rxt);
            if from < e && self.is_lost(from, mss) {
                return Some((from, ((e - from) as usize).min(mss)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(blocks: &[(u32, u32)]) -> Scoreboard {
        let mut b = Scoreboard::default();
        for &(s, e) in blocks {
            b.add(SeqNum(s), SeqNum(e), SeqNum(0), SeqNum(100_000));
        }
        b
    }

    #[test]
    fn merges_and_clips() {
        let b = sb(&[(10, 20), (30, 40), (15, 35), (50, 60)]);
        assert_eq!(
            b.ranges(),
            &[(SeqNum(10), SeqNum(40)), (SeqNum(50), SeqNum(60))]
        );
        let mut b = Scoreboard::default();
        // Inverted, below SND.UNA and beyond SND.MAX.
        assert_eq!(b.add(SeqNum(20), SeqNum(10), SeqNum(0), SeqNum(100)), 0);
        assert_eq!(b.add(SeqNum(0), SeqNum(5), SeqNum(10), SeqNum(100)), 0);
        assert_eq!(b.add(SeqNum(90), SeqNum(500), SeqNum(0), SeqNum(100)), 10);
        assert_eq!(b.ranges(), &[(SeqNum(90), SeqNum(100))]);
    }

    #[test]
    fn bounded_under_many_tiny_blocks() {
        let mut b = Scoreboard::default();
        for i in 0..10_000u32 {
            b.add(SeqNum(i * 4), SeqNum(i * 4 + 1), SeqNum(0), SeqNum(1 << 30));
        }
        assert!(b.ranges().len() <= MAX_RANGES);
    }

    #[test]
    fn holes_pipe_and_loss() {
        let mss = 10;
        // Holes [0,10) [20,30) [40,100); SACKed [10,20) [30,40).
        let b = sb(&[(10, 20), (30, 40)]);
        let holes: Vec<_> = b.holes(SeqNum(0), SeqNum(100)).collect();
        assert_eq!(
            holes,
            vec![
                (SeqNum(0), SeqNum(10)),
                (SeqNum(20), SeqNum(30)),
                (SeqNum(40), SeqNum(100))
            ]
        );
        // 20 bytes SACKed above 0: not more than 2 * mss, and 2 ranges.
        assert!(!b.is_lost(SeqNum(0), mss));
        let b = sb(&[(10, 20), (30, 40), (50, 60)]);
        assert!(b.is_lost(SeqNum(0), mss));
        assert!(!b.is_lost(SeqNum(20), mss));
        assert_eq!(
            b.next_lost(SeqNum(0), SeqNum(100), SeqNum(0), mss),
            Some((SeqNum(0), 10))
        );
        assert_eq!(b.next_lost(SeqNum(0), SeqNum(100), SeqNum(10), mss), None);
        // Pipe: [0,10) lost (not counted), [20,30) [40,50) [60,100) counted.
        assert_eq!(b.pipe(SeqNum(0), SeqNum(100), SeqNum(0), mss), 60);
        // After retransmitting [0,10) it counts again.
        assert_eq!(b.pipe(SeqNum(0), SeqNum(100), SeqNum(10), mss), 70);
    }
}
