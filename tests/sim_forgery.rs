//! Whole-stack fuzzing through the simulator (the design's fourth test
//! layer): an attacker on the path forges segments from the ones it sees,
//! with valid checksums, so that they reach the TCP state machines rather
//! than the checksum check. Two stacks move data both ways meanwhile.
//!
//! - Forgeries a correct stack must shrug off: old or far-off ACKs, shrunk
//!   windows, SYNs, RSTs outside the window, garbage options, stale
//!   timestamps, lying SACK blocks, urgent pointers, duplicated data, ICMP
//!   errors of every code quoting segments in flight. The
//!   transfer must complete byte-exact, and both connection tables must
//!   empty afterwards.
//! - Anything at all (any flags, sequence and acknowledgment numbers,
//!   options): a blind attacker may legitimately reset or wedge a
//!   connection this way, so the properties are that no stack panics, no
//!   corrupt byte is ever delivered, no step loops without virtual time
//!   moving (the simulator's livelock check), and every forged segment is
//!   processed without breaking the stack's own checks (debug assertions
//!   are on in tests).
//!
//! `FORGERY_SEED=N` runs one seed of each kind, with a packet trace if
//! `SIM_TRACE` is set as well.

use ringtcp::sim::apps::{BulkPeer, Role};
use ringtcp::sim::{LinkConfig, Network, SimError};
use ringtcp::stack::StackConfig;
use ringtcp::stack::rand::Rng;
use ringtcp::time::Instant;
use ringtcp::wire::icmp::IcmpRepr;
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, PROTO_TCP};
use ringtcp::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, fill_checksum, parse_tcp};
use ringtcp::wire::{SeqNum, parse_ipv4};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PORT: u16 = 80;
/// Where forged ICMP comes from.
const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
/// Seeds per property; `FORGERY_SEEDS=N` runs N instead (a longer soak).
const SEEDS: u64 = 48;

/// What the attacker does to a segment it copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forgery {
    /// An acknowledgment older than the one seen, any window.
    OldAck,
    /// The same segment without data, advertising a smaller window.
    ShrunkWindow,
    /// A SYN (or SYN-ACK) with any sequence number, or at the segment's
    /// own place with a newer timestamp.
    Syn,
    /// A RST far outside any window.
    RstOutside,
    /// Random option bytes (never a timestamp option).
    GarbageOptions,
    /// The same segment with an older TSval, which PAWS must drop.
    StaleTimestamp,
    /// SACK blocks for data the receiver may not have: the sender must not
    /// trust them for good (RFC 2018 8, reneging).
    LyingSack,
    /// URG with any urgent pointer.
    Urgent,
    /// A prefix or a suffix of the segment's own data, at its own place.
    Duplicate,
    /// An ICMP destination unreachable of any code back to the sender,
    /// quoting the segment: a synchronized connection must not be torn
    /// down (RFC 5927 7), and "fragmentation needed" with any MTU only
    /// lowers the segment size.
    IcmpError,
    /// Any flags, sequence and acknowledgment numbers, window and options.
    Anything,
}

const HARMLESS: &[Forgery] = &[
    Forgery::OldAck,
    Forgery::ShrunkWindow,
    Forgery::Syn,
    Forgery::RstOutside,
    Forgery::GarbageOptions,
    Forgery::StaleTimestamp,
    Forgery::LyingSack,
    Forgery::Urgent,
    Forgery::Duplicate,
    Forgery::IcmpError,
];

