//! The `stack` fuzz target's harness: a [`Stack`] with live connections in
//! many RFC 9293 states, driven by the fuzz input as a device and an
//! application would drive it.
//!
//! # The fixture
//!
//! [`Fixture::build`] makes the same populated stack every time, with no
//! randomness but the stacks' fixed seeds: stack A (the one fuzzed, at
//! [`A`]) and a real peer stack B (at [`B`]) exchange packets in memory
//! (every packet delivered at once, or withheld where a state needs it),
//! and the application calls happen in a fixed order. A ends up with:
//!
//! - a listener on [`LISTEN_PORT`] with two half-open (SYN-RECEIVED)
//!   entries whose final ACK was withheld;
//! - ESTABLISHED (passive) with unacknowledged data in flight, more queued,
//!   and out-of-order data held behind a hole;
//! - ESTABLISHED (active) sending into a peer's zero window (persist);
//! - FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT, CLOSE-WAIT and LAST-ACK;
//! - SYN-SENT.
//!
//! B's packets that were withheld, and B's answers to what A sent but B
//! never saw, are kept in [`Fixture::peer_packets`]: they are the packets
//! that move each of A's connections on, and the stack target's seeds.
//!
//! Stacks are not `Clone`, so each input starts from a replay of A's part
//! of the build ([`Recording`]): every call the build made on A, written
//! down once per process. B's work is not redone, which makes a replay
//! about half the cost of a build.
//!
//! # The input
//!
//! A first byte whose low bit picks the fixture: stack A as a plain
//! device drives it (0), or built for a TUN device with checksum offload
//! and TSO (1), whose frames carry partial checksums and super-segments.
//! Then a sequence of records `[op] [len: u16 little-endian] [len bytes]` (a
//! record whose body runs past the end takes what is left). `op & 3`:
//!
//! - 0: an IPv4 packet, to [`Stack::handle_packet`];
//! - 1: a virtio-net header (12 bytes) then an IPv4 packet, to
//!   [`Stack::handle_frame`];
//!
//!   for both, `op & 4` asks the harness to fix the checksums first (the
//!   IPv4 header checksum; the TCP or ICMP one too unless the packet is a
//!   fragment, whose transport checksum covers the whole datagram), and
//!   `op & 8` leaves the output queued (a batch) instead of draining it;
//! - 2: time passes by [`STEPS`]`[(op >> 2) & 15]`; timers that are due
//!   run;
//! - 3: an application command: `(op >> 2) & 7` picks it, `op >> 5` and
//!   the body's first byte the handle (see [`Runner::app`]); the body is
//!   also the data for a send.
//!
//! After the last record the harness drains the output and runs the timers
//! a few times, jumping to each deadline, so retransmission, persist,
//! delayed ACK, FIN-WAIT-2 and TIME-WAIT timers run on every input.
//!
//! # The checks
//!
//! Nothing may panic (debug assertions are on, so the stack's own
//! invariants are checked too), every packet the stack sends must parse
//! with correct IPv4 and TCP or ICMP checksums and come from A, and no
//! single drain may go on without end.
//!
//! Uses only ringtcp's public API. Compiled twice: into the fuzz crate, and
//! into `tests/fuzz_harness.rs`, which checks the fixture and replays the
//! crash inputs kept in `fuzz/regressions/stack/`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::OnceLock;
use std::time::Duration;

use ringtcp::stack::{ListenerHandle, SocketHandle, Stack, StackConfig};
use ringtcp::time::Instant;
use ringtcp::wire::checksum;
use ringtcp::wire::icmp::IcmpRepr;
use ringtcp::wire::ipv4::{PROTO_ICMP, PROTO_TCP, parse_ipv4};
use ringtcp::wire::tcp::{fill_checksum, parse_tcp};
use ringtcp::wire::vnet::segment_tcp4;
use ringtcp::wire::{VNET_HDR_LEN, VnetHdr};

/// The fuzzed stack's address.
pub const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The peer stack's address.
pub const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// A's listening port.
pub const LISTEN_PORT: u16 = 80;
/// B's listening port, for A's active opens.
pub const PEER_PORT: u16 = 81;
/// When the fixture is built.
pub const T0: Instant = Instant::from_millis(1_000);

