//! One type per RFC 9293 state, consuming transitions, and the [`Conn`] enum
//! that dispatches to them.
//!
//! Every `on_segment`, `on_timeout`, `shutdown` and `abort` takes the state by
//! value and returns the next [`Conn`]; the state that was left is gone.

use super::error::ConnError;
use super::tcb::{Arrival, Tcb, Timer, ev};
use super::{TcpConfig, Transmit};
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use core::fmt;
use std::net::SocketAddrV4;

/// LISTEN (RFC 9293 3.10.7.2): a passive open waiting for SYNs. The stack
/// owns the accept queue; this type decides how a segment is answered.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Settings every connection spawned from this listener starts with.
    pub cfg: TcpConfig,
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
    /// RFC 9293 3.10.7.2. `clocks` gives the new connection's ISS and
    /// timestamp offset, and is called only when a SYN spawns one.
    pub fn on_segment(
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
        let mut tcb = Tcb::new(self.cfg, local, remote, iss, ts_offset, now);
        tcb.apply_peer_syn(seg);
        tcb.syn_pending = true;
        ListenReply::Spawn(SynReceived {
            tcb: Box::new(tcb),
            passive: true,
            peer_syn: seg.options,
        })
    }
}

/// SYN-SENT: our SYN is out, waiting for the peer's.
#[derive(Debug)]
pub struct SynSent {
    tcb: Box<Tcb>,
}

/// SYN-RECEIVED: both SYNs seen, waiting for the ACK of ours.
#[derive(Debug)]
pub struct SynReceived {
    tcb: Box<Tcb>,
    /// Reached from LISTEN (a RST returns it there) rather than from a
    /// simultaneous open (a RST refuses it).
    passive: bool,
    /// The peer's SYN options: the SYN-ACK answers only what it offered.
    peer_syn: TcpOptions,
}

macro_rules! synchronized_states {
    ($($(#[$doc:meta])* $name:ident),*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            tcb: Box<Tcb>,
        }
    )*};
}

synchronized_states! {
    /// ESTABLISHED: data flows both ways.
    Established,
    /// FIN-WAIT-1: we sent our FIN; it is not acknowledged yet.
    FinWait1,
    /// FIN-WAIT-2: our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// CLOSE-WAIT: the peer sent its FIN; we may still send.
    CloseWait,
    /// CLOSING: both FINs sent (simultaneous close); ours is not yet acknowledged.
    Closing,
    /// LAST-ACK: the peer closed first, we sent our FIN, waiting for its ACK.
    LastAck,
    /// CLOSED: no connection. Kept until the application has let go of
    /// its handle, so that unread data and the error stay readable.
    Closed
}

/// TIME-WAIT: both FINs acknowledged; waiting 2*MSL so that old duplicates
/// die out (RFC 9293 3.6.1).
#[derive(Debug)]
pub struct TimeWait {
    tcb: Box<Tcb>,
    expires: Instant,
}

/// What became of an arriving segment ([`Conn::handle_segment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It passed the sequence check (it may still have been dropped by a
    /// later step, such as PAWS or an unacceptable ACK).
    Accepted,
    /// It failed the sequence check (RFC 9293 3.10.7.4, first) and was
    /// dropped; an ACK may be queued in reply.
    OutOfWindow,
}

/// A state's answer to a segment: the next state, and the segment's fate.
type Step = (Conn, Fate);

impl Arrival {
    fn fate(self) -> Fate {
        match self {
            Arrival::OutOfWindow => Fate::OutOfWindow,
            _ => Fate::Accepted,
        }
    }
}

/// What [`Conn::on_icmp_unreachable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpOutcome {
    /// Nothing: the quote was not of a segment in flight, or the message
    /// changed nothing.
    Ignored,
    /// The segment size was lowered.
    PathMtu,
    /// The connection attempt failed (or a half-open one went away).
    Failed,
    /// Kept as the connection's soft error.
    SoftError,
}

