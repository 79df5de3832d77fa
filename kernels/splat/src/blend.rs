//! The optimised per-tile blending kernel.
//!
//! A 16×16 tile is processed as 32 groups of 8 horizontally adjacent pixels. For each Gaussian of the
//! tile's depth-ordered list, only the rows and 8-pixel groups that intersect the Gaussian's α ≥ 1/255
//! bounding box are evaluated (pixels outside it would skip the Gaussian anyway); inside a group every
//! lane is evaluated branch-free so the loop auto-vectorises. `exp` is a polynomial approximation
//! ([`exp_neg`], ≤ 2 ulp on the range used) rather than libm, which is what allows vectorisation.
//!
//! The AVX2 build of the same code is selected at run time; no FMA is enabled, so both builds produce
//! bit-identical results (Rust never contracts `a·b + c`). The loop stops as soon as every pixel of the
//! tile has terminated (`T·(1−α)` below the threshold).

use crate::options::{CompatParams, ALPHA_MIN, T_STOP, TILE_SIZE};

const LANES: usize = 8;
const GROUPS_PER_ROW: usize = TILE_SIZE as usize / LANES;
const GROUPS: usize = GROUPS_PER_ROW * TILE_SIZE as usize;

/// Blend-time data of one Gaussian (depth-sorted array, 48 bytes).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SplatBlend {
    pub mean_x: f32,
    pub mean_y: f32,
    pub conic_a: f32,
    pub conic_b: f32,
    pub conic_c: f32,
    pub opacity: f32,
    pub color: [f32; 3],
    pub alpha_ext_x: f32,
    pub alpha_ext_y: f32,
    pub _pad: f32,
}

/// What the kernel needs about the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileFrame {
    pub width: u32,
    pub height: u32,
    pub params: CompatParams,
    pub background: [f32; 3],
}

/// `e^x` for `x ≤ 0` (inputs below −87 return ~e^−87): Cody–Waite reduction and the Cephes `expf`
/// polynomial. Pure float/int arithmetic so that it vectorises.
#[inline(always)]
pub(crate) fn exp_neg(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2^23: adding and subtracting rounds to an integer
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.max(-87.0);
    let k = (x * LOG2E + MAGIC) - MAGIC;
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * (r * r) + r + 1.0;
    // k ∈ [−126, 0]: build 2^k from its exponent bits (k + 127 ∈ [1, 127]).
    let k_int = (k + MAGIC).to_bits() as i32 - 0x4B40_0000;
    e * f32::from_bits(((k_int + 127) as u32) << 23)
}

