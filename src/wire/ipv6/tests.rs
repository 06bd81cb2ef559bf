use super::*;
use crate::wire::checksum;
use crate::wire::tcp::{fill_checksum_v6, parse_tcp_v6};

/// A SYN Linux 6.x wrote into a TUN device without offloads (so with a
/// full checksum), 2001:db8::1 port 36748 -> 2001:db8::2 port 8080,
/// flow label 0x18ade, with MSS, SACK permitted, timestamps and window
/// scale.
const LINUX_SYN6: [u8; 80] = [
    0x60, 0x01, 0x8a, 0xde, 0x00, 0x28, 0x06, 0x40, // version .. hop limit
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // src
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // dst
    0x8f, 0x8c, 0x1f, 0x90, 0x2f, 0x14, 0x87, 0xb7, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfd, 0x20,
    0x2c, 0x01, 0x00, 0x00, // TCP
    0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0xf8, 0x40, 0x65, 0x51, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x03, 0x03, 0x0a, // options
];

const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// A multicast group from the documentation range ff0X::db8:0:0/96 (RFC
/// 6676).
const MCAST: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0x0db8, 0, 1);

/// An IPv6 packet from `SRC` to `dst` whose next header is `nh` and whose
/// payload is `rest`.
fn packet_to(dst: Ipv6Addr, nh: u8, rest: &[u8]) -> Vec<u8> {
    let repr = Ipv6Repr {
        src: SRC,
        dst,
        next_header: nh,
        payload_len: rest.len(),
        hop_limit: 64,
    };
    let mut b = vec![0u8; IPV6_HEADER_LEN];
    repr.emit(&mut b).unwrap();
    b.extend_from_slice(rest);
    b
}

fn packet(nh: u8, rest: &[u8]) -> Vec<u8> {
    packet_to(DST, nh, rest)
}

/// A hop-by-hop or destination options header naming `nh`, holding
/// `options` and padded with PadN to a multiple of 8.
fn opts(nh: u8, options: &[u8]) -> Vec<u8> {
    let mut h = vec![nh, 0];
    h.extend_from_slice(options);
    let pad = (8 - h.len() % 8) % 8;
    match pad {
        0 => {}
        1 => h.push(0),
        n => h.extend_from_slice(&[&[1, (n - 2) as u8][..], &vec![0; n - 2]].concat()),
    }
    h[1] = (h.len() / 8 - 1) as u8;
    h
}

fn routing(nh: u8, ty: u8, segments_left: u8) -> Vec<u8> {
    vec![nh, 0, ty, segments_left, 0, 0, 0, 0]
}

fn frag(nh: u8, offset: usize, more: bool, ident: u32) -> Vec<u8> {
    let mut h = [0u8; 8];
    FragmentHeader {
        next_header: nh,
        offset,
        more,
        ident,
    }
    .emit(&mut h)
    .unwrap();
    h.to_vec()
}

/// 20 bytes that stand for a TCP header (data offset 5).
fn tcp_header() -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[12] = 0x50;
    t
}

fn problem(code: u8, pointer: u32) -> Result<(Ipv6Repr, &'static [u8]), Ipv6Error> {
    Err(Ipv6Error::ParameterProblem { code, pointer })
}

const TCP: u8 = next_header::TCP;
const DO: u8 = next_header::DEST_OPTIONS;
const HBH: u8 = next_header::HOP_BY_HOP;

#[test]
fn parse_real_syn() {
    let pkt = Ipv6Packet::new_checked(&LINUX_SYN6[..]).unwrap();
    assert_eq!(pkt.version(), 6);
    assert_eq!(pkt.traffic_class(), 0);
    assert_eq!(pkt.flow_label(), 0x1_8ade);
    assert_eq!(pkt.payload_len(), 40);
    assert_eq!(pkt.next_header(), TCP);
    assert_eq!(pkt.hop_limit(), 64);
    assert_eq!((pkt.src_addr(), pkt.dst_addr()), (SRC, DST));
    let (repr, payload) = parse_ipv6(&LINUX_SYN6).unwrap();
    assert_eq!(
        repr,
        Ipv6Repr {
            src: SRC,
            dst: DST,
            next_header: TCP,
            payload_len: 40,
            hop_limit: 64
        }
    );
    assert_eq!(payload, &LINUX_SYN6[40..]);
    let tcp = parse_tcp_v6(payload, SRC, DST, true).unwrap();
    assert_eq!((tcp.src_port, tcp.dst_port), (36748, 8080));
    assert_eq!(tcp.options.mss, Some(1440));
}

