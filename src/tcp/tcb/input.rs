//! RFC 9293 3.10.7.4, "SEGMENT ARRIVES" in the synchronized states: the
//! sequence, RST, SYN and ACK checks, and what an acceptable ACK does
//! (RFC 5681, RFC 6582, RFC 6675, RFC 7323, RFC 5961).

use super::*;
use crate::tcp::rack::Sample;
use crate::time::PackedInstant;
use crate::wire::tcp::TcpRepr;

/// Least time between two ACKs that answer unacceptable segments without
/// data, and between two challenge ACKs of one connection (Linux's default
/// `tcp_invalid_ratelimit`, which covers both).
const OUT_OF_WINDOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// Whether an unacceptable segment, or one that draws a challenge ACK (RFC
/// 5961), gets an ACK: always if it carries data or a FIN without a SYN,
/// and otherwise at most once per [`OUT_OF_WINDOW_ACK_INTERVAL`] (`last`
/// is when that last happened), as Linux's `tcp_invalid_ratelimit` does,
/// so two confused ends cannot ping-pong ACKs forever and a blind attacker
/// cannot make a connection answer every forged SYN or RST. A SYN is
/// limited whatever it carries, as in Linux's `__tcp_oow_rate_limited`.
pub(crate) fn out_of_window_ack_due(
    last: &mut PackedInstant,
    now: Instant,
    seg: &TcpRepr<'_>,
) -> bool {
    let pure = (seg.payload.is_empty() && !seg.flags.fin()) || seg.flags.syn();
    if !pure {
        return true;
    }
    if last
        .get()
        .is_some_and(|t| now - t < OUT_OF_WINDOW_ACK_INTERVAL)
    {
        return false;
    }
    *last = PackedInstant::new(now);
    true
}

/// What the shared arrival steps decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Keep going: the segment passed the checks; flags say what it did.
    Processed { fin_acked: bool, fin_received: bool },
    /// The segment was dropped (a reply may be queued).
    Dropped,
    /// The segment failed the sequence check (RFC 9293 3.10.7.4, first)
    /// and was dropped (an ACK may be queued).
    OutOfWindow,
    /// An acceptable RST arrived.
    Reset,
    /// The segment was dropped and drew a challenge ACK (RFC 5961 3.2,
    /// 4.2), queued now; the stack may still withdraw it
    /// ([`Tcb::withdraw_challenge`]) when its stack-wide limit is spent.
    Challenged,
    /// The segment was dropped and would have drawn a challenge ACK, but
    /// the connection answered one less than [`OUT_OF_WINDOW_ACK_INTERVAL`]
    /// ago.
    ChallengeSuppressed,
}

