//! The receive sequence space (RFC 9293 3.3.1, Figure 5): reassembly, the
//! window we advertise (receiver silly-window avoidance, RFC 9293
//! 3.8.6.2.2), its auto-tuning, and segment text and FIN (RFC 9293
//! 3.10.7.4, seventh and eighth).

use super::*;
use crate::tcp::TcpConfig;
use crate::tcp::buffer::{Inserted, RecvBuffer};
use crate::time::PackedDuration;
use crate::wire::tcp::TcpRepr;
use thin_vec::ThinVec;

/// The receive window a connection starts with; auto-tuning grows it up to
/// the buffer's capacity while the application keeps up.
const INITIAL_RCV_WND_LIMIT: usize = 256 * 1024;
/// Largest window a segment header can carry unscaled.
pub(crate) const MAX_UNSCALED_WINDOW: usize = 65_535;
/// RFC 7323 2.3: shifts above 14 are treated as 14.
pub(crate) const MAX_WSCALE: u8 = 14;

/// RCV.NXT, RCV.WND and the rest of the receiving side.
#[derive(Debug)]
pub(crate) struct RecvSpace {
    /// IRS: the peer's initial sequence number.
    pub(super) irs: SeqNum,
    /// RCV.NXT: next sequence number expected.
    pub(super) nxt: SeqNum,
    /// Our window shift (RFC 7323 2), offered in our SYN.
    pub(super) wscale: u8,
    /// Right edge of the window last advertised (RCV.NXT + RCV.WND when it
    /// was sent); never moves left.
    pub(super) adv: SeqNum,
    /// In-order bytes not yet read, and out-of-order ones beyond a hole.
    pub(super) buf: RecvBuffer,
    /// A FIN that arrived beyond a hole.
    pub(super) ooo_fin: Option<SeqNum>,
    pub(super) fin_received: bool,
    /// The application shut down its read side; later data is discarded.
    pub(super) read_closed: bool,
    /// Starts of recently received out-of-order segments, newest first: the
    /// SACK blocks that hold them are reported first (RFC 2018 4).
    pub(super) recent_ooo: ThinVec<SeqNum>,
    /// A D-SACK block to report in the next ACK (RFC 2883).
    pub(super) dsack: Option<(SeqNum, SeqNum)>,
    /// The largest segment the peer has sent: what counts as full-sized.
    pub(super) mss_est: u32,
    /// Full-sized segments received since the last ACK we sent.
    pub(super) unacked_segs: u32,
    /// Segments still ACKed at once at the start of the connection.
    pub(super) quickacks: u16,
    /// The application saw an empty receive buffer since the last READABLE.
    pub(super) want_readable: bool,
    /// The stack is short of buffer memory: offer no window beyond the
    /// storage held, and do not grow it (see `memory.rs`).
    pub(super) mem_pressure: bool,
    /// The window auto-tuning allows now.
    pub(super) wnd_limit: u32,
    /// Bytes the application read since `space_at`.
    pub(super) space_copied: u32,
    pub(super) space_at: Instant,
    /// Receiver-side RTT: the shortest window round trip seen, and the
    /// measurement in progress (a sequence number beyond the edge the peer
    /// knows of, and when it was set).
    pub(super) rtt: PackedDuration,
    rtt_mark_seq: SeqNum,
    rtt_mark_at: PackedInstant,
}

/// RFC 9293 3.10.7.4, first: the four acceptability cases of a segment
/// against RCV.NXT and RCV.WND.
pub(crate) fn in_window(seg: &TcpRepr<'_>, nxt: SeqNum, wnd: u32) -> bool {
    let len = seg.segment_len() as u32;
    match (len, wnd) {
        (0, 0) => seg.seq == nxt,
        (0, _) => seg.seq.in_range(nxt, nxt + wnd),
        (_, 0) => false,
        (_, _) => {
            seg.seq.in_range(nxt, nxt + wnd) || (seg.seq + (len - 1)).in_range(nxt, nxt + wnd)
        }
    }
}

