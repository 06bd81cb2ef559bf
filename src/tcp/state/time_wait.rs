//! TIME-WAIT (RFC 9293 3.6.1, 3.10.7.4): both FINs are acknowledged; the
//! 4-tuple is held for 2*MSL so that old duplicates die out.
//!
//! A TIME-WAIT entry holds only what answering a late segment needs: the
//! 4-tuple, the sequence numbers, the window it last advertised, the
//! timestamp state and its deadline. The TCB stays beside it only while
//! the application still holds its handle (unread data, the counters, an
//! error); the stack drops it when the handle goes ([`super::Conn::shed`]).

use super::{Closed, Conn, Fate, Step, bits};
use crate::tcp::Transmit;
use crate::tcp::stats::{SegmentCounts, TcpStats};
use crate::tcp::tcb::{Tcb, in_window, out_of_window_ack_due, write_segment};
use crate::time::{Instant, PackedInstant};
use crate::wire::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use std::net::SocketAddrV4;
use std::time::Duration;

/// Flags of a TIME-WAIT entry: the device completes checksums; an ACK is
/// due; timestamps are on.
const PARTIAL_CHECKSUM: u16 = 1;
const ACK_NOW: u16 = 2;
const TIMESTAMPS: u16 = 4;

/// TIME-WAIT: both FINs acknowledged; waiting 2*MSL so that old duplicates
/// die out (RFC 9293 3.6.1).
#[derive(Debug)]
pub struct TimeWait {
    local: SocketAddrV4,
    remote: SocketAddrV4,
    /// SND.NXT: past our FIN. Our ACKs carry it.
    snd_nxt: SeqNum,
    /// RCV.NXT: past the peer's FIN.
    rcv_nxt: SeqNum,
    /// RCV.WND when TIME-WAIT began, for the acceptability test, and the
    /// window field that advertised it.
    rcv_wnd: u32,
    wnd_field: u16,
    /// IP time to live of our segments.
    ttl: u8,
    /// `PARTIAL_CHECKSUM`, `ACK_NOW`, `TIMESTAMPS`.
    flags: u16,
    /// TS.Recent and our clock's offset, with `TIMESTAMPS` (RFC 7323).
    ts_recent: u32,
    ts_offset: u32,
    /// 2*MSL, milliseconds.
    twice_msl_ms: u32,
    /// When the wait ends.
    expires: Instant,
    /// When an unacceptable segment without data was last answered.
    last_oow_ack: PackedInstant,
    /// What moved in TIME-WAIT.
    counts: SegmentCounts,
    /// The TCB, while the application holds the handle.
    held: Option<Box<Tcb>>,
}

impl TimeWait {
    /// Both FINs are acknowledged: keep what TIME-WAIT needs.
    pub(super) fn enter(mut tcb: Box<Tcb>, now: Instant) -> Conn {
        tcb.clear_timers();
        tcb.release_send_buffer();
        let twice_msl = tcb.cfg.msl * 2;
        // The window as an ACK would advertise it now (the peer's FIN may
        // have taken RCV.NXT up to the edge last advertised).
        let wnd_field = tcb.window_to_advertise(false);
        let tw = TimeWait {
            local: tcb.local,
            remote: tcb.remote,
            snd_nxt: tcb.snd_max(),
            rcv_nxt: tcb.rcv_nxt(),
            rcv_wnd: tcb.window_in_force(),
            wnd_field,
            ttl: tcb.cfg.ttl,
            flags: bits(&[
                (tcb.cfg.checksum_offload, PARTIAL_CHECKSUM),
                (core::mem::take(&mut tcb.ack_now), ACK_NOW),
                (tcb.timestamps().0, TIMESTAMPS),
            ]),
            ts_recent: tcb.timestamps().1,
            ts_offset: tcb.timestamps().2,
            twice_msl_ms: u32::try_from(twice_msl.as_millis()).unwrap_or(u32::MAX),
            expires: now + twice_msl,
            last_oow_ack: tcb.last_oow_ack,
            counts: SegmentCounts::default(),
            held: Some(tcb),
        };
        Conn::TimeWait(tw)
    }

    /// When the 2*MSL wait ends.
    pub fn expires(&self) -> Instant {
        self.expires
    }

    pub(super) fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub(super) fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    pub(super) fn ttl(&self) -> u8 {
        self.ttl
    }

    pub(super) fn tcb(&self) -> Option<&Tcb> {
        self.held.as_deref()
    }

