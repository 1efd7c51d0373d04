//! SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): the keyed
//! function behind initial sequence numbers (RFC 6528), SYN cookies (RFC 4987) and the
//! connection table's hash, so none of them can be predicted or flooded by a peer who does
//! not know the key.

use std::hash::BuildHasher;

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key(pub [u64; 2]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)") // never print a secret
    }
}

impl Key {
    /// A fresh random key. The standard library's `RandomState` is seeded from the
    /// operating system's random source; hashing two constants under it yields 128 bits no
    /// peer can predict.
    pub fn random() -> Key {
        let s = std::collections::hash_map::RandomState::new();
        Key([
            s.hash_one(0x6b65_795f_6c6f_u64),
            s.hash_one(0x6b65_795f_6869_u64),
        ])
    }
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of `data` under `key`.
#[inline]
pub fn siphash24(key: &Key, data: &[u8]) -> u64 {
    let [k0, k1] = key.0;
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let words = data.chunks_exact(8);
    let tail = words.remainder();
    for w in words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let m = u64::from_le_bytes(b);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's test key: bytes 00..0f, little-endian words.
    fn paper_key() -> Key {
        let b: Vec<u8> = (0..16).collect();
        Key([
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            u64::from_le_bytes(b[8..].try_into().unwrap()),
        ])
    }

    #[test]
    fn matches_the_papers_test_vector() {
        // Appendix A of the SipHash paper: message 00..0e (15 bytes).
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&paper_key(), &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn every_length_and_key_bit_matters() {
        let k = paper_key();
        let base: Vec<u8> = (0..24).collect();
        let mut seen = std::collections::HashSet::new();
        for len in 0..=24 {
            assert!(seen.insert(siphash24(&k, &base[..len])), "length {len}");
        }
        let other = Key([k.0[0] ^ 1, k.0[1]]);
        assert_ne!(siphash24(&k, &base), siphash24(&other, &base));
        assert_ne!(Key::random(), Key::random());
        assert_eq!(format!("{:?}", Key::random()), "Key(..)");
    }
}
