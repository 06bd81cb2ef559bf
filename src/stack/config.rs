//! [`StackConfig`]: the settings a [`Stack`] is built with.

#[cfg(doc)]
use super::ConnectError;
#[cfg(doc)]
use super::Stack;
use super::ports::PortAllocator;
use super::reassembly::ReassemblyConfig;
use crate::tcp::TcpConfig;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

/// Settings for a [`Stack`].
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The stack's own IPv4 address.
    pub addr: Ipv4Addr,
    /// Seeds the ISN key, the port-selection key and the hash keys.
    pub seed: u64,
    /// Defaults for every new connection.
    pub tcp: TcpConfig,
    /// Local ports for active opens (RFC 6056 suggests 49152-65535).
    pub ephemeral_ports: RangeInclusive<u16>,
    /// Connections (in any state, TIME-WAIT included) the table may hold.
    /// Past it `connect` fails with [`ConnectError::TableFull`] and a SYN
    /// to a listener is dropped (counted in `tcp_table_full`).
    pub max_connections: usize,
    /// Bytes of send and receive buffer storage all connections together
    /// may hold. Buffers allocate as they fill, so this is what the stack
    /// holds, not what it could. Past it the stack is under memory
    /// pressure until it is back under seven eighths of it: connections
    /// offer no window beyond the storage they hold (or a first 4 KiB),
    /// take no more from the application than that, and give empty
    /// buffers back at once. Data inside a window already offered is
    /// still taken, so the budget can be exceeded by what was promised
    /// before the pressure began, and nothing is dropped for it.
    pub memory_limit: usize,
    /// Verify IPv4 and TCP checksums on input.
    pub verify_checksums: bool,
    /// Answer ICMP echo requests to `addr`.
    pub answer_ping: bool,
    /// Answer SYNs with SYN cookies (RFC 4987 3.6) when a listener's
    /// half-open connections are at its backlog or the stack's are at
    /// `max_half_open`, instead of dropping them (Linux's
    /// `tcp_syncookies` = 1). On by default.
    pub syn_cookies: bool,
    /// Connections in SYN-RECEIVED from listeners the whole stack holds at
    /// once (each listener holds at most its backlog); SYNs beyond are
    /// answered with cookies or dropped. Default 4096.
    pub max_half_open: usize,
    /// Challenge ACKs (RFC 5961) the whole stack sends per second, on top
    /// of each connection's own limit of one per 500 ms (Linux's
    /// `tcp_challenge_ack_limit`, and `tcp_invalid_ratelimit`). Each
    /// second's budget is drawn from the stack's seed between half and
    /// one and a half times this, as Linux does, so that an off-path
    /// attacker cannot count it (CVE-2016-5696). Default 1000; 0 sends
    /// none.
    pub challenge_ack_limit: u32,
    /// Use this ISN for every connection instead of the RFC 6528 one. Only
    /// for tests that must start near the 2^32 wrap: a predictable ISN gives
    /// up the protection against off-path attacks.
    pub fixed_isn: Option<u32>,
    /// The largest IPv4 packet the link carries: the device's MTU (the
    /// runtime sets it from the device). ICMP echo replies longer than
    /// this go out in fragments (RFC 1122 3.2.2.6: a reply carries all the
    /// request's data); TCP keeps within it through its MSS.
    pub mtu: usize,
    /// Limits for IPv4 reassembly: memory (4 MiB by default), datagrams at
    /// once (256) and how long one may wait for its fragments (30 s).
    pub reassembly: ReassemblyConfig,
}

impl StackConfig {
    /// Defaults for a stack at `addr`: [`TcpConfig::default`], the RFC 6056
    /// ephemeral range, 65536 connections, 1 GiB of buffer memory,
    /// checksums verified, pings answered, SYN cookies on, 4096 half-open
    /// connections, 1000 challenge ACKs a second, RFC 6528 ISNs, an MTU of
    /// 1500, [`ReassemblyConfig::default`].
    pub fn new(addr: Ipv4Addr, seed: u64) -> StackConfig {
        StackConfig {
            addr,
            seed,
            tcp: TcpConfig::default(),
            ephemeral_ports: PortAllocator::DEFAULT_RANGE,
            max_connections: 65_536,
            memory_limit: 1 << 30,
            verify_checksums: true,
            answer_ping: true,
            syn_cookies: true,
            max_half_open: 4096,
            challenge_ack_limit: 1000,
            fixed_isn: None,
            mtu: 1500,
            reassembly: ReassemblyConfig::default(),
        }
    }
}
