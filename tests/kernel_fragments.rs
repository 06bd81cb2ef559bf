//! IPv4 fragments between ringtcp and the Linux kernel, over a real TUN
//! device in a private network namespace per test (192.0.2.0/24).
//!
//! - `ping -s 3000 -M dont`: the kernel fragments each echo request to the
//!   1500-byte MTU, ringtcp reassembles it and answers with all the data
//!   in fragments of its own, which the kernel reassembles for ping.
//! - A raw socket (`IPPROTO_RAW`, the header ours) sends fragments the
//!   kernel would never make: out of order with a duplicate (answered),
//!   overlapping (never answered), a TCP offset-1 fragment (RFC 1858).
//!
//! As root (CI) these always run; elsewhere they print SKIPPED.

mod support;

use ringtcp::api::{Runtime, RuntimeConfig};
use ringtcp::lab::{KERNEL_ADDR, Lab, STACK_ADDR};
use ringtcp::stack::{Counters, StackConfig};
use ringtcp::wire::icmp::IcmpRepr;
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, PROTO_TCP, parse_ipv4};
use std::time::{Duration, Instant};
use support::kernel_socket::RawSocket;
use support::lab::lab_or_skip;

fn runtime(lab: &mut Lab, seed: u64) -> Runtime {
    let cfg = RuntimeConfig::new(StackConfig::new(STACK_ADDR, seed));
    Runtime::start(lab.take_tun(), cfg).expect("runtime starts")
}

fn counters(rt: &Runtime) -> Counters {
    rt.stats().expect("stats").1
}

/// One counter from the `Ip:` lines of the kernel's `/proc/.../net/snmp`
/// for this thread's namespace (the lab's).
fn kernel_ip_stat(name: &str) -> u64 {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").expect("snmp");
    let mut lines = snmp.lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no {name} in {names}"));
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

#[test]
fn kernel_fragments_an_echo_request_and_reassembles_the_reply() {
    let Some(mut lab) = lab_or_skip("kernel_fragments_an_echo_request_and_reassembles_the_reply")
    else {
        return;
    };
    let rt = runtime(&mut lab, 41);
    let (creates, reasm_oks) = (kernel_ip_stat("FragCreates"), kernel_ip_stat("ReasmOKs"));
    // A child process runs in the namespace of the thread that spawns it.
    let out = std::process::Command::new("ping")
        .args([
            "-c", "3", "-i", "0.2", "-w", "20", "-s", "3000", "-M", "dont",
        ])
        .arg(STACK_ADDR.to_string())
        .output()
        .expect("ping is installed (scripts/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ping failed: {text}");
    assert!(text.contains("3 received"), "{text}");
    assert!(text.contains("3008 bytes from"), "whole replies: {text}");
    assert!(!text.contains("wrong data"), "{text}");
    let c = counters(&rt);
    // 3028 bytes over a 1500-byte MTU: 3 fragments each way per ping.
    assert_eq!((c.ip_fragments, c.ip_reassembled), (9, 3), "{c:?}");
    assert_eq!((c.icmp_echo_replies, c.ip_fragments_sent), (3, 9), "{c:?}");
    assert_eq!(frag_drops(&c), 0, "{c:?}");
    assert!(kernel_ip_stat("FragCreates") - creates >= 9);
    assert!(kernel_ip_stat("ReasmOKs") - reasm_oks >= 3);
}

fn frag_drops(c: &Counters) -> u64 {
    c.ip_frag_duplicates
        + c.ip_frag_overlap
        + c.ip_frag_tiny
        + c.ip_frag_invalid
        + c.ip_frag_timeout
        + c.ip_frag_memory
}

/// A raw IPv4 socket of the kernel side: `IPPROTO_RAW` sends datagrams
/// whose header we wrote (the kernel fills in only the checksum and the
/// total length), `IPPROTO_ICMP` receives a copy of every ICMP datagram
/// that arrives, after the kernel's reassembly.
/// The data of the echo reply with `ident` that reaches `fd` within
/// `wait`, if one does.
fn echo_reply(sock: &RawSocket, ident: u16, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        let Some(n) = sock.recv(&mut buf) else {
            continue; // the receive timeout
        };
        let Ok((ip, payload)) = parse_ipv4(&buf[..n], true) else {
            continue;
        };
        if ip.src != STACK_ADDR {
            continue;
        }
        if let Ok(IcmpRepr::EchoReply { ident: i, data, .. }) = IcmpRepr::parse(payload, true) {
            if i == ident {
                return Some(data.to_vec());
            }
        }
    }
    None
}