/// Writes into `out` a forgery of `kind` made from `packet`, if `packet` is
/// a TCP segment. The result has valid IPv4 and TCP checksums.
fn forge(rng: &mut Rng, kind: Forgery, packet: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok((ip, payload)) = parse_ipv4(packet, false) else {
        return false;
    };
    let Ok(t) = parse_tcp(payload, ip.src, ip.dst, false) else {
        return false;
    };
    if kind == Forgery::IcmpError {
        let icmp = IcmpRepr::DestUnreachable {
            code: rng.gen_range(0..16u32) as u8,
            next_hop_mtu: if rng.gen_bool(0.5) {
                rng.gen_range(0..1500u32) as u16
            } else {
                0
            },
            original: &packet[..IPV4_HEADER_LEN + 8],
        };
        out.clear();
        out.resize(IPV4_HEADER_LEN + icmp.buffer_len(), 0);
        return icmp.emit_datagram(ROUTER, ip.src, 64, 0, out).is_ok();
    }
    let mut repr = TcpRepr {
        urgent: 0,
        payload: &[],
        ..t
    };
    // Option bytes to write over the emitted ones (GarbageOptions, and
    // sometimes Anything).
    let mut garbage = [0u8; 40];
    let mut garbage_len = 0;
    match kind {
        Forgery::OldAck => {
            repr.ack = t.ack - rng.gen_range(1..1u32 << 31);
            repr.window = rng.next_u32() as u16;
            repr.flags = TcpFlags(TcpFlags::ACK.0 | (rng.next_u32() as u8 & 0xc8));
        }
        Forgery::ShrunkWindow => {
            if !t.flags.ack() || t.flags.syn() {
                return false;
            }
            repr.window = rng.gen_range(0..u32::from(t.window) + 1) as u16;
            // Without the data, a FIN would end the stream early: an
            // attack, not noise.
            repr.flags = TcpFlags(t.flags.0 & !TcpFlags::FIN.0);
        }
        Forgery::Syn => {
            repr.flags = TcpFlags(TcpFlags::SYN.0 | (rng.next_u32() as u8 & TcpFlags::ACK.0));
            match t.options.timestamps {
                // At the segment's own place, with a newer timestamp: the
                // SYN is challenged, and must not move TS.Recent on, or
                // PAWS would drop everything the real peer sends after.
                Some((tsval, tsecr)) if rng.gen_bool(0.5) => {
                    let ahead = rng.gen_range(1..1u32 << 30);
                    repr.options.timestamps = Some((tsval.wrapping_add(ahead), tsecr));
                }
                _ => repr.seq = SeqNum(rng.next_u32()),
            }
        }
        Forgery::RstOutside => {
            // At least 2^30 away from anything this connection has sent or
            // will send in the run, either way round.
            let off = (1u32 << 30) + rng.gen_range(0..1u32 << 29);
            repr.seq = if rng.gen_bool(0.5) {
                t.seq + off
            } else {
                t.seq - off
            };
            repr.flags = TcpFlags(TcpFlags::RST.0 | (rng.next_u32() as u8 & TcpFlags::ACK.0));
        }
        Forgery::GarbageOptions => {
            repr.payload = t.payload;
            garbage_len = 4 * rng.gen_range(1..11);
            rng.fill_bytes(&mut garbage[..garbage_len]);
            for b in &mut garbage[..garbage_len] {
                if *b == 8 {
                    // A forged timestamp newer than the peer's own would
                    // be taken (RFC 7323 4.3): a blind attack that works
                    // on every TCP, so not one this property covers.
                    *b = 1;
                }
            }
        }
        Forgery::StaleTimestamp => {
            let Some((tsval, tsecr)) = t.options.timestamps else {
                return false;
            };
            repr.payload = t.payload;
            let back = rng.gen_range(1..1u32 << 30);
            repr.options.timestamps = Some((tsval.wrapping_sub(back), tsecr));
        }
        Forgery::LyingSack => {
            if !t.flags.ack() || t.flags.syn() {
                return false;
            }
            let n = rng.gen_range(1..4u32);
            let blocks: Vec<(SeqNum, SeqNum)> = (0..n)
                .map(|_| {
                    let start = t.ack + rng.gen_range(0..4u32 << 20) - (1 << 20);
                    (start, start + rng.gen_range(1..64 * 1024u32))
                })
                .collect();
            repr.options.set_sack(&blocks);
            repr.flags = TcpFlags(t.flags.0 & !TcpFlags::FIN.0);
        }
        Forgery::Urgent => {
            repr.payload = t.payload;
            repr.flags = TcpFlags(t.flags.0 | TcpFlags::URG.0);
            repr.urgent = rng.next_u32() as u16;
        }
        Forgery::Duplicate => {
            if t.payload.is_empty() {
                return false;
            }
            let cut = rng.gen_range(0..t.payload.len());
            if rng.gen_bool(0.5) {
                repr.payload = &t.payload[..cut.max(1)];
                repr.flags = TcpFlags(t.flags.0 & !TcpFlags::FIN.0);
            } else {
                repr.payload = &t.payload[cut..];
                repr.seq = t.seq + cut as u32;
                repr.flags = TcpFlags(t.flags.0 & !TcpFlags::SYN.0);
            }
        }
        Forgery::IcmpError => unreachable!("made above"),
        Forgery::Anything => {
            repr.flags = TcpFlags(rng.next_u32() as u8);
            repr.seq = match rng.gen_range(0..3u32) {
                0 => t.seq,
                1 => t.seq + rng.gen_range(0..1u32 << 21) - (1 << 20),
                _ => SeqNum(rng.next_u32()),
            };
            repr.ack = match rng.gen_range(0..3u32) {
                0 => t.ack,
                1 => t.ack + rng.gen_range(0..1u32 << 21) - (1 << 20),
                _ => SeqNum(rng.next_u32()),
            };
            repr.window = rng.next_u32() as u16;
            repr.urgent = rng.next_u32() as u16;
            if repr.seq == t.seq && rng.gen_bool(0.5) {
                // Its own bytes at their own place, so nothing it delivers
                // can be corrupt.
                repr.payload = &t.payload[..rng.gen_range(0..t.payload.len() + 1)];
            }
            let mut o = TcpOptions::default();
            if rng.gen_bool(0.3) {
                o.mss = Some(rng.next_u32() as u16);
            }
            if rng.gen_bool(0.3) {
                o.window_scale = Some(rng.gen_range(0..15));
            }
            o.sack_permitted = rng.gen_bool(0.3);
            if rng.gen_bool(0.5) {
                o.timestamps = Some((rng.next_u32(), rng.next_u32()));
            }
            if rng.gen_bool(0.3) {
                let s = t.ack + rng.next_u32() % (1 << 21) - (1 << 20);
                o.set_sack(&[(s, s + rng.next_u32() % 100_000)]);
            }
            repr.options = if rng.gen_bool(0.5) { o } else { t.options };
            if rng.gen_bool(0.2) {
                garbage_len = 4 * rng.gen_range(1..11);
                rng.fill_bytes(&mut garbage[..garbage_len]);
            }
        }
    }
    // The TCP header with room for the garbage options, if any.
    let options_len = if garbage_len > 0 {
        garbage_len
    } else {
        repr.options.encoded_len()
    };
    let tcp_len = 20 + options_len + repr.payload.len();
    out.clear();
    out.resize(IPV4_HEADER_LEN + tcp_len, 0);
    let ipr = Ipv4Repr {
        src: ip.src,
        dst: ip.dst,
        protocol: PROTO_TCP,
        payload_len: tcp_len,
        ttl: 64,
    };
    if ipr.emit(out, rng.next_u32() as u16).is_err() {
        return false;
    }
    let seg = &mut out[IPV4_HEADER_LEN..];
    if garbage_len > 0 {
        let plain = TcpRepr {
            options: TcpOptions::default(),
            ..repr
        };
        if plain.emit_header(seg).is_err() {
            return false;
        }
        seg[12] = ((5 + garbage_len / 4) as u8) << 4 | (seg[12] & 0x0f);
        seg[20..20 + garbage_len].copy_from_slice(&garbage[..garbage_len]);
        seg[20 + garbage_len..].copy_from_slice(repr.payload);
        fill_checksum(seg, ip.src, ip.dst);
        true
    } else {
        repr.emit(seg, ip.src, ip.dst).is_ok()
    }
}

