//! Numeric kernels on single frames `[C, H·W]`: RMS norm (+SiLU), 2× nearest upsampling, spatial
//! single-head attention; products through `worldflow-gemm`. All f32.

use worldflow_gemm::{matmul, MatMut, MatRef};

/// `[rows, cols]` → `[cols, rows]` (row strides `lds` in `src`).
fn transpose(src: &[f32], lds: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for (c, v) in src[r * lds..r * lds + cols].iter().enumerate() {
            out[c * rows + r] = *v;
        }
    }
    out
}

/// `eˣ` for f32 in a form that vectorizes: `x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`, `eʳ` by its Taylor
/// polynomial to degree 7 (relative error < 2e-7), `2ⁿ` by the exponent bits; `x` clamped to
/// [−87, 88] (the result stays finite and normal).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer (|x·log₂e| < 2²²).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    // ln 2 split so that n·LN2_HI is exact.
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline(always)]
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + exp_f32(-x))
}

/// Wan's `RMS_norm` over channels of one frame `[C, HW]`, in place:
/// `x / max(‖x‖₂, 1e-12) · √C · γ_c` (PyTorch `F.normalize` semantics), optionally followed by SiLU.
pub(crate) fn rms_norm_frame(x: &mut [f32], c: usize, hw: usize, gamma: &[f32], apply_silu: bool) {
    #[cfg(target_arch = "x86_64")]
    if worldflow_base::cpu::has_avx512f() {
        // SAFETY: the CPU has AVX-512F (`has_avx512f`, just above).
        return unsafe { rms_norm_avx512(x, c, hw, gamma, apply_silu) };
    }
    rms_norm_body(x, c, hw, gamma, apply_silu)
}

/// [`rms_norm_body`] compiled for AVX-512F (16 pixels a vector).
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rms_norm_avx512(x: &mut [f32], c: usize, hw: usize, gamma: &[f32], apply_silu: bool) {
    rms_norm_body(x, c, hw, gamma, apply_silu)
}

/// Per-pixel scale of Wan's `RMS_norm` over the `c` channels of one frame `[C, HW]`:
/// `√C / max(‖x_p‖₂, 1e-12)`.
#[inline(always)]
pub(crate) fn rms_scale(x: &[f32], c: usize, hw: usize, scale: &mut Vec<f32>) {
    scale.clear();
    scale.resize(hw, 0.0);
    for xc in x.chunks_exact(hw).take(c) {
        for (s, v) in scale.iter_mut().zip(xc) {
            *s += v * v;
        }
    }
    let sqrt_c = (c as f32).sqrt();
    for s in scale.iter_mut() {
        *s = sqrt_c / s.sqrt().max(1e-12);
    }
}

/// `dst = x·scale·g`, then SiLU when `apply_silu` (one channel's values and their pixels' scales).
#[inline(always)]
pub(crate) fn norm_values(dst: &mut [f32], x: &[f32], scale: &[f32], g: f32, apply_silu: bool) {
    if apply_silu {
        for (d, (v, s)) in dst.iter_mut().zip(x.iter().zip(scale)) {
            *d = silu(*v * s * g);
        }
    } else {
        for (d, (v, s)) in dst.iter_mut().zip(x.iter().zip(scale)) {
            *d = *v * s * g;
        }
    }
}

#[inline(always)]
fn rms_norm_body(x: &mut [f32], c: usize, hw: usize, gamma: &[f32], apply_silu: bool) {
    let mut scale = Vec::new();
    rms_scale(x, c, hw, &mut scale);
    for (xc, g) in x.chunks_exact_mut(hw).zip(&gamma[..c]) {
        if apply_silu {
            for (v, s) in xc.iter_mut().zip(&scale) {
                *v = silu(*v * s * g);
            }
        } else {
            for (v, s) in xc.iter_mut().zip(&scale) {
                *v *= s * g;
            }
        }
    }
}

/// (The reference for `Prep::Upsample2x`.) 2× nearest upsampling of one frame `[C, H, W]` → `[C, 2H, 2W]` (`nearest-exact` and `nearest`
/// coincide for an integer factor: output pixel i reads input i / 2).
#[cfg(test)]
pub(crate) fn upsample2x(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let (h2, w2) = (2 * h, 2 * w);
    let mut out = vec![0.0f32; c * h2 * w2];
    for ci in 0..c {
        let src = &x[ci * h * w..(ci + 1) * h * w];
        let dst = &mut out[ci * h2 * w2..(ci + 1) * h2 * w2];
        for y in 0..h2 {
            let srow = &src[(y / 2) * w..(y / 2 + 1) * w];
            let drow = &mut dst[y * w2..(y + 1) * w2];
            for (xo, d) in drow.iter_mut().enumerate() {
                *d = srow[xo / 2];
            }
        }
    }
    out
}

/// diffusers' `unpatchify` of one frame: `[C·p·p, H, W]` → `[C, H·p, W·p]`. Channel `c·p² + a·p + b`
/// becomes pixel (row `h·p + b`, column `w·p + a`): the first patch index runs along the width. Writes every
/// value of `out` (`C·H·p·W·p`, e.g. the output video's frame: no intermediate copy).
pub(crate) fn unpatchify_frame(x: &[f32], c: usize, p: usize, h: usize, w: usize, out: &mut [f32]) {
    let (hp, wp) = (h * p, w * p);
    assert_eq!(out.len(), c * hp * wp, "unpatchify_frame: output size");
    for ci in 0..c {
        for a in 0..p {
            for b in 0..p {
                let src = &x[((ci * p + a) * p + b) * h * w..][..h * w];
                let dst = &mut out[ci * hp * wp..(ci + 1) * hp * wp];
                for y in 0..h {
                    let drow = &mut dst[(y * p + b) * wp..][..wp];
                    for (xx, v) in src[y * w..(y + 1) * w].iter().enumerate() {
                        drow[xx * p + a] = *v;
                    }
                }
            }
        }
    }
}

