//! RACK-TLP loss detection (RFC 8985), on its own: the record of every
//! transmission still in flight, the RACK state kept from what the peer
//! delivered, the reordering window, and the probe timeout of TLP.
//!
//! Read RFC 8985 section 6.2 first: [`Rack::on_cum_ack`] and
//! [`Rack::on_sacked`] are its steps 1 to 3 (the RTT of the most recently
//! sent segment delivered, and reordering seen), [`Rack::reo_wnd`] and
//! [`Rack::on_dsack`] step 4, [`Rack::detect_loss`] step 5. Section 7.2 is
//! [`pto`]. The TCB decides what to do with the losses found (recovery,
//! retransmission, the RACK timer): see `tcb/recovery.rs`.
//!
//! # The records and what each ACK costs
//!
//! One [`SentSeg`] per transmission (a TSO super-segment is one record),
//! in sequence order, disjoint. Two orders matter:
//!
//! - By sequence number, for what an ACK delivers: a cumulative ACK pops
//!   records from the front; a SACK block's newly SACKed bytes are found
//!   by binary search. Both cost what was delivered, not what is in
//!   flight.
//! - By transmit time, for step 5, which looks at segments oldest first
//!   and stops at the first that is not yet overdue. Records never
//!   retransmitted are sent in sequence order, so among them sequence
//!   order *is* time order: a cursor (`orig_from`) passes each one once.
//!   Retransmitted records are also listed by time in `rtq` (their end
//!   and send time; an entry whose record has changed since is stale and
//!   dropped when reached). So step 5 visits each transmission once when
//!   it is declared lost or delivered, plus one per ACK: O(1) amortized,
//!   with a binary search per retransmission visited.
//!
//! Memory: a pointer inline while nothing is in flight (the records live
//! in a box allocated with the first transmission and freed when the
//! flight drains), 24 bytes per transmission in flight: bounded by what
//! we sent, never by what a peer says.
//!
//! No I/O, no clock: time comes in as `now`.

use crate::tcp::sack::Scoreboard;
use crate::time::{Instant, PackedDuration};
use crate::wire::SeqNum;
use std::collections::VecDeque;
use std::mem;
use std::time::Duration;

/// RFC 8985 7.2 WCDelAckT: the worst-case delayed-ACK time, added to the
/// probe timeout when one segment is in flight (a receiver may hold its
/// ACK that long waiting for a second). The RECOMMENDED 200 ms.
pub(crate) const WC_DEL_ACK: Duration = Duration::from_millis(200);

/// Added to 2·SRTT when more than one segment is in flight, so that an
/// ACK a clock tick late draws no probe (Linux's `TCP_TIMEOUT_MIN`).
const PTO_SLACK: Duration = Duration::from_millis(2);

/// RFC 8985 6.2 step 4: recoveries without a D-SACK before the
/// reordering window shrinks back.
const REO_WND_PERSIST: u8 = 16;

/// RFC 8985 6.2 step 1: RACK.min_RTT is a windowed minimum; a sample this
/// much newer replaces an older minimum (Linux's `tcp_min_rtt_wlen`
/// default), so that a path that got longer is followed.
const MIN_RTT_WINDOW_SECS: u32 = 300;

/// RFC 8985 7.2: the probe timeout. `srtt` is the smoothed RTT, `one_seg`
/// whether FlightSize is one segment (then the worst-case delayed ACK is
/// waited for as well), `until_rto` the time left before the
/// retransmission timer fires: the probe is never later than that (it
/// then stands in for the RTO, 7.3).
pub(crate) fn pto(srtt: Duration, one_seg: bool, until_rto: Option<Duration>) -> Duration {
    let extra = if one_seg { WC_DEL_ACK } else { PTO_SLACK };
    let pto = srtt * 2 + extra;
    until_rto.map_or(pto, |r| pto.min(r))
}

/// Record flags.
const RETRANS: u8 = 1;
const LOST: u8 = 2;
const SACKED: u8 = 4;