impl RecvSpace {
    pub(crate) fn new(cfg: &TcpConfig, now: Instant) -> RecvSpace {
        let wscale = if cfg.window_scaling {
            let mut s = 0u8;
            while s < MAX_WSCALE && (cfg.recv_buffer >> s) > MAX_UNSCALED_WINDOW {
                s += 1;
            }
            s
        } else {
            0
        };
        RecvSpace {
            irs: SeqNum(0),
            nxt: SeqNum(0),
            wscale,
            adv: SeqNum(0),
            buf: RecvBuffer::new(cfg.recv_buffer),
            ooo_fin: None,
            fin_received: false,
            read_closed: false,
            recent_ooo: ThinVec::new(),
            dsack: None,
            mss_est: 536,
            unacked_segs: 0,
            quickacks: u16::try_from(cfg.quickack).unwrap_or(u16::MAX),
            want_readable: true,
            mem_pressure: false,
            wnd_limit: cfg.recv_buffer.min(INITIAL_RCV_WND_LIMIT) as u32,
            space_copied: 0,
            space_at: now,
            rtt: PackedDuration::NONE,
            rtt_mark_seq: SeqNum::default(),
            rtt_mark_at: PackedInstant::NONE,
        }
    }

    /// The window we can offer now: free buffer space from RCV.NXT.
    pub(crate) fn wnd(&self) -> u32 {
        if self.read_closed {
            // Data after SHUT_RD is discarded anyway; keep the window open.
            return self.buf.capacity() as u32;
        }
        // Auto-tuning: unread data counts against the current limit.
        let limit = (self.wnd_limit as usize).saturating_sub(self.buf.readable());
        self.buf.window().min(limit) as u32
    }

    /// The window to offer in the next segment: [`RecvSpace::wnd`], and
    /// under memory pressure no more than the storage held takes.
    pub(crate) fn offer_wnd(&self) -> u32 {
        let wnd = self.wnd();
        if self.mem_pressure && !self.read_closed {
            wnd.min(self.buf.window_without_growing() as u32)
        } else {
            wnd
        }
    }

    /// RCV.WND for the acceptability test: the window we advertised
    /// (RCV.NXT to the right edge of the last window sent), not the free
    /// buffer space: that can be larger while receiver SWS avoidance (RFC
    /// 9293 3.8.6.2.2) holds the edge back or the 16-bit field caps it,
    /// and data beyond the advertised edge is outside the window (RFC 9293
    /// 3.10.7.4 first).
    pub(crate) fn window_in_force(&self) -> u32 {
        (self.adv.diff(self.nxt).max(0) as u32).min(self.wnd())
    }

    /// "First, check sequence number": the four acceptability cases.
    pub(crate) fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        in_window(seg, self.nxt, self.window_in_force())
    }

    /// Receive-buffer auto-tuning, in the spirit of Linux's
    /// `tcp_rcv_space_adjust`: once per round trip, if the application read
    /// at least half the window in that time, double the window (up to the
    /// buffer's capacity).
    pub(crate) fn autotune(&mut self, now: Instant, srtt: Option<Duration>) {
        self.measure_rtt(now);
        // The shorter of the two estimates: a pure receiver's srtt is the
        // handshake's sample, which a retransmitted or delayed SYN-ACK can
        // leave a thousand times too long; a sender that is not filling
        // our window makes the receiver's own estimate too long.
        let rtt = match (self.rtt.get(), srtt) {
            (Some(r), Some(s)) => r.min(s),
            (Some(r), None) => r,
            (None, Some(s)) => s,
            (None, None) => Duration::from_millis(1),
        }
        .max(Duration::from_micros(100));
        if now - self.space_at < rtt {
            return;
        }
        // Under memory pressure the window does not grow.
        if u64::from(self.space_copied) * 2 >= u64::from(self.wnd_limit) && !self.mem_pressure {
            // The capacity fits in 32 bits (a ring's does).
            self.wnd_limit = (self.wnd_limit as usize * 2).min(self.buf.capacity()) as u32;
            // Storage for the whole window now, while the connection is
            // ramping up, not in the middle of the transfer when a batch
            // first fills it: that would be a multi-megabyte allocation and
            // copy on the receive path. Connections that never grow their
            // window keep allocating only what they hold.
            self.buf.reserve(self.wnd_limit as usize);
        }
        self.space_copied = 0;
        self.space_at = now;
    }

    /// The receiver's RTT without sending data (Linux's tcp_rcv_rtt_measure):
    /// the first byte past the edge the peer knows of can only be sent after
    /// an ACK we send from now on, so the time until it arrives is at least
    /// one round trip. The estimate is the shortest such time seen.
    pub(super) fn measure_rtt(&mut self, now: Instant) {
        if let Some((seq, at)) = self.rtt_mark() {
            if self.nxt <= seq {
                return;
            }
            let sample = (now - at).max(Duration::from_micros(1));
            self.rtt = self.rtt.min(PackedDuration::new(sample));
        }
        self.rtt_mark_seq = self.adv.max(self.nxt);
        self.rtt_mark_at = PackedInstant::new(now);
    }

    /// The receiver-side RTT measurement in progress: the sequence number
    /// whose arrival ends it, and when it began.
    pub(super) fn rtt_mark(&self) -> Option<(SeqNum, Instant)> {
        self.rtt_mark_at.get().map(|at| (self.rtt_mark_seq, at))
    }
}

