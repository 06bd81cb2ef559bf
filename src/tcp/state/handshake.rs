//! The handshake states: LISTEN, SYN-SENT and SYN-RECEIVED (RFC 9293
//! 3.5, 3.10.7.2-3.10.7.4).
//!
//! A connection a listener spawned waits in SYN-RECEIVED as a
//! [`HalfOpen`] entry: the peer's SYN and the few variables a handshake
//! moves, and no TCB, no buffers and no congestion controller. The full
//! TCB is built when the handshake completes, or for the moment a segment,
//! a timer or a poll has work for the entry (it is then folded back).

use super::half_open::HalfOpen;
use super::synchronized::Established;
use super::{Closed, Conn, Fate, IcmpOutcome, Step};
use crate::tcp::TcpConfig;
use crate::tcp::error::ConnError;
use crate::tcp::stats::TcpStats;
use crate::tcp::tcb::{Tcb, Timer, ev};
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use std::net::SocketAddrV4;
use std::sync::Arc;

/// LISTEN (RFC 9293 3.10.7.2): a passive open waiting for SYNs. The stack
/// owns the accept queue; this type decides how a segment is answered.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Settings every connection spawned from this listener starts with,
    /// shared with its half-open entries.
    pub(super) cfg: Arc<TcpConfig>,
}

/// What a listener does with a segment.
#[derive(Debug)]
pub enum ListenReply {
    /// Ignore it (a RST, or a segment without SYN or ACK).
    Drop,
    /// Answer with `<SEQ=SEG.ACK><CTL=RST>`.
    Reset {
        /// The RST's sequence number: the offending segment's SEG.ACK.
        seq: SeqNum,
    },
    /// A new connection in SYN-RECEIVED that will send its SYN-ACK.
    Spawn(SynReceived),
}

impl Listen {
    /// A listener whose connections start with `cfg`.
    pub fn new(cfg: TcpConfig) -> Listen {
        Listen { cfg: Arc::new(cfg) }
    }

    /// The settings its connections start with.
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// RFC 9293 3.10.7.2. `clocks` gives the new connection's ISS and
    /// timestamp offset, and is called only when a SYN spawns one.
    pub fn handle_segment(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr<'_>,
        clocks: impl FnOnce() -> (SeqNum, u32),
    ) -> ListenReply {
        // First: a RST is ignored.
        if seg.flags.rst() {
            return ListenReply::Drop;
        }
        // Second: any ACK is bad in LISTEN.
        if seg.flags.ack() {
            return ListenReply::Reset { seq: seg.ack };
        }
        // Third: a SYN.
        if !seg.flags.syn() {
            return ListenReply::Drop;
        }
        // The ISS and timestamp offset (keyed hashes) only for a SYN.
        let (iss, ts_offset) = clocks();
        let entry = HalfOpen::new(self.cfg.clone(), now, local, remote, iss, ts_offset, seg);
        ListenReply::Spawn(SynReceived {
            inner: Inner::Frozen(entry),
        })
    }
}

/// SYN-SENT: our SYN is out, waiting for the peer's.
#[derive(Debug)]
pub struct SynSent {
    pub(super) tcb: Box<Tcb>,
}

/// SYN-RECEIVED: both SYNs seen, waiting for the ACK of ours.
#[derive(Debug)]
pub struct SynReceived {
    pub(super) inner: Inner,
}

/// The two kinds of SYN-RECEIVED.
#[derive(Debug)]
pub(super) enum Inner {
    /// From a listener, at rest: a half-open entry without a TCB.
    Frozen(HalfOpen),
    /// With its TCB: a simultaneous open (from SYN-SENT, where the
    /// application may have queued data already), or a half-open entry
    /// while it works.
    Full(Full),
    /// Only while [`SynReceived::with_full`] swaps one for the other.
    Swapping,
}

