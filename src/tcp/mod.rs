//! Sans-IO TCP (RFC 9293): one type per connection state.
//!
//! Read RFC 9293 section 3.10 ("Event Processing") first: the methods here
//! follow its "SEGMENT ARRIVES" steps in order and cite them. Then RFC 6298
//! (the retransmission timer), RFC 5681 and RFC 6582 (congestion control and
//! NewReno recovery), RFC 8985 (RACK-TLP, the loss detection with SACK;
//! see `rack`), RFC 7323 (window scaling) and RFC 5961 (blind-attack
//! protections).
//!
//! Each RFC state is its own struct ([`SynSent`], [`Established`],
//! [`TimeWait`], ...). Transitions consume the state and return the next one
//! as a [`Conn`], the enum the connection table stores, so a state that has
//! been left cannot be used again. The states share one transmission control
//! block ([`Tcb`]) that holds the sequence variables, buffers and timers.
//!
//! This module performs no I/O, reads no clock and draws no randomness: time
//! comes in as `now`, the ISN from the caller, and segments go out through
//! buffers the caller owns.

#![forbid(unsafe_code)]

pub mod buffer;
pub mod cc;
mod error;
mod hystart;
mod rack;
pub mod rtt;
pub mod sack;
mod state;
mod stats;
mod tcb;

pub(crate) use state::CookieSyn;
/// Event bits raised by a connection (see [`crate::stack::Event`]).
pub(crate) use tcb::ev as tcb_events;
pub(crate) use tcb::write_segment;

pub use cc::{CcAlgorithm, CongestionControl};
pub use error::ConnError;
pub use state::{
    CloseWait, Closed, Closing, Conn, Established, Fate, FinWait1, FinWait2, IcmpOutcome, LastAck,
    Listen, ListenReply, SynReceived, SynSent, TimeWait,
};
pub use stats::{TcpInfo, TcpStats};
pub use tcb::{IDLE_RELEASE, PMTU_EXPIRES, Tcb};

use std::time::Duration;

/// A TCP segment a connection wrote at the start of the caller's buffer
/// (header, options, payload and checksum), and what the layers below
/// need to know of it to send it: the stack puts the IP header in front
/// and, for a device with offloads, the virtio-net header. In the spirit
/// of quinn-proto's `Transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Bytes written: TCP header, options and payload.
    pub len: usize,
    /// TCP header bytes, options included.
    pub header_len: u16,
    /// Payload bytes of each segment when this is a super-segment for the
    /// device to cut (TSO); 0 for a single segment.
    pub gso_size: u16,
    /// The checksum field holds only the pseudo-header sum, for a device
    /// told to complete it (`NEEDS_CSUM`, [`TcpConfig::checksum_offload`]).
    pub partial_checksum: bool,
}

/// Keepalive settings (RFC 9293 3.8.4; RFC 1122 4.2.3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead.
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

/// Per-connection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TcpConfig {
    /// The MSS we announce (our MTU less 40).
    pub mss: u16,
    /// Send buffer capacity in bytes: how much unacknowledged and unsent
    /// data the connection holds.
    pub send_buffer: usize,
    /// Receive buffer capacity in bytes: the largest window we can offer
    /// (auto-tuning grows the window up to it) and the source of our window
    /// scale shift.
    pub recv_buffer: usize,
    /// Disable Nagle's algorithm (RFC 9293 3.7.4).
    pub nodelay: bool,
    /// Maximum segment lifetime; TIME-WAIT lasts 2 * MSL.
    pub msl: Duration,
    /// How long a connection the application has closed waits in
    /// FIN-WAIT-2 for the peer's FIN before it is dropped (Linux's
    /// `tcp_fin_timeout`): a peer that never closes must not hold it
    /// forever. A connection only shut down for writing waits as long as
    /// the application keeps it.
    pub fin_wait2_timeout: Duration,
    /// RTO before the first RTT sample (RFC 6298 2.1; 1 s).
    pub initial_rto: Duration,
    /// Lower bound of the RTO (RFC 6298 2.4; Linux uses 200 ms).
    pub min_rto: Duration,
    /// Upper bound of the RTO, backoff included (RFC 6298 2.5; 60 s).
    /// Kept to the microsecond up to 71 minutes, beyond which it saturates.
    pub max_rto: Duration,
    /// Retransmissions of data or FIN before giving up with TimedOut.
    pub max_retries: u32,
    /// Retransmissions of a SYN before giving up with TimedOut.
    pub syn_retries: u32,
    /// Retransmissions of a SYN-ACK (in SYN-RECEIVED) before the
    /// connection gives up; a half-open one from a listener then simply
    /// goes away (Linux's `tcp_synack_retries`, 5: about 63 s with a 1 s
    /// initial RTO). This bounds how long a spoofed SYN holds an entry.
    pub synack_retries: u32,
    /// Longest time an ACK is delayed.
    pub delayed_ack: Duration,
    /// Keepalive probing; `None` (the default) sends no probes.
    pub keepalive: Option<Keepalive>,
    /// Announce and accept window scaling (RFC 7323 2).
    pub window_scaling: bool,
    /// Announce and accept timestamps (RFC 7323 3): RTT on every ACK,
    /// PAWS.
    pub timestamps: bool,
    /// Announce and accept SACK (RFC 2018) with SACK-based recovery
    /// (RFC 6675).
    pub sack: bool,
    /// Tail loss probes (RFC 8985 7).
    pub tlp: bool,
    /// Segments ACKed at once at the start of a connection before delayed
    /// ACKs begin (Linux's quick-ACK mode), so slow start is not slowed.
    pub quickack: u32,
    /// IPv4 time-to-live of outgoing packets.
    pub ttl: u8,
    /// Congestion control algorithm of new connections.
    pub congestion: CcAlgorithm,
    /// Leave the TCP checksum of outgoing segments to the device: only the
    /// pseudo-header sum is written, for a device told `NEEDS_CSUM` (see
    /// [`crate::wire::VnetHdr`]). The runtime sets it when the TUN device
    /// has offloads.
    pub checksum_offload: bool,
    /// Largest payload of one outgoing packet for a device that segments
    /// (TSO): up to this many bytes, in whole segments of the MSS in use, go
    /// out as one super-segment that the device cuts into MSS-sized ones.
    /// Congestion and flow control still count every byte: a super-segment
    /// never goes beyond what cwnd and the peer's window allow. 0: one
    /// segment per packet. Needs `checksum_offload`.
    pub tso_max: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            send_buffer: 4 << 20,
            recv_buffer: 4 << 20,
            nodelay: false,
            msl: Duration::from_secs(30),
            fin_wait2_timeout: Duration::from_secs(60),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            max_retries: 15,
            syn_retries: 6,
            synack_retries: 5,
            delayed_ack: Duration::from_millis(40),
            keepalive: None,
            window_scaling: true,
            timestamps: true,
            sack: true,
            tlp: true,
            quickack: 16,
            ttl: 64,
            congestion: CcAlgorithm::Cubic,
            checksum_offload: false,
            tso_max: 0,
        }
    }
}
