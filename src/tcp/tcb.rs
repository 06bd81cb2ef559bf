//! The transmission control block shared by the synchronized states, and the
//! steps of RFC 9293 3.10.7.4 that those states have in common.

use super::buffer::{RecvBuffer, SendBuffer};
use super::cc::{self, CongestionControl};
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::{Keepalive, TcpConfig};
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, MAX_IPV4_PACKET, PROTO_TCP};
use crate::wire::tcp::{
    TCP_HEADER_LEN, TcpFlags, TcpOptions, TcpRepr, fill_checksum, fill_partial_checksum,
};
use smallvec::SmallVec;
use std::net::SocketAddrV4;
use std::time::Duration;

/// Why a connection ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnError {
    /// Our SYN was answered with a RST (RFC 9293 3.10.7.3), or with an ICMP
    /// port or protocol unreachable.
    Refused,
    /// The peer reset an established connection.
    Reset,
    /// Retransmissions or keepalive probes went unanswered.
    TimedOut,
    /// The application aborted the connection.
    Aborted,
    /// ICMP said the host cannot be reached: our SYN was answered so, or
    /// the connection timed out after such a message.
    HostUnreachable,
    /// ICMP said the network cannot be reached (as for `HostUnreachable`).
    NetworkUnreachable,
}

impl ConnError {
    /// The error an ICMP destination-unreachable code stands for (RFC 792,
    /// RFC 1122 3.2.2.1, RFC 1812 5.2.7.1), close to Linux's table: port
    /// and protocol unreachable are refusals (Linux reports the second as
    /// ENOPROTOOPT, which has no std kind), the network codes are
    /// unreachable networks, the rest (source route failed too) unreachable
    /// hosts. `None` for fragmentation needed, which is path MTU discovery,
    /// not an error, and for codes past 15, which Linux ignores.
    pub fn from_icmp_unreachable(code: u8) -> Option<ConnError> {
        use crate::wire::icmp::codes as c;
        Some(match code {
            c::FRAG_NEEDED | 16.. => return None,
            c::PROTO_UNREACHABLE | c::PORT_UNREACHABLE => ConnError::Refused,
            c::NET_UNREACHABLE | c::NET_UNKNOWN | c::NET_PROHIBITED | c::NET_UNREACHABLE_TOS => {
                ConnError::NetworkUnreachable
            }
            _ => ConnError::HostUnreachable,
        })
    }
}

impl core::fmt::Display for ConnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConnError::Refused => "connection refused",
            ConnError::Reset => "connection reset by peer",
            ConnError::TimedOut => "connection timed out",
            ConnError::Aborted => "connection aborted",
            ConnError::HostUnreachable => "no route to host",
            ConnError::NetworkUnreachable => "network is unreachable",
        })
    }
}

impl std::error::Error for ConnError {}

/// Event bits a connection raises for the stack to report.
pub(crate) mod ev {
    pub const CONNECTED: u8 = 1;
    pub const READABLE: u8 = 2;
    pub const WRITABLE: u8 = 4;
    pub const PEER_CLOSED: u8 = 8;
    pub const ERROR: u8 = 16;
    pub const CLOSED: u8 = 32;
}

/// Counters in the spirit of Linux `tcp_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segments_sent: u64,
    pub segments_received: u64,
    pub segments_retransmitted: u64,
    pub fast_retransmits: u64,
    pub timeouts: u64,
    pub out_of_order_segments: u64,
    pub dup_acks_received: u64,
    pub zero_window_probes: u64,
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
    /// Retransmissions found lost in turn (a segment sent after one was
    /// SACKed first), to be sent again within the same recovery.
    pub lost_retransmits: u64,
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
        self.paws_drops += other.paws_drops;
        self.icmp_unreachable += other.icmp_unreachable;
        self.pmtu_reductions += other.pmtu_reductions;
    }
}

/// A snapshot of one connection, in the spirit of Linux `tcp_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpInfo {
    /// RFC 9293 spelling of the state.
    pub state: &'static str,
    pub local: SocketAddrV4,
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
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub cwnd: usize,
    pub ssthresh: usize,
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    pub rto: Duration,
    pub congestion: cc::CcAlgorithm,
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
    pub stats: TcpStats,
}

/// The receive window a connection starts with; auto-tuning grows it up to
/// the buffer's capacity while the application keeps up.
const INITIAL_RCV_WND_LIMIT: usize = 256 * 1024;
/// RFC 8985 7.2: the worst-case delayed-ACK time added when one segment is
/// in flight. The RFC suggests 200 ms, which puts the probe at or past the
/// 200 ms RTO floor and makes it useless for a lost last segment; peers
/// that delay ACKs (Linux, ringtcp) do so for at most 40 ms, and a probe
/// that comes too early only costs one segment.
const TLP_WCDELACK: Duration = Duration::from_millis(40);

/// Largest window a segment header can carry unscaled.
const MAX_UNSCALED_WINDOW: usize = 65_535;
/// RFC 7323 2.3: shifts above 14 are treated as 14.
const MAX_WSCALE: u8 = 14;
/// Least time between two ACKs that answer unacceptable segments without
/// data (Linux's default `tcp_invalid_ratelimit`).
const OUT_OF_WINDOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// How the last packet [`Tcb::emit`] built is laid out, for the device's
/// offload header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TxShape {
    /// IP and TCP header bytes.
    pub header_len: u16,
    /// Payload bytes per segment of a super-segment; 0 for a plain packet.
    pub gso_size: u16,
}

/// How long a path MTU learned from ICMP holds (RFC 1191 6.3 suggests ten
/// minutes; Linux's `mtu_expires` is 600 s too).
pub const PMTU_EXPIRES: Duration = Duration::from_secs(600);

/// Retransmissions tracked per recovery episode; past this many, a lost
/// one waits for the RTO as before.
const MAX_RTX_MARKS: usize = 8;

/// A retransmission sent during SACK recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtxMark {
    pub start: SeqNum,
    pub end: SeqNum,
    /// SND.MAX when it was sent: a SACK above this is of data sent later.
    pub sent_before: SeqNum,
    /// Found lost, to be sent again.
    pub lost: bool,
}

/// The transmission control block (RFC 9293 3.3.1).
#[derive(Debug)]
pub struct Tcb {
    pub(crate) cfg: TcpConfig,
    /// Shape of the last packet emitted.
    pub(crate) last_tx: TxShape,
    /// Segment size of the super-packet being processed (0: a plain
    /// segment), as the device reported it.
    pub(crate) rx_gso_size: u16,
    /// The application closed the connection (it has no handle left).
    pub(crate) orphaned: bool,
    /// When an orphaned connection in FIN-WAIT-2 gives up on the peer's
    /// FIN.
    pub(crate) fin_wait2_at: Option<Instant>,
    pub(crate) local: SocketAddrV4,
    pub(crate) remote: SocketAddrV4,

    // Send sequence space.
    pub(crate) iss: SeqNum,
    pub(crate) snd_una: SeqNum,
    /// Next sequence number to send (moves back to SND.UNA after an RTO).
    pub(crate) snd_nxt: SeqNum,
    /// Highest sequence number sent so far.
    pub(crate) snd_max: SeqNum,
    /// Peer's window in bytes, already scaled.
    pub(crate) snd_wnd: u32,
    pub(crate) snd_wl1: SeqNum,
    pub(crate) snd_wl2: SeqNum,
    /// Largest window the peer ever offered (sender SWS avoidance, RFC 9293
    /// 3.8.6.2.1).
    pub(crate) max_snd_wnd: u32,
    /// Peer's MSS: what our segments may carry.
    pub(crate) snd_mss: usize,
    pub(crate) snd_wscale: u8,
    pub(crate) send_buf: SendBuffer,
    /// The application shut down its write side: a FIN follows the data.
    pub(crate) fin_queued: bool,
    /// The peer acknowledged our FIN. Kept as a flag because once SND.UNA
    /// has passed the FIN, `data_start() + send_buf.len()` no longer
    /// names the FIN's sequence number.
    pub(crate) our_fin_acked: bool,

    // Receive sequence space.
    pub(crate) irs: SeqNum,
    pub(crate) rcv_nxt: SeqNum,
    pub(crate) rcv_wscale: u8,
    /// Right edge of the window last advertised; never moves left.
    pub(crate) rcv_adv: SeqNum,
    pub(crate) recv_buf: RecvBuffer,
    /// A FIN that arrived beyond a hole.
    pub(crate) ooo_fin: Option<SeqNum>,
    pub(crate) fin_received: bool,
    /// The application shut down its read side; later data is discarded.
    pub(crate) read_closed: bool,
    pub(crate) ws_enabled: bool,

    // Output flags.
    /// Send a SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) on the next poll.
    pub(crate) syn_pending: bool,
    /// Send an ACK on the next poll.
    pub(crate) ack_now: bool,
    /// Retransmit one segment from SND.UNA (fast retransmit, partial ACK).
    pub(crate) rtx_una: bool,
    /// Send a zero-window or keepalive probe.
    pub(crate) probe_pending: bool,
    /// Send a RST with this sequence number.
    pub(crate) rst_pending: Option<SeqNum>,
    /// Full-sized segments received since the last ACK we sent.
    pub(crate) unacked_segs: u32,
    /// When we last answered an unacceptable segment without data.
    pub(crate) last_oow_ack: Option<Instant>,

    // Timers (deadlines; `None` when not running).
    pub(crate) rto_at: Option<Instant>,
    pub(crate) delack_at: Option<Instant>,
    pub(crate) persist_at: Option<Instant>,
    pub(crate) keepalive_at: Option<Instant>,
    pub(crate) rtt: RttEstimator,
    /// Retransmissions since the last forward progress.
    pub(crate) retries: u32,
    pub(crate) persist_backoff: u32,
    pub(crate) keepalive_sent: u32,
    /// The segment being timed: (sequence number that ACKs it, send time).
    pub(crate) rtt_probe: RttProbes,
    pub(crate) last_send: Instant,

