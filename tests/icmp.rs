//! ICMP destination unreachable for TCP (RFC 1122 4.2.3.9, RFC 5927,
//! RFC 1191), one real `Stack` driven by hand: a router (192.0.2.254)
//! quotes segments the stack sent.
//!
//! - A quote of no segment in flight is ignored (RFC 5927 4.1).
//! - In SYN-SENT an unreachable fails the connect at once, with the error
//!   its code stands for (as Linux does).
//! - A synchronized connection is never torn down by one; the error is
//!   what a later timeout reports.
//! - "Fragmentation needed" lowers the segment size and resends what was
//!   in flight at once.

mod support;

use ringtcp::stack::Event;
use ringtcp::tcp::ConnError;
use ringtcp::wire::SeqNum;
use ringtcp::wire::icmp::{self, IcmpRepr};
use ringtcp::wire::ipv4::IPV4_HEADER_LEN;
use std::net::Ipv4Addr;
use std::time::Duration;
use support::*;

const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

/// An ICMP destination unreachable from [`ROUTER`] quoting the IP header
/// and first 8 TCP bytes of `packet`, a packet the stack sent.
fn unreachable(code: u8, next_hop_mtu: u16, packet: &[u8]) -> Vec<u8> {
    quoting(code, next_hop_mtu, &packet[..IPV4_HEADER_LEN + 8])
}

/// An ICMP destination unreachable from [`ROUTER`] quoting `original`.
fn quoting(code: u8, next_hop_mtu: u16, original: &[u8]) -> Vec<u8> {
    let icmp = IcmpRepr::DestUnreachable {
        code,
        next_hop_mtu,
        original,
    };
    let mut buf = vec![0u8; IPV4_HEADER_LEN + icmp.buffer_len()];
    icmp.emit_datagram(ROUTER, OURS, 64, 1, &mut buf).unwrap();
    buf
}

/// `packet` with the quoted TCP sequence number set to `seq`.
fn with_seq(packet: &[u8], seq: SeqNum) -> Vec<u8> {
    let mut p = packet.to_vec();
    p[IPV4_HEADER_LEN + 4..IPV4_HEADER_LEN + 8].copy_from_slice(&seq.0.to_be_bytes());
    p
}

/// The first 28 bytes of a packet we sent on `fx`'s connection with
/// sequence number `seq` and `len` bytes in all.
fn quote_of(fx: &Fixture, seq: SeqNum, len: u16) -> Vec<u8> {
    let mut q = vec![0u8; IPV4_HEADER_LEN + 8];
    q[0] = 0x45;
    q[2..4].copy_from_slice(&len.to_be_bytes());
    q[9] = 6;
    q[12..16].copy_from_slice(&OURS.octets());
    q[16..20].copy_from_slice(&PEER.octets());
    q[20..22].copy_from_slice(&fx.local_port.to_be_bytes());
    q[22..24].copy_from_slice(&fx.peer_port.to_be_bytes());
    q[24..28].copy_from_slice(&seq.0.to_be_bytes());
    q
}

/// Acknowledges everything sent until the stack has nothing more to send.
fn ack_all(fx: &mut Fixture) {
    loop {
        let ack = fx.seg();
        send(fx, ack);
        if fx.drain().is_empty() {
            break;
        }
    }
}

/// An established connection that gives up after 3 retransmissions,
/// with `data` in flight and an unreachable of `code` quoting it.
fn hit_in_flight(code: u8, data: &[u8]) -> Fixture {
    let mut cfg = tcp_config();
    cfg.max_retries = 3;
    let mut fx = established_with(cfg, Some(1460), 65_535);
    fx.app_send(data);
    let sent = fx.poll_frame_in(2048).expect("the data");
    deliver(&mut fx, &unreachable(code, 0, &sent.raw));
    fx
}

fn deliver(fx: &mut Fixture, packet: &[u8]) {
    fx.stack.handle_packet(fx.now, packet);
}

