//! One test per reassembly rule, on a [`Reassembler`] alone; every push
//! is followed by a check of the memory accounting.

use super::*;
use crate::wire::ipv4::PROTO_ICMP;

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const T0: Instant = Instant::from_millis(5_000);

/// `len` bytes that differ from one offset to the next.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A fragment of datagram `ident` (ICMP unless changed).
fn frag(ident: u16, offset: usize, more: bool, data: &[u8]) -> Ipv4Fragment<'_> {
    Ipv4Fragment {
        src: SRC,
        dst: DST,
        protocol: PROTO_ICMP,
        ident,
        ttl: 64,
        offset,
        more,
        header_len: IPV4_HEADER_LEN,
        payload: data,
    }
}

/// `data` cut at `cuts` (offsets, multiples of 8): the pieces in order.
fn split(data: &[u8], cuts: &[usize]) -> Vec<(usize, bool, Vec<u8>)> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(data.len());
    bounds
        .windows(2)
        .map(|w| (w[0], w[1] < data.len(), data[w[0]..w[1]].to_vec()))
        .collect()
}

struct Rig {
    r: Reassembler,
    c: Counters,
    out: Vec<u8>,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(ReassemblyConfig::default())
    }

    fn with(cfg: ReassemblyConfig) -> Rig {
        Rig {
            r: Reassembler::new(cfg),
            c: Counters::default(),
            out: Vec::new(),
        }
    }

    #[track_caller]
    fn push_at(&mut self, now: Instant, f: &Ipv4Fragment<'_>) -> Outcome {
        let o = self.r.push(now, f, &mut self.out, &mut self.c);
        self.check();
        o
    }

    #[track_caller]
    fn push(&mut self, f: &Ipv4Fragment<'_>) -> Outcome {
        self.push_at(T0, f)
    }

    /// The accounting invariants: the total is the sum of the datagrams'
    /// charges, each charge is its overhead plus its payload's, and the
    /// total stays within the budget.
    #[track_caller]
    fn check(&self) {
        let mut sum = 0;
        for d in &self.r.datagrams {
            let held: usize = d.pieces.iter().map(|p| p.data.len()).sum();
            assert_eq!(held, d.received);
            let charge = DATAGRAM_OVERHEAD + d.pieces.len() * FRAGMENT_OVERHEAD + held;
            assert_eq!(d.charged, charge);
            assert!(d.pieces.windows(2).all(|w| w[0].end() <= w[1].offset));
            sum += d.charged;
        }
        assert_eq!(self.r.memory(), sum);
        assert!(self.r.memory() <= self.r.config().memory);
        assert!(self.r.datagrams() <= self.r.config().max_datagrams);
    }

    fn is_empty(&self) -> bool {
        self.r.datagrams() == 0 && self.r.memory() == 0
    }
}

fn complete() -> Outcome {
    Outcome::Complete(Reassembled {
        src: SRC,
        dst: DST,
        protocol: PROTO_ICMP,
        ttl: 64,
    })
}

#[test]
fn in_order_fragments_give_back_the_datagram() {
    let data = payload(3000);
    let mut rig = Rig::new();
    let pieces = split(&data, &[1480, 2960]);
    assert_eq!(rig.push(&frag(1, 0, true, &pieces[0].2)), Outcome::Held);
    assert_eq!(rig.push(&frag(1, 1480, true, &pieces[1].2)), Outcome::Held);
    assert_eq!(rig.r.datagrams(), 1);
    assert_eq!(rig.push(&frag(1, 2960, false, &pieces[2].2)), complete());
    assert_eq!(rig.out, data);
    assert_eq!(rig.c.ip_reassembled, 1);
    assert!(rig.is_empty(), "a finished datagram frees its memory");
}