/// A connection in one of the RFC 9293 states.
///
/// Every transition takes the connection by value and returns the next
/// one, so a state that has been left cannot be used again:
///
/// ```
/// use ringtcp::tcp::{Conn, SynSent, TcpConfig};
/// use ringtcp::time::Instant;
/// use ringtcp::wire::SeqNum;
/// let (local, remote) = ("192.0.2.2:40000".parse().unwrap(), "192.0.2.1:80".parse().unwrap());
/// let now = Instant::from_millis(0);
/// let conn = Conn::SynSent(SynSent::connect(TcpConfig::default(), now, local, remote, SeqNum(1), 0));
/// let next = conn.shutdown();
/// assert_eq!(next.to_string(), "SYN-SENT");
/// ```
///
/// and using the old one again does not compile:
///
/// ```compile_fail,E0382
/// use ringtcp::tcp::{Conn, SynSent, TcpConfig};
/// use ringtcp::time::Instant;
/// use ringtcp::wire::SeqNum;
/// let (local, remote) = ("192.0.2.2:40000".parse().unwrap(), "192.0.2.1:80".parse().unwrap());
/// let now = Instant::from_millis(0);
/// let conn = Conn::SynSent(SynSent::connect(TcpConfig::default(), now, local, remote, SeqNum(1), 0));
/// let next = conn.shutdown();
/// let stale = conn.shutdown();
/// ```
#[derive(Debug)]
pub enum Conn {
    /// SYN-SENT: active open, our SYN sent.
    SynSent(SynSent),
    /// SYN-RECEIVED: SYN received and SYN-ACK sent, its ACK awaited.
    SynReceived(SynReceived),
    /// ESTABLISHED: the handshake is done; data flows both ways.
    Established(Established),
    /// FIN-WAIT-1: we closed first; our FIN is unacknowledged.
    FinWait1(FinWait1),
    /// FIN-WAIT-2: our FIN is acknowledged; the peer's is awaited.
    FinWait2(FinWait2),
    /// CLOSE-WAIT: the peer closed first; we may still send.
    CloseWait(CloseWait),
    /// CLOSING: simultaneous close; our FIN is unacknowledged.
    Closing(Closing),
    /// LAST-ACK: the peer closed first and we sent our FIN; its ACK is
    /// awaited.
    LastAck(LastAck),
    /// TIME-WAIT: both FINs acknowledged; lingering 2 * MSL.
    TimeWait(TimeWait),
    /// CLOSED: ended, normally or with an error ([`Tcb::error`]).
    Closed(Closed),
}

impl SynSent {
    /// An active open (RFC 9293 3.10.1): the SYN goes out on the next poll.
    pub fn connect(
        cfg: TcpConfig,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        ts_offset: u32,
    ) -> SynSent {
        SynSent {
            tcb: Box::new(Tcb::new(cfg, local, remote, iss, ts_offset, now)),
        }
    }

    /// RFC 9293 3.10.7.3.
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>) -> Conn {
        let tcb = &mut self.tcb;
        tcb.stats.segments_received += 1;
        // First: the ACK bit.
        if seg.flags.ack() && (seg.ack <= tcb.snd.iss || seg.ack > tcb.snd.max) {
            if !seg.flags.rst() {
                tcb.rst_pending = Some(seg.ack);
            }
            return Conn::SynSent(self);
        }
        // Second: RST, acceptable only with an acceptable ACK.
        if seg.flags.rst() {
            if seg.flags.ack() {
                self.tcb.fail(ConnError::Refused);
                return Conn::Closed(Closed { tcb: self.tcb });
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
            tcb: self.tcb,
            passive: false,
            peer_syn,
        })
    }
}

impl SynReceived {
    /// True when the connection came from a listener.
    pub fn is_passive(&self) -> bool {
        self.passive
    }

