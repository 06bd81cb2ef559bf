//! Criterion benchmarks for the wire layer: the Internet checksum (fast
//! 8-byte path against the naive 16-bit loop) and parsing a full-sized
//! TCP/IPv4 datagram.
//!
//! Run with `cargo bench --bench wire`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use ringtcp::wire::checksum::{checksum, naive_checksum};
use ringtcp::wire::{
    Ipv4Packet, Ipv4Repr, PROTO_TCP, SeqNum, TcpFlags, TcpOptions, TcpPacket, TcpRepr, parse_ipv4,
    parse_tcp,
};

fn bench_checksum(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for size in [64usize, 1500, 64 * 1024] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("fast", size), &data, |b, d| {
            b.iter(|| checksum(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("naive", size), &data, |b, d| {
            b.iter(|| naive_checksum(black_box(d)))
        });
    }
    group.finish();
}

/// A 1500-byte datagram: 20 bytes of IPv4, 32 of TCP (timestamps), 1448 of
/// payload, as a bulk transfer sends them.
fn full_sized_datagram() -> (Vec<u8>, Ipv4Addr, Ipv4Addr) {
    let src = Ipv4Addr::new(10, 0, 0, 1);
    let dst = Ipv4Addr::new(10, 0, 0, 2);
    let payload: Vec<u8> = (0..1448).map(|i| i as u8).collect();
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: 5201,
        seq: SeqNum(0x1234_5678),
        ack: SeqNum(0x9abc_def0),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 502,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((0x0102_0304, 0x0506_0708)),
            ..Default::default()
        },
        payload: &payload,
    };
    let seg_len = tcp.buffer_len();
    let mut buf = vec![0u8; 20 + seg_len];
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: PROTO_TCP,
        payload_len: seg_len,
        ttl: 64,
    };
    ip.emit(&mut buf, 1).expect("20-byte header fits");
    tcp.emit(&mut buf[20..], src, dst).expect("segment fits");
    assert_eq!(buf.len(), 1500);
    (buf, src, dst)
}

fn bench_parse(c: &mut Criterion) {
    let (buf, src, dst) = full_sized_datagram();
    let mut group = c.benchmark_group("parse_1500");
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("ipv4+tcp+options, verify checksums", |b| {
        b.iter(|| {
            let (ip, seg) = parse_ipv4(black_box(&buf), true).unwrap();
            let tcp = parse_tcp(seg, ip.src, ip.dst, true).unwrap();
            black_box(tcp.options.timestamps);
            tcp.payload.len()
        })
    });
    group.bench_function("ipv4+tcp+options, no checksum", |b| {
        b.iter(|| {
            let (ip, seg) = parse_ipv4(black_box(&buf), false).unwrap();
            let tcp = parse_tcp(seg, ip.src, ip.dst, false).unwrap();
            black_box(tcp.options.timestamps);
            tcp.payload.len()
        })
    });
    group.bench_function("views only", |b| {
        b.iter(|| {
            let ip = Ipv4Packet::new_checked(black_box(&buf[..])).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            (tcp.seq_number(), tcp.flags(), tcp.payload().len())
        })
    });
    group.finish();
    black_box((src, dst));
}

criterion_group!(benches, bench_checksum, bench_parse);
criterion_main!(benches);