#[test]
fn any_order_gives_the_same_bytes() {
    let data = payload(1000);
    let pieces = split(&data, &[64, 200, 512, 800]);
    let orders: [&[usize]; 4] = [
        &[4, 3, 2, 1, 0],
        &[4, 0, 3, 1, 2],
        &[2, 0, 4, 1, 3],
        &[1, 3, 0, 4, 2],
    ];
    for order in orders {
        let mut rig = Rig::new();
        for (n, &k) in order.iter().enumerate() {
            let (offset, more, bytes) = &pieces[k];
            let o = rig.push(&frag(9, *offset, *more, bytes));
            if n + 1 < order.len() {
                assert_eq!(o, Outcome::Held, "order {order:?}, piece {k}");
            } else {
                assert_eq!(o, complete(), "order {order:?}");
            }
        }
        assert_eq!(rig.out, data, "order {order:?}");
        assert!(rig.is_empty());
    }
}

#[test]
fn overlapping_fragments_drop_the_whole_datagram() {
    let data = payload(64);
    // New fragment over the start of one held, over its end, inside it,
    // around it, and at the same offset with another length.
    let cases: [(usize, usize); 5] = [(8, 24), (24, 40), (16, 24), (8, 48), (16, 40)];
    for (start, end) in cases {
        let mut rig = Rig::new();
        assert_eq!(rig.push(&frag(2, 16, true, &data[16..32])), Outcome::Held);
        let more = end < 64;
        assert_eq!(
            rig.push(&frag(2, start, more, &data[start..end])),
            Outcome::Dropped(DropReason::Overlap),
            "{start}..{end} over 16..32"
        );
        assert_eq!(rig.c.ip_frag_overlap, 1);
        assert!(rig.is_empty(), "the whole datagram is dropped");
        // What was held is gone: the rest alone does not complete.
        assert_eq!(rig.push(&frag(2, 0, true, &data[..16])), Outcome::Held);
        assert_eq!(rig.push(&frag(2, 32, false, &data[32..])), Outcome::Held);
        assert_eq!(rig.c.ip_reassembled, 0);
    }
}

#[test]
fn an_exact_duplicate_is_dropped_alone() {
    let data = payload(48);
    let mut rig = Rig::new();
    assert_eq!(rig.push(&frag(3, 0, true, &data[..16])), Outcome::Held);
    assert_eq!(rig.push(&frag(3, 32, false, &data[32..])), Outcome::Held);
    let charged = rig.r.memory();
    for f in [
        frag(3, 0, true, &data[..16]),
        frag(3, 32, false, &data[32..]),
    ] {
        assert_eq!(rig.push(&f), Outcome::Dropped(DropReason::Duplicate));
    }
    assert_eq!(rig.c.ip_frag_duplicates, 2);
    assert_eq!(rig.r.memory(), charged, "a duplicate costs nothing");
    assert_eq!(rig.push(&frag(3, 16, true, &data[16..32])), complete());
    assert_eq!(rig.out, data);
    assert_eq!(rig.c.ip_frag_overlap, 0);
}

#[test]
fn a_duplicate_with_other_bytes_or_flags_is_an_overlap() {
    let data = payload(48);
    let mut other = data[..16].to_vec();
    other[3] ^= 0xff;
    let mut rig = Rig::new();
    assert_eq!(rig.push(&frag(4, 0, true, &data[..16])), Outcome::Held);
    assert_eq!(
        rig.push(&frag(4, 0, true, &other)),
        Outcome::Dropped(DropReason::Overlap)
    );
    // Same bytes, but now claiming to be the last fragment.
    assert_eq!(rig.push(&frag(4, 16, true, &data[16..32])), Outcome::Held);
    assert_eq!(
        rig.push(&frag(4, 16, false, &data[16..32])),
        Outcome::Dropped(DropReason::Overlap)
    );
    assert_eq!(rig.c.ip_frag_overlap, 2);
    assert_eq!(rig.c.ip_frag_duplicates, 0);
    assert!(rig.is_empty());
}

