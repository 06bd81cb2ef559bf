//! Randomised simulation properties: many seeded scenarios over two stacks.
//!
//! Each seed picks a scenario (link faults, latency, bandwidth, connection
//! count, bytes each way, ISNs near the 2^32 wrap, buffer sizes, Nagle) with
//! the crate's own seeded [`Rng`], so a seed alone reproduces a run. The
//! properties checked for every scenario:
//!
//! - every connection completes and moves its bytes exactly, both ways;
//! - no application sees an error;
//! - every corrupted packet is dropped by a header or checksum check;
//! - once both sides are done, the connection tables empty no sooner than
//!   2 * MSL later (TIME-WAIT lasts) and not much after it (nothing leaks),
//!   and then nothing is left to happen (no packet, no timer).
//!
//! "Not much after" is [`CLOSE_MARGIN`]. These runs found bug "phantom FIN"
//! (see [`regression_close_reaches_time_wait`]), whose seeds stay pinned.
//!
//! Reproduce one seed with
//! `SIM_SEED=17 cargo test --test sim_props one_seed_from_env -- --nocapture`
//! (add `SIM_TRACE=1` to print every packet put on a link), and hunt wider
//! with `SIM_SEEDS=256..4000 cargo test --test sim_props seed_range_from_env`.

use ringtcp::sim::apps::{BulkPeer, Role};
use ringtcp::sim::{LinkConfig, Network, SimError};
use ringtcp::stack::rand::Rng;
use ringtcp::stack::{Counters, StackConfig};
use ringtcp::time::Instant;
use ringtcp::wire::{parse_ipv4, tcp::parse_tcp};
use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PORT: u16 = 80;

/// Seeds the main property runs (split over two tests to use two cores).
const SEEDS: u64 = 256;

/// How long the applications may take, in virtual time.
const RUN_DEADLINE: Duration = Duration::from_secs(3600);

/// Virtual time allowed past 2 * MSL for the tables to empty: a FIN in
/// LAST-ACK lost and retransmitted a few times with backoff, TIME-WAIT
/// restarted by each copy.
const CLOSE_MARGIN: Duration = Duration::from_secs(60);

/// One side's settings.
#[derive(Debug, Clone)]
struct Side {
    link: LinkConfig,
    send_buffer: usize,
    recv_buffer: usize,
    nodelay: bool,
    fixed_isn: Option<u32>,
    /// As if on a device with offloads: TSO super-segments, cut into
    /// segments by the node's link.
    tso: bool,
}

/// Everything a seed decides.
#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    connections: usize,
    /// Bytes the client sends on each connection.
    client_bytes: u64,
    /// Bytes the server sends on each connection.
    server_bytes: u64,
    msl: Duration,
    client: Side,
    server: Side,
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.gen_bool(p)
}

/// A probability in `[0, max]`, zero half of the time.
fn fault(rng: &mut Rng, max: f64) -> f64 {
    if chance(rng, 0.5) {
        0.0
    } else {
        max * rng.gen_range(0..1_000_001u64) as f64 / 1_000_000.0
    }
}

/// Log-uniform in `[lo, hi)`.
fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    let u = rng.gen_range(0..1_000_000u64) as f64 / 1_000_000.0;
    (lo.ln() + u * (hi.ln() - lo.ln())).exp()
}

fn bytes(rng: &mut Rng) -> u64 {
    match rng.gen_range(0..20u32) {
        0..=1 => 0,
        2 => 1,
        3..=4 => rng.gen_range(2..64u64),
        5..=7 => rng.gen_range(64..4_096u64),
        8..=9 => 300_000,
        _ => rng.gen_range(4_096..300_001u64),
    }
}

fn buffer(rng: &mut Rng) -> usize {
    // 4 KiB to 1 MiB, log-uniform; a third of them exact powers of two.
    let exp = rng.gen_range(12..21u32);
    if exp == 20 || chance(rng, 1.0 / 3.0) {
        1 << exp
    } else {
        (1usize << exp) + rng.gen_range(0..1usize << exp)
    }
}

