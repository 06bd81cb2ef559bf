//! The synchronized states in which both ends still have work: ESTABLISHED,
//! FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING and LAST-ACK (RFC 9293
//! 3.10.7.4). They share the TCB's arrival steps and differ in where an
//! acknowledged FIN or the peer's FIN takes them.

use super::time_wait::TimeWait;
use super::{Conn, Step, closed, reset};
use crate::tcp::tcb::{Arrival, Tcb};
use crate::time::Instant;
use crate::wire::tcp::TcpRepr;

macro_rules! synchronized_states {
    ($($(#[$doc:meta])* $name:ident),*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pub(super) tcb: Box<Tcb>,
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
    LastAck
}

impl Established {
    /// Right after the handshake: the RTO restarts from 3 s if the SYN
    /// timed out unmeasured (RFC 6298 5.7), and a FIN queued while opening
    /// goes out now.
    pub(super) fn after_open(mut self) -> Conn {
        self.tcb.rtt.after_syn_timeout();
        if self.tcb.fin_queued() {
            Conn::FinWait1(FinWait1 { tcb: self.tcb })
        } else {
            Conn::Established(self)
        }
    }

    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
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
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
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
            Arrival::Dropped
            | Arrival::OutOfWindow
            | Arrival::Challenged
            | Arrival::ChallengeSuppressed => Conn::FinWait1(self),
        };
        (next, arrival.fate())
    }
}

impl FinWait2 {
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
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
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
        let arrival = self.tcb.arrive(now, seg, gso_size, false);
        let next = match arrival {
            Arrival::Reset => reset(self.tcb),
            _ => Conn::CloseWait(self),
        };
        (next, arrival.fate())
    }
}

impl Closing {
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
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
    pub(super) fn handle_segment(mut self, now: Instant, seg: &TcpRepr<'_>, gso_size: u16) -> Step {
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
