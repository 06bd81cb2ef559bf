//! Property tests for the IPv6 side of `ringtcp::wire`: the IPv6 parser,
//! the extension header walk and the ICMPv6 parser never panic on any
//! bytes or on any prefix of a valid packet, and what is emitted (IPv6
//! headers, fragment headers, ICMPv6 messages) parses back to what was
//! emitted.

use std::net::Ipv6Addr;

use proptest::collection::vec;
use proptest::prelude::*;

use ringtcp::wire::WireError;
use ringtcp::wire::icmpv6::{self, Icmpv6Repr, MAX_INVOKING_LEN};
use ringtcp::wire::ipv6::{
    FragmentHeader, IPV6_HEADER_LEN, Ipv6Error, Ipv6Packet, Ipv6Repr, check_first_fragment,
    next_header, parse_ipv6, parse_ipv6_fragment, skip_ext_headers,
};

/// Addresses in 2001:db8::/32.
fn addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u16; 6]>().prop_map(|w| Ipv6Addr::new(0x2001, 0xdb8, w[0], w[1], w[2], w[3], w[4], w[5]))
}

/// Runs every IPv6 parser over `bytes`, checking what a successful parse
/// promises.
fn exercise_all_parsers(bytes: &[u8]) {
    let (a, b) = (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
    );
    if let Ok(pkt) = Ipv6Packet::new_checked(bytes) {
        assert!(IPV6_HEADER_LEN + pkt.payload_len() <= bytes.len());
        if let Ok(h) = pkt.headers() {
            assert!(h.payload_offset <= pkt.packet().len());
            assert!(h.next_header_at < h.payload_offset);
        }
    }
    if let Ok((repr, payload)) = parse_ipv6(bytes) {
        assert_eq!(payload.len(), repr.payload_len);
        assert!(IPV6_HEADER_LEN + payload.len() <= bytes.len());
        let _ = Icmpv6Repr::parse(payload, repr.src, repr.dst, true);
        let _ = ringtcp::wire::parse_tcp_v6(payload, repr.src, repr.dst, true);
    }
    if let Ok(f) = parse_ipv6_fragment(bytes) {
        assert!(f.offset != 0 || f.more, "atomic fragments are not queued");
        assert!(f.header_len() + f.payload.len() <= bytes.len());
        let mut out = Vec::new();
        if f.reassembled_header(f.payload.len(), &mut out).is_ok() {
            assert_eq!(out.len(), f.unfragmentable.len());
        }
    }
    for verify in [false, true] {
        if let Ok(m) = Icmpv6Repr::parse(bytes, a, b, verify) {
            assert!(m.buffer_len() <= bytes.len());
        }
    }
    let _ = icmpv6::parse_quoted_tcp(bytes);
    if let Some(&nh) = bytes.first() {
        if let Ok((_, off)) = skip_ext_headers(bytes, nh, 1) {
            assert!(off <= bytes.len());
        }
        let _ = check_first_fragment(nh, &bytes[1..]);
    }
    let _ = FragmentHeader::parse(bytes);
}

/// One extension header of a random kind, naming `nh`, with random
/// options (including unknown ones of every action), a random routing
/// type and segments left, or a random fragment header.
fn ext_header() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (
        prop_oneof![
            Just(next_header::HOP_BY_HOP),
            Just(next_header::DEST_OPTIONS),
            Just(next_header::ROUTING),
            Just(next_header::FRAGMENT),
        ],
        vec(any::<u8>(), 6..30),
        any::<bool>(),
    )
        .prop_map(|(kind, mut body, tame)| {
            match kind {
                next_header::FRAGMENT => body.truncate(6),
                next_header::ROUTING if tame => body[1] = 0,
                _ if tame => body.iter_mut().for_each(|b| *b = 0), // Pad1s
                _ => {}
            }
            let len = if kind == next_header::FRAGMENT {
                8
            } else {
                (body.len() + 2).div_ceil(8) * 8
            };
            body.resize(len - 2, 0);
            let mut h = vec![0, 0];
            h.extend(body);
            if kind != next_header::FRAGMENT {
                h[1] = (len / 8 - 1) as u8;
            }
            (kind, h)
        })
}

/// A packet made of a random chain of extension headers and an upper
/// layer, with consistent lengths so that the walk gets deep.
fn chained_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(ext_header(), 0..10),
        prop_oneof![Just(6u8), Just(58), Just(59), any::<u8>()],
        vec(any::<u8>(), 0..64),
        addr(),
        addr(),
    )
        .prop_map(|(exts, upper, data, src, dst)| {
            let mut payload = Vec::new();
            let kinds: Vec<u8> = exts.iter().map(|(k, _)| *k).collect();
            for (i, (_, h)) in exts.iter().enumerate() {
                let mut h = h.clone();
                h[0] = kinds.get(i + 1).copied().unwrap_or(upper);
                payload.extend(h);
            }
            payload.extend(data);
            let repr = Ipv6Repr {
                src,
                dst,
                next_header: kinds.first().copied().unwrap_or(upper),
                payload_len: payload.len(),
                hop_limit: 64,
            };
            let mut b = vec![0u8; IPV6_HEADER_LEN];
            repr.emit(&mut b).unwrap();
            b.extend(payload);
            b
        })
}

