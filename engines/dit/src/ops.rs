//! Element-wise and row kernels (f32) and the GEMM wrapper for a weight used once.
//!
//! Hot kernels are written as plain loops and compiled twice (`simd_fn!`, `simd.rs`): once for the
//! baseline target and once with the CPU's SIMD features (selected at run time): `avx2,fma` on x86_64,
//! so LLVM vectorises them with 256-bit registers without requiring `-C target-cpu`, and `neon` on
//! aarch64 (128-bit registers). Matches PyTorch semantics:
//! - `LayerNorm` (biased variance, eps inside the sqrt), `WanRMSNorm` (mean of squares over the
//!   whole feature dim), `GELU(approximate='tanh')`, `SiLU`.
//! - `exp_approx`: Cody–Waite range reduction + degree-6 Taylor, relative error < 2e-7 on
//!   [-87, 88], exactly 0 below -87; `exp2_approx` (softmax in base 2): exactly 0 at ≤ −127
//!   (masked scores).

use rayon::prelude::*;
use worldflow_gemm::{matmul_packed, Epilogue, PackedWt};

use crate::simd::simd_fn;

const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer held in the mantissa

/// e^x for x in f32 range; 0 for x < -87 (so −∞ masks give exactly 0).
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    let xc = x.clamp(-87.0, 88.0);
    let m = xc * std::f32::consts::LOG2_E + MAGIC;
    let n = m - MAGIC;
    let r = (-n).mul_add(1.428_606_8e-6, (-n).mul_add(0.693_145_75, xc));
    let p = r.mul_add(1.0 / 720.0, 1.0 / 120.0);
    let p = p.mul_add(r, 1.0 / 24.0).mul_add(r, 1.0 / 6.0).mul_add(r, 0.5).mul_add(r, 1.0).mul_add(r, 1.0);
    let bits = m.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23;
    let y = p * f32::from_bits(bits);
    if x < -87.0 {
        0.0
    } else {
        y
    }
}

/// 2^x for x ≤ 127: rounding to n + r with |r| ≤ ½, degree-6 Taylor of 2^r, relative error < 3e-7;
/// exactly 0 for x ≤ −127 (so −∞ masks give 0 without a select).
#[inline(always)]
#[allow(clippy::excessive_precision, reason = "Taylor coefficients ln2^k / k!, as computed")]
pub fn exp2_approx(x: f32) -> f32 {
    let xc = x.clamp(-127.0, 127.0);
    let m = xc + MAGIC;
    let n = m - MAGIC;
    let r = xc - n;
    let p = r.mul_add(1.540353039e-04, 1.333355815e-03).mul_add(r, 9.618129108e-03).mul_add(r, 5.550410866e-02);
    let p = p.mul_add(r, 2.402265070e-01).mul_add(r, 6.931471806e-01).mul_add(r, 1.0);
    // The exponent field of 2^n; n = −127 gives the bit pattern of 0.0.
    let bits = m.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23;
    p * f32::from_bits(bits)
}

