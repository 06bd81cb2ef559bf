//! Smoke tests of the lab against the real kernel, with no TCP stack: raw
//! IPv4/UDP packets cross the TUN device in both directions.
//!
//! Each test builds its own lab on its own test thread, so they run in
//! parallel. Without the privilege to make a namespace they print
//! `SKIPPED <test>: <why>` (and fail instead when `CI` is set).

mod support;

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use ringtcp::device::netif;
use ringtcp::device::tun::{Tun, TunConfig};
use ringtcp::lab::{KERNEL_ADDR, Lab, LabConfig, STACK_ADDR};
use support::lab::lab_or_skip_with;

const PROTO_UDP: u8 = 17;

/// Read packets from the TUN for up to 10 s until one satisfies `want`;
/// other packets are ignored.
#[track_caller]
fn read_until(tun: &Tun, mut want: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 65_536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no matching packet on the TUN within 2 s");
        tun.wait_readable(left.min(Duration::from_millis(100)))
            .unwrap();
        match tun.read(&mut buf) {
            Ok(n) if want(&buf[..n]) => return buf[..n].to_vec(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("TUN read failed: {e}"),
        }
    }
}

struct Ipv4<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload: &'a [u8],
}

fn parse_ipv4(p: &[u8]) -> Option<Ipv4<'_>> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if ihl < 20 || total < ihl || total > p.len() {
        return None;
    }
    let addr = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
    Some(Ipv4 {
        src: addr(12),
        dst: addr(16),
        proto: p[9],
        payload: &p[ihl..total],
    })
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet with a valid header checksum and UDP checksum 0.
fn udp_packet(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, PROTO_UDP, 0, 0]);
    p.extend_from_slice(&src.0.octets());
    p.extend_from_slice(&dst.0.octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&src.1.to_be_bytes());
    p.extend_from_slice(&dst.1.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// These tests read and write raw IP packets: no vnet header.
fn plain_lab(name: &str) -> Option<Lab> {
    lab_or_skip_with(
        name,
        LabConfig {
            vnet_hdr: false,
            offloads: false,
            ..LabConfig::default()
        },
    )
}

/// (a) kernel -> TUN: a datagram to 192.0.2.2:9 comes out of the device.
fn kernel_to_tun(lab: &Lab) {
    let tun = lab.tun().unwrap();
    let sock = UdpSocket::bind((KERNEL_ADDR, 0)).unwrap();
    let port = sock.local_addr().unwrap().port();
    sock.send_to(b"hello tun", (STACK_ADDR, 9)).unwrap();
    let pkt = read_until(tun, |p| {
        parse_ipv4(p).is_some_and(|ip| ip.proto == PROTO_UDP && ip.dst == STACK_ADDR)
    });
    assert_eq!(pkt[0] >> 4, 4, "IPv4 version nibble");
    let ip = parse_ipv4(&pkt).unwrap();
    assert_eq!(ip.src, KERNEL_ADDR);
    assert_eq!(ip.dst, STACK_ADDR);
    assert_eq!(checksum(&pkt[..20]), 0, "kernel's IP header checksum");
    let udp = ip.payload;
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), port);
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 9);
    assert_eq!(&udp[8..], b"hello tun");
}

/// (b) TUN -> kernel: a hand-built datagram from 192.0.2.2 reaches a kernel
/// socket on 192.0.2.1.
fn tun_to_kernel(lab: &Lab) {
    let tun = lab.tun().unwrap();
    let sock = UdpSocket::bind((KERNEL_ADDR, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let pkt = udp_packet((STACK_ADDR, 4321), (KERNEL_ADDR, port), b"hello kernel");
    assert_eq!(tun.write(&pkt).unwrap(), pkt.len());
    let mut buf = [0u8; 64];
    let (n, from) = sock.recv_from(&mut buf).expect("datagram from the TUN");
    assert_eq!(&buf[..n], b"hello kernel");
    assert_eq!(from, (STACK_ADDR, 4321).into());
}

#[test]
fn kernel_packet_appears_on_tun() {
    let Some(lab) = plain_lab("kernel_packet_appears_on_tun") else {
        return;
    };
    kernel_to_tun(&lab);
}

#[test]
fn tun_packet_reaches_kernel_socket() {
    let Some(lab) = plain_lab("tun_packet_reaches_kernel_socket") else {
        return;
    };
    tun_to_kernel(&lab);
}

#[test]
fn two_labs_at_once_and_nothing_left_behind() {
    // Spawned from this (root-namespace) test thread, each child makes its
    // own lab under the same device name.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let lab = plain_lab("two_labs_at_once_and_nothing_left_behind")?;
                // Both labs exist at the same time.
                barrier.wait();
                kernel_to_tun(&lab);
                tun_to_kernel(&lab);
                let ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
                Some((i, ns))
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let namespaces: Vec<_> = results.iter().flatten().map(|(_, ns)| ns).collect();
    if namespaces.is_empty() {
        return;
    }
    assert_eq!(namespaces.len(), 2);
    assert_ne!(
        namespaces[0], namespaces[1],
        "each lab has its own namespace"
    );

    // This thread never left the root namespace: no lab device here.
    let err = netif::if_index("rtun0").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let leftovers: Vec<_> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rtun"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn name_too_long_is_one_clear_line() {
    let err = Tun::open(&TunConfig {
        name: Some("rtun-this-is-too-long".into()),
        ..TunConfig::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.starts_with("interface name too long (max 15 bytes)"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}
