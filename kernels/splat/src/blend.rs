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

use crate::options::{CompatParams, ALPHA_MIN, TILE_SIZE, T_STOP};

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
    /// `2·ln(255·opacity)·1.002`: a pixel can contribute only if `a·dx² + 2b·dx·dy + c·dy² ≤ two_l`
    /// (padded so float rounding never excludes one).
    pub two_l: f32,
}

/// What the kernel needs about the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileFrame {
    pub width: u32,
    pub height: u32,
    pub params: CompatParams,
    pub background: [f32; 3],
}

/// `e^x` for `x ≤ 0`; inputs below −60 return `e^−60` (≈ 8.8e−27: any α from it is far below 1/255,
/// and the clamp keeps every product normal — denormals cost microcode assists of ~100 cycles): Cody–Waite reduction and the Cephes `expf`
/// polynomial. Pure float/int arithmetic so that it vectorises.
#[inline(always)]
pub(crate) fn exp_neg(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2^23: adding and subtracting rounds to an integer
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.max(-60.0);
    let k = (x * LOG2E + MAGIC) - MAGIC;
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    // k ∈ [−87, 0]: build 2^k from its exponent bits.
    let k_int = (k + MAGIC).to_bits() as i32 - 0x4B40_0000;
    e * f32::from_bits(((k_int + 127) as u32) << 23)
}

/// Renders one tile into `out` (the tile row's slice of the image, `width·3` floats per image row, first
/// row = the tile's first row). `list` indexes `splats`.
pub(crate) fn blend_tile(
    frame: &TileFrame,
    tile_x: u32,
    tile_y: u32,
    list: &[u32],
    splats: &[SplatBlend],
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { avx2::blend_tile(frame, tile_x, tile_y, list, splats, out) };
            return;
        }
    }
    blend_tile_impl(frame, tile_x, tile_y, list, splats, out);
}

/// Rows and 8-pixel groups (tile-local, inclusive) whose pixel centres may lie in `s`'s α box.
#[inline(always)]
fn splat_span(s: &SplatBlend, x0: usize, y0: usize, rows: usize, cols: usize) -> Option<(usize, usize, usize, usize)> {
    let fy0 = (s.mean_y - s.alpha_ext_y - 0.5 - y0 as f32).ceil().max(0.0);
    let fy1 = (s.mean_y + s.alpha_ext_y - 0.5 - y0 as f32).floor().min(rows as f32 - 1.0);
    let fx0 = (s.mean_x - s.alpha_ext_x - 0.5 - x0 as f32).ceil().max(0.0);
    let fx1 = (s.mean_x + s.alpha_ext_x - 0.5 - x0 as f32).floor().min(cols as f32 - 1.0);
    if !(fy1 >= fy0 && fx1 >= fx0) {
        return None;
    }
    Some((fy0 as usize, fy1 as usize, fx0 as usize / LANES, fx1 as usize / LANES))
}