fn icmpv6_message<'a>(kind: u8, code: u8, word: u32, body: &'a [u8]) -> Icmpv6Repr<'a> {
    let (ident, seq_no) = ((word >> 16) as u16, word as u16);
    match kind % 6 {
        0 => Icmpv6Repr::EchoRequest {
            ident,
            seq_no,
            data: body,
        },
        1 => Icmpv6Repr::EchoReply {
            ident,
            seq_no,
            data: body,
        },
        2 => Icmpv6Repr::DestUnreachable {
            code,
            invoking: body,
        },
        3 => Icmpv6Repr::PacketTooBig {
            mtu: word,
            invoking: body,
        },
        4 => Icmpv6Repr::TimeExceeded {
            code,
            invoking: body,
        },
        _ => Icmpv6Repr::ParameterProblem {
            code,
            pointer: word,
            invoking: body,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(bytes in vec(any::<u8>(), 0..1600)) {
        exercise_all_parsers(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_chains(bytes in chained_packet()) {
        exercise_all_parsers(&bytes);
    }

    /// Every prefix of a packet parses to an error or to a consistent
    /// result, never a panic; a prefix that cuts the announced payload is
    /// `Truncated`.
    #[test]
    fn truncated_packets_are_errors(bytes in chained_packet()) {
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            exercise_all_parsers(prefix);
            prop_assert_eq!(
                parse_ipv6(prefix).err(),
                Some(Ipv6Error::Malformed(WireError::Truncated))
            );
        }
    }

    #[test]
    fn ipv6_repr_round_trip(
        src in addr(),
        dst in addr(),
        upper in prop_oneof![Just(6u8), Just(58), Just(59)],
        hop_limit in any::<u8>(),
        payload in vec(any::<u8>(), 0..300),
    ) {
        let repr = Ipv6Repr { src, dst, next_header: upper, payload_len: payload.len(), hop_limit };
        let mut b = vec![0u8; repr.total_len()];
        prop_assert_eq!(repr.emit(&mut b), Ok(IPV6_HEADER_LEN));
        b[IPV6_HEADER_LEN..].copy_from_slice(&payload);
        let (back, p) = parse_ipv6(&b).unwrap();
        prop_assert_eq!(back, repr);
        prop_assert_eq!(p, &payload[..]);
    }

    #[test]
    fn fragment_round_trip(
        src in addr(),
        dst in addr(),
        ident in any::<u32>(),
        offset_units in 1usize..8000,
        more in any::<bool>(),
        data_units in 1usize..8,
        upper in any::<u8>(),
    ) {
        let header = FragmentHeader { next_header: upper, offset: offset_units * 8, more, ident };
        let mut h = [0u8; 8];
        prop_assert_eq!(header.emit(&mut h), Ok(8));
        prop_assert_eq!(FragmentHeader::parse(&h), Ok(header));

        let len = data_units * 8;
        let repr = Ipv6Repr { src, dst, next_header: upper, payload_len: len, hop_limit: 1 };
        let mut b = vec![0xa5u8; 48 + len];
        prop_assert_eq!(repr.emit_fragment(&mut b, ident, offset_units * 8, more), Ok(48));
        let f = parse_ipv6_fragment(&b).unwrap();
        prop_assert_eq!((f.src, f.dst, f.ident, f.next_header), (src, dst, ident, upper));
        prop_assert_eq!((f.offset, f.more, f.payload.len()), (offset_units * 8, more, len));
        prop_assert_eq!(parse_ipv6(&b).err(), Some(Ipv6Error::Malformed(WireError::Fragmented)));
    }

    #[test]
    fn icmpv6_round_trip(
        src in addr(),
        dst in addr(),
        kind in any::<u8>(),
        code in any::<u8>(),
        word in any::<u32>(),
        body in vec(any::<u8>(), 0..1500),
    ) {
        let msg = icmpv6_message(kind, code, word, &body);
        let mut out = vec![0u8; 1600];
        let n = msg.emit_packet(src, dst, 255, &mut out).unwrap();
        let (ip, payload) = parse_ipv6(&out[..n]).unwrap();
        prop_assert_eq!((ip.src, ip.dst, ip.next_header), (src, dst, 58));
        let back = Icmpv6Repr::parse(payload, src, dst, true).unwrap();
        if msg.is_error() {
            prop_assert!(n <= 1280);
            let cut = &body[..body.len().min(MAX_INVOKING_LEN)];
            prop_assert_eq!(back, icmpv6_message(kind, code, word, cut));
        } else {
            prop_assert_eq!(back, msg);
        }
    }
}
