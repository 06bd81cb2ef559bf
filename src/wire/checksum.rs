//! The Internet checksum: the 16-bit one's complement of the one's
//! complement sum of 16-bit big-endian words (RFC 1071), and its incremental
//! update (RFC 1624).
//!
//! Vocabulary used here:
//!
//! - a *partial sum* (`u32`) is what [`ones_sum`] and [`pseudo_header_sum`]
//!   return: not yet folded to 16 bits and not complemented. Partial sums
//!   combine: pass one back in as the `initial` of the next [`ones_sum`]
//!   call, or add a few of them in a `u32` (every partial sum returned here
//!   is at most `0x1_fffe`, so that cannot overflow) and [`fold`] the total.
//! - [`fold`] reduces a partial sum to 16 bits with end-around carry (RFC
//!   1071 section 4.1), *not* complemented.
//! - [`checksum`] is the value that goes in a header field: `!fold(sum)`.
//!
//! A received header or segment (checksum field included) verifies when
//! `fold(ones_sum(bytes, pseudo)) == 0xffff`.
//!
//! The fast path adds native-endian 32-bit words into four 64-bit lanes
//! (RFC 1071 section 2 (C), "parallel summation", with the carries deferred
//! into the lanes' upper halves) and byte-swaps the folded result (section 2
//! (B), byte-order independence); because 2^16 ≡ 1 (mod 2^16 − 1), wider
//! words are congruent to the sum of the 16-bit words they contain. The loop
//! has no carry chain, so it vectorises. `naive_checksum` (with the
//! `bench-support` feature) is the plain word-at-a-time loop, kept as a test
//! oracle and a benchmark baseline.
//!
//! No I/O, no clock, no `unsafe`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One's complement sum of `data` taken as big-endian 16-bit words, added to
/// `initial` (RFC 1071). Returns a partial sum folded to at most 17 bits
/// (`<= 0x1_fffe`), not complemented, suitable as the `initial` of another
/// call.
///
/// An odd trailing byte is padded with a zero byte on its right (RFC 1071
/// section 4.1, "add left-over byte"). That makes the result correct for an
/// odd-length slice only if it is the **last** chunk of the data being
/// summed: when summing a message in pieces, every piece but the last must
/// have an even length (otherwise the byte positions of the following
/// pieces shift by one and the sum is wrong).
#[inline]
pub fn ones_sum(data: &[u8], initial: u32) -> u32 {
    // Native-endian 32-bit words into four 64-bit lanes: a lane needs 2^32
    // additions before it can overflow, so there is no carry to track, and
    // the compiler turns the loop into vector adds.
    let mut lanes = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let w = [c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]];
            *lane += u64::from(u32::from_ne_bytes(w));
        }
    }
    let mut acc = lanes.iter().sum::<u64>();
    let mut words = chunks.remainder().chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_ne_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        // Padded with a zero byte on its right in memory order.
        acc += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    // Fold to 16 bits in native byte order, then to big-endian order: the
    // sum of byte-swapped words is the byte-swapped sum (RFC 1071 2 (B)).
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16); // <= 0xffff
    let native = u64::from(u16::from_be(acc as u16));
    // Add the caller's partial sum; 64 -> 32 -> 17 bits.
    let acc = native + u64::from(initial);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff) + (acc >> 16); // <= 0x1_fffe
    acc as u32
}

/// Folds a partial sum to 16 bits with end-around carry. **Not**
/// complemented: the header field value is `!fold(sum)`.
#[inline]
pub fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16); // <= 0x1_fffe
    let s = (s & 0xffff) + (s >> 16); // <= 0xffff
    s as u16
}

/// The Internet checksum of `data`: `!fold(ones_sum(data, 0))`. An all-zero
/// input gives `0xffff`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(ones_sum(data, 0))
}

/// Partial sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293
/// section 3.1, "Checksum"): source address, destination address, a zero
/// byte, the protocol, and the transport length (header + data). Returns at
/// most `0x1_fffe`; pass it as `initial` to [`ones_sum`] over the segment.
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    let sum =
        (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + u32::from(protocol) + u32::from(len);
    u32::from(fold(sum))
}

/// Partial sum of the IPv6 pseudo-header used by TCP, UDP and ICMPv6
/// (RFC 8200 section 8.1): source address, destination address, the
/// upper-layer packet length as 32 bits, three zero bytes and the next
/// header value of the upper-layer protocol. `len` is the length of the
/// upper-layer header and data, extension headers not counted. Returns at
/// most `0x1_fffe`; pass it as `initial` to [`ones_sum`] over the segment.
///
/// The addresses are the ones of the IPv6 header, except that a routing
/// header's final destination would replace `dst` (this stack accepts no
/// routing header with segments left, so the two never differ).
#[inline]
pub fn pseudo_header_sum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let mut sum: u32 = src
        .segments()
        .iter()
        .chain(dst.segments().iter())
        .map(|&w| u32::from(w))
        .sum();
    sum += (len >> 16) + (len & 0xffff) + u32::from(next_header);
    u32::from(fold(sum))
}

