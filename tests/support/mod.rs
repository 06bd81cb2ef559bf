//! A fake peer for driving one real [`Stack`] segment by segment.
//!
//! The stack under test is 192.0.2.2; the peer is 192.0.2.1 and exists only
//! as the [`Fixture`]'s bookkeeping: the tests build every segment it sends by
//! hand ([`PeerSeg`], emitted with the crate's own `wire` emitters) and parse
//! every packet the stack sends ([`ParsedSeg`]). Time is explicit: `fx.now`
//! only moves when a test moves it, and timers fire only at their deadlines
//! through [`Fixture::advance_to`].
//!
//! Read RFC 9293 3.10.7 ("SEGMENT ARRIVES") and RFC 5961 first: the helpers
//! name things from the stack's point of view (RCV.NXT, SND.NXT are the
//! stack's variables as the peer can infer them).

#![allow(dead_code)]

/// Helpers for tests over a real TUN device: build a lab or skip, run a
/// simulator app on the device.
pub mod lab;

/// Helpers for tests that run the example programs.
pub mod programs;

/// One bulk upload in the simulator, for the loss-recovery tests.
pub mod upload;

/// Kernel-side raw sockets and SO_LINGER.
pub mod kernel_socket;

use ringtcp::stack::{Event, ListenerHandle, SocketHandle, Stack, StackConfig};
use ringtcp::tcp::TcpConfig;
use ringtcp::time::Instant;
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, PROTO_TCP, parse_ipv4};
use ringtcp::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, fill_checksum, parse_tcp};
use ringtcp::wire::{SeqNum, VnetHdr};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// The stack under test.
pub const OURS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The fake peer.
pub const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The peer's port for active opens, and the port the stack listens on.
pub const PEER_PORT: u16 = 4000;
pub const LISTEN_PORT: u16 = 80;
/// The peer's initial sequence number.
pub const PEER_ISS: u32 = 10_000;
/// Our receive buffer in the default fixtures: small enough that the window
/// we advertise (unscaled, the peer offers no window scaling) is the whole
/// buffer, so RCV.WND is unambiguous.
pub const RCV_BUF: usize = 8192;

/// A segment the peer sends. Built from the fixture's current sequence
/// variables and adjusted with the builder methods.
#[derive(Debug, Clone)]
pub struct PeerSeg {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl PeerSeg {
    pub fn seq(mut self, seq: SeqNum) -> Self {
        self.seq = seq;
        self
    }
    pub fn ack(mut self, ack: SeqNum) -> Self {
        self.ack = ack;
        self.flags |= TcpFlags::ACK;
        self
    }
    /// Clears the ACK bit (and the ack field).
    pub fn no_ack(mut self) -> Self {
        self.flags = self.flags.without(TcpFlags::ACK);
        self.ack = SeqNum(0);
        self
    }
    pub fn flags(mut self, flags: TcpFlags) -> Self {
        self.flags = flags;
        self
    }
    pub fn syn(mut self) -> Self {
        self.flags |= TcpFlags::SYN;
        self
    }
    pub fn fin(mut self) -> Self {
        self.flags |= TcpFlags::FIN;
        self
    }
    pub fn rst(mut self) -> Self {
        self.flags |= TcpFlags::RST;
        self
    }
    pub fn data(mut self, data: &[u8]) -> Self {
        self.payload = data.to_vec();
        self
    }
    pub fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }
    pub fn mss(mut self, mss: u16) -> Self {
        self.options.mss = Some(mss);
        self
    }
    pub fn dst_port(mut self, port: u16) -> Self {
        self.dst_port = port;
        self
    }

