//! What the state types (`tcp/state`) ask of a TCB: the sequence numbers
//! and options they read, and the handshake and close operations they
//! perform. The parts' fields stay private to the TCB's module; these
//! are the only ways in from outside it.

use super::*;
use crate::wire::tcp::{TcpOptions, TcpRepr};

impl Tcb {
    /// ISS: our initial sequence number.
    pub(crate) fn iss(&self) -> SeqNum {
        self.snd.iss
    }

    /// IRS: the peer's initial sequence number.
    pub(crate) fn irs(&self) -> SeqNum {
        self.rcv.irs
    }

    /// SND.UNA.
    pub(crate) fn snd_una(&self) -> SeqNum {
        self.snd.una
    }

    /// The highest sequence number sent (SND.MAX).
    pub(crate) fn snd_max(&self) -> SeqNum {
        self.snd.max
    }

    /// RCV.NXT.
    pub(crate) fn rcv_nxt(&self) -> SeqNum {
        self.rcv.nxt
    }

    /// The right edge of the last window advertised.
    pub(crate) fn rcv_adv(&self) -> SeqNum {
        self.rcv.adv
    }

    /// Timestamps are on (RFC 7323 3), TS.Recent, and our clock's offset.
    pub(crate) fn timestamps(&self) -> (bool, u32, u32) {
        (self.opt.ts, self.opt.ts_recent, self.opt.ts_offset)
    }

    /// When the TCB was made: its times during a handshake are kept
    /// relative to this (the receive window's auto-tuning moves it only
    /// once data flows).
    pub(crate) fn born(&self) -> Instant {
        self.rcv.space_at
    }

    /// The application queued a FIN (CLOSE or SHUT_WR).
    pub(crate) fn fin_queued(&self) -> bool {
        self.snd.fin_queued
    }

    /// The application queued data.
    pub(crate) fn has_queued_data(&self) -> bool {
        !self.snd.buf.is_empty()
    }

    /// The peer's window as its SYN gave it (unscaled, RFC 7323 2.2).
    pub(crate) fn syn_window(&self) -> u16 {
        self.snd.wnd as u16
    }

    /// CLOSE (RFC 9293 3.10.4): a FIN follows the queued data.
    pub(crate) fn queue_fin(&mut self) {
        self.snd.fin_queued = true;
    }

    /// ABORT (RFC 9293 3.10.5): a RST at the highest sequence number
    /// the peer may expect.
    pub(crate) fn queue_abort_rst(&mut self) {
        self.rst_pending = Some(self.snd.nxt.max(self.snd.una));
    }

    /// Our SYN-ACK was sent (SND.MAX past ISS) and ACKed RCV.NXT; with
    /// `at_max`, SND.NXT is there too (no timeout has sent it back).
    pub(crate) fn syn_ack_sent(&mut self, at_max: bool) {
        self.snd.max = self.snd.iss + 1u32;
        self.opt.last_ack_sent = self.rcv.nxt;
        if at_max {
            self.snd.nxt = self.snd.max;
        }
    }

    /// SND.NXT is at SND.MAX.
    pub(crate) fn snd_nxt_at_max(&self) -> bool {
        self.snd.nxt == self.snd.max
    }

    /// Restores the right edge of the window last advertised.
    pub(crate) fn restore_advertised_edge(&mut self, adv: SeqNum) {
        self.rcv.adv = adv;
    }

    /// Restores when the last segment went out.
    pub(crate) fn restore_last_send(&mut self, at: Instant) {
        self.snd.last_send = at;
    }

    /// As a retransmission timeout's go-back-N leaves the send side:
    /// recovering up to SND.MAX.
    pub(crate) fn as_after_timeout(&mut self) {
        self.rec.rto_recover = Some(self.snd.max);
    }

    /// TIME-WAIT sends no data: the send buffer's storage goes.
    pub(crate) fn release_send_buffer(&mut self) {
        self.snd.buf.release();
    }

    /// The options our SYN (or SYN-ACK) carried, as sent.
    pub(crate) fn our_syn(&self) -> Option<TcpOptions> {
        self.opt.our_syn()
    }

    /// Records the options our SYN (or SYN-ACK) carries.
    pub(crate) fn set_our_syn(&mut self, o: TcpOptions) {
        self.opt.set_our_syn(o);
    }

    /// "First, check sequence number" (RFC 9293 3.10.7.4).
    pub(crate) fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        self.rcv.acceptable(seg)
    }

    /// RCV.WND as the acceptability test uses it: the window advertised.
    pub(crate) fn window_in_force(&self) -> u32 {
        self.rcv.window_in_force()
    }
}
