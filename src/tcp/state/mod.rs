//! One type per RFC 9293 state, consuming transitions, and the [`Conn`] enum
//! that dispatches to them.
//!
//! Every `handle_segment`, `handle_timeout`, `shutdown` and `abort` takes
//! the state by value and returns the next [`Conn`]; the state that was
//! left is gone. Each state holds what it needs:
//!
//! - [`handshake`]: LISTEN, SYN-SENT, SYN-RECEIVED. A listener's
//!   half-open connection is a small entry without a TCB
//!   ([`half_open`]), or no state at all until a SYN cookie comes back
//!   ([`cookie`]).
//! - [`synchronized`]: ESTABLISHED to LAST-ACK, each with its TCB.
//! - [`time_wait`]: TIME-WAIT, the 4-tuple, sequence numbers, timestamps
//!   and deadline; the TCB only while the application holds the handle.
//! - [`Closed`] here: what the application may still read.

mod cookie;
mod half_open;
mod handshake;
mod synchronized;
mod time_wait;

pub(crate) use cookie::CookieSyn;
pub use handshake::{Listen, ListenReply, SynReceived, SynSent};
pub use synchronized::{CloseWait, Closing, Established, FinWait1, FinWait2, LastAck};
pub use time_wait::TimeWait;

use super::Transmit;
use super::error::ConnError;
use super::stats::{SegmentCounts, TcpStats};
use super::tcb::{Arrival, Tcb, Timer, ev};
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpRepr};
use core::fmt;
use std::net::SocketAddrV4;

/// CLOSED: no connection. Kept until the application has let go of its
/// handle, so that unread data and the error stay readable; by then it
/// has left the stack's demultiplexing table.
#[derive(Debug)]
pub struct Closed {
    /// The TCB, if the connection had one at the end.
    tcb: Option<Box<Tcb>>,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    /// Counters of a TIME-WAIT or half-open entry that ended without a
    /// TCB.
    counts: SegmentCounts,
}

impl Closed {
    fn from_tcb(tcb: Box<Tcb>) -> Closed {
        Closed {
            local: tcb.local,
            remote: tcb.remote,
            tcb: Some(tcb),
            counts: SegmentCounts::default(),
        }
    }
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
    /// It was dropped and drew a challenge ACK (RFC 5961: a SYN in a
    /// synchronized state, or a RST in the window but not at RCV.NXT),
    /// which is queued; [`Conn::withdraw_challenge`] takes it back.
    Challenged,
    /// It would have drawn a challenge ACK, but the connection's own rate
    /// limit (one per 500 ms, Linux's `tcp_invalid_ratelimit`) suppressed
    /// it.
    ChallengeSuppressed,
}

/// A state's answer to a segment: the next state, and the segment's fate.
type Step = (Conn, Fate);

impl Arrival {
    fn fate(self) -> Fate {
        match self {
            Arrival::OutOfWindow => Fate::OutOfWindow,
            Arrival::Challenged => Fate::Challenged,
            Arrival::ChallengeSuppressed => Fate::ChallengeSuppressed,
            _ => Fate::Accepted,
        }
    }
}

/// What [`Conn::handle_icmp_unreachable`] did.
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

/// The flags whose conditions hold (the compact entries' flag words).
fn bits(flags: &[(bool, u16)]) -> u16 {
    flags
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit)
}

/// A normal end: CLOSED, with the application told.
fn closed(mut tcb: Box<Tcb>) -> Conn {
    tcb.clear_timers();
    tcb.raise(ev::CLOSED);
    Conn::Closed(Closed::from_tcb(tcb))
}