/// Incremental update of a checksum field when one 16-bit word of the
/// covered data changes from `old_word` to `new_word` (RFC 1624 section 3,
/// eqn. 3: `HC' = ~(~HC + ~m + m')`).
///
/// The result equals a full recomputation up to the two representations of
/// zero in one's complement: the only disagreement is that if the new data
/// sums to zero (all-zero words) the full recomputation gives `0xffff`
/// where this may give `0x0000`; both verify the same way for any real
/// header, whose words are never all zero.
#[inline]
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = u32::from(!old_checksum) + u32::from(!old_word) + u32::from(new_word);
    !fold(sum)
}

/// The plain RFC 1071 loop: one 16-bit word at a time into a 32-bit
/// accumulator, folded at the end. A test oracle and benchmark baseline for
/// [`checksum`]; returns the complemented checksum like it. Only with the
/// `bench-support` feature (and in this crate's unit tests).
#[cfg(any(test, feature = "bench-support"))]
pub fn naive_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        sum += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
        // Keep the accumulator from overflowing on inputs of any length.
        if sum > 0xffff_0000 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        i += 2;
    }
    if i < data.len() {
        sum += u32::from(data[i]) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 1071 section 3.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(ones_sum(&data, 0)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
        assert_eq!(naive_checksum(&data), !0xddf2);
    }

    /// A real IPv4 header captured from Linux (SYN to 192.0.2.1:8080):
    /// summing it, checksum field included, gives 0xffff.
    #[test]
    fn real_ipv4_header_verifies() {
        let hdr = [
            0x45, 0x00, 0x00, 0x3c, 0x86, 0xa6, 0x40, 0x00, 0x40, 0x06, 0x30, 0x13, 0xc0, 0x00,
            0x02, 0x01, 0xc0, 0x00, 0x02, 0x01,
        ];
        assert_eq!(fold(ones_sum(&hdr, 0)), 0xffff);
        assert_eq!(checksum(&hdr), 0);
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(checksum(&zeroed), 0x3013);
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(ones_sum(&[], 0), 0);
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0; 64]), 0xffff);
        assert_eq!(naive_checksum(&[0; 64]), 0xffff);
    }

    #[test]
    fn odd_lengths_pad_right() {
        assert_eq!(ones_sum(&[0xab], 0), 0xab00);
        assert_eq!(ones_sum(&[0x12, 0x34, 0xab], 0), 0x1234 + 0xab00);
        for len in 0..64 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(checksum(&data), naive_checksum(&data), "len {len}");
        }
    }

    #[test]
    fn all_ones_does_not_overflow() {
        let data = vec![0xff; 70_000];
        assert_eq!(checksum(&data), naive_checksum(&data));
        assert!(ones_sum(&data, u32::MAX) <= 0x1_fffe);
        assert_eq!(fold(u32::MAX), 0xffff);
    }

    #[test]
    fn chunked_sum_combines() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = ones_sum(&data, 0);
        // Split at even offsets; the odd-length piece is the last one.
        for split in (0..data.len()).step_by(2) {
            let (a, b) = data.split_at(split);
            let combined = ones_sum(b, ones_sum(a, 0));
            assert_eq!(fold(combined), fold(whole), "split {split}");
        }
    }

    #[test]
    fn pseudo_header() {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(192, 0, 2, 1);
        // The partial checksum Linux left in a CHECKSUM_PARTIAL loopback
        // SYN of 40 bytes between these addresses.
        assert_eq!(fold(pseudo_header_sum(src, dst, 6, 40)), 0x8431);
        let bytes = [192, 0, 2, 1, 192, 0, 2, 1, 0, 6, 0, 40];
        assert_eq!(
            fold(pseudo_header_sum(src, dst, 6, 40)),
            fold(ones_sum(&bytes, 0))
        );
    }

    /// The IPv6 pseudo-header sum equals the sum over its 40 bytes laid out
    /// as RFC 8200 8.1 draws them.
    #[test]
    fn pseudo_header_v6_layout() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:ffff::fffe".parse().unwrap();
        for len in [0u32, 40, 0xffff, 0x1_0001] {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&src.octets());
            bytes.extend_from_slice(&dst.octets());
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, 6]);
            assert_eq!(
                fold(pseudo_header_sum_v6(src, dst, 6, len)),
                !naive_checksum(&bytes),
                "len {len}"
            );
        }
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x3c, 0x86, 0xa6, 0x40, 0x00, 0x40, 0x06, 0x30, 0x13, 0xc0, 0x00,
            0x02, 0x01, 0xc0, 0x00, 0x02, 0x01,
        ];
        // Decrement the TTL, as a router would (RFC 1624 section 4).
        let old_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        hdr[8] -= 1;
        let new_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        let new = update(0x3013, old_word, new_word);
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(new, checksum(&hdr));
    }

    /// RFC 1624 section 4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285. Eqn. 3
    /// gives 0x0000, where the flawed eqn. 2 of RFC 1141 gave 0xffff.
    #[test]
    fn update_negative_zero_corner() {
        // RFC 1624 section 4: HC = 0xdd2f, m = 0x5555, m' = 0x3285.
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    }
}
