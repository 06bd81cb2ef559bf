//! Deterministic simulator tests: two stacks over an in-memory link.

use ringtcp::sim::apps::{BulkPeer, Role};
use ringtcp::sim::{LinkConfig, Network};
use ringtcp::stack::StackConfig;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const MB: u64 = 1_000_000;

struct Run {
    net: Network,
}

fn pair(seed: u64, link: LinkConfig, connections: usize, bytes: u64) -> Run {
    pair_with(seed, link, connections, bytes, |_| {})
}

fn pair_with(
    seed: u64,
    link: LinkConfig,
    connections: usize,
    bytes: u64,
    tweak: impl Fn(&mut StackConfig),
) -> Run {
    let mut net = Network::new(seed);
    let mut ca = StackConfig::new(A, seed.wrapping_mul(3));
    let mut cb = StackConfig::new(B, seed.wrapping_mul(7));
    tweak(&mut ca);
    tweak(&mut cb);
    net.add_node(
        ca,
        link.clone(),
        Box::new(BulkPeer::new(
            Role::Client {
                remote: SocketAddrV4::new(B, 80),
                connections,
            },
            bytes,
            bytes,
        )),
    );
    net.add_node(
        cb,
        link,
        Box::new(BulkPeer::new(
            Role::Server {
                port: 80,
                connections,
            },
            bytes,
            bytes,
        )),
    );
    Run { net }
}

impl Run {
    #[track_caller]
    fn run_ok(&mut self, deadline: Duration) {
        let res = self.net.run(deadline);
        let client = self.net.app::<BulkPeer>(0);
        let server = self.net.app::<BulkPeer>(1);
        assert!(
            client.errors.is_empty() && server.errors.is_empty(),
            "errors: client {:?} server {:?}",
            &client.errors[..client.errors.len().min(5)],
            &server.errors[..server.errors.len().min(5)]
        );
        res.unwrap_or_else(|e| {
            panic!(
                "{e}: client completed {} server completed {}; client {:?} server {:?}",
                client.completed(),
                server.completed(),
                self.net.stack(0).counters(),
                self.net.stack(1).counters()
            )
        });
    }

    fn verified(&self) -> (u64, u64) {
        (
            self.net.app::<BulkPeer>(0).bytes_verified,
            self.net.app::<BulkPeer>(1).bytes_verified,
        )
    }
}

#[test]
fn clean_link_10mb_each_way() {
    let mut run = pair(1, LinkConfig::default(), 1, 10 * MB);
    run.run_ok(Duration::from_secs(60));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
    // A clean link needs no retransmission at all.
    let c = run.net.stack(0).counters().clone();
    assert_eq!(c.tcp_bad_checksum, 0);
}

#[test]
fn lossy_link_5_percent() {
    let link = LinkConfig {
        loss: 0.05,
        ..LinkConfig::default()
    };
    let mut run = pair(2, link, 1, 10 * MB);
    run.run_ok(Duration::from_secs(3600));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
    assert!(
        run.net.link_stats(0).lost > 100,
        "the link did lose packets"
    );
    let st = run.net.stack(0).counters().clone();
    assert!(st.packets_sent > 0);
}

#[test]
fn reordering_5_percent_duplication_1_percent() {
    let link = LinkConfig {
        reorder: 0.05,
        duplicate: 0.01,
        ..LinkConfig::default()
    };
    let mut run = pair(3, link, 1, 10 * MB);
    run.run_ok(Duration::from_secs(3600));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
    assert!(run.net.link_stats(0).reordered > 100);
    assert!(run.net.link_stats(1).duplicated > 10);
}

#[test]
fn corruption_1_percent_caught_by_checksums() {
    let link = LinkConfig {
        corrupt: 0.01,
        ..LinkConfig::default()
    };
    let mut run = pair(4, link, 1, 10 * MB);
    run.run_ok(Duration::from_secs(3600));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
    let corrupted = run.net.link_stats(0).corrupted + run.net.link_stats(1).corrupted;
    assert!(corrupted > 50, "corrupted {corrupted}");
    // Every corrupted packet was dropped by a checksum or a header check
    // (none slipped through: the bytes verified above are exact).
    let caught: u64 = (0..2)
        .map(|i| {
            let c = run.net.stack(i).counters();
            c.ip_bad_checksum
                + c.ip_malformed
                + c.ip_not_for_us
                + c.ip_fragments
                + c.ip_unsupported_protocol
                + c.tcp_bad_checksum
                + c.tcp_malformed
                + c.tcp_no_socket
        })
        .sum();
    assert_eq!(
        caught, corrupted,
        "each corrupted packet is caught exactly once"
    );
}

#[test]
fn sequence_space_wraps() {
    let mut run = pair_with(5, LinkConfig::default(), 1, 10 * MB, |cfg| {
        // Both ISNs a few megabytes below 2^32: the transfer crosses the wrap
        // in both directions.
        cfg.fixed_isn = Some(u32::MAX - if cfg.addr == A { 3_000_000 } else { 7_000_000 });
    });
    run.run_ok(Duration::from_secs(60));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
}

#[test]
fn thousand_concurrent_connections() {
    let mut run = pair(6, LinkConfig::default(), 1000, 20_000);
    run.run_ok(Duration::from_secs(600));
    assert_eq!(run.verified(), (1000 * 20_000, 1000 * 20_000));
    assert_eq!(run.net.app::<BulkPeer>(0).completed(), 1000);
    assert_eq!(run.net.app::<BulkPeer>(1).completed(), 1000);
}