impl Tcb {
    /// Steps one to five for any synchronized state: sequence check, RST,
    /// SYN, ACK. Then text and FIN (steps seven and eight) where the state
    /// still accepts them.
    pub(crate) fn arrive(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        gso_size: u16,
        accept_text: bool,
    ) -> Arrival {
        self.stats.segments_received += 1;
        // RFC 5961 4.2 and RFC 9293 3.10.7.4 (fourth): a SYN in a
        // synchronized state gets a challenge ACK "irrespective of the
        // sequence number", whatever its other bits, and nothing else. So
        // before PAWS (a forged or retransmitted SYN often carries no
        // timestamp or an old one, and would be dropped without a word)
        // and before the sequence check (whose answer, an ACK, is the
        // same); as Linux's tcp_validate_incoming does. A RST is a RST
        // first (the second check comes before the fourth).
        if seg.flags.syn() && !seg.flags.rst() {
            if !self.rcv.acceptable(seg) {
                self.stats.out_of_window += 1;
            }
            return self.challenge_ack(now, seg);
        }
        // RFC 7323 5.3 R1 (PAWS), and 3.2: once negotiated, a non-RST
        // segment without timestamps is dropped silently.
        if self.opt.ts && !seg.flags.rst() {
            match seg.options.timestamps {
                None => {
                    self.stats.paws_drops += 1;
                    return Arrival::Dropped;
                }
                Some((tsval, _)) if self.opt.paws_rejects(tsval) => {
                    self.stats.paws_drops += 1;
                    self.out_of_window_ack(now, seg);
                    return Arrival::Dropped;
                }
                _ => {}
            }
        }
        // First: sequence number.
        if !self.rcv.acceptable(seg) {
            self.stats.out_of_window += 1;
            if !seg.flags.rst() {
                let len = seg.payload.len();
                if self.opt.sack && len > 0 && seg.seq + len <= self.rcv.nxt {
                    // RFC 2883: an old duplicate is reported as a D-SACK.
                    self.rcv.dsack = Some((seg.seq, seg.seq + len));
                }
                self.out_of_window_ack(now, seg);
            }
            return Arrival::OutOfWindow;
        }
        // Second: RST (RFC 5961 3.2: only an exact match resets; any other
        // in-window RST gets a challenge ACK).
        if seg.flags.rst() {
            if seg.seq == self.rcv.nxt {
                return Arrival::Reset;
            }
            return self.challenge_ack(now, seg);
        }
        // Fourth: SYN, answered above, before PAWS.
        // Fifth: ACK.
        if !seg.flags.ack() {
            return Arrival::Dropped;
        }
        if !self.process_ack(now, seg) {
            return Arrival::Dropped;
        }
        // RFC 7323 4.3 (2): TS.Recent follows acceptable segments that
        // start at or before the last ACK we sent. Only once the SYN and
        // ACK checks have passed, as Linux does (FLAG_UPDATE_TS_RECENT in
        // tcp_ack), not in the sequence check where RFC 7323's appendix
        // puts it: a forged SYN that is merely challenged, or a segment
        // with an unacceptable ACK, must not move TS.Recent ahead of the
        // real peer's clock, or PAWS would drop everything the peer sends
        // after it.
        if self.opt.ts
            && let Some((tsval, _)) = seg.options.timestamps
            && !self.opt.paws_rejects(tsval)
            && seg.seq <= self.opt.last_ack_sent
        {
            self.opt.ts_recent = tsval;
        }
        let fin_acked = self.snd.fin_acked;
        let mut fin_received = false;
        if accept_text && !self.rcv.fin_received {
            fin_received = self.process_text(now, seg, gso_size);
        } else if seg.segment_len() > 0 {
            // Text after the peer's FIN: acknowledge, ignore (RFC 9293 step
            // seven for CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT).
            self.ack_now = true;
        }
        if self.timers.is_armed(Timer::Keepalive) || self.cfg.keepalive.is_some() {
            self.timers.keepalive_sent = 0;
            self.arm_keepalive(now);
        }
        Arrival::Processed {
            fin_acked,
            fin_received,
        }
    }

