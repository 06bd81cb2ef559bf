//! The send sequence space (RFC 9293 3.3.1, Figure 4) and the send buffer.

use crate::tcp::buffer::SendBuffer;
use crate::time::{Instant, PackedInstant};
use crate::wire::SeqNum;

/// SND.UNA, SND.NXT, SND.WND and the rest of the sending side.
#[derive(Debug)]
pub(crate) struct SendSpace {
    /// ISS: our initial sequence number.
    pub(super) iss: SeqNum,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub(super) una: SeqNum,
    /// SND.NXT: next sequence number to send (moves back to SND.UNA after
    /// an RTO).
    pub(super) nxt: SeqNum,
    /// Highest sequence number sent so far.
    pub(super) max: SeqNum,
    /// SND.WND: the peer's window in bytes, already scaled.
    pub(super) wnd: u32,
    /// SND.WL1, SND.WL2: the segment that last updated SND.WND.
    pub(super) wl1: SeqNum,
    pub(super) wl2: SeqNum,
    /// Largest window the peer ever offered (sender SWS avoidance, RFC 9293
    /// 3.8.6.2.1).
    pub(super) max_wnd: u32,
    /// The peer's MSS, lowered by path MTU discovery: what our segments
    /// may carry.
    pub(super) mss: usize,
    /// The peer's window shift (RFC 7323 2).
    pub(super) wscale: u8,
    /// Bytes from the first unacknowledged one on.
    pub(super) buf: SendBuffer,
    /// The application shut down its write side: a FIN follows the data.
    pub(super) fin_queued: bool,
    /// The peer acknowledged our FIN. Kept as a flag because once SND.UNA
    /// has passed the FIN, `data_start() + buf.len()` no longer names the
    /// FIN's sequence number.
    pub(super) fin_acked: bool,
    /// The application saw a full send buffer since the last WRITABLE.
    pub(super) want_writable: bool,
    /// When the last segment went out (RFC 5681 4.1 idle restart).
    pub(super) last_send: Instant,
    /// When "fragmentation needed" last lowered the segment size, and the
    /// size before the first such message: after
    /// [`super::PMTU_EXPIRES`] the old size comes back (RFC 1191 6.3).
    pmtu_lowered_at: PackedInstant,
    mss_before_pmtu: u32,
}

impl SendSpace {
    /// When "fragmentation needed" last lowered the segment size, and the
    /// size before the first such message.
    pub(in crate::tcp) fn pmtu_lowered(&self) -> Option<(Instant, usize)> {
        let before = self.mss_before_pmtu as usize;
        self.pmtu_lowered_at.get().map(|at| (at, before))
    }

    /// Records (or with `None` forgets) a lowered segment size.
    pub(in crate::tcp) fn set_pmtu_lowered(&mut self, lowered: Option<(Instant, usize)>) {
        let (at, before) = lowered.map_or((PackedInstant::NONE, 0), |(at, b)| {
            // A segment size is at most 65535 bytes.
            (PackedInstant::new(at), b as u32)
        });
        self.pmtu_lowered_at = at;
        self.mss_before_pmtu = before;
    }

    pub(crate) fn new(iss: SeqNum, mss: usize, capacity: usize, now: Instant) -> SendSpace {
        SendSpace {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            wl1: SeqNum(0),
            wl2: iss,
            max_wnd: 0,
            mss,
            wscale: 0,
            buf: SendBuffer::new(capacity),
            fin_queued: false,
            fin_acked: false,
            want_writable: false,
            last_send: now,
            pmtu_lowered_at: PackedInstant::NONE,
            mss_before_pmtu: 0,
        }
    }

    /// Sequence number of the first byte in the send buffer.
    pub(crate) fn data_start(&self) -> SeqNum {
        if self.una == self.iss {
            self.iss + 1u32
        } else {
            self.una
        }
    }

    /// Sequence number of our FIN, if the application queued one.
    pub(crate) fn fin_seq(&self) -> Option<SeqNum> {
        // RFC 9293 3.10.7.4 fifth (FIN-WAIT-1, CLOSING, LAST-ACK): "our FIN
        // is now acknowledged" must stay true once SND.UNA has passed it.
        // Derived from SND.UNA alone, the FIN would move to SND.UNA after
        // its ACK, be taken for unacknowledged and sent again one sequence
        // number later.
        if self.fin_acked {
            return Some(self.una - 1);
        }
        self.fin_queued.then(|| self.data_start() + self.buf.len())
    }

    /// Bytes sent and not yet acknowledged (SND.MAX - SND.UNA).
    pub(crate) fn flight(&self) -> usize {
        (self.max - self.una) as usize
    }

    /// Bytes in the send buffer not yet sent (at SND.NXT or beyond).
    pub(crate) fn unsent(&self) -> usize {
        let sent = self.nxt.diff(self.data_start()).max(0) as usize;
        self.buf.len().saturating_sub(sent)
    }

    /// RFC 9293 3.10.7.4, fifth, ESTABLISHED: "If SND.WL1 < SEG.SEQ or
    /// (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set SND.WND <- SEG.WND,
    /// set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK." `window` is
    /// already scaled. Returns true if a closed window opened.
    pub(crate) fn update_window(&mut self, seq: SeqNum, ack: SeqNum, window: u32) -> bool {
        if self.wl1 < seq || (self.wl1 == seq && self.wl2 <= ack) {
            let opened = self.wnd == 0 && window > 0;
            self.wnd = window;
            self.max_wnd = self.max_wnd.max(window);
            self.wl1 = seq;
            self.wl2 = ack;
            return opened;
        }
        false
    }
}