/// The TCP checksum over the IPv6 pseudo-header (RFC 8200 8.1) gives the
/// kernel's value, and so does the naive RFC 1071 loop over the
/// pseudo-header laid out byte by byte.
#[test]
fn tcp_checksum_v6_matches_kernel() {
    let mut seg = LINUX_SYN6[40..].to_vec();
    fill_checksum_v6(&mut seg, SRC, DST);
    assert_eq!(seg, &LINUX_SYN6[40..]);
    let mut naive = Vec::new();
    naive.extend_from_slice(&SRC.octets());
    naive.extend_from_slice(&DST.octets());
    naive.extend_from_slice(&40u32.to_be_bytes());
    naive.extend_from_slice(&[0, 0, 0, 6]);
    naive.extend_from_slice(&LINUX_SYN6[40..]);
    naive[40 + 16..40 + 18].copy_from_slice(&[0, 0]);
    assert_eq!(checksum::naive_checksum(&naive), 0x2c01);
    // The IPv4 pseudo-header does not verify it; a flipped address does not.
    let mut b = LINUX_SYN6;
    b[23] = 3;
    let (repr, payload) = parse_ipv6(&b).unwrap();
    assert_eq!(
        parse_tcp_v6(payload, repr.src, repr.dst, true),
        Err(WireError::BadChecksum)
    );
    assert!(parse_tcp_v6(payload, repr.src, repr.dst, false).is_ok());
}

#[test]
fn emit_reproduces_real_header() {
    let (repr, _) = parse_ipv6(&LINUX_SYN6).unwrap();
    let mut whole = LINUX_SYN6;
    assert_eq!(repr.emit(&mut whole), Ok(40));
    let mut view = Ipv6Packet::new_checked(&mut whole[..]).unwrap();
    assert_eq!(view.flow_label(), 0, "emitted with flow label 0");
    // Only the low 20 bits are a flow label.
    view.set_flow_label(0x00f1_8ade);
    assert_eq!(whole, LINUX_SYN6);
    let mut view = Ipv6Packet::new_checked(&mut whole[..]).unwrap();
    view.set_traffic_class(0xb8);
    view.set_hop_limit(1);
    view.set_src_addr(DST);
    view.set_dst_addr(SRC);
    assert_eq!(view.traffic_class(), 0xb8);
    assert_eq!(view.flow_label(), 0x1_8ade);
    let got = (view.hop_limit(), view.src_addr(), view.dst_addr());
    assert_eq!(got, (1, DST, SRC));
    assert_eq!(repr.emit(&mut [0; 39]), Err(WireError::BufferTooSmall));
}

#[test]
fn emit_errors_write_nothing() {
    let mut repr = Ipv6Repr {
        src: SRC,
        dst: DST,
        next_header: TCP,
        payload_len: 65_535,
        hop_limit: 64,
    };
    assert_eq!(repr.emit(&mut [0; 40]), Ok(40));
    repr.payload_len += 1;
    let mut buf = [0u8; 48];
    assert_eq!(repr.emit(&mut buf), Err(WireError::BadPayloadLength));
    repr.payload_len = 65_535 - 7;
    assert_eq!(
        repr.emit_fragment(&mut buf, 1, 0, true),
        Err(WireError::BadPayloadLength)
    );
    repr.payload_len = 8;
    for offset in [4, 65_536] {
        assert_eq!(
            repr.emit_fragment(&mut buf, 1, offset, true),
            Err(WireError::BadPayloadLength)
        );
    }
    assert_eq!(
        repr.emit_fragment(&mut buf[..47], 1, 0, true),
        Err(WireError::BufferTooSmall)
    );
    assert_eq!(buf, [0; 48], "nothing written on error");
}

