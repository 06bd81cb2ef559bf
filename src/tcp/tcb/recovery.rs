//! Loss recovery: fast retransmit and NewReno (RFC 5681, RFC 6582), SACK
//! recovery with its scoreboard (RFC 6675), lost retransmissions, undo of
//! spurious window cuts (RFC 2883, RFC 3708), tail loss probes (RFC 8985
//! 7), the RTO's go-back-N, and path MTU discovery (RFC 1191).

use super::*;
use crate::tcp::sack::Scoreboard;
use crate::wire::ipv4::IPV4_HEADER_LEN;
use crate::wire::tcp::TCP_HEADER_LEN;
use thin_vec::ThinVec;

/// RFC 8985 7.2: the worst-case delayed-ACK time added when one segment is
/// in flight. The RFC suggests 200 ms, which puts the probe at or past the
/// 200 ms RTO floor and makes it useless for a lost last segment; peers
/// that delay ACKs (Linux, ringtcp) do so for at most 40 ms, and a probe
/// that comes too early only costs one segment.
const TLP_WCDELACK: Duration = Duration::from_millis(40);

/// How long a path MTU learned from ICMP holds (RFC 1191 6.3 suggests ten
/// minutes; Linux's `mtu_expires` is 600 s too).
pub const PMTU_EXPIRES: Duration = Duration::from_secs(600);

/// Retransmissions tracked per recovery episode; past this many, a lost
/// one waits for the RTO as before.
pub(crate) const MAX_RTX_MARKS: usize = 8;

/// A retransmission sent during SACK recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtxMark {
    pub start: SeqNum,
    pub end: SeqNum,
    /// SND.MAX when it was sent: a SACK above this is of data sent later.
    pub sent_before: SeqNum,
    /// Found lost, to be sent again.
    pub lost: bool,
}

/// The state of loss detection and recovery.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// Duplicate ACKs in a row (RFC 5681 2).
    pub(in crate::tcp) dup_acks: u32,
    /// The recovery point while in fast or SACK recovery (RFC 6582
    /// "recover", RFC 6675 RecoveryPoint); `None` outside recovery.
    pub(in crate::tcp) recover: Option<SeqNum>,
    /// What the peer has SACKed above SND.UNA.
    pub(in crate::tcp) scoreboard: Scoreboard,
    /// HighRxt: the end of the highest retransmission in this recovery.
    pub(in crate::tcp) high_rxt: SeqNum,
    /// RFC 6675 4 NextSeg rule 4 was used in this recovery.
    pub(in crate::tcp) rescue_done: bool,
    /// Retransmissions of the current SACK recovery still unSACKed, to
    /// find those lost as well (see `mark_lost_retransmissions`).
    pub(in crate::tcp) rtx_marks: ThinVec<RtxMark>,
    /// (cwnd, ssthresh) before the last window cut, for undo.
    pub(in crate::tcp) undo: Option<(usize, usize)>,
    /// Retransmissions and D-SACKs of the last episode: all of the first
    /// D-SACKed means the cut was spurious.
    pub(in crate::tcp) episode_rtx: u32,
    pub(in crate::tcp) episode_dsack: u32,
    /// Extra bytes limited transmit allows beyond cwnd (RFC 3042).
    pub(in crate::tcp) lt_allow: usize,
    /// SND.MAX when the last RTO fired: duplicate ACKs below it come from
    /// the go-back-N resend and must not start fast recovery (RFC 6582 3.2
    /// step 1, RFC 5681 4.3).
    pub(in crate::tcp) rto_recover: Option<SeqNum>,
    /// Retransmit one segment from SND.UNA (fast retransmit, partial ACK).
    pub(in crate::tcp) rtx_una: bool,
    /// A tail loss probe is to be sent.
    pub(in crate::tcp) tlp_pending: bool,
    /// A probe is outstanding: no second one until an ACK makes progress.
    pub(in crate::tcp) tlp_out: bool,
}

impl Recovery {
    pub(crate) fn new(iss: SeqNum) -> Recovery {
        Recovery {
            dup_acks: 0,
            recover: None,
            scoreboard: Scoreboard::default(),
            high_rxt: iss,
            rescue_done: false,
            rtx_marks: ThinVec::new(),
            undo: None,
            episode_rtx: 0,
            episode_dsack: 0,
            lt_allow: 0,
            rto_recover: None,
            rtx_una: false,
            tlp_pending: false,
            tlp_out: false,
        }
    }