impl Tcb {
    /// The right edge the window could reach now: free buffer space from
    /// RCV.NXT, limited to what the window field can carry (65535, scaled
    /// except in a SYN, RFC 7323 2.2).
    pub(super) fn open_edge(&self, syn: bool) -> SeqNum {
        let max = (MAX_UNSCALED_WINDOW as u32) << self.wnd_shift(syn);
        self.rcv.nxt + self.rcv.offer_wnd().min(max)
    }

    /// The shift of our window field: RFC 7323 2.2, never in a SYN.
    pub(super) fn wnd_shift(&self, syn: bool) -> u8 {
        if syn || !self.opt.ws {
            0
        } else {
            self.rcv.wscale
        }
    }

    /// The window field that carries the advertised right edge, rounded
    /// down so that the window never appears to shrink when the shift
    /// drops low bits: what the peer knows of.
    pub(super) fn advertised_field(&self, syn: bool) -> u16 {
        let wnd = (self.rcv.adv.diff(self.rcv.nxt)).max(0) as usize;
        (wnd >> self.wnd_shift(syn)).min(MAX_UNSCALED_WINDOW) as u16
    }

    /// The window field for an outgoing segment, with receiver-side silly
    /// window avoidance (RFC 9293 3.8.6.2.2): the right edge moves only in
    /// steps of at least min(buffer / 2, MSS), and never moves left.
    /// `rcv_adv` records the edge advertised, which is RCV.NXT + RCV.WND
    /// for the acceptability test.
    pub(crate) fn window_to_advertise(&mut self, syn: bool) -> u16 {
        let edge = self.open_edge(syn);
        let step = (self.rcv.buf.capacity() / 2).min(self.cfg.mss as usize) as u32;
        let grow = edge.diff(self.rcv.adv);
        // While out-of-order data waits for a hole to fill, the edge stays
        // put: a window update would make our duplicate ACKs not count as
        // duplicates at the sender (RFC 5681 2, condition (e)).
        let frozen = self.rcv.buf.has_holes() && self.rcv.adv >= self.rcv.nxt;
        if !frozen && (grow >= step as i32 || self.rcv.adv < self.rcv.nxt) {
            self.rcv.adv = edge;
        }
        self.advertised_field(syn)
    }

    /// The window increase an update would announce.
    pub(super) fn window_update_due(&self) -> bool {
        if self.rcv.buf.has_holes() {
            // The edge is frozen while holes wait (see window_to_advertise).
            return false;
        }
        let edge = self.open_edge(false);
        let grow = edge.diff(self.rcv.adv);
        let threshold = (2 * self.cfg.mss as usize).min(self.rcv.buf.capacity() / 2) as i32;
        // An update by itself matters only when the peer may run short: the
        // window it knows of is at most half of what we could offer now (as
        // Linux's tcp_cleanup_rbuf decides). Otherwise the next ACK carries
        // the new edge; a bulk receiver that updated on every read would
        // send the sender two ACKs per super-packet to process, not one.
        // What the peer knows of is the window field it received.
        let known = i32::from(self.advertised_field(false)) << self.wnd_shift(false);
        let open = edge.diff(self.rcv.nxt);
        grow >= threshold && open >= 2 * known
    }

