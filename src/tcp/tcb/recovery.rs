//! Loss recovery: fast retransmit and NewReno (RFC 5681, RFC 6582) for
//! peers without SACK; with SACK, RACK-TLP (RFC 8985) decides what is lost
//! (lost retransmissions included) over the scoreboard of RFC 6675, and
//! tail loss probes repair a lost tail; undo of spurious window cuts (RFC
//! 2883, RFC 3708), the RTO's go-back-N, and path MTU discovery (RFC
//! 1191).

use super::*;
use crate::tcp::sack::Scoreboard;
use crate::wire::ipv4::IPV4_HEADER_LEN;
use crate::wire::tcp::TCP_HEADER_LEN;

/// How long a path MTU learned from ICMP holds (RFC 1191 6.3 suggests ten
/// minutes; Linux's `mtu_expires` is 600 s too).
pub const PMTU_EXPIRES: Duration = Duration::from_secs(600);

/// The state of loss detection and recovery.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// Duplicate ACKs in a row (RFC 5681 2).
    pub(super) dup_acks: u32,
    /// The recovery point while in fast or SACK recovery (RFC 6582
    /// "recover", RFC 6675 RecoveryPoint); `None` outside recovery.
    pub(super) recover: Option<SeqNum>,
    /// What the peer has SACKed above SND.UNA.
    pub(super) scoreboard: Scoreboard,
    /// (cwnd, ssthresh) before the last window cut, for undo.
    pub(super) undo: Option<(usize, usize)>,
    /// Retransmissions and D-SACKs of the last episode: all of the first
    /// D-SACKed means the cut was spurious.
    pub(super) episode_rtx: u32,
    pub(super) episode_dsack: u32,
    /// Extra bytes limited transmit allows beyond cwnd (RFC 3042).
    pub(super) lt_allow: usize,
    /// SND.MAX when the last RTO fired: duplicate ACKs below it come from
    /// the go-back-N resend and must not start fast recovery (RFC 6582 3.2
    /// step 1, RFC 5681 4.3).
    pub(super) rto_recover: Option<SeqNum>,
    /// Retransmit one segment from SND.UNA (fast retransmit, partial ACK).
    pub(super) rtx_una: bool,
    /// A tail loss probe is to be sent.
    pub(super) tlp_pending: bool,
    /// A probe is outstanding: no second one until an ACK makes progress.
    pub(super) tlp_out: bool,
    /// RFC 8985 7.4 TLP.end_seq of a probe that sent old data again
    /// (valid while `tlp_rtx_on`): the ACKs after it tell whether it
    /// repaired a loss.
    pub(super) tlp_rtx_end: SeqNum,
    pub(super) tlp_rtx_on: bool,
    /// No RTT sample since the last probe: RFC 8985 7.3 sends no other
    /// until one comes (probes must not keep SRTT from following a
    /// longer path).
    pub(super) tlp_need_rtt: bool,
}

impl Recovery {
    pub(crate) fn new(iss: SeqNum) -> Recovery {
        Recovery {
            dup_acks: 0,
            recover: None,
            scoreboard: Scoreboard::default(),
            undo: None,
            episode_rtx: 0,
            episode_dsack: 0,
            lt_allow: 0,
            rto_recover: None,
            rtx_una: false,
            tlp_pending: false,
            tlp_out: false,
            tlp_rtx_end: iss,
            tlp_rtx_on: false,
            tlp_need_rtt: false,
        }
    }

    /// In fast or SACK recovery.
    pub(crate) fn in_recovery(&self) -> bool {
        self.recover.is_some()
    }
}

impl Tcb {
    /// RFC 5927 4.1: an ICMP error is taken only if the segment it quotes
    /// could be one of ours in flight, SND.UNA <= SEQ < SND.MAX; a blind
    /// attacker must then guess the sequence space. (Nothing in flight,
    /// nothing to hear about: a lost pure ACK needs no answer.)
    pub(crate) fn icmp_quote_in_flight(&self, seq: SeqNum) -> bool {
        seq >= self.snd.una && seq < self.snd.max
    }

