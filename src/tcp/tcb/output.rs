//! What a connection sends next, in priority order (RST, fast
//! retransmit, tail loss probe, SACK recovery, new data and FIN, probe,
//! ACK), and the segment writer.

use super::*;
use crate::tcp::Transmit;
use crate::wire::tcp::{
    TCP_HEADER_LEN, TcpFlags, TcpOptions, TcpRepr, fill_checksum, fill_partial_checksum,
};
use std::net::Ipv4Addr;

/// Writes the segment `repr` with `payload_len` bytes of payload (that
/// `payload` copies into the slice it is given) at the start of `buf`,
/// and its checksum: complete, or only the pseudo-header sum for a device
/// that completes it (`partial`). `None` if `buf` is too small.
pub(crate) fn write_segment(
    buf: &mut [u8],
    repr: &TcpRepr<'_>,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    payload_len: usize,
    payload: impl FnOnce(&mut [u8]),
    partial: bool,
) -> Option<Transmit> {
    let hlen = repr.header_len();
    let total = hlen + payload_len;
    let seg = buf.get_mut(..total)?;
    repr.emit_header(seg).ok()?;
    if payload_len > 0 {
        payload(&mut seg[hlen..]);
    }
    if partial {
        fill_partial_checksum(seg, src, dst);
    } else {
        fill_checksum(seg, src, dst);
    }
    Some(Transmit {
        len: total,
        header_len: hlen as u16,
        gso_size: 0,
        partial_checksum: partial,
    })
}