fn link(rng: &mut Rng) -> LinkConfig {
    let bandwidth_bps = if chance(rng, 0.4) {
        Some(log_uniform(rng, 1e6, 1e10) as u64)
    } else {
        None
    };
    LinkConfig {
        latency: Duration::from_micros(rng.gen_range(100..20_001u64)),
        bandwidth_bps,
        queue_bytes: if chance(rng, 0.5) {
            1 << 20
        } else {
            rng.gen_range(16_384..(1 << 20) + 1usize)
        },
        // Now and then a narrower hop, whose router answers oversize
        // packets with "fragmentation needed" (RFC 1191).
        mtu: if chance(rng, 0.2) {
            rng.gen_range(576..1500usize)
        } else {
            1500
        },
        mtu_router: Some(Ipv4Addr::new(192, 0, 2, 254)),
        loss: fault(rng, 0.05),
        reorder: fault(rng, 0.05),
        reorder_delay: Duration::from_micros(rng.gen_range(1_000..5_001u64)),
        duplicate: fault(rng, 0.02),
        corrupt: fault(rng, 0.01),
    }
}

impl Scenario {
    fn from_seed(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed ^ 0x5ce7_a810_5eed_0001);
        let connections = match rng.gen_range(0..4u32) {
            0 => 1,
            _ => rng.gen_range(1..21usize),
        };
        let client_bytes = bytes(&mut rng);
        let server_bytes = bytes(&mut rng);
        let msl = match rng.gen_range(0..3u32) {
            0 => Duration::from_secs(1),
            1 => Duration::from_secs(5),
            _ => Duration::from_secs(30),
        };
        let side = |rng: &mut Rng, sends: u64| Side {
            link: link(rng),
            send_buffer: buffer(rng),
            recv_buffer: buffer(rng),
            nodelay: chance(rng, 0.5),
            // Below the wrap by less than what the side sends on one
            // connection, so the transfer crosses it.
            fixed_isn: chance(rng, 0.3)
                .then(|| u32::MAX - rng.gen_range(0..sends.min(u64::from(u32::MAX)) + 2) as u32),
            tso: false,
        };
        let mut client = side(&mut rng, client_bytes);
        let mut server = side(&mut rng, server_bytes);
        // Offloads from a generator of their own, so that every other
        // choice a seed made before they existed stays the same.
        let mut off = Rng::new(seed ^ 0x0ff1_0ad5_0ff1_0ad5);
        client.tso = chance(&mut off, 0.5);
        server.tso = chance(&mut off, 0.5);
        Scenario {
            seed,
            connections,
            client_bytes,
            server_bytes,
            msl,
            client,
            server,
        }
    }

    fn config(&self, side: &Side, addr: Ipv4Addr, salt: u64) -> StackConfig {
        let mut cfg =
            StackConfig::new(addr, self.seed.wrapping_mul(0x9e37_79b9).wrapping_add(salt));
        cfg.tcp.send_buffer = side.send_buffer;
        cfg.tcp.recv_buffer = side.recv_buffer;
        cfg.tcp.nodelay = side.nodelay;
        cfg.tcp.msl = self.msl;
        cfg.fixed_isn = side.fixed_isn;
        if side.tso {
            cfg.tcp.checksum_offload = true;
            cfg.tcp.tso_max = 65_535;
        }
        cfg
    }

    /// The network with the client at node 0 and the server at node 1.
    fn network(&self) -> Network {
        self.network_with(self.seed)
    }

    /// [`Scenario::network`] with another seed for the fault injector only.
    fn network_with(&self, net_seed: u64) -> Network {
        let mut net = Network::new(net_seed);
        net.add_node(
            self.config(&self.client, A, 1),
            self.client.link.clone(),
            Box::new(BulkPeer::new(
                Role::Client {
                    remote: SocketAddrV4::new(B, PORT),
                    connections: self.connections,
                },
                self.client_bytes,
                self.server_bytes,
            )),
        );
        net.add_node(
            self.config(&self.server, B, 2),
            self.server.link.clone(),
            Box::new(BulkPeer::new(
                Role::Server {
                    port: PORT,
                    connections: self.connections,
                },
                self.server_bytes,
                self.client_bytes,
            )),
        );
        net
    }
}

