//! One bulk upload in the simulator, for the loss-recovery tests: a client
//! on node 0 (192.0.2.1) sends to a server on node 1 (192.0.2.2); what the
//! client sends can be told apart; the run ends with the sender's state
//! and its stack's counters.

use ringtcp::sim::apps::{BulkPeer, Role};
use ringtcp::sim::{LinkConfig, Network};
use ringtcp::stack::StackConfig;
use ringtcp::tcp::{TcpConfig, TcpInfo};
use ringtcp::wire::{parse_ipv4, tcp::parse_tcp};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// The client's address.
pub const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server's address.
pub const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// A client on node 0 sending `bytes` to a server on node 1 over `link`,
/// both with `tcp`.
pub fn upload(seed: u64, link: LinkConfig, bytes: u64, tcp: TcpConfig) -> Network {
    let mut net = Network::new(seed);
    let mut ca = StackConfig::new(A, seed);
    let mut cb = StackConfig::new(B, seed + 1);
    ca.tcp = tcp;
    cb.tcp = tcp;
    let client = BulkPeer::new(
        Role::Client {
            remote: SocketAddrV4::new(B, 80),
            connections: 1,
        },
        bytes,
        0,
    );
    let server = BulkPeer::new(
        Role::Server {
            port: 80,
            connections: 1,
        },
        0,
        bytes,
    );
    net.add_node(ca, link.clone(), Box::new(client));
    net.add_node(cb, link, Box::new(server));
    net
}

/// A data segment (or FIN) the client sent.
pub struct Seg {
    /// Its sequence number.
    pub seq: u32,
    /// Its payload's length.
    pub len: usize,
    /// It carries the FIN.
    pub fin: bool,
}

/// The data segment (or FIN) in packet `bytes`, if node 0 sent one.
pub fn data_seg(from: usize, bytes: &[u8]) -> Option<Seg> {
    if from != 0 {
        return None;
    }
    let (ip, p) = parse_ipv4(bytes, false).ok()?;
    let t = parse_tcp(p, ip.src, ip.dst, false).ok()?;
    (!t.payload.is_empty() || t.flags.fin()).then_some(Seg {
        seq: t.seq.0,
        len: t.payload.len(),
        fin: t.flags.fin(),
    })
}

/// Runs to completion and returns the sender's negotiated state and its
/// counters over the whole connection (the client finishes its side as
/// soon as it has queued everything and seen the server's FIN, so the
/// counters come from the stack, which keeps them after the connection).
#[track_caller]
pub fn run_and_sender_info(net: &mut Network, bytes: u64) -> TcpInfo {
    net.run(Duration::from_secs(600))
        .expect("the transfer completes");
    let client = net.app::<BulkPeer>(0);
    let server = net.app::<BulkPeer>(1);
    assert!(
        client.errors.is_empty() && server.errors.is_empty(),
        "{:?} {:?}",
        client.errors,
        server.errors
    );
    assert_eq!(
        server.bytes_verified, bytes,
        "byte-exact, nothing delivered twice"
    );
    let mut info = client.infos[0].clone();
    // Let the close finish so every retransmission is counted.
    let end = net.now() + Duration::from_secs(5);
    let _ = net.run_until(Duration::from_secs(3600), |n| n.now() >= end);
    info.stats = net.stack(0).tcp_totals();
    info
}
