//! A listener's half-open connection at rest: SYN-RECEIVED without a TCB.
//!
//! Between events an entry keeps the peer's SYN and the handful of
//! variables a passive handshake moves (RFC 9293 3.10.7.4 in SYN-RECEIVED:
//! whether a SYN-ACK, ACK or RST is due, the retransmission timer and its
//! backoff, the edge of the window it advertised, a few counters), with
//! its times as microseconds after the SYN arrived. [`HalfOpen::thaw`]
//! builds the TCB those stand for, exactly as it would have been had the
//! connection kept one all along; [`HalfOpen::freeze`] folds it back. The
//! handshake code is the TCB's own, so both kinds of SYN-RECEIVED behave
//! the same.

use super::handshake::Full;
use crate::tcp::TcpConfig;
use crate::tcp::stats::SegmentCounts;
use crate::tcp::tcb::{Tcb, Timer};
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use std::net::SocketAddrV4;
use std::sync::Arc;

/// A time as microseconds after the entry's birth; `NONE` for no time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rel(u32);

impl Rel {
    const NONE: Rel = Rel(u32::MAX);

    fn of(born: Instant, t: Option<Instant>) -> Rel {
        match t {
            // A half-open entry lives for seconds (syn_retries); 71
            // minutes would be the limit.
            Some(t) => Rel(
                u32::try_from(t.total_micros().saturating_sub(born.total_micros()))
                    .unwrap_or(u32::MAX - 1),
            ),
            None => Rel::NONE,
        }
    }

    fn at(self, born: Instant) -> Option<Instant> {
        (self != Rel::NONE).then(|| Instant::from_micros(born.total_micros() + u64::from(self.0)))
    }
}

/// The peer's SYN, as much of it as the handshake uses.
#[derive(Debug, Clone, Copy)]
struct PeerSyn {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    /// TSval and TSecr.
    timestamps: Option<(u32, u32)>,
    window: u16,
}

/// Flags of a half-open entry.
const SYN_PENDING: u8 = 1;
const ACK_NOW: u8 = 2;
/// The SYN-ACK has gone out once: SND.MAX is ISS+1.
const SENT: u8 = 4;
/// SND.NXT is SND.MAX (not moved back by a timeout, before the resend).
const NXT_AT_MAX: u8 = 8;

/// SYN-RECEIVED from a listener, at rest.
#[derive(Debug)]
pub(crate) struct HalfOpen {
    cfg: Arc<TcpConfig>,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    iss: SeqNum,
    irs: SeqNum,
    ts_offset: u32,
    /// The right edge of the window last advertised.
    rcv_adv: SeqNum,
    /// A RST to send, with this sequence number.
    rst_pending: Option<SeqNum>,
    syn: PeerSyn,
    /// When the SYN arrived.
    born: Instant,
    /// When the first SYN-ACK went out, while it is being timed (Karn: a
    /// timeout ends that).
    timed: Rel,
    last_send: Rel,
    rto_at: Rel,
    last_oow_ack: Rel,
    /// SYN-ACK timeouts so far.
    retries: u8,
    flags: u8,
    counts: SegmentCounts,
}

impl HalfOpen {
    /// A SYN reached a listener (RFC 9293 3.10.7.2, third): SYN-RECEIVED,
    /// with the SYN-ACK due.
    pub(crate) fn new(
        cfg: Arc<TcpConfig>,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        ts_offset: u32,
        seg: &TcpRepr<'_>,
    ) -> HalfOpen {
        let o = &seg.options;
        HalfOpen {
            cfg,
            local,
            remote,
            iss,
            irs: seg.seq,
            ts_offset,
            rcv_adv: seg.seq + 1u32,
            rst_pending: None,
            syn: PeerSyn {
                mss: o.mss,
                window_scale: o.window_scale,
                sack_permitted: o.sack_permitted,
                timestamps: o.timestamps,
                window: seg.window,
            },
            born: now,
            timed: Rel::NONE,
            last_send: Rel(0),
            rto_at: Rel::NONE,
            last_oow_ack: Rel::NONE,
            retries: 0,
            flags: SYN_PENDING,
            counts: SegmentCounts::default(),
        }
    }

    pub(crate) fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub(crate) fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    pub(crate) fn ttl(&self) -> u8 {
        self.cfg.ttl
    }

    pub(crate) fn counts(&self) -> &SegmentCounts {
        &self.counts
    }