    /// RFC 1191: a router cannot forward our segments whole; its next-hop
    /// MTU is `mtu` (0 from routers older than RFC 1191: then the next
    /// plateau below `sent_len`, the quoted packet's size). The segment
    /// size drops to fit, never below what a 552-byte MTU carries (Linux's
    /// `min_pmtu`, against forged messages shrinking it to nothing, RFC
    /// 5927 7.3; a real path narrower than that stays a black hole, since
    /// every packet has DF set).
    ///
    /// What is in flight was lost at the router. Like Linux's
    /// tcp_simple_retransmit, the connection leaves any recovery, keeps
    /// cwnd, and sends again now in the new size; unlike it, from SND.UNA
    /// on (segments that fit the path are sent again too: the send buffer
    /// does not remember segment sizes). The resend is not timed (Karn)
    /// and cannot be undone as spurious. Returns whether the size changed.
    /// The size comes back after [`PMTU_EXPIRES`] without another such
    /// message (see `poll_data`).
    pub(crate) fn icmp_frag_needed(&mut self, now: Instant, mtu: u16, sent_len: u16) -> bool {
        const MIN_PMTU: usize = 552;
        const HEADERS: usize = IPV4_HEADER_LEN + TCP_HEADER_LEN;
        let mtu = match usize::from(mtu) {
            // RFC 1191 5 and 7: a table of common MTUs.
            0 => [32_000, 17_914, 8_166, 4_352, 2_002, 1_492, 1_006, 508]
                .into_iter()
                .find(|&p| p < usize::from(sent_len))
                .unwrap_or(MIN_PMTU),
            m => m,
        };
        let mss = mtu.max(MIN_PMTU) - HEADERS;
        if mss >= self.snd.mss {
            return false;
        }
        self.stats.pmtu_reductions += 1;
        let before = self.snd.pmtu_lowered().map_or(self.snd.mss, |(_, b)| b);
        self.snd.set_pmtu_lowered(Some((now, before)));
        self.snd.mss = mss;
        self.cc.window_mut().mss = mss;
        self.cc.new_epoch();
        if self.snd.max > self.snd.una {
            if self.rec.recover.take().is_some() {
                self.cc.on_recovery_end(now, self.snd.flight());
            }
            self.rec.undo = None;
            self.go_back_to_una(now);
        }
        true
    }

    /// Everything from SND.UNA goes again (go-back-N: after an RTO, or
    /// when the path MTU shrank), not timed (Karn), with a fresh
    /// retransmission timer. Duplicate ACKs the resend draws are not a
    /// loss signal (RFC 6582 3.2 step 1). Recovery must be over already.
    /// RACK forgets this flight's records (RFC 8985 6.3 would mark them
    /// lost; go-back-N sends them all again anyway) and the resends make
    /// new ones.
    pub(super) fn go_back_to_una(&mut self, now: Instant) {
        debug_assert!(self.rec.recover.is_none());
        self.rack.clear();
        self.timers.cancel(Timer::Rack);
        self.rec.dup_acks = 0;
        self.snd.nxt = self.snd.una;
        self.rec.rto_recover = Some(self.snd.max);
        self.timers.cancel(Timer::Tlp);
        self.rec.tlp_out = false;
        self.rec.tlp_rtx_on = false;
        self.timers.arm(Timer::Rto, now + self.rtt.rto());
    }

    /// Whether an ACK whose timestamp echo is `tsecr` answers a
    /// transmission before one sent at `ts` microseconds: its echo is
    /// older than that send's TSval (RFC 8985 6.2 step 2, Eifel-style).
    pub(super) fn acked_earlier(&self, tsecr: Option<u32>) -> impl Fn(u64) -> bool + use<> {
        let echo = tsecr.filter(|&t| self.opt.ts && t != 0);
        let offset = self.opt.ts_offset;
        move |ts: u64| {
            echo.is_some_and(|e| {
                let tsval = ((ts / 1000) as u32).wrapping_add(offset);
                (e.wrapping_sub(tsval) as i32) < 0
            })
        }
    }

