//! The NEON int8 tile of `q8dot` (aarch64): the same 8 lanes, f32 steps and horizontal sum as the
//! module's definition, so it gives the portable path's bits.
//!
//! One block of 32 values is two `int8x16_t` per row. `smull` (`vmull_s8`) multiplies 8 pairs into
//! i16 (|x·w| ≤ 128² = 16384: no overflow for any i8), `saddlp` (`vpaddlq_s16`) adds neighbours into
//! 4 i32, and `addp` (`vpaddq_s32`) adds neighbours again: 4 lanes of 4 consecutive products each.
//! The dot-product instruction `sdot` would do this in one step, but its intrinsic (`vdotq_s32`) is
//! not stable Rust yet.

use std::arch::aarch64::*;

use crate::quant::{Q8Matrix, Q8_BLOCK};

/// Lanes `4l..4l + 4` for `l` in 0..4 of one half block: `Σ_{i=4l}^{4l+3} x[i]·w[i]`, exact i32.
#[inline]
#[target_feature(enable = "neon")]
fn quad_sums(x: int8x16_t, w: int8x16_t) -> int32x4_t {
    let lo = vpaddlq_s16(vmull_s8(vget_low_s8(x), vget_low_s8(w))); // pairs of products 0..8
    let hi = vpaddlq_s16(vmull_high_s8(x, w)); // pairs of products 8..16
    vpaddq_s32(lo, hi)
}

/// `((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))` for `lo` = lanes 0..4, `hi` = lanes 4..8.
#[inline]
#[target_feature(enable = "neon")]
fn hsum(lo: float32x4_t, hi: float32x4_t) -> f32 {
    let s = vaddq_f32(lo, hi); // a_l + a_{l+4}
    let s = vadd_f32(vget_low_f32(s), vget_high_f32(s)); // (s0 + s2, s1 + s3)
    vget_lane_f32::<0>(s) + vget_lane_f32::<1>(s)
}

/// The tile of `tile_portable` with `TM × TN` fixed (all rows in range).
///
/// # Safety
/// NEON must be available; rows `t0..t0+TM` of `x` and `r0..r0+TN` of `w` must exist, and
/// `x.cols == w.cols` (a multiple of 32).
#[target_feature(enable = "neon")]
pub unsafe fn tile<const TM: usize, const TN: usize>(
    x: &Q8Matrix,
    t0: usize,
    w: &Q8Matrix,
    r0: usize,
    out: &mut [f32],
) {
    /// Bytes of one `int8x16_t`: half a block.
    const HALF: usize = Q8_BLOCK / 2;
    // SAFETY: the caller's contract (see above) bounds every pointer offset.
    unsafe {
        let (k, nb) = (x.cols, x.cols / Q8_BLOCK);
        // acc[t][j] = (lanes 0..4, lanes 4..8).
        let mut acc = [[(vdupq_n_f32(0.0), vdupq_n_f32(0.0)); TN]; TM];
        let (mut xq, mut xs) = ([std::ptr::null::<i8>(); TM], [std::ptr::null::<f32>(); TM]);
        for t in 0..TM {
            xq[t] = x.qs.as_ptr().add((t0 + t) * k);
            xs[t] = x.scales.as_ptr().add((t0 + t) * nb);
        }
        let (mut wq, mut ws) = ([std::ptr::null::<i8>(); TN], [std::ptr::null::<f32>(); TN]);
        for j in 0..TN {
            wq[j] = w.qs.as_ptr().add((r0 + j) * k);
            ws[j] = w.scales.as_ptr().add((r0 + j) * nb);
        }
        let mut xv = [(vdupq_n_s8(0), vdupq_n_s8(0)); TM];
        for b in 0..nb {
            for t in 0..TM {
                let p = xq[t].add(b * Q8_BLOCK);
                xv[t] = (vld1q_s8(p), vld1q_s8(p.add(HALF)));
            }
            for j in 0..TN {
                let p = wq[j].add(b * Q8_BLOCK);
                let wv = (vld1q_s8(p), vld1q_s8(p.add(HALF)));
                let wsb = *ws[j].add(b);
                for t in 0..TM {
                    let d = vdupq_n_f32(*xs[t].add(b) * wsb);
                    let lo = vcvtq_f32_s32(quad_sums(xv[t].0, wv.0));
                    let hi = vcvtq_f32_s32(quad_sums(xv[t].1, wv.1));
                    // Multiply, then add: two roundings, as in the definition (no `fmla`).
                    let a = &mut acc[t][j];
                    *a = (vaddq_f32(a.0, vmulq_f32(lo, d)), vaddq_f32(a.1, vmulq_f32(hi, d)));
                }
            }
        }
        for t in 0..TM {
            for j in 0..TN {
                out[t * TN + j] = hsum(acc[t][j].0, acc[t][j].1);
            }
        }
    }
}
