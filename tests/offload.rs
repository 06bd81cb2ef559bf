//! Device offloads: TCP segmentation offload (TSO) and checksum offload on
//! the way out, super-packets with partial or device-validated checksums on
//! the way in (see `src/wire/vnet.rs`, `TcpConfig::{checksum_offload,
//! tso_max}`, `Stack::{handle_frame, poll_transmit_frame}`).
//!
//! One real `Stack` (192.0.2.2) is driven by the hand-built fake peer of
//! `tests/support` (192.0.2.1), whose `Fixture::poll_frame_in` reads the
//! stack's output as a device would: through `poll_transmit_frame`, with
//! the virtio-net header, and the checksum completed
//! (`VnetHdr::complete_checksum`) before the packet is parsed. These tests
//! read into a 65535-byte buffer ([`poll_frame`]), what TSO needs.
//!
//! Read first: virtio 1.2 section 5.1.6 (the virtio-net header), RFC 9293
//! 3.7.4 (Nagle), 3.8.6 (windows), RFC 5681 4.2 (delayed ACKs), RFC 6928
//! (the initial window).

mod support;

use ringtcp::stack::Event;
use ringtcp::tcp::TcpConfig;
use ringtcp::tcp::cc::initial_window;
use ringtcp::wire::tcp::{TcpFlags, fill_partial_checksum};
use ringtcp::wire::{
    IPV4_HEADER_LEN, SeqNum, TCP_HEADER_LEN, VnetHdr, WireError, parse_ipv4, parse_tcp,
};
use std::time::Duration;
use support::*;

/// A buffer as large as an IPv4 packet: what TSO needs.
const BIG: usize = 65_535;
/// The peer's MSS in every test.
const PEER_MSS: u16 = 1460;
/// Length of the timestamps option as the stack lays it out (NOP, NOP,
/// kind, length, TSval, TSecr).
const TS_OPT_LEN: usize = 12;

/// Deterministic test bytes.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// `tests/support`'s baseline config (quick ACKs and TLP off) with TSO and
/// checksum offload as the runtime sets them for a TUN device with
/// offloads.
fn offload_config() -> TcpConfig {
    TcpConfig {
        checksum_offload: true,
        tso_max: 65_535,
        ..tcp_config()
    }
}

fn poll_frame(fx: &mut Fixture) -> Option<Frame> {
    fx.poll_frame_in(BIG)
}

/// Everything the stack has to send now.
fn frames(fx: &mut Fixture) -> Vec<Frame> {
    std::iter::from_fn(|| poll_frame(fx)).collect()
}

#[track_caller]
fn expect_frame(fx: &mut Fixture) -> Frame {
    poll_frame(fx).expect("expected a packet, the stack sent nothing")
}

#[track_caller]
fn expect_nothing(fx: &mut Fixture) {
    if let Some(f) = poll_frame(fx) {
        panic!(
            "expected nothing, the stack sent {:?} ({} bytes of payload, {:?})",
            f.seg.ctl(),
            f.len(),
            f.vnet
        );
    }
}

/// The peer's timestamp clock: the fixture's milliseconds (never goes
/// backwards, so PAWS never drops a segment).
fn peer_tsval(fx: &Fixture) -> u32 {
    fx.now.total_millis() as u32
}

/// `fx.seg()` with a timestamps option when the connection negotiated
/// them (RFC 7323 3.2: every segment then carries one, or it is dropped).
fn pseg(fx: &Fixture) -> PeerSeg {
    let mut s = fx.seg();
    if fx.stack.info(fx.h()).unwrap().timestamps {
        // TSecr 0: the stack takes no RTT sample from it.
        s.options.timestamps = Some((peer_tsval(fx), 0));
    }
    s
}