    /// Notes a retransmission of the current SACK recovery, if there is
    /// room for it; the list takes memory only from the first one on.
    pub(in crate::tcp) fn mark_retransmission(&mut self, mark: RtxMark) {
        if self.rtx_marks.len() < MAX_RTX_MARKS {
            if self.rtx_marks.capacity() == 0 {
                self.rtx_marks.reserve_exact(MAX_RTX_MARKS);
            }
            self.rtx_marks.push(mark);
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
    pub(super) fn go_back_to_una(&mut self, now: Instant) {
        debug_assert!(self.rec.recover.is_none());
        self.rec.rtx_marks.clear();
        self.rec.dup_acks = 0;
        self.rtt_probe.clear();
        self.snd.nxt = self.snd.una;
        self.rec.rto_recover = Some(self.snd.max);
        self.rec.high_rxt = self.snd.una;
        self.timers.cancel(Timer::Tlp);
        self.rec.tlp_out = false;
        self.timers.arm(Timer::Rto, now + self.rtt.rto());
    }

    /// SACK blocks of an ACK: D-SACKs (RFC 2883) are counted and may undo a
    /// spurious congestion response; the others go to the scoreboard.
    /// Returns how many bytes were newly SACKed.
    pub(super) fn process_sack(&mut self, blocks: &[(SeqNum, SeqNum)], ack: SeqNum) -> u32 {
        let mut newly = 0;
        for (i, &(s, e)) in blocks.iter().enumerate() {
            self.stats.sack_blocks_received += 1;
            let dsack = i == 0
                && e > s
                && (e <= ack || blocks.get(1).is_some_and(|&(s1, e1)| s >= s1 && e <= e1));
            if dsack {
                self.on_dsack();
                continue;
            }
            newly += self.rec.scoreboard.add(s, e, self.snd.una, self.snd.max);
        }
        newly
    }

    /// Lost retransmissions (the idea of RFC 8985 6, with Linux's older
    /// tcp_mark_lost_retrans test instead of per-segment clocks): RFC 6675
    /// sends each hole once per recovery, so a retransmission lost in turn
    /// waited for the RTO and its collapse of cwnd. A retransmission still
    /// unSACKed when data sent after it (above SND.MAX at the time) has
    /// been SACKed was lost, unless the path reorders; it is sent again,
    /// once per such finding, within the same recovery and window.
    pub(super) fn mark_lost_retransmissions(&mut self) {
        if self.rec.recover.is_none() {
            self.rec.rtx_marks.clear();
            return;
        }
        let una = self.snd.una;
        let highest = self.rec.scoreboard.highest();
        let sb = &self.rec.scoreboard;
        // Each mark keeps only what is still missing at its front: not
        // acknowledged, not SACKed. A mark with nothing missing goes.
        self.rec.rtx_marks.retain_mut(|m| {
            m.start = m.start.max(una);
            while m.start < m.end
                && let Some(&(_, e)) = sb.ranges().iter().find(|&&(s, e)| m.start.in_range(s, e))
            {
                m.start = e;
            }
            m.start < m.end
        });
        let Some(highest) = highest else {
            return;
        };
        for m in self.rec.rtx_marks.iter_mut() {
            if !m.lost && highest > m.sent_before {
                m.lost = true;
                self.stats.lost_retransmits += 1;
            }
        }
    }

    pub(super) fn on_dsack(&mut self) {
        self.stats.dsack_received += 1;
        if self.rec.episode_rtx == 0 {
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
    /// RFC 6582 3.2 step 2, RFC 6675 5 step 4).
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
        self.rec.high_rxt = self.snd.una;
        self.rec.rescue_done = false;
        self.rec.rtx_marks.clear();
        self.rec.rtx_una = true;
        self.rec.lt_allow = 0;
        self.timers.cancel(Timer::Tlp);
        self.stats.fast_retransmits += 1;
        self.stats.recoveries += 1;
    }

    /// Still resending what was outstanding when the RTO fired.
    pub(super) fn after_rto(&mut self) -> bool {
        match self.rec.rto_recover {
            Some(r) if self.snd.una < r => true,
            Some(_) => {
                self.rec.rto_recover = None;
                false
            }
            None => false,
        }
    }

    /// RFC 8985 7.2: arm the probe timeout while data is in flight and no
    /// recovery or probe is under way; it must fire before the RTO.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        if !self.cfg.tlp
            || self.rec.recover.is_some()
            || self.rec.tlp_out
            || self.snd.max == self.snd.una
        {
            self.timers.cancel(Timer::Tlp);
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let mut pto = srtt * 2;
        if self.snd.flight() <= self.snd.mss {
            pto += TLP_WCDELACK;
        } else {
            pto += Duration::from_millis(2);
        }
        let at = now + pto;
        match self.timers.get(Timer::Rto) {
            Some(rto) if at >= rto => self.timers.cancel(Timer::Tlp),
            _ => self.timers.arm(Timer::Tlp, at),
        }
    }
}
