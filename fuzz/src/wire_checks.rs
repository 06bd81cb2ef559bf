//! The checks behind the `ipv4`, `tcp` and `icmp` fuzz targets: parse
//! arbitrary bytes, and for whatever parses, emit it again and check that
//! the result parses back to the same thing, with a checksum the plain
//! RFC 1071 loop agrees with. A parser that panics, or a round trip that
//! does not hold, panics here, which is what libFuzzer reports.
//!
//! Uses only ringtcp's public API. Compiled twice: into the fuzz crate, and
//! into `tests/fuzz_harness.rs` so that crash inputs kept in
//! `fuzz/regressions/<target>/` run with the ordinary test suite.

use std::net::Ipv4Addr;

use ringtcp::wire::checksum::naive_checksum;
use ringtcp::wire::icmp::{IcmpRepr, parse_quoted_tcp};
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Packet, parse_ipv4};
use ringtcp::wire::tcp::{TCP_HEADER_LEN, TcpOptions, TcpPacket, TcpRepr, parse_tcp};
use ringtcp::wire::{SeqNum, WireError};

/// Addresses for the TCP pseudo-header.
const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// IPv4: `parse_ipv4` never panics; what parses has a payload of the
/// announced length, agrees with the checked view, is rejected with
/// checksum verification exactly when its header checksum is wrong, and
/// emits a header that parses back to the same representation. A header in
/// the only shape the stack emits (no options, DF alone, DSCP/ECN 0, valid
/// checksum) is reproduced byte for byte.
pub fn ipv4(data: &[u8]) {
    let lax = parse_ipv4(data, false);
    let strict = parse_ipv4(data, true);
    let Ok((repr, payload)) = lax else {
        let err = lax.unwrap_err();
        // Checksum verification only adds a reason to refuse: the same
        // structural error comes first, unless the checksum is checked
        // before the fragment test.
        match strict {
            Ok(_) => panic!("lax parse refused ({err:?}) what strict parse took"),
            Err(e) => assert!(
                e == err || (err == WireError::Fragmented && e == WireError::BadChecksum),
                "lax {err:?} vs strict {e:?}"
            ),
        }
        return;
    };
    let pkt = Ipv4Packet::new_checked(data).expect("parse_ipv4 took it");
    assert_eq!(payload.len(), repr.payload_len);
    assert_eq!(payload, pkt.payload());
    assert_eq!(repr.payload_len + pkt.header_len(), pkt.total_len());
    assert!(pkt.total_len() <= data.len());
    assert!(!pkt.is_fragment());
    assert_eq!((repr.src, repr.dst), (pkt.src_addr(), pkt.dst_addr()));
    assert_eq!((repr.protocol, repr.ttl), (pkt.protocol(), pkt.ttl()));
    let checksum_ok = naive_checksum(pkt.header()) == 0;
    assert_eq!(pkt.verify_checksum(), checksum_ok);
    match strict {
        Ok((r, p)) => {
            assert!(checksum_ok, "strict parse took a bad checksum");
            assert_eq!((r, p), (repr, payload));
        }
        Err(e) => {
            assert_eq!(e, WireError::BadChecksum);
            assert!(!checksum_ok, "strict parse refused a good checksum");
        }
    }

    let mut out = [0u8; IPV4_HEADER_LEN];
    repr.emit(&mut out, pkt.ident())
        .expect("a parsed header fits");
    assert_eq!(naive_checksum(&out), 0, "emitted header checksum");
    let mut datagram = out.to_vec();
    datagram.extend_from_slice(payload);
    let (back, back_payload) = parse_ipv4(&datagram, true).expect("emitted header parses");
    assert_eq!(back, repr);
    assert_eq!(back_payload, payload);
    let canonical =
        pkt.header_len() == IPV4_HEADER_LEN && pkt.dscp_ecn() == 0 && data[6..8] == [0x40, 0];
    if canonical && checksum_ok {
        // Byte for byte but the checksum field: one's complement has two
        // zeros, and a header whose other words sum to zero checks out
        // with 0x0000 or 0xffff there (RFC 1624 3); both are verified
        // above, and the emitter writes 0x0000.
        let (mut a, mut b) = (out, [0u8; IPV4_HEADER_LEN]);
        b.copy_from_slice(&data[..IPV4_HEADER_LEN]);
        a[10..12].fill(0);
        b[10..12].fill(0);
        assert_eq!(a, b, "canonical header re-emitted");
    }
}

