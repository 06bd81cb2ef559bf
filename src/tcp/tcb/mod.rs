//! The transmission control block (RFC 9293 3.3.1) of a connection past
//! its handshake, split by concern. Each part is a struct of its own in a
//! file named for what it owns:
//!
//! - [`send`]: the send sequence space and send buffer (SND.UNA, SND.NXT,
//!   SND.WND, our FIN).
//! - [`recv`]: the receive sequence space, reassembly, the window we
//!   advertise and its auto-tuning (RCV.NXT, RCV.WND, the peer's FIN).
//! - [`options`]: what the handshake negotiated (window scaling, SACK,
//!   timestamps and TS.Recent).
//! - [`recovery`]: loss recovery: RACK-TLP (RFC 8985) over the SACK
//!   scoreboard (RFC 6675), NewReno (RFC 6582), undo, path MTU.
//! - [`memory`]: the buffers' storage under the stack's memory budget,
//!   and giving it back when idle.
//! - [`timers`]: one table of deadlines keyed by [`Timer`], and what each
//!   does when it fires.
//! - [`input`]: the "SEGMENT ARRIVES" steps of RFC 9293 3.10.7.4 that the
//!   synchronized states share, and the ACK processing.
//! - [`output`]: what goes out next, in priority order, and the segment
//!   writer.
//!
//! RTT estimation lives in [`super::rtt`], RACK's records and state in
//! [`super::rack`], congestion control in
//! [`super::cc`] and [`super::hystart`], counters in [`super::stats`].

mod handshake;
mod input;
mod memory;
mod options;
mod output;
mod recovery;
mod recv;
mod send;
mod timers;

pub(crate) use input::{Arrival, out_of_window_ack_due};
pub use memory::IDLE_RELEASE;
pub(crate) use options::Negotiated;
pub(crate) use output::write_segment;
pub use recovery::PMTU_EXPIRES;
pub(crate) use recovery::Recovery;
pub(crate) use recv::{RecvSpace, in_window};
pub(crate) use send::SendSpace;
pub(crate) use timers::{Timer, Timers};

use super::TcpConfig;
use super::cc::{self, CongestionControl};
use super::error::ConnError;
use super::hystart::HyStart;
use super::rack::Rack;
use super::rtt::RttEstimator;
use super::stats::{ConnCounters, TcpInfo, TcpStats};
use crate::time::{Instant, PackedInstant};
use crate::wire::SeqNum;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

/// Event bits a connection raises for the stack to report.
pub(crate) mod ev {
    pub const CONNECTED: u8 = 1;
    pub const READABLE: u8 = 2;
    pub const WRITABLE: u8 = 4;
    pub const PEER_CLOSED: u8 = 8;
    pub const ERROR: u8 = 16;
    pub const CLOSED: u8 = 32;
}

/// The transmission control block (RFC 9293 3.3.1).
#[derive(Debug)]
pub struct Tcb {
    /// Settings, shared with the listener or the stack's defaults; a
    /// connection that changes one gets its own copy.
    pub(in crate::tcp) cfg: Arc<TcpConfig>,
    pub(in crate::tcp) local: SocketAddrV4,
    pub(in crate::tcp) remote: SocketAddrV4,
    /// Send sequence space and send buffer.
    snd: SendSpace,
    /// Receive sequence space, reassembly and window.
    rcv: RecvSpace,
    /// What the handshake negotiated.
    opt: Negotiated,
    /// Loss recovery.
    rec: Recovery,
    /// Every deadline of this connection.
    pub(in crate::tcp) timers: Timers,
    /// RTT estimator and RTO (RFC 6298).
    pub(in crate::tcp) rtt: RttEstimator,
    /// RACK (RFC 8985): every transmission in flight with its send time,
    /// for loss detection and for RTT samples (Karn's rule per record).
    pub(in crate::tcp) rack: Rack,
    /// Retransmissions since the last forward progress.
    pub(in crate::tcp) retries: u32,
    /// Congestion control (RFC 5681, CUBIC) and HyStart++.
    pub(in crate::tcp) cc: Box<dyn CongestionControl + Send>,
    pub(in crate::tcp) hystart: HyStart,
    pub(in crate::tcp) stats: ConnCounters,