    /// Step seven (text) and eight (FIN). Returns true if the FIN was
    /// received in order now.
    pub(super) fn process_text(&mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> bool {
        let mut fin_in_seg = seg.flags.fin();
        if !seg.payload.is_empty() && !self.take_text(now, seg, gso_size) {
            // Part of it fell beyond the window: a FIN there is not
            // accepted either.
            fin_in_seg = false;
        }
        self.process_fin(seg, fin_in_seg)
    }

    /// Step seven for a segment with data: trims what was already
    /// received (reported as a D-SACK), then discards the rest after
    /// SHUT_RD or takes it into the buffer. Returns false if part of the
    /// data fell beyond the window.
    fn take_text(&mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> bool {
        let payload = seg.payload;
        let delta = seg.seq.diff(self.rcv.nxt);
        // Skip bytes already received.
        let skip = if delta < 0 { (-delta) as usize } else { 0 };
        let off = delta.max(0) as usize;
        if skip > 0 && self.opt.sack {
            // RFC 2883: report the duplicate part as a D-SACK.
            let end = (seg.seq + payload.len()).min(self.rcv.nxt);
            self.rcv.dsack = Some((seg.seq, end));
        }
        if skip >= payload.len() {
            // Entirely a duplicate.
            self.ack_now = true;
            true
        } else if self.rcv.read_closed {
            self.discard_text(off, payload.len() - skip);
            true
        } else {
            self.insert_text(now, seg.seq + skip, off, &payload[skip..], gso_size)
        }
    }

    /// `n` new bytes at offset `off` from RCV.NXT after the application
    /// shut down its read side.
    fn discard_text(&mut self, off: usize, n: usize) {
        // RFC 9293 3.10.4: after SHUT_RD a stack may discard; we
        // acknowledge so the peer makes progress.
        if off == 0 {
            self.rcv.nxt += n;
            self.stats.bytes_received += n as u64;
        }
        self.ack_now = true;
    }

    /// Puts `data`, which starts at sequence number `start`, `off` bytes
    /// beyond RCV.NXT, into the reassembly buffer, and decides on the ACK.
    /// Returns false if part of it fell beyond the window.
    fn insert_text(
        &mut self,
        now: Instant,
        start: SeqNum,
        off: usize,
        data: &[u8],
        gso_size: u16,
    ) -> bool {
        // RFC 5681 4.2: a segment that fills all or part of a gap
        // is ACKed at once; after the insert the last gap is gone,
        // so look before.
        let had_holes = self.rcv.buf.has_holes();
        let ins = self.rcv.buf.insert(off, data);
        if self.opt.sack {
            self.note_sack(start, data.len(), &ins);
        }
        let fits = off + data.len() <= self.rcv.buf.window() + ins.advanced;
        if ins.out_of_order || ins.rejected || had_holes || self.rcv.buf.has_holes() {
            // RFC 5681 4.2: out-of-order data and data that fills a
            // hole are acknowledged at once.
            self.ack_now = true;
            if ins.out_of_order {
                self.stats.out_of_order_segments += 1;
            }
        }
        if ins.advanced > 0 {
            self.advance_rcv_nxt(now, data.len(), ins.advanced, gso_size);
        }
        fits
    }

    /// SACK bookkeeping for `len` bytes inserted from `start`: a D-SACK if
    /// all of them were held already (RFC 2883), and out-of-order data
    /// moved to the front of the blocks to report (RFC 2018 4).
    fn note_sack(&mut self, start: SeqNum, len: usize, ins: &Inserted) {
        if ins.already_held > 0 && ins.already_held == len {
            self.rcv.dsack = Some((start, start + len));
        }
        if ins.out_of_order && !ins.rejected {
            if self.rcv.recent_ooo.capacity() == 0 {
                self.rcv.recent_ooo.reserve_exact(4);
            }
            self.rcv.recent_ooo.retain(|s| *s != start);
            self.rcv.recent_ooo.insert(0, start);
            self.rcv.recent_ooo.truncate(4);
        }
    }

    /// RCV.NXT moves over `advanced` in-order bytes, brought by a segment
    /// of `len` bytes (a super-packet if `gso_size` is nonzero): the
    /// application hears of them, the segment-size estimate, auto-tuning
    /// and the delayed ACK follow.
    fn advance_rcv_nxt(&mut self, now: Instant, len: usize, advanced: usize, gso_size: u16) {
        self.rcv.nxt += advanced;
        self.stats.bytes_received += advanced as u64;
        if self.rcv.want_readable {
            self.rcv.want_readable = false;
            self.raise(ev::READABLE);
        }
        // A full-sized segment is one as large as the largest the
        // peer has sent (its MSS less its options), as Linux
        // estimates rcv_mss.
        // A super-packet from a device with offloads carries the
        // peer's segment size in its header (its length says
        // nothing); it counts as the full segments it holds,
        // so it is ACKed at once, not per 1500 bytes of it.
        let seg_size = match gso_size {
            0 => len,
            g => usize::from(g),
        };
        if seg_size <= usize::from(self.cfg.mss) {
            // At most the configured MSS, a u16.
            self.rcv.mss_est = self.rcv.mss_est.max(seg_size as u32);
        }
        let full = len.max(advanced) / self.rcv.mss_est as usize;
        self.rcv.unacked_segs += full as u32;
        self.rcv.autotune(now, self.rtt.srtt());
        self.ack_or_delay(now);
    }

    /// Delayed ACK: at least every second full segment (RFC 5681 4.2),
    /// otherwise within the timer; at the start of a connection every
    /// segment (quick ACKs).
    fn ack_or_delay(&mut self, now: Instant) {
        if self.rcv.quickacks > 0 {
            self.rcv.quickacks -= 1;
            self.ack_now = true;
        } else if self.rcv.unacked_segs >= 2 {
            self.ack_now = true;
        } else if !self.timers.is_armed(Timer::DelayedAck) {
            self.timers
                .arm(Timer::DelayedAck, now + self.cfg.delayed_ack);
        }
    }

    /// Step eight: a FIN at RCV.NXT is taken now, one beyond it is kept
    /// until the hole before it fills. `fin_in_seg`: the segment carries
    /// a FIN that was not cut off by the window. Returns true if the FIN
    /// was received in order now.
    fn process_fin(&mut self, seg: &TcpRepr<'_>, fin_in_seg: bool) -> bool {
        if fin_in_seg {
            let fin_seq = seg.seq + seg.payload.len();
            if fin_seq == self.rcv.nxt {
                return self.take_fin();
            } else if fin_seq > self.rcv.nxt {
                self.rcv.ooo_fin = Some(fin_seq);
                self.ack_now = true;
            }
        }
        if let Some(f) = self.rcv.ooo_fin
            && f == self.rcv.nxt
        {
            return self.take_fin();
        }
        false
    }

    pub(super) fn take_fin(&mut self) -> bool {
        self.rcv.ooo_fin = None;
        self.rcv.fin_received = true;
        self.rcv.nxt += 1u32;
        self.ack_now = true;
        self.raise(ev::PEER_CLOSED | ev::READABLE);
        true
    }
}

/// `RecvSpace` on its own, without a connection (issue 11).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::{TcpFlags, TcpOptions};

    static DATA: [u8; 4096] = [0; 4096];

    fn cfg(recv_buffer: usize) -> TcpConfig {
        TcpConfig {
            recv_buffer,
            ..TcpConfig::default()
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn seg_flags(seq: SeqNum, len: usize, flags: TcpFlags) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq,
            ack: SeqNum(0),
            flags,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &DATA[..len],
        }
    }

    fn seg(seq: u32, len: usize) -> TcpRepr<'static> {
        seg_flags(SeqNum(seq), len, TcpFlags::ACK)
    }