/// ESTABLISHED by an active open, as `support::established_cfg` does but
/// through [`poll_frame`] (the fixture's `poll` cannot read a packet with
/// a partial checksum). The peer's SYN-ACK carries MSS [`PEER_MSS`], the
/// window `peer_window` (never scaled: the peer offers no window scaling)
/// and, with `timestamps`, a timestamps option.
fn open(tcp: TcpConfig, peer_window: u16, timestamps: bool) -> Fixture {
    let (mut fx, syn) = connect_cfg(stack_config(tcp));
    let h = fx.h();
    assert_eq!(syn.vnet.gso_type, VnetHdr::GSO_NONE, "a SYN is never TSO");
    expect_nothing(&mut fx);

    fx.peer_window = peer_window;
    let mut synack = fx
        .seg()
        .seq(SeqNum(PEER_ISS))
        .syn()
        .ack(fx.iss + 1u32)
        .mss(PEER_MSS);
    if timestamps {
        let (our_tsval, _) = syn
            .seg
            .options
            .timestamps
            .expect("our SYN offers timestamps");
        synack.options.timestamps = Some((peer_tsval(&fx), our_tsval));
    }
    send_raw(&mut fx, &synack);
    fx.rcv_nxt = SeqNum(PEER_ISS) + 1u32;
    let ack = expect_frame(&mut fx);
    assert_ack(&ack.seg, fx.iss + 1u32, fx.rcv_nxt);
    expect_nothing(&mut fx);
    assert_eq!(fx.state(), "ESTABLISHED");
    assert_eq!(fx.events(), vec![Event::Connected(h)]);
    let info = fx.stack.info(h).unwrap();
    assert_eq!(info.timestamps, timestamps);
    assert_eq!(info.window_scale, None);
    assert_eq!(info.snd_mss, usize::from(PEER_MSS));
    fx
}

/// Payload bytes per segment: the peer's MSS less the options every
/// segment carries.
fn seg_size(timestamps: bool) -> usize {
    usize::from(PEER_MSS) - if timestamps { TS_OPT_LEN } else { 0 }
}

fn segments_sent(fx: &Fixture) -> u64 {
    fx.stack.stats(fx.h()).unwrap().segments_sent
}

/// Bytes sent and not yet acknowledged, as the peer sees them.
fn in_flight(fx: &Fixture, una: SeqNum) -> usize {
    (fx.snd_nxt - una) as usize
}

/// The header the stack should give a TCP packet it built with checksum
/// offload: partial checksum summed from the TCP header (20, no IP options)
/// and stored at offset 16; a super-segment when `gso_size` is nonzero.
fn partial(hdr_len: usize, gso_size: usize) -> VnetHdr {
    VnetHdr {
        flags: VnetHdr::NEEDS_CSUM,
        gso_type: if gso_size > 0 {
            VnetHdr::GSO_TCPV4
        } else {
            VnetHdr::GSO_NONE
        },
        hdr_len: hdr_len as u16,
        gso_size: gso_size as u16,
        csum_start: 20,
        csum_offset: 16,
    }
}

// ----- 1. TSO: the first flight is one super-segment ---------------------------