/// Prints every packet put on a link, one line each.
fn trace_to_stderr(net: &mut Network) {
    net.set_tap(|now, from, bytes| {
        let Ok((ip, payload)) = parse_ipv4(bytes, false) else {
            eprintln!("{now} node{from} unparsable IPv4 ({} bytes)", bytes.len());
            return;
        };
        match parse_tcp(payload, ip.src, ip.dst, false) {
            Ok(t) => eprintln!(
                "{now} node{from} {}:{} > {}:{} {:?} seq={} ack={} win={} len={} sack={:?}",
                ip.src,
                t.src_port,
                ip.dst,
                t.dst_port,
                t.flags,
                t.seq.0,
                t.ack.0,
                t.window,
                t.payload.len(),
                &t.options.sack_blocks[..usize::from(t.options.sack_count)]
                    .iter()
                    .map(|(l, r)| (l.0, r.0))
                    .collect::<Vec<_>>(),
            ),
            Err(e) => eprintln!("{now} node{from} unparsable TCP: {e:?}"),
        }
    });
}

/// Packets a stack dropped as damaged. A single flipped bit always fails a
/// header check or a checksum, so none of them reaches a connection.
fn damaged(c: &Counters) -> u64 {
    c.ip_bad_checksum
        + c.ip_malformed
        + c.ip_fragments
        + c.ip_unsupported_protocol
        + c.tcp_bad_checksum
        + c.tcp_malformed
}

/// Runs a scenario and checks every property; the error says what failed.
fn check(sc: &Scenario, trace: bool) -> Result<Network, String> {
    let mut net = sc.network();
    if trace {
        trace_to_stderr(&mut net);
    }
    let res = net.run(RUN_DEADLINE);
    let client = net.app::<BulkPeer>(0);
    let server = net.app::<BulkPeer>(1);
    let summary = |net: &Network| {
        format!(
            "at {}: client completed {}/{} verified {} errors {:?}; server completed {}/{} \
             verified {} errors {:?}; client {:?} {:?}; server {:?} {:?}",
            net.now(),
            net.app::<BulkPeer>(0).completed(),
            sc.connections,
            net.app::<BulkPeer>(0).bytes_verified,
            &net.app::<BulkPeer>(0).errors[..net.app::<BulkPeer>(0).errors.len().min(4)],
            net.app::<BulkPeer>(1).completed(),
            sc.connections,
            net.app::<BulkPeer>(1).bytes_verified,
            &net.app::<BulkPeer>(1).errors[..net.app::<BulkPeer>(1).errors.len().min(4)],
            net.stack(0).counters(),
            net.link_stats(0),
            net.stack(1).counters(),
            net.link_stats(1),
        )
    };
    if let Err(e) = res {
        return Err(format!("run failed: {e}; {}", summary(&net)));
    }
    if !client.errors.is_empty() || !server.errors.is_empty() {
        return Err(format!("application errors; {}", summary(&net)));
    }
    let n = sc.connections as u64;
    if client.completed() != sc.connections
        || server.completed() != sc.connections
        || client.bytes_verified != n * sc.server_bytes
        || server.bytes_verified != n * sc.client_bytes
    {
        return Err(format!("incomplete transfer; {}", summary(&net)));
    }

    // TIME-WAIT: a side enters it only after both sides have seen each
    // other's FIN, so no sooner than the later of the two finishing times,
    // and it lasts 2 * MSL.
    let done_at = client
        .finished_at
        .max(server.finished_at)
        .expect("both finished");
    let earliest = done_at + 2 * sc.msl;
    let latest = earliest + CLOSE_MARGIN;
    let mut emptied_at = None;
    let res = net.run_until(latest - Instant::ZERO, |net| {
        if net.stack(0).connection_count() == 0 && net.stack(1).connection_count() == 0 {
            emptied_at = Some(net.now());
            true
        } else {
            false
        }
    });
    if let Err(e) = res {
        return Err(format!(
            "connection tables did not empty (client {}, server {}) by done {done_at} + 2 * MSL + \
             {:?}: {e}; {}",
            net.stack(0).connection_count(),
            net.stack(1).connection_count(),
            CLOSE_MARGIN,
            summary(&net)
        ));
    }
    let emptied_at = emptied_at.expect("stopped when empty");
    if emptied_at < earliest {
        return Err(format!(
            "connection tables emptied at {emptied_at}, before done {done_at} + 2 * MSL; {}",
            summary(&net)
        ));
    }
    // Then nothing may be left to happen: no packet, no timer.
    let idle_deadline = net.now() + Duration::from_secs(3600);
    match net.run_until(idle_deadline - Instant::ZERO, |_| false) {
        Err(SimError::Stalled { .. }) => {}
        other => {
            return Err(format!(
                "stacks still busy after the tables emptied: {other:?}; {}",
                summary(&net)
            ));
        }
    }
    let corrupted = net.link_stats(0).corrupted + net.link_stats(1).corrupted;
    let caught = damaged(net.stack(0).counters()) + damaged(net.stack(1).counters());
    if caught != corrupted {
        return Err(format!(
            "{corrupted} packets corrupted, {caught} dropped as damaged; {}",
            summary(&net)
        ));
    }
    Ok(net)
}

