//! Unit tests of the TCP wire format, against segments captured from Linux.

use std::net::Ipv4Addr;

use super::*;
use crate::wire::{SeqNum, WireError};

const ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The TCP part of a SYN captured from Linux 6.x over loopback,
/// 192.0.2.1:40000 -> 192.0.2.1:8080, options MSS 65495, SACK-permitted,
/// timestamps, window scale 10. Loopback used checksum offload, so the
/// checksum field holds the partial (pseudo-header) sum 0x8431; the full
/// checksum, computed independently with Python, is 0x4aee.
const LINUX_SYN: [u8; 40] = [
    0x9c, 0x40, 0x1f, 0x90, 0x3e, 0xeb, 0x33, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff, 0xd7,
    0x84, 0x31, 0x00, 0x00, // header
    0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x09, 0x76, 0x47, 0xd2, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x03, 0x03, 0x0a, // options
];

/// The segment after the SYN exchange carrying "hello" (PSH|ACK,
/// NOP NOP TS), same capture; full checksum 0x7567.
const LINUX_DATA: [u8; 37] = [
    0x9c, 0x40, 0x1f, 0x90, 0x3e, 0xeb, 0x33, 0x0d, 0xfa, 0x8b, 0xd2, 0xa7, 0x80, 0x18, 0x00, 0x40,
    0x84, 0x2e, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x09, 0x76, 0x47, 0xd2, 0x0b, 0x2a, 0xe1, 0xc4,
    b'h', b'e', b'l', b'l', b'o',
];

fn with_full_checksum<const N: usize>(seg: [u8; N], sum: u16) -> [u8; N] {
    let mut s = seg;
    s[16..18].copy_from_slice(&sum.to_be_bytes());
    s
}

#[test]
fn partial_checksum_matches_linux() {
    let mut seg = LINUX_SYN;
    seg[16] = 0;
    seg[17] = 0;
    fill_partial_checksum(&mut seg, ADDR, ADDR);
    assert_eq!(seg, LINUX_SYN);
    let mut seg = LINUX_DATA;
    seg[16] = 0xff;
    fill_partial_checksum(&mut seg, ADDR, ADDR);
    assert_eq!(seg, LINUX_DATA);
}

#[test]
fn full_checksum_matches_reference() {
    let mut seg = LINUX_SYN;
    fill_checksum(&mut seg, ADDR, ADDR);
    assert_eq!(&seg[16..18], &[0x4a, 0xee]);
    let mut seg = LINUX_DATA;
    fill_checksum(&mut seg, ADDR, ADDR);
    assert_eq!(&seg[16..18], &[0x75, 0x67]);
    assert!(
        TcpPacket::new_checked(&seg[..])
            .unwrap()
            .verify_checksum(ADDR, ADDR)
    );
    // The partial-checksum form does not verify as a full checksum.
    assert!(
        !TcpPacket::new_checked(&LINUX_DATA[..])
            .unwrap()
            .verify_checksum(ADDR, ADDR)
    );
}

#[test]
fn parse_linux_syn() {
    let seg = with_full_checksum(LINUX_SYN, 0x4aee);
    let pkt = TcpPacket::new_checked(&seg[..]).unwrap();
    assert_eq!(pkt.src_port(), 40000);
    assert_eq!(pkt.dst_port(), 8080);
    assert_eq!(pkt.seq_number(), SeqNum(0x3eeb330c));
    assert_eq!(pkt.ack_number(), SeqNum(0));
    assert_eq!(pkt.header_len(), 40);
    assert_eq!(pkt.flags(), TcpFlags::SYN);
    assert_eq!(pkt.window_len(), 65495);
    assert_eq!(pkt.checksum(), 0x4aee);
    assert_eq!(pkt.urgent_at(), 0);
    assert_eq!(pkt.options().len(), 20);
    assert!(pkt.payload().is_empty());

    let repr = parse_tcp(&seg, ADDR, ADDR, true).unwrap();
    assert_eq!(repr.options.mss, Some(65495));
    assert!(repr.options.sack_permitted);
    assert_eq!(repr.options.timestamps, Some((0x097647d2, 0)));
    assert_eq!(repr.options.window_scale, Some(10));
    assert!(repr.options.sack().is_empty());
    assert_eq!(repr.segment_len(), 1);
    assert_eq!(repr.header_len(), 40);

    // Our emitter lays the options out exactly as Linux does.
    let mut out = [0u8; 40];
    assert_eq!(repr.emit(&mut out, ADDR, ADDR), Ok(40));
    assert_eq!(out, seg);
    // The unverified capture parses to the same thing.
    assert_eq!(parse_tcp(&LINUX_SYN, ADDR, ADDR, false).unwrap(), repr);
    assert_eq!(
        parse_tcp(&LINUX_SYN, ADDR, ADDR, true),
        Err(WireError::BadChecksum)
    );
}