    /// The IPv4 packet, peer -> us, checksums filled.
    pub fn to_packet(&self) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: self.options,
            payload: &[],
        };
        let hlen = repr.header_len();
        let total = IPV4_HEADER_LEN + hlen + self.payload.len();
        let mut buf = vec![0u8; total];
        let ip = Ipv4Repr {
            src: PEER,
            dst: OURS,
            protocol: PROTO_TCP,
            payload_len: hlen + self.payload.len(),
            ttl: 64,
        };
        ip.emit(&mut buf[..IPV4_HEADER_LEN], 1).unwrap();
        let seg = &mut buf[IPV4_HEADER_LEN..];
        repr.emit_header(seg).unwrap();
        seg[hlen..].copy_from_slice(&self.payload);
        fill_checksum(seg, PEER, OURS);
        buf
    }
}

/// Cuts a whole IPv4 datagram (20-byte header, no options) into fragments
/// whose payloads start at 0 and at each of `cuts` (offsets into the
/// payload, multiples of 8, ascending), as a router would (RFC 791 3.2):
/// DF clear, MF on all but the last, the same identification `ident`.
pub fn fragment(datagram: &[u8], ident: u16, cuts: &[usize]) -> Vec<Vec<u8>> {
    let (ip, payload) = parse_ipv4(datagram, true).expect("a whole datagram to cut");
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let piece = &payload[w[0]..w[1]];
            let mut buf = vec![0u8; IPV4_HEADER_LEN + piece.len()];
            let repr = Ipv4Repr {
                payload_len: piece.len(),
                ..ip
            };
            let more = w[1] < payload.len();
            repr.emit_fragment(&mut buf, ident, w[0], more)
                .expect("offsets are multiples of 8");
            buf[IPV4_HEADER_LEN..].copy_from_slice(piece);
            buf
        })
        .collect()
}

/// A segment the stack sent, parsed and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSeg {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl ParsedSeg {
    pub fn parse(packet: &[u8]) -> ParsedSeg {
        let (ip, payload) = parse_ipv4(packet, true).expect("the stack sent a bad IPv4 packet");
        assert_eq!(ip.src, OURS, "source address");
        assert_eq!(ip.dst, PEER, "destination address");
        assert_eq!(ip.protocol, PROTO_TCP, "protocol");
        let t = parse_tcp(payload, ip.src, ip.dst, true).expect("the stack sent a bad TCP segment");
        ParsedSeg {
            src_port: t.src_port,
            dst_port: t.dst_port,
            seq: t.seq,
            ack: t.ack,
            flags: t.flags,
            window: t.window,
            options: t.options,
            payload: t.payload.to_vec(),
        }
    }

    /// Sequence space the segment occupies (RFC 9293 SEG.LEN).
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// The flags without PSH, which tests do not care about.
    pub fn ctl(&self) -> TcpFlags {
        self.flags.without(TcpFlags::PSH)
    }
}

/// One packet the stack sent.
#[derive(Debug)]
pub struct Frame {
    /// The virtio-net header `poll_transmit_frame` returned with it.
    pub vnet: VnetHdr,
    /// The packet as the stack wrote it (checksum possibly partial).
    pub raw: Vec<u8>,
    /// The packet after the device's work (checksum completed), parsed
    /// with checksum verification on.
    pub seg: ParsedSeg,
}

impl Frame {
    /// Payload bytes.
    pub fn len(&self) -> usize {
        self.seg.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seg.payload.is_empty()
    }
}

/// One stack, one connection (or listener), and the peer's bookkeeping.
pub struct Fixture {
    pub stack: Stack,
    pub now: Instant,
    /// The connection under test; `None` for a half-open passive connection
    /// (SYN-RECEIVED from a listener has no handle until it is accepted) and
    /// for listener/closed-port tests.
    pub h: Option<SocketHandle>,
    /// The listener, in the passive-open fixtures.
    pub listener: Option<ListenerHandle>,
    /// Our port (the stack's).
    pub local_port: u16,
    /// The peer's port.
    pub peer_port: u16,
    /// Our ISS, from our SYN or SYN-ACK.
    pub iss: SeqNum,
    /// Our RCV.NXT: the next sequence number the peer sends.
    pub rcv_nxt: SeqNum,
    /// Our SND.NXT as the peer sees it: what the peer acknowledges.
    pub snd_nxt: SeqNum,
    /// The window field of the last segment we sent.
    pub rcv_wnd: u32,
    /// The window the peer advertises by default.
    pub peer_window: u16,
    /// [`Fixture::seg`] acknowledges SND.NXT minus this: 1 in the states
    /// whose FIN must stay unacknowledged (FIN-WAIT-1, CLOSING, LAST-ACK).
    pub ack_lag: u32,
}