    /// RFC 9293 3.10.7.4 for SYN-RECEIVED.
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
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
            && seg.seq == self.tcb.rcv.irs
            && seg.ack > self.tcb.snd.una
            && seg.ack <= self.tcb.snd.max
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
        if seg.flags.syn() && !seg.flags.rst() && !seg.flags.ack() && seg.seq == tcb.rcv.irs {
            tcb.stats.segments_received += 1;
            tcb.syn_pending = true;
            return (Conn::SynReceived(self), Fate::Accepted);
        }
        if !tcb.rcv.acceptable(seg) {
            tcb.stats.out_of_window += 1;
            tcb.stats.segments_received += 1;
            if !seg.flags.rst() {
                tcb.out_of_window_ack(now, seg);
            }
            return (Conn::SynReceived(self), Fate::OutOfWindow);
        }
        if seg.flags.rst() {
            tcb.stats.segments_received += 1;
            if seg.seq != tcb.rcv.nxt {
                tcb.stats.challenge_acks += 1;
                tcb.ack_now = true;
                return (Conn::SynReceived(self), Fate::Accepted);
            }
            if self.passive {
                // Back to LISTEN: this connection simply disappears.
                tcb.clear_timers();
                return (Conn::Closed(Closed { tcb: self.tcb }), Fate::Accepted);
            }
            self.tcb.fail(ConnError::Refused);
            return (Conn::Closed(Closed { tcb: self.tcb }), Fate::Accepted);
        }
        if seg.flags.syn() {
            tcb.stats.segments_received += 1;
            tcb.stats.challenge_acks += 1;
            tcb.ack_now = true;
            return (Conn::SynReceived(self), Fate::Accepted);
        }
        if !seg.flags.ack() {
            tcb.stats.segments_received += 1;
            return (Conn::SynReceived(self), Fate::Accepted);
        }
        if !(seg.ack > tcb.snd.una && seg.ack <= tcb.snd.max) {
            tcb.stats.segments_received += 1;
            tcb.rst_pending = Some(seg.ack);
            return (Conn::SynReceived(self), Fate::Accepted);
        }
        // The handshake is complete; the rest of the segment is processed
        // as in ESTABLISHED.
        tcb.syn_pending = false;
        tcb.arm_keepalive(now);
        tcb.raise(ev::CONNECTED);
        match (Established { tcb: self.tcb }).on_segment(now, seg, gso_size) {
            (Conn::Established(e), fate) => (e.after_open(), fate),
            other => other,
        }
    }
}

impl Established {
    /// Right after the handshake: the RTO restarts from 3 s if the SYN
    /// timed out unmeasured (RFC 6298 5.7), and a FIN queued while opening
    /// goes out now.
    fn after_open(mut self) -> Conn {
        self.tcb.rtt.after_syn_timeout();
        if self.tcb.snd.fin_queued {
            Conn::FinWait1(FinWait1 { tcb: self.tcb })
        } else {
            Conn::Established(self)
        }
    }

    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        let arrival = self.tcb.arrive(now, seg, gso_size, true);
        let next = match arrival {
            Arrival::Reset => reset(self.tcb),
            Arrival::Processed {
                fin_received: true, ..
            } => Conn::CloseWait(CloseWait { tcb: self.tcb }),
            _ => Conn::Established(self),
        };
        (next, arrival.fate())
    }
}

impl FinWait1 {
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        let arrival = self.tcb.arrive(now, seg, gso_size, true);
        let next = match arrival {
            Arrival::Reset => reset(self.tcb),
            Arrival::Processed {
                fin_acked,
                fin_received,
            } => match (fin_acked, fin_received) {
                (true, true) => TimeWait::enter(self.tcb, now),
                (true, false) => {
                    self.tcb.arm_fin_wait2(now);
                    Conn::FinWait2(FinWait2 { tcb: self.tcb })
                }
                (false, true) => Conn::Closing(Closing { tcb: self.tcb }),
                (false, false) => Conn::FinWait1(self),
            },
            Arrival::Dropped | Arrival::OutOfWindow => Conn::FinWait1(self),
        };
        (next, arrival.fate())
    }
}

