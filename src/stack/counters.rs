//! [`Counters`]: stack-wide packet totals and drops by reason.

#[cfg(doc)]
use super::StackConfig;
#[cfg(doc)]
use super::reassembly::ReassemblyConfig;

/// Counters for every packet dropped, and why; and a few totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets handed to the stack, whatever became of them.
    pub packets_received: u64,
    /// Packets built for the device (a TSO super-segment counts once).
    pub packets_sent: u64,
    /// Dropped: not a well-formed IPv4 packet (version, header, lengths).
    pub ip_malformed: u64,
    /// Dropped: bad IPv4 header checksum.
    pub ip_bad_checksum: u64,
    /// IPv4 fragments received (header checked), whatever became of them:
    /// held for reassembly, completing a datagram, or dropped by one of the
    /// `ip_frag_*` rules or as [`ip_not_for_us`](Self::ip_not_for_us).
    /// See `src/stack/reassembly` for the rules.
    pub ip_fragments: u64,
    /// Datagrams reassembled from fragments, then processed as any other.
    pub ip_reassembled: u64,
    /// Dropped: exact duplicates of a fragment held (same offset, bytes
    /// and MF); the datagram is kept (RFC 8200 4.5).
    pub ip_frag_duplicates: u64,
    /// Datagrams dropped because two of their fragments overlapped (the
    /// RFC 5722 policy).
    pub ip_frag_overlap: u64,
    /// Dropped: TCP fragments at offset 8, or first fragments too short
    /// for the whole TCP header (RFC 1858), with their datagram.
    pub ip_frag_tiny: u64,
    /// Dropped: fragments that are empty, not a multiple of 8 bytes with
    /// MF set, reach past 65,535 bytes, or disagree with their datagram's
    /// end (a second last fragment, data past the last one), with their
    /// datagram.
    pub ip_frag_invalid: u64,
    /// Datagrams dropped when their reassembly timeout
    /// ([`ReassemblyConfig::timeout`]) came before their last fragment.
    pub ip_frag_timeout: u64,
    /// Datagrams dropped to keep within [`ReassemblyConfig::memory`] or
    /// [`ReassemblyConfig::max_datagrams`] (the oldest go first), and
    /// fragments refused because no datagram may be held at all.
    pub ip_frag_memory: u64,
    /// Dropped: destination address is not [`StackConfig::addr`].
    pub ip_not_for_us: u64,
    /// Dropped: neither TCP nor ICMP.
    pub ip_unsupported_protocol: u64,
    /// Dropped: TCP header truncated or inconsistent.
    pub tcp_malformed: u64,
    /// Dropped: bad TCP checksum.
    pub tcp_bad_checksum: u64,
    /// Segments to a port with no connection and no listener.
    pub tcp_no_socket: u64,
    /// SYNs dropped because a listener's backlog was full: its accept
    /// queue, or its half-open connections with SYN cookies off; and ACKs
    /// with a good cookie dropped for a full accept queue.
    pub tcp_listen_overflow: u64,
    /// SYNs dropped because the stack held
    /// [`StackConfig::max_half_open`] half-open connections, with SYN
    /// cookies off.
    pub tcp_half_open_overflow: u64,
    /// The most connections in SYN-RECEIVED from listeners the stack has
    /// held at once (a high-water mark, not a count of events).
    pub tcp_half_open_peak: u64,
    /// SYN-ACKs sent with a SYN cookie (RFC 4987 3.6), keeping no state.
    pub tcp_syncookies_sent: u64,
    /// ACKs whose SYN cookie was good: connections rebuilt from one.
    pub tcp_syncookies_accepted: u64,
    /// ACKs to a listener that sent cookies lately whose cookie was bad
    /// (forged, expired, for another 4-tuple); answered with a RST as any
    /// stray ACK to a listener is.
    pub tcp_syncookies_rejected: u64,
    /// Dropped: segments with both SYN and FIN to a listener or to a
    /// connection in SYN-SENT (a scanning pattern; Linux and FreeBSD drop
    /// them too).
    pub tcp_syn_fin_dropped: u64,
    /// Challenge ACKs (RFC 5961) sent for SYNs (any sequence number) and
    /// for RSTs in the window but not at RCV.NXT, in the synchronized
    /// states and TIME-WAIT. (SYN-RECEIVED's, and those for ACKs below
    /// SND.UNA - MAX.SND.WND, are counted per connection only.)
    pub tcp_challenge_acks: u64,
    /// Challenge ACKs not sent: over a connection's own limit or over
    /// [`StackConfig::challenge_ack_limit`].
    pub tcp_challenge_acks_suppressed: u64,
    /// SYNs dropped because the connection table was full.
    pub tcp_table_full: u64,
    /// Times the buffers went over [`StackConfig::memory_limit`] (memory
    /// pressure began).
    pub memory_pressure: u64,
    /// Segments that failed the acceptability test (RFC 9293 3.10.7.4).
    pub tcp_out_of_window: u64,
    /// RSTs the stack sent for no connection: to segments for no socket
    /// (RFC 9293 3.10.7.1) and to ACKs at a listener (3.10.7.2).
    pub tcp_resets_sent: u64,
    /// Dropped: ICMP message truncated or with a bad checksum.
    pub icmp_malformed: u64,
    /// ICMP echo replies sent.
    pub icmp_echo_replies: u64,
    /// Destination-unreachable messages received, whatever became of them.
    pub icmp_dest_unreachable: u64,
    /// Of those: ignored, for quoting no connection of ours or no segment
    /// of it in flight (RFC 5927 4.1), a quote too short to tell, or a
    /// message that changed nothing (a path MTU no smaller than now, a
    /// code that does not apply).
    pub icmp_unmatched: u64,
    /// Of those: "fragmentation needed" that lowered a segment size.
    pub icmp_path_mtu: u64,
    /// Of those: errors that failed a connect or a half-open connection,
    /// or were kept as a connection's soft error.
    pub icmp_errors: u64,
    /// Ignored: ICMP types other than echo request and destination
    /// unreachable.
    pub icmp_unsupported: u64,
    /// Fragments sent: pieces of ICMP echo replies longer than
    /// [`StackConfig::mtu`] (each also counts in `packets_sent`).
    pub ip_fragments_sent: u64,
    /// Replies (RST, ICMP) dropped because the control queue was full.
    pub control_queue_full: u64,
    /// TCP packets whose checksum the device vouched for (not summed).
    pub rx_checksum_trusted: u64,
    /// TCP super-packets (several segments' worth) received whole.
    pub rx_super_packets: u64,
    /// TCP super-segments sent for the device to segment (TSO).
    pub tx_super_packets: u64,
}