/// One transmission still in flight: `[start, end)` in sequence space
/// (SYN and FIN count), when it went out, and what is known of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentSeg {
    pub start: SeqNum,
    pub end: SeqNum,
    /// Transmit time (RFC 8985's Segment.xmit_ts) as a stamp: microseconds
    /// since the epoch in the high 48 bits, and below them the number of
    /// transmissions before it within the same microsecond, so that
    /// stamps order transmissions exactly even when a virtual clock
    /// stands still (RACK_sent_after's tie on sequence numbers would take
    /// a retransmission for newer than new data sent the same instant
    /// before it).
    pub ts: u64,
    /// While LOST: the bytes of it neither SACKed nor retransmitted,
    /// counted in [`Rack::lost_bytes`].
    lost: u32,
    flags: u8,
}

impl SentSeg {
    fn retrans(&self) -> bool {
        self.flags & RETRANS != 0
    }

    fn len(&self) -> u32 {
        self.end - self.start
    }

    /// Transmit time in microseconds.
    fn us(&self) -> u64 {
        self.ts >> 16
    }
}

/// What one walk of RFC 8985 6.2 step 5 found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Losses {
    /// Records newly marked lost.
    pub marked: u32,
    /// Of them, retransmissions lost in turn.
    pub retransmissions: u32,
    /// A record sent before the most recently delivered one is not yet
    /// overdue: check again after this long (the RACK reorder timer).
    pub timeout: Option<Duration>,
}

/// An RTT sample from a cumulative ACK (RFC 6298 with Karn's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sample {
    /// The newest data acknowledged was sent once, this long ago.
    Rtt(Duration),
    /// It was retransmitted: no sample from the send times (Karn), a
    /// timestamp echo may still time it (RFC 7323 4.1).
    Karn,
    /// Nothing to time on this ACK.
    None,
}

/// The state of one flight: the records, and RACK's variables that only
/// mean something while data is in flight.
#[derive(Debug, Default)]
struct Flight {
    /// In sequence order, disjoint.
    segs: VecDeque<SentSeg>,
    /// (end, ts) of retransmitted records, in transmit-time order; an
    /// entry is stale when no record with that end and ts is in flight.
    rtq: VecDeque<(SeqNum, u64)>,
    /// RACK.xmit_ts (a stamp, as [`SentSeg::ts`]) and RACK.end_seq: the
    /// most recently sent segment delivered; none (`has_rack` false)
    /// before the first.
    xmit_ts: u64,
    end_seq: SeqNum,
    has_rack: bool,
    /// RACK.rtt, microseconds: the RTT of that segment's delivery.
    rtt: u64,
    /// RACK.fack: the highest end of a delivered segment.
    fack: SeqNum,
    /// Records never retransmitted below this have been passed by step
    /// 5's walk (delivered, lost or retransmitted since).
    orig_from: SeqNum,
    /// No LOST record starts below this.
    lost_from: SeqNum,
    /// Bytes in LOST records neither SACKed nor retransmitted.
    lost_bytes: u32,
    /// The next RTT sample is taken once SND.UNA passes this.
    rtt_next: SeqNum,
    /// The microsecond of the last transmission, and how many went out in
    /// it before the next (see [`SentSeg::ts`]).
    last_us: u64,
    burst: u16,
}

impl Flight {
    /// The stamp of a transmission at `now_us` (see [`SentSeg::ts`]).
    fn stamp(&mut self, now_us: u64) -> u64 {
        if now_us != self.last_us {
            self.last_us = now_us;
            self.burst = 0;
        } else {
            self.burst = self.burst.saturating_add(1);
        }
        (now_us << 16) | u64::from(self.burst)
    }

    /// Index of the first record that ends after `seq`.
    fn index_after(&self, seq: SeqNum) -> usize {
        self.segs.partition_point(|r| r.end <= seq)
    }

    fn mark_lost(&mut self, i: usize, sb: &Scoreboard) {
        let r = &mut self.segs[i];
        let unsacked = r.len().saturating_sub(sb.sacked_within(r.start, r.end));
        r.flags |= LOST;
        r.lost = unsacked;
        self.lost_bytes += unsacked;
        if r.start < self.lost_from {
            self.lost_from = r.start;
        }
    }