/// Single-head softmax attention over the pixels of one frame.
/// `qkv` is `[3C, HW]` (q, k, v stacked on channels); returns `[C, HW]`.
/// Scores are computed in row blocks so memory stays `O(block · HW)`.
pub(crate) fn spatial_attention(qkv: &[f32], c: usize, hw: usize) -> Vec<f32> {
    let q = &qkv[..c * hw];
    let k = &qkv[c * hw..2 * c * hw];
    let v = &qkv[2 * c * hw..3 * c * hw];
    let scale = 1.0 / (c as f32).sqrt();
    let block = hw.clamp(1, 1024);
    let mut out = vec![0.0f32; c * hw];
    let mut scores = vec![0.0f32; block * hw];
    let v_t = transpose(v, hw, c, hw); // [HW, C]
    let mut out_t = vec![0.0f32; block * c];
    let mut start = 0;
    while start < hw {
        let rows = block.min(hw - start);
        // scores[i, j] = Σ_c q[c, start+i] k[c, j]
        let q_t = transpose(&q[start..], hw, c, rows); // [rows, C]
        matmul(MatMut::dense(&mut scores, rows, hw), MatRef::dense(&q_t, rows, c), MatRef::dense(k, c, hw), false);
        for row in scores[..rows * hw].chunks_mut(hw) {
            let mut mx = f32::NEG_INFINITY;
            for s in row.iter_mut() {
                *s *= scale;
                mx = mx.max(*s);
            }
            let mut sum = 0.0f32;
            for s in row.iter_mut() {
                *s = (*s - mx).exp();
                sum += *s;
            }
            let inv = 1.0 / sum;
            for s in row.iter_mut() {
                *s *= inv;
            }
        }
        // out[c, start+i] = Σ_j P[i, j] v[c, j]
        matmul(MatMut::dense(&mut out_t, rows, c), MatRef::dense(&scores, rows, hw), MatRef::dense(&v_t, hw, c), false);
        for (i, r) in out_t[..rows * c].chunks_exact(c).enumerate() {
            for (ci, v) in r.iter().enumerate() {
                out[ci * hw + start + i] = *v;
            }
        }
        start += rows;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_naive() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32).sin()).collect();
        let mut d = vec![1.0f32; m * n];
        matmul(MatMut::dense(&mut d, m, n), MatRef::dense(&a, m, k), MatRef::dense(&b, k, n), true);
        for i in 0..m {
            for j in 0..n {
                let e: f32 = 1.0 + (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>();
                assert!((d[i * n + j] - e).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn attention_uniform_values() {
        // All values equal per channel ⇒ output equals that value regardless of scores.
        let (c, hw) = (2, 5);
        let mut qkv = vec![0.0f32; 3 * c * hw];
        for (i, x) in qkv[..2 * c * hw].iter_mut().enumerate() {
            *x = (i as f32 * 0.37).cos();
        }
        for j in 0..hw {
            qkv[2 * c * hw + j] = 3.0;
            qkv[2 * c * hw + hw + j] = -1.0;
        }
        let out = spatial_attention(&qkv, c, hw);
        for j in 0..hw {
            assert!((out[j] - 3.0).abs() < 1e-5);
            assert!((out[hw + j] + 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn unpatchify_puts_the_first_patch_index_along_the_width() {
        // One RGB-less channel, p = 2, a 1×1 frame: channels (a, b) = (0,0), (0,1), (1,0), (1,1).
        let mut out = vec![0.0; 4];
        unpatchify_frame(&[1.0, 2.0, 3.0, 4.0], 1, 2, 1, 1, &mut out);
        // Rows are b, columns a: [[(0,0), (1,0)], [(0,1), (1,1)]].
        assert_eq!(out, vec![1.0, 3.0, 2.0, 4.0]);
        // Two channels of 1×2: channel c's plane holds only its own 4 groups.
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut out = vec![0.0; 16];
        unpatchify_frame(&x, 2, 2, 1, 2, &mut out);
        assert_eq!(&out[..8], &[0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]);
        assert_eq!(&out[8..], &[8.0, 12.0, 9.0, 13.0, 10.0, 14.0, 11.0, 15.0]);
    }

    #[test]
    fn exp_and_silu_match_std() {
        let mut worst = 0.0f32;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.0043;
            worst = worst.max((exp_f32(x) - x.exp()).abs() / x.exp());
            let want = x / (1.0 + (-x).exp());
            assert!((silu(x) - want).abs() <= 1e-6 * want.abs().max(1e-3), "silu({x})");
        }
        assert!(worst < 4e-7, "exp relative error {worst}");
        assert!(exp_f32(-1000.0) >= 0.0 && exp_f32(1000.0).is_finite());
        assert!(silu(-200.0) <= 0.0 && silu(-200.0).abs() < 1e-30 && silu(200.0) == 200.0);
    }

    #[test]
    fn rms_norm_unit_rms() {
        let (c, hw) = (4, 3);
        let mut x: Vec<f32> = (0..c * hw).map(|i| i as f32 - 5.0).collect();
        rms_norm_frame(&mut x, c, hw, &[1.0; 4], false);
        for p in 0..hw {
            let ms: f32 = (0..c).map(|ci| x[ci * hw + p].powi(2)).sum::<f32>() / c as f32;
            assert!((ms - 1.0).abs() < 1e-5);
        }
    }
}