/// An echo request from the kernel's address, whole: `ident`, `data`.
fn echo_request(ident: u16, data: &[u8]) -> Vec<u8> {
    let icmp = IcmpRepr::EchoRequest {
        ident,
        seq_no: 1,
        data,
    };
    let mut p = vec![0u8; IPV4_HEADER_LEN + icmp.buffer_len()];
    icmp.emit_datagram(KERNEL_ADDR, STACK_ADDR, 64, 1, &mut p)
        .unwrap();
    p
}

/// The fragments of `datagram` (ours, 20-byte header) holding payload
/// `start..end` for each range, identification `ident`; MF on all but
/// the one that reaches the end.
fn pieces(datagram: &[u8], ident: u16, ranges: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let (ip, payload) = parse_ipv4(datagram, true).unwrap();
    ranges
        .iter()
        .map(|&(start, end)| {
            let mut buf = vec![0u8; IPV4_HEADER_LEN + end - start];
            let repr = Ipv4Repr {
                payload_len: end - start,
                ..ip
            };
            repr.emit_fragment(&mut buf, ident, start, end < payload.len())
                .unwrap();
            buf[IPV4_HEADER_LEN..].copy_from_slice(&payload[start..end]);
            buf
        })
        .collect()
}

#[test]
fn crafted_fragments_from_the_kernel_side() {
    let Some(mut lab) = lab_or_skip("crafted_fragments_from_the_kernel_side") else {
        return;
    };
    let rt = runtime(&mut lab, 42);
    let (tx, rx) = (
        RawSocket::new(libc::IPPROTO_RAW).expect("raw socket"),
        RawSocket::new(libc::IPPROTO_ICMP).expect("raw socket"),
    );
    let data: Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();

    // Out of order, last first, with an exact duplicate: answered in full.
    let request = echo_request(0x0101, &data);
    let f = pieces(&request, 0x5001, &[(0, 1000), (1000, 1600), (1600, 2008)]);
    for p in [&f[2], &f[1], &f[1], &f[0]] {
        tx.send_all(p, STACK_ADDR);
    }
    let reply = echo_reply(&rx, 0x0101, Duration::from_secs(5));
    assert_eq!(
        reply.as_deref(),
        Some(&data[..]),
        "the reply carries all the data"
    );
    let c = counters(&rt);
    assert_eq!((c.ip_reassembled, c.ip_frag_duplicates), (1, 1), "{c:?}");

    // Overlapping: the second piece starts inside the first. No reply.
    let request = echo_request(0x0202, &data);
    let f = pieces(&request, 0x5002, &[(0, 1000), (992, 2008)]);
    for p in &f {
        tx.send_all(p, STACK_ADDR);
    }
    assert_eq!(echo_reply(&rx, 0x0202, Duration::from_secs(1)), None);

    // RFC 1858: a TCP fragment at offset 8 to a closed port. No RST.
    let mut seg = vec![0u8; IPV4_HEADER_LEN + 24];
    Ipv4Repr {
        src: KERNEL_ADDR,
        dst: STACK_ADDR,
        protocol: PROTO_TCP,
        payload_len: 24,
        ttl: 64,
    }
    .emit_fragment(&mut seg, 0x5003, 8, false)
    .unwrap();
    tx.send_all(&seg, STACK_ADDR);

    let deadline = Instant::now() + Duration::from_secs(5);
    let c = loop {
        let c = counters(&rt);
        if c.ip_frag_tiny > 0 || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(c.ip_reassembled, 1, "{c:?}");
    assert_eq!((c.ip_frag_overlap, c.ip_frag_tiny), (1, 1), "{c:?}");
    assert_eq!(c.ip_fragments, 4 + 2 + 1, "{c:?}");
    assert_eq!(c.tcp_no_socket, 0, "{c:?}");
    assert_eq!(c.ip_frag_invalid, 0, "{c:?}");
}