    /// RCV.NXT 1000 and an advertised right edge `wnd` beyond it.
    fn space(recv_buffer: usize, wnd: u32) -> RecvSpace {
        let mut rs = RecvSpace::new(&cfg(recv_buffer), t(0));
        rs.nxt = SeqNum(1000);
        rs.adv = SeqNum(1000) + wnd;
        rs
    }

    #[test]
    fn window_shift_fits_the_buffer_in_sixteen_bits() {
        // RFC 7323 2.3: the shift is chosen so the buffer, shifted, fits
        // the 16-bit window field. 4 MiB >> 6 = 65536 does not fit;
        // 4 MiB >> 7 = 32768 does.
        let four_mib = 4 << 20;
        assert_eq!(RecvSpace::new(&cfg(four_mib), t(0)).wscale, 7);
        assert!(four_mib >> 7 <= MAX_UNSCALED_WINDOW);
        assert!(four_mib >> 6 > MAX_UNSCALED_WINDOW);
        // Boundaries: 65535 needs no shift, 65536 needs one.
        assert_eq!(RecvSpace::new(&cfg(65_535), t(0)).wscale, 0);
        assert_eq!(RecvSpace::new(&cfg(65_536), t(0)).wscale, 1);
        // RFC 7323 2.3: never more than 14, even if 1 GiB >> 14 = 65536.
        assert_eq!(RecvSpace::new(&cfg(1 << 30), t(0)).wscale, 14);
    }