/// Σ f(x) with 8 independent lane accumulators (vectorisable; summation order differs from a
/// sequential sum by f32 rounding only).
#[inline(always)]
pub fn sum8(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for j in 0..8 {
            acc[j] += f(c[j]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// GELU with the tanh approximation, as x·σ(2u) = 0.5·x·(1 + tanh(u)).
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const K0: f32 = 0.797_884_6; // sqrt(2/pi)
    let u = K0 * (x + 0.044_715 * x * x * x);
    x / (1.0 + exp_approx(-2.0 * u))
}

simd_fn! {
    /// `x ← gelu_tanh(x)`.
    pub fn gelu_tanh_inplace(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = gelu_tanh(*v);
        }
    }
}

simd_fn! {
    /// `out ← LayerNorm(x)·(1 + scale) + shift` (no affine; biased variance).
    pub fn layernorm_modulate_row(x: &[f32], shift: &[f32], scale: &[f32], eps: f32, out: &mut [f32]) {
        let n = x.len() as f32;
        let mean = sum8(x, |v| v) / n;
        let var = sum8(x, |v| (v - mean) * (v - mean)) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for i in 0..x.len() {
            out[i] = (x[i] - mean) * inv * (1.0 + scale[i]) + shift[i];
        }
    }
}

simd_fn! {
    /// `out ← LayerNorm(x)·weight + bias` (affine LayerNorm).
    pub fn layernorm_affine_row(x: &[f32], weight: &[f32], bias: &[f32], eps: f32, out: &mut [f32]) {
        let n = x.len() as f32;
        let mean = sum8(x, |v| v) / n;
        let var = sum8(x, |v| (v - mean) * (v - mean)) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for i in 0..x.len() {
            out[i] = (x[i] - mean) * inv * weight[i] + bias[i];
        }
    }
}

simd_fn! {
    /// `x ← x·rsqrt(mean(x²) + eps)·weight` in place.
    pub fn rmsnorm_row(x: &mut [f32], weight: &[f32], eps: f32) {
        let ms = sum8(x, |v| v * v) / x.len() as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        for i in 0..x.len() {
            x[i] = x[i] * inv * weight[i];
        }
    }
}

simd_fn! {
    /// `acc ← acc + y·gate` (gated residual).
    pub fn add_gated_row(acc: &mut [f32], y: &[f32], gate: &[f32]) {
        for i in 0..acc.len() {
            acc[i] += y[i] * gate[i];
        }
    }
}

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// `out[m, n] (+)= x[m, k] · w[n, k]ᵀ` for a weight used once (packs it, then [`matmul_packed`]);
/// `accumulate` adds to `out`.
pub fn matmul_wt(x: &[f32], m: usize, k: usize, w: &[f32], n: usize, out: &mut [f32], accumulate: bool) {
    let epilogue = if accumulate { Epilogue::Accumulate } else { Epilogue::Overwrite };
    matmul_packed(x, m, &PackedWt::pack(&w[..n * k], n, k), out, epilogue)
}

/// Runs `f(row_index, row)` over the rows of `data` in parallel (chunks of rows per task).
pub fn par_rows(data: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let rows = data.len() / row_len.max(1);
    let per_task = (rows / (4 * rayon::current_num_threads()).max(1)).clamp(1, 64);
    data.par_chunks_mut(row_len * per_task).enumerate().for_each(|(ci, chunk)| {
        for (j, row) in chunk.chunks_exact_mut(row_len).enumerate() {
            f(ci * per_task + j, row);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_approx_matches_std() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_approx(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp_approx(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_approx(-100.0), 0.0);
    }

    #[test]
    fn exp2_approx_matches_std() {
        let mut worst = 0.0f64;
        let mut x = -126.0f32;
        while x < 127.0 {
            let (a, b) = (exp2_approx(x) as f64, (x as f64).exp2());
            worst = worst.max(((a - b) / b).abs());
            x += 0.00731;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp2_approx(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp2_approx(-127.0), 0.0);
        assert_eq!(exp2_approx(0.0), 1.0);
    }

    #[test]
    fn gelu_matches_tanh_formula() {
        let mut v: Vec<f32> = (-400..400).map(|i| i as f32 * 0.025).collect();
        let want: Vec<f32> =
            v.iter().map(|&x| 0.5 * x * (1.0 + (0.797_884_6_f32 * (x + 0.044715 * x * x * x)).tanh())).collect();
        gelu_tanh_inplace(&mut v);
        for (a, b) in v.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn matmul_matches_naive() {
        let (m, k, n) = (37, 29, 41);
        let x: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.1).collect();
        let mut out = vec![1.0; m * n];
        matmul_wt(&x, m, k, &w, n, &mut out, true);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0 + (0..k).map(|c| x[i * k + c] * w[j * k + c]).sum::<f32>();
                assert!((out[i * n + j] - want).abs() < 1e-4);
            }
        }
    }
}