#[test]
fn same_seed_same_run() {
    fn trace(seed: u64) -> (u64, u64, ringtcp::time::Instant) {
        let link = LinkConfig {
            loss: 0.02,
            reorder: 0.02,
            ..LinkConfig::default()
        };
        let mut run = pair(seed, link, 3, 300_000);
        run.run_ok(Duration::from_secs(600));
        (run.net.steps(), run.net.link_stats(0).sent, run.net.now())
    }
    assert_eq!(trace(77), trace(77));
    assert_ne!(trace(77), trace(78));
}

/// Both stacks as if on a device with offloads: partial checksums and TSO
/// super-segments of up to 64 KiB, which their links cut into MTU-sized
/// segments with complete checksums before the link's faults act on each.
fn tso(cfg: &mut StackConfig) {
    cfg.tcp.checksum_offload = true;
    cfg.tcp.tso_max = 65_535;
}

#[track_caller]
fn assert_segmented(run: &Run) {
    for node in 0..2 {
        let link = run.net.link_stats(node);
        let c = run.net.stack(node).counters();
        assert!(c.tx_super_packets > 0, "node {node}: {c:?}");
        assert!(link.segmented > c.tx_super_packets, "node {node}: {link:?}");
        assert_eq!(link.mtu_drops, 0, "node {node}: every segment fits");
    }
}

#[test]
fn tso_clean_link_10mb_each_way() {
    let mut run = pair_with(11, LinkConfig::default(), 1, 10 * MB, tso);
    run.run_ok(Duration::from_secs(60));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
    assert_segmented(&run);
    let t = run.net.stack(0).tcp_totals();
    assert_eq!(t.segments_retransmitted, 0, "{t:?}");
}

/// Super-segments through loss, reordering and duplication: SACK recovery,
/// pipe accounting and retransmission work on the segments the link
/// carries, not on the super-segments the stack built.
#[test]
fn tso_lossy_reordering_link() {
    let link = LinkConfig {
        loss: 0.02,
        reorder: 0.02,
        duplicate: 0.01,
        ..LinkConfig::default()
    };
    let mut run = pair_with(12, link, 2, 5 * MB, tso);
    run.run_ok(Duration::from_secs(3600));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
    assert_segmented(&run);
    assert!(run.net.link_stats(0).lost > 100);
    assert!(run.net.stack(0).tcp_totals().segments_retransmitted > 100);
}

/// A corrupted segment cut from a super-segment is caught by the checksum
/// the link completed.
#[test]
fn tso_corruption_caught_by_checksums() {
    let link = LinkConfig {
        corrupt: 0.01,
        ..LinkConfig::default()
    };
    let mut run = pair_with(13, link, 1, 5 * MB, tso);
    run.run_ok(Duration::from_secs(3600));
    assert_eq!(run.verified(), (5 * MB, 5 * MB));
    assert_segmented(&run);
    let caught: u64 = (0..2)
        .map(|n| {
            let c = run.net.stack(n).counters();
            c.tcp_bad_checksum + c.ip_bad_checksum
        })
        .sum();
    assert!(caught > 10, "corrupted segments were dropped: {caught}");
}

/// Across the 2^32 wrap with super-segments (the segments' sequence
/// numbers wrap inside one super-segment).
#[test]
fn tso_sequence_space_wraps() {
    let mut run = pair_with(14, LinkConfig::default(), 1, 10 * MB, |c| {
        tso(c);
        c.fixed_isn = Some(u32::MAX - 3_000_000);
    });
    run.run_ok(Duration::from_secs(60));
    assert_eq!(run.verified(), (10 * MB, 10 * MB));
    assert_segmented(&run);
}

/// RFC 1191: both ends offer MSS 1460, but the path carries 1280-byte
/// packets, and a router there answers bigger ones with "fragmentation
/// needed". Both directions find the path MTU and finish, with and without
/// TSO (whose super-segments the link cuts to the old segment size).
#[test]
fn path_mtu_discovery_through_a_narrow_router() {
    for tso in [false, true] {
        let link = LinkConfig {
            mtu: 1280,
            mtu_router: Some(Ipv4Addr::new(192, 0, 2, 254)),
            loss: 0.01,
            ..LinkConfig::default()
        };
        let mut run = pair_with(11, link, 2, 4 * MB, |c| {
            if tso {
                c.tcp.checksum_offload = true;
                c.tcp.tso_max = 65_535;
            }
        });
        run.run_ok(Duration::from_secs(600));
        assert_eq!(run.verified(), (8 * MB, 8 * MB), "tso {tso}");
        for node in 0..2 {
            let sent = run.net.link_stats(node).frag_needed_sent;
            let c = run.net.stack(node).counters();
            assert!(sent > 0, "node {node} never sent too big (tso {tso})");
            // Each connection learns once; later messages quote segments
            // sent before the size changed and change nothing.
            assert_eq!(c.icmp_path_mtu, 2, "node {node}, tso {tso}: {c:?}");
            let t = run.net.stack(node).tcp_totals();
            assert_eq!(t.pmtu_reductions, 2, "node {node}, tso {tso}");
        }
        for info in &run.net.app::<BulkPeer>(0).infos {
            assert_eq!(info.snd_mss, 1280 - 40, "tso {tso}");
        }
    }
}
