//! IPv4 reassembly through a whole `Stack` (RFC 791 3.2, RFC 1122 3.3.2):
//! a datagram cut into fragments, in any order, is handled exactly as the
//! datagram itself is: twin stacks built alike get one each and must answer
//! with the same bytes. The reassembly rules one by one are unit-tested in
//! `src/stack/reassembly/tests.rs`.

mod support;

use ringtcp::stack::Counters;
use ringtcp::stack::reassembly::{DEFAULT_TIMEOUT, Outcome, Reassembler, ReassemblyConfig};
use ringtcp::wire::icmp::IcmpRepr;
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Packet, parse_ipv4_fragment};
use ringtcp::wire::tcp::TcpFlags;
use ringtcp::wire::{SeqNum, VnetHdr};
use std::net::Ipv4Addr;
use std::time::Duration;
use support::*;

/// Delivers `packets` in the order `order` gives.
fn deliver(fx: &mut Fixture, packets: &[Vec<u8>], order: &[usize]) {
    for &i in order {
        fx.stack.handle_packet(fx.now, &packets[i]);
    }
}

/// Everything `fx` sends now, as raw packets.
fn sent(fx: &mut Fixture) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| fx.poll_frame_in(65_535).map(|f| f.raw)).collect()
}

/// A SYN with every option (a 40-byte header) and 32 bytes of data, so
/// that it can be cut after its header (RFC 1858: the first fragment must
/// hold the whole header).
fn syn(fx: &Fixture) -> PeerSeg {
    let mut syn = fx
        .seg()
        .seq(SeqNum(PEER_ISS))
        .no_ack()
        .syn()
        .mss(1460)
        .data(&data(32));
    syn.options.window_scale = Some(7);
    syn.options.sack_permitted = true;
    syn.options.timestamps = Some((1234, 0));
    syn
}

/// `len` bytes that differ from one offset to the next.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 256) as u8).collect()
}

#[test]
fn a_fragmented_syn_is_answered_as_the_whole_one() {
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let (mut whole, mut cut) = (listen(), listen());
        let packet = syn(&whole).to_packet();
        assert_eq!(packet.len(), IPV4_HEADER_LEN + 72);
        whole.stack.handle_packet(whole.now, &packet);
        let expected = sent(&mut whole);
        assert_eq!(expected.len(), 1, "one SYN-ACK");

        // The header first, then 16 and 16 bytes of data.
        let frags = fragment(&packet, 0x1234, &[40, 56]);
        assert_eq!(frags.len(), 3);
        deliver(&mut cut, &frags, &order[..2]);
        assert!(sent(&mut cut).is_empty(), "nothing before the last piece");
        deliver(&mut cut, &frags, &order[2..]);
        assert_eq!(sent(&mut cut), expected, "order {order:?}");
        let c = cut.stack.counters();
        assert_eq!((c.ip_fragments, c.ip_reassembled), (3, 1));
        assert_eq!(cut.stack.reassembly_memory(), (0, 0));
    }
}

#[test]
fn fragmented_data_reaches_the_application_as_the_whole_segment() {
    let (mut whole, mut cut) = (established(), established());
    let bytes = data(3000);
    let seg = whole.seg().data(&bytes);
    let packet = seg.to_packet();
    send(&mut whole, seg.clone());
    let expected = sent(&mut whole);
    assert_eq!(expected.len(), 1, "one ACK");
    assert_eq!(whole.app_recv(), bytes);

    // As a 1500-byte link cuts it: 1480 + 1480 + 60 bytes of TCP.
    let frags = fragment(&packet, 7, &[1480, 2960]);
    deliver(&mut cut, &frags, &[1, 2, 0]);
    assert_eq!(sent(&mut cut), expected);
    assert_eq!(cut.app_recv(), bytes);
    assert_eq!(cut.stack.counters().ip_reassembled, 1);
}

#[test]
fn the_checksum_is_verified_over_the_reassembled_payload() {
    let mut fx = established();
    let mut packet = fx.seg().data(&data(2000)).to_packet();
    packet[IPV4_HEADER_LEN + 20 + 1500] ^= 0x40; // in the second fragment
    // A device header that vouches for the checksum: fragments carry no
    // such facts, whatever a header says, and are always verified.
    let valid = VnetHdr {
        flags: VnetHdr::DATA_VALID,
        ..VnetHdr::default()
    };
    for f in fragment(&packet, 9, &[1480]) {
        fx.stack.handle_frame(fx.now, &valid, &f);
    }
    let c = fx.stack.counters();
    assert_eq!((c.ip_reassembled, c.tcp_bad_checksum), (1, 1));
    assert!(fx.app_recv().is_empty());
    expect_no_reply(&mut fx);
    // The same damage whole, with that header, is taken on the device's
    // word: the fragment path is what made the difference.
    fx.stack.handle_frame(fx.now, &valid, &packet);
    assert_eq!(fx.app_recv().len(), 2000);
}

#[test]
fn an_incomplete_datagram_expires_when_poll_timeout_says() {
    let mut fx = listen();
    assert_eq!(fx.stack.poll_timeout(), None, "a listener has no timer");
    let packet = syn(&fx).to_packet();
    let frags = fragment(&packet, 3, &[40]);
    let start = fx.now;
    fx.stack.handle_packet(fx.now, &frags[0]);
    assert_eq!(fx.stack.poll_timeout(), Some(start + DEFAULT_TIMEOUT));
    fx.advance(DEFAULT_TIMEOUT - Duration::from_millis(1));
    assert_eq!(fx.stack.counters().ip_frag_timeout, 0);
    assert_eq!(fx.stack.reassembly_memory().1, 1);
    fx.advance(Duration::from_millis(1));
    assert_eq!(fx.stack.counters().ip_frag_timeout, 1);
    assert_eq!(fx.stack.reassembly_memory(), (0, 0));
    assert_eq!(fx.stack.poll_timeout(), None);
    // The rest, late, starts a datagram of its own: no SYN-ACK.
    fx.stack.handle_packet(fx.now, &frags[1]);
    expect_no_reply(&mut fx);
    assert_eq!(fx.stack.counters().ip_reassembled, 0);
}