/// How far op 2 moves the clock: from nothing, through the delayed-ACK and
/// minimum-RTO scale, to past TIME-WAIT and FIN-WAIT-2 timeouts.
pub const STEPS: [Duration; 16] = [
    Duration::ZERO,
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(40),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(61),
    Duration::from_secs(121),
    Duration::from_secs(600),
    Duration::from_secs(7200),
];

/// Packets one drain may yield before the harness calls it a send loop:
/// far more than any window or queue in the fixture lets out at once.
const MAX_PACKETS_PER_DRAIN: usize = 10_000;

/// Timer rounds after the last record.
const FINAL_TIMER_ROUNDS: usize = 8;

/// Handles the application may hold at once (fixture's and new ones).
const MAX_HANDLES: usize = 32;

/// Stack A's settings: small buffers, so that windows fill and the
/// fixture stays cheap to build; with `offload`, those of a TUN device
/// with checksum offload and TSO (partial checksums, super-segments).
fn config_a(offload: bool) -> StackConfig {
    let mut cfg = StackConfig::new(A, 1);
    cfg.tcp.send_buffer = 32 << 10;
    cfg.tcp.recv_buffer = 32 << 10;
    if offload {
        cfg.tcp.checksum_offload = true;
        cfg.tcp.tso_max = 65_535;
    }
    cfg
}

/// Stack B's: a receive buffer of exactly five full segments (1448 bytes
/// of data beside the timestamps), which closes its window soon, and no
/// checksum verification (its input is A's own output).
fn config_b() -> StackConfig {
    let mut cfg = StackConfig::new(B, 2);
    cfg.tcp.send_buffer = 32 << 10;
    cfg.tcp.recv_buffer = 5 * 1448;
    cfg.verify_checksums = false;
    cfg
}

/// What the fixture sends: one byte value, any length.
static DATA: [u8; 24 << 10] = [0x5a; 24 << 10];

/// One call the fixture made on stack A, all at [`T0`], to make again.
#[derive(Debug)]
enum Call {
    Listen(u16, usize),
    Connect(SocketAddrV4),
    Accept(ListenerHandle),
    /// `DATA[..len]` offered to `send`.
    Send(SocketHandle, usize),
    Shutdown(SocketHandle),
    Packet(Vec<u8>),
    /// `poll_transmit_frame` until `None`, which gave this many frames.
    Drain(usize),
}

/// Stack A while the fixture is built, with every call written down.
struct Recorder {
    stack: Stack,
    calls: Vec<Call>,
    buf: Vec<u8>,
    seg: Vec<u8>,
}

impl Recorder {
    fn listen(&mut self, port: u16, backlog: usize) -> ListenerHandle {
        self.calls.push(Call::Listen(port, backlog));
        self.stack.listen(port, backlog).expect("listen")
    }

    fn connect(&mut self, remote: SocketAddrV4) -> SocketHandle {
        self.calls.push(Call::Connect(remote));
        self.stack.connect(T0, remote).expect("connect")
    }

    fn accept(&mut self, l: ListenerHandle) -> SocketHandle {
        self.calls.push(Call::Accept(l));
        self.stack.accept(l).expect("accept")
    }

    fn send(&mut self, h: SocketHandle, len: usize) -> usize {
        self.calls.push(Call::Send(h, len));
        self.stack.send(h, &DATA[..len]).unwrap_or(0)
    }

    fn shutdown(&mut self, h: SocketHandle) {
        self.calls.push(Call::Shutdown(h));
        self.stack.shutdown(h).expect("shutdown");
    }

    fn deliver(&mut self, packets: &[Vec<u8>]) {
        for p in packets {
            self.calls.push(Call::Packet(p.clone()));
            self.stack.handle_packet(T0, p);
        }
    }

    fn drain(&mut self) -> Vec<Vec<u8>> {
        let (out, frames) = drain(&mut self.stack, &mut self.buf, &mut self.seg);
        self.calls.push(Call::Drain(frames));
        out
    }
}