    // Loss recovery (RFC 5681, RFC 6582).
    pub(crate) cc: Box<dyn CongestionControl + Send>,
    pub(crate) dup_acks: u32,
    /// NewReno's recovery point while in fast recovery.
    pub(crate) recover: Option<SeqNum>,

    // Application interface.
    pub(crate) events: u8,
    /// The application saw an empty receive buffer since the last READABLE.
    pub(crate) want_readable: bool,
    /// The application saw a full send buffer since the last WRITABLE.
    pub(crate) want_writable: bool,
    pub(crate) error: Option<ConnError>,
    /// The last ICMP error for a synchronized connection (RFC 1122
    /// 4.2.3.9: a soft error, never a reason to abort): reported instead of
    /// `TimedOut` if the connection times out, as Linux reports
    /// `sk_err_soft`. Cleared when the peer acknowledges new data.
    pub(crate) soft_error: Option<ConnError>,
    /// When "fragmentation needed" last lowered the segment size, and the
    /// size before the first such message: after [`PMTU_EXPIRES`] the old
    /// size comes back (RFC 1191 6.3), in case the path widened again.
    pub(crate) pmtu_lowered: Option<(Instant, usize)>,
    pub(crate) stats: TcpStats,
    /// Options of the peer's SYN and of ours, for diagnostics.
    pub(crate) peer_syn: Option<TcpOptions>,
    pub(crate) our_syn: Option<TcpOptions>,

    // Timestamps (RFC 7323 3-5).
    pub(crate) ts_enabled: bool,
    /// TS.Recent: the peer's timestamp to echo.
    pub(crate) ts_recent: u32,
    /// Added to our millisecond clock (RFC 7323 5.4): a keyed hash of the
    /// 4-tuple, the same for every incarnation of it
    /// (`IsnGenerator::ts_offset`).
    pub(crate) ts_offset: u32,
    /// Last.ACK.sent: RCV.NXT in the last ACK we sent.
    pub(crate) last_ack_sent: SeqNum,

    // SACK (RFC 2018, 2883, 6675).
    pub(crate) sack_enabled: bool,
    pub(crate) scoreboard: Scoreboard,
    /// HighRxt: the end of the highest retransmission in this recovery.
    pub(crate) high_rxt: SeqNum,
    pub(crate) rescue_done: bool,
    /// Retransmissions of the current SACK recovery still unSACKed, to
    /// find those lost as well (see `mark_lost_retransmissions`).
    pub(crate) rtx_marks: SmallVec<[RtxMark; MAX_RTX_MARKS]>,
    /// A D-SACK block to report in the next ACK.
    pub(crate) dsack: Option<(SeqNum, SeqNum)>,
    /// Starts of recently received out-of-order segments, newest first: the
    /// SACK blocks that hold them are reported first (RFC 2018 4).
    pub(crate) recent_ooo: SmallVec<[SeqNum; 4]>,

    // Undo of a spurious congestion response.
    pub(crate) undo: Option<(usize, usize)>,
    pub(crate) episode_rtx: u32,
    pub(crate) episode_dsack: u32,

    // Tail loss probe (RFC 8985 7).
    pub(crate) tlp_at: Option<Instant>,
    pub(crate) tlp_pending: bool,
    /// A probe is outstanding: no second one until an ACK makes progress.
    pub(crate) tlp_out: bool,

    /// Extra bytes limited transmit allows beyond cwnd (RFC 3042).
    pub(crate) lt_allow: usize,
    /// Segments still ACKed at once at the start of the connection.
    pub(crate) quickacks: u32,

    // Receive-buffer auto-tuning.
    pub(crate) rcv_wnd_limit: usize,
    pub(crate) rcv_space_copied: usize,
    pub(crate) rcv_space_at: Instant,
    /// Receiver-side RTT: the shortest window round trip seen, and the
    /// measurement in progress (a sequence number beyond the edge the peer
    /// knows of, and when it was set).
    pub(crate) rcv_rtt: Option<Duration>,
    pub(crate) rcv_rtt_mark: Option<(SeqNum, Instant)>,
    /// The largest segment the peer has sent: what counts as full-sized.
    pub(crate) rcv_mss_est: usize,
    pub(crate) hystart: HyStart,
    /// SND.MAX when the last RTO fired: duplicate ACKs below it come from
    /// the go-back-N resend and must not start fast recovery (RFC 6582 3.2
    /// step 1, RFC 5681 4.3).
    pub(crate) rto_recover: Option<SeqNum>,
}

/// Segments being timed: (the sequence number that ACKs each, send time),
/// oldest first, in a fixed ring so timing costs no allocation. Karn's
/// rule: the ring is emptied whenever anything is retransmitted.
#[derive(Debug, Clone, Default)]
pub(crate) struct RttProbes {
    q: [(SeqNum, Instant); RttProbes::SLOTS],
    head: usize,
    len: usize,
}

impl RttProbes {
    const SLOTS: usize = 8;

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn last(&self) -> Option<SeqNum> {
        (self.len > 0).then(|| self.q[(self.head + self.len - 1) % Self::SLOTS].0)
    }

    fn push(&mut self, seq: SeqNum, t: Instant) {
        if self.len < Self::SLOTS {
            self.q[(self.head + self.len) % Self::SLOTS] = (seq, t);
            self.len += 1;
        }
    }

    /// Drops every probe `ack` covers; the send time of the newest of them.
    fn take_acked(&mut self, ack: SeqNum) -> Option<Instant> {
        let mut sent = None;
        while self.len > 0 && self.q[self.head].0 <= ack {
            sent = Some(self.q[self.head].1);
            self.head = (self.head + 1) % Self::SLOTS;
            self.len -= 1;
        }
        sent
    }
}

/// HyStart++ (RFC 9406): leave slow start when the round-trip time of a
/// round grows by more than a threshold, through a few rounds of
/// conservative slow start, instead of overshooting the path's queue by up
/// to a whole window.
#[derive(Debug, Clone, Default)]
pub(crate) struct HyStart {
    /// The round ends when SND.UNA passes this.
    round_end: SeqNum,
    last_round_min: Option<Duration>,
    cur_round_min: Option<Duration>,
    /// In conservative slow start: the baseline RTT and rounds done.
    css: Option<(Duration, u32)>,
    done: bool,
}

/// RFC 9406 4.3 constants.
const HS_MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const HS_MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const HS_CSS_GROWTH_DIVISOR: usize = 4;
const HS_CSS_ROUNDS: u32 = 5;

/// What the shared arrival steps decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Keep going: the segment passed the checks; flags say what it did.
    Processed { fin_acked: bool, fin_received: bool },
    /// The segment was dropped (a reply may be queued).
    Dropped,
    /// An acceptable RST arrived.
    Reset,
}

impl Tcb {
    pub(crate) fn new(
        cfg: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        ts_offset: u32,
        now: Instant,
    ) -> Tcb {
        let rcv_wscale = if cfg.window_scaling {
            let mut s = 0u8;
            while s < MAX_WSCALE && (cfg.recv_buffer >> s) > MAX_UNSCALED_WINDOW {
                s += 1;
            }
            s
        } else {
            0
        };
        let mss = 536;
        Tcb {
            cfg,
            local,
            remote,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_mss: mss,
            snd_wscale: 0,
            send_buf: SendBuffer::new(cfg.send_buffer),
            fin_queued: false,
            our_fin_acked: false,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_wscale,
            rcv_adv: SeqNum(0),
            recv_buf: RecvBuffer::new(cfg.recv_buffer),
            ooo_fin: None,
            fin_received: false,
            read_closed: false,
            ws_enabled: false,
            syn_pending: true,
            ack_now: false,
            rtx_una: false,
            probe_pending: false,
            rst_pending: None,
            unacked_segs: 0,
            last_oow_ack: None,
            rto_at: None,
            delack_at: None,
            persist_at: None,
            keepalive_at: None,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            retries: 0,
            persist_backoff: 0,
            keepalive_sent: 0,
            rtt_probe: RttProbes::default(),
            last_send: now,
            cc: cc::new_controller(cfg.congestion, mss),
            dup_acks: 0,
            recover: None,
            events: 0,
            want_readable: true,
            want_writable: false,
            error: None,
            soft_error: None,
            pmtu_lowered: None,
            stats: TcpStats::default(),
            peer_syn: None,
            our_syn: None,
            ts_enabled: false,
            ts_recent: 0,
            ts_offset,
            last_ack_sent: SeqNum(0),
            sack_enabled: false,
            scoreboard: Scoreboard::default(),
            high_rxt: iss,
            rescue_done: false,
            rtx_marks: SmallVec::new(),
            dsack: None,
            recent_ooo: SmallVec::new(),
            undo: None,
            episode_rtx: 0,
            episode_dsack: 0,
            tlp_at: None,
            tlp_pending: false,
            tlp_out: false,
            lt_allow: 0,
            quickacks: cfg.quickack,
            rcv_wnd_limit: cfg.recv_buffer.min(INITIAL_RCV_WND_LIMIT),
            rcv_space_copied: 0,
            rcv_space_at: now,
            rcv_rtt: None,
            rcv_rtt_mark: None,
            rcv_mss_est: 536,
            hystart: HyStart::default(),
            rto_recover: None,
            last_tx: TxShape::default(),
            rx_gso_size: 0,
            orphaned: false,
            fin_wait2_at: None,
        }
    }