    // What goes out on the next poll.
    /// Send a SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED).
    pub(in crate::tcp) syn_pending: bool,
    /// Send an ACK.
    pub(in crate::tcp) ack_now: bool,
    /// Send a zero-window or keepalive probe.
    pub(in crate::tcp) probe_pending: bool,
    /// Send a RST with this sequence number.
    pub(in crate::tcp) rst_pending: Option<SeqNum>,
    /// When we last answered an unacceptable segment without data.
    pub(in crate::tcp) last_oow_ack: PackedInstant,

    // The application's side.
    /// Event bits not yet reported ([`ev`]).
    pub(in crate::tcp) events: u8,
    /// The application closed the connection (it has no handle left).
    pub(in crate::tcp) orphaned: bool,
    pub(in crate::tcp) error: Option<ConnError>,
    /// The last ICMP error for a synchronized connection (RFC 1122
    /// 4.2.3.9: a soft error, never a reason to abort): reported instead of
    /// `TimedOut` if the connection times out, as Linux reports
    /// `sk_err_soft`. Cleared when the peer acknowledges new data.
    pub(in crate::tcp) soft_error: Option<ConnError>,
}

impl Tcb {
    pub(crate) fn new(
        cfg: Arc<TcpConfig>,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        ts_offset: u32,
        now: Instant,
    ) -> Tcb {
        let mss = 536;
        Tcb {
            local,
            remote,
            snd: SendSpace::new(iss, mss, cfg.send_buffer, now),
            rcv: RecvSpace::new(&cfg, now),
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            cc: cc::new_controller(cfg.congestion, mss),
            opt: Negotiated::new(ts_offset),
            rec: Recovery::new(iss),
            timers: Timers::default(),
            rack: Rack::default(),
            retries: 0,
            hystart: HyStart::default(),
            stats: ConnCounters::default(),
            syn_pending: true,
            ack_now: false,
            probe_pending: false,
            rst_pending: None,
            last_oow_ack: PackedInstant::NONE,
            events: 0,
            orphaned: false,
            error: None,
            soft_error: None,
            cfg,
        }
    }

    /// Our address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The connection's counters.
    pub fn stats(&self) -> TcpStats {
        TcpStats::from(&self.stats)
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.cc.cwnd()
    }