/// Renders one tile into `out` (the tile row's slice of the image, `width·3` floats per image row, first
/// row = the tile's first row). `list` indexes `splats`.
pub(crate) fn blend_tile(frame: &TileFrame, tile_x: u32, tile_y: u32, list: &[u32], splats: &[SplatBlend], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { blend_tile_avx2(frame, tile_x, tile_y, list, splats, out) };
            return;
        }
    }
    blend_tile_impl(frame, tile_x, tile_y, list, splats, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blend_tile_avx2(frame: &TileFrame, tile_x: u32, tile_y: u32, list: &[u32], splats: &[SplatBlend], out: &mut [f32]) {
    blend_tile_impl(frame, tile_x, tile_y, list, splats, out);
}

#[inline(always)]
fn blend_tile_impl(frame: &TileFrame, tile_x: u32, tile_y: u32, list: &[u32], splats: &[SplatBlend], out: &mut [f32]) {
    let ts = TILE_SIZE as usize;
    let x0 = (tile_x * TILE_SIZE) as usize;
    let y0 = (tile_y * TILE_SIZE) as usize;
    let w = frame.width as usize;
    let cols = (w - x0).min(ts);
    let rows = (frame.height as usize - y0).min(ts);

    let mut trans = [[1.0f32; LANES]; GROUPS];
    let mut acc_r = [[0.0f32; LANES]; GROUPS];
    let mut acc_g = [[0.0f32; LANES]; GROUPS];
    let mut acc_b = [[0.0f32; LANES]; GROUPS];
    // 1.0 while the pixel is still accumulating, 0.0 once stopped (or outside the image).
    let mut live = [[0.0f32; LANES]; GROUPS];
    for (g, lane_live) in live.iter_mut().enumerate() {
        let row = g / GROUPS_PER_ROW;
        let col0 = (g % GROUPS_PER_ROW) * LANES;
        for (l, v) in lane_live.iter_mut().enumerate() {
            *v = if row < rows && col0 + l < cols { 1.0 } else { 0.0 };
        }
    }
    let mut live_count = (rows * cols) as u32;
    let mut lane_x = [0.0f32; LANES];
    let alpha_max = frame.params.alpha_max;
    let inclusive = frame.params.stop_inclusive;

    for &idx in list {
        let s = splats[idx as usize];
        // Pixel rows/cols (tile-local, inclusive) whose centres lie inside the α bounding box.
        let fy0 = (s.mean_y - s.alpha_ext_y - 0.5 - y0 as f32).ceil().max(0.0);
        let fy1 = (s.mean_y + s.alpha_ext_y - 0.5 - y0 as f32).floor().min(rows as f32 - 1.0);
        let fx0 = (s.mean_x - s.alpha_ext_x - 0.5 - x0 as f32).ceil().max(0.0);
        let fx1 = (s.mean_x + s.alpha_ext_x - 0.5 - x0 as f32).floor().min(cols as f32 - 1.0);
        if !(fy1 >= fy0 && fx1 >= fx0) {
            continue;
        }
        let (r0, r1) = (fy0 as usize, fy1 as usize);
        let (g0, g1) = (fx0 as usize / LANES, fx1 as usize / LANES);
        let mut stopped = 0u32;
        for row in r0..=r1 {
            let dy = s.mean_y - ((y0 + row) as f32 + 0.5);
            for gc in g0..=g1 {
                let g = row * GROUPS_PER_ROW + gc;
                for (l, x) in lane_x.iter_mut().enumerate() {
                    *x = (x0 + gc * LANES + l) as f32 + 0.5;
                }
                let t = &mut trans[g];
                let cr = &mut acc_r[g];
                let cg = &mut acc_g[g];
                let cb = &mut acc_b[g];
                let lv = &mut live[g];
                let mut stopped_here = 0u32;
                for l in 0..LANES {
                    let dx = s.mean_x - lane_x[l];
                    let power = -0.5 * (s.conic_a * dx * dx + s.conic_c * dy * dy) - s.conic_b * dx * dy;
                    let alpha = (s.opacity * exp_neg(power)).min(alpha_max);
                    let valid = power <= 0.0 && alpha >= ALPHA_MIN && lv[l] != 0.0;
                    let test_t = t[l] * (1.0 - alpha);
                    let stop = if inclusive { test_t <= T_STOP } else { test_t < T_STOP };
                    let add = valid && !stop;
                    let stop_now = valid && stop;
                    cr[l] = if add { cr[l] + s.color[0] * alpha * t[l] } else { cr[l] };
                    cg[l] = if add { cg[l] + s.color[1] * alpha * t[l] } else { cg[l] };
                    cb[l] = if add { cb[l] + s.color[2] * alpha * t[l] } else { cb[l] };
                    t[l] = if add { test_t } else { t[l] };
                    lv[l] = if stop_now { 0.0 } else { lv[l] };
                    stopped_here += stop_now as u32;
                }
                stopped += stopped_here;
            }
        }
        live_count -= stopped;
        if live_count == 0 {
            break;
        }
    }

    let bg = frame.background;
    for row in 0..rows {
        let line = &mut out[row * w * 3..(row + 1) * w * 3];
        for col in 0..cols {
            let g = row * GROUPS_PER_ROW + col / LANES;
            let l = col % LANES;
            let t = trans[g][l];
            let o = (x0 + col) * 3;
            line[o] = acc_r[g][l] + t * bg[0];
            line[o + 1] = acc_g[g][l] + t * bg[1];
            line[o + 2] = acc_b[g][l] + t * bg[2];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > -87.0 {
            let e = exp_neg(x) as f64;
            let r = (x as f64).exp();
            worst = worst.max(((e - r) / r).abs());
            x -= 0.001_37;
        }
        assert!(worst < 3e-7, "max relative error {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
    }
}