/// The whole initial window goes out as one super-segment of whole
/// segments; its checksum is partial (fails verification as sent, passes
/// once completed as a device does).
fn check_first_flight_is_one_super_segment(timestamps: bool) {
    let mut fx = open(offload_config(), 65_535, timestamps);
    let seg = seg_size(timestamps);
    let iw = initial_window(usize::from(PEER_MSS));
    assert_eq!(iw, 14_600, "RFC 6928: ten segments of 1460");
    let expect_len = iw / seg * seg;
    assert_eq!(expect_len, if timestamps { 10 * 1448 } else { 10 * 1460 });
    let hdr_len = IPV4_HEADER_LEN + TCP_HEADER_LEN + if timestamps { TS_OPT_LEN } else { 0 };

    let data = pattern(200_000, 7);
    assert_eq!(fx.app_send(&data), 200_000);
    let sent_before = segments_sent(&fx);
    let f = expect_frame(&mut fx);

    assert_eq!(f.vnet, partial(hdr_len, seg), "{:?}", f.vnet);
    assert_eq!(f.vnet.flags, VnetHdr::NEEDS_CSUM);
    assert_eq!(f.vnet.gso_type, VnetHdr::GSO_TCPV4);
    assert_eq!(usize::from(f.vnet.gso_size), seg);
    assert_eq!((f.vnet.csum_start, f.vnet.csum_offset), (20, 16));
    assert_eq!(usize::from(f.vnet.hdr_len), hdr_len);
    assert_eq!(f.raw.len(), hdr_len + expect_len);

    assert_eq!(
        f.seg.ctl(),
        TcpFlags::ACK,
        "data with ACK, no FIN: {:?}",
        f.seg.flags
    );
    assert!(!f.seg.flags.psh(), "more data follows: no PSH");
    assert_eq!(f.seg.seq, fx.iss + 1u32);
    assert_eq!(f.seg.ack, fx.rcv_nxt);
    assert_eq!(f.len(), expect_len);
    assert_eq!(f.seg.payload, data[..expect_len]);

    // As sent, the checksum field holds only the pseudo-header sum: the
    // IP header is complete, the TCP checksum fails verification.
    let (ip, tcp) = parse_ipv4(&f.raw, true).expect("the IP header is complete");
    assert_eq!(ip.payload_len, f.raw.len() - IPV4_HEADER_LEN);
    assert_eq!(
        parse_tcp(tcp, OURS, PEER, true).err(),
        Some(WireError::BadChecksum)
    );
    let mut expect_raw = f.raw.clone();
    fill_partial_checksum(&mut expect_raw[IPV4_HEADER_LEN..], OURS, PEER);
    assert_eq!(
        expect_raw, f.raw,
        "the field is exactly the pseudo-header sum"
    );
    // Completed as the device does, it verifies.
    let mut done = f.raw.clone();
    let mut dev = f.vnet;
    dev.complete_checksum(&mut done).unwrap();
    assert!(!dev.needs_csum());
    let (ip, tcp) = parse_ipv4(&done, true).unwrap();
    let t = parse_tcp(tcp, ip.src, ip.dst, true).expect("the completed checksum verifies");
    assert_eq!(t.payload, &data[..expect_len]);

    // The congestion window is full: nothing else goes (with timestamps
    // the 120 bytes cwnd has left are less than a segment: Nagle/SWS).
    expect_nothing(&mut fx);
    assert_eq!(segments_sent(&fx) - sent_before, (expect_len / seg) as u64);
    assert_eq!(fx.stack.counters().tx_super_packets, 1);

    // The peer acknowledges it all: the next super-segment fills the grown
    // congestion window, again in whole segments, right after the first.
    fx.now += Duration::from_millis(10);
    let ack = pseg(&fx);
    send(&mut fx, ack);
    let cwnd = fx.stack.info(fx.h()).unwrap().cwnd;
    assert!(cwnd > iw, "slow start grew cwnd: {cwnd}");
    let g = expect_frame(&mut fx);
    let next_len = cwnd.min(65_535) / seg * seg;
    assert_eq!(g.len(), next_len, "cwnd {cwnd}");
    assert_eq!(g.seg.seq, fx.iss + 1u32 + expect_len as u32);
    assert_eq!(g.seg.payload, data[expect_len..expect_len + next_len]);
    assert_eq!(g.vnet, partial(hdr_len, seg));
    expect_nothing(&mut fx);
    assert_eq!(fx.stack.counters().tx_super_packets, 2);
}

#[test]
fn tso_first_flight_is_one_super_segment() {
    check_first_flight_is_one_super_segment(false);
}

/// With timestamps each segment carries 1448 bytes: 14600 / 1448 rounds
/// down to 10 segments, 14480 bytes.
#[test]
fn tso_first_flight_with_timestamps_is_whole_segments() {
    check_first_flight_is_one_super_segment(true);
}

// ----- 2. the peer's window bounds a super-segment -----------------------------