#[track_caller]
fn assert_seed(seed: u64) {
    let sc = Scenario::from_seed(seed);
    if let Err(e) = check(&sc, false) {
        panic!("seed {seed} failed: {e}\nscenario: {sc:#?}");
    }
}

/// Runs every seed in `seeds`, then fails listing each seed that failed.
fn run_seeds(seeds: impl Iterator<Item = u64>) {
    let mut failed = Vec::new();
    let mut count = 0;
    let mut pmtu = 0;
    let mut lost_rtx = 0;
    let mut timeouts = 0;
    for seed in seeds {
        count += 1;
        let sc = Scenario::from_seed(seed);
        match check(&sc, false) {
            Ok(net) => {
                pmtu += (0..2)
                    .map(|i| net.stack(i).counters().icmp_path_mtu)
                    .sum::<u64>();
                lost_rtx += (0..2)
                    .map(|i| net.stack(i).tcp_totals().lost_retransmits)
                    .sum::<u64>();
                timeouts += (0..2)
                    .map(|i| net.stack(i).tcp_totals().timeouts)
                    .sum::<u64>();
            }
            Err(e) => {
                if failed.len() < 8 {
                    eprintln!("seed {seed} failed: {e}\nscenario: {sc:?}\n");
                }
                failed.push(seed);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {count} seeds failed: {failed:?} (rerun one with SIM_SEED=<seed> cargo test \
         --test sim_props one_seed_from_env -- --nocapture)",
        failed.len()
    );
    // The narrow hops were there and were found; retransmissions were lost
    // and found lost.
    eprintln!(
        "{count} seeds: {pmtu} path MTU reductions, {lost_rtx} lost retransmissions found, \
         {timeouts} retransmission timeouts"
    );
    assert!(
        count < 16 || pmtu > 0,
        "no path MTU was lowered in {count} seeds"
    );
    assert!(
        count < 16 || lost_rtx > 0,
        "no lost retransmission was found in {count} seeds"
    );
}

#[test]
fn random_scenarios_first_half() {
    run_seeds(0..SEEDS / 2);
}

#[test]
fn random_scenarios_second_half() {
    run_seeds(SEEDS / 2..SEEDS);
}

/// Runs the seed in `SIM_SEED` with the strict close bound (with a packet
/// trace if `SIM_TRACE` is set); passes trivially without it.
#[test]
fn one_seed_from_env() {
    let Some(seed) = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    let sc = Scenario::from_seed(seed);
    eprintln!("scenario: {sc:#?}");
    let trace = std::env::var_os("SIM_TRACE").is_some();
    if let Err(e) = check(&sc, trace) {
        panic!("seed {seed} failed: {e}");
    }
}

// ----- regressions -------------------------------------------------------------

/// The simplest close: one connection, one byte each way, a clean link.
fn minimal_close() -> Scenario {
    let side = Side {
        link: LinkConfig::default(),
        send_buffer: 4096,
        recv_buffer: 4096,
        nodelay: false,
        fixed_isn: None,
        tso: false,
    };
    Scenario {
        seed: 1,
        connections: 1,
        client_bytes: 1,
        server_bytes: 1,
        msl: Duration::from_secs(1),
        client: side.clone(),
        server: side,
    }
}

/// Regression for bug "phantom FIN", fixed (src/tcp/tcb.rs, `Tcb::fin_seq`
/// and `our_fin_acked`). It was: the FIN's sequence
/// number is computed as `data_start() + send_buf.len()`, and `data_start()`
/// is SND.UNA. Once the ACK of the FIN arrives, SND.UNA = FIN + 1 and the
/// buffer is empty, so `fin_seq()` says FIN + 1. Then `fin_acked()`
/// (`snd_una > fin_seq()`) can never be true, so FIN-WAIT-1, CLOSING and
/// LAST-ACK never move on (TIME-WAIT is never entered), and `poll_data` finds
/// `snd_nxt <= fin_seq()` and sends a second FIN at FIN + 1. The peer has
/// already taken the first FIN, so it only ever acknowledges FIN + 1; the
/// second FIN is retransmitted with backoff until `max_retries` runs out,
/// some 460 s later, and the connection fails with TimedOut out of sight (the
/// handle was released). Trace of this scenario, client port 51xxx:
/// `FIN|PSH|ACK seq=S len=1` then, after the ACK of S+2, `FIN|ACK seq=S+2`
/// retransmitted at 0.2, 0.6, 1.4, ... s.
#[test]
fn regression_close_reaches_time_wait() {
    let sc = minimal_close();
    if let Err(e) = check(&sc, false) {
        panic!("{e}");
    }
}

/// Phantom FIN on both sides after a lost FIN and an RTO (client link 1.4%
/// loss): each side acknowledges the other's first FIN and never the second.
#[test]
fn regression_seed_32() {
    assert_seed(32);
}

/// Phantom FIN with ISNs at the 2^32 wrap: the client's FIN sits at
/// sequence 0, its second FIN at 1.
#[test]
fn regression_seed_0() {
    assert_seed(0);
}

/// Runs the seeds in `SIM_SEEDS` (`start..end`) with the strict close bound,
/// for longer hunts than CI affords; passes trivially without it.
#[test]
fn seed_range_from_env() {
    let Some(range) = std::env::var("SIM_SEEDS").ok() else {
        return;
    };
    let (start, end) = range
        .split_once("..")
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .expect("SIM_SEEDS=start..end");
    run_seeds(start..end);
}

/// The generator covers the corners the properties are about.
#[test]
fn scenarios_cover_the_corners() {
    let all: Vec<Scenario> = (0..SEEDS).map(Scenario::from_seed).collect();
    let any = |f: &dyn Fn(&Scenario) -> bool| all.iter().any(f);
    assert!(any(&|s| s.client_bytes == 0 && s.server_bytes > 0));
    assert!(any(&|s| s.server_bytes == 0 && s.client_bytes > 0));
    assert!(any(&|s| s.client_bytes == 1 || s.server_bytes == 1));
    assert!(any(&|s| s.client_bytes == 300_000));
    assert!(any(&|s| s.connections == 1));
    assert!(any(&|s| s.connections == 20));
    assert!(any(
        &|s| s.client.fixed_isn.is_some() && s.client_bytes > 100_000
    ));
    assert!(any(&|s| s
        .client
        .link
        .bandwidth_bps
        .is_some_and(|b| b < 2_000_000)));
    assert!(any(&|s| s
        .client
        .link
        .bandwidth_bps
        .is_some_and(|b| b > 5_000_000_000)));
    assert!(any(&|s| s.client.recv_buffer == 4096));
    assert!(any(&|s| s.server.send_buffer == 1 << 20));
    assert!(any(&|s| s.client.nodelay && !s.server.nodelay));
    assert!(any(&|s| s.client.tso
        && s.server.tso
        && s.client.link.loss > 0.01));
    assert!(any(&|s| s.client.tso != s.server.tso));
    assert!(any(&|s| !s.client.tso && !s.server.tso));
    assert!(any(
        &|s| s.client.link.loss > 0.04 && s.server.link.reorder > 0.04
    ));
    assert!(any(
        &|s| s.client.link.corrupt > 0.0 && s.client.link.duplicate > 0.0
    ));
    for s in &all {
        for side in [&s.client, &s.server] {
            let l = &side.link;
            assert!((0.0..=0.05).contains(&l.loss));
            assert!((0.0..=0.05).contains(&l.reorder));
            assert!((0.0..=0.02).contains(&l.duplicate));
            assert!((0.0..=0.01).contains(&l.corrupt));
            assert!(
                l.latency >= Duration::from_micros(100) && l.latency <= Duration::from_millis(20)
            );
            assert!((4096..=1 << 20).contains(&side.send_buffer));
            assert!((4096..=1 << 20).contains(&side.recv_buffer));
        }
        assert!((1..=20).contains(&s.connections));
        assert!(s.client_bytes <= 300_000 && s.server_bytes <= 300_000);
    }
}

// ----- determinism -------------------------------------------------------------

/// A running FNV-1a hash over (time, node, bytes) of every packet put on a
/// link, and the packet count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WireDigest {
    hash: u64,
    packets: u64,
}

impl WireDigest {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(Self::FNV_PRIME);
        }
    }
}

