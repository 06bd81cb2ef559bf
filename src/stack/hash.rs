//! A keyed hasher for the connection table.
//!
//! std's `RandomState` draws its keys from the OS, which the sans-IO core
//! must not do; and SipHash is more than a 64-bit tuple needs. This mixes the
//! packed 4-tuple with a key drawn from the stack's seed, so an off-path
//! sender cannot aim many tuples at one bucket without knowing the key.

use core::hash::{BuildHasher, Hasher};

/// A [`BuildHasher`] with a secret 128-bit key, for the connection and
/// listener tables.
#[derive(Debug, Clone, Copy)]
pub struct KeyedState {
    k0: u64,
    k1: u64,
}

impl KeyedState {
    /// A hasher state keyed by `k0` and `k1` (forced odd: it is a
    /// multiplier).
    pub fn new(k0: u64, k1: u64) -> KeyedState {
        KeyedState { k0, k1: k1 | 1 }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            state: self.k0,
            mul: self.k1,
        }
    }
}

/// The [`Hasher`] a [`KeyedState`] builds.
#[derive(Debug, Clone, Copy)]
pub struct KeyedHasher {
    state: u64,
    mul: u64,
}

#[inline]
fn mix(mut x: u64) -> u64 {
    // The finaliser of splitmix64: every input bit reaches every output bit.
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.state = mix((self.state ^ v).wrapping_mul(self.mul));
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_changes_hash() {
        let a = KeyedState::new(1, 2).hash_one(42u64);
        let b = KeyedState::new(3, 4).hash_one(42u64);
        assert_ne!(a, b);
        assert_eq!(a, KeyedState::new(1, 2).hash_one(42u64));
    }
}