    /// The ACK that answers an unacceptable segment. Answers to segments
    /// without data are rate-limited, as Linux does (`tcp_invalid_ratelimit`),
    /// so two confused ends cannot ping-pong ACKs forever; segments with
    /// data are always answered (they are not part of an ACK loop).
    pub(crate) fn out_of_window_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if out_of_window_ack_due(&mut self.last_oow_ack, now, seg) {
            self.ack_now = true;
        }
    }

    /// A challenge ACK (RFC 5961 3.2, 4.2, 5.2): `<SEQ=SND.NXT>
    /// <ACK=RCV.NXT><CTL=ACK>`, at most once per
    /// [`OUT_OF_WINDOW_ACK_INTERVAL`] per connection (RFC 5961 7 asks for
    /// a limit). `Challenged` only if this queued the ACK: one already due
    /// goes anyway and costs nothing more.
    pub(super) fn challenge_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Arrival {
        if !out_of_window_ack_due(&mut self.last_oow_ack, now, seg) {
            return Arrival::ChallengeSuppressed;
        }
        self.stats.challenge_acks += 1;
        if self.ack_now {
            return Arrival::Dropped;
        }
        self.ack_now = true;
        Arrival::Challenged
    }

    /// Takes back the challenge ACK that the last segment queued
    /// ([`Arrival::Challenged`]): the stack-wide limit is spent.
    pub(crate) fn withdraw_challenge(&mut self) {
        self.ack_now = false;
        self.stats.challenge_acks = self.stats.challenge_acks.saturating_sub(1);
    }

    /// The ACK field of an acceptable segment (RFC 9293 step five for
    /// ESTABLISHED and its successors, RFC 5961 5.2, RFC 5681, RFC 6582).
    /// Returns false if the segment must be dropped.
    pub(crate) fn process_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let ack = seg.ack;
        if ack > self.snd.max {
            // Acknowledges something not yet sent.
            self.ack_now = true;
            return false;
        }
        // RFC 5961 5.2: an ACK older than SND.UNA - MAX.SND.WND is dropped
        // with a challenge ACK.
        let oldest = self.snd.una - self.snd.max_wnd.max(self.snd.mss as u32);
        if ack < oldest {
            let _ = self.challenge_ack(now, seg);
            return false;
        }
        let window = u32::from(seg.window) << self.snd.wscale;
        let classic_dup = ack == self.snd.una
            && self.snd.max > self.snd.una
            && seg.payload.is_empty()
            && !seg.flags.fin()
            && window == self.snd.wnd;
        let was_una = self.snd.una;
        let tsecr = seg.options.timestamps.map(|t| t.1);
        if ack > self.snd.una {
            self.on_new_ack(now, ack, tsecr);
        }
        if self.opt.sack {
            // RFC 8985 6.2 step 4: a D-SACK round ends at SND.UNA.
            self.rack.on_snd_una(self.snd.una);
        }
        let (newly_sacked, dsack) = if self.opt.sack {
            self.process_sack(now, seg.options.sack(), ack, tsecr)
        } else {
            (0, false)
        };
        if ack == was_una && self.snd.max > self.snd.una {
            // RFC 5681 2 (and RFC 6675 2 with SACK: an ACK that SACKs new
            // data counts as a duplicate).
            if (self.opt.sack && newly_sacked > 0) || (!self.opt.sack && classic_dup) {
                self.on_dup_ack(now);
            }
        }
        if self.opt.sack {
            let dup_no_sack = classic_dup && seg.options.sack().is_empty();
            self.tlp_on_ack(now, ack, dsack, dup_no_sack);
            // RFC 8985 6.2 step 5 (and 6: what it finds lost starts
            // recovery).
            self.rack_detect_loss(now);
        }
        if self.snd.update_window(seg.seq, ack, window) {
            self.timers.cancel(Timer::Persist);
            self.timers.persist_backoff = 0;
        }
        self.update_persist(now);
        true
    }

    /// An ACK of new data (RFC 9293 3.10.7.4 fifth: SND.UNA < SEG.ACK =<
    /// SND.NXT): the send buffer, the RTT sample, recovery, cwnd, the
    /// retransmission timer.
    pub(super) fn on_new_ack(&mut self, now: Instant, ack: SeqNum, tsecr: Option<u32>) {
        let flight_before = self.snd.flight();
        let acked = self.advance_snd_una(ack);
        self.stats.bytes_acked += acked as u64;
        // The path works again: an earlier ICMP error is old news.
        self.soft_error = None;
        self.rec.scoreboard.advance(ack);
        self.sample_rtt(now, ack, tsecr);
        self.retries = 0;
        self.rec.lt_allow = 0;
        self.rec.tlp_out = false;
        match self.rec.recover {
            Some(recover) if ack >= recover => {
                // Full ACK: recovery is over (RFC 6582 3.2 step 3).
                self.exit_recovery(now);
            }
            Some(_) if !self.opt.sack => {
                // Partial ACK: retransmit the next hole, deflate (step 5).
                self.rec.rtx_una = true;
                let cwnd = self.cc.cwnd();
                self.cc
                    .set_cwnd(cwnd.saturating_sub(acked) + self.snd.mss.min(acked.max(1)));
            }
            // SACK recovery: the pipe and NextSeg decide what goes next.
            Some(_) => {}
            None => self.grow_cwnd(now, ack, acked, flight_before),
        }
        self.rec.dup_acks = 0;
        // RFC 6298 5.2 and 5.3.
        if self.snd.una == self.snd.max {
            self.timers.cancel(Timer::Rto);
            self.timers.cancel(Timer::Tlp);
            self.timers.cancel(Timer::Rack);
            // Nothing in flight: a connection that has sent data keeps
            // RACK's storage for the next flight (the idle sweep gives it
            // back); after the handshake alone it goes.
            let sent_data = self.snd.max.diff(self.snd.iss) > 1;
            self.rack.drained(sent_data);
        } else {
            self.timers.arm(Timer::Rto, now + self.rtt.rto());
            self.arm_tlp(now);
        }
        if self.snd.want_writable && self.send_capacity() > 0 {
            self.snd.want_writable = false;
            self.raise(ev::WRITABLE);
        }
    }

    /// Moves SND.UNA to `ack` and frees what it acknowledged; returns the
    /// data bytes acknowledged (not counting our SYN or FIN).
    pub(super) fn advance_snd_una(&mut self, ack: SeqNum) -> usize {
        let mut acked = ack - self.snd.una;
        if self.snd.una == self.snd.iss {
            acked -= 1; // the SYN
        }
        if let Some(f) = self.snd.fin_seq()
            && ack > f
            && !self.snd.fin_acked
        {
            acked -= 1; // the FIN
            self.snd.fin_acked = true;
        }
        let acked = acked as usize;
        self.snd.buf.consume(acked);
        self.snd.una = ack;
        if self.snd.nxt < self.snd.una {
            self.snd.nxt = self.snd.una;
        }
        acked
    }

    /// RTT sample (RFC 6298) from RACK's send times, which also delivers
    /// what the ACK covers for RACK (RFC 8985 6.2 steps 2 and 3). Karn's
    /// rule: data sent more than once is not timed by its send times; with
    /// timestamps the echo times it instead (RFC 7323 4.1), at the
    /// timestamp clock's millisecond resolution.
    pub(super) fn sample_rtt(&mut self, now: Instant, ack: SeqNum, tsecr: Option<u32>) {
        // A few samples per window (HyStart++ needs the RTT as the queue
        // builds within a round), not one per ACK.
        let spacing = (self.snd.flight() / 8).max(self.snd.mss) as u32;
        let earlier = self.acked_earlier(tsecr);
        let (reordered, sample) = self.rack.on_cum_ack(ack, now, spacing, &earlier);
        if reordered {
            self.stats.reorderings += 1;
        }
        let rtt = match sample {
            Sample::Rtt(rtt) => {
                self.hystart.on_rtt_sample(rtt);
                Some(rtt)
            }
            Sample::Karn if self.opt.ts => tsecr.filter(|&t| t != 0).and_then(|tsecr| {
                let ms = self.opt.ts_now(now).wrapping_sub(tsecr);
                ((ms as i32) >= 0).then(|| Duration::from_millis(u64::from(ms.max(1))))
            }),
            _ => None,
        };
        if let Some(rtt) = rtt {
            self.rec.tlp_need_rtt = false;
            self.rtt.sample(rtt);
            // RFC 8985 6.2 step 1.
            self.rack.on_rtt_sample(now, rtt);
        }
    }

    /// Congestion window growth outside recovery (RFC 5681 3.1, RFC 3465,
    /// RFC 7661, RFC 9406).
    pub(super) fn grow_cwnd(
        &mut self,
        now: Instant,
        ack: SeqNum,
        acked: usize,
        flight_before: usize,
    ) {
        // RFC 7661: grow only a window that is being used.
        let cwnd = self.cc.cwnd();
        let in_ss = cwnd < self.cc.ssthresh();
        let limited = if in_ss {
            flight_before * 2 >= cwnd
        } else {
            flight_before + 3 * self.snd.mss >= cwnd
        };
        if limited {
            // Conservative slow start grows a quarter as fast.
            let mut grow = if in_ss {
                acked / self.hystart.growth_divisor()
            } else {
                acked
            };
            if in_ss {
                // Byte counting with RFC 3465's limit of 2 SMSS per ACK.
                // With TSO every ACK is a stretch ACK (the kernel takes our
                // super-segment as one segment and ACKs it whole), and that
                // limit would grow cwnd by 2 segments per round trip
                // instead of doubling it: there an ACK may take cwnd up to
                // ssthresh, as in Linux.
                let mut limit = 2 * self.snd.mss;
                if self.tso() {
                    limit = limit.max(self.cc.ssthresh().saturating_sub(cwnd));
                }
                grow = grow.min(limit);
            }
            self.cc.on_ack(now, grow, flight_before, self.rtt.srtt());
        }
        let in_slow_start = self.cc.cwnd() < self.cc.ssthresh();
        if self.hystart.on_ack(ack, self.snd.max, in_slow_start) {
            self.cc.exit_slow_start();
        }
    }

    pub(super) fn on_dup_ack(&mut self, now: Instant) {
        self.stats.dup_acks_received += 1;
        self.rec.dup_acks += 1;
        if self.rec.recover.is_some() {
            if !self.opt.sack {
                // RFC 6582 3.2 step 4: inflate by one segment per dup ACK.
                let cwnd = self.cc.cwnd();
                self.cc.set_cwnd(cwnd + self.snd.mss);
            }
        } else if !self.opt.sack
            && self.rec.dup_acks as usize >= crate::tcp::sack::DUP_THRESH
            && !self.after_rto()
        {
            self.enter_recovery(now);
        } else {
            // RFC 3042: limited transmit, one new segment per early dup ACK
            // (with SACK, RACK decides when loss starts recovery; the pipe
            // frees what is SACKed meanwhile).
            let early = (self.rec.dup_acks as usize).min(crate::tcp::sack::DUP_THRESH - 1);
            self.rec.lt_allow = early * self.snd.mss;
        }
    }
}