/// Whether both ends of `packet`'s connection are surely synchronized and
/// neither can be in TIME-WAIT yet (both have sent data; FINs have not
/// been seen both ways, nor any RST), noting what `packet` shows. During
/// the handshake a forged SYN or RST, whatever its sequence number, is an
/// attack RFC 9293 does not defend against (a RST in SYN-SENT is checked by
/// its ACK field alone); so is a SYN in TIME-WAIT, which may open a new
/// connection. Harmless forgeries are made only in between.
fn synchronized(seen: &mut HashMap<u16, [bool; 5]>, from: usize, packet: &[u8]) -> bool {
    let Ok((ip, payload)) = parse_ipv4(packet, false) else {
        return false;
    };
    let Ok(t) = parse_tcp(payload, ip.src, ip.dst, false) else {
        return false;
    };
    let port = if from == 0 { t.src_port } else { t.dst_port };
    // [data from the client, from the server, FIN from the client, from
    // the server, RST]
    let e = seen.entry(port).or_default();
    if t.flags.syn() {
        // A new connection on this port starts afresh.
        *e = [false; 5];
        return false;
    }
    let side = from.min(1);
    e[side] |= !t.payload.is_empty();
    e[2 + side] |= t.flags.fin();
    e[4] |= t.flags.rst();
    e[0] && e[1] && !(e[2] && e[3]) && !e[4]
}

