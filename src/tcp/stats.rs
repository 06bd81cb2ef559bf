//! Per-connection counters and the `tcp_info`-like snapshot.

use super::cc;
use crate::wire::tcp::TcpOptions;
use std::net::SocketAddrV4;
use std::time::Duration;

/// Counters in the spirit of Linux `tcp_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Payload bytes sent for the first time (retransmissions excluded).
    pub bytes_sent: u64,
    /// Bytes the peer acknowledged (SND.UNA advances).
    pub bytes_acked: u64,
    /// Payload bytes delivered in order to the receive buffer.
    pub bytes_received: u64,
    /// Segments sent, retransmissions included; a TSO super-segment counts
    /// as the segments the device cuts it into.
    pub segments_sent: u64,
    /// Segments received for this connection.
    pub segments_received: u64,
    /// Segments retransmitted, for any reason (timeout, fast retransmit,
    /// SACK recovery, TLP).
    pub segments_retransmitted: u64,
    /// Fast retransmits that began a loss recovery (RFC 5681 3.2; RFC 6675
    /// with SACK).
    pub fast_retransmits: u64,
    /// Retransmission timeouts that fired (RFC 6298 5.4).
    pub timeouts: u64,
    /// Segments received beyond RCV.NXT and queued out of order.
    pub out_of_order_segments: u64,
    /// Duplicate ACKs received (RFC 5681 2).
    pub dup_acks_received: u64,
    /// Zero-window probes sent by the persist timer (RFC 9293 3.8.6.1).
    pub zero_window_probes: u64,
    /// Challenge ACKs sent for suspicious SYNs, RSTs and ACKs (RFC 5961).
    pub challenge_acks: u64,
    /// Segments that failed the acceptability test (RFC 9293 3.10.7.4).
    pub out_of_window: u64,
    /// SACK blocks received from the peer.
    pub sack_blocks_received: u64,
    /// D-SACK blocks received (RFC 2883): the peer got a segment twice.
    pub dsack_received: u64,
    /// Retransmissions found unnecessary by D-SACK.
    pub spurious_retransmits: u64,
    /// Congestion windows restored after a spurious loss episode.
    pub undos: u64,
    /// Loss-recovery episodes entered (fast retransmit, SACK or NewReno).
    pub recoveries: u64,
    /// Tail loss probes sent (RFC 8985 7).
    pub tlp_probes: u64,
    /// Retransmissions found lost in turn by RACK (RFC 8985: data sent
    /// after one was delivered first), to be sent again within the same
    /// recovery.
    pub lost_retransmits: u64,
    /// Transmissions RACK marked lost (RFC 8985 6.2 step 5), lost
    /// retransmissions included: sent before data the peer delivered,
    /// and overdue by more than the reordering window.
    pub rack_losses: u64,
    /// Times the RACK reorder timer fired and found losses (no ACK came
    /// to show them).
    pub rack_timeouts: u64,
    /// ACKs that showed the network reordering our segments (RFC 8985
    /// 6.2 step 3: data sent once delivered below data delivered before).
    pub reorderings: u64,
    /// Times a D-SACK grew RACK's reordering window (RFC 8985 6.2 step 4,
    /// at most once per round trip).
    pub reo_wnd_growths: u64,
    /// Tail loss probes that repaired a loss (RFC 8985 7.4): the window
    /// was reduced as for any loss.
    pub tlp_recoveries: u64,
    /// Segments dropped by PAWS or for lacking a timestamp (RFC 7323 5).
    pub paws_drops: u64,
    /// ICMP destination-unreachable messages that quoted a segment of this
    /// connection in flight (RFC 5927 4.1), of any code.
    pub icmp_unreachable: u64,
    /// Times a "fragmentation needed" message lowered the segment size
    /// (RFC 1191 path MTU discovery).
    pub pmtu_reductions: u64,
}

