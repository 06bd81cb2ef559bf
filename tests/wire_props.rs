//! Property tests for `ringtcp::wire`: the parsers never panic on any byte
//! string, truncated packets give an error or a consistent result, emitted
//! packets parse back to what was emitted, and the fast checksum agrees
//! with the naive RFC 1071 loop.

use std::net::Ipv4Addr;

use proptest::collection::vec;
use proptest::prelude::*;

use ringtcp::wire::checksum::{self, fold, naive_checksum, ones_sum};
use ringtcp::wire::icmp::{self, IcmpRepr};
use ringtcp::wire::ipv4::{self, Ipv4Packet, Ipv4Repr, PROTO_TCP, parse_ipv4};
use ringtcp::wire::tcp::{
    self, MAX_SACK_BLOCKS, TCP_HEADER_LEN, TcpFlags, TcpOptions, TcpPacket, TcpRepr, parse_tcp,
};
use ringtcp::wire::{SeqNum, WireError};

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn seq() -> impl Strategy<Value = SeqNum> {
    any::<u32>().prop_map(SeqNum)
}

fn options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..=14),
        any::<bool>(),
        proptest::option::of(any::<(u32, u32)>()),
        vec((seq(), seq()), 0..=MAX_SACK_BLOCKS),
    )
        .prop_map(|(mss, window_scale, sack_permitted, timestamps, blocks)| {
            let mut o = TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps,
                ..Default::default()
            };
            o.set_sack(&blocks);
            o
        })
}

/// An arbitrary `TcpRepr` whose payload lives in `payload`.
fn tcp_fields() -> impl Strategy<Value = (u16, u16, SeqNum, SeqNum, u8, u16, u16, TcpOptions)> {
    (
        any::<u16>(),
        any::<u16>(),
        seq(),
        seq(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        options(),
    )
}

type Fields = (u16, u16, SeqNum, SeqNum, u8, u16, u16, TcpOptions);

fn repr_from(f: Fields, payload: &[u8]) -> TcpRepr<'_> {
    let (src_port, dst_port, seq, ack, flags, window, urgent, options) = f;
    TcpRepr {
        src_port,
        dst_port,
        seq,
        ack,
        flags: TcpFlags(flags),
        window,
        urgent,
        options,
        payload,
    }
}

/// What parsing the emitted options gives back: the SACK blocks that fit.
fn expected_options(o: &TcpOptions) -> TcpOptions {
    let mut e = *o;
    e.set_sack(&o.sack()[..o.sack_blocks_emitted()]);
    e
}

/// Builds a whole IPv4 + TCP datagram.
fn build_datagram(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr<'_>, ident: u16) -> Vec<u8> {
    let seg_len = repr.buffer_len();
    let mut buf = vec![0u8; ipv4::IPV4_HEADER_LEN + seg_len];
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: PROTO_TCP,
        payload_len: seg_len,
        ttl: 64,
    };
    ip.emit(&mut buf, ident).unwrap();
    let n = repr
        .emit(&mut buf[ipv4::IPV4_HEADER_LEN..], src, dst)
        .unwrap();
    assert_eq!(n, seg_len);
    buf
}

/// Runs every parser over `bytes`, checking the invariants a successful
/// parse promises. Panics (fails the test) only if an invariant is broken.
fn exercise_all_parsers(bytes: &[u8]) {
    let a = Ipv4Addr::new(10, 0, 0, 1);
    let b = Ipv4Addr::new(10, 0, 0, 2);
    for verify in [false, true] {
        if let Ok((repr, payload)) = parse_ipv4(bytes, verify) {
            assert_eq!(payload.len(), repr.payload_len);
            assert!(payload.len() + ipv4::IPV4_HEADER_LEN <= bytes.len());
            if let Ok(t) = parse_tcp(payload, repr.src, repr.dst, verify) {
                assert!(t.payload.len() <= payload.len());
                assert!(t.options.sack().len() <= MAX_SACK_BLOCKS);
            }
            let _ = IcmpRepr::parse(payload, verify);
        }
        if let Ok(pkt) = TcpPacket::new_checked(bytes) {
            assert!(pkt.header_len() >= TCP_HEADER_LEN);
            assert_eq!(pkt.header_len() + pkt.payload().len(), bytes.len());
            let _ = pkt.verify_checksum(a, b);
            if let Ok(t) = TcpRepr::parse(&pkt, a, b, verify) {
                assert_eq!(t.payload, pkt.payload());
                let _ = t.segment_len();
            }
        }
        if let Ok(i) = IcmpRepr::parse(bytes, verify) {
            assert_eq!(i.buffer_len(), bytes.len());
        }
    }
    if let Ok(o) = TcpOptions::parse(bytes) {
        assert!(o.sack().len() <= MAX_SACK_BLOCKS);
        assert!(o.window_scale.is_none_or(|s| s <= 14));
        // Whatever parsed can be emitted within the 40-byte option space.
        let mut out = [0u8; 40];
        let n = o.emit(&mut out);
        assert_eq!(n, o.encoded_len());
        assert!(n <= 40 && n % 4 == 0);
    }
    let _ = icmp::parse_quoted_tcp(bytes);
    if let Ok(pkt) = Ipv4Packet::new_checked(bytes) {
        assert!(pkt.header_len() <= pkt.total_len() && pkt.total_len() <= bytes.len());
        let _ = (
            pkt.options(),
            pkt.payload(),
            pkt.verify_checksum(),
            pkt.frag_offset(),
        );
    }
}

