//! [`StackConfig`]: the settings a [`Stack`] is built with.

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
    pub max_connections: usize,
    /// Verify IPv4 and TCP checksums on input.
    pub verify_checksums: bool,
    /// Answer ICMP echo requests to `addr`.
    pub answer_ping: bool,
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
    /// ephemeral range, 65536 connections, checksums verified, pings
    /// answered, RFC 6528 ISNs, an MTU of 1500,
    /// [`ReassemblyConfig::default`].
    pub fn new(addr: Ipv4Addr, seed: u64) -> StackConfig {
        StackConfig {
            addr,
            seed,
            tcp: TcpConfig::default(),
            ephemeral_ports: PortAllocator::DEFAULT_RANGE,
            max_connections: 65_536,
            verify_checksums: true,
            answer_ping: true,
            fixed_isn: None,
            mtu: 1500,
            reassembly: ReassemblyConfig::default(),
        }
    }
}