/// A TCP fragment of datagram 5.
fn tcp_frag(offset: usize, more: bool, data: &[u8]) -> Ipv4Fragment<'_> {
    Ipv4Fragment {
        protocol: PROTO_TCP,
        ..frag(5, offset, more, data)
    }
}

/// The first `len` bytes of a TCP header whose data offset is `doff`
/// words.
fn tcp_header(doff: u8, len: usize) -> Vec<u8> {
    let mut d = payload(len);
    if len > 12 {
        d[12] = doff << 4;
    }
    d
}

#[test]
fn tiny_tcp_fragments_are_dropped_rfc_1858() {
    let mut rig = Rig::new();
    // Offset 1 (8 bytes): only a rewrite of the flags could want it.
    let data = payload(64);
    assert_eq!(rig.push(&tcp_frag(16, true, &data[16..32])), Outcome::Held);
    assert_eq!(
        rig.push(&tcp_frag(8, true, &data[8..16])),
        Outcome::Dropped(DropReason::Tiny)
    );
    assert!(rig.is_empty(), "its datagram can no longer complete");
    // First fragments shorter than the header: 8 and 16 bytes of a
    // 20-byte header, 24 bytes of a 32-byte one (data offset 8).
    for (doff, len) in [(5, 8), (5, 16), (8, 24), (15, 56)] {
        assert_eq!(
            rig.push(&tcp_frag(0, true, &tcp_header(doff, len))),
            Outcome::Dropped(DropReason::Tiny),
            "data offset {doff}, {len} bytes"
        );
    }
    assert_eq!(rig.c.ip_frag_tiny, 5);
    // Long enough: the whole header (options included) is in it.
    assert_eq!(
        rig.push(&tcp_frag(0, true, &tcp_header(5, 24))),
        Outcome::Held
    );
    assert_eq!(rig.push(&tcp_frag(32, true, &data[32..40])), Outcome::Held);
    // Other protocols may fragment anywhere.
    assert_eq!(rig.push(&frag(6, 0, true, &data[..8])), Outcome::Held);
    assert_eq!(rig.push(&frag(6, 8, false, &data[8..12])), complete());
    assert_eq!(rig.c.ip_frag_tiny, 5);
}