    pub(super) fn tcb_mut(&mut self) -> Option<&mut Tcb> {
        self.held.as_deref_mut()
    }

    /// Drops the TCB the application no longer needs; returns it so that
    /// the stack can keep its counters.
    pub(super) fn shed(&mut self) -> Option<Box<Tcb>> {
        self.held.take()
    }

    /// The counters of the connection, TIME-WAIT's own included.
    pub(super) fn stats(&self) -> TcpStats {
        let mut s = self
            .held
            .as_ref()
            .map_or_else(TcpStats::default, |t| TcpStats::from(&t.stats));
        self.counts.add_to(&mut s);
        s
    }

    /// RFC 9293 3.10.7.4 for TIME-WAIT. A RST is ignored, as RFC 1337
    /// recommends against TIME-WAIT assassination; a SYN gets a challenge
    /// ACK (RFC 5961 4.2); a retransmitted FIN is acknowledged again and
    /// restarts the 2*MSL timer.
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>) -> Step {
        self.counts.segments_received += 1;
        if seg.flags.rst() {
            return (Conn::TimeWait(self), Fate::Accepted);
        }
        if seg.flags.syn() {
            // Rate-limited as in the other synchronized states.
            if !out_of_window_ack_due(&mut self.last_oow_ack, now, seg) {
                return (Conn::TimeWait(self), Fate::ChallengeSuppressed);
            }
            self.counts.challenge_acks += 1;
            if self.flags & ACK_NOW != 0 {
                return (Conn::TimeWait(self), Fate::Accepted);
            }
            self.flags |= ACK_NOW;
            return (Conn::TimeWait(self), Fate::Challenged);
        }
        if seg.flags.fin() && seg.seq + seg.payload.len() + 1u32 == self.rcv_nxt {
            self.flags |= ACK_NOW;
            self.expires = now + Duration::from_millis(u64::from(self.twice_msl_ms));
            return (Conn::TimeWait(self), Fate::Accepted);
        }
        if !in_window(seg, self.rcv_nxt, self.rcv_wnd) {
            self.counts.out_of_window += 1;
            if out_of_window_ack_due(&mut self.last_oow_ack, now, seg) {
                self.flags |= ACK_NOW;
            }
            return (Conn::TimeWait(self), Fate::OutOfWindow);
        }
        if seg.segment_len() > 0 {
            self.flags |= ACK_NOW;
        }
        (Conn::TimeWait(self), Fate::Accepted)
    }

    /// Takes back the challenge ACK the last segment queued.
    pub(super) fn withdraw_challenge(&mut self) {
        self.flags &= !ACK_NOW;
        self.counts.challenge_acks = self.counts.challenge_acks.saturating_sub(1);
    }

    /// The ACK, if one is due: `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
    pub(super) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.flags & ACK_NOW == 0 {
            return None;
        }
        let mut options = TcpOptions::default();
        if self.flags & TIMESTAMPS != 0 {
            let ts_val = (now.total_millis() as u32).wrapping_add(self.ts_offset);
            options.timestamps = Some((ts_val, self.ts_recent));
        }
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: TcpFlags::ACK,
            window: self.wnd_field,
            urgent: 0,
            options,
            payload: &[],
        };
        let addrs = (*self.local.ip(), *self.remote.ip());
        let partial = self.flags & PARTIAL_CHECKSUM != 0;
        let t = write_segment(buf, &repr, addrs, 0, |_| {}, partial)?;
        self.flags &= !ACK_NOW;
        self.counts.segments_sent += 1;
        Some(t)
    }

    /// 2*MSL has passed: CLOSED.
    pub(super) fn handle_timeout(self, now: Instant) -> Conn {
        if now < self.expires {
            return Conn::TimeWait(self);
        }
        self.into_closed(super::closed)
    }

    /// CLOSED, with the TCB (if the application still holds it) passed
    /// through `end`.
    pub(super) fn into_closed(self, end: impl FnOnce(Box<Tcb>) -> Conn) -> Conn {
        let counts = self.counts;
        match self.held {
            Some(tcb) => match end(tcb) {
                Conn::Closed(mut c) => {
                    c.counts = counts;
                    Conn::Closed(c)
                }
                other => other,
            },
            None => Conn::Closed(Closed {
                tcb: None,
                local: self.local,
                remote: self.remote,
                counts,
            }),
        }
    }
}