/// SYN-RECEIVED with its TCB.
#[derive(Debug)]
pub(super) struct Full {
    pub(super) tcb: Box<Tcb>,
    /// Reached from LISTEN (a RST returns it there) rather than from a
    /// simultaneous open (a RST refuses it).
    pub(super) passive: bool,
    /// The peer's SYN options: the SYN-ACK answers only what it offered.
    pub(super) peer_syn: TcpOptions,
}

impl Full {
    /// Back to rest: a passive connection folds into its half-open entry.
    pub(super) fn settle(self) -> SynReceived {
        let inner = if self.passive {
            match HalfOpen::try_freeze(self) {
                Ok(entry) => Inner::Frozen(entry),
                Err(full) => Inner::Full(full),
            }
        } else {
            Inner::Full(self)
        };
        SynReceived { inner }
    }
}

impl SynSent {
    /// An active open (RFC 9293 3.10.1): the SYN goes out on the next poll.
    pub fn connect(
        cfg: impl Into<Arc<TcpConfig>>,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        ts_offset: u32,
    ) -> SynSent {
        SynSent {
            tcb: Box::new(Tcb::new(cfg.into(), local, remote, iss, ts_offset, now)),
        }
    }

    /// RFC 9293 3.10.7.3.
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>) -> Conn {
        let tcb = &mut self.tcb;
        tcb.stats.segments_received += 1;
        // First: the ACK bit.
        if seg.flags.ack() && (seg.ack <= tcb.iss() || seg.ack > tcb.snd_max()) {
            if !seg.flags.rst() {
                tcb.rst_pending = Some(seg.ack);
            }
            return Conn::SynSent(self);
        }
        // Second: RST, acceptable only with an acceptable ACK.
        if seg.flags.rst() {
            if seg.flags.ack() {
                self.tcb.fail(ConnError::Refused);
                return Conn::Closed(Closed::from_tcb(self.tcb));
            }
            return Conn::SynSent(self);
        }
        // Fourth: SYN.
        if !seg.flags.syn() {
            return Conn::SynSent(self);
        }
        tcb.apply_peer_syn(seg);
        if seg.flags.ack() {
            let _ = tcb.process_ack(now, seg);
            tcb.ack_now = true;
            tcb.syn_pending = false;
            tcb.arm_keepalive(now);
            tcb.raise(ev::CONNECTED);
            return Established { tcb: self.tcb }.after_open();
        }
        // Simultaneous open: answer with SYN-ACK from ISS.
        tcb.syn_pending = true;
        tcb.timers.cancel(Timer::Rto);
        let peer_syn = seg.options;
        Conn::SynReceived(SynReceived {
            inner: Inner::Full(Full {
                tcb: self.tcb,
                passive: false,
                peer_syn,
            }),
        })
    }
}

impl SynReceived {
    /// True when the connection came from a listener.
    pub fn is_passive(&self) -> bool {
        match &self.inner {
            Inner::Frozen(_) => true,
            Inner::Full(f) => f.passive,
            Inner::Swapping => unreachable!("SYN-RECEIVED mid-swap"),
        }
    }

    /// With its TCB, built from the half-open entry if need be.
    pub(super) fn into_full(self) -> Full {
        match self.inner {
            Inner::Frozen(h) => h.thaw(),
            Inner::Full(f) => f,
            Inner::Swapping => unreachable!("SYN-RECEIVED mid-swap"),
        }
    }

    /// Runs `f` on the connection with its TCB, and folds a passive one
    /// back into its half-open entry afterwards.
    pub(super) fn with_full<R>(&mut self, f: impl FnOnce(&mut Full) -> R) -> R {
        let this = SynReceived {
            inner: core::mem::replace(&mut self.inner, Inner::Swapping),
        };
        let mut full = this.into_full();
        let r = f(&mut full);
        *self = full.settle();
        r
    }