#[test]
fn malformed_headers() {
    let e = |b: &[u8]| Ipv6Packet::new_checked(b).err();
    assert_eq!(e(&[]), Some(WireError::Truncated));
    let mut b = LINUX_SYN6;
    b[0] = 0x45;
    assert_eq!(e(&b), Some(WireError::BadVersion));
    b[0] = 0x60;
    assert_eq!(e(&b[..39]), Some(WireError::Truncated));
    // Payload length longer than the buffer.
    assert_eq!(e(&b[..79]), Some(WireError::Truncated));
    b[5] = 41;
    assert_eq!(e(&b), Some(WireError::Truncated));
    assert_eq!(
        parse_ipv6(&b),
        Err(Ipv6Error::Malformed(WireError::Truncated))
    );
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut b = LINUX_SYN6.to_vec();
    b.extend_from_slice(&[0xee; 6]);
    let (repr, payload) = parse_ipv6(&b).unwrap();
    assert_eq!(repr.payload_len, 40);
    assert_eq!(payload, &LINUX_SYN6[40..]);
}

/// RFC 2675: payload length 0 with a hop-by-hop header is a jumbogram,
/// not supported; payload length 0 with nothing to follow is an empty
/// packet.
#[test]
fn jumbogram_rejected() {
    // A jumbo payload option (0xc2, length 4) in a hop-by-hop header.
    let jumbo = [&opts(TCP, &[0xc2, 4, 0, 1, 0, 0])[..], &tcp_header()].concat();
    let mut b = packet(HBH, &jumbo);
    b[4..6].copy_from_slice(&[0, 0]);
    assert_eq!(
        Ipv6Packet::new_checked(&b[..]).err(),
        Some(WireError::Jumbogram)
    );
    let empty = packet(next_header::NO_NEXT_HEADER, &[]);
    let (repr, payload) = parse_ipv6(&empty).unwrap();
    assert_eq!((repr.next_header, payload), (59, &[][..]));
}

/// Every extension header kind, walked in one chain: hop-by-hop, then
/// destination options, routing with no segments left, an atomic fragment
/// and destination options again before TCP.
#[test]
fn walk_every_kind() {
    let rest = [
        opts(DO, &[0x05, 2, 0, 0]), // router alert: 00, skipped
        opts(next_header::ROUTING, &[]),
        routing(next_header::FRAGMENT, 4, 0),
        frag(DO, 0, false, 0xdead_beef),
        opts(TCP, &[0x1e, 1, 0]), // unknown, 00: skipped
        tcp_header(),
    ]
    .concat();
    let b = packet(HBH, &rest);
    let h = Ipv6Packet::new_checked(&b[..]).unwrap().headers().unwrap();
    assert_eq!(h.next_header, TCP);
    assert_eq!(h.ext_headers, 5);
    assert_eq!(h.payload_offset, 40 + 8 + 8 + 8 + 8 + 8);
    assert_eq!(h.next_header_at, 40 + 32);
    let (f, at) = h.fragment.unwrap();
    assert!(f.is_atomic());
    assert_eq!((f.ident, at), (0xdead_beef, 64));
    let (repr, payload) = parse_ipv6(&b).unwrap();
    assert_eq!((repr.next_header, repr.payload_len), (TCP, 20));
    assert_eq!(payload, &tcp_header()[..]);
}

#[test]
fn ext_header_count_and_length_are_bounded() {
    let chain = |n: usize| {
        let mut rest: Vec<u8> = (0..n - 1).flat_map(|_| opts(DO, &[])).collect();
        rest.extend(opts(TCP, &[]));
        rest.extend(tcp_header());
        packet(DO, &rest)
    };
    assert!(parse_ipv6(&chain(MAX_EXT_HEADERS)).is_ok());
    assert_eq!(
        parse_ipv6(&chain(MAX_EXT_HEADERS + 1)),
        Err(Ipv6Error::Malformed(WireError::TooManyExtHeaders))
    );
    let long = |len: usize| {
        // Pad1 options all along.
        let mut h = vec![0u8; len];
        h[0] = TCP;
        h[1] = (len / 8 - 1) as u8;
        packet(HBH, &[h, tcp_header()].concat())
    };
    assert!(parse_ipv6(&long(MAX_EXT_HEADERS_LEN)).is_ok());
    assert_eq!(
        parse_ipv6(&long(MAX_EXT_HEADERS_LEN + 8)),
        Err(Ipv6Error::Malformed(WireError::ExtHeadersTooLong))
    );
    // A header running past the payload length.
    let mut b = packet(DO, &opts(TCP, &[]));
    b[41] = 1;
    assert_eq!(
        parse_ipv6(&b),
        Err(Ipv6Error::Malformed(WireError::Truncated))
    );
}