/// Runs `net` to completion and digests its wire traffic; the digest, the
/// steps taken and the final virtual time.
fn wire_digest(mut net: Network) -> (WireDigest, u64, Instant) {
    let state = Rc::new(RefCell::new(WireDigest {
        hash: WireDigest::FNV_OFFSET,
        packets: 0,
    }));
    let tap_state = Rc::clone(&state);
    net.set_tap(move |now, from, bytes| {
        let mut d = tap_state.borrow_mut();
        d.add(&now.total_micros().to_le_bytes());
        d.add(&(from as u64).to_le_bytes());
        d.add(&(bytes.len() as u64).to_le_bytes());
        d.add(bytes);
        d.packets += 1;
    });
    net.run(RUN_DEADLINE).expect("scenario completes");
    let digest = *state.borrow();
    (digest, net.steps(), net.now())
}

/// Seeds with loss and reordering on both links and data both ways, so that
/// the fault injector's choices shape the run.
fn faulty_seeds() -> impl Iterator<Item = u64> {
    (0..SEEDS).filter(|&s| {
        let sc = Scenario::from_seed(s);
        [&sc.client.link, &sc.server.link]
            .iter()
            .all(|l| l.loss > 0.0 && l.reorder > 0.0)
            && sc.client_bytes > 10_000
            && sc.server_bytes > 10_000
    })
}