impl Tcb {
    /// Writes one TCP segment (header, options, payload, checksum) at the
    /// start of `buf` and describes it. `payload` is an offset and length
    /// into the send buffer; `options` are the segment's options if the
    /// caller has them already (`None`: computed here). The IP header is
    /// the stack's to write.
    pub(crate) fn emit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        seq: SeqNum,
        flags: TcpFlags,
        payload: (usize, usize),
        options: Option<TcpOptions>,
    ) -> Option<Transmit> {
        let syn = flags.syn();
        // A RST carries no options; other segments carry what the caller
        // computed, or else their usual ones (timestamps, SACK blocks).
        let options = if flags.rst() {
            TcpOptions::default()
        } else {
            options.unwrap_or_else(|| self.seg_options(now))
        };
        let window = if flags.rst() {
            0
        } else {
            self.window_to_advertise(syn)
        };
        let ack = if flags.ack() { self.rcv.nxt } else { SeqNum(0) };
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack,
            flags,
            window,
            urgent: 0,
            options,
            payload: &[],
        };
        let (src, dst) = (*self.local.ip(), *self.remote.ip());
        let snd_buf = &self.snd.buf;
        let mut t = write_segment(
            buf,
            &repr,
            (src, dst),
            payload.1,
            |out| snd_buf.copy_out(payload.0, out),
            self.cfg.checksum_offload,
        )?;
        // More payload than one segment holds: a super-segment for the
        // device to cut into segments of the MSS less these options.
        let seg_payload = self.snd.mss.saturating_sub(options.encoded_len()).max(1);
        let segments = payload.1.div_ceil(seg_payload).max(1);
        if flags.ack() {
            self.ack_now = false;
            self.timers.cancel(Timer::DelayedAck);
            self.rcv.unacked_segs = 0;
            self.opt.last_ack_sent = self.rcv.nxt;
            self.rcv.dsack = None;
        }
        self.stats.segments_sent += segments as u64;
        self.snd.last_send = now;
        t.gso_size = if segments > 1 { seg_payload as u16 } else { 0 };
        Some(t)
    }

    /// The largest payload a segment with options of `opt_len` bytes may
    /// carry into `buf`: the peer's MSS less the options (RFC 6691).
    pub(super) fn max_payload(&self, buf_len: usize, opt_len: usize) -> usize {
        let room = buf_len.saturating_sub(TCP_HEADER_LEN + opt_len);
        self.snd.mss.saturating_sub(opt_len).max(1).min(room)
    }

    /// Super-segments are on: a `tso_max`, and the device completing
    /// checksums as it cuts (TSO needs both).
    pub(super) fn tso(&self) -> bool {
        self.cfg.tso_max > 0 && self.cfg.checksum_offload
    }

    /// Most new data one packet may carry: one segment of `mss`, or with
    /// TSO as many whole segments as `tso_max` and the segment buffer of
    /// `buf_len` bytes (the stack limits it to what an IP packet holds)
    /// hold.
    pub(super) fn burst(&self, buf_len: usize, mss: usize, opt_len: usize) -> usize {
        if !self.tso() || self.cfg.tso_max <= mss {
            return mss;
        }
        let room = buf_len.saturating_sub(TCP_HEADER_LEN + opt_len);
        (self.cfg.tso_max.min(room) / mss).max(1) * mss
    }

    /// Resends `max_len` bytes (at most) from `seq`, with the FIN if the
    /// range reaches it. Counts the retransmission and gives RACK its new
    /// send time.
    pub(super) fn retransmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        seq: SeqNum,
        max_len: usize,
        opts: TcpOptions,
    ) -> Option<Transmit> {
        let data_start = self.snd.data_start();
        let fin_seq = self.snd.fin_seq();
        let data_end = match fin_seq {
            Some(f) if f < self.snd.max => f,
            _ => self.snd.max,
        };
        let seq = seq.max(self.snd.una);
        let len = if data_end > seq {
            ((data_end - seq) as usize).min(max_len)
        } else {
            0
        };
        let mut flags = TcpFlags::ACK;
        if fin_seq.is_some_and(|f| f == seq + len && f < self.snd.max) {
            flags |= TcpFlags::FIN;
        }
        if len == 0 && !flags.fin() {
            return None;
        }
        let off = seq.diff(data_start).max(0) as usize;
        let n = self.emit(now, buf, seq, flags, (off, len), Some(opts))?;
        self.stats.segments_retransmitted += 1;
        self.rec.episode_rtx += 1;
        let end = seq + len + flags.fin() as usize;
        self.rack.on_send(seq, end, now, true, &self.rec.scoreboard);
        if !self.timers.is_armed(Timer::Rto) {
            self.timers.arm(Timer::Rto, now + self.rtt.rto());
        }
        Some(n)
    }

    /// Output for the synchronized states, in order of priority: a RST,
    /// then fast retransmit, a tail loss probe, SACK recovery, new data
    /// and the FIN, a zero-window or keepalive probe, and last an ACK or
    /// window update. The first that has something to send writes it.
    pub(crate) fn poll_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(seq) = self.rst_pending.take() {
            return self.emit(now, buf, seq, TcpFlags::RST, (0, 0), None);
        }
        self.expire_path_mtu(now);
        // The options every segment of this poll carries, computed once.
        let opts = self.seg_options(now);
        let mss = self.max_payload(buf.len(), opts.encoded_len());
        self.poll_fast_retransmit(now, buf, mss, opts)
            .or_else(|| self.poll_tail_loss_probe(now, buf, mss, opts))
            .or_else(|| {
                // One walk of the scoreboard for both steps: nothing the
                // first does without sending changes the pipe.
                let pipe = self.pipe();
                self.poll_sack_recovery(now, buf, mss, opts, pipe)
                    .or_else(|| self.poll_new_data(now, buf, mss, opts, pipe))
            })
            .or_else(|| self.poll_probe(now, buf, mss, opts))
            .or_else(|| self.poll_ack(now, buf, opts))
    }

    /// The learned path MTU has aged out ([`PMTU_EXPIRES`]): try the full
    /// size again (between flights, so that no loss accounting changes its
    /// segment size midway); a router still narrow says so again. The
    /// windows keep their size in segments, so that cwnd never ends up
    /// below one segment.
    fn expire_path_mtu(&mut self, now: Instant) {
        let Some((at, before)) = self.snd.pmtu_lowered() else {
            return;
        };
        if now - at < PMTU_EXPIRES || self.snd.una != self.snd.max || self.rec.in_recovery() {
            return;
        }
        let current = self.snd.mss;
        self.snd.set_pmtu_lowered(None);
        self.snd.mss = before;
        let w = self.cc.window_mut();
        w.mss = before;
        w.cwnd = (w.cwnd / current).max(1) * before;
        if w.ssthresh != usize::MAX {
            w.ssthresh = (w.ssthresh / current).max(2) * before;
        }
        self.cc.new_epoch();
    }

    /// Fast retransmit (the first segment found lost: SND.UNA, or with
    /// SACK RACK's lowest lost one) or a NewReno partial ACK.
    fn poll_fast_retransmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        mss: usize,
        opts: TcpOptions,
    ) -> Option<Transmit> {
        if !core::mem::take(&mut self.rec.rtx_una) || self.snd.max <= self.snd.una {
            return None;
        }
        if self.opt.sack {
            let (seq, end) = self.rack.next_lost(&self.rec.scoreboard)?;
            return self.retransmit(now, buf, seq, ((end - seq) as usize).min(mss), opts);
        }
        let una = self.snd.una;
        self.retransmit(now, buf, una, mss, opts)
    }

    /// A tail loss probe: new data if the window allows (the new-data step
    /// sends it, allowed one segment beyond cwnd), else the last segment
    /// again (RFC 8985 7.3).
    fn poll_tail_loss_probe(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        mss: usize,
        opts: TcpOptions,
    ) -> Option<Transmit> {
        if !core::mem::take(&mut self.rec.tlp_pending) {
            return None;
        }
        let unsent = self.snd.unsent();
        if unsent > 0 && (self.snd.wnd as usize) > (self.snd.nxt - self.snd.una) as usize {
            self.rec.lt_allow = self.rec.lt_allow.max(mss);
            return None;
        }
        let last = self.snd.max - (self.snd.flight().min(mss) as u32);
        let t = self.retransmit(now, buf, last, mss, opts)?;
        // RFC 8985 7.3: TLP.end_seq, for the ACK that tells whether the
        // probe repaired a loss (7.4).
        self.rec.tlp_rtx_end = self.snd.max;
        self.rec.tlp_rtx_on = true;
        self.timers.arm_if_idle(Timer::Rto, now + self.rtt.rto());
        Some(t)
    }

    /// RFC 6675 pipe with RACK deciding what is lost (RFC 8985 and
    /// Linux's in-flight count): what was sent, less what was SACKed and
    /// what RACK found lost and is not yet sent again. `None` without SACK
    /// information.
    fn pipe(&self) -> Option<usize> {
        if !self.opt.sack {
            return None;
        }
        let lost = self.rack.lost_bytes() as usize;
        if self.rec.scoreboard.is_empty() && lost == 0 {
            return None;
        }
        let sacked = self.rec.scoreboard.sacked_bytes() as usize;
        Some(self.snd.flight().saturating_sub(sacked + lost))
    }

    /// SACK recovery (RFC 6675 5 with RACK's losses, RFC 8985): while the
    /// pipe is below cwnd, what RACK marked lost, lowest first (lost
    /// retransmissions included: RACK sees them as any other loss); then
    /// (in the new-data step) new data.
    fn poll_sack_recovery(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        mss: usize,
        opts: TcpOptions,
        pipe: Option<usize>,
    ) -> Option<Transmit> {
        if !(self.opt.sack && self.rec.in_recovery()) {
            return None;
        }
        let pipe = pipe.unwrap_or(self.snd.flight());
        if pipe >= self.cc.cwnd() {
            return None;
        }
        let (seq, end) = self.rack.next_lost(&self.rec.scoreboard)?;
        self.retransmit(now, buf, seq, ((end - seq) as usize).min(mss), opts)
    }

    /// New data (or data resent after an RTO) and the FIN, within cwnd
    /// (or the pipe) and the peer's window, with sender silly-window
    /// avoidance and Nagle.
    fn poll_new_data(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        mss: usize,
        opts: TcpOptions,
        pipe: Option<usize>,
    ) -> Option<Transmit> {
        let fin_seq = self.snd.fin_seq();
        let data_start = self.snd.data_start();
        // New data (or data resent after an RTO) and the FIN.
        if self.snd.nxt < self.snd.max && !self.rec.scoreboard.is_empty() {
            for &(s, e) in self.rec.scoreboard.ranges() {
                if self.snd.nxt.in_range(s, e) {
                    self.snd.nxt = e.min(self.snd.max);
                }
            }
        }
        let off = self.snd.nxt.diff(data_start).max(0) as usize;
        let unsent = self.snd.buf.len().saturating_sub(off);
        let fin_unsent = fin_seq.is_some_and(|f| self.snd.nxt <= f);
        if unsent > 0 || fin_unsent {
            let in_flight = (self.snd.nxt - self.snd.una) as usize;
            // With SACK information the pipe (RFC 6675) measures what is in
            // the network; limited transmit (RFC 3042) and a probe may go
            // beyond cwnd, never beyond the peer's window.
            let cwnd_used = match pipe {
                Some(p) if self.snd.nxt == self.snd.max => p,
                _ => in_flight,
            };
            let cwnd_room = (self.cc.cwnd() + self.rec.lt_allow).saturating_sub(cwnd_used);
            let room = cwnd_room.min((self.snd.wnd as usize).saturating_sub(in_flight));
            let retransmission = self.snd.nxt < self.snd.max;
            // Data resent after an RTO goes one segment per packet: a
            // super-segment could span SACKed data or run on into new data,
            // and the peer would answer it with one D-SACK, not one per
            // segment (which D-SACK undo counts).
            let burst = if retransmission {
                mss
            } else {
                self.burst(buf.len(), mss, opts.encoded_len())
            };
            let mut len = unsent.min(burst).min(room);
            if len > mss && len % mss != 0 {
                // A super-segment is whole segments, and a short last one
                // only where it could go on its own (the Nagle test below,
                // taken for the burst as a whole).
                let tail_ok = len == unsent && (self.cfg.nodelay || in_flight == 0 || fin_unsent);
                if !tail_ok {
                    len -= len % mss;
                }
            }
            let all = len == unsent;
            let send_fin = fin_unsent && all;
            // Sender silly-window avoidance and Nagle (RFC 9293 3.8.6.2.1,
            // 3.7.4): a full segment, or everything left when nothing is
            // unacknowledged (or Nagle is off), or half the largest window
            // the peer has offered.
            let send_data = len > 0
                && (len >= mss
                    || retransmission
                    || (all && (self.cfg.nodelay || in_flight == 0 || send_fin))
                    || len as u32 >= self.snd.max_wnd / 2);
            if send_data || (send_fin && len == 0) {
                let mut flags = TcpFlags::ACK;
                if all && len > 0 {
                    flags |= TcpFlags::PSH;
                }
                if send_fin {
                    flags |= TcpFlags::FIN;
                }
                let seq = self.snd.nxt;
                let n = self.emit(now, buf, seq, flags, (off, len), Some(opts))?;
                if self.rec.lt_allow > 0 && !retransmission {
                    self.rec.lt_allow = self.rec.lt_allow.saturating_sub(len.max(1));
                }
                self.advance_snd_nxt(now, len + send_fin as usize, retransmission);
                self.stats.bytes_sent += len as u64;
                return Some(n);
            }
            self.update_persist(now);
        }
        None
    }

    /// A zero-window or keepalive probe: an ACK with SEQ = SND.UNA - 1,
    /// which the peer must answer with its current window.
    ///
    /// A window that is open but too small for a segment gets what fits
    /// instead (the override timeout of RFC 1122 4.2.3.4, as Linux's
    /// tcp_write_wakeup): the peer's ACK of it carries its window, and
    /// an ACK that acknowledges new data passes the window-update rule
    /// where a bare probe's answer might not.
    fn poll_probe(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        mss: usize,
        opts: TcpOptions,
    ) -> Option<Transmit> {
        if !core::mem::take(&mut self.probe_pending) {
            return None;
        }
        let unsent = self.snd.unsent();
        let in_flight = (self.snd.nxt - self.snd.una) as usize;
        let room = (self.snd.wnd as usize).saturating_sub(in_flight);
        if unsent > 0 && room > 0 && self.snd.nxt == self.snd.max {
            let len = unsent.min(room).min(mss);
            let off = self.snd.nxt.diff(self.snd.data_start()).max(0) as usize;
            let mut flags = TcpFlags::ACK;
            if len == unsent {
                flags |= TcpFlags::PSH;
            }
            let seq = self.snd.nxt;
            let t = self.emit(now, buf, seq, flags, (off, len), Some(opts))?;
            self.advance_snd_nxt(now, len, false);
            self.stats.bytes_sent += len as u64;
            return Some(t);
        }
        let seq = self.snd.una - 1;
        self.emit(now, buf, seq, TcpFlags::ACK, (0, 0), Some(opts))
    }

    /// An ACK that is due, or a window update worth sending by itself.
    fn poll_ack(&mut self, now: Instant, buf: &mut [u8], opts: TcpOptions) -> Option<Transmit> {
        if !(self.ack_now || self.window_update_due()) {
            return None;
        }
        // A pure ACK carries SND.MAX, not a SND.NXT that an RTO moved
        // back: the peer's RCV.NXT may already be past SND.NXT, and an ACK
        // below it would be unacceptable there.
        let seq = self.snd.max;
        self.emit(now, buf, seq, TcpFlags::ACK, (0, 0), Some(opts))
    }

    pub(super) fn advance_snd_nxt(&mut self, now: Instant, len: usize, retransmission: bool) {
        let end = self.snd.nxt + len;
        if retransmission {
            // Never a super-segment (see poll_data): one segment.
            self.stats.segments_retransmitted += 1;
            self.rec.episode_rtx += 1;
        }
        if end > self.snd.nxt {
            self.rack
                .on_send(self.snd.nxt, end, now, retransmission, &self.rec.scoreboard);
        }
        // RFC 5681 4.1: restart from the initial window after an idle
        // period longer than the RTO.
        if self.snd.una == self.snd.max && now - self.snd.last_send > self.rtt.rto() {
            self.cc.on_idle_restart();
        }
        self.snd.nxt = end;
        if end > self.snd.max {
            self.snd.max = end;
        }
        if !self.timers.is_armed(Timer::Rto) {
            self.timers.arm(Timer::Rto, now + self.rtt.rto());
        }
        if !retransmission {
            self.arm_tlp(now);
        }
        self.timers.cancel(Timer::Persist);
    }

    /// Times the SYN-ACK a half-open entry sent at `t` (the entry thawed
    /// into a full connection).
    pub(crate) fn time_syn(&mut self, t: Instant) {
        let iss = self.snd.iss;
        self.rack
            .on_send(iss, iss + 1u32, t, false, &self.rec.scoreboard);
    }

    /// The SYN or SYN-ACK, sent at ISS.
    pub(crate) fn poll_syn(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        flags: TcpFlags,
        peer: Option<&TcpOptions>,
    ) -> Option<Transmit> {
        if !self.syn_pending {
            return None;
        }
        let opts = self.syn_options(now, peer);
        self.opt.set_our_syn(opts);
        let iss = self.snd.iss;
        let n = self.emit(now, buf, iss, flags, (0, 0), Some(opts))?;
        self.syn_pending = false;
        self.snd.nxt = iss + 1u32;
        let first = self.snd.max == iss;
        if first {
            self.snd.max = iss + 1u32;
        } else {
            self.stats.segments_retransmitted += 1;
        }
        // Timed once sent once (Karn: a resent SYN is not).
        self.rack
            .on_send(iss, iss + 1u32, now, !first, &self.rec.scoreboard);
        if !self.timers.is_armed(Timer::Rto) {
            self.timers.arm(Timer::Rto, now + self.rtt.rto());
        }
        Some(n)
    }
}
