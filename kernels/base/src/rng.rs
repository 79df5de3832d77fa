//! The workspace's one seeded randomness: splitmix64 (sequential) and order-independent hashing.
//!
//! Invariant: nothing here reads the clock or the OS; the same seed gives the same stream on every machine.
//! Where results must not depend on iteration order, use [`hash64`] of a stable key instead of a stream.

/// splitmix64 generator (Steele, Lea & Flood 2014).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for a sub-stream identified by `key` (e.g. a vehicle id), independent of draw order elsewhere.
    pub fn derive(seed: u64, key: u64) -> Self {
        Self::new(hash64(seed ^ hash64(key.wrapping_add(0x5851_F42D_4C95_7F2D))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1] with 53 random bits (safe to take the logarithm of).
    pub fn next_f64_nonzero(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// `n` distinct indices of `0..len`, drawn uniformly (the first `n` of a partial Fisher–Yates
    /// permutation), returned in ascending order. `n ≤ len`.
    pub fn choose_sorted(&mut self, len: usize, n: usize) -> Vec<usize> {
        assert!(n <= len, "choose {n} of {len}");
        let mut order: Vec<usize> = (0..len).collect();
        for i in 0..n {
            let j = i + self.below((len - i) as u64) as usize;
            order.swap(i, j);
        }
        order.truncate(n);
        order.sort_unstable();
        order
    }

    /// Uniform integer in [0, n); `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift reduction: bias < 2^-64·n, irrelevant here.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stateless 64-bit hash of a key (the splitmix64 finaliser).
pub fn hash64(key: u64) -> u64 {
    mix(key.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

/// Hash of several keys combined in order.
pub fn hash_keys(keys: &[u64]) -> u64 {
    keys.iter().fold(0x243F_6A88_85A3_08D3u64, |acc, &k| hash64(acc ^ k))
}

/// Uniform in [0, 1) from a hash value.
pub fn unit_f32(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// Uniform in [-1, 1) from a hash value.
pub fn signed_f32(h: u64) -> f32 {
    2.0 * unit_f32(h) - 1.0
}

/// A `BuildHasher` for integer keys used in lookup-only maps (never iterated, so order never matters).
#[derive(Debug, Clone, Copy, Default)]
pub struct CellHasher(u64);

impl std::hash::Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = hash64(self.0 ^ b as u64);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = hash64(self.0 ^ i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = hash64(self.0 ^ i);
    }
}

pub type CellBuildHasher = std::hash::BuildHasherDefault<CellHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // First outputs of splitmix64 seeded with 0 (reference C implementation).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn f64_draws_are_half_open_on_the_stated_side() {
        let mut a = SplitMix64::new(3);
        let mut b = a.clone();
        for _ in 0..1000 {
            let (x, y) = (a.next_f64(), b.next_f64_nonzero());
            assert!((0.0..1.0).contains(&x) && y > 0.0 && y <= 1.0);
            assert_eq!(y - x, 1.0 / (1u64 << 53) as f64);
        }
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = SplitMix64::new(42);
        for _ in 0..10_000 {
            let f = r.next_f32();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(7) < 7);
        }
    }
}