#[test]
fn super_segment_never_exceeds_the_peer_window() {
    let mut fx = open(offload_config(), 5000, false);
    let data = pattern(200_000, 1);
    fx.app_send(&data);
    let una0 = fx.iss + 1u32;

    // 5000 bytes of window: three whole segments (4380); the 620 left are
    // below a segment and below half the largest window (2500): they wait.
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 3 * 1460);
    assert_eq!(f.vnet, partial(40, 1460));
    assert_eq!(f.seg.seq, una0);
    expect_nothing(&mut fx);
    assert_eq!(in_flight(&fx, una0), 4380);

    // Everything acknowledged, same window: again 3 x 1460.
    fx.now += Duration::from_millis(10);
    let ack = fx.seg();
    send(&mut fx, ack);
    let una1 = fx.snd_nxt;
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 3 * 1460);
    assert_eq!(f.vnet, partial(40, 1460));
    assert_eq!(f.seg.seq, una1);
    assert_eq!(f.seg.payload, data[4380..8760]);
    expect_nothing(&mut fx);

    // One segment of it acknowledged: 2080 bytes of window open, which is
    // one whole segment: a plain packet, not a super-segment.
    let una2 = una1 + 1460u32;
    let ack = fx.seg().ack(una2);
    send_raw(&mut fx, &ack);
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 1460);
    assert_eq!(f.vnet, partial(40, 0), "one segment: no GSO");
    assert_eq!(f.seg.seq, una1 + 4380u32);
    expect_nothing(&mut fx);
    assert_eq!(in_flight(&fx, una2), 4380);
    assert!(in_flight(&fx, una2) <= 5000);

    // The window grows to 10000 with everything acknowledged: six whole
    // segments (8760); the 1240 left wait.
    fx.peer_window = 10_000;
    let ack = fx.seg();
    send(&mut fx, ack);
    let una3 = fx.snd_nxt;
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 6 * 1460);
    assert_eq!(f.vnet, partial(40, 1460));
    assert_eq!(f.seg.seq, una3);
    expect_nothing(&mut fx);
    assert_eq!(in_flight(&fx, una3), 8760);
    assert_eq!(fx.stack.counters().tx_super_packets, 3);
}

// ----- 3. Nagle and the short tail ---------------------------------------------

/// 1000 bytes go out alone (nothing in flight); then 5000 more are written
/// while those 1000 are unacknowledged.
fn small_then_burst(nodelay: bool) -> Fixture {
    let mut fx = open(offload_config(), 65_535, false);
    fx.stack.set_nodelay(fx.h(), nodelay).unwrap();
    fx.app_send(&pattern(1000, 0));
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 1000);
    assert_eq!(f.vnet, partial(40, 0));
    expect_nothing(&mut fx);
    fx.app_send(&pattern(5000, 1));
    fx
}

#[test]
fn nagle_holds_the_short_tail_of_a_burst() {
    let mut fx = small_then_burst(false);
    let una = fx.iss + 1u32;
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 3 * 1460, "whole segments only");
    assert_eq!(f.vnet, partial(40, 1460));
    assert_eq!(f.seg.seq, una + 1000u32);
    assert!(!f.seg.flags.psh(), "the tail is still to come");
    expect_nothing(&mut fx);

    // Part of the flight acknowledged: still data in flight, the 620-byte
    // tail waits.
    let ack = fx.seg().ack(una + 1000u32);
    send_raw(&mut fx, &ack);
    expect_nothing(&mut fx);

    // All acknowledged: the tail goes, alone, as a plain packet.
    let ack = fx.seg();
    send(&mut fx, ack);
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 620);
    assert_eq!(f.seg.seq, una + 1000u32 + 4380u32);
    assert_eq!(f.vnet, partial(40, 0));
    assert!(f.seg.flags.psh());
    assert_eq!(f.seg.payload, pattern(5000, 1)[4380..]);
    expect_nothing(&mut fx);
}

#[test]
fn nodelay_sends_the_tail_in_the_same_super_segment() {
    let mut fx = small_then_burst(true);
    let before = segments_sent(&fx);
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 5000);
    assert_eq!(f.vnet, partial(40, 1460), "four segments, the last short");
    assert_eq!(f.seg.seq, fx.iss + 1u32 + 1000u32);
    assert!(f.seg.flags.psh());
    assert_eq!(f.seg.payload, pattern(5000, 1));
    expect_nothing(&mut fx);
    assert_eq!(segments_sent(&fx) - before, 4);
}

/// Nothing in flight: Nagle lets a short tail go, so it rides with the
/// whole segments.
#[test]
fn tail_goes_with_the_burst_when_nothing_is_in_flight() {
    let mut fx = open(offload_config(), 65_535, false);
    fx.app_send(&pattern(5000, 2));
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 5000);
    assert_eq!(f.vnet, partial(40, 1460));
    assert!(f.seg.flags.psh());
    expect_nothing(&mut fx);
}