pub fn tcp_config() -> TcpConfig {
    // The per-state tests check the RFC 9293 / RFC 5681 baseline: quick
    // ACKs and tail loss probes, which change when ACKs and retransmissions
    // go out, are off here and tested on their own.
    TcpConfig {
        recv_buffer: RCV_BUF,
        quickack: 0,
        tlp: false,
        ..TcpConfig::default()
    }
}

pub fn stack_config(tcp: TcpConfig) -> StackConfig {
    let mut cfg = StackConfig::new(OURS, 7);
    cfg.tcp = tcp;
    cfg
}

impl Fixture {
    /// A stack with nothing open yet.
    pub fn bare(cfg: StackConfig) -> Fixture {
        let now = Instant::from_millis(1000);
        Fixture {
            stack: Stack::new(cfg, now),
            now,
            h: None,
            listener: None,
            local_port: LISTEN_PORT,
            peer_port: PEER_PORT,
            iss: SeqNum(0),
            rcv_nxt: SeqNum(PEER_ISS),
            snd_nxt: SeqNum(0),
            rcv_wnd: 0,
            peer_window: 65_535,
            ack_lag: 0,
        }
    }

    #[track_caller]
    pub fn h(&self) -> SocketHandle {
        self.h.expect("the fixture has no connection handle")
    }

    /// A segment from the peer at RCV.NXT acknowledging SND.NXT, with the
    /// peer's default window.
    pub fn seg(&self) -> PeerSeg {
        PeerSeg {
            src_port: self.peer_port,
            dst_port: self.local_port,
            seq: self.rcv_nxt,
            ack: self.snd_nxt - self.ack_lag,
            flags: TcpFlags::ACK,
            window: self.peer_window,
            options: TcpOptions::default(),
            payload: Vec::new(),
        }
    }