/// Bytes that look like an IPv4 header often enough to reach the deeper
/// parsers: version 4, a plausible IHL, a total length within the buffer
/// most of the time.
fn ipv4_like() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(any::<u8>(), 20..2000),
        5u8..=15,
        any::<bool>(),
        any::<u8>(),
    )
        .prop_map(|(mut b, ihl, fit, proto_pick)| {
            b[0] = 0x40 | ihl;
            if fit {
                let len = b.len() as u16;
                b[2..4].copy_from_slice(&len.to_be_bytes());
            }
            b[6] &= 0x40; // mostly not fragments
            b[7] = 0;
            b[9] = match proto_pick % 3 {
                0 => 6,
                1 => 1,
                _ => b[9],
            };
            if proto_pick & 0x80 == 0 && b.len() >= usize::from(ihl) * 4 + 13 {
                // A plausible TCP data offset.
                let off = usize::from(ihl) * 4 + 12;
                b[off] = (b[off] % 11 + 5) << 4;
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    // (1) No parser panics on arbitrary bytes.
    #[test]
    fn parsers_never_panic(bytes in vec(any::<u8>(), 0..2000)) {
        exercise_all_parsers(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_ipv4_like(bytes in ipv4_like()) {
        exercise_all_parsers(&bytes);
    }

    #[test]
    fn options_parser_never_panics(bytes in vec(any::<u8>(), 0..64)) {
        let _ = TcpOptions::parse(&bytes);
    }

    // (2) Truncations of a valid datagram: errors below the full length,
    // the same result at or above it.
    #[test]
    fn truncations_are_errors_or_consistent(
        src in addr(), dst in addr(), ident in any::<u16>(),
        f in tcp_fields(), payload in vec(any::<u8>(), 0..200),
        pad in vec(any::<u8>(), 0..8),
    ) {
        let repr = repr_from(f, &payload);
        let mut dgram = build_datagram(src, dst, &repr, ident);
        let full = dgram.len();
        let seg_hdr = repr.header_len();
        dgram.extend_from_slice(&pad);
        let expected = TcpRepr { options: expected_options(&repr.options), ..repr };

        for l in 0..=dgram.len() {
            let r = parse_ipv4(&dgram[..l], true);
            if l < full {
                prop_assert!(r.is_err(), "len {l} of {full} parsed");
                if l >= 1 {
                    prop_assert_eq!(r.unwrap_err(), WireError::Truncated);
                }
            } else {
                let (ip, seg) = r.unwrap();
                prop_assert_eq!(ip.payload_len, full - 20);
                let t = parse_tcp(seg, src, dst, true).unwrap();
                prop_assert_eq!(t, expected);
            }
        }

        // The TCP segment alone, truncated.
        let seg = &dgram[20..full];
        for l in 0..=seg.len() {
            let cut = &seg[..l];
            match parse_tcp(cut, src, dst, false) {
                Err(e) => {
                    let want = if l < TCP_HEADER_LEN { WireError::Truncated } else { WireError::BadDataOffset };
                    prop_assert_eq!(e, want);
                    prop_assert!(l < seg_hdr);
                }
                Ok(t) => {
                    prop_assert!(l >= seg_hdr);
                    prop_assert_eq!(t, TcpRepr { payload: &payload[..l - seg_hdr], ..expected });
                }
            }
            // With verification, a shorter segment may only pass by a
            // checksum coincidence, and then must still be consistent.
            if let Ok(t) = parse_tcp(cut, src, dst, true) {
                prop_assert_eq!(t, TcpRepr { payload: &payload[..l - seg_hdr], ..expected });
            }
        }
    }

    // (3) emit -> parse round trip, through IPv4, with checksums verified.
    #[test]
    fn tcp_roundtrip(
        src in addr(), dst in addr(), ident in any::<u16>(),
        f in tcp_fields(), payload in vec(any::<u8>(), 0..1500),
    ) {
        let repr = repr_from(f, &payload);
        let enc = repr.options.encoded_len();
        prop_assert!(enc <= 40 && enc % 4 == 0);
        prop_assert_eq!(repr.header_len(), 20 + enc);
        let dgram = build_datagram(src, dst, &repr, ident);
        let (ip, seg) = parse_ipv4(&dgram, true).unwrap();
        prop_assert_eq!(ip.src, src);
        prop_assert_eq!(ip.dst, dst);
        prop_assert_eq!(ip.protocol, PROTO_TCP);
        let back = parse_tcp(seg, src, dst, true).unwrap();
        prop_assert_eq!(back, TcpRepr { options: expected_options(&repr.options), ..repr });
        prop_assert_eq!(back.options.sack(), &repr.options.sack()[..repr.options.sack_blocks_emitted()]);
        // With timestamps, 4 blocks become 3 (RFC 7323 + RFC 2018 in 40 bytes).
        if repr.options.timestamps.is_some() {
            prop_assert!(back.options.sack().len() <= 3);
        }
        prop_assert_eq!(back.segment_len(), payload.len() + usize::from(repr.flags.syn()) + usize::from(repr.flags.fin()));
    }

    // A device completing a partial checksum gets the software checksum.
    #[test]
    fn partial_checksum_completes_to_full(
        src in addr(), dst in addr(), f in tcp_fields(), payload in vec(any::<u8>(), 0..1500),
    ) {
        let repr = repr_from(f, &payload);
        let mut full = vec![0u8; repr.buffer_len()];
        repr.emit(&mut full, src, dst).unwrap();
        let mut partial = full.clone();
        tcp::fill_partial_checksum(&mut partial, src, dst);
        // What the device does: sum from csum_start, store the complement.
        let c = !fold(ones_sum(&partial, 0));
        partial[16..18].copy_from_slice(&c.to_be_bytes());
        prop_assert!(TcpPacket::new_checked(&partial[..]).unwrap().verify_checksum(src, dst));
        // Equal up to the two encodings of zero.
        let (x, y) = (u16::from_be_bytes([full[16], full[17]]), c);
        prop_assert!(x == y || (x == 0 && y == 0xffff) || (x == 0xffff && y == 0));
    }

    #[test]
    fn icmp_roundtrip(kind in 0u8..3, a in any::<u16>(), b in any::<u16>(), code in any::<u8>(), data in vec(any::<u8>(), 0..600)) {
        let repr = match kind {
            0 => IcmpRepr::EchoRequest { ident: a, seq_no: b, data: &data },
            1 => IcmpRepr::EchoReply { ident: a, seq_no: b, data: &data },
            _ => IcmpRepr::DestUnreachable { code, next_hop_mtu: b, original: &data },
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        prop_assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
        prop_assert_eq!(IcmpRepr::parse(&buf, true), Ok(repr));
        for l in 0..buf.len() {
            prop_assert!(IcmpRepr::parse(&buf[..l], true).is_err() || l >= 8);
            if l < 8 {
                prop_assert_eq!(IcmpRepr::parse(&buf[..l], false), Err(WireError::Truncated));
            }
        }
    }

    // (4) The fast checksum equals the naive loop, for any length and any
    // starting alignment, and partial sums combine across even splits.
    #[test]
    fn ones_sum_matches_naive(
        data in vec(any::<u8>(), 0..4096), align in 0usize..8, split in any::<prop::sample::Index>(),
    ) {
        let d = &data[align.min(data.len())..];
        prop_assert_eq!(checksum::checksum(d), naive_checksum(d));
        prop_assert!(ones_sum(d, 0) <= 0x1_fffe);
        let at = split.index(d.len() + 1) & !1;
        let (x, y) = d.split_at(at);
        prop_assert_eq!(!fold(ones_sum(y, ones_sum(x, 0))), naive_checksum(d));
    }

    #[test]
    fn ones_sum_matches_naive_all_ones_heavy(len in 0usize..70_000, byte in prop_oneof![Just(0xffu8), Just(0xfe), any::<u8>()]) {
        let d = vec![byte; len];
        prop_assert_eq!(checksum::checksum(&d), naive_checksum(&d));
    }

    // RFC 1624: the incremental update matches a full recompute, up to the
    // two encodings of zero (only possible if the new data is all zero).
    #[test]
    fn update_matches_recompute(mut data in vec(any::<u8>(), 2..200), word_pick in any::<prop::sample::Index>(), new_word in any::<u16>()) {
        data.truncate(data.len() & !1);
        let old_ck = checksum::checksum(&data);
        let i = word_pick.index(data.len() / 2) * 2;
        let old_word = u16::from_be_bytes([data[i], data[i + 1]]);
        data[i..i + 2].copy_from_slice(&new_word.to_be_bytes());
        let recomputed = checksum::checksum(&data);
        let updated = checksum::update(old_ck, old_word, new_word);
        if data.iter().any(|&b| b != 0) {
            prop_assert_eq!(updated, recomputed);
        } else {
            prop_assert!(updated == 0 || updated == 0xffff);
        }
    }
}