    /// Slow-start threshold in bytes (RFC 5681 3.1).
    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh()
    }

    /// Smoothed RTT (RFC 6298); `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// RTT variation (RFC 6298); zero before the first sample.
    pub fn rttvar(&self) -> Duration {
        self.rtt.rttvar()
    }

    /// Current retransmission timeout, backoff included.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Largest payload of one segment we send: the peer's MSS (536 when it
    /// gave none), lowered by path MTU discovery.
    pub fn snd_mss(&self) -> usize {
        self.snd.mss
    }

    /// SND.WND: the peer's last offered window in bytes, already scaled.
    pub fn snd_wnd(&self) -> u32 {
        self.snd.wnd
    }

    /// Why the connection failed, once it has.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    /// Congestion control algorithm in use.
    pub fn congestion_algorithm(&self) -> cc::CcAlgorithm {
        self.cc.algorithm()
    }

    /// (peer's shift, our shift) when window scaling was negotiated
    /// (RFC 7323 2).
    pub fn window_scaling(&self) -> Option<(u8, u8)> {
        self.opt.ws.then_some((self.snd.wscale, self.rcv.wscale))
    }

    /// A snapshot for [`TcpInfo`]; `state` is filled by the caller.
    pub fn info(&self, state: &'static str) -> TcpInfo {
        TcpInfo {
            state,
            local: self.local,
            remote: self.remote,
            peer_syn: self.opt.peer_syn(),
            our_syn: self.opt.our_syn(),
            snd_mss: self.snd.mss,
            rcv_mss: self.cfg.mss as usize,
            window_scale: self.window_scaling(),
            snd_wnd: self.snd.wnd,
            rcv_wnd: self.rcv.wnd(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            congestion: self.cc.algorithm(),
            bytes_in_flight: self.snd.flight(),
            sack: self.opt.sack,
            timestamps: self.opt.ts,
            rcv_wnd_limit: self.rcv.wnd_limit as usize,
            rcv_storage: self.rcv.buf.storage(),
            rcv_rtt: self.rcv.rtt.get(),
            in_recovery: self.rec.recover.is_some(),
            rack_min_rtt: self.rack.min_rtt(),
            reo_wnd_mult: self.rack.reo_wnd_mult(),
            reordering_seen: self.rack.reordering_seen(),
            stats: self.stats(),
        }
    }

    pub(crate) fn set_nodelay(&mut self, on: bool) {
        if self.cfg.nodelay != on {
            Arc::make_mut(&mut self.cfg).nodelay = on;
        }
    }

    /// Queues application data; returns how much was taken.
    pub(crate) fn send(&mut self, data: &[u8]) -> usize {
        let fits = data.len().min(self.send_capacity());
        let n = self.snd.buf.write(&data[..fits]);
        if n < data.len() {
            self.snd.want_writable = true;
        }
        n
    }

    /// Bytes the application may write now: the buffer's room, and under
    /// memory pressure no more than its storage holds.
    pub(crate) fn send_capacity(&self) -> usize {
        if self.memory_pressure() {
            self.snd.buf.free_without_growing()
        } else {
            self.snd.buf.free()
        }
    }

    /// Copies received bytes out; opening the window may queue an update.
    pub(crate) fn recv(&mut self, out: &mut [u8]) -> usize {
        let n = self.rcv.buf.read(out);
        self.after_read(n)
    }

    /// Lets `f` read the readable bytes in place (up to two slices, in
    /// order) and frees as many as it says it took.
    pub(crate) fn recv_with(&mut self, f: impl FnOnce(&[u8], &[u8]) -> usize) -> usize {
        let (a, b) = self.rcv.buf.peek();
        let n = f(a, b).min(a.len() + b.len());
        self.rcv.buf.consume(n);
        self.after_read(n)
    }

    fn after_read(&mut self, n: usize) -> usize {
        let read = u32::try_from(n).unwrap_or(u32::MAX);
        self.rcv.space_copied = self.rcv.space_copied.saturating_add(read);
        if self.rcv.buf.readable() == 0 {
            self.rcv.want_readable = true;
        }
        n
    }

    pub(crate) fn readable(&self) -> usize {
        self.rcv.buf.readable()
    }

    /// The peer's FIN has arrived: reads end once the buffer is drained.
    pub(crate) fn peer_finished(&self) -> bool {
        self.rcv.fin_received
    }

    /// The application has just taken the connection (from a listener's
    /// queue): true if it must hear at once that something is readable,
    /// since the event raised before had nobody to go to; otherwise the
    /// next arrival raises it.
    pub(crate) fn on_accept(&mut self) -> bool {
        let ready = self.readable() > 0 || self.rcv.fin_received;
        self.rcv.want_readable = !ready;
        ready
    }

    /// The application found nothing to read: the next arrival raises
    /// READABLE.
    pub(crate) fn want_readable(&mut self) {
        self.rcv.want_readable = true;
    }

    /// RFC 9293 3.10.4 for `SHUT_RD`: unread and later data is discarded
    /// (and still acknowledged, so the peer makes progress).
    pub(crate) fn shutdown_read(&mut self) {
        self.rcv.read_closed = true;
        let (a, b) = self.rcv.buf.peek();
        let n = a.len() + b.len();
        self.rcv.buf.consume(n);
        self.after_read(n);
    }

    pub(crate) fn raise(&mut self, bits: u8) {
        self.events |= bits;
    }

    pub(crate) fn take_events(&mut self) -> u8 {
        core::mem::take(&mut self.events)
    }

    pub(crate) fn fail(&mut self, err: ConnError) {
        if self.error.is_none() {
            self.error = Some(err);
        }
        self.raise(ev::ERROR);
        self.clear_timers();
    }

    /// An orphaned connection that reached FIN-WAIT-2 starts waiting for
    /// the peer's FIN, for at most `fin_wait2_timeout`.
    pub(crate) fn arm_fin_wait2(&mut self, now: Instant) {
        if self.orphaned && !self.timers.is_armed(Timer::FinWait2) {
            self.timers
                .arm(Timer::FinWait2, now + self.cfg.fin_wait2_timeout);
        }
    }
}
