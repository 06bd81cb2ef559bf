//! Criterion benchmarks for the sans-IO core: receive-buffer reassembly, a
//! whole simulated transfer, and `Stack::handle_packet` for in-window data.
//!
//! Run with `cargo bench --bench core`.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use ringtcp::sim::apps::{BulkPeer, Role};
use ringtcp::sim::{LinkConfig, Network};
use ringtcp::stack::{ListenerHandle, SocketHandle, Stack, StackConfig};
use ringtcp::tcp::buffer::RecvBuffer;
use ringtcp::time::Instant;
use ringtcp::wire::parse_ipv4;
use ringtcp::wire::tcp::parse_tcp;

const MSS: usize = 1460;
const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PORT: u16 = 80;

// ----- (a) receive-buffer reassembly ----------------------------------------------

/// Segments per iteration: 64 out-of-order segments leave 32 holes, the most
/// a receive buffer tracks (`MAX_OOO_RANGES`).
const SEGMENTS: usize = 64;

/// Inserts [`SEGMENTS`] segments at RCV.NXT, then lets the application take
/// them. Returns the bytes that became readable.
fn fill_in_order(rb: &mut RecvBuffer, payload: &[u8]) -> usize {
    for _ in 0..SEGMENTS {
        rb.insert(0, black_box(payload));
    }
    let n = rb.readable();
    rb.consume(n);
    n
}

/// Inserts the odd segments first (32 holes), then the even ones, which fill
/// the holes from the front and release two segments each; then lets the
/// application take them. Returns the bytes that became readable.
fn fill_out_of_order(rb: &mut RecvBuffer, payload: &[u8]) -> usize {
    for i in (1..SEGMENTS).step_by(2) {
        rb.insert(i * MSS, black_box(payload));
    }
    let mut nxt = 0usize;
    for i in (0..SEGMENTS).step_by(2) {
        nxt += rb.insert(i * MSS - nxt, black_box(payload)).advanced;
    }
    let n = rb.readable();
    rb.consume(n);
    n
}

fn bench_recv_buffer(c: &mut Criterion) {
    let payload: Vec<u8> = (0..MSS).map(|i| (i * 7 + 3) as u8).collect();
    let mut rb = RecvBuffer::new(256 * 1024);
    assert_eq!(fill_in_order(&mut rb, &payload), SEGMENTS * MSS);
    assert_eq!(fill_out_of_order(&mut rb, &payload), SEGMENTS * MSS);

    let mut g = c.benchmark_group("recv_buffer");
    g.throughput(Throughput::Bytes((SEGMENTS * MSS) as u64));
    g.bench_function("insert_in_order_64x1460", |b| {
        let mut rb = RecvBuffer::new(256 * 1024);
        b.iter(|| fill_in_order(&mut rb, &payload));
    });
    g.bench_function("insert_out_of_order_32_holes_64x1460", |b| {
        let mut rb = RecvBuffer::new(256 * 1024);
        b.iter(|| fill_out_of_order(&mut rb, &payload));
    });
    g.finish();
}

// ----- (b) a whole simulated transfer ---------------------------------------------

const TRANSFER: u64 = 10_000_000;

fn transfer_network(seed: u64) -> Network {
    let mut net = Network::new(seed);
    net.add_node(
        StackConfig::new(A, seed),
        LinkConfig::default(),
        Box::new(BulkPeer::new(
            Role::Client {
                remote: SocketAddrV4::new(B, PORT),
                connections: 1,
            },
            TRANSFER,
            0,
        )),
    );
    net.add_node(
        StackConfig::new(B, seed + 1),
        LinkConfig::default(),
        Box::new(BulkPeer::new(
            Role::Server {
                port: PORT,
                connections: 1,
            },
            0,
            TRANSFER,
        )),
    );
    net
}