#[test]
fn same_seed_same_packets_bit_for_bit() {
    let seeds: Vec<u64> = faulty_seeds().take(3).collect();
    assert_eq!(seeds.len(), 3, "enough faulty scenarios");
    let first: Vec<_> = seeds
        .iter()
        .map(|&s| wire_digest(Scenario::from_seed(s).network()))
        .collect();
    for (&seed, d) in seeds.iter().zip(&first) {
        assert!(
            d.0.packets > 100,
            "seed {seed} sent only {} packets",
            d.0.packets
        );
        let again = wire_digest(Scenario::from_seed(seed).network());
        assert_eq!(&again, d, "seed {seed} did not reproduce");
    }
    for i in 0..first.len() {
        for j in i + 1..first.len() {
            assert_ne!(
                first[i].0, first[j].0,
                "seeds {} and {}",
                seeds[i], seeds[j]
            );
        }
    }
}

#[test]
fn different_network_seed_different_packets() {
    // The same scenario and stacks; only the fault injector's seed differs.
    let sc = Scenario::from_seed(faulty_seeds().next().expect("a faulty scenario"));
    let base = wire_digest(sc.network_with(sc.seed));
    assert_eq!(wire_digest(sc.network_with(sc.seed)), base);
    let other = wire_digest(sc.network_with(sc.seed ^ 0xdead_beef));
    assert_ne!(other.0, base.0);
}