    /// A SYN-ACK, ACK or RST is due.
    pub(crate) fn has_output(&self) -> bool {
        self.rst_pending.is_some() || self.flags & (SYN_PENDING | ACK_NOW) != 0
    }

    /// The retransmission timer: the only one a half-open entry runs.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.rto_at.at(self.born)
    }

    /// The peer's SYN as a segment, for the TCB to take its options from.
    fn syn_repr(&self) -> TcpRepr<'static> {
        let s = &self.syn;
        TcpRepr {
            src_port: self.remote.port(),
            dst_port: self.local.port(),
            seq: self.irs,
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: s.window,
            urgent: 0,
            options: TcpOptions {
                mss: s.mss,
                window_scale: s.window_scale,
                sack_permitted: s.sack_permitted,
                timestamps: s.timestamps,
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    /// The TCB this entry stands for.
    pub(crate) fn thaw(self) -> Full {
        let born = self.born;
        let syn = self.syn_repr();
        let cfg = *self.cfg;
        let mut tcb = Box::new(Tcb::new(
            cfg,
            self.local,
            self.remote,
            self.iss,
            self.ts_offset,
            born,
        ));
        tcb.apply_peer_syn(&syn);
        let sent = self.flags & SENT != 0;
        tcb.syn_pending = self.flags & SYN_PENDING != 0;
        tcb.ack_now = self.flags & ACK_NOW != 0;
        tcb.rst_pending = self.rst_pending;
        tcb.last_oow_ack = self.last_oow_ack.at(born);
        tcb.rcv.adv = self.rcv_adv;
        if sent {
            tcb.snd.max = self.iss + 1u32;
            tcb.opt.last_ack_sent = tcb.rcv.nxt;
            let first = self.last_send.at(born).unwrap_or(born);
            tcb.opt.our_syn = Some(tcb.syn_options(first, Some(&syn.options)));
        }
        if self.flags & NXT_AT_MAX != 0 {
            tcb.snd.nxt = tcb.snd.max;
        }
        tcb.snd.last_send = self.last_send.at(born).unwrap_or(born);
        if let Some(t) = self.timed.at(born) {
            tcb.rtt_probe.push(self.iss + 1u32, t);
        }
        tcb.retries = u32::from(self.retries);
        for _ in 0..self.retries {
            tcb.rtt.back_off();
        }
        if self.retries > 0 {
            // As the timeout's go-back-N left it.
            tcb.rec.rto_recover = Some(tcb.snd.max);
        }
        if let Some(t) = self.rto_at.at(born) {
            tcb.timers.arm(Timer::Rto, t);
        }
        tcb.stats = self.counts.to_stats();
        Full {
            tcb,
            passive: true,
            peer_syn: syn.options,
            shared_cfg: Some(self.cfg),
        }
    }

    /// Folds a passive SYN-RECEIVED connection back into its entry.
    pub(crate) fn freeze(full: Full) -> HalfOpen {
        let tcb = full.tcb;
        let born = tcb.rcv.space_at;
        let o = full.peer_syn;
        let mut flags = 0;
        if tcb.syn_pending {
            flags |= SYN_PENDING;
        }
        if tcb.ack_now {
            flags |= ACK_NOW;
        }
        if tcb.snd.max != tcb.snd.iss {
            flags |= SENT;
        }
        if tcb.snd.nxt == tcb.snd.max {
            flags |= NXT_AT_MAX;
        }
        HalfOpen {
            cfg: full
                .shared_cfg
                .expect("a passive connection has its listener's settings"),
            local: tcb.local,
            remote: tcb.remote,
            iss: tcb.snd.iss,
            irs: tcb.rcv.irs,
            ts_offset: tcb.opt.ts_offset,
            rcv_adv: tcb.rcv.adv,
            rst_pending: tcb.rst_pending,
            syn: PeerSyn {
                mss: o.mss,
                window_scale: o.window_scale,
                sack_permitted: o.sack_permitted,
                timestamps: o.timestamps,
                window: tcb.snd.wnd as u16,
            },
            born,
            timed: Rel::of(born, tcb.rtt_probe.oldest().map(|(_, t)| t)),
            last_send: Rel::of(born, Some(tcb.snd.last_send)),
            rto_at: Rel::of(born, tcb.timers.get(Timer::Rto)),
            last_oow_ack: Rel::of(born, tcb.last_oow_ack),
            retries: u8::try_from(tcb.retries).unwrap_or(u8::MAX),
            flags,
            counts: SegmentCounts::of(&tcb.stats),
        }
    }
}