/// One seed's run: two stacks, data both ways, a path with its own faults,
/// and an attacker forging from a share of the packets.
struct Run {
    net: Network,
    bytes: (u64, u64),
    connections: usize,
    msl: Duration,
}

fn scenario(seed: u64, kinds: &'static [Forgery]) -> Run {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let connections = rng.gen_range(1..4);
    let up = rng.gen_range(1..400) * 1000;
    let down = rng.gen_range(1..400) * 1000;
    let msl = Duration::from_secs(rng.gen_range(1..10));
    let link = |rng: &mut Rng| LinkConfig {
        latency: Duration::from_micros(rng.gen_range(100..20_000)),
        loss: if rng.gen_bool(0.5) { 0.0 } else { 0.01 },
        reorder: if rng.gen_bool(0.5) { 0.0 } else { 0.01 },
        ..LinkConfig::default()
    };
    let config = |rng: &mut Rng, addr: Ipv4Addr| {
        let mut cfg = StackConfig::new(addr, rng.next_u64());
        cfg.tcp.msl = msl;
        cfg.tcp.sack = rng.gen_bool(0.8);
        cfg.tcp.timestamps = rng.gen_bool(0.8);
        cfg.tcp.window_scaling = rng.gen_bool(0.8);
        cfg.tcp.recv_buffer = 1 << rng.gen_range(14..23u32);
        if rng.gen_bool(0.3) {
            // Super-segments, cut to MTU size on the link before the
            // attacker sees them.
            cfg.tcp.checksum_offload = true;
            cfg.tcp.tso_max = 65_535;
        }
        cfg
    };
    let mut net = Network::new(seed);
    let (ca, la) = (config(&mut rng, A), link(&mut rng));
    let (cb, lb) = (config(&mut rng, B), link(&mut rng));
    net.add_node(
        ca,
        la,
        Box::new(BulkPeer::new(
            Role::Client {
                remote: SocketAddrV4::new(B, PORT),
                connections,
            },
            up,
            down,
        )),
    );
    net.add_node(
        cb,
        lb,
        Box::new(BulkPeer::new(
            Role::Server {
                port: PORT,
                connections,
            },
            down,
            up,
        )),
    );
    let rate = [0.02, 0.1, 0.3][rng.gen_range(0..3)];
    let mut frng = rng.fork();
    // Per connection (the client's port): what the forger has seen of it.
    let mut seen: HashMap<u16, [bool; 5]> = HashMap::new();
    let anything = kinds.contains(&Forgery::Anything);
    net.set_forger(move |_, from, packet, out| {
        if !anything && !synchronized(&mut seen, from, packet) {
            return false;
        }
        if !frng.gen_bool(rate) {
            return false;
        }
        let kind = kinds[frng.gen_range(0..kinds.len())];
        forge(&mut frng, kind, packet, out)
    });
    if std::env::var_os("SIM_TRACE").is_some() {
        net.set_tap(|now, from, bytes| {
            if let Ok((ip, p)) = parse_ipv4(bytes, false)
                && let Ok(t) = parse_tcp(p, ip.src, ip.dst, false)
            {
                eprintln!(
                    "{now} node{from} {:?} seq={} ack={} win={} len={} {:?}",
                    t.flags,
                    t.seq.0,
                    t.ack.0,
                    t.window,
                    t.payload.len(),
                    t.options
                );
            }
        });
    }
    Run {
        net,
        bytes: (up, down),
        connections,
        msl,
    }
}

fn summary(run: &Run) -> String {
    let net = &run.net;
    let app = |i| net.app::<BulkPeer>(i);
    format!(
        "at {}: {} connections, {:?} bytes; client completed {} verified {} errors {:?}; \
         server completed {} verified {} errors {:?}; forged {} + {}; client {:?}; server {:?}",
        net.now(),
        run.connections,
        run.bytes,
        app(0).completed(),
        app(0).bytes_verified,
        &app(0).errors[..app(0).errors.len().min(3)],
        app(1).completed(),
        app(1).bytes_verified,
        &app(1).errors[..app(1).errors.len().min(3)],
        net.link_stats(0).forged,
        net.link_stats(1).forged,
        net.stack(0).counters(),
        net.stack(1).counters(),
    )
}