    #[test]
    fn no_window_scaling_means_no_shift() {
        // RFC 7323 2.2: without the option both shifts are zero.
        let c = TcpConfig {
            window_scaling: false,
            ..TcpConfig::default()
        };
        assert_eq!(RecvSpace::new(&c, t(0)).wscale, 0);
    }

    #[test]
    fn wnd_is_the_tuning_limit_less_unread_data() {
        // RFC 9293 3.8.6.2.2 / 3.3.1: RCV.WND is what we can still take:
        // here the auto-tuning limit (256 KiB of a 4 MiB buffer) less the
        // bytes the application has not read.
        let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
        assert_eq!(rs.wnd_limit, 256 * 1024);
        assert_eq!(rs.wnd(), 262_144);
        rs.buf.insert(0, &DATA[..1000]);
        assert_eq!(rs.wnd(), 262_144 - 1000);
        // A buffer smaller than the initial limit: the buffer's free room.
        let mut rs = RecvSpace::new(&cfg(10_000), t(0));
        assert_eq!(rs.wnd_limit, 10_000);
        assert_eq!(rs.wnd(), 10_000);
        rs.buf.insert(0, &DATA[..4000]);
        assert_eq!(rs.wnd(), 6000);
    }

    #[test]
    fn read_closed_keeps_the_window_open() {
        // RFC 9293 3.10.4 (after SHUT_RD data may be discarded): the
        // window stays at the whole buffer so the peer is never stalled.
        let mut rs = RecvSpace::new(&cfg(10_000), t(0));
        rs.buf.insert(0, &DATA[..4000]);
        rs.read_closed = true;
        assert_eq!(rs.wnd(), 10_000);
    }

    #[test]
    fn acceptable_zero_length_open_window() {
        // RFC 9293 3.10.7.4 table, SEG.LEN = 0, RCV.WND > 0:
        // RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND. Window 500 from 1000.
        let rs = space(4 << 20, 500);
        assert!(!rs.acceptable(&seg(999, 0)));
        assert!(rs.acceptable(&seg(1000, 0)));
        assert!(rs.acceptable(&seg(1499, 0)));
        assert!(!rs.acceptable(&seg(1500, 0)));
    }

    #[test]
    fn acceptable_data_open_window() {
        // RFC 9293 3.10.7.4 table, SEG.LEN > 0, RCV.WND > 0: the first or
        // the last octet (SEG.SEQ+SEG.LEN-1) lies in the window.
        let rs = space(4 << 20, 500);
        // Last octet 1049 in: a partial retransmission.
        assert!(rs.acceptable(&seg(950, 100)));
        // Last octet 999: entirely old.
        assert!(!rs.acceptable(&seg(900, 100)));
        // Last octet 1000: one new octet.
        assert!(rs.acceptable(&seg(901, 100)));
        // First octet 1499 in, the rest beyond.
        assert!(rs.acceptable(&seg(1499, 100)));
        assert!(!rs.acceptable(&seg(1500, 1)));
        // SYN and FIN occupy sequence space (SEG.LEN counts them): a FIN
        // alone at 1500 is outside, at 1499 inside.
        assert!(!rs.acceptable(&seg_flags(SeqNum(1500), 0, TcpFlags::FIN)));
        assert!(rs.acceptable(&seg_flags(SeqNum(1499), 0, TcpFlags::FIN)));
    }