/// The FIN lets the tail go too (Nagle never holds the last data back
/// from a FIN), in the same super-segment as the FIN.
#[test]
fn tail_goes_with_the_fin_despite_data_in_flight() {
    let mut fx = open(offload_config(), 65_535, false);
    fx.app_send(&pattern(1000, 0));
    assert_eq!(expect_frame(&mut fx).len(), 1000);
    fx.app_send(&pattern(5000, 3));
    fx.stack.shutdown(fx.h()).unwrap();
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 5000);
    assert_eq!(f.seg.ctl(), TcpFlags::ACK | TcpFlags::FIN);
    assert_eq!(f.vnet, partial(40, 1460));
    assert_eq!(f.seg.seq, fx.iss + 1u32 + 1000u32);
    expect_nothing(&mut fx);
    assert_eq!(fx.snd_nxt, fx.iss + 1u32 + 6001u32);
}

// ----- 4. without offloads ------------------------------------------------------

#[test]
fn without_offloads_every_packet_is_one_complete_segment() {
    let tcp = TcpConfig {
        checksum_offload: false,
        tso_max: 0,
        ..tcp_config()
    };
    let mut fx = open(tcp, 65_535, false);
    let data = pattern(200_000, 4);
    fx.app_send(&data);
    let before = segments_sent(&fx);
    let sent = frames(&mut fx);
    assert_eq!(sent.len(), 10, "the initial window, one segment a packet");
    let mut seq = fx.iss + 1u32;
    for f in &sent {
        assert_eq!(f.vnet, VnetHdr::default());
        assert_eq!(f.len(), 1460);
        assert_eq!(f.seg.seq, seq);
        seq += 1460u32;
        // Complete as sent: verifies without a device's help.
        let (ip, tcp) = parse_ipv4(&f.raw, true).unwrap();
        parse_tcp(tcp, ip.src, ip.dst, true).expect("a complete checksum");
    }
    assert_eq!(segments_sent(&fx) - before, 10);
    assert_eq!(fx.stack.counters().tx_super_packets, 0);
}

/// Checksum offload alone: one segment a packet, each with a partial
/// checksum and a header that says so, no GSO.
#[test]
fn checksum_offload_without_tso_marks_plain_packets() {
    let tcp = TcpConfig {
        checksum_offload: true,
        tso_max: 0,
        ..tcp_config()
    };
    let mut fx = open(tcp, 65_535, false);
    fx.app_send(&pattern(200_000, 5));
    let sent = frames(&mut fx);
    assert_eq!(sent.len(), 10);
    for f in &sent {
        assert_eq!(f.vnet, partial(40, 0));
        assert_eq!(f.len(), 1460);
        let (ip, tcp) = parse_ipv4(&f.raw, true).unwrap();
        assert_eq!(
            parse_tcp(tcp, ip.src, ip.dst, true).err(),
            Some(WireError::BadChecksum)
        );
    }
    assert_eq!(fx.stack.counters().tx_super_packets, 0);
}

/// A super-segment is bounded by the caller's buffer too: 9000 bytes hold
/// six segments of 1460 behind 40 bytes of headers, and the rest of the
/// initial window (5840) follows as four.
#[test]
fn a_small_buffer_bounds_the_super_segment() {
    let mut fx = open(offload_config(), 65_535, false);
    fx.app_send(&pattern(200_000, 6));
    let f = fx.poll_frame_in(9000).unwrap();
    assert_eq!(f.len(), 6 * 1460);
    assert_eq!(f.vnet, partial(40, 1460));
    let f = fx.poll_frame_in(9000).unwrap();
    assert_eq!(f.len(), 4 * 1460);
    assert_eq!(f.vnet, partial(40, 1460));
    assert!(fx.poll_frame_in(9000).is_none());
}

/// Control packets the stack builds itself (a RST for a port with no
/// connection) are complete and get an empty header, offloads or not.
#[test]
fn control_packets_get_an_empty_header() {
    let mut fx = open(offload_config(), 65_535, false);
    let stray = fx.seg().dst_port(9).data(b"x");
    send_raw(&mut fx, &stray);
    let f = expect_frame(&mut fx);
    assert!(f.seg.flags.rst(), "{:?}", f.seg);
    assert_eq!(f.seg.src_port, 9);
    assert_eq!(f.vnet, VnetHdr::default());
    let (ip, tcp) = parse_ipv4(&f.raw, true).unwrap();
    parse_tcp(tcp, ip.src, ip.dst, true).expect("a complete checksum");
    expect_nothing(&mut fx);
}

// ----- 5-7. receiving super-packets ---------------------------------------------