/// Every packet `stack` has to send at [`T0`], as a device would put
/// them on the wire (super-segments cut, checksums completed), and how
/// many frames the stack gave.
fn drain(stack: &mut Stack, buf: &mut [u8], seg: &mut [u8]) -> (Vec<Vec<u8>>, usize) {
    let mut out = Vec::new();
    let mut frames = 0;
    while let Some((n, vnet)) = stack.poll_transmit_frame(T0, buf) {
        frames += 1;
        for index in 0.. {
            match segment_tcp4(&vnet, &buf[..n], index, seg) {
                Ok(Some(len)) => out.push(seg[..len].to_vec()),
                Ok(None) => break,
                Err(e) => panic!("fixture: a frame no device could send: {e}"),
            }
        }
    }
    (out, frames)
}

/// [`drain`] for the peer, which does not record.
fn drain_peer(b: &mut Stack) -> Vec<Vec<u8>> {
    let (mut buf, mut seg) = (vec![0u8; 65_536], vec![0u8; 65_536]);
    drain(b, &mut buf, &mut seg).0
}

fn deliver(stack: &mut Stack, packets: &[Vec<u8>]) {
    for p in packets {
        stack.handle_packet(T0, p);
    }
}

/// Delivers everything both ways until neither stack has anything to send.
fn pump(a: &mut Recorder, b: &mut Stack) {
    for _ in 0..1_000 {
        let from_a = a.drain();
        deliver(b, &from_a);
        let from_b = drain_peer(b);
        a.deliver(&from_b);
        if from_a.is_empty() && from_b.is_empty() {
            return;
        }
    }
    panic!("fixture: the stacks never went quiet");
}