/// RFC 8200 4.2: the two high-order bits of an unrecognised option's type
/// say what to do.
#[test]
fn unknown_option_actions() {
    let with = |dst: Ipv6Addr, ty: u8| {
        let rest = [opts(TCP, &[1, 0, ty, 2, 0, 0]), tcp_header()].concat();
        parse_ipv6(&packet_to(dst, HBH, &rest)).map(|(repr, _)| repr)
    };
    let problem = |code, pointer| Err(Ipv6Error::ParameterProblem { code, pointer });
    // 00: skip.
    assert!(with(DST, 0x3e).is_ok());
    // 01: discard silently.
    assert_eq!(with(DST, 0x7e), Err(Ipv6Error::Discard));
    // 10: parameter problem code 2 at the option type (byte 44), even to
    // a multicast destination.
    assert_eq!(with(DST, 0xbe), problem(2, 44));
    assert_eq!(with(MCAST, 0xbe), problem(2, 44));
    // 11: the same, except to a multicast destination.
    assert_eq!(with(DST, 0xfe), problem(2, 44));
    assert_eq!(with(MCAST, 0xfe), Err(Ipv6Error::Discard));
    // In a destination options header too.
    let rest = [opts(TCP, &[0xbe, 0]), tcp_header()].concat();
    let b = packet(DO, &rest);
    assert_eq!(parse_ipv6(&b).map(|(r, _)| r), problem(2, 42));
    // An option running past its header.
    let mut bad = opts(TCP, &[0x3e, 1, 0]);
    bad[3] = 200;
    let b = packet(DO, &[bad, tcp_header()].concat());
    assert_eq!(
        parse_ipv6(&b),
        Err(Ipv6Error::Malformed(WireError::BadExtHeader))
    );
}

/// RFC 8200 4: an unrecognised next header is a parameter problem code 1
/// pointing at the Next Header field that names it.
#[test]
fn unknown_next_header() {
    let udp = 17;
    assert_eq!(parse_ipv6(&packet(udp, &[0; 8])), problem(1, 6));
    let rest = [opts(udp, &[]), vec![0; 8]].concat();
    assert_eq!(parse_ipv6(&packet(DO, &rest)), problem(1, 40));
    // Not reported about a packet sent to a multicast group (RFC 4443
    // 2.4 (e.3)).
    assert_eq!(
        parse_ipv6(&packet_to(MCAST, udp, &[0; 8])),
        Err(Ipv6Error::Discard)
    );
    // Hop-by-hop anywhere but first is unrecognised as well.
    let rest = [opts(HBH, &[]), opts(TCP, &[]), tcp_header()].concat();
    assert_eq!(parse_ipv6(&packet(DO, &rest)), problem(1, 40));
}

/// RFC 8200 4.4 and RFC 5095: no routing type is recognised (type 0 is
/// deprecated); with segments left it is a parameter problem code 0 at the
/// routing type, without it the header is skipped.
#[test]
fn routing_header_type_0() {
    let b = packet(
        next_header::ROUTING,
        &[routing(TCP, 0, 1), tcp_header()].concat(),
    );
    assert_eq!(parse_ipv6(&b), problem(0, 42));
    let b = packet(
        next_header::ROUTING,
        &[routing(TCP, 0, 0), tcp_header()].concat(),
    );
    assert_eq!(parse_ipv6(&b).unwrap().1, &tcp_header()[..]);
    let b = packet(
        next_header::ROUTING,
        &[routing(TCP, 4, 3), tcp_header()].concat(),
    );
    assert_eq!(parse_ipv6(&b), problem(0, 42));
}