/// RFC 1122 3.2.2.1 codes as Linux maps them for a connect.
#[test]
fn unreachable_fails_a_connect_at_once() {
    for (code, err) in [
        (icmp::HOST_UNREACHABLE, ConnError::HostUnreachable),
        (icmp::NET_UNREACHABLE, ConnError::NetworkUnreachable),
        (icmp::PORT_UNREACHABLE, ConnError::Refused),
        (icmp::PROTO_UNREACHABLE, ConnError::Refused),
        (icmp::COMM_PROHIBITED, ConnError::HostUnreachable),
        (icmp::NET_PROHIBITED, ConnError::NetworkUnreachable),
    ] {
        let (mut fx, syn) = connect_cfg(stack_config(tcp_config()));
        let h = fx.h();
        deliver(&mut fx, &unreachable(code, 0, &syn.raw));
        assert_eq!(fx.state(), "CLOSED", "code {code}");
        assert_eq!(fx.events(), vec![Event::Error(h, err)], "code {code}");
        expect_no_reply(&mut fx);
        let c = fx.stack.counters();
        assert_eq!((c.icmp_dest_unreachable, c.icmp_errors), (1, 1));
        assert_eq!(fx.stack.stats(h).unwrap().icmp_unreachable, 1);
    }
    // Fragmentation needed (a SYN fits any path: forged) and codes past 15
    // (Linux ignores them) leave a connect alone.
    let (mut fx, syn) = connect_cfg(stack_config(tcp_config()));
    for code in [icmp::FRAG_NEEDED, 16, 255] {
        deliver(&mut fx, &unreachable(code, 576, &syn.raw));
    }
    assert_eq!(fx.state(), "SYN-SENT");
    assert_eq!(fx.events(), vec![]);
    let c = fx.stack.counters();
    assert_eq!(
        (c.icmp_unmatched, c.icmp_errors, c.icmp_path_mtu),
        (3, 0, 0)
    );
}

/// A half-open connection from a listener goes away on net or host
/// unreachable, silently (there is no one to tell), and ignores other
/// codes, as Linux's tcp_req_err does.
#[test]
fn unreachable_drops_a_half_open_connection_only_for_net_or_host() {
    let mut fx = syn_received();
    let synack = quote_of(&fx, fx.iss, 60);
    deliver(&mut fx, &quoting(icmp::PORT_UNREACHABLE, 0, &synack));
    deliver(&mut fx, &quoting(icmp::COMM_PROHIBITED, 0, &synack));
    assert_eq!(fx.stack.connection_count(), 1);
    assert_eq!(fx.stack.counters().icmp_unmatched, 2);
    deliver(&mut fx, &quoting(icmp::HOST_UNREACHABLE, 0, &synack));
    expect_no_reply(&mut fx);
    assert_eq!(fx.stack.connection_count(), 0);
    assert_eq!(fx.events(), vec![]);
    assert_eq!(fx.stack.counters().icmp_errors, 1);
    // The peer's ACK now finds no connection and is answered with a RST.
    let ack = fx.seg();
    send(&mut fx, ack);
    assert!(expect_reply(&mut fx).flags.rst());
}

/// RFC 5927 4.1: a quote that is not of a segment in flight, of another
/// connection, or of another host's packet changes nothing.
#[test]
fn unreachable_quoting_nothing_in_flight_is_ignored() {
    let (mut fx, syn) = connect_cfg(stack_config(tcp_config()));
    let h = fx.h();
    let mut other_port = syn.raw.clone();
    other_port[IPV4_HEADER_LEN] ^= 0x40;
    let mut other_source = syn.raw.clone();
    other_source[15] = 77;
    for quote in [
        with_seq(&syn.raw, fx.iss + 1u32),
        with_seq(&syn.raw, fx.iss - 1u32),
        other_port,
        other_source,
    ] {
        deliver(&mut fx, &unreachable(icmp::HOST_UNREACHABLE, 0, &quote));
    }
    // A quote too short to hold the TCP sequence number.
    let short = quoting(icmp::HOST_UNREACHABLE, 0, &syn.raw[..IPV4_HEADER_LEN + 4]);
    deliver(&mut fx, &short);
    assert_eq!(fx.state(), "SYN-SENT");
    assert_eq!(fx.events(), vec![]);
    let c = fx.stack.counters();
    assert_eq!((c.icmp_dest_unreachable, c.icmp_unmatched), (5, 5), "{c:?}");
    assert_eq!(c.icmp_errors, 0);
    assert_eq!(fx.stack.stats(h).unwrap().icmp_unreachable, 0);
}

/// RFC 1122 4.2.3.9, RFC 5927 7.2: even a hard error leaves a synchronized
/// connection alone; if it then times out, the error says why.
#[test]
fn unreachable_never_aborts_an_established_connection_but_names_its_timeout() {
    let mut fx = hit_in_flight(icmp::PORT_UNREACHABLE, b"lost");
    let h = fx.h();
    assert_eq!(fx.state(), "ESTABLISHED");
    assert_eq!(fx.events(), vec![]);
    expect_no_reply(&mut fx);
    assert_eq!(fx.stack.counters().icmp_errors, 1);
    fx.advance(Duration::from_secs(600));
    assert_eq!(fx.state(), "CLOSED");
    assert_eq!(fx.events(), vec![Event::Error(h, ConnError::Refused)]);
}