/// How to make the fixture's stack A again, without its peer: every call
/// the build made on it, in order. Replaying is cheaper than building (B's
/// work is not redone) and gives the same stack: the stack is
/// deterministic, and the replay checks that each drain gives as many
/// packets as it did.
#[derive(Debug)]
pub struct Recording {
    /// Stack A was built for a device with offloads.
    pub offload: bool,
    calls: Vec<Call>,
    /// A's listener on [`LISTEN_PORT`].
    pub listener: ListenerHandle,
    /// A's connections, each with the state it is in, in RFC 9293
    /// spelling.
    pub conns: Vec<(SocketHandle, &'static str)>,
}

impl Recording {
    /// Stack A as the build left it; `buf` is scratch for its output.
    pub fn replay(&self, buf: &mut [u8]) -> Stack {
        let mut s = Stack::new(config_a(self.offload), T0);
        for call in &self.calls {
            match call {
                Call::Listen(port, backlog) => drop(s.listen(*port, *backlog)),
                Call::Connect(remote) => drop(s.connect(T0, *remote)),
                Call::Accept(l) => drop(s.accept(*l)),
                Call::Send(h, len) => drop(s.send(*h, &DATA[..*len])),
                Call::Shutdown(h) => drop(s.shutdown(*h)),
                Call::Packet(p) => s.handle_packet(T0, p),
                Call::Drain(n) => {
                    let mut got = 0;
                    while s.poll_transmit_frame(T0, buf).is_some() {
                        got += 1;
                    }
                    assert_eq!(got, *n, "the replayed fixture sent otherwise");
                }
            }
        }
        while s.poll_event().is_some() {}
        s
    }
}

/// The populated stack A, its peer, and what the peer would send next.
pub struct Fixture {
    /// The stack under test.
    pub stack: Stack,
    /// The peer; only seed generation uses it after the build.
    pub peer: Stack,
    /// How to make `stack` again.
    pub recording: Recording,
    /// Packets from B that A has not seen: what was withheld, and B's
    /// answers to what A sent that B did not see. Each with a name.
    pub peer_packets: Vec<(&'static str, Vec<u8>)>,
    /// Packets A sent that B never saw, each with a name: what an ICMP
    /// error from the path would quote.
    pub own_packets: Vec<(&'static str, Vec<u8>)>,
}

impl Fixture {
    /// Builds the fixture, stack A with or without device offloads; the
    /// same every time.
    pub fn build(offload: bool) -> Fixture {
        let mut a = Recorder {
            stack: Stack::new(config_a(offload), T0),
            calls: Vec::new(),
            buf: vec![0u8; 65_536],
            seg: vec![0u8; 65_536],
        };
        let mut b = Stack::new(config_b(), T0);
        let listener = a.listen(LISTEN_PORT, 16);
        let b_listener = b.listen(PEER_PORT, 64).expect("peer listen");
        let to_a = SocketAddrV4::new(A, LISTEN_PORT);
        let to_b = SocketAddrV4::new(B, PEER_PORT);
        let mut conns = Vec::new();
        let mut peer_packets = Vec::new();
        let mut own_packets = Vec::new();

        // A's connection to B, established; returns (A's, B's) handles.
        let active = |a: &mut Recorder, b: &mut Stack| {
            let ha = a.connect(to_b);
            pump(a, b);
            let hb = b.accept(b_listener).expect("peer accepts");
            (ha, hb)
        };
        // B's connection to A, established; returns (A's, B's) handles.
        let passive = |a: &mut Recorder, b: &mut Stack| {
            let hb = b.connect(T0, to_a).expect("peer connect");
            pump(a, b);
            let ha = a.accept(listener);
            (ha, hb)
        };

        // ESTABLISHED with data in flight, data queued, and a hole: A's
        // data never reaches B; of B's three segments the first is lost.
        let (ha, hb) = passive(&mut a, &mut b);
        assert_eq!(a.send(ha, 24 << 10), 24 << 10);
        let lost_to_b = a.drain();
        own_packets.push(("established-data", lost_to_b[0].clone()));
        assert!(b.send(hb, &DATA[..3 * 1448]).expect("peer send") > 0);
        let from_b = drain_peer(&mut b);
        assert!(from_b.len() >= 3, "peer sent {} segments", from_b.len());
        a.deliver(&from_b[1..]);
        peer_packets.push(("established-hole", from_b[0].clone()));
        a.drain(); // duplicate ACKs with SACK, lost
        // What B says had A's data arrived but for the second segment: an
        // ACK, then duplicate ACKs with SACK blocks (loss recovery).
        assert!(lost_to_b.len() >= 4, "A sent {} segments", lost_to_b.len());
        deliver(&mut b, &lost_to_b[..1]);
        deliver(&mut b, &lost_to_b[2..]);
        for p in drain_peer(&mut b) {
            peer_packets.push(("established-ack-sack", p));
        }
        conns.push((ha, "ESTABLISHED"));

        // ESTABLISHED sending into a zero window: B reads nothing.
        let (ha, _hb) = active(&mut a, &mut b);
        a.send(ha, 16 << 10);
        pump(&mut a, &mut b);
        conns.push((ha, "ESTABLISHED"));

        // FIN-WAIT-1: A's FIN is lost; B's ACK of it is kept.
        let (ha, _hb) = active(&mut a, &mut b);
        a.shutdown(ha);
        let fin = a.drain();
        deliver(&mut b, &fin);
        for p in drain_peer(&mut b) {
            peer_packets.push(("fin-wait-1-ack", p));
        }
        conns.push((ha, "FIN-WAIT-1"));

        // FIN-WAIT-2: B acknowledged A's FIN; B's own FIN is kept.
        let (ha, hb) = active(&mut a, &mut b);
        a.shutdown(ha);
        pump(&mut a, &mut b);
        b.shutdown(hb).expect("peer shutdown");
        for p in drain_peer(&mut b) {
            peer_packets.push(("fin-wait-2-fin", p));
        }
        conns.push((ha, "FIN-WAIT-2"));

        // CLOSING: both FINs cross, both ACKs are lost; B's is kept.
        let (ha, hb) = active(&mut a, &mut b);
        a.shutdown(ha);
        b.shutdown(hb).expect("peer shutdown");
        let fin_a = a.drain();
        let fin_b = drain_peer(&mut b);
        deliver(&mut b, &fin_a);
        a.deliver(&fin_b);
        a.drain();
        for p in drain_peer(&mut b) {
            peer_packets.push(("closing-ack", p));
        }
        conns.push((ha, "CLOSING"));

        // TIME-WAIT: A closed first, B then. Kept: B's FIN again (a
        // retransmission), and a new SYN on the same 4-tuple made from it.
        let (ha, hb) = active(&mut a, &mut b);
        a.shutdown(ha);
        pump(&mut a, &mut b);
        b.shutdown(hb).expect("peer shutdown");
        let fin_b = drain_peer(&mut b);
        a.deliver(&fin_b);
        pump(&mut a, &mut b);
        peer_packets.push(("time-wait-fin-again", fin_b[0].clone()));
        let mut syn = fin_b[0].clone();
        let tcp = &mut syn[20..];
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]).wrapping_add(1 << 20);
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&[0; 4]);
        tcp[13] = 0x02; // SYN alone
        fix_checksums(&mut syn);
        peer_packets.push(("time-wait-syn", syn));
        conns.push((ha, "TIME-WAIT"));