#[test]
fn parse_linux_data() {
    let seg = with_full_checksum(LINUX_DATA, 0x7567);
    let repr = parse_tcp(&seg, ADDR, ADDR, true).unwrap();
    assert_eq!(repr.flags, TcpFlags::PSH | TcpFlags::ACK);
    assert_eq!(repr.ack, SeqNum(0xfa8bd2a7));
    assert_eq!(repr.window, 64);
    assert_eq!(repr.options.timestamps, Some((0x097647d2, 0x0b2ae1c4)));
    assert_eq!(repr.options.mss, None);
    assert_eq!(repr.payload, b"hello");
    assert_eq!(repr.segment_len(), 5);

    let mut out = [0u8; 64];
    let hl = repr.emit_header(&mut out).unwrap();
    assert_eq!(hl, 32);
    out[hl..hl + 5].copy_from_slice(repr.payload);
    fill_checksum(&mut out[..hl + 5], ADDR, ADDR);
    assert_eq!(&out[..37], &seg[..]);
}

#[test]
fn flags_debug_and_ops() {
    assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "SYN|ACK");
    assert_eq!(
        format!("{:?}", TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK),
        "FIN|PSH|ACK"
    );
    assert_eq!(
        format!("{:?}", TcpFlags(0xff)),
        "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"
    );
    assert_eq!(format!("{:?}", TcpFlags::default()), "(none)");
    let f = TcpFlags::SYN | TcpFlags::ACK;
    assert!(f.syn() && f.ack() && !f.fin() && !f.rst() && !f.psh() && !f.urg());
    assert!(f.contains(TcpFlags::SYN));
    assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
    assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
    assert_eq!(f.without(TcpFlags::SYN), TcpFlags::ACK);
    assert_eq!(f & TcpFlags::ACK, TcpFlags::ACK);
    let mut g = TcpFlags::empty();
    g |= TcpFlags::RST;
    assert!(g.rst());
}

#[test]
fn malformed_headers() {
    assert_eq!(
        TcpPacket::new_checked(&[0u8; 19][..]).err(),
        Some(WireError::Truncated)
    );
    let mut seg = LINUX_SYN;
    seg[12] = 0x40;
    assert_eq!(
        TcpPacket::new_checked(&seg[..]).err(),
        Some(WireError::BadDataOffset)
    );
    seg[12] = 0xb0; // 44 bytes of header in a 40-byte segment
    assert_eq!(
        TcpPacket::new_checked(&seg[..]).err(),
        Some(WireError::BadDataOffset)
    );
    seg[12] = 0xa0;
    assert_eq!(
        TcpPacket::new_checked(&seg[..39]).err(),
        Some(WireError::BadDataOffset)
    );
    seg[12] = 0x50;
    let pkt = TcpPacket::new_checked(&seg[..]).unwrap();
    assert_eq!(pkt.payload().len(), 20);
}

fn opts(bytes: &[u8]) -> Result<TcpOptions, WireError> {
    TcpOptions::parse(bytes)
}

#[test]
fn option_errors() {
    use WireError::BadOptionLength as E;
    assert_eq!(opts(&[2, 3, 0]), Err(E)); // MSS length 3
    assert_eq!(opts(&[2, 4, 0]), Err(E)); // runs past the end
    assert_eq!(opts(&[3, 4, 1, 0]), Err(E)); // WS length 4
    assert_eq!(opts(&[4, 3, 0]), Err(E)); // SACKOK length 3
    assert_eq!(opts(&[8, 8, 0, 0, 0, 0, 0, 0]), Err(E)); // TS length 8
    assert_eq!(opts(&[5, 2]), Err(E)); // SACK with no block
    assert_eq!(opts(&[5, 9, 0, 0, 0, 0, 0, 0, 0]), Err(E)); // SACK 7 bytes of block
    assert_eq!(opts(&[99, 0]), Err(E)); // length 0
    assert_eq!(opts(&[99, 1]), Err(E)); // length 1
    assert_eq!(opts(&[99]), Err(E)); // no length byte
    assert_eq!(opts(&[1, 1, 99, 5, 0, 0]), Err(E)); // unknown, past end
}

#[test]
fn option_parsing_rules() {
    // EOL ends parsing, even before garbage.
    assert_eq!(opts(&[2, 4, 5, 0xb4, 0, 2, 3]).unwrap().mss, Some(1460));
    // NOPs and unknown kinds are skipped; WS clamps to 14.
    let o = opts(&[1, 99, 4, 0xde, 0xad, 1, 3, 3, 200, 1]).unwrap();
    assert_eq!(o.window_scale, Some(14));
    assert_eq!(opts(&[]).unwrap(), TcpOptions::default());
    // Five SACK blocks (only possible in a raw byte string) keep 4.
    let mut b = vec![5, 42];
    for i in 0..10u32 {
        b.extend_from_slice(&(i * 100).to_be_bytes());
    }
    let o = opts(&b).unwrap();
    assert_eq!(o.sack().len(), 4);
    assert_eq!(o.sack()[3], (SeqNum(600), SeqNum(700)));
}