    /// The RFC 9293 state of the connection under test.
    #[track_caller]
    pub fn state(&self) -> &'static str {
        self.stack.state(self.h()).expect("state of a live handle")
    }

    /// Every event raised since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.stack.poll_event()).collect()
    }

    /// One packet from the stack, if it has one.
    pub fn poll(&mut self) -> Option<ParsedSeg> {
        self.poll_frame_in(2048).map(|f| f.seg)
    }

    /// One packet from the stack through `poll_transmit_frame` into a
    /// buffer of `buf_len` bytes, as a device gets it: a partial checksum
    /// (a stack with checksum offload) is completed the way the device
    /// would, then the packet is parsed with verification (`ParsedSeg::parse`
    /// panics on a bad checksum) and the stack's SND.NXT and window are
    /// followed.
    pub fn poll_frame_in(&mut self, buf_len: usize) -> Option<Frame> {
        let mut buf = vec![0u8; buf_len];
        let (n, vnet) = self.stack.poll_transmit_frame(self.now, &mut buf)?;
        let raw = buf[..n].to_vec();
        let mut dev = vnet;
        dev.complete_checksum(&mut buf[..n])
            .expect("the checksum offsets fit the packet");
        let seg = ParsedSeg::parse(&buf[..n]);
        self.track(&seg);
        Some(Frame { vnet, raw, seg })
    }

    /// Everything the stack has to send now.
    pub fn drain(&mut self) -> Vec<ParsedSeg> {
        std::iter::from_fn(|| self.poll()).collect()
    }

    /// Follows the stack's window and SND.NXT from what it sends.
    fn track(&mut self, seg: &ParsedSeg) {
        if seg.flags.rst() || seg.src_port != self.local_port || seg.dst_port != self.peer_port {
            return;
        }
        self.rcv_wnd = u32::from(seg.window);
        let end = seg.seq + seg.seg_len();
        if end > self.snd_nxt || self.snd_nxt == SeqNum(0) {
            self.snd_nxt = end;
        }
    }

    /// Moves time forward to `t`, firing each timer at its own deadline,
    /// and returns what the stack sent, with when.
    pub fn advance_to(&mut self, t: Instant) -> Vec<(Instant, ParsedSeg)> {
        assert!(t >= self.now, "time must not go backwards");
        let mut out = Vec::new();
        for step in 0.. {
            assert!(step < 100_000, "timers keep firing without time passing");
            match self.stack.poll_timeout() {
                Some(d) if d <= t => {
                    self.now = self.now.max(d);
                    self.stack.handle_timeout(self.now);
                    let now = self.now;
                    out.extend(self.drain().into_iter().map(|s| (now, s)));
                }
                _ => break,
            }
        }
        self.now = t;
        self.stack.handle_timeout(t);
        out.extend(self.drain().into_iter().map(|s| (t, s)));
        out
    }

    /// [`advance_to`](Self::advance_to) by a duration.
    pub fn advance(&mut self, d: Duration) -> Vec<(Instant, ParsedSeg)> {
        self.advance_to(self.now + d)
    }

    /// Queues application data and returns how much was taken.
    #[track_caller]
    pub fn app_send(&mut self, data: &[u8]) -> usize {
        self.stack.send(self.h(), data).expect("send")
    }

    /// Reads everything readable.
    #[track_caller]
    pub fn app_recv(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.stack.recv(self.h(), &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// Reads at most `max` bytes.
    #[track_caller]
    pub fn app_recv_max(&mut self, max: usize) -> Vec<u8> {
        let mut out = vec![0u8; max];
        let n = self.stack.recv(self.h(), &mut out).unwrap_or(0);
        out.truncate(n);
        out
    }
}

/// Sends one segment from the peer. Advances RCV.NXT over what it carries
/// when it starts exactly at RCV.NXT and is not a RST (that is, when the
/// stack should take it in order); tests that expect otherwise set
/// `fx.rcv_nxt` themselves.
pub fn send(fx: &mut Fixture, seg: PeerSeg) {
    let pkt = seg.to_packet();
    if !seg.flags.rst() && seg.seq == fx.rcv_nxt && !seg.flags.syn() {
        fx.rcv_nxt += seg.payload.len() + usize::from(seg.flags.fin());
    }
    fx.stack.handle_packet(fx.now, &pkt);
}

/// Sends one segment without touching the fixture's bookkeeping.
pub fn send_raw(fx: &mut Fixture, seg: &PeerSeg) {
    let pkt = seg.to_packet();
    fx.stack.handle_packet(fx.now, &pkt);
}

/// The next packet the stack sends; fails the test if there is none.
#[track_caller]
pub fn expect_reply(fx: &mut Fixture) -> ParsedSeg {
    match fx.poll() {
        Some(s) => s,
        None => panic!("expected a reply, the stack sent nothing"),
    }
}

/// Fails the test if the stack has anything to send.
#[track_caller]
pub fn expect_no_reply(fx: &mut Fixture) {
    if let Some(s) = fx.poll() {
        panic!("expected no reply, the stack sent {s:?}");
    }
}

/// Asserts that `seg` is a pure ACK (no data, no SYN/FIN/RST) with
/// SEQ = `seq` and ACK = `ack`.
#[track_caller]
pub fn assert_ack(seg: &ParsedSeg, seq: SeqNum, ack: SeqNum) {
    assert_eq!(seg.ctl(), TcpFlags::ACK, "flags of {seg:?}");
    assert!(
        seg.payload.is_empty(),
        "an ACK without data expected: {seg:?}"
    );
    assert_eq!(seg.seq, seq, "SEQ of {seg:?}");
    assert_eq!(seg.ack, ack, "ACK of {seg:?}");
}

// ----- fixtures ----------------------------------------------------------------

/// SYN-SENT: `connect` was called and the SYN went out.
pub fn syn_sent_with(tcp: TcpConfig) -> Fixture {
    syn_sent_cfg(stack_config(tcp))
}

pub fn syn_sent_cfg(cfg: StackConfig) -> Fixture {
    connect_cfg(cfg).0
}

/// SYN-SENT as [`syn_sent_cfg`], with the SYN as the stack sent it.
pub fn connect_cfg(cfg: StackConfig) -> (Fixture, Frame) {
    let mut fx = Fixture::bare(cfg);
    let h = fx
        .stack
        .connect(fx.now, SocketAddrV4::new(PEER, PEER_PORT))
        .expect("connect");
    fx.h = Some(h);
    fx.local_port = fx.stack.local_addr(h).unwrap().port();
    fx.peer_port = PEER_PORT;
    let syn = fx.poll_frame_in(2048).expect("the SYN");
    assert_eq!(syn.seg.ctl(), TcpFlags::SYN, "{:?}", syn.seg);
    fx.iss = syn.seg.seq;
    fx.snd_nxt = syn.seg.seq + 1u32;
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "SYN-SENT");
    fx.events();
    (fx, syn)
}