        // CLOSE-WAIT: B closed first, A has not.
        let (ha, hb) = passive(&mut a, &mut b);
        b.shutdown(hb).expect("peer shutdown");
        pump(&mut a, &mut b);
        conns.push((ha, "CLOSE-WAIT"));

        // LAST-ACK: B closed first, then A; B's final ACK is kept.
        let (ha, hb) = passive(&mut a, &mut b);
        b.shutdown(hb).expect("peer shutdown");
        pump(&mut a, &mut b);
        a.shutdown(ha);
        let fin = a.drain();
        deliver(&mut b, &fin);
        for p in drain_peer(&mut b) {
            peer_packets.push(("last-ack-ack", p));
        }
        conns.push((ha, "LAST-ACK"));

        // SYN-SENT: A's SYN is lost; B's SYN-ACK to it is kept.
        let ha = a.connect(to_b);
        let syn = a.drain();
        own_packets.push(("syn-sent-syn", syn[0].clone()));
        deliver(&mut b, &syn);
        for p in drain_peer(&mut b) {
            peer_packets.push(("syn-sent-synack", p));
        }
        conns.push((ha, "SYN-SENT"));

        // Two half-open entries at A's listener: B's final ACKs are kept.
        for _ in 0..2 {
            b.connect(T0, to_a).expect("peer connect");
            let syn = drain_peer(&mut b);
            a.deliver(&syn);
            let syn_ack = a.drain();
            deliver(&mut b, &syn_ack);
            for p in drain_peer(&mut b) {
                peer_packets.push(("half-open-ack", p));
            }
        }

        // A fresh SYN to the listener.
        b.connect(T0, to_a).expect("peer connect");
        for p in drain_peer(&mut b) {
            peer_packets.push(("listen-syn", p));
        }

        while a.stack.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        Fixture {
            stack: a.stack,
            peer: b,
            recording: Recording {
                offload,
                calls: a.calls,
                listener,
                conns,
            },
            peer_packets,
            own_packets,
        }
    }
}

