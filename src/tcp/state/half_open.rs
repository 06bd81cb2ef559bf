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

use super::bits;
use super::handshake::Full;
use crate::tcp::TcpConfig;
use crate::tcp::stats::{ConnCounters, SegmentCounts, TcpStats};
use crate::tcp::tcb::{Tcb, Timer};
use crate::time::{Instant, PackedInstant};
use crate::wire::SeqNum;
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use std::net::SocketAddrV4;
use std::sync::Arc;

/// A time as microseconds after the entry's birth; `NONE` for no time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rel(u32);

impl Rel {
    const NONE: Rel = Rel(u32::MAX);

    /// `t` after `born`; `None` if it does not fit (71 minutes on), in
    /// which case the connection keeps its TCB instead.
    fn of(born: Instant, t: Option<Instant>) -> Option<Rel> {
        match t {
            Some(t) => u32::try_from(t.total_micros().saturating_sub(born.total_micros()))
                .ok()
                .filter(|&r| r != Rel::NONE.0)
                .map(Rel),
            None => Some(Rel::NONE),
        }
    }

    fn at(self, born: Instant) -> Option<Instant> {
        (self != Rel::NONE).then(|| Instant::from_micros(born.total_micros() + u64::from(self.0)))
    }
}

/// Flags of a half-open entry.
const SYN_PENDING: u16 = 1;
const ACK_NOW: u16 = 2;
/// SND.NXT is SND.MAX (not moved back by a timeout, before the resend).
const NXT_AT_MAX: u16 = 8;
/// A RST is due, with sequence number `rst_seq`.
const RST_PENDING: u16 = 16;
/// What the peer's SYN carried.
const SYN_MSS: u16 = 32;
const SYN_WSCALE: u16 = 64;
const SYN_SACK_OK: u16 = 128;
const SYN_TIMESTAMPS: u16 = 256;

/// The flags that say which options the peer's SYN carried.
fn syn_bits(o: &TcpOptions) -> u16 {
    bits(&[
        (o.mss.is_some(), SYN_MSS),
        (o.window_scale.is_some(), SYN_WSCALE),
        (o.sack_permitted, SYN_SACK_OK),
        (o.timestamps.is_some(), SYN_TIMESTAMPS),
    ])
}