    /// SACK blocks of an ACK: D-SACKs (RFC 2883) are counted and may undo a
    /// spurious congestion response and grow RACK's reordering window;
    /// the others go to the scoreboard, and what they newly SACK is
    /// delivered for RACK (RFC 8985 6.2 steps 2 and 3). Returns how many
    /// bytes were newly SACKed and whether a D-SACK came.
    pub(super) fn process_sack(
        &mut self,
        now: Instant,
        blocks: &[(SeqNum, SeqNum)],
        ack: SeqNum,
        tsecr: Option<u32>,
    ) -> (u32, bool) {
        let mut newly = 0;
        let mut dsack = false;
        // The echo of an ACK that SACKs data above a hole is TS.Recent, an
        // in-order segment's TSval (RFC 7323 4.3), never the SACKed
        // segment's: it cannot tell a SACKed retransmission from its
        // original. As Linux, only RACK.min_RTT does (6.2 step 2).
        let _ = tsecr;
        let fack = self.rack.fack();
        let (una, max) = (self.snd.una, self.snd.max);
        for (i, &(s, e)) in blocks.iter().enumerate() {
            self.stats.sack_blocks_received += 1;
            let is_dsack = i == 0
                && e > s
                && (e <= ack || blocks.get(1).is_some_and(|&(s1, e1)| s >= s1 && e <= e1));
            if is_dsack {
                dsack = true;
                self.on_dsack();
                continue;
            }
            let (cs, ce) = (s.max(una), e.min(max));
            if let Some(fack) = fack
                && ce > cs
            {
                let sb = &self.rec.scoreboard;
                let mut reordered = false;
                for hole in sb.holes_within(cs, ce) {
                    reordered |= self.rack.on_sacked(hole, (cs, ce), now, fack, &|_| false);
                }
                if reordered {
                    self.stats.reorderings += 1;
                }
            }
            newly += self.rec.scoreboard.add(s, e, una, max);
        }
        (newly, dsack)
    }

    pub(super) fn on_dsack(&mut self) {
        self.stats.dsack_received += 1;
        // RFC 8985 6.2 step 4: the reordering window grows, once a round.
        let spurious = self.rec.episode_rtx > 0;
        if self.rack.on_dsack(self.snd.nxt.max(self.snd.una), spurious) {
            self.stats.reo_wnd_growths += 1;
        }
        if !spurious {
            return;
        }
        self.stats.spurious_retransmits += 1;
        self.rec.episode_dsack += 1;
        // Every retransmission of the last episode was unnecessary: the
        // window reduction was too (RFC 2883 5, RFC 3708).
        if self.rec.recover.is_none()
            && self.rec.episode_dsack >= self.rec.episode_rtx
            && let Some((cwnd, ssthresh)) = self.rec.undo.take()
        {
            self.cc.restore(cwnd, ssthresh);
            self.stats.undos += 1;
        }
    }

    /// Fast retransmit and the start of loss recovery (RFC 5681 3.2,
    /// RFC 6582 3.2 step 2; with SACK, RFC 8985 6: RACK found a loss).
    pub(super) fn enter_recovery(&mut self, now: Instant) {
        self.hystart.finish();
        self.rec.undo = Some((self.cc.cwnd(), self.cc.ssthresh()));
        self.rec.episode_rtx = 0;
        self.rec.episode_dsack = 0;
        self.cc.on_congestion(now, self.snd.flight());
        if !self.opt.sack {
            // NewReno: inflate by the three segments that left the network.
            let cwnd = self.cc.cwnd();
            self.cc.set_cwnd(cwnd + 3 * self.snd.mss);
        }
        self.rec.recover = Some(self.snd.max);
        // The first segment found lost goes at once, whatever the pipe
        // (RFC 6675 5 step 4.3): SND.UNA for NewReno, RACK's lowest lost
        // segment with SACK (see `poll_fast_retransmit`).
        self.rec.rtx_una = true;
        self.rec.lt_allow = 0;
        self.timers.cancel(Timer::Tlp);
        // RFC 8985 7.1: a recovery ends any probe episode.
        self.rec.tlp_rtx_on = false;
        self.stats.fast_retransmits += 1;
        self.stats.recoveries += 1;
    }

    /// Fast or SACK recovery is over (RFC 6582 3.2 step 3).
    pub(super) fn exit_recovery(&mut self, now: Instant) {
        self.rec.recover = None;
        self.rack.on_recovery_exit();
        self.cc.on_recovery_end(now, self.snd.flight());
    }