/// The 8-pixel groups `[g0, g1]` of tile-local row `row` (pixel-centre offset `dy = mean_y − y`) that
/// intersect the ellipse `a·dx² + 2b·dx·dy + c·dy² ≤ two_l`, clipped to `[gmin, gmax]`; `None` if none.
#[inline(always)]
fn row_groups(s: &SplatBlend, dy: f32, x0: usize, gmin: usize, gmax: usize) -> Option<(usize, usize)> {
    let bdy = s.conic_b * dy;
    let disc = bdy * bdy - s.conic_a * (s.conic_c * dy * dy - s.two_l);
    if !(disc >= 0.0) {
        return None;
    }
    let half = disc.sqrt() / s.conic_a * 1.001 + 0.05;
    let centre = s.mean_x + bdy / s.conic_a; // px where dx = −b·dy/a
    let lo = ((centre - half - 0.5 - x0 as f32).ceil().max(0.0) as usize / LANES).max(gmin);
    let hi_f = (centre + half - 0.5 - x0 as f32).floor();
    if !(hi_f >= 0.0) {
        return None;
    }
    let hi = (hi_f as usize / LANES).min(gmax);
    (lo <= hi).then_some((lo, hi))
}

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
        let Some((r0, r1, g0, g1)) = splat_span(&s, x0, y0, rows, cols) else { continue };
        let mut stopped = 0u32;
        for row in r0..=r1 {
            let dy = s.mean_y - ((y0 + row) as f32 + 0.5);
            let cdd = s.conic_c * dy * dy;
            let Some((ga, gb)) = row_groups(&s, dy, x0, g0, g1) else { continue };
            for gc in ga..=gb {
                let g = row * GROUPS_PER_ROW + gc;
                for (l, x) in lane_x.iter_mut().enumerate() {
                    *x = (x0 + gc * LANES) as f32 + (l as f32 + 0.5);
                }
                let t = &mut trans[g];
                let cr = &mut acc_r[g];
                let cg = &mut acc_g[g];
                let cb = &mut acc_b[g];
                let lv = &mut live[g];
                let mut stopped_here = 0u32;
                for l in 0..LANES {
                    let dx = s.mean_x - lane_x[l];
                    let power = -0.5 * (s.conic_a * dx * dx + cdd) - s.conic_b * dx * dy;
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

    write_tile(frame, x0, rows, cols, &trans, &acc_r, &acc_g, &acc_b, out);
}

/// Writes `C + T·background` for the tile's in-image pixels.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_tile(
    frame: &TileFrame,
    x0: usize,
    rows: usize,
    cols: usize,
    trans: &[[f32; LANES]; GROUPS],
    acc_r: &[[f32; LANES]; GROUPS],
    acc_g: &[[f32; LANES]; GROUPS],
    acc_b: &[[f32; LANES]; GROUPS],
    out: &mut [f32],
) {
    let w = frame.width as usize;
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

/// The same kernel with explicit AVX2 intrinsics. Every lane performs exactly the scalar kernel's
/// operations in the same order (no FMA), so both produce bit-identical images.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{row_groups, splat_span, write_tile, SplatBlend, TileFrame, GROUPS, GROUPS_PER_ROW, LANES};
    use crate::options::{ALPHA_MIN, TILE_SIZE, T_STOP};

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn blend_tile(
        frame: &TileFrame,
        tile_x: u32,
        tile_y: u32,
        list: &[u32],
        splats: &[SplatBlend],
        out: &mut [f32],
    ) {
        let ts = TILE_SIZE as usize;
        let x0 = (tile_x * TILE_SIZE) as usize;
        let y0 = (tile_y * TILE_SIZE) as usize;
        let cols = (frame.width as usize - x0).min(ts);
        let rows = (frame.height as usize - y0).min(ts);

        let mut trans = [[1.0f32; LANES]; GROUPS];
        let mut acc_r = [[0.0f32; LANES]; GROUPS];
        let mut acc_g = [[0.0f32; LANES]; GROUPS];
        let mut acc_b = [[0.0f32; LANES]; GROUPS];
        // All-ones bits while the pixel accumulates, zero once stopped (or outside the image).
        let mut live = [[0u32; LANES]; GROUPS];
        for (g, lane_live) in live.iter_mut().enumerate() {
            let row = g / GROUPS_PER_ROW;
            let col0 = (g % GROUPS_PER_ROW) * LANES;
            for (l, v) in lane_live.iter_mut().enumerate() {
                *v = if row < rows && col0 + l < cols { u32::MAX } else { 0 };
            }
        }
        let mut live_count = (rows * cols) as u32;

        let offsets = _mm256_setr_ps(0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5);
        let alpha_max = _mm256_set1_ps(frame.params.alpha_max);
        let alpha_min = _mm256_set1_ps(ALPHA_MIN);
        let t_stop = _mm256_set1_ps(T_STOP);
        let one = _mm256_set1_ps(1.0);
        let zero = _mm256_setzero_ps();
        let minus_half = _mm256_set1_ps(-0.5);
        let inclusive = frame.params.stop_inclusive;

        for (i, &idx) in list.iter().enumerate() {
            if let Some(&ahead) = list.get(i + 8) {
                // SAFETY: prefetch is a hint; the address is inside `splats`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(splats.as_ptr().add(ahead as usize) as *const i8) };
            }
            let s = splats[idx as usize];
            let Some((r0, r1, g0, g1)) = splat_span(&s, x0, y0, rows, cols) else { continue };
            let mean_x = _mm256_set1_ps(s.mean_x);
            let ca = _mm256_set1_ps(s.conic_a);
            let cb = _mm256_set1_ps(s.conic_b);
            let opacity = _mm256_set1_ps(s.opacity);
            let (col_r, col_g, col_b) =
                (_mm256_set1_ps(s.color[0]), _mm256_set1_ps(s.color[1]), _mm256_set1_ps(s.color[2]));
            let mut stopped = 0u32;
            for row in r0..=r1 {
                let dy_s = s.mean_y - ((y0 + row) as f32 + 0.5);
                let dy = _mm256_set1_ps(dy_s);
                let cdd = _mm256_set1_ps(s.conic_c * dy_s * dy_s);
                let Some((ga, gb)) = row_groups(&s, dy_s, x0, g0, g1) else { continue };
                for gc in ga..=gb {
                    let g = row * GROUPS_PER_ROW + gc;
                    let px = _mm256_add_ps(_mm256_set1_ps((x0 + gc * LANES) as f32), offsets);
                    let dx = _mm256_sub_ps(mean_x, px);
                    let adx2 = _mm256_mul_ps(_mm256_mul_ps(ca, dx), dx);
                    let bdxdy = _mm256_mul_ps(_mm256_mul_ps(cb, dx), dy);
                    let power = _mm256_sub_ps(_mm256_mul_ps(minus_half, _mm256_add_ps(adx2, cdd)), bdxdy);
                    let alpha = _mm256_min_ps(_mm256_mul_ps(opacity, exp_neg(power)), alpha_max);
                    // SAFETY (all loads/stores below): 8-lane arrays, unaligned access allowed.
                    let lv = unsafe { _mm256_loadu_ps(live[g].as_ptr() as *const f32) };
                    let valid = _mm256_and_ps(
                        _mm256_and_ps(
                            _mm256_cmp_ps::<_CMP_LE_OQ>(power, zero),
                            _mm256_cmp_ps::<_CMP_GE_OQ>(alpha, alpha_min),
                        ),
                        lv,
                    );
                    if _mm256_movemask_ps(valid) == 0 {
                        continue;
                    }
                    let t = unsafe { _mm256_loadu_ps(trans[g].as_ptr()) };
                    let test_t = _mm256_mul_ps(t, _mm256_sub_ps(one, alpha));
                    let stop = if inclusive {
                        _mm256_cmp_ps::<_CMP_LE_OQ>(test_t, t_stop)
                    } else {
                        _mm256_cmp_ps::<_CMP_LT_OQ>(test_t, t_stop)
                    };
                    let add = _mm256_andnot_ps(stop, valid);
                    let stop_now = _mm256_and_ps(stop, valid);
                    blend_channel(&mut acc_r[g], col_r, alpha, t, add);
                    blend_channel(&mut acc_g[g], col_g, alpha, t, add);
                    blend_channel(&mut acc_b[g], col_b, alpha, t, add);
                    unsafe {
                        _mm256_storeu_ps(trans[g].as_mut_ptr(), _mm256_blendv_ps(t, test_t, add));
                        _mm256_storeu_ps(live[g].as_mut_ptr() as *mut f32, _mm256_andnot_ps(stop_now, lv));
                    }
                    stopped += (_mm256_movemask_ps(stop_now) as u32).count_ones();
                }
            }
            live_count -= stopped;
            if live_count == 0 {
                break;
            }
        }
        write_tile(frame, x0, rows, cols, &trans, &acc_r, &acc_g, &acc_b, out);
    }

    /// `acc += (col·α)·T` on the lanes selected by `add`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn blend_channel(acc: &mut [f32; LANES], col: __m256, alpha: __m256, t: __m256, add: __m256) {
        // SAFETY: an 8-lane array, unaligned access allowed.
        unsafe {
            let a = _mm256_loadu_ps(acc.as_ptr());
            let sum = _mm256_add_ps(a, _mm256_mul_ps(_mm256_mul_ps(col, alpha), t));
            _mm256_storeu_ps(acc.as_mut_ptr(), _mm256_blendv_ps(a, sum, add));
        }
    }

    /// Lane-wise [`super::exp_neg`], operation for operation.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn exp_neg(x: __m256) -> __m256 {
        let magic = _mm256_set1_ps(12_582_912.0);
        let x = _mm256_max_ps(x, _mm256_set1_ps(-60.0));
        let k = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)), magic), magic);
        let r = _mm256_sub_ps(
            _mm256_sub_ps(x, _mm256_mul_ps(k, _mm256_set1_ps(0.693_359_4))),
            _mm256_mul_ps(k, _mm256_set1_ps(-2.121_944_4e-4)),
        );
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        for c in [1.398_199_9e-3f32, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
            p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c));
        }
        let e = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0));
        let k_int = _mm256_sub_epi32(_mm256_castps_si256(_mm256_add_ps(k, magic)), _mm256_set1_epi32(0x4B40_0000));
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k_int, _mm256_set1_epi32(127))));
        _mm256_mul_ps(e, scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > -60.0 {
            let e = exp_neg(x) as f64;
            let r = (x as f64).exp();
            worst = worst.max(((e - r) / r).abs());
            x -= 0.001_37;
        }
        assert!(worst < 3e-7, "max relative error {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
    }

    /// The AVX2 kernel and the portable kernel must agree bit for bit (no FMA, same operation order).
    #[test]
    fn avx2_kernel_is_bit_identical_to_portable_kernel() {
        #[cfg(target_arch = "x86_64")]
        {
            if !std::arch::is_x86_feature_detected!("avx2") {
                println!("no AVX2 on this CPU: nothing to compare");
                return;
            }
            let mut state = 99u32;
            let mut rnd = move || {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32
            };
            let splats: Vec<SplatBlend> = (0..400)
                .map(|_| {
                    let (a, c) = (0.05 + rnd() * 0.5, 0.05 + rnd() * 0.5);
                    let b = (rnd() - 0.5) * (a * c).sqrt();
                    SplatBlend {
                        mean_x: 16.0 + rnd() * 24.0,
                        mean_y: 16.0 + rnd() * 20.0,
                        conic_a: a,
                        conic_b: b,
                        conic_c: c,
                        opacity: 0.02 + rnd() * 0.98,
                        color: [rnd(), rnd() * 2.0, rnd()],
                        alpha_ext_x: 4.0 + rnd() * 8.0,
                        alpha_ext_y: 4.0 + rnd() * 8.0,
                        two_l: 2.0 * 255.0f32.ln() * 1.002,
                    }
                })
                .collect();
            let list: Vec<u32> = (0..splats.len() as u32).collect();
            for inclusive in [false, true] {
                let frame = TileFrame {
                    width: 45,
                    height: 37,
                    params: CompatParams { alpha_max: if inclusive { 0.999 } else { 0.99 }, stop_inclusive: inclusive },
                    background: [0.1, 0.2, 0.3],
                };
                for (tx, ty) in [(1u32, 1u32), (2, 2)] {
                    let band = 16 * 45 * 3;
                    let mut a = vec![0.0f32; band];
                    let mut b = vec![0.0f32; band];
                    blend_tile_impl(&frame, tx, ty, &list, &splats, &mut a);
                    // SAFETY: AVX2 support checked above.
                    unsafe { avx2::blend_tile(&frame, tx, ty, &list, &splats, &mut b) };
                    assert!(a.iter().any(|&v| v != 0.0));
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a), bits(&b), "tile ({tx}, {ty}), inclusive {inclusive}");
                }
            }
        }
    }
}