/// RFC 6946: an atomic fragment is processed in isolation as a whole
/// packet; nothing to reassemble.
#[test]
fn atomic_fragment() {
    let b = packet(
        next_header::FRAGMENT,
        &[frag(TCP, 0, false, 7), tcp_header()].concat(),
    );
    let (repr, payload) = parse_ipv6(&b).unwrap();
    assert_eq!((repr.next_header, repr.payload_len), (TCP, 20));
    assert_eq!(payload, &tcp_header()[..]);
    assert_eq!(
        parse_ipv6_fragment(&b),
        Err(Ipv6Error::Malformed(WireError::NotFragment))
    );
    // The same header with M set is a fragment to reassemble.
    let b = packet(
        next_header::FRAGMENT,
        &[frag(TCP, 0, true, 7), tcp_header(), vec![0; 4]].concat(),
    );
    assert_eq!(
        parse_ipv6(&b),
        Err(Ipv6Error::Malformed(WireError::Fragmented))
    );
    assert!(parse_ipv6_fragment(&b).is_ok());
}

/// Fragments emitted with `emit_fragment` read back with
/// `parse_ipv6_fragment`, and RFC 8200 4.5's reassembly of them (with a
/// hop-by-hop header in the unfragmentable part) parses as the original.
#[test]
fn fragments_round_trip_and_reassemble() {
    let mut segment = tcp_header();
    segment.extend((0..28u8).collect::<Vec<_>>()); // 48 bytes in all
    let repr = Ipv6Repr {
        src: SRC,
        dst: DST,
        next_header: TCP,
        payload_len: 24,
        hop_limit: 9,
    };
    let hbh = opts(next_header::FRAGMENT, &[]);
    let mut pieces = Vec::new();
    for (i, chunk) in segment.chunks(24).enumerate() {
        let mut b = vec![0u8; 48];
        assert_eq!(
            repr.emit_fragment(&mut b, 0x1234_5678, i * 24, i == 0),
            Ok(48)
        );
        // Put a hop-by-hop header in the unfragmentable part.
        b.splice(40..40, hbh.iter().copied());
        b[6] = HBH;
        b[4..6].copy_from_slice(&(8 + 8 + 24u16).to_be_bytes());
        b.extend_from_slice(chunk);
        pieces.push(b);
    }
    let first = parse_ipv6_fragment(&pieces[0]).unwrap();
    assert_eq!((first.src, first.dst, first.ident), (SRC, DST, 0x1234_5678));
    assert_eq!((first.next_header, first.hop_limit), (TCP, 9));
    assert_eq!((first.offset, first.more, first.end()), (0, true, 24));
    assert_eq!((first.unfragmentable.len(), first.next_header_at), (48, 40));
    assert_eq!(first.header_len(), 56);
    let last = parse_ipv6_fragment(&pieces[1]).unwrap();
    assert_eq!(
        (last.offset, last.more, last.payload),
        (24, false, &segment[24..])
    );

    let mut whole = Vec::new();
    first.reassembled_header(48, &mut whole).unwrap();
    whole.extend_from_slice(first.payload);
    whole.extend_from_slice(last.payload);
    let (back, payload) = parse_ipv6(&whole).unwrap();
    assert_eq!((back.next_header, back.payload_len), (TCP, 48));
    assert_eq!(payload, &segment[..]);
    assert_eq!(
        first.reassembled_header(65_535 - 7, &mut whole),
        Err(WireError::BadPayloadLength)
    );
    assert!(whole.is_empty());
}

/// RFC 8200 4.5: a fragment with M set whose length is not a multiple of
/// 8, or one that would make the reassembled payload exceed 65,535 bytes,
/// is a parameter problem code 0 at the payload length field and at the
/// fragment offset field.
#[test]
fn fragment_length_rules() {
    let b = packet(
        next_header::FRAGMENT,
        &[frag(TCP, 8, true, 1), vec![0; 12]].concat(),
    );
    assert_eq!(parse_ipv6_fragment(&b), Err(problem(0, 4).unwrap_err()));
    let last = |len: usize| {
        let f = [frag(TCP, 65_528, false, 1), vec![0; len]].concat();
        packet(next_header::FRAGMENT, &f)
    };
    assert_eq!(parse_ipv6_fragment(&last(7)).map(|f| f.end()), Ok(65_535));
    assert_eq!(
        parse_ipv6_fragment(&last(8)),
        Err(problem(0, 42).unwrap_err())
    );
    // The unfragmentable extension headers count in the reassembled
    // payload length.
    let rest = [
        opts(next_header::FRAGMENT, &[]),
        frag(TCP, 65_520, false, 1),
        vec![0; 8],
    ];
    let b = packet(HBH, &rest.concat());
    assert_eq!(parse_ipv6_fragment(&b), Err(problem(0, 50).unwrap_err()));
}