fn reset(mut tcb: Box<Tcb>) -> Conn {
    tcb.fail(ConnError::Reset);
    Conn::Closed(Closed::from_tcb(tcb))
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
            Conn::SynSent(s) => (s.handle_segment(now, seg), Fate::Accepted),
            Conn::SynReceived(s) => s.handle_segment(now, seg, gso_size),
            Conn::Established(s) => s.handle_segment(now, seg, gso_size),
            Conn::FinWait1(s) => s.handle_segment(now, seg, gso_size),
            Conn::FinWait2(s) => s.handle_segment(now, seg, gso_size),
            Conn::CloseWait(s) => s.handle_segment(now, seg, gso_size),
            Conn::Closing(s) => s.handle_segment(now, seg, gso_size),
            Conn::LastAck(s) => s.handle_segment(now, seg, gso_size),
            Conn::TimeWait(s) => s.handle_segment(now, seg),
            Conn::Closed(s) => (Conn::Closed(s), Fate::Accepted),
        }
    }

    /// Takes back the challenge ACK the last segment queued (its fate was
    /// [`Fate::Challenged`]): the stack's own limit on challenge ACKs
    /// (RFC 5961 7) is spent. Nothing else that was due is lost.
    pub fn withdraw_challenge(&mut self) {
        match self {
            Conn::TimeWait(tw) => tw.withdraw_challenge(),
            other => {
                if let Some(tcb) = other.tcb_mut() {
                    tcb.withdraw_challenge();
                }
            }
        }
    }

    /// Runs the timers due at `now`.
    #[must_use]
    pub fn handle_timeout(self, now: Instant) -> Conn {
        if self.poll_timeout().is_none_or(|t| t > now) {
            return self;
        }
        match self {
            Conn::TimeWait(tw) => tw.handle_timeout(now),
            Conn::Closed(_) => self,
            Conn::FinWait2(f) if f.tcb.timers.is_due(Timer::FinWait2, now) => {
                // An orphan whose peer never closed: dropped without a
                // word, as Linux does when tcp_fin_timeout runs out.
                closed(f.tcb)
            }
            Conn::SynReceived(s) => {
                let mut full = s.into_full();
                match full.tcb.handle_timeout(now, true) {
                    Ok(()) => Conn::SynReceived(full.settle()),
                    Err(e) => {
                        if full.passive {
                            // A half-open connection from a listener just
                            // goes away.
                            full.tcb.clear_timers();
                        } else {
                            full.tcb.fail(e);
                        }
                        Conn::Closed(Closed::from_tcb(full.tcb))
                    }
                }
            }
            mut other => {
                let syn_state = matches!(other, Conn::SynSent(_));
                let tcb = other.tcb_mut().expect("a state with a TCB");
                match tcb.handle_timeout(now, syn_state) {
                    Ok(()) => other,
                    Err(e) => {
                        let mut tcb = other.into_tcb();
                        tcb.fail(e);
                        Conn::Closed(Closed::from_tcb(tcb))
                    }
                }
            }
        }
    }

    /// The application has let go of the connection (closed it): from
    /// FIN-WAIT-2 on, the peer's FIN is waited for only so long.
    pub fn orphan(&mut self, now: Instant) {
        let in_fin_wait2 = matches!(self, Conn::FinWait2(_));
        if let Some(tcb) = self.tcb_mut() {
            tcb.orphaned = true;
            if in_fin_wait2 {
                tcb.arm_fin_wait2(now);
            }
        }
    }

    /// The TCB the application no longer needs, dropped from a TIME-WAIT
    /// entry once its handle is gone; returned so that the stack can keep
    /// its counters.
    pub(crate) fn shed(&mut self) -> Option<Box<Tcb>> {
        match self {
            Conn::TimeWait(tw) => tw.shed(),
            _ => None,
        }
    }

    /// The application is done sending (RFC 9293 3.10.4 CLOSE, and
    /// `shutdown(SHUT_WR)`): a FIN follows the queued data.
    #[must_use]
    pub fn shutdown(self) -> Conn {
        match self {
            Conn::SynSent(mut s) => {
                s.tcb.queue_fin();
                Conn::SynSent(s)
            }
            Conn::SynReceived(s) => {
                let mut full = s.into_full();
                full.tcb.queue_fin();
                Conn::SynReceived(full.settle())
            }
            Conn::Established(mut s) => {
                s.tcb.queue_fin();
                Conn::FinWait1(FinWait1 { tcb: s.tcb })
            }
            Conn::CloseWait(mut s) => {
                s.tcb.queue_fin();
                Conn::LastAck(LastAck { tcb: s.tcb })
            }
            other => other,
        }
    }

    /// RFC 9293 3.10.5 ABORT: a RST to the peer where a connection exists,
    /// then CLOSED.
    #[must_use]
    pub fn abort(self) -> Conn {
        let aborted = |mut tcb: Box<Tcb>| {
            tcb.clear_timers();
            if tcb.error.is_none() {
                tcb.error = Some(ConnError::Aborted);
            }
            Conn::Closed(Closed::from_tcb(tcb))
        };
        match self {
            Conn::TimeWait(tw) => tw.into_closed(aborted),
            Conn::Closed(_) => self,
            Conn::SynSent(s) => aborted(s.tcb),
            other => {
                let mut tcb = other.into_tcb();
                tcb.queue_abort_rst();
                aborted(tcb)
            }
        }
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
    pub fn handle_icmp_unreachable(
        self,
        now: Instant,
        code: u8,
        next_hop_mtu: u16,
        seq: SeqNum,
        sent_len: u16,
    ) -> (Conn, IcmpOutcome) {
        let mut conn = match self {
            Conn::Closed(_) | Conn::TimeWait(_) => return (self, IcmpOutcome::Ignored),
            Conn::SynReceived(s) => return s.handle_icmp_unreachable(code, seq),
            other => other,
        };
        let tcb = conn.tcb_mut().expect("a state with a TCB");
        if !tcb.icmp_quote_in_flight(seq) {
            return (conn, IcmpOutcome::Ignored);
        }
        tcb.stats.icmp_unreachable += 1;
        let syn_sent = matches!(conn, Conn::SynSent(_));
        if code == crate::wire::icmp::FRAG_NEEDED && !syn_sent {
            let tcb = conn.tcb_mut().expect("a state with a TCB");
            let outcome = if tcb.icmp_frag_needed(now, next_hop_mtu, sent_len) {
                IcmpOutcome::PathMtu
            } else {
                IcmpOutcome::Ignored
            };
            return (conn, outcome);
        }
        // Fragmentation needed maps to no error: a SYN fits any path.
        let Some(err) = ConnError::from_icmp_unreachable(code) else {
            return (conn, IcmpOutcome::Ignored);
        };
        match conn {
            Conn::SynSent(mut s) => {
                s.tcb.fail(err);
                (Conn::Closed(Closed::from_tcb(s.tcb)), IcmpOutcome::Failed)
            }
            mut other => {
                // RFC 1122 4.2.3.9 for soft errors; RFC 5927 7.2 and Linux
                // for hard ones, which a blind attacker could forge.
                other.tcb_mut().expect("a state with a TCB").soft_error = Some(err);
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
            Conn::SynReceived(s) => s.poll_transmit(now, buf),
            Conn::TimeWait(tw) => tw.poll_transmit(now, buf),
            Conn::Closed(s) => {
                let tcb = s.tcb.as_mut()?;
                let seq = tcb.rst_pending.take()?;
                tcb.emit(now, buf, seq, TcpFlags::RST | TcpFlags::ACK, (0, 0), None)
            }
            _ => self.tcb_mut()?.poll_data(now, buf),
        }
    }

    /// The earliest time `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Conn::TimeWait(tw) => Some(tw.expires()),
            Conn::Closed(_) => None,
            Conn::SynReceived(s) => s.poll_timeout(),
            _ => self.tcb()?.next_deadline(),
        }
    }

    /// The connection's transmission control block, where it has one: not
    /// a half-open entry at rest, not TIME-WAIT once the application let
    /// go of it.
    pub fn tcb(&self) -> Option<&Tcb> {
        match self {
            Conn::SynSent(s) => Some(&s.tcb),
            Conn::SynReceived(s) => s.tcb(),
            Conn::Established(s) => Some(&s.tcb),
            Conn::FinWait1(s) => Some(&s.tcb),
            Conn::FinWait2(s) => Some(&s.tcb),
            Conn::CloseWait(s) => Some(&s.tcb),
            Conn::Closing(s) => Some(&s.tcb),
            Conn::LastAck(s) => Some(&s.tcb),
            Conn::TimeWait(s) => s.tcb(),
            Conn::Closed(s) => s.tcb.as_deref(),
        }
    }

    /// The transmission control block, mutably.
    pub(crate) fn tcb_mut(&mut self) -> Option<&mut Tcb> {
        match self {
            Conn::SynSent(s) => Some(&mut s.tcb),
            Conn::SynReceived(s) => s.tcb_mut(),
            Conn::Established(s) => Some(&mut s.tcb),
            Conn::FinWait1(s) => Some(&mut s.tcb),
            Conn::FinWait2(s) => Some(&mut s.tcb),
            Conn::CloseWait(s) => Some(&mut s.tcb),
            Conn::Closing(s) => Some(&mut s.tcb),
            Conn::LastAck(s) => Some(&mut s.tcb),
            Conn::TimeWait(s) => s.tcb_mut(),
            Conn::Closed(s) => s.tcb.as_deref_mut(),
        }
    }

    /// The TCB of a state that has one (a half-open entry builds it).
    fn into_tcb(self) -> Box<Tcb> {
        match self {
            Conn::SynSent(s) => s.tcb,
            Conn::SynReceived(s) => s.into_full().tcb,
            Conn::Established(s) => s.tcb,
            Conn::FinWait1(s) => s.tcb,
            Conn::FinWait2(s) => s.tcb,
            Conn::CloseWait(s) => s.tcb,
            Conn::Closing(s) => s.tcb,
            Conn::LastAck(s) => s.tcb,
            Conn::TimeWait(_) | Conn::Closed(_) => unreachable!("no TCB to take"),
        }
    }

    /// Our address and port.
    pub fn local(&self) -> SocketAddrV4 {
        match self {
            Conn::SynReceived(s) => s.local(),
            Conn::TimeWait(tw) => tw.local(),
            Conn::Closed(c) => c.local,
            other => other.tcb().expect("a state with a TCB").local(),
        }
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        match self {
            Conn::SynReceived(s) => s.remote(),
            Conn::TimeWait(tw) => tw.remote(),
            Conn::Closed(c) => c.remote,
            other => other.tcb().expect("a state with a TCB").remote(),
        }
    }

    /// The IP time to live of this connection's packets.
    pub fn ttl(&self) -> u8 {
        match self {
            Conn::SynReceived(s) => s.ttl(),
            Conn::TimeWait(tw) => tw.ttl(),
            other => other.tcb().map_or(64, |t| t.cfg.ttl),
        }
    }

    /// The connection's counters.
    pub fn stats(&self) -> TcpStats {
        match self {
            Conn::SynReceived(s) => s.stats(),
            Conn::TimeWait(tw) => tw.stats(),
            Conn::Closed(c) => {
                let mut s = c
                    .tcb
                    .as_ref()
                    .map_or_else(TcpStats::default, |t| TcpStats::from(&t.stats));
                c.counts.add_to(&mut s);
                s
            }
            other => other.tcb().map(Tcb::stats).unwrap_or_default(),
        }
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<ConnError> {
        self.tcb().and_then(Tcb::error)
    }

    /// Takes the event bits raised since the last call.
    pub(crate) fn take_events(&mut self) -> u8 {
        self.tcb_mut().map_or(0, Tcb::take_events)
    }

    /// The application may still queue data.
    pub fn can_send(&self) -> bool {
        matches!(
            self,
            Conn::SynSent(_) | Conn::SynReceived(_) | Conn::Established(_) | Conn::CloseWait(_)
        ) && !self.tcb().is_some_and(Tcb::fin_queued)
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

/// Each state prints its RFC 9293 name, as [`Conn`] does.
macro_rules! rfc_names {
    ($($state:ident => $name:literal),* $(,)?) => {$(
        impl fmt::Display for $state {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($name)
            }
        }
    )*};
}

rfc_names! {
    Listen => "LISTEN",
    SynSent => "SYN-SENT",
    SynReceived => "SYN-RECEIVED",
    Established => "ESTABLISHED",
    FinWait1 => "FIN-WAIT-1",
    FinWait2 => "FIN-WAIT-2",
    CloseWait => "CLOSE-WAIT",
    Closing => "CLOSING",
    LastAck => "LAST-ACK",
    TimeWait => "TIME-WAIT",
    Closed => "CLOSED",
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::TcpConfig;

    /// Display prints the RFC's spelling, for a state and for the enum.
    #[test]
    fn display_prints_rfc_names() {
        let local = "192.0.2.2:40000".parse().unwrap();
        let remote = "192.0.2.1:80".parse().unwrap();
        let now = Instant::from_millis(5);
        let syn_sent = SynSent::connect(TcpConfig::default(), now, local, remote, SeqNum(7), 0);
        assert_eq!(syn_sent.to_string(), "SYN-SENT");
        assert_eq!(Conn::SynSent(syn_sent).to_string(), "SYN-SENT");
        assert_eq!(Listen::new(TcpConfig::default()).to_string(), "LISTEN");
        let aborted = Conn::SynSent(SynSent::connect(
            TcpConfig::default(),
            now,
            local,
            remote,
            SeqNum(7),
            0,
        ))
        .abort();
        assert_eq!(aborted.to_string(), "CLOSED");
        let Conn::Closed(closed) = aborted else {
            panic!("abort leads to CLOSED");
        };
        assert_eq!(closed.to_string(), "CLOSED");
    }
}