#[test]
fn inconsistent_fragments_are_invalid_with_their_datagram() {
    let data = payload(64);
    // Held before each: 16..32 with MF set and, where `last` says, the
    // last fragment 48..64.
    let bad: [(&str, bool, Ipv4Fragment<'_>); 6] = [
        ("empty", true, frag(7, 0, true, &[])),
        (
            "MF set, not a multiple of 8",
            true,
            frag(7, 0, true, &data[..12]),
        ),
        (
            "a second last fragment",
            true,
            frag(7, 32, false, &data[32..40]),
        ),
        (
            "a last fragment before data held",
            false,
            frag(7, 8, false, &data[8..16]),
        ),
        (
            "MF set, reaching the end",
            true,
            frag(7, 32, true, &data[32..]),
        ),
        ("MF set, past the end", true, frag(7, 56, true, &[0; 16])),
    ];
    for (what, last, f) in &bad {
        let mut rig = Rig::new();
        assert_eq!(rig.push(&frag(7, 16, true, &data[16..32])), Outcome::Held);
        if *last {
            assert_eq!(rig.push(&frag(7, 48, false, &data[48..])), Outcome::Held);
        }
        assert_eq!(rig.push(f), Outcome::Dropped(DropReason::Invalid), "{what}");
        assert_eq!(rig.c.ip_frag_invalid, 1, "{what}");
        assert!(rig.is_empty(), "{what}: the datagram goes too");
    }
}

#[test]
fn datagrams_longer_than_ipv4_allows_are_refused() {
    let big = payload(65_512);
    let mut rig = Rig::new();
    // Past 65,515 bytes of payload: invalid on its own.
    assert_eq!(
        rig.push(&frag(8, 65_512, false, &[0; 4])),
        Outcome::Dropped(DropReason::Invalid)
    );
    assert_eq!(
        rig.push(&frag(8, 65_528, true, &[0; 8])),
        Outcome::Dropped(DropReason::Invalid)
    );
    // Exactly 65,515: the largest datagram there is.
    assert_eq!(rig.push(&frag(8, 65_512, false, &[1, 2, 3])), Outcome::Held);
    assert_eq!(rig.push(&frag(8, 0, true, &big)), complete());
    assert_eq!(rig.out.len(), MAX_PAYLOAD);
    assert_eq!(&rig.out[..65_512], &big[..]);
    // The same with a 24-byte first header: 65,539 bytes in all.
    let mut first = frag(8, 0, true, &big);
    first.header_len = 24;
    assert_eq!(rig.push(&first), Outcome::Held);
    assert_eq!(
        rig.push(&frag(8, 65_512, false, &[1, 2, 3])),
        Outcome::Dropped(DropReason::Invalid)
    );
    assert_eq!(rig.c.ip_frag_invalid, 3);
    assert_eq!(rig.c.ip_reassembled, 1);
    assert!(rig.is_empty());
}

#[test]
fn datagrams_expire_at_their_timeout() {
    let data = payload(32);
    let mut rig = Rig::new();
    assert_eq!(rig.r.poll_timeout(), None);
    assert_eq!(
        rig.push_at(T0, &frag(10, 0, true, &data[..16])),
        Outcome::Held
    );
    let later = T0 + Duration::from_secs(1);
    assert_eq!(
        rig.push_at(later, &frag(11, 0, true, &data[..16])),
        Outcome::Held
    );
    // A fragment does not extend its datagram's deadline.
    assert_eq!(
        rig.push_at(later, &frag(10, 24, false, &data[24..])),
        Outcome::Held
    );
    let deadline = T0 + DEFAULT_TIMEOUT;
    assert_eq!(rig.r.poll_timeout(), Some(deadline));
    let just_before = Instant::from_micros(deadline.total_micros() - 1);
    assert_eq!(rig.r.handle_timeout(just_before, &mut rig.c), 0);
    assert_eq!(rig.r.handle_timeout(deadline, &mut rig.c), 1);
    rig.check();
    assert_eq!(rig.c.ip_frag_timeout, 1);
    assert_eq!(rig.r.datagrams(), 1);
    assert_eq!(rig.r.poll_timeout(), Some(later + DEFAULT_TIMEOUT));
    // The missing piece, after the timeout, starts a new datagram.
    assert_eq!(
        rig.push_at(deadline, &frag(10, 16, true, &data[16..24])),
        Outcome::Held
    );
    assert_eq!(rig.c.ip_reassembled, 0);
    assert_eq!(
        rig.r.handle_timeout(deadline + DEFAULT_TIMEOUT, &mut rig.c),
        2
    );
    assert_eq!(rig.c.ip_frag_timeout, 3);
    assert!(rig.is_empty());
}

#[test]
fn the_memory_budget_drops_the_oldest_datagram() {
    // Room for two datagrams of one 1000-byte fragment each.
    let one = DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1000;
    let mut rig = Rig::with(ReassemblyConfig {
        memory: 2 * one + 100,
        ..ReassemblyConfig::default()
    });
    let data = payload(1008);
    for ident in [20, 21] {
        assert_eq!(
            rig.push(&frag(ident, 0, true, &data[..1000])),
            Outcome::Held
        );
    }
    assert_eq!(rig.c.ip_frag_memory, 0);
    // A third makes the first go.
    assert_eq!(rig.push(&frag(22, 0, true, &data[..1000])), Outcome::Held);
    assert_eq!(rig.c.ip_frag_memory, 1);
    assert_eq!(rig.r.datagrams(), 2);
    // 21 and 22 complete; 20 no longer can.
    for ident in [21, 22] {
        assert_eq!(
            rig.push(&frag(ident, 1000, false, &data[1000..])),
            complete()
        );
        assert_eq!(rig.out, data);
    }
    assert_eq!(
        rig.push(&frag(20, 1000, false, &data[1000..])),
        Outcome::Held
    );
    assert_eq!(rig.c.ip_reassembled, 2);
}

#[test]
fn a_datagram_too_big_for_the_budget_is_dropped_not_the_others() {
    let mut rig = Rig::with(ReassemblyConfig {
        memory: DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1000,
        ..ReassemblyConfig::default()
    });
    let data = payload(1008);
    assert_eq!(rig.push(&frag(30, 0, true, &data[..504])), Outcome::Held);
    // 31 alone would need more than the whole budget.
    assert_eq!(
        rig.push(&frag(31, 0, true, &data[..1008])),
        Outcome::Dropped(DropReason::Memory)
    );
    assert_eq!(rig.c.ip_frag_memory, 1);
    assert_eq!(rig.r.datagrams(), 1);
    // 30 is intact, but growing it past the budget drops it.
    assert_eq!(
        rig.push(&frag(30, 504, true, &data[504..1008])),
        Outcome::Dropped(DropReason::Memory)
    );
    assert_eq!(rig.c.ip_frag_memory, 2);
    assert!(rig.is_empty());
}

#[test]
fn the_datagram_limit_drops_the_oldest() {
    let mut rig = Rig::with(ReassemblyConfig {
        max_datagrams: 2,
        ..ReassemblyConfig::default()
    });
    let data = payload(16);
    for ident in [40, 41, 42] {
        assert_eq!(rig.push(&frag(ident, 0, true, &data[..8])), Outcome::Held);
    }
    assert_eq!(rig.c.ip_frag_memory, 1);
    assert_eq!(rig.r.datagrams(), 2);
    assert_eq!(rig.push(&frag(41, 8, false, &data[8..])), complete());
    assert_eq!(rig.push(&frag(40, 8, false, &data[8..])), Outcome::Held);
}

#[test]
fn no_budget_refuses_every_fragment() {
    for cfg in [
        ReassemblyConfig {
            memory: 0,
            ..ReassemblyConfig::default()
        },
        ReassemblyConfig {
            max_datagrams: 0,
            ..ReassemblyConfig::default()
        },
    ] {
        let mut rig = Rig::with(cfg);
        assert_eq!(
            rig.push(&frag(50, 0, true, &[0; 8])),
            Outcome::Dropped(DropReason::Memory)
        );
        assert_eq!(rig.c.ip_frag_memory, 1);
        assert!(rig.is_empty());
    }
}

#[test]
fn fragments_of_different_datagrams_never_mix() {
    let data = payload(16);
    let mut rig = Rig::new();
    let first = frag(60, 0, true, &data[..8]);
    assert_eq!(rig.push(&first), Outcome::Held);
    // Same identification, each other field of the key different.
    let others = [
        Ipv4Fragment {
            src: Ipv4Addr::new(192, 0, 2, 3),
            ..frag(60, 8, false, &data[8..])
        },
        Ipv4Fragment {
            dst: Ipv4Addr::new(192, 0, 2, 4),
            ..frag(60, 8, false, &data[8..])
        },
        Ipv4Fragment {
            protocol: 17,
            ..frag(60, 8, false, &data[8..])
        },
        frag(61, 8, false, &data[8..]),
    ];
    for f in &others {
        assert_eq!(rig.push(f), Outcome::Held, "{f:?}");
    }
    assert_eq!(rig.r.datagrams(), 5);
    assert_eq!(rig.push(&frag(60, 8, false, &data[8..])), complete());
    assert_eq!(rig.out, data);
}

#[test]
fn the_overheads_cover_what_is_held() {
    assert!(core::mem::size_of::<Datagram>() <= DATAGRAM_OVERHEAD);
    // A list entry with room for the list to double, and an allocator
    // header for the payload.
    assert!(2 * core::mem::size_of::<Piece>() + 16 <= FRAGMENT_OVERHEAD);
}