/// SYN-RECEIVED from a listener, at rest: 104 bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HalfOpen {
    cfg: Arc<TcpConfig>,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    /// When the SYN arrived.
    born: Instant,
    iss: SeqNum,
    irs: SeqNum,
    ts_offset: u32,
    /// The right edge of the window last advertised.
    rcv_adv: SeqNum,
    rst_seq: SeqNum,
    /// The SYN's TSval (with `SYN_TIMESTAMPS`).
    syn_tsval: u32,
    /// When the first SYN-ACK went out, while it is being timed (Karn: a
    /// timeout ends that).
    timed: Rel,
    last_send: Rel,
    rto_at: Rel,
    last_oow_ack: Rel,
    /// The SYN's MSS option and window field.
    syn_mss: u16,
    syn_window: u16,
    flags: u16,
    /// The SYN's window scale option.
    syn_wscale: u8,
    /// SYN-ACK timeouts so far.
    retries: u8,
    /// The SYN-ACK has gone out once: SND.MAX is ISS+1. (A `bool` of its
    /// own, not a flag: its spare bit patterns let the enums around this
    /// entry keep their tags in it, so `Conn` is no larger than it.)
    sent: bool,
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
        // Nothing sent yet: SND.NXT = SND.MAX = ISS.
        let flags = SYN_PENDING | NXT_AT_MAX | syn_bits(o);
        HalfOpen {
            cfg,
            local,
            remote,
            born: now,
            iss,
            irs: seg.seq,
            ts_offset,
            rcv_adv: seg.seq + 1u32,
            rst_seq: SeqNum(0),
            syn_tsval: o.timestamps.map_or(0, |t| t.0),
            timed: Rel::NONE,
            last_send: Rel(0),
            rto_at: Rel::NONE,
            last_oow_ack: Rel::NONE,
            syn_mss: o.mss.unwrap_or(0),
            syn_window: seg.window,
            flags,
            syn_wscale: o.window_scale.unwrap_or(0),
            retries: 0,
            sent: false,
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

    /// The connection's counters so far.
    pub(crate) fn stats(&self) -> TcpStats {
        TcpStats::from(&self.counters())
    }

    /// The same, as a TCB keeps them.
    fn counters(&self) -> ConnCounters {
        let mut c = self.counts.to_counters();
        c.timeouts = u32::from(self.retries);
        c
    }

    /// A SYN-ACK, ACK or RST is due.
    pub(crate) fn has_output(&self) -> bool {
        self.flags & (SYN_PENDING | ACK_NOW | RST_PENDING) != 0
    }

    fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    /// The retransmission timer: the only one a half-open entry runs.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.rto_at.at(self.born)
    }

    /// The peer's SYN as a segment, for the TCB to take its options from.
    fn syn_repr(&self) -> TcpRepr<'static> {
        TcpRepr {
            src_port: self.remote.port(),
            dst_port: self.local.port(),
            seq: self.irs,
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: self.syn_window,
            urgent: 0,
            options: TcpOptions {
                mss: self.has(SYN_MSS).then_some(self.syn_mss),
                window_scale: self.has(SYN_WSCALE).then_some(self.syn_wscale),
                sack_permitted: self.has(SYN_SACK_OK),
                // The SYN's TSecr means nothing (RFC 7323 3.2).
                timestamps: self.has(SYN_TIMESTAMPS).then_some((self.syn_tsval, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    /// The TCB this entry stands for.
    pub(crate) fn thaw(self) -> Full {
        let born = self.born;
        let syn = self.syn_repr();
        let mut tcb = Box::new(Tcb::new(
            self.cfg.clone(),
            self.local,
            self.remote,
            self.iss,
            self.ts_offset,
            born,
        ));
        tcb.apply_peer_syn(&syn);
        let sent = self.sent;
        tcb.syn_pending = self.has(SYN_PENDING);
        tcb.ack_now = self.has(ACK_NOW);
        tcb.rst_pending = self.has(RST_PENDING).then_some(self.rst_seq);
        tcb.last_oow_ack = PackedInstant::of(self.last_oow_ack.at(born));
        tcb.restore_advertised_edge(self.rcv_adv);
        if sent {
            tcb.syn_ack_sent(self.has(NXT_AT_MAX));
            let first = self.last_send.at(born).unwrap_or(born);
            let ours = tcb.syn_options(first, Some(&syn.options));
            tcb.set_our_syn(ours);
        }
        tcb.restore_last_send(self.last_send.at(born).unwrap_or(born));
        if let Some(t) = self.timed.at(born) {
            tcb.time_syn(t);
        }
        tcb.retries = u32::from(self.retries);
        for _ in 0..self.retries {
            tcb.rtt.back_off();
        }
        if self.retries > 0 {
            // As the timeout's go-back-N left it.
            tcb.as_after_timeout();
        }
        if let Some(t) = self.rto_at.at(born) {
            tcb.timers.arm(Timer::Rto, t);
        }
        tcb.stats = self.counters();
        Full {
            tcb,
            passive: true,
            peer_syn: syn.options,
        }
    }

    /// Folds a passive SYN-RECEIVED connection back into its entry, or
    /// hands it back if the entry cannot hold it faithfully: more than 255
    /// SYN-ACK timeouts, or times 71 minutes or more after the SYN (only
    /// with settings far from the defaults: `syn_retries`, `max_rto`), or
    /// something a passive handshake never moves.
    pub(crate) fn try_freeze(full: Full) -> Result<HalfOpen, Full> {
        let tcb = &full.tcb;
        // What a passive handshake never moves, and the entry cannot hold:
        // a FIN or data the application queued (through the public Conn
        // API: the stack gives out no handle before the handshake), an
        // error, events to report.
        if tcb.fin_queued() || tcb.has_queued_data() || tcb.error.is_some() || tcb.events != 0 {
            return Err(full);
        }
        let born = tcb.born();
        let times = (
            Rel::of(born, tcb.rack.first_timed()),
            Rel::of(born, Some(tcb.quiet_since())),
            Rel::of(born, tcb.timers.get(Timer::Rto)),
            Rel::of(born, tcb.last_oow_ack.get()),
        );
        let (Some(timed), Some(last_send), Some(rto_at), Some(last_oow_ack), Ok(retries)) = (
            times.0,
            times.1,
            times.2,
            times.3,
            u8::try_from(tcb.retries),
        ) else {
            return Err(full);
        };
        debug_assert!(
            [
                Timer::DelayedAck,
                Timer::Persist,
                Timer::Keepalive,
                Timer::Tlp,
                Timer::FinWait2
            ]
            .iter()
            .all(|&t| !tcb.timers.is_armed(t)),
            "a passive SYN-RECEIVED runs only the retransmission timer"
        );
        Ok(Self::freeze(
            full,
            timed,
            last_send,
            rto_at,
            last_oow_ack,
            retries,
        ))
    }

    fn freeze(
        full: Full,
        timed: Rel,
        last_send: Rel,
        rto_at: Rel,
        last_oow_ack: Rel,
        retries: u8,
    ) -> HalfOpen {
        let tcb = full.tcb;
        let born = tcb.born();
        let o = full.peer_syn;
        let flags = bits(&[
            (tcb.syn_pending, SYN_PENDING),
            (tcb.ack_now, ACK_NOW),
            (tcb.snd_nxt_at_max(), NXT_AT_MAX),
            (tcb.rst_pending.is_some(), RST_PENDING),
        ]) | syn_bits(&o);
        HalfOpen {
            // The listener's settings, shared with the TCB since the thaw.
            cfg: tcb.cfg.clone(),
            local: tcb.local,
            remote: tcb.remote,
            born,
            iss: tcb.iss(),
            irs: tcb.irs(),
            ts_offset: tcb.timestamps().2,
            rcv_adv: tcb.rcv_adv(),
            rst_seq: tcb.rst_pending.unwrap_or(SeqNum(0)),
            syn_tsval: o.timestamps.map_or(0, |t| t.0),
            timed,
            last_send,
            rto_at,
            last_oow_ack,
            syn_mss: o.mss.unwrap_or(0),
            syn_window: tcb.syn_window(),
            flags,
            syn_wscale: o.window_scale.unwrap_or(0),
            retries,
            sent: tcb.snd_max() != tcb.iss(),
            counts: SegmentCounts::of(&tcb.stats),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::state::{Conn, Listen, ListenReply, SynReceived};
    use std::time::Duration;

    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40_000,
            dst_port: 80,
            seq: SeqNum(u32::MAX - 10),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 64_240,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1400),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((123_456, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    fn spawn(now: Instant) -> Conn {
        spawn_with(now, TcpConfig::default())
    }

    fn spawn_with(now: Instant, cfg: TcpConfig) -> Conn {
        let listen = Listen::new(cfg);
        let local = "192.0.2.2:80".parse().unwrap();
        let remote = "192.0.2.1:40000".parse().unwrap();
        match listen.handle_segment(now, local, remote, &syn(), || (SeqNum(5000), 77)) {
            ListenReply::Spawn(s) => Conn::SynReceived(s),
            other => panic!("a SYN spawns a connection: {other:?}"),
        }
    }

    fn frozen(conn: &Conn) -> HalfOpen {
        match conn {
            Conn::SynReceived(s) => s.frozen().expect("at rest").clone(),
            other => panic!("still SYN-RECEIVED: {other}"),
        }
    }

    /// Thawing an entry and folding it back gives the same entry, at each
    /// point of a handshake: fresh, after its SYN-ACK, after a timeout
    /// and a resend, with a RST due.
    #[track_caller]
    fn round_trips(conn: &Conn) {
        let h = frozen(conn);
        let again = HalfOpen::try_freeze(h.clone().thaw()).expect("fits");
        assert_eq!(again, h);
    }

    #[test]
    fn thaw_then_freeze_is_the_identity() {
        let mut now = Instant::from_millis(10_000);
        let mut buf = [0u8; 1500];
        let mut conn = spawn(now);
        round_trips(&conn);
        let t = conn.poll_transmit(now, &mut buf).expect("the SYN-ACK");
        assert!(t.len > 20);
        assert!(conn.poll_transmit(now, &mut buf).is_none());
        round_trips(&conn);
        assert!(frozen(&conn).sent);
        // The SYN-ACK times out and goes again.
        now = conn.poll_timeout().expect("the retransmission timer");
        conn = conn.handle_timeout(now);
        assert_eq!(frozen(&conn).retries, 1);
        round_trips(&conn);
        conn.poll_transmit(now, &mut buf)
            .expect("the SYN-ACK again");
        round_trips(&conn);
        // An ACK of something never sent: a RST is due.
        let mut bad = syn();
        bad.flags = TcpFlags::ACK;
        bad.seq = SeqNum(u32::MAX - 9);
        bad.ack = SeqNum(9999);
        now += Duration::from_millis(3);
        let (c, _) = conn.handle_segment(now, &bad, 0);
        conn = c;
        assert!(frozen(&conn).has_output());
        round_trips(&conn);
    }

    /// Settings an entry cannot hold (more than 255 timeouts, a handshake
    /// longer than 71 minutes) keep the TCB instead: the SYN-ACK still
    /// goes out at backed-off intervals, as often as `synack_retries` says,
    /// and then the connection gives up.
    #[test]
    fn a_handshake_beyond_the_entry_keeps_its_tcb() {
        let cfg = TcpConfig {
            synack_retries: 300,
            ..TcpConfig::default()
        };
        let mut now = Instant::from_millis(1);
        let mut conn = spawn_with(now, cfg);
        let mut buf = [0u8; 1500];
        let mut sent = 0;
        let mut kept_tcb = false;
        while !conn.is_closed() {
            while conn.poll_transmit(now, &mut buf).is_some() {
                sent += 1;
            }
            if let Conn::SynReceived(s) = &conn {
                kept_tcb |= s.frozen().is_none();
            }
            let next = conn.poll_timeout().expect("the SYN-ACK timer runs");
            assert!(next >= now + cfg.min_rto, "{next} too soon after {now}");
            now = next;
            conn = conn.handle_timeout(now);
        }
        assert!(kept_tcb);
        assert_eq!(sent, 301, "the SYN-ACK and 300 retransmissions");
    }

    /// A FIN queued on a half-open connection (only possible through the
    /// public `Conn` API) is kept: the connection keeps its TCB.
    #[test]
    fn a_queued_fin_is_not_folded_away() {
        let conn = spawn(Instant::from_millis(1)).shutdown();
        let Conn::SynReceived(s) = &conn else {
            panic!("still SYN-RECEIVED: {conn}");
        };
        assert!(s.frozen().is_none());
        assert!(conn.tcb().expect("kept").fin_queued());
    }

    /// The entry is a tenth of a connection's TCB, and holds the tags of
    /// the enums around it.
    #[test]
    fn entry_size() {
        assert!(size_of::<HalfOpen>() <= 104, "{}", size_of::<HalfOpen>());
        assert_eq!(size_of::<SynReceived>(), size_of::<HalfOpen>());
        assert_eq!(size_of::<Conn>(), size_of::<HalfOpen>());
    }
}
