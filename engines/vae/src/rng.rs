//! Seeded normal draws for random-weight models and tests: Box–Muller on the workspace's one seeded
//! generator (`worldflow_base::SplitMix64`), the same stream for a seed as before it moved there.

use worldflow_base::SplitMix64;

/// Standard normal (Box–Muller; one of the pair is discarded for simplicity): `u1 = 1 − next_f64()`
/// in (0, 1], `u2 = next_f64()`.
pub fn standard_normal(rng: &mut SplitMix64) -> f64 {
    let u1 = 1.0 - rng.next_f64(); // (0, 1]
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_roughly_standard() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut a)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}
