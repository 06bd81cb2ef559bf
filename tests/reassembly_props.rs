//! Property tests for IPv4 reassembly: random fragment sequences never
//! panic and never take more than the memory budget or the datagram limit;
//! a datagram cut at random, shuffled and partly duplicated comes back
//! byte for byte; random fragment packets through a whole `Stack` never
//! panic either.

use proptest::collection::vec;
use proptest::prelude::*;
use ringtcp::stack::reassembly::{DropReason, Outcome, Reassembler, ReassemblyConfig};
use ringtcp::stack::{Counters, Stack, StackConfig};
use ringtcp::time::Instant;
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Fragment, Ipv4Repr, PROTO_ICMP, PROTO_TCP};
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// One random fragment: datagram (ident, protocol), offset in 8-byte
/// units, MF, payload length and fill, how far time moves before it.
#[derive(Debug, Clone)]
struct Frag {
    ident: u16,
    tcp: bool,
    offset_units: usize,
    more: bool,
    len: usize,
    fill: u8,
    wait_ms: u64,
}

fn frag() -> impl Strategy<Value = Frag> {
    (
        0u16..6,
        any::<bool>(),
        prop_oneof![0usize..16, 0usize..8192],
        any::<bool>(),
        prop_oneof![1usize..64, 0usize..2000, Just(8), Just(16)],
        any::<u8>(),
        prop_oneof![Just(0u64), 0u64..40_000],
    )
        .prop_map(
            |(ident, tcp, offset_units, more, len, fill, wait_ms)| Frag {
                ident,
                tcp,
                offset_units,
                more,
                len,
                fill,
                wait_ms,
            },
        )
}

fn config() -> impl Strategy<Value = ReassemblyConfig> {
    (0usize..20_000, 0usize..6, 1u64..60).prop_map(|(memory, max_datagrams, secs)| {
        ReassemblyConfig {
            memory,
            max_datagrams,
            timeout: Duration::from_secs(secs),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_fragments_stay_within_the_bounds(
        cfg in config(),
        frags in vec(frag(), 0..200),
    ) {
        let mut r = Reassembler::new(cfg.clone());
        let mut c = Counters::default();
        let mut out = Vec::new();
        let mut now = Instant::from_millis(1);
        for f in &frags {
            now += Duration::from_millis(f.wait_ms);
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now, &mut c);
            }
            let payload = vec![f.fill; f.len];
            let frag = Ipv4Fragment {
                src: SRC,
                dst: DST,
                protocol: if f.tcp { PROTO_TCP } else { PROTO_ICMP },
                ident: f.ident,
                ttl: 64,
                offset: f.offset_units * 8,
                more: f.more,
                header_len: IPV4_HEADER_LEN,
                payload: &payload,
            };
            if let Outcome::Complete(_) = r.push(now, &frag, &mut out, &mut c) {
                prop_assert!(!out.is_empty() && out.len() <= 65_515);
            }
            prop_assert!(r.memory() <= cfg.memory, "{} > {}", r.memory(), cfg.memory);
            prop_assert!(r.datagrams() <= cfg.max_datagrams);
            prop_assert!(r.poll_timeout().is_none_or(|t| t > now));
        }
        r.handle_timeout(now + cfg.timeout, &mut c);
        prop_assert_eq!((r.memory(), r.datagrams()), (0, 0));
    }

    #[test]
    fn a_shuffled_datagram_comes_back_whole(
        len in 1usize..9000,
        cuts in vec(1usize..1125, 0..12),
        keys in vec(any::<u32>(), 12),
        dups in vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 256) as u8).collect();
        let mut bounds: Vec<usize> = cuts.iter().map(|u| u * 8).filter(|&b| b < len).collect();
        bounds.push(0);
        bounds.push(len);
        bounds.sort_unstable();
        bounds.dedup();
        let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        // A random order, then a few exact duplicates anywhere before
        // the end (after the end the datagram is gone and they would start
        // another one).
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        order.sort_by_key(|&i| keys[i % keys.len()].rotate_left(i as u32));
        for d in &dups {
            let at = d.index(order.len());
            let again = order[d.index(order.len())];
            order.insert(at, again);
        }
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let mut c = Counters::default();
        let mut out = Vec::new();
        let now = Instant::from_millis(1);
        // The pieces the datagram being reassembled holds.
        let mut held = HashSet::new();
        for &i in &order {
            let (start, end) = pieces[i];
            let frag = Ipv4Fragment {
                src: SRC,
                dst: DST,
                protocol: PROTO_ICMP,
                ident: 1,
                ttl: 64,
                offset: start,
                more: end < len,
                header_len: IPV4_HEADER_LEN,
                payload: &data[start..end],
            };
            let new = held.insert(i);
            match r.push(now, &frag, &mut out, &mut c) {
                Outcome::Complete(_) => {
                    prop_assert_eq!(held.len(), pieces.len(), "complete only with every piece");
                    prop_assert_eq!(&out, &data);
                    held.clear();
                }
                Outcome::Held => prop_assert!(new && held.len() < pieces.len()),
                Outcome::Dropped(why) => {
                    // Only a duplicate of a piece held, never the datagram.
                    prop_assert!(!new);
                    prop_assert_eq!(why, DropReason::Duplicate);
                }
            }
        }
        prop_assert!(c.ip_reassembled >= 1);
        prop_assert_eq!(c.ip_frag_duplicates as usize + c.ip_reassembled as usize * pieces.len() + held.len(), order.len());
    }

    #[test]
    fn random_fragment_packets_never_panic_a_stack(
        packets in vec((frag(), vec(any::<u8>(), 0..64)), 0..100),
    ) {
        let mut cfg = StackConfig::new(DST, 3);
        cfg.reassembly.memory = 16_384;
        cfg.reassembly.max_datagrams = 4;
        let mut stack = Stack::new(cfg, Instant::ZERO);
        stack.listen(80, 8).unwrap();
        let mut now = Instant::ZERO;
        let mut buf = vec![0u8; 2048];
        let mut fragments = 0;
        for (f, bytes) in &packets {
            now += Duration::from_millis(f.wait_ms);
            if stack.poll_timeout().is_some_and(|t| t <= now) {
                stack.handle_timeout(now);
            }
            let payload: Vec<u8> = bytes.iter().copied().cycle().take(f.len).collect();
            let repr = Ipv4Repr {
                src: SRC,
                dst: DST,
                protocol: if f.tcp { PROTO_TCP } else { PROTO_ICMP },
                payload_len: payload.len(),
                ttl: 64,
            };
            let mut packet = vec![0u8; IPV4_HEADER_LEN + payload.len()];
            repr.emit_fragment(&mut packet, f.ident, f.offset_units * 8, f.more).unwrap();
            packet[IPV4_HEADER_LEN..].copy_from_slice(&payload);
            stack.handle_packet(now, &packet);
            fragments += u64::from(f.more || f.offset_units > 0);
            while stack.poll_transmit(now, &mut buf).is_some() {}
            let (memory, datagrams) = stack.reassembly_memory();
            prop_assert!(memory <= 16_384 && datagrams <= 4);
        }
        prop_assert_eq!(stack.counters().ip_fragments, fragments);
    }
}