    #[test]
    fn acceptable_zero_window() {
        // RFC 9293 3.10.7.4 table, RCV.WND = 0: a zero-length segment is
        // acceptable only at SEG.SEQ = RCV.NXT; one with SEG.LEN > 0 never
        // is (a FIN alone included).
        let rs = space(4 << 20, 0);
        assert!(rs.acceptable(&seg(1000, 0)));
        assert!(!rs.acceptable(&seg(1001, 0)));
        assert!(!rs.acceptable(&seg(999, 0)));
        assert!(!rs.acceptable(&seg(1000, 1)));
        assert!(!rs.acceptable(&seg_flags(SeqNum(1000), 0, TcpFlags::FIN)));
    }

    #[test]
    fn rcv_wnd_is_the_smaller_of_advertised_and_free_room() {
        // RFC 9293 3.10.7.4: RCV.WND is the window we offered; data that
        // fits no buffer room is outside it too. Advertised 8000, but
        // 4000 of a 10000 buffer are unread: RCV.WND = 6000.
        let mut rs = space(10_000, 8000);
        rs.buf.insert(0, &DATA[..4000]);
        assert!(rs.acceptable(&seg(1000 + 5999, 0)));
        assert!(!rs.acceptable(&seg(1000 + 6000, 0)));
        // Free room 10000, advertised 8000: the edge we sent wins.
        let rs = space(10_000, 8000);
        assert!(rs.acceptable(&seg(1000 + 7999, 0)));
        assert!(!rs.acceptable(&seg(1000 + 8000, 0)));
        // An advertised edge behind RCV.NXT is a zero window.
        let mut rs = space(10_000, 0);
        rs.adv = SeqNum(900);
        assert!(rs.acceptable(&seg(1000, 0)));
        assert!(!rs.acceptable(&seg(1000, 10)));
    }

    #[test]
    fn acceptable_across_sequence_wrap() {
        // RFC 9293 3.4: comparisons are modulo 2^32. RCV.NXT 100 below
        // 2^32, window 200 (up to 100 past the wrap).
        let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
        rs.nxt = SeqNum(u32::MAX - 99);
        rs.adv = rs.nxt + 200u32;
        assert!(rs.acceptable(&seg(50, 10)));
        assert!(rs.acceptable(&seg(99, 0)));
        assert!(!rs.acceptable(&seg(100, 0)));
        // Starts 10 below RCV.NXT, ends inside.
        assert!(rs.acceptable(&seg(u32::MAX - 109, 20)));
        assert!(!rs.acceptable(&seg(u32::MAX - 109, 10)));
    }

    #[test]
    fn autotune_doubles_once_per_rtt_when_half_was_read() {
        // No RFC: receive-buffer auto-tuning (Linux tcp_rcv_space_adjust,
        // RFC 9293 3.8.6 leaves receive window policy to the stack). With
        // SRTT 20 ms and the app reading half the window, the limit
        // doubles once per 20 ms and storage is reserved for it.
        let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
        let srtt = Some(ms(20));
        assert_eq!(rs.buf.storage(), 0);
        rs.space_copied = 131_072;
        rs.autotune(t(19), srtt);
        // Less than one RTT: nothing, and the count is kept.
        assert_eq!(rs.wnd_limit, 262_144);
        assert_eq!(rs.space_copied, 131_072);
        rs.autotune(t(20), srtt);
        assert_eq!(rs.wnd_limit, 524_288);
        assert_eq!(rs.space_copied, 0);
        assert_eq!(rs.space_at, t(20));
        assert!(rs.buf.storage() >= 524_288);
        rs.space_copied = 262_144;
        rs.autotune(t(39), srtt);
        assert_eq!(rs.wnd_limit, 524_288);
        rs.autotune(t(40), srtt);
        assert_eq!(rs.wnd_limit, 1 << 20);
    }

    #[test]
    fn autotune_keeps_the_limit_when_less_than_half_was_read() {
        // Auto-tuning: an application reading under half the window per
        // RTT does not need a larger one; the period restarts.
        let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
        rs.space_copied = 131_071;
        rs.autotune(t(20), Some(ms(20)));
        assert_eq!(rs.wnd_limit, 262_144);
        assert_eq!(rs.space_copied, 0);
        assert_eq!(rs.space_at, t(20));
        assert_eq!(rs.buf.storage(), 0);
    }

