//! Flow-matching samplers (Wan convention, pinned by tests): `x_σ = (1 − σ)·x0 + σ·ε`, the model
//! predicts the velocity `v = ε − x0`, timestep = 1000·σ.
//! - Euler flow ODE (WorldPlay): `x ← x + v·(σ_next − σ)`.
//! - x0-predict / re-noise (Self-Forcing, CausVid): `x0 = x − σ·v`, `x ← (1 − σ_next)·x0 + σ_next·ε'`
//!   with fresh noise; the generator then runs one pass at t = 0 to cache clean K/V.
//! - Shift warp: `σ' = s·σ / (1 + (s − 1)·σ)`.

/// `σ' = s·σ / (1 + (s − 1)·σ)`.
pub fn shift_sigma(sigma: f32, shift: f32) -> f32 {
    shift * sigma / (1.0 + (shift - 1.0) * sigma)
}

/// Sigmas from timesteps in [0, 1000] (e.g. `[1000, 750, 500, 250]`) warped by `shift`.
pub fn sigmas_from_timesteps(timesteps: &[f32], shift: f32) -> Vec<f32> {
    timesteps.iter().map(|&t| shift_sigma(t / 1000.0, shift)).collect()
}

/// `n` uniformly spaced sigmas from 1 down to (excluding) 0, warped by `shift`.
pub fn uniform_sigmas(n: usize, shift: f32) -> Vec<f32> {
    (0..n).map(|i| shift_sigma(1.0 - i as f32 / n as f32, shift)).collect()
}

/// Denoising style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerKind {
    EulerFlow,
    X0Renoise,
}

/// Euler step `x ← x + v·(σ_next − σ)`.
pub fn euler_step(x: &mut [f32], v: &[f32], sigma: f32, sigma_next: f32) {
    let dt = sigma_next - sigma;
    x.iter_mut().zip(v).for_each(|(x, v)| *x += v * dt);
}

/// `x0 = x − σ·v`.
pub fn predict_x0(x: &[f32], v: &[f32], sigma: f32) -> Vec<f32> {
    x.iter().zip(v).map(|(x, v)| x - sigma * v).collect()
}

/// `(1 − σ)·x0 + σ·ε`.
pub fn renoise(x0: &[f32], noise: &[f32], sigma: f32) -> Vec<f32> {
    x0.iter().zip(noise).map(|(a, e)| (1.0 - sigma) * a + sigma * e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_reproduces_published_lists() {
        // Self-Forcing [1000, 750, 500, 250] with shift 5 → WorldPlay's [1000, 937.5, 833.3, 625].
        let s = sigmas_from_timesteps(&[1000.0, 750.0, 500.0, 250.0], 5.0);
        let want = [1.0, 0.9375, 0.833_333, 0.625];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Matrix-Game 2.0: [1000, 666, 333] → [1000, 908.8, 714.0].
        let m = sigmas_from_timesteps(&[1000.0, 666.0, 333.0], 5.0);
        assert!((m[1] * 1000.0 - 908.8).abs() < 0.1 && (m[2] * 1000.0 - 714.0).abs() < 0.1, "{m:?}");
    }

    #[test]
    fn exact_velocity_recovers_x0_with_both_samplers() {
        let x0 = [0.3f32, -1.2, 2.0];
        let eps = [1.0f32, 0.5, -0.7];
        let sig = [1.0f32, 0.8, 0.5, 0.2];
        let v: Vec<f32> = eps.iter().zip(&x0).map(|(e, a)| e - a).collect();
        // Euler: straight path, exact velocity reaches x0 at σ = 0.
        let mut x = renoise(&x0, &eps, 1.0);
        for i in 0..sig.len() {
            let next = sig.get(i + 1).copied().unwrap_or(0.0);
            euler_step(&mut x, &v, sig[i], next);
        }
        for (a, b) in x.iter().zip(&x0) {
            assert!((a - b).abs() < 1e-6);
        }
        let xs = renoise(&x0, &eps, 0.8);
        let p = predict_x0(&xs, &v, 0.8);
        for (a, b) in p.iter().zip(&x0) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