pub fn syn_sent() -> Fixture {
    syn_sent_with(tcp_config())
}

/// ESTABLISHED by an active open from any stack configuration, with the
/// peer's ISS, MSS option (or none) and window.
pub fn established_cfg(
    cfg: StackConfig,
    peer_iss: u32,
    peer_mss: Option<u16>,
    peer_window: u16,
) -> Fixture {
    established_by(cfg, peer_iss, peer_window, |synack, _| {
        synack.options.mss = peer_mss;
    })
}

/// ESTABLISHED by an active open: the peer's SYN-ACK carries `peer_iss`
/// and `peer_window` and no options, and then whatever `tweak` makes of it
/// given our SYN (offer SACK, echo our timestamp...).
pub fn established_by(
    cfg: StackConfig,
    peer_iss: u32,
    peer_window: u16,
    tweak: impl FnOnce(&mut PeerSeg, &ParsedSeg),
) -> Fixture {
    let (mut fx, syn) = connect_cfg(cfg);
    fx.peer_window = peer_window;
    let mut synack = fx.seg().seq(SeqNum(peer_iss)).syn().ack(fx.iss + 1u32);
    tweak(&mut synack, &syn.seg);
    send_raw(&mut fx, &synack);
    fx.rcv_nxt = SeqNum(peer_iss) + 1u32;
    let ack = expect_reply(&mut fx);
    assert_ack(&ack, fx.iss + 1u32, fx.rcv_nxt);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "ESTABLISHED");
    assert_eq!(fx.events(), vec![Event::Connected(fx.h())]);
    fx
}

/// ESTABLISHED by an active open, with the peer's MSS option (or none) and
/// window.
pub fn established_with(tcp: TcpConfig, peer_mss: Option<u16>, peer_window: u16) -> Fixture {
    established_cfg(stack_config(tcp), PEER_ISS, peer_mss, peer_window)
}

pub fn established() -> Fixture {
    established_with(tcp_config(), Some(1460), 65_535)
}