    #[test]
    fn autotune_stops_at_capacity() {
        // The window never exceeds the buffer (RFC 9293 3.8.6: the window
        // is buffer space we can commit to).
        let mut rs = RecvSpace::new(&cfg(300_000), t(0));
        assert_eq!(rs.wnd_limit, 262_144);
        rs.space_copied = 131_072;
        rs.autotune(t(20), Some(ms(20)));
        assert_eq!(rs.wnd_limit, 300_000);
        rs.space_copied = 300_000;
        rs.autotune(t(40), Some(ms(20)));
        assert_eq!(rs.wnd_limit, 300_000);
        assert_eq!(rs.buf.storage(), 300_000);
    }

    #[test]
    fn autotune_uses_the_shorter_rtt() {
        // Auto-tuning period: the shorter of the receiver's own RTT and
        // SRTT (see the comment in autotune).
        for (own, srtt) in [(ms(5), ms(50)), (ms(50), ms(5))] {
            let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
            rs.rtt = PackedDuration::new(own);
            rs.space_copied = 131_072;
            rs.autotune(t(4), Some(srtt));
            assert_eq!(rs.wnd_limit, 262_144, "{own:?} {srtt:?}");
            rs.autotune(t(5), Some(srtt));
            assert_eq!(rs.wnd_limit, 524_288, "{own:?} {srtt:?}");
        }
        // The receiver's RTT alone.
        let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
        rs.rtt = PackedDuration::new(ms(7));
        rs.space_copied = 131_072;
        rs.autotune(t(6), None);
        assert_eq!(rs.wnd_limit, 262_144);
        rs.autotune(t(7), None);
        assert_eq!(rs.wnd_limit, 524_288);
    }

    #[test]
    fn autotune_period_defaults_and_floor() {
        // No estimate at all: 1 ms; an estimate under 100 us: 100 us.
        let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
        rs.space_copied = 131_072;
        rs.autotune(Instant::from_micros(999), None);
        assert_eq!(rs.wnd_limit, 262_144);
        rs.autotune(Instant::from_micros(1000), None);
        assert_eq!(rs.wnd_limit, 524_288);
        let mut rs = RecvSpace::new(&cfg(4 << 20), t(0));
        rs.rtt = PackedDuration::new(Duration::from_micros(10));
        rs.space_copied = 131_072;
        rs.autotune(Instant::from_micros(99), None);
        assert_eq!(rs.wnd_limit, 262_144);
        rs.autotune(Instant::from_micros(100), None);
        assert_eq!(rs.wnd_limit, 524_288);
    }

    #[test]
    fn measure_rtt_takes_the_shortest_window_round_trip() {
        // No RFC (Linux tcp_rcv_rtt_measure, after Dynamic Right-Sizing):
        // an octet beyond the edge the peer knew of when we marked it
        // arrives at least one RTT later.
        let mut rs = space(4 << 20, 500);
        rs.measure_rtt(t(0));
        assert_eq!(rs.rtt.get(), None);
        assert_eq!(rs.rtt_mark(), Some((SeqNum(1500), t(0))));
        // Up to the edge only: no sample, the mark stays.
        rs.nxt = SeqNum(1500);
        rs.measure_rtt(t(5));
        assert_eq!(rs.rtt.get(), None);
        assert_eq!(rs.rtt_mark(), Some((SeqNum(1500), t(0))));
        // The first octet past it: a 30 ms sample, a new mark at
        // max(RCV.NXT, edge).
        rs.nxt = SeqNum(1501);
        rs.measure_rtt(t(30));
        assert_eq!(rs.rtt.get(), Some(ms(30)));
        assert_eq!(rs.rtt_mark(), Some((SeqNum(1501), t(30))));
        // A longer sample does not replace it, a shorter one does.
        rs.adv = SeqNum(3000);
        rs.nxt = SeqNum(1502);
        rs.measure_rtt(t(70));
        assert_eq!(rs.rtt.get(), Some(ms(30)));
        assert_eq!(rs.rtt_mark(), Some((SeqNum(3000), t(70))));
        rs.nxt = SeqNum(3001);
        rs.measure_rtt(t(90));
        assert_eq!(rs.rtt.get(), Some(ms(20)));
        // Zero elapsed time still gives a positive sample (1 us).
        rs.nxt = SeqNum(3002);
        rs.measure_rtt(t(90));
        assert_eq!(rs.rtt.get(), Some(Duration::from_micros(1)));
    }
}
