//! Small kernels the Matrix-Game model needs beside the crate's `ops`: the exact (erf) GELU of
//! `img_emb`, an affine LayerNorm over rows with its own eps, the weightless per-head RMSNorm of the
//! action module, a short-sequence attention, and patchify/unpatchify of `[C, F, H, W]` latents.

use crate::ops::{layernorm_affine_row, par_rows};

/// `erfc(x)` with fractional error < 1.2e-7 everywhere (Chebyshev fit of Numerical Recipes §6.2).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// `x ← GELU(x) = x·Φ(x)` with the exact erf form (PyTorch `nn.GELU()`).
pub(crate) fn gelu_erf_inplace(x: &mut [f32]) {
    for v in x.iter_mut() {
        let a = *v as f64;
        *v = (a * (1.0 - 0.5 * erfc(a / std::f64::consts::SQRT_2))) as f32;
    }
}

/// Affine LayerNorm of every `width`-row of `x` (biased variance, `eps` inside the sqrt).
pub(crate) fn layernorm_rows(x: &[f32], width: usize, weight: &[f32], bias: &[f32], eps: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    par_rows(&mut out, width, |r, row| layernorm_affine_row(&x[r * width..(r + 1) * width], weight, bias, eps, row));
    out
}

/// `x ← x·rsqrt(mean(x²) + eps)` over every `d`-wide head (the action module's `WanRMSNorm`, whose
/// weight its forward ignores).
pub(crate) fn rms_heads_inplace(x: &mut [f32], d: usize, eps: f32) {
    par_rows(x, d, |_, h| {
        let ms = h.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        h.iter_mut().for_each(|v| *v *= inv);
    });
}

/// `softmax(q·kᵀ/√d)·v` per head for a few keys: `q` [nq, heads·d], `k`, `v` [nk, heads·d] →
/// `out` [nq, heads·d]. Scores and sums in f64.
pub(crate) fn attend_few(q: &[f32], k: &[f32], v: &[f32], heads: usize, d: usize, out: &mut [f32]) {
    let row = heads * d;
    let (nq, nk) = (q.len() / row, k.len() / row);
    let scale = 1.0 / (d as f64).sqrt();
    let mut s = vec![0.0f64; nk];
    for i in 0..nq {
        for h in 0..heads {
            let qi = &q[i * row + h * d..i * row + (h + 1) * d];
            let mut mx = f64::NEG_INFINITY;
            for (j, sj) in s.iter_mut().enumerate() {
                let kj = &k[j * row + h * d..j * row + (h + 1) * d];
                *sj = qi.iter().zip(kj).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() * scale;
                mx = mx.max(*sj);
            }
            let mut z = 0.0;
            s.iter_mut().for_each(|x| {
                *x = (*x - mx).exp();
                z += *x;
            });
            let o = &mut out[i * row + h * d..i * row + (h + 1) * d];
            for (c, oc) in o.iter_mut().enumerate() {
                *oc = (s.iter().enumerate().map(|(j, p)| p * v[j * row + h * d + c] as f64).sum::<f64>() / z) as f32;
            }
        }
    }
}

/// Latent grid of one call: frames and the latent height and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub frames: usize,
    pub height: usize,
    pub width: usize,
}

/// `[C, F, H, W]` → patch rows `[F·H'·W', C·ph·pw]`, feature order (c, ph, pw) as the Conv3d weight.
pub(crate) fn patchify(x: &[f32], c: usize, g: Grid, ph: usize, pw: usize) -> Vec<f32> {
    crate::model::patchify_grid(x, c, (g.frames, g.height, g.width), (ph, pw))
}

/// Head rows `[F·H'·W', ph·pw·C]` (feature order (ph, pw, c)) → `[C, F, H, W]`.
pub(crate) fn unpatchify(h: &[f32], c: usize, g: Grid, ph: usize, pw: usize) -> Vec<f32> {
    crate::model::unpatchify_grid(h, c, (g.frames, g.height, g.width), (ph, pw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_erf_matches_known_values() {
        // Φ(1) = 0.841344746, Φ(−0.5) = 0.308537539, Φ(2.5) = 0.993790335.
        let mut x = [1.0f32, -0.5, 2.5, 0.0];
        gelu_erf_inplace(&mut x);
        let want = [0.841_344_746f64, -0.154_268_770, 2.484_475_838, 0.0];
        for (a, b) in x.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn attend_few_is_a_convex_mix_of_values() {
        // One head of width 2, one query, two keys: scores 1/√2 and 0.
        let (q, k, v) = ([1.0f32, 0.0], [1.0f32, 0.0, 0.0, 1.0], [1.0f32, 10.0, 3.0, 20.0]);
        let mut out = [0.0f32; 2];
        attend_few(&q, &k, &v, 1, 2, &mut out);
        let e = std::f32::consts::FRAC_1_SQRT_2.exp();
        let w = e / (e + 1.0);
        assert!((out[0] - (w + (1.0 - w) * 3.0)).abs() < 1e-6, "{out:?}");
        assert!((out[1] - (w * 10.0 + (1.0 - w) * 20.0)).abs() < 1e-5, "{out:?}");
    }
}