#[test]
fn options_layout() {
    let mut o = TcpOptions {
        sack_permitted: true,
        ..Default::default()
    };
    let mut buf = [0u8; 40];
    assert_eq!(o.emit(&mut buf), 4);
    assert_eq!(&buf[..4], &[1, 1, 4, 2]);
    o.sack_permitted = false;
    o.timestamps = Some((1, 2));
    assert_eq!(o.emit(&mut buf), 12);
    assert_eq!(&buf[..12], &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    o.set_sack(&[(SeqNum(10), SeqNum(20))]);
    assert_eq!(o.encoded_len(), 24);
    assert_eq!(o.emit(&mut buf), 24);
    assert_eq!(&buf[12..16], &[1, 1, 5, 10]);
    assert_eq!(opts(&buf[..24]).unwrap(), o);
    // Too small a buffer: nothing written.
    assert_eq!(o.emit(&mut [0u8; 23]), 0);
}

#[test]
fn sack_blocks_capped_at_40_bytes() {
    let blocks: Vec<(SeqNum, SeqNum)> = (0..4u32)
        .map(|i| (SeqNum(i * 1000), SeqNum(i * 1000 + 500)))
        .collect();
    let mut o = TcpOptions::default();
    o.set_sack(&blocks);
    assert_eq!(o.sack_blocks_emitted(), 4);
    assert_eq!(o.encoded_len(), 36);
    o.timestamps = Some((7, 8));
    assert_eq!(o.sack_blocks_emitted(), 3);
    assert_eq!(o.encoded_len(), 40);
    // Everything at once still fits.
    o.mss = Some(1460);
    o.window_scale = Some(7);
    o.sack_permitted = true;
    assert_eq!(o.sack_blocks_emitted(), 2);
    assert_eq!(o.encoded_len(), 40);
    let mut buf = [0u8; 40];
    assert_eq!(o.emit(&mut buf), 40);
    let back = opts(&buf).unwrap();
    assert_eq!(back.sack(), &blocks[..2]);
    assert_eq!(back.timestamps, Some((7, 8)));
    assert_eq!(back.mss, Some(1460));
    assert_eq!(back.window_scale, Some(7));
    assert!(back.sack_permitted);
}

#[test]
fn emit_header_errors_and_roundtrip() {
    let mut options = TcpOptions {
        timestamps: Some((5, 6)),
        ..Default::default()
    };
    options.set_sack(&[(SeqNum(1), SeqNum(2)), (SeqNum(u32::MAX), SeqNum(3))]);
    let repr = TcpRepr {
        src_port: 1,
        dst_port: 65535,
        seq: SeqNum(u32::MAX),
        ack: SeqNum(42),
        flags: TcpFlags::ACK | TcpFlags::FIN | TcpFlags::URG,
        window: 1234,
        urgent: 3,
        options,
        payload: b"xyz",
    };
    assert_eq!(repr.header_len(), 20 + 12 + 20);
    assert_eq!(repr.segment_len(), 4);
    let mut small = [0u8; 51];
    assert_eq!(repr.emit_header(&mut small), Err(WireError::BufferTooSmall));
    assert_eq!(small, [0; 51]);
    let mut buf = [0u8; 100];
    let n = repr
        .emit(&mut buf, ADDR, Ipv4Addr::new(10, 1, 2, 3))
        .unwrap();
    assert_eq!(n, 55);
    let back = parse_tcp(&buf[..n], ADDR, Ipv4Addr::new(10, 1, 2, 3), true).unwrap();
    assert_eq!(back, repr);
    // Wrong pseudo-header address: checksum fails.
    assert_eq!(
        parse_tcp(&buf[..n], ADDR, ADDR, true),
        Err(WireError::BadChecksum)
    );
    assert_eq!(
        repr.emit(&mut buf[..54], ADDR, ADDR),
        Err(WireError::BufferTooSmall)
    );
}

#[test]
fn packet_setters() {
    let mut seg = with_full_checksum(LINUX_DATA, 0x7567);
    let mut pkt = TcpPacket::new_checked(&mut seg[..]).unwrap();
    pkt.set_src_port(1);
    pkt.set_dst_port(2);
    pkt.set_seq_number(SeqNum(3));
    pkt.set_ack_number(SeqNum(4));
    pkt.set_flags(TcpFlags::RST);
    pkt.set_window_len(5);
    pkt.payload_mut()[0] = b'j';
    pkt.fill_checksum(ADDR, ADDR);
    let repr = parse_tcp(&seg, ADDR, ADDR, true).unwrap();
    assert_eq!((repr.src_port, repr.dst_port), (1, 2));
    assert_eq!((repr.seq, repr.ack), (SeqNum(3), SeqNum(4)));
    assert_eq!(repr.flags, TcpFlags::RST);
    assert_eq!(repr.window, 5);
    assert_eq!(repr.payload, b"jello");
}

#[test]
fn fill_checksum_ignores_bad_lengths() {
    let mut short = [0xffu8; 19];
    fill_checksum(&mut short, ADDR, ADDR);
    fill_partial_checksum(&mut short, ADDR, ADDR);
    assert_eq!(short, [0xff; 19]);
}