    /// Layout of the last packet this connection emitted.
    pub(crate) fn last_tx(&self) -> TxShape {
        self.last_tx
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    pub fn cwnd(&self) -> usize {
        self.cc.cwnd()
    }

    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh()
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    pub fn rttvar(&self) -> Duration {
        self.rtt.rttvar()
    }

    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    pub fn snd_mss(&self) -> usize {
        self.snd_mss
    }

    pub fn snd_wnd(&self) -> u32 {
        self.snd_wnd
    }

    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    pub fn congestion_algorithm(&self) -> cc::CcAlgorithm {
        self.cc.algorithm()
    }

    pub fn window_scaling(&self) -> Option<(u8, u8)> {
        self.ws_enabled
            .then_some((self.snd_wscale, self.rcv_wscale))
    }

    /// A snapshot for [`TcpInfo`]; `state` is filled by the caller.
    pub fn info(&self, state: &'static str) -> TcpInfo {
        TcpInfo {
            state,
            local: self.local,
            remote: self.remote,
            peer_syn: self.peer_syn,
            our_syn: self.our_syn,
            snd_mss: self.snd_mss,
            rcv_mss: self.cfg.mss as usize,
            window_scale: self.window_scaling(),
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_wnd(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            congestion: self.cc.algorithm(),
            bytes_in_flight: self.flight(),
            sack: self.sack_enabled,
            timestamps: self.ts_enabled,
            rcv_wnd_limit: self.rcv_wnd_limit,
            rcv_storage: self.recv_buf.storage(),
            rcv_rtt: self.rcv_rtt,
            in_recovery: self.recover.is_some(),
            stats: self.stats.clone(),
        }
    }

    pub(crate) fn set_nodelay(&mut self, on: bool) {
        self.cfg.nodelay = on;
    }

    // ----- application side -------------------------------------------------

    /// Queues application data; returns how much was taken.
    pub(crate) fn send(&mut self, data: &[u8]) -> usize {
        let n = self.send_buf.write(data);
        if n < data.len() {
            self.want_writable = true;
        }
        n
    }

    pub(crate) fn send_capacity(&self) -> usize {
        self.send_buf.free()
    }

    /// Copies received bytes out; opening the window may queue an update.
    pub(crate) fn recv(&mut self, out: &mut [u8]) -> usize {
        let n = self.recv_buf.read(out);
        self.after_read(n)
    }

    /// Lets `f` read the readable bytes in place (up to two slices, in
    /// order) and frees as many as it says it took.
    pub(crate) fn recv_with(&mut self, f: impl FnOnce(&[u8], &[u8]) -> usize) -> usize {
        let (a, b) = self.recv_buf.peek();
        let n = f(a, b).min(a.len() + b.len());
        self.recv_buf.consume(n);
        self.after_read(n)
    }

    fn after_read(&mut self, n: usize) -> usize {
        self.rcv_space_copied += n;
        if self.recv_buf.readable() == 0 {
            self.want_readable = true;
        }
        n
    }

    pub(crate) fn readable(&self) -> usize {
        self.recv_buf.readable()
    }

    pub(crate) fn raise(&mut self, bits: u8) {
        self.events |= bits;
    }

    pub(crate) fn take_events(&mut self) -> u8 {
        core::mem::take(&mut self.events)
    }

    /// RFC 5927 4.1: an ICMP error is taken only if the segment it quotes
    /// could be one of ours in flight, SND.UNA <= SEQ < SND.MAX; a blind
    /// attacker must then guess the sequence space. (Nothing in flight,
    /// nothing to hear about: a lost pure ACK needs no answer.)
    pub(crate) fn icmp_quote_in_flight(&self, seq: SeqNum) -> bool {
        seq >= self.snd_una && seq < self.snd_max
    }

    /// RFC 1191: a router cannot forward our segments whole; its next-hop
    /// MTU is `mtu` (0 from routers older than RFC 1191: then the next
    /// plateau below `sent_len`, the quoted packet's size). The segment
    /// size drops to fit, never below what a 552-byte MTU carries (Linux's
    /// `min_pmtu`, against forged messages shrinking it to nothing, RFC
    /// 5927 7.3; a real path narrower than that stays a black hole, since
    /// every packet has DF set).
    ///
    /// What is in flight was lost at the router. Like Linux's
    /// tcp_simple_retransmit, the connection leaves any recovery, keeps
    /// cwnd, and sends again now in the new size; unlike it, from SND.UNA
    /// on (segments that fit the path are sent again too: the send buffer
    /// does not remember segment sizes). The resend is not timed (Karn)
    /// and cannot be undone as spurious. Returns whether the size changed.
    /// The size comes back after [`PMTU_EXPIRES`] without another such
    /// message (see `poll_data`).
    pub(crate) fn icmp_frag_needed(&mut self, now: Instant, mtu: u16, sent_len: u16) -> bool {
        const MIN_PMTU: usize = 552;
        const HEADERS: usize = IPV4_HEADER_LEN + TCP_HEADER_LEN;
        let mtu = match usize::from(mtu) {
            // RFC 1191 5 and 7: a table of common MTUs.
            0 => [32_000, 17_914, 8_166, 4_352, 2_002, 1_492, 1_006, 508]
                .into_iter()
                .find(|&p| p < usize::from(sent_len))
                .unwrap_or(MIN_PMTU),
            m => m,
        };
        let mss = mtu.max(MIN_PMTU) - HEADERS;
        if mss >= self.snd_mss {
            return false;
        }
        self.stats.pmtu_reductions += 1;
        let before = self.pmtu_lowered.map_or(self.snd_mss, |(_, b)| b);
        self.pmtu_lowered = Some((now, before));
        self.snd_mss = mss;
        self.cc.window_mut().mss = mss;
        self.cc.new_epoch();
        if self.snd_max > self.snd_una {
            if self.recover.take().is_some() {
                self.cc.on_recovery_end(now, self.flight());
            }
            self.undo = None;
            self.go_back_to_una(now);
        }
        true
    }

    /// Everything from SND.UNA goes again (go-back-N: after an RTO, or
    /// when the path MTU shrank), not timed (Karn), with a fresh
    /// retransmission timer. Duplicate ACKs the resend draws are not a
    /// loss signal (RFC 6582 3.2 step 1). Recovery must be over already.
    fn go_back_to_una(&mut self, now: Instant) {
        debug_assert!(self.recover.is_none());
        self.rtx_marks.clear();
        self.dup_acks = 0;
        self.rtt_probe.clear();
        self.snd_nxt = self.snd_una;
        self.rto_recover = Some(self.snd_max);
        self.high_rxt = self.snd_una;
        self.tlp_at = None;
        self.tlp_out = false;
        self.rto_at = Some(now + self.rtt.rto());
    }

    pub(crate) fn fail(&mut self, err: ConnError) {
        if self.error.is_none() {
            self.error = Some(err);
        }
        self.raise(ev::ERROR);
        self.clear_timers();
    }

    pub(crate) fn clear_timers(&mut self) {
        self.rto_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.tlp_at = None;
        self.fin_wait2_at = None;
    }

    /// An orphaned connection that reached FIN-WAIT-2 starts waiting for
    /// the peer's FIN, for at most `fin_wait2_timeout`.
    pub(crate) fn arm_fin_wait2(&mut self, now: Instant) {
        if self.orphaned && self.fin_wait2_at.is_none() {
            self.fin_wait2_at = Some(now + self.cfg.fin_wait2_timeout);
        }
    }

    // ----- sequence-space helpers -------------------------------------------

    /// Sequence number of the first byte in the send buffer.
    fn data_start(&self) -> SeqNum {
        if self.snd_una == self.iss {
            self.iss + 1u32
        } else {
            self.snd_una
        }
    }

    /// Sequence number of our FIN, if the application queued one.
    pub(crate) fn fin_seq(&self) -> Option<SeqNum> {
        // RFC 9293 3.10.7.4 fifth (FIN-WAIT-1, CLOSING, LAST-ACK): "our FIN
        // is now acknowledged" must stay true once SND.UNA has passed it.
        // Derived from SND.UNA alone, the FIN would move to SND.UNA after
        // its ACK, be taken for unacknowledged and sent again one sequence
        // number later.
        if self.our_fin_acked {
            return Some(self.snd_una - 1);
        }
        self.fin_queued
            .then(|| self.data_start() + self.send_buf.len())
    }

    /// Our FIN was sent and acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.our_fin_acked
    }

    fn flight(&self) -> usize {
        (self.snd_max - self.snd_una) as usize
    }

    /// The window we can offer now: free buffer space from RCV.NXT.
    fn rcv_wnd(&self) -> u32 {
        if self.read_closed {
            // Data after SHUT_RD is discarded anyway; keep the window open.
            return self.recv_buf.capacity() as u32;
        }
        // Auto-tuning: unread data counts against the current limit.
        let limit = self.rcv_wnd_limit.saturating_sub(self.recv_buf.readable());
        self.recv_buf.window().min(limit) as u32
    }

    /// Our timestamp clock: milliseconds plus a per-connection offset.
    fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Receive-buffer auto-tuning, in the spirit of Linux's
    /// `tcp_rcv_space_adjust`: once per round trip, if the application read
    /// at least half the window in that time, double the window (up to the
    /// buffer's capacity).
    fn autotune(&mut self, now: Instant) {
        self.measure_rcv_rtt(now);
        // The shorter of the two estimates: a pure receiver's srtt is the
        // handshake's sample, which a retransmitted or delayed SYN-ACK can
        // leave a thousand times too long; a sender that is not filling
        // our window makes the receiver's own estimate too long.
        let rtt = match (self.rcv_rtt, self.rtt.srtt()) {
            (Some(r), Some(s)) => r.min(s),
            (Some(r), None) => r,
            (None, Some(s)) => s,
            (None, None) => Duration::from_millis(1),
        }
        .max(Duration::from_micros(100));
        if now - self.rcv_space_at < rtt {
            return;
        }
        if self.rcv_space_copied * 2 >= self.rcv_wnd_limit {
            self.rcv_wnd_limit = (self.rcv_wnd_limit * 2).min(self.recv_buf.capacity());
            // Storage for the whole window now, while the connection is
            // ramping up, not in the middle of the transfer when a batch
            // first fills it: that would be a multi-megabyte allocation and
            // copy on the receive path. Connections that never grow their
            // window keep allocating only what they hold.
            self.recv_buf.reserve(self.rcv_wnd_limit);
        }
        self.rcv_space_copied = 0;
        self.rcv_space_at = now;
    }

    /// The receiver's RTT without sending data (Linux's tcp_rcv_rtt_measure):
    /// the first byte past the edge the peer knows of can only be sent after
    /// an ACK we send from now on, so the time until it arrives is at least
    /// one round trip. The estimate is the shortest such time seen.
    fn measure_rcv_rtt(&mut self, now: Instant) {
        if let Some((seq, at)) = self.rcv_rtt_mark {
            if self.rcv_nxt <= seq {
                return;
            }
            let sample = (now - at).max(Duration::from_micros(1));
            self.rcv_rtt = Some(self.rcv_rtt.map_or(sample, |r| r.min(sample)));
        }
        self.rcv_rtt_mark = Some((self.rcv_adv.max(self.rcv_nxt), now));
    }

    /// The right edge the window could reach now: free buffer space from
    /// RCV.NXT, limited to what the window field can carry (65535, scaled
    /// except in a SYN, RFC 7323 2.2).
    fn open_edge(&self, syn: bool) -> SeqNum {
        let max = (MAX_UNSCALED_WINDOW as u32) << self.wnd_shift(syn);
        self.rcv_nxt + self.rcv_wnd().min(max)
    }

    /// The shift of our window field: RFC 7323 2.2, never in a SYN.
    fn wnd_shift(&self, syn: bool) -> u8 {
        if syn || !self.ws_enabled {
            0
        } else {
            self.rcv_wscale
        }
    }

    /// The window field that carries the advertised right edge, rounded
    /// down so that the window never appears to shrink when the shift
    /// drops low bits: what the peer knows of.
    fn advertised_field(&self, syn: bool) -> u16 {
        let wnd = (self.rcv_adv.diff(self.rcv_nxt)).max(0) as usize;
        (wnd >> self.wnd_shift(syn)).min(MAX_UNSCALED_WINDOW) as u16
    }

    /// The window field for an outgoing segment, with receiver-side silly
    /// window avoidance (RFC 9293 3.8.6.2.2): the right edge moves only in
    /// steps of at least min(buffer / 2, MSS), and never moves left.
    /// `rcv_adv` records the edge advertised, which is RCV.NXT + RCV.WND
    /// for the acceptability test.
    fn window_to_advertise(&mut self, syn: bool) -> u16 {
        let edge = self.open_edge(syn);
        let step = (self.recv_buf.capacity() / 2).min(self.cfg.mss as usize) as u32;
        let grow = edge.diff(self.rcv_adv);
        // While out-of-order data waits for a hole to fill, the edge stays
        // put: a window update would make our duplicate ACKs not count as
        // duplicates at the sender (RFC 5681 2, condition (e)).
        let frozen = self.recv_buf.has_holes() && self.rcv_adv >= self.rcv_nxt;
        if !frozen && (grow >= step as i32 || self.rcv_adv < self.rcv_nxt) {
            self.rcv_adv = edge;
        }
        self.advertised_field(syn)
    }

    /// The window increase an update would announce.
    fn window_update_due(&self) -> bool {
        if self.recv_buf.has_holes() {
            // The edge is frozen while holes wait (see window_to_advertise).
            return false;
        }
        let edge = self.open_edge(false);
        let grow = edge.diff(self.rcv_adv);
        let threshold = (2 * self.cfg.mss as usize).min(self.recv_buf.capacity() / 2) as i32;
        // An update by itself matters only when the peer may run short: the
        // window it knows of is at most half of what we could offer now (as
        // Linux's tcp_cleanup_rbuf decides). Otherwise the next ACK carries
        // the new edge; a bulk receiver that updated on every read would
        // send the sender two ACKs per super-packet to process, not one.
        // What the peer knows of is the window field it received.
        let known = i32::from(self.advertised_field(false)) << self.wnd_shift(false);
        let open = edge.diff(self.rcv_nxt);
        grow >= threshold && open >= 2 * known
    }

    // ----- option negotiation -----------------------------------------------

    /// Options for our SYN or SYN-ACK. On a SYN-ACK only what the peer
    /// offered is answered (RFC 7323 1.3).
    pub(crate) fn syn_options(&self, now: Instant, peer: Option<&TcpOptions>) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(self.cfg.mss),
            ..TcpOptions::default()
        };
        let offer_ws = self.cfg.window_scaling && peer.is_none_or(|p| p.window_scale.is_some());
        if offer_ws {
            o.window_scale = Some(self.rcv_wscale);
        }
        // RFC 2018 2: SACK-permitted in a SYN, and in a SYN-ACK only if the
        // SYN had it.
        o.sack_permitted = self.cfg.sack && peer.is_none_or(|p| p.sack_permitted);
        // RFC 7323 3.2: TSopt in a SYN; in a SYN-ACK only if the SYN had it,
        // echoing its TSval.
        if self.cfg.timestamps {
            match peer {
                None => o.timestamps = Some((self.ts_now(now), 0)),
                Some(p) => {
                    if let Some((tsval, _)) = p.timestamps {
                        o.timestamps = Some((self.ts_now(now), tsval));
                    }
                }
            }
        }
        o
    }

    /// Takes the peer's SYN options (RFC 9293 3.7.1: 536 when absent).
    pub(crate) fn apply_peer_syn(&mut self, seg: &TcpRepr<'_>) {
        self.peer_syn = Some(seg.options);
        let mss = seg.options.mss.map_or(536, usize::from);
        self.snd_mss = mss.clamp(64, self.cfg.mss as usize);
        self.cc = cc::new_controller(self.cfg.congestion, self.snd_mss);
        match seg.options.window_scale {
            Some(ws) if self.cfg.window_scaling => {
                self.ws_enabled = true;
                self.snd_wscale = ws.min(MAX_WSCALE);
            }
            _ => {
                self.ws_enabled = false;
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.sack_enabled = self.cfg.sack && seg.options.sack_permitted;
        match seg.options.timestamps {
            Some((tsval, _)) if self.cfg.timestamps => {
                self.ts_enabled = true;
                self.ts_recent = tsval;
            }
            _ => self.ts_enabled = false,
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1u32;
        self.rcv_adv = self.rcv_nxt;
        // The window in a SYN is never scaled.
        self.snd_wnd = u32::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
    }

    // ----- arrival: RFC 9293 3.10.7.4 ---------------------------------------

    /// "First, check sequence number": the four acceptability cases.
    pub(crate) fn acceptable(&self, seg: &TcpRepr<'_>) -> bool {
        let len = seg.segment_len() as u32;
        // RCV.WND is the window we advertised (RCV.NXT to the right edge
        // of the last window sent), not the free buffer space: that can be
        // larger while receiver SWS avoidance (RFC 9293 3.8.6.2.2) holds
        // the edge back or the 16-bit field caps it, and data beyond the
        // advertised edge is outside the window (RFC 9293 3.10.7.4 first).
        let wnd = (self.rcv_adv.diff(self.rcv_nxt).max(0) as u32).min(self.rcv_wnd());
        let nxt = self.rcv_nxt;
        match (len, wnd) {
            (0, 0) => seg.seq == nxt,
            (0, _) => seg.seq.in_range(nxt, nxt + wnd),
            (_, 0) => false,
            (_, _) => {
                seg.seq.in_range(nxt, nxt + wnd) || (seg.seq + (len - 1)).in_range(nxt, nxt + wnd)
            }
        }
    }

    /// Steps one to five for any synchronized state: sequence check, RST,
    /// SYN, ACK. Then text and FIN (steps seven and eight) where the state
    /// still accepts them.
    pub(crate) fn arrive(&mut self, now: Instant, seg: &TcpRepr<'_>, accept_text: bool) -> Arrival {
        self.stats.segments_received += 1;
        // RFC 7323 5.3 R1 (PAWS), and 3.2: once negotiated, a non-RST
        // segment without timestamps is dropped silently.
        if self.ts_enabled && !seg.flags.rst() {
            match seg.options.timestamps {
                None => {
                    self.stats.paws_drops += 1;
                    return Arrival::Dropped;
                }
                Some((tsval, _)) if (tsval.wrapping_sub(self.ts_recent) as i32) < 0 => {
                    self.stats.paws_drops += 1;
                    self.out_of_window_ack(now, seg);
                    return Arrival::Dropped;
                }
                _ => {}
            }
        }
        // First: sequence number.
        if !self.acceptable(seg) {
            self.stats.out_of_window += 1;
            if !seg.flags.rst() {
                let len = seg.payload.len();
                if self.sack_enabled && len > 0 && seg.seq + len <= self.rcv_nxt {
                    // RFC 2883: an old duplicate is reported as a D-SACK.
                    self.dsack = Some((seg.seq, seg.seq + len));
                }
                self.out_of_window_ack(now, seg);
            }
            return Arrival::Dropped;
        }
        // Second: RST (RFC 5961 3.2: only an exact match resets; any other
        // in-window RST gets a challenge ACK).
        if seg.flags.rst() {
            if seg.seq == self.rcv_nxt {
                return Arrival::Reset;
            }
            self.challenge_ack();
            return Arrival::Dropped;
        }
        // Fourth: SYN in a synchronized state (RFC 5961 4.2): challenge ACK.
        if seg.flags.syn() {
            self.challenge_ack();
            return Arrival::Dropped;
        }
        // Fifth: ACK.
        if !seg.flags.ack() {
            return Arrival::Dropped;
        }
        if !self.process_ack(now, seg) {
            return Arrival::Dropped;
        }
        // RFC 7323 4.3 (2): TS.Recent follows acceptable segments that
        // start at or before the last ACK we sent. Only once the SYN and
        // ACK checks have passed, as Linux does (FLAG_UPDATE_TS_RECENT in
        // tcp_ack), not in the sequence check where RFC 7323's appendix
        // puts it: a forged SYN that is merely challenged, or a segment
        // with an unacceptable ACK, must not move TS.Recent ahead of the
        // real peer's clock, or PAWS would drop everything the peer sends
        // after it.
        if self.ts_enabled
            && let Some((tsval, _)) = seg.options.timestamps
            && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0
            && seg.seq <= self.last_ack_sent
        {
            self.ts_recent = tsval;
        }
        let fin_acked = self.fin_acked();
        let mut fin_received = false;
        if accept_text && !self.fin_received {
            fin_received = self.process_text(now, seg);
        } else if seg.segment_len() > 0 {
            // Text after the peer's FIN: acknowledge, ignore (RFC 9293 step
            // seven for CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT).
            self.ack_now = true;
        }
        if self.keepalive_at.is_some() || self.cfg.keepalive.is_some() {
            self.keepalive_sent = 0;
            self.arm_keepalive(now);
        }
        Arrival::Processed {
            fin_acked,
            fin_received,
        }
    }

    /// The ACK that answers an unacceptable segment. Answers to segments
    /// without data are rate-limited, as Linux does (`tcp_invalid_ratelimit`),
    /// so two confused ends cannot ping-pong ACKs forever; segments with
    /// data are always answered (they are not part of an ACK loop).
    pub(crate) fn out_of_window_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let pure = seg.payload.is_empty() && !seg.flags.fin();
        if pure
            && self
                .last_oow_ack
                .is_some_and(|t| now - t < OUT_OF_WINDOW_ACK_INTERVAL)
        {
            return;
        }
        if pure {
            self.last_oow_ack = Some(now);
        }
        self.ack_now = true;
    }

    fn challenge_ack(&mut self) {
        self.stats.challenge_acks += 1;
        self.ack_now = true;
    }

    /// The ACK field of an acceptable segment (RFC 9293 step five for
    /// ESTABLISHED and its successors, RFC 5961 5.2, RFC 5681, RFC 6582).
    /// Returns false if the segment must be dropped.
    pub(crate) fn process_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let ack = seg.ack;
        if ack > self.snd_max {
            // Acknowledges something not yet sent.
            self.ack_now = true;
            return false;
        }
        // RFC 5961 5.2: an ACK older than SND.UNA - MAX.SND.WND is dropped
        // with a challenge ACK.
        let oldest = self.snd_una - self.max_snd_wnd.max(self.snd_mss as u32);
        if ack < oldest {
            self.challenge_ack();
            return false;
        }
        let window = u32::from(seg.window) << self.snd_wscale;
        let classic_dup = ack == self.snd_una
            && self.snd_max > self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.fin()
            && window == self.snd_wnd;
        let was_una = self.snd_una;
        if ack > self.snd_una {
            let tsecr = seg.options.timestamps.map(|t| t.1);
            self.on_new_ack(now, ack, tsecr);
        }
        let newly_sacked = if self.sack_enabled {
            let n = self.process_sack(seg.options.sack(), ack);
            self.mark_lost_retransmissions();
            n
        } else {
            0
        };
        if ack == was_una && self.snd_max > self.snd_una {
            // RFC 5681 2 (and RFC 6675 2 with SACK: an ACK that SACKs new
            // data counts as a duplicate).
            if (self.sack_enabled && newly_sacked > 0) || (!self.sack_enabled && classic_dup) {
                self.on_dup_ack(now);
            }
        }
        // RFC 6675 5: SACK also declares loss without three duplicates.
        if self.sack_enabled
            && self.recover.is_none()
            && !self.after_rto()
            && self.snd_max > self.snd_una
            && self.scoreboard.is_lost(self.snd_una, self.snd_mss)
        {
            self.enter_recovery(now);
        }
        // Window update (SND.WL1/SND.WL2 rule).
        if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= ack) {
            let opened = self.snd_wnd == 0 && window > 0;
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if opened {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
        self.update_persist(now);
        true
    }

    /// SACK blocks of an ACK: D-SACKs (RFC 2883) are counted and may undo a
    /// spurious congestion response; the others go to the scoreboard.
    /// Returns how many bytes were newly SACKed.
    fn process_sack(&mut self, blocks: &[(SeqNum, SeqNum)], ack: SeqNum) -> u32 {
        let mut newly = 0;
        for (i, &(s, e)) in blocks.iter().enumerate() {
            self.stats.sack_blocks_received += 1;
            let dsack = i == 0
                && e > s
                && (e <= ack || blocks.get(1).is_some_and(|&(s1, e1)| s >= s1 && e <= e1));
            if dsack {
                self.on_dsack();
                continue;
            }
            newly += self.scoreboard.add(s, e, self.snd_una, self.snd_max);
        }
        newly
    }

    /// Lost retransmissions (the idea of RFC 8985 6, with Linux's older
    /// tcp_mark_lost_retrans test instead of per-segment clocks): RFC 6675
    /// sends each hole once per recovery, so a retransmission lost in turn
    /// waited for the RTO and its collapse of cwnd. A retransmission still
    /// unSACKed when data sent after it (above SND.MAX at the time) has
    /// been SACKed was lost, unless the path reorders; it is sent again,
    /// once per such finding, within the same recovery and window.
    fn mark_lost_retransmissions(&mut self) {
        if self.recover.is_none() {
            self.rtx_marks.clear();
            return;
        }
        let una = self.snd_una;
        let highest = self.scoreboard.highest();
        let sb = &self.scoreboard;
        // Each mark keeps only what is still missing at its front: not
        // acknowledged, not SACKed. A mark with nothing missing goes.
        self.rtx_marks.retain_mut(|m| {
            m.start = m.start.max(una);
            while m.start < m.end
                && let Some(&(_, e)) = sb.ranges().iter().find(|&&(s, e)| m.start.in_range(s, e))
            {
                m.start = e;
            }
            m.start < m.end
        });
        let Some(highest) = highest else {
            return;
        };
        for m in self.rtx_marks.iter_mut() {
            if !m.lost && highest > m.sent_before {
                m.lost = true;
                self.stats.lost_retransmits += 1;
            }
        }
    }

    fn on_dsack(&mut self) {
        self.stats.dsack_received += 1;
        if self.episode_rtx == 0 {
            return;
        }
        self.stats.spurious_retransmits += 1;
        self.episode_dsack += 1;
        // Every retransmission of the last episode was unnecessary: the
        // window reduction was too (RFC 2883 5, RFC 3708).
        if self.recover.is_none()
            && self.episode_dsack >= self.episode_rtx
            && let Some((cwnd, ssthresh)) = self.undo.take()
        {
            self.cc.restore(cwnd, ssthresh);
            self.stats.undos += 1;
        }
    }

    /// Fast retransmit and the start of loss recovery (RFC 5681 3.2,
    /// RFC 6582 3.2 step 2, RFC 6675 5 step 4).
    fn enter_recovery(&mut self, now: Instant) {
        self.hystart.done = true;
        self.undo = Some((self.cc.cwnd(), self.cc.ssthresh()));
        self.episode_rtx = 0;
        self.episode_dsack = 0;
        self.cc.on_congestion(now, self.flight());
        if !self.sack_enabled {
            // NewReno: inflate by the three segments that left the network.
            let cwnd = self.cc.cwnd();
            self.cc.set_cwnd(cwnd + 3 * self.snd_mss);
        }
        self.recover = Some(self.snd_max);
        self.high_rxt = self.snd_una;
        self.rescue_done = false;
        self.rtx_marks.clear();
        self.rtx_una = true;
        self.lt_allow = 0;
        self.tlp_at = None;
        self.stats.fast_retransmits += 1;
        self.stats.recoveries += 1;
    }

    fn on_new_ack(&mut self, now: Instant, ack: SeqNum, tsecr: Option<u32>) {
        let mut acked = ack - self.snd_una;
        let flight_before = self.flight();
        if self.snd_una == self.iss {
            acked -= 1; // the SYN
        }
        if let Some(f) = self.fin_seq()
            && ack > f
            && !self.our_fin_acked
        {
            acked -= 1; // the FIN
            self.our_fin_acked = true;
        }
        let acked = acked as usize;
        self.send_buf.consume(acked);
        self.stats.bytes_acked += acked as u64;
        // The path works again: an earlier ICMP error is old news.
        self.soft_error = None;
        self.snd_una = ack;
        if self.snd_nxt < self.snd_una {
            self.snd_nxt = self.snd_una;
        }
        self.scoreboard.advance(ack);
        if self.high_rxt < ack {
            self.high_rxt = ack;
        }
        // RTT sample (Karn's rule: the probe was cleared on retransmission).
        // With timestamps, the echo times retransmitted data as well (RFC
        // 7323 4.1), at the timestamp clock's millisecond resolution.
        if let Some(sent) = self.rtt_probe.take_acked(ack) {
            self.rtt.sample(now - sent);
            self.hystart_sample(now - sent);
        } else if self.ts_enabled
            && self.rtt_probe.is_empty()
            && let Some(tsecr) = tsecr.filter(|&t| t != 0)
        {
            let ms = self.ts_now(now).wrapping_sub(tsecr);
            if (ms as i32) >= 0 {
                self.rtt.sample(Duration::from_millis(u64::from(ms.max(1))));
            }
        }
        self.retries = 0;
        self.lt_allow = 0;
        self.tlp_out = false;
        // Loss recovery.
        match self.recover {
            Some(recover) if ack >= recover => {
                // Full ACK: recovery is over (RFC 6582 3.2 step 3).
                self.recover = None;
                self.cc.on_recovery_end(now, self.flight());
            }
            Some(_) if !self.sack_enabled => {
                // Partial ACK: retransmit the next hole, deflate (step 5).
                self.rtx_una = true;
                let cwnd = self.cc.cwnd();
                self.cc
                    .set_cwnd(cwnd.saturating_sub(acked) + self.snd_mss.min(acked.max(1)));
            }
            // SACK recovery: the pipe and NextSeg decide what goes next.
            Some(_) => {}
            None => {
                // RFC 7661: grow only a window that is being used.
                let cwnd = self.cc.cwnd();
                let limited = if cwnd < self.cc.ssthresh() {
                    flight_before * 2 >= cwnd
                } else {
                    flight_before + 3 * self.snd_mss >= cwnd
                };
                if limited {
                    let in_ss = cwnd < self.cc.ssthresh();
                    // Conservative slow start grows a quarter as fast.
                    let in_css = self.hystart.css.is_some() && in_ss;
                    let mut grow = if in_css {
                        acked / HS_CSS_GROWTH_DIVISOR
                    } else {
                        acked
                    };
                    if in_ss {
                        // Byte counting with RFC 3465's limit of 2 SMSS per
                        // ACK. With TSO every ACK is a stretch ACK (the
                        // kernel takes our super-segment as one segment and
                        // ACKs it whole), and that limit would grow cwnd by
                        // 2 segments per round trip instead of doubling it:
                        // there an ACK may take cwnd up to ssthresh, as in
                        // Linux.
                        let mut limit = 2 * self.snd_mss;
                        if self.tso() {
                            limit = limit.max(self.cc.ssthresh().saturating_sub(cwnd));
                        }
                        grow = grow.min(limit);
                    }
                    self.cc.on_ack(now, grow, flight_before, self.rtt.srtt());
                }
                self.hystart_round(ack);
            }
        }
        self.dup_acks = 0;
        // RFC 6298 5.2 and 5.3.
        if self.snd_una == self.snd_max {
            self.rto_at = None;
            self.tlp_at = None;
        } else {
            self.rto_at = Some(now + self.rtt.rto());
            self.arm_tlp(now);
        }
        if self.want_writable && self.send_buf.free() > 0 {
            self.want_writable = false;
            self.raise(ev::WRITABLE);
        }
    }

    fn on_dup_ack(&mut self, now: Instant) {
        self.stats.dup_acks_received += 1;
        self.dup_acks += 1;
        if self.recover.is_some() {
            if !self.sack_enabled {
                // RFC 6582 3.2 step 4: inflate by one segment per dup ACK.
                let cwnd = self.cc.cwnd();
                self.cc.set_cwnd(cwnd + self.snd_mss);
            }
        } else if self.dup_acks as usize >= super::sack::DUP_THRESH && !self.after_rto() {
            self.enter_recovery(now);
        } else {
            // RFC 3042: limited transmit, one new segment per early dup ACK.
            self.lt_allow = self.dup_acks as usize * self.snd_mss;
        }
    }

    fn hystart_sample(&mut self, rtt: Duration) {
        let hs = &mut self.hystart;
        if !hs.done {
            hs.cur_round_min = Some(hs.cur_round_min.map_or(rtt, |m| m.min(rtt)));
        }
    }

    /// At the end of each round of slow start, RFC 9406 4.2: enter
    /// conservative slow start on an RTT increase, leave it if the RTT
    /// falls back, leave slow start after CSS_ROUNDS.
    fn hystart_round(&mut self, ack: SeqNum) {
        if self.hystart.done || ack < self.hystart.round_end {
            return;
        }
        let in_slow_start = self.cc.cwnd() < self.cc.ssthresh();
        let hs = &mut self.hystart;
        hs.round_end = self.snd_max;
        let (last, cur) = (hs.last_round_min, hs.cur_round_min.take());
        if !in_slow_start {
            hs.done = true;
            return;
        }
        if let Some(cur) = cur {
            match hs.css {
                None => {
                    if let Some(last) = last {
                        let thresh = (last / 8).clamp(HS_MIN_RTT_THRESH, HS_MAX_RTT_THRESH);
                        if cur >= last + thresh {
                            hs.css = Some((cur, 0));
                        }
                    }
                }
                Some((baseline, _)) if cur < baseline => hs.css = None,
                Some((baseline, rounds)) => {
                    if rounds + 1 >= HS_CSS_ROUNDS {
                        hs.done = true;
                        hs.css = None;
                        self.cc.exit_slow_start();
                    } else {
                        hs.css = Some((baseline, rounds + 1));
                    }
                }
            }
            self.hystart.last_round_min = Some(cur);
        }
    }

    /// Still resending what was outstanding when the RTO fired.
    fn after_rto(&mut self) -> bool {
        match self.rto_recover {
            Some(r) if self.snd_una < r => true,
            Some(_) => {
                self.rto_recover = None;
                false
            }
            None => false,
        }
    }

    /// RFC 8985 7.2: arm the probe timeout while data is in flight and no
    /// recovery or probe is under way; it must fire before the RTO.
    fn arm_tlp(&mut self, now: Instant) {
        if !self.cfg.tlp || self.recover.is_some() || self.tlp_out || self.snd_max == self.snd_una {
            self.tlp_at = None;
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let mut pto = srtt * 2;
        if self.flight() <= self.snd_mss {
            pto += TLP_WCDELACK;
        } else {
            pto += Duration::from_millis(2);
        }
        let at = now + pto;
        self.tlp_at = match self.rto_at {
            Some(rto) if at >= rto => None,
            _ => Some(at),
        };
    }

    /// Step seven (text) and eight (FIN). Returns true if the FIN was
    /// received in order now.
    fn process_text(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let payload = seg.payload;
        let mut fin_in_seg = seg.flags.fin();
        if !payload.is_empty() {
            let delta = seg.seq.diff(self.rcv_nxt);
            // Skip bytes already received.
            let skip = if delta < 0 { (-delta) as usize } else { 0 };
            let off = delta.max(0) as usize;
            if skip > 0 && self.sack_enabled {
                // RFC 2883: report the duplicate part as a D-SACK.
                let end = (seg.seq + payload.len()).min(self.rcv_nxt);
                self.dsack = Some((seg.seq, end));
            }
            if skip >= payload.len() {
                // Entirely a duplicate.
                self.ack_now = true;
            } else if self.read_closed {
                // RFC 9293 3.10.4: after SHUT_RD a stack may discard; we
                // acknowledge so the peer makes progress.
                let n = payload.len() - skip;
                if off == 0 {
                    self.rcv_nxt += n;
                    self.stats.bytes_received += n as u64;
                }
                self.ack_now = true;
            } else {
                let data = &payload[skip..];
                // RFC 5681 4.2: a segment that fills all or part of a gap
                // is ACKed at once; after the insert the last gap is gone,
                // so look before.
                let had_holes = self.recv_buf.has_holes();
                let ins = self.recv_buf.insert(off, data);
                if self.sack_enabled {
                    if ins.already_held > 0 && ins.already_held == data.len() {
                        let start = seg.seq + skip;
                        self.dsack = Some((start, start + data.len()));
                    }
                    if ins.out_of_order && !ins.rejected {
                        let start = seg.seq + skip;
                        self.recent_ooo.retain(|s| *s != start);
                        self.recent_ooo.insert(0, start);
                        self.recent_ooo.truncate(4);
                    }
                }
                if off + data.len() > self.recv_buf.window() + ins.advanced {
                    // Part of it fell beyond the window: a FIN there is not
                    // accepted either.
                    fin_in_seg = false;
                }
                if ins.out_of_order || ins.rejected || had_holes || self.recv_buf.has_holes() {
                    // RFC 5681 4.2: out-of-order data and data that fills a
                    // hole are acknowledged at once.
                    self.ack_now = true;
                    if ins.out_of_order {
                        self.stats.out_of_order_segments += 1;
                    }
                }
                if ins.advanced > 0 {
                    self.rcv_nxt += ins.advanced;
                    self.stats.bytes_received += ins.advanced as u64;
                    if self.want_readable {
                        self.want_readable = false;
                        self.raise(ev::READABLE);
                    }
                    // A full-sized segment is one as large as the largest the
                    // peer has sent (its MSS less its options), as Linux
                    // estimates rcv_mss.
                    // A super-packet from a device with offloads carries the
                    // peer's segment size in its header (its length says
                    // nothing); it counts as the full segments it holds,
                    // so it is ACKed at once, not per 1500 bytes of it.
                    let seg_size = match self.rx_gso_size {
                        0 => data.len(),
                        g => usize::from(g),
                    };
                    if seg_size <= usize::from(self.cfg.mss) {
                        self.rcv_mss_est = self.rcv_mss_est.max(seg_size);
                    }
                    let full = data.len().max(ins.advanced) / self.rcv_mss_est;
                    self.unacked_segs += full as u32;
                    self.autotune(now);
                    // Delayed ACK: at least every second full segment
                    // (RFC 5681 4.2), otherwise within the timer; at the
                    // start of a connection every segment (quick ACKs).
                    if self.quickacks > 0 {
                        self.quickacks -= 1;
                        self.ack_now = true;
                    } else if self.unacked_segs >= 2 {
                        self.ack_now = true;
                    } else if self.delack_at.is_none() {
                        self.delack_at = Some(now + self.cfg.delayed_ack);
                    }
                }
            }
        }
        if fin_in_seg {
            let fin_seq = seg.seq + payload.len();
            if fin_seq == self.rcv_nxt {
                return self.take_fin();
            } else if fin_seq > self.rcv_nxt {
                self.ooo_fin = Some(fin_seq);
                self.ack_now = true;
            }
        }
        if let Some(f) = self.ooo_fin
            && f == self.rcv_nxt
        {
            return self.take_fin();
        }
        false
    }

    fn take_fin(&mut self) -> bool {
        self.ooo_fin = None;
        self.fin_received = true;
        self.rcv_nxt += 1u32;
        self.ack_now = true;
        self.raise(ev::PEER_CLOSED | ev::READABLE);
        true
    }

    // ----- timers -----------------------------------------------------------

    pub(crate) fn arm_keepalive(&mut self, now: Instant) {
        if let Some(Keepalive { idle, .. }) = self.cfg.keepalive {
            self.keepalive_at = Some(now + idle);
        }
    }

    /// Zero-window probing (RFC 9293 3.8.6.1): armed while the peer's
    /// window is closed and we have data waiting with nothing in flight.
    fn update_persist(&mut self, now: Instant) {
        let unsent = self.unsent();
        if self.snd_wnd == 0 && unsent > 0 && self.snd_max == self.snd_una {
            if self.persist_at.is_none() {
                self.persist_at = Some(now + self.persist_interval());
            }
        } else {
            self.persist_at = None;
            self.persist_backoff = 0;
        }
    }

    fn persist_interval(&self) -> Duration {
        let base = self.rtt.rto().max(self.cfg.min_rto);
        (base * (1u32 << self.persist_backoff.min(16))).min(self.cfg.max_rto)
    }

    /// Bytes in the send buffer not yet sent (at SND.NXT or beyond).
    fn unsent(&self) -> usize {
        let sent = self.snd_nxt.diff(self.data_start()).max(0) as usize;
        self.send_buf.len().saturating_sub(sent)
    }

    /// The earliest deadline among this connection's timers.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.rto_at,
            self.delack_at,
            self.persist_at,
            self.keepalive_at,
            self.tlp_at,
            self.fin_wait2_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers that are due. Returns an error if the connection
    /// gave up.
    pub(crate) fn on_timers(&mut self, now: Instant, syn_state: bool) -> Result<(), ConnError> {
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            let limit = if syn_state {
                self.cfg.syn_retries
            } else {
                self.cfg.max_retries
            };
            if self.retries >= limit {
                return Err(self.soft_error.unwrap_or(ConnError::TimedOut));
            }
            self.retries += 1;
            self.stats.timeouts += 1;
            // RFC 6298 5.5-5.6 and RFC 5681 (4): back off, collapse the
            // window, go back to SND.UNA.
            self.rtt.back_off();
            if !syn_state {
                if self.undo.is_none() || self.recover.is_some() {
                    self.undo = Some((self.cc.cwnd(), self.cc.ssthresh()));
                    self.episode_rtx = 0;
                    self.episode_dsack = 0;
                }
                self.cc.on_rto(now, self.flight());
            }
            self.recover = None;
            self.go_back_to_una(now);
            // RFC 6675 5.1: the go-back-N resend skips what the peer has
            // SACKed. After a second timeout in a row the SACK information
            // is dropped (RFC 2018 8: the receiver may have reneged).
            if self.retries >= 2 {
                self.scoreboard.clear();
            }
            if syn_state {
                self.syn_pending = true;
            }
        }
        if self.tlp_at.is_some_and(|t| t <= now) {
            self.tlp_at = None;
            if self.snd_max > self.snd_una && self.recover.is_none() {
                self.tlp_pending = true;
                self.tlp_out = true;
                self.stats.tlp_probes += 1;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.probe_pending = true;
            self.stats.zero_window_probes += 1;
            self.persist_backoff += 1;
            self.persist_at = Some(now + self.persist_interval());
        }
        if let (Some(t), Some(ka)) = (self.keepalive_at, self.cfg.keepalive)
            && t <= now
        {
            if self.keepalive_sent >= ka.probes {
                return Err(self.soft_error.unwrap_or(ConnError::TimedOut));
            }
            self.keepalive_sent += 1;
            self.probe_pending = true;
            self.keepalive_at = Some(now + ka.interval);
        }
        Ok(())
    }

    // ----- transmission -----------------------------------------------------

    /// Writes one IPv4 packet carrying a TCP segment into `buf` and returns
    /// its length. `payload` is an offset and length into the send buffer;
    /// `options` are the segment's options if the caller has them already
    /// (`None`: computed here).
    pub(crate) fn emit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        seq: SeqNum,
        flags: TcpFlags,
        payload: (usize, usize),
        options: Option<TcpOptions>,
    ) -> Option<usize> {
        let syn = flags.syn();
        // A RST carries no options; other segments carry what the caller
        // computed, or else their usual ones (timestamps, SACK blocks).
        let options = if flags.rst() {
            TcpOptions::default()
        } else {
            options.unwrap_or_else(|| self.seg_options(now))
        };
        let window = if flags.rst() {
            0
        } else {
            self.window_to_advertise(syn)
        };
        let ack = if flags.ack() { self.rcv_nxt } else { SeqNum(0) };
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack,
            flags,
            window,
            urgent: 0,
            options,
            payload: &[],
        };
        let hlen = repr.header_len();
        let total = IPV4_HEADER_LEN + hlen + payload.1;
        if buf.len() < total {
            return None;
        }
        let ip = Ipv4Repr {
            src: *self.local.ip(),
            dst: *self.remote.ip(),
            protocol: PROTO_TCP,
            payload_len: hlen + payload.1,
            ttl: self.cfg.ttl,
        };
        ip.emit(&mut buf[..IPV4_HEADER_LEN], 0).ok()?;
        let seg = &mut buf[IPV4_HEADER_LEN..total];
        repr.emit_header(seg).ok()?;
        if payload.1 > 0 {
            self.send_buf.copy_out(payload.0, &mut seg[hlen..]);
        }
        if self.cfg.checksum_offload {
            fill_partial_checksum(seg, ip.src, ip.dst);
        } else {
            fill_checksum(seg, ip.src, ip.dst);
        }
        // More payload than one segment holds: a super-segment for the
        // device to cut into segments of the MSS less these options.
        let seg_payload = self.snd_mss.saturating_sub(options.encoded_len()).max(1);
        let segments = payload.1.div_ceil(seg_payload).max(1);
        self.last_tx = TxShape {
            header_len: (IPV4_HEADER_LEN + hlen) as u16,
            gso_size: if segments > 1 { seg_payload as u16 } else { 0 },
        };
        if flags.ack() {
            self.ack_now = false;
            self.delack_at = None;
            self.unacked_segs = 0;
            self.last_ack_sent = self.rcv_nxt;
            self.dsack = None;
        }
        self.stats.segments_sent += segments as u64;
        self.last_send = now;
        Some(total)
    }

    /// The options of a non-SYN segment: timestamps (RFC 7323 3.2) and,
    /// when we hold out-of-order data or saw a duplicate, SACK blocks, the
    /// D-SACK first (RFC 2883 4), then the block holding the most recent
    /// segment and the others newest first (RFC 2018 4).
    fn seg_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.ts_enabled {
            o.timestamps = Some((self.ts_now(now), self.ts_recent));
        }
        if !self.sack_enabled {
            return o;
        }
        let mut blocks: SmallVec<[(SeqNum, SeqNum); 4]> = SmallVec::new();
        if let Some(d) = self.dsack {
            blocks.push(d);
        }
        let ranges = self.recv_buf.ooo_ranges();
        let block_of = |seq: SeqNum| {
            let off = seq.diff(self.rcv_nxt);
            ranges
                .iter()
                .find(|&&(s, e)| off >= s as i32 && off < e as i32)
                .map(|&(s, e)| (self.rcv_nxt + s, self.rcv_nxt + e))
        };
        for &seq in &self.recent_ooo {
            if let Some(b) = block_of(seq)
                && !blocks.contains(&b)
                && blocks.len() < 4
            {
                blocks.push(b);
            }
        }
        for &(s, e) in ranges {
            let b = (self.rcv_nxt + s, self.rcv_nxt + e);
            if blocks.len() < 4 && !blocks.contains(&b) {
                blocks.push(b);
            }
        }
        o.set_sack(&blocks);
        o
    }

    /// The largest payload a segment with options of `opt_len` bytes may
    /// carry into `buf`: the peer's MSS less the options (RFC 6691).
    fn max_payload(&self, buf_len: usize, opt_len: usize) -> usize {
        let room = buf_len.saturating_sub(IPV4_HEADER_LEN + TCP_HEADER_LEN + opt_len);
        self.snd_mss.saturating_sub(opt_len).max(1).min(room)
    }

    /// Super-segments are on: a `tso_max`, and the device completing
    /// checksums as it cuts (TSO needs both).
    fn tso(&self) -> bool {
        self.cfg.tso_max > 0 && self.cfg.checksum_offload
    }

    /// Most new data one packet may carry: one segment of `mss`, or with
    /// TSO as many whole segments as `tso_max` and an IPv4 packet (65535
    /// bytes, in a buffer of `buf_len`) hold.
    fn burst(&self, buf_len: usize, mss: usize, opt_len: usize) -> usize {
        if !self.tso() || self.cfg.tso_max <= mss {
            return mss;
        }
        let room = buf_len
            .min(MAX_IPV4_PACKET)
            .saturating_sub(IPV4_HEADER_LEN + TCP_HEADER_LEN + opt_len);
        (self.cfg.tso_max.min(room) / mss).max(1) * mss
    }

    /// Resends `max_len` bytes (at most) from `seq`, with the FIN if the
    /// range reaches it. Counts the retransmission and, in SACK recovery,
    /// moves HighRxt.
    fn retransmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        seq: SeqNum,
        max_len: usize,
        opts: TcpOptions,
    ) -> Option<usize> {
        let data_start = self.data_start();
        let fin_seq = self.fin_seq();
        let data_end = match fin_seq {
            Some(f) if f < self.snd_max => f,
            _ => self.snd_max,
        };
        let seq = seq.max(self.snd_una);
        let len = if data_end > seq {
            ((data_end - seq) as usize).min(max_len)
        } else {
            0
        };
        let mut flags = TcpFlags::ACK;
        if fin_seq.is_some_and(|f| f == seq + len && f < self.snd_max) {
            flags |= TcpFlags::FIN;
        }
        if len == 0 && !flags.fin() {
            return None;
        }
        let off = seq.diff(data_start).max(0) as usize;
        let n = self.emit(now, buf, seq, flags, (off, len), Some(opts))?;
        self.stats.segments_retransmitted += 1;
        self.episode_rtx += 1;
        self.rtt_probe.clear();
        let end = seq + len + flags.fin() as usize;
        if self.sack_enabled && self.recover.is_some() {
            let mark = RtxMark {
                start: seq,
                end,
                sent_before: self.snd_max,
                lost: false,
            };
            if let Some(m) = self.rtx_marks.iter_mut().find(|m| m.start == seq) {
                *m = mark;
            } else if self.rtx_marks.len() < MAX_RTX_MARKS {
                self.rtx_marks.push(mark);
            }
        }
        if self.high_rxt < end {
            self.high_rxt = end;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        Some(n)
    }

    /// Output for the synchronized states: retransmission, new data and FIN,
    /// probes, ACKs and window updates, in that order of priority.
    pub(crate) fn poll_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some(seq) = self.rst_pending.take() {
            return self.emit(now, buf, seq, TcpFlags::RST, (0, 0), None);
        }
        if let Some((at, before)) = self.pmtu_lowered
            && now - at >= PMTU_EXPIRES
            && self.snd_una == self.snd_max
            && self.recover.is_none()
        {
            // The learned path MTU has aged out: try the full size again
            // (between flights, so that no loss accounting changes its
            // segment size midway); a router still narrow says so again.
            // The windows keep their size in segments, so that cwnd never
            // ends up below one segment.
            let current = self.snd_mss;
            self.pmtu_lowered = None;
            self.snd_mss = before;
            let w = self.cc.window_mut();
            w.mss = before;
            w.cwnd = (w.cwnd / current).max(1) * before;
            if w.ssthresh != usize::MAX {
                w.ssthresh = (w.ssthresh / current).max(2) * before;
            }
            self.cc.new_epoch();
        }
        // The options every segment of this poll carries, computed once.
        let opts = self.seg_options(now);
        let mss = self.max_payload(buf.len(), opts.encoded_len());
        let fin_seq = self.fin_seq();
        let data_start = self.data_start();

        // Fast retransmit or a NewReno partial ACK: one segment at SND.UNA.
        if self.rtx_una {
            self.rtx_una = false;
            if self.snd_max > self.snd_una {
                let una = self.snd_una;
                if let Some(n) = self.retransmit(now, buf, una, mss, opts) {
                    return Some(n);
                }
            }
        }

        // A tail loss probe: new data if the window allows, else the last
        // segment again (RFC 8985 7.3).
        if self.tlp_pending {
            self.tlp_pending = false;
            let unsent = self.unsent();
            if unsent == 0 || self.snd_wnd as usize <= (self.snd_nxt - self.snd_una) as usize {
                let last = self.snd_max - (self.flight().min(mss) as u32);
                if let Some(n) = self.retransmit(now, buf, last, mss, opts) {
                    self.rto_at.get_or_insert(now + self.rtt.rto());
                    return Some(n);
                }
            } else {
                self.lt_allow = self.lt_allow.max(mss);
            }
        }

        // SACK recovery (RFC 6675 5): while the pipe is below cwnd, lost
        // holes first (NextSeg rule 1), then new data, then one rescue
        // retransmission of the highest unSACKed segment.
        let sack_recovery = self.sack_enabled && self.recover.is_some();
        let pipe = if self.sack_enabled && !self.scoreboard.is_empty() {
            Some(
                self.scoreboard
                    .pipe(self.snd_una, self.snd_max, self.high_rxt, self.snd_mss),
            )
        } else {
            None
        };
        // A retransmission found lost has left the network: it does not
        // count in the pipe, and goes again before any other hole. The
        // mark is taken out for the resend (which notes a fresh one) and
        // what the resend did not cover stays marked lost.
        let pipe_now = pipe.unwrap_or(self.flight());
        if sack_recovery && let Some(i) = self.rtx_marks.iter().position(|m| m.lost) {
            let lost_bytes: usize = self
                .rtx_marks
                .iter()
                .filter(|m| m.lost)
                .map(|m| (m.end - m.start) as usize)
                .sum();
            if pipe_now.saturating_sub(lost_bytes) < self.cc.cwnd() {
                let m = self.rtx_marks.remove(i);
                let len = ((m.end - m.start) as usize).min(mss);
                let sent = self.retransmit(now, buf, m.start, len, opts);
                // What the resend covered: its fresh mark says (a FIN
                // right after the data goes with it).
                let covered = self
                    .rtx_marks
                    .iter()
                    .find(|x| x.start == m.start)
                    .map_or(m.start + len, |x| x.end);
                if sent.is_some() && covered < m.end {
                    let rest = RtxMark {
                        start: covered,
                        ..m
                    };
                    if self.rtx_marks.len() < MAX_RTX_MARKS {
                        self.rtx_marks.push(rest);
                    }
                }
                if sent.is_some() {
                    return sent;
                }
            }
        }
        if sack_recovery && pipe_now < self.cc.cwnd() {
            if let Some((seq, len)) =
                self.scoreboard
                    .next_lost(self.snd_una, self.snd_max, self.high_rxt, self.snd_mss)
            {
                if let Some(n) = self.retransmit(now, buf, seq, len.min(mss), opts) {
                    return Some(n);
                }
            } else if self.unsent() == 0 && !self.rescue_done {
                self.rescue_done = true;
                let last = self.snd_max - (self.flight().min(mss) as u32);
                if !self.scoreboard.is_sacked(last)
                    && let Some(n) = self.retransmit(now, buf, last, mss, opts)
                {
                    return Some(n);
                }
            }
        }

        // New data (or data resent after an RTO) and the FIN.
        if self.snd_nxt < self.snd_max && !self.scoreboard.is_empty() {
            for &(s, e) in self.scoreboard.ranges() {
                if self.snd_nxt.in_range(s, e) {
                    self.snd_nxt = e.min(self.snd_max);
                }
            }
        }
        let off = self.snd_nxt.diff(data_start).max(0) as usize;
        let unsent = self.send_buf.len().saturating_sub(off);
        let fin_unsent = fin_seq.is_some_and(|f| self.snd_nxt <= f);
        if unsent > 0 || fin_unsent {
            let in_flight = (self.snd_nxt - self.snd_una) as usize;
            // With SACK information the pipe (RFC 6675) measures what is in
            // the network; limited transmit (RFC 3042) and a probe may go
            // beyond cwnd, never beyond the peer's window.
            let cwnd_used = match pipe {
                Some(p) if self.snd_nxt == self.snd_max => p,
                _ => in_flight,
            };
            let cwnd_room = (self.cc.cwnd() + self.lt_allow).saturating_sub(cwnd_used);
            let room = cwnd_room.min((self.snd_wnd as usize).saturating_sub(in_flight));
            let retransmission = self.snd_nxt < self.snd_max;
            // Data resent after an RTO goes one segment per packet: a
            // super-segment could span SACKed data or run on into new data,
            // and the peer would answer it with one D-SACK, not one per
            // segment (which D-SACK undo counts).
            let burst = if retransmission {
                mss
            } else {
                self.burst(buf.len(), mss, opts.encoded_len())
            };
            let mut len = unsent.min(burst).min(room);
            if len > mss && len % mss != 0 {
                // A super-segment is whole segments, and a short last one
                // only where it could go on its own (the Nagle test below,
                // taken for the burst as a whole).
                let tail_ok = len == unsent && (self.cfg.nodelay || in_flight == 0 || fin_unsent);
                if !tail_ok {
                    len -= len % mss;
                }
            }
            let all = len == unsent;
            let send_fin = fin_unsent && all;
            // Sender silly-window avoidance and Nagle (RFC 9293 3.8.6.2.1,
            // 3.7.4): a full segment, or everything left when nothing is
            // unacknowledged (or Nagle is off), or half the largest window
            // the peer has offered.
            let send_data = len > 0
                && (len >= mss
                    || retransmission
                    || (all && (self.cfg.nodelay || in_flight == 0 || send_fin))
                    || len as u32 >= self.max_snd_wnd / 2);
            if send_data || (send_fin && len == 0) {
                let mut flags = TcpFlags::ACK;
                if all && len > 0 {
                    flags |= TcpFlags::PSH;
                }
                if send_fin {
                    flags |= TcpFlags::FIN;
                }
                let seq = self.snd_nxt;
                let n = self.emit(now, buf, seq, flags, (off, len), Some(opts))?;
                if self.lt_allow > 0 && !retransmission {
                    self.lt_allow = self.lt_allow.saturating_sub(len.max(1));
                }
                self.advance_snd_nxt(now, len + send_fin as usize, retransmission);
                self.stats.bytes_sent += len as u64;
                return Some(n);
            }
            self.update_persist(now);
        }

        // A zero-window or keepalive probe: an ACK with SEQ = SND.UNA - 1,
        // which the peer must answer with its current window.
        if self.probe_pending {
            self.probe_pending = false;
            let seq = self.snd_una - 1;
            return self.emit(now, buf, seq, TcpFlags::ACK, (0, 0), Some(opts));
        }

        if self.ack_now || self.window_update_due() {
            // A pure ACK carries SND.MAX, not a SND.NXT that an RTO moved
            // back: the peer's RCV.NXT may already be past SND.NXT, and an
            // ACK below it would be unacceptable there.
            let seq = self.snd_max;
            return self.emit(now, buf, seq, TcpFlags::ACK, (0, 0), Some(opts));
        }
        None
    }

    fn advance_snd_nxt(&mut self, now: Instant, len: usize, retransmission: bool) {
        let end = self.snd_nxt + len;
        if retransmission {
            // Never a super-segment (see poll_data): one segment.
            self.stats.segments_retransmitted += 1;
            self.episode_rtx += 1;
        } else if len > 0 {
            // Several timed segments per window: HyStart++ needs the RTT
            // as the queue builds within a round, not only its first one.
            let spacing = (self.flight() / RttProbes::SLOTS).max(self.snd_mss);
            if self
                .rtt_probe
                .last()
                .is_none_or(|l| end.diff(l) >= spacing as i32)
            {
                self.rtt_probe.push(end, now);
            }
        }
        // RFC 5681 4.1: restart from the initial window after an idle
        // period longer than the RTO.
        if self.snd_una == self.snd_max && now - self.last_send > self.rtt.rto() {
            self.cc.on_idle_restart();
        }
        self.snd_nxt = end;
        if end > self.snd_max {
            self.snd_max = end;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        if !retransmission {
            self.arm_tlp(now);
        }
        self.persist_at = None;
    }

    /// The SYN or SYN-ACK, sent at ISS.
    pub(crate) fn poll_syn(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        flags: TcpFlags,
        peer: Option<&TcpOptions>,
    ) -> Option<usize> {
        if !self.syn_pending {
            return None;
        }
        let opts = self.syn_options(now, peer);
        self.our_syn = Some(opts);
        let iss = self.iss;
        let n = self.emit(now, buf, iss, flags, (0, 0), Some(opts))?;
        self.syn_pending = false;
        self.snd_nxt = iss + 1u32;
        if self.snd_max == iss {
            self.snd_max = iss + 1u32;
            self.rtt_probe.push(iss + 1u32, now);
        } else {
            self.stats.segments_retransmitted += 1;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        Some(n)
    }
}