/// Segments of the peer's super-packets: 1460 less the timestamps option.
const RX_SEG: usize = 1448;
/// Segments per super-packet.
const RX_SEGS: usize = 40;
/// IP + TCP + timestamps.
const RX_HDR: usize = 52;

/// ESTABLISHED with timestamps, a 1 MiB receive buffer (the window we
/// offer is the unscaled maximum, 65535, room for a 40 x 1448 super-packet)
/// and no quick ACKs (so only the delayed-ACK rules decide).
fn receiver() -> Fixture {
    let tcp = TcpConfig {
        recv_buffer: 1 << 20,
        ..offload_config()
    };
    let fx = open(tcp, 65_535, true);
    assert_eq!(fx.rcv_wnd, 65_535);
    fx
}

/// A super-packet from the peer at RCV.NXT: `RX_SEGS` segments' worth,
/// with the partial checksum a kernel hands over with `NEEDS_CSUM`.
fn super_packet(fx: &Fixture, payload: &[u8]) -> Vec<u8> {
    let seg = pseg(fx).data(payload);
    let mut pkt = seg.to_packet();
    assert_eq!(pkt.len(), RX_HDR + payload.len());
    fill_partial_checksum(&mut pkt[IPV4_HEADER_LEN..], PEER, OURS);
    // Sanity: it does not verify as it is.
    let (ip, tcp) = parse_ipv4(&pkt, true).unwrap();
    assert_eq!(
        parse_tcp(tcp, ip.src, ip.dst, true).err(),
        Some(WireError::BadChecksum)
    );
    pkt
}

fn rx_vnet() -> VnetHdr {
    VnetHdr::tcp4_partial(20, RX_HDR as u16, RX_SEG as u16)
}

/// Hands the super-packet over with the offload header and checks it is
/// taken whole and acknowledged at once. Returns the payload.
fn receive_super_packet(fx: &mut Fixture) -> Vec<u8> {
    let payload = pattern(RX_SEGS * RX_SEG, 9);
    let pkt = super_packet(fx, &payload);
    let start = fx.rcv_nxt;
    let trusted0 = fx.stack.counters().rx_checksum_trusted;
    let super0 = fx.stack.counters().rx_super_packets;
    fx.stack.handle_frame(fx.now, &rx_vnet(), &pkt);
    fx.rcv_nxt += payload.len();
    assert_eq!(fx.stack.counters().tcp_bad_checksum, 0);
    assert_eq!(fx.stack.counters().rx_checksum_trusted, trusted0 + 1);
    assert_eq!(fx.stack.counters().rx_super_packets, super0 + 1);
    // Acknowledged at once, the whole of it, without waiting for the
    // delayed-ACK timer.
    let ack = expect_frame(fx);
    assert_ack(&ack.seg, fx.snd_nxt, start + payload.len());
    expect_nothing(fx);
    payload
}

#[test]
fn a_super_packet_with_a_partial_checksum_is_taken_whole() {
    let mut fx = receiver();
    let payload = receive_super_packet(&mut fx);
    assert_eq!(fx.stack.counters().rx_checksum_trusted, 1);
    assert_eq!(fx.stack.counters().rx_super_packets, 1);
    let got = fx.app_recv();
    assert_eq!(got.len(), 57_920);
    assert_eq!(got, payload);
    assert_eq!(
        fx.stack.stats(fx.h()).unwrap().bytes_received,
        57_920,
        "one segment's worth of accounting for all of it"
    );
}