impl TcpStats {
    /// Adds another connection's counters to these.
    pub fn accumulate(&mut self, other: &TcpStats) {
        self.bytes_sent += other.bytes_sent;
        self.bytes_acked += other.bytes_acked;
        self.bytes_received += other.bytes_received;
        self.segments_sent += other.segments_sent;
        self.segments_received += other.segments_received;
        self.segments_retransmitted += other.segments_retransmitted;
        self.fast_retransmits += other.fast_retransmits;
        self.timeouts += other.timeouts;
        self.out_of_order_segments += other.out_of_order_segments;
        self.dup_acks_received += other.dup_acks_received;
        self.zero_window_probes += other.zero_window_probes;
        self.challenge_acks += other.challenge_acks;
        self.out_of_window += other.out_of_window;
        self.sack_blocks_received += other.sack_blocks_received;
        self.dsack_received += other.dsack_received;
        self.spurious_retransmits += other.spurious_retransmits;
        self.undos += other.undos;
        self.recoveries += other.recoveries;
        self.tlp_probes += other.tlp_probes;
        self.lost_retransmits += other.lost_retransmits;
        self.rack_losses += other.rack_losses;
        self.rack_timeouts += other.rack_timeouts;
        self.reorderings += other.reorderings;
        self.reo_wnd_growths += other.reo_wnd_growths;
        self.tlp_recoveries += other.tlp_recoveries;
        self.paws_drops += other.paws_drops;
        self.icmp_unreachable += other.icmp_unreachable;
        self.pmtu_reductions += other.pmtu_reductions;
    }
}

/// A connection's own counters as its TCB keeps them: the byte and
/// segment totals in 64 bits, the counts of rarer events in 32 (as Linux's
/// `tcp_info` keeps them), so that an idle connection stays small. Read as
/// a [`TcpStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConnCounters {
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segments_sent: u64,
    pub segments_received: u64,
    pub segments_retransmitted: u32,
    pub fast_retransmits: u32,
    pub timeouts: u32,
    pub out_of_order_segments: u32,
    pub dup_acks_received: u32,
    pub zero_window_probes: u32,
    pub challenge_acks: u32,
    pub out_of_window: u32,
    pub sack_blocks_received: u32,
    pub dsack_received: u32,
    pub spurious_retransmits: u32,
    pub undos: u32,
    pub recoveries: u32,
    pub tlp_probes: u32,
    pub lost_retransmits: u32,
    pub rack_losses: u32,
    pub rack_timeouts: u32,
    pub reorderings: u32,
    pub reo_wnd_growths: u32,
    pub tlp_recoveries: u32,
    pub paws_drops: u32,
    pub icmp_unreachable: u32,
    pub pmtu_reductions: u32,
}

impl From<&ConnCounters> for TcpStats {
    fn from(c: &ConnCounters) -> TcpStats {
        TcpStats {
            bytes_sent: c.bytes_sent,
            bytes_acked: c.bytes_acked,
            bytes_received: c.bytes_received,
            segments_sent: c.segments_sent,
            segments_received: c.segments_received,
            segments_retransmitted: u64::from(c.segments_retransmitted),
            fast_retransmits: u64::from(c.fast_retransmits),
            timeouts: u64::from(c.timeouts),
            out_of_order_segments: u64::from(c.out_of_order_segments),
            dup_acks_received: u64::from(c.dup_acks_received),
            zero_window_probes: u64::from(c.zero_window_probes),
            challenge_acks: u64::from(c.challenge_acks),
            out_of_window: u64::from(c.out_of_window),
            sack_blocks_received: u64::from(c.sack_blocks_received),
            dsack_received: u64::from(c.dsack_received),
            spurious_retransmits: u64::from(c.spurious_retransmits),
            undos: u64::from(c.undos),
            recoveries: u64::from(c.recoveries),
            tlp_probes: u64::from(c.tlp_probes),
            lost_retransmits: u64::from(c.lost_retransmits),
            rack_losses: u64::from(c.rack_losses),
            rack_timeouts: u64::from(c.rack_timeouts),
            reorderings: u64::from(c.reorderings),
            reo_wnd_growths: u64::from(c.reo_wnd_growths),
            tlp_recoveries: u64::from(c.tlp_recoveries),
            paws_drops: u64::from(c.paws_drops),
            icmp_unreachable: u64::from(c.icmp_unreachable),
            pmtu_reductions: u64::from(c.pmtu_reductions),
        }
    }
}