    /// A record leaves the flight or is replaced: its lost bytes go.
    fn forget_lost(&mut self, r: &SentSeg) {
        self.lost_bytes = self.lost_bytes.saturating_sub(r.lost);
    }

    /// RFC 8985 6.2 steps 2 and 3 for one delivered record: `end` is where
    /// its delivered part ends. `fack` is RACK.fack before this ACK.
    fn deliver(&mut self, r: SentSeg, end: SeqNum, now: u64, ctx: &AckCtx<'_>) -> bool {
        let mut reordered = false;
        if end > self.fack {
            self.fack = end;
        } else if end < ctx.fack && !r.retrans() {
            // Step 3: delivered below what was delivered before, and sent
            // once: the network reordered it.
            reordered = true;
        }
        let rtt = now.saturating_sub(r.us());
        // Step 2: a retransmission's delivery may be the original's; an
        // echo older than the retransmission, or an RTT shorter than any
        // seen, says it is (Karn).
        if r.retrans() && ((ctx.acked_earlier)(r.us()) || rtt < ctx.min_rtt) {
            return reordered;
        }
        if !self.has_rack || sent_after((r.ts, r.end), (self.xmit_ts, self.end_seq)) {
            self.has_rack = true;
            self.xmit_ts = r.ts;
            self.end_seq = r.end;
            self.rtt = rtt;
        }
        reordered
    }

    /// Replaces what `[start, end)` covers with one record sent at `ts`
    /// (a retransmission, or data resent after an RTO). The rare cases
    /// (a resend that covers part of a record, or several) split records
    /// and cost a shift of the queue.
    fn restamp(&mut self, start: SeqNum, end: SeqNum, ts: u64, sb: &Scoreboard) {
        let i = self.index_after(start);
        let j = i + self.segs.range(i..).take_while(|r| r.start < end).count();
        let new = SentSeg {
            start,
            end,
            ts,
            lost: 0,
            flags: RETRANS,
        };
        self.rtq.push_back((end, ts));
        if j == i + 1 && self.segs[i].start == start && self.segs[i].end == end {
            // The usual case: exactly one record sent again.
            let old = self.segs[i];
            self.forget_lost(&old);
            self.segs[i] = new;
            return;
        }
        let mut parts: [Option<SentSeg>; 3] = [None, Some(new), None];
        if j > i {
            let first = self.segs[i];
            let last = self.segs[j - 1];
            for k in i..j {
                let old = self.segs[k];
                self.forget_lost(&old);
            }
            if first.start < start {
                parts[0] = Some(self.remnant(first, first.start, start, sb));
            }
            if last.end > end {
                parts[2] = Some(self.remnant(last, end, last.end, sb));
            }
        }
        self.segs.drain(i..j);
        for (k, p) in parts.into_iter().flatten().enumerate() {
            self.segs.insert(i + k, p);
        }
    }

    /// What is left of record `r` as `[start, end)` after a resend covered
    /// the rest: same send time and flags; a lost remnant counts its own
    /// unSACKed bytes, a retransmitted one that now ends elsewhere gets its
    /// own place in `rtq` (by time).
    fn remnant(&mut self, r: SentSeg, start: SeqNum, end: SeqNum, sb: &Scoreboard) -> SentSeg {
        let mut p = SentSeg {
            start,
            end,
            lost: 0,
            ..r
        };
        let unsacked = (end - start).saturating_sub(sb.sacked_within(start, end));
        if unsacked == 0 {
            // What the SACKs covered of a record before it was split:
            // delivered already (and not again, which would look like
            // reordering when the ACK covers it).
            p.flags = SACKED;
        } else if p.flags & LOST != 0 {
            p.lost = unsacked;
            self.lost_bytes += p.lost;
        }
        if p.retrans() && end != r.end {
            let at = self.rtq.partition_point(|&(_, t)| t <= r.ts);
            self.rtq.insert(at, (end, r.ts));
        }
        p
    }

