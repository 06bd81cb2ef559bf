//! Ephemeral port selection, RFC 6056 ("Recommendations for Transport-Protocol
//! Port Randomization") section 3.3.4, Algorithm 4: "Double-Hash Port
//! Selection Algorithm".
//!
//! ```text
//! offset = F(local_IP, remote_IP, remote_port, secret_key1)
//! index  = G(local_IP, remote_IP, remote_port, secret_key2)
//! do {
//!     port = min_ephemeral + (offset + table[index]) % num_ephemeral
//!     table[index]++
//!     if check_suitable_port(port) return port
//! } while --count > 0
//! ```
//!
//! `F` spreads different destinations over the range so an off-path attacker
//! cannot guess our port for a given peer; the `table` of perturbation
//! counters (initialised at random, RFC 6056 section 3.3.4) makes consecutive
//! connections to the same destination walk forward from one another instead
//! of reusing a port still in TIME-WAIT at the peer, while `G` keeps the
//! counters of unrelated destinations independent (the weakness of Algorithm
//! 3, where one global counter leaks how many connections we opened).
//!
//! `F` and `G` are SipHash-2-4 (`isn::siphash24`) under the same secret key
//! with different one-byte domain prefixes, which makes them independent PRFs
//! as the RFC's two keys would. "Suitable" (RFC 6056 section 3.3.4,
//! `check_suitable_port`) is decided by the caller, which knows the
//! connection table: the port must not complete a 4-tuple already in use or in
//! TIME-WAIT.
//!
//! Sans-IO: no randomness is drawn here; the key comes from the caller.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;

use super::isn::siphash24;
use super::rand::Rng;

/// Number of perturbation counters (`TABLE_LENGTH` in RFC 6056; the RFC
/// suggests 10 as a minimum; more keeps unrelated destinations apart).
const TABLE_LENGTH: usize = 4096;

const DOMAIN_F: u8 = b'F';
const DOMAIN_G: u8 = b'G';

/// Picks ephemeral local ports by RFC 6056 Algorithm 4.
#[derive(Clone)]
pub struct PortAllocator {
    min: u16,
    /// Number of ports in the range, `1..=65535`.
    count: u32,
    key: [u8; 16],
    /// The perturbation counters, each kept in `0..count`.
    table: Box<[u16; TABLE_LENGTH]>,
}

impl core::fmt::Debug for PortAllocator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PortAllocator")
            .field("range", &self.range())
            .finish_non_exhaustive()
    }
}

impl PortAllocator {
    /// The IANA dynamic/private port range (RFC 6335 section 6), which RFC
    /// 6056 section 3.2 recommends as the ephemeral range.
    pub const DEFAULT_RANGE: RangeInclusive<u16> = 49152..=65535;

    /// An allocator over `range` with the secret `key`. The perturbation
    /// table is filled from a generator seeded by the key, so the allocator
    /// is fully determined by `(range, key)`.
    ///
    /// # Panics
    /// If `range` is empty or contains port 0.
    pub fn new(range: RangeInclusive<u16>, key: [u8; 16]) -> PortAllocator {
        let (min, max) = (*range.start(), *range.end());
        assert!(
            min >= 1 && min <= max,
            "PortAllocator: bad range {min}..={max}"
        );
        let count = u32::from(max - min) + 1;
        let mut rng = Rng::new(siphash24(&key, b"ports-table"));
        let mut table = Box::new([0u16; TABLE_LENGTH]);
        for slot in table.iter_mut() {
            *slot = rng.gen_range(0..count) as u16;
        }
        PortAllocator {
            min,
            count,
            key,
            table,
        }
    }

    /// An allocator over `range` whose key is drawn from `rng`.
    pub fn from_rng(range: RangeInclusive<u16>, rng: &mut Rng) -> PortAllocator {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        PortAllocator::new(range, key)
    }

    /// The ports this allocator hands out.
    pub fn range(&self) -> RangeInclusive<u16> {
        let max = (u32::from(self.min) + self.count - 1) as u16;
        self.min..=max
    }

    fn hash(&self, domain: u8, local: Ipv4Addr, remote: SocketAddrV4) -> u64 {
        let mut msg = [0u8; 11];
        msg[0] = domain;
        msg[1..5].copy_from_slice(&local.octets());
        msg[5..9].copy_from_slice(&remote.ip().octets());
        msg[9..11].copy_from_slice(&remote.port().to_be_bytes());
        siphash24(&self.key, &msg)
    }