impl FinWait2 {
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        let arrival = self.tcb.arrive(now, seg, gso_size, true);
        let next = match arrival {
            Arrival::Reset => reset(self.tcb),
            Arrival::Processed {
                fin_received: true, ..
            } => TimeWait::enter(self.tcb, now),
            _ => Conn::FinWait2(self),
        };
        (next, arrival.fate())
    }
}

impl CloseWait {
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        let arrival = self.tcb.arrive(now, seg, gso_size, false);
        let next = match arrival {
            Arrival::Reset => reset(self.tcb),
            _ => Conn::CloseWait(self),
        };
        (next, arrival.fate())
    }
}

impl Closing {
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        let arrival = self.tcb.arrive(now, seg, gso_size, false);
        let next = match arrival {
            Arrival::Reset => closed(self.tcb),
            Arrival::Processed {
                fin_acked: true, ..
            } => TimeWait::enter(self.tcb, now),
            _ => Conn::Closing(self),
        };
        (next, arrival.fate())
    }
}

impl LastAck {
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        let arrival = self.tcb.arrive(now, seg, gso_size, false);
        let next = match arrival {
            Arrival::Reset => closed(self.tcb),
            Arrival::Processed {
                fin_acked: true, ..
            } => closed(self.tcb),
            _ => Conn::LastAck(self),
        };
        (next, arrival.fate())
    }
}

impl TimeWait {
    fn enter(mut tcb: Box<Tcb>, now: Instant) -> Conn {
        tcb.clear_timers();
        tcb.snd.buf.release();
        let expires = now + tcb.cfg.msl * 2;
        Conn::TimeWait(TimeWait { tcb, expires })
    }

    /// When the 2*MSL wait ends.
    pub fn expires(&self) -> Instant {
        self.expires
    }

    /// RFC 9293 3.10.7.4 for TIME-WAIT. A RST is ignored, as RFC 1337
    /// recommends against TIME-WAIT assassination; a SYN gets a challenge
    /// ACK (RFC 5961 4.2); a retransmitted FIN is acknowledged again and
    /// restarts the 2*MSL timer.
    fn on_segment(mut self, now: Instant, seg: &TcpRepr<'_>) -> Step {
        let tcb = &mut self.tcb;
        tcb.stats.segments_received += 1;
        if seg.flags.rst() {
            return (Conn::TimeWait(self), Fate::Accepted);
        }
        if seg.flags.syn() {
            tcb.stats.challenge_acks += 1;
            tcb.ack_now = true;
            return (Conn::TimeWait(self), Fate::Accepted);
        }
        if seg.flags.fin() && seg.seq + seg.payload.len() + 1u32 == tcb.rcv.nxt {
            tcb.ack_now = true;
            self.expires = now + tcb.cfg.msl * 2;
            return (Conn::TimeWait(self), Fate::Accepted);
        }
        if !tcb.rcv.acceptable(seg) {
            tcb.stats.out_of_window += 1;
            tcb.out_of_window_ack(now, seg);
            return (Conn::TimeWait(self), Fate::OutOfWindow);
        }
        if seg.segment_len() > 0 {
            tcb.ack_now = true;
        }
        (Conn::TimeWait(self), Fate::Accepted)
    }
}

/// A normal end: CLOSED, with the application told.
fn closed(mut tcb: Box<Tcb>) -> Conn {
    tcb.clear_timers();
    tcb.raise(ev::CLOSED);
    Conn::Closed(Closed { tcb })
}

fn reset(mut tcb: Box<Tcb>) -> Conn {
    tcb.fail(ConnError::Reset);
    Conn::Closed(Closed { tcb })
}