/// Harmless forgeries: the transfer completes byte-exact, and the tables
/// empty once TIME-WAIT is over.
fn check_harmless(seed: u64) -> Result<u64, String> {
    let kinds: &'static [Forgery] = match std::env::var("FORGERY_KIND").ok().as_deref() {
        Some(k) => Box::leak(
            HARMLESS
                .iter()
                .copied()
                .filter(|f| format!("{f:?}") == k)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        ),
        None => HARMLESS,
    };
    let mut run = scenario(seed, kinds);
    let res = run.net.run(Duration::from_secs(3600));
    if let Err(e) = res {
        return Err(format!("run failed: {e}; {}", summary(&run)));
    }
    let n = run.connections as u64;
    let (c, s) = (run.net.app::<BulkPeer>(0), run.net.app::<BulkPeer>(1));
    if !c.errors.is_empty()
        || !s.errors.is_empty()
        || c.completed() != run.connections
        || s.completed() != run.connections
        || c.bytes_verified != n * run.bytes.1
        || s.bytes_verified != n * run.bytes.0
    {
        return Err(format!("transfer broken; {}", summary(&run)));
    }
    let deadline = run.net.now() + 4 * run.msl + Duration::from_secs(600);
    let emptied = run.net.run_until(deadline - Instant::ZERO, |net| {
        net.stack(0).connection_count() == 0 && net.stack(1).connection_count() == 0
    });
    if let Err(e) = emptied {
        return Err(format!(
            "connection tables did not empty ({} and {}): {e}; {}",
            run.net.stack(0).connection_count(),
            run.net.stack(1).connection_count(),
            summary(&run)
        ));
    }
    Ok(forged(&run))
}

/// Anything forged: no panic, no corrupt byte, no livelock.
fn check_anything(seed: u64) -> Result<u64, String> {
    let mut all: Vec<Forgery> = HARMLESS.to_vec();
    all.extend(std::iter::repeat_n(Forgery::Anything, HARMLESS.len()));
    let kinds: &'static [Forgery] = Box::leak(all.into_boxed_slice());
    let mut run = scenario(seed, kinds);
    match run.net.run(Duration::from_secs(3600)) {
        // A blind attacker may wedge a connection (an acknowledgment for
        // data never delivered, a FIN in the middle of the stream), after
        // which nothing is left to happen, or the apps wait past the
        // deadline: both legitimate.
        Ok(()) | Err(SimError::Stalled { .. }) | Err(SimError::Deadline { .. }) => {}
        Err(e) => return Err(format!("run failed: {e}; {}", summary(&run))),
    }
    for i in 0..2 {
        if let Some(e) = run
            .net
            .app::<BulkPeer>(i)
            .errors
            .iter()
            .find(|e| e.contains("corrupt"))
        {
            return Err(format!("{e}; {}", summary(&run)));
        }
    }
    Ok(forged(&run))
}

fn forged(run: &Run) -> u64 {
    run.net.link_stats(0).forged + run.net.link_stats(1).forged
}

/// Runs every seed, then fails listing each seed that failed; the seeds
/// together must have forged something.
fn run_seeds(check: fn(u64) -> Result<u64, String>, seeds: impl Iterator<Item = u64>) {
    let mut failed = Vec::new();
    let mut total = 0;
    for seed in seeds {
        match check(seed) {
            Ok(n) => total += n,
            Err(e) => failed.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(total > 0, "nothing was forged");
    eprintln!("{total} segments forged");
}

fn env_seed() -> Option<u64> {
    std::env::var("FORGERY_SEED")
        .ok()
        .map(|s| s.parse().expect("FORGERY_SEED is a number"))
}

fn seeds(first: u64) -> std::ops::Range<u64> {
    if let Some(seed) = env_seed() {
        return seed..seed + 1;
    }
    let n = std::env::var("FORGERY_SEEDS")
        .ok()
        .map_or(SEEDS, |s| s.parse().expect("FORGERY_SEEDS is a number"));
    first..first + n
}

#[test]
fn harmless_forgeries_never_break_a_transfer() {
    run_seeds(check_harmless, seeds(0));
}

#[test]
fn arbitrary_forgeries_never_panic_or_corrupt() {
    run_seeds(check_anything, seeds(1_000_000));
}