/// TCP: `parse_tcp` and `TcpOptions::parse` never panic; what parses agrees
/// with the checked view and emits a segment that parses back (with its
/// checksum verified) to the same fields, options and payload, except the
/// SACK blocks that do not fit beside the other options on emit.
pub fn tcp(data: &[u8]) {
    // The bytes as option space on their own (up to the 40 a header has).
    if let Ok(opts) = TcpOptions::parse(&data[..data.len().min(40)]) {
        options_round_trip(&opts);
    }

    let strict = parse_tcp(data, SRC, DST, true);
    let Ok(seg) = parse_tcp(data, SRC, DST, false) else {
        assert!(strict.is_err(), "strict parse took what lax parse refused");
        return;
    };
    let pkt = TcpPacket::new_checked(data).expect("parse_tcp took it");
    assert!(pkt.header_len() >= TCP_HEADER_LEN && pkt.header_len() <= data.len());
    assert_eq!(seg.payload, pkt.payload());
    assert_eq!(seg.payload.len(), data.len() - pkt.header_len());
    assert_eq!(
        (seg.src_port, seg.dst_port),
        (pkt.src_port(), pkt.dst_port())
    );
    assert_eq!((seg.seq, seg.ack), (pkt.seq_number(), pkt.ack_number()));
    assert_eq!(seg.flags, pkt.flags());
    assert_eq!(
        (seg.window, seg.urgent),
        (pkt.window_len(), pkt.urgent_at())
    );
    assert_eq!(
        seg.segment_len(),
        seg.payload.len() + usize::from(seg.flags.syn()) + usize::from(seg.flags.fin())
    );
    assert_eq!(
        strict.is_ok(),
        pkt.verify_checksum(SRC, DST),
        "strict parse and verify_checksum disagree"
    );
    options_round_trip(&seg.options);

    let mut out = vec![0u8; seg.buffer_len()];
    let n = match seg.emit(&mut out, SRC, DST) {
        Ok(n) => n,
        // A 65535-byte segment with fewer option bytes than it came with
        // cannot grow, but one with more can exceed the limit.
        Err(WireError::BadTotalLength) => {
            assert!(seg.buffer_len() > usize::from(u16::MAX));
            return;
        }
        Err(e) => panic!("emit into a buffer of buffer_len(): {e:?}"),
    };
    assert_eq!(n, seg.buffer_len());
    let back = parse_tcp(&out, SRC, DST, true).expect("emitted segment parses, checksum good");
    let expected = TcpRepr {
        options: emitted_options(&seg.options),
        ..seg
    };
    assert_eq!(back, expected);
    assert_eq!(back.header_len(), seg.header_len());
}

/// Options emitted and parsed again give the same options, less the SACK
/// blocks `emit` leaves out for room; the encoding is whole words within
/// the 40 bytes of option space.
fn options_round_trip(opts: &TcpOptions) {
    let len = opts.encoded_len();
    assert!(len <= 40 && len % 4 == 0, "encoded_len {len}");
    let mut buf = [0u8; 40];
    assert_eq!(opts.emit(&mut buf), len);
    let back = TcpOptions::parse(&buf[..len]).expect("emitted options parse");
    assert_eq!(back, emitted_options(opts));
}

/// What `TcpOptions::emit` writes of `opts`: everything, but only the SACK
/// blocks that fit.
fn emitted_options(opts: &TcpOptions) -> TcpOptions {
    let mut o = *opts;
    let blocks: Vec<(SeqNum, SeqNum)> = opts.sack()[..opts.sack_blocks_emitted()].to_vec();
    o.set_sack(&blocks);
    o
}

/// ICMP: `IcmpRepr::parse` and `parse_quoted_tcp` never panic; what parses
/// is refused with checksum verification exactly when its checksum is
/// wrong, and emits a message that parses back to the same representation
/// and carries the same bytes in every field the representation keeps.
pub fn icmp(data: &[u8]) {
    let strict = IcmpRepr::parse(data, true);
    let repr = match IcmpRepr::parse(data, false) {
        Ok(r) => r,
        Err(e) => {
            // The checksum is checked after the length, before the type.
            let s = strict.expect_err("strict parse took what lax parse refused");
            assert!(
                s == e || (e == WireError::UnsupportedIcmp && s == WireError::BadChecksum),
                "lax {e:?} vs strict {s:?}"
            );
            return;
        }
    };
    let checksum_ok = naive_checksum(data) == 0;
    match strict {
        Ok(r) => {
            assert!(checksum_ok, "strict parse took a bad checksum");
            assert_eq!(r, repr);
        }
        Err(e) => {
            assert_eq!(e, WireError::BadChecksum);
            assert!(!checksum_ok, "strict parse refused a good checksum");
        }
    }
    assert_eq!(repr.buffer_len(), data.len());

    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out), Ok(data.len()));
    assert_eq!(naive_checksum(&out), 0, "emitted checksum");
    assert_eq!(IcmpRepr::parse(&out, true), Ok(repr));
    assert_eq!(out[0], data[0], "type");
    match repr {
        // Echo: the code is written as 0; identifier, sequence number and
        // data are kept.
        IcmpRepr::EchoRequest { .. } | IcmpRepr::EchoReply { .. } => {
            assert_eq!(out[4..], data[4..]);
        }
        // Unreachable: the unused half word is written as 0; code, MTU and
        // the quoted datagram are kept.
        IcmpRepr::DestUnreachable { original, .. } => {
            assert_eq!(out[1], data[1]);
            assert_eq!(out[6..], data[6..]);
            quoted(original);
        }
    }

    let mut datagram = vec![0u8; IPV4_HEADER_LEN + repr.buffer_len()];
    if let Ok(n) = repr.emit_datagram(DST, SRC, 64, 1, &mut datagram) {
        let (ip, payload) = parse_ipv4(&datagram[..n], true).expect("emitted datagram parses");
        assert_eq!((ip.src, ip.dst), (DST, SRC));
        assert_eq!(IcmpRepr::parse(payload, true), Ok(repr));
    } else {
        // Only a message too long for one IPv4 datagram can fail.
        assert!(IPV4_HEADER_LEN + repr.buffer_len() > usize::from(u16::MAX));
    }
}

/// The quoted datagram of an unreachable: what `parse_quoted_tcp` reads
/// is at the offsets RFC 792 puts it.
fn quoted(original: &[u8]) {
    let Ok(q) = parse_quoted_tcp(original) else {
        return;
    };
    let ihl = usize::from(original[0] & 0x0f) * 4;
    assert!(original.len() >= ihl + 8 && ihl >= IPV4_HEADER_LEN);
    let at = |o: usize| u16::from_be_bytes([original[o], original[o + 1]]);
    assert_eq!(q.src_port, at(ihl));
    assert_eq!(q.dst_port, at(ihl + 2));
    assert_eq!(q.total_len, at(2));
    assert_eq!(q.src.octets(), original[12..16]);
    assert_eq!(q.dst.octets(), original[16..20]);
}