    /// The record that `rtq` entry `(end, ts)` names, if it is still a
    /// retransmission in flight and not yet known lost or SACKed.
    fn live_retransmission(&self, end: SeqNum, ts: u64) -> Option<usize> {
        let i = self.segs.partition_point(|r| r.end < end);
        let r = self.segs.get(i)?;
        (r.end == end && r.ts == ts && r.flags == RETRANS).then_some(i)
    }
}

/// What [`Flight::deliver`] needs to know of the ACK.
struct AckCtx<'a> {
    /// RACK.fack before this ACK.
    fack: SeqNum,
    /// RACK.min_RTT in microseconds (0 before any).
    min_rtt: u64,
    /// The ACK's timestamp echo is older than a send at this time: it
    /// answers an earlier transmission.
    acked_earlier: &'a dyn Fn(u64) -> bool,
}

/// RFC 8985 6.2: `RACK_sent_after(t1, seq1, t2, seq2)`.
fn sent_after(a: (u64, SeqNum), b: (u64, SeqNum)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

/// RACK's state for a connection (RFC 8985 6.1) and its transmission
/// records. What outlives a flight (RACK.min_RTT, the reordering window's
/// growth, whether reordering was seen) is kept inline; the rest is boxed
/// while data is in flight, and the box (with its records' storage) is
/// kept for the next flight of a connection that sends data, until the
/// stack's idle sweep has it given back.
#[derive(Debug)]
pub(crate) struct Rack {
    flight: Option<Box<Flight>>,
    /// A drained flight's box, emptied, for the next one.
    spare: Option<Box<Flight>>,
    /// RACK.min_RTT (windowed, see [`MIN_RTT_WINDOW_SECS`]).
    min_rtt: PackedDuration,
    /// When `min_rtt` was taken, whole seconds since the epoch.
    min_rtt_secs: u32,
    /// RACK.dsack_round (valid while `dsack_round_on`).
    dsack_round: SeqNum,
    dsack_round_on: bool,
    /// RACK.reo_wnd_mult and RACK.reo_wnd_persist.
    reo_wnd_mult: u8,
    reo_wnd_persist: u8,
    /// RACK.reordering_seen.
    reordering_seen: bool,
}

impl Default for Rack {
    fn default() -> Self {
        Rack {
            flight: None,
            spare: None,
            min_rtt: PackedDuration::NONE,
            min_rtt_secs: 0,
            dsack_round: SeqNum(0),
            dsack_round_on: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            reordering_seen: false,
        }
    }
}

impl Rack {
    fn flight_mut(&mut self, first: SeqNum) -> &mut Flight {
        if self.flight.is_none() {
            let fresh = |segs, rtq| Flight {
                segs,
                rtq,
                fack: first,
                orig_from: first,
                lost_from: first,
                rtt_next: first,
                ..Flight::default()
            };
            self.flight = Some(match self.spare.take() {
                Some(mut b) => {
                    let (mut segs, mut rtq) = (mem::take(&mut b.segs), mem::take(&mut b.rtq));
                    segs.clear();
                    rtq.clear();
                    *b = fresh(segs, rtq);
                    b
                }
                None => Box::new(fresh(VecDeque::new(), VecDeque::new())),
            });
        }
        self.flight.as_mut().expect("made above")
    }

    /// RACK.min_RTT; `None` before the first sample.
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.get()
    }

    /// RACK.reo_wnd_mult.
    pub(crate) fn reo_wnd_mult(&self) -> u8 {
        self.reo_wnd_mult
    }

    /// RACK.reordering_seen.
    pub(crate) fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// Records in flight.
    #[cfg(test)]
    pub(crate) fn records(&self) -> usize {
        self.flight.as_ref().map_or(0, |f| f.segs.len())
    }

    /// Bytes marked lost and not yet sent again nor SACKed: not in the
    /// network (RFC 6675's pipe leaves them out).
    pub(crate) fn lost_bytes(&self) -> u32 {
        self.flight.as_ref().map_or(0, |f| f.lost_bytes)
    }

    /// Send time of the oldest transmission sent once (the handshake's SYN
    /// when nothing else is in flight).
    pub(crate) fn first_timed(&self) -> Option<Instant> {
        let f = self.flight.as_ref()?;
        f.segs
            .iter()
            .find(|r| !r.retrans())
            .map(|r| Instant::from_micros(r.us()))
    }

    /// RFC 8985 6.2 step 1: an RTT sample (RFC 6298 or 7323) updates
    /// RACK.min_RTT.
    pub(crate) fn on_rtt_sample(&mut self, now: Instant, rtt: Duration) {
        let secs = (now.total_micros() / 1_000_000) as u32;
        let old = secs.wrapping_sub(self.min_rtt_secs) > MIN_RTT_WINDOW_SECS;
        let rtt = PackedDuration::new(rtt);
        if rtt <= self.min_rtt || old {
            self.min_rtt = rtt;
            self.min_rtt_secs = secs;
        }
    }

    /// A transmission of `[start, end)` at `now`: new data (`retrans`
    /// false: always at the end of what was sent), or a resend of what
    /// was sent before. `sb` says what is SACKed, for what a resend splits.
    pub(crate) fn on_send(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        now: Instant,
        retrans: bool,
        sb: &Scoreboard,
    ) {
        if end <= start {
            return;
        }
        let f = self.flight_mut(start);
        let ts = f.stamp(now.total_micros());
        let appends = f.segs.back().is_none_or(|b| b.end <= start);
        if !retrans && appends {
            f.segs.push_back(SentSeg {
                start,
                end,
                ts,
                lost: 0,
                flags: 0,
            });
        } else {
            f.restamp(start, end, ts, sb);
        }
    }

    /// A cumulative ACK moved SND.UNA to `ack`: the records it covers are
    /// delivered (RFC 8985 6.2 steps 2 and 3) and leave. An RTT sample
    /// (RFC 6298) is taken from the newest of them, at most one per
    /// `spacing` bytes (several per window, as HyStart++ needs, without
    /// timing every ACK). `acked_earlier(ts)`: the ACK's timestamp echo
    /// is older than a send at `ts`. Returns whether reordering was seen
    /// and the sample.
    pub(crate) fn on_cum_ack(
        &mut self,
        ack: SeqNum,
        now: Instant,
        spacing: u32,
        acked_earlier: &dyn Fn(u64) -> bool,
    ) -> (bool, Sample) {
        let min_rtt = self.min_rtt.get().map_or(0, |d| d.as_micros() as u64);
        let Some(f) = self.flight.as_deref_mut() else {
            return (false, Sample::None);
        };
        let ctx = AckCtx {
            fack: f.fack,
            min_rtt,
            acked_earlier,
        };
        let now_us = now.total_micros();
        let mut newest: Option<SentSeg> = None;
        let mut reordered = false;
        while let Some(&r) = f.segs.front() {
            if r.start >= ack {
                break;
            }
            let sacked = r.flags & SACKED != 0;
            if !sacked {
                reordered |= f.deliver(r, r.end.min(ack), now_us, &ctx);
                newest = Some(r);
            }
            if r.end <= ack {
                f.forget_lost(&r);
                f.segs.pop_front();
            } else {
                let front = &mut f.segs[0];
                front.start = ack;
                let trimmed = front.lost.min(front.end - ack);
                f.lost_bytes -= front.lost - trimmed;
                front.lost = trimmed;
                break;
            }
        }
        let sample = match newest {
            Some(r) if ack >= f.rtt_next => {
                f.rtt_next = ack + spacing;
                if r.retrans() {
                    Sample::Karn
                } else {
                    Sample::Rtt(Duration::from_micros(now_us.saturating_sub(r.us())))
                }
            }
            _ => Sample::None,
        };
        if reordered {
            self.reordering_seen = true;
        }
        (reordered, sample)
    }

    /// The newly SACKed bytes `[start, end)` of a SACK block that covers
    /// `block` (clipped to what is in flight): the records they touch are
    /// delivered (RFC 8985 6.2 steps 2 and 3); one the block covers whole
    /// is SACKed. `fack` is RACK.fack before this ACK ([`Rack::fack`]).
    /// Call before the block goes to the scoreboard. Returns whether
    /// reordering was seen.
    pub(crate) fn on_sacked(
        &mut self,
        (start, end): (SeqNum, SeqNum),
        block: (SeqNum, SeqNum),
        now: Instant,
        fack: SeqNum,
        acked_earlier: &dyn Fn(u64) -> bool,
    ) -> bool {
        let min_rtt = self.min_rtt.get().map_or(0, |d| d.as_micros() as u64);
        let Some(f) = self.flight.as_deref_mut() else {
            return false;
        };
        let ctx = AckCtx {
            fack,
            min_rtt,
            acked_earlier,
        };
        let now_us = now.total_micros();
        let mut reordered = false;
        let mut i = f.index_after(start);
        while let Some(&r) = f.segs.get(i) {
            if r.start >= end {
                break;
            }
            if r.flags & SACKED == 0 {
                reordered |= f.deliver(r, r.end.min(end), now_us, &ctx);
                let overlap = r.end.min(end) - r.start.max(start);
                let whole = r.start >= block.0 && r.end <= block.1;
                let rec = &mut f.segs[i];
                let gone = if whole {
                    rec.lost
                } else {
                    rec.lost.min(overlap)
                };
                rec.lost -= gone;
                if whole {
                    rec.flags = SACKED;
                }
                f.lost_bytes = f.lost_bytes.saturating_sub(gone);
            }
            i += 1;
        }
        if reordered {
            self.reordering_seen = true;
        }
        reordered
    }

    /// RACK.fack, for [`Rack::on_sacked`].
    pub(crate) fn fack(&self) -> Option<SeqNum> {
        self.flight.as_ref().map(|f| f.fack)
    }

    /// RFC 8985 6.2 step 4, its first half, for an ACK with a D-SACK: the
    /// reordering window grows by one quarter of min_RTT, once per round
    /// trip (`snd_nxt` ends the round). A D-SACK of a retransmission also
    /// shows reordering (the original arrived after all; RFC 3708), as
    /// Linux takes it when it undoes a recovery. Returns whether the
    /// window grew.
    pub(crate) fn on_dsack(&mut self, snd_nxt: SeqNum, retransmitted: bool) -> bool {
        if retransmitted {
            self.reordering_seen = true;
        }
        if self.dsack_round_on {
            return false;
        }
        self.dsack_round_on = true;
        self.dsack_round = snd_nxt;
        self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
        self.reo_wnd_persist = REO_WND_PERSIST;
        true
    }

    /// Step 4: the D-SACK round ends once SND.UNA reaches it.
    pub(crate) fn on_snd_una(&mut self, una: SeqNum) {
        if self.dsack_round_on && una >= self.dsack_round {
            self.dsack_round_on = false;
        }
    }

    /// Step 4: leaving fast or RTO recovery; after 16 without a D-SACK the
    /// window is back to one quarter of min_RTT.
    pub(crate) fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// RFC 8985 6.2 step 4, RACK.reo_wnd: none while reordering has not
    /// been seen and either a recovery is under way or DupThresh segments
    /// are SACKed (RACK then acts as the DupAck threshold would);
    /// otherwise min_RTT / 4 per multiple, at most SRTT.
    pub(crate) fn reo_wnd(
        &self,
        in_recovery: bool,
        sb: &Scoreboard,
        una: SeqNum,
        mss: usize,
        srtt: Option<Duration>,
    ) -> Duration {
        if !self.reordering_seen && (in_recovery || sb.is_lost(una, mss)) {
            return Duration::ZERO;
        }
        let wnd = self.min_rtt.or_zero() / 4 * u32::from(self.reo_wnd_mult);
        srtt.map_or(wnd, |s| wnd.min(s))
    }

    /// RFC 8985 6.2 step 5: every segment sent before the most recently
    /// delivered one and outstanding for longer than RACK.rtt + `reo_wnd`
    /// is lost. Walks oldest first and stops at the first that is not
    /// yet, whose time left is the reorder timer's.
    pub(crate) fn detect_loss(
        &mut self,
        now: Instant,
        reo_wnd: Duration,
        sb: &Scoreboard,
    ) -> Losses {
        let mut out = Losses::default();
        let Some(f) = self.flight.as_deref_mut() else {
            return out;
        };
        if !f.has_rack {
            return out;
        }
        let now_us = now.total_micros();
        let rack = (f.xmit_ts, f.end_seq);
        let wait = f.rtt + reo_wnd.as_micros() as u64;
        // Time left for a record sent at `ts`; None if it is not older
        // than RACK's segment.
        let left = |r: &SentSeg| -> Option<u64> {
            sent_after(rack, (r.ts, r.end)).then(|| (r.us() + wait).saturating_sub(now_us))
        };
        let mut timeout = u64::MAX;
        // Records sent once: in sequence order, which is time order.
        let mut i = f.index_after(f.orig_from);
        while let Some(&r) = f.segs.get(i) {
            if r.flags != 0 {
                f.orig_from = r.end;
                i += 1;
                continue;
            }
            match left(&r) {
                Some(0) => {
                    f.orig_from = r.end;
                    f.mark_lost(i, sb);
                    out.marked += 1;
                    i += 1;
                }
                Some(t) => {
                    timeout = timeout.min(t);
                    break;
                }
                None => break,
            }
        }
        // Retransmissions, in the order they were sent.
        while let Some(&(end, ts)) = f.rtq.front() {
            let Some(i) = f.live_retransmission(end, ts) else {
                f.rtq.pop_front();
                continue;
            };
            match left(&f.segs[i]) {
                Some(0) => {
                    f.rtq.pop_front();
                    f.mark_lost(i, sb);
                    out.marked += 1;
                    out.retransmissions += 1;
                }
                Some(t) => {
                    timeout = timeout.min(t);
                    break;
                }
                None => break,
            }
        }
        out.timeout = (timeout != u64::MAX).then(|| Duration::from_micros(timeout.max(1)));
        out
    }

    /// The first record marked lost (lowest sequence number): its first
    /// bytes not SACKed, `[start, end)` (at most the record). A lost record
    /// the scoreboard shows SACKed whole is taken as SACKed on the way.
    pub(crate) fn next_lost(&mut self, sb: &Scoreboard) -> Option<(SeqNum, SeqNum)> {
        let f = self.flight.as_deref_mut()?;
        if f.lost_bytes == 0 {
            return None;
        }
        let mut i = f.index_after(f.lost_from);
        while let Some(&r) = f.segs.get(i) {
            if r.flags & LOST != 0 {
                if let Some(hole) = sb.holes_within(r.start, r.end).next() {
                    f.lost_from = r.start;
                    return Some(hole);
                }
                f.forget_lost(&r);
                f.segs[i].lost = 0;
                f.segs[i].flags = SACKED;
            }
            i += 1;
        }
        // Nothing lost after all (what was counted was SACKed).
        f.lost_bytes = 0;
        f.lost_from = f.segs.back().map_or(f.lost_from, |r| r.end);
        None
    }

    /// Forgets this flight: after an RTO (or a smaller path MTU)
    /// everything goes again from SND.UNA (go-back-N) and the resends make
    /// new records; and once nothing is in flight, the records' storage
    /// goes (a connection that sends again allocates it again).
    pub(crate) fn clear(&mut self) {
        self.flight = None;
    }

    /// Nothing is in flight any more. With `keep` (a connection that
    /// sends data, and will again), the flight's box and its records'
    /// storage are kept for the next flight, so that a request and
    /// response connection does not allocate per exchange; otherwise (a
    /// handshake's SYN) they go.
    pub(crate) fn drained(&mut self, keep: bool) {
        let flight = self.flight.take();
        if keep && self.spare.is_none() {
            self.spare = flight;
        }
    }

    /// Gives back a drained flight's storage (the connection is idle);
    /// true if there was any.
    pub(crate) fn release_spare(&mut self) -> bool {
        self.spare.take().is_some()
    }
}

#[cfg(test)]
mod tests;