    /// When `handle_timeout` has work to do.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match &self.inner {
            Inner::Frozen(h) => h.next_deadline(),
            Inner::Full(f) => f.tcb.next_deadline(),
            Inner::Swapping => unreachable!("SYN-RECEIVED mid-swap"),
        }
    }

    /// The half-open entry, if this is one at rest.
    pub(super) fn frozen(&self) -> Option<&HalfOpen> {
        match &self.inner {
            Inner::Frozen(h) => Some(h),
            _ => None,
        }
    }

    /// The TCB, if this connection has one at rest.
    pub(super) fn tcb(&self) -> Option<&Tcb> {
        match &self.inner {
            Inner::Full(f) => Some(&f.tcb),
            _ => None,
        }
    }

    pub(super) fn tcb_mut(&mut self) -> Option<&mut Tcb> {
        match &mut self.inner {
            Inner::Full(f) => Some(&mut f.tcb),
            _ => None,
        }
    }

    pub(super) fn local(&self) -> SocketAddrV4 {
        match &self.inner {
            Inner::Frozen(h) => h.local(),
            Inner::Full(f) => f.tcb.local(),
            Inner::Swapping => unreachable!("SYN-RECEIVED mid-swap"),
        }
    }

    pub(super) fn remote(&self) -> SocketAddrV4 {
        match &self.inner {
            Inner::Frozen(h) => h.remote(),
            Inner::Full(f) => f.tcb.remote(),
            Inner::Swapping => unreachable!("SYN-RECEIVED mid-swap"),
        }
    }

    pub(super) fn ttl(&self) -> u8 {
        match &self.inner {
            Inner::Frozen(h) => h.ttl(),
            Inner::Full(f) => f.tcb.cfg.ttl,
            Inner::Swapping => unreachable!("SYN-RECEIVED mid-swap"),
        }
    }

    pub(super) fn stats(&self) -> TcpStats {
        match &self.inner {
            Inner::Frozen(h) => h.stats(),
            Inner::Full(f) => f.tcb.stats(),
            Inner::Swapping => unreachable!("SYN-RECEIVED mid-swap"),
        }
    }

    /// An ICMP destination unreachable quoting our SYN-ACK (see
    /// [`Conn::handle_icmp_unreachable`]): never a path MTU (a SYN-ACK
    /// fits any path, so the message can only be forged); a half-open
    /// connection from a listener goes away on net or host unreachable
    /// (Linux's tcp_req_err); a simultaneous open keeps the error as a
    /// soft one.
    pub(super) fn handle_icmp_unreachable(self, code: u8, seq: SeqNum) -> (Conn, IcmpOutcome) {
        use crate::wire::icmp::{HOST_UNREACHABLE, NET_UNREACHABLE};
        let mut full = self.into_full();
        if !full.tcb.icmp_quote_in_flight(seq) {
            return (Conn::SynReceived(full.settle()), IcmpOutcome::Ignored);
        }
        full.tcb.stats.icmp_unreachable += 1;
        let Some(err) = ConnError::from_icmp_unreachable(code) else {
            return (Conn::SynReceived(full.settle()), IcmpOutcome::Ignored);
        };
        if !full.passive {
            full.tcb.soft_error = Some(err);
            return (Conn::SynReceived(full.settle()), IcmpOutcome::SoftError);
        }
        if !matches!(code, NET_UNREACHABLE | HOST_UNREACHABLE) {
            return (Conn::SynReceived(full.settle()), IcmpOutcome::Ignored);
        }
        full.tcb.clear_timers();
        (
            Conn::Closed(Closed::from_tcb(full.tcb)),
            IcmpOutcome::Failed,
        )
    }

    /// RFC 9293 3.10.7.4 for SYN-RECEIVED.
    pub(super) fn handle_segment(self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        self.into_full().handle_segment(now, seg, gso_size)
    }

    /// The SYN-ACK, an ACK or a RST, if one is due.
    pub(super) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<crate::tcp::Transmit> {
        if self.frozen().is_some_and(|h| !h.has_output()) {
            return None;
        }
        self.with_full(|s| {
            if let Some(seq) = s.tcb.rst_pending.take() {
                return s.tcb.emit(now, buf, seq, TcpFlags::RST, (0, 0), None);
            }
            if s.tcb.syn_pending {
                let peer = s.peer_syn;
                return s
                    .tcb
                    .poll_syn(now, buf, TcpFlags::SYN | TcpFlags::ACK, Some(&peer));
            }
            if s.tcb.ack_now {
                let seq = s.tcb.snd_max();
                return s.tcb.emit(now, buf, seq, TcpFlags::ACK, (0, 0), None);
            }
            None
        })
    }
}