/// A snapshot of one connection, in the spirit of Linux `tcp_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpInfo {
    /// RFC 9293 spelling of the state.
    pub state: &'static str,
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
    /// The options of the peer's SYN (or SYN-ACK), as received.
    pub peer_syn: Option<TcpOptions>,
    /// The options of our SYN (or SYN-ACK), as sent.
    pub our_syn: Option<TcpOptions>,
    /// Largest payload we send (the peer's MSS, 536 when it gave none).
    pub snd_mss: usize,
    /// The MSS we announced.
    pub rcv_mss: usize,
    /// (peer's shift, our shift) when window scaling was negotiated.
    pub window_scale: Option<(u8, u8)>,
    /// SND.WND: the peer's last offered window in bytes, already scaled.
    pub snd_wnd: u32,
    /// The receive window in bytes we would offer now (free buffer space
    /// within the auto-tuning limit).
    pub rcv_wnd: u32,
    /// Congestion window in bytes.
    pub cwnd: usize,
    /// Slow-start threshold in bytes (RFC 5681 3.1).
    pub ssthresh: usize,
    /// Smoothed RTT (RFC 6298); `None` before the first sample.
    pub srtt: Option<Duration>,
    /// RTT variation (RFC 6298); zero before the first sample.
    pub rttvar: Duration,
    /// Current retransmission timeout, backoff included.
    pub rto: Duration,
    /// Congestion control algorithm in use.
    pub congestion: cc::CcAlgorithm,
    /// Bytes sent and not yet acknowledged (SND.MAX - SND.UNA, SYN and FIN
    /// counted).
    pub bytes_in_flight: usize,
    /// SACK (RFC 2018) was negotiated.
    pub sack: bool,
    /// Timestamps (RFC 7323) were negotiated.
    pub timestamps: bool,
    /// The receive window the auto-tuning allows now.
    pub rcv_wnd_limit: usize,
    /// Bytes of receive-buffer storage allocated: what this connection's
    /// receive side holds in memory.
    pub rcv_storage: usize,
    /// The receiver's own RTT estimate: the shortest time a window took to
    /// arrive (see `Tcb::measure_rcv_rtt`); `None` before the first. A
    /// sender that never fills the window (request/response) makes it long;
    /// auto-tuning uses the shorter of it and `srtt`.
    pub rcv_rtt: Option<Duration>,
    /// In loss recovery (fast recovery, SACK recovery).
    pub in_recovery: bool,
    /// RACK's minimum RTT (RFC 8985 6.2 step 1); `None` before a sample.
    pub rack_min_rtt: Option<Duration>,
    /// RACK.reo_wnd_mult: the reordering window in quarters of the
    /// minimum RTT (RFC 8985 6.2 step 4; grows on D-SACKs).
    pub reo_wnd_mult: u8,
    /// RACK.reordering_seen: the path has reordered our segments.
    pub reordering_seen: bool,
    /// The connection's counters.
    pub stats: TcpStats,
}

/// The counters a connection keeps while it has no TCB (a half-open entry,
/// TIME-WAIT): the few that can move there, small, added to a
/// [`TcpStats`] when asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegmentCounts {
    pub segments_sent: u32,
    pub segments_received: u32,
    pub segments_retransmitted: u32,
    pub challenge_acks: u32,
    pub out_of_window: u32,
    pub icmp_unreachable: u32,
}

impl SegmentCounts {
    /// Adds these to `s`.
    pub(crate) fn add_to(&self, s: &mut TcpStats) {
        s.segments_sent += u64::from(self.segments_sent);
        s.segments_received += u64::from(self.segments_received);
        s.segments_retransmitted += u64::from(self.segments_retransmitted);
        s.challenge_acks += u64::from(self.challenge_acks);
        s.out_of_window += u64::from(self.out_of_window);
        s.icmp_unreachable += u64::from(self.icmp_unreachable);
    }

    /// The same counters of a full connection (a half-open connection
    /// moves no others but `timeouts`, which its entry keeps as its retry
    /// count).
    pub(crate) fn of(s: &ConnCounters) -> SegmentCounts {
        let c = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        SegmentCounts {
            segments_sent: c(s.segments_sent),
            segments_received: c(s.segments_received),
            segments_retransmitted: s.segments_retransmitted,
            challenge_acks: s.challenge_acks,
            out_of_window: s.out_of_window,
            icmp_unreachable: s.icmp_unreachable,
        }
    }

    /// As a TCB's counters.
    pub(crate) fn to_counters(self) -> ConnCounters {
        ConnCounters {
            segments_sent: u64::from(self.segments_sent),
            segments_received: u64::from(self.segments_received),
            segments_retransmitted: self.segments_retransmitted,
            challenge_acks: self.challenge_acks,
            out_of_window: self.out_of_window,
            icmp_unreachable: self.icmp_unreachable,
            ..ConnCounters::default()
        }
    }
}
