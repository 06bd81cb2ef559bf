use super::*;
use crate::wire::ipv6::parse_ipv6;

/// `ping -6 -c1 -s 8 2001:db8::2` from Linux 6.x, as written into a TUN
/// device without offloads (full checksum 0x712f): ident 0x51ad, seq 1.
const LINUX_PING6: [u8; 56] = [
    0x60, 0x09, 0x7a, 0x8e, 0x00, 0x10, 0x3a, 0x40, // version .. hop limit
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // src
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // dst
    0x80, 0x00, 0x71, 0x2f, 0x51, 0xad, 0x00, 0x01, // ICMPv6 echo request
    0x61, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // data
];

const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// The start of a SYN we sent (2001:db8::2 port 40000 -> 2001:db8::1
/// port 443, seq 0xdeadbeef), as a router would quote it: IPv6 header
/// announcing a 1400-byte payload, then the first 8 TCP bytes.
fn quoted_syn(nh: u8, ext: &[u8]) -> Vec<u8> {
    let mut q = vec![0x60, 0, 0, 0, 0x05, 0x78, nh, 64];
    q.extend_from_slice(&DST.octets());
    q.extend_from_slice(&SRC.octets());
    q.extend_from_slice(ext);
    q.extend_from_slice(&40000u16.to_be_bytes());
    q.extend_from_slice(&443u16.to_be_bytes());
    q.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    q
}

#[test]
fn real_ping_parses_and_is_answered() {
    let (ip, payload) = parse_ipv6(&LINUX_PING6).unwrap();
    assert_eq!(ip.next_header, next_header::ICMPV6);
    let req = Icmpv6Repr::parse(payload, ip.src, ip.dst, true).unwrap();
    assert_eq!(
        req,
        Icmpv6Repr::EchoRequest {
            ident: 0x51ad,
            seq_no: 1,
            data: b"ab\0\0\0\0\0\0",
        }
    );
    assert!(!req.is_error());
    // Emitting the request again gives the kernel's bytes, checksum
    // included.
    let mut out = [0u8; 56];
    assert_eq!(req.emit_packet(SRC, DST, 64, &mut out), Ok(56));
    assert_eq!(out[40..], LINUX_PING6[40..]);
    let Icmpv6Repr::EchoRequest {
        ident,
        seq_no,
        data,
    } = req
    else {
        unreachable!()
    };
    let reply = Icmpv6Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let n = reply.emit_packet(DST, SRC, 64, &mut out).unwrap();
    assert_eq!(n, 56);
    // Only the type changed (128 -> 129) and the addresses swapped, which
    // leaves the pseudo-header sum alone: the checksum moved by 0x0100.
    let expected = checksum::update(0x712f, 0x8000, 0x8100);
    assert_eq!(u16::from_be_bytes([out[42], out[43]]), expected);
    let (ip, payload) = parse_ipv6(&out).unwrap();
    assert_eq!((ip.src, ip.dst), (DST, SRC));
    assert_eq!(Icmpv6Repr::parse(payload, DST, SRC, true), Ok(reply));
}

/// The checksum is mandatory and covers the pseudo-header: a flipped bit
/// in the message or another destination address fails it.
#[test]
fn checksum_covers_pseudo_header() {
    let msg = &LINUX_PING6[40..];
    assert!(Icmpv6Repr::parse(msg, SRC, DST, true).is_ok());
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
    assert_eq!(
        Icmpv6Repr::parse(msg, SRC, other, true),
        Err(WireError::BadChecksum)
    );
    let mut bad = msg.to_vec();
    bad[9] ^= 1;
    assert_eq!(
        Icmpv6Repr::parse(&bad, SRC, DST, true),
        Err(WireError::BadChecksum)
    );
    assert!(Icmpv6Repr::parse(&bad, SRC, DST, false).is_ok());
    // The pseudo-header sum plus the message, by the naive loop.
    let mut naive = Vec::new();
    naive.extend_from_slice(&SRC.octets());
    naive.extend_from_slice(&DST.octets());
    naive.extend_from_slice(&16u32.to_be_bytes());
    naive.extend_from_slice(&[0, 0, 0, 58]);
    naive.extend_from_slice(msg);
    assert_eq!(checksum::naive_checksum(&naive), 0);
}

/// RFC 8201: the MTU of a packet too big survives emit and parse, and the
/// quoted packet names the connection.
#[test]
fn packet_too_big_round_trip() {
    let invoking = quoted_syn(next_header::TCP, &[]);
    let ptb = Icmpv6Repr::PacketTooBig {
        mtu: 1280,
        invoking: &invoking,
    };
    assert!(ptb.is_error());
    let mut out = [0u8; 200];
    let n = ptb.emit(&mut out, SRC, DST).unwrap();
    assert_eq!(n, 8 + 48);
    assert_eq!(&out[..2], &[2, 0]);
    assert_eq!(&out[4..8], &1280u32.to_be_bytes());
    let back = Icmpv6Repr::parse(&out[..n], SRC, DST, true).unwrap();
    assert_eq!(back, ptb);
    let Icmpv6Repr::PacketTooBig { mtu, invoking } = back else {
        unreachable!()
    };
    assert_eq!(mtu, 1280);
    assert_eq!(
        parse_quoted_tcp(invoking),
        Ok(QuotedTcp6 {
            src: DST,
            dst: SRC,
            src_port: 40000,
            dst_port: 443,
            seq: SeqNum(0xdead_beef),
            packet_len: 1440,
        })
    );
}