/// A partial checksum is trusted only with `NEEDS_CSUM` laid out for TCP:
/// without the flag, or with `csum_start` elsewhere, the packet is verified,
/// fails and is dropped. The same bytes with the right header are then
/// taken (the drops were for the checksum, nothing else).
#[test]
fn a_partial_checksum_without_the_right_header_is_dropped() {
    let mut fx = receiver();
    let payload = pattern(RX_SEGS * RX_SEG, 9);
    let pkt = super_packet(&fx, &payload);

    let rejected = [
        Some(VnetHdr::default()),
        // handle_packet is handle_frame with a default header.
        None,
        Some(VnetHdr {
            csum_start: 24,
            ..rx_vnet()
        }),
        Some(VnetHdr {
            csum_offset: 6,
            ..rx_vnet()
        }),
    ];
    for (i, vnet) in rejected.iter().enumerate() {
        match vnet {
            Some(v) => fx.stack.handle_frame(fx.now, v, &pkt),
            None => fx.stack.handle_packet(fx.now, &pkt),
        }
        assert_eq!(
            fx.stack.counters().tcp_bad_checksum,
            i as u64 + 1,
            "{vnet:?}"
        );
        assert_eq!(fx.stack.counters().rx_checksum_trusted, 0, "{vnet:?}");
        expect_nothing(&mut fx);
        assert_eq!(fx.app_recv(), b"");
    }
    assert_eq!(fx.stack.stats(fx.h()).unwrap().bytes_received, 0);

    fx.stack.handle_frame(fx.now, &rx_vnet(), &pkt);
    assert_eq!(fx.stack.counters().tcp_bad_checksum, 4);
    assert_eq!(fx.stack.counters().rx_checksum_trusted, 1);
    let ack = expect_frame(&mut fx);
    assert_ack(&ack.seg, fx.snd_nxt, fx.rcv_nxt + payload.len());
    assert_eq!(fx.app_recv(), payload);
}

/// `DATA_VALID` (the device checked it): a complete, correct checksum is
/// not summed again, and a corrupt one would not be caught (that is the
/// device's job): here the packet is correct and simply counted.
#[test]
fn data_valid_is_trusted() {
    let mut fx = receiver();
    let payload = pattern(3 * RX_SEG, 4);
    let pkt = pseg(&fx).data(&payload).to_packet();
    let valid = VnetHdr {
        flags: VnetHdr::DATA_VALID,
        gso_type: VnetHdr::GSO_TCPV4,
        gso_size: RX_SEG as u16,
        hdr_len: RX_HDR as u16,
        ..VnetHdr::default()
    };
    fx.stack.handle_frame(fx.now, &valid, &pkt);
    fx.rcv_nxt += payload.len();
    assert_eq!(fx.stack.counters().rx_checksum_trusted, 1);
    assert_eq!(fx.stack.counters().rx_super_packets, 1);
    let ack = expect_frame(&mut fx);
    assert_ack(&ack.seg, fx.snd_nxt, fx.rcv_nxt);
    assert_eq!(fx.app_recv(), payload);
}

/// RFC 5681 4.2 after a super-packet: it must not make 1448-byte segments
/// look smaller than full-sized. One of them waits for the delayed-ACK
/// timer; the second is acknowledged at once.
#[test]
fn full_segments_after_a_super_packet_still_count() {
    let mut fx = receiver();
    receive_super_packet(&mut fx);
    fx.app_recv();

    // Two 1448-byte segments move the right edge by 2896 bytes, less than
    // the 2 x 1460 a window update waits for: an immediate ACK below can
    // only come from the every-second-full-segment rule. With RCV.MSS
    // estimated from the super-packet (57920), 1448 / 57920 would count
    // as no full segment at all and both would wait for the timer.
    fx.now += Duration::from_millis(1);
    let s = pseg(&fx).data(&pattern(RX_SEG, 1));
    send(&mut fx, s);
    expect_nothing(&mut fx);
    let s = pseg(&fx).data(&pattern(RX_SEG, 2));
    send(&mut fx, s);
    let ack = expect_frame(&mut fx);
    assert_ack(&ack.seg, fx.snd_nxt, fx.rcv_nxt);
    expect_nothing(&mut fx);

    // And again: the count restarted with that ACK.
    let s = pseg(&fx).data(&pattern(RX_SEG, 3));
    send(&mut fx, s);
    expect_nothing(&mut fx);
    let s = pseg(&fx).data(&pattern(RX_SEG, 4));
    send(&mut fx, s);
    let ack = expect_frame(&mut fx);
    assert_ack(&ack.seg, fx.snd_nxt, fx.rcv_nxt);
    assert_eq!(fx.app_recv().len(), 4 * RX_SEG);
}