/// An acknowledgment of new data shows the path works again: a timeout
/// after it is a plain timeout.
#[test]
fn an_ack_clears_the_soft_error() {
    let mut fx = hit_in_flight(icmp::HOST_UNREACHABLE, b"first");
    let h = fx.h();
    let ack = fx.seg();
    send(&mut fx, ack);
    fx.app_send(b"lost");
    expect_reply(&mut fx);
    fx.advance(Duration::from_secs(600));
    assert_eq!(fx.events(), vec![Event::Error(h, ConnError::TimedOut)]);
}

/// RFC 1191: the segment size drops to what the next hop carries, and
/// what was in flight goes again at once in the new size, from SND.UNA.
#[test]
fn fragmentation_needed_lowers_the_segment_size_and_resends() {
    let mut fx = established_with(tcp_config(), Some(1460), 65_535);
    let h = fx.h();
    let data: Vec<u8> = (0..3 * 1460u32).map(|i| i as u8).collect();
    assert_eq!(fx.app_send(&data), data.len());
    let first = fx.poll_frame_in(2048).expect("the first segment");
    assert_eq!(first.seg.payload.len(), 1460);
    fx.drain();
    let cwnd = fx.stack.info(h).unwrap().cwnd;
    deliver(&mut fx, &unreachable(icmp::FRAG_NEEDED, 1280, &first.raw));
    let info = fx.stack.info(h).unwrap();
    assert_eq!(info.snd_mss, 1240);
    assert_eq!(info.stats.pmtu_reductions, 1);
    assert_eq!(info.cwnd, cwnd, "not a congestion signal");
    let resent = fx.drain();
    let mut seq = first.seg.seq;
    let mut bytes = 0;
    for (i, s) in resent.iter().enumerate() {
        assert_eq!(s.seq, seq);
        if i + 1 < resent.len() {
            assert_eq!(s.payload.len(), 1240, "segment {i}");
        } else {
            assert!(s.payload.len() <= 1240, "{} bytes", s.payload.len());
        }
        assert_eq!(s.payload, data[bytes..bytes + s.payload.len()]);
        seq += s.payload.len() as u32;
        bytes += s.payload.len();
    }
    assert_eq!(bytes, data.len(), "everything in flight went again");
    assert_eq!(fx.stack.counters().icmp_path_mtu, 1);

    // A larger MTU changes nothing; a forged tiny one stops at 552 bytes
    // (Linux's min_pmtu); without a next-hop MTU, the next plateau down
    // (RFC 1191 7).
    for (mtu, mss) in [(1400, 1240), (200, 512)] {
        deliver(&mut fx, &unreachable(icmp::FRAG_NEEDED, mtu, &first.raw));
        assert_eq!(fx.stack.info(h).unwrap().snd_mss, mss, "after {mtu}");
    }
    // Ten minutes on, the learned size expires and the full size is tried
    // again (RFC 1191 6.3); a router still narrow would say so again.
    ack_all(&mut fx);
    fx.advance(Duration::from_secs(10));
    fx.app_send(&data[..3000]);
    let later = fx.drain();
    assert!(
        !later.is_empty() && later.iter().all(|s| s.payload.len() <= 512),
        "{later:?}"
    );
    ack_all(&mut fx);
    fx.advance(ringtcp::tcp::PMTU_EXPIRES);
    fx.app_send(&data[..3000]);
    let sizes: Vec<usize> = fx.drain().iter().map(|s| s.payload.len()).collect();
    assert_eq!(sizes.first(), Some(&1460), "{sizes:?}");
    let info = fx.stack.info(h).unwrap();
    assert_eq!(info.snd_mss, 1460);
    // The window kept its size in segments: 28 of 512 bytes, 28 of 1460.
    assert_eq!(info.cwnd, 28 * 1460, "{info:?}");

    // Several such messages for the same 1500-byte packet (one per lost
    // segment, say) step down once, not once each.
    let mut fx = established_with(tcp_config(), Some(1460), 65_535);
    fx.app_send(&data);
    let first = fx.poll_frame_in(2048).expect("the first segment");
    for _ in 0..3 {
        deliver(&mut fx, &unreachable(icmp::FRAG_NEEDED, 0, &first.raw));
    }
    assert_eq!(fx.stack.info(fx.h()).unwrap().snd_mss, 1492 - 40);
    assert_eq!(fx.stack.counters().icmp_path_mtu, 1);
}