/// An echo request of `len` data bytes from the peer, whole.
fn echo_request(payload: &[u8]) -> Vec<u8> {
    let request = IcmpRepr::EchoRequest {
        ident: 77,
        seq_no: 5,
        data: payload,
    };
    let mut packet = vec![0u8; IPV4_HEADER_LEN + request.buffer_len()];
    request
        .emit_datagram(PEER, OURS, 64, 1, &mut packet)
        .unwrap();
    packet
}

/// Whatever `fx` sends now, in a buffer much larger than the MTU.
fn sent_icmp(fx: &mut Fixture) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65_535];
    std::iter::from_fn(|| {
        let n = fx.stack.poll_transmit(fx.now, &mut buf)?;
        Some(buf[..n].to_vec())
    })
    .collect()
}

/// A fragmented echo request gets all its data back (RFC 1122 3.2.2.6),
/// in fragments no longer than the MTU, which reassemble into the reply.
#[test]
fn a_fragmented_echo_request_is_answered_in_full() {
    let mut fx = closed_port();
    let payload = data(3000);
    let request = echo_request(&payload);
    deliver(&mut fx, &fragment(&request, 11, &[1480, 2960]), &[2, 0, 1]);
    let replies = sent_icmp(&mut fx);
    assert_eq!(replies.len(), 3, "3028 bytes over a 1500-byte MTU");
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let (mut c, mut whole) = (Counters::default(), Vec::new());
    let mut outcome = Outcome::Held;
    for (i, p) in replies.iter().enumerate() {
        assert!(p.len() <= 1500, "fragment {i}: {} bytes", p.len());
        let f = parse_ipv4_fragment(p, true).unwrap();
        assert_eq!((f.src, f.dst, f.more), (OURS, PEER, i < 2));
        outcome = r.push(fx.now, &f, &mut whole, &mut c);
    }
    assert!(matches!(outcome, Outcome::Complete(_)), "{outcome:?}");
    let reply = IcmpRepr::parse(&whole, true).unwrap();
    assert_eq!(
        reply,
        IcmpRepr::EchoReply {
            ident: 77,
            seq_no: 5,
            data: &payload,
        }
    );
    let c = fx.stack.counters();
    assert_eq!((c.icmp_echo_replies, c.ip_fragments_sent), (1, 3));

    // One that fits the MTU goes whole, DF set, as before.
    deliver(&mut fx, &[echo_request(&payload[..1472])], &[0]);
    let replies = sent_icmp(&mut fx);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].len(), 1500);
    assert!(
        Ipv4Packet::new_checked(&replies[0][..])
            .unwrap()
            .dont_frag()
    );
}

#[test]
fn fragments_for_another_address_are_not_held() {
    let mut fx = closed_port();
    let mut packet = syn(&fx).to_packet();
    packet[16..20].copy_from_slice(&Ipv4Addr::new(192, 0, 2, 9).octets());
    let mut ip = Ipv4Packet::new_checked(&mut packet[..]).unwrap();
    ip.fill_checksum();
    deliver(&mut fx, &fragment(&packet, 1, &[40]), &[0, 1]);
    let c = fx.stack.counters();
    assert_eq!(
        (c.ip_fragments, c.ip_not_for_us, c.ip_reassembled),
        (2, 2, 0)
    );
    assert_eq!(fx.stack.reassembly_memory(), (0, 0));
}

/// RFC 1858 3.4: a harmless-looking first fragment (an ACK, to pass a
/// filter that admits established traffic) and an offset-1 fragment that
/// rewrites its flags into a SYN. Neither reaches the listener.
#[test]
fn an_offset_one_fragment_cannot_rewrite_the_flags() {
    let mut fx = listen();
    let ack = fx.seg().data(&data(16)).to_packet();
    let mut frags = fragment(&ack, 21, &[8]);
    // The second fragment re-sent at offset 8 with other bytes: SYN only.
    let mut evil = frags[1].clone();
    evil[IPV4_HEADER_LEN + 5] = TcpFlags::SYN.0;
    frags.push(evil);
    deliver(&mut fx, &frags, &[0, 1, 2]);
    expect_no_reply(&mut fx);
    let c = fx.stack.counters();
    assert_eq!(
        c.ip_frag_tiny, 3,
        "the 8-byte first fragment, both at offset 8"
    );
    assert_eq!(c.ip_reassembled, 0);
}

#[test]
fn overlapping_fragments_never_reach_tcp() {
    let mut fx = listen();
    let packet = syn(&fx).to_packet();
    let frags = fragment(&packet, 5, &[40, 56]);
    // A fragment from 32 to the end, over the first's tail: the datagram
    // is dropped, and the genuine pieces after it complete nothing.
    let over = fragment(&packet, 5, &[32]).swap_remove(1);
    deliver(&mut fx, &[frags[0].clone(), over], &[0, 1]);
    deliver(&mut fx, &frags, &[1, 2]);
    expect_no_reply(&mut fx);
    let c = fx.stack.counters();
    assert_eq!((c.ip_frag_overlap, c.ip_reassembled), (1, 0));
}