/// Fixes the IPv4 header checksum of `p`, and the TCP or ICMP checksum too
/// unless `p` is a fragment; leaves alone whatever is too malformed to
/// have one.
pub fn fix_checksums(p: &mut [u8]) {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return;
    }
    p[10..12].copy_from_slice(&[0, 0]);
    let sum = checksum::checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let flags_offset = u16::from_be_bytes([p[6], p[7]]);
    if flags_offset & 0x3fff != 0 {
        return; // MF or an offset: a fragment
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if total < ihl || total > p.len() {
        return;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let protocol = p[9];
    let l4 = &mut p[ihl..total];
    match protocol {
        PROTO_TCP => fill_checksum(l4, src, dst),
        PROTO_ICMP if l4.len() >= 8 => {
            l4[2..4].copy_from_slice(&[0, 0]);
            let sum = checksum::checksum(l4);
            l4[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        _ => {}
    }
}

/// Checks one packet the stack sent: a well-formed IPv4 datagram from A
/// with good checksums, carrying TCP or ICMP that parses.
#[track_caller]
pub fn check_output(packet: &[u8]) {
    let (ip, payload) = match parse_ipv4(packet, true) {
        Ok(v) => v,
        Err(e) => panic!("the stack sent a bad IPv4 packet ({e}): {packet:02x?}"),
    };
    assert_eq!(ip.src, A, "the stack sent from another address");
    assert_eq!(
        payload.len(),
        packet.len() - 20,
        "trailing bytes or options"
    );
    match ip.protocol {
        PROTO_TCP => {
            if let Err(e) = parse_tcp(payload, ip.src, ip.dst, true) {
                panic!("the stack sent a bad TCP segment ({e}): {packet:02x?}");
            }
        }
        PROTO_ICMP => {
            if let Err(e) = IcmpRepr::parse(payload, true) {
                panic!("the stack sent a bad ICMP message ({e}): {packet:02x?}");
            }
        }
        p => panic!("the stack sent protocol {p}"),
    }
}

/// One input's run over a fixture.
pub struct Runner {
    /// The stack under test.
    pub stack: Stack,
    /// The virtual clock; only ever moves forward.
    pub now: Instant,
    /// The stack was built for a device with offloads.
    offload: bool,
    listener: ListenerHandle,
    /// Handles the application holds.
    pub handles: Vec<SocketHandle>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Packets the stack sent, all checked.
    pub sent: u64,
}

impl Runner {
    /// A runner over stack A as `rec` makes it.
    pub fn new(rec: &Recording) -> Runner {
        let mut buf = vec![0u8; 65_536];
        Runner {
            offload: rec.offload,
            stack: rec.replay(&mut buf),
            now: T0,
            listener: rec.listener,
            handles: rec.conns.iter().map(|&(h, _)| h).collect(),
            buf,
            scratch: vec![0u8; 65_536],
            sent: 0,
        }
    }

    /// Sends everything the stack has, checking each frame: whole, with
    /// its partial checksum completed as a device would, and cut into
    /// the segments a device would send.
    pub fn drain(&mut self) {
        for n in 0.. {
            let Some((len, mut vnet)) = self.stack.poll_transmit_frame(self.now, &mut self.buf)
            else {
                break;
            };
            assert!(
                n < MAX_PACKETS_PER_DRAIN,
                "the stack kept sending: {n} frames at {}",
                self.now
            );
            assert!(len <= self.buf.len());
            let frame = &mut self.buf[..len];
            if !self.offload {
                assert_eq!(vnet, VnetHdr::default(), "a frame header without offloads");
            }
            for index in 0.. {
                match segment_tcp4(&vnet, frame, index, &mut self.scratch) {
                    Ok(Some(n)) => check_output(&self.scratch[..n]),
                    Ok(None) => break,
                    Err(e) => panic!("the stack sent a frame no device could send ({e}): {vnet:?}"),
                }
            }
            if let Err(e) = vnet.complete_checksum(frame) {
                panic!("the stack sent a partial checksum out of bounds ({e}): {vnet:?}");
            }
            check_output(frame);
            self.sent += 1;
        }
        while self.stack.poll_event().is_some() {}
    }

    /// Moves the clock on by `by` and runs the timers that are due.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.stack.poll_timeout().is_some_and(|t| t <= self.now) {
            self.stack.handle_timeout(self.now);
        }
        self.drain();
    }

    /// Jumps to each next timer deadline, `rounds` times, running the
    /// timers and draining.
    pub fn run_timers(&mut self, rounds: usize) {
        for _ in 0..rounds {
            let Some(t) = self.stack.poll_timeout() else {
                return;
            };
            // Never backwards; always at least a little forwards, in case
            // the deadline was early.
            self.now = if t > self.now {
                t
            } else {
                self.now + Duration::from_millis(1)
            };
            self.stack.handle_timeout(self.now);
            self.drain();
        }
    }

    /// One packet record: `op` as described in the module docs.
    pub fn packet(&mut self, op: u8, body: &[u8]) {
        let (vnet, packet) = if op & 1 == 1 {
            let Some(hdr) = body.get(..VNET_HDR_LEN) else {
                return;
            };
            let vnet = VnetHdr::parse(hdr).expect("12 bytes");
            (Some(vnet), &body[VNET_HDR_LEN..])
        } else {
            (None, body)
        };
        let input = &mut self.scratch[..packet.len()];
        input.copy_from_slice(packet);
        if op & 4 != 0 {
            fix_checksums(input);
        }
        match vnet {
            Some(v) => self.stack.handle_frame(self.now, &v, input),
            None => self.stack.handle_packet(self.now, input),
        }
        if op & 8 == 0 {
            self.drain();
        }
    }

    /// An application command: `(op >> 2) & 7` picks it: 0 send `body`,
    /// 1 receive everything, 2 shutdown, 3 close, 4 abort, 5 accept,
    /// 6 connect to B, 7 shutdown the read side. The handle is an index
    /// into [`Runner::handles`], modulo its length: `op >> 5`, plus 8
    /// times the body's first byte if it has one (so that every handle,
    /// the ones accepted or connected during the run too, can be named).
    pub fn app(&mut self, op: u8, body: &[u8]) {
        let pick = usize::from(op >> 5) + 8 * usize::from(body.first().copied().unwrap_or(0));
        let h = match self.handles.len() {
            0 => None,
            n => Some(self.handles[pick % n]),
        };
        let now = self.now;
        let s = &mut self.stack;
        match ((op >> 2) & 7, h) {
            (0, Some(h)) => drop(s.send(h, body)),
            (1, Some(h)) => {
                let mut out = [0u8; 4096];
                while matches!(s.recv(h, &mut out), Ok(1..)) {}
            }
            (2, Some(h)) => drop(s.shutdown(h)),
            (3, Some(h)) => drop(s.close(now, h)),
            (4, Some(h)) => drop(s.abort(now, h)),
            (5, _) => {
                if let Some(h) = s.accept(self.listener) {
                    self.handles.push(h);
                }
            }
            (6, _) => {
                if let Ok(h) = s.connect(now, SocketAddrV4::new(B, PEER_PORT)) {
                    self.handles.push(h);
                }
            }
            (7, Some(h)) => drop(s.shutdown_read(h)),
            _ => {}
        }
        if self.handles.len() > MAX_HANDLES {
            self.handles.remove(0);
        }
        self.drain();
    }

    /// Runs every record of `data`, then the final drain and timers.
    pub fn run(&mut self, data: &[u8]) {
        for (op, body) in Records(data) {
            match op & 3 {
                0 | 1 => self.packet(op, body),
                2 => self.advance(STEPS[usize::from((op >> 2) & 15)]),
                _ => self.app(op, body),
            }
        }
        self.drain();
        self.run_timers(FINAL_TIMER_ROUNDS);
    }
}

/// The records of an input: `(op, body)`.
pub struct Records<'a>(pub &'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&op, rest) = self.0.split_first()?;
        let (len, rest) = match rest {
            [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
            _ => (0, &[][..]),
        };
        let (body, rest) = rest.split_at(len.min(rest.len()));
        self.0 = rest;
        Some((op, body))
    }
}

