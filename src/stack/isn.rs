//! Initial sequence numbers, RFC 6528 ("Defending against Sequence Number
//! Attacks"), and the keyed hash (SipHash-2-4) it and
//! [`ports`](super::ports) use.
//!
//! RFC 6528 section 3 asks for
//!
//! ```text
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//! ```
//!
//! where `M` is a timer that ticks every 4 microseconds (the RFC 9293 section
//! 3.4.1 clock) and `F` is a pseudorandom function of the connection's
//! 4-tuple keyed by a secret. `M` makes successive incarnations of the same
//! 4-tuple use increasing sequence numbers (so old duplicates fall outside
//! the new window); `F` makes the sequence space of one 4-tuple unguessable
//! from another's. Here `F` is SipHash-2-4 (Aumasson and Bernstein, "SipHash:
//! a fast short-input PRF", 2012), implemented below, truncated to 32 bits.
//!
//! Sans-IO: no clock is read (`now` is a parameter) and the key comes from
//! the caller (drawn once from the stack's seeded [`Rng`]).

use std::net::SocketAddrV4;

use super::rand::Rng;
use crate::time::Instant;
use crate::wire::SeqNum;

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of `data` under the 128-bit `key`, as in the reference
/// implementation (key and message words read little-endian).
pub(crate) fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
    let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575, // "somepseu"
        k1 ^ 0x646f_7261_6e64_6f6d, // "dorandom"
        k0 ^ 0x6c79_6765_6e65_7261, // "lygenera"
        k1 ^ 0x7465_6462_7974_6573, // "tedbytes"
    ];
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let m = u64::from_le_bytes(block.try_into().expect("8 bytes"));
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    // Last block: the remaining 0..=7 bytes, with the message length (mod
    // 256) in the top byte.
    let tail = blocks.remainder();
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    let m = u64::from_le_bytes(last) | ((data.len() as u64) << 56);
    v[3] ^= m;
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Computes RFC 6528 initial sequence numbers under a secret key.
///
/// `Debug` does not print the key.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IsnGenerator").finish_non_exhaustive()
    }
}

impl IsnGenerator {
    /// A generator with the secret `key` (RFC 6528 section 3: a secret the
    /// attacker cannot learn, chosen at boot).
    pub fn new(key: [u8; 16]) -> IsnGenerator {
        IsnGenerator { key }
    }