impl Full {
    /// RFC 9293 3.10.7.4 for SYN-RECEIVED.
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        // RFC 9293 3.5, Figure 8 line 6: in a simultaneous open the peer's
        // SYN-ACK <SEQ=IRS><ACK=ISS+1> completes the handshake. Its SYN is
        // the one we already hold (SEQ=IRS lies left of RCV.NXT, so the
        // sequence check would only answer it with an ACK); take the rest
        // of the segment as if it started after that SYN.
        let stripped;
        let seg = if !self.passive
            && seg.flags.syn()
            && seg.flags.ack()
            && !seg.flags.rst()
            && seg.seq == self.tcb.irs()
            && seg.ack > self.tcb.snd_una()
            && seg.ack <= self.tcb.snd_max()
        {
            let mut s = *seg;
            s.flags = s.flags.without(TcpFlags::SYN);
            s.seq += 1u32;
            stripped = s;
            &stripped
        } else {
            seg
        };
        let tcb = &mut self.tcb;
        // The peer's SYN again: our SYN-ACK was lost.
        if seg.flags.syn() && !seg.flags.rst() && !seg.flags.ack() && seg.seq == tcb.irs() {
            tcb.stats.segments_received += 1;
            tcb.syn_pending = true;
            return (Conn::SynReceived(self.settle()), Fate::Accepted);
        }
        if !tcb.acceptable(seg) {
            tcb.stats.out_of_window += 1;
            tcb.stats.segments_received += 1;
            if !seg.flags.rst() {
                tcb.out_of_window_ack(now, seg);
            }
            return (Conn::SynReceived(self.settle()), Fate::OutOfWindow);
        }
        if seg.flags.rst() {
            tcb.stats.segments_received += 1;
            if seg.seq != tcb.rcv_nxt() {
                tcb.stats.challenge_acks += 1;
                tcb.ack_now = true;
                return (Conn::SynReceived(self.settle()), Fate::Accepted);
            }
            if self.passive {
                // Back to LISTEN: this connection simply disappears.
                tcb.clear_timers();
                return (Conn::Closed(Closed::from_tcb(self.tcb)), Fate::Accepted);
            }
            self.tcb.fail(ConnError::Refused);
            return (Conn::Closed(Closed::from_tcb(self.tcb)), Fate::Accepted);
        }
        if seg.flags.syn() {
            tcb.stats.segments_received += 1;
            tcb.stats.challenge_acks += 1;
            tcb.ack_now = true;
            return (Conn::SynReceived(self.settle()), Fate::Accepted);
        }
        if !seg.flags.ack() {
            tcb.stats.segments_received += 1;
            return (Conn::SynReceived(self.settle()), Fate::Accepted);
        }
        if !(seg.ack > tcb.snd_una() && seg.ack <= tcb.snd_max()) {
            tcb.stats.segments_received += 1;
            tcb.rst_pending = Some(seg.ack);
            return (Conn::SynReceived(self.settle()), Fate::Accepted);
        }
        // The handshake is complete; the rest of the segment is processed
        // as in ESTABLISHED.
        tcb.syn_pending = false;
        tcb.arm_keepalive(now);
        tcb.raise(ev::CONNECTED);
        match (Established { tcb: self.tcb }).handle_segment(now, seg, gso_size) {
            (Conn::Established(e), fate) => (e.after_open(), fate),
            other => other,
        }
    }
}
