//! The sender's SACK scoreboard (RFC 2018, RFC 6675).
//!
//! It holds the ranges above SND.UNA that the peer has selectively
//! acknowledged, sorted and merged. Blocks outside (SND.UNA, SND.MAX] are
//! clipped or ignored and inverted blocks are ignored, and the list is
//! bounded: a peer that SACKs thousands of tiny ranges costs at most
//! [`MAX_RANGES`] entries and O([`MAX_RANGES`]) work per block.

use crate::wire::SeqNum;
use thin_vec::ThinVec;

/// Most SACKed ranges remembered: enough for a window with hundreds of
/// scattered losses (a slow-start overshoot), small enough that the O(n)
/// work per block stays bounded. When a new block would exceed it, the
/// highest range is forgotten (it will be SACKed again or retransmitted).
pub const MAX_RANGES: usize = 1024;

/// RFC 6675's DupThresh.
pub const DUP_THRESH: usize = 3;

/// The SACKed ranges above SND.UNA, as sorted, disjoint, half-open
/// `[start, end)` sequence ranges.
///
/// The list takes no memory until the first SACK block arrives: a
/// connection that never sees loss or reordering pays 24 bytes for it.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    ranges: ThinVec<(SeqNum, SeqNum)>,
}

/// Room reserved when the first block arrives.
const FIRST_RESERVE: usize = 8;

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
        if self.ranges.capacity() == 0 {
            self.ranges.reserve_exact(FIRST_RESERVE);
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

    /// The unSACKed parts of `[start, end)`, lowest first (RACK: what of a
    /// record is still missing, what of a SACK block is newly SACKed).
    pub fn holes_within(
        &self,
        start: SeqNum,
        end: SeqNum,
    ) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        let first = self.ranges.partition_point(|r| r.1 <= start);
        let mut cursor = start;
        let mut i = first;
        std::iter::from_fn(move || {
            while cursor < end {
                match self.ranges.get(i) {
                    Some(&(s, e)) if s < end => {
                        i += 1;
                        if s > cursor {
                            let hole = (cursor, s);
                            cursor = e.max(cursor);
                            return Some(hole);
                        }
                        cursor = e.max(cursor);
                    }
                    _ => {
                        let hole = (cursor, end);
                        cursor = end;
                        return Some(hole);
                    }
                }
            }
            None
        })
    }

    /// Bytes SACKed within `[start, end)`.
    pub fn sacked_within(&self, start: SeqNum, end: SeqNum) -> u32 {
        if end <= start {
            return 0;
        }
        let holes: u32 = self.holes_within(start, end).map(|(s, e)| e - s).sum();
        (end - start) - holes
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

/// RFC 6675 scoreboard edge cases not covered by `tests` above: the bytes
/// `add` reports, `advance`, the exact IsLost thresholds, NextSeg rule 1
/// and SetPipe with a partial HighRxt, and sequence wraparound.
#[cfg(test)]
mod rfc6675_tests {
    use super::*;

    const UNA: SeqNum = SeqNum(0);
    const MAX: SeqNum = SeqNum(1000);

    fn ranges(b: &Scoreboard) -> Vec<(u32, u32)> {
        b.ranges().iter().map(|&(s, e)| (s.0, e.0)).collect()
    }

    fn add(b: &mut Scoreboard, s: u32, e: u32) -> u32 {
        b.add(SeqNum(s), SeqNum(e), UNA, MAX)
    }

    #[test]
    fn add_reports_only_newly_sacked_bytes() {
        // RFC 6675 2 / 5 (Update()): a block marks octets SACKed; what it
        // adds is the octets not marked before (RFC 6937's DeliveredData
        // counts these).
        let mut b = Scoreboard::default();
        assert_eq!(add(&mut b, 100, 200), 100);
        // Partial overlap: only [200, 250) is new.
        assert_eq!(add(&mut b, 150, 250), 50);
        // The same block again: nothing new.
        assert_eq!(add(&mut b, 100, 250), 0);
        // Adjacent: merged into one range.
        assert_eq!(add(&mut b, 250, 300), 50);
        assert_eq!(ranges(&b), vec![(100, 300)]);
        assert_eq!(add(&mut b, 400, 500), 100);
        // Fills the gap between two ranges exactly: one range results.
        assert_eq!(add(&mut b, 300, 400), 100);
        assert_eq!(ranges(&b), vec![(100, 500)]);
        // Covers it with room on both sides: 50 + 100 new.
        assert_eq!(add(&mut b, 50, 600), 150);
        assert_eq!(ranges(&b), vec![(50, 600)]);
        assert_eq!(b.sacked_bytes(), 550);
    }

    #[test]
    fn holes_within_and_sacked_within_a_range() {
        // What RACK asks of the scoreboard: the unSACKed parts of a
        // record (what to resend), of a SACK block (what it newly SACKs),
        // and how much of a range is SACKed.
        let mut b = Scoreboard::default();
        add(&mut b, 100, 200);
        add(&mut b, 300, 400);
        let within = |b: &Scoreboard, s: u32, e: u32| -> Vec<(u32, u32)> {
            b.holes_within(SeqNum(s), SeqNum(e))
                .map(|(s, e)| (s.0, e.0))
                .collect()
        };
        assert_eq!(within(&b, 0, 500), vec![(0, 100), (200, 300), (400, 500)]);
        assert_eq!(within(&b, 150, 350), vec![(200, 300)]);
        assert_eq!(within(&b, 100, 200), vec![]);
        assert_eq!(within(&b, 120, 180), vec![]);
        assert_eq!(within(&b, 200, 300), vec![(200, 300)]);
        assert_eq!(within(&b, 250, 260), vec![(250, 260)]);
        assert_eq!(within(&b, 390, 600), vec![(400, 600)]);
        assert_eq!(within(&b, 500, 500), vec![]);
        assert_eq!(b.sacked_within(SeqNum(0), SeqNum(500)), 200);
        assert_eq!(b.sacked_within(SeqNum(150), SeqNum(350)), 100);
        assert_eq!(b.sacked_within(SeqNum(200), SeqNum(300)), 0);
        assert_eq!(b.sacked_within(SeqNum(300), SeqNum(300)), 0);
    }

    #[test]
    fn add_keeps_ranges_sorted_whatever_the_arrival_order() {
        // RFC 2018 4: the first block is the most recent, not the lowest;
        // the scoreboard keeps its own order.
        let mut b = Scoreboard::default();
        add(&mut b, 500, 600);
        add(&mut b, 100, 200);
        add(&mut b, 300, 400);
        assert_eq!(ranges(&b), vec![(100, 200), (300, 400), (500, 600)]);
        // One block bridging all three.
        assert_eq!(add(&mut b, 150, 550), 200);
        assert_eq!(ranges(&b), vec![(100, 600)]);
    }

    #[test]
    fn add_clips_to_una_and_max() {
        // RFC 2018 / RFC 6675 5.1: SACK information is about octets above
        // the cumulative ACK point and at most what was sent (SND.MAX).
        let mut b = Scoreboard::default();
        let (una, max) = (SeqNum(100), SeqNum(1000));
        // Straddles SND.UNA: only [100, 150) is kept.
        assert_eq!(b.add(SeqNum(50), SeqNum(150), una, max), 50);
        // Ends exactly at SND.UNA: entirely old.
        assert_eq!(b.add(SeqNum(90), SeqNum(100), una, max), 0);
        // Starts at SND.MAX: never sent.
        assert_eq!(b.add(SeqNum(1000), SeqNum(1100), una, max), 0);
        // Empty block.
        assert_eq!(b.add(SeqNum(500), SeqNum(500), una, max), 0);
        assert_eq!(ranges(&b), vec![(100, 150)]);
    }

    #[test]
    fn advance_drops_and_clips() {
        // RFC 6675 5 (Update()): octets at or below the new cumulative ACK
        // leave the scoreboard.
        let mut b = Scoreboard::default();
        add(&mut b, 100, 200);
        add(&mut b, 300, 400);
        add(&mut b, 500, 600);
        b.advance(SeqNum(150));
        assert_eq!(ranges(&b), vec![(150, 200), (300, 400), (500, 600)]);
        // Exactly the end of a range: the range goes.
        b.advance(SeqNum(200));
        assert_eq!(ranges(&b), vec![(300, 400), (500, 600)]);
        // Into a hole: nothing changes.
        b.advance(SeqNum(250));
        assert_eq!(ranges(&b), vec![(300, 400), (500, 600)]);
        b.advance(SeqNum(550));
        assert_eq!(ranges(&b), vec![(550, 600)]);
        assert_eq!(b.sacked_bytes(), 50);
        b.advance(SeqNum(700));
        assert!(b.is_empty());
        assert_eq!(b.highest(), None);
    }

    #[test]
    fn is_sacked_highest_and_clear() {
        // Ranges are half-open: the right edge of a SACK block is the
        // octet after the last one received (RFC 2018 3).
        let mut b = Scoreboard::default();
        assert_eq!(b.highest(), None);
        add(&mut b, 100, 200);
        add(&mut b, 300, 400);
        assert!(!b.is_sacked(SeqNum(99)));
        assert!(b.is_sacked(SeqNum(100)));
        assert!(b.is_sacked(SeqNum(199)));
        assert!(!b.is_sacked(SeqNum(200)));
        assert!(!b.is_sacked(SeqNum(299)));
        assert!(b.is_sacked(SeqNum(399)));
        assert!(!b.is_sacked(SeqNum(400)));
        assert_eq!(b.highest(), Some(SeqNum(400)));
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.highest(), None);
        assert_eq!(b.sacked_bytes(), 0);
        assert!(!b.is_sacked(SeqNum(150)));
    }

    #[test]
    fn is_lost_byte_threshold_is_strict() {
        // RFC 6675 4 IsLost: lost when MORE than (DupThresh - 1) * SMSS
        // octets above are SACKed. With SMSS 100 that is more than 200.
        let mss = 100;
        let mut b = Scoreboard::default();
        add(&mut b, 100, 300); // exactly 200, one range
        assert!(!b.is_lost(SeqNum(0), mss));
        add(&mut b, 300, 301); // 201 (merged, still one range)
        assert!(b.is_lost(SeqNum(0), mss));
        // Only the octets above seq count: from 50 up it is still 201,
        // from 150 up only 151.
        assert!(b.is_lost(SeqNum(50), mss));
        assert!(!b.is_lost(SeqNum(150), mss));
        // Split over two ranges: 100 + 101 = 201.
        let mut b = Scoreboard::default();
        add(&mut b, 100, 200);
        add(&mut b, 300, 401);
        assert!(b.is_lost(SeqNum(0), mss));
        assert!(!b.is_lost(SeqNum(200), mss));
    }

    #[test]
    fn is_lost_range_count_threshold() {
        // RFC 6675 4 IsLost: DupThresh (3) discontiguous SACKed sequences
        // above seq, however few octets they hold.
        let mss = 1000;
        let mut b = Scoreboard::default();
        add(&mut b, 10, 11);
        add(&mut b, 20, 21);
        assert!(!b.is_lost(SeqNum(0), mss));
        add(&mut b, 30, 31);
        assert!(b.is_lost(SeqNum(0), mss));
        assert!(b.is_lost(SeqNum(9), mss));
        // Above the first range only two remain.
        assert!(!b.is_lost(SeqNum(15), mss));
        // Above all of them nothing is SACKed.
        assert!(!b.is_lost(SeqNum(31), mss));
    }

    /// SMSS 10; SACKed [30,40) [50,60) [70,80) below SND.MAX 100. Holes:
    /// [0,30) with three ranges above (lost), [40,50) and [60,70) with
    /// two ranges and 20 octets above (not lost: not more than 2 * 10),
    /// [80,100) above every SACK (not lost).
    fn three_blocks() -> Scoreboard {
        let mut b = Scoreboard::default();
        add(&mut b, 30, 40);
        add(&mut b, 50, 60);
        add(&mut b, 70, 80);
        b
    }

    #[test]
    fn next_lost_starts_at_high_rxt_and_stops_at_the_hole() {
        // RFC 6675 4 NextSeg() rule 1: the first unSACKed octet S2 past
        // HighRxt with IsLost(S2); at most one SMSS, and no SACKed octet.
        let mss = 10;
        let b = three_blocks();
        let next = |hr: u32| b.next_lost(SeqNum(0), SeqNum(100), SeqNum(hr), mss);
        assert_eq!(next(0), Some((SeqNum(0), 10)));
        assert_eq!(next(10), Some((SeqNum(10), 10)));
        // Mid-hole: from HighRxt to the hole's end, 5 octets.
        assert_eq!(next(25), Some((SeqNum(25), 5)));
        // The lost hole is fully retransmitted; the others are not lost.
        assert_eq!(next(30), None);
        // Beyond every hole.
        assert_eq!(next(90), None);
    }

    #[test]
    fn next_lost_needs_sack_information() {
        // RFC 6675 4 IsLost: with nothing SACKed nothing is lost, however
        // much is outstanding (the RTO, not NextSeg, recovers it).
        let b = Scoreboard::default();
        assert_eq!(b.next_lost(SeqNum(0), SeqNum(1000), SeqNum(0), 10), None);
        // The byte rule decides with SMSS: 40 SACKed octets above 0 make
        // [0,10) lost with SMSS 10 (40 > 20), not with SMSS 20 (40 = 40).
        let mut b = Scoreboard::default();
        add(&mut b, 10, 50);
        assert_eq!(
            b.next_lost(SeqNum(0), SeqNum(100), SeqNum(0), 10),
            Some((SeqNum(0), 10))
        );
        assert_eq!(b.next_lost(SeqNum(0), SeqNum(100), SeqNum(0), 20), None);
    }

    #[test]
    fn pipe_without_sack_is_flight_plus_retransmissions() {
        // RFC 6675 4 SetPipe(): nothing SACKed, so no octet is lost (a),
        // and each octet below HighRxt counts once more (b).
        let b = Scoreboard::default();
        assert_eq!(b.pipe(SeqNum(0), SeqNum(100), SeqNum(0), 10), 100);
        assert_eq!(b.pipe(SeqNum(0), SeqNum(100), SeqNum(30), 10), 130);
        assert_eq!(b.pipe(SeqNum(0), SeqNum(0), SeqNum(0), 10), 0);
    }

    #[test]
    fn pipe_counts_per_octet_with_partial_high_rxt() {
        // RFC 6675 4 SetPipe(), for each unSACKed octet between HighACK
        // and HighData: (a) +1 if not IsLost, (b) +1 if retransmitted.
        let mss = 10;
        let b = three_blocks();
        let pipe = |hr: u32| b.pipe(SeqNum(0), SeqNum(100), SeqNum(hr), mss);
        // (a) only: [40,50) 10 + [60,70) 10 + [80,100) 20.
        assert_eq!(pipe(0), 40);
        // Two thirds of the lost hole retransmitted: (b) adds 20.
        assert_eq!(pipe(20), 60);
        assert_eq!(pipe(30), 70);
        // HighRxt inside the not-lost hole [40,50): its first 5 octets
        // count twice; the SACKed [30,40) below HighRxt never counts.
        // 30 + (10 + 5) + 10 + 20 = 75.
        assert_eq!(pipe(45), 75);
        // HighRxt at 65: 30 + 20 + (10 + 5) + 20 = 85.
        assert_eq!(pipe(65), 85);
    }

    /// SND.UNA 50 octets below 2^32: offsets from it.
    fn w(off: u32) -> SeqNum {
        SeqNum(u32::MAX - 49) + off
    }

    #[test]
    fn wraparound_near_two_to_the_32() {
        // RFC 9293 3.4: sequence arithmetic is modulo 2^32; the scoreboard
        // must work the same when SND.UNA..SND.MAX spans the wrap.
        let mss = 10;
        let (una, max) = (w(0), w(200));
        let mut b = Scoreboard::default();
        // Straddles the wrap (w(50) is 0).
        assert_eq!(w(50), SeqNum(0));
        assert_eq!(b.add(w(40), w(60), una, max), 20);
        assert_eq!(b.add(w(80), w(90), una, max), 10);
        assert_eq!(b.add(w(100), w(110), una, max), 10);
        // Below SND.UNA, clipped to it.
        assert_eq!(b.add(w(0) - 10, w(5), una, max), 5);
        assert_eq!(
            b.ranges(),
            &[
                (w(0), w(5)),
                (w(40), w(60)),
                (w(80), w(90)),
                (w(100), w(110))
            ]
        );
        assert_eq!(b.sacked_bytes(), 45);
        assert!(b.is_sacked(SeqNum(u32::MAX)));
        assert!(b.is_sacked(SeqNum(0)));
        assert!(!b.is_sacked(w(60)));
        assert_eq!(b.highest(), Some(SeqNum(60)));
        let holes: Vec<_> = b.holes(una, max).collect();
        assert_eq!(
            holes,
            vec![
                (w(5), w(40)),
                (w(60), w(80)),
                (w(90), w(100)),
                (w(110), w(200))
            ]
        );
        // [w5,w40) has three ranges above: lost. [w60,w80): two ranges,
        // 20 octets: not lost.
        assert!(b.is_lost(w(5), mss));
        assert!(!b.is_lost(w(60), mss));
        assert_eq!(b.next_lost(una, max, una, mss), Some((w(5), 10)));
        assert_eq!(b.next_lost(una, max, w(38), mss), Some((w(38), 2)));
        // SetPipe: 0 + 20 + 10 + 90 = 120; with [w5,w40) resent, +35.
        assert_eq!(b.pipe(una, max, una, mss), 120);
        assert_eq!(b.pipe(una, max, w(40), mss), 155);
        // A block bridging the hole [w60,w80) merges the ranges around it.
        assert_eq!(b.add(w(55), w(85), una, max), 20);
        assert_eq!(b.ranges()[1], (w(40), w(90)));
        // Cumulative ACK past the wrap point.
        b.advance(w(55));
        assert_eq!(b.ranges(), &[(w(55), w(90)), (w(100), w(110))]);
    }

    #[test]
    fn full_scoreboard_forgets_the_highest_range() {
        // MAX_RANGES bound (module doc): a new range beyond the limit
        // costs the highest one, never a lower one.
        let mut b = Scoreboard::default();
        let max = SeqNum(1 << 20);
        for i in 0..MAX_RANGES as u32 {
            b.add(SeqNum(i * 4 + 4), SeqNum(i * 4 + 5), UNA, max);
        }
        assert_eq!(b.ranges().len(), MAX_RANGES);
        let top = b.highest().unwrap();
        assert_eq!(top, SeqNum(MAX_RANGES as u32 * 4 + 1));
        b.add(SeqNum(1), SeqNum(2), UNA, max);
        assert_eq!(b.ranges().len(), MAX_RANGES);
        assert_eq!(b.ranges()[0], (SeqNum(1), SeqNum(2)));
        assert_eq!(b.highest(), Some(top - 4));
    }
}