/// RFC 8200 4.5 / RFC 7112: a first fragment must hold the whole header
/// chain through the upper-layer header.
#[test]
fn first_fragment_needs_whole_chain() {
    // The destination options header in the fragment announces 16 bytes;
    // only 8 came.
    let mut d = opts(TCP, &[]);
    d[1] = 1;
    let b = packet(next_header::FRAGMENT, &[frag(DO, 0, true, 1), d].concat());
    assert_eq!(parse_ipv6_fragment(&b), Err(problem(3, 0).unwrap_err()));
    // 16 bytes of a 20-byte TCP header.
    let b = packet(
        next_header::FRAGMENT,
        &[frag(TCP, 0, true, 1), vec![0; 16]].concat(),
    );
    assert_eq!(parse_ipv6_fragment(&b), Err(problem(3, 0).unwrap_err()));
    let b = packet_to(
        MCAST,
        next_header::FRAGMENT,
        &[frag(TCP, 0, true, 1), vec![0; 16]].concat(),
    );
    assert_eq!(parse_ipv6_fragment(&b), Err(Ipv6Error::Discard));
    // The whole chain: fine. Later fragments are not checked.
    let b = packet(
        next_header::FRAGMENT,
        &[frag(TCP, 0, true, 1), vec![0; 24]].concat(),
    );
    assert!(parse_ipv6_fragment(&b).is_ok());
    let b = packet(
        next_header::FRAGMENT,
        &[frag(TCP, 8, true, 1), vec![0; 8]].concat(),
    );
    assert!(parse_ipv6_fragment(&b).is_ok());

    // The helper on its own.
    assert!(check_first_fragment(TCP, &[0; 20]).is_ok());
    assert!(check_first_fragment(next_header::ICMPV6, &[0; 7]).is_err());
    assert!(check_first_fragment(next_header::NO_NEXT_HEADER, &[]).is_ok());
    assert!(check_first_fragment(DO, &[opts(TCP, &[]), tcp_header()].concat()).is_ok());
    assert_eq!(
        check_first_fragment(DO, &[opts(TCP, &[]), vec![0; 19]].concat()),
        Err(Ipv6Error::ParameterProblem {
            code: param_problem::INCOMPLETE_CHAIN,
            pointer: 0
        })
    );
}

#[test]
fn fragment_header_round_trip() {
    let h = FragmentHeader {
        next_header: TCP,
        offset: 65_528,
        more: true,
        ident: 0xfeed_f00d,
    };
    let mut b = [0xffu8; 8];
    assert_eq!(h.emit(&mut b), Ok(8));
    assert_eq!(b, [6, 0, 0xff, 0xf9, 0xfe, 0xed, 0xf0, 0x0d]);
    assert_eq!(FragmentHeader::parse(&b), Ok(h));
    assert!(!h.is_atomic());
    assert_eq!(FragmentHeader::parse(&b[..7]), Err(WireError::Truncated));
    // Reserved bits are ignored on reception.
    b[1] = 0xff;
    b[3] |= 0x06;
    assert_eq!(FragmentHeader::parse(&b), Ok(h));
}

#[test]
fn skip_ext_headers_stops_at_upper_layer() {
    let rest = [
        opts(next_header::ROUTING, &[]),
        routing(TCP, 0, 5),
        tcp_header(),
    ]
    .concat();
    assert_eq!(skip_ext_headers(&rest, HBH, 0), Ok((TCP, 16)));
    assert_eq!(
        skip_ext_headers(&rest[..15], HBH, 0),
        Err(WireError::Truncated)
    );
    let f = [frag(TCP, 8, false, 1), tcp_header()].concat();
    assert_eq!(
        skip_ext_headers(&f, next_header::FRAGMENT, 0),
        Err(WireError::Fragmented)
    );
    let many: Vec<u8> = (0..=MAX_EXT_HEADERS).flat_map(|_| opts(DO, &[])).collect();
    assert_eq!(
        skip_ext_headers(&many, DO, 0),
        Err(WireError::TooManyExtHeaders)
    );
}
