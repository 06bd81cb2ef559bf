//! SYN-RECEIVED without a half-open entry: the SYN-ACK of a SYN cookie
//! (RFC 4987 3.6) and the connection rebuilt from one.
//!
//! The stack (`stack::syncookie`) decides the cookie, the ISS, and what of
//! the SYN it can keep (an MSS from a small table; window scale and
//! SACK-permitted in our TSval's low bits when the SYN had timestamps).
//! This module builds, from that much, the TCB a listener's SYN-RECEIVED
//! would have had: once to write the SYN-ACK, which is then forgotten, and
//! again when an ACK brings the cookie back, so that both agree on every
//! option and on the window the SYN-ACK advertised.

use super::handshake::{Full, Inner};
use super::{Conn, Listen, SynReceived};
use crate::tcp::Transmit;
use crate::tcp::tcb::Tcb;
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use std::net::SocketAddrV4;

/// What a SYN cookie keeps of the peer's SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CookieSyn {
    /// The SYN's sequence number (IRS).
    pub(crate) irs: SeqNum,
    /// The peer's MSS, as the cookie's table rounds it.
    pub(crate) mss: u16,
    /// The peer's window scale, if the cookie keeps one.
    pub(crate) wscale: Option<u8>,
    /// The peer allows SACK, if the cookie keeps it.
    pub(crate) sack_permitted: bool,
    /// (the peer's TSval, our TSval) when timestamps are in use: the
    /// SYN's and the cookie's on the way out, the ACK's and its echo of
    /// ours on the way back.
    pub(crate) timestamps: Option<(u32, u32)>,
    /// The peer's window field (unscaled).
    pub(crate) window: u16,
}

impl CookieSyn {
    /// The peer's SYN as far as the cookie knows it.
    fn syn_repr(&self, local: SocketAddrV4, remote: SocketAddrV4) -> TcpRepr<'static> {
        TcpRepr {
            src_port: remote.port(),
            dst_port: local.port(),
            seq: self.irs,
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: self.window,
            urgent: 0,
            options: TcpOptions {
                mss: Some(self.mss),
                window_scale: self.wscale,
                sack_permitted: self.sack_permitted,
                timestamps: self.timestamps.map(|(theirs, _)| (theirs, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }
}

impl Listen {
    /// The TCB of a SYN-RECEIVED with ISS `iss` answering `syn`: the
    /// peer's options taken, ours chosen (our TSval the cookie's).
    fn cookie_tcb(
        &self,
        now: Instant,
        (local, remote): (SocketAddrV4, SocketAddrV4),
        syn: &CookieSyn,
        iss: SeqNum,
        ts_offset: u32,
    ) -> (Box<Tcb>, TcpOptions) {
        let mut tcb = Box::new(Tcb::new(
            self.cfg.clone(),
            local,
            remote,
            iss,
            ts_offset,
            now,
        ));
        let repr = syn.syn_repr(local, remote);
        tcb.apply_peer_syn(&repr);
        let mut ours = tcb.syn_options(now, Some(&repr.options));
        if let (Some(_), Some((theirs, cookie_ts))) = (ours.timestamps, syn.timestamps) {
            ours.timestamps = Some((cookie_ts, theirs));
        }
        tcb.set_our_syn(ours);
        (tcb, repr.options)
    }

    /// Writes the SYN-ACK that answers `syn` with the cookie `iss` into
    /// `buf`; no state is kept.
    pub(crate) fn write_cookie_syn_ack(
        &self,
        now: Instant,
        ends: (SocketAddrV4, SocketAddrV4),
        syn: &CookieSyn,
        iss: SeqNum,
        ts_offset: u32,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        let (mut tcb, _) = self.cookie_tcb(now, ends, syn, iss, ts_offset);
        let ours = tcb.our_syn();
        tcb.emit(now, buf, iss, TcpFlags::SYN | TcpFlags::ACK, (0, 0), ours)
    }

    /// SYN-RECEIVED as it stood after the cookie's SYN-ACK went out: hand
    /// it the ACK that brought the cookie back to complete the handshake.
    pub(crate) fn cookie_conn(
        &self,
        now: Instant,
        ends: (SocketAddrV4, SocketAddrV4),
        syn: &CookieSyn,
        iss: SeqNum,
        ts_offset: u32,
    ) -> Conn {
        let (mut tcb, peer_syn) = self.cookie_tcb(now, ends, syn, iss, ts_offset);
        // The window edge the SYN-ACK advertised, computed as it was.
        let _ = tcb.window_to_advertise(true);
        tcb.syn_pending = false;
        tcb.syn_ack_sent(true);
        Conn::SynReceived(SynReceived {
            inner: Inner::Full(Full {
                tcb,
                passive: true,
                peer_syn,
            }),
        })
    }
}