    /// A local port for a new connection from `local` to `remote`, or `None`
    /// if every port in the range is unsuitable.
    ///
    /// `in_use(port)` must return `true` when `(local, port, remote)` is a
    /// 4-tuple still in use or in TIME-WAIT; such ports are skipped. It is
    /// called at most once per port in the range, in the algorithm's order.
    pub fn allocate(
        &mut self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        // Reduce the 64-bit offset once; everything below stays in u32.
        let offset = (self.hash(DOMAIN_F, local, remote) % u64::from(self.count)) as u32;
        let index = (self.hash(DOMAIN_G, local, remote) % TABLE_LENGTH as u64) as usize;
        for _ in 0..self.count {
            let perturb = u32::from(self.table[index]);
            let port = (u32::from(self.min) + (offset + perturb) % self.count) as u16;
            // `table[index]++`, kept reduced modulo the range size so that a
            // wrap of the counter cannot skip ports within one search.
            self.table[index] = ((perturb + 1) % self.count) as u16;
            if !in_use(port) {
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn remote(i: u32) -> SocketAddrV4 {
        let [a, b, c, d] = (0x0a01_0000 + i).to_be_bytes();
        SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), 80 + (i % 3) as u16)
    }

    #[test]
    fn ports_stay_in_range() {
        for range in [PortAllocator::DEFAULT_RANGE, 1000..=1009, 7..=7, 1..=65535] {
            let mut pa = PortAllocator::new(range.clone(), [3; 16]);
            assert_eq!(pa.range(), range);
            for i in 0..500 {
                let p = pa.allocate(LOCAL, remote(i), |_| false).unwrap();
                assert!(range.contains(&p), "{p} not in {range:?}");
            }
        }
    }

    #[test]
    fn consecutive_connections_to_same_remote_differ() {
        let mut pa = PortAllocator::new(PortAllocator::DEFAULT_RANGE, [9; 16]);
        let r = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 443);
        let ports: Vec<u16> = (0..100)
            .map(|_| pa.allocate(LOCAL, r, |_| false).unwrap())
            .collect();
        let distinct: HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len());
        // Algorithm 4 walks forward one port per connection to a destination.
        for w in ports.windows(2) {
            let next = if w[0] == 65535 { 49152 } else { w[0] + 1 };
            assert_eq!(w[1], next);
        }
    }

    #[test]
    fn in_use_ports_are_skipped() {
        let mut pa = PortAllocator::new(1000..=1099, [1; 16]);
        let r = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80);
        let mut taken = HashSet::new();
        for _ in 0..100 {
            let mut asked = 0;
            let p = pa
                .allocate(LOCAL, r, |p| {
                    asked += 1;
                    taken.contains(&p)
                })
                .unwrap();
            assert!(asked <= 100);
            assert!(taken.insert(p), "{p} handed out twice");
        }
        assert_eq!(taken.len(), 100);
        // Every port is now in use: exhaustion, after asking about each once.
        let mut asked = HashSet::new();
        let got = pa.allocate(LOCAL, r, |p| {
            assert!(asked.insert(p), "asked about {p} twice");
            taken.contains(&p)
        });
        assert_eq!(got, None);
        assert_eq!(asked.len(), 100);
        // Freeing one port makes it available again.
        taken.remove(&1042);
        assert_eq!(pa.allocate(LOCAL, r, |p| taken.contains(&p)), Some(1042));
    }

    #[test]
    fn full_range_exhaustion_returns_none() {
        let mut pa = PortAllocator::new(1..=65535, [4; 16]);
        let mut calls = 0u32;
        let got = pa.allocate(LOCAL, remote(1), |_| {
            calls += 1;
            true
        });
        assert_eq!(got, None);
        assert_eq!(calls, 65535);
    }

    #[test]
    fn distribution_over_many_remotes_covers_the_range() {
        let mut pa = PortAllocator::new(PortAllocator::DEFAULT_RANGE, [5; 16]);
        let n = 16384u32; // The range size.
        let mut hits = vec![0u32; n as usize];
        for i in 0..n {
            let p = pa.allocate(LOCAL, remote(i), |_| false).unwrap();
            hits[(p - 49152) as usize] += 1;
        }
        // n draws over n bins: a uniform choice touches 1 - 1/e ≈ 63%.
        let touched = hits.iter().filter(|&&h| h > 0).count() as f64 / f64::from(n);
        assert!(touched > 0.55, "touched only {touched:.2} of the range");
        // Halves of the range get about half each.
        let low: u32 = hits[..(n / 2) as usize].iter().sum();
        assert!((n * 45 / 100..n * 55 / 100).contains(&low), "{low}");
    }

    #[test]
    fn key_changes_choice() {
        let r = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 2), 22);
        let a: Vec<u16> = (0..8u8)
            .map(|k| {
                PortAllocator::new(PortAllocator::DEFAULT_RANGE, [k; 16])
                    .allocate(LOCAL, r, |_| false)
                    .unwrap()
            })
            .collect();
        let distinct: HashSet<_> = a.iter().collect();
        assert!(distinct.len() >= 7, "{a:?}");
        // Same key, same choice: deterministic.
        let mut x = PortAllocator::new(PortAllocator::DEFAULT_RANGE, [1; 16]);
        let mut y = x.clone();
        assert_eq!(
            x.allocate(LOCAL, r, |_| false),
            y.allocate(LOCAL, r, |_| false)
        );
    }
}