fn bench_sim_transfer(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Bytes(TRANSFER));
    g.sample_size(10);
    g.bench_function("transfer_10mb_clean_link", |b| {
        b.iter_batched(
            || transfer_network(1),
            |mut net| {
                net.run(Duration::from_secs(600))
                    .expect("transfer completes");
                assert_eq!(net.app::<BulkPeer>(1).bytes_verified, TRANSFER);
                net
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

// ----- (c) Stack::handle_packet for in-window data ----------------------------------

/// Data segments replayed per iteration (about 187 kB: within the initial
/// 256 KiB receive window, which auto-tuning grows only while an
/// application reads, and the replay does not; so every one is in order
/// and in window).
const REPLAYED: usize = 128;

/// Two stacks wired back to back by hand, with the handshake done.
struct Pair {
    client: Stack,
    server: Stack,
    now: Instant,
    conn: SocketHandle,
    accepted: SocketHandle,
}

impl Pair {
    /// The same seeds and steps every time, so the server's state after the
    /// handshake is the same every time.
    fn established() -> Pair {
        // Without timestamps, so data segments carry exactly MSS bytes and
        // the replayed segments pass no PAWS check tied to the recording.
        let cfg = |addr, seed| {
            let mut c = StackConfig::new(addr, seed);
            c.tcp.timestamps = false;
            c
        };
        let mut client = Stack::new(cfg(A, 11), Instant::ZERO);
        let mut server = Stack::new(cfg(B, 12), Instant::ZERO);
        let listener: ListenerHandle = server.listen(PORT, 16).expect("listen");
        let conn = client
            .connect(Instant::ZERO, SocketAddrV4::new(B, PORT))
            .expect("connect");
        let mut pair = Pair {
            client,
            server,
            now: Instant::ZERO,
            conn,
            accepted: conn,
        };
        while pair.exchange(&mut |_, _| {}) {}
        pair.accepted = pair.server.accept(listener).expect("handshake completed");
        pair
    }

    /// Moves every pending packet across once, after 100 µs of "latency";
    /// `client_tx` sees each packet the client sends. Returns whether
    /// anything moved.
    fn exchange(&mut self, client_tx: &mut dyn FnMut(Instant, &[u8])) -> bool {
        let mut buf = vec![0u8; 2048];
        let mut moved = false;
        self.now += Duration::from_micros(100);
        while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
            client_tx(self.now, &buf[..n]);
            self.server.handle_packet(self.now, &buf[..n]);
            moved = true;
        }
        while let Some(n) = self.server.poll_transmit(self.now, &mut buf) {
            self.client.handle_packet(self.now, &buf[..n]);
            moved = true;
        }
        moved
    }

    /// Runs the timers that are due, jumping to the next one if nothing else
    /// is going on.
    fn tick(&mut self) {
        let next = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        if let Some(t) = next {
            self.now = self.now.max(t);
        }
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }
}

/// The TCP payload length of an IPv4 packet.
fn payload_len(pkt: &[u8]) -> usize {
    let (ip, tcp) = parse_ipv4(pkt, false).expect("IPv4");
    parse_tcp(tcp, ip.src, ip.dst, false)
        .expect("TCP")
        .payload
        .len()
}

/// The client's data segments (with when they were sent) right after the
/// handshake of [`Pair::established`].
fn record_segments() -> Vec<(Instant, Vec<u8>)> {
    let mut pair = Pair::established();
    let data = vec![0x5au8; REPLAYED * MSS];
    let mut queued = 0;
    while queued < data.len() {
        queued += pair.client.send(pair.conn, &data[queued..]).expect("send");
    }
    let mut segs: Vec<(Instant, Vec<u8>)> = Vec::with_capacity(REPLAYED);
    let mut sink = vec![0u8; 64 * 1024];
    while segs.len() < REPLAYED {
        let moved = pair.exchange(&mut |now, pkt| {
            if payload_len(pkt) > 0 {
                segs.push((now, pkt.to_vec()));
            }
        });
        // Keep the server's window open as a real reader would.
        while matches!(pair.server.recv(pair.accepted, &mut sink), Ok(n) if n > 0) {}
        if !moved {
            pair.tick();
        }
    }
    segs.truncate(REPLAYED);
    segs
}

fn bench_handle_packet(c: &mut Criterion) {
    let segs = record_segments();
    assert!(segs.iter().all(|(_, p)| payload_len(p) == MSS));
    // The replay must be what it claims: in-order, in-window data taken in full.
    {
        let mut pair = Pair::established();
        for (t, p) in &segs {
            pair.server.handle_packet(*t, p);
        }
        let got = pair
            .server
            .recv_queue(pair.accepted)
            .expect("live connection");
        assert_eq!(got, REPLAYED * MSS, "replayed segments were all accepted");
        assert_eq!(pair.server.counters().tcp_out_of_window, 0);
    }

    let mut g = c.benchmark_group("stack");
    g.throughput(Throughput::Elements(REPLAYED as u64));
    g.bench_function("handle_packet_in_window_data_1460", |b| {
        b.iter_batched_ref(
            Pair::established,
            |pair| {
                for (t, p) in &segs {
                    pair.server.handle_packet(*t, black_box(p));
                }
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_recv_buffer,
    bench_sim_transfer,
    bench_handle_packet
);
criterion_main!(benches);