    /// Still resending what was outstanding when the RTO fired.
    pub(super) fn after_rto(&mut self) -> bool {
        match self.rec.rto_recover {
            Some(r) if self.snd.una < r => true,
            Some(_) => {
                self.rec.rto_recover = None;
                self.rack.on_recovery_exit();
                false
            }
            None => false,
        }
    }

    /// RFC 8985 6.2 step 5 after an ACK or when the RACK timer fires: the
    /// segments RACK finds lost are counted, start fast recovery if none
    /// is under way (RFC 8985 6: RACK alone decides, the DupAck count
    /// does not), and go out first (`poll_sack_recovery`); one not yet
    /// overdue arms the RACK reorder timer. Only with SACK, and not while
    /// go-back-N resends after an RTO (the RTO's own recovery).
    pub(super) fn rack_detect_loss(&mut self, now: Instant) -> u32 {
        if !self.opt.sack || self.snd.una == self.snd.max || self.after_rto() {
            self.timers.cancel(Timer::Rack);
            return 0;
        }
        let in_recovery = self.rec.in_recovery();
        let reo_wnd = self.rack.reo_wnd(
            in_recovery,
            &self.rec.scoreboard,
            self.snd.una,
            self.snd.mss,
            self.rtt.srtt(),
        );
        let found = self.rack.detect_loss(now, reo_wnd, &self.rec.scoreboard);
        self.stats.rack_losses += found.marked;
        self.stats.lost_retransmits += found.retransmissions;
        match found.timeout {
            Some(t) => self.timers.arm(Timer::Rack, now + t),
            None => self.timers.cancel(Timer::Rack),
        }
        if found.marked > 0 && !in_recovery {
            self.enter_recovery(now);
        }
        found.marked
    }

    /// The RACK reorder timer fired (RFC 8985 6.2 step 5, "RACK timer"):
    /// no ACK came to show the segments it waited for lost, so time does.
    pub(super) fn on_rack_timeout(&mut self, now: Instant) {
        if self.rack_detect_loss(now) > 0 {
            self.stats.rack_timeouts += 1;
        }
    }

    /// RFC 8985 7.4: did a probe that sent old data again repair a loss?
    /// The ACK of its end says so, unless a D-SACK shows the original
    /// arrived too; then the congestion window is reduced as for any
    /// loss (entering and leaving recovery at once). A probe of new data
    /// needs no such check: RACK sees its losses as any others.
    pub(super) fn tlp_on_ack(&mut self, now: Instant, ack: SeqNum, dsack: bool, dup_no_sack: bool) {
        if !self.rec.tlp_rtx_on || ack < self.rec.tlp_rtx_end {
            return;
        }
        if dsack {
            // Both the original and the probe arrived: nothing was lost.
            self.rec.tlp_rtx_on = false;
        } else if ack > self.rec.tlp_rtx_end || dup_no_sack {
            self.rec.tlp_rtx_on = false;
            if !self.rec.in_recovery() && self.rec.rto_recover.is_none() {
                self.stats.tlp_recoveries += 1;
                self.hystart.finish();
                self.cc.on_congestion(now, self.snd.flight());
                self.cc.on_recovery_end(now, self.snd.flight());
            }
        }
        // ACK = TLP.end_seq with neither: the next ACK tells.
    }

    /// RFC 8985 7.2: arm the probe timeout while data is in flight and no
    /// recovery or probe is under way, never later than the RTO (the
    /// probe then stands in for it, 7.3).
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        if !self.cfg.tlp
            || self.rec.recover.is_some()
            || self.rec.rto_recover.is_some()
            || self.rec.tlp_out
            || self.snd.max == self.snd.una
        {
            self.timers.cancel(Timer::Tlp);
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let one_seg = self.snd.flight() <= self.snd.mss;
        let until_rto = self.timers.get(Timer::Rto).map(|at| at - now);
        let pto = crate::tcp::rack::pto(srtt, one_seg, until_rto);
        self.timers.arm(Timer::Tlp, now + pto);
    }
}
