//! Seed corpora for every target, made from real traffic rather than kept
//! as files: the wire targets' from the packets of a simulated transfer
//! (loss and reordering, so SACK blocks and retransmissions appear) and a
//! few ICMP messages quoting them; the stack target's from the packets the
//! fixture's peer would send next (see
//! [`Fixture::peer_packets`](crate::stack_harness::Fixture)), alone and
//! together, plus fragments, ICMP errors, offload frames and application
//! commands around them.
//!
//! `scripts/fuzz.sh` writes them into `fuzz/corpus/<target>/` before each
//! run (through `tests/fuzz_harness.rs`), so they always match the code:
//! a change to ISNs or options changes the seeds with it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use ringtcp::sim::apps::{BulkPeer, Role};
use ringtcp::sim::{LinkConfig, Network};
use ringtcp::stack::StackConfig;
use ringtcp::wire::icmp::{FRAG_NEEDED, IcmpRepr, PORT_UNREACHABLE};
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, parse_ipv4};
use ringtcp::wire::tcp::parse_tcp;
use ringtcp::wire::{VNET_HDR_LEN, VnetHdr};

use crate::stack_harness::{A, B, Fixture, op, push_record};

/// A named input.
pub type Seed = (String, Vec<u8>);

/// The seeds of each target: `(target, seeds)`.
pub fn all() -> Vec<(&'static str, Vec<Seed>)> {
    let packets = simulated_packets();
    let mut ipv4 = Vec::new();
    let mut tcp = Vec::new();
    for (name, p) in &packets {
        ipv4.push((name.clone(), p.clone()));
        tcp.push((name.clone(), p[IPV4_HEADER_LEN..].to_vec()));
    }
    let icmp_datagrams = icmp_messages(&packets[0].1);
    let mut icmp = Vec::new();
    for (name, d) in &icmp_datagrams {
        ipv4.push((name.clone(), d.clone()));
        icmp.push((name.clone(), d[IPV4_HEADER_LEN..].to_vec()));
    }
    vec![
        ("ipv4", ipv4),
        ("tcp", tcp),
        ("icmp", icmp),
        ("stack", stack_seeds()),
    ]
}

/// Writes every target's seeds into `dir/<target>/seed-<name>`.
pub fn write(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for (target, seeds) in all() {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        for (name, bytes) in seeds {
            std::fs::write(d.join(format!("seed-{name}")), bytes)?;
            n += 1;
        }
    }
    Ok(n)
}

/// The shape of a TCP segment, to keep one packet of each: flags, the
/// option kinds in order, and whether it has data.
type Shape = (u8, Vec<u8>, bool);

fn shape(packet: &[u8]) -> Option<Shape> {
    let (ip, payload) = parse_ipv4(packet, false).ok()?;
    let seg = parse_tcp(payload, ip.src, ip.dst, false).ok()?;
    let header_len = usize::from(payload[12] >> 4) * 4;
    let mut kinds = Vec::new();
    let mut opts = &payload[20..header_len];
    while let Some((&k, rest)) = opts.split_first() {
        kinds.push(k);
        opts = match k {
            0 | 1 => rest,
            _ => opts.get(usize::from(*rest.first()?)..)?,
        };
    }
    Some((seg.flags.0, kinds, !seg.payload.is_empty()))
}

/// One packet of each shape from a simulated bulk transfer both ways over
/// a lossy, reordering link: handshake, data, SACK, window updates, FINs.
/// The first is a data segment.
fn simulated_packets() -> Vec<Seed> {
    let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
    let link = LinkConfig {
        loss: 0.03,
        reorder: 0.05,
        ..LinkConfig::default()
    };
    let mut net = Network::new(7);
    let client = Role::Client {
        remote: SocketAddrV4::new(b, 80),
        connections: 2,
    };
    let server = Role::Server {
        port: 80,
        connections: 2,
    };
    const BYTES: u64 = 200_000;
    net.add_node(
        StackConfig::new(a, 11),
        link.clone(),
        Box::new(BulkPeer::new(client, BYTES, BYTES)),
    );
    net.add_node(
        StackConfig::new(b, 13),
        link,
        Box::new(BulkPeer::new(server, BYTES, BYTES)),
    );
    let seen: Rc<RefCell<BTreeMap<Shape, Vec<u8>>>> = Rc::default();
    let tap = seen.clone();
    net.set_tap(move |_, _, p| {
        if let Some(s) = shape(p) {
            tap.borrow_mut().entry(s).or_insert_with(|| p.to_vec());
        }
    });
    net.run(Duration::from_secs(120))
        .expect("the seed transfer completes");
    let seen = seen.borrow();
    let mut out: Vec<Seed> = Vec::new();
    // A data segment first: the ICMP seeds quote it.
    let mut entries: Vec<_> = seen.iter().collect();
    entries.sort_by_key(|((_, _, data), _)| !*data);
    for (i, ((flags, kinds, data), p)) in entries.into_iter().enumerate() {
        let name = format!(
            "sim-{i:02}-flags{flags:02x}-opts{}{}",
            kinds.len(),
            if *data { "-data" } else { "" }
        );
        out.push((name, p.clone()));
    }
    out
}