/// A super-packet no longer than our MSS (the device coalesced two 700-byte
/// segments: `gso_size` 700) holds two full segments and should be ACKed at
/// once, and must not make the peer's 700-byte segments look smaller than
/// full-sized afterwards (Linux takes RCV.MSS from `gso_size`, and so does
/// the stack: an estimate taken from the packet's length, 1400, would make
/// every later 700-byte segment count as none, ACKed only by the timer).
#[test]
fn a_small_super_packet_does_not_inflate_the_full_segment_size() {
    let mut fx = receiver();
    let payload = pattern(1400, 3);
    let mut pkt = pseg(&fx).data(&payload).to_packet();
    fill_partial_checksum(&mut pkt[IPV4_HEADER_LEN..], PEER, OURS);
    fx.stack
        .handle_frame(fx.now, &VnetHdr::tcp4_partial(20, RX_HDR as u16, 700), &pkt);
    fx.rcv_nxt += payload.len();
    assert_eq!(fx.stack.counters().rx_super_packets, 1);
    let ack = poll_frame(&mut fx).expect("two full segments' worth: ACKed at once");
    assert_ack(&ack.seg, fx.snd_nxt, fx.rcv_nxt);
    for pair in 0..3 {
        let s = pseg(&fx).data(&pattern(700, pair));
        send(&mut fx, s);
        expect_nothing(&mut fx);
        let s = pseg(&fx).data(&pattern(700, pair + 100));
        send(&mut fx, s);
        let ack = poll_frame(&mut fx)
            .unwrap_or_else(|| panic!("pair {pair}: the second 700-byte segment is ACKed at once"));
        assert_ack(&ack.seg, fx.snd_nxt, fx.rcv_nxt);
    }
}

/// After an RTO, data below SND.MAX goes out again through the new-data
/// path of `poll_data`, one segment per packet, never as a super-segment:
/// a super-segment there could carry data the peer has SACKed or new data
/// counted as retransmitted, and the kernel answers a resent super-segment
/// with one D-SACK, not one per segment, which would defeat D-SACK undo.
#[test]
fn retransmissions_after_an_rto_are_single_segments() {
    let mut fx = open(offload_config(), 65_535, false);
    let una = fx.iss + 1u32;
    fx.app_send(&pattern(200_000, 1));
    assert_eq!(expect_frame(&mut fx).len(), 14_600);
    // The RTO: one segment at SND.UNA, cwnd one segment. The stack may
    // wake before it for other reasons (its idle-buffer sweep), sending
    // nothing then.
    let f = (0..10)
        .find_map(|_| {
            let t = fx.stack.poll_timeout().unwrap();
            fx.now = t;
            fx.stack.handle_timeout(t);
            poll_frame(&mut fx)
        })
        .expect("the RTO fired");
    assert!(fx.stack.stats(fx.h()).unwrap().timeouts == 1);
    assert_eq!((f.seg.seq, f.len()), (una, 1460));
    expect_nothing(&mut fx);
    // Its ACK doubles cwnd (slow start): the next two segments, already
    // sent once, go again, each in its own plain packet.
    let before = fx.stack.stats(fx.h()).unwrap();
    let ack = fx.seg().ack(una + 1460u32);
    send_raw(&mut fx, &ack);
    for k in 1..=2u32 {
        let f = expect_frame(&mut fx);
        assert_eq!((f.seg.seq, f.len()), (una + 1460 * k, 1460));
        assert_eq!(f.vnet, partial(40, 0));
    }
    expect_nothing(&mut fx);
    let after = fx.stack.stats(fx.h()).unwrap();
    assert_eq!(after.segments_sent - before.segments_sent, 2);
    assert_eq!(
        after.segments_retransmitted - before.segments_retransmitted,
        2
    );
}

/// The kernel takes a super-segment as one segment and ACKs it whole: in
/// slow start that one stretch ACK must still double cwnd (counted as the
/// ACKs of every second segment it covers), not add RFC 3465's 2 SMSS.
#[test]
fn a_stretch_ack_of_a_super_segment_doubles_cwnd_in_slow_start() {
    let mut fx = open(offload_config(), 65_535, false);
    fx.app_send(&pattern(400_000, 9));
    let mut expected = 14_600;
    for round in 0..2 {
        let f = expect_frame(&mut fx);
        assert_eq!(f.len(), expected, "round {round}");
        expect_nothing(&mut fx);
        fx.now += Duration::from_millis(1);
        let ack = fx.seg();
        send(&mut fx, ack);
        expected *= 2;
    }
    // 58400 bytes: the third flight, as one super-segment within the
    // 65535-byte window.
    let f = expect_frame(&mut fx);
    assert_eq!(f.len(), 58_400);
}