/// Appends one record to an input (the inverse of [`Records`]).
pub fn push_record(input: &mut Vec<u8>, op: u8, body: &[u8]) {
    let len = u16::try_from(body.len()).expect("a record body fits 16 bits");
    input.push(op);
    input.extend_from_slice(&len.to_le_bytes());
    input.extend_from_slice(body);
}

/// Op bytes for the seed generator and tests.
pub mod op {
    /// A packet, checksums fixed by the harness.
    pub const PACKET: u8 = 4;
    /// A packet as is (checksums as given).
    pub const PACKET_RAW: u8 = 0;
    /// A virtio-net header and a packet, checksums fixed.
    pub const FRAME: u8 = 5;
    /// Time passes by `STEPS[step]`.
    pub const fn time(step: u8) -> u8 {
        2 | (step & 15) << 2
    }
    /// Application command `cmd` on handle `handle` (see `Runner::app`).
    pub const fn app(cmd: u8, handle: u8) -> u8 {
        3 | (cmd & 7) << 2 | (handle & 7) << 5
    }
}

/// The fixture's recording, with or without offloads, made once per
/// process.
pub fn recording(offload: bool) -> &'static Recording {
    static PLAIN: OnceLock<Recording> = OnceLock::new();
    static OFFLOAD: OnceLock<Recording> = OnceLock::new();
    let rec = if offload { &OFFLOAD } else { &PLAIN };
    rec.get_or_init(|| Fixture::build(offload).recording)
}

/// The stack target: the first byte's low bit picks the fixture without
/// (0) or with (1) device offloads; the records that follow run over a
/// replay of it.
pub fn run(data: &[u8]) {
    let (offload, records) = match data.split_first() {
        Some((&first, rest)) => (first & 1 == 1, rest),
        None => (false, data),
    };
    let mut r = Runner::new(recording(offload));
    r.run(records);
}