/// Whole IPv4 datagrams with ICMP messages: echo request and reply, and
/// destination unreachables of several codes quoting `quoted`'s first 28
/// bytes (RFC 792) or all of it (RFC 1812).
fn icmp_messages(quoted: &[u8]) -> Vec<Seed> {
    let (ip, _) = parse_ipv4(quoted, false).expect("a simulated packet");
    let router = Ipv4Addr::new(192, 0, 2, 254);
    let mut out = Vec::new();
    let mut push = |name: &str, dst: Ipv4Addr, m: IcmpRepr| {
        let mut buf = vec![0u8; IPV4_HEADER_LEN + m.buffer_len()];
        let n = m.emit_datagram(router, dst, 64, 0, &mut buf).expect("fits");
        buf.truncate(n);
        out.push((format!("icmp-{name}"), buf));
    };
    let data = b"abcdefghijklmnopqrstuvwxyz012345";
    push(
        "echo-request",
        ip.src,
        IcmpRepr::EchoRequest {
            ident: 0x1c2b,
            seq_no: 1,
            data,
        },
    );
    push(
        "echo-reply",
        ip.src,
        IcmpRepr::EchoReply {
            ident: 0x1c2b,
            seq_no: 1,
            data,
        },
    );
    for (name, code, mtu, len) in [
        ("frag-needed", FRAG_NEEDED, 1200, 28),
        ("frag-needed-no-mtu", FRAG_NEEDED, 0, 28),
        ("port-unreachable", PORT_UNREACHABLE, 0, 28),
        (
            "host-unreachable-long-quote",
            1,
            0,
            quoted.len().min(576 - 28),
        ),
    ] {
        push(
            name,
            ip.src,
            IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu: mtu,
                original: &quoted[..len],
            },
        );
    }
    out
}

/// `packet` (unfragmented, IHL 5) cut into IPv4 fragments at the given
/// payload offsets (multiples of 8), each with a good header checksum.
pub fn fragments(packet: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &packet[IPV4_HEADER_LEN..];
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c < payload.len()));
    bounds.push(payload.len());
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let (start, end) = (w[0], w[1]);
        let mut f = packet[..IPV4_HEADER_LEN].to_vec();
        f.extend_from_slice(&payload[start..end]);
        let total = u16::try_from(f.len()).expect("small");
        f[2..4].copy_from_slice(&total.to_be_bytes());
        let more = if end < payload.len() { 0x2000 } else { 0 };
        let off = u16::try_from(start / 8).expect("small") | more;
        f[6..8].copy_from_slice(&off.to_be_bytes());
        crate::stack_harness::fix_checksums(&mut f);
        out.push(f);
    }
    out
}

/// The stack target's seeds, for both fixtures: without offloads (first
/// byte 0) and with (1, names starting `offload-`).
fn stack_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (offload, prefix) in [(false, ""), (true, "offload-")] {
        for (name, records) in stack_records(&Fixture::build(offload)) {
            let mut input = vec![u8::from(offload)];
            input.extend_from_slice(&records);
            seeds.push((format!("{prefix}{name}"), input));
        }
    }
    seeds
}