    /// A generator whose key is drawn from `rng`.
    pub fn from_rng(rng: &mut Rng) -> IsnGenerator {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        IsnGenerator { key }
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`:
    /// `M + F(localip, localport, remoteip, remoteport, key)` (RFC 6528
    /// section 3), where `M = now / 4 µs` modulo 2^32.
    pub fn isn(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> SeqNum {
        let m = (now.total_micros() / 4) as u32;
        SeqNum(m.wrapping_add(self.keyed(local, remote, 0)))
    }

    /// The offset of a connection's timestamp clock (RFC 7323 5.4): a keyed
    /// hash of the 4-tuple, so that it is the same for every incarnation of
    /// the tuple and TSval keeps growing from one to the next. A peer's
    /// TIME-WAIT then takes a new SYN from a reused port (PAWS would drop
    /// one whose TSval went backwards, and the connect would wait a second
    /// for its retransmission); across tuples it reveals nothing of the
    /// clock.
    pub fn ts_offset(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
        self.keyed(local, remote, b'T')
    }

    /// A keyed hash of the 4-tuple and two words of a SYN cookie (its time
    /// counter and the peer's ISN), one of two (`domain` 1 or 2) that
    /// [`super::syncookie`] mixes into a cookie: the ISN's key, with the
    /// domain keeping the hashes apart from the ISN's and the timestamp
    /// offset's.
    pub(crate) fn cookie_hash(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        words: [u32; 2],
        domain: u8,
    ) -> u32 {
        let mut data = [0u8; 21];
        data[0..4].copy_from_slice(&local.ip().octets());
        data[4..6].copy_from_slice(&local.port().to_be_bytes());
        data[6..10].copy_from_slice(&remote.ip().octets());
        data[10..12].copy_from_slice(&remote.port().to_be_bytes());
        data[12..16].copy_from_slice(&words[0].to_le_bytes());
        data[16..20].copy_from_slice(&words[1].to_le_bytes());
        data[20] = domain;
        siphash24(&self.key, &data) as u32
    }

    /// F(localip, localport, remoteip, remoteport, key), with `domain`
    /// keeping the ISN's and the timestamp offset's hashes apart.
    fn keyed(&self, local: SocketAddrV4, remote: SocketAddrV4, domain: u8) -> u32 {
        let mut tuple = [0u8; 13];
        tuple[0..4].copy_from_slice(&local.ip().octets());
        tuple[4..6].copy_from_slice(&local.port().to_be_bytes());
        tuple[6..10].copy_from_slice(&remote.ip().octets());
        tuple[10..12].copy_from_slice(&remote.port().to_be_bytes());
        let len = if domain == 0 { 12 } else { 13 };
        tuple[12] = domain;
        siphash24(&self.key, &tuple[..len]) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Key 00 01 .. 0f, message 00 01 .. (len-1): the reference vectors.
    fn reference(len: usize) -> u64 {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0..len as u8).collect();
        siphash24(&key, &msg)
    }

    #[test]
    fn siphash24_paper_vector() {
        // SipHash paper, appendix A: 15-byte message 00..0e under key 00..0f.
        assert_eq!(reference(15), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn siphash24_reference_vectors() {
        // From vectors.h of the reference implementation (read as LE u64),
        // covering the empty message, short tails and exactly one block.
        assert_eq!(reference(0), 0x726f_db47_dd0e_0e31);
        assert_eq!(reference(1), 0x74f8_39c5_93dc_67fd);
        assert_eq!(reference(7), 0xab02_00f5_8b01_d137);
        assert_eq!(reference(8), 0x93f5_f579_9a93_2462);
    }

    fn addr(a: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), port)
    }

    #[test]
    fn different_tuples_give_different_isns() {
        let g = IsnGenerator::new([7; 16]);
        let now = Instant::from_millis(1234);
        let base = g.isn(now, addr(1, 40000), addr(2, 80));
        assert_ne!(base, g.isn(now, addr(1, 40001), addr(2, 80)));
        assert_ne!(base, g.isn(now, addr(1, 40000), addr(2, 81)));
        assert_ne!(base, g.isn(now, addr(3, 40000), addr(2, 80)));
        assert_ne!(base, g.isn(now, addr(1, 40000), addr(4, 80)));
        // Swapping ends is a different tuple too.
        assert_ne!(base, g.isn(now, addr(2, 80), addr(1, 40000)));
    }

    /// RFC 7323 5.4: the same offset for every incarnation of a tuple (so
    /// TSval only grows from one to the next), another for another tuple,
    /// and not the ISN's hash.
    #[test]
    fn ts_offset_is_per_tuple_and_stable() {
        let g = IsnGenerator::new([9; 16]);
        let (a, b) = (addr(1, 40000), addr(2, 80));
        let off = g.ts_offset(a, b);
        assert_eq!(off, g.ts_offset(a, b));
        assert_ne!(off, g.ts_offset(addr(1, 40001), b));
        assert_ne!(off, g.ts_offset(b, a));
        assert_ne!(off, g.isn(Instant::from_millis(0), a, b).0);
        assert_ne!(off, IsnGenerator::new([8; 16]).ts_offset(a, b));
    }

    #[test]
    fn same_tuple_later_advances_by_elapsed_over_4us() {
        let g = IsnGenerator::new([1; 16]);
        let t0 = Instant::from_micros(1_000_000);
        let a = g.isn(t0, addr(1, 50000), addr(2, 443));
        for elapsed_us in [4u64, 400, 1_000_000, 3_600_000_000] {
            let b = g.isn(
                Instant::from_micros(t0.total_micros() + elapsed_us),
                addr(1, 50000),
                addr(2, 443),
            );
            assert_eq!(b.0.wrapping_sub(a.0), (elapsed_us / 4) as u32);
        }
        // Within one 4 µs tick the ISN does not move.
        let c = g.isn(
            Instant::from_micros(1_000_003),
            addr(1, 50000),
            addr(2, 443),
        );
        assert_eq!(a, c);
        // And "later" compares greater as a sequence number.
        let d = g.isn(
            Instant::from_micros(2_000_000),
            addr(1, 50000),
            addr(2, 443),
        );
        assert!(d > a);
    }

    #[test]
    fn isn_depends_on_key() {
        let now = Instant::from_millis(5);
        let a = IsnGenerator::new([1; 16]).isn(now, addr(1, 1), addr(2, 2));
        let b = IsnGenerator::new([2; 16]).isn(now, addr(1, 1), addr(2, 2));
        assert_ne!(a, b);
        let mut rng = Rng::new(5);
        let c = IsnGenerator::from_rng(&mut rng).isn(now, addr(1, 1), addr(2, 2));
        let d = IsnGenerator::from_rng(&mut rng).isn(now, addr(1, 1), addr(2, 2));
        assert_ne!(c, d);
    }

    #[test]
    fn debug_hides_key() {
        let s = format!("{:?}", IsnGenerator::new([0xab; 16]));
        assert!(!s.contains("171"), "{s}");
    }
}