/// SYN-RECEIVED from a listener on [`LISTEN_PORT`]: the peer's SYN arrived
/// and our SYN-ACK went out. There is no handle until the handshake ends.
pub fn syn_received_with(tcp: TcpConfig) -> Fixture {
    let mut fx = Fixture::bare(stack_config(tcp));
    fx.listener = Some(fx.stack.listen(LISTEN_PORT, 16).expect("listen"));
    fx.local_port = LISTEN_PORT;
    fx.peer_port = PEER_PORT;
    let syn = fx.seg().seq(SeqNum(PEER_ISS)).no_ack().syn().mss(1460);
    send_raw(&mut fx, &syn);
    fx.rcv_nxt = SeqNum(PEER_ISS + 1);
    let synack = expect_reply(&mut fx);
    assert_eq!(synack.ctl(), TcpFlags::SYN | TcpFlags::ACK, "{synack:?}");
    assert_eq!(synack.ack, fx.rcv_nxt);
    fx.iss = synack.seq;
    fx.snd_nxt = synack.seq + 1u32;
    expect_no_reply(&mut fx);
    fx.events();
    fx
}

pub fn syn_received() -> Fixture {
    syn_received_with(tcp_config())
}

/// FIN-WAIT-1: ESTABLISHED, then `shutdown`; our FIN is out, unacknowledged.
pub fn fin_wait_1() -> Fixture {
    let mut fx = established();
    fx.stack.shutdown(fx.h()).unwrap();
    let fin = expect_reply(&mut fx);
    assert_eq!(fin.ctl(), TcpFlags::FIN | TcpFlags::ACK, "{fin:?}");
    assert_eq!(fin.seq, fx.iss + 1u32);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "FIN-WAIT-1");
    fx.ack_lag = 1;
    fx
}

/// FIN-WAIT-2: the peer acknowledged our FIN.
pub fn fin_wait_2() -> Fixture {
    let mut fx = fin_wait_1();
    fx.ack_lag = 0;
    let ack = fx.seg();
    send(&mut fx, ack);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "FIN-WAIT-2");
    fx.events();
    fx
}

/// The peer's `fin` arrives: the stack acknowledges it, sends nothing else
/// and is in `state`.
fn take_peer_fin(mut fx: Fixture, fin: PeerSeg, state: &str) -> Fixture {
    send(&mut fx, fin);
    let ack = expect_reply(&mut fx);
    assert_ack(&ack, fx.snd_nxt, fx.rcv_nxt);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), state);
    fx.events();
    fx
}

/// CLOSE-WAIT: the peer's FIN arrived and was acknowledged.
pub fn close_wait() -> Fixture {
    let fx = established();
    let fin = fx.seg().fin();
    take_peer_fin(fx, fin, "CLOSE-WAIT")
}

/// CLOSING: both FINs crossed; ours is not acknowledged yet.
pub fn closing() -> Fixture {
    let fx = fin_wait_1();
    // The peer's FIN acknowledges everything but our FIN.
    let fin = fx.seg().fin().ack(fx.snd_nxt - 1);
    take_peer_fin(fx, fin, "CLOSING")
}

/// LAST-ACK: CLOSE-WAIT, then `shutdown`; our FIN is out.
pub fn last_ack() -> Fixture {
    let mut fx = close_wait();
    fx.stack.shutdown(fx.h()).unwrap();
    let fin = expect_reply(&mut fx);
    assert_eq!(fin.ctl(), TcpFlags::FIN | TcpFlags::ACK, "{fin:?}");
    assert_eq!(fin.ack, fx.rcv_nxt);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "LAST-ACK");
    fx.events();
    fx.ack_lag = 1;
    fx
}

/// TIME-WAIT: FIN-WAIT-2, then the peer's FIN, acknowledged.
pub fn time_wait() -> Fixture {
    let fx = fin_wait_2();
    let fin = fx.seg().fin();
    take_peer_fin(fx, fin, "TIME-WAIT")
}

/// A stack listening on [`LISTEN_PORT`].
pub fn listen() -> Fixture {
    let mut fx = Fixture::bare(stack_config(tcp_config()));
    fx.listener = Some(fx.stack.listen(LISTEN_PORT, 16).expect("listen"));
    fx
}

/// A stack with nothing on [`LISTEN_PORT`].
pub fn closed_port() -> Fixture {
    Fixture::bare(stack_config(tcp_config()))
}