/// The records of the stack target's seeds over the fixture `fx`.
fn stack_records(fx: &Fixture) -> Vec<Seed> {
    let mut seeds: Vec<Seed> = Vec::new();
    let one = |packets: &[&[u8]], o: u8| {
        let mut input = Vec::new();
        for p in packets {
            push_record(&mut input, o, p);
        }
        input
    };

    // Packet records ask the harness to fix checksums (a no-op on these
    // packets), so that what libFuzzer makes of them still reaches TCP.

    // Each of the peer's next packets alone, as it would arrive.
    for (i, (name, p)) in fx.peer_packets.iter().enumerate() {
        seeds.push((format!("peer-{i:02}-{name}"), one(&[p], op::PACKET)));
    }

    // All of them, then time passes: handshakes complete, holes fill,
    // FINs are acknowledged, timers run.
    let mut all = Vec::new();
    for (_, p) in &fx.peer_packets {
        push_record(&mut all, op::PACKET, p);
    }
    for step in [4, 6, 8, 12] {
        push_record(&mut all, op::time(step), &[]);
    }
    seeds.push(("peer-all-then-time".into(), all));

    // The application at work on every handle, the fixture's and those
    // it accepts and connects once the peer's packets are in: read,
    // write, close, abort, with time passing. Handle h is named by
    // `h % 8` in the op and `h / 8` in the body's first byte.
    let mut app = Vec::new();
    for (_, p) in &fx.peer_packets {
        push_record(&mut app, op::PACKET, p);
    }
    for _ in 0..3 {
        push_record(&mut app, op::app(5, 0), &[]);
    }
    push_record(&mut app, op::app(6, 0), &[]);
    for h in 0..14u8 {
        push_record(&mut app, op::app(1, h % 8), &[h / 8]);
        let mut data = vec![0x42u8; 3000];
        data[0] = h / 8;
        push_record(&mut app, op::app(0, h % 8), &data);
    }
    push_record(&mut app, op::time(6), &[]);
    for h in 0..14u8 {
        let cmd = if h % 3 == 0 { 4 } else { 3 };
        push_record(&mut app, op::app(cmd, h % 8), &[h / 8]);
    }
    push_record(&mut app, op::time(9), &[]);
    seeds.push(("app-commands".into(), app));

    let named = |list: &[(&'static str, Vec<u8>)], name: &str| -> Vec<u8> {
        list.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("fixture packet {name}"))
    };
    let hole = named(&fx.peer_packets, "established-hole");

    // The hole's segment in fragments: in order, out of order, with a
    // tiny first fragment that splits the TCP header, overlapping. Today
    // the stack drops fragments; with reassembly these become segments.
    let frags = fragments(&hole, &[8, 512, 1024]);
    let refs: Vec<&[u8]> = frags.iter().map(Vec::as_slice).collect();
    seeds.push(("fragments-in-order".into(), one(&refs, op::PACKET)));
    let mut reversed = refs.clone();
    reversed.reverse();
    seeds.push(("fragments-reversed".into(), one(&reversed, op::PACKET)));
    let halves = fragments(&hole, &[728]);
    let overlap = fragments(&hole, &[720]);
    seeds.push((
        "fragments-overlapping".into(),
        one(&[&halves[0], &overlap[1], &halves[1]], op::PACKET),
    ));

    // ICMP from the path about A's own packets, and a ping from B.
    let data = named(&fx.own_packets, "established-data");
    let syn = named(&fx.own_packets, "syn-sent-syn");
    let router = Ipv4Addr::new(10, 0, 0, 254);
    let mut icmp = |name: &str, m: IcmpRepr, src: Ipv4Addr| {
        let mut buf = vec![0u8; IPV4_HEADER_LEN + m.buffer_len()];
        let n = m.emit_datagram(src, A, 64, 0, &mut buf).expect("fits");
        buf.truncate(n);
        seeds.push((format!("icmp-{name}"), one(&[&buf], op::PACKET)));
    };
    icmp(
        "frag-needed",
        IcmpRepr::DestUnreachable {
            code: FRAG_NEEDED,
            next_hop_mtu: 1000,
            original: &data[..28],
        },
        router,
    );
    icmp(
        "port-unreachable-syn-sent",
        IcmpRepr::DestUnreachable {
            code: PORT_UNREACHABLE,
            next_hop_mtu: 0,
            original: &syn[..28],
        },
        B,
    );
    icmp(
        "echo-request",
        IcmpRepr::EchoRequest {
            ident: 7,
            seq_no: 1,
            data: b"ping",
        },
        B,
    );

    // The hole's segment from a device with offloads: checksum vouched
    // for (and wrong), and as a super-packet.
    let mut vouched = Vec::new();
    let mut bad = hole.clone();
    bad[IPV4_HEADER_LEN + 16] ^= 0xff;
    let valid = VnetHdr {
        flags: VnetHdr::DATA_VALID,
        ..VnetHdr::default()
    };
    let mut frame = [0u8; VNET_HDR_LEN].to_vec();
    valid.emit(&mut frame).expect("12 bytes");
    frame.extend_from_slice(&bad);
    push_record(&mut vouched, 1, &frame);
    seeds.push(("frame-data-valid".into(), vouched));
    let gso = VnetHdr {
        flags: VnetHdr::DATA_VALID,
        gso_type: VnetHdr::GSO_TCPV4,
        hdr_len: 52,
        gso_size: 700,
        ..VnetHdr::default()
    };
    let mut frame = [0u8; VNET_HDR_LEN].to_vec();
    gso.emit(&mut frame).expect("12 bytes");
    frame.extend_from_slice(&hole);
    seeds.push(("frame-gso".into(), one(&[&frame], op::FRAME)));

    // A corrupted copy, for the checksum checks.
    seeds.push(("bad-checksum".into(), one(&[&bad], op::PACKET_RAW)));
    seeds
}