impl Conn {
    /// RFC 9293 3.10.7, SEGMENT ARRIVES: hands an arriving segment to the
    /// current state and returns the next state and what became of the
    /// segment. `gso_size` is what the device said of the frame: the
    /// segment size of a super-packet it took whole (GSO), 0 for a plain
    /// segment.
    #[must_use]
    pub fn handle_segment(self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> (Conn, Fate) {
        match self {
            Conn::SynSent(s) => (s.on_segment(now, seg), Fate::Accepted),
            Conn::SynReceived(s) => s.on_segment(now, seg, gso_size),
            Conn::Established(s) => s.on_segment(now, seg, gso_size),
            Conn::FinWait1(s) => s.on_segment(now, seg, gso_size),
            Conn::FinWait2(s) => s.on_segment(now, seg, gso_size),
            Conn::CloseWait(s) => s.on_segment(now, seg, gso_size),
            Conn::Closing(s) => s.on_segment(now, seg, gso_size),
            Conn::LastAck(s) => s.on_segment(now, seg, gso_size),
            Conn::TimeWait(s) => s.on_segment(now, seg),
            Conn::Closed(s) => (Conn::Closed(s), Fate::Accepted),
        }
    }

    /// Runs due timers.
    #[must_use]
    pub fn on_timeout(mut self, now: Instant) -> Conn {
        if let Conn::TimeWait(tw) = self {
            if now >= tw.expires {
                return closed(tw.tcb);
            }
            return Conn::TimeWait(tw);
        }
        if let Conn::Closed(_) = self {
            return self;
        }
        if let Conn::FinWait2(f) = self {
            if f.tcb.timers.is_due(Timer::FinWait2, now) {
                // An orphan whose peer never closed: dropped without a
                // word, as Linux does when tcp_fin_timeout runs out.
                return closed(f.tcb);
            }
            self = Conn::FinWait2(f);
        }
        let syn_state = matches!(self, Conn::SynSent(_) | Conn::SynReceived(_));
        let passive = matches!(&self, Conn::SynReceived(s) if s.passive);
        let tcb = self.tcb_mut();
        match tcb.on_timers(now, syn_state) {
            Ok(()) => self,
            Err(e) => {
                let tcb = self.into_tcb();
                let mut tcb = tcb;
                if passive {
                    // A half-open connection from a listener just goes away.
                    tcb.clear_timers();
                } else {
                    tcb.fail(e);
                }
                Conn::Closed(Closed { tcb })
            }
        }
    }

    /// The application has let go of the connection (closed it): from
    /// FIN-WAIT-2 on, the peer's FIN is waited for only so long.
    pub fn orphan(&mut self, now: Instant) {
        let in_fin_wait2 = matches!(self, Conn::FinWait2(_));
        let tcb = self.tcb_mut();
        tcb.orphaned = true;
        if in_fin_wait2 {
            tcb.arm_fin_wait2(now);
        }
    }

    /// The application is done sending (RFC 9293 3.10.4 CLOSE, and
    /// `shutdown(SHUT_WR)`): a FIN follows the queued data.
    #[must_use]
    pub fn shutdown(self) -> Conn {
        match self {
            Conn::SynSent(mut s) => {
                s.tcb.snd.fin_queued = true;
                Conn::SynSent(s)
            }
            Conn::SynReceived(mut s) => {
                s.tcb.snd.fin_queued = true;
                Conn::SynReceived(s)
            }
            Conn::Established(mut s) => {
                s.tcb.snd.fin_queued = true;
                Conn::FinWait1(FinWait1 { tcb: s.tcb })
            }
            Conn::CloseWait(mut s) => {
                s.tcb.snd.fin_queued = true;
                Conn::LastAck(LastAck { tcb: s.tcb })
            }
            other => other,
        }
    }

    /// RFC 9293 3.10.5 ABORT: a RST to the peer where a connection exists,
    /// then CLOSED.
    #[must_use]
    pub fn abort(self) -> Conn {
        let sends_rst = !matches!(self, Conn::SynSent(_) | Conn::TimeWait(_) | Conn::Closed(_));
        let mut tcb = self.into_tcb();
        if sends_rst {
            tcb.rst_pending = Some(tcb.snd.nxt.max(tcb.snd.una));
        }
        tcb.clear_timers();
        if tcb.error.is_none() {
            tcb.error = Some(ConnError::Aborted);
        }
        Conn::Closed(Closed { tcb })
    }

    /// An ICMP destination unreachable quoting a segment of this connection
    /// with sequence number `seq` (RFC 1122 4.2.3.9, RFC 5927, RFC 1191).
    ///
    /// - A quote outside SND.UNA..SND.MAX is taken for a forgery and
    ///   ignored (RFC 5927 4.1).
    /// - Fragmentation needed lowers the segment size (path MTU discovery)
    ///   once the connection is synchronized; `sent_len` is the quoted
    ///   packet's size. (A SYN fits any path: in the handshake it can only
    ///   be forged.)
    /// - In SYN-SENT any other code fails the connect at once with the
    ///   error it stands for, as Linux does (RFC 5461 describes the
    ///   practice). A half-open connection from a listener goes away on net
    ///   or host unreachable (Linux's tcp_req_err) and ignores the rest.
    /// - A synchronized connection is never torn down: the error is kept
    ///   and reported only if the connection times out.
    #[must_use]
    pub fn on_icmp_unreachable(
        mut self,
        now: Instant,
        code: u8,
        next_hop_mtu: u16,
        seq: SeqNum,
        sent_len: u16,
    ) -> (Conn, IcmpOutcome) {
        if matches!(self, Conn::Closed(_) | Conn::TimeWait(_))
            || !self.tcb().icmp_quote_in_flight(seq)
        {
            return (self, IcmpOutcome::Ignored);
        }
        self.tcb_mut().stats.icmp_unreachable += 1;
        let handshake = matches!(self, Conn::SynSent(_) | Conn::SynReceived(_));
        if code == crate::wire::icmp::FRAG_NEEDED {
            if handshake {
                return (self, IcmpOutcome::Ignored);
            }
            let changed = self.tcb_mut().icmp_frag_needed(now, next_hop_mtu, sent_len);
            let outcome = if changed {
                IcmpOutcome::PathMtu
            } else {
                IcmpOutcome::Ignored
            };
            return (self, outcome);
        }
        let Some(err) = ConnError::from_icmp_unreachable(code) else {
            return (self, IcmpOutcome::Ignored);
        };
        use crate::wire::icmp::{HOST_UNREACHABLE, NET_UNREACHABLE};
        match self {
            Conn::SynSent(mut s) => {
                s.tcb.fail(err);
                (Conn::Closed(Closed { tcb: s.tcb }), IcmpOutcome::Failed)
            }
            Conn::SynReceived(mut s) if s.passive => {
                if !matches!(code, NET_UNREACHABLE | HOST_UNREACHABLE) {
                    return (Conn::SynReceived(s), IcmpOutcome::Ignored);
                }
                s.tcb.clear_timers();
                (Conn::Closed(Closed { tcb: s.tcb }), IcmpOutcome::Failed)
            }
            mut other => {
                // RFC 1122 4.2.3.9 for soft errors; RFC 5927 7.2 and Linux
                // for hard ones, which a blind attacker could forge.
                other.tcb_mut().soft_error = Some(err);
                (other, IcmpOutcome::SoftError)
            }
        }
    }

    /// Writes the next TCP segment this connection wants to send at the
    /// start of `buf` (the room after the IP header) and describes it.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        match self {
            Conn::SynSent(s) => {
                if let Some(seq) = s.tcb.rst_pending.take() {
                    return s.tcb.emit(now, buf, seq, TcpFlags::RST, (0, 0), None);
                }
                s.tcb.poll_syn(now, buf, TcpFlags::SYN, None)
            }
            Conn::SynReceived(s) => {
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
                    let seq = s.tcb.snd.max;
                    return s.tcb.emit(now, buf, seq, TcpFlags::ACK, (0, 0), None);
                }
                None
            }
            Conn::Closed(s) => {
                let seq = s.tcb.rst_pending.take()?;
                s.tcb
                    .emit(now, buf, seq, TcpFlags::RST | TcpFlags::ACK, (0, 0), None)
            }
            _ => self.tcb_mut().poll_data(now, buf),
        }
    }

    /// The earliest time `on_timeout` has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self {
            Conn::TimeWait(tw) => Some(tw.expires),
            Conn::Closed(_) => None,
            _ => self.tcb().next_deadline(),
        }
    }

    /// The transmission control block every state carries.
    pub fn tcb(&self) -> &Tcb {
        match self {
            Conn::SynSent(s) => &s.tcb,
            Conn::SynReceived(s) => &s.tcb,
            Conn::Established(s) => &s.tcb,
            Conn::FinWait1(s) => &s.tcb,
            Conn::FinWait2(s) => &s.tcb,
            Conn::CloseWait(s) => &s.tcb,
            Conn::Closing(s) => &s.tcb,
            Conn::LastAck(s) => &s.tcb,
            Conn::TimeWait(s) => &s.tcb,
            Conn::Closed(s) => &s.tcb,
        }
    }

    /// The transmission control block, mutably.
    pub fn tcb_mut(&mut self) -> &mut Tcb {
        match self {
            Conn::SynSent(s) => &mut s.tcb,
            Conn::SynReceived(s) => &mut s.tcb,
            Conn::Established(s) => &mut s.tcb,
            Conn::FinWait1(s) => &mut s.tcb,
            Conn::FinWait2(s) => &mut s.tcb,
            Conn::CloseWait(s) => &mut s.tcb,
            Conn::Closing(s) => &mut s.tcb,
            Conn::LastAck(s) => &mut s.tcb,
            Conn::TimeWait(s) => &mut s.tcb,
            Conn::Closed(s) => &mut s.tcb,
        }
    }

    fn into_tcb(self) -> Box<Tcb> {
        match self {
            Conn::SynSent(s) => s.tcb,
            Conn::SynReceived(s) => s.tcb,
            Conn::Established(s) => s.tcb,
            Conn::FinWait1(s) => s.tcb,
            Conn::FinWait2(s) => s.tcb,
            Conn::CloseWait(s) => s.tcb,
            Conn::Closing(s) => s.tcb,
            Conn::LastAck(s) => s.tcb,
            Conn::TimeWait(s) => s.tcb,
            Conn::Closed(s) => s.tcb,
        }
    }

    /// The application may still queue data.
    pub fn can_send(&self) -> bool {
        matches!(
            self,
            Conn::SynSent(_) | Conn::SynReceived(_) | Conn::Established(_) | Conn::CloseWait(_)
        ) && !self.tcb().snd.fin_queued
    }

    /// The state is CLOSED.
    pub fn is_closed(&self) -> bool {
        matches!(self, Conn::Closed(_))
    }

    /// The state is TIME-WAIT.
    pub fn is_time_wait(&self) -> bool {
        matches!(self, Conn::TimeWait(_))
    }

    /// The handshake completed at some point.
    pub fn is_synchronized(&self) -> bool {
        !matches!(self, Conn::SynSent(_) | Conn::SynReceived(_))
    }

    /// The RFC 9293 spelling of the state.
    pub fn name(&self) -> &'static str {
        match self {
            Conn::SynSent(_) => "SYN-SENT",
            Conn::SynReceived(_) => "SYN-RECEIVED",
            Conn::Established(_) => "ESTABLISHED",
            Conn::FinWait1(_) => "FIN-WAIT-1",
            Conn::FinWait2(_) => "FIN-WAIT-2",
            Conn::CloseWait(_) => "CLOSE-WAIT",
            Conn::Closing(_) => "CLOSING",
            Conn::LastAck(_) => "LAST-ACK",
            Conn::TimeWait(_) => "TIME-WAIT",
            Conn::Closed(_) => "CLOSED",
        }
    }
}

impl fmt::Display for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