/// RFC 4443 2.4 (c): an emitted error quotes as much of the invoking
/// packet as fits in 1280 bytes.
#[test]
fn errors_never_exceed_minimum_mtu() {
    let big = vec![0x60; 2000];
    for msg in [
        Icmpv6Repr::DestUnreachable {
            code: dest_unreachable::PORT_UNREACHABLE,
            invoking: &big,
        },
        Icmpv6Repr::TimeExceeded {
            code: time_exceeded::REASSEMBLY,
            invoking: &big,
        },
        Icmpv6Repr::ParameterProblem {
            code: param_problem::UNRECOGNIZED_OPTION,
            pointer: 44,
            invoking: &big,
        },
        Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            invoking: &big,
        },
    ] {
        assert_eq!(msg.buffer_len(), 1240);
        let mut out = vec![0u8; 1500];
        assert_eq!(msg.emit_packet(DST, SRC, 64, &mut out), Ok(1280));
        let (ip, payload) = parse_ipv6(&out[..1280]).unwrap();
        let back = Icmpv6Repr::parse(payload, ip.src, ip.dst, true).unwrap();
        let quoted = match back {
            Icmpv6Repr::DestUnreachable { invoking, .. }
            | Icmpv6Repr::TimeExceeded { invoking, .. }
            | Icmpv6Repr::ParameterProblem { invoking, .. }
            | Icmpv6Repr::PacketTooBig { invoking, .. } => invoking,
            _ => unreachable!(),
        };
        assert_eq!(quoted, &big[..MAX_INVOKING_LEN]);
    }
    // An echo reply is not cut.
    let echo = Icmpv6Repr::EchoReply {
        ident: 1,
        seq_no: 2,
        data: &big,
    };
    assert_eq!(echo.buffer_len(), 2008);
}

#[test]
fn error_fields_round_trip() {
    let invoking = quoted_syn(next_header::TCP, &[]);
    for code in 0..=6 {
        let m = Icmpv6Repr::DestUnreachable {
            code,
            invoking: &invoking,
        };
        let mut out = [0u8; 64];
        let n = m.emit(&mut out, SRC, DST).unwrap();
        assert_eq!(&out[..2], &[1, code]);
        assert_eq!(&out[4..8], &[0; 4], "unused");
        assert_eq!(Icmpv6Repr::parse(&out[..n], SRC, DST, true), Ok(m));
    }
    let m = Icmpv6Repr::ParameterProblem {
        code: param_problem::UNRECOGNIZED_NEXT_HEADER,
        pointer: 0x0102_0304,
        invoking: &invoking,
    };
    let mut out = [0u8; 64];
    let n = m.emit(&mut out, SRC, DST).unwrap();
    assert_eq!(&out[..8], &[4, 1, out[2], out[3], 1, 2, 3, 4]);
    assert_eq!(Icmpv6Repr::parse(&out[..n], SRC, DST, true), Ok(m));
    let m = Icmpv6Repr::TimeExceeded {
        code: time_exceeded::HOP_LIMIT,
        invoking: &invoking,
    };
    let n = m.emit(&mut out, SRC, DST).unwrap();
    assert_eq!(Icmpv6Repr::parse(&out[..n], SRC, DST, true), Ok(m));
    // Too small a buffer: nothing written.
    let mut small = [0u8; 55];
    assert_eq!(m.emit(&mut small, SRC, DST), Err(WireError::BufferTooSmall));
    assert_eq!(small, [0; 55]);
}

#[test]
fn unsupported_and_truncated() {
    assert_eq!(
        Icmpv6Repr::parse(&LINUX_PING6[40..47], SRC, DST, false),
        Err(WireError::Truncated)
    );
    // Router solicitation, neighbour solicitation, MLD report.
    for ty in [133u8, 135, 143, 0, 127] {
        let m = [ty, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Icmpv6Repr::parse(&m, SRC, DST, false),
            Err(WireError::UnsupportedIcmp)
        );
    }
}

/// The quoted packet's extension headers are walked to the TCP header.
#[test]
fn quoted_tcp_through_extension_headers() {
    let hbh = [next_header::FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
    let first_frag = [next_header::TCP, 0, 0, 1, 0, 0, 0, 9];
    let ext = [&hbh[..], &first_frag].concat();
    let q = quoted_syn(next_header::HOP_BY_HOP, &ext);
    let t = parse_quoted_tcp(&q).unwrap();
    assert_eq!(
        (t.src_port, t.dst_port, t.seq),
        (40000, 443, SeqNum(0xdead_beef))
    );
    assert_eq!(
        parse_quoted_tcp(&q[..q.len() - 1]),
        Err(WireError::Truncated)
    );
    assert_eq!(parse_quoted_tcp(&q[..50]), Err(WireError::Truncated));
    // A later fragment holds no TCP header.
    let later = [next_header::TCP, 0, 0, 9, 0, 0, 0, 9];
    let q = quoted_syn(next_header::FRAGMENT, &later);
    assert_eq!(parse_quoted_tcp(&q), Err(WireError::Fragmented));
    let q = quoted_syn(next_header::ICMPV6, &[]);
    assert_eq!(parse_quoted_tcp(&q), Err(WireError::NotTcp));
    let mut q = quoted_syn(next_header::TCP, &[]);
    q[0] = 0x45;
    assert_eq!(parse_quoted_tcp(&q), Err(WireError::BadVersion));
    assert_eq!(parse_quoted_tcp(&[]), Err(WireError::Truncated));
    assert_eq!(parse_quoted_tcp(&[0x60; 39]), Err(WireError::Truncated));
}
